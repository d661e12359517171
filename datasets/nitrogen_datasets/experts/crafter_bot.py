"""A privileged scripted bot for Crafter: it reads the world map and inventory, then follows recipes.

Each step the bot picks one subgoal from the task's recipe chain (e.g. ``make_stone_pickaxe`` needs a
wood pickaxe, wood, stone and a table next to the player), finds the nearest tile that serves it by
breadth-first search over the material map, walks there and faces it, then does, places or makes.
Survival rules (drink, eat a cow, sleep in a sealed two-tile shelter) take over when a statistic runs
low, so long chains such as ``collect_diamond`` do not starve. For ``eat_plant`` the bot walls a sapling
in and waits near it (``_eat_plant``). Crafter has no save states, so there is no lookahead.
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
from nitrogen_envs.engines.crafter import CRAFTER_TABLE

logger = logging.getLogger(__name__)

ACTIONS = {name: index for index, name in enumerate(CRAFTER_TABLE.names)}
"""Crafter's native action indices by name (``crafter.constants.actions`` order), from the env's own table."""
DIRECTIONS = {(-1, 0): "move_left", (1, 0): "move_right", (0, -1): "move_up", (0, 1): "move_down"}
"""Native move action for each (dx, dy) step on Crafter's map (y grows downwards)."""
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
GARDEN_STONES = 4
"""Stones gathered before walling in a sapling for ``eat_plant``: one per side of the plant, at most."""
SHELTER_STONES = 6
"""Stones gathered when no shelter site can be built from what the bot carries: five walls and the mouth."""
GARDEN_SEARCH = 16
"""Half-width (tiles) of the square searched for the grass tile to plant on."""
GARDEN_SHELTER = 14
"""Farthest (Manhattan) a night shelter is built from the walled plant, when there is a site that near."""
GARDEN_STAY = 6
"""Manhattan distance the bot keeps to its walled sapling: Crafter only updates objects (a plant ripens
by being updated 300 times) within 18 tiles of the player."""
TOP_UP = {"drink": 8, "food": 7}
"""Levels kept while waiting for a plant to ripen, so that the night in the shelter starts well fed."""
LEAVE_DAYLIGHT = 0.7
"""Daylight at which the bot leaves its shelter: zombies spawned in the night despawn as the light grows."""
LEAVE_HEALTH = 7
"""Health the bot recovers in its shelter before leaving it in the morning (zombies linger at dawn)."""
SLEEP_BELOW = 3
"""Energy level at which the bot builds a shelter and sleeps (zombies hit sleepers hard)."""
NIGHT_BELOW = 0.45
"""Daylight under which long tasks wait out the night in a shelter (zombies spawn in the dark; from 0.45
on dusk leaves time to build a shelter before they come)."""
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
        self._garden: tuple[tuple[int, int], tuple[int, int]] | None = None
        self._keep: frozenset[tuple[int, int]] = frozenset()
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
        self._garden, self._keep = None, frozenset()

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
        if self._sealed and inv["energy"] >= 9 and inv["health"] >= LEAVE_HEALTH and world.daylight >= LEAVE_DAYLIGHT:
            self._unseal()  # rested and daylight: the normal search digs the way out
        if self._task == "wake_up":
            return "sleep" if inv["energy"] < 9 else self._idle(world, player)
        pos = player.pos
        close = [o for o in world.objects if np.abs(o.pos - pos).sum() <= THREAT_RANGE.get(type(o).__name__, -1)]
        # Only monsters with an open way to the player: one behind rock (an archer in a tunnel) would
        # otherwise be dug toward, then left as soon as it is out of range, over and over.
        reach = 2 * THREAT_RANGE["Skeleton"]
        close = [o for o in close if self._search(world, player, _at(o), dig=False, limit=reach) is not None]
        if close and not self._sealed:  # fighting back costs a few steps; a monster left alone keeps hitting
            return self._hit(world, player, "", only=close)
        if self._task == "eat_plant" and any(type(o).__name__ == "Plant" and o.ripe for o in world.objects):
            self._unseal()  # eating it is the task: worth a walk in the dark
            return self._eat_plant(world, player)
        rest = inv["energy"] < SLEEP_BELOW or self._sealed or (world.daylight < NIGHT_BELOW and self._night_shelter)
        low = 2 if rest else 4  # while resting, only leave the shelter when thirst or hunger is urgent
        if inv["drink"] < low or self._task == "collect_drink":
            self._unseal()
            return self._collect(world, player, "water")
        if inv["food"] < low or self._task == "eat_cow":
            self._unseal()
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
        """Wall a sapling in on all four sides, stay near while it ripens, then dig in and eat it.

        A plant dies the moment a cow, zombie or skeleton stands next to it (Crafter checks the four
        neighbours each update) and needs 300 updates to ripen, which only happen while the player is
        within 18 tiles, so an unprotected sapling rarely lives that long. The bot gathers a wood
        pickaxe, a sapling and stones, picks a grass tile with few open sides near where it stands, puts
        stones on the open sides but one, plants from that one, backs out and closes it. Walls are kept
        out of the path search's digging until the plant is ripe.
        """
        plants = {(int(o.pos[0]), int(o.pos[1])): o for o in world.objects if type(o).__name__ == "Plant"}
        ripe = [o for o in plants.values() if o.ripe]
        if ripe:
            self._keep = frozenset()
            return self._hit(world, player, "Plant", only=ripe)
        if self._garden is not None and self._garden[0] not in plants and world[self._garden[0]][0] != "grass":
            self._garden, self._keep = None, frozenset()  # the site was lost before planting
        if self._garden is None:
            # The sword halves the hits a zombie takes: the wait spans a night and zombies linger at dawn.
            wanted = {"wood_pickaxe": 1, "stone_sword": 1, "sapling": 1, "stone": GARDEN_STONES}
            missing = self._need(world, player, wanted)
            if missing is not None:
                return missing
            self._garden = self._find_garden(world, player)
            if self._garden is None:
                return self._idle(world, player)
            self._keep = frozenset(_sides(self._garden[0]))
        spot, gate = self._garden
        planted = spot in plants
        if not planted and player.inventory["sapling"] < 1:
            self._garden, self._keep = None, frozenset()  # trampled: start again
            return self._need(world, player, {"sapling": 1}) or "noop"
        walls = [t for t in _sides(spot) if t != gate and world[t][0] in WALKABLE]
        if planted and world[gate][0] in WALKABLE:
            walls.append(gate)
        if walls:
            return self._need(world, player, {"stone": 1}) or self._place_at(world, player, walls[0], "place_stone")
        if not planted:
            return self._place_at(world, player, spot, "place_plant", stand=gate)
        return self._stay_near(world, player, spot)

    def _find_garden(self, world: Any, player: Any) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The grass tile to plant on and the side to plant from: few open sides, close to the player."""
        px, py = int(player.pos[0]), int(player.pos[1])
        options = []
        for x in range(px - GARDEN_SEARCH, px + GARDEN_SEARCH + 1):
            for y in range(py - GARDEN_SEARCH, py + GARDEN_SEARCH + 1):
                spot = (x, y)
                if world[spot][0] != "grass" or world[spot][1] is not None:
                    continue
                sides = [world[t][0] for t in _sides(spot)]
                if None in sides or "lava" in sides:
                    continue
                open_sides = [t for t in _sides(spot) if world[t][0] in WALKABLE]
                for gate in open_sides:
                    behind = (2 * gate[0] - x, 2 * gate[1] - y)
                    if world[behind][0] in WALKABLE and world[behind][1] is None:
                        options.append((abs(x - px) + abs(y - py) + 8 * len(open_sides), spot, gate, behind))
        for _, spot, gate, behind in sorted(options)[:8]:
            if (px, py) == behind or self._search(world, player, lambda t, b=behind: t == b) is not None:
                return spot, gate
        return None

    def _place_at(self, world: Any, player: Any, target: tuple[int, int], action: str, stand: Any = None) -> str:
        """Face ``target`` from a neighbouring tile and ``action`` (place_stone, place_plant) on it.

        A player turns only by walking (pressing toward a free tile moves onto it), so facing a free tile
        means arriving at the tile before it from the tile behind: stand tile S, approach tile A = 2S - T.
        """
        pos = (int(player.pos[0]), int(player.pos[1]))
        facing = (int(player.facing[0]), int(player.facing[1]))
        stands = [stand] if stand is not None else [(target[0] - d[0], target[1] - d[1]) for d in DIRECTIONS]
        choices = []
        for s in stands:
            d = (target[0] - s[0], target[1] - s[1])
            if pos == s and facing == d:
                return action
            a = (s[0] - d[0], s[1] - d[1])
            free = all(world[t][0] in WALKABLE and (world[t][1] is None or t == pos) for t in (s, a))
            if free:
                choices.append((abs(a[0] - pos[0]) + abs(a[1] - pos[1]), a, d))
        if not choices:
            return self._idle(world, player)
        _, a, d = min(choices)
        if pos == a:
            return DIRECTIONS[d]
        return self._walk_to(world, player, a)

    def _stay_near(self, world: Any, player: Any, spot: tuple[int, int]) -> str:
        """While the walled plant ripens: top up, carry stones, otherwise wait near it.

        Drink and food are kept high and stones carried because a night in a shelter follows; the bot
        waits within ``GARDEN_STAY`` tiles of the plant so that it keeps growing.
        """
        inv = player.inventory
        if inv["drink"] < TOP_UP["drink"]:
            return self._collect(world, player, "water")
        if inv["food"] < TOP_UP["food"]:
            return self._hit(world, player, "Cow")
        if inv["stone"] < SHELTER_STONES:  # the night's shelter may have to be built on open ground
            return self._collect(world, player, "stone")
        pos = (int(player.pos[0]), int(player.pos[1]))
        if abs(pos[0] - spot[0]) + abs(pos[1] - spot[1]) <= GARDEN_STAY:
            return "noop"
        path = self._search(world, player, lambda t: abs(t[0] - spot[0]) + abs(t[1] - spot[1]) < GARDEN_STAY)
        return DIRECTIONS[path[0]] if path else self._idle(world, player)

    def _shelter(self, world: Any, player: Any) -> str:
        """Make a two-tile pocket with walls all round, seal its mouth with a stone and sleep inside.

        A player cannot turn without walking, so the pocket is two deep: from the mouth O, B and P lie
        in line (dug out of rock, or open ground), the player walks to P, steps back to B (now facing O)
        and places a stone on O. Every other neighbour of B and P must be a wall: rock where there is
        some, else a stone the bot places first (``_place_at``), so nothing can reach the sleeper.
        """
        if self._sealed:
            return "sleep"
        pos = (int(player.pos[0]), int(player.pos[1]))
        facing = (int(player.facing[0]), int(player.facing[1]))
        if self._plan is None or not self._plan_valid(world, pos):
            self._plan = self._find_site(world, player)
            self._visited_p = False
            if self._plan is None:
                return self._need(world, player, {"stone": SHELTER_STONES}) or self._idle(world, player)
        mouth, d = self._plan
        b, p = (mouth[0] + d[0], mouth[1] + d[1]), (mouth[0] + 2 * d[0], mouth[1] + 2 * d[1])
        back = (-d[0], -d[1])
        gaps = self._wall_gaps(world, mouth, d)
        if gaps:
            return self._need(world, player, {"stone": len(gaps) + 1}) or self._place_at(
                world, player, gaps[0], "place_stone"
            )
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
            self._sealed = True  # the plan stays until unsealed: its walls must not be dug through
            return "sleep"
        if pos == mouth:
            if world[b][0] == "stone":
                return "do" if facing == d else DIRECTIONS[d]
            return DIRECTIONS[d]
        return self._walk_to(world, player, mouth)

    def _unseal(self) -> None:
        """Leave the shelter: its walls may be dug again and the next night gets a new site."""
        if self._sealed:
            self._sealed, self._plan = False, None

    def _plan_valid(self, world: Any, pos: tuple[int, int]) -> bool:
        mouth, d = self._plan  # type: ignore[misc]
        inside = pos in ((mouth[0] + d[0], mouth[1] + d[1]), (mouth[0] + 2 * d[0], mouth[1] + 2 * d[1]))
        return inside or (world[mouth][0] in WALKABLE and self._wall_gaps(world, mouth, d) is not None)

    def _find_site(self, world: Any, player: Any) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The best reachable mouth tile and digging direction of a pocket site (within 24 tiles).

        Sites cost their distance plus four steps per wall stone still to place; sites needing more stones
        than the bot carries (one is kept for the mouth) are skipped. With a walled plant growing, sites
        near it come first: plants only grow while the player is near.
        """
        px, py = int(player.pos[0]), int(player.pos[1])
        ax, ay = self._garden[0] if self._garden is not None else (px, py)
        stones = player.inventory["stone"]
        sites = []
        for x in range(px - 24, px + 25):
            for y in range(py - 24, py + 25):
                if world[(x, y)][0] not in WALKABLE or world[(x, y)][1] is not None:
                    continue
                for d in DIRECTIONS:
                    gaps = self._wall_gaps(world, (x, y), d, fresh=True)
                    if gaps is None or len(gaps) + 1 > stones:
                        continue
                    cost = abs(x - px) + abs(y - py) + abs(x - ax) + abs(y - ay) + 4 * len(gaps)
                    sites.append((cost, (x, y), d))
        near = [site for site in sites if abs(site[1][0] - ax) + abs(site[1][1] - ay) <= GARDEN_SHELTER]
        sites = sorted(near or sites)
        for _, mouth, d in sites[:8]:
            if (px, py) == mouth or self._search(world, player, lambda t, m=mouth: t == m) is not None:
                return mouth, d
        return None

    def _wall_gaps(
        self, world: Any, mouth: tuple[int, int], d: tuple[int, int], fresh: bool = False
    ) -> list[tuple[int, int]] | None:
        """Walls of the pocket B = mouth + d, P = mouth + 2d that are open ground (a stone goes there).

        ``None`` if it cannot become a sealed pocket (``fresh``: B and P must still be rock or free
        ground, not the garden).
        """
        b, p = (mouth[0] + d[0], mouth[1] + d[1]), (mouth[0] + 2 * d[0], mouth[1] + 2 * d[1])
        if fresh and any(
            c in self._keep or not (world[c][0] == "stone" or (world[c][0] in WALKABLE and world[c][1] is None))
            for c in (b, p)
        ):
            return None
        walls = _pocket_walls(mouth, d)
        if any(world[c][0] in ("lava", None) for c in walls):
            return None
        return [c for c in walls if world[c][0] in WALKABLE]

    def _walls(self) -> frozenset[tuple[int, int]]:
        """Tiles the path search must not dig through: the garden's walls and the planned pocket's."""
        if self._plan is None:
            return self._keep
        return self._keep | frozenset(_pocket_walls(*self._plan))

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

    def _search(
        self, world: Any, player: Any, goal: Any, dig: bool = True, limit: int = SEARCH_RADIUS
    ) -> list[tuple[int, int]] | None:
        """Steps from the player to a tile next to a goal tile (``[]``: already next to one), or ``None``.

        Paths may go through rock when the player has a pickaxe and ``dig``; tiles farther than ``limit``
        (Manhattan) from the player are not searched.
        """
        start = (int(player.pos[0]), int(player.pos[1]))
        diggable = {"stone"} if player.inventory["wood_pickaxe"] and dig else set()
        keep = self._walls()
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
                if nxt in parents or abs(nxt[0] - start[0]) + abs(nxt[1] - start[1]) > limit:
                    continue
                material, obj = world[nxt]
                if material is None or obj is not None or (material not in WALKABLE and material not in diggable):
                    continue
                if material not in WALKABLE and nxt in keep:  # a garden wall
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


def _pocket_walls(mouth: tuple[int, int], d: tuple[int, int]) -> list[tuple[int, int]]:
    """The five tiles that close the pocket B = mouth + d, P = mouth + 2d.

    Both sides of B and P, then the tile past P; the mouth itself is sealed last, from inside.
    """
    b, p = (mouth[0] + d[0], mouth[1] + d[1]), (mouth[0] + 2 * d[0], mouth[1] + 2 * d[1])
    side = (d[1], d[0])
    return [
        (b[0] + side[0], b[1] + side[1]),
        (b[0] - side[0], b[1] - side[1]),
        (p[0] + side[0], p[1] + side[1]),
        (p[0] - side[0], p[1] - side[1]),
        (p[0] + d[0], p[1] + d[1]),
    ]


def _sides(tile: tuple[int, int]) -> list[tuple[int, int]]:
    """The four tiles next to ``tile`` (Crafter's neighbourhood: no diagonals)."""
    return [(tile[0] + d[0], tile[1] + d[1]) for d in DIRECTIONS]


def _at(obj: Any) -> Any:
    """A goal test for the path search: the tile ``obj`` stands on."""
    spot = (int(obj.pos[0]), int(obj.pos[1]))
    return lambda tile: tile == spot
