"""The frame expert: its action is a function of the picture alone, and its parsers read rendered frames."""

import gymnasium as gym
import numpy as np
import pytest
from fixtures.games import installed_games

from nitrogen_datasets.experts import ExpertUnsupported, make_expert
from nitrogen_datasets.experts.frame_procgen import (
    CHASER_CELLS,
    CHASER_ENEMY,
    CHASER_ORB,
    CHASER_WALL,
    DOWN,
    LEFT,
    MINER_CELLS,
    PARSE_SIZE,
    RIGHT,
    UP,
    FrameExpert,
    frame_action,
    parse_chaser,
    parse_miner,
)

PROCGEN = any(game.engine == "procgen" for game in installed_games())
needs_procgen = pytest.mark.skipif(not PROCGEN, reason="procgen not installed")
BACKGROUND = (100, 102, 101)  # Chaser's grey floor
PLAYER = (216, 103, 250)  # Chaser's purple player


def paint(frame: np.ndarray, cell: tuple[int, int], colour: tuple[int, int, int], fill: float = 1.0) -> None:
    """Fill the centre ``fill`` share (per side) of one Chaser cell with ``colour``."""
    size = PARSE_SIZE / CHASER_CELLS
    half = size * fill / 2
    centre = ((cell[0] + 0.5) * size, (cell[1] + 0.5) * size)
    frame[round(centre[0] - half) : round(centre[0] + half), round(centre[1] - half) : round(centre[1] + half)] = colour


def chaser_frame(walls: list[tuple[int, int]], orbs: list[tuple[int, int]], enemies=(), player=(5, 5)) -> np.ndarray:
    """A synthetic Chaser picture drawn with the game's colours."""
    frame = np.zeros((PARSE_SIZE, PARSE_SIZE, 3), dtype=np.uint8)
    frame[:] = BACKGROUND
    for cell in walls:
        paint(frame, cell, CHASER_WALL)
    for cell in orbs:
        paint(frame, cell, CHASER_ORB, fill=0.35)
    for cell in enemies:
        paint(frame, cell, CHASER_ENEMY, fill=0.8)
    paint(frame, player, PLAYER, fill=0.6)
    return frame


def test_chaser_frame_parsed_into_cells():
    frame = chaser_frame(walls=[(4, 5), (0, 0)], orbs=[(5, 8), (9, 9)], enemies=[(2, 2)], player=(5, 5))
    view = parse_chaser(frame)
    assert view.blocked.shape == (CHASER_CELLS, CHASER_CELLS)
    assert {tuple(c) for c in np.argwhere(view.blocked)} == {(4, 5), (0, 0)}
    assert {tuple(c) for c in np.argwhere(view.targets)} == {(5, 8), (9, 9)}
    assert view.danger[2, 2] and view.danger[2, 4] and not view.danger[2, 5]  # two steps around the enemy
    assert view.player == pytest.approx((5, 5), abs=0.1)


def test_chaser_goes_to_the_nearest_orb_around_walls_and_away_from_enemies():
    assert frame_action("Chaser", chaser_frame([], [(5, 8)])) == RIGHT
    assert frame_action("Chaser", chaser_frame([], [(1, 5), (5, 8)])) == RIGHT  # 3 steps beat 4
    assert frame_action("Chaser", chaser_frame([], [(8, 5)])) == DOWN
    # the orb above is nearer, but an enemy sits on the way
    assert frame_action("Chaser", chaser_frame([], [(3, 5), (5, 9)], enemies=[(2, 5)])) == RIGHT
    # a wall right of the player: around it, and the first step of equal paths is always UP
    assert frame_action("Chaser", chaser_frame([(5, 6)], [(5, 7)])) == UP
    # in a corridor with the only orb behind an enemy: back away from it
    assert frame_action("Chaser", chaser_frame([(4, 5), (6, 5)], [(5, 4)], enemies=[(5, 3)])) == RIGHT
    assert frame_action("Chaser", chaser_frame([(4, 5), (6, 5)], [(5, 6)], enemies=[(5, 7)])) == LEFT


def test_small_frames_are_refused_with_the_fix():
    with pytest.raises(ExpertUnsupported, match=f"obs_size={PARSE_SIZE}"):
        frame_action("Chaser", np.zeros((64, 64, 3), dtype=np.uint8))


def test_registry_builds_it_for_its_games_only():
    assert isinstance(make_expert("frame", "Chaser"), FrameExpert)
    with pytest.raises(ExpertUnsupported, match=r"frame expert plays Chaser, Miner.*'planner'"):
        make_expert("frame", "CoinRun")


@needs_procgen
@pytest.mark.parametrize("game", ["Chaser", "Miner"])
def test_rendered_frame_parsed_and_action_from_the_frame_alone(game):
    env = gym.make(f"NitroGen/{game}-v0", obs_size=PARSE_SIZE, task="easy")
    try:
        obs, info = env.reset(seed=3)
        expert = FrameExpert()
        expert.reset(env, 3)
        view = (parse_chaser if game == "Chaser" else parse_miner)(obs)
        assert view.player is not None
        assert view.targets.sum() >= (40 if game == "Chaser" else 1)  # Chaser: orbs everywhere; Miner: diamonds
        if game == "Miner":
            assert view.blocked.shape == (MINER_CELLS, MINER_CELLS) and view.blocked.any()  # boulders
        action = expert.act(obs.copy(), info)
        native = int(env.unwrapped.gamepad_to_native(action))
        assert native in (UP, DOWN, LEFT, RIGHT)
        frame = obs.copy()
        for _ in range(5):  # the game moves on; the same picture still gets the same action, info unread
            obs, *_ = env.step(action)
        assert int(env.unwrapped.gamepad_to_native(expert.act(frame, {}))) == native
        larger = np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1)  # the same picture at 256 px
        assert frame_action(game, larger) == frame_action(game, frame)
    finally:
        env.close()
