"""Blacking out the overlay in decoded frames, and the hook that hands those frames to later stages.

Extraction decodes every frame once. Stages that need the frames with the overlay blacked out (so a model
trained on them cannot read the answer off the screen) receive them during that one decode through a
:class:`FrameTap`, instead of reading a masked video back from disk: the masked mp4 (:class:`MaskedVideoTap`)
and the corpus's dataset-rate frames (:class:`~.resample.FrameSpool`) are both taps.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nitrogen_datasets.overlay.localize import Localization
from nitrogen_datasets.overlay.region import PLANAR_YUV, Region


def mask_box(where: Localization, template_size: tuple[int, int]) -> Region:
    """(x0, y0, x1, y1) of the placed template in frame pixels: the rectangle masking blacks out.

    ``template_size`` is the template's (height, width) at scale 1. The box may reach past the frame's
    edges; :attr:`DecodedFrame.masked` clips it.
    """
    height, width = template_size
    return where.x, where.y, where.x + round(width * where.scale), where.y + round(height * where.scale)


class DecodedFrame:
    """One frame of the main pass, converted to RGB only if a tap asks for it (once, whoever asks first).

    Args:
        frame: the PyAV video frame.
        index: its position in the video, from 0.
        time: its time in seconds (the frame's own, or ``index / fps`` when the container gives none).
        fps: the video's frame rate.
        box: the overlay's rectangle (:func:`mask_box`).
    """

    def __init__(self, frame: Any, index: int, time: float, fps: float, box: Region) -> None:
        self.frame, self.index, self.time, self.fps, self.box = frame, index, time, fps, box

    @cached_property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB of the whole frame, as decoded (overlay included)."""
        return self.frame.to_ndarray(format="rgb24")

    @cached_property
    def masked(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB of the whole frame with the overlay's rectangle black (a copy; :attr:`rgb` is kept)."""
        x0, y0, x1, y1 = self.box
        masked = self.rgb.copy()
        masked[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 0
        return masked

    def has_rgb(self) -> bool:
        """Whether the whole frame was converted already (then its region is a slice, not a second conversion)."""
        return "rgb" in self.__dict__


_FULL_RANGE = 2
"""``AVCOL_RANGE_JPEG``: luma 0-255, so black is 0 (limited-range video, the usual kind, has black at 16); the
``yuvj420p`` format is full range whatever the frame's range field says."""


class MaskedShrink:
    """The masked frame shrunk to ``size`` x ``size``: the corpus's frames, without converting the whole frame.

    Why: converting a 720p frame to RGB (1 ms) and shrinking it with OpenCV's area filter (3.4 ms) was about a
    fifth of a corpus build's CPU. For 4:2:0 video, the frame's planes are copied, the overlay's rectangle is
    blacked out in them (chroma samples that touch it set neutral, so no overlay colour is left; the scene
    loses its colour in a ring up to a pixel wide where the rectangle's edge is odd) and swscale
    shrinks and converts in one area-filtered pass to planar RGB (0.5 ms of CPU). Masking comes before
    shrinking, as in the RGB path, so no overlay pixel reaches the result. The result is about 44 dB PSNR from
    OpenCV's area resize of the masked RGB frame, and nearer the scene the video was encoded from (720p to 128
    px: 46-49 dB against 44-46; after the dataset's own encode 0.1-0.5 dB nearer, measured on synthetic
    scenes). The same for 8-bit 4:2:2 and 4:4:4 (their chroma masked at its own resolution; since session 25).
    Other pixel formats and odd sizes take the RGB path (:attr:`DecodedFrame.masked` and OpenCV's
    area resize). One instance per thread: it reuses its frame buffer.
    """

    def __init__(self, size: int) -> None:
        from av.video.reformatter import VideoReformatter

        self.size = int(size)
        self._reformatter = VideoReformatter()
        self._copy: Any = None

    def __call__(self, decoded: DecodedFrame) -> np.ndarray:
        """(size, size, 3) uint8 RGB of the frame with the overlay black."""
        frame = decoded.frame
        name = frame.format.name
        planar = PLANAR_YUV.get(name)
        if planar is None or planar[0] != 1 or frame.width % 2 or frame.height % 2:
            import cv2

            return np.asarray(cv2.resize(decoded.masked, (self.size, self.size), interpolation=cv2.INTER_AREA))
        import av

        copy = self._copy
        if copy is None or copy.format.name != name or (copy.width, copy.height) != (frame.width, frame.height):
            copy = self._copy = av.VideoFrame(frame.width, frame.height, name)
        x0, y0, x1, y1 = (max(0, value) for value in decoded.box)
        black = 0 if name.startswith("yuvj") or frame.color_range == _FULL_RANGE else 16
        _, chroma_x, chroma_y = planar
        for index, (source, target) in enumerate(zip(frame.planes, copy.planes, strict=True)):
            rows = np.frombuffer(source, np.uint8).reshape(-1, source.line_size)[: target.height, : target.width]
            out = np.frombuffer(target, np.uint8).reshape(-1, target.line_size)[: target.height, : target.width]
            out[:] = rows
            if index == 0:
                out[y0:y1, x0:x1] = black
            else:  # a chroma sample covers 2x2 pixels in 4:2:0: neutral wherever any of them is masked
                out[y0 >> chroma_y : -(-y1 >> chroma_y), x0 >> chroma_x : -(-x1 >> chroma_x)] = 128
        copy.colorspace, copy.color_range = frame.colorspace, frame.color_range
        # Planar RGB out: swscale's packed-RGB output shares each chroma sample between two output pixels, which
        # lost 10 dB against the scene on a 720p clip shrunk to 128 px; planar keeps every pixel's own colour.
        shrunk = self._reformatter.reformat(
            copy, width=self.size, height=self.size, format="gbrp", interpolation="AREA"
        )
        return np.asarray(shrunk.to_ndarray())  # PyAV returns gbrp's planes in R, G, B order


class FrameTap(Protocol):
    """Receives every frame of extraction's main pass, in order, in the decoding thread.

    Called once per frame; then :meth:`close` after the last frame, or :meth:`abort` when extraction fails
    (undo what was written).
    """

    def __call__(self, frame: DecodedFrame) -> None:
        """Take one frame."""
        ...

    def close(self) -> None:
        """The video ended: finish the output."""
        ...

    def abort(self) -> None:
        """Extraction failed: remove partial output."""
        ...


class MaskedVideoTap:
    """Writes the masked video (every frame, full size, at the source's rate) as extraction decodes it.

    The mp4 appears only once complete (:class:`nitrogen_envs.video.VideoWriter`); its quality is that class's
    default CRF.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._writer: Any = None

    def __call__(self, frame: DecodedFrame) -> None:
        """Append one masked frame (the writer opens on the first, when the rate is known)."""
        if self._writer is None:
            from nitrogen_envs.video import VideoWriter

            self._writer = VideoWriter(self.path, fps=round(frame.fps))
        self._writer.write(frame.masked)

    def close(self) -> None:
        """Finish the mp4 (none is written for a video without frames)."""
        if self._writer is not None:
            self._writer.close()

    def abort(self) -> None:
        """Drop the partial mp4."""
        if self._writer is not None:
            self._writer.abort()
