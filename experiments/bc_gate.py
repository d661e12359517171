"""The gate of issue 15 on the Doom pretraining tasks: does one nitrogen-s cloned by the product trainer beat random?

Section 8 of docs/results.md showed nitrogen-s with the discrete head (``action_head="discrete"``) at lr 5e-4
cloning the scripted Doom bot on DefendCenter in a private loop. This script runs the gate the issue asks for
through the *product* path instead: ``nitrogen collect``'s machinery records the bot on every ViZDoom task of
the split's pretraining games (unseen-v1: every Doom game but DefendLine and HealthGathering), ``nitrogen
train``'s :func:`~nitrogen_policies.training.train_on_folders` trains ONE multi-game nitrogen-s on all of them,
and each task is played on evaluation seeds the demonstrations never used, beside random play and the bot
itself on the same seeds.

    python experiments/bc_gate.py collect          # the bot's demonstrations, seeds 0.. (resumable)
    python experiments/bc_gate.py train            # one nitrogen-s on all of them (resumes its checkpoints)
    python experiments/bc_gate.py play --arm random   # random, expert, policy on seeds 1000-1019
    python experiments/bc_gate.py fit              # the final weights on their own training frames
    python experiments/bc_gate.py report [--write] # section 9 of docs/results.md

The train stage is the same run as::

    nitrogen train --out runs/bc_gate/train --data runs/bc_gate/demos/* --steps 1500 --batch-size 32
        --lr 5e-4 --workers 1 --save-every 250 --device cpu --set image_size=64
        --set cnn_channels=[32,64,128,256] --set chunk_size=1 --set n_action_steps=1 --set action_head=discrete

(one command line).

Run from the repository root. Demonstrations and weights go to ``runs/bc_gate`` (not committed); per-episode
results to ``experiments/results/bc_gate``. Every stage skips what is already on disk, so a killed run resumes
by running the same command again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bc_classifier import EVAL_EPISODES, play_seeds, with_score
from bc_diagnosis import FIRST_SEED, MAX_STEPS, atomic_json, episode_record, paired_difference, write_report

OUT = Path("runs/bc_gate")
RESULTS = Path(__file__).parent / "results" / "bc_gate"
BEGIN, END = "<!-- bc-gate:begin -->", "<!-- bc-gate:end -->"
ENGINE = "vizdoom"
ARMS = ("random", "expert", "policy")
GATE_SHARE = 0.8  # issue 15: beat random on at least 80% of the pretraining games' tasks
TARGET_SHARE = 0.5  # issue 15: at least 50% of the expert's normalized score on average


@dataclass(frozen=True)
class GateConfig:
    """The run's settings; the train stage writes them beside the weights so the table can quote them."""

    split: str = "unseen-v1"
    episodes: int = 30  # demonstrations per task, seeds 0..episodes-1 (evaluation uses FIRST_SEED on)
    demo_max_steps: int = 300  # the bc experiments' demonstration cap
    obs_size: int = 64  # section 8's frame size
    steps: int = 1500
    batch_size: int = 32
    lr: float = 5e-4  # section 8: lr 1e-3 stalls even the discrete head; the trainer's default is 3e-4
    save_every: int = 250
    policy: dict[str, Any] = field(
        default_factory=lambda: {
            "image_size": 64,
            "cnn_channels": [32, 64, 128, 256],
            "chunk_size": 1,
            "n_action_steps": 1,
            "action_head": "discrete",
        }
    )


CONFIG = GateConfig()


def doom_tasks(split: str = CONFIG.split) -> list[tuple[str, str]]:
    """(game, task) of every ViZDoom task among the split's pretraining games, in registry order."""
    from nitrogen_envs.registry import get_game
    from nitrogen_envs.splits import load_split

    games = [get_game(name) for name in load_split(split).pretrain]
    return [(game.name, task.name) for game in games if game.engine == ENGINE for task in game.tasks]


def gate_size(split: str = CONFIG.split) -> int:
    """How many tasks the pretraining games have in all (every engine): the gate's denominator."""
    from nitrogen_envs.registry import get_game
    from nitrogen_envs.splits import load_split

    return sum(len(get_game(name).tasks) for name in load_split(split).pretrain)


