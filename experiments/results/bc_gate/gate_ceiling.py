"""How many of the gate's 41 tasks a perfect clone of today's demonstrators could pass: the gate's ceiling.

Why: a clone can at best play as its demonstrator does, so a task where the demonstrator itself does not beat
random under the gate's protocol (seeds 1000-1019, 20 episodes, the 400-step cap; paired 95% bootstrap CI of
the difference above 0), or where no demonstrator the gate can learn from exists, cannot pass. Counts each
engine's gate demonstrator from the committed per-episode results (no play is rerun): the scripted bot on
Doom, the frame expert (and, for comparison, the save-state planner) on Atari, the frame expert on every Procgen
task it has been played on under the gate's protocol (the gate's list and ``procgen-frame/frame_rules.py``'s).

Run from the repository root: ``python experiments/results/bc_gate/gate_ceiling.py``.
"""

from __future__ import annotations

import importlib
import sys

sys.path.insert(0, "experiments")

GATES = (("vizdoom", None), ("ale", "planner"), ("ale", "frame"), ("procgen", "frame"))


def main() -> None:
    """Print, per engine and demonstrator, the tasks where it beats random, and the best ceiling over all 41."""
    import bc_gate

    best: dict[str, int] = {}
    for engine, expert in GATES:
        bc_gate = importlib.reload(bc_gate)  # use_engine rebinds module globals: start each engine afresh
        bc_gate.use_engine(engine, expert)
        passing: list[str] = []
        failing: list[str] = []
        unplayed: list[str] = []
        tasks = bc_gate.engine_tasks()  # Procgen: also tasks outside the gate's list that were played
        for game, task in tasks:
            result = bc_gate.task_result(game, task, bc_gate.EXPERT_ARM)  # the expert as the "policy" arm
            if result is None:
                unplayed.append(f"{game}/{task}")
                continue
            row = f"{game}/{task} {result.diff:+.2f} [{result.low:+.2f}, {result.high:+.2f}]"
            (passing if result.low > 0 else failing).append(row)
        engine_total = len(tasks)
        best[engine] = max(best.get(engine, 0), len(passing))
        print(
            f"{engine} ({bc_gate.EXPERT}): demonstrator above random on {len(passing)} of {engine_total} tasks; "
            f"not above: {', '.join(failing) or 'none'}; never played under the gate's protocol (no demonstrator "
            f"rule): {len(unplayed)}"
        )
    total = bc_gate.gate_size()
    ceiling = sum(best.values())
    _, _, need = bc_gate.gate_counts([], total)
    print(f"gate_ceiling: ceiling={ceiling} of={total} share={ceiling / total:.2f} need={need}")


if __name__ == "__main__":
    main()
