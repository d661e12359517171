"""Training throughput of nitrogen-s on real demonstrations: samples/s and the share of time spent waiting on data.

Records a small CoinRun dataset with random play (256x256 frames, H.264), then trains nitrogen-s on it
with the real DataLoader (random access decoding in worker processes) and reports the fraction of step
time spent waiting for the next batch (target <= 10%). Last line:
``train_throughput: samples_per_s=... data_wait_fraction=... ``.

Usage::

    python benchmarks/train_throughput.py [--steps 40] [--batch-size 16] [--workers 2] [--episodes 4]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import gymnasium as gym
import torch

import nitrogen_envs  # noqa: F401
from nitrogen_datasets.record import record_episodes
from nitrogen_datasets.writer import DatasetWriter, WriterConfig
from nitrogen_policies.nitrogen import config_from_preset
from nitrogen_policies.training import TrainConfig, train
from nitrogen_policies.training.data import load_training_data


def record(folder: Path, episodes: int, steps: int, obs_size: int) -> None:
    env = gym.make("NitroGen/CoinRun-v0", obs_size=obs_size)
    space = env.unwrapped.native_action_space()
    space.seed(0)
    with DatasetWriter(folder, WriterConfig(fps=15)) as writer:
        record_episodes(
            env, lambda obs, info: env.unwrapped.native_to_gamepad(space.sample()), episodes, writer,
            max_steps=steps, source="random", progress=False,
        )  # fmt: skip
    env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps timed")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--episode-steps", type=int, default=200)
    parser.add_argument("--obs-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demos"
        record(data, args.episodes, args.episode_steps, args.obs_size)
        policy_config = config_from_preset("nitrogen-s")
        dataset, _ = load_training_data([data], policy_config)
        config = TrainConfig(
            out=str(Path(tmp) / "run"), steps=args.steps, batch_size=args.batch_size, num_workers=args.workers,
            warmup_steps=5, save_every=10**9, log_every=10**9, progress=False,
        )  # fmt: skip
        result = train(config, dataset)
    print(
        f"nitrogen-s on {len(dataset)} samples of {args.obs_size}px CoinRun, batch {args.batch_size}, {args.workers} workers"
    )
    print(f"  {result.samples_per_second:.1f} samples/s, data wait {100 * result.data_wait_fraction:.1f}% of step time")
    print(
        f"train_throughput: samples_per_s={result.samples_per_second:.1f} "
        f"data_wait_fraction={result.data_wait_fraction:.3f} batch={args.batch_size} workers={args.workers}"
    )


if __name__ == "__main__":
    main()
