"""Element crops for the learned parser: where an element's crop lies in a frame, and cutting it out.

Crops are cut in frame pixels from a :class:`~.localize.Localization` (the overlay's placement), resized to
the network's crop side, and the rest template is placed in the frame the same way, so the three images
the network compares (:mod:`.parser_net`) line up pixel for pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from nitrogen_datasets.overlay.layout import Box
from nitrogen_datasets.overlay.localize import Localization
from nitrogen_datasets.overlay.parse import frame_box


def element_rect(box: Box, where: Localization, margin: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) in frame pixels of an element's crop (``margin``: :meth:`ParserNetConfig.margin`), >= 1 px."""
    x0, y0, x1, y1 = frame_box(box, where, margin)
    return x0, y0, max(x0 + 1, x1), max(y0 + 1, y1)


def crop_resized(image: np.ndarray, rect: tuple[int, int, int, int], size: int) -> np.ndarray:
    """``image[rect]`` resized to ``size`` x ``size``; parts outside the image are zero."""
    x0, y0, x1, y1 = rect
    height, width = image.shape[:2]
    if x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height:
        out = image[y0:y1, x0:x1]
    else:
        out = np.zeros((y1 - y0, x1 - x0, image.shape[2]), dtype=image.dtype)
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if cx1 > cx0 and cy1 > cy0:
            out[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = image[cy0:cy1, cx0:cx1]
    shrinking = out.shape[0] * out.shape[1] > size * size
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def template_in_frame(template: np.ndarray, where: Localization, frame_size: tuple[int, int]) -> np.ndarray:
    """The RGBA template scaled and placed as in the video, on a (H, W, 4) canvas of the frame's size."""
    scaled = cv2.resize(
        np.ascontiguousarray(
            template if template.shape[2] == 4 else np.dstack([template, np.full(template.shape[:2], 255, np.uint8)])
        ),
        None,
        fx=where.scale,
        fy=where.scale,
        interpolation=cv2.INTER_AREA if where.scale < 1 else cv2.INTER_LINEAR,
    )
    canvas = np.zeros((*frame_size, 4), np.uint8)
    height, width = frame_size
    x0, y0 = where.x, where.y
    x1, y1 = min(width, x0 + scaled.shape[1]), min(height, y0 + scaled.shape[0])
    sx0, sy0 = max(0, -x0), max(0, -y0)
    if x1 > max(0, x0) and y1 > max(0, y0):
        canvas[max(0, y0) : y1, max(0, x0) : x1] = scaled[sy0 : sy0 + y1 - max(0, y0), sx0 : sx0 + x1 - max(0, x0)]
    return canvas


def template_channels(template_crop: np.ndarray) -> np.ndarray:
    """(crop, crop, 4) uint8: the template's RGB premultiplied by its alpha, and the alpha (the shape)."""
    alpha = template_crop[..., 3:4].astype(np.uint16)
    return np.concatenate([(template_crop[..., :3] * alpha // 255).astype(np.uint8), template_crop[..., 3:4]], axis=2)
