"""Layouts from overlays users have: an OBS input-overlay preset imported, and a screenshot plus boxes."""

import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from fixtures.preset_factories import (  # noqa: E402
    KNOB,
    STICK_RADIUS,
    composite,
    preset_config_and_atlas,
    write_preset,
)

from nitrogen_datasets.overlay.layout import Box, InvalidLayout, load_layout  # noqa: E402
from nitrogen_datasets.overlay.preset import InvalidPreset, load_preset, parse_preset  # noqa: E402
from nitrogen_datasets.overlay.preset_import import PresetRenderer, dpad_frame, import_preset  # noqa: E402
from nitrogen_envs import gamepad  # noqa: E402

COLUMN = {name: index for index, name in enumerate(gamepad.FLAT_NAMES)}


def _action(**values):
    action = gamepad.noop_flat()
    for name, value in values.items():
        action[COLUMN[name]] = value
    return action


def test_import_maps_elements_by_sdl_code_and_lists_what_it_skips(tmp_path, caplog):
    config, atlas = write_preset(tmp_path / "preset")
    result = import_preset(config, atlas, tmp_path / "pad.layout.json")
    layout, template = load_layout(tmp_path / "pad.layout.json")
    assert layout.template == "pad.rest.png" and template.shape == (170, 300, 4)
    assert set(layout.elements) == {*gamepad.BUTTON_NAMES, *gamepad.TRIGGERS, "left_stick", "right_stick"} - {
        "left_thumb",
        "right_thumb",
    }
    assert result.skipped == ["'key W' (keyboard key)", "'mute' (gamepad button code 15: no such button)"]
    assert "skipped 2 element(s) it cannot read: 'key W' (keyboard key)" in caplog.text
    # A face button's box is its sprite (pos [236, 116], 19 px): everything its press recolours.
    assert layout.elements["south"] == Box(236, 116, 19, 19)
    # A stick's box is the knob sprite's centre at rest +- stick_radius: fractional for an odd sprite.
    centre = 60 - KNOB // 2 + KNOB / 2
    assert layout.elements["left_stick"] == Box(
        centre - STICK_RADIUS, 80 - KNOB // 2 + KNOB / 2 - STICK_RADIUS, 2 * STICK_RADIUS, 2 * STICK_RADIUS
    )
    assert layout.elements["left_stick"].x % 1 == 0.5


@pytest.mark.parametrize("stick", [(1.0, 0.0), (0.0, 1.0), (-1.0, -1.0), (0.5, -0.5)])
def test_the_knob_centre_sweeps_the_stick_box(tmp_path, stick):
    renderer = PresetRenderer(*load_preset(*write_preset(tmp_path)))
    box = renderer.layout().elements["left_stick"]
    drawn = renderer.draw(_action(left_x=stick[0], left_y=stick[1]))
    rest = renderer.template()
    knob = rest[round(box.center[1] - KNOB / 2) :, round(box.center[0] - KNOB / 2) :][:KNOB, :KNOB, :3]
    x0, y0 = round(box.x) - KNOB, round(box.y) - KNOB  # near this stick only (the other knob looks the same)
    near = drawn[y0 : round(box.y + box.h) + KNOB, x0 : round(box.x + box.w) + KNOB, :3]
    scores = cv2.matchTemplate(np.ascontiguousarray(near), np.ascontiguousarray(knob), cv2.TM_SQDIFF)
    x, y = cv2.minMaxLoc(scores)[2]
    found = (x0 + x + KNOB / 2, y0 + y + KNOB / 2)
    # +x right, +y up: the box's edges are -1/+1 (a knob between pixels is found to the nearest one).
    expected = (box.center[0] + stick[0] * box.w / 2, box.center[1] - stick[1] * box.h / 2)
    assert found == pytest.approx(expected, abs=1.0)


def test_dpad_shows_one_sprite_per_direction_as_the_plugin_does():
    assert dpad_frame(_action()) == 0
    assert dpad_frame(_action(dpad_left=1)) == 1
    assert dpad_frame(_action(dpad_up=1)) == 3
    assert dpad_frame(_action(dpad_up=1, dpad_left=1)) == 5
    assert dpad_frame(_action(dpad_down=1, dpad_right=1)) == 8
    assert dpad_frame(_action(dpad_up=1, dpad_down=1)) == 3  # up wins
    assert dpad_frame(_action(dpad_left=1, dpad_right=1)) == 2  # right wins


def test_a_progressive_trigger_reveals_its_pressed_sprite_in_proportion(tmp_path):
    renderer = PresetRenderer(*load_preset(*write_preset(tmp_path)))
    rest = renderer.template().astype(int)
    box = renderer.layout().elements["left_trigger"]  # direction 1: grows upwards from the bottom
    rows = []
    for pull in (0.25, 0.5, 1.0):
        changed = np.abs(renderer.draw(_action(left_trigger=pull)).astype(int) - rest).max(axis=(1, 2)) > 8
        rows.append(np.flatnonzero(changed))
    assert [len(r) for r in rows] == sorted(len(r) for r in rows) and len(rows[0]) < len(rows[2])
    assert all(r.max() == rows[2].max() for r in rows)  # every fill ends at the sprite's bottom
    # A full pull reveals the whole pressed sprite: every row of the trigger's box changes.
    assert (rows[2].min(), rows[2].max()) == (box.y, box.y + box.h - 1)


