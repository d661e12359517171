"""Draw a :class:`~.sprite_styles.SpriteStyle` the way an input-overlay preset is drawn: from a sprite sheet.

:func:`sample_look` turns the style's seed into a palette and drawing settings; :class:`SpriteSheet` paints
each element's released and pressed sprite (and each stick's base and knob) once per output scale and, for
every action, lays the chosen sprites over the static background: a button shows its pressed sprite at
>= 0.5, a d-pad direction its own sprite, an analog trigger the pressed sprite cut to its travel along the
fill direction (a button-style trigger switches at 0.5), and a stick's knob moves by ``travel x axis``
(+y up) with sub-pixel precision. :class:`~.render.OverlayRenderer` hands sprite styles to this module,
so compositing, layouts and evaluation treat both kinds of style alike.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from nitrogen_datasets.overlay.sprite_layouts import SpriteElement, sprite_geometry
from nitrogen_datasets.overlay.sprite_paint import RGB, Paint, over_patch, paint_sprite
from nitrogen_datasets.overlay.sprite_styles import SpriteStyle
from nitrogen_datasets.overlay.styles import Shape
from nitrogen_envs import gamepad

FILL_DIRECTIONS = ("right", "left", "up", "down")
"""Which way an analog trigger bar fills as it is pulled (``right``: from its left edge rightwards)."""
_FILL_MODE = {"gradient": "gradient", "textured": "texture", "glossy": "radial"}
_THUMBS = {"left_stick": "left_thumb", "right_stick": "right_thumb"}
_STICK_AXES = {"left_stick": (0, 1), "right_stick": (2, 3)}
_CACHED_SCALES = 4
"""Sprite sheets kept per style (one per output scale drawn lately: a clip, its template, a fitted copy)."""


@dataclass(frozen=True)
class SpriteLook:
    """Everything about a sprite style's appearance that its seed fixes.

    Colours are RGB; lengths are template pixels. ``body_alpha`` 0 draws floating sprites with no
    controller body behind them; ``sprite_alpha`` below 1 draws translucent sprites.
    """

    body: RGB
    body_alpha: float
    released: RGB
    pressed: RGB
    outline: RGB
    glyph: RGB
    outline_width: float
    sprite_alpha: float
    shadow: float
    glow: float
    angle: float
    glyphs: bool
    fill_direction: str
    thumb_recolour: bool
    press_shift: float
    press_grow: float


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def _distance(a: RGB, b: RGB) -> int:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))


def sample_look(style: SpriteStyle) -> SpriteLook:
    """The look the style's seed fixes (palette, widths, shadow, glow, glyphs, trigger fill, press sizes)."""
    rng = np.random.default_rng([style.seed, 0x100C])
    treatment = style.treatment
    while True:  # a press must stay visible and labels readable: real presets never draw them alike
        hue = float(rng.uniform())
        released = _hsv(hue, float(rng.uniform(0.0, 0.7)), float(rng.uniform(0.15, 0.9)))
        if treatment == "neon":
            released = _hsv(hue, 0.6, float(rng.uniform(0.08, 0.22)))
        pressed = _hsv(hue + float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.4, 1.0)), float(rng.uniform(0.6, 1.0)))
        roll = rng.random()
        outline = (245, 245, 245) if roll < 0.35 else (15, 15, 15) if roll < 0.6 else _hsv(
            hue + 0.5, float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.5, 1.0)))  # fmt: skip
        if treatment == "sticker":
            outline = _hsv(hue, 0.08, 0.97)
        if _distance(pressed, released) > 120 and _distance(outline, released) > 90:
            break
    light = sum(released) > 3 * 128
    body = _hsv(
        hue,
        float(rng.uniform(0.0, 0.4)),
        float(rng.uniform(0.05, 0.3) if light or rng.random() < 0.6 else rng.uniform(0.7, 0.95)),
    )
    return SpriteLook(
        body=body,
        body_alpha=0.0 if rng.random() < 0.4 else float(rng.uniform(0.5, 1.0)),
        released=released,
        pressed=pressed,
        outline=outline,
        glyph=(20, 20, 20) if light else (240, 240, 240),
        outline_width={"hollow": float(rng.uniform(1.5, 3.0)), "sticker": float(rng.uniform(2.5, 4.0))}.get(
            treatment, float(rng.uniform(0.8, 2.5))
        ),
        sprite_alpha=1.0 if rng.random() < 0.6 else float(rng.uniform(0.6, 0.95)),
        shadow=float(rng.uniform(1.2, 2.5)) if treatment in ("glossy", "sticker") else 0.0,
        glow=float(rng.uniform(1.5, 2.5)) if treatment == "neon" else 0.0,
        angle=float(rng.uniform(0, 2 * math.pi)),
        glyphs=bool(rng.random() < 0.75),
        fill_direction=FILL_DIRECTIONS[int(rng.integers(len(FILL_DIRECTIONS)))],
        thumb_recolour=bool(rng.random() < 0.5),
        press_shift=float(rng.uniform(1.0, 3.0)),
        press_grow=float(rng.uniform(1.12, 1.3)),
    )


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x * (1 - t) + y * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def released_paint(style: SpriteStyle, look: SpriteLook, element: SpriteElement, index: int) -> Paint:
    """The released sprite of an element (``index`` varies its texture)."""
    treatment = style.treatment
    return Paint(
        shape=element.kind,
        fill=look.released,
        outline=look.outline,
        outline_width=look.outline_width,
        fill_mode=_FILL_MODE.get(treatment, "flat"),
        fill_alpha=0.15 if treatment == "hollow" else 0.6 if treatment == "neon" else 1.0,
        glyph=element.glyph if look.glyphs else "",
        glyph_color=look.outline if treatment in ("hollow", "neon") else look.glyph,
        highlight=treatment == "glossy",
        glow=look.glow * 0.5,
        glow_color=look.outline,
        shadow=look.shadow,
        texture_seed=style.seed * 1009 + index,
        angle=look.angle,
        pixel=2 if treatment == "pixel" else 1,
        alpha=look.sprite_alpha,
    )


