"""Per-clip press thresholds for the learned parser's button readings (:func:`calibrate_presses`).

A step after parsing, over a whole clip's press probabilities at once: numpy only, so it needs no torch.
"""

from __future__ import annotations

import math

import numpy as np

from nitrogen_envs import gamepad

DEFAULT_LOGIT = math.log(gamepad.BUTTON_THRESHOLD / (1 - gamepad.BUTTON_THRESHOLD))
"""The press threshold in logit space (0 for 0.5), used where a clip's own split is not trusted."""
MIN_SEPARATION = 3.0
"""Gap between the pressed and released clusters of a button's logits, in pooled standard deviations,
below which the clip's own threshold is not trusted (one cluster split in two scores about 2.7)."""
MIN_GAP = 6.0
"""Smallest gap (logits) between the two clusters' means: a button never pressed in a clip spreads its
logits too, and splitting that spread must not invent presses."""
MIN_PRESSED_LOGIT = -1.0
"""The pressed cluster's mean logit must reach this (probability 0.27): presses look at least somewhat
pressed to the network."""
MIN_CLUSTER_FRACTION = 0.02
"""Each cluster must hold this fraction of the clip's frames (and 2 frames)."""


def calibrate_presses(probabilities: np.ndarray) -> np.ndarray:
    """0/1 presses from (frames, buttons) press probabilities, thresholding each button per clip.

    On a style whose pressed look is subtle (a faint highlight, a colour change close to the rest
    colour) the network separates pressed from released frames of a clip clearly, but not always at 0.5:
    the two clusters of its logits sit lower or higher. Where a button's logits over the clip form two
    clearly separate clusters (Otsu's split in logit space passing the ``MIN_*`` checks), the split
    between them is the threshold. Measured on the held-out grid's six weakest styles: button accuracy
    0.876 -> 0.890, unchanged on the strong ones, and no presses invented on clips where a button is never
    or rarely pressed.

    A button whose own logits do not pass the checks (too few presses, or clusters too close) takes the
    split of all the clip's buttons pooled, when that passes: the buttons of one overlay share its style,
    so the network reads them with a shared bias. Measured on the 216-clip held-out grid
    (``nitrogen overlay eval``): button accuracy 0.9704 -> 0.9716 (0.9867 -> 0.9881 at scale >= 1); and
    on another 216 clips, each button read over its released frames alone (an idle button), presses
    invented on 1.01% of frames instead of 1.30%. Otherwise :data:`~nitrogen_envs.gamepad.BUTTON_THRESHOLD` is the threshold. NaN columns (elements
    the layout lacks) stay NaN.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    out = np.full(probabilities.shape, np.nan)
    present = ~np.isnan(probabilities).all(axis=0)
    if not present.any():
        return out
    p = np.clip(probabilities[:, present], 1e-6, 1 - 1e-6)
    logits = np.log(p / (1 - p))
    pooled = _clip_threshold(logits[~np.isnan(logits)])
    fallback = DEFAULT_LOGIT if pooled is None else pooled
    thresholds = [_clip_threshold(column[~np.isnan(column)]) for column in logits.T]
    chosen = np.array([fallback if threshold is None else threshold for threshold in thresholds])
    out[:, present] = np.where(np.isnan(logits), np.nan, (logits >= chosen).astype(np.float64))
    return out


def _clip_threshold(logits: np.ndarray) -> float | None:
    """Otsu's split of ``logits`` when it separates two clear clusters, else ``None``."""
    ordered = np.sort(logits)
    n = len(ordered)
    low = np.arange(1, n)  # frames in the low cluster for each split
    smallest = max(2, MIN_CLUSTER_FRACTION * n)
    valid = (low >= smallest) & (n - low >= smallest)
    if not valid.any():
        return None
    sums, squares = np.cumsum(ordered), np.cumsum(ordered**2)
    low_mean = sums[:-1] / low
    high_mean = (sums[-1] - sums[:-1]) / (n - low)
    between = np.where(valid, low * (n - low) * (high_mean - low_mean) ** 2, -1.0)
    i = int(np.argmax(between))
    low_var = squares[i] / low[i] - low_mean[i] ** 2
    high_var = (squares[-1] - squares[i]) / (n - low[i]) - high_mean[i] ** 2
    pooled = math.sqrt(max(0.0, (low[i] * low_var + (n - low[i]) * high_var) / n)) + 1e-6
    gap = high_mean[i] - low_mean[i]
    if gap / pooled < MIN_SEPARATION or gap < MIN_GAP or high_mean[i] < MIN_PRESSED_LOGIT:
        return None
    return float((ordered[i] + ordered[i + 1]) / 2)
