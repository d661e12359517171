"""Measure extraction on styles the parser never trained on (``nitrogen overlay eval``).

For every named style asked for (by default the parametric presets: training only ever sees random
styles, and never the held-out palette; on request sprite-sheet styles, among them the held-out half of
:data:`~.sprite_styles.SPRITE_SPLIT` in one name, ``held-out-sprites``: :data:`STYLE_SETS`), every H.264 quality, every overlay scale and every kind of clip (:mod:`.action_sequences`: by default
``play``, recorded play's statistics replayed; ``held``, the same with one button held throughout; ``idle``,
nothing pressed; on request ``iid``, every button a coin flip every frame, as the parser is trained), a
clip is rendered over a moving synthetic scene, run through the full extraction (localization, parser,
quality filter) and compared with the actions that drew it. The kinds of one (style, CRF, scale) cell
share the scene, so they differ only in the actions. Button and trigger accuracy count frames where the
pressed state (>= 0.5) agrees; stick R^2 pools both axes of both sticks. Triggers are drawn fully pulled
or released in these clips, since accuracy asks about the pressed state; analog travel is measured
separately on the same parser by the training validation (``trigger_mae`` in ``parser.json``).

With ``bound``, every clip is also read by the oracle of :mod:`.bound` (which knows the game frame behind
the overlay and every other element's state), and the tables show its button and trigger accuracy
beside the extractor's: what the compressed video still holds.

The tables are :func:`~.eval_report.format_evaluation`'s.
"""

from __future__ import annotations

import difflib
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.overlay.action_sequences import CLIP_KINDS, DEFAULT_KINDS, UnknownClipKind, clip_actions
from nitrogen_datasets.overlay.localize import OverlayNotFound
from nitrogen_datasets.overlay.play_stats import PlayStatistics, load_play_statistics
from nitrogen_datasets.overlay.render import OverlayRenderer
from nitrogen_datasets.overlay.sprite_styles import SPRITE_SPLIT, SpriteStyle, is_sprite_name, named_sprite_styles
from nitrogen_datasets.overlay.styles import _PALETTES, AnyStyle, UnknownStyle, preset_style, preset_styles
from nitrogen_datasets.overlay.synthetic import HELD_OUT_PALETTE, scrolling_scenes
from nitrogen_datasets.parallel import run_parallel
from nitrogen_envs import gamepad
from nitrogen_envs.progress import progress_bar

if TYPE_CHECKING:
    from nitrogen_datasets.overlay.video import RenderResult

STYLE_SETS = ("presets", "sprites", "held-out-sprites")
"""Names that stand for several styles in :attr:`OverlayEvalConfig.styles` (and ``eval --style``):
``presets``, the 24 parametric presets (the default); ``sprites``, the named sprite styles
``sprite-<family>-0`` to ``-7`` of every family (:func:`~.sprite_styles.named_sprite_styles`); and
``held-out-sprites``, those of them :data:`~.sprite_styles.SPRITE_SPLIT` holds out (a family or a drawing
treatment parser training never draws), the set the issue's targets are stated on."""


def style_set(name: str) -> list[AnyStyle]:
    """The styles a name of :data:`STYLE_SETS` stands for, in a fixed order."""
    if name == "presets":
        return list(preset_styles())
    if name == "sprites":
        return list(named_sprite_styles())
    if name == "held-out-sprites":
        return list(named_sprite_styles(held_out=True))
    raise UnknownStyle(f"unknown style set {name!r}; sets are {', '.join(STYLE_SETS)}")


def resolve_styles(names: Sequence[str]) -> list[AnyStyle]:
    """The styles ``names`` ask for, in order and each once; no names = the parametric presets.

    A name is a preset's, a sprite style's ``sprite-<family>-<n>`` (:func:`~.styles.preset_style`) or a set
    of :data:`STYLE_SETS`.

    Raises:
        UnknownStyle: a name that is none of these (the message suggests the closest and names the sets).
    """
    styles: dict[str, AnyStyle] = {}
    for name in names or ("presets",):
        if name in STYLE_SETS:
            styles.update((style.name, style) for style in style_set(name))
            continue
        try:
            style = preset_style(name)
        except UnknownStyle as err:
            close = [] if is_sprite_name(name) else difflib.get_close_matches(name, STYLE_SETS, n=1)
            hint = f" (did you mean the set {close[0]!r}?)" if close else ""
            raise UnknownStyle(f"{err}, or a set: {', '.join(STYLE_SETS)}{hint}") from None
        styles[style.name] = style
    return list(styles.values())


