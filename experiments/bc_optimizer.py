"""Does nitrogen-s itself clone the Doom bot, and which training settings decide it (issue 15)?

experiments/bc_heads.py showed that nitrogen-s's encoder under a factorized discrete head (``ngenc-bins``)
clones the scripted Doom bot, with bc_classifier's plain loop: AdamW at lr 5e-4, PyTorch's betas, weight decay
1e-4, no gradient clipping. Trained through ``nitrogen_policies.training`` (lr 1e-3 as the bc experiments
set it, betas (0.9, 0.95), weight decay 0.01, clipping at 1), the whole nitrogen-s policy stayed at the
majority label for 1000 steps. This script trains the *whole policy* (``NitroGenPolicy``, its own
``forward`` loss) in one plain loop where the optimiser settings are flags, on bc_classifier's Doom
demonstrations with the same held-out episodes, and logs held-out label accuracy every 250 steps. Arms
differ in one thing at a time.

    python experiments/bc_optimizer.py --arm discrete-bc      # one arm: curve JSON + final weights
    python experiments/bc_optimizer.py play --arm discrete-bc # its final weights on seeds 1000-1019
    python experiments/bc_optimizer.py report [--write]       # the table in docs/results.md

Run from the repository root. Each arm writes ``runs/bc_optimizer/<arm>/curve.json`` after every
evaluation (a rerun continues from the last saved weights) and is copied to experiments/results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bc_classifier import (
    FLOW_POLICY,
    VALIDATION_EPISODES,
    against_random,
    data_folder,
    load_episodes,
    native_labels,
    play_seeds,
)
from bc_diagnosis import atomic_json

OUT = Path("runs/bc_optimizer")
RESULTS = Path(__file__).parent / "results" / "bc_optimizer"
GAMES = ("DoomDefendCenter", "DoomTakeCover")
BATCH = 32
EVAL_EVERY = 250


@dataclass(frozen=True)
class Arm:
    """One training setting: the policy's head and the optimiser's settings."""

    head: str
    lr: float
    beta2: float
    weight_decay: float
    clip: float  # 0 = no gradient clipping
    description: str
    steps: int = 1500


ARMS = {
    "discrete-trainer": Arm(
        "discrete", 1e-3, 0.95, 0.01, 1.0, "discrete head, the trainer's settings as the bc runs used them"
    ),
    "discrete-bc": Arm("discrete", 5e-4, 0.999, 1e-4, 0.0, "discrete head, bc_classifier's optimiser"),
    "discrete-lr5e-4": Arm("discrete", 5e-4, 0.95, 0.01, 1.0, "discrete head, the trainer's settings at lr 5e-4"),
    "flow-bc": Arm("flow", 5e-4, 0.999, 1e-4, 0.0, "flow head, bc_classifier's optimiser"),
}


def build_policy(arm: Arm) -> Any:
    """nitrogen-s at bc_classifier's 64 px with one action per frame (the heads' setting)."""
    from nitrogen_policies import NitroGenPolicy

    return NitroGenPolicy.from_config("nitrogen-s", **FLOW_POLICY, chunk_size=1, n_action_steps=1, action_head=arm.head)


def held_out_accuracy(policy: Any, data: dict[str, Any]) -> dict[str, float]:
    """Per game, how often the played action's native index equals the label on the held-out episodes."""
    import torch

    policy.eval()
    result = {}
    for game in GAMES:
        frames = data[game]["frames"][data[game]["held"]]
        generator = torch.Generator().manual_seed(0)  # the flow head samples: the same noise every evaluation
        played = np.concatenate(
            [
                policy.predict_action_chunk(frames[i : i + 256], game=game, generator=generator)[:, 0]
                for i in range(0, len(frames), 256)
            ]
        )
        labels = data[game]["natives"][data[game]["held"]]
        result[game] = round(float(np.mean(native_labels("doom", game, played) == labels)), 3)
    policy.train()
    return result


def train(name: str) -> None:
    """Train one arm, evaluating and saving every ``EVAL_EVERY`` steps; resumes from the last save."""
    import torch
    from safetensors.torch import load_model, save_model

    arm = ARMS[name]
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    curve_path = out / "curve.json"
    curve: list[dict[str, Any]] = json.loads(curve_path.read_text())["curve"] if curve_path.is_file() else []
    if curve and curve[-1]["step"] >= arm.steps:
        return
    torch.set_num_threads(1)
    torch.manual_seed(0)
    policy = build_policy(arm)
    data: dict[str, Any] = {}
    for game in GAMES:
        frames, actions, episode = load_episodes(data_folder("doom", "large", "holds", game))
        data[game] = {
            "frames": frames,
            "actions": actions,
            "held": episode > episode.max() - VALIDATION_EPISODES,
            "natives": native_labels("doom", game, actions),
            "game_id": policy.config.game_id(game),
        }
    x = torch.from_numpy(np.concatenate([data[g]["frames"] for g in GAMES]))
    y = torch.from_numpy(np.concatenate([data[g]["actions"] for g in GAMES]))
    ids = torch.from_numpy(np.concatenate([np.full(len(data[g]["frames"]), data[g]["game_id"]) for g in GAMES]))
    train_index = torch.from_numpy(np.flatnonzero(~np.concatenate([data[g]["held"] for g in GAMES])))
    optimizer = torch.optim.AdamW(policy.parameters(), lr=arm.lr, betas=(0.9, arm.beta2), weight_decay=arm.weight_decay)
    start = 0
    if curve and (out / "model.safetensors").is_file():  # resume: weights and the batch stream, not Adam's moments
        load_model(policy, str(out / "model.safetensors"))
        start = curve[-1]["step"]
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for step in range(1, arm.steps + 1):
        batch = train_index[torch.randint(len(train_index), (BATCH,), generator=generator)]
        if step <= start:
            continue
        loss, _ = policy({"frames": x[batch], "actions": y[batch][:, None], "game_id": ids[batch]})
        optimizer.zero_grad()
        loss.backward()
        if arm.clip:
            torch.nn.utils.clip_grad_norm_(policy.parameters(), arm.clip)
        optimizer.step()
        if step % EVAL_EVERY == 0:
            accuracy = held_out_accuracy(policy, data)
            curve.append({"step": step, "loss": round(float(loss.detach()), 4), **accuracy})
            save_model(policy, str(out / "model.safetensors"))
            atomic_json(curve_path, {"arm": asdict(arm), "batch": BATCH, "curve": curve})
            print(f"{name} step {step}: {accuracy} ({time.perf_counter() - started:.0f} s)", flush=True)


