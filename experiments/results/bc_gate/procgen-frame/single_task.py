"""Section 14's follow-up: nitrogen-s trained on ONE Procgen task at the sample budget section 10's classifier had.

Why: v1 (8 tasks, 2,500 steps of 32: about 10,000 samples per task) outputs the label marginals whatever the frame
(``axis_probe.py``), where section 10's single-game classifier read Chaser's labels after 1,000 steps of 64
(64,000 samples). This trains the gate's nitrogen-s (same trainer, settings and demonstrations) on Chaser ``easy``
alone for 2,000 steps of 32 (64,000 samples), then runs the gate's ``fit`` and ``play`` (argmax and sampled at
temperature 1) on it, so the tables compare it with v1 on the same seeds. ``--game``/``--task`` pick another of
the gate's tasks (run ``<game><n>``, e.g. ``miner1``); two tasks can run side by side. If it reads the frame, the gate's
multi-task budget is what blinds v1; if not, the product's policy is what differs from the classifier.

``--levels N`` (session 18) trains on N levels of demonstrations (seeds 0..N-1, collected by the frame expert into
``runs/bc_gate/procgen-frame/demos-l<N>/`` as ``bc_gate.py collect --levels N`` does; run name gains ``l<N>``)
instead of the gate's 64, with the same 64,000 samples: the one-task policies fit their 64 levels (0.95-0.98) and
play unseen ones at random's level, so is the number of levels what they lack? ``--steps`` trains longer than the
2,000 steps (run name gains ``n<steps>``).

Run from the repository root after ``experiments/bc_gate.py collect --engine procgen`` and its random / expert play:

    python experiments/results/bc_gate/procgen-frame/single_task.py [--game Miner --task easy]

Resumable: the trainer resumes its checkpoints and played tasks are skipped. Results: e.g. the run ``chaser1``'s
``train-chaser1.json``, ``fit-chaser1.json`` and ``play/policy-chaser1*/`` beside this file.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

sys.path.insert(0, "experiments")
import bc_gate

STEPS = 2000  # x 32 = 64,000 samples, section 10's bc1000 (1,000 steps of 64)


def main() -> None:
    """Train, fit and play the one-task run, then print its paired differences from random and from v1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="Chaser")
    parser.add_argument("--task", default="easy")
    parser.add_argument("--seed", type=int, default=0, help="the trainer's seed (run name gains s<seed> unless 0)")
    parser.add_argument(
        "--shift", type=int, default=0, help="the policy's shift_augment in pixels (run name gains x<shift> unless 0)"
    )
    parser.add_argument(
        "--levels",
        type=int,
        default=0,
        help="train on this many levels of demonstrations (seeds 0..N-1, collected first) instead of the gate's 64",
    )
    parser.add_argument(
        "--steps", type=int, default=STEPS, help=f"optimizer steps of 32 (run name gains n<steps> unless {STEPS})"
    )
    args = parser.parse_args()
    GAME, TASK = args.game, args.task  # noqa: N806
    bc_gate.use_engine("procgen", "frame")
    if (GAME, TASK) not in bc_gate.gate_tasks():
        raise SystemExit(f"Error: {GAME}/{TASK} is not a gate task; choose from {bc_gate.gate_tasks()}")
    bc_gate.gate_tasks = lambda split=bc_gate.CONFIG.split: [(GAME, TASK)]  # type: ignore[assignment]
    if args.shift:  # random-shift augmentation: does it close the gap between training and unseen levels?
        policy = {**bc_gate.CONFIG.policy, "shift_augment": args.shift}
        bc_gate.CONFIG = bc_gate.replace(bc_gate.CONFIG, policy=policy)
    name = f"{GAME.lower()}1" if TASK == "easy" else f"{GAME.lower()}-{TASK}1"
    name += (f"x{args.shift}" if args.shift else "") + (f"s{args.seed}" if args.seed else "")
    others = ["random", "policy", "policy-t1"]
    if args.levels:  # also against the same run on the gate's 64 levels
        others += [f"policy-{name}", f"policy-{name}-t1"]
        bc_gate.collect_procgen(args.levels)
        summary = bc_gate.RESULTS / f"demos-l{args.levels}-{GAME}-{TASK}.json"
        bc_gate.atomic_json(summary, bc_gate.demo_summary(args.levels))
        name += f"l{args.levels}"
    if args.steps != STEPS:  # and against the same data at 2,000 steps
        others += [f"policy-{name}", f"policy-{name}-t1"]
        name += f"n{args.steps}"
    run = bc_gate.RunConfig(name, steps=args.steps, balance="equal", seed=args.seed, levels=args.levels)
    bc_gate.train_policy(run, threads=1)
    bc_gate.fit(run)
    bc_gate.play("policy", [GAME], run)
    bc_gate.play("policy", [GAME], run, temperature=1.0)
    for arm in (run.arm, bc_gate.sampled_arm(run, 1.0)):  # against random, v1 argmax and v1 sampled, ...
        for other in others:
            episodes = bc_gate.played_episodes([arm, other], GAME, TASK)
            if episodes is None:
                continue
            mine, theirs = episodes
            score, diff, low, high = bc_gate.paired_difference(mine, theirs)
            print(
                f"{arm} - {other} on {GAME}/{TASK}: {float(score.mean()):.2f} against "
                f"{float(np.mean([e['normalized'] for e in theirs])):.2f}, {float(diff.mean()):+.2f} "
                f"[{low:+.2f}, {high:+.2f}]"
            )


if __name__ == "__main__":
    main()