def held_out_axes(style: AnyStyle) -> tuple[str, ...]:
    """What about ``style`` parser training never draws; empty when its family and colours are drawn.

    ``family`` and/or ``treatment`` for a sprite style :data:`~.sprite_styles.SPRITE_SPLIT` holds out;
    ``palette`` for a preset in the palette training never uses (:data:`~.synthetic.HELD_OUT_PALETTE`). No
    preset is drawn in training, but the other presets' families and colours are.
    """
    if isinstance(style, SpriteStyle):
        return tuple(
            axis
            for axis, held in (
                ("family", style.family in SPRITE_SPLIT.held_out_families),
                ("treatment", style.treatment in SPRITE_SPLIT.held_out_treatments),
            )
            if held
        )
    return ("palette",) if style.base == _PALETTES[HELD_OUT_PALETTE][0] else ()


@dataclass(frozen=True)
class OverlayEvalConfig:
    """The evaluation grid.

    Args:
        styles: style names: presets, ``sprite-<family>-<n>`` names and sets (:data:`STYLE_SETS`, e.g.
            ``held-out-sprites``); empty = all parametric presets.
        crfs: x264 qualities of the rendered clips.
        scales: overlay scales.
        frames: frames per clip.
        frame_size: (height, width) of the clips.
        method: parser, ``learned`` or ``reference``.
        parser_weights: learned-parser folder; ``None`` = shipped weights.
        seed: fixes scenes and actions.
        workers: clips evaluated in parallel processes.
        bound: also score every clip with the oracle reader of :mod:`.bound` (about doubles the time).
        kinds: kinds of clip per (style, CRF, scale) cell (:data:`~.action_sequences.CLIP_KINDS`); ``iid``
            is the evaluation before real-play clips, kept for comparison.
        play_stats: the play statistics the ``play`` and ``held`` clips replay (a JSON table written by
            :func:`~.play_stats.measure_play`); ``None`` = the shipped table, measured from our experts.
        fps: frame rate of the clips (the play statistics are in seconds).
        sticks: who reads the sticks (:data:`~.extract.STICK_READERS`: ``knob`` matching, or the ``parser``).
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
    kinds: tuple[str, ...] = DEFAULT_KINDS
    play_stats: str | None = None
    fps: int = 30
    sticks: str = "knob"

    def __post_init__(self) -> None:
        """Reject an unknown or missing kind of clip, naming the valid ones."""
        unknown = [kind for kind in self.kinds if kind not in CLIP_KINDS]
        if unknown or not self.kinds:
            raise UnknownClipKind(f"unknown clip kinds {unknown or '(none given)'}; kinds are {', '.join(CLIP_KINDS)}")


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


BOOTSTRAP_DRAWS = 2000
"""Resamples of :func:`clip_bootstrap`."""


_METRICS = ("button", "trigger", "stick_r2")


def _resampled_metrics(tallies: Sequence[Tally], weights: np.ndarray) -> dict[str, np.ndarray]:
    """The pooled metrics of every resample: ``weights`` (draws x clips) counts how often each clip is drawn."""
    names = [f.name for f in fields(Tally)]
    table = np.array([[getattr(tally, name) for name in names] for tally in tallies], dtype=np.float64)
    sums = dict(zip(names, (weights @ table).T, strict=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        sst = sums["stick_sum_sq"] - sums["stick_sum"] ** 2 / sums["stick_n"]
        return {
            "button": sums["button_hits"] / sums["button_total"],
            "trigger": sums["trigger_hits"] / sums["trigger_total"],
            "stick_r2": np.where(sst > 0, 1.0 - sums["stick_sse"] / sst, np.nan),
        }


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    finite = values[np.isfinite(values)]
    if not len(finite):
        return math.nan, math.nan
    return float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))


def _clip_weights(clips: int, draws: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.multinomial(clips, np.full(clips, 1.0 / clips), size=draws)


def clip_bootstrap(
    tallies: Sequence[Tally], draws: int = BOOTSTRAP_DRAWS, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of the pooled button and trigger accuracy and stick R^2, resampling whole clips.

    Clips, not readings, are the unit: the readings of one clip share its style, scene, compression and placement,
    and one clip whose overlay is not found moves every figure (docs/overlay.md, Round 6). Memory is
    ``draws`` x clips counts.

    Returns:
        ``{"button": (low, high), "trigger": ..., "stick_r2": ...}``; NaN where no resample defines the metric.
    """
    if not tallies:
        return dict.fromkeys(_METRICS, (math.nan, math.nan))
    metrics = _resampled_metrics(tallies, _clip_weights(len(tallies), draws, seed))
    return {name: _percentiles(values, level) for name, values in metrics.items()}


