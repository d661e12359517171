"""Sprite-sheet overlay styles: determinism, per-element press states, knob travel, layouts, the held-out split."""

import itertools

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from nitrogen_datasets.overlay import OverlayRenderer  # noqa: E402
from nitrogen_datasets.overlay.layout import STICK_ELEMENTS  # noqa: E402
from nitrogen_datasets.overlay.sprite_layouts import KNOB_TO_TRAVEL, MAX_TEMPLATE  # noqa: E402
from nitrogen_datasets.overlay.sprite_styles import (  # noqa: E402
    SPRITE_FAMILIES,
    SPRITE_SPLIT,
    TREATMENTS,
    SpriteStyle,
    named_sprite_styles,
    sprite_style,
    training_sprite_style,
)
from nitrogen_datasets.overlay.styles import OverlayStyle, UnknownStyle, preset_style  # noqa: E402
from nitrogen_datasets.overlay.synthetic import training_style  # noqa: E402
from nitrogen_envs import gamepad  # noqa: E402

# One style of every treatment and press effect, spread over the families.
SAMPLE = [sprite_style(f"sprite-{family}-{(i * 3) % 16}") for i, family in enumerate(SPRITE_FAMILIES * 2)]


def _pressed(name: str, value: float = 1.0) -> np.ndarray:
    action = gamepad.noop_flat()
    action[gamepad.FLAT_NAMES.index(name)] = value
    return action


def test_same_style_gives_same_pixels_and_another_seed_gives_others():
    style = sprite_style("sprite-dualsense-4")
    action = np.random.default_rng(0).uniform(0, 1, gamepad.FLAT_SIZE).astype(np.float32)
    action[gamepad.STICK_SLICE] = action[gamepad.STICK_SLICE] * 2 - 1
    first = OverlayRenderer(style).draw(action, scale=1.3)
    assert np.array_equal(first, OverlayRenderer(sprite_style("sprite-dualsense-4")).draw(action, scale=1.3))
    other = SpriteStyle(**{**style.__dict__, "seed": style.seed + 1})
    assert not np.array_equal(OverlayRenderer(other).template(), OverlayRenderer(style).template())


def test_split_holds_out_two_families_and_two_treatments_and_covers_the_rest():
    split = SPRITE_SPLIT
    assert len(split.held_out_families) >= 2 and len(split.held_out_treatments) >= 2
    assert set(split.train_families) | set(split.held_out_families) == set(SPRITE_FAMILIES)
    assert set(split.train_treatments) | set(split.held_out_treatments) == set(TREATMENTS)
    held_out = named_sprite_styles(held_out=True)
    assert {s.family for s in held_out} == set(SPRITE_FAMILIES)  # a held-out treatment on every layout
    assert {s.treatment for s in held_out} == set(TREATMENTS)  # every treatment on a held-out layout


def test_parser_training_never_draws_a_held_out_sprite_family_or_treatment():
    rng = np.random.default_rng(0)
    drawn = [training_sprite_style(rng) for _ in range(400)]
    assert not any(SPRITE_SPLIT.is_held_out(style) for style in drawn)
    assert {s.family for s in drawn} == set(SPRITE_SPLIT.train_families)
    assert {s.treatment for s in drawn} == set(SPRITE_SPLIT.train_treatments)
    mixed = [training_style(rng, sprite_fraction=0.5) for _ in range(200)]
    sprites = [style for style in mixed if isinstance(style, SpriteStyle)]
    assert 60 < len(sprites) < 140 and not any(SPRITE_SPLIT.is_held_out(style) for style in sprites)


def _recording_renderers(monkeypatch) -> list:
    """Every style the training sampler draws, in order (the sampler's renderer, wrapped)."""
    from nitrogen_datasets.overlay import synthetic

    drawn = []

    def renderer(style):
        drawn.append(style)
        return OverlayRenderer(style)

    monkeypatch.setattr(synthetic, "OverlayRenderer", renderer)
    return drawn


