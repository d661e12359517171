"""Localization's static-edge map three other ways, scored at the renderer's placement of harness clips.

``localize`` matches the template's edges against the median, over 16 frames, of each pixel's edge magnitude
(:func:`~nitrogen_datasets.overlay.localize._static_edges`). A translucent overlay over a moving scene is
``a * overlay + (1 - a) * scene``: averaging the frames first keeps ``a * overlay`` and blurs the moving scene away,
where the median of magnitudes keeps the scene's typical edge strength everywhere it is textured. Per clip this prints,
for each map, the best edge model's score at the renderer's placement and its prominence ratio (the best score at
least a quarter of the template away over that score: ``localize`` wants it below 0.55). Not shipped: used instead of
the median, the edges of the mean found 116 of the 126 training clips against 118 (docs/overlay.md, "Session 29").

Usage::

    python experiments/results/overlay_session29/static_edge_maps.py sprite-xbox-3_c23_s0.5_500 ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from nitrogen_datasets.overlay import localize as loc

sys.path.insert(0, str(Path(__file__).parent.parent / "overlay_session24"))
from at_truth import harness_clips  # type: ignore[import-not-found]  # a harness clip, as session 24 read it


def edge_maps(frames: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The shipped static edges and three alternatives, from the same clip."""
    _, spread = loc.probe_sample(len(frames))
    greys = [cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY) for i in spread]
    every = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    return {
        "median of edges (shipped)": loc._static_edges(greys),
        "edges of the mean, 16 frames": loc._edges(np.mean(np.stack(greys).astype(np.float32), axis=0)),
        "edges of the mean, every frame": loc._edges(np.mean(np.stack(every).astype(np.float32), axis=0)),
        "edges of the median, 16 frames": loc._edges(np.median(np.stack(greys), axis=0).astype(np.float32)),
    }


def prominence_ratio(static: np.ndarray, models: list, scale: float, x: int, y: int) -> float:
    """Best score elsewhere over the score at (x, y), for the model that scores best there (as ``_stands_out``)."""
    best: tuple[float, np.ndarray] | None = None
    for model in models:
        result = loc._correlations(static, model, scale)
        inside = result is not None and y < result.shape[0] and x < result.shape[1]
        if result is not None and inside and (best is None or result[y, x] > best[0]):
            best = (float(result[y, x]), result)
    if best is None or best[0] <= 0:
        return float("nan")
    width, height = round(models[0].grey.shape[1] * scale), round(models[0].grey.shape[0] * scale)
    away = best[1].copy()
    reach_x, reach_y = round(width * loc.PROMINENCE_REACH), round(height * loc.PROMINENCE_REACH)
    away[max(0, y - reach_y) : y + reach_y + 1, max(0, x - reach_x) : x + reach_x + 1] = -1.0
    return float(away.max()) / best[0]


def main() -> None:
    """One line per clip: each map's edge score / prominence ratio at the renderer's placement."""
    for name, (x, y, scale), template, frames in harness_clips(__doc__.split("\n\n")[0]):
        models = loc._edge_models(*loc._prepare_template(template))
        cells = [
            f"{label} {loc._edge_score_at(static, models, scale, x, y):.3f}/"
            f"{prominence_ratio(static, models, scale, x, y):.2f}"
            for label, static in edge_maps(frames).items()
        ]
        print(f"{name}: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
