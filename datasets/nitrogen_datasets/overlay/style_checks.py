"""Checks every overlay style shares (parametric and sprite-sheet): how opaque, how large and where it is drawn."""

from __future__ import annotations

from collections.abc import Sequence

from nitrogen_datasets.overlay.errors import InvalidOverlayConfig

OPACITY_RANGE = (0.3, 1.0)
"""Fainter than 30% an overlay is not found reliably (docs/overlay.md); the renderers draw in this range."""
SCALE_RANGE = (0.5, 2.0)
"""The scales the extractor searches (a style drawn outside it could not be found)."""


def check_placement(opacity: float, scale: float, position: Sequence[float]) -> None:
    """Raise :class:`InvalidOverlayConfig` (one line naming the field) when a style's placement is out of range."""
    if not OPACITY_RANGE[0] <= opacity <= OPACITY_RANGE[1]:
        raise InvalidOverlayConfig(f"opacity must be in [{OPACITY_RANGE[0]}, {OPACITY_RANGE[1]}], got {opacity}")
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        raise InvalidOverlayConfig(f"scale must be in [{SCALE_RANGE[0]}, {SCALE_RANGE[1]}], got {scale}")
    if not all(0.0 <= p <= 1.0 for p in position):
        raise InvalidOverlayConfig(f"position fractions must be in [0, 1], got {position}")
