"""Saving and loading the learned parser's weights: ``parser.safetensors`` + ``parser.json`` in one folder.

The package ships one such folder (:data:`BUNDLED_WEIGHTS`), so extraction works offline out of the box;
``nitrogen overlay train-parser --out DIR`` writes another. Weights are safetensors and the config is JSON
read with size bounds (:func:`~nitrogen_datasets.safe_inputs.load_json`): a parser folder may come from
anyone, so loading one runs no code and allocates only what :class:`~.parser_net.ParserNetConfig` allows.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nitrogen_datasets.errors import DatasetError
from nitrogen_datasets.overlay.parser_config import ParserNetConfig
from nitrogen_datasets.overlay.parser_net import ElementNet
from nitrogen_datasets.safe_inputs import load_json

BUNDLED_WEIGHTS = Path(__file__).with_name("weights")
WEIGHTS_NAME = "parser.safetensors"
CONFIG_NAME = "parser.json"


class ParserNotFound(DatasetError, FileNotFoundError):
    """The folder holds no ``parser.safetensors`` + ``parser.json``; the message says how to train one."""


class InvalidParser(DatasetError, ValueError):
    """A parser folder whose ``parser.json`` describes a network out of bounds or whose weights do not fit it."""


def save_parser(model: ElementNet, folder: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> Path:
    """Write ``parser.safetensors`` + ``parser.json`` (architecture and training notes) atomically."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().contiguous().cpu() for key, value in model.state_dict().items()}
    config = json.dumps({"net": asdict(model.config), **(metadata or {})}, indent=1)
    for name, write in (
        (WEIGHTS_NAME, lambda path: save_file(state, str(path))),
        (CONFIG_NAME, lambda path: path.write_text(config)),
    ):
        tmp = folder / f".{name}.partial"
        write(tmp)
        os.replace(tmp, folder / name)
    return folder


def load_parser(folder: str | os.PathLike[str] | None = None) -> ElementNet:
    """Load a parser saved by :func:`save_parser` (default: the weights shipped with the package).

    Raises:
        ParserNotFound: no ``parser.safetensors`` + ``parser.json`` in ``folder`` (the message says how to
            train one).
        InvalidParser: ``parser.json`` asks for a network out of bounds, or the weights do not match it.
    """
    from safetensors.torch import load_file

    folder = Path(folder) if folder is not None else BUNDLED_WEIGHTS
    weights, config_path = folder / WEIGHTS_NAME, folder / CONFIG_NAME
    if not weights.is_file() or not config_path.is_file():
        raise ParserNotFound(
            f"no overlay parser in {folder} ({WEIGHTS_NAME} + {CONFIG_NAME}); train one with "
            "`nitrogen overlay train-parser --out DIR`, or use parser='reference'"
        )
    config = load_json(config_path, "overlay parser config")["net"]  # a user's folder: size and depth bounded
    try:
        net = ParserNetConfig(
            crop=int(config["crop"]),
            widths=tuple(config["widths"]),
            hidden=int(config["hidden"]),
            button_margin=float(config.get("button_margin", 0.0)),
        )
    except ValueError as err:
        raise InvalidParser(f"{config_path}: {err}; retrain the parser or use the shipped one") from err
    model = ElementNet(net)
    try:
        model.load_state_dict(load_file(str(weights)))
    except RuntimeError as err:  # torch's message for missing, unexpected or misshapen tensors
        raise InvalidParser(
            f"{weights} does not match the network {config_path} describes: {err}; save both files together "
            "with save_parser"
        ) from err
    return model.eval()
