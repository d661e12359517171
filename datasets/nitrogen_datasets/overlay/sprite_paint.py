"""Paint one sprite: a shape with a fill, an outline, a glyph, shading, a drop shadow and a glow.

A :class:`Paint` says how one sprite looks; :func:`paint_sprite` draws it at an output scale as a
premultiplied RGBA float32 patch. Shapes, outlines and glyphs are drawn as masks on a 4x supersampled
canvas and averaged down to coverage, which anti-aliases every edge the same way; fills, shading and
colours are then laid at the output size (16 times fewer pixels), and shadow and glow are blurs of the
finished alpha. Pixel art is drawn on a coarse grid instead and enlarged without smoothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

RGB = tuple[int, int, int]
SUPERSAMPLE = 4
"""Canvas pixels per output pixel along each side when a sprite is drawn smooth."""
_CORNER = {"rect": 0.12, "round": 0.3, "bar": 0.3, "keycap": 0.2, "pill": 0.5, "trigger": 0.45}
"""Corner radius of each rounded-rectangle shape, as a fraction of its shorter side."""
_ARM_POINT = {"arm": 0.4, "arrow": 0.75}
"""How far a d-pad sprite's inner end is pointed, as a fraction of its width (cross arm; separate arrow key)."""


@dataclass(frozen=True)
class Paint:
    """How one sprite looks. Lengths are template pixels (multiplied by the output scale).

    Args:
        shape: ``circle``, ``octagon``, a rounded rectangle (``rect``, ``round``, ``bar``, ``keycap``,
            ``pill``, ``trigger``) or a d-pad piece (``arm-up`` ... ``arrow-right``).
        fill: RGB of the face. fill_mode: ``flat``, ``gradient``, ``radial`` or ``texture``.
        fill_alpha: opacity of the face (an outline-only sprite has a faint one).
        outline: RGB of the stroke; outline_width: its width (0 = none), centred on the edge.
        glyph: label text or ``@cross``/``@circle``/``@square``/``@triangle``/``@ring`` ('' = none).
        glyph_color: RGB of the label.
        highlight: a specular spot on the upper face (glossy plastic).
        glow, glow_color: radius and RGB of a soft glow around the sprite (0 = none).
        shadow: offset of a soft drop shadow down and right (0 = none).
        grow: the shape drawn this much larger about the box centre.
        shift: (dx, dy) the shape is moved by.
        texture_seed: fixes the noise of ``texture`` fills.
        angle: direction of a ``gradient`` fill, radians (0: light on the left).
        pixel: pixels per pixel-art cell at scale 1 (1 = smooth drawing); the cells scale with the sprite.
        alpha: opacity of the whole sprite.
    """

    shape: str
    fill: RGB
    outline: RGB = (255, 255, 255)
    outline_width: float = 1.0
    fill_mode: str = "flat"
    fill_alpha: float = 1.0
    glyph: str = ""
    glyph_color: RGB = (255, 255, 255)
    highlight: bool = False
    glow: float = 0.0
    glow_color: RGB = (255, 255, 255)
    shadow: float = 0.0
    grow: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    texture_seed: int = 0
    angle: float = math.pi / 2
    pixel: int = 1
    alpha: float = 1.0

    def reach(self, box_w: float, box_h: float) -> float:
        """How far (template px) the drawing can reach past its box: stroke, growth, shift, shadow, glow."""
        grown = (self.grow - 1.0) * max(box_w, box_h) / 2
        return self.outline_width / 2 + grown + max(map(abs, self.shift)) + 2.5 * self.shadow + 2.5 * self.glow + 1


