"""Frame rules for Procgen's arena games (Dodgeball), in the style of :mod:`frame_procgen`.

Each rule is a pure function of the current 128 px frame, as :mod:`frame_procgen`'s are (no save state, no
engine state, no random draws, no memory between steps). ``frame_procgen`` merges :data:`PARSERS` and
:data:`EASY_ONLY` into its own (its ``RULE_MODULES``); ``experiments/results/bc_gate/procgen-frame/frame_rules.py
--rules arena`` measures them.

* ``Dodgeball`` (``easy`` and ``hard``) — the whole 20x20 world is drawn (``easy`` and ``hard`` at different sprite
  sizes, told apart by which player template fits). Walls (lava: touching one ends the episode), the door, the player,
  its facing, the enemies and the balls in flight are read from the picture. A ball is thrown in the direction the
  player last moved, which the player's sprite shows (it is drawn rotated that way: eight templates rendered from
  Procgen's own sprite tell which). The rule throws only diagonally, since enemies throw back only along the axes:
  with an enemy on a clear diagonal it presses that diagonal (which turns the player and keeps it on the diagonal)
  until the sprite faces it, then fires. Otherwise it walks, by a breadth-first search on a 4 px grid through cells
  where the player clears every wall and enemy, to the nearest cell with an enemy on a clear diagonal (once every
  enemy is hit, to the open door). A ball close along either axis of the player is dodged sideways first.
"""

from __future__ import annotations

import functools
import heapq
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nitrogen_datasets.experts.frame_procgen import (
    DIAGONALS,
    DOWN,
    FIRE,
    LEFT,
    NOOP,
    PARSE_SIZE,
    RIGHT,
    UP,
    as_parse_frame,
    blobs,
    near,
)

# -- Dodgeball -----------------------------------------------------------------------------------------

DODGE_UNIT = PARSE_SIZE / 20
"""Pixels per world unit: the 20x20 world fills the frame in ``easy`` and ``hard``."""


@dataclass(frozen=True)
class DodgeScale:
    """Sizes (pixels at 128 px) of one Dodgeball task's sprites, from the game's source (radii in world units).

    Args:
        player: the player's radius (``easy`` 1, ``hard`` 0.75 units).
        enemy: an enemy's radius (``easy`` 1, ``hard`` 0.75).
        ball: a ball's radius (``easy`` 0.5, ``hard`` 0.375).
        speed: the player's top speed per step (``easy`` 0.75, ``hard`` 0.5); a ball moves by 0.5 (``hard`` 0.375)
            per step along each axis it is thrown on.
        template: side of the player template (pixels).
    """

    player: float
    enemy: float
    ball: float
    speed: float
    template: int


