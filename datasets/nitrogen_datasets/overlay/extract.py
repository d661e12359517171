"""Video with an input overlay in, per-frame gamepad actions out (parquet), plus an optional masked video.

Streams the video (PyAV) so memory stays flat: the first frames localize the overlay, then one pass from
the first frame on (the frames already decoded are not decoded again) builds the parser's rest reference
from the first seconds, parses every frame, writes rows in batches and (optionally)
re-encodes the video with the overlay region blacked out so a model trained on it cannot read the
answer off the screen. The quality filter then marks which frames to keep.
"""

from __future__ import annotations

import contextlib
import itertools
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
from nitrogen_datasets.overlay.localize import MEDIAN_FRAMES, Localization, localize, probe_sample
from nitrogen_datasets.overlay.parse import ParserConfig, ReferenceParser, frame_box
from nitrogen_datasets.safe_inputs import open_video, refuse_overwrite
from nitrogen_envs import gamepad
from nitrogen_envs.progress import progress_bar

logger = logging.getLogger(__name__)

T = TypeVar("T")
COLUMNS: tuple[str, ...] = ("frame", "time_s", *gamepad.FLAT_NAMES, "confidence", "keep")
PARSERS = ("learned", "reference")


@dataclass(frozen=True)
class ExtractConfig:
    """Extraction settings.

    Args:
        probe_frames: the first frames: the rest reference is built over them, and a faint overlay is
            located by its static edges over them.
        min_match: localization score below which the overlay counts as absent.
        window_s: length of the action-density window of the quality filter, in seconds.
        min_active_fraction: a window is kept when at least this fraction of its frames has any input.
        min_confidence: frames read with lower parser confidence are dropped.
        method: ``learned`` (the CNN of :mod:`.learned`, shipped weights) or ``reference`` (training-free).
        parser_weights: folder of learned-parser weights; ``None`` uses the shipped ones.
        parser: thresholds of the reference parser.
        torch_threads: PyTorch threads the learned parser runs on during extraction (restored afterwards):
            one, so that decoding keeps the other core on a 2-core machine instead of competing with a
            second parser thread (measured: 2.6 against 3.5 ms of CPU per frame); ``None`` leaves torch's
            setting as it is.
        calibrate_presses: threshold each button of the learned parser per clip where its readings form
            two clear clusters (:func:`~.learned.calibrate_presses`), instead of at probability 0.5.
    """

    probe_frames: int = 120
    min_match: float = 0.5
    window_s: float = 2.0
    min_active_fraction: float = 0.05
    min_confidence: float = 0.2
    method: str = "learned"
    parser_weights: str | None = None
    parser: ParserConfig = field(default_factory=ParserConfig)
    torch_threads: int | None = 1
    calibrate_presses: bool = True

    def __post_init__(self) -> None:
        if self.method not in PARSERS:
            raise ValueError(f"method must be one of {PARSERS}, got {self.method!r}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1 or None, got {self.torch_threads}")


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


def _frame_count(path: Path) -> int | None:
    """Frames in the video as its container header states them; ``None`` when it does not say (no ETA then)."""
    with open_video(path) as container:
        return int(container.streams.video[0].frames) or None


def _decode(path: Path) -> Iterator[tuple[Any, float, float]]:
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


REGION_MARGIN = 0.5
"""Margin of every element crop the region holds, as a fraction of the element's larger side."""
Region = tuple[int, int, int, int]
"""(x0, y0, x1, y1) of a rectangle in frame pixels."""
_YUV420 = ("yuv420p", "yuvj420p")


def overlay_region(layout: Any, where: Localization, frame_size: tuple[int, int], template: np.ndarray) -> Region:
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
    x0, y0 = min(r[0] for r in rects) - 2, min(r[1] for r in rects) - 2
    x1, y1 = max(r[2] for r in rects) + 2, max(r[3] for r in rects) + 2
    x0, y0 = max(0, x0 - x0 % 2), max(0, y0 - y0 % 2)
    x1, y1 = min(width, x1 + x1 % 2), min(height, y1 + y1 % 2)
    return x0, y0, max(x0 + 2, x1), max(y0 + 2, y1)


