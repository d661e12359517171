"""Frame rule for Procgen's cave platformer Jumper (the frame expert's rules; see frame_procgen).

Why: the frame expert (:mod:`nitrogen_datasets.experts.frame_procgen`) had no rule for Jumper. Like the other rules,
this one is a pure function of the current frame (no save state, no engine state, no randomness, no memory).

* ``Jumper`` (``easy`` and ``hard``) — the bunny runs and (double) jumps through a cave to a carrot; spikes on the
  ground kill it. Facts from Procgen's ``jumper.cpp``: the world is 20 units square (``hard``: 40), the camera keeps
  the bunny in the middle of a view 12 units wide (``hard``: 16), and a compass in the top right corner points at
  the carrot, with a bar under it as long as the carrot's distance over the world's diagonal. The rule reads the
  compass's needle (the yellow pixels inside its grey disc) and bar, so it knows where the carrot is even out of
  view. Walls are drawn in one of four tile themes, each mostly one colour; the theme is the one with most pixels
  in the frame, and the world grid is laid over the frame at the phase where most wall edges fall on cell edges.
  Spikes are red blobs off the walls. A breadth-first search over (cell, height above the last support) states
  plans as a player that walks, falls, and rises at most :data:`JUMP_CELLS` cells above where it last stood, and
  keeps out of spikes and the cells beside and above them; it goes to the carrot's cell when that is in view, else
  to the cell farthest along the needle less :data:`PATH_COST` a step of the way. The first moves of that plan say
  the action: left or right, with jump when the plan rises within its first two moves.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nitrogen_datasets.experts.frame_procgen import LEFT, NOOP, PARSE_SIZE, RIGHT, RIGHT_UP, UP, as_parse_frame, near

LEFT_UP = 2
"""Procgen's native LEFT+UP: a jump to the left."""
VIEW_UNITS = {"easy": 12, "hard": 16}
"""Units across the view (``jumper.cpp``'s ``visibility``): a unit is 128/12 px in ``easy``, 8 px in ``hard``."""
WORLD_UNITS = {"easy": 20, "hard": 40}
"""The world's side in units (``jumper.cpp``'s ``world_dim``), which scales the compass's distance bar."""
COMPASS_UNITS = {"easy": 3.0, "hard": 2.0}
"""The compass's diameter in units; it is drawn a quarter unit from the view's top and right edges."""
COMPASS_INSET = 0.25
"""Units between the compass and the view's top and right edges."""
NEEDLE_RED_OVER_BLUE = 20
"""A compass pixel weighs in the needle by how far its red exceeds its blue past this (the disc is grey, the needle
(252, 186, 3))."""
BAR_COLOUR_MIN = (200, 100)
"""Distance bar pixels: red at least the first value, blue at most the second."""
WALL_THEMES = ((49, 57, 66), (91, 167, 50), (65, 162, 112), (76, 55, 51))
"""The dominant colour of the four wall tiles (Procgen's ``tileBlue_08``, ``tileGreen_08``, ``tileYellow_09``,
``tileBrown_09``, measured from the package's own images)."""
THEME_TOLERANCE, WALL_TOLERANCE = 16, 20
"""Channel tolerance that picks the level's theme, and the one that reads a pixel as wall."""
WALL_SHARE = 0.35
"""A cell is wall when at least this share of its pixels are (a wall's top tile is half grass or stone)."""
SPIKE_PIXELS = 3
"""A non-wall cell with at least this many red pixels (red over 170, green and blue under 110) holds a spike."""
JUMP_CELLS = 4
"""Cells the plan may rise above where the player last stood (measured: a double jump rises about 4.2 units)."""
PATH_COST = 0.3
"""With the carrot out of view, each step of the way costs this much of a cell gained along the needle."""


