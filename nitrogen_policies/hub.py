"""Checkpoint I/O: a folder with ``config.json`` + ``model.safetensors``, from disk, the package or the Hub.

A checkpoint is untrusted input, so nothing in it can run code or make us allocate before it is checked:
weights are only read with ``safetensors`` (no pickle); ``config.json`` is size-capped and its fields are
type- and range-checked (:class:`NitroGenConfig`); every tensor's name, shape and dtype in the safetensors
header is compared with the model (built on the ``meta`` device, so for free) before any weight is
read. A local folder, a bundled name and a Hugging Face Hub repo id all resolve to the same kind of folder;
see :func:`resolve_checkpoint` for which strings go to the Hub.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from nitrogen_envs import gamepad
from nitrogen_policies.errors import CheckpointError, SchemaMismatch
from nitrogen_policies.import_utils import require_package

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
BUNDLED_PACKAGE = "nitrogen_policies"
BUNDLED_FOLDER = "weights"
DEFAULT_MODEL = "nitrogen-s-procgen6"
"""What ``NitroGenPolicy.from_pretrained()`` loads with no argument: the default shipped model.

For now the small behaviour-cloning run on six Procgen games bundled with the package (offline, CPU); the
foundation-model work switches it to ``"nitrogen-s"`` once those weights ship. Change it here only.
"""
HUB_PREFIX = "hf://"
"""Prefix that always means a Hugging Face Hub repo id, never a local path."""
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
"""``owner/name`` as the Hub spells repo ids."""
MAX_CONFIG_BYTES = 1024 * 1024
"""A ``config.json`` is a few kB; a larger one is refused before it is parsed."""
FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
"""Safetensors dtypes a floating-point parameter may be stored in (loading casts to the model's dtype)."""
SAFETENSORS_DTYPES: dict[torch.dtype, str] = {
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float32: "F32",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
SHOWN_KEYS = 5
"""How many tensor names an error lists before "(+N more)", to keep it one readable line."""

TensorSpec = tuple[tuple[int, ...], str]
"""A tensor's shape and safetensors dtype code (``"F32"``, ...), as the file header or the model has it."""


def bundled_names() -> list[str]:
    """Names of the checkpoints shipped inside the package."""
    root = resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FOLDER)
    if not root.is_dir():
        return []
    return sorted(entry.name for entry in root.iterdir() if entry.joinpath(CONFIG_NAME).is_file())


def resolve_checkpoint(name_or_path: str | os.PathLike[str], revision: str | None = None) -> Path:
    """Find the checkpoint folder for a local path, a bundled name, or a Hub repo id.

    A path that looks local is never sent to the Hub (a typo must not become a download). In order:

    1. ``hf://owner/name``: the Hub, always.
    2. An existing local path: that folder (it must hold ``config.json`` and ``model.safetensors``).
    3. A bundled name (``nitrogen-s-procgen6``, see :func:`bundled_names`).
    4. A string ``owner/name``: the Hub, but only when neither ``owner/name`` nor a folder ``owner`` exists
       locally (so a missing ``runs/final`` next to an existing ``runs/`` is a missing folder).
    5. Anything else is a missing local folder: a ``Path`` object, an absolute path, ``./x``, ``~/x``, a path
       with more than one ``/``, or ``owner/name`` whose ``owner`` folder exists.

    Raises:
        CheckpointError: nothing matches; the message says what was tried and how to fix it.
    """
    name = os.fspath(name_or_path)
    if name.startswith(HUB_PREFIX):
        repo_id = name[len(HUB_PREFIX) :]
        if not HUB_ID.fullmatch(repo_id):
            raise CheckpointError(f"{name!r} is not a Hub repo id; write hf://owner/name")
        return _download(repo_id, revision)
    path = Path(name).expanduser()
    if path.exists():
        return _checkpoint_folder(path)
    if name in bundled_names():
        return Path(str(resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FOLDER).joinpath(name)))
    local_reason = _local_reason(name_or_path, path)
    if local_reason is None and HUB_ID.fullmatch(name):
        return _download(name, revision)
    if local_reason is not None:
        hint = f", or write {HUB_PREFIX}{name} for a Hub repo" if HUB_ID.fullmatch(name) else ""
        raise CheckpointError(
            f"no such checkpoint folder {path}: it reads as a local path ({local_reason}), so the Hub is not "
            f"asked; check the path{hint}"
        )
    raise CheckpointError(
        f"no checkpoint {name!r}: no such folder, not a bundled name{suggest_bundled(name)} "
        f"(bundled: {bundled_names() or 'none'}), not a Hub id (owner/name or {HUB_PREFIX}owner/name). For a "
        "fresh model use NitroGenPolicy.from_config('nitrogen-s')."
    )


