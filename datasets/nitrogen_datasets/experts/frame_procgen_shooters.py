"""Frame rules for Procgen's side-scrolling shooter StarPilot (the frame expert's rules; see frame_procgen).

Why: the frame expert (:mod:`nitrogen_datasets.experts.frame_procgen`) had no rule for the shooters: constant fire
does not beat random because the ship dies in 20-110 steps, so a rule must dodge. Like the other rules, this one
is a pure function of the current frame (no save state, no engine state, no randomness, no memory).

* ``StarPilot`` (``easy`` and ``hard``) — the player's light-blue ship flies anywhere on the screen; enemies come
  from the right (``hard``: a few from the left, and meteors, clouds and turrets), each firing once, aimed at the
  player. Sprites are found by contrast against the blurred background (the space pictures share the sprites'
  colours, but not their sharp edges), grouped into blobs; orange in the player's row ahead of it (or a long
  orange train) is its own shots, another small orange blob an enemy bullet, any other blob of sprite size an
  enemy unless its hue is the background's tint there (a nebula's star). Each of the nine
  choices (fire in place, or one of the eight moves) is scored by how close it would come, over the next few
  steps, to a threat moving as predicted (an enemy left at the flyers' speed, a bullet straight at the player at
  the bullets' speed); among the choices that keep clear, it fires when an enemy is ahead in its row, else moves
  toward the row of the nearest enemy ahead while keeping to the left of the screen. With no choice clear it
  takes the one that keeps farthest.

BossFight has no rule (constant fire scores 0 like random: a rule must find one of four ship themes whose
colours the boss's lasers share, and dodge its attack patterns).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nitrogen_datasets.experts.frame_procgen import FIRE, NOOP, PARSE_SIZE, as_parse_frame, blobs

# -- StarPilot ----------------------------------------------------------------------------------------

STARPILOT_MOVES: tuple[tuple[int, int, int], ...] = (
    (0, 0, FIRE),
    (-1, 0, 5),
    (1, 0, 3),
    (0, -1, 1),
    (0, 1, 7),
    (-1, -1, 2),
    (-1, 1, 8),
    (1, -1, 0),
    (1, 1, 6),
)
"""(row sign, column sign, native action) of the nine choices: fire in place first (it wins ties), then UP, DOWN,
LEFT, RIGHT and the diagonals LEFT+UP, RIGHT+UP, LEFT+DOWN, RIGHT+DOWN."""
STARPILOT_PLAYER_MIN = (190, 10, 15)
"""The player's ship: blue at least the first value, above green by the second and above red by the third (the
background's bright stars are whiter or greener: their green is at least their blue)."""
STARPILOT_PLAYER_REACH = 6
"""Player pixels lie within this many pixels of the densest one (a stray blue star elsewhere is dropped)."""
STARPILOT_CONTRAST = 45
"""A sprite pixel is brighter (its brightest channel) than the 9x9 average around it by at least this much."""
STARPILOT_BLUR = 4
"""Half the side of the box the background is averaged over (pixels)."""
STARPILOT_SMALLEST = (4, 10)
"""Orange blobs of fewer pixels than the first value, and other blobs of fewer than the second, are not read: the
background's stars (a flyer shows about 30 pixels, a bullet 10-18, less where it crosses the player's own shots)."""
STARPILOT_TRAIN = 2.5
"""An orange blob this many times wider than tall is a train of the player's shots (left where it was fired)."""
STARPILOT_TINT_BOX = 7
"""Half the side of the box the background's tint is averaged over (pixels)."""
STARPILOT_TINT = (12.0, 0.8)
"""A blob is a star when both its hue and the background's tint are at least the first value from grey and their
cosine is at least the second."""
STARPILOT_BULLET_MOST = 26
"""An orange blob of at most this many pixels is a bullet; a larger one is an enemy (or an explosion)."""
STARPILOT_OWN_ROWS = 2
"""Orange pixels within this many rows of the player's centre and ahead of it are its own shots (a train of them
merges into one long blob), so they are not read (an enemy bullet there shows only the part outside the band)."""
STARPILOT_SPEEDS = {"enemy": 2.4, "bullet": 4.0}
"""Pixels per step the threats are predicted to move: flyers leftward, bullets straight at the player (easy
speeds: flyers 0.3 and bullets 0.5 of the world's 16 units per step; hard's are faster, the margin covers some)."""
STARPILOT_RADIUS = {"enemy": 8.0, "bullet": 6.5}
"""Distance (pixels, centre to centre) under which a threat is counted as a hit on the player."""
STARPILOT_STEP = 4.0
"""Pixels the player is predicted to move per step when pressing a direction (measured: about 5 at full speed, after 2-3 steps)."""
STARPILOT_HORIZON = 4
"""Steps ahead each choice is scored over."""
STARPILOT_CLEAR = 4.0
"""A choice keeps clear when its closest predicted approach stays this many pixels beyond the hit distance."""
STARPILOT_FIRE_CLEAR = 0.0
"""Firing at an enemy ahead in the row needs only this clearance (shots kill what would come close)."""
STARPILOT_HOME = 36
"""The column the player keeps to when nothing is to be dodged: room to see and shoot what comes from the right."""
STARPILOT_ALIGN = 3
"""Fire when an enemy ahead is within this many rows of the player's centre."""
STARPILOT_EDGE = 2
"""The player's centre stays this many pixels inside the frame."""
STARPILOT_WALLS = (16, 44, 10)
"""Pixels from the left edge, the right edge, and the top and bottom edges, that count like a threat's hit
distance: a ship pressed to an edge has fewer ways out, and enemies enter at the right edge unseen."""


