"""A Procgen demonstrator that sees only the current frame: its action is a function of the picture.

Why: the planner decides from the emulator's state (enemies' next random moves included) and a plan it
continues, so a classifier cannot read its labels from pictures of unseen levels (docs/results.md sections
5 and 7). This expert parses the observation it is handed (no save state, no engine state, no random
draws, no memory between steps) and answers with a deterministic rule, so the same frame always gets
the same action.

Games (both tasks but CoinRun's ``hard``, which :class:`FrameExpert` refuses, see :data:`EASY_ONLY`):

* ``Chaser`` — an 11x11 maze (``hard``: 13x13, also drawn whole, with smaller enemies whose red eye may be one
  pixel). The frame is parsed into walls, orbs, stars, enemies and the player by colour; a breadth-first
  search from the player's cell finds the nearest orb or star through cells that are not next to an enemy,
  and the first step of that path is the action. With no safe path it steps to the free neighbour farthest
  from the enemies.
* ``Miner`` — a 10x10 grid (``hard``: 20x20, drawn whole) of dirt, boulders, diamonds and an exit. The search
  goes to the nearest diamond (to the exit once none is left) through cells that are not under a boulder,
  since a boulder falls into a cell emptied below it.
* ``Heist`` (``easy`` 9x9 and ``hard`` 13x13 worlds, told apart by which grid the walls fit) — the search
  goes to the nearest key, lock whose key is gone (held) or gem, with a lock closed while its key is still
  drawn in the maze; the player glides (hard: over half a cell per step), so it heads for the cell after
  the one it is on, diagonally while off that cell's centre.
* ``FruitBot`` (``easy`` and ``hard``) — no grid: the robot drives along the bottom while walls scroll down;
  it steers into the gap of the next wall nearest to it and otherwise waits. Fruit is not read (a rule that
  only passes walls reaches the level's end, worth 10).
* ``Leaper`` (``easy`` and ``hard``) — no grid: lanes are read around the frog (a lane is 1.4 frog heights).
  It hops up when the lane above is clear: a road with no car within 1.3 lanes of its column (either side:
  a car's direction is not read), a river with a log under it, or safe ground; on a road with a car close,
  it hops up or back down to the lane with room, else waits.
* ``CoinRun`` (``easy``) — no grid: the camera keeps the player in the middle of the frame, over a dark background
  in ``easy``. Standing, it runs right, and jumps right when something solid is just ahead at its height or the
  ground ahead is missing; in the air it keeps pressing jump and right. ``hard`` draws pictured backgrounds that
  the brightness test cannot tell from ground, so that task is refused.
* ``Plunder`` (``easy`` and ``hard``) — ships sail across in lanes; the target type is drawn in the legend (bottom
  left) and the player's ship is of the other type. Ships are told by sail colour and their heading by which side
  the hull reaches farther (the bow); it fires when a ball fired now would meet a target (its column predicted at
  the ball's speed) and no ship of the player's type is nearer in the way, else moves toward where one would.

* ``StarPilot``, ``Dodgeball``, ``Ninja`` and ``Jumper`` (``easy`` and ``hard``) — in their own modules
  (:data:`RULE_MODULES`: ``frame_procgen_shooters``, ``frame_procgen_arena``, ``frame_procgen_ninja``,
  ``frame_procgen_jumper``), merged into this expert by :func:`rule_tables`.

Frames are read at :data:`PARSE_SIZE` pixels: a larger observation is shrunk (area average, as the env
itself resizes), a smaller one is refused (at 64 px the 4-pixel orbs blur into the enemies' green).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_datasets.experts.base import unwrap
from nitrogen_datasets.experts.errors import ExpertNotReset, ExpertUnsupported
from nitrogen_envs import gamepad
from nitrogen_envs.base import GamepadEnv
from nitrogen_envs.image import resize_frame

PARSE_SIZE = 128
"""Side of the frame the parsers read (pixels); observations must be at least this large."""

NOOP, LEFT, DOWN, UP, RIGHT = 4, 1, 3, 5, 7
"""Procgen native action indices (nitrogen_envs.engines.procgen.PROCGEN_TABLE) of the four moves and no-op."""

MOVES: tuple[tuple[int, int, int], ...] = ((-1, 0, UP), (1, 0, DOWN), (0, -1, LEFT), (0, 1, RIGHT))
"""(row step, column step, native action) in the fixed order that breaks ties between equal paths."""
RIGHT_UP = 8
"""Procgen's native RIGHT+UP: a diagonal move, and a jump to the right in the platformers."""


@dataclass(frozen=True)
class GridView:
    """What a frame shows of a grid game, one cell per entry (row 0 at the top of the picture).

    Args:
        blocked: cells the player cannot enter (Chaser walls; Miner boulders and walls).
        targets: cells worth reaching (orbs and stars; diamonds, or the exit once no diamond is left).
        danger: cells to keep out of (next to an enemy; under a boulder).
        player: the player's position in cell units (row, column; fractional between cells), or None.
        unsafe_fallback: with no safe path, take the shortest path through danger (Miner: a boulder may not
            fall) instead of stepping away from it (Chaser: an enemy will come).
        loosen: with no path to a target at all, cells worth digging instead (Miner: the dirt under a boulder
            or diamond, which falls once the player moves on and may open the way).
        glide: the player slides more than a fifth of a cell per step (Heist hard), so it rarely stops on a
            cell centre: head for the cell after the one it is on, diagonally when also off that cell's centre.
    """

    blocked: np.ndarray
    targets: np.ndarray
    danger: np.ndarray
    player: tuple[float, float] | None
    unsafe_fallback: bool = False
    loosen: np.ndarray | None = None
    glide: bool = False

    def action(self) -> int:
        """The native action for this view (:func:`grid_action`)."""
        return grid_action(self)


