"""Decoding overlay videos for extraction: every frame once, in a background thread, from the first on.

:class:`VideoProbe` decodes the start of a video for localization and hands the same decoder on to the
main pass, so no frame is decoded twice; :func:`prefetch` runs decoding in a thread beside the parser, and
:class:`BackgroundCalls` runs a frame tap's heavy work (the corpus's resize) in a third.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from queue import Full, Queue
from typing import Any, TypeVar

import numpy as np

from nitrogen_datasets.overlay.localize import MEDIAN_FRAMES, probe_sample
from nitrogen_datasets.safe_inputs import open_video

T = TypeVar("T")


def prefetch(items: Iterator[T], depth: int = 32, name: str = "nitrogen-decode") -> Generator[T, None, None]:
    """Yield ``items`` produced by a background thread, at most ``depth`` ahead.

    Decoding (PyAV) and the parser's network (torch) both release the GIL, so on two cores the main pass
    overlaps them instead of alternating. The bounded queue keeps memory flat; an exception in the
    producer is raised here, and closing this generator stops the producer. ``name`` names the thread.
    """
    done = object()
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put((item, None), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put((done, None))
        except BaseException as err:  # handed to the consumer, which raises it
            queue.put((done, err))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, error = queue.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class BackgroundCalls:
    """Calls run one at a time, in the order submitted, on one background thread, at most ``depth`` ahead.

    The decoding thread hands work it need not wait for (the corpus spool's full-frame conversion, mask and
    resize: 3-4 ms a kept 720p frame, three times the decode) to this thread, so the two overlap on two cores
    with the parser instead of the decoding thread doing both. OpenCV and PyAV release the GIL while they work.
    ``depth`` bounds the calls, and so the frames their arguments hold, waiting at once (memory stays flat). The
    error of a failed call is raised, with its traceback, by the next :meth:`submit` or by :meth:`join`.

    Args:
        name: the thread's name (shown by debuggers and ``threading.enumerate``).
        depth: calls submitted but not finished, at most; :meth:`submit` waits for the oldest beyond that.
    """

    def __init__(self, name: str, depth: int) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth = depth
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: deque[Future[None]] = deque()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Queue ``fn(*args)`` after every earlier call; raises the error of an earlier call that failed."""
        while self._pending and (len(self._pending) >= self.depth or self._pending[0].done()):
            self._pending.popleft().result()
        self._pending.append(self._executor.submit(fn, *args))

    def join(self) -> None:
        """Wait for every queued call and end the thread; raises the first error (the later calls are dropped)."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Drop the calls not started, wait for the one running, end the thread (after an error or Ctrl-C)."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)


def frame_count(path: Path) -> int | None:
    """Frames in the video as its container header states them; ``None`` when it does not say (no ETA then)."""
    with open_video(path) as container:
        return int(container.streams.video[0].frames) or None


def decode_frames(path: Path) -> Generator[tuple[Any, float, float], None, None]:
    """(PyAV frame, time in seconds or NaN, stream fps) for every frame of the first video stream.

    Raises:
        InvalidInputFile: not a regular file, no video stream, or frames over the pixel limit (checked
            from the container header before anything is decoded).
    """
    with open_video(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 30)
        for frame in container.decode(stream):
            yield frame, float(frame.time) if frame.time is not None else float("nan"), fps


class VideoProbe:
    """The start of a video, decoded once: the frames localization reads, held until the main pass takes them.

    Most overlays are located by intensity from the first :data:`~.localize.MEDIAN_FRAMES` frames, so only
    those are decoded before the region is known, and the main pass goes on from them with the same
    decoder: no frame is decoded twice. A faint overlay needs static edges over the first ``count``
    frames (:meth:`edge_frames`); only then is the start read a second time, by a fresh decoder (and a third
    time, farther, where those frames do not show it either: ``edge_frames(span)``).
    """

    def __init__(self, video: Path, count: int) -> None:
        self.video, self.count = video, count
        self._decoder = decode_frames(video)
        self.held: list[tuple[Any, float]] = []
        self.fps = 30.0
        for frame, time, fps in self._decoder:
            self.fps = fps
            self.held.append((frame, time))
            if len(self.held) >= min(count, MEDIAN_FRAMES):
                break
        self.rewound = False
        self.seen = 0
        """Frames the last :meth:`edge_frames` call found in the span it read (fewer than it: the video ended)."""

    def first_frames(self) -> list[np.ndarray]:
        """RGB of the held frames (the ones intensity matching reads)."""
        return [frame.to_ndarray(format="rgb24") for frame, _ in self.held]

    def edge_frames(self, span: int | None = None) -> list[np.ndarray]:
        """RGB of the frames :func:`probe_sample` spreads over the first ``span`` frames (default ``count``).

        They are read by a fresh decoder; a video shorter than ``span`` gives frames spread over all of it
        (:attr:`seen` then says how many it has). The held frames are dropped: the main pass then starts again from
        the first frame.
        """
        self.close()
        self.rewound = True
        span = self.count if span is None else span
        frames, self.seen = self._read(set(probe_sample(span)[1]), span)
        _, edges = probe_sample(self.seen)
        if not set(edges) <= frames.keys():  # a video shorter than the span: other frames are sampled
            frames, _ = self._read(set(edges), self.seen)
        return [frames[i] for i in edges]

    def _read(self, wanted: set[int], span: int) -> tuple[dict[int, np.ndarray], int]:
        """RGB of the ``wanted`` frame indices among the first ``span``, and how many frames there were."""
        frames: dict[int, np.ndarray] = {}
        seen = 0
        for frame, _, _ in decode_frames(self.video):
            if seen in wanted:
                frames[seen] = frame.to_ndarray(format="rgb24")
            seen += 1
            if seen >= span:
                break
        return frames, seen

    def frames(self) -> Iterator[tuple[Any, float]]:
        """Every frame of the video from the first, each (PyAV frame, time), releasing held frames as they go."""
        if self.rewound:
            for frame, time, _ in decode_frames(self.video):
                yield frame, time
            return
        while self.held:
            yield self.held.pop(0)
        for frame, time, _ in self._decoder:
            yield frame, time

    def close(self) -> None:
        """Release the held frames and the first decoder."""
        self.held.clear()
        with contextlib.suppress(ValueError):  # still running in a decoding thread that did not stop in time
            self._decoder.close()
