"""One place that imports python-xlib, so a missing package always names the extra to install."""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from nitrogen_envs.live.errors import BackendUnavailable, LiveDependencyNotInstalled


def xlib_modules() -> dict[str, ModuleType]:
    """``Xlib.X``, ``Xlib.XK``, ``Xlib.display``, ``Xlib.error`` and ``Xlib.ext.xtest``.

    Raises:
        LiveDependencyNotInstalled: python-xlib is missing.
    """
    try:
        from Xlib import XK, X, display, error
        from Xlib.ext import xtest
    except ImportError as err:
        raise LiveDependencyNotInstalled(
            f"python-xlib is not installed ({err}). Install it with: pip install 'nitrogen-gym[live]' "
            "(or: pip install python-xlib)"
        ) from err
    return {"X": X, "XK": XK, "display": display, "error": error, "xtest": xtest}


def open_display(name: str | None) -> Any:
    """Open an X display connection.

    Raises:
        BackendUnavailable: no X server at ``name`` / ``$DISPLAY`` (e.g. a headless box without Xvfb).
    """
    modules = xlib_modules()
    target = name or os.environ.get("DISPLAY")
    try:
        return modules["display"].Display(target)
    except Exception as err:  # Xlib raises several unrelated types here
        raise BackendUnavailable(
            f"cannot open X display {target!r} ({err}); start the game in an X session or under Xvfb "
            "(`Xvfb :99 &` then DISPLAY=:99) and pass display="
        ) from err
