"""Checking an uploaded checkpoint before anything of it is kept or loaded.

Only two files are accepted, ``config.json`` and ``model.safetensors`` (the folder ``NitroGenPolicy``
saves), and they pass the very checks :meth:`NitroGenPolicy.from_pretrained` makes before it reads a weight:
``config.json`` size-capped and type/range-checked, the model built on the ``meta`` device (no memory) to
count its parameters, and every tensor in the safetensors header compared with it. No weight is read here.
A pickle or a ``torch.save`` zip is named as such. Files are written to a staging folder first and moved into
place only when every check passed; on any refusal the staging folder is removed, so nothing is stored.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nitrogen_envs.errors import NitroGenError
from nitrogen_leaderboard.server.settings import ServerSettings

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ALLOWED = (CONFIG_NAME, WEIGHTS_NAME)
CHUNK = 1024 * 1024
PICKLE_PROTOCOLS = range(2, 6)
ZIP_MAGIC = b"PK\x03\x04"


class WeightsRejected(NitroGenError):
    """An upload that is not exactly a valid ``config.json`` + ``model.safetensors`` (422, nothing stored)."""


class WeightsTooLarge(NitroGenError):
    """An uploaded file over its size limit (413, nothing stored)."""


@dataclass(frozen=True)
class StagedWeights:
    """A checked upload waiting in its staging folder to be moved under the entry's id."""

    folder: Path
    sha256: str
    total_bytes: int
    num_parameters: int

    def discard(self) -> None:
        """Remove the staging folder (after a refusal or a failed commit)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def install(self, target: Path) -> None:
        """Move the checked files to ``target`` (replacing leftovers of an interrupted install)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        os.replace(self.folder, target)


def stage_upload(settings: ServerSettings, files: dict[str, BinaryIO]) -> StagedWeights:
    """Copy the two uploaded files to a fresh staging folder and check them; see the module docstring.

    Args:
        settings: limits and the data folder.
        files: part name -> readable binary file; the names must be exactly ``config.json`` and
            ``model.safetensors``.

    Raises:
        WeightsRejected: other or missing names, a pickle, or a checkpoint that fails a check.
        WeightsTooLarge: a file over ``max_config_bytes`` / ``max_weights_bytes``.
    """
    names = sorted(files)
    if names != sorted(ALLOWED):
        extra = sorted(set(names) - set(ALLOWED))
        missing = sorted(set(ALLOWED) - set(names))
        raise WeightsRejected(
            f"a weights upload is exactly the files {' and '.join(ALLOWED)}"
            + (f"; refused: {', '.join(map(repr, extra))}" if extra else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    settings.staging_root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=settings.staging_root))
    try:
        _copy(files[CONFIG_NAME], folder / CONFIG_NAME, settings.max_config_bytes)
        sha256 = _copy(files[WEIGHTS_NAME], folder / WEIGHTS_NAME, settings.max_weights_bytes)
        for name in ALLOWED:
            refuse_pickle(folder / name)
        count = _check_checkpoint(folder, settings.max_parameters)
        total = sum((folder / name).stat().st_size for name in ALLOWED)
        return StagedWeights(folder=folder, sha256=sha256, total_bytes=total, num_parameters=count)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _copy(source: BinaryIO, target: Path, limit: int) -> str:
    """Copy at most ``limit`` bytes (refusing more) and return their sha256."""
    digest = hashlib.sha256()
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise WeightsTooLarge(f"{target.name} is over the limit of {limit} bytes")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def refuse_pickle(path: Path) -> None:
    """Raise :class:`WeightsRejected` when ``path`` is a pickle or a zip (``torch.save``) by its first bytes.

    Cheap (reads at most 12 bytes), so the worker repeats it on the stored folder right before loading.
    """
    with path.open("rb") as handle:
        head = handle.read(4)
    if len(head) >= 2 and head[0] == 0x80 and head[1] in PICKLE_PROTOCOLS and path.name == CONFIG_NAME:
        raise WeightsRejected(f"{path.name} is a pickle; only JSON and safetensors are accepted")
    if head.startswith(ZIP_MAGIC):
        raise WeightsRejected(
            f"{path.name} is a zip archive (torch.save output?); save with NitroGenPolicy.save_pretrained "
            "(config.json + model.safetensors)"
        )
    if path.name == WEIGHTS_NAME and len(head) >= 2 and head[0] == 0x80 and head[1] in PICKLE_PROTOCOLS:
        # a safetensors file starts with its header length; a pickle's first bytes make a huge one
        size = path.stat().st_size
        with path.open("rb") as handle:
            declared = int.from_bytes(handle.read(8), "little")
        if declared + 8 > size:
            raise WeightsRejected(f"{path.name} is a pickle, not a safetensors file; refused")


def _check_checkpoint(folder: Path, max_parameters: int) -> int:
    """The checks of ``from_pretrained`` without reading a weight; returns the parameter count."""
    try:
        from nitrogen_policies.errors import CheckpointError, InvalidConfig, SchemaMismatch
        from nitrogen_policies.hub import check_tensor_specs, module_tensor_specs, read_config_dict, read_tensor_specs
        from nitrogen_policies.nitrogen.configuration_nitrogen import NitroGenConfig
        from nitrogen_policies.nitrogen.policy_nitrogen import _meta_model
    except ModuleNotFoundError as err:  # the server was installed without the policy extra
        raise WeightsRejected(
            f"this server cannot check weights ({err.name} is not installed: pip install 'nitrogen-gym[policy]'); "
            "submit the results without --weights"
        ) from err
    try:
        config = NitroGenConfig.from_dict({**read_config_dict(folder), "vision_checkpoint": None})
        skeleton = _meta_model(config)
        count = sum(parameter.numel() for parameter in skeleton.parameters())
        if count > max_parameters:
            raise WeightsRejected(
                f"config.json describes {count:,} parameters, over this server's limit of {max_parameters:,}"
            )
        path = folder / WEIGHTS_NAME
        check_tensor_specs(module_tensor_specs(skeleton), read_tensor_specs(path), path, strict=True)
    except (CheckpointError, InvalidConfig, SchemaMismatch) as err:
        raise WeightsRejected(str(err).replace(str(folder) + os.sep, "").replace(str(folder), "upload")) from err
    return int(count)
