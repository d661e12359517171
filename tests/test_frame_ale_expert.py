"""The Atari frame expert: its action is a function of the screen alone, and it outplays random play."""

import gymnasium as gym
import numpy as np
import pytest
from fixtures.games import needs_engine

from nitrogen_datasets.experts import ExpertUnsupported, make_expert
from nitrogen_datasets.experts.base import RandomExpert
from nitrogen_datasets.experts.frame_ale import (
    PONG_BALL,
    PONG_PLAYER,
    RULES,
    AleFrameExpert,
    frame_action,
)

needs_ale = needs_engine("ale")


def play(game: str, agent, steps: int, seed: int = 0, obs_size=64) -> tuple[float, list[int]]:
    """Return and native actions of ``agent`` over ``steps`` steps of ``game`` (the gate's 64 px frames)."""
    env = gym.make(f"NitroGen/{game}-v0", obs_size=obs_size)
    try:
        obs, info = env.reset(seed=seed)
        agent.reset(env, seed)
        total, actions = 0.0, []
        for _ in range(steps):
            action = agent.act(obs, info)
            actions.append(env.unwrapped.gamepad_to_native(action))
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return total, actions
    finally:
        env.close()


def pong_screen(ball_row: int, paddle_row: int) -> np.ndarray:
    """A synthetic Pong screen: the green paddle at columns 140-143, the ball at column 80."""
    screen = np.zeros((210, 160, 3), dtype=np.uint8)
    screen[:] = (144, 72, 17)
    screen[paddle_row - 8 : paddle_row + 8, 140:144] = PONG_PLAYER
    screen[ball_row - 2 : ball_row + 2, 80:82] = PONG_BALL
    return screen


def test_pong_paddle_follows_the_ball():
    assert frame_action("Pong", pong_screen(ball_row=60, paddle_row=150)) == "RIGHT"  # up
    assert frame_action("Pong", pong_screen(ball_row=150, paddle_row=60)) == "LEFT"  # down
    assert frame_action("Pong", pong_screen(ball_row=100, paddle_row=100)) == "NOOP"


def test_wrong_screen_size_refused():
    with pytest.raises(ExpertUnsupported, match="210x160 RGB screen"):
        frame_action("Pong", np.zeros((64, 64, 3), dtype=np.uint8))


@needs_ale
def test_registry_builds_it_and_refuses_montezuma_in_one_line():
    assert isinstance(make_expert("frame", "Pong"), AleFrameExpert)
    with pytest.raises(ExpertUnsupported) as err:
        make_expert("frame", "MontezumaRevenge")
    assert "\n" not in str(err.value) and "'random' for MontezumaRevenge" in str(err.value)


@needs_ale
@pytest.mark.parametrize("game", sorted(RULES))
def test_same_screen_same_action_at_any_observation_size(game):
    """The action is a pure function of the screen: replayed and at native size, the same screens get the same."""
    native = gym.make(f"NitroGen/{game}-v0", obs_size="native")
    small = gym.make(f"NitroGen/{game}-v0", obs_size=64)
    try:
        expert_native, expert_small = AleFrameExpert(), AleFrameExpert()
        obs_native, info = native.reset(seed=5)
        obs_small, _ = small.reset(seed=5)
        expert_native.reset(native, 5)
        expert_small.reset(small, 5)
        native_index = native.unwrapped.gamepad_to_native
        for _ in range(25):
            action = expert_native.act(obs_native, info)
            index = native_index(action)
            assert index == native_index(expert_small.act(obs_small, info))  # the screen behind the 64 px frame
            assert index == native_index(expert_native.act(obs_native.copy(), {}))  # no memory, no randomness
            obs_native, _, _, _, info = native.step(action)
            obs_small, _, _, _, _ = small.step(action)
            assert np.array_equal(native.unwrapped._engine.ale.getScreenRGB(), obs_native)
    finally:
        native.close()
        small.close()


FAST = ["Asteroids", "BeamRider", "Enduro", "Freeway", "Pong", "Seaquest", "SpaceInvaders"]


@needs_ale
@pytest.mark.parametrize("game", [*FAST, pytest.param("MsPacman", marks=pytest.mark.slow)])
def test_expert_scores_more_than_random_play(game):
    """300 steps on seed 0 (the engine is deterministic given the seed): the rule beats uniform random actions.

    SpaceInvaders gets the gate's 400: both score 105 at 300 steps, and the rule pulls ahead after that.
    """
    steps = 400 if game == "SpaceInvaders" else 300
    expert, actions = play(game, AleFrameExpert(), steps)
    random, _ = play(game, RandomExpert(seed=0), steps)
    assert expert > random, f"{game}: frame expert {expert} <= random {random}"
    assert len(set(actions)) >= 2  # it reacts to the picture rather than holding one button
