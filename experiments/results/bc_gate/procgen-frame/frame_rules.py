"""Play Procgen frame-expert rules and random under the gate's protocol, and under docs/experts.md's.

Why: the gate's ceiling (``../gate_ceiling.py``) counts a task only where its demonstrator beats random on the
gate's seeds (1000-1019) at the gate's 400-step cap, where docs/experts.md's table measures the rules at a
1000-step cap. ``gate`` writes the files the gate's own ``play`` stage writes (``play/<arm>/<Game>-<task>.json``),
so a later gate run that adds these tasks to ``PROCGEN_FRAME_TASKS`` reuses them; ``versus`` writes
``experiments/results/bc_frame_expert/versus/<Game>-<task>.json`` (``bc_frame_expert.py versus-report`` tabulates
them). Tasks already played are skipped.

Run from the repository root::

    python experiments/results/bc_gate/procgen-frame/frame_rules.py gate [--rules newer shooters arena ninja jumper]
    python experiments/results/bc_gate/procgen-frame/frame_rules.py versus --rules shooters arena ninja jumper
"""

from __future__ import annotations

import argparse
import sys

sys.path.insert(0, "experiments")
import bc_frame_expert  # type: ignore[import-not-found]  # experiments/, on sys.path above
import bc_gate  # type: ignore[import-not-found]  # experiments/, on sys.path above

RULES: dict[str, tuple[tuple[str, str], ...]] = {
    # session 15: rules added to frame_procgen after section 14's task list was fixed
    "newer": (("Chaser", "hard"), ("Miner", "hard"), ("CoinRun", "easy"), ("Plunder", "hard"), ("Plunder", "easy")),
    # session 16: frame_procgen_shooters and frame_procgen_arena
    "shooters": (("StarPilot", "easy"), ("StarPilot", "hard")),
    "arena": (("Dodgeball", "easy"), ("Dodgeball", "hard")),
    # frame_procgen_jumper (added after session 16)
    "jumper": (("Jumper", "easy"), ("Jumper", "hard")),
    # frame_procgen_ninja (added after session 16)
    "ninja": (("Ninja", "easy"), ("Ninja", "hard")),
}
"""Groups of tasks by the session (and module) that gave them a frame rule."""
EPISODES = 20
"""Seeds 1000-1019, as both protocols take them."""


def gate(tasks: tuple[tuple[str, str], ...]) -> None:
    """Random, then the expert, on each task at the gate's 400-step cap."""
    bc_gate.use_engine("procgen", "frame")
    bc_gate.PROCGEN_FRAME_TASKS = tasks
    for arm in ("random", "expert"):
        bc_gate.play(arm)


def versus(tasks: tuple[tuple[str, str], ...]) -> None:
    """Expert and random at docs/experts.md's 1000-step cap, one file per task."""
    for game, task in tasks:
        bc_frame_expert.versus(game, (task,), EPISODES)


def main(argv: list[str] | None = None) -> None:
    """Parse the stage and the rule groups, then play them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("gate", "versus"))
    parser.add_argument("--rules", nargs="+", choices=tuple(RULES), default=list(RULES), help="rule groups to play")
    args = parser.parse_args(argv)
    tasks = tuple(pair for name in args.rules for pair in RULES[name])
    (gate if args.stage == "gate" else versus)(tasks)


if __name__ == "__main__":
    main()
