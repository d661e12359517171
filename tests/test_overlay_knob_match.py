"""Sticks read by matching the layout's own knob sprite (knob_match): sprite art no parser trained on."""

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("av")

from nitrogen_datasets.overlay.errors import InvalidOverlayConfig
from nitrogen_datasets.overlay.extract import ExtractConfig, read_actions
from nitrogen_datasets.overlay.knob_match import KnobMatchConfig, MaskedPatches, StickMatcher, masked_ncc
from nitrogen_datasets.overlay.layout import Box
from nitrogen_datasets.overlay.localize import Localization
from nitrogen_datasets.overlay.sprite_styles import sprite_style
from nitrogen_datasets.overlay.synthetic import scrolling_scenes
from nitrogen_datasets.overlay.video import render_overlay_video
from nitrogen_envs import gamepad

FRAMES = 40
STICK_COLUMNS = [gamepad.FLAT_NAMES.index(axis) for axis in gamepad.STICK_AXES]
# A sticker-drawn Xbox pad at 61% opacity whose knob recolours when the stick is clicked (L3/R3); its knob
# sprite is larger than the knob's travel, as every sprite style's is.
STYLE = "sprite-xbox-5"


def _sweeps(frames: int) -> np.ndarray:
    """Both sticks circling at different speeds (one reaching the rim), thumbs clicked for a stretch."""
    actions = np.stack([gamepad.noop_flat() for _ in range(frames)]).astype(np.float32)
    t = np.linspace(0.0, 2.0 * np.pi, frames)
    column = {name: index for index, name in enumerate(gamepad.FLAT_NAMES)}
    actions[:, column["left_x"]], actions[:, column["left_y"]] = np.cos(t), np.sin(t)
    actions[:, column["right_x"]], actions[:, column["right_y"]] = 0.6 * np.sin(2 * t), -0.5 * np.cos(t)
    actions[frames // 3 : frames // 2, column["left_thumb"]] = 1.0
    actions[frames // 2 :, column["right_thumb"]] = 1.0
    return actions


def _render(folder, actions: np.ndarray, scale: float):
    style = replace(sprite_style(STYLE), scale=scale)
    return render_overlay_video(
        scrolling_scenes(3, len(actions), (360, 640)), actions, style, folder / "clip.mp4", crf=28
    )


def _read(clip, sticks: str = "knob") -> np.ndarray:
    return read_actions(clip.video, clip.layout, ExtractConfig(method="reference", sticks=sticks)).actions


@pytest.fixture(scope="module")
def sweep_clip(tmp_path_factory):
    """The sweeping clip at scale 1.5, rendered once for the tests that read it."""
    return _render(tmp_path_factory.mktemp("sweep"), _sweeps(FRAMES), 1.5)


def _r2(truth: np.ndarray, got: np.ndarray) -> float:
    return float(1.0 - ((truth - got) ** 2).sum() / ((truth - truth.mean()) ** 2).sum())


@pytest.mark.parametrize("scale", [0.75, 1.5])
def test_sweeping_sticks_read_back_from_a_sprite_clip(tmp_path, sweep_clip, scale):
    truth = _sweeps(FRAMES)
    got = _read(sweep_clip if scale == 1.5 else _render(tmp_path, truth, scale))
    assert _r2(truth[:, STICK_COLUMNS], got[:, STICK_COLUMNS]) >= 0.97


def test_centred_sticks_read_centred(tmp_path):
    idle = np.stack([gamepad.noop_flat() for _ in range(FRAMES)]).astype(np.float32)
    got = _read(_render(tmp_path, idle, 1.0))
    assert np.abs(got[:, STICK_COLUMNS]).max() <= 0.06


def test_sticks_option_keeps_the_parsers_readings_and_refuses_unknown_readers(sweep_clip):
    truth = _sweeps(FRAMES)
    knob, parser = _read(sweep_clip), _read(sweep_clip, sticks="parser")
    others = [i for i in range(gamepad.FLAT_SIZE) if i not in STICK_COLUMNS]
    np.testing.assert_array_equal(knob[:, others], parser[:, others])  # buttons and triggers unchanged
    # The reference parser's own stick reading misses this art; the knob matcher does not.
    assert _r2(truth[:, STICK_COLUMNS], knob[:, STICK_COLUMNS]) > _r2(truth[:, STICK_COLUMNS], parser[:, STICK_COLUMNS])
    with pytest.raises(InvalidOverlayConfig, match="sticks must be one of"):
        ExtractConfig(sticks="hough")
    with pytest.raises(InvalidOverlayConfig, match="feature must be one of"):
        KnobMatchConfig(feature="colour")


def _pad(knob_x: float, knob_y: float, size: int = 120) -> np.ndarray:
    """A drawn pad: a dark base disc (radius 40) and a bright knob (radius 16, larger than its travel 10) at a
    sub-pixel centre, supersampled 8x."""
    import cv2

    big = np.full((size * 8, size * 8, 3), 40, np.uint8)
    cv2.circle(big, (size * 4, size * 4), 40 * 8, (90, 90, 120), -1)
    center = (round(knob_x * 8), round(knob_y * 8))
    cv2.circle(big, center, 16 * 8, (230, 200, 60), -1)
    cv2.circle(big, center, 6 * 8, (120, 100, 30), -1)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("offset", [(0.0, 0.0), (3.25, -2.5), (-10.0, 0.0), (7.0, 7.0)])
def test_the_knob_is_found_to_a_fraction_of_a_pixel(offset):
    box = Box(50.0, 50.0, 20.0, 20.0)  # the knob's centre sweeps 60 +- 10
    matcher = StickMatcher(box, Localization(0, 0, 1.0, 1.0), _pad(60.0, 60.0))
    x, y, _ = matcher.read(_pad(60.0 + offset[0], 60.0 + offset[1]))
    assert x == pytest.approx(offset[0] / 10.0, abs=0.03) and y == pytest.approx(-offset[1] / 10.0, abs=0.03)


@pytest.mark.parametrize("side", [7, 11, 23, 41])  # both ways of summing under the mask (direct up to 11 px)
def test_masked_ncc_is_opencvs_masked_normalized_correlation(side):
    import cv2

    rng = np.random.default_rng(side)
    images = [
        cv2.GaussianBlur(rng.random((side + 19, side + 23), dtype=np.float32) * 255, (0, 0), 1.5) for _ in range(2)
    ]
    yy, xx = np.mgrid[0:side, 0:side]
    mask = (np.hypot(yy - side / 2 + 0.5, xx - side / 2 + 0.5) <= side / 2).astype(np.float32)
    patches = [image[5 : 5 + side, 7 : 7 + side].copy() for image in images]
    got = masked_ncc(images, MaskedPatches.prepare(patches, mask))
    for image, patch, score in zip(images, patches, got, strict=True):
        expected = cv2.matchTemplate(image, patch, cv2.TM_CCOEFF_NORMED, mask=mask)
        np.testing.assert_allclose(score, expected, atol=1e-3)
        assert np.unravel_index(score.argmax(), score.shape) == (5, 7)  # the patch is found where it was cut
    flat = masked_ncc([np.full_like(images[0], 80.0)], MaskedPatches.prepare(patches[:1], mask))[0]
    assert (flat == -1.0).all()  # nothing to correlate with: the worst score, as NaN read before
