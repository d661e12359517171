"""Measure extraction on styles the parser never trained on (``nitrogen overlay eval``).

For every named preset style (training only ever sees random styles, and never the held-out palette),
every H.264 quality and every overlay scale, a clip is rendered over a moving synthetic scene with
random actions, run through the full extraction (localization, parser, quality filter) and compared
with the actions that drew it. Button and trigger accuracy count frames where the pressed state
(>= 0.5) agrees; stick R^2 pools both axes of both sticks. Triggers are drawn fully pulled or released
in these clips, since accuracy asks about the pressed state; analog travel is measured separately on
the same parser by the training validation (``trigger_mae`` in ``parser.json``).

With ``bound``, every clip is also read by the oracle of :mod:`.bound` (which knows the game frame behind
the overlay and every other element's state), and the tables show its button and trigger accuracy
beside the extractor's: what the compressed video still holds.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.overlay.localize import OverlayNotFound
from nitrogen_datasets.overlay.render import OverlayRenderer
from nitrogen_datasets.overlay.styles import _PALETTES, OverlayStyle, UnknownStyle, preset_styles
from nitrogen_datasets.overlay.synthetic import HELD_OUT_PALETTE, random_action, scrolling_scenes
from nitrogen_datasets.parallel import run_parallel
from nitrogen_envs import gamepad
from nitrogen_envs.progress import progress_bar

if TYPE_CHECKING:
    from nitrogen_datasets.overlay.video import RenderResult


@dataclass(frozen=True)
class OverlayEvalConfig:
    """The evaluation grid.

    Args:
        styles: preset style names; empty = all presets.
        crfs: x264 qualities of the rendered clips.
        scales: overlay scales.
        frames: frames per clip.
        frame_size: (height, width) of the clips.
        method: parser, ``learned`` or ``reference``.
        parser_weights: learned-parser folder; ``None`` = shipped weights.
        seed: fixes scenes and actions.
        workers: clips evaluated in parallel processes.
        bound: also score every clip with the oracle reader of :mod:`.bound` (about doubles the time).
    """

    styles: tuple[str, ...] = ()
    crfs: tuple[int, ...] = (23, 28, 35)
    scales: tuple[float, ...] = (0.5, 1.0, 2.0)
    frames: int = 48
    frame_size: tuple[int, int] = (360, 640)
    method: str = "learned"
    parser_weights: str | None = None
    seed: int = 0
    workers: int = 1
    bound: bool = False


@dataclass
class Tally:
    """Sufficient statistics of the three metrics, so clips can be pooled exactly."""

    button_hits: int = 0
    button_total: int = 0
    trigger_hits: int = 0
    trigger_total: int = 0
    stick_n: int = 0
    stick_sse: float = 0.0
    stick_sum: float = 0.0
    stick_sum_sq: float = 0.0

    def add(self, other: Tally) -> Tally:
        """In-place pooled sum."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    @property
    def button_accuracy(self) -> float:
        """Fraction of button readings whose pressed state is right."""
        return self.button_hits / self.button_total if self.button_total else math.nan

    @property
    def trigger_accuracy(self) -> float:
        """Fraction of trigger readings on the right side of 0.5."""
        return self.trigger_hits / self.trigger_total if self.trigger_total else math.nan

    @property
    def stick_r2(self) -> float:
        """Coefficient of determination of the stick axes, pooled."""
        if not self.stick_n:
            return math.nan
        sst = self.stick_sum_sq - self.stick_sum**2 / self.stick_n
        return 1.0 - self.stick_sse / sst if sst > 0 else math.nan


@dataclass
class ClipResult:
    """One rendered and extracted clip: its settings, pooled tallies and per-element tallies."""

    style: str
    family: str
    effect: str
    opacity: float
    held_out_palette: bool
    crf: int
    scale: float
    frames: int = 0
    located: bool = True
    total: Tally = field(default_factory=Tally)
    elements: dict[str, Tally] = field(default_factory=dict)
    bound: Tally | None = None
    """The oracle's button and trigger tallies (:mod:`.bound`), when asked for."""


