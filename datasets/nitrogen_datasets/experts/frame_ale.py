"""An Atari demonstrator that sees only the current screen: its action is a function of the picture.

Why: the save-state planner's labels are near-uniform and cannot be read from the frame (docs/results.md
section 11: the cloned policy played one constant action). This expert parses the 210x160 RGB screen by
colour and position (no save state, no RAM, no random draws, no memory between steps) and answers with a
rule per game, so the same screen always gets the same action.

Rules (colours measured on ALE screens; rows and columns are screen pixels):

* ``Pong`` — move the green paddle toward the ball's row (toward the middle while no ball is in play).
* ``SpaceInvaders`` — step away from an enemy shot falling over the cannon; else move under the nearest
  column of invaders and fire.
* ``Seaquest`` — surface when the oxygen bar is short; else swim to the row of the nearest enemy and fire
  toward it.
* ``MsPacman`` — a breadth-first distance field over the maze parsed from the screen (walls are the large
  wall-coloured blobs, pellets the small ones) to the nearest pellet, around the ghosts; step downhill.
* ``Enduro`` — accelerate, steering away from a car ahead in the player's lane.
* ``Freeway`` — walk up, waiting while a car in the lane above is about to reach the chicken's column.
* ``Asteroids`` — turn and fire while a rock is on screen (the game draws rocks and the ship on alternate
  frames, so the ship's heading is not readable from one screen); thrust away from a rock next to the ship.
* ``BeamRider`` — move under the nearest enemy saucer and fire when aligned.

``MontezumaRevenge`` has no rule (a frame-only rule that reaches the first key did not fit the time; random
play and the planner score 0 there too): the expert refuses it with :class:`ExpertUnsupported`.

Frames: the rules read the native 210x160 screen. An env made with ``obs_size="native"`` hands it over as the
observation; at any other size (the gate records 64 px frames) the expert reads the same picture from the
emulator's screen buffer (``ALE.getScreenRGB``: the screen the observation was resized from, not RAM).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_datasets.experts.base import unwrap
from nitrogen_datasets.experts.errors import ExpertNotReset, ExpertUnsupported
from nitrogen_envs import gamepad
from nitrogen_envs.engines.ale import AtariEnv

SCREEN = (210, 160)
"""The native Atari screen (rows, columns) the rules read."""


def colour(screen: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 0) -> np.ndarray:
    """Pixels within ``tolerance`` of ``rgb`` in every channel."""
    if tolerance == 0:
        return np.all(screen == np.array(rgb, dtype=screen.dtype), axis=2)
    return np.all(np.abs(screen.astype(np.int16) - np.array(rgb, dtype=np.int16)) <= tolerance, axis=2)


def centre(mask: np.ndarray) -> tuple[float, float] | None:
    """Mean (row, column) of ``mask``'s pixels, or None when it is empty."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return None
    return float(rows.mean()), float(cols.mean())


def steer(dx: float, dead: float, fire: bool = False) -> str:
    """``RIGHT``/``LEFT`` toward a horizontal offset ``dx`` beyond ``dead`` pixels, with ``FIRE`` if ``fire``."""
    return combine("", "RIGHT" if dx > dead else "LEFT" if dx < -dead else "", fire)


def combine(vertical: str, horizontal: str, fire: bool) -> str:
    """ALE's name for a direction (``UP``/``DOWN``/``""`` with ``RIGHT``/``LEFT``/``""``), plus FIRE."""
    name = vertical + horizontal
    if fire:
        return name + "FIRE" if name else "FIRE"
    return name or "NOOP"


# -- Pong ----------------------------------------------------------------------------------------------

PONG_FIELD = (34, 194)
"""Rows between the top and bottom walls."""
PONG_PLAYER = (92, 186, 92)
PONG_BALL = (236, 236, 236)