def as_parse_frame(frame: np.ndarray) -> np.ndarray:
    """The frame at :data:`PARSE_SIZE` pixels (int16 RGB), shrunk by area average when larger.

    Raises:
        ExpertUnsupported: the frame is smaller than :data:`PARSE_SIZE` or not an RGB image.
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ExpertUnsupported(f"the frame expert reads RGB frames, got shape {frame.shape}")
    if min(frame.shape[:2]) < PARSE_SIZE:
        raise ExpertUnsupported(
            f"the frame expert needs observations of at least {PARSE_SIZE} px, got {frame.shape[1]}x{frame.shape[0]}; "
            f"make the env with obs_size={PARSE_SIZE} or larger"
        )
    if frame.shape[:2] != (PARSE_SIZE, PARSE_SIZE):
        frame = resize_frame(frame, (PARSE_SIZE, PARSE_SIZE))
    return frame.astype(np.int16)


def near(frame: np.ndarray, colour: tuple[int, int, int], tolerance: int) -> np.ndarray:
    """Pixels within ``tolerance`` of ``colour`` in every channel.

    Channel by channel: numpy's reduction over a last axis of three is about ten times slower, and every rule
    calls this several times a frame.
    """
    out = np.abs(frame[..., 0] - colour[0]) <= tolerance
    for k in (1, 2):
        out &= np.abs(frame[..., k] - colour[k]) <= tolerance
    return out


def blobs(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, columns) of each 8-connected group of ``mask``'s pixels, in raster order of each group's first pixel.

    OpenCV labels the groups (it scans two rows at a time, so its label order is not raster order); the groups are
    put back in the order of their first pixel, and each group's pixels in raster order, so a parser that walks
    them meets them in the same order on every platform.
    """
    import cv2

    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    rows, cols = np.nonzero(labels)
    if len(rows) == 0:
        return []
    keys = labels[rows, cols]
    found, first = np.unique(keys, return_index=True)
    rank = np.empty(int(found.max()) + 1, dtype=np.int64)
    rank[found[np.argsort(first)]] = np.arange(len(found))
    keys = rank[keys]
    order = np.argsort(keys, kind="stable")
    rows, cols, keys = rows[order], cols[order], keys[order]
    cuts = np.flatnonzero(np.diff(keys)) + 1
    return list(zip(np.split(rows, cuts), np.split(cols, cuts), strict=True))


def cell_counts(mask: np.ndarray, n: int) -> np.ndarray:
    """How many pixels of ``mask`` fall in each cell of an n x n grid laid over the frame."""
    size = mask.shape[0]
    index = (np.arange(size) + 0.5) * n // size
    counts = np.zeros((n, n), dtype=np.int64)
    rows, cols = np.nonzero(mask)
    np.add.at(counts, (index[rows].astype(int), index[cols].astype(int)), 1)
    return counts


def centroid(mask: np.ndarray, n: int) -> tuple[float, float] | None:
    """Centre of ``mask``'s pixels in cell units (cell k's centre is k), or None when the mask is empty."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return None
    scale = n / mask.shape[0]
    return (float((rows + 0.5).mean() * scale - 0.5), float((cols + 0.5).mean() * scale - 0.5))


# -- Chaser --------------------------------------------------------------------------------------------

CHASER_CELLS = 11
"""The easy maze's side in cells (the frame shows all of it)."""
CHASER_HARD_CELLS = 13
"""The hard maze's side in cells: the frame shows all of it too, in smaller cells (measured: the wall mask fits a
13x13 grid and stays put while the player moves)."""
CHASER_WALL = (171, 191, 197)
CHASER_ORB = (0, 255, 0)
CHASER_ENEMY = (43, 156, 35)  # an enemy before it hatches (green body); hatched ones are found by their red eye
CHASER_STAR = (224, 208, 72)
CHASER_DANGER = 2
"""Cells within this many steps of an enemy are avoided (enemies move as fast as the player)."""
CHASER_EYE, CHASER_HARD_EYE = 2, 1
"""Red pixels (at 128 px) in a cell that make it a hatched enemy's: ``hard`` draws enemies in smaller cells, and an
eye there measured 1 to 4 pixels, often split between two cells."""


def parse_chaser(frame: np.ndarray, cells: int = CHASER_CELLS, eye_pixels: int = CHASER_EYE) -> GridView:
    """Walls, orbs and stars, enemies and the player of a Chaser frame (colours measured on rendered frames).

    ``cells`` is the maze's side and ``eye_pixels`` the red pixels that make a cell a hatched enemy's:
    :data:`CHASER_CELLS` and :data:`CHASER_EYE` for ``easy``, :data:`CHASER_HARD_CELLS` and
    :data:`CHASER_HARD_EYE` for ``hard``.
    """
    f = as_parse_frame(frame)
    area = (PARSE_SIZE / cells) ** 2
    walls = cell_counts(near(f, CHASER_WALL, 24), cells) > 0.5 * area
    orbs = cell_counts(near(f, CHASER_ORB, 40), cells) >= 4
    stars = cell_counts(near(f, CHASER_STAR, 40), cells) >= 0.2 * area
    eggs = cell_counts(near(f, CHASER_ENEMY, 30), cells) >= 0.1 * area
    red_eyes = (f[..., 0] > 170) & (f[..., 1] < 130) & (f[..., 2] < 130)  # hatched enemies: dark body, red eye
    enemies = eggs | (cell_counts(red_eyes, cells) >= eye_pixels)
    player_mask = (f[..., 0] > 170) & (f[..., 2] > 200) & (f[..., 1] < 150)
    danger = near_cells(enemies, walls, CHASER_DANGER)
    return GridView(walls, (orbs | stars) & ~walls, danger, centroid(player_mask, cells))


def near_cells(sources: np.ndarray, walls: np.ndarray, radius: int) -> np.ndarray:
    """Open cells within ``radius`` steps of any ``sources`` cell, walking around walls."""
    out = sources & ~walls
    for _ in range(radius):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown & ~walls
    return out


