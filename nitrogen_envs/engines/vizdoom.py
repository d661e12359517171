"""ViZDoom scenarios: first-person 3D Doom (Freedoom assets ship with ``vizdoom``).

Each step holds the buttons for 4 game tics (35 tics per second). Frames are the RGB screen with the
HUD, rendered at the smallest 4:3 ViZDoom resolution at least as wide as ``obs_size`` is long (256x192
for the default 256x256, 320x240 for ``"native"``) and resized to ``obs_size``. Rendering 256x192
instead of 320x240 saves the engine about as much time per step as the resize costs (see
docs/performance.md); the game itself does not depend on the screen size. The scenario's own ``.cfg``
decides which buttons exist, its rewards and its timeout.

Gamepad mapping (a twin-stick shooter layout; buttons a scenario lacks are ignored):

====================  ==========================
native button         gamepad
====================  ==========================
MOVE_FORWARD/BACKWARD left stick up/down
MOVE_LEFT/RIGHT       left stick left/right (strafe)
TURN_LEFT/RIGHT       right stick left/right
LOOK_UP/DOWN          right stick up/down
ATTACK                right_trigger
USE                   west
JUMP                  south
CROUCH                east
SPEED                 left_thumb
SELECT_NEXT_WEAPON    right_shoulder
SELECT_PREV_WEAPON    left_shoulder
====================  ==========================

ViZDoom's engine is a child process. If the Python process is killed (SIGKILL, the OOM killer), a tiny
guard process (:mod:`nitrogen_envs.engines.orphan_guard`, Linux) ends the engine, which would otherwise
wait for its controller forever; ``close()`` stops the guard.

:class:`~nitrogen_envs.wrappers.NativeActions` offers ``Discrete(1 + buttons)``: no-op, then each
button alone. Save states: no (ViZDoom saves only to files, without the RNG).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_envs import gamepad
from nitrogen_envs.base import EngineStep, GamepadEnv
from nitrogen_envs.engines.orphan_guard import OrphanGuard, child_pids
from nitrogen_envs.image import resize_frame
from nitrogen_envs.import_utils import require_package
from nitrogen_envs.mapping import MAX_CACHED_ACTIONS, Binding, ButtonTable

TICS_PER_STEP = 4
SCREEN_SIZES = ((160, 120), (200, 150), (256, 192), (320, 240), (400, 300), (512, 384), (640, 480), (800, 600))
"""ViZDoom's 4:3 screen resolutions, (width, height), smallest first; 320x240 is our native size."""


