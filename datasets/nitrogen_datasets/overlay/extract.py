"""Video with an input overlay in, per-frame gamepad actions out (parquet), plus an optional masked video.

Streams the video (PyAV) so memory stays flat: the first frames localize the overlay, then one pass from
the first frame on (the frames already decoded are not decoded again) builds the parser's rest reference
from the first seconds and parses every frame. The same pass hands each frame to the caller's taps
(:mod:`.masking`): the optional masked video (the overlay region blacked out, so a model trained on it
cannot read the answer off the screen) is one, the corpus's dataset frames another. The quality filter
then marks which frames to keep; :func:`read_actions` returns it all in memory, :func:`extract` writes parquet.

This module is the orchestration; the stages are modules of their own, which are the public import paths:
:mod:`.decode` (decoding, the probe, the prefetch thread), :mod:`.region` (the part of the frame parsers
read), :mod:`.masking` (blacking out the overlay, frame taps), :mod:`.quality` (the keep filter), :mod:`.localize` and the parsers (:mod:`.parse`, :mod:`.learned`).
The names they held here before are re-exported (``from nitrogen_datasets.overlay.extract import prefetch``
keeps working).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any, Protocol

import numpy as np

from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.overlay.calibration import calibrate_presses
from nitrogen_datasets.overlay.decode import VideoProbe, frame_count, prefetch
from nitrogen_datasets.overlay.errors import InvalidOverlayConfig
from nitrogen_datasets.overlay.knob_match import KnobMatchConfig, KnobStickReader, KnobSticks
from nitrogen_datasets.overlay.layout import OverlayLayout, load_layout
from nitrogen_datasets.overlay.localize import Localization, OverlayNotFound, at_placement, localize
from nitrogen_datasets.overlay.masking import DecodedFrame, FrameTap, MaskedVideoTap, mask_box
from nitrogen_datasets.overlay.parse import ParsedFrame, ParserConfig, ReferenceParser
from nitrogen_datasets.overlay.quality import quality_filter
from nitrogen_datasets.overlay.region import REGION_MARGIN, Region, RegionRGB, overlay_region
from nitrogen_datasets.safe_inputs import InvalidInputFile, refuse_overwrite
from nitrogen_envs import gamepad
from nitrogen_envs.progress import progress_bar

__all__ = [
    "COLUMNS",
    "PARSERS",
    "REGION_MARGIN",
    "STICK_READERS",
    "ExtractConfig",
    "ExtractResult",
    "Extraction",
    "Region",
    "RegionRGB",
    "check_known_placement",
    "extract",
    "make_parser",
    "overlay_region",
    "prefetch",
    "prefetch_depth",
    "quality_filter",
    "read_actions",
    "spread_indices",
]

logger = logging.getLogger(__name__)
COLUMNS: tuple[str, ...] = ("frame", "time_s", *gamepad.FLAT_NAMES, "confidence", "keep")
PARSERS = ("learned", "reference")
PREFETCH_BYTES = 16 * 2**20
"""Bytes of decoded overlay regions the decoding thread may hold ahead of the parser (:func:`prefetch_depth`)."""
PREFETCH_FRAMES = (32, 128)
"""Fewest and most regions held ahead. While the parser sets itself up on the first frames (0.27 s of CPU at 720p),
decoding and the corpus spool go on only as far as this queue reaches: 32 regions are about 40 ms of decoding at
720p, after which the other core waits for the parser; 128 cover most of the setup. A region of a whole 1080p frame
(6 MB) gets the 32 held before."""
STICK_READERS = ("knob", "parser")
"""How sticks are read: ``knob``, the layout's own knob sprite found in its sweep area (:mod:`.knob_match`, the
default: it reads sprite families no parser trained on); ``parser``, the parser's own stick reading."""


