"""Action sequences for overlay evaluation clips: recorded play's statistics replayed, not i.i.d. noise.

Why: pressing every button at random on every frame is nothing like play, and it flatters the extractor:
its rest image is the clip's median, which reads a run button held for most of a clip as released, and a
parser tuned on coin flips has never seen a pad left alone. The kinds of clip (:data:`CLIP_KINDS`):

* ``play``: a sequence drawn from :class:`~.play_stats.PlayStatistics` (by default the shipped table,
  measured from our experts' recorded play). The clip alternates idle stretches (nothing pressed, sticks
  centred) with active ones; the number of buttons and triggers in use follows the measured share for a
  window of the clip's length, and each one alternates measured hold and gap lengths (mashing is the
  short end of both); with the measured probability one of them is held for the whole clip. A stick in
  use alternates measured rests (centred) and deflections, holding each position for a measured time.
* ``held``: the same, plus one button or trigger (drawn from those the overlay draws) held on every frame.
* ``idle``: nothing pressed and both sticks centred on every frame.
* ``iid``: the previous evaluation's actions, every button a coin flip every frame
  (:func:`~.synthetic.random_action`), for comparison with the old tables.

Triggers are drawn fully pulled or released (accuracy asks about the pressed state). Every sequence is a
pure function of the random generator passed in, so a seed gives the same clip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nitrogen_datasets.overlay.play_stats import Durations, PlayStatistics, runs
from nitrogen_datasets.overlay.synthetic import random_action
from nitrogen_envs import gamepad

CLIP_KINDS: tuple[str, ...] = ("play", "held", "idle", "iid")
"""Every kind of evaluation clip (see the module docstring)."""

DEFAULT_KINDS: tuple[str, ...] = ("play", "held", "idle")
"""The kinds ``nitrogen overlay eval`` renders unless told otherwise; ``iid`` is the old grid, on request."""

PRESS_ELEMENTS: tuple[str, ...] = gamepad.TRIGGERS + gamepad.BUTTON_NAMES
"""Flat-action names that are pressed or released (triggers count: a held trigger is a run button too)."""

SWEEP_SECONDS = (0.05, 0.2)
"""A stick travels from one position to the next in a time drawn uniformly from this range. Modelled, not
measured: our experts' sticks are digital and jump between centre and rim, a thumb does not; the range
is a flick to a deliberate sweep."""

ANALOG_RADIUS = (0.3, 0.95)
"""A deflection short of the rim is drawn uniformly from this range (the rim's share is measured)."""


class UnknownClipKind(ValueError):
    """A clip kind that is not one of :data:`CLIP_KINDS`."""


def _frames(duration: Durations, rng: np.random.Generator, fps: float, fallback: float) -> int:
    return max(1, round(duration.sample(rng, fallback) * fps))


def _renewal(
    first: Durations, second: Durations, frames: int, fps: float, rng: np.random.Generator, first_share: float
) -> np.ndarray:
    """(frames,) bool: True through runs drawn from ``first``, False through runs drawn from ``second``.

    The clip starts inside a run (a share ``first_share`` of the time a ``first`` one) at a uniform point
    of it, as a window cut from longer play does.
    """
    state = bool(rng.random() < first_share)
    out = np.zeros(frames, bool)
    length = _frames(first if state else second, rng, fps, 1.0)
    at = -int(rng.random() * length)
    while at < frames:
        out[max(0, at) : at + length] = state
        at += length
        state = not state
        length = _frames(first if state else second, rng, fps, 1.0)
    return out


def _mean(duration: Durations, fallback: float) -> float:
    return float(np.mean(duration.seconds)) if duration.count else fallback


def _share(first: Durations, second: Durations) -> float:
    a, b = _mean(first, 1.0), _mean(second, 1.0)
    return a / (a + b)


def _presses(stats: PlayStatistics, active: np.ndarray, fps: float, rng: np.random.Generator) -> np.ndarray:
    """(frames,) bool presses of one button in use: measured holds and gaps, inside active stretches."""
    pressed = _renewal(
        stats.press_hold, stats.press_gap, len(active), fps, rng, _share(stats.press_hold, stats.press_gap)
    )
    pressed &= active
    if not pressed.any():  # "in use" means pressed at least once in the window
        candidates = np.flatnonzero(active) if active.any() else np.arange(len(active))
        start = int(rng.choice(candidates))
        pressed[start : start + _frames(stats.press_hold, rng, fps, 0.2)] = True
    return pressed


def _target(stats: PlayStatistics, rng: np.random.Generator) -> np.ndarray:
    """A stick position: at the rim (the measured share; square, as digital sticks report) or partway."""
    angle = rng.uniform(0, 2 * np.pi)
    vector = np.array([np.cos(angle), np.sin(angle)])
    if rng.random() < stats.stick_rim_share:
        return vector / np.abs(vector).max()
    return vector * rng.uniform(*ANALOG_RADIUS)


def _deflections(stats: PlayStatistics, active: np.ndarray, fps: float, rng: np.random.Generator) -> np.ndarray:
    """(frames,) bool: when a stick in use is off centre (measured deflections and rests, in active stretches)."""
    return _renewal(stats.stick_move, stats.stick_rest, len(active), fps, rng, 1.0 - stats.stick_centred_share) & active


def _stick_path(stats: PlayStatistics, moving: np.ndarray, fps: float, rng: np.random.Generator) -> np.ndarray:
    """(frames, 2) path of one stick: centred where not ``moving``, measured holds, smooth travel between."""
    frames = len(moving)
    targets = np.zeros((frames, 2))
    for value, start, length in runs(moving):
        if not value:
            continue
        at = start
        while at < start + length:
            hold = _frames(stats.stick_direction, rng, fps, 0.5)
            targets[at : min(at + hold, start + length)] = _target(stats, rng)
            at += hold
    path = np.zeros((frames, 2))
    position = np.zeros(2)
    step = np.zeros(2)
    for index in range(frames):
        if index == 0 or (targets[index] != targets[index - 1]).any():
            sweep = max(1, round(rng.uniform(*SWEEP_SECONDS) * fps))
            step = (targets[index] - position) / sweep
        remaining = targets[index] - position
        position = targets[index].copy() if (np.abs(remaining) <= np.abs(step) + 1e-9).all() else position + step
        path[index] = position
    # Travel starts half a sweep early, so it is centred on the change: rests and deflections keep their
    # measured lengths on average instead of every deflection growing by a sweep.
    lead = round(float(np.mean(SWEEP_SECONDS)) * fps / 2)
    return np.concatenate([path[lead:], np.repeat(path[-1:], lead, axis=0)]) if 0 < lead < frames else path


def _count(histogram: Sequence[float], rng: np.random.Generator, most: int) -> int:
    """A count drawn from a measured histogram (index = count), capped at ``most``."""
    weights = np.asarray(histogram if len(histogram) else (1.0,), np.float64)
    return min(int(rng.choice(len(weights), p=weights / weights.sum())), most)


def play_sequence(
    stats: PlayStatistics,
    frames: int,
    fps: float,
    rng: np.random.Generator,
    elements: Sequence[str] = PRESS_ELEMENTS,
    held: str | None = None,
) -> np.ndarray:
    """(frames, 21) float32 flat actions replaying recorded play's statistics (the ``play`` clip kind).

    Args:
        stats: the statistics to replay (:func:`~.play_stats.load_play_statistics`).
        frames: clip length in frames.
        fps: the clip's frame rate (measured durations are in seconds).
        rng: the only source of randomness.
        elements: the buttons and triggers that may be pressed (those the overlay draws).
        held: a button or trigger pressed on every frame (the ``held`` kind); ``None``: as measured.
    """
    window = stats.window_index(frames / fps)
    action = np.zeros((frames, gamepad.FLAT_SIZE), np.float32)
    idle_share = _share(stats.idle, stats.active) if stats.idle.count else stats.idle_frame_share
    active = ~_renewal(stats.idle, stats.active, frames, fps, rng, idle_share)
    if stats.idle_throughout and rng.random() < stats.idle_throughout[window]:
        active[:] = False
    count = _count(stats.in_use[window] if stats.in_use else (), rng, len(elements))
    in_use = [str(e) for e in rng.choice(list(elements), size=count, replace=False)] if count else []
    for name in in_use:
        action[:, gamepad.FLAT_NAMES.index(name)] = _presses(stats, active, fps, rng)
    if held is None and in_use and stats.held_throughout and rng.random() < stats.held_throughout[window]:
        held = in_use[int(rng.integers(len(in_use)))]
    if held is not None:
        action[:, gamepad.FLAT_NAMES.index(held)] = 1.0
    sticks = [
        int(s) for s in rng.permutation(2)[: _count(stats.sticks_in_use[window] if stats.sticks_in_use else (), rng, 2)]
    ]
    moving = [_deflections(stats, active, fps, rng) for _ in sticks]
    # An active stretch is by definition never idle: where nothing is pressed and every stick rests, the
    # first stick in use stays out (the recordings' sticks rest while buttons work, not in the middle of play).
    if sticks:
        moving[0] |= active & ~action[:, gamepad.TRIGGER_SLICE.start :].any(axis=1) & ~np.any(moving, axis=0)
    for stick, mask in zip(sticks, moving, strict=True):
        action[:, 2 * stick : 2 * stick + 2] = _stick_path(stats, mask, fps, rng)
    return action


def clip_actions(
    kind: str,
    stats: PlayStatistics,
    frames: int,
    fps: float,
    rng: np.random.Generator,
    elements: Sequence[str] = PRESS_ELEMENTS,
) -> tuple[np.ndarray, str | None]:
    """(frames, 21) float32 actions of one evaluation clip of ``kind``, and the element held throughout.

    Raises:
        UnknownClipKind: ``kind`` is not one of :data:`CLIP_KINDS`.
    """
    if kind == "idle":
        return np.zeros((frames, gamepad.FLAT_SIZE), np.float32), None
    if kind == "iid":
        actions = np.stack([random_action(rng) for _ in range(frames)])
        triggers = gamepad.TRIGGER_SLICE
        actions[:, triggers] = (actions[:, triggers] >= gamepad.BUTTON_THRESHOLD).astype(np.float32)
        return actions, None
    if kind == "play":
        return play_sequence(stats, frames, fps, rng, elements), None
    if kind == "held":
        held = str(rng.choice(list(elements)))
        return play_sequence(stats, frames, fps, rng, elements, held=held), held
    raise UnknownClipKind(f"unknown clip kind {kind!r}; kinds are {', '.join(CLIP_KINDS)}")
