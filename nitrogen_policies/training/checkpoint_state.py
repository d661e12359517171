"""A checkpoint's training state (optimizer, step, torch's RNG) as safetensors + JSON: no pickle to resume.

Why not ``torch.save``: resuming reads whatever run folder the user points ``nitrogen train --out`` at, and a
``.pt`` file is a pickle even when read with ``weights_only=True`` (a restricted unpickler, still pickle's
machinery). Here every tensor goes to ``training_state.safetensors`` under a flat name
(``optimizer.<param index>.<key>``, ``torch_rng``) and the rest (the optimizer's parameter groups, the step) to
``training_state.json``; both are read back by safetensors and ``json`` alone. The pair is written beside the
weights, JSON last, so a checkpoint counts (:data:`STATE_NAME`) only once both are complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nitrogen_policies.errors import CheckpointError

STATE_NAME = "training_state.json"
"""The file that marks a checkpoint folder as resumable (written last)."""
TENSORS_NAME = "training_state.safetensors"
LEGACY_NAME = "training_state.pt"
"""What checkpoints held before this format (a ``torch.save`` pickle); refused, never read."""
FORMAT = 1
MAX_STATE_JSON_BYTES = 1 << 20
"""A training state's JSON is a few kilobytes; anything larger is not one of ours and is not parsed."""


@dataclass
class TrainingState:
    """What resuming needs besides the weights."""

    step: int
    optimizer: dict[str, Any]
    torch_rng: torch.Tensor


def save_training_state(folder: Path, optimizer: torch.optim.Optimizer, step: int) -> None:
    """Write ``optimizer``'s state, ``step`` and torch's RNG state into ``folder`` (atomic per file, JSON last)."""
    from safetensors.torch import save_file

    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"torch_rng": torch.get_rng_state()}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().contiguous().cpu()
            else:  # plain numbers some optimizers keep per parameter
                scalars.setdefault(str(index), {})[key] = value
    meta = {
        "format": FORMAT,
        "step": int(step),
        "param_groups": [_plain(group) for group in state_dict["param_groups"]],
        "scalars": scalars,
    }
    tmp = folder / f"{TENSORS_NAME}.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, folder / TENSORS_NAME)
    tmp = folder / f"{STATE_NAME}.tmp"
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(tmp, folder / STATE_NAME)


def load_training_state(folder: Path, device: torch.device | str = "cpu") -> TrainingState:
    """The training state :func:`save_training_state` wrote in ``folder``.

    Raises:
        CheckpointError: the files are missing, too large, damaged or of another format.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta_path, tensors_path = folder / STATE_NAME, folder / TENSORS_NAME
    try:
        if meta_path.stat().st_size > MAX_STATE_JSON_BYTES:
            raise CheckpointError(f"{meta_path} is larger than a training state; delete {folder} to train without it")
        meta = json.loads(meta_path.read_text())
        tensors = load_file(str(tensors_path), device=str(device))
    except (OSError, ValueError, SafetensorError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(
            f"cannot read the training state in {folder} ({err}); delete that checkpoint folder to resume from the one before"
        ) from err
    try:
        if meta.get("format") != FORMAT or "torch_rng" not in tensors:
            raise ValueError(f"not format {FORMAT}")
        per_parameter: dict[int, dict[str, Any]] = {}
        for name, tensor in tensors.items():
            if name.startswith("optimizer."):
                _, index, key = name.split(".", 2)
                per_parameter.setdefault(int(index), {})[key] = tensor
        for index, values in meta.get("scalars", {}).items():
            per_parameter.setdefault(int(index), {}).update(values)
        groups = [
            {**group, "betas": tuple(group["betas"])} if "betas" in group else dict(group)
            for group in meta["param_groups"]
        ]
        return TrainingState(int(meta["step"]), {"state": per_parameter, "param_groups": groups}, tensors["torch_rng"])
    except (AttributeError, KeyError, TypeError, ValueError) as err:  # a JSON of another shape
        raise CheckpointError(
            f"{meta_path} is not a training state of format {FORMAT} ({err!r}); delete that checkpoint folder to "
            "resume from the one before"
        ) from err


def refuse_legacy_state(folder: Path) -> None:
    """Stop before a run restarts from step 0 over checkpoints only the old pickle format holds.

    Raises:
        CheckpointError: ``folder``'s newest checkpoint has :data:`LEGACY_NAME` and no :data:`STATE_NAME`.
    """
    checkpoints = sorted((folder / "checkpoints").glob("step_*"))
    if checkpoints and (checkpoints[-1] / LEGACY_NAME).is_file() and not (checkpoints[-1] / STATE_NAME).is_file():
        raise CheckpointError(
            f"{checkpoints[-1]} holds its training state as {LEGACY_NAME}, a pickle this version does not read; "
            f"train into a new --out folder (its weights still load: nitrogen finetune --from {checkpoints[-1]})"
        )


def _plain(group: dict[str, Any]) -> dict[str, Any]:
    """A parameter group as JSON can hold it (tuples become lists; tensors, e.g. a tensor lr, their value)."""
    out: dict[str, Any] = {}
    for key, value in group.items():
        if isinstance(value, torch.Tensor):
            value = value.item()
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out
