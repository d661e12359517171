"""Frames at the dataset's rate and size, taken during extraction's one decode and held on disk until kept.

A corpus frame is the source frame nearest a dataset tick, masked and resized (:func:`dataset_sources`). Which
ticks become episodes is known only once the whole video is read: the quality filter and the per-clip press
thresholds look at every frame. So :class:`FrameSpool` (a :class:`~.masking.FrameTap`) resizes the frames the
ticks use as they are decoded and appends them, raw and lossless, to a file in the video's staging folder; the
corpus then reads back the kept ones into the dataset writer. Each frame is lossy-encoded once, by the dataset
itself, and memory stays flat however long the video (the spool costs ``obs_size**2 * 3`` bytes of disk per
tick: 2.9 MB per second of video at 256 px and 15 fps). The conversion, mask and resize run on a thread of their
own (:class:`~.decode.BackgroundCalls`), beside decoding and the parser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nitrogen_datasets.overlay.decode import BackgroundCalls
from nitrogen_datasets.overlay.masking import DecodedFrame, MaskedShrink

SPOOL_DEPTH = 8
"""Frames waiting for the spool's thread, at most: each holds its decoded frame (1.4 MB at 720p, 12 MB at 4K), so
memory stays bounded; a few are enough to smooth the decoder's pace against the resize's."""


class SpoolMissingFrame(RuntimeError):
    """A bug: the corpus asked the spool for a source frame it did not keep."""


def dataset_sources(times: np.ndarray, fps: float) -> np.ndarray:
    """For each dataset tick ``times[0] + k / fps`` up to the last frame, the index of the frame it shows.

    A tick shows the first frame at or after it (the frame on screen then), so a slower source repeats frames
    and a faster one skips them.

    >>> dataset_sources(np.array([0.0, 0.1, 0.2, 0.3]), 5).tolist()
    [0, 2]
    """
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    targets = np.arange(times[0], times[-1] + 1e-9, 1.0 / fps)
    return np.clip(np.searchsorted(times, targets), 0, len(times) - 1)


class FrameSpool:
    """Masked frames resized to ``size`` x ``size``, one per source frame a dataset tick uses, in a raw file.

    A frame is spooled when a tick at ``fps`` falls on or before its time and after the previous frame's
    (what :func:`dataset_sources` picks), and the last frame always (the final tick may land on it). Which
    frames are spooled is decided in the caller's thread, in order; converting, masking, resizing and writing
    them happen on the spool's own thread, in the same order (:class:`~.decode.BackgroundCalls`): it wrote the
    same file as the one thread did (tested), and a failure there is raised by the next call or :meth:`close`.

    Args:
        path: the spool file (created; removed by :meth:`remove`).
        fps: the dataset's rate.
        size: the dataset's square frame side.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, size: int) -> None:
        self.path, self.fps, self.size = Path(path), float(fps), int(size)
        self.frame_bytes = self.size * self.size * 3
        self.indices: list[int] = []
        self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 - closed in close/abort
        self._start: float | None = None  # the first frame's time: tick 0
        self._next = 0  # the first tick no frame has taken yet
        self._previous = 0.0
        self._pending: DecodedFrame | None = None  # the latest frame, not spooled yet: the last one must be
        self._worker = BackgroundCalls("nitrogen-spool", SPOOL_DEPTH)
        self._shrink = MaskedShrink(self.size)  # used on the spool's thread only

    def _tick(self, k: int) -> float:
        """Tick ``k``'s time exactly as ``np.arange`` in :func:`dataset_sources` computes it (same rounding)."""
        start = self._start if self._start is not None else 0.0
        if k == 0:
            return start
        second = start + 1.0 / self.fps
        return second if k == 1 else start + k * (second - start)

    def _wanted(self, time: float) -> bool:
        """Whether a tick falls in (previous frame's time, ``time``]: the ticks :func:`dataset_sources` gives it."""
        if self._start is None:
            self._start = time
        elif time <= self._previous:  # out of order: keep it rather than guess
            return True
        wanted = False
        while self._tick(self._next) <= time:
            wanted = True
            self._next += 1
        return wanted

    def __call__(self, frame: DecodedFrame) -> None:
        """Spool ``frame`` if a tick uses it."""
        wanted = self._wanted(frame.time)
        self._previous = frame.time
        self._pending = None
        if wanted:
            self._worker.submit(self._write, frame)
        else:
            self._pending = frame

    def _write(self, frame: DecodedFrame) -> None:
        """Resize and append one frame (on the spool's thread)."""
        image = self._shrink(frame)
        if self._file is None:
            raise ValueError(f"{self.path}: the spool is closed")
        self._file.write(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
        self.indices.append(frame.index)

    def close(self) -> None:
        """Spool the last frame if it is not already, and finish the file for reading."""
        if self._pending is not None:
            self._worker.submit(self._write, self._pending)
            self._pending = None
        self._worker.join()
        if self._file is not None:
            self._file.close()
            self._file = None

    def abort(self) -> None:
        """Drop the spool."""
        self._pending = None
        self.remove()

    def remove(self) -> None:
        """Stop the spool's thread, close and delete the file."""
        self._worker.cancel()
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)

    def frames(self, sources: np.ndarray) -> Iterator[np.ndarray]:
        """The spooled (size, size, 3) uint8 frame of each source index in ``sources``, read back in order.

        Raises:
            SpoolMissingFrame: a source index that was not spooled (a bug in the tick arithmetic).
        """
        slots = np.searchsorted(np.asarray(self.indices, dtype=np.int64), sources)
        shape = (self.size, self.size, 3)
        last_slot = -1
        image: np.ndarray = np.zeros(shape, np.uint8)  # a plain ndarray: NumPy 2's stubs type reshape()'s shape apart
        with open(self.path, "rb") as spool:
            for source, slot in zip(sources.tolist(), slots.tolist(), strict=True):
                if slot >= len(self.indices) or self.indices[slot] != source:
                    raise SpoolMissingFrame(f"source frame {source} was not spooled in {self.path}")
                if slot != last_slot:
                    spool.seek(slot * self.frame_bytes)
                    image = np.frombuffer(spool.read(self.frame_bytes), np.uint8).reshape(shape)
                    last_slot = slot
                yield image