def pressed_paint(style: SpriteStyle, look: SpriteLook, released: Paint) -> Paint:
    """The pressed sprite: the released one changed by the style's press effect."""
    effect = style.press_effect
    solid = max(released.fill_alpha, 0.85)
    if effect == "recolour":
        return replace(released, fill=look.pressed, fill_alpha=solid, glow=released.glow * 2, glow_color=look.pressed)
    if effect == "replace":
        shape = "round" if released.shape in ("circle", "ring") else "circle"
        if released.shape.startswith(("arm-", "arrow-")):
            shape = (
                "arrow" + released.shape[released.shape.index("-") :] if released.shape.startswith("arm") else "round"
            )
        return replace(released, shape=shape, fill=look.pressed, fill_alpha=solid, glyph="", grow=1.06)
    if effect == "glow":
        return replace(released, outline=look.pressed, glow=max(2.5, 2 * released.glow), glow_color=look.pressed)
    if effect == "invert":
        return replace(
            released, fill=released.outline, outline=released.fill, glyph_color=released.fill, fill_alpha=solid
        )
    tinted = replace(released, fill=_mix(released.fill, look.pressed, 0.45), fill_alpha=max(released.fill_alpha, 0.5))
    if effect == "shift":
        return replace(tinted, shift=(0.0, look.press_shift), shadow=released.shadow / 2)
    return replace(tinted, grow=look.press_grow)  # "scale"


def _shape_kind(element: SpriteElement) -> str:
    """The element's kind in :attr:`~.render.OverlayRenderer.shapes` (``stick``, ``bar``, ``circle``, ``rect``)."""
    if element.role == "stick":
        return "stick"
    if element.role == "trigger" and element.kind == "bar":
        return "bar"
    return "circle" if element.kind == "circle" else "rect"


@dataclass
class _Sprite:
    """A painted patch and the output-pixel position of its top-left corner (float for knobs)."""

    patch: np.ndarray
    x: float
    y: float


@dataclass
class _Sheet:
    """Every sprite of a style at one output scale."""

    background: np.ndarray
    released: dict[str, _Sprite]
    pressed: dict[str, _Sprite]
    pads: dict[str, int]