def suggest_bundled(name: str, extra: tuple[str, ...] = ()) -> str:
    """``"; did you mean 'x'?"`` for the closest bundled name (or one of ``extra``, e.g. ``"random"``), else ``""``."""
    close = difflib.get_close_matches(name, [*bundled_names(), *extra], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _checkpoint_folder(path: Path) -> Path:
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file; a checkpoint is a folder holding {CONFIG_NAME} and {WEIGHTS_NAME}")
    if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
        raise CheckpointError(f"{path} is not a NitroGen checkpoint: it needs {CONFIG_NAME} and {WEIGHTS_NAME}")
    return path


def _local_reason(name_or_path: str | os.PathLike[str], path: Path) -> str | None:
    """Why a missing ``name_or_path`` must be a local path, or ``None`` when it may be a Hub id."""
    name = os.fspath(name_or_path)
    if not isinstance(name_or_path, str):
        return "it was given as a path object"
    if path.is_absolute() or name.startswith(("~", ".")):
        return "it is absolute or starts with . or ~"
    if "\\" in name or name.count("/") > 1 or name.endswith("/"):
        return "it has more than one path part"
    if "/" in name and path.parent.is_dir():
        return f"its parent folder {path.parent} exists"
    return None


def _download(repo_id: str, revision: str | None) -> Path:
    hub = require_package("huggingface_hub")
    try:
        folder = hub.snapshot_download(repo_id, revision=revision, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME])
    except Exception as err:
        reason = " ".join(str(err).split())  # Hub errors span lines; ours is one
        raise CheckpointError(
            f"could not fetch {repo_id!r} from the Hugging Face Hub ({type(err).__name__}: {reason}). On a machine "
            f"with internet run `huggingface-cli download {repo_id} {CONFIG_NAME} {WEIGHTS_NAME} --local-dir DIR`, "
            "copy DIR here and pass its path instead."
        ) from err
    return _checkpoint_folder(Path(folder))


def read_config_dict(folder: Path) -> dict[str, Any]:
    """Read ``config.json`` (a regular file of at most ``MAX_CONFIG_BYTES``) and check the gamepad schema version.

    Raises:
        CheckpointError: the file is not a regular file, too large, or not a JSON object.
        SchemaMismatch: the checkpoint speaks another schema version.
    """
    from nitrogen_datasets.safe_inputs import InvalidInputFile, load_json

    path = folder / CONFIG_NAME
    try:
        data = load_json(path, "checkpoint config", max_bytes=MAX_CONFIG_BYTES)
    except InvalidInputFile as err:  # not a regular file, too large or too deep
        raise CheckpointError(str(err)) from err
    except ValueError as err:
        raise CheckpointError(f"{path} is not valid JSON ({type(err).__name__}: {err})") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object of config fields, got {type(data).__name__}")
    version = data.get("schema_version")
    if version != gamepad.SCHEMA_VERSION:
        raise SchemaMismatch(
            f"checkpoint {folder} uses gamepad schema version {version!r}, this install uses "
            f"{gamepad.SCHEMA_VERSION}; convert its action head or install the nitrogen-gym release of that schema"
        )
    return data


