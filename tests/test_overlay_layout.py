"""Layout files as users have them: fractional (sub-pixel) boxes are read, validated and extracted from."""

import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from nitrogen_datasets.overlay.layout import (  # noqa: E402
    Box,
    InvalidLayout,
    OverlayLayout,
    load_layout,
    parse_layout,
    save_layout,
)

FRACTIONAL = {
    "format": "nitrogen-overlay-layout/1",
    "name": "converted",
    "template": "rest.png",
    "elements": {"south": {"box": [312.54, 145.2, 31.79, 27.07]}, "left_stick": {"box": [20, 40.5, 40, 40]}},
}


def test_fractional_boxes_are_read_as_given_and_written_back_unchanged(tmp_path):
    layout = parse_layout(FRACTIONAL, template_size=(400, 200))
    assert layout.elements["south"] == Box(312.54, 145.2, 31.79, 27.07)
    assert layout.elements["south"].center == pytest.approx((328.435, 158.735))
    path = save_layout(layout, np.zeros((200, 400, 4), np.uint8), tmp_path / "converted.json")
    assert json.loads(path.read_text())["elements"] == FRACTIONAL["elements"]
    assert load_layout(path)[0].elements == layout.elements


def test_integer_layouts_are_written_exactly_as_before(tmp_path):
    layout = OverlayLayout("x", "rest.png", {"south": Box(1, 2, 10, 12)})
    path = save_layout(layout, np.zeros((50, 80, 3), np.uint8), tmp_path / "layout.json")
    assert '"box": [\n        1,\n        2,\n        10,\n        12\n      ]' in path.read_text()
    assert json.loads(path.read_text())["format"] == "nitrogen-overlay-layout/1"


@pytest.mark.parametrize(
    "box",
    [[1, 2, float("nan"), 3], [1, 2, float("inf"), 3], [True, 2, 3, 4], ["1", 2, 3, 4], [1, 2, 3], None],
    ids=["nan", "inf", "bool", "string", "three", "missing"],
)
def test_boxes_that_are_not_four_finite_numbers_are_refused(box):
    data = {**FRACTIONAL, "elements": {"south": {"box": box}}}
    with pytest.raises(InvalidLayout, match=r"<layout>: element 'south': 'box' must be four finite numbers"):
        parse_layout(data, template_size=(400, 200))


def test_fractional_boxes_must_lie_inside_the_template_up_to_float_noise():
    def with_box(box):
        return {**FRACTIONAL, "elements": {"south": {"box": box}}}

    parse_layout(with_box([370.0, 0, 30.000000001, 200]), template_size=(400, 200))  # float noise at the edge
    with pytest.raises(InvalidLayout, match=r"box \[370.5, 0, 30, 10\] reaches \(400.5, 10\), outside the 400x200"):
        parse_layout(with_box([370.5, 0, 30, 10]), template_size=(400, 200))
    with pytest.raises(InvalidLayout, match=r"needs x, y >= 0 and w, h > 0"):
        parse_layout(with_box([1, 1, 0.0, 5]), template_size=(400, 200))
    with pytest.raises(InvalidLayout, match=r"needs x, y >= 0 and w, h > 0"):
        parse_layout(with_box([-0.5, 1, 3, 5]), template_size=(400, 200))


@pytest.mark.parametrize("method", ["learned", "reference"])
def test_a_fractional_layout_extracts_the_same_actions_as_the_integer_one(tmp_path, method):
    """The same overlay described at 1.3x (a template resized by a converter, every box fractional) reads the same."""
    pytest.importorskip("av")
    pq = pytest.importorskip("pyarrow.parquet")
    from fixtures.overlay_factories import gameplay, random_actions

    from nitrogen_datasets.overlay.extract import ExtractConfig, extract
    from nitrogen_datasets.overlay.styles import OverlayStyle, preset_styles
    from nitrogen_datasets.overlay.video import render_overlay_video
    from nitrogen_envs import gamepad

    style = OverlayStyle(**{**preset_styles()[1].__dict__, "opacity": 1.0, "scale": 1.25, "position": (0.9, 0.85)})
    truth = random_actions(40, seed=3)
    clip = render_overlay_video(gameplay(40, size=(360, 640)), truth, style, tmp_path / "clip.mp4", crf=23)
    layout, template = load_layout(clip.layout)
    factor = 1.3
    big = cv2.resize(template, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    assert big.shape[:2] == (round(template.shape[0] * factor), round(template.shape[1] * factor))
    boxes = {name: Box(*(v * factor for v in box.as_list())) for name, box in layout.elements.items()}
    assert any(v != round(v) for box in boxes.values() for v in box.as_list())
    fractional = save_layout(OverlayLayout("big", "big.png", boxes), big, tmp_path / "big.layout.json")

    config = ExtractConfig(method=method)
    results = [
        extract(clip.video, path, tmp_path / f"{i}.parquet", config=config)
        for i, path in enumerate((clip.layout, fractional))
    ]
    assert results[1].localization.scale == pytest.approx(results[0].localization.scale / factor, rel=0.03)
    tables = [pq.read_table(r.actions) for r in results]
    got = [np.stack([t.column(n).to_numpy() for n in gamepad.FLAT_NAMES], axis=1) for t in tables]
    presses = [(g[:, gamepad.BUTTON_SLICE] >= 0.5) for g in got]
    assert (presses[0] == presses[1]).mean() >= 0.99, (presses[0] != presses[1]).sum()
    truth_presses = truth[:, gamepad.BUTTON_SLICE] >= 0.5
    assert (presses[1] == truth_presses).mean() >= 0.95
    assert np.abs(got[0][:, gamepad.STICK_SLICE] - got[1][:, gamepad.STICK_SLICE]).mean() < 0.05
