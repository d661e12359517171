"""The frame expert's shooter rules (frame_procgen_shooters): pure functions of a frame, and how they act."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import nitrogen_envs  # noqa: F401  (registers the NitroGen envs)
from nitrogen_datasets.experts.frame_procgen import FIRE, PARSE_SIZE
from nitrogen_datasets.experts.frame_procgen_shooters import PARSERS, StarPilotView, Threat, blobs, parse_starpilot

ENEMY = np.array([[228, 228, 228], [200, 60, 60]], dtype=np.uint8)
"""A flyer's white and red, as rendered (one of its themes)."""
BULLET = np.array([255, 150, 30], dtype=np.uint8)
"""The bullets' orange."""


@pytest.fixture(scope="module")
def start_frame() -> np.ndarray:
    """A real StarPilot ``easy`` frame at reset: the player's ship and no enemy yet (they spawn after 10 steps)."""
    env = gym.make("NitroGen/StarPilot-v0", obs_size=PARSE_SIZE, task="easy")
    try:
        obs, _ = env.reset(seed=1)  # the ship starts at the left, mid-height
    finally:
        env.close()
    return np.asarray(obs)


def paint_enemy(frame: np.ndarray, row: int, col: int) -> np.ndarray:
    """``frame`` with a 7x7 flyer (white hull, red stripes) centred at (row, col)."""
    out = frame.copy()
    out[row - 3 : row + 4, col - 3 : col + 4] = ENEMY[0]
    out[row - 3 : row + 4 : 3, col - 3 : col + 4] = ENEMY[1]
    return out


def paint_bullet(frame: np.ndarray, row: int, col: int) -> np.ndarray:
    """``frame`` with a 4x4 orange bullet centred near (row, col)."""
    out = frame.copy()
    out[row - 2 : row + 2, col - 2 : col + 2] = BULLET
    return out


def test_registered() -> None:
    assert {"StarPilot": parse_starpilot} == PARSERS


def test_deterministic_and_valid(start_frame: np.ndarray) -> None:
    view = parse_starpilot(start_frame)
    assert view.player is not None
    actions = {parse_starpilot(start_frame.copy()).action() for _ in range(3)}
    assert len(actions) == 1 and 0 <= actions.pop() < 15


def test_no_player_is_noop() -> None:
    assert StarPilotView(None).action() == 4


def test_fires_at_enemy_ahead_in_its_row(start_frame: np.ndarray) -> None:
    view = parse_starpilot(start_frame)
    assert view.player is not None and not view.threats
    assert view.action() != FIRE  # nothing to shoot at: it heads for its column instead
    row, col = (round(x) for x in view.player)
    frame = paint_enemy(start_frame, row, col + 40)
    seen = parse_starpilot(frame)
    assert any(t.kind == "enemy" and abs(t.row - seen.player[0]) <= 3 for t in seen.threats)  # type: ignore[index]
    assert seen.action() == FIRE


def test_moves_away_from_a_bullet(start_frame: np.ndarray) -> None:
    view = parse_starpilot(start_frame)
    assert view.player is not None
    row, col = (round(x) for x in view.player)
    frame = paint_bullet(start_frame, row - 9, col - 9)  # up-left of the ship, heading at it
    seen = parse_starpilot(frame)
    assert any(t.kind == "bullet" for t in seen.threats)
    action = seen.action()
    assert action != FIRE
    before = seen.clearance(0, 0)
    moves = {5: (-1, 0), 3: (1, 0), 1: (0, -1), 7: (0, 1), 2: (-1, -1), 8: (-1, 1), 0: (1, -1), 6: (1, 1)}
    assert seen.clearance(*moves[action]) > before


def test_view_clearance_prefers_dodging_sideways() -> None:
    view = StarPilotView((64.0, 40.0), (Threat(64.0, 50.0, "bullet"),))  # a bullet close ahead in the row
    assert view.clearance(-1, 0) > view.clearance(0, 0)
    assert view.action() not in (FIRE, 7, 8, 6)  # not standing, not toward it (back off, or up or down)


def test_blobs_are_8_connected() -> None:
    mask = np.zeros((PARSE_SIZE, PARSE_SIZE), dtype=bool)
    mask[2:5, 2:5] = True
    mask[10, 10] = mask[11, 11] = True  # diagonal neighbours: one blob
    mask[20:22, 30:40] = True
    sizes = sorted(len(rows) for rows, _ in blobs(mask))
    assert sizes == [2, 9, 20]