def paint_sprite(
    paint: Paint, box: tuple[float, float], scale: float, pad: int, supersample: int = SUPERSAMPLE
) -> np.ndarray:
    """The sprite for a (w, h) template-pixel box as a premultiplied RGBA float32 patch.

    The box, scaled, sits ``pad`` output pixels from the patch's top-left corner; the patch is
    ``ceil(w * scale) + 2 * pad`` wide (likewise high). Large plain sprites (a controller body) may ask
    for less ``supersample``.
    """
    out_w, out_h = math.ceil(box[0] * scale) + 2 * pad, math.ceil(box[1] * scale) + 2 * pad
    pixel_art = paint.pixel > 1
    # Output pixels per pixel-art cell. The cells are the template's (``pixel`` pixels at scale 1) and scale with the
    # overlay, as a streamer's pixel art does when OBS scales its source: the art at any scale is the template's
    # resized, which localization and knob matching assume. Cells of ``pixel`` output pixels at every scale (before
    # session 25) drew coarser art at scale 0.5 and finer art at 2 than the template shows: a held-out style's rest
    # image correlated 0.75 with its template resized to 0.5 (smooth styles 0.91-0.93), now 0.82.
    cell = paint.pixel * scale if pixel_art else 1.0
    factor = 1.0 / cell if pixel_art else supersample  # canvas pixels per output pixel
    width, height = max(1, math.ceil(out_w * factor)), max(1, math.ceil(out_h * factor))
    unit = scale * factor  # canvas pixels per template pixel
    cx = (pad + box[0] * scale / 2) * factor + paint.shift[0] * unit
    cy = (pad + box[1] * scale / 2) * factor + paint.shift[1] * unit
    half_w, half_h = box[0] * unit / 2 * paint.grow, box[1] * unit / 2 * paint.grow
    rect = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    inside = shape_mask(paint.shape, (width, height), rect)
    # Masks are drawn on the fine canvas; colours are laid at the coarser size their coverage is averaged to.
    size = (width, height) if pixel_art else (out_w, out_h)
    to_size = 1.0 if pixel_art else 1.0 / factor  # coarse pixels per canvas pixel
    coarse_rect = (rect[0] * to_size, rect[1] * to_size, rect[2] * to_size, rect[3] * to_size)

    def coverage(mask: np.ndarray) -> np.ndarray:
        if pixel_art:
            return mask.astype(np.float32)
        return np.asarray(cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA))

    premult, alpha = _face(paint, coverage(inside), coarse_rect, size, box)
    if paint.highlight:
        spot = np.zeros_like(inside)
        axes = (max(1, round(half_w * 0.55)), max(1, round(half_h * 0.3)))
        cv2.ellipse(spot, (round(cx), round(cy - half_h * 0.45)), axes, 0, 0, 360, (1,), -1)
        _over(premult, alpha, (255, 255, 255), coverage(np.asarray(spot) & inside) * np.float32(0.35))
    if paint.glyph:
        _over(premult, alpha, paint.glyph_color, coverage(glyph_mask(paint.glyph, (width, height), rect) & inside))
    stroke = max(int(paint.outline_width > 0), round(paint.outline_width * unit / 2))  # pixel art: at least a cell
    if stroke > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * stroke + 1, 2 * stroke + 1))
        _over(
            premult, alpha, paint.outline, coverage(cv2.subtract(cv2.dilate(inside, kernel), cv2.erode(inside, kernel)))
        )
    rgba = np.dstack([premult, alpha])
    if pixel_art:  # each canvas pixel is a cell: blown up to its output size (point sampling, as OBS's Point filter)
        cells = (math.ceil(width * cell), math.ceil(height * cell))  # at least (out_w, out_h)
        rgba = cv2.resize(rgba, cells, interpolation=cv2.INTER_NEAREST)[:out_h, :out_w]
    rgba = np.ascontiguousarray(rgba, dtype=np.float32)
    under = np.zeros_like(rgba)
    if paint.glow > 0:
        sigma = max(0.6, paint.glow * scale)
        halo = np.clip(cv2.GaussianBlur(rgba[..., 3], (0, 0), sigma) * 2.0, 0.0, 1.0) * 0.85
        under = _layer(paint.glow_color, halo)
    if paint.shadow > 0:
        offset = paint.shadow * scale
        moved = cv2.warpAffine(rgba[..., 3], np.array([[1, 0, offset], [0, 1, offset]], np.float32), (out_w, out_h))
        dark = cv2.GaussianBlur(moved, (0, 0), max(0.5, 0.6 * offset)) * 0.55
        under = _stack(_layer((0, 0, 0), dark), under)
    return _stack(rgba, under) * np.float32(paint.alpha)


