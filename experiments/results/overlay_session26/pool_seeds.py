"""The held-out benchmark's figures over several saved runs pooled (seeds 1-7 here), before and after, and paired.

Reads this folder's ``clips_seeds*_{before,after}.json`` (``--save`` files of
``benchmarks/overlay_sprite_baseline.py``): pooled button and trigger accuracy and stick R^2 with their 95% bootstrap
intervals over clips, and the paired difference (after minus before, clips resampled jointly).

Usage::

    python experiments/results/overlay_session26/pool_seeds.py
"""

from __future__ import annotations

import json
from pathlib import Path

from nitrogen_datasets.overlay.evaluate import Tally, clip_bootstrap, paired_bootstrap

HERE = Path(__file__).parent
SEEDS = ("123", "45", "67")


def load(which: str) -> dict[str, dict]:
    """Every clip of the seed groups' ``which`` runs, by clip key."""
    rows = [row for seeds in SEEDS for row in json.loads((HERE / f"clips_seeds{seeds}_{which}.json").read_text())]
    return {row["clip"]: row for row in rows}


def main() -> None:
    """One line per run, then one per metric's paired difference."""
    runs = {"before": load("before"), "after": load("after")}
    keys = list(runs["after"])
    for name, clips in runs.items():
        tallies = [Tally(**clips[key]["total"]) for key in keys]
        pooled = Tally()
        for tally in tallies:
            pooled.add(tally)
        ci = clip_bootstrap(tallies)
        print(
            f"{name}: {len(keys)} clips, located {sum(clips[key]['located'] for key in keys)}, "
            f"buttons {pooled.button_accuracy:.4f} [{ci['button'][0]:.4f}, {ci['button'][1]:.4f}], "
            f"triggers {pooled.trigger_accuracy:.4f} [{ci['trigger'][0]:.4f}, {ci['trigger'][1]:.4f}], "
            f"stick R^2 {pooled.stick_r2:.4f} [{ci['stick_r2'][0]:.4f}, {ci['stick_r2'][1]:.4f}]"
        )
    after = [Tally(**runs["after"][key]["total"]) for key in keys]
    before = [Tally(**runs["before"][key]["total"]) for key in keys]
    for metric, (difference, low, high) in paired_bootstrap(after, before).items():
        print(f"paired {metric}: {difference:+.4f} [{low:+.4f}, {high:+.4f}]")


if __name__ == "__main__":
    main()