class SpriteSheet:
    """Paints a sprite style: geometry from :mod:`.sprite_layouts`, look from :func:`sample_look`.

    Example:
        >>> from nitrogen_datasets.overlay.sprite_styles import sprite_style
        >>> sheet = SpriteSheet(sprite_style("sprite-arcade-2"))
        >>> sheet.draw(gamepad.noop_flat(), 1.0).shape[2]  # RGBA, alpha = the overlay's shape
        4
    """

    def __init__(self, style: SpriteStyle) -> None:
        self.style = style
        self.look = sample_look(style)
        self.geometry = sprite_geometry(style.family, style.seed)
        self.template_size = self.geometry.template_size
        self.elements = {element.name: element for element in self.geometry.elements}
        self.shapes: dict[str, Shape] = {}
        for name, element in self.elements.items():
            x, y, w, h = element.box
            self.shapes[name] = (_shape_kind(element), float(x), float(y), float(w), float(h))
        self._sheets: dict[float, _Sheet] = {}

    def draw(self, action: np.ndarray, scale: float) -> np.ndarray:
        """The overlay for one validated flat (21,) action as (H, W, 4) uint8 RGBA at ``scale``."""
        sheet = self._sheet(scale)
        canvas = sheet.background.copy()
        knobs = []
        for name, element in self.elements.items():
            if element.role == "stick":
                knobs.append((name, element))
                continue
            value = float(action[gamepad.FLAT_NAMES.index(name)])
            if element.role == "trigger" and element.kind == "bar":
                self._place(canvas, sheet.released[name])
                if value > 0.0:
                    cut = _cut(
                        sheet.pressed[name].patch, sheet.pads[name], element, scale, value, self.look.fill_direction
                    )
                    self._place(canvas, replace(sheet.pressed[name], patch=cut))
            else:
                state = sheet.pressed if value >= gamepad.BUTTON_THRESHOLD else sheet.released
                self._place(canvas, state[name])
        for name, element in knobs:
            ix, iy = _STICK_AXES[name]
            thumb = float(action[gamepad.FLAT_NAMES.index(_THUMBS[name])]) >= gamepad.BUTTON_THRESHOLD
            sprite = sheet.pressed[name] if thumb and self.look.thumb_recolour else sheet.released[name]
            dx, dy = float(action[ix]) * element.travel * scale, -float(action[iy]) * element.travel * scale
            self._place(canvas, replace(sprite, x=sprite.x + dx, y=sprite.y + dy))
        return _unpremultiply(canvas)

    @staticmethod
    def _place(canvas: np.ndarray, sprite: _Sprite) -> None:
        x, y = math.floor(sprite.x), math.floor(sprite.y)
        fx, fy = sprite.x - x, sprite.y - y
        patch = sprite.patch
        if fx or fy:  # a knob between pixels, as a GPU draws a texture at a fractional position
            height, width = patch.shape[:2]
            shift = np.array([[1, 0, fx], [0, 1, fy]], np.float32)
            patch = cv2.warpAffine(patch, shift, (width + 1, height + 1), flags=cv2.INTER_LINEAR)
        over_patch(canvas, patch, x, y)

    def _sheet(self, scale: float) -> _Sheet:
        sheet = self._sheets.get(scale)
        if sheet is None:
            if len(self._sheets) >= _CACHED_SCALES:
                self._sheets.pop(next(iter(self._sheets)))
            sheet = self._sheets[scale] = self._paint(scale)
        return sheet

    def _paint(self, scale: float) -> _Sheet:
        style, look = self.style, self.look
        width, height = (round(v * scale) for v in self.template_size)
        background = np.zeros((height, width, 4), np.float32)
        if look.body_alpha > 0:
            body = Paint("round", look.body, _mix(look.body, look.outline, 0.3), 1.0, alpha=look.body_alpha)
            inset = 3
            size = (self.template_size[0] - 2 * inset, self.template_size[1] - 2 * inset)
            pad = 2
            patch = paint_sprite(body, size, scale, pad, supersample=2)
            over_patch(background, patch, round(inset * scale) - pad, round(inset * scale) - pad)
        dim = _mix(look.released, look.body, 0.5)
        for index, deco in enumerate(self.geometry.decorations):
            paint = replace(
                released_paint(style, look, SpriteElement("", "deco", deco.kind, 0, 0, 1, 1), index), fill=dim, glyph=""
            )
            self._paint_into(background, paint, (deco.x, deco.y, deco.w, deco.h), scale)
        released: dict[str, _Sprite] = {}
        pressed: dict[str, _Sprite] = {}
        pads: dict[str, int] = {}
        for index, (name, element) in enumerate(self.elements.items()):
            paint = released_paint(style, look, element, index)
            if element.role == "stick":
                base = replace(paint, fill=_mix(look.released, look.body, 0.6), glyph="", highlight=False)
                self._paint_into(background, base, (element.x, element.y, element.w, element.h), scale)
                knob = self._knob_paint(paint, element)
                thumb = replace(knob, fill=look.pressed, glow=knob.glow * 2, glow_color=look.pressed)
                cx, cy = element.center
                side = 2 * element.knob
                knob_box = (cx - element.knob, cy - element.knob, side, side)
                reach = max(knob.reach(side, side), thumb.reach(side, side))
                released[name] = self._sprite(knob, knob_box, scale, reach)
                pressed[name] = self._sprite(thumb, knob_box, scale, reach)
                continue
            down = pressed_paint(style, look, paint)
            box = (element.x, element.y, element.w, element.h)
            reach = max(paint.reach(element.w, element.h), down.reach(element.w, element.h))
            released[name] = self._sprite(paint, box, scale, reach)
            pressed[name] = self._sprite(down, box, scale, reach)
            pads[name] = math.ceil(reach * scale) + 1
        return _Sheet(background, released, pressed, pads)

    def _knob_paint(self, paint: Paint, element: SpriteElement) -> Paint:
        """A stick's knob: concave ring, arcade ball (always glossy), mouse dot or plain cap."""
        if element.knob_kind == "ball":
            return replace(
                paint, shape="circle", fill_mode="radial", highlight=True, glyph="", shadow=max(paint.shadow, 1.5)
            )
        if element.knob_kind == "ring":
            return replace(paint, shape="circle", glyph="@ring", glyph_color=self.look.outline)
        return replace(paint, shape="circle", glyph="")

    @staticmethod
    def _sprite(paint: Paint, box: tuple[int, int, int, int], scale: float, reach: float) -> _Sprite:
        pad = math.ceil(reach * scale) + 1
        patch = paint_sprite(paint, box[2:], scale, pad)
        return _Sprite(patch, box[0] * scale - pad, box[1] * scale - pad)

    def _paint_into(self, canvas: np.ndarray, paint: Paint, box: tuple[int, int, int, int], scale: float) -> None:
        sprite = self._sprite(paint, box, scale, paint.reach(*box[2:]))
        self._place(canvas, sprite)


