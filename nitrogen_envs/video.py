"""Write RGB frames to H.264 mp4 files with PyAV.

:class:`H264Encoder` is the one encoder every package uses; :class:`VideoWriter` adds the atomic
temp-file-then-rename step for user-facing outputs (rollouts, overlay renders, masked videos). The dataset
writer uses the encoder directly with a short keyframe interval and no B-frames, because it renames and
checksums its files itself and needs cheap random access.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from nitrogen_envs.import_utils import require_package

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
"""x264's speed presets, fastest first: each trades encoding time for file size at the same ``crf``."""


def check_preset(preset: str | None) -> None:
    """Raise ``ValueError`` unless ``preset`` is ``None`` or one of :data:`X264_PRESETS` (x264 would fail at the first frame)."""
    if preset is not None and preset not in X264_PRESETS:
        raise ValueError(f"preset must be one of {X264_PRESETS} or None, got {preset!r}")


class H264Encoder:
    """Stream (H, W, 3) uint8 frames of one clip into an mp4 at ``path`` (written in place).

    Frame ``i`` gets presentation timestamp ``i`` in units of ``1 / fps``, so readers can find it exactly.

    Args:
        path: output file.
        fps: frames per second.
        crf: x264 constant rate factor (lower is better; 23 is x264's default, 18 near-lossless).
        gop: keyframe interval in frames; ``None`` keeps x264's default (250).
        pix_fmt: ``yuv420p`` (plays everywhere) or ``yuv444p`` (no chroma subsampling).
        b_frames: number of B-frames; 0 makes decode order equal display order (exact, cheap seeks);
            ``None`` keeps x264's default.
        preset: x264 speed preset (:data:`X264_PRESETS`); ``None`` keeps x264's default (``medium``). Read when
            the first frame opens the file, so it may be set on the encoder until then.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: int = 15,
        crf: int = 23,
        gop: int | None = None,
        pix_fmt: str = "yuv420p",
        b_frames: int | None = None,
        preset: str | None = None,
    ) -> None:
        self._av = require_package("av")
        self.path = Path(path)
        self.fps, self.crf, self.gop, self.pix_fmt, self.b_frames = int(fps), int(crf), gop, pix_fmt, b_frames
        check_preset(preset)
        self.preset = preset
        self._container: Any = None
        self._stream: Any = None
        self.frames = 0
        self.shape: tuple[int, int] | None = None

    def _open(self, height: int, width: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = self._av.open(str(self.path), mode="w", format="mp4")
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = self.pix_fmt
        stream.time_base = Fraction(1, self.fps)
        options = {"crf": str(self.crf)}
        if self.gop is not None:
            options.update({"g": str(self.gop), "keyint_min": str(self.gop)})
            stream.codec_context.gop_size = self.gop
        if self.b_frames is not None:
            options["bf"] = str(self.b_frames)
        if self.preset is not None:
            check_preset(self.preset)
            options["preset"] = self.preset
        stream.options = options
        self._stream = stream
        self.shape = (height, width)

    @property
    def is_open(self) -> bool:
        """Whether a file is being written (from the first frame until close or abort)."""
        return self._container is not None

    def write(self, frame: np.ndarray) -> None:
        """Append one frame; every frame of a clip must have the same (H, W) (odd sizes are edge-padded)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 frame, got shape {frame.shape} dtype {frame.dtype}")
        if self._container is None:
            self._open(frame.shape[0], frame.shape[1])
        elif frame.shape[:2] != self.shape:
            raise ValueError(f"frame size changed within a video: {frame.shape[:2]} after {self.shape}")
        pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
        if pad_h or pad_w:  # H.264 needs even sizes
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = self.frames
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and close the file."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def abort(self) -> None:
        """Close without caring about errors and delete the partial file."""
        if self._container is not None:
            # abort runs while another error propagates: a partial file that fails to close (PyAV raises
            # several error types) must not replace that error, and the file is deleted below anyway.
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self.path.unlink(missing_ok=True)


class VideoWriter:
    """Stream frames into an mp4; the file appears only once it is complete.

    Args:
        path: output ``.mp4`` path.
        fps: frames per second.
        crf: H.264 quality (lower is better; 23 is x264's default).

    Example:
        >>> with VideoWriter("out.mp4", fps=15) as video:  # doctest: +SKIP
        ...     video.write(frame)
    """

    def __init__(self, path: str | os.PathLike[str], fps: int = 15, crf: int = 23) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"video path must end in .mp4, got {str(self.path)!r}")
        self._encoder = H264Encoder(self.path.with_name(f".{self.path.name}.partial"), fps=fps, crf=crf)

    @property
    def frames(self) -> int:
        """Frames written so far."""
        return self._encoder.frames

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 frame (H and W are padded to even sizes for H.264)."""
        self._encoder.write(frame)

    def close(self) -> None:
        """Flush the encoder and move the finished file into place."""
        if not self._encoder.is_open:  # no frame written, or already closed
            return
        self._encoder.close()
        os.replace(self._encoder.path, self.path)

    def abort(self) -> None:
        """Drop a partial file (after an error or Ctrl-C)."""
        self._encoder.abort()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