class RegionRGB:
    """Converts only one region of decoded frames to RGB, with the pixels whole-frame conversion would give.

    A 4:2:0 frame's planes are cropped (even corners, so every chroma sample stays with its 2x2 luma block)
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
        if name not in _YUV420 or frame.width % 2 or frame.height % 2 or x1 > frame.width or y1 > frame.height:
            return frame.to_ndarray(format="rgb24")[y0:y1, x0:x1]
        import av

        small = self._small
        if small is None or small.format.name != name:
            small = self._small = av.VideoFrame(x1 - x0, y1 - y0, name)
        for index, (source, target) in enumerate(zip(frame.planes, small.planes, strict=True)):
            shift = 0 if index == 0 else 1
            rows = np.frombuffer(source, np.uint8).reshape(-1, source.line_size)
            out = np.frombuffer(target, np.uint8).reshape(-1, target.line_size)
            out[: target.height, : target.width] = rows[
                y0 >> shift : (y0 >> shift) + target.height, x0 >> shift : (x0 >> shift) + target.width
            ]
        small.colorspace, small.color_range = frame.colorspace, frame.color_range
        return self._reformatter.reformat(small, format="rgb24").to_ndarray()


class _Probe:
    """The start of a video, decoded once: the frames localization reads, held until the main pass takes them.

    Most overlays are located by intensity from the first :data:`~.localize.MEDIAN_FRAMES` frames, so only
    those are decoded before the region is known, and the main pass goes on from them with the same
    decoder: no frame is decoded twice. A faint overlay needs static edges over the first ``count``
    frames (:meth:`edge_frames`); only then is the start read a second time, by a fresh decoder.
    """

    def __init__(self, video: Path, count: int) -> None:
        self.video, self.count = video, count
        self._decoder = _decode(video)
        self.held: list[tuple[Any, float]] = []
        self.fps = 30.0
        for frame, time, fps in self._decoder:
            self.fps = fps
            self.held.append((frame, time))
            if len(self.held) >= min(count, MEDIAN_FRAMES):
                break
        self.rewound = False

    def first_frames(self) -> list[np.ndarray]:
        """RGB of the held frames (the ones intensity matching reads)."""
        return [frame.to_ndarray(format="rgb24") for frame, _ in self.held]

    def edge_frames(self) -> list[np.ndarray]:
        """RGB of the frames :func:`probe_sample` spreads over the first ``count``, read by a second decoder.

        The held frames are dropped: the main pass then starts again from the first frame.
        """
        self.close()
        self.rewound = True
        frames, seen = self._read(set(probe_sample(self.count)[1]))
        _, edges = probe_sample(seen)
        if not set(edges) <= frames.keys():  # a video shorter than the probe: other frames are sampled
            frames, _ = self._read(set(edges))
        return [frames[i] for i in edges]

    def _read(self, wanted: set[int]) -> tuple[dict[int, np.ndarray], int]:
        """RGB of the ``wanted`` frame indices among the first ``count``, and how many frames there were."""
        frames: dict[int, np.ndarray] = {}
        seen = 0
        for frame, _, _ in _decode(self.video):
            if seen in wanted:
                frames[seen] = frame.to_ndarray(format="rgb24")
            seen += 1
            if seen >= self.count:
                break
        return frames, seen

    def frames(self) -> Iterator[tuple[Any, float]]:
        """Every frame of the video from the first, each (PyAV frame, time), releasing held frames as they go."""
        if self.rewound:
            for frame, time, _ in _decode(self.video):
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


def spread_indices(count: int, wanted: int) -> list[int]:
    """Up to ``wanted`` indices spread evenly over ``range(count)``, first and last included."""
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)}) if wanted > 1 else [0]


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


@contextlib.contextmanager
def _torch_threads(config: ExtractConfig) -> Iterator[None]:
    """Run the learned parser on ``config.torch_threads`` threads, then restore torch's setting."""
    if config.method != "learned" or config.torch_threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_parser(
    config: ExtractConfig,
    layout: Any,
    where: Localization,
    reference: list[np.ndarray],
    template: np.ndarray,
    origin: tuple[int, int] = (0, 0),
) -> Any:
    """The parser ``config.method`` names, set up for one video (for images cut from its frames at ``origin``)."""
    if config.method == "reference":
        return ReferenceParser(layout, where, reference, template, config.parser, origin=origin)
    from nitrogen_datasets.overlay.learned import LearnedParser, load_parser

    model = load_parser(config.parser_weights)
    return LearnedParser(
        layout, where, reference, template, model, origin=origin, press_probabilities=config.calibrate_presses
    )


def _locate(
    probe: _Probe, layout: Any, template: np.ndarray, config: ExtractConfig
) -> tuple[Localization, Region, float]:
    """Where the overlay is, the region the parser reads, the fps."""
    first = probe.first_frames()
    where = localize(first, template, config.min_match, edge_frames=probe.edge_frames)
    return where, overlay_region(layout, where, first[0].shape[:2], template), probe.fps


