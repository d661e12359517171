"""Type aliases shared by every NitroGen package, defined once."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Obs = npt.NDArray[np.uint8]
"""An RGB frame, (H, W, 3) uint8."""

GamepadAction = dict[str, np.ndarray]
"""A Dict-space gamepad action: ``left_stick`` (2,), ``right_stick`` (2,), ``triggers`` (2,), ``buttons`` (15,)."""

FlatAction = npt.NDArray[np.float32]
"""The canonical (21,) float32 gamepad vector (see :mod:`nitrogen_envs.gamepad`)."""

ActionChunk = npt.NDArray[np.float32]
"""(T, 21) float32: T future flat gamepad actions predicted at once by a policy."""
