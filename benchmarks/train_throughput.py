"""Training throughput of nitrogen-s on real demonstrations: the training step before and after issue #19.

Records a small CoinRun dataset with random play (256x256 frames, H.264), then:

1. Times the optimisation step (forward, flow-matching loss, backward, clipping, AdamW) of the old and the
   new settings in alternation, on the same batches from the real loader, on ``--threads`` CPU threads:
   ``old`` is PyTorch's per-tensor AdamW (the trainer's optimizer before issue #19); ``new`` is the
   trainer's :func:`make_optimizer` (fused AdamW), plus ``torch.compile`` with ``--compile`` (its
   compilation time is printed apart). Same model, same loss, same batches.
2. Trains nitrogen-s with :func:`train` and the real DataLoader (random-access decoding in worker
   processes), ``--train-rounds`` times each way in alternation: ``old`` starts the loader's workers after
   the model is built (the trainer before issue #19; emulated by handing ``train`` a sampler it does not
   know, which it starts late, as it must for a sampler that may draw from the global RNG), ``new`` starts
   them first. Reports samples/s and the share of step time spent waiting for the next batch: over all
   steps, and over the steps after the first (``steady``: the first fetch also waits for worker start-up).

Last line: ``train_throughput: old_samples_per_s=... new_samples_per_s=... ratio=... train_samples_per_s=...
old_data_wait_fraction=... data_wait_fraction=... steady_data_wait_fraction=... compile_s=... peak_rss_mb=...``
(the ``data_wait`` figures are medians over the rounds, of the ``new`` trainer unless named ``old``).

Usage::

    python benchmarks/train_throughput.py [--steps 20] [--rounds 10] [--train-rounds 3] [--batch-size 16]
        [--workers 2] [--compile]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Sized
from pathlib import Path
from typing import cast

import gymnasium as gym
import torch
from torch.utils.data import DataLoader

import nitrogen_envs  # noqa: F401
from nitrogen_datasets.record import record_episodes
from nitrogen_datasets.writer import DatasetWriter, WriterConfig
from nitrogen_envs.base import unwrap
from nitrogen_policies.nitrogen import NitroGenPolicy, config_from_preset
from nitrogen_policies.training import TrainConfig, train
from nitrogen_policies.training.data import load_training_data
from nitrogen_policies.training.sampling import ResumableRandomSampler
from nitrogen_policies.training.trainer import ADAMW_BETAS, make_optimizer, optimization_step


def record(folder: Path, episodes: int, steps: int, obs_size: int) -> None:
    env = gym.make("NitroGen/CoinRun-v0", obs_size=obs_size)
    base = unwrap(env)
    space = base.native_action_space()
    space.seed(0)
    with DatasetWriter(folder, WriterConfig(fps=15)) as writer:
        record_episodes(
            env, lambda obs, info: base.native_to_gamepad(space.sample()), episodes, writer,
            max_steps=steps, source="random", progress=False,
        )  # fmt: skip
    env.close()


def old_optimizer(policy: NitroGenPolicy, config: TrainConfig) -> torch.optim.Optimizer:
    """The trainer's optimizer before issue #19: the same groups, PyTorch's per-tensor (for-loop) AdamW on CPU."""
    decay = [p for p in policy.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in policy.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=ADAMW_BETAS, foreach=False)


class LateStartSampler(torch.utils.data.Sampler[int]):
    """The trainer's own shuffling behind a type it does not know: ``train`` then starts the loader after the
    model is built, as every run did before issue #19. Same indices, so both ways train on the same batches."""

    def __init__(self, size: int, seed: int) -> None:
        self.inner = ResumableRandomSampler(size, seed=seed)

    def __iter__(self):
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)


def compare_train(dataset, config: TrainConfig, rounds: int) -> dict[str, list]:
    """``train()`` with the loader started late (old) and early (new), ``rounds`` times each in alternation."""
    results: dict[str, list] = {"old": [], "new": []}
    for index in range(rounds):
        for name in ("old", "new") if index % 2 == 0 else ("new", "old"):
            run = dataclasses.replace(config, out=f"{config.out}-{name}-{index}")
            sampler = LateStartSampler(len(dataset), config.seed) if name == "old" else None
            results[name].append(train(run, dataset, sampler))
    return results