@dataclass(frozen=True)
class JumperView:
    """What a Jumper frame shows, on a grid of world cells laid over the frame.

    Args:
        walls: wall cells (True), row 0 at the top of the frame.
        danger: cells to keep out of: spikes, and the cells beside and above them.
        player: the player's cell (row, column).
        needle: unit vector (right, up) toward the carrot, or None when the compass was not read.
        goal: the carrot's cell when it is in view, else None.
    """

    walls: np.ndarray
    danger: np.ndarray
    player: tuple[int, int]
    needle: tuple[float, float] | None
    goal: tuple[int, int] | None = None

    def plan(self) -> list[tuple[int, int]]:
        """The first moves (row step, column step) of the way to the target (see the module docstring)."""
        walls, n = self.walls, self.walls.shape[0]
        assert self.needle is not None
        free = ~walls & ~self.danger
        standing = np.zeros_like(free)
        standing[:-1] = free[:-1] & walls[1:]
        pr, pc = self.player
        start = (pr, pc, 0 if standing[pr, pc] else 1)
        steps = {start: 0}
        first: dict[tuple[int, int, int], list[tuple[int, int]]] = {start: []}
        queue = deque([start])
        while queue:
            state = queue.popleft()
            r, c, height = state
            for dr, dc in ((0, -1), (0, 1), (-1, 0), (1, 0)):
                rr, cc = r + dr, c + dc
                if not (0 <= rr < n and 0 <= cc < n) or not free[rr, cc]:
                    continue
                if dr == -1 and height >= JUMP_CELLS:
                    continue
                nh = height + 1 if dr == -1 else JUMP_CELLS if dr == 1 else height
                if standing[rr, cc] and dr != -1:
                    nh = 0
                nxt = (rr, cc, nh)
                if nxt in steps:
                    continue
                steps[nxt] = steps[state] + 1
                first[nxt] = first[state] + [(dr, dc)] if len(first[state]) < 3 else first[state]
                queue.append(nxt)
        gx, gy = self.needle

        def score(state: tuple[int, int, int]) -> float:
            r, c, _ = state
            if self.goal is not None:
                return -3.0 * (abs(r - self.goal[0]) + abs(c - self.goal[1])) - 0.1 * steps[state]
            return (c - pc) * gx - (r - pr) * gy - PATH_COST * steps[state]

        return first[max(steps, key=score)]

    def action(self) -> int:
        """Left or right as the plan starts, jumping when it rises within two moves; toward the needle at the target."""
        if self.needle is None:
            return NOOP
        moves = self.plan()
        if moves:
            up = any(dr == -1 for dr, _ in moves[:2])
            sides = [dc for _, dc in moves if dc]
            side = sides[0] if sides else 0
        else:
            gx, gy = self.needle
            up = gy > 0.3
            side = 0 if self.goal is not None and self.goal[1] == self.player[1] else (1 if gx > 0 else -1)
        if side > 0:
            return RIGHT_UP if up else RIGHT
        if side < 0:
            return LEFT_UP if up else LEFT
        return UP if up else NOOP


def compass(frame: np.ndarray, task: str) -> tuple[float, float, float] | None:
    """(right, up, distance in units) toward the carrot from the compass, or None when its needle is not found."""
    scale = PARSE_SIZE / VIEW_UNITS[task]
    radius = COMPASS_UNITS[task] * scale / 2
    cy = (COMPASS_INSET * scale) + radius
    cx = PARSE_SIZE - COMPASS_INSET * scale - radius
    rows, cols = _grid()
    inside = (rows + 0.5 - cy) ** 2 + (cols + 0.5 - cx) ** 2 < (radius - 1) ** 2
    weight = np.clip(frame[..., 0] - frame[..., 2] - NEEDLE_RED_OVER_BLUE, 0, None) * inside
    total = float(weight.sum())
    if total == 0:
        return None
    dy = float((weight * (rows + 0.5 - cy)).sum()) / total
    dx = float((weight * (cols + 0.5 - cx)).sum()) / total
    norm = math.hypot(dx, dy) or 1.0
    top = round(cy + radius) + 1
    band = frame[top : top + max(2, int(COMPASS_UNITS[task] * scale / 8)), int(cx - radius) : int(cx + radius)]
    bar = ((band[..., 0] > BAR_COLOUR_MIN[0]) & (band[..., 2] < BAR_COLOUR_MIN[1])).any(axis=0).sum()
    distance = float(bar) / (COMPASS_UNITS[task] * scale) * WORLD_UNITS[task] * math.sqrt(2)
    return dx / norm, -dy / norm, distance