# -- Miner ---------------------------------------------------------------------------------------------

MINER_CELLS = 10
"""The easy mine's side in cells (the frame shows all of it)."""
MINER_HARD_CELLS = 20
"""The hard mine's side in cells: the frame shows all of it too (measured: the dirt fits a 20x20 grid)."""
MINER_TILES = {"dirt": ((163, 103, 50), 24), "boulder": ((151, 169, 170), 24), "exit": ((48, 48, 48), 12)}
"""Each tile's dominant colour and tolerance, measured on rendered frames (the exit's black is neutral: the dug
background of some levels is a dark navy). A cell that is none of these nor a diamond is empty, whatever
picture the level draws behind the dug cells (skies, hills)."""
MINER_DIAMOND = (37, 171, 228)
"""A diamond's deep blue (not a sky's paler one); it claims a cell over the other tiles."""
MINER_TILE_SHARE = 0.15
"""A tile claims a cell when at least this share of the cell's pixels have its colour."""


def parse_miner(frame: np.ndarray, cells: int = MINER_CELLS) -> GridView:
    """Boulders, diamonds, the exit, falling paths and the player (its teal cart) of a Miner frame.

    ``cells`` is the mine's side: :data:`MINER_CELLS` for ``easy``, :data:`MINER_HARD_CELLS` for ``hard``.
    """
    f = as_parse_frame(frame)
    area = (PARSE_SIZE / cells) ** 2
    counts = np.stack([cell_counts(near(f, colour, tol), cells) for colour, tol in MINER_TILES.values()])
    tile = np.where(
        counts.max(axis=0) >= MINER_TILE_SHARE * area, np.array(list(MINER_TILES))[counts.argmax(axis=0)], "empty"
    )
    tile[cell_counts(near(f, MINER_DIAMOND, 28), cells) >= MINER_TILE_SHARE * area] = "diamond"
    cart = cell_counts((f[..., 1] > 180) & (f[..., 0] < 145) & (f[..., 2] > 150) & (f[..., 2] < 205), cells)
    at = np.unravel_index(int(cart.argmax()), cart.shape)  # the cell holding most of the teal cart
    player = (float(at[0]), float(at[1])) if cart.max() > 0 else None  # it moves a whole cell per step
    if player is not None:
        tile[at] = "empty"  # the cart's dark wheels are not the exit
    boulders, diamonds, empty = tile == "boulder", tile == "diamond", tile == "empty"
    falling = boulders | diamonds
    danger = np.zeros_like(boulders)
    for row in range(cells - 1):  # a boulder or diamond falls through empty cells; the cell under it is unsafe
        danger[row + 1] = falling[row] | (danger[row] & empty[row])
    exits = tile == "exit"
    targets = diamonds if diamonds.any() else exits
    under = np.zeros_like(falling)
    under[1:] = falling[:-1] & (tile[1:] == "dirt")
    return GridView(
        boulders | (exits & diamonds.any()), targets, danger & ~targets, player, unsafe_fallback=True, loosen=under
    )


# -- Heist ---------------------------------------------------------------------------------------------

HEIST_CELLS = (9, 13)
"""The world's side in cells: ``easy`` shows a 9x9 world, ``hard`` a 13x13 one (the frame shows all of it)."""
HEIST_WALL = (181, 196, 197)
HEIST_KEYS = ((232, 106, 23), (115, 205, 75), (30, 167, 225))
"""The orange, green and blue of the keys and their locks (a lock fills its cell, a key a fifth of it)."""
HEIST_PLAYER_ORANGE = (252, 151, 0)
HEIST_HUD = (slice(0, 13), slice(104, None))
"""Pixels (at 128 px) where the keys the player holds are drawn, over the top right corner of the world: a maze
key there is not seen (its lock then looks open)."""
HEIST_LOCK_SHARE, HEIST_KEY_SHARE = 0.4, 0.08
"""Share of a cell's pixels in a key colour that make it a lock, or a key."""


def heist_cells(frame: np.ndarray) -> int:
    """The world's side in cells: the grid whose cells are most nearly all wall or all open."""
    walls = near(frame, HEIST_WALL, 20)

    def mixed(n: int) -> float:
        share = cell_counts(walls, n) / (PARSE_SIZE / n) ** 2
        return float(np.minimum(share, 1 - share).clip(0).mean())

    return min(HEIST_CELLS, key=mixed)


def parse_heist(frame: np.ndarray) -> GridView:
    """Walls, keys, locks, the gem and the player (white and orange) of a Heist frame.

    A lock whose key is still drawn in the maze is closed; a lock whose key is gone (the player holds it;
    held keys are drawn in :data:`HEIST_HUD`, which is not read for keys) is a target, as are the keys and
    the gem, so the search fetches a key before the door it opens.
    """
    f = as_parse_frame(frame)
    n = heist_cells(f)
    area = (PARSE_SIZE / n) ** 2
    walls = cell_counts(near(f, HEIST_WALL, 20), n) > 0.5 * area
    blocked, targets = walls.copy(), np.zeros_like(walls)
    maze = np.ones(f.shape[:2], dtype=bool)
    maze[HEIST_HUD] = False
    for colour in HEIST_KEYS:
        counts = cell_counts(near(f, colour, 30) & maze, n)
        locks = counts >= HEIST_LOCK_SHARE * area
        keys = (counts >= HEIST_KEY_SHARE * area) & ~locks & ~walls
        targets |= keys | (locks if not keys.any() else False)
        blocked |= locks if keys.any() else False
    gem = (f[..., 0] > 220) & (f[..., 1] > 170) & (f[..., 2] < 160)  # its yellows; the player's orange is redder
    targets |= cell_counts(gem, n) >= HEIST_KEY_SHARE * area
    white = np.all(f >= 220, axis=2) & (f.max(axis=2) - f.min(axis=2) < 24)
    player = white | near(f, HEIST_PLAYER_ORANGE, 30)  # white on top, orange below: both, or the centre is off
    return GridView(blocked, targets & ~walls, np.zeros_like(walls), centroid(player, n), glide=True)


