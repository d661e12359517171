"""What localization sees at the renderer's placement of harness clips: each cue's score and each acceptance test.

For clips ``knob_harness.py`` (or ``render``) left in ``--cache`` (``placement.json`` is the truth): the static edges'
score (one model), intensity on the median frame, the motion map's (:func:`~nitrogen_datasets.overlay.localize.motion_dip`)
correlation with the template's alpha, whether the edges stand out there, the share of the shape where the game moves,
and the edge bars at that scale. Session 24 (Round 6 of docs/overlay.md) read the clips not found with it.

Usage::

    python experiments/results/overlay_session24/at_truth.py sprite-xbox-3_c35_s0.5_503 ... [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from nitrogen_datasets.overlay import localize as loc
from nitrogen_datasets.overlay.decode import decode_frames
from nitrogen_datasets.overlay.layout import load_layout


def harness_clip(folder: Path) -> tuple[tuple[int, int, float], np.ndarray, list[np.ndarray]]:
    """A harness clip's renderer placement (x, y, scale), its layout's rest template and its decoded RGB frames."""
    x, y, scale = json.loads((folder / "placement.json").read_text())
    _, template = load_layout(folder / "clip.layout.json")
    frames = [np.ascontiguousarray(f.to_ndarray(format="rgb24")) for f, _, _ in decode_frames(folder / "clip.mp4")]
    return (x, y, scale), template, frames


def harness_clips(description: str) -> Iterator[tuple[str, tuple[int, int, float], np.ndarray, list[np.ndarray]]]:
    """The clips the command line names (folders in ``--cache``), each (name, placement, template, frames)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("clips", nargs="+", help="clip folders in --cache")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nitrogen-knob-harness"))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    for name in args.clips:
        yield (name, *harness_clip(args.cache / name))


def main() -> None:
    """One line per clip."""
    for name, (x, y, scale), template, frames in harness_clips(__doc__.split("\n\n")[0]):
        first, edge_indices = loc.probe_sample(len(frames))
        greys = [cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY) for i in edge_indices]
        static = loc._static_edges(greys)
        grey, mask = loc._prepare_template(template)
        models = loc._edge_models(grey, mask)
        median = cv2.cvtColor(loc.median_frames([frames[i] for i in first]), cv2.COLOR_RGB2GRAY)
        motion = np.stack(greys).astype(np.float32).std(axis=0)
        dip = loc.motion_dip(motion)
        least, clear = loc._edge_thresholds(scale)
        print(
            f"{name}: edge {loc._edge_score_at(static, models, scale, x, y):.3f} "
            f"intensity {loc._match_at(median, loc._Model(grey, mask), scale, x, y):.3f} "
            f"motion {loc._shape_at(dip, template, scale, x, y):.3f} "
            f"edges stand out {loc._stands_out(static, models, scale, x, y)} "
            f"motion stands out {loc._motion_stands_out(dip, template, scale, x, y)} "
            f"moving {loc._moving_share(motion, mask, scale, x, y):.2f} edge bars {least:.3f}/{clear:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
