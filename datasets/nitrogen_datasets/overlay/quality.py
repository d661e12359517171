"""The quality filter of extraction: which parsed frames are worth keeping as demonstrations.

A frame is kept when it lies in a window with enough input activity (long idle stretches, menus and
cut-scenes teach a policy little) and the parser read it with enough confidence.
"""

from __future__ import annotations

import numpy as np

from nitrogen_envs import gamepad

STICK_ACTIVE = 0.2
"""A stick counts as input where a parsed axis is further than this from centre: a resting knob read with
a little jitter must not count as activity. A chosen value, about the dead zone games commonly ignore."""


def active_frames(actions: np.ndarray) -> np.ndarray:
    """(N,) bool: frames with any input (a stick off centre, a trigger or button at or past the press threshold).

    Args:
        actions: (N, 21) parsed actions in :data:`~nitrogen_envs.gamepad.FLAT_NAMES` order, NaN for absent
            elements (read as released and centred).
    """
    values = np.nan_to_num(actions, nan=0.0)
    sticks = (np.abs(values[:, gamepad.STICK_SLICE]) > STICK_ACTIVE).any(axis=1)
    pressed = (values[:, gamepad.TRIGGER_SLICE.start :] >= gamepad.BUTTON_THRESHOLD).any(axis=1)
    return sticks | pressed


def quality_filter(
    actions: np.ndarray,
    confidence: np.ndarray,
    fps: float,
    *,
    window_s: float,
    min_active_fraction: float,
    min_confidence: float,
) -> np.ndarray:
    """Boolean keep-mask: frames in windows with enough input activity and read with enough confidence.

    Args:
        actions: (N, 21) parsed actions (NaN for absent elements).
        confidence: (N,) parser confidence.
        fps: frame rate, to turn the window length into frames.
        window_s: length of the action-density window, in seconds.
        min_active_fraction: a window is kept when at least this fraction of its frames has any input.
        min_confidence: frames read with lower parser confidence are dropped.
    """
    active = active_frames(actions)
    if len(active) == 0:
        return active
    window = min(len(active), max(1, round(window_s * fps)))
    density = np.convolve(active.astype(np.float32), np.ones(window) / window, mode="same")
    return (density >= min_active_fraction) & (confidence >= min_confidence)
