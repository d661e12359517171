"""Video with an input overlay in, per-frame gamepad actions out (parquet), plus an optional masked video.

Streams the video (PyAV) so memory stays flat: a short first pass localizes the overlay and builds the
parser's rest reference, the main pass parses every frame, writes rows in batches and (optionally)
re-encodes the video with the overlay region blacked out so a model trained on it cannot read the
answer off the screen. The quality filter then marks which frames to keep.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any, TypeVar

import numpy as np

from nitrogen_datasets.overlay.layout import load_layout
from nitrogen_datasets.overlay.localize import Localization, localize
from nitrogen_datasets.overlay.parse import ParserConfig, ReferenceParser
from nitrogen_envs import gamepad

logger = logging.getLogger(__name__)

T = TypeVar("T")
COLUMNS: tuple[str, ...] = ("frame", "time_s", *gamepad.FLAT_NAMES, "confidence", "keep")
PARSERS = ("learned", "reference")


@dataclass(frozen=True)
class ExtractConfig:
    """Extraction settings.

    Args:
        probe_frames: frames read first to localize the overlay and build the rest reference.
        min_match: localization score below which the overlay counts as absent.
        window_s: length of the action-density window of the quality filter, in seconds.
        min_active_fraction: a window is kept when at least this fraction of its frames has any input.
        min_confidence: frames read with lower parser confidence are dropped.
        method: ``learned`` (the CNN of :mod:`.learned`, shipped weights) or ``reference`` (training-free).
        parser_weights: folder of learned-parser weights; ``None`` uses the shipped ones.
        parser: thresholds of the reference parser.
    """

    probe_frames: int = 120
    min_match: float = 0.5
    window_s: float = 2.0
    min_active_fraction: float = 0.05
    min_confidence: float = 0.2
    method: str = "learned"
    parser_weights: str | None = None
    parser: ParserConfig = field(default_factory=ParserConfig)

    def __post_init__(self) -> None:
        if self.method not in PARSERS:
            raise ValueError(f"method must be one of {PARSERS}, got {self.method!r}")


@dataclass
class ExtractResult:
    """Summary of one extraction."""

    frames: int
    kept_fraction: float
    localization: Localization
    actions: Path
    masked_video: Path | None


def prefetch(items: Iterator[T], depth: int = 32) -> Iterator[T]:
    """Yield ``items`` produced by a background thread, at most ``depth`` ahead.

    Decoding (PyAV) and the parser's network (torch) both release the GIL, so on two cores the main pass
    overlaps them instead of alternating. The bounded queue keeps memory flat; an exception in the
    producer is raised here, and closing this generator stops the producer.
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

    thread = threading.Thread(target=produce, name="nitrogen-decode", daemon=True)
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


def _decode(path: Path):
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            time = float(frame.time) if frame.time is not None else float("nan")
            yield frame.to_ndarray(format="rgb24"), time, float(stream.average_rate or 30)


def quality_filter(actions: np.ndarray, confidence: np.ndarray, fps: float, config: ExtractConfig) -> np.ndarray:
    """Boolean keep-mask: frames in windows with enough input activity and read with enough confidence.

    Args:
        actions: (N, 21) parsed actions (NaN for absent elements).
        confidence: (N,) parser confidence.
        fps: frame rate, to turn the window length into frames.
        config: window length and thresholds.
    """
    values = np.nan_to_num(actions, nan=0.0)
    active = (np.abs(values[:, gamepad.STICK_SLICE]) > 0.2).any(axis=1) | (values[:, 4:] >= 0.5).any(axis=1)
    if len(active) == 0:
        return active
    window = min(len(active), max(1, round(config.window_s * fps)))
    density = np.convolve(active.astype(np.float32), np.ones(window) / window, mode="same")
    return (density >= config.min_active_fraction) & (confidence >= config.min_confidence)


def make_parser(
    config: ExtractConfig, layout: Any, where: Localization, reference: list[np.ndarray], template: np.ndarray
) -> Any:
    """The parser ``config.method`` names, set up for one video."""
    if config.method == "reference":
        return ReferenceParser(layout, where, reference, template, config.parser)
    from nitrogen_datasets.overlay.learned import LearnedParser, load_parser

    return LearnedParser(layout, where, reference, template, load_parser(config.parser_weights))


def extract(
    video: str | os.PathLike[str],
    layout_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    masked_video: str | os.PathLike[str] | None = None,
    config: ExtractConfig | None = None,
) -> ExtractResult:
    """Extract per-frame actions from ``video`` into the parquet file ``out``.

    Raises:
        OverlayNotFound: the layout's template is not in the video (the message gives the best score).
        InvalidLayout: the layout file is broken.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nitrogen_envs.video import VideoWriter

    config = config or ExtractConfig()
    video, out = Path(video), Path(out)
    layout, template = load_layout(layout_path)
    probe, fps = [], 30.0
    for frame, _, stream_fps in _decode(video):
        fps = stream_fps
        probe.append(frame)
        if len(probe) >= config.probe_frames:
            break
    if not probe:
        raise ValueError(f"{video}: no video frames could be decoded")
    where = localize(probe, template, min_score=config.min_match)
    reference = probe[:: max(1, len(probe) // config.parser.reference_frames)]
    parser = make_parser(config, layout, where, reference, template)
    height, width = template.shape[:2]
    x0, y0 = where.x, where.y
    x1, y1 = where.x + round(width * where.scale), where.y + round(height * where.scale)
    writer = VideoWriter(masked_video, fps=round(fps)) if masked_video else None
    rows: list[np.ndarray] = []
    confidences: list[float] = []
    times: list[float] = []

    def frames() -> Iterator[np.ndarray]:
        for index, (frame, time, _) in enumerate(prefetch(_decode(video))):
            times.append(time if np.isfinite(time) else index / fps)
            if writer is not None:
                masked = frame.copy()
                masked[max(0, y0) : y1, max(0, x0) : x1] = 0
                writer.write(masked)
            yield frame

    try:
        for parsed in parser.parse_all(frames()):
            rows.append(np.array([parsed.values[name] for name in gamepad.FLAT_NAMES], dtype=np.float32))
            confidences.append(parsed.confidence)
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    actions = np.stack(rows) if rows else np.zeros((0, gamepad.FLAT_SIZE), np.float32)
    confidence = np.asarray(confidences, dtype=np.float32)
    keep = quality_filter(actions, confidence, fps, config)
    table = {"frame": np.arange(len(actions), dtype=np.int64), "time_s": np.asarray(times, dtype=np.float64)}
    for column, name in enumerate(gamepad.FLAT_NAMES):
        table[name] = actions[:, column]
    table["confidence"] = confidence
    table["keep"] = keep
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    pq.write_table(pa.table(table), tmp)
    os.replace(tmp, out)
    kept = float(keep.mean()) if len(keep) else 0.0
    logger.info(
        "%s: %d frames, overlay at (%d, %d) x%.2f, kept %.1f%%",
        video,
        len(actions),
        where.x,
        where.y,
        where.scale,
        100 * kept,
    )
    return ExtractResult(len(actions), kept, where, out, Path(masked_video) if masked_video else None)
