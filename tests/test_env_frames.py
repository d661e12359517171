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
