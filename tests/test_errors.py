import gymnasium as gym
import pytest
from fixtures.repo import run_python

from nitrogen_envs.errors import UnknownGame, UnknownTask
from nitrogen_envs.registry import get_game


def test_unknown_env_id_suggests_close_matches():
    with pytest.raises(gym.error.Error, match="CoinRun"):
        gym.make("NitroGen/CoinRn-v0")


def test_unknown_game_name_lists_close_matches():
    with pytest.raises(UnknownGame, match=r"unknown game 'Pongg'. Did you mean: Pong"):
        get_game("Pongg")


def test_game_lookup_accepts_names_and_ids_in_any_case():
    assert get_game("coinrun").name == "CoinRun"
    assert get_game("NitroGen/CoinRun-v0").name == "CoinRun"


def test_unknown_task_lists_the_games_tasks():
    with pytest.raises(
        UnknownTask, match=r"CoinRun has no task 'hardd'. Did you mean \['hard'\]\? Its tasks are: \['hard', 'easy'\]"
    ):
        gym.make("NitroGen/CoinRun-v0", task="hardd")


def test_missing_engine_names_the_extra_to_install():
    code = (
        "import sys; sys.modules['procgen'] = None\n"
        "import gymnasium as gym, nitrogen_envs\n"
        "from nitrogen_envs.errors import DependencyNotInstalled\n"
        "try:\n"
        "    gym.make('NitroGen/CoinRun-v0')\n"
        "except DependencyNotInstalled as err:\n"
        "    print('ERR', err)\n"
    )
    result = run_python(code)
    assert "ERR procgen is not installed" in result.stdout, result.stderr
    assert "pip install 'nitrogen-gym[procgen]'" in result.stdout


def test_bad_obs_size_is_rejected():
    from nitrogen_envs.base import parse_obs_size

    with pytest.raises(ValueError, match="obs_size must be between 8 and 4096"):
        parse_obs_size(2, (64, 64))
    with pytest.raises(ValueError, match=r"obs_size must be an int or \(height, width\)"):
        parse_obs_size("big", (64, 64))


def test_step_before_reset_is_refused_by_the_env_itself():
    """Our own check, on the bare env: what a user of the class (or of wrappers without
    Gymnasium's OrderEnforcing) gets."""
    from fixtures.games import one_game_per_engine

    from nitrogen_envs import gamepad

    env = gym.make(one_game_per_engine()[0].env_id, obs_size=64, disable_env_checker=True)
    try:
        with pytest.raises(gym.error.ResetNeeded, match=r"call env\.reset\(\) before env\.step\(\)"):
            env.unwrapped.step(gamepad.noop())
    finally:
        env.close()


def test_step_before_reset_through_gym_make_raises_reset_needed():
    """What a gym.make user sees: Gymnasium's OrderEnforcing wrapper answers before our check runs."""
    from fixtures.games import one_game_per_engine

    from nitrogen_envs import gamepad

    env = gym.make(one_game_per_engine()[0].env_id, obs_size=64, disable_env_checker=True)
    try:
        with pytest.raises(gym.error.ResetNeeded, match=r"Cannot call env\.step\(\)"):
            env.step(gamepad.noop())
    finally:
        env.close()


def _one_per_engine():
    from fixtures.games import game_params, one_game_per_engine

    return game_params(one_game_per_engine())


@pytest.mark.parametrize("game", _one_per_engine())
def test_step_after_close_raises_env_closed_in_every_engine(game):
    from nitrogen_envs import gamepad
    from nitrogen_envs.errors import EnvClosed

    env = gym.make(game.env_id, obs_size=64)
    env.reset(seed=0)
    env.step(gamepad.noop())
    env.close()
    env.close()  # closing twice is harmless
    with pytest.raises(EnvClosed, match=rf"step\(\) on a closed {game.name} env: .* make a new one"):
        env.step(gamepad.noop())
    with pytest.raises(EnvClosed, match=r"reset\(\) on a closed"):
        env.reset(seed=0)
    if game.save_states:
        with pytest.raises(EnvClosed, match=r"save_state\(\) on a closed"):
            env.unwrapped.save_state()
