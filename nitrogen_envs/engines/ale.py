"""Atari 2600 games through the Arcade Learning Environment (``ale-py``, ROMs included).

Settings follow Machado et al. (2018), the ALE ``v5`` defaults: frame skip 4, sticky actions with
probability 0.25, the full 18-action set, 108,000 frames per episode at most. Frames are the 210x160
RGB screen resized to ``obs_size``.

Gamepad mapping: the joystick direction comes from the left stick or the d-pad (dead zone 0.5),
the fire button is ``south``. Every one of the 18 ALE actions is one row:

=====  ======================  =========================================
index  native                  gamepad
=====  ======================  =========================================
0      NOOP                    nothing
1      FIRE                    south
2-9    UP ... DOWNLEFT         left stick direction (diagonals included)
10-17  UPFIRE ... DOWNLEFTFIRE  left stick direction + south
=====  ======================  =========================================

:class:`~nitrogen_envs.wrappers.NativeActions` exposes the game's minimal action set instead (e.g. 6
actions for Pong); a gamepad action maps to the most specific minimal action it contains.

Save states: yes (``cloneState(include_rng=True)``, so sticky actions replay identically).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_envs import gamepad
from nitrogen_envs.base import EngineStep, GamepadEnv
from nitrogen_envs.errors import InvalidSaveState
from nitrogen_envs.import_utils import require_package
from nitrogen_envs.mapping import Binding, ChoiceTable

_DIRECTIONS = {
    "UP": (0, 1), "RIGHT": (1, 0), "LEFT": (-1, 0), "DOWN": (0, -1),
    "UPRIGHT": (1, 1), "UPLEFT": (-1, 1), "DOWNRIGHT": (1, -1), "DOWNLEFT": (-1, -1),
}  # fmt: skip
FULL_ACTION_NAMES: tuple[str, ...] = (
    "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
    "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE", "DOWNLEFTFIRE",
)  # fmt: skip
"""ALE's full action set, in ``ale_py.Action`` order."""


def _binding(name: str) -> Binding:
    fire = name.endswith("FIRE")
    direction = name[: -len("FIRE")] if fire else name
    move = _DIRECTIONS.get(direction, (0, 0))
    return Binding(name, move=move, inputs=("south",) if fire else ())


ATARI_TABLE = ChoiceTable(bindings=tuple(_binding(name) for name in FULL_ACTION_NAMES), noop_index=0)

FRAME_SKIP = 4
STICKY_ACTION_PROBABILITY = 0.25
MAX_FRAMES_PER_EPISODE = 108_000


class AtariEnv(GamepadEnv):
    """An Atari game with gamepad actions. Task ``score``: reach the human reference score.

    Args:
        game: registry name (``Pong``, ...).
        task: ``"score"``.
        obs_size: observation size (default 256; ``"native"`` is 210x160).
        render_mode: ``"rgb_array"`` or ``"human"``.
        repeat_action_probability: sticky-action probability (0.25 as in ALE v5; 0 for fully scripted play).
    """

    native_size = (210, 160)
    fresh_frames = True  # the engine allocates a new frame array every step

    def __init__(
        self,
        game: str,
        task: str | None = None,
        obs_size: int | tuple[int, int] | str | None = 256,
        render_mode: str | None = None,
        repeat_action_probability: float = STICKY_ACTION_PROBABILITY,
    ) -> None:
        super().__init__(game, task, obs_size, render_mode)
        ale_env = require_package("ale_py.env")
        self._engine = ale_env.AtariEnv(
            game=self.spec_game.engine_game,
            obs_type="rgb",
            frameskip=FRAME_SKIP,
            repeat_action_probability=float(repeat_action_probability),
            full_action_space=True,
            max_num_frames_per_episode=MAX_FRAMES_PER_EPISODE,
        )
        minimal = [FULL_ACTION_NAMES.index(a.name) for a in self._engine.ale.getMinimalActionSet()]
        self._minimal_full_index = minimal
        self._minimal_table = ChoiceTable(
            bindings=tuple(ATARI_TABLE.bindings[i] for i in minimal),
            noop_index=minimal.index(0) if 0 in minimal else 0,
        )

    def _engine_reset(self, engine_seed: int, reseeded: bool) -> np.ndarray:
        frame, _ = self._engine.reset(seed=engine_seed if reseeded else None)
        return frame

    def _engine_step(self, action: gamepad.GamepadDict) -> EngineStep:
        frame, reward, terminated, truncated, info = self._engine.step(ATARI_TABLE.to_native(action))
        threshold = self.task_spec.threshold
        success = threshold is not None and self._episode_return + float(reward) >= threshold
        return EngineStep(
            frame, float(reward), bool(terminated), bool(truncated), success, {"lives": int(info.get("lives", 0))}
        )

    def _engine_save(self) -> bytes:
        return bytes(self._engine.ale.cloneState(include_rng=True).serialize())

    def _engine_load(self, blob: bytes) -> None:
        ale_py = require_package("ale_py")
        try:
            state = ale_py.ALEState(blob)
        except (TypeError, ValueError, RuntimeError, SystemError) as err:  # SystemError: ALE's bad-blob report
            raise InvalidSaveState(f"corrupt ALE save state: {err}") from err
        self._engine.ale.restoreState(state)

    def _engine_close(self) -> None:
        if getattr(self, "_engine", None) is not None:
            self._engine.close()

    def native_action_space(self) -> gym.spaces.Discrete:
        """The game's minimal action set (what DQN-style agents use)."""
        return gym.spaces.Discrete(len(self._minimal_full_index))

    def native_action_names(self) -> list[str]:
        """Names of the minimal action set, in :meth:`native_action_space` order."""
        return self._minimal_table.names

    def native_to_gamepad(self, native: Any) -> gamepad.GamepadDict:
        """Canonical gamepad action for a minimal-set action index."""
        return self._minimal_table.to_gamepad(int(native))

    def gamepad_to_native(self, action: dict[str, Any]) -> int:
        """Minimal-set action index for a gamepad action."""
        return self._minimal_table.to_native(gamepad.validate(action))

    def mapping_rows(self) -> list[tuple[str, str, str]]:
        """The full 18-action mapping table."""
        return ATARI_TABLE.rows()
