"""How people (and our experts) press: statistics of recorded play, measured once and shipped as JSON.

Why: the overlay evaluation used to press every button at random on every frame. Real play holds a run
button for seconds, mashes, leaves the pad alone for long stretches and rests the sticks centred, and the
extractor's clip-median rest image behaves differently under each (a button held for most of a clip looks
released in the median). :mod:`.action_sequences` replays the statistics measured here so the default
``nitrogen overlay eval`` scores the parser on play-like clips.

:func:`measure_play` reads flat actions of recorded episodes (the demonstrations format: ``nitrogen data
record``, ``nitrogen collect`` or a human's ``nitrogen play --live --record``) and returns
:class:`PlayStatistics`; :func:`load_play_statistics` reads the shipped table (``overlay/data/play_stats.json``,
made by ``experiments/overlay_play_stats.sh``). Durations are in seconds, so recordings at any frame rate pool.
Runs that touch an episode's start or end are cut short by the recording, so only interior runs enter the
duration tables; the window shares (in use, held throughout, idle) count whole windows instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from nitrogen_envs import gamepad

QUANTILE_LEVELS: tuple[float, ...] = tuple(float(q) for q in np.linspace(0.0, 1.0, 21))
"""Levels at which a duration distribution is stored (every 5%): enough to replay its shape, small to ship."""

WINDOW_SECONDS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
"""Window lengths of the per-window shares; an evaluation clip uses the window closest to its own length."""

CENTRED = 0.1
"""A stick counts as resting centred while both axes are within this of 0 (pads report a little noise there)."""

RIM = 0.95
"""A deflected stick counts as pushed to the rim at this deflection (max of the two axes)."""

PLAY_STATS_FILE = "play_stats.json"
"""The shipped table, in the package's ``overlay/data`` folder."""


@dataclass(frozen=True)
class Durations:
    """A duration distribution in seconds, stored as its values at :data:`QUANTILE_LEVELS`.

    Args:
        seconds: the quantiles, ascending, one per level.
        count: how many runs were measured (0: nothing was seen; sampling then gives ``fallback``).
    """

    seconds: tuple[float, ...] = ()
    count: int = 0

    @classmethod
    def measure(cls, runs_seconds: Sequence[float]) -> Durations:
        """The quantiles of measured run lengths."""
        if not len(runs_seconds):
            return cls()
        values = np.quantile(np.asarray(runs_seconds, np.float64), QUANTILE_LEVELS)
        return cls(tuple(round(float(v), 4) for v in values), len(runs_seconds))

    def quantile(self, level: float) -> float:
        """The duration at ``level`` (0-1), interpolated between the stored quantiles."""
        return float(np.interp(level, QUANTILE_LEVELS, self.seconds)) if self.count else float("nan")

    def sample(self, rng: np.random.Generator, fallback: float = 1.0) -> float:
        """One duration drawn by inverse transform (linear between the stored quantiles)."""
        return self.quantile(float(rng.random())) if self.count else fallback