def rule_pong(screen: np.ndarray) -> str:
    """The paddle (columns 140-143) toward the ball's row; ``RIGHT`` moves it up, ``LEFT`` down."""
    field = screen[PONG_FIELD[0] : PONG_FIELD[1]]
    paddle = centre(colour(field[:, 140:144], PONG_PLAYER))
    ball = centre(colour(field[:, :140], PONG_BALL))
    if paddle is None:
        return "NOOP"
    target = ball[0] if ball is not None else (PONG_FIELD[1] - PONG_FIELD[0]) / 2
    gap = target - paddle[0]
    return "LEFT" if gap > 3 else "RIGHT" if gap < -3 else "NOOP"


# -- SpaceInvaders -------------------------------------------------------------------------------------

INVADER = (134, 134, 29)
CANNON = (50, 132, 50)
CANNON_ROWS = (185, 195)
SHIELD = (181, 83, 40)
SHOT_ROWS = (140, 185)
"""Rows where an enemy shot threatens the cannon (below the shields' top)."""


def rule_space_invaders(screen: np.ndarray) -> str:
    """Dodge a shot over the cannon; else move under the nearest invader column no shield covers, firing."""
    cannon = centre(colour(screen[CANNON_ROWS[0] : CANNON_ROWS[1]], CANNON))
    if cannon is None:
        return "FIRE"
    x = cannon[1]
    band = screen[SHOT_ROWS[0] : SHOT_ROWS[1]]
    # any shot, the cannon's own rising one too: stepping aside releases the button, which fires once per press
    shots = np.any(band > 0, axis=2) & ~colour(band, SHIELD) & ~colour(band, CANNON)
    _, shot_cols = np.nonzero(shots[:, max(0, int(x) - 6) : int(x) + 7])
    if len(shot_cols):  # a shot over the cannon: step to the side it is not on
        return "LEFT" if shot_cols.mean() + max(0, int(x) - 6) >= x else "RIGHT"
    _, cols = np.nonzero(colour(screen[30 : CANNON_ROWS[0]], INVADER))
    if len(cols) == 0:
        return "FIRE"
    covered = colour(screen[150 : CANNON_ROWS[0]], SHIELD).any(axis=0)  # a shield would stop the shot
    covered = np.convolve(covered, np.ones(5), mode="same") > 0
    open_cols = cols[~covered[cols]]
    if len(open_cols) == 0:
        return "FIRE"
    target = open_cols[np.argmin(np.abs(open_cols - x))]
    return steer(float(target - x), 2, fire=True)


# -- Seaquest ------------------------------------------------------------------------------------------

SEA_ROWS = (46, 140)
"""Rows of open water the sub and its enemies swim in."""
SUB = (187, 187, 53)
WATER = (0, 28, 136)
DIVER = (66, 72, 200)
OXYGEN = (214, 214, 214)
OXYGEN_ROWS = (170, 175)
OXYGEN_LOW = 16
"""Surface when the oxygen bar is shorter than this many pixels (full: 64)."""


def rule_seaquest(screen: np.ndarray) -> str:
    """Surface on low oxygen; else to the nearest enemy's row, facing it, firing."""
    sea = screen[SEA_ROWS[0] : SEA_ROWS[1]]
    sub_mask = colour(sea, SUB)
    sub = centre(sub_mask)
    if sub is None:
        return "FIRE"
    oxygen = int(colour(screen[OXYGEN_ROWS[0] : OXYGEN_ROWS[1]], OXYGEN).any(axis=0).sum())
    if oxygen < OXYGEN_LOW and sub[0] > 14:
        return "UP"
    others = ~colour(sea, WATER) & ~sub_mask & ~colour(sea, DIVER) & np.any(sea > 0, axis=2)
    others[:, :8] = False
    others[:14] = False  # the surface band
    rows, cols = np.nonzero(others)
    if len(rows) == 0:
        return combine("DOWN" if sub[0] < 40 else "", "", True)
    nearest = int(np.argmin(np.abs(rows - sub[0]) * 2 + np.abs(cols - sub[1])))
    dy, dx = rows[nearest] - sub[0], cols[nearest] - sub[1]
    vertical = "DOWN" if dy > 4 else "UP" if dy < -4 else ""
    horizontal = "RIGHT" if dx > 0 else "LEFT"
    if abs(dx) < 24 and vertical:  # too close to line up: back off along the row
        horizontal = "LEFT" if dx > 0 else "RIGHT"
    return combine(vertical, horizontal, True)