def test_train_parser_with_sprites_never_draws_a_held_out_sprite_family_or_treatment(monkeypatch, tmp_path):
    """The training-config path (`train-parser --sprite-fraction`): pool and validation renders come from the
    split's train half only, and parser.json records the fraction."""
    pytest.importorskip("torch")
    import json

    from nitrogen_datasets.overlay.parser_config import ParserTrainConfig
    from nitrogen_datasets.overlay.parser_training import train_parser

    drawn = _recording_renderers(monkeypatch)
    config = ParserTrainConfig(
        renders=6, validation_renders=2, epochs=1, batch_size=64, workers=1, threads=1, sprite_fraction=1.0
    )
    train_parser(config, tmp_path / "parser", progress=False)
    assert len(drawn) == 8 and all(isinstance(style, SpriteStyle) for style in drawn)
    assert not any(SPRITE_SPLIT.is_held_out(style) for style in drawn)
    assert json.loads((tmp_path / "parser" / "parser.json").read_text())["training"]["sprite_fraction"] == 1.0


def test_train_parser_default_renders_the_shipped_parametric_stream(monkeypatch):
    """`sprite_fraction` 0 (the default) renders the pool sample for sample as before sprite styles existed:
    no sprite style drawn, no random number spent on the choice; a fraction above 0 changes the pool."""
    from nitrogen_datasets.overlay import parser_training, synthetic
    from nitrogen_datasets.overlay.parser_config import ParserNetConfig, ParserTrainConfig

    net = ParserNetConfig(button_margin=0.3)
    default = ParserTrainConfig().sprite_fraction
    assert default == 0.0

    def pool(**kwargs):
        return parser_training.render_pool(5, 3, net, workers=1, progress=False, desc="", **kwargs)

    with_sprites = pool(sprite_fraction=0.5)
    before = pool()  # the call the shipped parser's pool was rendered with
    drawn = _recording_renderers(monkeypatch)
    shipped = synthetic.ElementSampler(5 * 1_000_003, net=net).sample(3)  # the chunk's sampler, without the option
    monkeypatch.setattr(synthetic, "training_sprite_style", lambda rng: pytest.fail("a sprite style was drawn"))
    configured = pool(sprite_fraction=default)
    assert not any(isinstance(style, SpriteStyle) for style in drawn)
    for name in ("images", "targets", "kinds"):
        assert np.array_equal(getattr(configured, name), getattr(before, name)), name
        assert np.array_equal(getattr(configured, name), getattr(shipped, name)), name
    assert not np.array_equal(with_sprites.targets, configured.targets)


def test_training_without_sprites_draws_the_same_parametric_styles_as_before():
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    styles = [training_style(a) for _ in range(20)]
    assert all(isinstance(style, OverlayStyle) for style in styles)
    assert styles == [training_style(b, sprite_fraction=0.0) for _ in range(20)]


@pytest.mark.parametrize("family", SPRITE_FAMILIES)
def test_layout_boxes_lie_inside_the_template_and_do_not_overlap(family):
    for n in range(6):
        renderer = OverlayRenderer(sprite_style(f"sprite-{family}-{n}"))
        width, height = renderer.template_size
        assert width <= MAX_TEMPLATE[0] and height <= MAX_TEMPLATE[1]
        assert renderer.template().shape[:2] == (height, width)
        boxes = list(renderer.layout().elements.items())
        assert {name for name, _ in boxes} >= {"south", "start"}
        for name, box in boxes:
            assert box.x >= 0 and box.y >= 0 and box.x + box.w <= width and box.y + box.h <= height, (n, name)
        for i, (name_a, a) in enumerate(boxes):
            for name_b, b in boxes[i + 1 :]:
                overlap = a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h
                assert not overlap, (n, name_a, name_b)


