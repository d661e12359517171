"""The Jumper frame rule: a function of the picture alone, reading rendered frames."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from fixtures.games import needs_engine

from nitrogen_datasets.experts.errors import ExpertUnsupported
from nitrogen_datasets.experts.frame_procgen import LEFT, PARSE_SIZE, RIGHT, RIGHT_UP, FrameExpert, rule_tables
from nitrogen_datasets.experts.frame_procgen_jumper import HARD_PARSERS, PARSERS, JumperView, parse_jumper

needs_procgen = needs_engine("procgen")
CELLS = 13


def cave(**fields: object) -> JumperView:
    """A walled cave of 13x13 cells with a floor on row 8, the player standing on it in the middle, needle right."""
    walls = np.zeros((CELLS, CELLS), dtype=bool)
    walls[9:] = True
    walls[:, 0] = walls[:, -1] = True
    base: dict[str, object] = {
        "walls": walls,
        "danger": np.zeros_like(walls),
        "player": (8, 6),
        "needle": (1.0, 0.0),
        "goal": None,
    }
    base.update(fields)
    return JumperView(**base)  # type: ignore[arg-type]


def test_runs_along_the_floor_toward_the_needle() -> None:
    assert cave().action() == RIGHT
    assert cave(needle=(-1.0, 0.0)).action() == LEFT


def test_jumps_onto_a_step_in_its_way() -> None:
    view = cave()
    view.walls[6:9, 8:] = True  # a step three cells high, two cells to the right
    assert view.action() == RIGHT_UP


def test_jumps_over_a_spike_rather_than_walking_into_it() -> None:
    danger = np.zeros((CELLS, CELLS), dtype=bool)
    danger[8, 7:10] = True  # a spike at (8, 8) and the cells beside it
    danger[7, 8] = True
    assert cave(danger=danger).action() == RIGHT_UP


def test_no_needle_is_a_noop() -> None:
    assert cave(needle=None).action() == 4


@needs_procgen
@pytest.mark.parametrize("task", ["easy", "hard"])
def test_reads_a_rendered_frame_and_is_deterministic(task: str) -> None:
    env = gym.make("NitroGen/Jumper-v0", obs_size=PARSE_SIZE, task=task)
    try:
        obs, _ = env.reset(seed=0)
        parse = HARD_PARSERS["Jumper"] if task == "hard" else PARSERS["Jumper"]
        view, again = parse(obs), parse(obs.copy())
        assert view.needle is not None and abs(np.hypot(*view.needle) - 1) < 1e-6
        n = view.walls.shape[0]  # the cells across the view, and one more for the grid's phase
        assert n == (13 if task == "easy" else 17) and view.player == ((n - 1) // 2, (n - 1) // 2)
        assert not view.walls[view.player] and view.walls[view.player[0] + 1 :, view.player[1]].any()  # floor below
        assert 0.15 < view.walls.mean() < 0.9
        assert view.action() == again.action()
        assert 0 <= view.action() < 15
        assert parse_jumper(obs, task).action() == view.action()
    finally:
        env.close()


@needs_procgen
def test_the_expert_plays_both_tasks() -> None:
    assert "Jumper" in rule_tables().parsers and "Jumper" not in rule_tables().easy_only
    for task in ("easy", "hard"):
        env = gym.make("NitroGen/Jumper-v0", obs_size=PARSE_SIZE, task=task)
        try:
            obs, info = env.reset(seed=1)
            expert = FrameExpert()
            expert.reset(env, 1)
            expert.act(obs, info)
        finally:
            env.close()


@needs_procgen
def test_a_game_without_a_rule_is_still_refused() -> None:
    env = gym.make("NitroGen/BossFight-v0", obs_size=PARSE_SIZE)
    try:
        env.reset(seed=0)
        with pytest.raises(ExpertUnsupported, match="Jumper"):
            FrameExpert().reset(env, 0)
    finally:
        env.close()
