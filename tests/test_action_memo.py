"""Per-step memos of validated and mapped actions never change what an action means."""

import numpy as np
import pytest

from nitrogen_envs import gamepad
from nitrogen_envs.engines.ale import ATARI_TABLE
from nitrogen_envs.mapping import MAX_CACHED_ACTIONS, Binding, ButtonTable


def test_fingerprint_tells_apart_everything_that_changes_an_action():
    base = gamepad.noop()
    key = gamepad.fingerprint(base)
    assert key is not None and key == gamepad.fingerprint(gamepad.noop())
    variants = {
        "value": {**base, "left_stick": np.array([0.5, 0.0], np.float32)},
        "dtype": {**base, "left_stick": np.zeros(2, np.float64)},
        "byte order": {**base, "left_stick": np.zeros(2, ">f4")},
        "shape": {**base, "left_stick": np.zeros((1, 2), np.float32)},
        "buttons dtype": {**base, "buttons": np.zeros(15, bool)},
    }
    for name, action in variants.items():
        assert gamepad.fingerprint(action) not in (None, key), name
    assert gamepad.fingerprint({**base, "left_stick": [0.0, 0.0]}) is None  # not an array: no memo
    assert gamepad.fingerprint({**base, "extra": np.zeros(1)}) is None


def test_table_memo_follows_an_action_changed_in_place():
    action = ATARI_TABLE.to_gamepad(0)
    assert ATARI_TABLE.to_native(action) == 0
    action["buttons"][gamepad.BUTTON_NAMES.index("south")] = 1
    assert ATARI_TABLE.names[ATARI_TABLE.to_native(action)] == "FIRE"
    action["left_stick"][:] = (1.0, 0.0)
    assert ATARI_TABLE.names[ATARI_TABLE.to_native(action)] == "RIGHTFIRE"
    table = ButtonTable(bindings=(Binding("ATTACK", inputs=("right_trigger",)), Binding("TURN", look=(1, 0))))
    held = table.to_native(gamepad.noop())
    held.append(5)  # a caller's list must not be the memo's
    assert table.to_native(gamepad.noop()) == [0, 0]


def test_table_memo_is_bounded_and_stays_correct_past_its_cap():
    rng = np.random.default_rng(0)
    for _ in range(MAX_CACHED_ACTIONS + 50):
        action = gamepad.validate(
            {
                "left_stick": rng.uniform(-1, 1, 2).astype(np.float32),
                "right_stick": np.zeros(2, np.float32),
                "triggers": np.zeros(2, np.float32),
                "buttons": rng.integers(0, 2, 15).astype(np.int8),
            }
        )
        expected = next(
            (i for i in ATARI_TABLE._order if ATARI_TABLE.bindings[i].matches(_controls(action))),
            ATARI_TABLE.noop_index,
        )
        assert ATARI_TABLE.to_native(action) == expected
    assert len(ATARI_TABLE._exact) <= MAX_CACHED_ACTIONS


def _controls(action):
    from nitrogen_envs.mapping import read_controls

    return read_controls(action)


def test_env_memo_of_validated_actions_is_read_only_and_still_rejects_bad_actions():
    pytest.importorskip("ale_py")
    import gymnasium as gym

    env = gym.make("NitroGen/Pong-v0", obs_size="native")
    base = env.unwrapped
    try:
        env.reset(seed=0)
        action = base.native_to_gamepad(1)
        first = base._validate(action)
        assert base._validate(action) is first  # memoized
        assert not any(array.flags.writeable for array in first.values())
        action["left_stick"][:] = (0.0, 1.0)  # the caller changes its own arrays: a different action
        assert base._validate(action)["left_stick"].tolist() == [0.0, 1.0]
        action["left_stick"][0] = np.nan
        with pytest.raises(ValueError, match="left_stick"):
            env.step(action)
        action["left_stick"][0] = 2.0
        with pytest.raises(ValueError, match="left_stick"):
            env.step(action)
    finally:
        env.close()