def demo_folder(game: str, task: str) -> Path:
    """One task's demonstrations."""
    return OUT / "demos" / f"{game}-{task}"


def collect_demos(workers: int) -> None:
    """The scripted bot on every task, seeds 0..episodes-1 (``nitrogen collect``'s resumable machinery)."""
    from nitrogen_datasets.collect import CollectConfig, collect

    for game, task in doom_tasks():
        config = CollectConfig(
            game=game,
            task=task,
            episodes=CONFIG.episodes,
            expert="scripted",
            seed=0,
            obs_size=CONFIG.obs_size,
            max_steps=CONFIG.demo_max_steps,
            workers=workers,
        )
        stats = collect(config, demo_folder(game, task), progress=False)
        print(f"collect {game}/{task}: {stats.collected} new episodes, {stats.frames} frames", flush=True)
    atomic_json(RESULTS / "demos.json", demo_summary())


def demo_summary() -> dict[str, Any]:
    """Per task: episodes, frames, seeds and the bot's mean return in its own demonstrations."""
    from nitrogen_datasets.format import load_info

    rows = {}
    for game, task in doom_tasks():
        info = load_info(demo_folder(game, task))
        seeds = sorted(int(e.seed) for e in info.episodes if e.seed is not None)
        overlap = sorted(set(seeds) & set(range(FIRST_SEED, FIRST_SEED + EVAL_EPISODES)))
        if overlap:
            raise RuntimeError(f"{game}/{task}: demonstration seeds {overlap} are evaluation seeds")
        rows[f"{game}/{task}"] = {
            "episodes": len(info.episodes),
            "frames": int(sum(e.length for e in info.episodes)),
            "seeds": [seeds[0], seeds[-1]] if seeds else [],
        }
    return {"config": asdict(CONFIG), "tasks": rows}


def train_policy(threads: int) -> None:
    """ONE nitrogen-s on every task's demonstrations through the product trainer (resumes its checkpoints)."""
    import torch

    from nitrogen_envs.splits import check_pretraining_data
    from nitrogen_policies.training import DataConfig, TrainConfig, train_on_folders

    out = OUT / "train"
    if (out / "final" / "model.safetensors").is_file():
        return
    folders: list[str | Path] = [demo_folder(game, task) for game, task in doom_tasks()]
    check_pretraining_data(folders, CONFIG.split)
    torch.set_num_threads(threads)
    config = TrainConfig(
        out=str(out),
        policy_overrides=dict(CONFIG.policy),
        steps=CONFIG.steps,
        batch_size=CONFIG.batch_size,
        lr=CONFIG.lr,
        num_workers=1,
        save_every=CONFIG.save_every,
        device="cpu",
    )
    started = time.perf_counter()
    result = train_on_folders(config, DataConfig(folders=tuple(folders)))
    summary = {
        "train_config": asdict(config),
        "steps": result.steps,
        "final_loss": result.final_loss,
        "samples_per_second": result.samples_per_second,
        "data_wait_fraction": result.data_wait_fraction,
        "seconds_this_run": round(time.perf_counter() - started, 1),
    }
    atomic_json(RESULTS / "train.json", summary)
    print(f"train: {summary}", flush=True)


def play_path(arm: str, game: str, task: str) -> Path:
    """One arm's per-episode results on one task."""
    return RESULTS / "play" / arm / f"{game}-{task}.json"


def make_act_for(arm: str, game: str) -> Any:
    """``act_for(env, seed)`` for :func:`bc_classifier.play_seeds`: uniform native actions or the bot."""
    from nitrogen_envs.base import unwrap

    if arm == "random":

        def random_act(env: Any, seed: int) -> Any:
            base = unwrap(env)
            space = base.native_action_space()
            space.seed(seed)
            return lambda obs, info: base.native_to_gamepad(space.sample())

        return random_act
    from nitrogen_datasets.experts.registry import make_expert

    def expert_act(env: Any, seed: int) -> Any:
        expert = make_expert("scripted", game)
        # the bot restarts the engine with object info on and replays reset(seed); play_seeds resets again
        expert.reset(env, seed)
        return expert.act

    return expert_act


