"""Every optional-dependency check lives here, so a missing package always names its pip extra."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import sys
from collections.abc import Iterator, Mapping
from types import ModuleType

from nitrogen_envs.errors import DependencyNotInstalled

logger = logging.getLogger(__name__)

# import name -> (pip requirement, extra of nitrogen-gym that installs it)
OPTIONAL_PACKAGES: dict[str, tuple[str, str]] = {
    "procgen": ("procgen-mirror", "procgen"),
    "ale_py": ("ale-py", "atari"),
    "vizdoom": ("vizdoom", "vizdoom"),
    "crafter": ("crafter", "crafter"),
    "cv2": ("opencv-python-headless", "games"),
    "av": ("av", "video"),
    "pygame": ("pygame-ce", "play"),
}

INSTALL_NOTES: dict[str, str] = {
    "procgen": "on NumPy 2 install it with: pip install 'nitrogen-gym[games]' && pip install --no-deps "
    "procgen-mirror gym3 (they declare numpy<2 but run on NumPy 2; docs/install.md)",
}
"""Import name -> what to do where the extra alone cannot install the package (one line, appended)."""

LEGACY_GYM_USERS = frozenset({"stable_baselines3", "imitation", "procgen", "crafter"})
"""Packages that import the unmaintained ``gym`` when it is installed; ``gym`` prints a banner on import."""


def import_legacy_gym_quietly() -> None:
    """Import the old ``gym`` package (if installed and not yet imported) with its stderr banner logged at debug.

    ``gym`` prints "Gym has been unmaintained since 2022 ..." to stderr when first imported; we never use it,
    but Stable-Baselines3, ``imitation``, procgen and crafter import it when present. Importing it here
    first, quietly, keeps that banner off the user's terminal; nothing else is silenced.
    """
    if "gym" in sys.modules:
        return
    with contextlib.suppress(ImportError), _stderr_to_debug("gym"):
        importlib.import_module("gym")


@contextlib.contextmanager
def _stderr_to_debug(module: str) -> Iterator[None]:
    """Capture what importing ``module`` prints on stderr and log it at debug level instead."""
    banner = io.StringIO()
    try:
        with contextlib.redirect_stderr(banner):
            yield
    finally:
        if banner.getvalue().strip():
            logger.debug("importing %s printed: %s", module, banner.getvalue().strip())


def require_package(
    module: str, packages: Mapping[str, tuple[str, str]] | None = None, default_extra: str = "all"
) -> ModuleType:
    """Import an optional package or raise an error that says how to install it.

    Every package of ours calls this one function with its own table, so all missing-dependency errors
    read the same.

    Args:
        module: the import name, e.g. ``"pyarrow.parquet"``; its top-level name is looked up in the table.
        packages: import name -> (pip requirement, nitrogen-gym extra); :data:`OPTIONAL_PACKAGES` by default.
        default_extra: the extra named for a package missing from the table.

    Raises:
        DependencyNotInstalled: the package is missing; the message holds the exact pip command.
    """
    if module.split(".")[0] in LEGACY_GYM_USERS:
        import_legacy_gym_quietly()
    try:
        return importlib.import_module(module)
    except ImportError as err:
        table = OPTIONAL_PACKAGES if packages is None else packages
        pip_name, extra = table.get(module.split(".")[0], (module, default_extra))
        note = INSTALL_NOTES.get(module.split(".")[0])
        raise DependencyNotInstalled(
            f"{module} is not installed ({err}). Install it with: "
            f"pip install 'nitrogen-gym[{extra}]'  (or: pip install '{pip_name}')" + (f"; {note}" if note else "")
        ) from err


def require_package_quietly(module: str) -> ModuleType:
    """Like :func:`require_package`, but keeps what the import prints on stderr out of the terminal.

    procgen and crafter still import the unmaintained ``gym`` package (we never use it), which prints a
    deprecation banner on import; it is logged at debug level instead.
    """
    with _stderr_to_debug(module):
        return require_package(module)


def is_available(module: str) -> bool:
    """Whether an optional package can be imported (without raising)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
