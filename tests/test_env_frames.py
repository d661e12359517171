"""The fast frame paths give the frames the plain ones gave: same resize, one Procgen render per step."""

import numpy as np
import pytest

from nitrogen_envs.image import resize_frame

cv2 = pytest.importorskip("cv2")

# (engine frame shape, OpenCV interpolation the frame was always resized with to 256x256)
ENGINE_FRAMES = {
    "ale": ((210, 160, 3), "INTER_LINEAR"),
    "vizdoom": ((240, 320, 3), "INTER_AREA"),
    "procgen": ((512, 512, 3), "INTER_AREA"),
    "crafter": ((64, 64, 3), "INTER_LINEAR"),
}


@pytest.mark.parametrize("engine", list(ENGINE_FRAMES), ids=list(ENGINE_FRAMES))
def test_resize_frame_matches_a_plain_opencv_resize(engine):
    shape, interpolation = ENGINE_FRAMES[engine]
    rng = np.random.default_rng(0)
    for _ in range(3):
        frame = rng.integers(0, 256, shape, dtype=np.uint8)
        expected = cv2.resize(frame, (256, 256), interpolation=getattr(cv2, interpolation))
        out = resize_frame(frame, (256, 256))
        assert out.dtype == np.uint8 and out.flags.c_contiguous
        np.testing.assert_array_equal(out, expected)


def test_resize_frame_returns_a_new_array_the_caller_may_keep():
    frame = np.zeros((210, 160, 3), np.uint8)
    out = resize_frame(frame, (256, 256))
    frame[:] = 255
    assert not np.shares_memory(out, frame) and out.max() == 0


@pytest.mark.parametrize("obs_size", ["native", 64], ids=["native", "resized"])
def test_procgen_frames_are_the_engine_render_and_stay_put(obs_size):
    """One libenv_observe per step still yields the frame get_info() renders, and a kept frame is not
    overwritten by later steps (the engine's buffer is reused)."""
    pytest.importorskip("procgen")
    import gymnasium as gym

    env = gym.make("NitroGen/CoinRun-v0", obs_size=obs_size)
    base = env.unwrapped
    try:
        env.reset(seed=3)
        kept, copies = [], []
        actions = np.random.default_rng(1).integers(0, base.native_action_space().n, 40)
        for action in actions:
            obs, _, terminated, truncated, info = env.step(base.native_to_gamepad(int(action)))
            if terminated or truncated:
                env.reset()
                continue
            rendered = base._engine.get_info()[0]
            np.testing.assert_array_equal(obs, resize_frame(rendered["rgb"], base.obs_size))
            assert info["level_seed"] == int(rendered["level_seed"])
            kept.append(obs)
            copies.append(obs.copy())
        assert len(kept) > 10
        for obs, copy in zip(kept, copies, strict=True):
            np.testing.assert_array_equal(obs, copy)
    finally:
        env.close()


def test_vizdoom_frames_rendered_small_stay_close_to_the_resized_native_frames():
    """256x256 frames now come from a 256x192 screen instead of the 320x240 one: same game, same view,
    a little less detail (docs/performance.md)."""
    pytest.importorskip("vizdoom")
    import gymnasium as gym

    envs = [gym.make("NitroGen/DoomDefendCenter-v0", obs_size=size) for size in ("native", 256)]
    try:
        base = envs[0].unwrapped
        pairs = [env.reset(seed=5)[0] for env in envs]
        actions = np.random.default_rng(2).integers(0, base.native_action_space().n, 40)
        for action in actions:
            steps = [env.step(base.native_to_gamepad(int(action))) for env in envs]
            assert steps[0][1:4] == steps[1][1:4]  # reward, terminated, truncated: the same game
            if steps[0][2] or steps[0][3]:
                break
            pairs.append(steps[0][0])
            pairs.append(steps[1][0])
        for native, small in zip(pairs[::2], pairs[1::2], strict=True):
            old = resize_frame(native, (256, 256)).astype(np.int16)
            assert small.shape == (256, 256, 3)
            assert np.abs(old - small).mean() < 6.0  # measured 3.7-4.2; a 40 px shift gives 11
    finally:
        for env in envs:
            env.close()