def play_policy(policy: Any, game: str) -> list[dict[str, Any]]:
    """The policy on every evaluation seed at once: one forward over the frames of all running episodes.

    The same episodes as :func:`bc_classifier.play_seeds` (same envs, seeds, cap; the likeliest action is
    deterministic), in a fraction of the time: a forward over 20 frames costs about 3 times one frame's on a CPU
    core, and the network, not ViZDoom, is what a step costs. ``seconds`` is the whole batch's time.
    """
    from bc_classifier import make_env

    from nitrogen_envs import gamepad

    seeds = [FIRST_SEED + k for k in range(EVAL_EPISODES)]
    envs = [make_env("doom", game) for _ in seeds]
    rows: dict[int, dict[str, Any]] = {}
    started = time.perf_counter()
    try:
        observations, infos = zip(*(env.reset(seed=seed) for env, seed in zip(envs, seeds, strict=True)), strict=True)
        obs, info = list(observations), list(infos)
        steps = [0] * len(seeds)
        running = list(range(len(seeds)))
        while running:
            actions = policy.predict_action_chunk(np.stack([obs[i] for i in running]), game=game)[:, 0]
            for i, action in zip(list(running), actions, strict=True):
                obs[i], _, terminated, truncated, info[i] = envs[i].step(gamepad.from_flat(action))
                steps[i] += 1
                if terminated or truncated or steps[i] >= MAX_STEPS:
                    rows[i] = episode_record(seeds[i], info[i], steps[i], started)
                    running.remove(i)
    finally:
        for env in envs:
            env.close()
    return [rows[i] for i in range(len(seeds))]


def play(arm: str, games: list[str] | None = None) -> None:
    """``arm`` on every task's (or ``games``') evaluation seeds (``FIRST_SEED`` on), one result file per task.

    Processes given disjoint ``games`` play side by side.
    """
    import torch

    unknown = sorted(set(games or ()) - {game for game, _ in doom_tasks()})
    if unknown:
        raise SystemExit(
            f"Error: {unknown} are not Doom pretraining games; choose from {sorted(set(dict(doom_tasks())))}"
        )
    torch.set_num_threads(1)
    for game, task in doom_tasks():
        if games and game not in games:
            continue
        path = play_path(arm, game, task)
        if path.is_file():
            continue
        started = time.perf_counter()
        if arm == "policy":
            rows = play_policy(load_policy(), game)
        else:
            rows = play_seeds_task(game, task, make_act_for(arm, game))
        atomic_json(path, {"game": game, "task": task, "arm": arm, "max_steps": MAX_STEPS, "episodes": rows})
        print(f"play {arm} {game}/{task}: {time.perf_counter() - started:.0f} s", flush=True)


def load_policy() -> Any:
    """The trained policy's final weights, in inference mode (temperature 0: its config's default)."""
    from nitrogen_policies import NitroGenPolicy

    return NitroGenPolicy.from_pretrained(str(OUT / "train" / "final")).eval()


def play_seeds_task(game: str, task: str, act_for: Any) -> list[dict[str, Any]]:
    """bc_classifier's per-seed loop on the ``doom`` family (64 px frames, the game's default task)."""
    from nitrogen_envs.registry import get_game

    if get_game(game).tasks[0].name != task:
        raise RuntimeError(f"{game}/{task}: play_seeds plays the default task only")
    return play_seeds("doom", game, act_for)


FIT_FRAMES = 600  # demonstration frames per task the fit stage reads back (the first ones, all of DoomBasic's)


