"""Remove what a crashed or killed live session may leave behind: stuck keys, frozen or running games.

Virtual pads need no cleanup step: vgamepad's ViGEm target and a uinput device both disappear with
the process that created them. Keys pressed through XTest or SendInput do not, and a game we
suspended stays frozen until someone resumes it, so those are handled here.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

from nitrogen_envs.live.catalog import load_catalog
from nitrogen_envs.live.process import cleanup_launched

logger = logging.getLogger(__name__)


@dataclass
class CleanupConfig:
    """What ``nitrogen live cleanup`` does.

    Args:
        release_keys: release every key the OS reports held (X11) or every catalog key (Windows).
        stop_games: stop the games we launched (otherwise only resume them).
        display: X display on Linux (``None`` reads ``$DISPLAY``).
    """

    release_keys: bool = True
    stop_games: bool = True
    display: str | None = None


def release_stuck_keys(display: str | None = None) -> list[str]:
    """Release held keys; returns one report line."""
    if sys.platform == "win32":
        from nitrogen_envs.live.win32_input import DirectInputKeyboard

        keyboard = DirectInputKeyboard()
        keys = sorted({b.native for spec in load_catalog().values() for b in spec.keys} | {"shift", "ctrl", "alt"})
        for key in keys:
            keyboard.key_up(key)
        return [f"released {len(keys)} keys used by catalog games"]
    if not (display or os.environ.get("DISPLAY")):
        return ["no X display ($DISPLAY unset): no keys to release"]
    from nitrogen_envs.live.x11_keyboard import pressed_keycodes, release_keycodes

    codes = pressed_keycodes(display)
    release_keycodes(codes, display)
    return [f"released {len(codes)} held key(s) on X display {display or os.environ.get('DISPLAY')}"]


def cleanup(config: CleanupConfig) -> list[str]:
    """Run the cleanup and return report lines (the CLI prints them)."""
    report = cleanup_launched(stop=config.stop_games) or ["no launched games recorded"]
    if config.release_keys:
        report += release_stuck_keys(config.display)
    return report