def tally(truth: np.ndarray, got: np.ndarray, columns: Sequence[int]) -> Tally:
    """Tally of the given flat-action columns (NaN readings count as wrong)."""
    result = Tally()
    for column in columns:
        name = gamepad.FLAT_NAMES[column]
        t, g = truth[:, column], got[:, column]
        if name in gamepad.STICK_AXES:
            result.stick_n += len(t)
            result.stick_sse += float(np.nansum((t - g) ** 2) + np.isnan(g).sum() * 4.0)
            result.stick_sum += float(t.sum())
            result.stick_sum_sq += float((t**2).sum())
        elif name in gamepad.TRIGGERS:
            result.trigger_hits += _agreements(g, t)
            result.trigger_total += len(t)
        else:
            result.button_hits += _agreements(g, t)
            result.button_total += len(t)
    return result


def _agreements(got: np.ndarray, truth: np.ndarray) -> int:
    """Readings on the same side of the press threshold as the truth."""
    return int(((got >= gamepad.BUTTON_THRESHOLD) == (truth >= gamepad.BUTTON_THRESHOLD)).sum())


def evaluate_clip(style: OverlayStyle, crf: int, scale: float, config: OverlayEvalConfig, seed: int) -> ClipResult:
    """Render one clip, extract it, compare."""
    from nitrogen_datasets.overlay.extract import ExtractConfig, extract
    from nitrogen_datasets.overlay.layout import ELEMENT_NAMES, STICK_ELEMENTS
    from nitrogen_datasets.overlay.video import render_overlay_video

    pq = require_package("pyarrow.parquet")
    rng = np.random.default_rng(seed)
    truth = np.stack([random_action(rng) for _ in range(config.frames)])
    triggers = gamepad.TRIGGER_SLICE  # drawn pulled or released: accuracy asks about the pressed state only
    truth[:, triggers] = (truth[:, triggers] >= gamepad.BUTTON_THRESHOLD).astype(np.float32)
    placed = replace(style, scale=scale)
    result = ClipResult(
        style.name,
        style.family,
        style.press_effect,
        style.opacity,
        style.base == _PALETTES[HELD_OUT_PALETTE][0],
        crf,
        scale,
        config.frames,
    )
    with tempfile.TemporaryDirectory(prefix="nitrogen-overlay-eval-") as tmp:
        clip = render_overlay_video(
            scrolling_scenes(seed, config.frames, config.frame_size), truth, placed, Path(tmp) / "clip.mp4", crf=crf
        )
        extract_config = ExtractConfig(method=config.method, parser_weights=config.parser_weights)
        try:
            extracted = extract(clip.video, clip.layout, Path(tmp) / "actions.parquet", config=extract_config)
        except OverlayNotFound:
            # Counted, not hidden: a clip whose overlay is not found scores every reading as wrong.
            result.located = False
            got = np.full_like(truth, np.nan)
        else:
            table = pq.read_table(extracted.actions)
            got = np.stack([table.column(name).to_numpy() for name in gamepad.FLAT_NAMES], axis=1)
        if config.bound:
            result.bound = _bound_tally(placed, clip, seed, truth, config)
    present = set(OverlayRenderer(style).shapes)
    for element in ELEMENT_NAMES:
        if element not in present:
            continue
        if element in STICK_ELEMENTS:
            prefix = "left" if element == "left_stick" else "right"
            columns = [gamepad.FLAT_NAMES.index(f"{prefix}_x"), gamepad.FLAT_NAMES.index(f"{prefix}_y")]
        else:
            columns = [gamepad.FLAT_NAMES.index(element)]
        result.elements[element] = tally(truth, got, columns)
        result.total.add(result.elements[element])
    return result


def _bound_tally(
    style: OverlayStyle, clip: RenderResult, seed: int, truth: np.ndarray, config: OverlayEvalConfig
) -> Tally:
    """The oracle's tally of one rendered clip (its scenes are drawn again from the same seed)."""
    from nitrogen_datasets.overlay.bound import decoded_frames, oracle_hits

    scenes = scrolling_scenes(seed, config.frames, config.frame_size)
    hits = oracle_hits(OverlayRenderer(style), clip.placement, scenes, decoded_frames(clip.video), truth)
    bound = Tally()
    for name, count in hits.items():
        if name in gamepad.TRIGGERS:
            bound.trigger_hits += count
            bound.trigger_total += config.frames
        else:
            bound.button_hits += count
            bound.button_total += config.frames
    return bound


def _job(args: tuple[OverlayStyle, int, float, OverlayEvalConfig, int]) -> ClipResult:
    return evaluate_clip(*args)


