"""A privileged scripted bot for Crafter: it reads the world map and inventory, then follows recipes.

Each step the bot picks one subgoal from the task's recipe chain (e.g. ``make_stone_pickaxe`` needs a
wood pickaxe, wood, stone and a table next to the player), finds the nearest tile that serves it by
breadth-first search over the material map, walks there and faces it, then does, places or makes.
Survival rules (drink, eat a cow, sleep) take over when a statistic runs low, so long chains such as
``collect_diamond`` do not starve. Crafter has no save states, so there is no lookahead.
"""

from __future__ import annotations

import importlib
import logging
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_datasets.experts.base import episode_rng, unwrap
from nitrogen_datasets.experts.errors import ExpertNotReset
from nitrogen_envs import gamepad

logger = logging.getLogger(__name__)

ACTIONS = {
    "noop": 0, "left": 1, "right": 2, "up": 3, "down": 4, "do": 5, "sleep": 6, "place_stone": 7,
    "place_table": 8, "place_furnace": 9, "place_plant": 10, "make_wood_pickaxe": 11,
    "make_stone_pickaxe": 12, "make_iron_pickaxe": 13, "make_wood_sword": 14, "make_stone_sword": 15,
    "make_iron_sword": 16,
}  # fmt: skip
"""Crafter's native action indices (``crafter.constants.actions`` order)."""
DIRECTIONS = {(-1, 0): "left", (1, 0): "right", (0, -1): "up", (0, 1): "down"}
WALKABLE = frozenset({"grass", "sand", "path"})
SOURCE = {"wood": "tree", "stone": "stone", "coal": "coal", "iron": "iron", "diamond": "diamond", "drink": "water"}
TOOL_FOR = {"stone": "wood_pickaxe", "coal": "wood_pickaxe", "iron": "stone_pickaxe", "diamond": "iron_pickaxe"}
RECIPES = ("wood_pickaxe", "stone_pickaxe", "iron_pickaxe", "wood_sword", "stone_sword", "iron_sword")
PLACE_ON = {
    "table": WALKABLE,
    "furnace": WALKABLE,
    "stone": WALKABLE | {"water", "lava"},
    "plant": frozenset({"grass"}),
}
SEARCH_RADIUS = 64
THREAT_RANGE = {"Zombie": 2, "Skeleton": 4}
"""Distance (tiles) within which a monster is fought before anything else; skeletons shoot arrows."""
PLANTS_WANTED = 4
"""Saplings kept growing for ``eat_plant`` (each takes a few hundred steps to ripen)."""
SLEEP_BELOW = 3
"""Energy level at which the bot builds a shelter and sleeps (zombies hit sleepers hard)."""
NIGHT_BELOW = 0.3
"""Daylight under which long tasks wait out the night in a shelter (zombies spawn in the dark)."""
NIGHT_TASKS = frozenset({"eat_plant"})
"""Tasks that wait out the night in a shelter (a plant ripens over a few hundred steps); measured to cost
more than it saves on the crafting chains, which mostly finish within the first day."""


