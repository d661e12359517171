"""Draw input overlays from gamepad actions and composite them onto gameplay frames.

:class:`OverlayRenderer` draws one style at any scale from the canonical flat action vector, produces the
rest template and its layout (so every rendered style is a valid user template), and composites the
overlay onto frames with the style's opacity and position. :func:`fit_style` keeps a style inside the
frame it is drawn on (an overlay drawn past the edge cannot be found by ``extract``), and
:func:`parse_resolution` with :func:`letterbox` bring small gameplay frames to a streamer's resolution.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import cv2
import numpy as np

from nitrogen_datasets.errors import DatasetError
from nitrogen_datasets.overlay.layout import STICK_AXES, Box, OverlayLayout
from nitrogen_datasets.overlay.localize import MIN_SCALE
from nitrogen_datasets.overlay.sprite_styles import SpriteStyle
from nitrogen_datasets.overlay.sprites import SpriteSheet
from nitrogen_datasets.overlay.styles import AnyStyle, Shape, family_geometry
from nitrogen_envs import gamepad

_STICK_COLUMNS = {stick: tuple(gamepad.FLAT_NAMES.index(axis) for axis in axes) for stick, axes in STICK_AXES.items()}
_THUMB_OF = {"left_stick": "left_thumb", "right_stick": "right_thumb"}

STREAM_RESOLUTION = (1280, 720)
"""(width, height) suggested when gameplay frames are too small for an overlay: a common stream size."""
RESOLUTION_LIMITS = ((64, 7680), (64, 4320))
"""Accepted (min, max) output width and height: from a thumbnail to 8K."""
_RESOLUTION = re.compile(r"^\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*$")


class OverlayDoesNotFit(DatasetError, ValueError):
    """The overlay at its style's scale is larger than the frame it is drawn on (and was not, or cannot be, fitted)."""


class InvalidResolution(DatasetError, ValueError):
    """An output resolution is not ``WIDTHxHEIGHT`` with even sides within :data:`RESOLUTION_LIMITS`."""


@dataclass(frozen=True)
class Placement:
    """Where an overlay lands in a frame: top-left pixel and scale."""

    x: int
    y: int
    scale: float