@dataclass(frozen=True)
class ExtractConfig:
    """Extraction settings.

    Args:
        probe_frames: the first frames: the rest reference is built over them, and a faint overlay is
            located by its static edges over them.
        search_seconds: where the probe does not show the overlay, its static edges are searched for once more
            over frames spread across this many seconds from the start: a stream's later scenes differ where its
            overlay stays put, so the scene's edges fall out of the median that the overlay's survive. Only a
            video the probe's search fails on pays for it (decoding up to this far); 0 searches the probe alone.
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
            two clear clusters (:func:`~.calibration.calibrate_presses`), instead of at probability 0.5.
        sticks: who reads the sticks (:data:`STICK_READERS`); buttons and triggers are the parser's either way.
        knob: settings of the knob matcher (``sticks="knob"``).
        placement: ``(x, y, scale)``, where the overlay is: its top-left pixel in the video and its size over the
            template's. Skips localization (:func:`~.localize.at_placement`) for an overlay it cannot find;
            ``None`` searches for it (:func:`~.localize.localize`).
    """

    probe_frames: int = 120
    search_seconds: float = 60.0
    min_match: float = 0.5
    window_s: float = 2.0
    min_active_fraction: float = 0.05
    min_confidence: float = 0.2
    method: str = "learned"
    parser_weights: str | None = None
    parser: ParserConfig = field(default_factory=ParserConfig)
    torch_threads: int | None = 1
    calibrate_presses: bool = True
    sticks: str = "knob"
    knob: KnobMatchConfig = field(default_factory=KnobMatchConfig)
    placement: tuple[int, int, float] | None = None

    def __post_init__(self) -> None:
        check_known_placement(self.placement)
        if self.method not in PARSERS:
            raise InvalidOverlayConfig(f"method must be one of {PARSERS}, got {self.method!r}")
        if self.sticks not in STICK_READERS:
            raise InvalidOverlayConfig(f"sticks must be one of {STICK_READERS}, got {self.sticks!r}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise InvalidOverlayConfig(f"torch_threads must be >= 1 or None, got {self.torch_threads}")
        check_search_seconds(self.search_seconds)


def check_search_seconds(seconds: float) -> None:
    """Refuse a farther search of negative (or NaN) length (:attr:`ExtractConfig.search_seconds`).

    Raises:
        InvalidOverlayConfig: ``seconds`` is not a number >= 0.
    """
    if not seconds >= 0:
        raise InvalidOverlayConfig(f"search_seconds must be >= 0 (0: search the first frames only), got {seconds}")


def check_known_placement(placement: tuple[int, int, float] | None) -> None:
    """Refuse a placement no video can have (its fit to a video is :func:`~.localize.at_placement`'s check).

    Raises:
        InvalidOverlayConfig: not three numbers, a negative corner or a scale that is not positive.
    """
    if placement is None:
        return
    if len(placement) != 3:
        raise InvalidOverlayConfig(f"placement must be (x, y, scale), got {placement!r}")
    x, y, scale = placement
    if x != int(x) or y != int(y) or x < 0 or y < 0:
        raise InvalidOverlayConfig(f"placement's x and y must be pixels >= 0, got {x!r}, {y!r}")
    if not scale > 0 or not math.isfinite(scale):
        raise InvalidOverlayConfig(f"placement's scale must be > 0, got {scale!r}")


@dataclass
class ExtractResult:
    """Summary of one extraction."""

    frames: int
    kept_fraction: float
    localization: Localization
    actions: Path
    masked_video: Path | None
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds of each stage (:attr:`Extraction.seconds`)."""


@dataclass
class Extraction:
    """Per-frame readings of one video, in memory (:func:`read_actions`); one row per decoded frame.

    Args:
        actions: (N, 21) float32 flat actions as read (buttons are press probabilities or 0/1 after per-clip
            thresholds; NaN for elements the layout lacks).
        confidence: (N,) float32 parser confidence.
        keep: (N,) bool, the quality filter's verdict.
        times: (N,) float64 frame times in seconds.
        localization: where the overlay was found.
        fps: the video's frame rate.
        seconds: wall seconds of each stage, in order: ``locate`` (the first frames decoded and the overlay
            found), ``first_frames`` (waiting for the frames the rest reference is built over), ``setup`` (the
            parser's set-up and the knob choice), ``parse`` (every frame read; decoding and the taps run beside it
            on their own thread). Where a short clip's time goes: the first three are paid once per video.
    """

    actions: np.ndarray
    confidence: np.ndarray
    keep: np.ndarray
    times: np.ndarray
    localization: Localization
    fps: float
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        """Frames read."""
        return len(self.actions)

    @property
    def kept_fraction(self) -> float:
        """Share of frames the quality filter keeps (0 for a video without frames)."""
        return float(self.keep.mean()) if len(self.keep) else 0.0


class FrameParser(Protocol):
    """What extraction needs of a parser (:class:`~.parse.ReferenceParser`, :class:`~.learned.LearnedParser`)."""

    def parse_all(self, frames: Iterable[np.ndarray]) -> Generator[ParsedFrame, None, None]:
        """One reading per frame, in order; a generator, so extraction can close it early."""
        ...


def spread_indices(count: int, wanted: int) -> list[int]:
    """Up to ``wanted`` indices spread evenly over ``range(count)``, first and last included."""
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)}) if wanted > 1 else [0]


def prefetch_depth(region: Region) -> int:
    """Regions the decoding thread may queue ahead: :data:`PREFETCH_BYTES` of them, within :data:`PREFETCH_FRAMES`.

    >>> prefetch_depth((0, 0, 244, 174)), prefetch_depth((0, 0, 1920, 1080))
    (128, 32)
    """
    x0, y0, x1, y1 = region
    fewest, most = PREFETCH_FRAMES
    return max(fewest, min(most, PREFETCH_BYTES // max(1, (x1 - x0) * (y1 - y0) * 3)))


def _parser_threads(config: ExtractConfig) -> contextlib.AbstractContextManager[None]:
    """Run the learned parser on ``config.torch_threads`` threads, then restore torch's setting."""
    if config.method != "learned" or config.torch_threads is None:
        return contextlib.nullcontext()
    from nitrogen_datasets.torch_settings import torch_threads

    return torch_threads(config.torch_threads)


def make_parser(
    config: ExtractConfig,
    layout: OverlayLayout,
    where: Localization,
    reference: list[np.ndarray],
    template: np.ndarray,
    origin: tuple[int, int] = (0, 0),
) -> FrameParser:
    """The parser ``config.method`` names, set up for one video (for images cut from its frames at ``origin``).

    With ``config.sticks == "knob"`` its stick readings are replaced by the knob matcher's (:class:`~.knob_match.KnobSticks`).
    The parser is then set up on a second thread while this one chooses the knobs: the learned parser's reference
    crops, their median and its network's constant terms (0.09 s of CPU at 720p) beside the knob choice (0.17 s),
    which stays on this thread (KnobSticks says why). Either's error is raised here.
    """

    def build() -> FrameParser:
        if config.method == "reference":
            return ReferenceParser(layout, where, reference, template, config.parser, origin=origin)
        from nitrogen_datasets.overlay.learned import LearnedParser
        from nitrogen_datasets.overlay.parser_weights import load_parser

        model = load_parser(config.parser_weights)
        return LearnedParser(
            layout,
            where,
            reference,
            template,
            model,
            origin=origin,
            press_probabilities=config.calibrate_presses,
            sticks=config.sticks != "knob",  # the knob matcher's readings replace the parser's
        )

    if config.sticks != "knob":
        return build()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nitrogen-setup") as pool:
        parser = pool.submit(build)
        reader = KnobStickReader(layout, where, template, reference, config.knob, origin=origin)
        return KnobSticks(parser.result(), reader)


def _locate(
    probe: VideoProbe, layout: OverlayLayout, template: np.ndarray, config: ExtractConfig
) -> tuple[Localization, Region, float]:
    """Where the overlay is, the region the parser reads, the fps."""
    first = probe.first_frames()
    if config.placement is not None:
        where = at_placement(first, template, *config.placement)
    else:
        where = search(probe, first, template, config)
    frame_size = (first[0].shape[0], first[0].shape[1])
    return where, overlay_region(layout, where, frame_size, template), probe.fps


def search(probe: VideoProbe, first: list[np.ndarray], template: np.ndarray, config: ExtractConfig) -> Localization:
    """Localize the overlay over the probe; where that fails, once more with static edges from farther on.

    The second search reads :data:`~.localize.EDGE_FRAMES` frames spread over the first
    :attr:`ExtractConfig.search_seconds` (or the whole video, if shorter) and matches by intensity on the
    same first frames as before; a video no longer than the probe is not searched twice. It accepts only a match
    whose shape dims the game's motion (``motion_required``): a static HUD's edges stand out over a long span
    as well as an overlay's, and a second search is a second chance for a look-alike.

    Raises:
        OverlayNotFound: neither search finds it (the farther search's message, saying how far it went).
    """
    try:
        return localize(first, template, config.min_match, edge_frames=probe.edge_frames)
    except OverlayNotFound as near:
        span = math.ceil(config.search_seconds * probe.fps)
        if span <= config.probe_frames or (probe.rewound and probe.seen < config.probe_frames):
            raise  # no farther to go: the search reaches no farther than the probe, or the video ends within it
        edges = probe.edge_frames(span)
        if probe.seen <= config.probe_frames:  # the video ends within the probe: the same frames again
            raise near from None
        try:
            return localize(first, template, config.min_match, edge_frames=edges, motion_required=True)
        except OverlayNotFound as far:
            seconds = probe.seen / probe.fps
            raise OverlayNotFound(f"searched the first {seconds:.0f} s: {far}") from None


def _main_pass(
    probe: VideoProbe,
    layout: OverlayLayout,
    template: np.ndarray,
    where: Localization,
    region: Region,
    taps: Sequence[FrameTap],
    config: ExtractConfig,
    bar: Any = None,
    seconds: dict[str, float] | None = None,
) -> tuple[list[np.ndarray], list[float], list[float]]:
    """Parse every frame (and hand it to the ``taps``): per-frame readings, confidences and times.

    ``bar`` (a progress bar) advances by one per frame decoded; ``seconds`` gets the wall time of the stages
    ``first_frames``, ``setup`` and ``parse`` (:attr:`Extraction.seconds`).
    """
    seconds = {} if seconds is None else seconds
    started = perf_counter()
    fps = probe.fps
    rx0, ry0, rx1, ry1 = region
    box = mask_box(where, (template.shape[0], template.shape[1]))
    rows: list[np.ndarray] = []
    confidences: list[float] = []
    times: list[float] = []

    def decoded() -> Iterator[tuple[np.ndarray, float]]:
        """Runs in the prefetch thread: (region RGB, time), after the taps have seen the frame."""
        to_rgb = RegionRGB(region)
        for index, (frame, time) in enumerate(probe.frames()):
            item = DecodedFrame(frame, index, time if np.isfinite(time) else index / fps, fps, box)
            for tap in taps:
                tap(item)
            # A tap that converted the whole frame already: copy its region rather than convert it again (a copy,
            # so the queue does not keep whole frames alive).
            yield (item.rgb[ry0:ry1, rx0:rx1].copy() if item.has_rgb() else to_rgb(frame)), item.time

    def frames() -> Generator[np.ndarray, None, None]:
        for frame, time in prefetch(decoded(), prefetch_depth(region)):
            times.append(time)
            if bar is not None:
                bar.update(1)
            yield frame

    stream = frames()
    try:
        head = list(itertools.islice(stream, config.probe_frames))  # the rest reference is built over these
        seconds["first_frames"] = perf_counter() - started
        reference = [head[i] for i in spread_indices(len(head), config.parser.reference_frames)]
        parser = make_parser(config, layout, where, reference, template, origin=(rx0, ry0))
        seconds["setup"] = perf_counter() - started - seconds["first_frames"]
        parsed_all = parser.parse_all(itertools.chain(head, stream))
        try:
            with _parser_threads(config):
                for parsed in parsed_all:
                    rows.append(np.array([parsed.values[name] for name in gamepad.FLAT_NAMES], dtype=np.float32))
                    confidences.append(parsed.confidence)
        finally:
            parsed_all.close()  # a parser's resources go now, not when the error is dropped
        seconds["parse"] = perf_counter() - started - seconds["first_frames"] - seconds["setup"]
        for tap in taps:
            tap.close()
    except BaseException:
        stream.close()  # stops the decoding thread, and with it the taps; the caller aborts them
        raise
    return rows, confidences, times


def read_actions(
    video: str | os.PathLike[str],
    layout_path: str | os.PathLike[str],
    config: ExtractConfig | None = None,
    taps: Sequence[FrameTap] = (),
    progress: bool = False,
) -> Extraction:
    """Per-frame actions of ``video``, in memory; every decoded frame also goes to ``taps`` (in order, once).

    What :func:`extract` writes to parquet; :mod:`.corpus` takes the arrays and the frames its taps kept
    straight to the dataset writer instead.

    Raises:
        OverlayNotFound: the layout's template is not in the video (the message gives the best score).
        InvalidLayout: the layout file is broken.
        InvalidInputFile: the video is not a regular file, has no video stream or too many pixels.
    """
    config = config or ExtractConfig()
    video = Path(video)
    layout, template = load_layout(layout_path)
    started = perf_counter()
    seconds: dict[str, float] = {}
    probe = VideoProbe(video, config.probe_frames)
    bar = progress_bar(frame_count(video), f"extracting {video.name}", unit="frame", enabled=progress)
    try:
        if not probe.held:
            raise InvalidInputFile(f"{video}: no video frames could be decoded; check the file plays, or re-encode it")
        where, region, fps = _locate(probe, layout, template, config)
        seconds["locate"] = perf_counter() - started
        rows, confidences, times = _main_pass(probe, layout, template, where, region, taps, config, bar, seconds)
    except BaseException:
        for tap in taps:  # a failure before the main pass: the taps saw nothing, but may hold an open file
            tap.abort()
        raise
    finally:
        bar.close()
        probe.close()
    actions = np.stack(rows) if rows else np.zeros((0, gamepad.FLAT_SIZE), np.float32)
    if config.method == "learned" and config.calibrate_presses and len(actions):
        actions[:, gamepad.BUTTON_SLICE] = calibrate_presses(actions[:, gamepad.BUTTON_SLICE])
    confidence = np.asarray(confidences, dtype=np.float32)
    keep = quality_filter(
        actions,
        confidence,
        fps,
        window_s=config.window_s,
        min_active_fraction=config.min_active_fraction,
        min_confidence=config.min_confidence,
    )
    logger.info(
        "%s: %d frames, overlay at (%d, %d) x%.2f, kept %.1f%%; seconds: %s",
        video,
        len(actions),
        where.x,
        where.y,
        where.scale,
        100 * (float(keep.mean()) if len(keep) else 0.0),
        ", ".join(f"{stage} {value:.2f}" for stage, value in seconds.items()),
    )
    return Extraction(actions, confidence, keep, np.asarray(times, dtype=np.float64), where, fps, seconds)


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
    pa = require_package("pyarrow")
    pq = require_package("pyarrow.parquet")
    out = Path(out)
    layout, _ = load_layout(layout_path)
    refuse_overwrite(
        {"--out": out, "--masked-video": masked_video},
        {"video": Path(video), "layout": layout_path, "template": Path(layout_path).parent / layout.template},
    )
    taps = [MaskedVideoTap(masked_video)] if masked_video else []
    got = read_actions(video, layout_path, config, taps, progress)
    table: dict[str, np.ndarray] = {
        "frame": np.arange(got.frames, dtype=np.int64),
        "time_s": got.times,
    }
    for column, name in enumerate(gamepad.FLAT_NAMES):
        table[name] = got.actions[:, column]
    table["confidence"] = got.confidence
    table["keep"] = got.keep
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    pq.write_table(pa.table(table), tmp)
    os.replace(tmp, out)
    return ExtractResult(
        got.frames, got.kept_fraction, got.localization, out, Path(masked_video) if masked_video else None, got.seconds
    )
