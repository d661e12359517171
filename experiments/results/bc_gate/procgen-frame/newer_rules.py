"""Play the frame expert and random under the gate's protocol on the 5 Procgen tasks given a rule after section 14.

Why: the gate's ceiling (``../gate_ceiling.py``) counts a task only where its demonstrator beats random on the
gate's seeds at the gate's 400-step cap; docs/experts.md measured these rules at a 1000-step cap. The episodes
go to the files the gate's own ``play`` stage writes (``play/<arm>/<Game>-<task>.json``), so a later gate run
that adds these tasks to ``PROCGEN_FRAME_TASKS`` reuses them.

Run from the repository root: ``python experiments/results/bc_gate/procgen-frame/newer_rules.py``.
"""

from __future__ import annotations

import sys

sys.path.insert(0, "experiments")
import bc_gate

NEWER_RULES = (("Chaser", "hard"), ("Miner", "hard"), ("CoinRun", "easy"), ("Plunder", "hard"), ("Plunder", "easy"))
"""docs/experts.md, "Procgen (frame)": above random at the 1000-step cap on seeds 1000-1019 (session 15)."""


def main() -> None:
    """Random, then the expert, on each task (tasks already played are skipped by ``play``)."""
    bc_gate.use_engine("procgen", "frame")
    bc_gate.PROCGEN_FRAME_TASKS = NEWER_RULES
    for arm in ("random", "expert"):
        bc_gate.play(arm)


if __name__ == "__main__":
    main()