def evaluate_overlays(config: OverlayEvalConfig, progress: bool = False) -> list[ClipResult]:
    """Every (style, crf, scale) clip of the grid, in grid order.

    Raises:
        UnknownStyle: an unknown style name (the message lists the presets).
    """
    presets = {style.name: style for style in preset_styles()}
    unknown = [name for name in config.styles if name not in presets]
    if unknown:
        raise UnknownStyle(f"unknown styles {unknown}; presets are {sorted(presets)} (`nitrogen overlay styles`)")
    styles = [presets[name] for name in config.styles] if config.styles else list(presets.values())
    jobs = [
        (style, crf, scale, config, config.seed * 100_003 + index)
        for index, (style, crf, scale) in enumerate(
            (style, crf, scale) for style in styles for crf in config.crfs for scale in config.scales
        )
    ]
    with progress_bar(len(jobs), "overlay eval", unit="clip", enabled=progress) as bar:
        clips = run_parallel(jobs, _job, workers=config.workers, on_complete=lambda _: bar.update(1))
        return [result for _, result in clips]


def _pool(results: Iterable[ClipResult], which: str = "total") -> Tally:
    """Sum of the clips' ``total`` (the extractor's) or ``bound`` (the oracle's) tallies; absent ones skipped."""
    pooled = Tally()
    for result in results:
        part = getattr(result, which)
        if part is not None:
            pooled.add(part)
    return pooled


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> list[str]:
    if markdown:
        return [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows),
        ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in [header, *rows]]


def format_evaluation(results: Sequence[ClipResult], markdown: bool = False) -> str:
    """Tables: overall, per CRF, per scale, per style, per element; plus the targets line."""
    with_bound = any(result.bound is not None for result in results)
    metrics = ("button acc", "trigger acc", "stick R2", *(("button bound", "trigger bound") if with_bound else ()))

    def cells(group: Sequence[ClipResult]) -> list[str]:
        t = _pool(group)
        row = [_fmt(t.button_accuracy), _fmt(t.trigger_accuracy), _fmt(t.stick_r2)]
        if with_bound:
            b = _pool(group, "bound")
            row += [_fmt(b.button_accuracy), _fmt(b.trigger_accuracy)]
        return row

    overall = _pool(results)
    lines = ["Overall", ""]
    located = [r for r in results if r.located]
    lines += _table(
        ["clips", "frames", *metrics],
        [
            [f"all {len(results)}", str(sum(r.frames for r in results)), *cells(results)],
            [f"overlay found: {len(located)}", str(sum(r.frames for r in located)), *cells(located)],
        ],
        markdown,
    )
    for title, key in (("By H.264 CRF", "crf"), ("By overlay scale", "scale")):
        groups: dict[object, list[ClipResult]] = {}
        for result in results:
            groups.setdefault(getattr(result, key), []).append(result)
        lines += ["", title, ""]
        lines += _table([key, *metrics], [[str(k), *cells(v)] for k, v in sorted(groups.items())], markdown)
    by_style: dict[str, list[ClipResult]] = {}
    for result in results:
        by_style.setdefault(result.style, []).append(result)
    lines += ["", "By style (every CRF and scale pooled)", ""]
    lines += _table(
        ["style", "family", "effect", "opacity", "unseen palette", *metrics],
        [
            [
                name,
                group[0].family,
                group[0].effect,
                f"{group[0].opacity:.2f}",
                "yes" if group[0].held_out_palette else "no",
                *cells(group),
            ]
            for name, group in by_style.items()
        ],
        markdown,
    )
    elements: dict[str, Tally] = {}
    for result in results:
        for name, element_tally in result.elements.items():
            elements.setdefault(name, Tally()).add(element_tally)
    lines += ["", "By element", ""]
    lines += _table(
        ["element", "accuracy or R2"],
        [
            [name, _fmt(t.stick_r2 if t.stick_n else t.trigger_accuracy if t.trigger_total else t.button_accuracy)]
            for name, t in elements.items()
        ],
        markdown,
    )
    lines += [
        "",
        f"targets: button >= 0.99 ({_fmt(overall.button_accuracy)}), stick R2 >= 0.95 ({_fmt(overall.stick_r2)}), "
        f"trigger >= 0.99 ({_fmt(overall.trigger_accuracy)})",
    ]
    if with_bound:
        bound = _pool(results, "bound")
        lines.append(
            f"oracle bound (what the compressed clips hold, see nitrogen_datasets.overlay.bound): "
            f"button {_fmt(bound.button_accuracy)}, trigger {_fmt(bound.trigger_accuracy)}"
        )
    return "\n".join(lines)
