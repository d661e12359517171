"""Every registered env whose engine is installed passes both env checkers and is deterministic."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from fixtures.games import game_params, installed_games, make, one_game_per_engine
from gymnasium.utils.env_checker import check_env as gym_check_env

from nitrogen_envs import FlatGamepad, gamepad
from nitrogen_envs.registry import GENRES


@pytest.mark.parametrize("game", game_params())
def test_gymnasium_env_checker_passes(game):
    env = make(game, render_mode="rgb_array")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gym_check_env(env.unwrapped, skip_render_check=False)
    finally:
        env.close()


@pytest.mark.parametrize("game", game_params())
def test_stable_baselines3_env_checker_passes(game):
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = make(game)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sb3_checker.check_env(env.unwrapped, warn=True)
            sb3_checker.check_env(FlatGamepad(env.unwrapped), warn=True)
    finally:
        env.close()


def _rollout(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    frames, rewards = [obs], []
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        frames.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            obs, _ = env.reset()
            frames.append(obs)
    return frames, rewards


@pytest.mark.parametrize("game", game_params())
def test_same_seed_and_actions_give_identical_frames_and_rewards(game):
    space = gamepad.dict_space()
    space.seed(1)
    actions = [space.sample() for _ in range(40)]
    env_a, env_b = make(game), make(game)
    try:
        frames_a, rewards_a = _rollout(env_a, 123, actions)
        frames_b, rewards_b = _rollout(env_b, 123, actions)
    finally:
        env_a.close()
        env_b.close()
    assert rewards_a == rewards_b
    assert len(frames_a) == len(frames_b)
    for i, (a, b) in enumerate(zip(frames_a, frames_b, strict=False)):
        assert np.array_equal(a, b), f"frame {i} differs"


@pytest.mark.parametrize("game", game_params([g for g in installed_games() if g.engine in ("procgen", "crafter")]))
def test_different_seeds_give_different_levels(game):
    env = make(game)
    try:
        first, _ = env.reset(seed=1)
        other, _ = env.reset(seed=2)
    finally:
        env.close()
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("game", game_params(one_game_per_engine()))
def test_info_carries_game_task_success_and_score(game):
    env = make(game)
    try:
        _, info = env.reset(seed=0)
        _, _, _, _, info = env.step(gamepad.noop())
    finally:
        env.close()
    assert info["game"] == game.name
    assert info["task"] == game.default_task.name
    assert info["success"] is False
    assert info["episode_steps"] == 1
    if game.default_task.expert_score is not None:
        assert "score_normalized" in info


@pytest.mark.parametrize("game", game_params(one_game_per_engine()))
def test_obs_size_sets_the_observation_shape(game):
    env = make(game, obs_size=(48, 80), render_mode="rgb_array")
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (48, 80, 3) and obs.dtype == np.uint8
        assert env.observation_space.shape == (48, 80, 3)
        assert np.array_equal(env.render(), obs)
    finally:
        env.close()


def test_default_observation_is_256_square_rgb():
    game = one_game_per_engine()[0]
    env = gym.make(game.env_id)
    try:
        obs, _ = env.reset(seed=0)
    finally:
        env.close()
    assert obs.shape == (256, 256, 3)


@pytest.mark.parametrize("game", game_params(one_game_per_engine()))
def test_native_size_keeps_the_engine_resolution(game):
    env = make(game, obs_size="native")
    try:
        obs, _ = env.reset(seed=0)
    finally:
        env.close()
    assert obs.shape[:2] == type(env.unwrapped).native_size


@pytest.mark.parametrize("game", game_params(one_game_per_engine()))
def test_bad_actions_raise_value_errors_naming_the_field(game):
    env = make(game)
    try:
        env.reset(seed=0)
        bad = gamepad.noop()
        bad["left_stick"] = np.array([2.0, 0.0])
        with pytest.raises(ValueError, match=r"'left_stick' is out of range"):
            env.step(bad)
        flat = FlatGamepad(env)
        with pytest.raises(ValueError, match=r"shape \(21,\)"):
            flat.step(np.zeros(5))
        nan = gamepad.noop_flat()
        nan[4] = np.nan
        with pytest.raises(ValueError, match="'left_trigger'"):
            flat.step(nan)
    finally:
        env.close()


def test_registry_covers_the_promised_games_and_tasks():
    from nitrogen_envs.registry import all_games

    games = all_games()
    by_engine = {
        engine: [g for g in games if g.engine == engine] for engine in ("procgen", "ale", "vizdoom", "crafter")
    }
    assert len(games) >= 30
    assert sum(len(g.tasks) for g in games) >= 60
    assert len(by_engine["procgen"]) == 16
    assert len(by_engine["ale"]) >= 10
    assert len(by_engine["vizdoom"]) >= 5
    assert len(by_engine["crafter"][0].tasks) == 22
    assert {g.genre for g in games} == set(GENRES)
    assert len({g.env_id for g in games}) == len(games)


def test_every_installed_engine_is_exercised():
    """CI installs every engine; a silently skipped engine would hide failures."""
    assert {g.engine for g in installed_games()} == {"procgen", "ale", "vizdoom", "crafter"}
