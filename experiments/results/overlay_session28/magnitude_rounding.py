"""How often ``cv2.magnitude`` rounds the same gradients differently from call to call, against ``sobel_magnitude``.

Session 28 traced the knob readings' run-to-run noise (up to 1e-7) to it: the same input, called repeatedly, gives
two results, depending on where the call's buffers lie. The input here is a drawn pad (a base disc and a knob at a
sub-pixel centre, as ``tests/test_overlay_knob_match.py`` draws it), blurred as the knob matcher's edge feature is.

Usage::

    python experiments/results/overlay_session28/magnitude_rounding.py [--calls 3000]
"""

from __future__ import annotations

import argparse
from collections import Counter

import cv2
import numpy as np

from nitrogen_datasets.overlay.knob_match import KnobMatchConfig
from nitrogen_datasets.overlay.localize import sobel_magnitude


def pad(knob_x: float, knob_y: float, size: int = 120) -> np.ndarray:
    """A dark base disc and a bright knob with a dark centre, supersampled 8x, as grey float32."""
    big = np.full((size * 8, size * 8, 3), 40, np.uint8)
    cv2.circle(big, (size * 4, size * 4), 40 * 8, (90, 90, 120), -1)
    centre = (round(knob_x * 8), round(knob_y * 8))
    cv2.circle(big, centre, 16 * 8, (230, 200, 60), -1)
    cv2.circle(big, centre, 6 * 8, (120, 100, 30), -1)
    small = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)


def main() -> None:
    """Count the distinct results of each way over the same input, then how many pixels differ between cv2's two."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    grey = pad(63.25, 57.5)
    sigma = KnobMatchConfig().edge_sigma

    def with_cv2() -> np.ndarray:
        blurred = cv2.GaussianBlur(grey.copy(), (0, 0), sigma)  # each call's buffers fresh, as in feature_images
        return cv2.magnitude(
            cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3)
        )

    def with_numpy() -> np.ndarray:
        return sobel_magnitude(cv2.GaussianBlur(grey.copy(), (0, 0), sigma))

    ways = {"cv2.magnitude": with_cv2, "sobel_magnitude": with_numpy}
    for name, way in ways.items():
        results: Counter[bytes] = Counter(way().tobytes() for _ in range(args.calls))
        line = (
            f"{name}: {len(results)} distinct results in {args.calls} calls ({sorted(results.values(), reverse=True)})"
        )
        if len(results) > 1:
            first, second = (np.frombuffer(key, np.float32) for key in list(results)[:2])
            line += f"; {int((first != second).sum())} of {first.size} pixels differ, by up to {np.abs(first - second).max():.2g}"
        print(line)


if __name__ == "__main__":
    main()
