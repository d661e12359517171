"""Crafter: an open-world survival game with 22 achievements (Hafner 2021), one task each.

Frames are rendered by Crafter directly at ``obs_size`` (no resampling), through
:mod:`nitrogen_envs.engines.crafter_render`: byte-identical to Crafter's renderer, 2-5x as fast; the game
steps through :mod:`nitrogen_envs.engines.crafter_step`: Crafter's game, state for state, with less work.
A task's reward is 1.0 on the step its achievement unlocks, and the episode then ends; Crafter's own
reward is in ``info["crafter_reward"]``. Death terminates; Crafter's 10,000-step length truncates.

Gamepad mapping (a triggers-as-modifiers layout so all 17 actions are reachable):

=====  ====================  ============================
index  native                gamepad
=====  ====================  ============================
0      noop                  nothing
1-4    move_left/right/up/down  left stick or d-pad
5      do (collect, attack)  south
6      sleep                 east
7      place_stone           north
8      place_table           west
9      place_furnace         left_shoulder
10     place_plant           right_shoulder
11-13  make_wood/stone/iron_pickaxe  right_trigger + west/north/east
14-16  make_wood/stone/iron_sword    left_trigger + west/north/east
=====  ====================  ============================

Save states: no.
"""

from __future__ import annotations

import collections
from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_envs import gamepad
from nitrogen_envs.base import EngineStep, GamepadEnv
from nitrogen_envs.engines.crafter_render import install as install_buffered_renderer
from nitrogen_envs.engines.crafter_step import install as install_fast_step
from nitrogen_envs.import_utils import require_package_quietly
from nitrogen_envs.mapping import Binding, ChoiceTable

CRAFTER_TABLE = ChoiceTable(
    bindings=(
        Binding("noop"),
        Binding("move_left", move=(-1, 0)),
        Binding("move_right", move=(1, 0)),
        Binding("move_up", move=(0, 1)),
        Binding("move_down", move=(0, -1)),
        Binding("do", inputs=("south",)),
        Binding("sleep", inputs=("east",)),
        Binding("place_stone", inputs=("north",)),
        Binding("place_table", inputs=("west",)),
        Binding("place_furnace", inputs=("left_shoulder",)),
        Binding("place_plant", inputs=("right_shoulder",)),
        Binding("make_wood_pickaxe", inputs=("right_trigger", "west")),
        Binding("make_stone_pickaxe", inputs=("right_trigger", "north")),
        Binding("make_iron_pickaxe", inputs=("right_trigger", "east")),
        Binding("make_wood_sword", inputs=("left_trigger", "west")),
        Binding("make_stone_sword", inputs=("left_trigger", "north")),
        Binding("make_iron_sword", inputs=("left_trigger", "east")),
    ),
    noop_index=0,
)

CRAFTER_LENGTH = 10_000


class _ObjectsInOrder(dict):
    """The objects of one Crafter chunk, iterated in the order they entered it (a set would go by ``id()``).

    Crafter keeps each chunk's objects in a ``set``, and its balancing step draws "which cow or zombie
    despawns" as an index into a list made from that set, whose order follows the objects' memory
    addresses: the same seed and actions played a different game in every process. An insertion-ordered
    container with the two set methods Crafter calls makes a world a function of its seed and actions.
    """

    def add(self, item: object) -> None:
        self[item] = None

    def remove(self, item: object) -> None:
        del self[item]


_ORDERED_WORLDS: dict[type, type] = {}


def _ordered_world_class(base: type) -> type:
    """``base`` (``crafter.engine.World``) whose ``reset`` gives every chunk an :class:`_ObjectsInOrder`."""
    if base in _ORDERED_WORLDS:
        return _ORDERED_WORLDS[base]

    class OrderedChunksWorld(base):  # type: ignore[misc, valid-type]
        def reset(self, seed: int | None = None) -> None:
            super().reset(seed)
            self._chunks: collections.defaultdict[Any, _ObjectsInOrder] = collections.defaultdict(_ObjectsInOrder)

    _ORDERED_WORLDS[base] = OrderedChunksWorld
    return OrderedChunksWorld


def _order_chunks(world: Any) -> None:
    """Make ``world`` (a ``crafter.engine.World``) keep its chunks' objects in insertion order from now on."""
    world.__class__ = _ordered_world_class(type(world))
    world._chunks = collections.defaultdict(_ObjectsInOrder)


class CrafterEnv(GamepadEnv):
    """Crafter with gamepad actions; ``task`` is the achievement to unlock (default ``collect_wood``).

    Args:
        game: ``"Crafter"``.
        task: one of the 22 achievement names.
        obs_size: observation size (default 256; ``"native"`` is 64).
        render_mode: ``"rgb_array"`` or ``"human"``.
    """

    native_size = (64, 64)

    def __init__(
        self,
        game: str = "Crafter",
        task: str | None = None,
        obs_size: int | tuple[int, int] | str | None = 256,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(game, task, obs_size, render_mode)
        crafter = require_package_quietly("crafter")
        height, width = self.obs_size
        self._engine = crafter.Env(size=(width, height), length=CRAFTER_LENGTH, reward=True)
        _order_chunks(self._engine._world)
        names = [str(name) for name in crafter.constants.actions]
        if names != CRAFTER_TABLE.names:
            raise RuntimeError(f"this crafter version has actions {names}; nitrogen-gym expects {CRAFTER_TABLE.names}")
        install_buffered_renderer(self._engine)
        install_fast_step(self._engine)

    def _to_obs(self, frame: np.ndarray) -> np.ndarray:
        return np.asarray(frame, dtype=np.uint8)  # rendered at obs_size into a new array every step

    def _engine_reset(self, engine_seed: int, reseeded: bool) -> np.ndarray:
        # Crafter derives each world from (seed, episode counter) and only takes a seed in its
        # constructor; setting both here makes every episode a pure function of engine_seed.
        self._engine._seed = engine_seed
        self._engine._episode = 0
        return self._engine.reset()

    def _engine_step(self, action: gamepad.GamepadDict) -> EngineStep:
        frame, reward, done, info = self._engine.step(CRAFTER_TABLE.to_native(action))
        unlocked = info["achievements"].get(self.task_spec.name, 0) > 0
        dead = info["discount"] == 0
        success = unlocked
        task_reward = 1.0 if unlocked and not self._success else 0.0
        terminated = dead or unlocked
        truncated = bool(done) and not terminated
        extra = {
            "crafter_reward": float(reward),
            "achievements": dict(info["achievements"]),
            "health": int(info["inventory"]["health"]),
        }
        return EngineStep(frame, task_reward, terminated, truncated, success, extra)

    def native_action_space(self) -> gym.spaces.Discrete:
        """Crafter's 17 discrete actions."""
        return gym.spaces.Discrete(len(CRAFTER_TABLE.bindings))

    def native_to_gamepad(self, native: Any) -> gamepad.GamepadDict:
        """Canonical gamepad action for a Crafter action index."""
        return CRAFTER_TABLE.to_gamepad(int(native))

    def gamepad_to_native(self, action: dict[str, Any]) -> int:
        """Crafter action index for a gamepad action."""
        return CRAFTER_TABLE.to_native(gamepad.validate(action))

    def mapping_rows(self) -> list[tuple[str, str, str]]:
        """The mapping table shown by ``nitrogen info``."""
        return CRAFTER_TABLE.rows()
