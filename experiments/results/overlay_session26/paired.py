"""Paired difference of two saved runs of the held-out benchmark on the same clips, without running either again.

``benchmarks/overlay_sprite_baseline.py --against`` runs the grid and compares it with a ``--save`` file; this reads
two ``--save`` files (e.g. two commits' localization on the same seeds) and prints the paired bootstrap difference
(first minus second, clips resampled jointly: ``evaluate.paired_bootstrap``) and how many clips changed.

Usage::

    python experiments/results/overlay_session26/paired.py AFTER.json BEFORE.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nitrogen_datasets.overlay.evaluate import Tally, paired_bootstrap


def main() -> None:
    """Print one line per metric, then the count of clips whose tallies differ."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ours", type=Path)
    parser.add_argument("theirs", type=Path)
    args = parser.parse_args()
    ours = json.loads(args.ours.read_text())
    theirs = {row["clip"]: row for row in json.loads(args.theirs.read_text())}
    pairs = [(Tally(**row["total"]), Tally(**theirs[row["clip"]]["total"])) for row in ours]
    gains = paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs])
    for name, (difference, low, high) in gains.items():
        print(f"{name} {difference:+.4f} [{low:+.4f}, {high:+.4f}]")
    print(f"changed clips: {sum(a != b for a, b in pairs)} of {len(pairs)}")


if __name__ == "__main__":
    main()
