import gymnasium as gym
import numpy as np
import pytest
from fixtures.games import game_params, one_game_per_engine

from nitrogen_envs import FlatGamepad, NativeActions, gamepad


def _flat_env(env_id):
    def thunk():
        return FlatGamepad(gym.make(env_id, obs_size=64))

    return thunk


@pytest.mark.parametrize("game", game_params(one_game_per_engine()))
def test_gymnasium_async_vector_env_steps(game):
    envs = gym.vector.AsyncVectorEnv([_flat_env(game.env_id)] * 2)
    try:
        obs, _ = envs.reset(seed=[1, 2])
        assert obs.shape == (2, 64, 64, 3)
        for _ in range(5):
            obs, reward, _terminated, _truncated, info = envs.step(np.stack([gamepad.noop_flat()] * 2))
        assert reward.shape == (2,)
        assert list(info["game"]) == [game.name, game.name]
    finally:
        envs.close()


def test_gymnasium_async_vector_env_delivers_each_dict_action_to_its_own_env():
    """A batched Dict action is split per env: each sub-env plays exactly what a lone env given its slice plays."""
    game = one_game_per_engine()[0]
    envs = gym.vector.AsyncVectorEnv([lambda: gym.make(game.env_id, obs_size=64)] * 2)
    try:
        envs.reset(seed=[3, 4])
        envs.action_space.seed(0)
        actions = [envs.action_space.sample() for _ in range(3)]
        for batch in actions:
            obs, reward, _terminated, _truncated, info = envs.step(batch)
    finally:
        envs.close()
    assert obs.shape == (2, 64, 64, 3) and list(info["game"]) == [game.name, game.name]
    for index, seed in enumerate([3, 4]):
        lone = gym.make(game.env_id, obs_size=64)
        try:
            lone.reset(seed=seed)
            for batch in actions:
                lone_obs, lone_reward, *_ = lone.step({key: value[index] for key, value in batch.items()})
        finally:
            lone.close()
        assert np.array_equal(obs[index], lone_obs) and reward[index] == lone_reward


@pytest.mark.parametrize("game", game_params(one_game_per_engine()))
@pytest.mark.slow  # worker processes per game: 6-8 s each in a full run on 2 shared cores
def test_stable_baselines3_subproc_vec_env_steps(game):
    vec_env = pytest.importorskip("stable_baselines3.common.vec_env")
    envs = vec_env.SubprocVecEnv([_flat_env(game.env_id)] * 2)
    try:
        envs.seed(0)
        obs = envs.reset()
        assert obs.shape == (2, 64, 64, 3)
        obs, rewards, _dones, infos = envs.step(np.stack([gamepad.noop_flat()] * 2))
        assert rewards.shape == (2,) and infos[0]["game"] == game.name
    finally:
        envs.close()


def test_native_actions_wrapper_uses_the_games_own_action_set():
    from fixtures.games import installed_games

    by_name = {g.name: g for g in installed_games()}
    expected = {"CoinRun": 15, "Pong": 6, "Crafter": 17, "DoomBasic": 4}
    for name, n in expected.items():
        if name not in by_name:
            continue
        env = NativeActions(gym.make(by_name[name].env_id, obs_size=64))
        try:
            assert env.action_space.n == n
            env.reset(seed=0)
            env.step(n - 1)
        finally:
            env.close()


def test_native_actions_refuses_envs_that_are_not_nitrogen_games():
    class Plain(gym.Env):
        observation_space = gym.spaces.Discrete(1)
        action_space = gym.spaces.Discrete(1)

    with pytest.raises(TypeError, match="expected a NitroGen env"):
        NativeActions(Plain())
