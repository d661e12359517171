"""Episode videos: an H.264 encoder with a short keyframe interval and a frame-accurate random-access decoder.

Encoding uses the shared :class:`nitrogen_envs.video.H264Encoder`, set up differently from a user-facing
video: training reads single frames at random, and the cost of one random read is the number of frames
between the previous keyframe and the target. x264's default keyframe interval (250) would decode up to
250 frames per sample; the dataset writer sets it to ``video_gop`` (16 by default, one action chunk). Frame ``i`` is stored with presentation timestamp ``i``
in units of ``1 / fps``, so the decoder finds it exactly without trusting container durations.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_datasets.format import DEFAULT_CRF
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.safe_inputs import open_checked_video
from nitrogen_envs.video import H264Encoder

logger = logging.getLogger(__name__)


def episode_encoder(
    path: str | Path,
    fps: int,
    crf: int = DEFAULT_CRF,
    gop: int = 16,
    pix_fmt: str = "yuv420p",
    preset: str | None = None,
) -> H264Encoder:
    """The shared H.264 encoder set up for episodes: keyframe every ``gop`` frames and no B-frames.

    No B-frames keeps decode order equal to display order, so a seek lands exactly and stays cheap. The
    file is written in place at ``path``; the dataset writer renames it once the episode is complete.

    Args:
        path: output file (the writer passes a temp name).
        fps: frames per second.
        crf: x264 constant rate factor (0 = lossless for yuv444p, 18 = visually near-lossless).
        gop: keyframe interval in frames.
        pix_fmt: ``yuv420p`` (plays everywhere) or ``yuv444p`` (no chroma subsampling, better for tiny frames).
        preset: x264 speed preset; ``None`` keeps x264's default (``medium``).
    """
    return H264Encoder(path, fps=fps, crf=crf, gop=gop, pix_fmt=pix_fmt, b_frames=0, preset=preset)


class VideoReader:
    """Random access to the frames of one episode mp4, exact to the frame.

    Keeps the container open and remembers where its decoder is: reading frame ``j`` after frame ``i``
    with ``i < j <= i + gop`` decodes forward instead of seeking, so sequential and chunked access is cheap.

    Args:
        path: the mp4 file.
        fps: frames per second the file was written with (frame ``i`` has time ``i / fps``).
        gop: keyframe interval; forward reads up to this far skip the seek.

    Raises:
        InvalidInputFile: not a regular file, not a video, no video stream or frames over the pixel limit
            (checked before decoding; the dataset wraps this in ``CorruptEpisode``).
    """

    def __init__(self, path: str | Path, fps: int, gop: int = 16) -> None:
        self.path = str(path)
        self.fps = int(fps)
        self.gop = int(gop)
        self._container = open_checked_video(self.path, "episode video")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "NONE"  # one frame at a time; threads only add latency in DataLoader workers
        # One scaler per reader, single-threaded: building one per frame (PyAV's default) costs ~2 ms at
        # 64x64 and spawns slice threads that a forked DataLoader worker cannot free.
        self._reformatter = require_package("av.video.reformatter").VideoReformatter()
        self._frames: Iterator[Any] | None = None
        self._position = -1  # index of the last frame handed out by self._frames

    @property
    def num_frames(self) -> int:
        """Frame count from the container header (0 when the container does not say)."""
        return int(self._stream.frames or 0)

    def _index_of(self, frame: Any) -> int:
        return round(float(frame.pts * self._stream.time_base) * self.fps)

    def _seek(self, index: int) -> None:
        target = round(index / self.fps / self._stream.time_base)
        self._container.seek(int(target), stream=self._stream, backward=True, any_frame=False)
        self._frames = self._container.decode(self._stream)
        self._position = -1

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as (H, W, 3) uint8 RGB (at the encoded, even-padded size).

        Raises:
            IndexError: ``index`` is past the end of the video.
        """
        if self._frames is None or not (self._position < index <= self._position + self.gop):
            self._seek(index)
        assert self._frames is not None  # for type checkers; _seek always sets it
        for frame in self._frames:
            position = self._index_of(frame)
            if position < index:
                continue
            self._position = position
            if position > index:  # the seek overshot: the file lacks this frame
                break
            return self._reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()
        self._frames = None
        raise IndexError(f"{self.path} has no frame {index}")

    def close(self) -> None:
        """Release the file and the decoder."""
        self._frames = None
        with contextlib.suppress(Exception):
            self._container.close()
