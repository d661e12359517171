"""Write RGB frames to an H.264 mp4 with PyAV, atomically (temp file, then rename)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from nitrogen_envs.import_utils import require_package


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
        self.fps = int(fps)
        self.crf = int(crf)
        self._av = require_package("av")
        self._tmp = self.path.with_name(f".{self.path.name}.partial")
        self._container: Any = None
        self._stream: Any = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 frame (H and W are padded to even sizes for H.264)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 frame, got shape {frame.shape} dtype {frame.dtype}")
        height, width = frame.shape[0] + frame.shape[0] % 2, frame.shape[1] + frame.shape[1] % 2
        if self._container is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = self._av.open(str(self._tmp), mode="w", format="mp4")
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.width, self._stream.height = width, height
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(self.crf)}
        if frame.shape[:2] != (height, width):
            frame = np.pad(frame, ((0, height - frame.shape[0]), (0, width - frame.shape[1]), (0, 0)), mode="edge")
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and move the finished file into place."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop a partial file (after an error or Ctrl-C)."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
