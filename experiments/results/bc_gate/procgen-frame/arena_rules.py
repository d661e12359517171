"""Play the arena frame rules (Dodgeball) and random under the gate's protocol, and under docs/experts.md's.

Why: the gate's ceiling (``../gate_ceiling.py``) counts a task only where its demonstrator beats random on the
gate's seeds (1000-1019) at the gate's 400-step cap. The rules live in ``frame_procgen_arena`` until the lead
registers them into ``frame_procgen.PARSERS``; this script patches them in first. The episodes go to the files the
gate's own ``play`` stage writes (``play/<arm>/<Game>-<task>.json``), so a later gate run that adds these tasks to
``PROCGEN_FRAME_TASKS`` reuses them.

Run from the repository root:

* ``python experiments/results/bc_gate/procgen-frame/arena_rules.py`` — the gate's protocol (400 steps), then
  ``python experiments/results/bc_gate/gate_ceiling.py``;
* ``python experiments/results/bc_gate/procgen-frame/arena_rules.py versus`` — docs/experts.md's table protocol
  (1000 steps; ``experiments/results/bc_frame_expert/versus/<Game>-<task>.json``), then
  ``python experiments/bc_frame_expert.py versus-report``.
"""

from __future__ import annotations

import sys

sys.path.insert(0, "experiments")
import bc_frame_expert  # type: ignore[import-not-found]  # experiments/, on sys.path above
import bc_gate  # type: ignore[import-not-found]  # experiments/, on sys.path above

import nitrogen_datasets.experts.frame_procgen as frame_procgen
from nitrogen_datasets.experts.frame_procgen_arena import EASY_ONLY, PARSERS

ARENA_RULES = (("Dodgeball", "easy"), ("Dodgeball", "hard"))
"""The tasks the arena rules play (``frame_procgen_arena.PARSERS``; none is easy-only)."""


def register() -> None:
    """Patch the arena rules into the frame expert, unless it already merges them (``RULE_MODULES``)."""
    if "nitrogen_datasets.experts.frame_procgen_arena" in getattr(frame_procgen, "RULE_MODULES", ()):
        return
    frame_procgen.PARSERS.update(PARSERS)  # type: ignore[arg-type]  # its annotation predates DodgeView
    frame_procgen.EASY_ONLY = frame_procgen.EASY_ONLY | EASY_ONLY


def main(argv: list[str]) -> None:
    """The gate's protocol (random, then the expert; tasks already played are skipped), or ``versus``."""
    register()
    if argv[:1] == ["versus"]:
        for game in dict(ARENA_RULES):
            bc_frame_expert.versus(game, tuple(task for g, task in ARENA_RULES if g == game), 20)
        return
    bc_gate.use_engine("procgen", "frame")
    bc_gate.PROCGEN_FRAME_TASKS = ARENA_RULES
    for arm in ("random", "expert"):
        bc_gate.play(arm)


if __name__ == "__main__":
    main(sys.argv[1:])