def _cut(patch: np.ndarray, pad: int, element: SpriteElement, scale: float, value: float, direction: str) -> np.ndarray:
    """The pressed trigger sprite shown only over the first ``value`` of its box along ``direction``."""
    height, width = patch.shape[:2]
    along = element.w * scale if direction in ("right", "left") else element.h * scale
    edge = pad + min(1.0, value) * along
    if direction in ("right", "down"):
        coverage = np.clip(edge - np.arange(width if direction == "right" else height, dtype=np.float32), 0.0, 1.0)
    else:
        size = width if direction == "left" else height
        start = size - edge
        coverage = np.clip(np.arange(size, dtype=np.float32) + 1.0 - start, 0.0, 1.0)
    if direction in ("right", "left"):
        return patch * coverage[None, :, None]
    return patch * coverage[:, None, None]


def _unpremultiply(canvas: np.ndarray) -> np.ndarray:
    """Premultiplied float RGBA -> straight uint8 RGBA (alpha = coverage of the overlay)."""
    alpha = canvas[..., 3]
    rgb = canvas[..., :3] / np.maximum(alpha, 1e-6)[..., None]
    out = np.empty(canvas.shape, np.uint8)
    out[..., :3] = np.clip(rgb + 0.5, 0, 255)
    out[..., 3] = np.clip(alpha * 255.0 + 0.5, 0, 255)
    return out