def screen_size(obs_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the smallest 4:3 screen at least as wide as the observation's longer side.

    >>> screen_size((256, 256)), screen_size((240, 320)), screen_size((64, 64))
    ((256, 192), (320, 240), (160, 120))
    """
    longest = max(obs_size)
    return next((size for size in SCREEN_SIZES if size[0] >= longest), SCREEN_SIZES[-1])


def stretch_rows(frame: np.ndarray, height: int) -> np.ndarray:
    """``resize_frame(frame, (height, width))`` for an RGB frame made taller at the same width, in less time.

    With the width unchanged, OpenCV's bilinear resize copies every column exactly and blends rows
    element by element, so the channel count does not change a single output byte; viewed as 4-byte
    pixels (three RGB pixels are four of them), the frame goes through OpenCV's faster 4-channel code:
    about a quarter less time for 256x192 -> 256x256 (docs/performance.md). Other resizes go to
    :func:`~nitrogen_envs.image.resize_frame`. The result is a new array, as from ``resize_frame``.
    """
    rows, width = frame.shape[:2]
    if height <= rows or (width * 3) % 4 or frame.dtype != np.uint8 or not frame.flags.c_contiguous:
        return resize_frame(frame, (height, width))
    quads = frame.reshape(rows, width * 3 // 4, 4)
    return resize_frame(quads, (height, width * 3 // 4)).reshape(height, width, 3)


DOOM_BINDINGS: dict[str, Binding] = {
    b.native: b
    for b in (
        Binding("MOVE_FORWARD", move=(0, 1)),
        Binding("MOVE_BACKWARD", move=(0, -1)),
        Binding("MOVE_LEFT", move=(-1, 0)),
        Binding("MOVE_RIGHT", move=(1, 0)),
        Binding("TURN_LEFT", look=(-1, 0)),
        Binding("TURN_RIGHT", look=(1, 0)),
        Binding("LOOK_UP", look=(0, 1)),
        Binding("LOOK_DOWN", look=(0, -1)),
        Binding("ATTACK", inputs=("right_trigger",)),
        Binding("USE", inputs=("west",)),
        Binding("JUMP", inputs=("south",)),
        Binding("CROUCH", inputs=("east",)),
        Binding("SPEED", inputs=("left_thumb",)),
        Binding("SELECT_NEXT_WEAPON", inputs=("right_shoulder",)),
        Binding("SELECT_PREV_WEAPON", inputs=("left_shoulder",)),
    )
}


class VizdoomEnv(GamepadEnv):
    """A ViZDoom scenario with gamepad actions.

    Args:
        game: registry name (``DoomBasic``, ...).
        task: the scenario's single task (see ``nitrogen info``).
        obs_size: observation size (default 256; ``"native"`` is 240x320).
        render_mode: ``"rgb_array"`` or ``"human"``.
        privileged_info: also compute ViZDoom's object list, map sectors and labels buffer (what the
            scripted experts read); off by default because the labels buffer costs render time.
    """

    native_size = (240, 320)
    fresh_frames = True  # the engine allocates a new frame array every step

    def __init__(
        self,
        game: str,
        task: str | None = None,
        obs_size: int | tuple[int, int] | str | None = 256,
        render_mode: str | None = None,
        privileged_info: bool = False,
    ) -> None:
        super().__init__(game, task, obs_size, render_mode)
        vzd = require_package("vizdoom")
        self._vzd = vzd
        game_engine = vzd.DoomGame()
        game_engine.load_config(os.path.join(vzd.scenarios_path, f"{self.spec_game.engine_game}.cfg"))
        # ViZDoom writes its settings file to the working directory unless told otherwise.
        game_engine.set_doom_config_path(os.path.join(tempfile.gettempdir(), "nitrogen_vizdoom.ini"))
        game_engine.set_window_visible(False)
        game_engine.set_mode(vzd.Mode.PLAYER)
        game_engine.set_screen_format(vzd.ScreenFormat.RGB24)
        width, height = screen_size(self.obs_size)
        game_engine.set_screen_resolution(getattr(vzd.ScreenResolution, f"RES_{width}X{height}"))
        game_engine.set_sound_enabled(False)
        game_engine.set_available_game_variables([vzd.GameVariable.KILLCOUNT, vzd.GameVariable.HEALTH])
        if privileged_info:  # must be set before init(); ViZDoom ignores later changes
            game_engine.set_objects_info_enabled(True)
            game_engine.set_sectors_info_enabled(True)
            game_engine.set_labels_buffer_enabled(True)
        engines_before = child_pids(named="vizdoom")
        game_engine.init()
        self._engine = game_engine
        # A killed Python process runs no cleanup, and ViZDoom's engine process would wait for it forever.
        self._orphan_guard: OrphanGuard | None = OrphanGuard(child_pids(named="vizdoom") - engines_before)
        names = [button.name for button in game_engine.get_available_buttons()]
        unknown = [name for name in names if name not in DOOM_BINDINGS]
        if unknown:
            raise ValueError(
                f"scenario {self.spec_game.engine_game!r} uses buttons without a gamepad binding: {unknown}"
            )
        self.table = ButtonTable(bindings=tuple(DOOM_BINDINGS[name] for name in names))
        self._last_frame = np.zeros((height, width, 3), dtype=np.uint8)
        # The screen is as wide as the observation when only rows must be added (256x192 -> 256x256).
        self._stretch = width == self.obs_size[1] and height < self.obs_size[0]
        self._episode_over = True
        task = self.task_spec.name
        self._success_rule = ("kill" if task.startswith("kill") else task, self.task_spec.threshold or 0.0)
        self._held: dict[int, tuple[gamepad.GamepadDict, list[int]]] = {}

    def _buttons(self, action: gamepad.GamepadDict) -> list[int]:
        """The engine's button list for a validated action, memoized on the action object itself.

        The base class hands back the same read-only dict for every repeat of an exact action (its
        validation memo), so an identity lookup replaces the mapping's own fingerprint of the same action,
        a tenth of a millisecond per step here (the engine process's rendering evicts our caches between
        steps, so every Python operation of a step runs cold). The entry holds the action, so its id
        cannot be reused while memoized; a dict that is not the memo's (writable arrays) is not kept.
        """
        hit = self._held.get(id(action))
        if hit is not None and hit[0] is action:
            return hit[1]
        held = self.table.to_native(action)
        if len(self._held) < MAX_CACHED_ACTIONS and not action["buttons"].flags.writeable:
            self._held[id(action)] = (action, held)
        return held

    def _screen(self) -> np.ndarray:
        state = self._engine.get_state()
        if state is not None and state.screen_buffer is not None:
            self._last_frame = state.screen_buffer
        return self._observed(self._last_frame)

    def _observed(self, screen: np.ndarray) -> np.ndarray:
        """The screen as the base class's ``resize_frame`` would make it, by the cheaper path where it applies."""
        return stretch_rows(screen, self.obs_size[0]) if self._stretch else screen

    def _engine_reset(self, engine_seed: int, reseeded: bool) -> np.ndarray:
        self._engine.set_seed(engine_seed)
        self._engine.new_episode()
        self._episode_over = self._engine.is_episode_finished()
        return self._screen()

    def _engine_step(self, action: gamepad.GamepadDict) -> EngineStep:
        # Only new_episode() and make_action() change whether the episode is over, so a flag set by
        # them stands in for asking the engine again before each step.
        if self._episode_over:
            raise gym.error.ResetNeeded("the episode is over; call env.reset()")
        engine = self._engine
        reward = engine.make_action(self._buttons(action), TICS_PER_STEP)
        # One get_state() gives the frame, the variables we asked for and the tic, and it is None exactly
        # when the episode is over (ViZDoom's documented contract), which saves asking is_episode_finished().
        state = engine.get_state()
        finished = self._episode_over = state is None
        if not finished:
            screen = self._last_frame = state.screen_buffer
            frame = self._observed(screen)
            kills, health = state.game_variables.tolist()
            tics, dead, timed_out = state.tic, health <= 0, False
        else:
            frame = None
            kills = float(engine.get_game_variable(self._vzd.GameVariable.KILLCOUNT))
            health = float(engine.get_game_variable(self._vzd.GameVariable.HEALTH))
            tics, dead = int(engine.get_episode_time()), bool(engine.is_player_dead())
            timed_out = bool(engine.is_episode_timeout_reached())
        rule, threshold = self._success_rule
        if rule == "kill":
            success = kills >= threshold
        elif rule == "survive":
            success = not dead and tics >= threshold
        else:  # "reach": the scenario ends early, alive, when the goal is reached
            success = finished and not dead and not timed_out
        extra = {"kills": int(kills), "health": health, "dead": bool(dead), "tics": tics}
        return EngineStep(
            frame,
            float(reward),
            terminated=finished and not timed_out,
            truncated=timed_out,
            success=bool(success),
            extra=extra,
        )

    def _engine_close(self) -> None:
        if getattr(self, "_engine", None) is not None:
            self._engine.close()
            self._engine = None
        guard = getattr(self, "_orphan_guard", None)  # absent when __init__ failed before the engine started
        if guard is not None:
            guard.close()
            self._orphan_guard = None

    def native_action_space(self) -> gym.spaces.Discrete:
        """No-op plus each available button alone."""
        return gym.spaces.Discrete(1 + len(self.table.bindings))

    def native_to_gamepad(self, native: Any) -> gamepad.GamepadDict:
        """Canonical gamepad action for ``Discrete(1 + buttons)`` index ``native``."""
        index = int(native)
        if not 0 <= index <= len(self.table.bindings):
            raise ValueError(f"native action {index} is out of range [0, {len(self.table.bindings)}]")
        held = [0] * len(self.table.bindings)
        if index > 0:
            held[index - 1] = 1
        return self.table.to_gamepad(held)

    def gamepad_to_native(self, action: dict[str, Any]) -> int:
        """``Discrete(1 + buttons)`` index: 0 when nothing is held, else the first held button."""
        held = self.table.to_native(gamepad.validate(action))
        return held.index(1) + 1 if 1 in held else 0

    def mapping_rows(self) -> list[tuple[str, str, str]]:
        """This scenario's buttons and their gamepad inputs."""
        return self.table.rows()
