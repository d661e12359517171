"""Encoder, action space or objective? Heads swapped one at a time on the Doom demonstrations (issue 15).

experiments/bc_classifier.py showed that a small CNN classifier over Doom's native actions, trained on the
scripted bot's demonstrations, plays DoomDefendCenter almost as well as the bot (11.4 kills against 11.85),
while nitrogen-s (flow matching over 16-step chunks of the 21-number gamepad vector) trained on the very same
episodes kills 1.7-2.7. Between the two, three things change at once: the picture encoder, the action space
(native index vs gamepad vector) and the objective (cross-entropy on one action vs flow matching on a chunk).
This script changes them one at a time, with the classifier's data, steps, batch and evaluation seeds:

- ``ngenc-native``: nitrogen-s's own picture encoder (``ConvEncoder`` of the policy config bc_classifier trains,
  mean-pooled tokens) under the classifier's per-game cross-entropy head over native actions. If it plays like
  the classifier, the encoder can see what matters, and the loss lies in the action space or the objective.
- ``ngenc-gamepad``: the same encoder predicting one gamepad vector (sticks by squared error, buttons and
  triggers by binary cross-entropy), played by thresholding the buttons at 0.5. Squared error regresses a
  stick whose labels are -1 or +1 to their mean, so this arm shows what a unimodal head over the gamepad
  vector loses.
- ``ngenc-bins``: the same encoder, each stick axis a categorical over :data:`STICK_BINS` values (cross-entropy),
  buttons and triggers by binary cross-entropy; played by the most likely bin and buttons at 0.5. If it plays
  like ``ngenc-native``, the gamepad action space is not what loses the picture; what remains is the flow
  objective over chunks.

Stages (each resumable; rerun the same command):

    python experiments/bc_heads.py train --arm ngenc-native
    python experiments/bc_heads.py eval --arm ngenc-native
    python experiments/bc_heads.py report --write      # a table in docs/results.md
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
    FAMILIES,
    FLOW_POLICY,
    N_ACTIONS,
    VALIDATION_EPISODES,
    ClassifierConfig,
    against_random,
    data_folder,
    load_episodes,
    native_labels,
    play_seeds,
    run_dir,
)
from bc_diagnosis import atomic_json

FAMILY = "doom"  # the family whose labels a classifier can learn (bc_classifier's finding)
DATA = "large"
LABELLER = "holds"


@dataclass(frozen=True)
class HeadArm:
    """One network on nitrogen-s's ConvEncoder: which action space it predicts."""

    target: str  # "native" (the game's action index), "gamepad" (the 21-number vector) or "bins" (sticks binned)
    description: str


ARMS = {
    "ngenc-native": HeadArm("native", "nitrogen-s encoder, cross-entropy over native actions"),
    "ngenc-gamepad": HeadArm("gamepad", "nitrogen-s encoder, one gamepad vector (MSE + BCE)"),
    "ngenc-bins": HeadArm("bins", "nitrogen-s encoder, gamepad vector with binned sticks (CE + BCE)"),
}
STICK_BINS = (-1.0, -0.5, 0.0, 0.5, 1.0)
"""The values a stick axis can take in the ``bins`` arm (the labels' -1, 0, +1 and the halves between)."""
PRESS_COLUMNS = slice(4, None)  # triggers and buttons: the flat vector after the four stick axes


def arm_dir(arm: str) -> Path:
    """Where one arm's model, metrics and evaluation live (beside bc_classifier's runs of the same data)."""
    return run_dir(FAMILY, DATA, LABELLER) / arm


def load_family() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per game: frames (N, 64, 64, 3), native labels (N,), flat gamepad actions (N, 21), held-out flags (N,)."""
    frames, natives, flats, held = [], [], [], []
    for game in FAMILIES[FAMILY].games:
        f, a, episode = load_episodes(data_folder(FAMILY, DATA, LABELLER, game))
        frames.append(f)
        flats.append(a)
        natives.append(native_labels(FAMILY, game, a))
        held.append(episode > episode.max() - VALIDATION_EPISODES)
    return frames, natives, flats, held


def build_arm(arm: str, n_games: int) -> Any:
    """The arm's network: ``forward(frames uint8 (B, 64, 64, 3), game (B,))`` -> logits or a gamepad vector."""
    import torch
    from torch import nn

    from nitrogen_envs import gamepad
    from nitrogen_policies.nitrogen.configuration_nitrogen import NitroGenConfig
    from nitrogen_policies.nitrogen.modeling_nitrogen import ConvEncoder

    spec = ARMS[arm]
    config = NitroGenConfig(**FLOW_POLICY)
    width = {"native": N_ACTIONS, "gamepad": gamepad.FLAT_SIZE, "bins": BINNED_WIDTH}[spec.target]

    class EncoderHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = ConvEncoder(config)
            self.heads = nn.Linear(config.d_model, width * n_games)

        def forward(self, frames: torch.Tensor, game: torch.Tensor) -> torch.Tensor:
            x = frames.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # nitrogen-s's input range
            pooled = self.encoder(x).mean(dim=1)
            return self.heads(pooled).view(len(frames), -1, width)[torch.arange(len(frames)), game]

    return EncoderHead()