class OverlayRenderer:
    """Renders one :class:`OverlayStyle`, or a :class:`~.sprite_styles.SpriteStyle` (drawn by :mod:`.sprites`).

    Example:
        >>> renderer = OverlayRenderer(OverlayStyle(name="demo"))
        >>> renderer.draw(gamepad.noop_flat()).shape  # (H, W, 4) RGBA at the style's scale
        (150, 240, 4)
    """

    def __init__(self, style: AnyStyle) -> None:
        self.style = style
        self._sprites: SpriteSheet | None = None
        if isinstance(style, SpriteStyle):
            self._sprites = SpriteSheet(style)
            self.template_size, self.shapes = self._sprites.template_size, self._sprites.shapes
        else:
            self._look = style  # what the parametric drawing below reads
            self.template_size, self.shapes = family_geometry(style.family)

    # ---- geometry ---------------------------------------------------------------------------------
    def layout(self, template_file: str = "rest.png") -> OverlayLayout:
        """Boxes of every element at scale 1 (stick boxes are the knob-centre sweep squares)."""
        elements = {name: Box(*(round(v) for v in shape[1:])) for name, shape in self.shapes.items()}
        return OverlayLayout(
            name=self.style.name, template=template_file, elements=elements, template_size=self.template_size
        )

    def placement(self, frame_size: tuple[int, int]) -> Placement:
        """Top-left corner for a (height, width) frame: the style's position over the free area."""
        height, width = frame_size
        w, h = self.scaled_size()
        fx, fy = self.style.position
        return Placement(round(fx * max(0, width - w)), round(fy * max(0, height - h)), self.style.scale)

    def scaled_size(self) -> tuple[int, int]:
        """(width, height) of the overlay at the style's scale."""
        return round(self.template_size[0] * self.style.scale), round(self.template_size[1] * self.style.scale)

    # ---- drawing ----------------------------------------------------------------------------------
    def template(self) -> np.ndarray:
        """The rest image (nothing pressed, sticks centred) at scale 1, RGBA."""
        return self.draw(gamepad.noop_flat(), scale=1.0)

    def draw(self, action: np.ndarray, scale: float | None = None) -> np.ndarray:
        """The overlay for one flat (21,) action as an RGBA uint8 image; alpha is the overlay's shape."""
        action = gamepad.validate_flat(action)
        scale = self.style.scale if scale is None else scale
        if self._sprites is not None:
            return self._sprites.draw(action, scale)
        width, height = (round(v * scale) for v in self.template_size)
        rgb = np.zeros((height, width, 3), np.uint8)
        alpha = np.zeros((height, width), np.uint8)
        if self._look.panel_alpha > 0:
            radius = int(10 * scale)
            _rounded_rect(
                rgb, alpha, (0, 0, width - 1, height - 1), radius, self._look.panel, int(255 * self._look.panel_alpha)
            )
        for name, shape in self.shapes.items():
            if shape[0] == "stick":
                self._draw_stick(rgb, alpha, name, shape, action, scale)
            elif shape[0] == "bar":
                value = float(action[gamepad.FLAT_NAMES.index(name)])
                self._draw_bar(rgb, alpha, shape, value, scale)
            else:
                pressed = float(action[gamepad.FLAT_NAMES.index(name)]) >= gamepad.BUTTON_THRESHOLD
                self._draw_button(rgb, alpha, shape, pressed, scale)
        return np.dstack([rgb, alpha])

    def _colors(self, pressed: bool) -> tuple[tuple[int, int, int], bool, float]:
        """(fill colour, filled, size factor) for an element in a press state."""
        style = self._look
        if not pressed:
            return style.base, style.filled, 1.0
        effect = style.press_effect
        if effect == "highlight":
            return tuple(min(255, int(c * 0.4 + 255 * 0.6)) for c in style.base), True, 1.0  # type: ignore[return-value]
        if effect == "fill":
            return style.accent, True, 1.0
        if effect == "grow":
            return style.pressed, True, 1.25
        return style.pressed, True, 1.0

    def _draw_button(self, rgb: np.ndarray, alpha: np.ndarray, shape: Shape, pressed: bool, scale: float) -> None:
        kind, x, y, w, h = shape
        color, filled, grow = self._colors(pressed)
        cx, cy = (x + w / 2) * scale, (y + h / 2) * scale
        hw, hh = w / 2 * scale * grow, h / 2 * scale * grow
        thickness = -1 if filled else max(1, round(1.5 * scale))
        outline = max(1, round(scale))
        if kind == "circle":
            center, radius = (round(cx), round(cy)), max(1, round(min(hw, hh)))
            cv2.circle(rgb, center, radius, color, thickness, cv2.LINE_AA)
            cv2.circle(alpha, center, radius, (255,), -1, cv2.LINE_AA)
            cv2.circle(rgb, center, radius, self._look.accent, outline, cv2.LINE_AA)
        else:
            p1, p2 = (round(cx - hw), round(cy - hh)), (round(cx + hw), round(cy + hh))
            cv2.rectangle(rgb, p1, p2, color, thickness, cv2.LINE_AA)
            cv2.rectangle(alpha, p1, p2, 255, -1)
            cv2.rectangle(rgb, p1, p2, self._look.accent, outline, cv2.LINE_AA)

    def _draw_bar(self, rgb: np.ndarray, alpha: np.ndarray, shape: Shape, value: float, scale: float) -> None:
        _, x, y, w, h = shape
        p1 = (round(x * scale), round(y * scale))
        p2 = (round((x + w) * scale), round((y + h) * scale))
        cv2.rectangle(rgb, p1, p2, self._look.base, -1 if self._look.filled else max(1, int(scale)))
        cv2.rectangle(alpha, p1, p2, 255, -1)
        if value > 0.02:  # the trigger's travel fills the bar from the left
            fill_x = round((x + w * value) * scale)
            cv2.rectangle(rgb, p1, (fill_x, p2[1]), self._look.pressed, -1)
        cv2.rectangle(rgb, p1, p2, self._look.accent, max(1, round(scale)))

    def _draw_stick(
        self, rgb: np.ndarray, alpha: np.ndarray, name: str, shape: Shape, action: np.ndarray, scale: float
    ) -> None:
        _, x, y, w, h = shape
        ix, iy = _STICK_COLUMNS[name]
        cx, cy = (x + w / 2) * scale, (y + h / 2) * scale
        gate = (w / 2 + 6) * scale
        cv2.circle(rgb, (round(cx), round(cy)), round(gate), self._look.base, -1, cv2.LINE_AA)
        cv2.circle(alpha, (round(cx), round(cy)), round(gate), (255,), -1, cv2.LINE_AA)
        cv2.circle(
            rgb,
            (round(cx), round(cy)),
            round(gate),
            self._look.accent,
            max(1, round(scale)),
            cv2.LINE_AA,
        )
        # The knob centre sweeps the layout box: +x right, +y up (image y grows downward).
        knob_x = cx + float(action[ix]) * w / 2 * scale
        knob_y = cy - float(action[iy]) * h / 2 * scale
        thumb = _THUMB_OF[name]
        clicked = (
            thumb not in self.shapes and float(action[gamepad.FLAT_NAMES.index(thumb)]) >= gamepad.BUTTON_THRESHOLD
        )
        knob_color = self._look.pressed if clicked else self._look.accent
        cv2.circle(rgb, (round(knob_x), round(knob_y)), max(2, round(5 * scale)), knob_color, -1, cv2.LINE_AA)

    # ---- compositing ------------------------------------------------------------------------------
    def composite(self, frame: np.ndarray, action: np.ndarray, placement: Placement | None = None) -> np.ndarray:
        """Alpha-blend the overlay for ``action`` onto an RGB frame (returns a new frame)."""
        placement = placement or self.placement((frame.shape[0], frame.shape[1]))
        overlay = self.draw(action, scale=placement.scale)
        out = frame.copy()
        height, width = overlay.shape[:2]
        rect = (placement.x, placement.y, placement.x + width, placement.y + height)
        x0, y0, x1, y1 = clip_rect(rect, (frame.shape[0], frame.shape[1]))
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = self.blend(frame, overlay, placement, rect)
        return out

    def blend(
        self, frame: np.ndarray, overlay: np.ndarray, placement: Placement, rect: tuple[int, int, int, int]
    ) -> np.ndarray:
        """:meth:`composite` restricted to ``rect`` (x0, y0, x1, y1; clipped to the frame).

        Returns the pixels of ``frame`` inside ``rect`` with ``overlay`` (from :meth:`draw`) alpha-blended
        at ``placement``, for callers that compare many overlays on one small spot.
        """
        x0, y0, x1, y1 = clip_rect(rect, (frame.shape[0], frame.shape[1]))
        out = frame[y0:y1, x0:x1].astype(np.float32)
        ox0, oy0 = max(x0, placement.x), max(y0, placement.y)
        ox1, oy1 = min(x1, placement.x + overlay.shape[1]), min(y1, placement.y + overlay.shape[0])
        if ox1 > ox0 and oy1 > oy0:
            patch = overlay[oy0 - placement.y : oy1 - placement.y, ox0 - placement.x : ox1 - placement.x]
            weight = (patch[..., 3:4].astype(np.float32) / 255.0) * self.style.opacity
            region = out[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0]
            region *= 1.0 - weight
            region += patch[..., :3].astype(np.float32) * weight
        return (out + 0.5).astype(np.uint8)


