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
from nitrogen_datasets.overlay.region import Region


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
