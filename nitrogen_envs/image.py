"""Frame resizing shared by all engines (OpenCV, imported when the first frame is resized)."""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np

from nitrogen_envs.import_utils import require_package


@functools.cache
def _cv2() -> ModuleType:
    """OpenCV, looked up once.

    ``resize_frame`` runs every env step, and an ``importlib`` lookup per frame costs a measurable share
    of a fast engine's step (an Atari step is about 0.4 ms).
    """
    return require_package("cv2")


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB uint8 frame to (height, width); returns the input itself when already that size.

    Area averaging when shrinking (no aliasing, e.g. Procgen's 512x512 render to 256x256, where OpenCV
    takes its exact 2x2-mean path) and bilinear interpolation when enlarging (e.g. Atari's 210x160 to
    256x256). A resized frame is a new array that callers may keep across steps; a frame already at ``size``
    comes back as is (engines whose frames are views set ``fresh_frames = False`` so the base class copies it).
    """
    height, width = size
    if frame.shape[0] == height and frame.shape[1] == width:
        if frame.dtype == np.uint8 and frame.flags.c_contiguous:
            return frame
        return np.ascontiguousarray(frame, dtype=np.uint8)
    cv2 = _cv2()
    shrinking = frame.shape[0] * frame.shape[1] > height * width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(frame, (width, height), interpolation=interpolation)