# -- MsPacman ------------------------------------------------------------------------------------------

MAZE_ROWS = 172
WALL = (228, 111, 111)
PACMAN = (210, 164, 74)
GHOSTS = ((200, 72, 72), (198, 89, 179), (180, 122, 48), (84, 184, 153))
PELLET_MAX = 8
"""Wall-coloured blobs of at most this many pixels are pellets (a pellet is 4x2; walls are large blobs)."""
GHOST_RADIUS = 10
"""Pixels around a ghost the search treats as walls."""
CELL = 2
"""The distance field's grid: screen pixels per cell (each way)."""


def blob_sizes(mask: np.ndarray) -> np.ndarray:
    """Each pixel's 4-connected component size in ``mask`` (0 outside it), by union-find over row runs."""
    labels = np.zeros(mask.shape, dtype=np.int64)
    parent = [0]

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for r in range(mask.shape[0]):
        row = mask[r]
        if not row.any():
            continue
        edges = np.flatnonzero(np.diff(np.concatenate(([0], row.astype(np.int8), [0]))))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            label = len(parent)
            parent.append(label)
            labels[r, start:stop] = label
            if r:
                for above in np.unique(labels[r - 1, start:stop]):
                    if above:
                        a, b = find(int(above)), find(label)
                        if a != b:
                            parent[max(a, b)] = min(a, b)
    roots = np.array([find(i) for i in range(len(parent))])
    flat = roots[labels]
    sizes = np.bincount(flat.ravel(), minlength=len(parent))
    sizes[0] = 0
    return sizes[flat]


