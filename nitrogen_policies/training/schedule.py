"""Learning-rate schedule: linear warm-up then cosine decay, as a pure function of the step."""

from __future__ import annotations

import math


def cosine_lr(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_ratio: float = 0.1) -> float:
    """Learning rate at ``step`` (0-based).

    Example:
        >>> cosine_lr(0, 1.0, 10, 100), cosine_lr(10, 1.0, 10, 100), round(cosine_lr(100, 1.0, 10, 100), 3)
        (0.1, 1.0, 0.1)
    """
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if total_steps <= warmup_steps:
        return base_lr
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return base_lr * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))