N_STICK_AXES = 4
BINNED_WIDTH = N_STICK_AXES * len(STICK_BINS) + 17  # binned stick logits, then the 17 press logits


def gamepad_loss(output: Any, target: Any, kind: str) -> Any:
    """Sticks by squared error (``gamepad``) or cross-entropy over bins (``bins``); presses by BCE on logits."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    sticks = target[:, :N_STICK_AXES]
    if kind == "gamepad":
        stick_loss = F.mse_loss(output[:, :N_STICK_AXES], sticks)
        presses = output[:, N_STICK_AXES:]
    else:
        logits = output[:, : N_STICK_AXES * len(STICK_BINS)].reshape(-1, len(STICK_BINS))
        bins = torch.as_tensor(STICK_BINS)
        nearest = (sticks.reshape(-1, 1) - bins).abs().argmin(dim=1)
        stick_loss = F.cross_entropy(logits, nearest)
        presses = output[:, N_STICK_AXES * len(STICK_BINS) :]
    return stick_loss + F.binary_cross_entropy_with_logits(presses, target[:, PRESS_COLUMNS])


def to_flat(output: Any, kind: str) -> np.ndarray:
    """Gamepad-arm outputs -> flat actions: sticks clipped (or the likeliest bin), presses at p >= 0.5."""
    out = output.detach().numpy().astype(np.float32)
    flat = np.zeros((len(out), N_STICK_AXES + 17), dtype=np.float32)
    if kind == "gamepad":
        flat[:, :N_STICK_AXES] = np.clip(out[:, :N_STICK_AXES], -1.0, 1.0)
        presses = out[:, N_STICK_AXES:]
    else:
        logits = out[:, : N_STICK_AXES * len(STICK_BINS)].reshape(len(out), N_STICK_AXES, len(STICK_BINS))
        flat[:, :N_STICK_AXES] = np.asarray(STICK_BINS, dtype=np.float32)[logits.argmax(axis=2)]
        presses = out[:, N_STICK_AXES * len(STICK_BINS) :]
    flat[:, PRESS_COLUMNS] = (presses >= 0.0).astype(np.float32)  # logit 0 = probability 0.5
    return flat


def held_out_accuracy(arm: str, network: Any, frames: list, natives: list, held: list) -> dict[str, float]:
    """Per game, how often the arm's chosen native action equals the label on the held-out episodes."""
    import torch

    target = ARMS[arm].target
    accuracy = {}
    with torch.no_grad():
        for index, game in enumerate(FAMILIES[FAMILY].games):
            x = torch.from_numpy(frames[index][held[index]])
            g = torch.full((len(x),), index)
            out = torch.cat([network(xs, gs) for xs, gs in zip(x.split(512), g.split(512), strict=True)])
            if target == "native":
                predicted = out.argmax(1).numpy()
            else:
                predicted = native_labels(FAMILY, game, to_flat(out, target))
            accuracy[game] = round(float(np.mean(predicted == natives[index][held[index]])), 3)
    return accuracy


