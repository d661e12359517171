"""Checkpoint I/O: a folder with ``config.json`` + ``model.safetensors``, from disk, the package or the Hub.

Weights are only ever read with ``safetensors`` (no pickle, so loading cannot run code). A local folder,
a bundled name and a Hugging Face Hub repo id all resolve to the same kind of folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from nitrogen_envs import gamepad
from nitrogen_policies.errors import CheckpointError, SchemaMismatch
from nitrogen_policies.import_utils import require_package

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
BUNDLED_PACKAGE = "nitrogen_policies"
BUNDLED_FOLDER = "weights"


def bundled_names() -> list[str]:
    """Names of the checkpoints shipped inside the package."""
    root = resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FOLDER)
    if not root.is_dir():
        return []
    return sorted(entry.name for entry in root.iterdir() if entry.joinpath(CONFIG_NAME).is_file())


def resolve_checkpoint(name_or_path: str | os.PathLike[str], revision: str | None = None) -> Path:
    """Find the checkpoint folder for a local path, a bundled name, or a Hub repo id (``owner/name``).

    Raises:
        CheckpointError: nothing matches; the message says what was tried and how to fix it.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
            raise CheckpointError(f"{path} is not a NitroGen checkpoint: it needs {CONFIG_NAME} and {WEIGHTS_NAME}")
        return path
    name = str(name_or_path)
    if name in bundled_names():
        return Path(str(resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FOLDER, name)))
    if name.count("/") == 1 and not path.exists():
        return _download(name, revision)
    raise CheckpointError(
        f"no checkpoint {name!r}: not a folder, not a bundled name (bundled: {bundled_names() or 'none'}), "
        "not a Hub id (owner/name). For a fresh model use NitroGenPolicy.from_config('nitrogen-s')."
    )


def _download(repo_id: str, revision: str | None) -> Path:
    hub = require_package("huggingface_hub")
    try:
        folder = hub.snapshot_download(repo_id, revision=revision, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME])
    except Exception as err:
        raise CheckpointError(
            f"could not fetch {repo_id!r} from the Hugging Face Hub ({type(err).__name__}: {err}). On a machine "
            f"with internet run `huggingface-cli download {repo_id} {CONFIG_NAME} {WEIGHTS_NAME} --local-dir DIR`, "
            "copy DIR here and pass its path instead."
        ) from err
    return Path(folder)


def read_config_dict(folder: Path) -> dict:
    """Read ``config.json`` and check the gamepad schema version.

    Raises:
        SchemaMismatch: the checkpoint speaks another schema version.
    """
    data = json.loads((folder / CONFIG_NAME).read_text())
    version = data.get("schema_version")
    if version != gamepad.SCHEMA_VERSION:
        raise SchemaMismatch(
            f"checkpoint {folder} uses gamepad schema version {version}, this install uses "
            f"{gamepad.SCHEMA_VERSION}; convert its action head or install the nitrogen-gym release of that schema"
        )
    return data


def load_weights(module: torch.nn.Module, folder: Path, device: torch.device | str = "cpu") -> None:
    """Load ``model.safetensors`` into ``module``, logging missing and unexpected keys."""
    state = load_file(str(folder / WEIGHTS_NAME), device=str(device))
    result = module.load_state_dict(state, strict=False)
    if result.missing_keys:
        logger.warning("missing keys when loading %s: %s", folder, result.missing_keys)
    if result.unexpected_keys:
        logger.warning("unexpected keys when loading %s: %s", folder, result.unexpected_keys)


def save_checkpoint(
    module: torch.nn.Module, config_dict: dict, folder: str | os.PathLike[str], dtype: torch.dtype | None = None
) -> Path:
    """Write ``config.json`` + ``model.safetensors`` atomically (a temp folder renamed into place).

    ``dtype`` converts floating-point tensors (e.g. ``torch.float16`` for shipped weights).
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; a checkpoint folder is meant to be shared
    try:
        state = {key: value.detach().contiguous().cpu() for key, value in module.state_dict().items()}
        if dtype is not None:
            state = {key: value.to(dtype) if value.is_floating_point() else value for key, value in state.items()}
        save_file(state, str(staging / WEIGHTS_NAME), metadata={"format": "pt"})
        (staging / CONFIG_NAME).write_text(json.dumps(config_dict, indent=2, sort_keys=True))
        if target.exists():
            for name in (CONFIG_NAME, WEIGHTS_NAME):
                os.replace(staging / name, target / name)
            shutil.rmtree(staging)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
