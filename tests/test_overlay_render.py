"""Overlay styles, rendering and the layout format (the contract a user's own overlay follows)."""

import json
from dataclasses import replace

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from nitrogen_datasets.overlay import (  # noqa: E402
    ELEMENT_NAMES,
    InvalidLayout,
    OverlayRenderer,
    OverlayStyle,
    load_layout,
    parse_layout,
    preset_styles,
    random_style,
)
from nitrogen_datasets.overlay.layout import save_layout  # noqa: E402
from nitrogen_datasets.overlay.styles import FAMILIES, PRESS_EFFECTS  # noqa: E402
from nitrogen_envs import gamepad  # noqa: E402

STYLES = preset_styles()


def test_at_least_20_styles_cover_every_family_effect_opacity_and_scale():
    assert len(STYLES) >= 20
    assert {s.family for s in STYLES} == set(FAMILIES)
    assert {s.press_effect for s in STYLES} == set(PRESS_EFFECTS)
    assert min(s.opacity for s in STYLES) <= 0.35 and max(s.opacity for s in STYLES) == 1.0
    assert min(s.scale for s in STYLES) == 0.5 and max(s.scale for s in STYLES) == 2.0
    assert len({s.name for s in STYLES}) == len(STYLES)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_element_has_a_box_inside_the_template_and_boxes_do_not_overlap(family):
    renderer = OverlayRenderer(OverlayStyle(name=family, family=family))
    layout = renderer.layout()
    assert set(layout.elements) == set(ELEMENT_NAMES)
    width, height = renderer.template_size
    boxes = list(layout.elements.items())
    for name, box in boxes:
        assert box.x >= 0 and box.y >= 0 and box.x + box.w <= width and box.y + box.h <= height, name
    for i, (name_a, a) in enumerate(boxes):
        for name_b, b in boxes[i + 1 :]:
            overlap = a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h
            assert not overlap, (name_a, name_b)


@pytest.mark.parametrize("style", STYLES[:8], ids=lambda s: s.name)
def test_pressing_a_button_changes_only_its_own_box(style):
    renderer = OverlayRenderer(style)
    rest = renderer.draw(gamepad.noop_flat(), scale=1.0).astype(int)
    layout = renderer.layout()
    for name in ("south", "dpad_left", "left_shoulder"):
        action = gamepad.to_flat({"buttons": [name]})
        pressed = renderer.draw(action, scale=1.0).astype(int)
        changed = np.abs(pressed - rest).sum(axis=2) > 30
        box = layout.elements[name]
        margin = int(max(box.w, box.h) * 0.2) + 2  # the "grow" effect spills slightly past the box
        inside = np.zeros_like(changed)
        inside[max(0, box.y - margin) : box.y + box.h + margin, max(0, box.x - margin) : box.x + box.w + margin] = True
        assert changed[inside].sum() > 10, name
        assert not changed[~inside].any(), name


