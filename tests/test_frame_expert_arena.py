"""The arena frame rules (Dodgeball): a function of the picture alone, reading rendered frames."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from fixtures.games import needs_engine

from nitrogen_datasets.experts.frame_procgen import DOWN, FIRE, LEFT, NOOP, PARSE_SIZE, RIGHT, RIGHT_UP, UP
from nitrogen_datasets.experts.frame_procgen_arena import (
    DODGE_EASY,
    DODGE_HARD,
    PARSERS,
    DodgeView,
    diagonal_shot,
    parse_dodgeball,
)

needs_procgen = needs_engine("procgen")
EMPTY = np.zeros((PARSE_SIZE, PARSE_SIZE), dtype=bool)
RIGHT_DOWN = 6


def view(**fields: object) -> DodgeView:
    """A Dodgeball view of an open arena (no walls, no door): the player in the middle facing right, no enemies."""
    base: dict[str, object] = {
        "player": (64.0, 64.0),
        "facing": RIGHT,
        "scale": DODGE_EASY,
        "enemies": (),
        "balls": (),
        "walls": EMPTY,
        "door": EMPTY,
    }
    base.update(fields)
    return DodgeView(**base)  # type: ignore[arg-type]


def test_throws_at_an_enemy_on_a_diagonal_once_facing_it() -> None:
    enemy = ((34.0, 94.0),)  # up and to the right, on the diagonal
    assert view(enemies=enemy, facing=RIGHT_UP).action() == FIRE
    assert view(enemies=enemy, facing=RIGHT).action() == RIGHT_UP  # turn (and step along the diagonal) first


def test_does_not_throw_through_a_wall() -> None:
    walls = EMPTY.copy()
    walls[40:56, 70:88] = True  # across the diagonal between the player and the enemy
    shot = view(enemies=((34.0, 94.0),), facing=RIGHT_UP, walls=walls)
    assert diagonal_shot(shot, (64.0, 64.0), walls) is None
    assert shot.action() != FIRE


def test_sidesteps_a_ball_coming_down_its_column() -> None:
    action = view(enemies=((20.0, 20.0),), balls=((40.0, 66.0),)).action()
    assert action == LEFT  # the ball is a little right of the player's centre: away from its line


def test_walks_to_the_open_door_once_every_enemy_is_gone() -> None:
    door = EMPTY.copy()
    door[54:74, 0:10] = True  # on the left wall
    assert view(door=door).action() == LEFT


def test_nothing_found_is_a_noop() -> None:
    assert view(player=None).action() == NOOP


@needs_procgen
@pytest.mark.parametrize("task", ["easy", "hard"])
def test_reads_a_rendered_frame_and_is_deterministic(task: str) -> None:
    env = gym.make("NitroGen/Dodgeball-v0", obs_size=PARSE_SIZE, task=task)
    try:
        obs, _ = env.reset(seed=3)
        first, again = parse_dodgeball(obs), parse_dodgeball(obs.copy())
        assert first.player is not None and 3 <= len(first.enemies) <= 6 + 1  # the game spawns 3 to 6 (easy and hard)
        assert first.scale == (DODGE_EASY if task == "easy" else DODGE_HARD)
        action = first.action()
        assert action == again.action() == PARSERS["Dodgeball"](obs).action()
        assert 0 <= action < 15
    finally:
        env.close()


@needs_procgen
def test_reads_the_players_facing_off_its_sprite() -> None:
    env = gym.make("NitroGen/Dodgeball-v0", obs_size=PARSE_SIZE, task="easy")
    try:
        env.reset(seed=0)
        native = env.unwrapped.native_to_gamepad  # type: ignore[attr-defined]
        for move in (UP, LEFT, DOWN, RIGHT_UP, RIGHT_DOWN):
            obs, *_ = env.step(native(move))
            obs, *_ = env.step(native(NOOP))  # still facing the last move
            assert parse_dodgeball(obs).facing == move
    finally:
        env.close()