def rule_ms_pacman(screen: np.ndarray) -> str:
    """One step down the distance field to the nearest pellet, walls and ghosts' surroundings closed."""
    maze = screen[:MAZE_ROWS]
    pac = centre(colour(maze, PACMAN))
    if pac is None:
        return "NOOP"
    walls_all = colour(maze, WALL)
    sizes = blob_sizes(walls_all)
    pellets = walls_all & (sizes <= PELLET_MAX)
    walls = walls_all & (sizes > PELLET_MAX)
    ghost = np.zeros_like(walls)
    for rgb in GHOSTS:
        ghost |= colour(maze, rgb)
    # the cells the sprite's centre may occupy: no wall within 3 px (the sprite is about 7 px wide)
    blocked = walls.copy()
    for shift in (1, 2, 3):
        blocked[shift:] |= walls[:-shift]
        blocked[:-shift] |= walls[shift:]
    wide = blocked.copy()
    for shift in (1, 2, 3):
        wide[:, shift:] |= blocked[:, :-shift]
        wide[:, :-shift] |= blocked[:, shift:]
    danger = ghost.copy()
    for _ in range(GHOST_RADIUS):
        grown = danger.copy()
        grown[1:] |= danger[:-1]
        grown[:-1] |= danger[1:]
        grown[:, 1:] |= danger[:, :-1]
        grown[:, :-1] |= danger[:, 1:]
        danger = grown
    h, w = MAZE_ROWS // CELL, maze.shape[1] // CELL
    shrink = lambda m: m[: h * CELL, : w * CELL].reshape(h, CELL, w, CELL).any(axis=(1, 3))  # noqa: E731
    free = ~shrink(wide) | shrink(pellets)
    closed = ~free | shrink(danger)
    here = (min(int(pac[0]) // CELL, h - 1), min(int(pac[1]) // CELL, w - 1))
    closed[here] = False
    field = np.full((h, w), -1, dtype=np.int64)
    front = shrink(pellets) & ~closed
    if not front.any():
        return "NOOP"
    field[front] = 0
    for d in range(1, h * w):
        grown = front.copy()
        grown[1:] |= front[:-1]
        grown[:-1] |= front[1:]
        grown[:, 1:] |= front[:, :-1]
        grown[:, :-1] |= front[:, 1:]
        grown &= ~closed & (field < 0)
        if not grown.any():
            break
        field[grown] = d
        front = grown
        if field[here] >= 0:
            break
    best, action = None, "NOOP"
    for dr, dc, name in ((-1, 0, "UP"), (1, 0, "DOWN"), (0, -1, "LEFT"), (0, 1, "RIGHT")):
        r, c = here[0] + dr, (here[1] + dc) % w
        if 0 <= r < h and field[r, c] >= 0 and (best is None or field[r, c] < best):
            best, action = int(field[r, c]), name
    return action


# -- Enduro --------------------------------------------------------------------------------------------

GRASS = (0, 68, 0)
ENDURO_CAR_ROWS = (100, 145)
"""Rows ahead of the player's car where another car is worth steering around."""
PLAYER_CAR = (192, 192, 192)
ROAD_EDGES = ((74, 74, 74), (111, 111, 111), (170, 170, 170), (192, 192, 192))


def rule_enduro(screen: np.ndarray) -> str:
    """Accelerate; steer away from a car ahead within the player's width, toward the road's middle otherwise."""
    player = centre(colour(screen[139:155, 8:], PLAYER_CAR))
    if player is None:
        return "FIRE"
    x = player[1] + 8
    band = screen[ENDURO_CAR_ROWS[0] : ENDURO_CAR_ROWS[1], 8:]
    cars = ~colour(band, GRASS) & np.any(band > 0, axis=2)
    for rgb in ROAD_EDGES:
        cars &= ~colour(band, rgb)
    cols = np.nonzero(cars)[1] + 8
    if len(cols):
        near = np.abs(cols - x) < 20
        if near.any():
            return "LEFTFIRE" if cols[near].mean() >= x else "RIGHTFIRE"
    return steer(80.0 - x, 12, fire=True)


# -- Freeway -------------------------------------------------------------------------------------------

CHICKEN = (252, 252, 84)
CHICKEN_COLS = (40, 52)
ROAD_GREYS = ((142, 142, 142), (170, 170, 170), (214, 214, 214), (0, 0, 0), CHICKEN)
LOOK = 14
MEDIAN_ROWS = (101, 106)
FREEWAY_SIDE = 1
LANES_TOP = 22
"""The first lane's top row (the score is drawn above it)."""
"""Rows above the chicken's top that count as the next lane."""
FREEWAY_GAP = 6
"""A car this close (pixels) to the chicken's column in the next lane makes it wait."""


def rule_freeway(screen: np.ndarray) -> str:
    """Up, unless a car in the lane just above is within :data:`FREEWAY_GAP` columns of the chicken."""
    body = colour(screen[:195, CHICKEN_COLS[0] : CHICKEN_COLS[1]], CHICKEN)
    body[MEDIAN_ROWS[0] : MEDIAN_ROWS[1]] = False  # the yellow median stripe
    rows, cols = np.nonzero(body)
    if len(rows) == 0:
        return "UP"
    top = int(rows.min())
    x = float(cols.mean()) + CHICKEN_COLS[0]
    lane = screen[max(top - LOOK, LANES_TOP) : top + 2, 8:]
    cars = np.ones(lane.shape[:2], dtype=bool)
    for rgb in ROAD_GREYS:
        cars &= ~colour(lane, rgb)
    _, car_cols = np.nonzero(cars)
    # cars above the median drive right to left, below it left to right: only a car still upstream comes
    ahead = (car_cols + 8 - x) * (1 if top - LOOK // 2 < MEDIAN_ROWS[0] else -1) * FREEWAY_SIDE
    if np.any((ahead > -4) & (ahead < FREEWAY_GAP)):
        return "NOOP"
    return "UP"


# -- Asteroids -----------------------------------------------------------------------------------------

SHIP = (240, 128, 128)
SHOT = (117, 181, 239)
ASTEROID_ROWS = (18, 195)
ASTEROIDS_TURN = "LEFT"


def rule_asteroids(screen: np.ndarray) -> str:
    """Fire when none of the ship's shots is in flight, else turn (sweeping the shots around the ship).

    At the env's frame skip of 4 every screen is one the game draws the ship and its shots on, never the
    rocks (they flicker on the other frames), so the rule cannot aim: it keeps the fire rate up while turning.
    """
    field = screen[ASTEROID_ROWS[0] : ASTEROID_ROWS[1]]
    if colour(field, SHOT).any():
        return ASTEROIDS_TURN
    return "FIRE"


# -- BeamRider -----------------------------------------------------------------------------------------

BEAM_SHIP = (210, 210, 64)
SAUCER = (236, 236, 236)
BEAM_ROWS = (44, 165)


def rule_beam_rider(screen: np.ndarray) -> str:
    """Move under the lowest saucer; fire when within a beam's width of it (fire to start a sector)."""
    ship = centre(colour(screen[165:185], BEAM_SHIP))
    if ship is None:
        return "FIRE"
    rows, cols = np.nonzero(colour(screen[BEAM_ROWS[0] : BEAM_ROWS[1]], SAUCER))
    if len(rows) == 0:
        return "FIRE"
    lowest = rows == rows.max()
    dx = float(cols[lowest].mean()) - ship[1]
    return "FIRE" if abs(dx) < 8 else "RIGHT" if dx > 0 else "LEFT"


RULES: dict[str, Callable[[np.ndarray], str]] = {
    "Pong": rule_pong,
    "SpaceInvaders": rule_space_invaders,
    "Seaquest": rule_seaquest,
    "MsPacman": rule_ms_pacman,
    "Enduro": rule_enduro,
    "Freeway": rule_freeway,
    "Asteroids": rule_asteroids,
    "BeamRider": rule_beam_rider,
}
"""The Atari games this expert plays, each with its rule (screen -> ALE action name)."""


def frame_action(game: str, screen: np.ndarray) -> str:
    """The expert's ALE action name for one native screen of ``game``: a pure function of the picture.

    Raises:
        ExpertUnsupported: ``screen`` is not a 210x160 RGB image.
    """
    if screen.shape != (*SCREEN, 3):
        raise ExpertUnsupported(f"the Atari frame expert reads the 210x160 RGB screen, got shape {screen.shape}")
    return RULES[game](screen)


def unsupported_message(game: str) -> str:
    """The one-line refusal for a game without a rule."""
    return f"the frame expert plays {', '.join(sorted(RULES))} on ALE; use 'planner' or 'random' for {game}"


class AleFrameExpert:
    """Plays Atari games from the current screen alone (see the module docstring).

    ``reset`` binds the env's game and action table; nothing about the episode is read from it.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)  # unused by the rules (deterministic); kept for the registry's signature
        self._env: AtariEnv | None = None
        self._game = ""
        self._index: dict[str, int] = {}

    def reset(self, env: gym.Env, seed: int | None) -> None:
        """Bind to ``env``'s game.

        Raises:
            ExpertUnsupported: not an Atari game with a rule.
        """
        base = unwrap(env, engines=("ale",))
        if not isinstance(base, AtariEnv):
            raise ExpertUnsupported(f"the Atari frame expert plays AtariEnv games, got {type(base).__name__}")
        if base.spec_game.name not in RULES:
            raise ExpertUnsupported(unsupported_message(base.spec_game.name))
        self._env, self._game = base, base.spec_game.name
        self._index = {name: i for i, name in enumerate(base.native_action_names())}

    def screen(self, obs: np.ndarray) -> np.ndarray:
        """The native screen: ``obs`` itself at 210x160, else the emulator's screen buffer (the same picture)."""
        if obs.shape == (*SCREEN, 3):
            return obs
        if self._env is None:
            raise ExpertNotReset("call expert.reset(env, seed) after env.reset() and before act()")
        return np.asarray(self._env._engine.ale.getScreenRGB())

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> gamepad.GamepadDict:
        """The gamepad action for the current screen (``info`` is not read)."""
        if self._env is None:
            raise ExpertNotReset("call expert.reset(env, seed) after env.reset() and before act()")
        name = frame_action(self._game, self.screen(obs))
        return self._env.native_to_gamepad(self._index.get(name, self._index.get("NOOP", 0)))
