"""Re-run the (scene, template) pairs that a ``localize_check.py negatives`` output found an overlay in.

A ``localize.py`` that only adds conditions to accepting a match can only find an overlay where the old one did
(every candidate the old one rejected stays rejected), so on Round 3's 312 overlay-free pairs only the old false
finds need running again. Scenes are rendered into ``--cache`` as ``localize_check.py`` renders them.

Usage::

    python experiments/results/overlay_localize_round4/old_pairs.py \
        experiments/results/overlay_localize_round3/negatives_after.txt [--module OTHER_localize.py]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "overlay_localize_round3"))
from false_finds import templates
from localize_check import FRAMES, SIZE, decoded, load_module, timed

from nitrogen_datasets.overlay.synthetic import scrolling_scenes
from nitrogen_envs.video import VideoWriter

PAIR = re.compile(r"^no-overlay_(\d+)_c(\d+) (\S+): FALSE POSITIVE")


def main() -> None:
    """Parse the old output, re-run its false finds, print one line each and the count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("negatives", type=Path, help="a localize_check.py negatives output")
    parser.add_argument("--module", type=Path, help="another localize.py to run instead of the shipped one")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nitrogen-knob-harness"))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    module = load_module(args.module)
    matched = {part: template for names, template in templates().items() for part in names.split("=")}
    pairs = [m.groups() for m in map(PAIR.match, args.negatives.read_text().splitlines()) if m]
    found = 0
    for seed, crf, name in pairs:
        video = args.cache / f"no-overlay_{seed}_c{crf}.mp4"
        if not video.exists():
            video.parent.mkdir(parents=True, exist_ok=True)
            with VideoWriter(video, fps=30, crf=int(crf)) as writer:
                for frame in scrolling_scenes(int(seed), FRAMES, SIZE):
                    writer.write(frame)
        result, cpu = timed(module, decoded(video), matched[name])
        found += not isinstance(result, Exception)
        verdict = f"FALSE POSITIVE {result}" if not isinstance(result, Exception) else "none: " + str(result)[:160]
        print(f"{video.stem} {name}: {verdict} [{cpu:.2f} s]", flush=True)
    print(f"old_pairs: false_positives={found} of {len(pairs)} re-run (the rest of the old file found none)")


if __name__ == "__main__":
    main()