def shape_mask(shape: str, size: tuple[int, int], rect: tuple[float, float, float, float]) -> np.ndarray:
    """(H, W) uint8 mask, 1 inside ``shape`` drawn in ``rect`` (x0, y0, x1, y1) of a (W, H) canvas."""
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if shape in ("circle", "ring", "ball", "dot"):
        cv2.ellipse(mask, (round(cx), round(cy)), (max(1, round(w / 2)), max(1, round(h / 2))), 0, 0, 360, (1,), -1)
    elif shape == "octagon":
        cut = 0.29
        unit = [(cut, 0), (1 - cut, 0), (1, cut), (1, 1 - cut), (1 - cut, 1), (cut, 1), (0, 1 - cut), (0, cut)]
        cv2.fillPoly(mask, [_points(unit, rect)], (1,))
    elif shape in _CORNER:
        radius = _CORNER[shape] * min(w, h)
        if shape == "trigger":  # rounded top, square-ish bottom: a trigger seen from above
            cv2.ellipse(
                mask,
                (round(cx), round(y0 + radius)),
                (max(1, round(w / 2)), max(1, round(radius))),
                0,
                180,
                360,
                (1,),
                -1,
            )
            cv2.rectangle(mask, (round(x0), round(y0 + radius)), (round(x1), round(y1)), 1, -1)
        else:
            _rounded_rect(mask, rect, radius)
    elif "-" in shape and shape.split("-")[0] in _ARM_POINT:
        kind, direction = shape.split("-", 1)
        point = _ARM_POINT[kind]
        # An upward piece whose lower (inner) end points at the d-pad's centre; rotated for the others.
        unit = [(0, 0), (1, 0), (1, 1 - point / 2), (0.5, 1), (0, 1 - point / 2)]
        turn = {"up": lambda u, v: (u, v), "down": lambda u, v: (u, 1 - v),
                "left": lambda u, v: (v, u), "right": lambda u, v: (1 - v, u)}[direction]  # fmt: skip
        cv2.fillPoly(mask, [_points([turn(u, v) for u, v in unit], rect)], (1,))
    else:
        raise ValueError(f"unknown sprite shape {shape!r}")
    return mask


def glyph_mask(glyph: str, size: tuple[int, int], rect: tuple[float, float, float, float]) -> np.ndarray:
    """(H, W) uint8 mask of a label centred in ``rect``: text, or a PlayStation-style symbol (``@name``)."""
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = rect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = min(x1 - x0, y1 - y0)
    thick = max(1, round(side * 0.1))
    r = side * 0.28
    if glyph == "@cross":
        for sx in (-1, 1):
            cv2.line(mask, (round(cx - r), round(cy - sx * r)), (round(cx + r), round(cy + sx * r)), (1,), thick)
    elif glyph == "@circle":
        cv2.circle(mask, (round(cx), round(cy)), max(1, round(r)), (1,), thick)
    elif glyph == "@ring":
        cv2.circle(mask, (round(cx), round(cy)), max(1, round(side * 0.32)), (1,), max(1, round(side * 0.06)))
    elif glyph == "@square":
        cv2.rectangle(
            mask, (round(cx - r * 0.9), round(cy - r * 0.9)), (round(cx + r * 0.9), round(cy + r * 0.9)), 1, thick
        )
    elif glyph == "@triangle":
        points = np.array([[cx, cy - r], [cx + r * 1.05, cy + r * 0.75], [cx - r * 1.05, cy + r * 0.75]])
        cv2.polylines(mask, [np.round(points).astype(np.int32)], True, (1,), thick)
    else:
        font = cv2.FONT_HERSHEY_DUPLEX
        (text_w, text_h), _ = cv2.getTextSize(glyph, font, 1.0, 2)
        font_scale = min(0.55 * (y1 - y0) / text_h, 0.8 * (x1 - x0) / text_w)
        weight = max(1, round(font_scale * 1.6))
        (text_w, text_h), _ = cv2.getTextSize(glyph, font, font_scale, weight)
        origin = (round(cx - text_w / 2), round(cy + text_h / 2))
        cv2.putText(mask, glyph, origin, font, font_scale, (1,), weight, cv2.LINE_8)
    return mask