DODGE_EASY = DodgeScale(1.0 * DODGE_UNIT, 1.0 * DODGE_UNIT, 0.5 * DODGE_UNIT, 0.75 * DODGE_UNIT, 13)
DODGE_HARD = DodgeScale(0.75 * DODGE_UNIT, 0.75 * DODGE_UNIT, 0.375 * DODGE_UNIT, 0.5 * DODGE_UNIT, 10)
DODGE_WALL = (171, 191, 197)
"""The walls' pale blue-grey (the same stone tile as Chaser's walls); tolerance 24."""
DODGE_DOOR_CLOSED = (220, 76, 84)
DODGE_DOOR_OPEN = (90, 180, 110)
"""The door's red while an enemy is left (measured), and its green once none is; tolerance 40."""
DODGE_WALL_SHARE, DODGE_DOOR_SHARE = 0.25, 0.6
"""Share of a search-grid cell's pixels in the wall (door) colour that make them wall (door): a sprite's few pale or
red pixels are not."""
DODGE_PURPLE = (135, 118, 212)
"""The player's purple body (measured); tolerance 40. It finds the player; the template match finds its facing."""
DODGE_FOREGROUND = 60
"""A pixel farther than this (in any channel) from the frame's median colour (the background) is a sprite."""
DODGE_SPRITE = "misc_assets/character12.png"
"""The player's sprite in Procgen's assets, drawn facing right when the player last moved right."""
DODGE_TEMPLATE_FACING = (RIGHT, 8, UP, 2, LEFT, 0, DOWN, 6)
"""Native action of the direction the player faces when drawn as the sprite turned k * 45 degrees anticlockwise
(measured: the template match named the last move on 600 frames per task without a miss)."""
DODGE_SEARCH = 3
"""Pixels around the purple pixels' median searched for the template's centre."""
DODGE_CELL = 4
"""Side (pixels) of the grid the walk is searched on."""
DODGE_MARGIN = 4.0
"""Pixels kept between the player and a wall, beyond its radius (it glides: the game halves its speed each step)."""
DODGE_TIGHT, DODGE_TIGHT_COST = 1.5, 3.0
"""A narrower margin (pixels) that still lets the walk through a gap, at this extra cost per step."""
DODGE_ENEMY_MARGIN = 6.0
"""Pixels kept between the player and an enemy, beyond their radii."""
DODGE_AIM = 0.7
"""A diagonal throw counts when the enemy's centre is within this share of (ball + enemy radius) of the line."""
DODGE_MIN_RANGE = 3.5
"""A throw is at an enemy at least this many player radii away: the player turns by stepping toward it."""
DODGE_THREAT_RANGE = 40
"""Pixels along an axis within which a ball on that axis is dodged (about 12 steps of an ``easy`` ball)."""
DODGE_LINE = 1.25 * DODGE_UNIT
"""Pixels from an enemy's row or column within which it may throw at the player (1 unit in the game, and a margin)."""
DODGE_LINE_COST = 4.0
"""Cost of a step on an enemy's firing line, against 1 elsewhere: the walk crosses lines rather than follows them."""
DIAGONAL_STEPS: dict[int, tuple[int, int]] = {action: (sr, sc) for (sr, sc), action in DIAGONALS.items()}
"""(row sign, column sign) of each diagonal native action."""
STEPS: dict[int, tuple[int, int]] = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1), **DIAGONAL_STEPS}
"""(row sign, column sign) of the eight moves."""


