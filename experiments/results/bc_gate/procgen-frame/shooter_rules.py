"""Play the frame expert's shooter rules (frame_procgen_shooters) and random under both evaluation protocols.

Why: a rule joins the frame expert only where it beats random on seeds 1000-1019, at docs/experts.md's 1000-step
cap (``versus``: ``experiments/results/bc_frame_expert/versus/<Game>-<task>.json``) and at the gate's 400-step cap
(``gate``: ``play/<arm>/<Game>-<task>.json``, the files the gate's own ``play`` stage writes, counted by
``../gate_ceiling.py``). The rules live in their own module until the lead registers them into
``frame_procgen`` (its ``RULE_MODULES``); until then this script registers them at run time.

Run from the repository root: ``python experiments/results/bc_gate/procgen-frame/shooter_rules.py {gate,versus}``.
"""

from __future__ import annotations

import sys

sys.path.insert(0, "experiments")
import bc_frame_expert
import bc_gate

import nitrogen_datasets.experts.frame_procgen as fp
from nitrogen_datasets.experts import frame_procgen_shooters as shooters

SHOOTER_TASKS = (("StarPilot", "easy"), ("StarPilot", "hard"))
"""The shooter tasks with a rule (frame_procgen_shooters.PARSERS), each played under both protocols."""
EPISODES = 20
"""Seeds 1000-1019, as both protocols take them."""


def register() -> None:
    """Add the shooter rules to the frame expert, unless frame_procgen merges them itself (``RULE_MODULES``)."""
    if shooters.__name__ in getattr(fp, "RULE_MODULES", ()):
        return
    fp.PARSERS.update(shooters.PARSERS)  # type: ignore[arg-type]  # a view type frame_procgen does not name
    fp.EASY_ONLY = fp.EASY_ONLY | shooters.EASY_ONLY


def gate() -> None:
    """Random, then the expert, on each task at the gate's 400-step cap (tasks already played are skipped)."""
    bc_gate.use_engine("procgen", "frame")
    bc_gate.PROCGEN_FRAME_TASKS = SHOOTER_TASKS
    for arm in ("random", "expert"):
        bc_gate.play(arm)


def versus() -> None:
    """Expert and random at docs/experts.md's 1000-step cap, one file per task."""
    for game, task in SHOOTER_TASKS:
        bc_frame_expert.versus(game, (task,), EPISODES)


def main(argv: list[str]) -> None:
    """``gate`` or ``versus`` (both when none is given)."""
    register()
    stages = argv or ["gate", "versus"]
    for stage in stages:
        {"gate": gate, "versus": versus}[stage]()


if __name__ == "__main__":
    main(sys.argv[1:])