class CrafterBot:
    """Scripted Crafter player for one achievement task (see the module docstring).

    Args:
        seed: base seed of the random wander used when nothing useful is reachable.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._env: Any = None
        self._rng = np.random.default_rng(self.seed)
        self._task = ""
        self._night_shelter = False
        self._wander: list[str] = []
        self._sealed = False
        self._plan: tuple[tuple[int, int], tuple[int, int]] | None = None
        self._visited_p = False
        self._make_cost: dict[str, dict[str, int]] = {}
        self._place_cost: dict[str, dict[str, int]] = {}

    def reset(self, env: gym.Env, seed: int | None) -> None:
        """Bind to ``env`` (Crafter) and read the task to pursue."""
        self._env = unwrap(env, engines=("crafter",))
        self._task = self._env.task_spec.name
        self._night_shelter = self._task in NIGHT_TASKS
        # Costs come from the installed crafter's data.yaml (they differ between versions).
        tables = importlib.import_module("crafter.constants")
        self._make_cost = {k: dict(v["uses"]) for k, v in tables.make.items()}
        self._place_cost = {k: dict(v["uses"]) for k, v in tables.place.items()}
        self._rng = episode_rng(self.seed, seed)
        self._wander = []
        self._sealed, self._plan, self._visited_p = False, None, False

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> gamepad.GamepadDict:
        """The native action of the current subgoal, as a gamepad action."""
        if self._env is None:
            raise ExpertNotReset("call expert.reset(env, seed) after env.reset() and before act()")
        engine = self._env._engine
        name = self._choose(engine._world, engine._player)
        return self._env.native_to_gamepad(ACTIONS[name])

    # -- subgoals ---------------------------------------------------------------------------------------
    def _choose(self, world: Any, player: Any) -> str:
        inv = player.inventory
        if player.sleeping:
            return "noop"
        if self._sealed and inv["energy"] >= 9 and world.daylight >= NIGHT_BELOW:
            self._sealed = False  # rested and daylight: the normal search digs the way out
        if self._task == "wake_up":
            return "sleep" if inv["energy"] < 9 else self._idle(world, player)
        pos = player.pos
        close = [o for o in world.objects if np.abs(o.pos - pos).sum() <= THREAT_RANGE.get(type(o).__name__, -1)]
        if close:  # fighting back costs a few steps; a zombie or archer left alone keeps hitting
            return self._hit(world, player, "", only=close)
        rest = inv["energy"] < SLEEP_BELOW or self._sealed or (world.daylight < NIGHT_BELOW and self._night_shelter)
        low = 2 if rest else 4  # while resting, only leave the shelter when thirst or hunger is urgent
        if inv["drink"] < low or self._task == "collect_drink":
            self._sealed = False
            return self._collect(world, player, "water")
        if inv["food"] < low or self._task == "eat_cow":
            self._sealed = False
            return self._hit(world, player, "Cow")
        if rest:
            return self._need(world, player, {"wood_pickaxe": 1}) or self._shelter(world, player)
        return self._pursue(world, player, self._task)

    def _pursue(self, world: Any, player: Any, task: str) -> str:
        verb, _, thing = task.partition("_")
        if task == "defeat_zombie":
            return self._hit(world, player, "Zombie")
        if task == "defeat_skeleton":
            return self._need(world, player, {"wood_pickaxe": 1}) or self._hit(world, player, "Skeleton")
        if task == "collect_sapling":
            return self._collect(world, player, "grass")
        if task == "eat_plant":
            return self._eat_plant(world, player)
        if verb == "collect":
            return self._obtain(world, player, thing)
        if verb == "place":
            return self._need(world, player, self._place_cost[thing]) or self._place(world, player, thing)
        if verb == "make":
            return self._make(world, player, thing)
        return self._idle(world, player)

    def _need(self, world: Any, player: Any, items: dict[str, int]) -> str | None:
        """Action toward the first missing item of ``items``; ``None`` when all are in the inventory."""
        for item, amount in items.items():
            if player.inventory[item] < amount:
                return self._obtain(world, player, item)
        return None

    def _obtain(self, world: Any, player: Any, item: str) -> str:
        if item in RECIPES:
            return self._make(world, player, item)
        if item == "sapling":
            return self._collect(world, player, "grass")
        tool = TOOL_FOR.get(item)
        if tool is not None and player.inventory[tool] < 1:
            return self._make(world, player, tool)
        return self._collect(world, player, SOURCE[item])

    def _make(self, world: Any, player: Any, tool: str) -> str:
        recipe = dict(self._make_cost[tool])
        missing = self._need(world, player, recipe)
        if missing is not None:
            return missing
        stations = ["table", "furnace"] if tool.startswith("iron") else ["table"]
        for station in stations:
            near, _ = world.nearby(tuple(player.pos), 1)
            if station in near:
                continue
            extra = {k: v + recipe.get(k, 0) for k, v in self._place_cost[station].items()}
            missing = self._need(world, player, extra)
            if missing is not None:
                return missing
            if self._reachable(world, player, station, max_steps=6):
                return self._collect(world, player, station, act=False)
            return self._place(world, player, station)
        return f"make_{tool}"

    def _eat_plant(self, world: Any, player: Any) -> str:
        plants = [o for o in world.objects if type(o).__name__ == "Plant"]
        ripe = [p for p in plants if p.ripe]
        if ripe:
            return self._hit(world, player, "Plant", only=ripe)
        if len(plants) < PLANTS_WANTED:  # cows and zombies trample plants: keep several growing
            return self._need(world, player, {"sapling": 1}) or self._place(world, player, "plant")
        return self._need(world, player, {"wood_pickaxe": 1}) or self._idle(world, player)

    def _shelter(self, world: Any, player: Any) -> str:
        """Dig a two-tile pocket into rock, seal its mouth with a stone and sleep inside.

        A player cannot turn without walking, so the pocket is two deep: from the mouth O dig B and P,
        walk to P, step back to B (now facing O) and place a stone on O. Only sites where every other
        neighbour of B and P is not walkable qualify, so nothing can reach the sleeper.
        """
        if self._sealed:
            return "sleep"
        pos = (int(player.pos[0]), int(player.pos[1]))
        facing = (int(player.facing[0]), int(player.facing[1]))
        if self._plan is None or not self._plan_valid(world, pos):
            self._plan = self._find_site(world, player)
            self._visited_p = False
            if self._plan is None:
                return self._idle(world, player)
        mouth, d = self._plan
        b, p = (mouth[0] + d[0], mouth[1] + d[1]), (mouth[0] + 2 * d[0], mouth[1] + 2 * d[1])
        back = (-d[0], -d[1])
        if pos == p:
            self._visited_p = True
            return DIRECTIONS[back]  # step back into B, which leaves the player facing the mouth
        if pos == b:
            if world[p][0] == "stone":
                return "do" if facing == d else DIRECTIONS[d]
            if not self._visited_p:
                return DIRECTIONS[d]
            if world[mouth][0] in WALKABLE:
                return "place_stone" if facing == back and player.inventory["stone"] > 0 else "noop"
            self._sealed, self._plan = True, None
            return "sleep"
        if pos == mouth:
            if world[b][0] == "stone":
                return "do" if facing == d else DIRECTIONS[d]
            return DIRECTIONS[d]
        return self._walk_to(world, player, mouth)

    def _plan_valid(self, world: Any, pos: tuple[int, int]) -> bool:
        mouth, d = self._plan  # type: ignore[misc]
        inside = pos in ((mouth[0] + d[0], mouth[1] + d[1]), (mouth[0] + 2 * d[0], mouth[1] + 2 * d[1]))
        return inside or (world[mouth][0] in WALKABLE and self._site(world, mouth, d, fresh=False))

    def _find_site(self, world: Any, player: Any) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The nearest reachable mouth tile and digging direction of a pocket site (within 24 tiles)."""
        px, py = int(player.pos[0]), int(player.pos[1])
        sites = [
            ((x, y), d)
            for x in range(px - 24, px + 25)
            for y in range(py - 24, py + 25)
            if world[(x, y)][0] in WALKABLE
            for d in DIRECTIONS
            if self._site(world, (x, y), d, fresh=True)
        ]
        sites.sort(key=lambda site: abs(site[0][0] - px) + abs(site[0][1] - py))
        for mouth, d in sites[:8]:
            if (px, py) == mouth or self._search(world, player, lambda t, m=mouth: t == m) is not None:
                return mouth, d
        return None

    def _site(self, world: Any, mouth: tuple[int, int], d: tuple[int, int], fresh: bool) -> bool:
        """B = mouth + d and P = mouth + 2d can become a sealed pocket (``fresh``: both still rock)."""
        b, p = (mouth[0] + d[0], mouth[1] + d[1]), (mouth[0] + 2 * d[0], mouth[1] + 2 * d[1])
        if fresh and (world[b][0] != "stone" or world[p][0] != "stone"):
            return False
        side = (d[1], d[0])
        walls = [(b[0] + side[0], b[1] + side[1]), (b[0] - side[0], b[1] - side[1])]
        walls += [(p[0] + side[0], p[1] + side[1]), (p[0] - side[0], p[1] - side[1]), (p[0] + d[0], p[1] + d[1])]
        return all(world[c][0] not in WALKABLE and world[c][0] not in ("lava", None) for c in walls)

    def _walk_to(self, world: Any, player: Any, target: tuple[int, int]) -> str:
        """One step toward standing on ``target``."""
        pos = (int(player.pos[0]), int(player.pos[1]))
        step = (target[0] - pos[0], target[1] - pos[1])
        if step in DIRECTIONS:
            return DIRECTIONS[step]
        path = self._search(world, player, lambda t: t == target)
        if not path:
            return self._idle(world, player)
        nxt = (pos[0] + path[0][0], pos[1] + path[0][1])
        facing = (int(player.facing[0]), int(player.facing[1]))
        if world[nxt][0] in ("stone", "tree", "coal", "iron") and facing == path[0]:
            return "do"
        return DIRECTIONS[path[0]]

    # -- movement primitives ----------------------------------------------------------------------------
    def _collect(self, world: Any, player: Any, material: str, act: bool = True) -> str:
        """Walk next to the nearest ``material`` tile, face it and ``do`` it (or stop there if not ``act``)."""
        # An object on the tile (a plant on grass, a cow) would take the hit instead of the material.
        return self._go(world, player, lambda pos: world[pos][0] == material and world[pos][1] is None, act)

    def _hit(self, world: Any, player: Any, kind: str, only: list[Any] | None = None) -> str:
        targets = only if only is not None else [o for o in world.objects if type(o).__name__ == kind]
        spots = {tuple(int(v) for v in o.pos) for o in targets}
        return self._go(world, player, lambda pos: pos in spots, True)

    def _place(self, world: Any, player: Any, thing: str) -> str:
        allowed = PLACE_ON[thing]
        return self._go(
            world, player, lambda pos: world[pos][0] in allowed and world[pos][1] is None, True, f"place_{thing}"
        )

    def _reachable(self, world: Any, player: Any, material: str, max_steps: int) -> bool:
        path = self._search(world, player, lambda pos: world[pos][0] == material)
        return path is not None and len(path) <= max_steps

    def _go(self, world: Any, player: Any, goal: Any, act: bool, action: str = "do") -> str:
        pos = (int(player.pos[0]), int(player.pos[1]))
        facing = (int(player.facing[0]), int(player.facing[1]))
        front = (pos[0] + facing[0], pos[1] + facing[1])
        if goal(front):
            return action if act else "noop"
        path = self._search(world, player, goal)
        if path is None:
            return self._idle(world, player)
        if not path:  # a goal tile is adjacent but not in front: turn toward it
            for step in DIRECTIONS:
                if goal((pos[0] + step[0], pos[1] + step[1])):
                    return DIRECTIONS[step]
        step = path[0]
        nxt = (pos[0] + step[0], pos[1] + step[1])
        if world[nxt][0] in ("stone", "tree", "coal", "iron") and facing == step:
            return "do"  # dig through a wall the search allowed
        return DIRECTIONS[step]

    def _search(self, world: Any, player: Any, goal: Any) -> list[tuple[int, int]] | None:
        """Steps from the player to a tile next to a goal tile (``[]``: already next to one), or ``None``."""
        start = (int(player.pos[0]), int(player.pos[1]))
        diggable = {"stone"} if player.inventory["wood_pickaxe"] else set()
        parents: dict[tuple[int, int], tuple[tuple[int, int], tuple[int, int]] | None] = {start: None}
        queue = deque([start])
        while queue:
            cur = queue.popleft()
            if any(goal((cur[0] + d[0], cur[1] + d[1])) for d in DIRECTIONS):
                steps: list[tuple[int, int]] = []
                while parents[cur] is not None:
                    cur, step = parents[cur]  # type: ignore[misc]
                    steps.append(step)
                return steps[::-1]
            for d in DIRECTIONS:
                nxt = (cur[0] + d[0], cur[1] + d[1])
                if nxt in parents or abs(nxt[0] - start[0]) + abs(nxt[1] - start[1]) > SEARCH_RADIUS:
                    continue
                material, obj = world[nxt]
                if material is None or obj is not None or (material not in WALKABLE and material not in diggable):
                    continue
                parents[nxt] = (cur, d)
                queue.append(nxt)
        return None

    def _idle(self, world: Any, player: Any) -> str:
        """Wander (in held random directions, never into lava) when nothing useful is reachable."""
        if not self._wander:
            direction = list(DIRECTIONS.values())[int(self._rng.integers(4))]
            self._wander = [direction] * int(self._rng.integers(2, 6))
        name = self._wander.pop()
        step = next(d for d, n in DIRECTIONS.items() if n == name)
        if world[(int(player.pos[0]) + step[0], int(player.pos[1]) + step[1])][0] == "lava":
            self._wander = []
            return "noop"
        return name
