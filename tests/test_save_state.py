import numpy as np
import pytest
from conftest import game_params, installed_games, make

from nitrogen_envs import gamepad
from nitrogen_envs.errors import InvalidSaveState, SaveStateUnsupported

SAVE_GAMES = [g for g in installed_games() if g.save_states]
# One per engine keeps CI short; the mechanism is per engine, not per game.
SAVE_SAMPLE = [g for g in SAVE_GAMES if g.name in ("CoinRun", "Pong")]


def _play(env, actions):
    """(frame, reward) per step until the episode ends."""
    out = []
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        out.append((obs, reward))
        if terminated or truncated:
            break
    return out


def _actions(n, seed=0):
    space = gamepad.dict_space()
    space.seed(seed)
    return [space.sample() for _ in range(n)]


@pytest.mark.parametrize("game", game_params(SAVE_SAMPLE))
def test_load_state_replays_exactly(game):
    env = make(game)
    try:
        env.reset(seed=5)
        for action in _actions(10, seed=1):
            env.step(action)
        state = env.unwrapped.save_state()
        follow = _actions(25, seed=2)
        first = _play(env, follow)
        env.unwrapped.load_state(state)
        second = _play(env, follow)
    finally:
        env.close()
    assert len(first) == len(second) > 0
    for (frame_a, reward_a), (frame_b, reward_b) in zip(first, second, strict=False):
        assert reward_a == reward_b
        assert np.array_equal(frame_a, frame_b)


@pytest.mark.parametrize("game", game_params(SAVE_SAMPLE))
def test_state_loads_into_a_fresh_env_of_the_same_game(game):
    source, target = make(game), make(game)
    try:
        source.reset(seed=3)
        for action in _actions(5):
            source.step(action)
        state = source.unwrapped.save_state()
        target.reset(seed=99)
        target.unwrapped.load_state(state)
        follow = _actions(10, seed=4)
        a = _play(source, follow)
        b = _play(target, follow)
    finally:
        source.close()
        target.close()
    assert len(a) == len(b) > 0
    assert all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b, strict=False))


def test_state_of_another_game_is_rejected():
    if len({g.engine for g in SAVE_SAMPLE}) < 2:
        pytest.skip("needs two save-state engines")
    a, b = make(SAVE_SAMPLE[0]), make(SAVE_SAMPLE[1])
    try:
        a.reset(seed=0)
        b.reset(seed=0)
        with pytest.raises(InvalidSaveState, match="save state is for game"):
            b.unwrapped.load_state(a.unwrapped.save_state())
        with pytest.raises(InvalidSaveState, match="expects bytes returned by save_state"):
            b.unwrapped.load_state(b"not a state")
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("game", game_params([g for g in installed_games() if not g.save_states][:1]))
def test_engines_without_save_states_say_so(game):
    env = make(game)
    try:
        env.reset(seed=0)
        with pytest.raises(SaveStateUnsupported, match="cannot save states"):
            env.unwrapped.save_state()
    finally:
        env.close()