# -- FruitBot ------------------------------------------------------------------------------------------

FRUITBOT_WALL = (168, 188, 194)
FRUITBOT_BOT = (164, 180, 198)
"""The walls' pale grey and the robot's bluer grey (its blue exceeds its green by 12 or more; the walls' by 6)."""
FRUITBOT_BOT_ROWS = 108
"""The robot drives along the bottom of the frame, below this row (at 128 px)."""
FRUITBOT_BOT_REACH = 7
"""Robot pixels lie within this many columns of its densest column (it is 10 px wide in easy, 3 in hard)."""
FRUITBOT_CLEARANCE = 1
"""Pixels kept between the robot's detected edge and a gap's edge (its wheels and outline are not detected)."""
FRUITBOT_WALL_SHARE = 0.25
"""A row is a wall when at least this share of its pixels have the wall colour."""


@dataclass(frozen=True)
class LaneView:
    """What a FruitBot frame shows: the robot's column and the gaps of the next wall down the screen.

    Args:
        player_x: the robot's centre column in pixels (at :data:`PARSE_SIZE`), or None when not found.
        half_width: half the robot's width in pixels.
        gaps: (first, past-the-end) pixel columns of each opening of the lowest wall not yet passed that is
            wide enough for the robot; empty when no wall is drawn.
    """

    player_x: float | None
    half_width: float
    gaps: tuple[tuple[int, int], ...]

    def action(self) -> int:
        """Steer into the gap nearest the robot (RIGHT or LEFT until inside it by the clearance), else NOOP."""
        x = self.player_x
        if x is None or not self.gaps:
            return NOOP
        first, end = min(self.gaps, key=lambda gap: abs((gap[0] + gap[1]) / 2 - x))
        if x < first + self.half_width + FRUITBOT_CLEARANCE:
            return RIGHT
        if x > end - self.half_width - FRUITBOT_CLEARANCE:
            return LEFT
        return NOOP