def paired_bootstrap(
    ours: Sequence[Tally], theirs: Sequence[Tally], draws: int = BOOTSTRAP_DRAWS, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float, float]]:
    """How much ``ours`` reads better than ``theirs`` on the same clips, with a paired bootstrap interval.

    ``ours[i]`` and ``theirs[i]`` are two extractors' tallies of one clip. Each resample draws clips and pools both
    sides over the same draw, so what the clips have in common (a hard style, a clip not found by either) cancels:
    two readers a few thousandths apart can be told apart where each one's own interval spans hundredths.

    Returns:
        ``{"button": (difference, low, high), "trigger": ..., "stick_r2": ...}``: the pooled difference (ours minus
        theirs) and its interval; NaN where undefined.

    Raises:
        ValueError: the two lists differ in length (they must be the same clips, in the same order).
    """
    if len(ours) != len(theirs):
        raise ValueError(f"paired tallies must be of the same clips: {len(ours)} against {len(theirs)}")
    if not ours:
        return dict.fromkeys(_METRICS, (math.nan, math.nan, math.nan))
    weights = _clip_weights(len(ours), draws, seed)
    mine, other = _resampled_metrics(ours, weights), _resampled_metrics(theirs, weights)
    whole = np.ones((1, len(ours)))
    point_mine, point_other = _resampled_metrics(ours, whole), _resampled_metrics(theirs, whole)
    return {
        name: (float(point_mine[name][0] - point_other[name][0]), *_percentiles(mine[name] - other[name], level))
        for name in _METRICS
    }


@dataclass
class ClipResult:
    """One rendered and extracted clip: its settings, pooled tallies and per-element tallies."""

    style: str
    family: str
    """The controller family (a sprite style's: ``family/treatment``)."""
    effect: str
    opacity: float
    held_out: tuple[str, ...]
    """What about the style training never draws (:func:`held_out_axes`)."""
    crf: int
    scale: float
    frames: int = 0
    kind: str = "iid"
    held: str | None = None
    """The button or trigger held on every frame (``held`` clips)."""
    located: bool = True
    total: Tally = field(default_factory=Tally)
    elements: dict[str, Tally] = field(default_factory=dict)
    bound: Tally | None = None
    """The oracle's button and trigger tallies (:mod:`.bound`), when asked for."""
    held_bound: Tally | None = None
    """The oracle's tally of the held element alone (``held`` clips, when asked for)."""
    seed: int | None = None
    """The seed the clip was drawn from (scene and actions), to render it again."""
    blind: Tally = field(default_factory=Tally)
    """The tally of a reader that answers "nothing pressed, sticks centred" on every frame without looking: what a
    reading must beat to show it read anything (in real play, where few buttons are down, it is high)."""

    @property
    def in_held_out_split(self) -> bool:
        """The style's family or treatment is held out by :data:`~.sprite_styles.SPRITE_SPLIT`.

        The issue's targets (:data:`~.eval_report.TARGETS`) are stated on these clips.
        """
        return "family" in self.held_out or "treatment" in self.held_out


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
    """Readings on the same side of the press threshold as the truth; a NaN reading (nothing read) agrees with none.

    Without the NaN test, ``NaN >= threshold`` is False, so a clip whose overlay was not found would have scored
    as if it answered "nothing pressed" on every button, right wherever nothing was pressed.
    """
    same_side = (got >= gamepad.BUTTON_THRESHOLD) == (truth >= gamepad.BUTTON_THRESHOLD)
    return int((same_side & ~np.isnan(got)).sum())


