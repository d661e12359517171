"""Read per-frame gamepad state off a localized overlay (a training-free reference parser).

The reference for "nothing pressed" comes from the video itself: every element's median crop over the
clip (buttons are released most of the time). A button or trigger reads as pressed where its crop
departs from that median. Sticks move most of the time, so a stick's knob is instead found by matching
the knob's appearance in the layout's rest template (where it sits at the box centre) inside the
sweep box. It needs no training, so it works on any style a
user brings; a learned parser can replace it behind the same :class:`ParsedFrame` output.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from nitrogen_datasets.overlay.layout import STICK_AXES, STICK_ELEMENTS, Box, OverlayLayout
from nitrogen_datasets.overlay.localize import Localization
from nitrogen_envs import gamepad

STICK_SEARCH_MARGIN = 0.5
"""The reference parser searches a stick's knob in its box grown by half the box on every side: a knob at the rim
of its sweep (the box's edge) is then whole inside the search area."""


@dataclass
class ParsedFrame:
    """One frame's reading: values by canonical name (NaN for elements the layout lacks), and confidence."""

    values: dict[str, float]
    confidence: float


@dataclass(frozen=True)
class ParserConfig:
    """Thresholds of the reference parser.

    Args:
        press_threshold: mean absolute difference (0-255) from the rest crop that counts as pressed.
        reference_frames: frames sampled (evenly) to build the rest crops.
    """

    press_threshold: float = 18.0
    reference_frames: int = 64


def frame_box(box: Box, where: Localization, margin: float = 0.0) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a template box in frame pixels, grown by ``margin`` x its larger side per side.

    The one place a box (fractional or not) becomes pixels: scaled to the found placement first, rounded once.
    """
    s = where.scale
    pad = margin * max(box.w, box.h)
    return (
        round(where.x + (box.x - pad) * s),
        round(where.y + (box.y - pad) * s),
        round(where.x + (box.x + box.w + pad) * s),
        round(where.y + (box.y + box.h + pad) * s),
    )


def shift_rect(rect: tuple[int, int, int, int], origin: tuple[int, int]) -> tuple[int, int, int, int]:
    """A frame rectangle in the coordinates of a region of the frame whose top-left pixel is ``origin``.

    Parsers round boxes in frame coordinates first and shift after: rounding ``where.x + v`` and
    ``where.x - origin + v`` can differ by a pixel in floating point.
    """
    x, y = origin
    return rect[0] - x, rect[1] - y, rect[2] - x, rect[3] - y


def _crop(frame: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = rect
    h, w = frame.shape[:2]
    return frame[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)].astype(np.float32)


class ReferenceParser:
    """Parses frames of one video given its layout and localization.

    Args:
        layout: the overlay layout.
        where: the overlay's placement in this video.
        reference: frames to build the rest appearance from (a sample of the clip).
        template: the layout's rest template (RGBA or RGB, scale 1), for the sticks' knob appearance.
        config: thresholds.
        origin: frame pixel (x, y) where the images given start, when they are a region cut from the frames
            (``where`` stays in frame coordinates).
    """

    @staticmethod
    def margin(element: str) -> float:
        """Crop margin of an element, as a fraction of its box's larger side (:data:`STICK_SEARCH_MARGIN` for sticks)."""
        return STICK_SEARCH_MARGIN if element in STICK_ELEMENTS else 0.0

    def __init__(
        self,
        layout: OverlayLayout,
        where: Localization,
        reference: list[np.ndarray],
        template: np.ndarray,
        config: ParserConfig | None = None,
        origin: tuple[int, int] = (0, 0),
    ) -> None:
        self.layout, self.where, self.config, self.origin = layout, where, config or ParserConfig(), origin
        self.rects = {
            name: shift_rect(frame_box(box, where, margin=self.margin(name)), origin)
            for name, box in layout.elements.items()
        }
        self.rest = {
            name: np.median(np.stack([_crop(f, rect) for f in reference]), axis=0) for name, rect in self.rects.items()
        }
        scaled = cv2.resize(
            np.ascontiguousarray(template[..., :3]),
            None,
            fx=where.scale,
            fy=where.scale,
            interpolation=cv2.INTER_AREA if where.scale < 1 else cv2.INTER_LINEAR,
        )
        self.knobs = {name: self._knob_patch(name, scaled) for name in layout.elements if name in STICK_ELEMENTS}

    def _knob_patch(self, name: str, scaled_template: np.ndarray) -> np.ndarray:
        """The knob's appearance: the template around the stick box centre (the knob rests there)."""
        box = self.layout.elements[name]
        radius = max(2, round(min(box.w, box.h) * self.where.scale * 0.18))
        cx, cy = (round(v * self.where.scale) for v in box.center)
        return scaled_template[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1].astype(np.float32)

    def parse(self, frame: np.ndarray) -> ParsedFrame:
        """Read one RGB frame."""
        values = {name: float("nan") for name in gamepad.FLAT_NAMES}
        margins = []
        for name, rect in self.rects.items():
            crop = _crop(frame, rect)
            if crop.shape != self.rest[name].shape or crop.size == 0:
                continue
            if name in STICK_ELEMENTS:
                (x, y), quality = self._stick(name, crop)
                values[STICK_AXES[name][0]], values[STICK_AXES[name][1]] = x, y
                margins.append(quality)
                continue
            diff = float(np.abs(crop - self.rest[name]).mean())
            if name in gamepad.TRIGGERS:
                columns = np.abs(crop - self.rest[name]).mean(axis=(0, 2)) > self.config.press_threshold
                values[name] = float(np.clip(columns.mean() * 1.05, 0.0, 1.0)) if columns.any() else 0.0
            else:
                values[name] = 1.0 if diff >= self.config.press_threshold else 0.0
            margins.append(min(1.0, abs(diff - self.config.press_threshold) / self.config.press_threshold))
        confidence = float(np.mean(margins)) if margins else 0.0
        return ParsedFrame(values, confidence)

    def _stick(self, name: str, crop: np.ndarray) -> tuple[tuple[float, float], float]:
        knob = self.knobs[name]
        grey = cv2.cvtColor(crop.astype(np.uint8), cv2.COLOR_RGB2GRAY)
        patch = cv2.cvtColor(knob.astype(np.uint8), cv2.COLOR_RGB2GRAY)
        result = np.nan_to_num(cv2.matchTemplate(grey, patch, cv2.TM_CCOEFF_NORMED), nan=-1.0)
        box = self.layout.elements[name]
        x0, y0, _, _ = self.rects[name]
        bx0, by0, bx1, by1 = shift_rect(frame_box(box, self.where), self.origin)
        # Only knob centres inside the sweep box (plus 2 px of codec slack) are possible readings; this keeps
        # look-alike shapes next to the stick (thumb buttons, d-pads) from winning the match.
        half_h, half_w = patch.shape[0] / 2.0, patch.shape[1] / 2.0
        ys = y0 + np.arange(result.shape[0]) + half_h
        xs = x0 + np.arange(result.shape[1]) + half_w
        allowed = ((ys >= by0 - 2) & (ys <= by1 + 2))[:, None] & ((xs >= bx0 - 2) & (xs <= bx1 + 2))[None, :]
        result = np.where(allowed, result, -1.0).astype(np.float32)
        _, score, _, (px, py) = cv2.minMaxLoc(result)
        cx = x0 + px + half_w  # knob centre in frame pixels
        cy = y0 + py + half_h
        x = (cx - (bx0 + bx1) / 2.0) / max(1e-6, (bx1 - bx0) / 2.0)
        y = -(cy - (by0 + by1) / 2.0) / max(1e-6, (by1 - by0) / 2.0)
        return (float(np.clip(x, -1.0, 1.0)), float(np.clip(y, -1.0, 1.0))), float(max(0.0, score))

    def parse_all(self, frames: Iterable[np.ndarray]) -> Generator[ParsedFrame, None, None]:
        """Parse a stream of frames."""
        for frame in frames:
            yield self.parse(frame)