@dataclass(frozen=True)
class PlayStatistics:
    """What recorded play looks like, pooled over every button and trigger, both sticks and all episodes.

    Args:
        source: how the table was made (the command and the recordings).
        games: the games measured.
        frames: frames measured.
        seconds: play time measured.
        press_hold: how long a button or trigger stays pressed (interior runs).
        press_gap: how long a button stays released between two of its presses (interior runs).
        idle: stretches with nothing pressed and both sticks centred (interior runs).
        active: stretches between two idle ones.
        stick_rest: how long a stick the game uses rests centred between two deflections.
        stick_move: how long it stays deflected.
        stick_direction: how long a deflected stick keeps one position.
        stick_rim_share: share of deflected frames pushed to the rim (:data:`RIM`).
        idle_frame_share: share of frames with nothing pressed and both sticks centred.
        stick_centred_share: share of a used stick's frames spent centred.
        windows: the window lengths (seconds) of the per-window shares below.
        in_use: per window length, the share of windows in which 0, 1, 2, ... buttons and triggers are pressed
            at least once (the last entry pools "that many or more").
        held_throughout: per window length, the share of windows in which some button or trigger is pressed
            on every frame.
        idle_throughout: per window length, the share of windows that are idle on every frame.
        sticks_in_use: per window length, the share of windows in which 0, 1 or 2 sticks leave the centre.
    """

    source: str = ""
    games: tuple[str, ...] = ()
    frames: int = 0
    seconds: float = 0.0
    press_hold: Durations = field(default_factory=Durations)
    press_gap: Durations = field(default_factory=Durations)
    idle: Durations = field(default_factory=Durations)
    active: Durations = field(default_factory=Durations)
    stick_rest: Durations = field(default_factory=Durations)
    stick_move: Durations = field(default_factory=Durations)
    stick_direction: Durations = field(default_factory=Durations)
    stick_rim_share: float = 1.0
    idle_frame_share: float = 0.0
    stick_centred_share: float = 0.0
    windows: tuple[float, ...] = WINDOW_SECONDS
    in_use: tuple[tuple[float, ...], ...] = ()
    held_throughout: tuple[float, ...] = ()
    idle_throughout: tuple[float, ...] = ()
    sticks_in_use: tuple[tuple[float, ...], ...] = ()

    def window_index(self, seconds: float) -> int:
        """Index of the measured window length closest (in ratio) to ``seconds``."""
        return int(np.argmin([abs(np.log(w / max(seconds, 1e-6))) for w in self.windows]))

    def to_json(self) -> str:
        """The table as indented JSON (what :func:`load_play_statistics` reads)."""
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PlayStatistics:
        """Rebuild from :meth:`to_json`'s dict (lists become tuples, duration dicts :class:`Durations`)."""
        values: dict[str, object] = {}
        for name, spec in cls.__dataclass_fields__.items():
            if name not in data:
                continue
            value = data[name]
            if spec.type == "Durations" and isinstance(value, dict):
                value = Durations(tuple(value["seconds"]), int(value["count"]))
            elif isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            values[name] = value
        return cls(**values)  # type: ignore[arg-type]


def load_play_statistics(path: str | os.PathLike[str] | None = None) -> PlayStatistics:
    """The statistics at ``path``, or the shipped table (measured from our experts' play) when ``None``."""
    if path is None:
        text = resources.files("nitrogen_datasets.overlay").joinpath("data").joinpath(PLAY_STATS_FILE).read_text()
    else:
        text = Path(path).read_text()
    return PlayStatistics.from_dict(json.loads(text))


