"""Screen capture of the game window with mss, resized to the observation size."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from nitrogen_envs.import_utils import require_package
from nitrogen_envs.live.errors import LiveDependencyNotInstalled, WindowUnavailable
from nitrogen_envs.live.window import Rect


class MssCapture:
    """Grabs a screen region as RGB uint8 and resizes it (area averaging) to ``size``.

    Resizing happens on the 4-channel BGRA buffer before the colour conversion, so the conversion
    touches ``size`` pixels instead of the full window (the cheaper order at 1280x720 -> 256x256).

    Args:
        size: observation (height, width).
        display: X display for Linux (``None`` reads ``$DISPLAY``); ignored on Windows.
    """

    def __init__(self, size: tuple[int, int], display: str | None = None) -> None:
        try:
            import mss
        except ImportError as err:
            raise LiveDependencyNotInstalled(
                f"mss is not installed ({err}). Install it with: pip install 'nitrogen-gym[live]'"
            ) from err
        self._cv2: Any = require_package("cv2")
        factory = getattr(mss, "MSS", None) or mss.mss
        kwargs = {"display": display} if display and sys.platform.startswith("linux") else {}
        self._sct: Any = factory(**kwargs)
        self.size = size

    def grab_raw(self, rect: Rect) -> np.ndarray:
        """The region as a (H, W, 4) BGRA uint8 view."""
        try:
            shot = self._sct.grab(rect.as_mss())
        except Exception as err:  # mss raises ScreenShotError for regions it cannot read
            raise WindowUnavailable(f"cannot capture the game window at {rect}: {err}") from err
        return np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)

    def grab(self, rect: Rect) -> np.ndarray:
        """The region as a resized (H, W, 3) RGB uint8 observation."""
        raw = self.grab_raw(rect)
        height, width = self.size
        if raw.shape[0] != height or raw.shape[1] != width:
            shrinking = raw.shape[0] * raw.shape[1] > height * width
            interpolation = self._cv2.INTER_AREA if shrinking else self._cv2.INTER_LINEAR
            raw = self._cv2.resize(raw, (width, height), interpolation=interpolation)
        return self._cv2.cvtColor(raw, self._cv2.COLOR_BGRA2RGB)

    def close(self) -> None:
        """Release the capture handles."""
        if self._sct is not None:
            self._sct.close()
            self._sct = None
