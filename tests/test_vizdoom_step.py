"""The ViZDoom adapter's per-step shortcuts change nothing a user sees.

A step looks up the engine's buttons by the identity of the validated action (the base class hands back
the same read-only dict for a repeated action) and keeps its own "episode over" flag instead of asking the
engine before each step. These tests hold both to what the plain path gives.
"""

import gymnasium as gym
import numpy as np
import pytest
from fixtures.games import installed_games, make

from nitrogen_envs import gamepad

BY_NAME = {g.name: g for g in installed_games()}
pytestmark = pytest.mark.skipif("DoomBasic" not in BY_NAME, reason="vizdoom not installed")


def random_actions(rng: np.random.Generator, count: int) -> list:
    """Repeated exact actions (memoized), fresh random ones, and plain-list ones (never memoized)."""
    repertoire = [gamepad.noop() for _ in range(4)]
    repertoire[1]["right_stick"][:] = (-1.0, 0.0)
    repertoire[2]["right_stick"][:] = (1.0, 0.0)
    repertoire[3]["triggers"][:] = (0.0, 1.0)
    actions: list = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            actions.append(repertoire[int(rng.integers(len(repertoire)))])
        elif kind == 1:
            pad = gamepad.noop()
            pad["right_stick"][:] = rng.uniform(-1, 1, 2).astype(np.float32)
            pad["triggers"][:] = rng.uniform(0, 1, 2).astype(np.float32)
            actions.append(pad)
        else:
            actions.append({key: value.tolist() for key, value in repertoire[i % 4].items()})
    return actions


def test_buttons_match_the_mapping_for_every_step():
    env = make(BY_NAME["DoomDefendCenter"], obs_size=64)
    base = env.unwrapped
    engine = base._engine
    sent: list[list[int]] = []
    base._engine = _Recorder(engine, sent)
    try:
        env.reset(seed=0)
        for action in random_actions(np.random.default_rng(0), 120):
            expected = base.table.to_native(gamepad.validate(action))
            _, _, terminated, truncated, _ = env.step(action)
            assert sent[-1] == expected
            if terminated or truncated:
                env.reset()
        # Only the base class's memoized (read-only) actions are kept, each under its own id.
        assert base._held
        assert all(
            id(action) == key and not action["buttons"].flags.writeable for key, (action, _) in base._held.items()
        )
    finally:
        base._engine = engine
        env.close()


class _Recorder:
    """The real engine, with the buttons of each ``make_action`` recorded."""

    def __init__(self, engine, sent):
        self._engine, self._sent = engine, sent

    def make_action(self, buttons, tics):
        self._sent.append(list(buttons))
        return self._engine.make_action(buttons, tics)

    def __getattr__(self, name):
        return getattr(self._engine, name)


def test_a_finished_episode_needs_a_reset_and_a_reset_starts_a_new_one():
    env = make(BY_NAME["DoomBasic"], obs_size=64)
    try:
        env.reset(seed=0)
        attack = gamepad.noop()
        attack["triggers"][:] = (0.0, 1.0)
        engine = env.unwrapped._engine
        for _ in range(400):  # DoomBasic ends within 300 tics (75 steps) at the latest
            _, _, terminated, truncated, _ = env.step(attack)
            # The adapter reads the end of an episode from get_state() being None (ViZDoom's contract).
            assert (engine.get_state() is None) == engine.is_episode_finished() == (terminated or truncated)
            if terminated or truncated:
                break
        assert terminated or truncated
        with pytest.raises(gym.error.ResetNeeded):
            env.step(attack)
        env.reset()
        _, _, terminated, truncated, info = env.step(gamepad.noop())
        assert info["episode_steps"] == 1
    finally:
        env.close()


@pytest.mark.parametrize(
    ("rows", "width", "height"), [(192, 256, 256), (240, 320, 320), (120, 160, 200), (150, 200, 151)]
)
def test_stretch_rows_gives_resize_frames_bytes(rows, width, height):
    from nitrogen_envs.engines.vizdoom import stretch_rows
    from nitrogen_envs.image import resize_frame

    rng = np.random.default_rng(rows)
    for _ in range(3):
        frame = rng.integers(0, 256, (rows, width, 3), dtype=np.uint8)
        out = stretch_rows(frame, height)
        assert out.shape == (height, width, 3) and out.flags.c_contiguous
        np.testing.assert_array_equal(out, resize_frame(frame, (height, width)))
        frame[:] = 0
        assert out.any()  # a new array, not a view of the frame


def test_256px_frames_are_the_screen_resized_as_before():
    """At 256 px the adapter stretches the 256x192 screen itself; the observation is the bytes the base
    class's resize gave, at reset and at every step."""
    from nitrogen_envs.image import resize_frame

    env = make(BY_NAME["DoomDefendCenter"], obs_size=256)
    base = env.unwrapped
    try:
        obs, _ = env.reset(seed=1)
        np.testing.assert_array_equal(obs, resize_frame(base._last_frame, (256, 256)))
        kept = []
        for action in np.random.default_rng(3).integers(0, base.native_action_space().n, 30):
            obs, _, terminated, truncated, _ = env.step(base.native_to_gamepad(int(action)))
            if terminated or truncated:
                break
            assert base._last_frame.shape == (192, 256, 3)
            np.testing.assert_array_equal(obs, resize_frame(base._last_frame, (256, 256)))
            kept.append((obs, obs.copy()))
        assert len(kept) > 10
        assert all(np.array_equal(obs, copy) for obs, copy in kept)  # later steps never overwrite a kept frame
    finally:
        env.close()