def runs(mask: np.ndarray) -> list[tuple[bool, int, int]]:
    """Run-length encoding of a 1-D boolean array: ``(value, start, length)`` per run.

    >>> runs(np.array([0, 0, 1, 1, 1, 0], bool))
    [(False, 0, 2), (True, 2, 3), (False, 5, 1)]
    """
    if not len(mask):
        return []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(mask)]])
    return [(bool(mask[s]), int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def _interior(mask: np.ndarray, value: bool) -> list[int]:
    """Lengths of the runs equal to ``value`` that neither start nor end the array."""
    return [length for v, start, length in runs(mask) if v == value and start > 0 and start + length < len(mask)]


@dataclass
class _Pool:
    """Raw measurements gathered over episodes, turned into a :class:`PlayStatistics` at the end."""

    frames: int = 0
    seconds: float = 0.0
    idle_frames: int = 0
    stick_frames: int = 0
    stick_centred: int = 0
    stick_deflected: int = 0
    stick_rim: int = 0
    durations: dict[str, list[float]] = field(default_factory=dict)
    in_use: list[list[int]] = field(default_factory=lambda: [[] for _ in WINDOW_SECONDS])
    held: list[list[bool]] = field(default_factory=lambda: [[] for _ in WINDOW_SECONDS])
    idle_windows: list[list[bool]] = field(default_factory=lambda: [[] for _ in WINDOW_SECONDS])
    stick_windows: list[list[int]] = field(default_factory=lambda: [[] for _ in WINDOW_SECONDS])

    def extend(self, name: str, lengths: Iterable[int], fps: float) -> None:
        self.durations.setdefault(name, []).extend(length / fps for length in lengths)


def _add_episode(pool: _Pool, actions: np.ndarray, fps: float) -> None:
    pressed = actions[:, gamepad.TRIGGER_SLICE.start :] >= gamepad.BUTTON_THRESHOLD
    sticks = actions[:, gamepad.STICK_SLICE].reshape(len(actions), 2, 2)
    centred = (np.abs(sticks) < CENTRED).all(axis=2)  # (T, 2)
    used_sticks = [s for s in range(2) if not centred[:, s].all()]
    idle = ~pressed.any(axis=1) & centred.all(axis=1)
    pool.frames += len(actions)
    pool.seconds += len(actions) / fps
    pool.idle_frames += int(idle.sum())
    for column in range(pressed.shape[1]):
        pool.extend("press_hold", _interior(pressed[:, column], True), fps)
        if pressed[:, column].any():
            pool.extend("press_gap", _interior(pressed[:, column], False), fps)
    pool.extend("idle", _interior(idle, True), fps)
    pool.extend("active", _interior(idle, False), fps)
    for s in used_sticks:
        pool.stick_frames += len(actions)
        pool.stick_centred += int(centred[:, s].sum())
        pool.extend("stick_rest", _interior(centred[:, s], True), fps)
        pool.extend("stick_move", _interior(centred[:, s], False), fps)
        deflection = np.abs(sticks[~centred[:, s], s]).max(axis=1) if (~centred[:, s]).any() else np.zeros(0)
        pool.stick_deflected += len(deflection)
        pool.stick_rim += int((deflection >= RIM).sum())
        # A position is held while the stick stays deflected and moves less than the centre tolerance.
        moved = np.abs(np.diff(sticks[:, s], axis=0)).max(axis=1) >= CENTRED
        for value, start, length in runs(~centred[:, s]):
            if value and start > 0 and start + length < len(actions):
                cuts = np.flatnonzero(moved[start : start + length - 1]) + 1
                pieces = np.diff(np.concatenate([[0], cuts, [length]]))
                pool.extend("stick_direction", pieces.tolist(), fps)
    for w, window_seconds in enumerate(WINDOW_SECONDS):
        size = max(1, round(window_seconds * fps))
        for start in range(0, len(actions) - size + 1, size):
            part = pressed[start : start + size]
            pool.in_use[w].append(int(part.any(axis=0).sum()))
            pool.held[w].append(bool(part.all(axis=0).any()))
            pool.idle_windows[w].append(bool(idle[start : start + size].all()))
            pool.stick_windows[w].append(int((~centred[start : start + size]).any(axis=0).sum()))


def measure_play(
    episodes: Iterable[tuple[np.ndarray, float]], games: Sequence[str] = (), source: str = "", max_in_use: int = 6
) -> PlayStatistics:
    """Statistics of recorded play.

    Args:
        episodes: ``(actions, fps)`` per episode; actions (T, 21) float flat gamepad vectors
            (:data:`nitrogen_envs.gamepad.FLAT_NAMES` order), fps the recording's frame rate.
        games: the games the episodes come from (recorded in the table).
        source: how the recordings were made (recorded in the table).
        max_in_use: the last bin of the in-use histograms pools this many buttons or more.

    Raises:
        ValueError: no frames at all, or an action array that is not (T, 21).
    """
    pool = _Pool()
    for actions, fps in episodes:
        actions = np.asarray(actions, np.float32)
        if actions.ndim != 2 or actions.shape[1] != gamepad.FLAT_SIZE:
            raise ValueError(f"episode actions must be (T, {gamepad.FLAT_SIZE}); got {actions.shape}")
        _add_episode(pool, actions, float(fps))
    if not pool.frames:
        raise ValueError("no recorded frames to measure; record some play first (`nitrogen data record`)")

    def shares(flags: list[list[bool]]) -> tuple[float, ...]:
        return tuple(round(float(np.mean(f)), 4) if f else 0.0 for f in flags)

    def histogram(counts: list[int], last: int = max_in_use) -> tuple[float, ...]:
        clipped = np.minimum(np.asarray(counts, np.int64), last)
        values = np.bincount(clipped, minlength=last + 1) / max(1, len(counts))
        return tuple(round(float(v), 4) for v in values)

    return PlayStatistics(
        source=source,
        games=tuple(sorted(set(games))),
        frames=pool.frames,
        seconds=round(pool.seconds, 2),
        **{name: Durations.measure(values) for name, values in sorted(pool.durations.items())},
        stick_rim_share=round(pool.stick_rim / max(1, pool.stick_deflected), 4),
        idle_frame_share=round(pool.idle_frames / pool.frames, 4),
        stick_centred_share=round(pool.stick_centred / max(1, pool.stick_frames), 4),
        windows=WINDOW_SECONDS,
        in_use=tuple(histogram(counts) for counts in pool.in_use),
        held_throughout=shares(pool.held),
        idle_throughout=shares(pool.idle_windows),
        sticks_in_use=tuple(histogram(counts, 2) for counts in pool.stick_windows),
    )