def _main_pass(
    probe: _Probe,
    layout: Any,
    template: np.ndarray,
    where: Localization,
    region: Region,
    masked_video: str | os.PathLike[str] | None,
    config: ExtractConfig,
    bar: Any = None,
) -> tuple[list[np.ndarray], list[float], list[float]]:
    """Parse every frame (and write the masked video): per-frame readings, confidences and times.

    ``bar`` (a progress bar) advances by one per frame decoded.
    """
    from nitrogen_envs.video import VideoWriter

    fps = probe.fps
    rx0, ry0, rx1, ry1 = region
    height, width = template.shape[:2]
    x0, y0 = where.x, where.y
    x1, y1 = where.x + round(width * where.scale), where.y + round(height * where.scale)
    writer = VideoWriter(masked_video, fps=round(fps)) if masked_video else None
    rows: list[np.ndarray] = []
    confidences: list[float] = []
    times: list[float] = []

    def decoded() -> Iterator[tuple[np.ndarray, np.ndarray | None, float]]:
        """Runs in the prefetch thread: (region RGB, whole RGB frame when masking, time)."""
        to_rgb = RegionRGB(region)
        for frame, time in probe.frames():
            if writer is None:
                yield to_rgb(frame), None, time
            else:
                whole = frame.to_ndarray(format="rgb24")
                yield whole[ry0:ry1, rx0:rx1], whole, time

    def frames() -> Iterator[np.ndarray]:
        for index, (frame, whole, time) in enumerate(prefetch(decoded())):
            times.append(time if np.isfinite(time) else index / fps)
            if writer is not None:
                masked = whole.copy()
                masked[max(0, y0) : y1, max(0, x0) : x1] = 0
                writer.write(masked)
            if bar is not None:
                bar.update(1)
            yield frame

    stream = frames()
    try:
        head = list(itertools.islice(stream, config.probe_frames))  # the rest reference is built over these
        reference = [head[i] for i in spread_indices(len(head), config.parser.reference_frames)]
        parser = make_parser(config, layout, where, reference, template, origin=(rx0, ry0))
        with _torch_threads(config):
            for parsed in parser.parse_all(itertools.chain(head, stream)):
                rows.append(np.array([parsed.values[name] for name in gamepad.FLAT_NAMES], dtype=np.float32))
                confidences.append(parsed.confidence)
        if writer is not None:
            writer.close()
    except BaseException:
        stream.close()
        if writer is not None:
            writer.abort()
        raise
    return rows, confidences, times


def extract(
    video: str | os.PathLike[str],
    layout_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    masked_video: str | os.PathLike[str] | None = None,
    config: ExtractConfig | None = None,
    progress: bool = False,
) -> ExtractResult:
    """Extract per-frame actions from ``video`` into the parquet file ``out``.

    ``progress`` shows a bar of frames with ETA on stderr (see :func:`nitrogen_envs.progress.progress_bar`).

    Raises:
        OverlayNotFound: the layout's template is not in the video (the message gives the best score).
        InvalidLayout: the layout file is broken.
        InvalidInputFile: the video is not a regular file, has no video stream or too many pixels.
        OutputOverwritesInput: ``out`` or ``masked_video`` is the video, the layout or its template.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    config = config or ExtractConfig()
    video, out = Path(video), Path(out)
    layout, template = load_layout(layout_path)
    refuse_overwrite(
        {"--out": out, "--masked-video": masked_video},
        {"video": video, "layout": layout_path, "template": Path(layout_path).parent / layout.template},
    )
    probe = _Probe(video, config.probe_frames)
    bar = progress_bar(_frame_count(video), f"extracting {video.name}", unit="frame", enabled=progress)
    try:
        if not probe.held:
            raise ValueError(f"{video}: no video frames could be decoded")
        where, region, fps = _locate(probe, layout, template, config)
        rows, confidences, times = _main_pass(probe, layout, template, where, region, masked_video, config, bar)
    finally:
        bar.close()
        probe.close()
    actions = np.stack(rows) if rows else np.zeros((0, gamepad.FLAT_SIZE), np.float32)
    if config.method == "learned" and config.calibrate_presses and len(actions):
        from nitrogen_datasets.overlay.learned import calibrate_presses

        buttons = [gamepad.FLAT_NAMES.index(name) for name in gamepad.BUTTON_NAMES]
        actions[:, buttons] = calibrate_presses(actions[:, buttons])
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