@functools.cache
def _grid() -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every pixel of a parse frame."""
    rows, cols = np.mgrid[0:PARSE_SIZE, 0:PARSE_SIZE]
    return rows.astype(np.float64), cols.astype(np.float64)


def grid_phase(mask: np.ndarray, cell: float) -> float:
    """Offset (pixels, in half-pixel steps below ``cell``) of the row edges that most of ``mask``'s edges fall on."""
    edges = np.abs(np.diff(mask.astype(np.int8), axis=0)).sum(axis=1)
    best, best_count = 0.0, -1
    for offset in np.arange(0.0, cell, 0.5):
        rows = np.round(np.arange(offset, PARSE_SIZE, cell)).astype(int) - 1
        count = int(edges[rows[(rows >= 0) & (rows < PARSE_SIZE - 1)]].sum())
        if count > best_count:
            best, best_count = float(offset), count
    return best


def parse_jumper(frame: np.ndarray, task: str = "easy") -> JumperView:
    """Walls, spikes, the player's cell, the needle and the carrot's cell (when in view) of a Jumper frame."""
    f = as_parse_frame(frame)
    scale = PARSE_SIZE / VIEW_UNITS[task]
    found = compass(f, task)
    counts = [int(near(f, colour, THEME_TOLERANCE).sum()) for colour in WALL_THEMES]
    wall = near(f, WALL_THEMES[int(np.argmax(counts))], WALL_TOLERANCE)
    edge = COMPASS_INSET * scale
    wall[
        : int(2 * edge + COMPASS_UNITS[task] * scale) + 2, int(PARSE_SIZE - 2 * edge - COMPASS_UNITS[task] * scale) :
    ] = False  # the compass and its bar
    n = math.ceil(PARSE_SIZE / scale) + 1
    row_of = np.floor((np.arange(PARSE_SIZE) - grid_phase(wall, scale)) / scale).astype(int) + 1
    col_of = np.floor((np.arange(PARSE_SIZE) - grid_phase(wall.T, scale)) / scale).astype(int) + 1
    cell = (row_of[:, None] * n + col_of[None, :]).ravel()

    def per_cell(mask: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=mask.ravel(), minlength=n * n).reshape(n, n)

    pixels = np.bincount(cell, minlength=n * n).reshape(n, n)
    walls = (per_cell(wall) >= WALL_SHARE * np.maximum(pixels, 1)) & (pixels > 0)
    red = (f[..., 0] > 170) & (f[..., 1] < 110) & (f[..., 2] < 110)
    spikes = (per_cell(red) >= SPIKE_PIXELS) & ~walls
    centre = PARSE_SIZE // 2
    player = (int(row_of[centre]), int(col_of[centre]))
    spikes[player] = False
    danger = spikes.copy()
    danger[:-1] |= spikes[1:]
    danger[:, 1:] |= spikes[:, :-1]
    danger[:, :-1] |= spikes[:, 1:]
    danger[player] = False
    if found is None:
        return JumperView(walls, danger, player, None)
    right, up, distance = found
    x, y = centre + right * distance * scale, centre - up * distance * scale
    goal = None
    if distance > 0 and 0 <= x < PARSE_SIZE and 0 <= y < PARSE_SIZE:
        goal = (int(row_of[int(y)]), int(col_of[int(x)]))
    return JumperView(walls, danger, player, (right, up), goal)


PARSERS: dict[str, Callable[[np.ndarray], JumperView]] = {"Jumper": parse_jumper}
"""The platformer this module's rule plays, with its frame parser (whose view's ``action()`` is the rule)."""
HARD_PARSERS: dict[str, Callable[[np.ndarray], JumperView]] = {"Jumper": functools.partial(parse_jumper, task="hard")}
"""``hard`` shows 16 units across (8 px a unit) and a smaller compass: the task, not the picture, says which."""
EASY_ONLY: frozenset[str] = frozenset()
"""Games whose rule was measured above random on ``easy`` only."""