@pytest.mark.parametrize("family", FAMILIES)
def test_stick_knob_sits_where_the_layout_box_says(family):
    style = OverlayStyle(name=family, family=family, accent=(255, 0, 255), base=(0, 0, 0), panel_alpha=0.0)
    renderer = OverlayRenderer(style)
    box = renderer.layout().elements["left_stick"]
    for x, y in ((0.0, 0.0), (1.0, 0.0), (-0.5, 1.0), (0.3, -0.7)):
        image = renderer.draw(gamepad.to_flat({"left_stick": (x, y)}), scale=1.0)
        region = image[box.y - 8 : box.y + box.h + 8, box.x - 8 : box.x + box.w + 8]
        knob = (region[..., 0] > 200) & (region[..., 1] < 60) & (region[..., 2] > 200)
        # The gate outline shares the knob colour; keep the filled blob (the knob) by opening the mask.
        knob = cv2.morphologyEx(knob.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
        ys, xs = np.nonzero(knob)
        cx, cy = xs.mean() + box.x - 8, ys.mean() + box.y - 8
        expected = (box.x + (x + 1) / 2 * box.w, box.y + (1 - (y + 1) / 2) * box.h)
        assert abs(cx - expected[0]) < 1.5 and abs(cy - expected[1]) < 1.5, (x, y, cx, cy, expected)


def test_composite_blends_with_the_style_opacity():
    style = OverlayStyle(name="half", opacity=0.5, position=(0.0, 0.0), panel_alpha=1.0, panel=(255, 255, 255))
    frame = np.zeros((200, 300, 3), np.uint8)
    out = OverlayRenderer(style).composite(frame, gamepad.noop_flat())
    assert 120 <= out[75, 5].mean() <= 135  # a white panel pixel at 50% over black
    assert out[190, 290].sum() == 0  # outside the overlay nothing changes


def test_random_styles_are_valid_and_repeatable():
    assert random_style(3) == random_style(3)
    assert random_style(3) != random_style(4)
    for seed in range(20):
        OverlayRenderer(random_style(seed)).draw(gamepad.noop_flat())


def test_layout_round_trips_through_files(tmp_path):
    renderer = OverlayRenderer(STYLES[0])
    path = save_layout(renderer.layout(template_file="rest.png"), renderer.template(), tmp_path / "overlay.json")
    layout, template = load_layout(path)
    assert layout.elements == renderer.layout().elements
    assert template.shape == (*renderer.template_size[::-1], 4)
    assert json.loads(path.read_text())["format"] == "nitrogen-overlay-layout/1"


def _write(tmp_path, data, template=True):
    if template:
        cv2.imwrite(str(tmp_path / "rest.png"), np.zeros((50, 80, 3), np.uint8))
    path = tmp_path / "layout.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


GOOD = {
    "format": "nitrogen-overlay-layout/1",
    "name": "x",
    "template": "rest.png",
    "elements": {"south": {"box": [1, 1, 10, 10]}},
}


def test_layout_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(InvalidLayout, match=r"layout.json: not valid JSON \(line 1, column"):
        load_layout(_write(tmp_path, "{not json"))
    with pytest.raises(InvalidLayout, match=r"unknown element name\(s\) \['jump'\]; valid names are \['south'"):
        load_layout(_write(tmp_path, {**GOOD, "elements": {"jump": {"box": [0, 0, 5, 5]}}}))
    with pytest.raises(
        InvalidLayout, match=r"'south': box \[70, 1, 20, 10\] reaches \(90, 11\), outside the 80x50 template"
    ):
        load_layout(_write(tmp_path, {**GOOD, "elements": {"south": {"box": [70, 1, 20, 10]}}}))
    with pytest.raises(InvalidLayout, match=r"template image .*missing"):
        load_layout(_write(tmp_path, {**GOOD, "template": "nope.png"}, template=False))
    with pytest.raises(InvalidLayout, match="'format' must be 'nitrogen-overlay-layout/1'"):
        parse_layout({**GOOD, "format": "v0"})
    with pytest.raises(InvalidLayout, match=r"'box' must be four finite numbers \[x, y, w, h\]"):
        parse_layout({**GOOD, "elements": {"south": {"box": [1, 2, 3]}}})


def test_render_overlay_video_writes_lossy_h264_and_the_layout(tmp_path):
    av = pytest.importorskip("av")
    from nitrogen_datasets.overlay.video import render_overlay_video

    frames = [np.full((180, 320, 3), 60, np.uint8) for _ in range(12)]
    actions = np.stack([gamepad.to_flat({"buttons": ["south"] if i % 2 else []}) for i in range(12)])
    style = OverlayStyle(name="clip", position=(1.0, 1.0), scale=0.75)
    result = render_overlay_video(frames, actions, style, tmp_path / "clip.mp4", crf=28)
    with av.open(str(result.video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 12 and result.frames == 12
    layout, _ = load_layout(result.layout)
    box = layout.elements["south"]
    p = result.placement
    y0, y1 = p.y + int(box.y * p.scale), p.y + int((box.y + box.h) * p.scale)
    x0, x1 = p.x + int(box.x * p.scale), p.x + int((box.x + box.w) * p.scale)
    assert np.abs(decoded[1][y0:y1, x0:x1].astype(int) - decoded[0][y0:y1, x0:x1].astype(int)).mean() > 10


def test_overlay_render_command_on_a_recorded_episode(tmp_path):
    pytest.importorskip("av")
    from click.testing import CliRunner
    from fixtures.dataset_factories import make_episodes, write_dataset

    from nitrogen_envs.cli import cli

    data = write_dataset(tmp_path / "demos", make_episodes(count=1, steps=6))
    result = CliRunner().invoke(
        cli,
        [
            "overlay",
            "render",
            "--data",
            str(data),
            "--style",
            STYLES[1].name,
            "--scale",
            "0.5",
            "--resolution",
            "320x240",  # the fixture's 32x32 frames are smaller than any overlay
            "--out",
            str(tmp_path / "o.mp4"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        (tmp_path / "o.mp4").is_file()
        and (tmp_path / "o.layout.json").is_file()
        and (tmp_path / "o.rest.png").is_file()
    )
    bad = CliRunner().invoke(
        cli, ["overlay", "render", "--data", str(data), "--style", "nope", "--out", str(tmp_path / "x.mp4")]
    )
    assert bad.exit_code != 0 and "nitrogen overlay styles" in bad.output
    assert len(bad.output.strip().splitlines()) == 1


# ---- overlays that do not fit, streamer resolutions, progress (issue 16) -----------------------------------

DOCS_STYLE = "keycaps-fill-11"  # docs/overlay.md's example: 258x106 at scale 2 = 516x212, wider than 256 px frames


def _render(data, out, *extra):
    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    args = ["overlay", "render", "--data", str(data), "--style", DOCS_STYLE, "--out", str(out), *extra]
    return CliRunner().invoke(cli, args)


@pytest.fixture(scope="module")
def tiny_demos(tmp_path_factory):
    """The shared 32x32 CoinRun fixture dataset, one 6-step episode."""
    from fixtures.dataset_factories import make_episodes, write_dataset

    return write_dataset(tmp_path_factory.mktemp("tiny") / "demos", make_episodes(count=1, steps=6))


def test_an_overlay_too_big_for_the_frame_is_scaled_down_to_fit():
    from nitrogen_datasets.overlay.render import fit_style

    style = {s.name: s for s in STYLES}[DOCS_STYLE]
    assert OverlayRenderer(style).scaled_size() == (516, 212)
    fitted = fit_style(style, (256, 256))
    width, height = OverlayRenderer(fitted).scaled_size()
    assert width <= 256 and height <= 256 and width >= 250  # as large as fits, not just smaller
    assert fitted.scale == 0.99 and fitted == replace(style, scale=0.99)  # only the scale changes
    assert fit_style(style, (720, 1280)) is style  # a style that fits is left alone


def test_no_fit_refuses_naming_both_sizes_and_the_fix():
    from nitrogen_datasets.overlay.render import OverlayDoesNotFit, fit_style

    style = {s.name: s for s in STYLES}[DOCS_STYLE]
    with pytest.raises(OverlayDoesNotFit, match=r"516x212 px, larger than the 256x256 frame; draw it at scale 0.99"):
        fit_style(style, (256, 256), fit=False)
    # Below the smallest scale extract localizes, fitting would make it unfindable: refused, --resolution named.
    with pytest.raises(
        OverlayDoesNotFit, match=r"larger than the 32x32 frame; upscale the frames \(--resolution 1280x720"
    ):
        fit_style(style, (32, 32))


def test_render_no_fit_is_a_one_line_error_and_writes_nothing(tiny_demos, tmp_path):
    result = _render(tiny_demos, tmp_path / "clip.mp4", "--no-fit")
    assert result.exit_code == 1
    assert result.output.startswith("Error: overlay style keycaps-fill-11") and "--resolution" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_resolution_1280x720_output_has_that_size_with_the_gameplay_pillarboxed(tiny_demos, tmp_path):
    av = pytest.importorskip("av")
    result = _render(tiny_demos, tmp_path / "clip.mp4", "--resolution", "1280x720", "--quiet")
    assert result.exit_code == 0, result.output
    with av.open(str(tmp_path / "clip.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 6 and frames[0].shape == (720, 1280, 3)
    # Square gameplay keeps its aspect: 720x720 in the middle, black bars of 280 px either side.
    assert frames[0][:100, :270].max() < 20 and frames[0][:100, 1010:].max() < 20
    assert frames[0][:, 290:990].std() > 5
    layout, _ = load_layout(tmp_path / "clip.layout.json")
    assert layout.name == DOCS_STYLE


@pytest.mark.parametrize("value", ["12x", "1280*720", "1280x720x3", "0x0", "99999x720", "1281x720", "-1280x720"])
def test_a_bad_resolution_is_a_one_line_error(tiny_demos, tmp_path, value):
    result = _render(tiny_demos, tmp_path / "clip.mp4", "--resolution", value)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: resolution"), result.output
    assert "1280x720" in lines[0] or "use 1282x720" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_render_shows_progress_lines_off_a_terminal_and_quiet_hides_them(tiny_demos, tmp_path):
    shown = _render(tiny_demos, tmp_path / "a.mp4", "--resolution", "320x240")
    assert shown.exit_code == 0, shown.output
    assert "rendering keycaps-fill-11: 100%" in shown.stderr and "6/6" in shown.stderr
    assert "\r" not in shown.stderr  # one line per refresh in logs, no carriage-return redraws
    quiet = _render(tiny_demos, tmp_path / "b.mp4", "--resolution", "320x240", "--quiet")
    assert quiet.exit_code == 0 and "rendering" not in quiet.stderr


def test_the_docs_example_renders_then_extract_finds_the_overlay(tmp_path):
    """docs/overlay.md: keycaps-fill-11 onto 256 px CoinRun; the overlay used to run off the frame, unfindable."""
    pytest.importorskip("av")
    import gymnasium as gym
    from click.testing import CliRunner
    from fixtures.dataset_factories import roll_out, write_dataset

    from nitrogen_envs.cli import cli

    env = gym.make("NitroGen/CoinRun-v0", obs_size=256)
    try:
        data = write_dataset(tmp_path / "demos", [roll_out(env, 24, seed=0)])
    finally:
        env.close()
    rendered = _render(data, tmp_path / "clip.mp4", "--crf", "28")
    assert rendered.exit_code == 0, rendered.output
    assert "does not fit the 256x256 frame; drawn at scale 0.99" in rendered.stderr
    extracted = CliRunner().invoke(
        cli,
        ["overlay", "extract", str(tmp_path / "clip.mp4"), "--layout", str(tmp_path / "clip.layout.json"),
         "--out", str(tmp_path / "actions.parquet")],
    )  # fmt: skip
    assert extracted.exit_code == 0, extracted.output
    assert "scale 0.99" in extracted.output and (tmp_path / "actions.parquet").is_file()


def test_the_docs_render_command_runs_as_written(tiny_demos, tmp_path):
    """docs/overlay.md's `overlay render` line, on the tiny fixture dataset and into tmp_path (flags as written)."""
    import shlex
    from pathlib import Path

    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    doc = (Path(__file__).resolve().parents[1] / "docs" / "overlay.md").read_text()
    line = next(line for line in doc.splitlines() if line.startswith("nitrogen overlay render "))
    args = shlex.split(line)[1:]
    args[args.index("--data") + 1] = str(tiny_demos)
    args[args.index("--out") + 1] = str(tmp_path / "clip.mp4")
    result = CliRunner().invoke(cli, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "clip.layout.json").is_file()