def over_patch(canvas: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Composite a premultiplied RGBA ``patch`` onto ``canvas`` (same format) with its top-left at (x, y)."""
    height, width = canvas.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + patch.shape[1]), min(height, y + patch.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    part = patch[y0 - y : y1 - y, x0 - x : x1 - x]
    region = canvas[y0:y1, x0:x1]
    region *= 1.0 - part[..., 3:4]
    region += part


def _face(
    paint: Paint,
    inside: np.ndarray,
    rect: tuple[float, float, float, float],
    size: tuple[int, int],
    box: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied RGB and alpha of the sprite's face (fill, shading, texture) for a coverage map ``inside``.

    Shading and texture are functions of the position inside the (w, h) template-pixel ``box``, not of
    output pixels, so a sprite drawn at another scale is this one resized (as a scaled texture atlas is),
    and a template matched at another scale still finds it.
    """
    width, height = size
    color = np.asarray(paint.fill, np.float32)
    x0, y0, x1, y1 = rect
    alpha = inside * np.float32(paint.fill_alpha)
    if paint.fill_mode == "flat":
        return alpha[..., None] * color, alpha
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + np.float32(0.5)
    u, v = (xs - x0) / max(1.0, x1 - x0), (ys - y0) / max(1.0, y1 - y0)
    if paint.fill_mode == "gradient":
        shade = 1.0 - 0.9 * ((u - 0.5) * math.cos(paint.angle) + (v - 0.5) * math.sin(paint.angle))
    elif paint.fill_mode == "radial":
        shade = 1.35 - 0.9 * np.hypot(u - 0.35, v - 0.3)
    elif paint.fill_mode == "texture":  # mottled: blotches about 3 template px across plus grain of 1 px
        rng = np.random.default_rng(paint.texture_seed)
        shade = np.ones((height, width), np.float32)
        for cell, strength in ((3.0, 0.18), (1.0, 0.06)):
            rows, cols = max(2, math.ceil(box[1] / cell) + 1), max(2, math.ceil(box[0] / cell) + 1)
            noise = rng.normal(0.0, 1.0, (rows, cols)).astype(np.float32)
            sampled = cv2.remap(noise, u * (cols - 1), v * (rows - 1), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            shade += strength * sampled
    else:
        raise ValueError(f"unknown fill_mode {paint.fill_mode!r}")
    return np.clip(shade[..., None] * color, 0.0, 255.0) * alpha[..., None], alpha


def _over(premult: np.ndarray, alpha: np.ndarray, color: RGB, coverage: np.ndarray) -> None:
    """Paint ``color`` with per-pixel ``coverage`` (0-1) over a premultiplied canvas, in place."""
    keep = 1.0 - coverage
    premult *= keep[..., None]
    premult += coverage[..., None] * np.asarray(color, np.float32)
    alpha *= keep
    alpha += coverage


def _layer(color: RGB, coverage: np.ndarray) -> np.ndarray:
    """A premultiplied RGBA layer of one colour."""
    return np.dstack([coverage[..., None] * np.asarray(color, np.float32), coverage]).astype(np.float32)


def _stack(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top`` over ``bottom``, both premultiplied RGBA."""
    return top + bottom * (1.0 - top[..., 3:4])


def _points(unit: list[tuple[float, float]], rect: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = rect
    return np.array([[round(x0 + u * (x1 - x0)), round(y0 + v * (y1 - y0))] for u, v in unit], np.int32)


def _rounded_rect(mask: np.ndarray, rect: tuple[float, float, float, float], radius: float) -> None:
    x0, y0, x1, y1 = (round(v) for v in rect)
    r = max(0, min(round(radius), (x1 - x0) // 2, (y1 - y0) // 2))
    cv2.rectangle(mask, (x0 + r, y0), (x1 - r, y1), 1, -1)
    cv2.rectangle(mask, (x0, y0 + r), (x1, y1 - r), 1, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(mask, (cx, cy), r, (1,), -1)