def fit() -> None:
    """How well the final weights reproduce the bot's labels on its own demonstration frames, per task.

    The likeliest action's native index against the label: accuracy and how often each native action is
    labelled and predicted. Low accuracy on frames it trained on is underfitting, not a failure to generalise.
    """
    import torch
    from bc_classifier import load_episodes, native_labels

    torch.set_num_threads(1)
    policy = load_policy()
    rows = {}
    for game, task in doom_tasks():
        frames, actions, _ = load_episodes(demo_folder(game, task))
        frames, actions = frames[:FIT_FRAMES], actions[:FIT_FRAMES]
        played = np.concatenate(
            [policy.predict_action_chunk(frames[i : i + 200], game=game)[:, 0] for i in range(0, len(frames), 200)]
        )
        labels, predicted = native_labels("doom", game, actions), native_labels("doom", game, played)
        size = int(max(labels.max(), predicted.max())) + 1
        rows[f"{game}/{task}"] = {
            "frames": len(labels),
            "accuracy": round(float(np.mean(labels == predicted)), 3),
            "labelled": np.bincount(labels, minlength=size).tolist(),
            "predicted": np.bincount(predicted, minlength=size).tolist(),
        }
        print(f"fit {game}/{task}: {rows[f'{game}/{task}']}", flush=True)
    atomic_json(RESULTS / "fit.json", {"frames_per_task": FIT_FRAMES, "tasks": rows})


def fit_table() -> list[str]:
    """Section 9's second table: the fit stage's label reproduction, or nothing before it ran."""
    path = RESULTS / "fit.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    lines = [
        "",
        f"The final weights on their own training frames (the first {data['frames_per_task']} demonstration frames of "
        "each task; `... fit`): the likeliest action's native index against the bot's label, and how often each "
        "native action (0 = nothing, then the game's actions in its table's order) is labelled and predicted.",
        "",
        "| task | frames | accuracy | labelled | predicted |",
        "|---|---|---|---|---|",
    ]
    for name, row in data["tasks"].items():
        lines.append(
            f"| {name} | {row['frames']} | {row['accuracy']:.2f} | {' / '.join(map(str, row['labelled']))} | "
            f"{' / '.join(map(str, row['predicted']))} |"
        )
    return lines


@dataclass(frozen=True)
class TaskResult:
    """One task's three arms on the same seeds."""

    game: str
    task: str
    expert: float
    random: float
    policy: float
    diff: float
    low: float
    high: float
    share: float  # (policy - random) / (expert - random): the expert's normalized score the policy reaches
    successes: dict[str, int]


def task_result(game: str, task: str) -> TaskResult | None:
    """The paired comparison on one task, or ``None`` until all three arms have played it."""
    runs = {}
    for arm in ARMS:
        path = play_path(arm, game, task)
        if not path.is_file():
            return None
        runs[arm] = with_score(json.loads(path.read_text())["episodes"])
    score, diff, low, high = paired_difference(runs["policy"], runs["random"])
    means = {arm: float(np.mean([e["normalized"] for e in rows])) for arm, rows in runs.items()}
    span = means["expert"] - means["random"]
    return TaskResult(
        game=game,
        task=task,
        expert=means["expert"],
        random=means["random"],
        policy=float(score.mean()),
        diff=float(diff.mean()),
        low=low,
        high=high,
        share=(means["policy"] - means["random"]) / span if span else float("nan"),
        successes={arm: sum(bool(e["success"]) for e in rows) for arm, rows in runs.items()},
    )


