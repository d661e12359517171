"""Whether two ``localize.py`` give identical results: every harness clip and some overlay-free (scene, template) pairs.

Session 29 bundled localization's (template, mask, edges, blur, inner) parameter lists into one ``_Model`` value; this
ran the module before (``git show d2265d1:datasets/nitrogen_datasets/overlay/localize.py > before.py``) and the one
after on the same decoded frames and compared the placements, scores and error messages exactly.

Usage::

    python experiments/results/overlay_session29/same_localize.py before.py [--styles sprite-xbox-3 ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

from nitrogen_datasets.overlay import OverlayRenderer, preset_styles
from nitrogen_datasets.overlay import localize as shipped
from nitrogen_datasets.overlay.decode import decode_frames
from nitrogen_datasets.overlay.layout import load_layout
from nitrogen_datasets.overlay.sprite_styles import sprite_style

sys.path.insert(0, str(Path(__file__).parent.parent / "overlay_localize_round3"))
from localize_check import load_module  # type: ignore[import-not-found]  # another localize.py as a module


def outcome(module: ModuleType, frames: list[np.ndarray], template: np.ndarray) -> tuple:
    """("found", x, y, scale, score) or ("none", the error's message)."""
    try:
        found = module.localize(frames, template)
    except module.OverlayNotFound as error:
        return ("none", str(error))
    return ("found", found.x, found.y, found.scale, found.score)


def main() -> None:
    """Print each input whose outcomes differ, then the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="the other localize.py")
    parser.add_argument("--styles", nargs="*", default=["sprite-xbox-3", "sprite-arcade-2", "sprite-keyboard-2"])
    parser.add_argument("--negatives", type=int, default=6, help="overlay-free videos of the cache to use")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nitrogen-knob-harness"))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    before = load_module(args.before)
    inputs = [
        (folder.name, folder / "clip.mp4", load_layout(folder / "clip.layout.json")[1])
        for folder in sorted(args.cache.glob("*_c*_s*_*"))
        if (folder / "clip.layout.json").exists()
    ]
    templates = {name: OverlayRenderer(sprite_style(name)).template() for name in args.styles}
    templates |= {style.name: OverlayRenderer(style).template() for style in preset_styles()[:24:6]}
    for video in sorted(args.cache.glob("no-overlay_*.mp4"))[: args.negatives]:
        inputs += [(f"{video.stem} {name}", video, template) for name, template in templates.items()]
    same = differ = 0
    decoded: dict[Path, list[np.ndarray]] = {}
    for label, video, template in inputs:
        if video not in decoded:
            decoded = {video: [np.ascontiguousarray(f.to_ndarray(format="rgb24")) for f, _, _ in decode_frames(video)]}
        old, new = outcome(before, decoded[video], template), outcome(shipped, decoded[video], template)
        if old == new:
            same += 1
        else:
            differ += 1
            print(f"DIFFER {label}: {old} -> {new}", flush=True)
    print(f"same_localize: identical={same} differ={differ}")


if __name__ == "__main__":
    main()
