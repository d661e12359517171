"""Localization on the knob harness's clips and on videos without an overlay, with each call's CPU seconds.

A clip counts as found within 2 px and 3% of the renderer's placement; a video without an overlay must raise
``OverlayNotFound``. The clips are the ones ``experiments/results/overlay_knob_round2/knob_harness.py`` rendered into ``--cache``
(``placement.json`` is the truth). The videos without an overlay are scrolling scenes (seeds 600-611, 48 frames,
640x360, CRF 23 and 35), matched with the template of every training style named and of four presets.
``--module`` loads another ``localize.py`` (e.g. ``git show 71c8240:datasets/nitrogen_datasets/overlay/localize.py``)
to measure the code before a change on the same inputs.

Usage::

    python experiments/results/overlay_localize_round3/localize_check.py clips sprite-xbox-3_c23_s1_501 ...
    python experiments/results/overlay_localize_round3/localize_check.py negatives sprite-xbox-3 sprite-arcade-2 ...
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from nitrogen_datasets.overlay import OverlayRenderer, preset_styles
from nitrogen_datasets.overlay.decode import decode_frames
from nitrogen_datasets.overlay.layout import load_layout
from nitrogen_datasets.overlay.sprite_styles import sprite_style
from nitrogen_datasets.overlay.synthetic import scrolling_scenes
from nitrogen_envs.video import VideoWriter

NEGATIVE_SEEDS, NEGATIVE_CRFS, SIZE, FRAMES = range(600, 612), (23, 35), (360, 640), 48


def load_module(path: Path | None) -> ModuleType:
    """The shipped localize module, or the one at ``path``."""
    if path is None:
        from nitrogen_datasets.overlay import localize

        return localize
    spec = importlib.util.spec_from_file_location("localize_other", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["localize_other"] = module
    spec.loader.exec_module(module)
    return module


def decoded(video: Path) -> list[np.ndarray]:
    """Every frame of ``video`` as RGB."""
    return [np.ascontiguousarray(frame.to_ndarray(format="rgb24")) for frame, _, _ in decode_frames(video)]


def timed(module: ModuleType, frames: list[np.ndarray], template: np.ndarray) -> tuple[Any, float]:
    """(Localization or the OverlayNotFound raised, CPU seconds)."""
    start = time.process_time()
    try:
        result: object = module.localize(frames, template)
    except module.OverlayNotFound as error:
        result = error
    return result, time.process_time() - start


def clips(module: ModuleType, cache: Path, names: list[str]) -> None:
    """One line per clip: FOUND (within 2 px and 3%), WRONG (elsewhere) or not found, and the CPU time."""
    found = 0
    for name in names:
        folder = cache / name
        x, y, scale = json.loads((folder / "placement.json").read_text())
        _, template = load_layout(folder / "clip.layout.json")
        result, cpu = timed(module, decoded(folder / "clip.mp4"), template)
        if isinstance(result, Exception):
            verdict = "not found: " + str(result).split("; check")[0].removeprefix("no overlay found: ")
        else:
            right = abs(result.x - x) <= 2 and abs(result.y - y) <= 2 and abs(result.scale / scale - 1) < 0.03
            found += right
            verdict = f"{'FOUND' if right else 'WRONG'} ({result.x}, {result.y}, {result.scale:.3f}) {result.score:.3f}"
        print(f"{name}: truth ({x}, {y}, {scale}) {verdict} [{cpu:.2f} s]", flush=True)
    print(f"localize_check: found={found} of {len(names)}")


def negatives(module: ModuleType, cache: Path, styles: list[str]) -> None:
    """One line per (scene, template): nothing found (as it must be) or a FALSE POSITIVE."""
    templates = {name: OverlayRenderer(sprite_style(name)).template() for name in styles}
    templates |= {style.name: OverlayRenderer(style).template() for style in preset_styles()[:24:6]}
    wrong = total = 0
    for seed in NEGATIVE_SEEDS:
        for crf in NEGATIVE_CRFS:
            video = cache / f"no-overlay_{seed}_c{crf}.mp4"
            if not video.exists():
                with VideoWriter(video, fps=30, crf=crf) as writer:
                    for frame in scrolling_scenes(seed, FRAMES, SIZE):
                        writer.write(frame)
            frames = decoded(video)
            for name, template in templates.items():
                result, cpu = timed(module, frames, template)
                total += 1
                if isinstance(result, Exception):
                    verdict = "none: " + str(result).split("; check")[0].removeprefix("no overlay found: ")
                else:
                    wrong += 1
                    verdict = f"FALSE POSITIVE {result}"
                print(f"{video.stem} {name}: {verdict} [{cpu:.2f} s]", flush=True)
    print(f"localize_check: false_positives={wrong} of {total}")


def main() -> None:
    """Parse the arguments and run one of the two checks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("check", choices=["clips", "negatives"])
    parser.add_argument("names", nargs="+", help="clip folders (clips) or training sprite styles (negatives)")
    parser.add_argument("--module", type=Path, help="another localize.py to run instead of the shipped one")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nitrogen-knob-harness"))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    module = load_module(args.module)
    (clips if args.check == "clips" else negatives)(module, args.cache, args.names)


if __name__ == "__main__":
    main()
