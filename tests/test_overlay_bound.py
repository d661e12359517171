"""The oracle reader that says how much button and trigger state a compressed clip still holds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from nitrogen_datasets.overlay.bound import decoded_frames, element_regions, oracle_hits
from nitrogen_datasets.overlay.render import OverlayRenderer, Placement
from nitrogen_datasets.overlay.styles import preset_styles
from nitrogen_datasets.overlay.synthetic import random_action, scrolling_scenes
from nitrogen_datasets.overlay.video import render_overlay_video
from nitrogen_envs import gamepad

STYLES = {style.name: style for style in preset_styles()}
FRAMES = 12


def _oracle_accuracy(tmp_path, name: str, scale: float, crf: int) -> float:
    style = replace(STYLES[name], scale=scale)
    rng = np.random.default_rng(3)
    actions = np.stack([random_action(rng) for _ in range(FRAMES)])
    actions[:, 4:6] = (actions[:, 4:6] >= 0.5).astype(np.float32)
    clip = render_overlay_video(scrolling_scenes(3, FRAMES, (180, 320)), actions, style, tmp_path / "c.mp4", crf=crf)
    renderer = OverlayRenderer(style)
    hits = oracle_hits(
        renderer, clip.placement, scrolling_scenes(3, FRAMES, (180, 320)), decoded_frames(clip.video), actions
    )
    assert set(hits) == {name for name in renderer.shapes if name in gamepad.BUTTON_NAMES + gamepad.TRIGGERS}
    return sum(hits.values()) / (FRAMES * len(hits))


def test_oracle_reads_every_press_of_a_clear_clip(tmp_path):
    assert _oracle_accuracy(tmp_path, "keycaps-color-07", scale=1.0, crf=18) == 1.0


def test_oracle_misses_presses_the_encoder_erased(tmp_path):
    """A 30%-opaque half-size outline at the worst quality: some presses are gone from the video."""
    assert _oracle_accuracy(tmp_path, "xbox-highlight-00", scale=0.5, crf=51) < 0.95


def test_blend_is_composite_restricted_to_a_region():
    renderer = OverlayRenderer(STYLES["playstation-fill-09"])
    frame = np.random.default_rng(0).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    action = random_action(np.random.default_rng(1))
    placement = Placement(150, 40, 0.5)  # partly outside the frame
    full = renderer.composite(frame, action, placement)
    drawn = renderer.draw(action, scale=placement.scale)
    for rect in ((140, 30, 190, 90), (190, 100, 260, 160), (-10, -10, 20, 20)):
        x0, y0, x1, y1 = max(0, rect[0]), max(0, rect[1]), min(200, rect[2]), min(120, rect[3])
        assert np.array_equal(renderer.blend(frame, drawn, placement, rect), full[y0:y1, x0:x1])


def test_regions_cover_each_button_and_trigger_with_a_margin():
    renderer = OverlayRenderer(STYLES["xbox-grow-12"])
    placement = Placement(10, 20, 2.0)
    regions = element_regions(renderer, placement)
    assert "left_stick" not in regions and "south" in regions and "left_trigger" in regions
    box = renderer.layout().elements["south"]
    x0, y0, x1, y1 = regions["south"]
    assert x0 < 10 + box.x * 2 and x1 > 10 + (box.x + box.w) * 2  # a pressed "grow" button stays inside
    assert y0 < 20 + box.y * 2 and y1 > 20 + (box.y + box.h) * 2


@pytest.mark.slow
def test_eval_bound_flag_adds_the_oracle_columns():
    from nitrogen_envs.cli import cli

    args = ["overlay", "eval", "--style", "xbox-fill-08", "--crf", "23", "--scale", "1", "--frames", "12", "--bound"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "button bound" in result.output and "oracle bound" in result.output
