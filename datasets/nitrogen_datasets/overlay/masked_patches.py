"""Patches prepared for masked normalized correlation computed from plain sums (knob matching, localization)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MaskedPatches:
    """Patches made ready for masked normalized correlation by plain sums: zero-mean within the mask, and their norms.

    Knob matching's :func:`~.knob_match.masked_ncc` and localization's coarse pass
    (:func:`~.localize._correlations_by_sums`) both score this way.

    Args:
        patches: per feature, the patch as given (float32).
        zero_mean: per feature, ``mask * (patch - masked mean)`` (float32).
        norms: per feature, the sum of squares of ``zero_mean``.
        mask: the binary mask (float32).
    """

    patches: list[np.ndarray]
    zero_mean: list[np.ndarray]
    norms: list[float]
    mask: np.ndarray

    @classmethod
    def prepare(cls, features: list[np.ndarray], mask: np.ndarray) -> MaskedPatches:
        """Centre each feature patch on its mean within ``mask`` (0/1) and zero it outside."""
        mask = (mask > 0).astype(np.float32)
        count = float(mask.sum())
        zero_mean = []
        for feature in features:
            values = feature.astype(np.float64)
            zero_mean.append((mask * (values - (mask * values).sum() / max(count, 1.0))).astype(np.float32))
        norms = [float(np.square(z, dtype=np.float64).sum()) for z in zero_mean]
        return cls([np.asarray(f, np.float32) for f in features], zero_mean, norms, mask)
