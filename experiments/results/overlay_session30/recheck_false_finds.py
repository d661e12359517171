"""The shipped search on the overlay-free pairs an earlier ``long_false_finds.py`` run found an overlay in.

The first run used the farther search with either cue; the shipped one asks for the motion cue as well, which only
adds a condition, so it can find nothing in a pair the first found nothing in: re-running the pairs the first run
found something in gives the shipped search's false finds on the whole set exactly.

Usage::

    python experiments/results/overlay_session30/recheck_false_finds.py RESULTS.jsonl [--cache DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from nitrogen_datasets.overlay.decode import VideoProbe
from nitrogen_datasets.overlay.extract import ExtractConfig, search
from nitrogen_datasets.overlay.localize import OverlayNotFound

sys.path.insert(0, str(Path(__file__).parent.parent / "overlay_localize_round4"))
from false_finds import read_results, templates  # type: ignore[import-not-found]


def main() -> None:
    """Re-run every pair the earlier run found an overlay in; print each verdict and the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--cache", type=Path, help="the clips' folder (default: the results file's)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    config = ExtractConfig()
    rows = read_results(args.results)
    matched = templates()
    cache = args.cache or args.results.parent
    found_before = [row for row in rows.values() if row["false_find"]]
    by_probe = [row for row in found_before if row["frames_searched"] <= config.probe_frames]
    still = 0
    for row in found_before:
        probe = VideoProbe(cache / f"{row['clip']}.mp4", config.probe_frames)
        try:
            where = search(probe, probe.first_frames(), matched[row["template"]], config)
            verdict = f"FALSE FIND ({where.x}, {where.y}, {where.scale:.3f})"
            still += 1
        except OverlayNotFound:
            verdict = "none"
        finally:
            probe.close()
        stage = "probe" if row in by_probe else "farther"
        print(f"{row['clip']} {row['template']}: before ({stage}) {row['verdict']}; shipped {verdict}", flush=True)
    print(
        f"recheck_false_finds: pairs={len(rows)} found_before={len(found_before)} by_probe={len(by_probe)} "
        f"by_farther={len(found_before) - len(by_probe)} shipped={still}"
    )


if __name__ == "__main__":
    main()
