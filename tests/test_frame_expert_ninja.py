"""The Ninja frame rule: a function of the picture alone, reading rendered frames."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from fixtures.games import needs_engine

from nitrogen_datasets.experts.frame_procgen import LEFT, NOOP, PARSE_SIZE, RIGHT, RIGHT_UP, FrameExpert, rule_tables
from nitrogen_datasets.experts.frame_procgen_ninja import (
    EXPLODING,
    HARD_PARSERS,
    HAZARD,
    PARSERS,
    PHYSICS,
    WALL,
    NinjaView,
    parse_ninja,
)

needs_procgen = needs_engine("procgen")
CELLS = 11
UP, THROW_UP_RIGHT = 5, 10


def level(player: tuple[float, float] = (2.5, 5.5), charge: float = 0.0, gap: bool = False) -> NinjaView:
    """Ground whose top is at y 5 across the grid (a gap over fire at x 6-7 if asked), the player standing on it."""
    grid = np.zeros((CELLS, CELLS), dtype=np.int8)
    grid[:, :5] = WALL
    if gap:
        grid[6:8, 2:5] = 0
        grid[6:8, 2] = HAZARD
    return NinjaView(grid, player, charge, PHYSICS["easy"])


def test_runs_on_open_ground() -> None:
    assert level().action() == RIGHT


def test_charges_a_jump_at_the_edge_of_a_gap_and_lets_go_once_charged() -> None:
    assert level(player=(4.5, 5.5), gap=True).action() == RIGHT  # three more steps still on the ground
    assert level(player=(5.0, 5.5), gap=True).action() == RIGHT_UP  # charging (easy: one step charges fully)
    assert level(player=(5.0, 5.5), gap=True, charge=1.0).action() == RIGHT  # letting go of UP jumps


def test_holds_right_in_the_air() -> None:
    assert level(player=(4.5, 8.2)).action() == RIGHT


def test_throws_at_a_bomb_in_the_way_and_steps_back_from_a_near_one() -> None:
    far, near = level(gap=True), level(player=(5.0, 5.5), gap=True)
    for view, bomb in ((far, (6, 9)), (near, (6, 7))):
        view.grid[bomb] = HAZARD  # over the gap, where every jump passes
    assert far.action() == THROW_UP_RIGHT  # not a jump into it
    assert near.action() == LEFT  # its explosion would reach the player


def test_waits_beside_an_explosion() -> None:
    view = level(player=(5.0, 5.5), gap=True)
    view.grid[6, 7] = EXPLODING
    assert view.action() == NOOP


@needs_procgen
@pytest.mark.parametrize("task", ["easy", "hard"])
def test_reads_a_rendered_frame_and_its_jump_charge(task: str) -> None:
    env = gym.make("NitroGen/Ninja-v0", obs_size=PARSE_SIZE, task=task)
    try:
        obs, _ = env.reset(seed=0)
        first = parse_ninja(obs, task)
        assert first.player[1] % 1 == 0.5 and first.charge == 0  # standing at the start, nothing charged
        x, y = first.player
        assert first.grid[int(x), int(y) - 1] == WALL and first.grid[int(x), int(y)] != WALL
        parse = HARD_PARSERS["Ninja"] if task == "hard" else PARSERS["Ninja"]
        action = parse(obs).action()
        assert action == first.action() == parse_ninja(obs.copy(), task).action()
        native = env.unwrapped.native_to_gamepad  # type: ignore[attr-defined]
        obs, *_ = env.step(native(UP))
        assert parse(obs).charge == PHYSICS[task].charge_step  # easy charges fully in one step, hard in four
    finally:
        env.close()


@needs_procgen
@pytest.mark.parametrize("task", ["easy", "hard"])
def test_the_frame_expert_plays_both_tasks(task: str) -> None:
    assert "Ninja" in rule_tables().parsers and "Ninja" not in rule_tables().easy_only
    env = gym.make("NitroGen/Ninja-v0", obs_size=PARSE_SIZE, task=task)
    try:
        obs, info = env.reset(seed=1)
        expert = FrameExpert()
        expert.reset(env, 1)  # not refused: the rule beat random on both tasks
        env.step(expert.act(obs, info))
    finally:
        env.close()