@dataclass(frozen=True)
class Threat:
    """A blob that kills the player on contact: its centre (row, column, pixels at 128 px) and its kind."""

    row: float
    column: float
    kind: str  # "enemy" or "bullet"


@dataclass(frozen=True)
class StarPilotView:
    """What a StarPilot frame shows: the player's ship centre (row, column) or None, and the threats."""

    player: tuple[float, float] | None
    threats: tuple[Threat, ...] = ()

    def predicted(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, columns and hit distances of the threats ``k`` steps on (enemies leftward, bullets at the player)."""
        assert self.player is not None
        row, col = self.player
        tr = np.array([t.row for t in self.threats])
        tc = np.array([t.column for t in self.threats])
        bullet = np.array([t.kind == "bullet" for t in self.threats])
        speed = np.where(bullet, STARPILOT_SPEEDS["bullet"], STARPILOT_SPEEDS["enemy"]) * k
        dist = np.maximum(np.hypot(row - tr, col - tc), 1.0)
        step = np.minimum(speed, dist)
        rows = np.where(bullet, tr + (row - tr) / dist * step, tr)
        cols = np.where(bullet, tc + (col - tc) / dist * step, tc - speed)
        return rows, cols, np.where(bullet, STARPILOT_RADIUS["bullet"], STARPILOT_RADIUS["enemy"])

    def clearance(self, d_row: int, d_col: int) -> float:
        """Closest predicted approach to any threat, less its hit distance, over the horizon for one choice."""
        assert self.player is not None
        row, col = self.player
        lo, hi = STARPILOT_EDGE, PARSE_SIZE - STARPILOT_EDGE
        norm = float(np.hypot(d_row, d_col)) or 1.0
        worst = float("inf")
        for k in range(1, STARPILOT_HORIZON + 1):
            r = min(max(row + d_row / norm * STARPILOT_STEP * k, lo), hi)
            c = min(max(col + d_col / norm * STARPILOT_STEP * k, lo), hi)
            left, right, edge = STARPILOT_WALLS
            worst = min(worst, c - left, PARSE_SIZE - right - c, r - edge, PARSE_SIZE - edge - r)
            if self.threats:
                tr, tc, reach = self.predicted(k)
                worst = min(worst, float((np.hypot(r - tr, c - tc) - reach).min()))
        return worst

    def action(self) -> int:
        """Of the choices that keep clear, fire at an enemy ahead in the row, else head for one's row; else flee."""
        if self.player is None:
            return NOOP
        row, col = self.player
        scored = [(self.clearance(dr, dc), dr, dc, a) for dr, dc, a in STARPILOT_MOVES]
        ahead = [t for t in self.threats if t.kind == "enemy" and t.column > col + 4]
        if any(abs(t.row - row) <= STARPILOT_ALIGN for t in ahead) and scored[0][0] >= STARPILOT_FIRE_CLEAR:
            return FIRE
        clear = [s for s in scored if s[0] >= STARPILOT_CLEAR]
        if not clear:
            return max(scored, key=lambda s: s[0])[3]
        goal_row = min(ahead, key=lambda t: t.column).row if ahead else row
        lo, hi = STARPILOT_EDGE, PARSE_SIZE - STARPILOT_EDGE

        def cost(s: tuple[float, int, int, int]) -> float:
            r = min(max(row + s[1] * STARPILOT_STEP, lo), hi)
            c = min(max(col + s[2] * STARPILOT_STEP, lo), hi)
            return abs(goal_row - r) + 0.5 * abs(STARPILOT_HOME - c)

        return min(clear, key=cost)[3]


def box_mean(values: np.ndarray, half: int) -> np.ndarray:
    """Mean of ``values`` over the (2 half + 1)-square around each pixel (edges padded by repetition)."""
    side = 2 * half + 1
    padded = np.pad(values.astype(np.float64), half, mode="edge")
    sums = padded.cumsum(axis=0).cumsum(axis=1)
    sums = np.pad(sums, ((1, 0), (1, 0)))
    n = values.shape[0]
    return (
        sums[side : side + n, side : side + n] - sums[:n, side : side + n] - sums[side : side + n, :n] + sums[:n, :n]
    ) / (side * side)


def star_like(colour: np.ndarray, tint: np.ndarray) -> bool:
    """Whether a blob of mean ``colour`` is a star of a tinted background: its hue is the background's there.

    ``tint`` is the background's colour around the blob less its grey; a star is the nebula's colour made brighter,
    while a flyer is grey, white or painted its own colour.
    """
    hue = colour - colour.mean()
    strength = float(np.linalg.norm(tint))
    if strength < STARPILOT_TINT[0] or float(np.linalg.norm(hue)) < STARPILOT_TINT[0]:
        return False
    return float(hue @ tint) / (float(np.linalg.norm(hue)) * strength) >= STARPILOT_TINT[1]


def orange(pixels: np.ndarray) -> np.ndarray:
    """Which of the (n, 3) pixels are the bullets' orange (red high, blue low)."""
    return (pixels[:, 0] >= 180) & (pixels[:, 0] - pixels[:, 2] >= 90) & (pixels[:, 1] <= pixels[:, 0] - 20)


def parse_starpilot(frame: np.ndarray) -> StarPilotView:
    """The player's ship and the threats (enemies and enemy bullets) of a StarPilot frame."""
    f = as_parse_frame(frame)
    b_min, over_green, over_red = STARPILOT_PLAYER_MIN
    ship = (f[..., 2] >= b_min) & (f[..., 2] - f[..., 1] >= over_green) & (f[..., 2] - f[..., 0] >= over_red)
    rows, cols = np.nonzero(ship)
    if len(rows) == 0:
        return StarPilotView(None)
    near_counts = [
        (np.abs(rows - r) <= STARPILOT_PLAYER_REACH) & (np.abs(cols - c) <= STARPILOT_PLAYER_REACH)
        for r, c in zip(rows, cols, strict=True)
    ]
    keep = near_counts[int(np.argmax([m.sum() for m in near_counts]))]
    prow, pcol = float(rows[keep].mean()), float(cols[keep].mean())
    bright = f.max(axis=2)
    sprite = bright - box_mean(bright, STARPILOT_BLUR) >= STARPILOT_CONTRAST
    band = slice(max(round(prow) - STARPILOT_OWN_ROWS, 0), round(prow) + STARPILOT_OWN_ROWS + 1)
    ahead = slice(int(pcol) + 1, None)
    sprite[band, ahead] &= ~orange(f[band, ahead].reshape(-1, 3)).reshape(sprite[band, ahead].shape)  # own shots
    grown = sprite.copy()  # blobs a pixel apart are one sprite (a flyer's parts, split by its dark panels)
    grown[1:] |= sprite[:-1]
    grown[:-1] |= sprite[1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    tint = np.stack([box_mean(f[..., k], STARPILOT_TINT_BOX) for k in range(3)], axis=2)
    tint -= tint.mean(axis=2, keepdims=True)
    threats = []
    for gr, gc in blobs(grown):
        inside = sprite[gr, gc]
        br, bc = gr[inside], gc[inside]
        if len(br) == 0:
            continue
        r, c = float(br.mean()), float(bc.mean())
        if abs(r - prow) <= STARPILOT_PLAYER_REACH and abs(c - pcol) <= STARPILOT_PLAYER_REACH:
            continue  # the player's own ship
        is_orange = orange(f[br, bc]).mean() >= 0.5
        if len(br) < STARPILOT_SMALLEST[0 if is_orange else 1]:
            continue
        height, width = int(np.ptp(br)) + 1, int(np.ptp(bc)) + 1
        if is_orange and width >= STARPILOT_TRAIN * height:
            continue  # a train of the player's own shots, left in the row it was fired from
        if not is_orange and star_like(f[br, bc].mean(axis=0), tint[int(r), int(c)]):
            continue
        if is_orange and len(br) <= STARPILOT_BULLET_MOST:
            threats.append(Threat(r, c, "bullet"))
        else:
            threats.append(Threat(r, c, "enemy"))
    return StarPilotView((prow, pcol), tuple(threats))


PARSERS: dict[str, Callable[[np.ndarray], StarPilotView]] = {"StarPilot": parse_starpilot}
"""The shooters this module's rules play, each with its frame parser (whose view's ``action()`` is the rule)."""
EASY_ONLY: frozenset[str] = frozenset()
"""Games whose rule was measured above random on ``easy`` only."""
