"""Procgen labels a picture can predict: clone the frame expert, which sees only the current frame (issue 15).

docs/results.md sections 5 and 7: a classifier does not read the planner's labels (or the reactive
planner's) from pictures of unseen levels, because those labels depend on the emulator's state, the
enemies' next random moves and the plan. The frame expert (``nitrogen_datasets.experts.frame_procgen``)
decides from the current frame alone, so its label is a function of the picture by construction. This
script measures both halves of what cloning needs, on Procgen ``easy`` with the 400-step cap of section 7:

1. does the frame expert play well? (seeds 1000-1019, against random play on the same seeds)
2. does a classifier read its labels from pictures of levels it did not train on? (section 5's CNN and
   settings, trained on the demonstrations of seeds 0-15, held-out accuracy on seeds 16-19 against
   always answering the majority label)
3. does the clone play above random? (the same evaluation seeds, argmax and sampled)

Stages (each resumable; rerun the same command)::

    python experiments/bc_frame_expert.py collect --episodes 20   # demonstrations, seeds 0-19
    python experiments/bc_frame_expert.py play                    # expert and random, seeds 1000-1019
    python experiments/bc_frame_expert.py agreement               # labels given again from the stored frames
    python experiments/bc_frame_expert.py train --steps 1000      # one classifier per game
    python experiments/bc_frame_expert.py eval                    # the clones on seeds 1000-1019, argmax and sampled
    python experiments/bc_frame_expert.py report --write          # section 10 of docs/results.md

The expert reads 128 px observations (its parser's size); the demonstrations are recorded at 128 px and the
classifier reads them at section 5's 64 px, as it plays.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bc_classifier import (
    EVAL_EPISODES,
    N_ACTIONS,
    PLAY_MODES,
    VALIDATION_EPISODES,
    ClassifierConfig,
    build_network,
    episodes_in,
    held_out_accuracy,
    load_frames,
    native_labels,
    paired_cell,
)
from bc_diagnosis import FIRST_SEED, MAX_STEPS, atomic_json, episode_record, play_out
from bc_labels import OBS_SIZE

from nitrogen_datasets.experts.frame_procgen import PARSE_SIZE, PARSERS

OUT = Path("runs/bc_frame_expert")
TASK = "easy"
GAMES = tuple(PARSERS)
BEGIN, END = "<!-- bc-frame-expert:begin -->", "<!-- bc-frame-expert:end -->"
EVAL_EVERY = 250  # training steps between held-out accuracy measurements


def make_env(game: str, obs_size: int) -> Any:
    """The game on the ``easy`` task at ``obs_size`` pixels."""
    import gymnasium as gym

    return gym.make(f"NitroGen/{game}-v0", obs_size=obs_size, task=TASK)


def demo_folder(game: str) -> Path:
    """The frame expert's demonstrations of ``game``."""
    return OUT / "demos" / game