@pytest.mark.parametrize("style", SAMPLE, ids=lambda s: s.name)
def test_pressing_an_element_changes_its_box_and_leaves_the_others_at_rest(style):
    renderer = OverlayRenderer(style)
    rest = renderer.template().astype(int)
    layout = renderer.layout()
    everything = gamepad.noop_flat()
    for name in layout.elements:
        if name not in STICK_ELEMENTS:
            everything[gamepad.FLAT_NAMES.index(name)] = 1.0
    for name, box in layout.elements.items():
        if name in STICK_ELEMENTS:
            continue
        inside = (slice(box.y, box.y + box.h), slice(box.x, box.x + box.w))
        pressed = renderer.draw(_pressed(name), scale=1.0).astype(int)
        changed = np.abs(pressed - rest)[inside].sum(axis=2) > 30
        assert changed.sum() >= 4, (name, int(changed.sum()))
        # Its box shows the released sprite when every other element is pressed (away from its edges,
        # where a neighbour's glow or growth may reach).
        others = everything.copy()
        others[gamepad.FLAT_NAMES.index(name)] = 0.0
        drawn = renderer.draw(others, scale=1.0).astype(int)
        core = (
            slice(box.y + box.h // 4, box.y + box.h - box.h // 4),
            slice(box.x + box.w // 4, box.x + box.w - box.w // 4),
        )
        assert (np.abs(drawn - rest)[core].sum(axis=2) > 30).mean() <= 0.1, name


def _knob_offset(
    renderer: OverlayRenderer, rest: np.ndarray, stick: str, action: np.ndarray, scale: float
) -> tuple[int, int]:
    """(dx, dy) pixels from the knob's place in ``rest`` to where its picture there best matches in ``draw(action)``."""
    element = renderer._sprites.elements[stick]
    cx, cy = (round(v * scale) for v in element.center)
    radius = element.knob * scale
    half = round(radius)
    patch = np.ascontiguousarray(rest[..., :3][cy - half : cy + half + 1, cx - half : cx + half + 1])
    disc = np.zeros(patch.shape, np.uint8)  # the knob's own pixels (its drawing covers the base there)
    cv2.circle(disc, (half, half), max(1, round(radius) - 1), (1, 1, 1), -1)
    reach = half + round(element.travel * scale) + 2
    area = np.ascontiguousarray(
        renderer.draw(action, scale=scale)[cy - reach : cy + reach + 1, cx - reach : cx + reach + 1, :3]
    )
    scores = cv2.matchTemplate(area, patch, cv2.TM_SQDIFF, mask=disc)
    _, _, (x, y), _ = cv2.minMaxLoc(scores)
    return x - (reach - half), y - (reach - half)


@pytest.mark.parametrize("style", SAMPLE[::2], ids=lambda s: s.name)
def test_knob_moves_monotonically_with_the_axis_by_its_travel(style):
    renderer = OverlayRenderer(style)
    scale = 2.0
    rest = renderer.draw(gamepad.noop_flat(), scale=scale)
    for stick in [name for name in renderer.layout().elements if name in STICK_ELEMENTS]:
        element = renderer._sprites.elements[stick]
        assert element.knob / element.travel >= KNOB_TO_TRAVEL[0] - 0.35  # larger than its travel (after rounding)
        travel = element.travel * scale
        for axis in (0, 1):
            column = gamepad.FLAT_NAMES.index(stick.replace("stick", "xy"[axis]))
            offsets = []
            for value in np.linspace(-1, 1, 9):
                action = gamepad.noop_flat()
                action[column] = value
                dx, dy = _knob_offset(renderer, rest, stick, action, scale)
                along, across = (dx, dy) if axis == 0 else (-dy, dx)  # +y is up, image y grows down
                assert abs(along - value * travel) <= 1 and abs(across) <= 1, (stick, axis, value, dx, dy)
                offsets.append(along)
            assert all(b >= a for a, b in itertools.pairwise(offsets)), (stick, axis, offsets)
            assert offsets[-1] - offsets[0] >= 2 * travel - 2


def test_an_analog_trigger_bar_fills_with_its_travel():
    styles = [s for s in named_sprite_styles() if s.family == "xbox"]
    for style in styles:
        renderer = OverlayRenderer(style)
        rest = renderer.template().astype(int)
        box = renderer.layout().elements["left_trigger"]
        inside = (slice(box.y, box.y + box.h), slice(box.x, box.x + box.w))
        counts = [
            int(
                (
                    np.abs(renderer.draw(_pressed("left_trigger", v), scale=1.0).astype(int) - rest)[inside].sum(2) > 30
                ).sum()
            )
            for v in (0.0, 0.3, 0.6, 1.0)
        ]
        assert counts[0] == 0 and counts[1] < counts[2] < counts[3], (style.name, counts)


def test_named_sprite_styles_render_through_the_style_names_users_type():
    style = preset_style("sprite-switch-pro-3")
    assert isinstance(style, SpriteStyle) and style.family == "switch-pro"
    with pytest.raises(UnknownStyle, match="sprite-<family>-<n>, family one of xbox, switch-pro"):
        preset_style("sprite-nes-1")


def test_a_rendered_sprite_clip_writes_a_layout_users_can_load(tmp_path):
    pytest.importorskip("av")
    from fixtures.overlay_factories import gameplay, random_actions

    from nitrogen_datasets.overlay import load_layout
    from nitrogen_datasets.overlay.video import render_overlay_video

    style = SpriteStyle(**{**sprite_style("sprite-gamecube-2").__dict__, "scale": 1.0})
    clip = render_overlay_video(gameplay(4), random_actions(4), style, tmp_path / "clip.mp4", crf=23)
    layout, template = load_layout(clip.layout)
    assert template.shape[:2] == OverlayRenderer(style).template_size[::-1]
    assert set(layout.elements) == set(OverlayRenderer(style).shapes)


@pytest.mark.parametrize("name", ["sprite-arcade-2", "sprite-dualshock-6", "sprite-keyboard-1"])
def test_the_shipped_localizer_finds_a_sprite_overlay_on_a_clean_frame(name):
    from fixtures.overlay_factories import gameplay

    from nitrogen_datasets.overlay.localize import localize

    style = SpriteStyle(**{**sprite_style(name).__dict__, "opacity": 1.0, "scale": 1.2, "position": (0.7, 0.8)})
    renderer = OverlayRenderer(style)
    frames = gameplay(9, size=(360, 640), seed=3)
    placement = renderer.placement((360, 640))
    composited = [renderer.composite(frame, gamepad.noop_flat(), placement) for frame in frames]
    found = localize(composited, renderer.template())
    assert abs(found.x - placement.x) <= 3 and abs(found.y - placement.y) <= 3, (found, placement)
    assert abs(found.scale - style.scale) <= 0.05


def test_the_training_sampler_cuts_sprite_overlays_into_element_samples():
    from nitrogen_datasets.overlay.synthetic import ElementSampler

    batch = ElementSampler(seed=1, sprite_fraction=1.0).sample(2)
    assert batch.images.shape[1:] == (32, 32, 10) and batch.images.dtype == np.uint8
    assert 2 * 10 <= len(batch.images) == len(batch.targets) == len(batch.kinds) <= 2 * 19
    assert np.isfinite(batch.targets).all() and set(batch.kinds.tolist()) <= {0, 1, 2}


def test_pixel_art_cells_scale_with_the_overlay_as_an_obs_scaled_texture_does():
    """A pixel-art sprite at scale 0.5 or 2 is the one at scale 1 with its cells halved or doubled, not redrawn with
    cells of the same output size: localization and knob matching find an overlay by its template resized, and a
    streamer's pixel art scaled in OBS is that."""
    from nitrogen_datasets.overlay.sprite_paint import Paint, paint_sprite

    paint = Paint("round", (200, 60, 40), outline=(20, 20, 20), outline_width=2.0, pixel=2)
    one, half, double = (paint_sprite(paint, (24, 16), scale, pad=0) for scale in (1.0, 0.5, 2.0))
    assert one.shape[:2] == (16, 24) and half.shape[:2] == (8, 12) and double.shape[:2] == (32, 48)
    assert np.array_equal(half, one[::2, ::2])  # a cell of 2 pixels at scale 1 is 1 pixel at 0.5
    assert np.array_equal(double[::2, ::2], one)  # and 4 pixels at scale 2
    assert np.array_equal(double, np.repeat(np.repeat(double[::4, ::4], 4, axis=0), 4, axis=1))