def runs(row: np.ndarray, shortest: int) -> tuple[tuple[int, int], ...]:
    """(first, past-the-end) indices of each run of True in ``row`` at least ``shortest`` long."""
    edges = np.flatnonzero(np.diff(np.r_[0, row.astype(np.int8), 0]))
    return tuple((int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= shortest)


def parse_fruitbot(frame: np.ndarray) -> LaneView:
    """The robot and the next wall's gaps of a FruitBot frame (``easy``, and ``hard``'s farther view).

    Walls scroll down toward the robot; the next one is the lowest wall row at or above the robot's bottom.
    While the robot is inside that wall's band its own pixels split the wall row, so its columns count as open.
    """
    f = as_parse_frame(frame)
    low = f[FRUITBOT_BOT_ROWS:]
    rows, cols = np.nonzero(near(low, FRUITBOT_BOT, 16) & (low[..., 2] - low[..., 1] >= 12))
    if len(rows) == 0:
        return LaneView(None, 0.0, ())
    centre = np.bincount(cols).argmax()  # the robot's densest column; stray matches on water or walls are dropped
    rows, cols = rows[np.abs(cols - centre) <= FRUITBOT_BOT_REACH], cols[np.abs(cols - centre) <= FRUITBOT_BOT_REACH]
    top, bottom = FRUITBOT_BOT_ROWS + int(rows.min()), FRUITBOT_BOT_ROWS + int(rows.max())
    x, half = float(cols.mean()), (int(cols.max()) - int(cols.min()) + 1) / 2
    wall = near(f[: bottom + 1], FRUITBOT_WALL, 18)
    wall_rows = np.flatnonzero(wall.sum(axis=1) >= FRUITBOT_WALL_SHARE * PARSE_SIZE)
    if len(wall_rows) == 0:
        return LaneView(x, half, ())
    opening = ~wall[wall_rows.max()]
    if wall_rows.max() >= top:
        opening[max(int(x - half) - 1, 0) : int(x + half) + 2] = True
    opening[[0, -1]] = False  # the frame's edges are drawn as thin walls
    return LaneView(x, half, runs(opening, int(2 * half) + 2))


# -- Leaper --------------------------------------------------------------------------------------------

LEAPER_ROAD = (87, 87, 87)
LEAPER_RIVER = (156, 213, 226)
LEAPER_LOG = (160, 109, 61)
LEAPER_LANE = 1.4
"""A lane is this many times the frog's height (measured at rest: 11 px of a 15 px lane in ``easy``)."""
LEAPER_MARGIN = 1.3
"""A road lane is clear when no car is within this many lane heights of the frog's column, either side (a
car's direction is not read)."""
LEAPER_SHARE = 0.4
"""A lane is road (or river) when at least this share of its pixels are asphalt (or water and logs)."""


def frog_rule(up_kind: str, up_clear: bool, here_kind: str, here_threat: bool, up_near: bool, down_clear: bool) -> int:
    """Leaper's decision: hop up onto a clear lane; on a road with a car close, hop where there is more room."""
    if up_clear:
        return UP
    if here_kind == "road" and here_threat:
        if up_kind == "road" and not up_near:
            return UP
        if down_clear:
            return DOWN
    return NOOP


@dataclass(frozen=True)
class LeaperView:
    """What a Leaper frame shows around the frog: the kind of its lane and the lanes above and below, and cars.

    Args:
        found: the frog (yellow-green) is in the frame.
        up_kind, here_kind: ``road``, ``river`` or ``safe`` (grass, the finish) for the lane above and the frog's.
        up_clear: the lane above can be entered now: a road with no car within the margin, a river with a log
            under the frog's column, or safe ground.
        here_threat: a car within half the margin in the frog's own lane.
        up_near: a car within half the margin in the lane above.
        down_clear: the lane below is in the frame, not river, and has no car within half the margin.
    """

    found: bool
    up_kind: str = "safe"
    here_kind: str = "safe"
    up_clear: bool = False
    here_threat: bool = False
    up_near: bool = False
    down_clear: bool = False

    def action(self) -> int:
        """UP onto a clear lane, else away from a car in the frog's lane, else NOOP (wait)."""
        if not self.found:
            return NOOP
        return frog_rule(self.up_kind, self.up_clear, self.here_kind, self.here_threat, self.up_near, self.down_clear)


def lane_kind(band: np.ndarray) -> str:
    """``road``, ``river`` or ``safe`` for a band of rows, by its share of asphalt, or of water and logs."""
    size = band.shape[0] * band.shape[1]
    if near(band, LEAPER_ROAD, 12).sum() > LEAPER_SHARE * size:
        return "road"
    if (near(band, LEAPER_RIVER, 20) | near(band, LEAPER_LOG, 30)).sum() > LEAPER_SHARE * size:
        return "river"
    return "safe"


def car_near(band: np.ndarray, x: int, reach: int) -> bool:
    """A car (saturated colour, or a white car's near-white) within ``reach`` columns of ``x`` in ``band``."""
    car = (band.max(axis=2) - band.min(axis=2) > 45) | (band.min(axis=2) > 235)
    return bool(car[:, max(x - reach, 0) : x + reach + 1].any())


def parse_leaper(frame: np.ndarray) -> LeaperView:
    """The frog and the lanes around it in a Leaper frame (``easy`` and ``hard``, whose lanes are smaller)."""
    f = as_parse_frame(frame)
    rows, cols = np.nonzero((f[..., 0] > 100) & (f[..., 1] > 150) & (f[..., 2] < 90) & (f[..., 1] > f[..., 0]))
    if len(rows) == 0:
        return LeaperView(False)
    top, bottom, x = int(rows.min()), int(rows.max()), round(float(cols.mean()))
    lane = max(round(LEAPER_LANE * (bottom - top + 1)), 4)
    middle = (top + bottom) // 2

    def band(k: int) -> np.ndarray:  # the middle two thirds of the lane k lanes up (negative: down)
        centre = middle - k * lane
        return f[max(centre - lane // 3, 0) : max(centre + lane // 3, 1)]

    up, here, down = band(1), band(0), band(-1)
    reach = int(LEAPER_MARGIN * lane)
    up_kind, here_kind = lane_kind(up), lane_kind(here)
    if up_kind == "road":
        up_clear = not car_near(up, x, reach)
    elif up_kind == "river":
        up_clear = bool(near(up, LEAPER_LOG, 30)[:, max(x - 2, 0) : x + 3].any(axis=0).all())  # a log under it
    else:
        up_clear = True
    below_in_frame = middle + lane + lane // 3 < PARSE_SIZE
    return LeaperView(
        True,
        up_kind,
        here_kind,
        up_clear,
        here_kind == "road" and car_near(here, x, reach // 2 + 2),
        up_kind == "road" and car_near(up, x, reach // 2),
        below_in_frame and lane_kind(down) != "river" and not car_near(down, x, reach // 2),
    )


# -- CoinRun ------------------------------------------------------------------------------------------

COINRUN_PLAYER = (60, 68)
"""The player's columns (first, past-the-end) at 128 px: the camera keeps it in the middle of the frame."""
COINRUN_FEET = 70
"""The first row under the player's feet; a standing player has ground there (the camera keeps it at this height)."""
COINRUN_REACH = 30
"""Rows above the feet read for a wall ahead (over twice the player's height: what a jump must clear)."""
COINRUN_EDGE = 4
"""Rows just above the feet that are not read as a wall ahead: the ground's own top edge, and a step the run climbs."""
COINRUN_LOOK = 8
"""Columns ahead of the player that are read for a wall or a gap (chosen on training levels 0-79, not 1000 on)."""
COINRUN_SOLID = 90
"""A pixel whose brightest channel exceeds this is something (ground, crate, saw, enemy, coin): ``easy`` draws its
background in one dark navy (below 70 in every channel); ``hard``'s pictured backgrounds are not, so it is refused."""


@dataclass(frozen=True)
class RunView:
    """What a CoinRun frame shows around the player (always drawn in the middle, so not searched for).

    Args:
        standing: ground under the player's feet.
        wall_ahead: something solid at the player's height within :data:`COINRUN_LOOK` columns ahead.
        gap_ahead: the ground under the next :data:`COINRUN_LOOK` columns is missing somewhere (a pit, lava, a drop).
    """

    standing: bool
    wall_ahead: bool
    gap_ahead: bool

    def action(self) -> int:
        """Jump right from the ground at a wall or a gap, else run right; in the air keep pressing jump and right.

        Why not always jump: a player bouncing on flat ground lands wherever its hops end, often on a saw or an
        enemy; running up to the next obstacle and jumping there more often lands past it (docs/experts.md).
        """
        if not self.standing or self.wall_ahead or self.gap_ahead:
            return RIGHT_UP
        return RIGHT


def parse_coinrun(frame: np.ndarray) -> RunView:
    """Ground under the player, and a wall or a gap just ahead of it, in a CoinRun ``easy`` frame."""
    f = as_parse_frame(frame)
    solid = f.max(axis=2) > COINRUN_SOLID
    first, end = COINRUN_PLAYER
    ahead = slice(end, end + COINRUN_LOOK)
    floor = solid[COINRUN_FEET : COINRUN_FEET + 3]
    return RunView(
        standing=bool(floor[:, first:end].mean() > 0.5),
        wall_ahead=bool(solid[COINRUN_FEET - COINRUN_REACH : COINRUN_FEET - COINRUN_EDGE, ahead].any()),
        gap_ahead=not bool(floor[:, ahead].all()),
    )


# -- Plunder ------------------------------------------------------------------------------------------

FIRE = 9
"""Procgen's native fire (the ``D`` key): in Plunder a cannonball up from the player's ship, at most every 3 steps."""
PLUNDER_SAILS = ((226, 182, 35), (108, 150, 188), (114, 184, 77), (99, 119, 121), (249, 235, 205), (213, 96, 85))
"""Main-sail colours of the six ship types (yellow, blue, green, grey, cream, red), measured on rendered frames. A level
sails two: the target type, drawn in the legend at the bottom left, and the player's own type (hitting one costs
time)."""
PLUNDER_SAIL_TOLERANCE = 20
PLUNDER_HULL, PLUNDER_HULL_TOLERANCE = (164, 112, 58), 40
"""Every ship's brown hull: its bow sticks out farther past the main sail than its stern, which tells its heading."""
PLUNDER_LEGEND = (slice(100, None), slice(0, 26))
"""Pixels (at 128 px) of the legend: the target type's ship in a ring."""
PLUNDER_DECK, PLUNDER_TOP = 100, 8
"""The player's ship sails in the rows below PLUNDER_DECK (right of the legend); ships in the rows from PLUNDER_TOP
(under the timer bars) to PLUNDER_DECK."""
PLUNDER_BALL_SPEED = 6.4
"""Pixels a cannonball rises per step (one of the world's 20 units across per step, at 128 px)."""
PLUNDER_SHIP_SPEED = 1.3
"""Pixels a ship sails per step (Procgen draws each lane's speed from 0.15 to 0.25 units; the middle)."""
PLUNDER_AIM = 4
"""Fire when a target's column, predicted for when the ball reaches its row, is within this many pixels."""
PLUNDER_FRIEND_MARGIN = 3
"""Extra pixels around the aim within which a nearer own-type ship would take the ball instead."""
PLUNDER_SAIL_PIXELS = (12, 6)
"""Sail pixels that make a blob a target ship, and an own-type ship (missing a friend costs less than a shot at one)."""
PLUNDER_BOW_REACH = 14
"""Columns past the sail searched for the hull on each side."""


@dataclass(frozen=True)
class Ship:
    """A ship in a Plunder frame: its sail's centre (pixels at 128 px) and heading (+1 right, -1 left, 0 unknown)."""

    row: float
    column: float
    heading: int


@dataclass(frozen=True)
class PlunderView:
    """What a Plunder frame shows: the player's ship (its sail's centre), the target ships and the player's own type.

    Args:
        player: (row, column) of the player's sail, or None when not found (or the legend shows the player's type).
        targets: ships of the legend's type.
        friends: ships of the player's type.
    """

    player: tuple[float, float] | None
    targets: tuple[Ship, ...] = ()
    friends: tuple[Ship, ...] = ()

    def action(self) -> int:
        """FIRE at a target the ball would meet, else move toward the nearest meeting column, else NOOP.

        A target is met when its column, predicted for when the ball reaches its row, is the player's; an own-type
        ship nearer the player in that column would take the ball, so the shot waits.
        """
        if self.player is None:
            return NOOP
        row, column = self.player

        def crossing(ship: Ship) -> float:  # the ship's column when a ball fired now reaches its row
            return ship.column + ship.heading * PLUNDER_SHIP_SPEED * (row - ship.row) / PLUNDER_BALL_SPEED

        goal: float | None = None
        for ship in self.targets:
            x = crossing(ship)
            blocked = any(
                friend.row > ship.row and abs(crossing(friend) - column) <= PLUNDER_AIM + PLUNDER_FRIEND_MARGIN
                for friend in self.friends
            )
            if abs(x - column) <= PLUNDER_AIM and not blocked:
                return FIRE
            if goal is None or abs(x - column) < abs(goal - column):
                goal = x
        if goal is None:
            return NOOP
        return RIGHT if goal > column else LEFT


def stretch(present: np.ndarray, start: int, step: int) -> int:
    """How many columns from ``start`` (going by ``step``) ``present`` runs on, over gaps of one column.

    At most :data:`PLUNDER_BOW_REACH`: a ship sailing close behind is not this one's bow.
    """

    def inside(column: int) -> bool:
        return 0 <= column < len(present) and bool(present[column])

    n, column = 0, start
    while n < PLUNDER_BOW_REACH and (inside(column) or inside(column + step)):
        column, n = column + step, n + 1
    return n


def find_ships(sails: np.ndarray, hull: np.ndarray, top: int, fewest: int) -> tuple[Ship, ...]:
    """Blobs of ``sails`` of at least ``fewest`` pixels, each a ship heading to the side its hull reaches farther."""
    ships = []
    for r0, r1 in runs(dilate(np.asarray(sails.any(axis=1))), 1):
        band = sails[r0:r1]
        for c0, c1 in runs(dilate(np.asarray(band.any(axis=0))), 2):
            rows, cols = np.nonzero(band[:, c0:c1])
            if len(cols) < fewest:
                continue
            present = np.asarray(hull[r0:r1].any(axis=0))
            bow = stretch(present, c1, 1) - stretch(present, c0 - 1, -1)
            ships.append(Ship(top + r0 + float(rows.mean()), c0 + float(cols.mean()), int(np.sign(bow))))
    return tuple(ships)


def dilate(line: np.ndarray) -> np.ndarray:
    """``line`` grown by one entry each way (so that a sail split by its mast or cross stays one blob)."""
    out = line.copy()
    out[1:] |= line[:-1]
    out[:-1] |= line[1:]
    return out


def parse_plunder(frame: np.ndarray) -> PlunderView:
    """The player's ship, and the ships of the legend's type and of the player's own type, in a Plunder frame."""
    f = as_parse_frame(frame)
    legend = int(np.argmax([near(f[PLUNDER_LEGEND], c, PLUNDER_SAIL_TOLERANCE).sum() for c in PLUNDER_SAILS]))
    deck = f[PLUNDER_DECK:, PLUNDER_LEGEND[1].stop :]
    own_sails = [near(deck, c, PLUNDER_SAIL_TOLERANCE) for c in PLUNDER_SAILS]
    own = int(np.argmax([mask.sum() for mask in own_sails]))
    if not own_sails[own].any() or own == legend:
        return PlunderView(None)
    rows, cols = np.nonzero(own_sails[own])
    player = (PLUNDER_DECK + float(rows.mean()), PLUNDER_LEGEND[1].stop + float(cols.mean()))
    sea = f[PLUNDER_TOP:PLUNDER_DECK]
    hull = near(sea, PLUNDER_HULL, PLUNDER_HULL_TOLERANCE)
    targets, friends = (
        find_ships(near(sea, PLUNDER_SAILS[kind], PLUNDER_SAIL_TOLERANCE), hull, PLUNDER_TOP, fewest)
        for kind, fewest in zip((legend, own), PLUNDER_SAIL_PIXELS, strict=True)
    )
    return PlunderView(player, targets, friends)


# -- search and action ---------------------------------------------------------------------------------

IN_TRANSIT = 0.2
"""A player this far (in cells) from a cell centre is between two cells and may head to either."""


def distances(view: GridView, start: tuple[int, int], closed: np.ndarray) -> np.ndarray:
    """Breadth-first path length from ``start`` to every cell through open cells (-1: unreachable)."""
    n = view.blocked.shape[0]
    out = np.full((n, n), -1, dtype=np.int64)
    if closed[start]:
        return out
    out[start] = 0
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        for dr, dc, _ in MOVES:
            nxt = (cell[0] + dr, cell[1] + dc)
            if 0 <= nxt[0] < n and 0 <= nxt[1] < n and out[nxt] < 0 and not closed[nxt]:
                out[nxt] = out[cell] + 1
                queue.append(nxt)
    return out


def occupied(player: tuple[float, float], n: int) -> list[tuple[int, int]]:
    """The one cell the player stands on, or the two it is between (nearer first)."""
    cells = []
    for r in sorted({int(np.floor(player[0])), int(np.ceil(player[0]))}, key=lambda k: abs(k - player[0])):
        for c in sorted({int(np.floor(player[1])), int(np.ceil(player[1]))}, key=lambda k: abs(k - player[1])):
            if abs(r - player[0]) < 1 - IN_TRANSIT and abs(c - player[1]) < 1 - IN_TRANSIT:
                cells.append((min(max(r, 0), n - 1), min(max(c, 0), n - 1)))
    return list(dict.fromkeys(cells)) or [(min(max(round(player[0]), 0), n - 1), min(max(round(player[1]), 0), n - 1))]


def heading(player: tuple[float, float], cell: tuple[int, int]) -> int:
    """Native action that moves the player from ``player`` toward the centre of ``cell`` (the larger offset)."""
    dr, dc = cell[0] - player[0], cell[1] - player[1]
    if max(abs(dr), abs(dc)) < IN_TRANSIT:
        return NOOP
    if abs(dr) >= abs(dc):
        return DOWN if dr > 0 else UP
    return RIGHT if dc > 0 else LEFT


def next_cell(view: GridView, cells: list[tuple[int, int]], closed: np.ndarray) -> tuple[int, int] | None:
    """The neighbour cell (or the other occupied cell) that starts a shortest path to the nearest target.

    A target in the cell the player stands on is being taken and does not count; between two cells, a
    target still drawn in either is the nearest. Ties go to the nearer occupied cell, then to :data:`MOVES` order.
    """
    n = view.blocked.shape[0]
    targets = view.targets.copy()
    if len(cells) == 1:
        targets[cells[0]] = False
    if not targets.any():
        return None
    best: tuple[int, tuple[int, int]] | None = None
    for start in cells:
        options = [start] if len(cells) > 1 else []
        if len(cells) == 1:
            options = [
                (start[0] + dr, start[1] + dc)
                for dr, dc, _ in MOVES
                if 0 <= start[0] + dr < n and 0 <= start[1] + dc < n
            ]
        for cell in options:
            if closed[cell]:
                continue
            d = distances(view, cell, closed)
            reach = d[targets]
            reach = reach[reach >= 0]
            if len(reach) and (best is None or int(reach.min()) < best[0]):
                best = (int(reach.min()), cell)
    return None if best is None else best[1]


def escape_step(view: GridView, player: tuple[float, float], cells: list[tuple[int, int]]) -> int:
    """Toward the open neighbour (or the other occupied cell) farthest from every danger cell; ties to MOVES order."""
    n = view.blocked.shape[0]
    danger = np.argwhere(view.danger)
    if len(danger) == 0:
        return NOOP
    start = cells[0]
    best, best_distance = start, int(np.abs(danger - np.array(start)).sum(axis=1).min())
    candidates = cells[1:] + [(start[0] + dr, start[1] + dc) for dr, dc, _ in MOVES]
    for cell in candidates:
        if not (0 <= cell[0] < n and 0 <= cell[1] < n) or view.blocked[cell]:
            continue
        distance = int(np.abs(danger - np.array(cell)).sum(axis=1).min())
        if distance > best_distance:
            best, best_distance = cell, distance
    return heading(player, best)


def grid_action(view: GridView) -> int:
    """The native action for a parsed frame: toward the nearest safe target, else away from danger."""
    if view.player is None:
        return NOOP
    cells = occupied(view.player, view.blocked.shape[0])
    cell = next_cell(view, cells, view.blocked | view.danger)
    if cell is None and view.unsafe_fallback:
        cell = next_cell(view, cells, view.blocked)
    if cell is None and view.loosen is not None:
        loosen = dataclasses.replace(view, targets=view.loosen)
        cell = next_cell(loosen, cells, view.blocked | (view.danger & ~view.loosen))
    if cell is None:
        return escape_step(view, view.player, cells)
    if view.glide:
        return glide_heading(view, cells, cell)
    return heading(view.player, cell)


DIAGONALS = {(-1, -1): 2, (-1, 1): RIGHT_UP, (1, -1): 0, (1, 1): 6}
"""Native actions of the diagonal moves, by (row sign, column sign): LEFT+UP, RIGHT+UP, LEFT+DOWN, RIGHT+DOWN."""


def glide_heading(view: GridView, cells: list[tuple[int, int]], cell: tuple[int, int]) -> int:
    """Toward the cell after ``cell`` on the path when ``cell`` is one the player is on, correcting sideways drift."""
    assert view.player is not None
    if cell in cells:
        after = next_cell(view, [cell], view.blocked)
        cell = after if after is not None else cell
    dr, dc = cell[0] - view.player[0], cell[1] - view.player[1]
    sr = 0 if abs(dr) < IN_TRANSIT else int(np.sign(dr))
    sc = 0 if abs(dc) < IN_TRANSIT else int(np.sign(dc))
    if sr and sc:
        return DIAGONALS[(sr, sc)]
    return heading(view.player, cell)


PARSERS: dict[str, Callable[[np.ndarray], GridView | LaneView | LeaperView | RunView | PlunderView]] = {
    "Chaser": parse_chaser,
    "CoinRun": parse_coinrun,
    "FruitBot": parse_fruitbot,
    "Heist": parse_heist,
    "Leaper": parse_leaper,
    "Miner": parse_miner,
    "Plunder": parse_plunder,
}
"""The games this expert plays, each with its frame parser (whose view's ``action()`` is the rule)."""
HARD_PARSERS: dict[str, Callable[[np.ndarray], GridView]] = {
    "Chaser": functools.partial(parse_chaser, cells=CHASER_HARD_CELLS, eye_pixels=CHASER_HARD_EYE),
    "Miner": functools.partial(parse_miner, cells=MINER_HARD_CELLS),
}
"""Parsers for ``hard`` where it draws the whole grid at another scale than ``easy`` (the task, not the picture,
says which: a cell count guessed from the walls could change an ``easy`` action); other games' parsers read both."""
EASY_ONLY = frozenset({"CoinRun"})
"""Games whose rule was measured above random on ``easy`` only; :class:`FrameExpert` refuses their other tasks."""


RULE_MODULES: tuple[str, ...] = (
    "nitrogen_datasets.experts.frame_procgen_shooters",
    "nitrogen_datasets.experts.frame_procgen_arena",
    "nitrogen_datasets.experts.frame_procgen_jumper",
    "nitrogen_datasets.experts.frame_procgen_ninja",
)
"""Modules that add games to this expert, each with its own ``PARSERS`` and ``EASY_ONLY`` (``HARD_PARSERS``
optional). They build on this module's parsing helpers, so they are merged on first use by :func:`rule_tables`
rather than imported here (which would be circular)."""


@dataclass(frozen=True)
class RuleTables:
    """Every game the expert plays: its parser, the ``hard`` parsers that differ, and the ``easy``-only games."""

    parsers: dict[str, Callable[[np.ndarray], Any]]
    hard_parsers: dict[str, Callable[[np.ndarray], Any]]
    easy_only: frozenset[str]


@functools.cache
def rule_tables() -> RuleTables:
    """This module's rules merged with those of :data:`RULE_MODULES` (a game defined twice is a bug)."""
    import importlib

    parsers: dict[str, Callable[[np.ndarray], Any]] = dict(PARSERS)
    hard: dict[str, Callable[[np.ndarray], Any]] = dict(HARD_PARSERS)
    easy_only = set(EASY_ONLY)
    for name in RULE_MODULES:
        module = importlib.import_module(name)
        clash = sorted(set(parsers) & set(module.PARSERS))
        if clash:
            raise RuntimeError(f"{name} defines {clash} again")
        parsers.update(module.PARSERS)
        hard.update(getattr(module, "HARD_PARSERS", {}))
        easy_only |= set(module.EASY_ONLY)
    return RuleTables(parsers, hard, frozenset(easy_only))


def unsupported_message(game: str) -> str:
    """The one-line refusal for a Procgen game without a rule."""
    return f"the frame expert plays {', '.join(sorted(rule_tables().parsers))}; use 'planner' for {game}"


def frame_action(game: str, frame: np.ndarray, task: str = "easy") -> int:
    """The expert's native action for one frame of ``game``/``task``: a pure function of the picture."""
    tables = rule_tables()
    parse = tables.hard_parsers.get(game, tables.parsers[game]) if task == "hard" else tables.parsers[game]
    return int(parse(frame).action())


class FrameExpert:
    """Plays Procgen games from the current frame alone (see the module docstring).

    ``reset`` only binds the env's gamepad mapping; nothing about the episode is read from it.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)  # unused by the rule (deterministic); kept for the registry's signature
        self._env: GamepadEnv | None = None
        self._game = ""
        self._task = ""

    def reset(self, env: gym.Env, seed: int | None) -> None:
        """Bind to ``env``'s game.

        Raises:
            ExpertUnsupported: not a Procgen game this expert parses, or a task it does not (``easy_only`` of
                :func:`rule_tables`).
        """
        base = unwrap(env, engines=("procgen",))
        name = base.spec_game.name
        tables = rule_tables()
        if name not in tables.parsers:
            raise ExpertUnsupported(unsupported_message(name))
        if name in tables.easy_only and base.task_spec.name != "easy":
            raise ExpertUnsupported(
                f"the frame expert plays {name} on 'easy' only (its rule is not above random on the others); "
                f"use 'planner' for {name}/{base.task_spec.name}"
            )
        self._env, self._game, self._task = base, name, base.task_spec.name

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> gamepad.GamepadDict:
        """The gamepad action for ``obs`` (``info`` is not read)."""
        if self._env is None:
            raise ExpertNotReset("call expert.reset(env, seed) after env.reset() and before act()")
        return self._env.native_to_gamepad(frame_action(self._game, obs, self._task))