def eval_folder(temperature: float) -> str:
    """Where a play run's episodes go: ``eval`` for the likeliest action, ``eval-t<T>`` when sampling."""
    return "eval" if temperature == 0 else f"eval-t{temperature:g}"


def play(name: str, temperature: float = 0.0) -> None:
    """Play an arm's final weights on bc_classifier's evaluation seeds.

    The likeliest action every frame, or (discrete head) one drawn at ``temperature``.
    """
    import torch
    from safetensors.torch import load_model

    from nitrogen_envs import gamepad

    torch.set_num_threads(1)
    out = OUT / name
    policy = build_policy(ARMS[name])
    load_model(policy, str(out / "model.safetensors"))
    policy.eval()
    policy.config.temperature = temperature
    for game in GAMES:
        path = out / eval_folder(temperature) / f"{game}.json"
        if path.is_file():
            continue

        def act_for(env: Any, seed: int, game: str = game) -> Any:
            generator = torch.Generator().manual_seed(seed)
            return lambda obs, info: gamepad.from_flat(
                policy.predict_action_chunk(obs, game=game, generator=generator)[0]
            )

        rows = play_seeds("doom", game, act_for)
        atomic_json(path, {"game": game, "mode": name, "episodes": rows})
        print(f"play {name} {game} done", flush=True)


def majority(game: str) -> float:
    """Share of the held-out labels that the most frequent one takes (answering it always)."""
    _, actions, episode = load_episodes(data_folder("doom", "large", "holds", game))
    labels = native_labels("doom", game, actions)[episode > episode.max() - VALIDATION_EPISODES]
    return float(np.bincount(labels).max() / len(labels))


def report() -> str:
    """Markdown: held-out accuracy of each arm at each evaluation."""
    base = ", ".join(f"{g} {majority(g):.2f}" for g in GAMES)
    lines = [
        f"Held-out label accuracy (last {VALIDATION_EPISODES} episodes of each game; always answering the majority "
        f"label: {base}); nitrogen-s at 64 px, one action per frame, steps of {BATCH}; cells: "
        + " / ".join(GAMES)
        + ". Made by "
        "`python experiments/bc_optimizer.py --arm A && ... play --arm A && ... report --write`. Play: the "
        "likeliest action every frame (flow: one sample), 20 episodes on seeds 1000-1019, episode return, "
        "difference from random on the same seeds [paired 95% bootstrap CI].",
        "",
        "| arm | what | "
        + " | ".join(f"step {s}" for s in range(EVAL_EVERY, 1501, EVAL_EVERY))
        + " | "
        + " | ".join(f"{g} play" for g in GAMES)
        + " |",
        "|---|---|" + "---|" * (len(range(EVAL_EVERY, 1501, EVAL_EVERY)) + len(GAMES)),
    ]
    for name, arm in ARMS.items():
        path = RESULTS / name / "curve.json"
        if not path.is_file():
            path = OUT / name / "curve.json"
        if not path.is_file():
            continue
        by_step = {row["step"]: row for row in json.loads(path.read_text())["curve"]}
        cells = [
            " / ".join(f"{by_step[s][g]:.2f}" for g in GAMES) if s in by_step else "-"
            for s in range(EVAL_EVERY, 1501, EVAL_EVERY)
        ]
        folder = path.parent
        plays = [against_random("doom", g, folder / "eval" / f"{g}.json") for g in GAMES]
        lines.append(f"| `{name}` | {arm.description} | " + " | ".join(cells + plays) + " |")
        for sampled in sorted(folder.glob("eval-t*")):
            plays = [against_random("doom", g, sampled / f"{g}.json") for g in GAMES]
            blank = ["-"] * len(cells)
            label = f"the same weights, sampled at temperature {sampled.name[len('eval-t') :]}"
            lines.append(f"| `{name}` | {label} | " + " | ".join(blank + plays) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--arm A`` trains one arm; ``report [--write]`` prints (and writes) the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", nargs="?", choices=("train", "play", "report"), default="train")
    parser.add_argument("--arm", choices=tuple(ARMS), default="discrete-bc")
    parser.add_argument("--write", action="store_true", help="report: into docs/results.md")
    parser.add_argument("--temperature", type=float, default=0.0, help="play: sample the discrete head at T")
    args = parser.parse_args(argv)
    if args.stage == "train":
        train(args.arm)
        return 0
    if args.stage == "play":
        play(args.arm, args.temperature)
        return 0
    text = report()
    print(text)
    if args.write:
        from bc_diagnosis import write_report

        write_report(text, "<!-- bc-optimizer:begin -->", "<!-- bc-optimizer:end -->")
    return 0


if __name__ == "__main__":
    sys.exit(main())
