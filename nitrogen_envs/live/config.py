"""``LiveConfig``: every option of a live env in one validated dataclass."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nitrogen_envs.live.input import INPUT_BACKENDS
from nitrogen_envs.live.keys import check_key

RewardFn = Callable[[np.ndarray, np.ndarray, dict[str, Any]], float]
"""``reward_fn(previous_obs, obs, info) -> float``, computed from frames."""
TerminationFn = Callable[[np.ndarray, dict[str, Any]], bool]
"""``termination_fn(obs, info) -> bool``: the episode ended (e.g. a death screen was recognised)."""


@dataclass
class LiveConfig:
    """How to find, drive and sample a live game.

    Args:
        window: substring of the window title (case-insensitive); from the catalog when ``None``.
        process: process name(s) of the game; from the catalog when ``None``.
        launch: ``True`` starts the game with the catalog's command when it is not running, or an argv
            list / command string to start; ``None`` never starts anything.
        launch_env: extra environment variables for a launched game (e.g. an isolated ``HOME``).
        launch_timeout_s: seconds to wait for a launched game's window.
        render_timeout_s: seconds ``reset`` waits for the window to show a rendered frame (not black,
            not one flat colour) before raising ``WindowBlank``; a game still loading shows black.
        start_gameplay: when the env launches a catalog game, take the catalog's way into gameplay
            (``start_level`` appended to the command, ``start_keys`` sent on the first ``reset``);
            ``False`` leaves the game on its title menu.
        stop_launched: stop a game we launched when the env closes.
        input: ``"gamepad"`` or ``"keyboard"``; from the catalog when ``None``.
        input_backend: ``"auto"`` or one of ``vgamepad``, ``uinput``, ``xtest``, ``pydirectinput``.
        fps: control steps per second; from the catalog when ``None`` (15 otherwise).
        sync: suspend the game between steps (it runs for exactly ``1 / fps`` s per step), so the
            policy's thinking time costs nothing in game time.
        dry_run: capture frames but never create an input device nor send input.
        focus_guard: refuse input (raise ``FocusLost``) when the game window is not in front.
        activate_on_reset: bring the game window to the front in ``reset``.
        kill_switch: key that, when pressed by a person, releases all input and stops the env
            sending any more; ``None`` disables it.
        display: X display name on Linux (``None`` reads ``$DISPLAY``).
    """

    window: str | None = None
    process: Sequence[str] | str | None = None
    launch: bool | Sequence[str] | str | None = None
    launch_env: dict[str, str] = field(default_factory=dict)
    launch_timeout_s: float = 60.0
    render_timeout_s: float = 60.0
    start_gameplay: bool = True
    stop_launched: bool = True
    input: str | None = None
    input_backend: str = "auto"
    fps: float | None = None
    sync: bool = False
    dry_run: bool = False
    focus_guard: bool = True
    activate_on_reset: bool = True
    kill_switch: str | None = "f12"
    display: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.process, str):
            self.process = (self.process,)
        if self.input is not None and self.input not in ("gamepad", "keyboard"):
            raise ValueError(f"input must be 'gamepad' or 'keyboard', got {self.input!r}")
        if self.input_backend not in INPUT_BACKENDS:
            raise ValueError(f"input_backend must be one of {INPUT_BACKENDS}, got {self.input_backend!r}")
        if self.fps is not None and not 0.5 <= float(self.fps) <= 240:
            raise ValueError(f"fps must be between 0.5 and 240 control steps per second, got {self.fps!r}")
        if self.launch_timeout_s <= 0:
            raise ValueError(f"launch_timeout_s must be positive, got {self.launch_timeout_s!r}")
        if self.render_timeout_s <= 0:
            raise ValueError(f"render_timeout_s must be positive, got {self.render_timeout_s!r}")
        if self.kill_switch is not None:
            check_key(self.kill_switch)
        if isinstance(self.launch, str):
            self.launch = self.launch.split()