def report() -> str:
    """Section 9's table and its summary line (how much of the 41-task gate the Doom tasks cover)."""
    from nitrogen_policies.training.trainer import ADAMW_BETAS

    demos = json.loads((RESULTS / "demos.json").read_text()) if (RESULTS / "demos.json").is_file() else {"tasks": {}}
    trained = json.loads((RESULTS / "train.json").read_text()) if (RESULTS / "train.json").is_file() else None
    tasks = doom_tasks()
    total = gate_size()
    frames = sum(row["frames"] for row in demos["tasks"].values())
    budget = (
        f"{trained['steps']} steps of {trained['train_config']['batch_size']} (lr {trained['train_config']['lr']:g}, "
        f"cosine with {trained['train_config']['warmup_steps']} warm-up steps, AdamW betas {ADAMW_BETAS}, weight decay "
        f"{trained['train_config']['weight_decay']:g}, clipping at {trained['train_config']['grad_clip']:g}; final "
        f"loss {trained['final_loss']:.3f}; {trained['samples_per_second']:.0f} samples/s on 1 thread of the shared "
        f"2 cores, data wait {trained['data_wait_fraction']:.0%})"
        if trained
        else "not trained yet"
    )
    lines = [
        f"ONE nitrogen-s (`action_head=discrete`, {CONFIG.obs_size} px, one action per frame) trained by "
        f"`nitrogen_policies.training.train_on_folders` (what `nitrogen train` runs) on the scripted bot's "
        f"demonstrations of all {len(tasks)} ViZDoom tasks of {CONFIG.split}'s pretraining games: "
        f"{CONFIG.episodes} episodes per task on seeds 0-{CONFIG.episodes - 1} ({CONFIG.demo_max_steps}-step cap), "
        f"{frames} frames in all; {budget}. Play: {EVAL_EPISODES} episodes per task on seeds {FIRST_SEED}-"
        f"{FIRST_SEED + EVAL_EPISODES - 1} ({MAX_STEPS}-step cap), the likeliest action every frame (temperature 0); "
        "random (uniform native actions) and the bot on the same seeds. Cells: mean episode return (successes of 20); "
        "difference from random [paired 95% bootstrap CI]; share = (policy - random) / (expert - random). Made by "
        "`python experiments/bc_gate.py collect && ... train && ... play --arm random && ... play --arm expert && "
        "... play --arm policy && ... report --write`.",
        "",
        "| task | demo frames | expert (bot) | random | nitrogen-s | nitrogen-s - random | share of expert |",
        "|---|---|---|---|---|---|---|",
    ]
    results = []
    for game, task in tasks:
        row = demos["tasks"].get(f"{game}/{task}", {})
        result = task_result(game, task)
        if result is None:
            lines.append(f"| {game}/{task} | {row.get('frames', '-')} | - | - | - | - | - |")
            continue
        results.append(result)
        s = result.successes
        lines.append(
            f"| {game}/{task} | {row.get('frames', '-')} | {result.expert:.2f} ({s['expert']}) | "
            f"{result.random:.2f} ({s['random']}) | {result.policy:.2f} ({s['policy']}) | "
            f"{result.diff:+.2f} [{result.low:+.2f}, {result.high:+.2f}] | {result.share:.2f} |"
        )
    if results:
        wins = [r for r in results if r.low > 0]
        shares = [r.share for r in results if np.isfinite(r.share)]
        need = int(np.ceil(GATE_SHARE * total))
        lines += [
            "",
            f"Beats random with the CI above 0 on **{len(wins)} of the {len(results)} Doom pretraining tasks** "
            f"({', '.join(f'{r.game}/{r.task}' for r in wins) or 'none'}): {len(wins)} of the gate's {total} tasks "
            f"({len(wins) / total:.0%}; the gate needs {need}, {GATE_SHARE:.0%}). Mean share of the expert's score "
            f"over these tasks: {np.mean(shares):.2f} (target {TARGET_SHARE:.2f}).",
        ]
    return "\n".join(lines + fit_table())


def main(argv: list[str] | None = None) -> int:
    """Command line: one stage per call (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("collect", "train", "play", "fit", "report"))
    parser.add_argument("--arm", choices=ARMS, default="policy", help="play: who plays")
    parser.add_argument("--games", nargs="*", help="play: only these games (processes side by side)")
    parser.add_argument("--workers", type=int, default=1, help="collect: worker processes")
    parser.add_argument("--threads", type=int, default=1, help="train: torch threads")
    parser.add_argument("--write", action="store_true", help="report: into docs/results.md section 9")
    args = parser.parse_args(argv)
    if args.stage == "collect":
        collect_demos(args.workers)
    elif args.stage == "train":
        train_policy(args.threads)
    elif args.stage == "play":
        play(args.arm, args.games)
    elif args.stage == "fit":
        fit()
    else:
        text = report()
        print(text)
        if args.write:
            write_report(text, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
