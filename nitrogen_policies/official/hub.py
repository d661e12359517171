"""``NitroGenPolicy.from_pretrained("nvidia/NitroGen")`` and ``from_pretrained("path/to/ng.pt")``.

The release's Hub repo holds ``ng.pt``, not our format, so it is fetched (or found where the user put it),
converted once by :mod:`.convert` into a cache folder, and that folder is loaded like any checkpoint. A converted
folder is keyed by the ``ng.pt`` file's path, size and modification time, so a replaced file converts again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from nitrogen_policies.errors import CheckpointError
from nitrogen_policies.hub import CONFIG_NAME, HUB_PREFIX, WEIGHTS_NAME

OFFICIAL_REPO = "nvidia/NitroGen"
OFFICIAL_FILE = "ng.pt"
OFFICIAL_URL = f"https://huggingface.co/{OFFICIAL_REPO}/resolve/main/{OFFICIAL_FILE}"
CACHE_ENV = "NITROGEN_CACHE"
"""Environment variable naming our cache folder (default ``~/.cache/nitrogen``)."""
CHECKPOINT_SUFFIXES = (".pt", ".pth")


def cache_root() -> Path:
    """Where converted official checkpoints (and a hand-placed ``ng.pt``) live."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "nitrogen") / "official"


def placed_checkpoint() -> Path:
    """Where a user without internet on this machine puts a downloaded ``ng.pt``."""
    return cache_root() / OFFICIAL_FILE


def is_official_name(name_or_path: str | os.PathLike[str]) -> bool:
    """Whether ``from_pretrained`` should treat this as the release: its repo id or a local ``.pt`` file."""
    name = os.fspath(name_or_path)
    if name in (OFFICIAL_REPO, f"{HUB_PREFIX}{OFFICIAL_REPO}"):
        return True
    return Path(name).suffix in CHECKPOINT_SUFFIXES and Path(name).expanduser().is_file()


def official_checkpoint_folder(name_or_path: str | os.PathLike[str], revision: str | None = None) -> Path:
    """A converted checkpoint folder for the release's repo id or a local ``ng.pt`` (converted on first use).

    Raises:
        CheckpointError: offline and no ``ng.pt`` in :func:`placed_checkpoint`; the message says what to download
            from where and where to put it.
        UnsafeCheckpoint: the file's pickle names something outside the allow-list (nothing ran).
    """
    name = os.fspath(name_or_path)
    source = Path(name).expanduser() if Path(name).suffix in CHECKPOINT_SUFFIXES else _fetch(revision)
    stat = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = cache_root() / "converted" / key
    if not ((folder / CONFIG_NAME).is_file() and (folder / WEIGHTS_NAME).is_file()):
        from nitrogen_policies.official.convert import convert_official

        convert_official(source, folder)
    return folder


def _fetch(revision: str | None) -> Path:
    placed = placed_checkpoint()
    if placed.is_file():
        return placed
    from nitrogen_policies.import_utils import require_package

    hub = require_package("huggingface_hub")
    try:
        return Path(hub.hf_hub_download(OFFICIAL_REPO, OFFICIAL_FILE, revision=revision))
    except Exception as err:  # offline, gated, or a Hub error: all end in the same instruction
        reason = " ".join(str(err).split())[:200]
        raise CheckpointError(
            f"could not download {OFFICIAL_FILE} of {OFFICIAL_REPO} ({type(err).__name__}: {reason}); download "
            f"{OFFICIAL_URL} (or run `hf download {OFFICIAL_REPO} {OFFICIAL_FILE}`) on a machine with internet and "
            f"put it at {placed} (or pass its path to from_pretrained)"
        ) from err
