"""Frame rule for Procgen's platformer Ninja, in the style of :mod:`frame_procgen`.

Why: Ninja had no frame rule; always running right and jumping is below random, because a Ninja jump is charged
by holding UP on the ground and only leaves the ground when UP is let go, and a bomb floats over most sections.
Like the other rules, this one is a pure function of the current 128 px frame (no save state, no engine state, no
random draws, no memory between steps). ``frame_procgen`` merges :data:`PARSERS`, :data:`HARD_PARSERS` and
:data:`EASY_ONLY` into its own (its ``RULE_MODULES``); ``experiments/results/bc_gate/procgen-frame/frame_rules.py
--rules ninja`` measures it.

* ``Ninja`` (``easy`` and ``hard``) — the camera keeps the player in the frame's centre, over a pictured background;
  the world is a grid of one-unit cells (12.8 px in ``easy``, which shows 10 units across; 8 px in ``hard``, 16).
  Read from the picture: the brick walls (one of two colour themes per level, cleaned of mortar lines by a 5x5
  majority), whose edges give the grid's phase and so the player's position within its cell; the bombs (and the
  row of the same picture at the bottom, which burns just as well); an exploding bomb's orange; and the jump
  charge, which Procgen draws as a green bar at the bottom left. On the ground the rule plays ninja.cpp's physics
  forward on that grid (gravity 0.2 a step, top speed 0.5, air control 0.15, a jump of 1.25 units a step in
  ``easy`` after one charging step, up to 1.5 in ``hard`` after four), assuming it runs at top speed, for each
  way of charging a jump now and letting go, then holding RIGHT in the air. It jumps when one lands on other
  ground, farthest right first; else throws a star at a bomb in a throw's straight path, when the bomb is far
  enough that its growing explosion cannot reach the player; else keeps running right while the next three steps
  keep it on its ground clear of hazards; else takes the jump that does not die (landing out of sight counts);
  else steps back from a bomb too close to throw at. In the air it holds RIGHT. Near an explosion it waits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nitrogen_datasets.experts.frame_procgen import LEFT, NOOP, PARSE_SIZE, RIGHT, RIGHT_UP, as_parse_frame, near
from nitrogen_datasets.experts.frame_procgen_shooters import box_mean

# -- reading the frame -----------------------------------------------------------------------------------

UNIT = {"easy": PARSE_SIZE / 10, "hard": PARSE_SIZE / 16}
"""Pixels per world unit at 128 px: the camera shows 10 units across in ``easy`` and 16 in ``hard`` (ninja.cpp's
``visibility``), centred on the player."""
CENTRE = PARSE_SIZE / 2
"""The frame's centre (pixels), where Procgen draws the player's centre."""
WALL_THEMES: tuple[tuple[tuple[int, int, int], ...], ...] = (((132, 158, 160), (123, 164, 156)), ((201, 129, 98),))
"""Mean colours of the wall tiles (Procgen's ``tile_bricksGrey``, ``tile_bricksGrown`` and ``tile_bricksRed``): the
grey and grown bricks are one theme, the red another. A level uses one; the theme matching more pixels is read."""
WALL_TOLERANCE = 34
WALL_SMOOTH = 2
"""Half the side of the box over which the wall mask is put to a majority vote (fills the bricks' mortar lines)."""
WALL_SHARE = 0.55
"""Share of a cell's pixels in the wall colour that make it a wall."""
BOMB, BOMB_TOLERANCE, BOMB_SHARE = (176, 195, 195), 16, 0.2
"""The bomb's pale grey (``bomb.png``; ninja.cpp draws its bottom row of fire with the same picture) and the share
of a cell that makes it a hazard."""
EXPLOSION, EXPLOSION_TOLERANCE, EXPLOSION_SHARE = (240, 110, 12), 16, 0.1
"""The orange of an exploding bomb (``explosion2-5.png``; their yellow and white are not read: some backgrounds are
gold) and the share of a cell that makes it exploding."""
CHARGE, CHARGE_TOLERANCE = (66, 245, 135), 40
"""The jump-charge bar's green (ninja.cpp: drawn at the bottom left, 3 units tall at full charge)."""
CHARGE_COLUMNS = 12
"""Columns (pixels from the left edge) searched for the charge bar."""
SNAP = 0.15
"""A player this close (cell units) to resting height over a wall is standing on it: set to exactly its height."""
PHASES = 0.2
"""Step (pixels) of the grid phases tried against the wall mask's edges."""
PHASE_BAND = 0.8
"""Wall-mask edges within this many pixels of a cell edge count for that phase."""

EMPTY, WALL, HAZARD, EXPLODING = 0, 1, 2, 3
"""What a grid cell holds."""


@dataclass(frozen=True)
class Physics:
    """ninja.cpp's jump for one task.

    Args:
        max_jump: upward speed (units a step) of a fully charged jump (``easy`` 1.25, ``hard`` 1.5).
        charge_step: charge gained per step holding UP on the ground (``easy`` 1: one step charges fully; ``hard``
            0.25); a jump is as fast as its charge times ``max_jump``.
    """

    max_jump: float
    charge_step: float


PHYSICS = {"easy": Physics(1.25, 1.0), "hard": Physics(1.5, 0.25)}
GRAVITY, FALL_SPEED, AIR_CONTROL, MIXRATE, MAXSPEED, RADIUS = 0.2, 2.0, 0.15, 0.5, 0.5, 0.5
"""ninja.cpp and basic-abstract-game.cpp: gravity (units per step per step) down to a fall speed of 2; the velocity
mixes toward the pressed direction at ``MIXRATE`` on the ground (times ``AIR_CONTROL`` in the air) up to
``MAXSPEED``; the player is a square of half-side ``RADIUS``."""


@dataclass(frozen=True)
class NinjaView:
    """A Ninja frame as a grid around the player, with the jump charge shown.

    Args:
        grid: ``[x, y]`` cells (x right, y up; cell (i, j) spans [i, i+1) x [j, j+1) in cell units) holding
            :data:`EMPTY`, :data:`WALL`, :data:`HAZARD` or :data:`EXPLODING`; cells out of the frame are empty.
        player: the player's centre (x, y) in the grid's cell units.
        charge: the jump charge the bar shows (0 to 1, in ``physics.charge_step`` steps).
        physics: the task's jump.
    """

    grid: np.ndarray
    player: tuple[float, float]
    charge: float
    physics: Physics

    def action(self) -> int:
        """The native action for this view (:func:`ninja_action`)."""
        return ninja_action(self)


def edge_phase(mask: np.ndarray, unit: float, axis: int) -> float:
    """Offset (pixels, in [0, unit)) of the cell edges along ``axis`` that best fits the mask's edges."""
    diff = np.abs(np.diff(mask.astype(np.int16), axis=axis)).sum(axis=1 - axis).astype(np.float64)
    positions = np.arange(1, mask.shape[axis], dtype=np.float64)  # the edge between pixel c-1 and c
    best, best_score = 0.0, -1.0
    for phase in np.arange(0.0, unit, PHASES):
        d = (positions - phase) % unit
        d = np.minimum(d, unit - d)
        score = float((diff * (d < PHASE_BAND)).sum())
        if score > best_score:
            best, best_score = float(phase), score
    return best


def wall_mask(f: np.ndarray) -> np.ndarray:
    """Pixels of the level's wall theme (the one matching more pixels), mortar lines filled by a majority vote."""
    themes = []
    for colours in WALL_THEMES:
        mask = np.zeros(f.shape[:2], dtype=bool)
        for colour in colours:
            mask |= near(f, colour, WALL_TOLERANCE)
        themes.append(mask)
    return np.asarray(box_mean(max(themes, key=lambda m: int(m.sum())), WALL_SMOOTH) > 0.5)


def parse_ninja(frame: np.ndarray, task: str = "easy") -> NinjaView:
    """The cells around the player, its position in them and the jump charge, in a Ninja frame of ``task``."""
    f = as_parse_frame(frame)
    unit = UNIT[task]
    walls = wall_mask(f)
    bombs = near(f, BOMB, BOMB_TOLERANCE)
    blasts = near(f, EXPLOSION, EXPLOSION_TOLERANCE)
    ox, oy = edge_phase(walls, unit, 1), edge_phase(walls, unit, 0)
    n_x = int(np.ceil((PARSE_SIZE - ox) / unit)) + 1
    n_y = int(np.ceil((PARSE_SIZE - oy) / unit)) + 1
    grid = np.zeros((n_x, n_y), dtype=np.int8)
    for i in range(n_x):
        c0, c1 = max(round(ox + (i - 1) * unit), 0), min(round(ox + i * unit), PARSE_SIZE)
        if c1 <= c0:
            continue
        for j in range(n_y):
            top = oy + (n_y - 2 - j) * unit  # row j counts up from the bottom of the frame
            r0, r1 = max(round(top), 0), min(round(top + unit), PARSE_SIZE)
            if r1 <= r0:
                continue
            if walls[r0:r1, c0:c1].mean() >= WALL_SHARE:
                grid[i, j] = WALL
            elif bombs[r0:r1, c0:c1].mean() >= BOMB_SHARE:
                grid[i, j] = HAZARD
            elif blasts[r0:r1, c0:c1].mean() >= EXPLOSION_SHARE:
                grid[i, j] = EXPLODING
    px = (CENTRE - ox) / unit + 1
    py = (oy + (n_y - 1) * unit - CENTRE) / unit
    if abs(py % 1 - 0.5) < SNAP and cell(grid, px, np.floor(py) - 0.5) == WALL:
        py = np.floor(py) + 0.5  # standing: the engine rests the body exactly on the cell's top
    physics = PHYSICS[task]
    bar = near(f[:, :CHARGE_COLUMNS], CHARGE, CHARGE_TOLERANCE).sum(axis=0).max()
    charge = round(float(bar) / (3 * unit) / physics.charge_step) * physics.charge_step
    return NinjaView(grid, (float(px), float(py)), min(charge, 1.0), physics)


# -- playing the physics forward ---------------------------------------------------------------------------

HORIZON = 40
"""Steps a plan is played forward at most."""
ASSUMED_VX = 0.5
"""The player's speed assumed on the ground (a frame does not show it; the rule runs at top speed)."""
RUN_LOOKAHEAD = 3
"""Steps of running right that must keep the player on its ground for it to run on (a jump needs a charging
step and a release step on the ground, and the parse is off by a fraction of a cell)."""


@dataclass
class Body:
    """The player's state while a plan is played forward (cell units, units per step)."""

    x: float
    y: float
    vx: float
    vy: float
    charge: float


def cell(grid: np.ndarray, x: float, y: float) -> int:
    """What the grid holds at (x, y); :data:`EMPTY` outside it."""
    i, j = int(np.floor(x)), int(np.floor(y))
    if 0 <= i < grid.shape[0] and 0 <= j < grid.shape[1]:
        return int(grid[i, j])
    return EMPTY


def supported(grid: np.ndarray, b: Body) -> bool:
    """A wall just under either bottom corner (ninja.cpp ``set_action_xy``)."""
    return (
        cell(grid, b.x - (RADIUS - 0.01), b.y - (RADIUS + 0.01)) == WALL
        or cell(grid, b.x + (RADIUS - 0.01), b.y - (RADIUS + 0.01)) == WALL
    )


def sub_step(grid: np.ndarray, b: Body, dx: float, dy: float) -> bool:
    """Move by (dx, dy), stopping flush against a wall (basic-abstract-game.cpp ``sub_step``); True when blocked."""
    nx, ny = b.x + dx, b.y + dy
    m = RADIUS * 0.98
    block = any(cell(grid, nx + sx * m, ny + sy * m) == WALL for sx in (-1, 1) for sy in (-1, 1))
    if block:
        if dx != 0:
            nx = np.floor(nx + RADIUS) - RADIUS if dx > 0 else np.ceil(nx - RADIUS) + RADIUS
        else:
            ny = np.floor(ny + RADIUS) - RADIUS if dy > 0 else np.ceil(ny - RADIUS) + RADIUS
    b.x, b.y = float(nx), float(ny)
    return block


def hazard(grid: np.ndarray, b: Body) -> bool:
    """The body overlaps a hazard or exploding cell."""
    r = RADIUS - 0.001
    for i in range(int(np.floor(b.x - r)), int(np.floor(b.x + r)) + 1):
        for j in range(int(np.floor(b.y - r)), int(np.floor(b.y + r)) + 1):
            if 0 <= i < grid.shape[0] and 0 <= j < grid.shape[1] and grid[i, j] in (HAZARD, EXPLODING):
                return True
    return False


def step(grid: np.ndarray, b: Body, action: int, physics: Physics) -> None:
    """Advance ``b`` by one step of the native move ``action`` (0-8) as ninja.cpp does."""
    avx, avy = action // 3 - 1, max(action % 3 - 1, 0)
    support = supported(grid, b)
    if support and avy == 1:
        b.charge = min(b.charge + physics.charge_step, 1.0)
    else:
        avy = 0
    if not support:
        b.charge = 0.0
    mix = MIXRATE if support else MIXRATE * AIR_CONTROL
    b.vx = (1 - mix) * b.vx + mix * MAXSPEED * avx
    if avy < 1 and b.charge > 0:  # letting go of UP releases the charge
        b.vy = b.charge * physics.max_jump
        b.charge = 0.0
    if not support and b.vy > -FALL_SPEED:
        b.vy -= GRAVITY
    n = max(4, int(4 * np.hypot(b.vx, b.vy)))
    x_first = avx != 0 if avy == 0 else False
    if avx == 0 and avy == 0:
        x_first = abs(b.vx) > abs(b.vy)
    moved_x = moved_y = 0
    for _ in range(n):
        if x_first:
            bx = sub_step(grid, b, b.vx / n, 0.0)
            by = sub_step(grid, b, 0.0, b.vy / n)
        else:
            by = sub_step(grid, b, 0.0, b.vy / n)
            bx = sub_step(grid, b, b.vx / n, 0.0)
        moved_x += not bx
        moved_y += not by
        if bx and by:
            break
    b.vx *= moved_x / n
    b.vy *= moved_y / n


@dataclass(frozen=True)
class Outcome:
    """How a plan ends, and where (x, y) the body was then.

    Args:
        dead: it met a hazard or fell below the frame.
        landed: it came down on ground after being in the air (neither: still going at the horizon or the frame's edge).
        x: the body's x then (cell units).
        y: its y then.
    """

    dead: bool
    landed: bool
    x: float
    y: float


def simulate(view: NinjaView, prefix: tuple[int, ...], vx: float) -> Outcome:
    """Play ``prefix`` then hold RIGHT until the body lands after leaving the ground, dies or the horizon ends."""
    grid = view.grid
    b = Body(view.player[0], view.player[1], vx, 0.0, view.charge)
    airborne = False
    for k in range(HORIZON):
        step(grid, b, prefix[k] if k < len(prefix) else RIGHT, view.physics)
        if hazard(grid, b) or b.y < RADIUS:
            return Outcome(True, False, b.x, b.y)
        if not supported(grid, b):
            airborne = True
        elif airborne and k >= len(prefix) - 1:
            return Outcome(False, True, b.x, b.y)
        if b.x > grid.shape[0]:
            break
    return Outcome(False, False, b.x, b.y)


def platform_end(grid: np.ndarray, x: float, y: float) -> float:
    """The right end (x) of the ground the player stands on, walking right over wall cells under clear ones."""
    i, j = int(np.floor(x)), int(np.floor(y - 1))
    while 0 <= i + 1 < grid.shape[0] and cell(grid, i + 1.5, j + 0.5) == WALL and cell(grid, i + 1.5, j + 1.5) != WALL:
        i += 1
    return float(i + 1)


# -- bombs ---------------------------------------------------------------------------------------------

STARS = ((9, 0.0), (10, 45.0), (11, 90.0), (12, -45.0))
"""Native throw actions (Procgen's D, A, W, S keys: ninja.cpp's special actions 1-4) and their angle (degrees up from
the facing direction, which the rule keeps right)."""
STAR_RADIUS, STAR_STEPS = 0.25, 15
"""A star's half-side (units) and lifetime (steps, at one unit a step; ninja.cpp)."""
BLAST = 3.4
"""A bomb hit by a star explodes into a box growing to 2.7 units either side of it (entity.cpp: radius 0.5, times
1.4 a step for 5 steps): only bombs at least this far (either axis, cell units) from the player are shot at; a
nearer one makes the player step back first."""
EXPLOSION_WAIT = 4.0
"""The player waits while an explosion is within this many units (either axis)."""


def bomb_cell(grid: np.ndarray, i: int, j: int) -> bool:
    """A hazard cell with no hazard beside it: a bomb (the fire at the bottom is a whole row of the same picture)."""
    if not (0 <= i < grid.shape[0] and 0 <= j < grid.shape[1]) or grid[i, j] != HAZARD:
        return False
    return not (cell(grid, i - 0.5, j + 0.5) == HAZARD or cell(grid, i + 1.5, j + 0.5) == HAZARD)


def star_shot(view: NinjaView) -> int | None:
    """The throw whose star, flying straight until a wall stops it, meets a bomb far enough away (:data:`BLAST`).

    LEFT (step back) when a throw would meet a bomb but too near; None when no throw meets one.
    """
    grid = view.grid
    too_close = False
    for action, degrees in STARS:
        dx, dy = np.cos(np.radians(degrees)) / 4, np.sin(np.radians(degrees)) / 4
        x, y = view.player
        for _ in range(4 * STAR_STEPS):
            x, y = x + dx, y + dy
            corners = [(x + sx * STAR_RADIUS, y + sy * STAR_RADIUS) for sx in (-1, 1) for sy in (-1, 1)]
            if any(cell(grid, cx, cy) == WALL for cx, cy in corners):
                break
            hit = [(cx, cy) for cx, cy in corners if bomb_cell(grid, int(np.floor(cx)), int(np.floor(cy)))]
            if hit:
                bx, by = np.floor(hit[0][0]) + 0.5, np.floor(hit[0][1]) + 0.5
                if max(abs(bx - view.player[0]), abs(by - view.player[1])) >= BLAST:
                    return action
                too_close = True
                break
            if not (0 <= x < grid.shape[0] and 0 <= y < grid.shape[1]):
                break
    return LEFT if too_close else None


def exploding_near(view: NinjaView) -> bool:
    """An explosion within :data:`EXPLOSION_WAIT` units of the player."""
    cells = np.argwhere(view.grid == EXPLODING)
    if len(cells) == 0:
        return False
    gap = np.abs(cells + 0.5 - np.array(view.player)).max(axis=1)
    return bool(gap.min() <= EXPLOSION_WAIT)


# -- the rule ------------------------------------------------------------------------------------------


def best_jump(view: NinjaView) -> tuple[float, int] | None:
    """(score, first action) of the best way to charge now and let go, or None when every one dies.

    Each plan charges (RIGHT_UP) for as many steps as still add charge, or fewer, then lets go (RIGHT), then holds
    RIGHT. Landing on other ground (higher, lower, or past the end of the current ground) scores 2 plus the landing
    x; landing out of sight 1; back on the same ground 0.
    """
    steps = round((1.0 - view.charge) / view.physics.charge_step)
    x0, y0 = view.player
    best: tuple[float, int] | None = None
    for m in range(0 if view.charge > 0 else 1, steps + 1):
        plan = (RIGHT_UP,) * m + (RIGHT,)
        out = simulate(view, plan, ASSUMED_VX)
        if out.dead:
            continue
        if out.landed and (abs(out.y - y0) > 0.5 or out.x > platform_end(view.grid, x0, y0)):
            score = 2.0 + out.x
        elif not out.landed:
            score = 1.0
        else:
            score = 0.0
        if best is None or score > best[0]:
            best = (score, plan[0])
    return best


def can_run(view: NinjaView) -> bool:
    """Running right for :data:`RUN_LOOKAHEAD` steps keeps the player on ground, moving, and off hazards."""
    x0, y0 = view.player
    run = Body(x0, y0, ASSUMED_VX, 0.0, 0.0)
    burnt = False
    for _ in range(RUN_LOOKAHEAD):
        step(view.grid, run, RIGHT, view.physics)
        burnt = burnt or hazard(view.grid, run)
    return supported(view.grid, run) and run.x > x0 + 0.05 * RUN_LOOKAHEAD and not burnt


def ninja_action(view: NinjaView) -> int:
    """The native action for a parsed frame (the order of the checks is the module docstring's)."""
    if not supported(view.grid, Body(view.player[0], view.player[1], 0.0, 0.0, view.charge)):
        return RIGHT
    best = best_jump(view)
    if view.charge == 0 and exploding_near(view):
        return NOOP  # a star hit a bomb: its explosion lasts a few steps
    if best is not None and best[0] >= 2.0:
        return best[1]
    shot = star_shot(view) if view.charge == 0 else None
    if shot is not None and shot != LEFT:
        return shot
    if view.charge == 0 and can_run(view):
        return RIGHT
    if best is not None:
        return best[1]
    if shot is not None:
        return shot
    if (view.grid == EXPLODING).any():
        return NOOP
    return RIGHT_UP if view.charge < 1 else RIGHT


PARSERS: dict[str, Callable[[np.ndarray], NinjaView]] = {"Ninja": parse_ninja}
"""The platformers this module's rules play, each with its frame parser (whose view's ``action()`` is the rule)."""
HARD_PARSERS: dict[str, Callable[[np.ndarray], NinjaView]] = {"Ninja": functools.partial(parse_ninja, task="hard")}
"""``hard`` shows 16 units across instead of 10 and charges jumps in four steps: the task says which."""
EASY_ONLY: frozenset[str] = frozenset()
"""Games whose rule was measured above random on ``easy`` only."""
