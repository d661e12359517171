import numpy as np
import pytest
from fixtures.games import game_params, installed_games, make
from fixtures.repo import run_python

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


# ---- damaged states never reach the engine ---------------------------------------------------------------
def _damaged(state: bytes) -> dict[str, tuple[bytes, str]]:
    """Damaged copies of a valid state, each with the reason load_state must give."""
    flipped = bytearray(state)
    flipped[-1] ^= 0xFF
    version = bytearray(state)
    version[4] = 9
    return {
        "one byte short": (state[:-1], "truncated or extended"),
        "one byte long": (state + b"\x00", "truncated or extended"),
        "payload byte flipped": (bytes(flipped), "fails its sha256 checksum"),
        "other format version": (bytes(version), "format version 9 is not supported"),
        "garbage": (b"NGST" + bytes(range(256)) * 4, "not supported|truncated"),
        "not ours": (b"\x00" * 64, "expects bytes returned by save_state"),
    }


@pytest.mark.parametrize("game", game_params([g for g in SAVE_SAMPLE if g.engine == "ale"]))
def test_damaged_state_is_refused_and_the_env_plays_on_unchanged(game):
    # In-process on ALE only: a check that let a damaged blob through to Procgen would kill pytest.
    env = make(game)
    try:
        env.reset(seed=1)
        state = env.unwrapped.save_state()
        for reason, (blob, message) in _damaged(state).items():
            with pytest.raises(InvalidSaveState, match=message):
                env.unwrapped.load_state(blob)
            assert env.unwrapped.save_state() == state, reason  # nothing was touched
        follow = _actions(8, seed=3)
        first = _play(env, follow)
        env.unwrapped.load_state(state)
        second = _play(env, follow)
    finally:
        env.close()
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(first, second, strict=True))


def test_truncated_procgen_and_garbage_ale_states_raise_in_a_process_that_survives():
    # Procgen's set_state exits the interpreter (fassert) on a blob one byte short, so run it in a child.
    engines = {g.engine: g for g in SAVE_GAMES}
    if not {"procgen", "ale"} <= set(engines):
        pytest.skip("needs Procgen and ALE")
    code = f"""
import os
import gymnasium as gym, nitrogen_envs
from nitrogen_envs.errors import InvalidSaveState
from nitrogen_envs.savestate import pack_state, unpack_state
for env_id in ({engines["procgen"].env_id!r}, {engines["ale"].env_id!r}):
    env = gym.make(env_id, obs_size=64)
    env.reset(seed=0)
    state = env.unwrapped.save_state()
    header, payload = unpack_state(state)
    frame = 64 * 64 * 3
    forged = {{
        "one byte short": state[:-1],
        "garbage": os.urandom(len(state)),
        # a valid envelope whose engine bytes are cut: the adapter's own checks must stop it
        "engine bytes cut": pack_state(header, bytes(payload[: frame + 20])),
    }}
    for name, blob in forged.items():
        try:
            env.unwrapped.load_state(blob)
            print(env_id, name, "LOADED")
        except InvalidSaveState as err:
            print(env_id, name, "REFUSED", err)
    env.unwrapped.load_state(state)
    env.close()
print("SURVIVED")
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert out.rstrip().endswith("SURVIVED"), out
    for env_id in (engines["procgen"].env_id, engines["ale"].env_id):
        assert f"{env_id} one byte short REFUSED save state is" in out
        assert f"{env_id} garbage REFUSED" in out
    assert f"{engines['procgen'].env_id} engine bytes cut REFUSED corrupt Procgen save state" in out
    assert f"{engines['ale'].env_id} engine bytes cut REFUSED corrupt ALE save state" in out


@pytest.mark.parametrize("game", game_params([g for g in SAVE_SAMPLE if g.engine == "ale"]))
def test_save_load_save_gives_the_same_bytes(game):
    # ALE only: Procgen's get_state after set_state differs in internal bookkeeping, though play is identical.
    env = make(game)
    try:
        env.reset(seed=2)
        for action in _actions(6):
            env.step(action)
        state = env.unwrapped.save_state()
        env.reset(seed=7)
        env.unwrapped.load_state(state)
        assert env.unwrapped.save_state() == state
    finally:
        env.close()
