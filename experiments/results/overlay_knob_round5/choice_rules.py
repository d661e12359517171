"""Knob-choice rules compared offline on ``candidates.py --json`` output (Round 5 of docs/overlay.md's Sticks).

Each stick's candidates were read forced in turn (``candidates.py``), so a choice rule's pooled stick R^2 follows
from which candidate it picks, without reading the clips again. The pooled total sum of squares is taken from the
harness's R^2 of the default choice (``--r2``), as the files do not carry the pooled sums. Printed: the default
rule, the best candidate per stick (the ceiling of any choice rule), and the rule with candidates that leave the
sweep box dropped, over the share allowed (``theta``; a candidate is kept if its share is at most
``max(theta, least share)``) and the margin beyond the box (``margin`` frame pixels; the box is the larger travel
on both axes here, as the shipped rule's per-axis travel is for these square boxes).

Usage::

    python experiments/results/overlay_knob_round5/choice_rules.py /tmp/cands_train.json --r2 0.5700
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def outside(candidate: dict, margin: float) -> float:
    """Share of the choice frames whose best placement lies beyond the sweep box by more than ``margin``."""
    return float((np.abs(np.array(candidate["pos"])).max(axis=1) > candidate["travel"] + margin).mean())


def choose(
    cands: list[dict], theta: float | None, margin: float, score_ratio: float = 0.75, spread_ratio: float = 0.8
) -> int:
    """The shipped rule (``theta`` None: as before Round 5)."""
    scores = np.array([c["score"] for c in cands])
    spreads = np.array([c["spread"] for c in cands])
    shares = np.array([outside(c, margin) for c in cands])
    inside = np.ones(len(cands), bool) if theta is None else shares <= max(theta, shares.min())
    good = inside & (scores >= score_ratio * scores[inside].max())
    mobile = good & (spreads >= spread_ratio * spreads[good].max())
    return int(np.flatnonzero(mobile).max())


def main() -> None:
    """Print the pooled R^2 of each rule."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path)
    parser.add_argument("--r2", type=float, required=True, help="the harness's pooled R^2 with the default choice")
    args = parser.parse_args()
    rows = json.loads(args.json.read_text())
    base = sum(r["cands"][r["default"]]["sse"] for r in rows)
    total = base / (1.0 - args.r2)

    def r2(picks: list[int]) -> float:
        return 1.0 - sum(r["cands"][k]["sse"] for r, k in zip(rows, picks, strict=True)) / total

    print(f"default choice: {r2([r['default'] for r in rows]):.4f}")
    print(
        f"best candidate per stick (ceiling): {r2([int(np.argmin([c['sse'] for c in r['cands']])) for r in rows]):.4f}"
    )
    print(f"max score: {r2([int(np.argmax([c['score'] for c in r['cands']])) for r in rows]):.4f}")
    for score_ratio in (0.75, 0.8, 0.85, 0.9):
        line = " ".join(
            f"spread ratio {spread_ratio:g}: {r2([choose(r['cands'], None, 0.0, score_ratio, spread_ratio) for r in rows]):.4f}"
            for spread_ratio in (0.5, 0.65, 0.8)
        )
        print(f"no box test, score ratio {score_ratio:g}: {line}")
    for theta in (0.2, 0.25, 0.3):
        line = " ".join(
            f"margin {margin:g}: {r2([choose(r['cands'], theta, margin) for r in rows]):.4f}"
            for margin in (1.0, 1.5, 2.0, 2.5)
        )
        print(f"drop candidates outside the box, theta {theta:g}: {line}")


if __name__ == "__main__":
    main()