@pytest.mark.parametrize("method", ["learned", "reference"])
def test_an_imported_preset_round_trips_through_render_and_extract(tmp_path, method):
    """The preset's art, composited as OBS would at 1.25x and 90% opacity, then H.264: presses read back."""
    pytest.importorskip("av")
    pq = pytest.importorskip("pyarrow.parquet")
    from fixtures.overlay_factories import gameplay, random_actions

    from nitrogen_datasets.overlay.extract import ExtractConfig, extract
    from nitrogen_envs.video import VideoWriter

    config, atlas = write_preset(tmp_path / "preset")
    import_preset(config, atlas, tmp_path / "pad.layout.json")
    renderer = PresetRenderer(*load_preset(config, atlas))
    truth = random_actions(40, seed=5)
    # A d-pad cannot hold opposite directions, and the plugin's sprite then shows only one of them.
    truth[truth[:, COLUMN["dpad_up"]] >= 0.5, COLUMN["dpad_down"]] = 0
    truth[truth[:, COLUMN["dpad_right"]] >= 0.5, COLUMN["dpad_left"]] = 0
    with VideoWriter(tmp_path / "clip.mp4", crf=23) as writer:
        for frame, action in zip(gameplay(40, size=(360, 640)), truth, strict=True):
            writer.write(composite(frame, renderer.draw(action, scale=1.25), (220, 120), opacity=0.9))
    result = extract(
        tmp_path / "clip.mp4", tmp_path / "pad.layout.json", tmp_path / "a.parquet", config=ExtractConfig(method=method)
    )
    assert (result.localization.x, result.localization.y) == pytest.approx((220, 120), abs=2)
    table = pq.read_table(result.actions)
    got = np.stack([table.column(name).to_numpy() for name in gamepad.FLAT_NAMES], axis=1)
    read = [COLUMN[name] for name in gamepad.BUTTON_NAMES if name not in ("left_thumb", "right_thumb")]
    buttons_ok = (got[:, read] >= 0.5) == (truth[:, read] >= 0.5)
    assert buttons_ok.mean() >= 0.97, buttons_ok.mean(axis=0)
    triggers_ok = (got[:, gamepad.TRIGGER_SLICE] >= 0.5) == (truth[:, gamepad.TRIGGER_SLICE] >= 0.5)
    assert triggers_ok.mean() >= 0.95


def test_preset_errors_name_the_file_the_element_and_the_fix(tmp_path):
    config, _ = preset_config_and_atlas()
    with pytest.raises(InvalidPreset, match=r"p.json: not an input-overlay config \(a JSON object with an 'elements'"):
        parse_preset({"elements": {}}, "p.json")
    broken = {**config, "elements": [{**config["elements"][1], "mapping": [1, 2, 3]}]}
    with pytest.raises(InvalidPreset, match=r"p.json: element 0 \(button A\): 'mapping' must be 4 integers"):
        parse_preset(broken, "p.json")
    huge = {**config, "overlay_width": 10**9}
    with pytest.raises(InvalidPreset, match=r"'overlay_width' must be an integer 0-8192"):
        parse_preset(huge, "p.json")
    folder = tmp_path / "p"
    config_path, atlas_path = write_preset(folder)
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((40, 40, 4), np.uint8))
    with pytest.raises(
        InvalidPreset, match=r"element 0 \(body\) maps atlas rectangle .* outside the 40x40 atlas small.png"
    ):
        load_preset(config_path, small)
    keyboard_only = {**config, "elements": [e for e in config["elements"] if e["type"] in (0, 1)]}
    (folder / "keys.json").write_text(json.dumps(keyboard_only))
    with pytest.raises(InvalidPreset, match=r"keys: no element can be read as gamepad input \(skipped: 'key W'"):
        import_preset(folder / "keys.json", atlas_path, tmp_path / "keys.layout.json")
    assert not (tmp_path / "keys.layout.json").exists()


def test_import_preset_command_writes_the_layout_and_exits_non_zero_on_a_bad_preset(tmp_path):
    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    config, atlas = write_preset(tmp_path / "preset")
    runner = CliRunner()
    ok = runner.invoke(
        cli,
        ["overlay", "import-preset", str(config), "--texture", str(atlas), "--out", str(tmp_path / "pad.layout.json")],
    )
    assert ok.exit_code == 0, ok.output
    assert "17 elements" in ok.output and (tmp_path / "pad.rest.png").exists()
    assert "skipped 2 element(s) it cannot read" in ok.output
    bad = runner.invoke(
        cli, ["overlay", "import-preset", str(atlas), "--texture", str(atlas), "--out", str(tmp_path / "x.json")]
    )
    assert bad.exit_code != 0
    assert "pad.png is not UTF-8 text" in bad.output and "Traceback" not in bad.output