def read_tensor_specs(path: Path) -> dict[str, TensorSpec]:
    """Name, shape and dtype of every tensor in a safetensors file, from its header alone (no weight is read).

    ``safetensors`` caps the header size and checks that the offsets tile the file exactly.

    Raises:
        CheckpointError: not a regular file, or not a valid safetensors file.
    """
    if not stat.S_ISREG(path.stat().st_mode):
        raise CheckpointError(f"{path} is not a regular file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            slices = {key: handle.get_slice(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
            return {key: (tuple(part.get_shape()), part.get_dtype()) for key, part in slices.items()}
    except SafetensorError as err:
        raise CheckpointError(f"{path} is not a valid safetensors file ({err})") from err


def module_tensor_specs(module: torch.nn.Module) -> dict[str, TensorSpec]:
    """Shape and dtype of every entry of ``module.state_dict()``; works on a ``meta``-device module."""
    return {
        key: (tuple(value.shape), SAFETENSORS_DTYPES.get(value.dtype, str(value.dtype)))
        for key, value in module.state_dict().items()
    }


def check_tensor_specs(
    expected: Mapping[str, TensorSpec], found: Mapping[str, TensorSpec], source: Path, strict: bool = True
) -> None:
    """Compare a checkpoint's tensors with the model's before anything is loaded.

    Shapes must match and a floating-point parameter may be stored in any float dtype (half-precision
    exports); other dtypes must match exactly. With ``strict`` a missing or unexpected tensor is an error;
    without it they are logged, but a file sharing no tensor with the model is still an error.

    Raises:
        CheckpointError: the file does not fit the model; the message names the tensors.
    """
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if not set(expected) & set(found):
        raise CheckpointError(
            f"{source} holds none of this model's tensors (it has {_keys(unexpected)}; the model expects "
            f"{_keys(missing)}): it is not a checkpoint of this model"
        )
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{source} does not match the model: missing {_keys(missing)}, unexpected {_keys(unexpected)}; "
            "pass strict=False to load the tensors that match"
        )
    if missing:
        logger.warning("missing keys when loading %s: %s", source, missing)
    if unexpected:
        logger.warning("unexpected keys when loading %s: %s", source, unexpected)
    wrong = [
        f"{key} is {found[key][0]} {found[key][1]} in the file, {expected[key][0]} {expected[key][1]} in the model"
        for key in sorted(set(expected) & set(found))
        if not _fits(expected[key], found[key])
    ]
    if wrong:
        more = f" (+{len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise CheckpointError(f"{source} does not fit the model's config: {wrong[0]}{more}")


def _fits(expected: TensorSpec, found: TensorSpec) -> bool:
    (shape, dtype), (file_shape, file_dtype) = expected, found
    if shape != file_shape:
        return False
    return file_dtype in FLOAT_DTYPES if dtype in FLOAT_DTYPES else file_dtype == dtype


def _keys(keys: list[str]) -> str:
    if not keys:
        return "none"
    more = f" (+{len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else ""
    return ", ".join(keys[:SHOWN_KEYS]) + more


def load_weights(
    module: torch.nn.Module, folder: Path, device: torch.device | str = "cpu", strict: bool = True
) -> None:
    """Load ``model.safetensors`` into ``module`` after checking every tensor against the header.

    Only tensors the module has are read, so an unexpected tensor never costs memory.

    Raises:
        CheckpointError: a tensor is missing or unexpected (unless ``strict=False``), or has the wrong
            shape or dtype, or the file is not a valid safetensors file.
    """
    path = folder / WEIGHTS_NAME
    expected = module_tensor_specs(module)
    check_tensor_specs(expected, read_tensor_specs(path), path, strict=strict)
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            state = {key: handle.get_tensor(key) for key in handle.keys() if key in expected}  # noqa: SIM118
    except SafetensorError as err:
        raise CheckpointError(f"{path} could not be read ({err})") from err
    module.load_state_dict(state, strict=strict)


def save_checkpoint(
    module: torch.nn.Module, config_dict: dict, folder: str | os.PathLike[str], dtype: torch.dtype | None = None
) -> Path:
    """Write ``config.json`` + ``model.safetensors`` atomically (a temp folder renamed into place).

    ``dtype`` converts floating-point tensors (e.g. ``torch.float16`` for shipped weights).
    """
    return save_tensors(module.state_dict(), config_dict, folder, dtype=dtype)


def save_tensors(
    tensors: Mapping[str, torch.Tensor],
    config_dict: dict,
    folder: str | os.PathLike[str],
    dtype: torch.dtype | None = None,
) -> Path:
    """:func:`save_checkpoint` for a plain name -> tensor mapping (a converted checkpoint, never built as a model)."""
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; a checkpoint folder is meant to be shared
    try:
        state = {key: value.detach().contiguous().cpu() for key, value in tensors.items()}
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