@functools.lru_cache(maxsize=4)
def player_templates(size: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The player's sprite turned by k * 45 degrees (k = 0..7), each as (RGB float array, opaque mask) ``size`` px.

    Rendered from Procgen's own asset (the ``procgen`` package that runs the game ships it).
    """
    import cv2

    spec = importlib.util.find_spec("procgen")
    if spec is None or spec.origin is None:
        raise RuntimeError("the Dodgeball frame rule reads the player's sprite from the procgen package")
    path = Path(spec.origin).parent / "data" / "assets" / DODGE_SPRITE
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise RuntimeError(f"cannot read the player's sprite {path}")
    image = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA), (64, 64), interpolation=cv2.INTER_CUBIC)
    out = []
    for k in range(8):
        turn = cv2.getRotationMatrix2D((31.5, 31.5), 45.0 * k, 1.0)
        turned = cv2.warpAffine(image, turn, (64, 64), flags=cv2.INTER_CUBIC)
        small = cv2.resize(turned, (size, size), interpolation=cv2.INTER_AREA).astype(np.float64)
        out.append((small[..., :3], small[..., 3] > 128))
    return tuple(out)


def match_player(f: np.ndarray, centre: tuple[int, int], scale: DodgeScale) -> tuple[float, int, tuple[float, float]]:
    """The best fit of the player's eight templates near ``centre``: (mean squared error, facing action, centre)."""
    size, half = scale.template, scale.template // 2
    pad = half + DODGE_SEARCH + 1
    padded = np.pad(f.astype(np.float64), ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    r0, c0 = centre[0] + pad - DODGE_SEARCH - half, centre[1] + pad - DODGE_SEARCH - half
    span = 2 * DODGE_SEARCH + size
    windows = np.lib.stride_tricks.sliding_window_view(padded[r0 : r0 + span, c0 : c0 + span], (size, size), (0, 1))
    best: tuple[float, int, tuple[float, float]] = (np.inf, NOOP, (float(centre[0]), float(centre[1])))
    for k, (rgb, opaque) in enumerate(player_templates(size)):
        # windows: (offset row, offset column, channel, row, column)
        errors = ((windows - rgb.transpose(2, 0, 1)) ** 2).sum(axis=2)[:, :, opaque].mean(axis=2)
        dr, dc = np.unravel_index(int(errors.argmin()), errors.shape)
        if errors[dr, dc] < best[0]:
            at = (
                centre[0] + dr - DODGE_SEARCH - half + (size - 1) / 2,
                centre[1] + dc - DODGE_SEARCH - half + (size - 1) / 2,
            )
            best = (float(errors[dr, dc]), DODGE_TEMPLATE_FACING[k], at)
    return best


def grow(mask: np.ndarray, radius: float) -> np.ndarray:
    """``mask`` dilated by a disc of ``radius`` (in the mask's own units)."""
    out = mask.copy()
    reach = int(np.ceil(radius))
    n, m = mask.shape
    for dr in range(-reach, reach + 1):
        for dc in range(-reach, reach + 1):
            if (dr or dc) and dr * dr + dc * dc <= radius * radius:
                out[max(dr, 0) : n + min(dr, 0), max(dc, 0) : m + min(dc, 0)] |= mask[
                    max(-dr, 0) : n + min(-dr, 0), max(-dc, 0) : m + min(-dc, 0)
                ]
    return out


def dense(mask: np.ndarray, share: float) -> np.ndarray:
    """``mask``'s pixels in the search-grid cells it fills to at least ``share``."""
    n = PARSE_SIZE // DODGE_CELL
    full = mask.reshape(n, DODGE_CELL, n, DODGE_CELL).sum(axis=(1, 3)) >= DODGE_CELL * DODGE_CELL * share
    return mask & np.kron(full, np.ones((DODGE_CELL, DODGE_CELL), dtype=bool))


@dataclass(frozen=True)
class DodgeView:
    """What a Dodgeball frame shows (pixel coordinates at 128 px, row first).

    Args:
        player: the player's centre, or None when it is not found.
        facing: native action of the direction the player faces (a ball is thrown that way).
        scale: the task's sprite sizes.
        enemies: each enemy's centre.
        balls: each ball's centre (the player's and the enemies' alike).
        walls: pixels of walls and of the closed door.
        door: pixels of the open door (none while an enemy is left).
    """

    player: tuple[float, float] | None
    facing: int
    scale: DodgeScale
    enemies: tuple[tuple[float, float], ...]
    balls: tuple[tuple[float, float], ...]
    walls: np.ndarray
    door: np.ndarray

    def action(self) -> int:
        """Dodge a ball on an axis, else throw at an enemy on a clear diagonal, else walk toward such a cell."""
        return dodge_rule(self)


def parse_dodgeball(frame: np.ndarray) -> DodgeView:
    """The player (and its facing), enemies, balls, walls and the open door of a Dodgeball frame."""
    f = as_parse_frame(frame)
    walls = dense(near(f, DODGE_WALL, 24), DODGE_WALL_SHARE) | dense(near(f, DODGE_DOOR_CLOSED, 40), DODGE_DOOR_SHARE)
    door = dense(near(f, DODGE_DOOR_OPEN, 40), DODGE_DOOR_SHARE)
    purple = near(f, DODGE_PURPLE, 40)
    if not purple.any():
        return DodgeView(None, NOOP, DODGE_EASY, (), (), walls, door)
    rows, cols = np.nonzero(purple)
    centre = (round(float(np.median(rows))), round(float(np.median(cols))))
    fits = [(match_player(f, centre, scale), scale) for scale in (DODGE_EASY, DODGE_HARD)]
    (_, facing, player), scale = min(fits, key=lambda fit: fit[0][0])
    background = np.median(f.reshape(-1, 3), axis=0)
    sprite = (np.abs(f - background).max(axis=2) > DODGE_FOREGROUND) & ~grow(walls | door, 3)
    yy, xx = np.mgrid[:PARSE_SIZE, :PARSE_SIZE]
    sprite &= (yy - player[0]) ** 2 + (xx - player[1]) ** 2 > (scale.player + 1.5) ** 2
    enemies, balls = [], []
    for r, c in blobs(sprite):
        extent = max(int(r.max() - r.min()), int(c.max() - c.min())) + 1
        centre_rc = (float(r.mean()), float(c.mean()))
        if extent > 2 * scale.ball + 2.5:
            enemies.append(centre_rc)
        elif len(r) >= 4 and float(f[r, c].min(axis=1).mean()) > 140:
            balls.append(centre_rc)
    return DodgeView(player, facing, scale, tuple(enemies), tuple(balls), walls, door)


def clear_line(walls: np.ndarray, start: tuple[float, float], end: tuple[float, float]) -> bool:
    """No pixel of ``walls`` on the straight segment from ``start`` to ``end`` (sampled every pixel)."""
    n = int(max(abs(end[0] - start[0]), abs(end[1] - start[1]))) + 1
    rows = np.clip(np.round(np.linspace(start[0], end[0], n)).astype(int), 0, PARSE_SIZE - 1)
    cols = np.clip(np.round(np.linspace(start[1], end[1], n)).astype(int), 0, PARSE_SIZE - 1)
    return not bool(walls[rows, cols].any())


def diagonal_shot(view: DodgeView, at: tuple[float, float], ball_walls: np.ndarray) -> int | None:
    """The diagonal action whose throw from ``at`` meets an enemy through no wall (nearest enemy first), or None."""
    scale = view.scale
    for enemy in sorted(view.enemies, key=lambda e: (e[0] - at[0]) ** 2 + (e[1] - at[1]) ** 2):
        dr, dc = enemy[0] - at[0], enemy[1] - at[1]
        if np.hypot(dr, dc) < DODGE_MIN_RANGE * scale.player:
            continue
        for action, (sr, sc) in DIAGONAL_STEPS.items():
            along = (dr * sr + dc * sc) / np.sqrt(2)
            off = abs(dr * sc - dc * sr) / np.sqrt(2)
            if along > 0 and off <= DODGE_AIM * (scale.ball + scale.enemy) and clear_line(ball_walls, at, enemy):
                return action
    return None


def threat_step(view: DodgeView, free: np.ndarray) -> int | None:
    """A step out of the way of the nearest ball coming along one of the player's axes, or None.

    Sideways away from the ball's line first, then the other side, then straight away from the ball (the player
    outruns a ball: 0.75 against 0.5 units per step in ``easy``).
    """
    assert view.player is not None
    pr, pc = view.player
    scale = view.scale
    reach = scale.player + scale.ball + 2
    worst: tuple[float, int, float, float] | None = None  # (distance, axis: 0 on the column / 1 on the row, off, along)
    for br, bc in view.balls:
        dr, dc = br - pr, bc - pc
        for axis, along, off in ((0, dr, dc), (1, dc, dr)):
            coming = (
                abs(off) < reach and reach < abs(along) < DODGE_THREAT_RANGE and abs(along) > abs(off) + scale.player
            )
            if coming and (worst is None or abs(along) < worst[0]) and clear_line(view.walls, (pr, pc), (br, bc)):
                worst = (abs(along), axis, off, along)
    if worst is None:
        return None
    _, axis, off, along = worst
    sideways = (LEFT, RIGHT) if axis == 0 else (UP, DOWN)
    backward = (UP, DOWN) if axis == 0 else (LEFT, RIGHT)
    first = sideways[0] if off > 0 else sideways[1]
    second = sideways[1] if first == sideways[0] else sideways[0]
    back = backward[0] if along > 0 else backward[1]
    for action in (first, second, back):
        if step_free(view, free, action):
            return action
    return None


def cell_of(point: tuple[float, float]) -> tuple[int, int]:
    """The search-grid cell holding a pixel position."""
    n = PARSE_SIZE // DODGE_CELL
    return (min(max(int(point[0] // DODGE_CELL), 0), n - 1), min(max(int(point[1] // DODGE_CELL), 0), n - 1))


def step_free(view: DodgeView, free: np.ndarray, action: int) -> bool:
    """The player's position one full-speed step of ``action`` ahead lies in a free cell."""
    assert view.player is not None
    sr, sc = STEPS[action]
    ahead = (
        view.player[0] + sr * max(view.scale.speed, DODGE_CELL),
        view.player[1] + sc * max(view.scale.speed, DODGE_CELL),
    )
    inside = 0 <= ahead[0] < PARSE_SIZE and 0 <= ahead[1] < PARSE_SIZE
    return inside and bool(free[cell_of(ahead)])


def wall_clearance(walls: np.ndarray) -> np.ndarray:
    """Each grid cell's centre's distance (pixels) to the nearest wall pixel, or the frame's size with no wall.

    Read on a 2 px grid, so up to 1.5 px short.
    """
    n = PARSE_SIZE // DODGE_CELL
    coarse = walls.reshape(PARSE_SIZE // 2, 2, PARSE_SIZE // 2, 2).any(axis=(1, 3))
    points = (np.argwhere(coarse) * 2 + 0.5).astype(np.float64)
    if len(points) == 0:
        return np.full((n, n), float(PARSE_SIZE))
    centres = (np.arange(n) + 0.5) * DODGE_CELL
    rows = np.abs(centres[:, None] - points[None, :, 0])  # (n, walls)
    cols = np.abs(centres[:, None] - points[None, :, 1])
    return np.sqrt((rows[:, None, :] ** 2 + cols[None, :, :] ** 2).min(axis=2)) - 1.0


def free_cells(view: DodgeView, margin: float, clearance: np.ndarray) -> np.ndarray:
    """Grid cells whose centre keeps the player ``margin`` pixels from every wall, the frame's edge and every enemy.

    ``clearance`` is :func:`wall_clearance`'s.
    """
    n = PARSE_SIZE // DODGE_CELL
    scale = view.scale
    centres = (np.arange(n) + 0.5) * DODGE_CELL
    rows, cols = np.meshgrid(centres, centres, indexing="ij")
    free = clearance > scale.player + margin
    edge = scale.player + 1
    free &= (rows > edge) & (rows < PARSE_SIZE - edge) & (cols > edge) & (cols < PARSE_SIZE - edge)
    for er, ec in view.enemies:
        free &= np.hypot(rows - er, cols - ec) > scale.player + scale.enemy + DODGE_ENEMY_MARGIN
    return free


def walk(view: DodgeView, free: np.ndarray, goals: np.ndarray, cost: np.ndarray | None = None) -> int:
    """The move toward the cheapest goal cell (through free cells, each left at ``cost``).

    NOOP when none is reachable or the player's own cell is cheapest.
    """
    n = free.shape[0]
    cost = np.ones((n, n)) if cost is None else cost
    distance = np.full((n, n), np.inf)
    heap: list[tuple[float, int, int]] = []
    for r, c in zip(*np.nonzero(goals & free), strict=True):
        distance[r, c] = 0.0
        heap.append((0.0, int(r), int(c)))
    heapq.heapify(heap)
    while heap:
        d, r, c = heapq.heappop(heap)
        if d > distance[r, c]:
            continue
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                nr, nc = r + dr, c + dc
                if 0 <= nr < n and 0 <= nc < n and free[nr, nc]:
                    step = d + cost[r, c] * (1.4 if dr and dc else 1.0)
                    if step < distance[nr, nc]:
                        distance[nr, nc] = step
                        heapq.heappush(heap, (step, nr, nc))
    assert view.player is not None
    here = cell_of(view.player)
    best, best_distance = NOOP, distance[here]
    for action, (sr, sc) in STEPS.items():
        cell = (here[0] + sr, here[1] + sc)
        if 0 <= cell[0] < n and 0 <= cell[1] < n and distance[cell] < best_distance:
            best, best_distance = action, distance[cell]
    return best


def firing_lines(view: DodgeView) -> np.ndarray:
    """Grid cells on an enemy's row or column band, where it throws at the player (the game: centres within 1 unit)."""
    n = PARSE_SIZE // DODGE_CELL
    centres = (np.arange(n) + 0.5) * DODGE_CELL
    rows, cols = np.meshgrid(centres, centres, indexing="ij")
    out = np.zeros((n, n), dtype=bool)
    for er, ec in view.enemies:
        out |= (np.abs(rows - er) < DODGE_LINE) | (np.abs(cols - ec) < DODGE_LINE)
    return out


def escape(view: DodgeView, clearance: np.ndarray) -> int:
    """From a cell too near a wall or an enemy: the move (or none) whose position a step ahead is roomiest.

    Roomiest: the smallest gap to a wall, an enemy or the frame's edge is largest.
    """
    assert view.player is not None
    scale = view.scale

    def room(action: int) -> float:
        sr, sc = STEPS.get(action, (0, 0))
        at = (view.player[0] + sr * scale.speed, view.player[1] + sc * scale.speed)  # type: ignore[index]
        if not (0 <= at[0] < PARSE_SIZE and 0 <= at[1] < PARSE_SIZE):
            return -np.inf
        gaps = [float(clearance[cell_of(at)]) - scale.player]
        gaps += [float(np.hypot(at[0] - er, at[1] - ec)) - scale.player - scale.enemy for er, ec in view.enemies]
        gaps += [min(at[0], at[1], PARSE_SIZE - at[0], PARSE_SIZE - at[1]) - scale.player]
        return min(gaps)

    return max((NOOP, *STEPS), key=room)


def dodge_rule(view: DodgeView) -> int:
    """Dodgeball's decision for a parsed frame (see the module docstring)."""
    if view.player is None:
        return NOOP
    clearance = wall_clearance(view.walls)
    free, roomy = free_cells(view, DODGE_TIGHT, clearance), free_cells(view, DODGE_MARGIN, clearance)
    here = cell_of(view.player)
    if not free[here]:
        return escape(view, clearance)
    dodge = threat_step(view, free)
    if dodge is not None:
        return dodge
    ball_walls = grow(view.walls, view.scale.ball)
    shot = diagonal_shot(view, view.player, ball_walls)
    if shot is not None:
        return FIRE if view.facing == shot else shot
    n = free.shape[0]
    goals = np.zeros_like(free)
    if view.enemies:
        goals = throwing_cells(view, ball_walls)
    elif view.door.any():
        near_door = grow(view.door, view.scale.player + DODGE_MARGIN + DODGE_CELL)
        centres = ((np.arange(n) + 0.5) * DODGE_CELL).astype(int)
        goals = near_door[np.ix_(centres, centres)]
        if goals[here]:
            return walk(view, np.ones_like(free), cell_mask(view.door))
    lines = firing_lines(view)
    for better in (roomy & ~lines, roomy, free):
        if (goals & better).any():
            goals = goals & better
            break
    cost = np.where(lines, DODGE_LINE_COST, 1.0) + np.where(roomy, 0.0, DODGE_TIGHT_COST)
    return walk(view, free, goals, cost)


def throwing_cells(view: DodgeView, ball_walls: np.ndarray) -> np.ndarray:
    """Grid cells with an enemy on a clear diagonal: each enemy's four diagonal rays, walked out to the first wall.

    A cell counts when its centre lies within the aim's tolerance of a ray, past :data:`DODGE_MIN_RANGE`.
    """
    n = PARSE_SIZE // DODGE_CELL
    out = np.zeros((n, n), dtype=bool)
    scale = view.scale
    tolerance = DODGE_AIM * (scale.ball + scale.enemy)
    across = np.arange(-tolerance, tolerance + 0.5, 1.0) / np.sqrt(2)
    for er, ec in view.enemies:
        for sr, sc in DIAGONAL_STEPS.values():
            t = 0
            while True:
                r, c = er + sr * t, ec + sc * t
                if not (0 <= r < PARSE_SIZE and 0 <= c < PARSE_SIZE) or ball_walls[int(r), int(c)]:
                    break
                if t * np.sqrt(2) >= DODGE_MIN_RANGE * scale.player:
                    rows = np.clip(((r + sc * across) // DODGE_CELL).astype(int), 0, n - 1)
                    cols = np.clip(((c - sr * across) // DODGE_CELL).astype(int), 0, n - 1)
                    out[rows, cols] = True
                t += 1
    return out


def cell_mask(mask: np.ndarray) -> np.ndarray:
    """Grid cells holding any pixel of ``mask``."""
    n = PARSE_SIZE // DODGE_CELL
    return np.asarray(mask.reshape(n, DODGE_CELL, n, DODGE_CELL).any(axis=(1, 3)))


PARSERS: dict[str, Callable[[np.ndarray], DodgeView]] = {"Dodgeball": parse_dodgeball}
"""The arena games these rules play, each with its frame parser (whose view's ``action()`` is the rule)."""
EASY_ONLY: frozenset[str] = frozenset()
"""Games whose rule was measured above random on ``easy`` only."""