def clip_truth(
    style: AnyStyle, kind: str, seed: int, frames: int, fps: float, stats: PlayStatistics
) -> tuple[np.ndarray, str | None]:
    """The actions an evaluation clip of ``kind`` plays (``seed`` as :func:`evaluate_clip` takes it), and its held element.

    Only the buttons and triggers the style draws are pressed. An iid clip draws from the seed alone, as the
    evaluation before the other kinds did (same figures); the other kinds from (seed, kind).
    """
    rng = np.random.default_rng(seed if kind == "iid" else (seed, CLIP_KINDS.index(kind)))
    present = set(OverlayRenderer(style).shapes)
    pressable = [name for name in (*gamepad.TRIGGERS, *gamepad.BUTTON_NAMES) if name in present]
    return clip_actions(kind, stats, frames, fps, rng, pressable)


def evaluate_clip(
    style: AnyStyle, crf: int, scale: float, config: OverlayEvalConfig, seed: int, kind: str = "iid"
) -> ClipResult:
    """Render one clip of ``kind``, extract it, compare (``seed`` fixes the scene; the kind's actions too)."""
    from nitrogen_datasets.overlay.extract import ExtractConfig, extract
    from nitrogen_datasets.overlay.layout import ELEMENT_NAMES, STICK_ELEMENTS
    from nitrogen_datasets.overlay.video import render_overlay_video

    pq = require_package("pyarrow.parquet")
    present = set(OverlayRenderer(style).shapes)
    stats = load_play_statistics(config.play_stats)
    truth, held = clip_truth(style, kind, seed, config.frames, config.fps, stats)
    placed = replace(style, scale=scale)
    family = f"{style.family}/{style.treatment}" if isinstance(style, SpriteStyle) else style.family
    result = ClipResult(
        style.name,
        family,
        style.press_effect,
        style.opacity,
        held_out_axes(style),
        crf,
        scale,
        config.frames,
        kind,
        held,
        seed=seed,
    )
    with tempfile.TemporaryDirectory(prefix="nitrogen-overlay-eval-") as tmp:
        clip = render_overlay_video(
            scrolling_scenes(seed, config.frames, config.frame_size),
            truth,
            placed,
            Path(tmp) / "clip.mp4",
            fps=config.fps,
            crf=crf,
        )
        extract_config = ExtractConfig(method=config.method, parser_weights=config.parser_weights, sticks=config.sticks)
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
            result.bound, result.held_bound = _bound_tally(placed, clip, seed, truth, config, held)
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
        result.blind.add(tally(truth, np.zeros_like(truth), columns))
    return result


def _bound_tally(
    style: AnyStyle, clip: RenderResult, seed: int, truth: np.ndarray, config: OverlayEvalConfig, held: str | None
) -> tuple[Tally, Tally | None]:
    """The oracle's tally of one rendered clip, and of its held element alone (scenes drawn again from the seed)."""
    from nitrogen_datasets.overlay.bound import decoded_frames, oracle_hits

    scenes = scrolling_scenes(seed, config.frames, config.frame_size)
    hits = oracle_hits(OverlayRenderer(style), clip.placement, scenes, decoded_frames(clip.video), truth)
    bound, held_bound = Tally(), None
    for name, count in hits.items():
        part = Tally()
        if name in gamepad.TRIGGERS:
            part.trigger_hits, part.trigger_total = count, config.frames
        else:
            part.button_hits, part.button_total = count, config.frames
        bound.add(part)
        if name == held:
            held_bound = part
    return bound, held_bound


def _job(args: tuple[AnyStyle, int, float, OverlayEvalConfig, int, str]) -> ClipResult:
    return evaluate_clip(*args)


def evaluate_overlays(config: OverlayEvalConfig, progress: bool = False) -> list[ClipResult]:
    """Every (style, crf, scale, kind) clip of the grid, in grid order.

    Raises:
        UnknownStyle: an unknown style name (the message suggests the closest and names the sets).
        FileNotFoundError: ``config.play_stats`` names no file.
    """
    styles = resolve_styles(config.styles)
    load_play_statistics(config.play_stats)  # a missing or malformed table fails here, not in every worker
    cells = [(style, crf, scale) for style in styles for crf in config.crfs for scale in config.scales]
    jobs = [
        (style, crf, scale, config, config.seed * 100_003 + index, kind)
        for index, (style, crf, scale) in enumerate(cells)
        for kind in config.kinds
    ]
    with progress_bar(len(jobs), "overlay eval", unit="clip", enabled=progress) as bar:
        clips = run_parallel(jobs, _job, workers=config.workers, on_complete=lambda _: bar.update(1))
        return [result for _, result in clips]
