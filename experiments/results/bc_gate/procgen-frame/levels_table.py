"""Session 18's table: one-task nitrogen-s policies trained on 64 against 512 levels of demonstrations.

``single_task.py --game <Game> --levels 512 [--steps 6000]`` trained and played them; this reads what they
committed beside it (``train-*.json``, ``fit-*.json``, ``demos-l512-*.json``, ``play/``) and prints, per task and
run: its trainer seed, levels, demonstration frames, optimizer steps, accuracy on the first 600 training frames, and the paired
differences [95% bootstrap CI] of its argmax and sampled (temperature 1) play from random and of its sampled play
from the 64-level run's of the same trainer seed and steps, on seeds 1000-1019. Run from the repository root::

    python experiments/results/bc_gate/procgen-frame/levels_table.py > experiments/results/bc_gate/procgen-frame/levels.txt
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "experiments")
import bc_gate

TASKS = (("Chaser", "easy"), ("Heist", "easy"), ("Miner", "easy"))
VARIANTS = (
    ("", ""),
    ("l512", ""),
    ("n6000", ""),
    ("l512n6000", "n6000"),
    ("s1", "s1"),
    ("s1l512", "s1"),
    ("s1n6000", "s1n6000"),
    ("s1l512n6000", "s1n6000"),
)
"""Run-name suffixes after ``<game>1`` and the suffix of the 64-level run each is compared with (same trainer seed
and steps): the gate's 64 levels at 2,000 steps, 512 levels, both at 6,000 steps, and trainer seed 1 of each."""


def difference(arm: str, other: str, game: str, task: str) -> str:
    """``arm`` minus ``other`` on one task as ``+0.05 [+0.01, +0.09]``, or ``-`` until both played it."""
    episodes = bc_gate.played_episodes([arm, other], game, task)
    if episodes is None:
        return "-"
    _, diff, low, high = bc_gate.paired_difference(*episodes)
    return f"{float(diff.mean()):+.2f} [{low:+.2f}, {high:+.2f}]"


def frames_of(game: str, task: str, levels: int) -> int | None:
    """Demonstration frames of ``levels`` levels: the gate's summary for 64, the run's own for others."""
    name = "demos.json" if levels == 64 else f"demos-l{levels}-{game}-{task}.json"
    path = bc_gate.RESULTS / name
    if not path.is_file():
        return None
    return int(json.loads(path.read_text())["tasks"][f"{game}/{task}"]["frames"])


def main() -> None:
    """Print the table (Markdown) and the command lines that made its runs."""
    bc_gate.use_engine("procgen", "frame")
    print(
        "| task | run | trainer seed | levels | frames | steps | training accuracy | argmax - random | "
        "sampled - random | sampled - 64 levels' sampled (same seed and steps) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for game, task in TASKS:
        base = f"{game.lower()}1"
        for variant, versus in VARIANTS:
            name = base + variant
            fit: Path = bc_gate.RESULTS / f"fit-{name}.json"
            train: Path = bc_gate.RESULTS / f"train-{name}.json"
            if not (fit.is_file() and train.is_file()):
                continue
            levels = 512 if "l512" in variant else 64
            seed = json.loads(train.read_text())["train_config"]["seed"]
            frames = frames_of(game, task, levels)
            steps = json.loads(train.read_text())["steps"]
            accuracy = json.loads(fit.read_text())["tasks"][f"{game}/{task}"]["accuracy"]
            arm, sampled = f"policy-{name}", f"policy-{name}-t1"
            versus_base = "-" if levels == 64 else difference(sampled, f"policy-{base}{versus}-t1", game, task)
            print(
                f"| {game}/{task} | `{name}` | {seed} | {levels} | {frames if frames is not None else '-'} | {steps} | "
                f"{float(np.round(accuracy, 3))} | {difference(arm, 'random', game, task)} | "
                f"{difference(sampled, 'random', game, task)} | {versus_base} |"
            )


if __name__ == "__main__":
    main()