def fit_style(style: AnyStyle, frame_size: tuple[int, int], fit: bool = True) -> AnyStyle:
    """``style`` itself when its overlay fits a (height, width) frame, else the same style scaled down to fit.

    An overlay larger than the frame is drawn past its edge, and ``extract`` then cannot find it, so it is
    scaled down to the largest scale that fits, never below the smallest scale ``extract`` localizes
    (:data:`~nitrogen_datasets.overlay.localize.MIN_SCALE`).

    Raises:
        OverlayDoesNotFit: it does not fit and ``fit`` is false, or it would need a scale below ``MIN_SCALE``;
            the message gives both sizes and the fix.
    """
    height, width = frame_size
    template_w, template_h = OverlayRenderer(style).template_size
    scaled_w, scaled_h = round(template_w * style.scale), round(template_h * style.scale)
    if scaled_w <= width and scaled_h <= height:
        return style
    scale = _largest_fitting_scale((template_w, template_h), frame_size)
    what = f"overlay style {style.name} at scale {style.scale:.2f} is {scaled_w}x{scaled_h} px"
    wider = "x".join(map(str, STREAM_RESOLUTION))  # fits every style up to scale 2
    if scale < MIN_SCALE:
        smallest = f"{round(template_w * MIN_SCALE)}x{round(template_h * MIN_SCALE)}"
        raise OverlayDoesNotFit(
            f"{what} ({smallest} at the smallest scale extract finds, {MIN_SCALE}), larger than the {width}x{height} "
            f"frame; upscale the frames (--resolution {wider})"
        )
    if not fit:
        raise OverlayDoesNotFit(
            f"{what}, larger than the {width}x{height} frame; draw it at scale {scale:.2f} or less (--scale), "
            f"upscale the frames (--resolution {wider}), or let it be scaled to fit (drop --no-fit)"
        )
    return replace(style, scale=scale)


