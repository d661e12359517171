"""Crafter's game step, redone to leave the same world for less work per step.

``crafter.Env.step`` updates every object within reach of the player (a numpy ``distance`` per object,
several microseconds for two integers), rebalances the creatures of every chunk each 10 steps (a numpy
mask and sum per chunk and species) and builds a semantic map for its info dict. Once our renderer
(:mod:`nitrogen_envs.engines.crafter_render`) drew 256 px frames cheaply, that was a third of our step.

:class:`FastStep` does the same updates in the same order, with the same random draws, and returns what
``crafter.Env.step`` returns:

* distances to the player in Python integers (positions are two-integer arrays);
* each material's cell count for all chunks in one numpy pass per balancing step (materials do not change
  while balancing; the chunks' creatures, which do, are looked up as Crafter does);
* no semantic map: ``info`` has every key of Crafter's except ``"semantic"``, which NitroGen never reads.

``tests/test_crafter_determinism.py`` plays long games (nights, sleep, resets, every balancing step) with
both steps side by side and compares the world after every step: materials, objects, their state, and
the random state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

BALANCE_EVERY = 10
"""Crafter rebalances its creatures every this many steps."""


@dataclass(frozen=True)
class CreatureBalance:
    """How Crafter keeps one species' numbers in a chunk (``crafter.Env._balance_chunk``'s arguments).

    ``targets(space, daylight)`` gives the (minimum, maximum) count for a chunk with ``space`` cells of
    ``material``; below the minimum a creature spawns with ``spawn_prob`` on a free ``material`` cell at
    least ``spawn_distance`` from the player, above the maximum one despawns with ``despawn_prob`` if it is
    at least ``despawn_distance`` away.
    """

    kind: str
    material: str
    spawn_distance: int
    despawn_distance: int
    spawn_prob: float
    despawn_prob: float
    targets: Callable[[Any, float], tuple[float, float]]
    needs_player: bool


BALANCES = (
    CreatureBalance(
        "Zombie", "grass", 6, 0, 0.3, 0.4,
        lambda space, light: (0 if space < 50 else 3.5 - 3 * light, 3.5 - 3 * light), needs_player=True,
    ),
    CreatureBalance(
        "Skeleton", "path", 7, 7, 0.1, 0.1, lambda space, light: (0 if space < 6 else 1, 2), needs_player=True
    ),
    CreatureBalance(
        "Cow", "grass", 5, 5, 0.01, 0.1, lambda space, light: (0 if space < 30 else 1, 1.5 + light), needs_player=False
    ),
)  # fmt: skip
"""Crafter's balancing rules, in the order it applies them to each chunk."""


def _manhattan(a: Any, b: Any) -> int:
    """``|a - b|`` summed over both axes (``crafter.objects.Object.distance``), in Python integers."""
    return abs(int(a[0]) - int(b[0])) + abs(int(a[1]) - int(b[1]))


class FastStep:
    """A drop-in ``step(action)`` for a ``crafter.Env``: the same game as Crafter's, cheaper.

    Args:
        env: the ``crafter.Env`` to step (its own state: player, world, step counter, unlocked set).
    """

    def __init__(self, env: Any) -> None:
        from crafter import constants, objects  # type: ignore[import-untyped]

        self._env = env
        self._actions = list(constants.actions)
        self._reach = int(2 * max(int(v) for v in env._view))
        self._kinds = {balance.kind: getattr(objects, balance.kind) for balance in BALANCES}

    def __call__(self, action: int) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        """One game step, as ``crafter.Env.step(action)``: (frame, reward, done, info)."""
        env = self._env
        env._step += 1
        env._update_time()
        player = env._player
        player.action = self._actions[action]
        reach = self._reach
        for obj in env._world.objects:  # a snapshot: objects removed on the way are still updated, as in Crafter
            if _manhattan(obj.pos, player.pos) < reach:
                obj.update()
        if env._step % BALANCE_EVERY == 0:
            self._balance()
        frame = env._obs()
        reward = (player.health - env._last_health) / 10
        env._last_health = player.health
        unlocked = {name for name, count in player.achievements.items() if count > 0 and name not in env._unlocked}
        if unlocked:
            env._unlocked |= unlocked
            reward += 1.0
        dead = player.health <= 0
        over = env._length and env._step >= env._length
        info = {
            "inventory": player.inventory.copy(),
            "achievements": player.achievements.copy(),
            "discount": 1 - float(dead),
            "player_pos": player.pos,
            "reward": reward,
        }
        return frame, (reward if env._reward else 0.0), dead or over, info

    def _balance(self) -> None:
        """Crafter's creature balancing over every chunk that has held objects, in its order."""
        world = self._env._world
        daylight = world.daylight
        counts = {material: self._chunk_counts(material) for material in {b.material for b in BALANCES}}
        size_x, size_y = world._chunk_size
        for chunk, members in world.chunks.items():
            for balance in BALANCES:
                space = counts[balance.material][chunk[0] // size_x, chunk[2] // size_y]
                self._balance_one(chunk, members, balance, space, daylight)

    def _chunk_counts(self, material: str) -> np.ndarray:
        """Cells of ``material`` in each chunk, indexed (x // chunk width, y // chunk height)."""
        world = self._env._world
        size_x, size_y = world._chunk_size
        area_x, area_y = world.area
        cells = world._mat_map == world._mat_ids[material]
        per_column = np.add.reduceat(cells, np.arange(0, area_x, size_x), axis=0, dtype=np.int64)
        return np.add.reduceat(per_column, np.arange(0, area_y, size_y), axis=1, dtype=np.int64)

    def _balance_one(
        self, chunk: tuple[int, int, int, int], members: Any, balance: CreatureBalance, space: Any, daylight: float
    ) -> None:
        """``crafter.Env._balance_object`` for one chunk and species, with the material count given."""
        env = self._env
        world, player, random = env._world, env._player, env._world.random
        kind = self._kinds[balance.kind]
        creatures = [obj for obj in members if isinstance(obj, kind)]
        target_min, target_max = balance.targets(space, daylight)
        if len(creatures) < int(target_min) and random.uniform() < balance.spawn_prob:
            xmin, xmax, ymin, ymax = chunk
            free_x, free_y = np.nonzero(world._mat_map[xmin:xmax, ymin:ymax] == world._mat_ids[balance.material])
            index = random.randint(0, len(free_x))
            pos = np.array((xmin + free_x[index], ymin + free_y[index]))
            if world[pos][1] is None and _manhattan(pos, player.pos) >= balance.spawn_distance:
                world.add(kind(world, pos, player) if balance.needs_player else kind(world, pos))
        elif len(creatures) > int(target_max) and random.uniform() < balance.despawn_prob:
            obj = creatures[random.randint(0, len(creatures))]
            if _manhattan(obj.pos, player.pos) >= balance.despawn_distance:
                world.remove(obj)


def install(env: Any) -> FastStep:
    """Make ``env`` (a ``crafter.Env``) step with :class:`FastStep`; returns it.

    An instance attribute takes over ``env.step`` (Crafter's ``reset`` is unchanged).
    """
    step = FastStep(env)
    env.step = step
    return step
