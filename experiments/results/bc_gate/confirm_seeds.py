"""Play each engine's best gate arm and random on fresh seeds, to confirm a count picked on the evaluation seeds.

Why: the gate's count (docs/results.md status) takes each engine's best arm (argmax or sampled, one run of
several) after seeing all of them on seeds 1000-1019, which favours arms that were lucky there. This replays the
chosen arms, and random, on seeds 2000-2019 (disjoint from every training seed and from 1000-1019) and prints the
same paired test per task. Results go to ``experiments/results/bc_gate/<engine>/confirm-2000/play/``.

Run from the repository root, with the runs' weights under ``runs/bc_gate/`` (``bc_gate.py train``)::

    python experiments/results/bc_gate/confirm_seeds.py --engine vizdoom|ale|procgen

``--expert``, ``--run``, ``--temperature`` and ``--all-tasks`` play another arm than :data:`BEST_ARMS` names (on
every task of the engine's pretraining games with ``--all-tasks``, as ``wide_eval.py`` does). Section 17's Procgen
count, gpu1 sampled, on all 26 tasks (its weights are committed, so no training is needed)::

    python experiments/results/bc_gate/confirm_seeds.py --engine procgen --expert frame --run gpu1 --temperature 1 \
        --all-tasks

One engine per process: ``bc_gate.use_engine`` moves the module's folders from wherever they point.
"""

from __future__ import annotations

import argparse
import sys

sys.path.insert(0, "experiments")
import bc_classifier  # type: ignore[import-not-found]  # experiments/, on sys.path above
import bc_gate  # type: ignore[import-not-found]  # experiments/, on sys.path above

FIRST_SEED = 2000
"""The confirmation's first seed: 20 seeds from here are disjoint from 0-63 (training) and 1000-1019."""
BEST_ARMS: dict[str, tuple[str | None, str, float]] = {
    "vizdoom": (None, "v2b", 0.0),
    "ale": ("frame", "v1b", 1.0),
    "procgen": (None, "budget1", 0.0),
}
"""Engine -> (expert, run, temperature) of the arm the gate counts (Doom's v2 weights are its retrain's, v2b)."""


def confirm(
    engine: str,
    expert: str | None = None,
    run_name: str | None = None,
    temperature: float | None = None,
    all_tasks: bool = False,
) -> list[str]:
    """Random and the engine's best arm (or the one given) on the confirmation seeds; one line per task."""
    best_expert, best_run, best_temperature = BEST_ARMS[engine]
    expert = best_expert if expert is None else None if expert == "default" else expert
    run_name = run_name or best_run
    temperature = best_temperature if temperature is None else temperature
    bc_gate.use_engine(engine, expert)
    if run_name not in bc_gate.RUNS:
        raise SystemExit(f"Error: unknown run {run_name!r} for {engine}; choose from {sorted(bc_gate.RUNS)}")
    bc_gate.RESULTS = bc_gate.RESULTS / f"confirm-{FIRST_SEED}"
    bc_gate.FIRST_SEED = bc_classifier.FIRST_SEED = FIRST_SEED
    run = bc_gate.RUNS[run_name]
    tasks = bc_gate.engine_tasks() if all_tasks else bc_gate.gate_tasks()
    bc_gate.play("random", tasks=tasks)
    bc_gate.play("policy", run=run, temperature=temperature, tasks=tasks)
    arm = bc_gate.sampled_arm(run, temperature) if temperature > 0 else run.arm
    lines, wins = [], 0
    for game, task in tasks:
        episodes = bc_gate.played_episodes(["random", arm], game, task)
        if episodes is None:
            continue
        _, diff, low, high = bc_gate.paired_difference(episodes[1], episodes[0])
        wins += low > 0
        lines.append(f"{engine} {arm} {game}/{task}: {diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]")
    lines.append(
        f"{engine} {arm}: above random on {wins} of {len(lines)} tasks on seeds {FIRST_SEED}-{FIRST_SEED + 19}"
    )
    return lines


def main() -> None:
    """Confirm one engine's arm (``--engine``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=sorted(BEST_ARMS), required=True)
    parser.add_argument("--expert", help="the engine's demonstrator folder (frame, planner; 'default': none)")
    parser.add_argument("--run", help="the run whose policy plays (default: BEST_ARMS's)")
    parser.add_argument("--temperature", type=float, help="sampling temperature (0: argmax)")
    parser.add_argument("--all-tasks", action="store_true", help="every task of the engine's pretraining games")
    args = parser.parse_args()
    lines = confirm(args.engine, args.expert, args.run, args.temperature, args.all_tasks)
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