def compare_steps(dataset, config: TrainConfig, rounds: int, use_compile: bool) -> tuple[dict[str, float], float]:
    """Median seconds per optimisation step of the old and new settings, timed in alternation; and the
    seconds the new setting's first step took (with ``use_compile``, the compilation)."""
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    batches = [batch for batch, _ in zip(loader, range(4), strict=False)]
    variants: dict[str, tuple[torch.nn.Module, torch.optim.Optimizer, list[float]]] = {}
    first_step = 0.0
    for name in ("old", "new"):
        torch.manual_seed(config.seed)
        policy = NitroGenPolicy.from_config(config.policy).train()
        optimizer = old_optimizer(policy, config) if name == "old" else make_optimizer(policy, config)
        model = cast(torch.nn.Module, torch.compile(policy)) if name == "new" and use_compile else policy
        start = time.perf_counter()
        optimization_step(model, optimizer, batches[0], config.grad_clip)  # warm-up (and compilation)
        first_step = time.perf_counter() - start
        print(f"  {name}: first step {first_step:.1f} s" + (" (compiles)" if model is not policy else ""))
        variants[name] = (model, optimizer, [])
    for index in range(rounds):
        order = ("old", "new") if index % 2 == 0 else ("new", "old")
        for name in order:
            model, optimizer, times = variants[name]
            start = time.perf_counter()
            optimization_step(model, optimizer, batches[index % len(batches)], config.grad_clip)
            times.append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, (_, _, times) in variants.items()}, first_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps of the full training run")
    parser.add_argument("--rounds", type=int, default=10, help="timed steps per setting in the comparison")
    parser.add_argument("--train-rounds", type=int, default=3, help="train() runs per loader start-up order")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--episode-steps", type=int, default=200)
    parser.add_argument("--obs-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also torch.compile the new step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demos"
        record(data, args.episodes, args.episode_steps, args.obs_size)
        dataset, _ = load_training_data([data], config_from_preset("nitrogen-s"))
        config = TrainConfig(
            out=str(Path(tmp) / "run"), steps=args.steps, batch_size=args.batch_size, num_workers=args.workers,
            warmup_steps=5, save_every=10**9, log_every=10**9, progress=False, compile=args.compile,
        )  # fmt: skip
        print(
            f"nitrogen-s on {len(cast(Sized, dataset))} samples of {args.obs_size}px CoinRun, batch {args.batch_size}"
        )
        step, first_step = compare_steps(dataset, config, args.rounds, args.compile)
        old, new = args.batch_size / step["old"], args.batch_size / step["new"]
        print(f"  step: old {old:.1f} samples/s, new {new:.1f} samples/s, ratio {old and new / old:.2f}")
        runs = compare_train(dataset, dataclasses.replace(config, compile=False), args.train_rounds)
    figures = {
        name: {
            key: statistics.median(getattr(result, key) for result in results)
            for key in ("samples_per_second", "data_wait_fraction", "steady_data_wait_fraction")
        }
        for name, results in runs.items()
    }
    for name, figure in figures.items():
        print(
            f"  train() {name} (median of {args.train_rounds}): {figure['samples_per_second']:.1f} samples/s with "
            f"{args.workers} loader workers, data wait {100 * figure['data_wait_fraction']:.1f}% of step time "
            f"({100 * figure['steady_data_wait_fraction']:.1f}% after the first step)"
        )
    rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    new_train = figures["new"]
    print(
        f"train_throughput: old_samples_per_s={old:.1f} new_samples_per_s={new:.1f} ratio={new / old:.2f} "
        f"train_samples_per_s={new_train['samples_per_second']:.1f} "
        f"old_data_wait_fraction={figures['old']['data_wait_fraction']:.3f} "
        f"data_wait_fraction={new_train['data_wait_fraction']:.3f} "
        f"steady_data_wait_fraction={new_train['steady_data_wait_fraction']:.3f} "
        f"compile={args.compile} compile_s={first_step if args.compile else 0.0:.0f} batch={args.batch_size} "
        f"workers={args.workers} load_avg={os.getloadavg()[0]:.1f} peak_rss_mb={rss:.0f}"
    )


if __name__ == "__main__":
    main()