# ---- the screenshot route -------------------------------------------------------------------------------------
def _screenshot(tmp_path):
    """A 1280x720 'screenshot': the preset's rest drawing over an OBS colour source (#00ff00) at (900, 480)."""
    config, atlas = write_preset(tmp_path / "preset")
    renderer = PresetRenderer(*load_preset(config, atlas))
    rest = renderer.template()
    green = np.zeros((720, 1280, 3), np.uint8)
    green[..., 1] = 255
    shot = composite(green, rest, (900, 480))
    cv2.imwrite(str(tmp_path / "shot.png"), cv2.cvtColor(shot, cv2.COLOR_RGB2BGR))
    boxes = {name: [box.x + 900, box.y + 480, box.w, box.h] for name, box in renderer.layout().elements.items()}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    return renderer, rest


def test_make_layout_crops_keys_out_the_background_and_moves_the_boxes(tmp_path):
    from nitrogen_datasets.overlay.screenshot import ScreenshotLayoutConfig, make_layout

    renderer, rest = _screenshot(tmp_path)
    config = ScreenshotLayoutConfig(crop=(900, 480, 300, 170), key_color=(0, 255, 0))
    make_layout(tmp_path / "shot.png", tmp_path / "boxes.json", tmp_path / "my.layout.json", config)
    layout, template = load_layout(tmp_path / "my.layout.json")
    assert layout.elements == renderer.layout().elements
    assert template.shape == (170, 300, 4)
    # Keyed out exactly where the overlay is transparent (its anti-aliased rim, blended with green, stays).
    assert ((template[..., 3] == 0) == (rest[..., 3] == 0)).mean() > 0.99
    solid = rest[..., 3] == 255
    assert np.abs(template[solid][:, :3].astype(int) - rest[solid][:, :3]).max() <= 1


def test_make_layout_refuses_boxes_outside_the_crop_and_bad_options(tmp_path):
    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    _screenshot(tmp_path)
    runner = CliRunner()
    args = [
        "overlay",
        "make-layout",
        "--screenshot",
        str(tmp_path / "shot.png"),
        "--boxes",
        str(tmp_path / "boxes.json"),
    ]
    ok = runner.invoke(
        cli, [*args, "--out", str(tmp_path / "a.layout.json"), "--crop", "900,480,300,170", "--key-color", "#00ff00"]
    )
    assert ok.exit_code == 0, ok.output
    assert "on a 300x170 template" in ok.output
    small = runner.invoke(cli, [*args, "--out", str(tmp_path / "b.json"), "--crop", "900,480,200,170"])
    assert small.exit_code != 0 and "Traceback" not in small.output
    assert (
        "boxes moved into the 200x170 crop at 900,480" in small.output
        and "outside the 200x170 template" in small.output
    )
    color = runner.invoke(cli, [*args, "--out", str(tmp_path / "c.json"), "--key-color", "green"])
    assert color.exit_code != 0 and "colour 'green' is not #rrggbb or r,g,b" in color.output
    everything = runner.invoke(
        cli, [*args, "--out", str(tmp_path / "d.json"), "--key-color", "0,255,0", "--key-tolerance", "255"]
    )
    assert everything.exit_code != 0 and "leaves no pixel" in everything.output


def test_make_layout_reads_a_layouts_elements_object_too(tmp_path):
    from nitrogen_datasets.overlay.screenshot import make_layout

    _screenshot(tmp_path)
    (tmp_path / "boxes.json").write_text(json.dumps({"elements": {"south": {"box": [1136.5, 596, 19, 19]}}}))
    layout = make_layout(tmp_path / "shot.png", tmp_path / "boxes.json", tmp_path / "l.layout.json")
    assert layout.elements == {"south": Box(1136.5, 596, 19, 19)} and layout.template_size == (1280, 720)
    (tmp_path / "boxes.json").write_text(json.dumps({"jump": [1, 1, 5, 5]}))
    with pytest.raises(InvalidLayout, match=r"boxes.json: unknown element name\(s\) \['jump'\]"):
        make_layout(tmp_path / "shot.png", tmp_path / "boxes.json", tmp_path / "l.layout.json")


def test_a_stick_sweeping_past_the_overlay_grows_the_template_with_clear_margins(tmp_path):
    config, atlas = preset_config_and_atlas()
    stick = next(e for e in config["elements"] if e["id"] == "left analog")
    stick["pos"] = [-10, 40]  # its knob's centre at x = 4.5: the sweep (radius 11) starts 6.5 px left of the overlay
    renderer = PresetRenderer(parse_preset(config, "p.json"), atlas)
    assert renderer.origin == (-7, 0) and renderer.size == (307, 170)
    layout = renderer.layout()
    assert layout.elements["left_stick"].x == pytest.approx(0.5)  # 4.5 - 11 + 7
    rest = renderer.draw(_action(left_x=-1.0))
    assert not rest[:, :7, 3].any()  # OBS draws nothing outside the overlay's own rectangle
    unsized = PresetRenderer(parse_preset({**config, "overlay_width": 0, "overlay_height": 0}, "p.json"), atlas)
    assert unsized.size[0] >= 300 and unsized.template()[..., 3].any()