def train(arm: str, config: ClassifierConfig) -> None:
    """bc_classifier's training loop (same steps, batch, optimiser, shifts, held-out episodes) for one arm."""
    import torch
    from safetensors.torch import save_model

    out = arm_dir(arm)
    if (out / "metrics.json").is_file():
        return
    torch.manual_seed(config.seed)
    torch.set_num_threads(1)
    frames, natives, flats, held = load_family()
    games = FAMILIES[FAMILY].games
    x = torch.from_numpy(np.concatenate(frames))
    y_native = torch.from_numpy(np.concatenate(natives))
    y_flat = torch.from_numpy(np.concatenate(flats))
    g = torch.from_numpy(np.concatenate([np.full(len(f), k) for k, f in enumerate(frames)]))
    train_index = torch.nonzero(~torch.from_numpy(np.concatenate(held))).squeeze(1)
    network = build_arm(arm, len(games))
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    started = time.perf_counter()
    curve = []
    for step in range(1, config.steps + 1):
        batch = train_index[torch.randint(len(train_index), (config.batch_size,), generator=generator)]
        shift = torch.randint(-2, 3, (2,), generator=generator)
        frames_batch = torch.roll(x[batch], shifts=(int(shift[0]), int(shift[1])), dims=(1, 2))
        output = network(frames_batch, g[batch])
        if ARMS[arm].target == "native":
            loss = torch.nn.functional.cross_entropy(output, y_native[batch])
        else:
            loss = gamepad_loss(output, y_flat[batch], ARMS[arm].target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 500 == 0 or step == config.steps:
            network.eval()
            accuracy = held_out_accuracy(arm, network, frames, natives, held)
            network.train()
            curve.append({"step": step, "loss": float(loss.detach()), **accuracy})
            print(
                f"train {arm} step {step}: loss {float(loss.detach()):.3f} {accuracy} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    out.mkdir(parents=True, exist_ok=True)
    save_model(network, str(out / "model.safetensors"))
    atomic_json(
        out / "metrics.json",
        {
            "arm": asdict(ARMS[arm]),
            "config": asdict(config),
            "frames": {game: len(f) for game, f in zip(games, frames, strict=True)},
            "curve": curve,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


def evaluate(arm: str) -> None:
    """Play the arm on bc_classifier's evaluation seeds (argmax / thresholded buttons), one file per game."""
    import torch
    from safetensors.torch import load_model

    from nitrogen_envs import gamepad
    from nitrogen_envs.base import unwrap

    torch.set_num_threads(1)
    out = arm_dir(arm)
    games = FAMILIES[FAMILY].games
    network = build_arm(arm, len(games))
    load_model(network, str(out / "model.safetensors"))
    network.eval()
    for index, game in enumerate(games):
        path = out / "eval" / f"{game}.json"
        if path.is_file():
            continue

        def act_for(env: Any, seed: int, index: int = index) -> Any:
            base = unwrap(env)

            def act(obs: np.ndarray, info: dict[str, Any]) -> Any:
                with torch.no_grad():
                    output = network(torch.from_numpy(obs[None].copy()), torch.tensor([index]))
                if ARMS[arm].target == "native":
                    n_native = int(base.native_action_space().n)  # type: ignore[attr-defined]  # Discrete here
                    return base.native_to_gamepad(int(output[0][:n_native].argmax()))
                return gamepad.from_flat(to_flat(output, ARMS[arm].target)[0])

            return act

        rows = play_seeds(FAMILY, game, act_for)
        atomic_json(path, {"game": game, "mode": arm, "episodes": rows})
        print(f"eval {arm} {game} done", flush=True)


def report() -> str:
    """Markdown: the classifier, each swapped arm and nitrogen-s, held-out accuracy and play against random."""
    games = FAMILIES[FAMILY].games
    classifier = run_dir(FAMILY, DATA, LABELLER)
    lines = [
        "Same Doom demonstrations, steps (3000 of 64), optimiser, shifts, held-out episodes and evaluation seeds "
        "as the classifier above; cells: episode return, difference from random on the same seeds [paired 95% "
        "bootstrap CI]. Made by `python experiments/bc_heads.py train|eval --arm A && ... report --write`.",
        "",
        "| network | " + " | ".join(f"{g} held-out accuracy" for g in games) + " | " + " | ".join(games) + " |",
        "|---|" + "---|" * (2 * len(games)),
    ]

    def row(name: str, metrics_path: Path, eval_paths: list[Path]) -> None:
        if not metrics_path.is_file():
            return
        final = json.loads(metrics_path.read_text())["curve"][-1]
        cells = [against_random(FAMILY, g, p) for g, p in zip(games, eval_paths, strict=True)]
        lines.append(f"| {name} | " + " | ".join(f"{final[g]:.2f}" for g in games) + " | " + " | ".join(cells) + " |")

    row(
        "4-layer CNN, cross-entropy over native actions (bc_classifier)",
        classifier / "metrics.json",
        [classifier / "eval" / "argmax" / f"{g}.json" for g in games],
    )
    for arm, spec in ARMS.items():
        row(spec.description, arm_dir(arm) / "metrics.json", [arm_dir(arm) / "eval" / f"{g}.json" for g in games])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``train``, ``eval`` or ``report``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("train", "eval", "report"))
    parser.add_argument("--arm", choices=tuple(ARMS), default="ngenc-native")
    parser.add_argument("--write", action="store_true", help="report: into docs/results.md")
    args = parser.parse_args(argv)
    if args.stage == "train":
        train(args.arm, ClassifierConfig())
    elif args.stage == "eval":
        evaluate(args.arm)
    else:
        text = report()
        print(text)
        if args.write:
            from bc_diagnosis import write_report

            write_report(text, "<!-- bc-heads:begin -->", "<!-- bc-heads:end -->")
    return 0


if __name__ == "__main__":
    sys.exit(main())
