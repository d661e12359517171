"""Episode videos: an H.264 encoder with a short keyframe interval and a frame-accurate random-access decoder.

Why not :class:`nitrogen_envs.video.VideoWriter`: training reads single frames at random, and the cost of
one random read is the number of frames between the previous keyframe and the target. x264's default
keyframe interval (250) would decode up to 250 frames per sample; the dataset writer sets it to
``video_gop`` (16 by default, one action chunk). Frame ``i`` is stored with presentation timestamp ``i``
in units of ``1 / fps``, so the decoder finds it exactly without trusting container durations.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_datasets.import_utils import require_package

logger = logging.getLogger(__name__)


class EpisodeVideoEncoder:
    """Stream (H, W, 3) uint8 frames of one episode into an mp4 at ``path`` (the caller renames it).

    Args:
        path: output file (the writer passes a temp name and renames it once the episode is complete).
        fps: frames per second.
        crf: x264 constant rate factor (0 = lossless for yuv444p, 18 = visually near-lossless).
        gop: keyframe interval in frames.
        pix_fmt: ``yuv420p`` (plays everywhere) or ``yuv444p`` (no chroma subsampling, better for tiny frames).
    """

    def __init__(self, path: str | Path, fps: int, crf: int = 18, gop: int = 16, pix_fmt: str = "yuv420p") -> None:
        self._av = require_package("av")
        self.path = Path(path)
        self.fps, self.crf, self.gop, self.pix_fmt = int(fps), int(crf), int(gop), pix_fmt
        self._container: Any = None
        self._stream: Any = None
        self.frames = 0
        self.shape: tuple[int, int] | None = None

    def _open(self, height: int, width: int) -> None:
        from fractions import Fraction

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = self._av.open(str(self.path), mode="w", format="mp4")
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = self.pix_fmt
        stream.time_base = Fraction(1, self.fps)
        # No B-frames: decode order equals display order, so seeking lands exactly and stays cheap.
        stream.options = {"crf": str(self.crf), "g": str(self.gop), "keyint_min": str(self.gop), "bf": "0"}
        stream.codec_context.gop_size = self.gop
        self._stream = stream
        self.shape = (height, width)

    def write(self, frame: np.ndarray) -> None:
        """Append one frame; every frame of an episode must have the same (H, W)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 frame, got shape {frame.shape} dtype {frame.dtype}")
        if self._container is None:
            self._open(frame.shape[0], frame.shape[1])
        elif frame.shape[:2] != self.shape:
            raise ValueError(f"frame size changed within an episode: {frame.shape[:2]} after {self.shape}")
        pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
        if pad_h or pad_w:  # H.264 needs even sizes; readers crop back to (frame_height, frame_width)
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = self.frames
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and close the file (still at its temp name)."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def abort(self) -> None:
        """Close without caring about errors and delete the partial file."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self.path.unlink(missing_ok=True)


class VideoReader:
    """Random access to the frames of one episode mp4, exact to the frame.

    Keeps the container open and remembers where its decoder is: reading frame ``j`` after frame ``i``
    with ``i < j <= i + gop`` decodes forward instead of seeking, so sequential and chunked access is cheap.

    Args:
        path: the mp4 file.
        fps: frames per second the file was written with (frame ``i`` has time ``i / fps``).
        gop: keyframe interval; forward reads up to this far skip the seek.

    Raises:
        av.error.FFmpegError: the file cannot be opened (the dataset wraps this in ``CorruptEpisode``).
    """

    def __init__(self, path: str | Path, fps: int, gop: int = 16) -> None:
        av = require_package("av")
        self.path = str(path)
        self.fps = int(fps)
        self.gop = int(gop)
        self._container = av.open(self.path)
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
