"""Does behaviour cloning learn from planner labels that a picture can predict (issue 15, the BC gate)?

experiments/bc_diagnosis.py found that two independent plans of the shipped save-state planner from the
same state pick the same first action only 16-30% of the time (7% by chance): the winner of 16 random
sequences is close to a random label. ``PlannerConfig.hold_candidates`` adds one "hold this action"
candidate per native action ahead of the random ones, so that wherever nothing random does better the
planner holds a direction, as a person would (agreement 48-52% on StarPilot and FruitBot).

This script holds everything else fixed and changes only the labeller: the same games, episode seeds,
frame size, network, steps and evaluation seeds, with demonstrations from the planner with and without
hold candidates. Every stage is resumable (rerun the same command).

Usage (repository root, dev install; about an hour and a half on 2 shared cores)::

    python experiments/bc_labels.py collect --labeller planner   # and --labeller holds (in parallel)
    python experiments/bc_labels.py train --labeller planner
    python experiments/bc_labels.py eval --labeller planner
    python experiments/bc_labels.py report
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

GAMES = ("Chaser", "StarPilot")  # cloned play was below random on Chaser, level with it on StarPilot
LABELLERS = {"planner": False, "holds": True}  # labeller -> PlannerConfig.hold_candidates
TASK = "easy"
EPISODES = 20  # demonstration seeds 0..19 per game
MAX_STEPS = 300
OBS_SIZE = 64  # small frames: the network trains several times faster on 2 cores
POLICY = {"image_size": 64, "cnn_channels": [32, 64, 128, 256]}
TRAIN_STEPS = 600
LR = 1e-3  # few steps: a higher peak rate than the trainer's default 3e-4
BATCH = 32
EVAL_EPISODES = 20  # seeds 1000.., as in bc_diagnosis (random play there is reused)
OUT = Path("runs/bc_labels")


def demos(labeller: str, game: str) -> Path:
    """Dataset folder of one labeller's demonstrations of one game."""
    return OUT / "demos" / labeller / game


def collect(labeller: str) -> None:
    """Record the missing episodes of every game (seeds continue where the folder stops)."""
    import gymnasium as gym

    sys.path.insert(0, str(Path(__file__).parent))
    from bc_diagnosis import planner_expert

    from nitrogen_datasets.record import record_episodes
    from nitrogen_datasets.writer import DatasetWriter

    for game in GAMES:
        folder = demos(labeller, game)
        info = folder / "meta" / "info.json"
        from nitrogen_datasets.format import load_info

        have = len(load_info(folder).episodes) if info.is_file() else 0
        if have >= EPISODES:
            continue
        env = gym.make(f"NitroGen/{game}-v0", task=TASK, obs_size=OBS_SIZE)
        expert = planner_expert(game, holds=LABELLERS[labeller])
        started = time.perf_counter()
        try:
            with DatasetWriter(folder) as writer:
                stats = record_episodes(
                    env,
                    expert,
                    EPISODES - have,
                    writer,
                    seed=have,
                    source=f"planner:{labeller}",
                    max_steps=MAX_STEPS,
                    progress=False,
                )
        finally:
            env.close()
        print(f"collect {labeller} {game}: {stats.steps} frames in {time.perf_counter() - started:.0f} s", flush=True)


def train(labeller: str) -> None:
    """Train nitrogen-s (64 px) on both games' demonstrations; resumes from the last checkpoint."""
    train_nitrogen_s(
        OUT / "runs" / labeller, [demos(labeller, game) for game in GAMES], POLICY, TRAIN_STEPS, save_every=100
    )


def train_nitrogen_s(
    out: Path, folders: list[Path], policy: dict[str, Any], steps: int, save_every: int, lr: float = LR
) -> None:
    """nitrogen-s with ``policy`` overrides on ``folders``, on one CPU thread (runs train side by side on 2 cores).

    Skipped when ``out/final`` exists; otherwise resumes from the last checkpoint in ``out``.
    """
    import torch

    from nitrogen_policies.nitrogen.configuration_nitrogen import config_from_preset
    from nitrogen_policies.training.data import load_training_data
    from nitrogen_policies.training.trainer import TrainConfig
    from nitrogen_policies.training.trainer import train as run_training

    torch.set_num_threads(1)
    if (out / "final" / "model.safetensors").is_file():
        return
    config = TrainConfig(
        out=str(out),
        policy_overrides=dict(policy),
        steps=steps,
        batch_size=BATCH,
        lr=lr,
        warmup_steps=50,
        num_workers=1,
        save_every=save_every,
        device="cpu",
        progress=False,
    )
    dataset, sampler = load_training_data(folders, config_from_preset("nitrogen-s", **policy))
    started = time.perf_counter()
    run_training(config, dataset, sampler)
    print(f"train {out}: {time.perf_counter() - started:.0f} s", flush=True)