def _largest_fitting_scale(template_size: tuple[int, int], frame_size: tuple[int, int]) -> float:
    """The largest scale, in hundredths, at which a (width, height) template drawn as :meth:`draw` does fits the frame."""
    (template_w, template_h), (height, width) = template_size, frame_size
    scale = math.floor(100 * min(width / template_w, height / template_h)) / 100
    while scale > 0 and (round(template_w * scale) > width or round(template_h * scale) > height):
        scale = round(scale - 0.01, 2)
    return scale


def parse_resolution(text: str) -> tuple[int, int]:
    """(width, height) from ``"1280x720"``.

    Raises:
        InvalidResolution: not ``WIDTHxHEIGHT``, an odd side (H.264's 4:2:0 chroma needs even sides) or a
            side outside :data:`RESOLUTION_LIMITS`; the message quotes the value and an example.
    """
    match = _RESOLUTION.match(text)
    example = "x".join(map(str, STREAM_RESOLUTION))
    if match is None:
        raise InvalidResolution(f"resolution {text!r} is not WIDTHxHEIGHT in pixels; write e.g. {example}")
    width, height = int(match.group(1)), int(match.group(2))
    (min_w, max_w), (min_h, max_h) = RESOLUTION_LIMITS
    if not (min_w <= width <= max_w and min_h <= height <= max_h):
        raise InvalidResolution(
            f"resolution {width}x{height} is out of range: width {min_w}-{max_w}, height {min_h}-{max_h}; "
            f"write e.g. {example}"
        )
    if width % 2 or height % 2:
        raise InvalidResolution(
            f"resolution {width}x{height} has an odd side, which H.264 (4:2:0) cannot encode; "
            f"use {width + width % 2}x{height + height % 2}"
        )
    return width, height


def letterbox(frame: np.ndarray, resolution: tuple[int, int]) -> np.ndarray:
    """``frame`` scaled to fit a (width, height) canvas with its aspect kept, centred on black bars.

    Square gameplay on a 16:9 stream is pillarboxed (bars left and right), as streamers show 4:3 and
    retro games; stretching would distort what a policy later sees. Upscaling is bilinear.
    """
    width, height = resolution
    frame_h, frame_w = frame.shape[:2]
    ratio = min(width / frame_w, height / frame_h)
    inner_w, inner_h = max(1, round(frame_w * ratio)), max(1, round(frame_h * ratio))
    interpolation = cv2.INTER_LINEAR if ratio >= 1 else cv2.INTER_AREA
    canvas = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - inner_w) // 2, (height - inner_h) // 2
    canvas[y0 : y0 + inner_h, x0 : x0 + inner_w] = cv2.resize(frame, (inner_w, inner_h), interpolation=interpolation)
    return canvas


def clip_rect(rect: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) clipped to a (height, width) image; empty rects keep x1 <= x0 or y1 <= y0."""
    x0, y0, x1, y1 = rect
    height, width = size
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def _rounded_rect(
    rgb: np.ndarray,
    alpha: np.ndarray,
    rect: tuple[int, int, int, int],
    radius: int,
    color: tuple[int, int, int],
    opacity: int,
) -> None:
    """A filled rounded rectangle in ``rgb`` with ``opacity`` written into ``alpha``."""
    x0, y0, x1, y1 = rect
    radius = max(0, min(radius, (x1 - x0) // 2, (y1 - y0) // 2))
    mask = np.zeros_like(alpha)
    cv2.rectangle(mask, (x0 + radius, y0), (x1 - radius, y1), 255, -1)
    cv2.rectangle(mask, (x0, y0 + radius), (x1, y1 - radius), 255, -1)
    for cx, cy in (
        (x0 + radius, y0 + radius),
        (x1 - radius, y0 + radius),
        (x0 + radius, y1 - radius),
        (x1 - radius, y1 - radius),
    ):
        cv2.circle(mask, (cx, cy), radius, (255,), -1, cv2.LINE_AA)
    rgb[mask > 0] = color
    alpha[:] = np.maximum(alpha, (mask.astype(np.float32) * opacity / 255).astype(np.uint8))
