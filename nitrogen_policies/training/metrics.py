"""Action-quality metrics logged during training: per-field error, button accuracy, stick R^2."""

from __future__ import annotations

import numpy as np

from nitrogen_envs import gamepad


def action_metrics(predicted: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Compare decoded predicted actions with targets.

    Args:
        predicted: (..., 21) decoded actions (buttons 0/1).
        target: (..., 21) ground truth.
        mask: (...) bool, True where the target is a real step (not padding past the episode end).

    Returns:
        ``button_accuracy``, ``trigger_accuracy`` (pressed at >= 0.5), ``stick_r2`` (coefficient of
        determination over the four axes), and ``mae/<field>`` for each stick axis and trigger.
    """
    predicted = predicted.reshape(-1, gamepad.FLAT_SIZE)
    target = target.reshape(-1, gamepad.FLAT_SIZE)
    if mask is not None:
        keep = mask.reshape(-1).astype(bool)
        predicted, target = predicted[keep], target[keep]
    if len(target) == 0:
        return {}
    buttons_true = target[:, gamepad.BUTTON_SLICE] >= gamepad.BUTTON_THRESHOLD
    buttons_pred = predicted[:, gamepad.BUTTON_SLICE] >= gamepad.BUTTON_THRESHOLD
    triggers_true = target[:, gamepad.TRIGGER_SLICE] >= gamepad.BUTTON_THRESHOLD
    triggers_pred = predicted[:, gamepad.TRIGGER_SLICE] >= gamepad.BUTTON_THRESHOLD
    sticks_true, sticks_pred = target[:, gamepad.STICK_SLICE], predicted[:, gamepad.STICK_SLICE]
    residual = float(((sticks_true - sticks_pred) ** 2).sum())
    total = float(((sticks_true - sticks_true.mean(axis=0)) ** 2).sum())
    metrics = {
        "button_accuracy": float((buttons_true == buttons_pred).mean()),
        "trigger_accuracy": float((triggers_true == triggers_pred).mean()),
        "stick_r2": 1.0 - residual / total if total > 1e-8 else float("nan"),
    }
    for index, name in enumerate(gamepad.FLAT_NAMES[:6]):
        metrics[f"mae/{name}"] = float(np.abs(target[:, index] - predicted[:, index]).mean())
    return metrics