def evaluate(labeller: str) -> None:
    """Play the trained policy (sampled, and the medoid of 8 samples) on the evaluation seeds."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from bc_diagnosis import FIRST_SEED, Variant, atomic_json, play

    torch.set_num_threads(1)
    checkpoint = str(OUT / "runs" / labeller / "final")
    for noise in ("fresh", "medoid8"):
        variant = Variant(f"{labeller}-{noise}", "policy", obs_size=OBS_SIZE, noise=noise)
        for game in GAMES:
            path = OUT / "eval" / variant.name / f"{game}.json"
            if path.is_file():
                continue
            rows = [play(variant, game, FIRST_SEED + k, checkpoint) for k in range(EVAL_EPISODES)]
            atomic_json(path, {"variant": dataclasses.asdict(variant), "game": game, "episodes": rows})
            print(f"eval {variant.name} {game} done", flush=True)


def report() -> str:
    """Markdown: each trained variant against random play on the same seeds (paired bootstrap)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bc_diagnosis import OUT as DIAGNOSIS_OUT
    from bc_diagnosis import atomic_json, image_sensitivity, paired_difference

    def episodes(folder: Path, game: str) -> list[dict[str, Any]]:
        path = folder / f"{game}.json"
        return json.loads(path.read_text())["episodes"] if path.is_file() else []

    lines = [
        f"Demonstrations: {EPISODES} episodes per game (seeds 0-{EPISODES - 1}, `{TASK}`, {MAX_STEPS}-step cap, "
        f"{OBS_SIZE} px); nitrogen-s at {OBS_SIZE} px, {TRAIN_STEPS} steps of {BATCH} (peak lr {LR}); evaluation on seeds "
        f"1000-{1000 + EVAL_EPISODES - 1}, normalized score, difference from random play on the same seeds "
        "[paired 95% bootstrap CI]. Made by `python experiments/bc_labels.py collect|train|eval|report`.",
        "",
        "| labeller | inference | " + " | ".join(GAMES) + " |",
        "|---|---|" + "---|" * len(GAMES),
    ]
    for labeller in LABELLERS:
        for noise in ("fresh", "medoid8"):
            cells = []
            for game in GAMES:
                mine = episodes(OUT / "eval" / f"{labeller}-{noise}", game)
                base = episodes(DIAGNOSIS_OUT / "eval" / "random", game)
                if not mine or not base:
                    cells.append("-")
                    continue
                score, diff, low, high = paired_difference(mine, base)
                cells.append(f"{score.mean():.2f} ({diff.mean():+.2f} [{low:+.2f}, {high:+.2f}])")
            lines.append(f"| {labeller} | {noise} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "How much each trained policy's output depends on the picture (spread across 16 frames from the same "
        "noise / spread across 16 noises for one frame; the shipped policy reads 0.003-0.016):",
        "",
        "| labeller | " + " | ".join(GAMES) + " |",
        "|---|" + "---|" * len(GAMES),
    ]
    for labeller in LABELLERS:
        checkpoint = OUT / "runs" / labeller / "final"
        if not (checkpoint / "model.safetensors").is_file():
            continue
        cells = []
        for game in GAMES:
            path = OUT / "sensitivity" / labeller / f"{game}.json"
            if not path.is_file():
                atomic_json(path, image_sensitivity(str(checkpoint), game, OBS_SIZE))
            cells.append(f"{json.loads(path.read_text())['ratio']:.3f}")
        lines.append(f"| {labeller} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``collect``, ``train``, ``eval`` (each with ``--labeller``) or ``report``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("collect", "train", "eval", "report"))
    parser.add_argument("--labeller", choices=tuple(LABELLERS), default="planner")
    parser.add_argument("--write", action="store_true", help="with report: into docs/results.md")
    args = parser.parse_args(argv)
    if args.stage == "collect":
        collect(args.labeller)
    elif args.stage == "train":
        train(args.labeller)
    elif args.stage == "eval":
        evaluate(args.labeller)
    else:
        text = report()
        print(text)
        if args.write:
            sys.path.insert(0, str(Path(__file__).parent))
            from bc_diagnosis import write_report

            write_report(text, "<!-- bc-labels:begin -->", "<!-- bc-labels:end -->")
    return 0


if __name__ == "__main__":
    sys.exit(main())