DUSK = 130
"""A Crafter step count shortly before night (daylight drops below 0.5 from step 148 of each 300)."""


def _crafter_rollout_matches_stock_render(size: tuple[int, int], steps: int, sleep_bias: float) -> dict[str, int]:
    """Play Crafter and, after every step, render the state with Crafter's renderer and with ours from the
    same random state: the frames must be equal byte for byte and leave the world's RNG in the same state
    (night noise draws one number per view pixel from it, and the game draws from it too)."""
    crafter = pytest.importorskip("crafter")
    from nitrogen_envs.engines.crafter_render import BufferedRenderer

    env = crafter.Env(size=size, seed=7)
    env.reset()
    env._step = DUSK  # each episode starts near dusk, so every one has a night
    ours = BufferedRenderer(env)
    rng = np.random.default_rng(0)
    seen = {"night": 0, "sleep": 0, "reset": 0}
    for _ in range(steps):
        action = 6 if rng.random() < sleep_bias else int(rng.integers(0, 17))  # 6 = sleep
        if env.step(action)[2]:
            env.reset()
            env._step = DUSK
            seen["reset"] += 1
        random = env._world.random
        before = random.get_state()
        expected = crafter.Env.render(env)
        after = random.get_state()
        random.set_state(before)
        frame = ours()
        assert frame.dtype == expected.dtype and frame.shape == expected.shape == (size[1], size[0], 3)
        np.testing.assert_array_equal(frame, expected)
        for mine, theirs in zip(random.get_state(), after, strict=True):
            np.testing.assert_array_equal(mine, theirs)
        seen["night"] += env._world.daylight < 0.5
        seen["sleep"] += bool(env._player.sleeping)
    return seen


@pytest.mark.parametrize(
    ("size", "steps", "sleep_bias"),
    [
        ((64, 64), 800, 0.05),
        ((128, 96), 500, 0.1),
        pytest.param((256, 256), 400, 0.05, marks=pytest.mark.slow),
    ],
    ids=["64px", "128x96", "256px"],
)
def test_crafter_buffered_renderer_gives_crafters_frames_byte_for_byte(size, steps, sleep_bias):
    """Over long rollouts with nights (noise from the world RNG), sleep (desaturated view) and resets."""
    seen = _crafter_rollout_matches_stock_render(size, steps, sleep_bias)
    assert seen["night"] > 20 and seen["sleep"] > 20 and seen["reset"] >= 1, seen


def test_crafter_env_renders_with_the_buffered_renderer():
    crafter = pytest.importorskip("crafter")
    import gymnasium as gym

    from nitrogen_envs.engines.crafter_render import BufferedRenderer
    from nitrogen_envs.engines.crafter_step import FastStep

    env = gym.make("NitroGen/Crafter-v0")
    try:
        obs, _ = env.reset(seed=1)
        engine = env.unwrapped._engine
        assert isinstance(engine.render, BufferedRenderer) and isinstance(engine.step, FastStep)
        assert engine._world.daylight >= 0.5  # daytime: no noise, so a second render is the same frame
        np.testing.assert_array_equal(obs, crafter.Env.render(engine))
        kept = obs.copy()
        env.step(env.unwrapped.native_to_gamepad(1))
        np.testing.assert_array_equal(obs, kept)  # a returned frame is never overwritten
    finally:
        env.close()


def test_an_episodes_last_observation_is_a_new_array():
    """Procgen draws no final frame for a finished level, so the last step repeats the frame before it: as its
    own array, or a user's buffer would hold one object twice (Gymnasium's passive checker warned)."""
    pytest.importorskip("procgen")
    import gymnasium as gym

    env = gym.make("NitroGen/Leaper-v0", obs_size=64, disable_env_checker=True)
    base = env.unwrapped
    try:
        previous, _ = env.reset(seed=0)
        up = base.native_to_gamepad(5)  # Leaper: UP until the level ends (the frog dies or crosses)
        for _ in range(400):
            obs, _, terminated, truncated, _ = env.step(up)
            if terminated or truncated:
                break
            previous = obs
        assert terminated or truncated
        assert obs is not previous and not np.shares_memory(obs, previous)
        np.testing.assert_array_equal(obs, previous)  # the frame before the end, repeated
    finally:
        env.close()
