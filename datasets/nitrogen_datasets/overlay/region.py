"""The part of a frame the overlay parsers read, and converting only that part of decoded frames to RGB.

An overlay is usually a small corner of the frame, so extraction converts only :func:`overlay_region` of each
decoded frame (:class:`RegionRGB`), with exactly the pixels whole-frame conversion would give.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nitrogen_datasets.overlay.layout import OverlayLayout
from nitrogen_datasets.overlay.localize import Localization
from nitrogen_datasets.overlay.parse import STICK_SEARCH_MARGIN, frame_box
from nitrogen_datasets.overlay.parser_config import BUTTON_MARGIN, STICK_MARGIN

REGION_MARGIN = max(STICK_SEARCH_MARGIN, STICK_MARGIN, BUTTON_MARGIN)
"""Margin of every element crop the region holds, as a fraction of the element's larger side: the largest
margin any parser crops with (0.5, the reference parser's stick search)."""
REGION_SLACK_PX = 2
"""Pixels the region extends past the union of those crops on every side. The parsers round their own crop
boxes (:func:`~.parse.frame_box`, with their own margins), widen a crop to at least one pixel
(:func:`~.crops.element_rect`) and resize the template to its own rounded size, so a crop may end a pixel past
the box computed here; the slack keeps every pixel a parser reads inside the region (what
``test_parsers_read_the_region_as_they_read_the_whole_frame`` checks)."""
Region = tuple[int, int, int, int]
"""(x0, y0, x1, y1) of a rectangle in frame pixels."""
PLANAR_YUV: dict[str, tuple[int, int, int]] = {
    "yuv420p": (1, 1, 1),
    "yuvj420p": (1, 1, 1),
    "yuv422p": (1, 1, 0),
    "yuvj422p": (1, 1, 0),
    "yuv444p": (1, 0, 0),
    "yuvj444p": (1, 0, 0),
    "yuv444p10le": (2, 0, 0),
}
"""Planar YUV formats :class:`RegionRGB` crops before converting: (bytes per sample, chroma's horizontal and vertical
subsampling as shifts). Each is tested exact against whole-frame conversion; 4:2:2 and 4:4:4 (OBS records both) had
converted whole frames, doubling a 720p extraction. Left out: 10-bit 4:2:0 and 4:2:2 (OBS's 10-bit HEVC and AV1),
which swscale converts cropped up to 47 and 86 levels away from the whole frame's conversion (session 25)."""


def overlay_region(
    layout: OverlayLayout, where: Localization, frame_size: tuple[int, int], template: np.ndarray
) -> Region:
    """The part of the frame any parser reads: the placed template and every element crop, inside the frame.

    Every element's crop is taken with the largest margin a parser uses (half a box: the reference parser's
    stick crops; the learned parser's context is less); the corners are rounded outwards to even pixels so
    4:2:0 chroma splits cleanly (see :class:`RegionRGB`).
    """
    height, width = frame_size
    rects = [frame_box(box, where, REGION_MARGIN) for box in layout.elements.values()]
    rects.append(
        (
            where.x,
            where.y,
            where.x + round(template.shape[1] * where.scale),
            where.y + round(template.shape[0] * where.scale),
        )
    )
    x0, y0 = min(r[0] for r in rects) - REGION_SLACK_PX, min(r[1] for r in rects) - REGION_SLACK_PX
    x1, y1 = max(r[2] for r in rects) + REGION_SLACK_PX, max(r[3] for r in rects) + REGION_SLACK_PX
    x0, y0 = max(0, x0 - x0 % 2), max(0, y0 - y0 % 2)
    x1, y1 = min(width, x1 + x1 % 2), min(height, y1 + y1 % 2)
    return x0, y0, max(x0 + 2, x1), max(y0 + 2, y1)


class RegionRGB:
    """Converts only one region of decoded frames to RGB, with the pixels whole-frame conversion would give.

    A planar YUV frame's planes (:data:`PLANAR_YUV`) are cropped (even corners, so every chroma sample stays with
    its luma block)
    into a small frame that swscale converts with the source's colorspace and range: the result equals
    ``frame.to_ndarray(format="rgb24")[y0:y1, x0:x1]`` exactly (tested), at a fraction of the cost when the
    region is small. Other pixel formats and odd frame sizes take the whole-frame conversion and crop.
    """

    def __init__(self, region: Region) -> None:
        from av.video.reformatter import VideoReformatter

        self.region = region
        self._reformatter = VideoReformatter()
        self._small: Any = None

    def __call__(self, frame: Any) -> np.ndarray:
        """RGB uint8 pixels of the region of one PyAV video frame."""
        x0, y0, x1, y1 = self.region
        name = frame.format.name
        planar = PLANAR_YUV.get(name)
        if planar is None or frame.width % 2 or frame.height % 2 or x1 > frame.width or y1 > frame.height:
            return frame.to_ndarray(format="rgb24")[y0:y1, x0:x1]
        import av

        small = self._small
        if small is None or small.format.name != name:
            small = self._small = av.VideoFrame(x1 - x0, y1 - y0, name)
        size, chroma_x, chroma_y = planar
        for index, (source, target) in enumerate(zip(frame.planes, small.planes, strict=True)):
            shift_x, shift_y = (0, 0) if index == 0 else (chroma_x, chroma_y)
            rows = np.frombuffer(source, np.uint8).reshape(-1, source.line_size)
            out = np.frombuffer(target, np.uint8).reshape(-1, target.line_size)
            left = (x0 >> shift_x) * size
            out[: target.height, : target.width * size] = rows[
                y0 >> shift_y : (y0 >> shift_y) + target.height, left : left + target.width * size
            ]
        small.colorspace, small.color_range = frame.colorspace, frame.color_range
        return self._reformatter.reformat(small, format="rgb24").to_ndarray()