def collect(game: str, episodes: int) -> None:
    """Record the expert's episodes on seeds 0 on (400-step cap), one per call: a kill loses at most one."""
    from nitrogen_datasets.experts.frame_procgen import FrameExpert
    from nitrogen_datasets.format import load_info
    from nitrogen_datasets.record import record_episodes
    from nitrogen_datasets.writer import DatasetWriter

    folder = demo_folder(game)
    info = folder / "meta" / "info.json"
    have = len(load_info(folder).episodes) if info.is_file() else 0
    env = make_env(game, PARSE_SIZE)
    started = time.perf_counter()
    try:
        with DatasetWriter(folder) as writer:
            for seed in range(have, episodes):
                record_episodes(
                    env, FrameExpert(), 1, writer, seed=seed, source="frame", max_steps=MAX_STEPS, progress=False
                )
                print(f"collect {game} seed {seed} ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        env.close()


def play_episode(game: str, seed: int, who: str, network: Any = None) -> dict[str, Any]:
    """One episode on ``seed``: the frame expert (128 px), random native actions, or a clone (64 px)."""
    import torch

    from nitrogen_datasets.experts.frame_procgen import FrameExpert
    from nitrogen_envs.base import unwrap

    env = make_env(game, PARSE_SIZE if who == "expert" else OBS_SIZE)
    base = unwrap(env)
    space = base.native_action_space()
    space.seed(seed)
    generator = torch.Generator().manual_seed(seed)

    def clone(obs: np.ndarray, info: dict[str, Any]) -> Any:
        with torch.no_grad():
            logits = network(torch.from_numpy(obs[None].copy()), torch.tensor([0]))[0][: int(space.n)]
        if who == "argmax":
            return base.native_to_gamepad(int(logits.argmax()))
        return base.native_to_gamepad(int(torch.multinomial(torch.softmax(logits, 0), 1, generator=generator)))

    started = time.perf_counter()
    try:
        obs, info = env.reset(seed=seed)
        act = clone
        if who == "random":
            act = lambda o, i: base.native_to_gamepad(space.sample())  # noqa: E731
        elif who == "expert":
            expert = FrameExpert()
            expert.reset(env, seed)
            act = expert.act
        info, steps = play_out(env, obs, info, act)
    finally:
        env.close()
    return episode_record(seed, info, steps, started)


def play_path(who: str, game: str) -> Path:
    """Episodes of one player (``expert``, ``random``, or a clone's ``argmax``/``sample``) on the evaluation seeds."""
    return OUT / "play" / who / f"{game}.json"


def play_all(game: str, who: str, network: Any = None) -> None:
    """Every evaluation seed not yet played by ``who`` (the file is rewritten after each episode)."""
    path = play_path(who, game)
    rows = episodes_in(path)
    for k in range(len(rows), EVAL_EPISODES):
        rows.append(play_episode(game, FIRST_SEED + k, who, network))
        atomic_json(path, {"game": game, "mode": who, "episodes": rows})
        print(f"play {who} {game} seed {FIRST_SEED + k}: {rows[-1]}", flush=True)


def run_dir(game: str) -> Path:
    """One game's classifier and its metrics."""
    return OUT / "runs" / game


def train(game: str, config: ClassifierConfig) -> None:
    """Section 5's classifier (one game, one head) on all but the last episodes; held-out accuracy every EVAL_EVERY steps."""
    import torch
    from safetensors.torch import save_model

    out = run_dir(game)
    if (out / "metrics.json").is_file():
        return
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    torch.set_num_threads(1)
    frames, labels, episode = load_frames("procgen", demo_folder(game), game)
    held_np = episode > episode.max() - VALIDATION_EPISODES
    x, y = torch.from_numpy(frames), torch.from_numpy(labels)
    g, held = torch.zeros(len(y), dtype=torch.long), torch.from_numpy(held_np)
    network = build_network(n_actions=N_ACTIONS, n_games=1)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    train_index = torch.nonzero(~held).squeeze(1)
    generator = torch.Generator().manual_seed(config.seed)
    majority_label = int(np.bincount(labels[~held_np], minlength=N_ACTIONS).argmax())
    summary = {
        "config": asdict(config),
        "frames": len(labels),
        "held_out_frames": int(held_np.sum()),
        "majority_label": majority_label,
        "majority_accuracy": float(np.mean(labels[held_np] == majority_label)),
        "label_counts": np.bincount(labels, minlength=N_ACTIONS).tolist(),
    }
    started = time.perf_counter()
    curve: list[dict[str, Any]] = []
    for step in range(1, config.steps + 1):
        batch = train_index[torch.randint(len(train_index), (config.batch_size,), generator=generator)]
        shift = torch.randint(-2, 3, (2,), generator=generator)  # as section 5: small shifts
        frames_batch = torch.roll(x[batch], shifts=(int(shift[0]), int(shift[1])), dims=(1, 2))
        loss = torch.nn.functional.cross_entropy(network(frames_batch, g[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % EVAL_EVERY == 0 or step == config.steps:
            accuracy = held_out_accuracy(network, x, y, g, held, (game,))
            train_accuracy = held_out_accuracy(network, x, y, g, ~held, (game,))[game]
            curve.append({"step": step, "loss": float(loss.detach()), **accuracy, "train": train_accuracy})
            atomic_json(out / "progress.json", {**summary, "curve": curve})  # what report reads if this is killed
            print(f"train {game} step {step}: loss {float(loss.detach()):.3f} {accuracy} train {train_accuracy}")
    out.mkdir(parents=True, exist_ok=True)
    save_model(network, str(out / "model.safetensors"))
    atomic_json(out / "metrics.json", {**summary, "curve": curve, "seconds": round(time.perf_counter() - started, 1)})


def agreement(game: str) -> None:
    """Share of recorded steps whose label the rule gives again from the stored (video-decoded) 128 px frame.

    The expert's label is a function of the exact picture; the recording's video codec changes pixels, so this
    says how much of that function survives in the data a clone learns from.
    """
    from nitrogen_datasets.experts.frame_procgen import frame_action
    from nitrogen_datasets.imitation_bridge import episode_arrays
    from nitrogen_datasets.reader import DemoDataset

    path = OUT / "agreement" / f"{game}.json"
    if path.is_file():
        return
    dataset = DemoDataset(demo_folder(game))
    same = total = 0
    for position in range(len(dataset.episodes)):
        obs, actions, _, _ = episode_arrays(dataset, position, PARSE_SIZE)
        labels = native_labels("procgen", game, np.asarray(actions, dtype=np.float32))
        same += sum(frame_action(game, frame) == label for frame, label in zip(obs[:-1], labels, strict=True))
        total += len(labels)
    atomic_json(path, {"game": game, "steps": total, "same": int(same), "share": same / total})
    print(f"agreement {game}: {same}/{total}", flush=True)


def evaluate(game: str, modes: tuple[str, ...] = PLAY_MODES) -> None:
    """Play the trained clone of ``game`` on the evaluation seeds (argmax, sampled, or both)."""
    import torch
    from safetensors.torch import load_model

    torch.set_num_threads(1)
    network = build_network(n_actions=N_ACTIONS, n_games=1)
    load_model(network, str(run_dir(game) / "model.safetensors"))
    network.eval()
    for mode in modes:
        play_all(game, mode, network)


def training_record(game: str) -> dict[str, Any] | None:
    """The finished run's metrics, else the last progress of an unfinished one (``done`` says which)."""
    for name, done in (("metrics.json", True), ("progress.json", False)):
        path = run_dir(game) / name
        if path.is_file():
            return {**json.loads(path.read_text()), "done": done}
    return None


def report() -> str:
    """Markdown: the expert's play, the clone's held-out accuracy and the clone's play, all against random."""
    config = ClassifierConfig()
    lines = [
        f"Procgen `{TASK}`, {MAX_STEPS}-step cap. Play: seeds {FIRST_SEED}-{FIRST_SEED + EVAL_EPISODES - 1} (no "
        "demonstration came from them), normalized score (difference from random play on the same seeds [paired "
        "95% bootstrap CI]), episodes. Classifier: section 5's CNN at 64 px, one game per network, batches of "
        f"{config.batch_size} (AdamW, lr {config.lr}, the step each cell names), trained on the expert's "
        f"demonstrations of seeds 0 on but the last {VALIDATION_EPISODES}; held-out accuracy on those "
        f"{VALIDATION_EPISODES} levels (always answering the majority training label in brackets; accuracy on "
        "the training levels after the slash). Rule on stored frames: share of the recorded steps whose label the "
        "expert's rule gives again from the frame as stored (video-decoded, 128 px). Made by `python experiments/bc_frame_expert.py "
        "collect --episodes 20 && ... play && ... agreement && ... train --steps 1000 && ... eval && ... report "
        "--write`.",
        "",
        "| game | frame expert | random | rule on stored frames | held-out accuracy (majority) / training "
        "| clone, argmax | clone, sampled |",
        "|---|---|---|---|---|---|---|",
    ]
    for game in GAMES:
        base = episodes_in(play_path("random", game))
        expert = paired_cell(episodes_in(play_path("expert", game)), base)
        random_mean = f"{np.mean([e['normalized'] for e in base]):.2f}" if base else "-"
        accuracy = "-"
        metrics = training_record(game)
        if metrics is not None and metrics["curve"]:
            final = metrics["curve"][-1]
            accuracy = (
                f"{final[game]:.2f} ({metrics['majority_accuracy']:.2f}) / {final['train']:.2f}, "
                f"{metrics['frames']} frames, step {final['step']}" + ("" if metrics["done"] else " (stopped there)")
            )
        clones = [paired_cell(episodes_in(play_path(mode, game)), base) for mode in PLAY_MODES]
        same_path = OUT / "agreement" / f"{game}.json"
        same = "-"
        if same_path.is_file():
            record = json.loads(same_path.read_text())
            same = f"{record['share']:.2f} of {record['steps']} steps"
        lines.append(f"| {game} | {expert} | {random_mean} | {same} | {accuracy} | " + " | ".join(clones) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``collect``, ``play``, ``agreement``, ``train``, ``eval`` or ``report``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("collect", "play", "agreement", "train", "eval", "report"))
    parser.add_argument("--games", nargs="*", choices=GAMES, default=list(GAMES))
    parser.add_argument("--episodes", type=int, default=20, help="collect: demonstrations per game")
    parser.add_argument("--modes", nargs="*", choices=PLAY_MODES, default=list(PLAY_MODES), help="eval: how to play")
    parser.add_argument("--steps", type=int, default=ClassifierConfig().steps, help="train: steps of 64")
    parser.add_argument("--write", action="store_true", help="report: into docs/results.md")
    args = parser.parse_args(argv)
    for game in args.games if args.stage != "report" else ():
        if args.stage == "collect":
            collect(game, args.episodes)
        elif args.stage == "play":
            play_all(game, "expert")
            play_all(game, "random")
        elif args.stage == "agreement":
            agreement(game)
        elif args.stage == "train":
            train(game, ClassifierConfig(steps=args.steps))
        else:
            evaluate(game, tuple(args.modes))
    if args.stage == "report":
        text = report()
        print(text)
        if args.write:
            from bc_diagnosis import write_report

            write_report(text, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
