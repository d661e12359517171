"""Demonstrations dataset throughput: recording cost, reader samples/s, and reader memory as data grows.

Cases, each reported as the median over ``--rounds``:

* ``raw_steps_per_s`` vs ``record_steps_per_s``: the same random policy on the same seeds, playing the
  env alone and recording into a dataset (encode + parquet + atomic commit); ``record_ratio`` < 1 is the
  recording overhead (0.8 = 20% slower than playing).
* ``random_samples_per_s``: ``DemoDataset[i]`` at uniformly random ``i`` in one process (seek + decode).
* ``cached_samples_per_s``: the same reads with ``ReaderConfig(frame_cache=...)`` (frames and actions decoded
  once into files read with ``pread``, built before timing); ``cache_ratio`` is cached over decoded, measured in the same
  rounds; ``cache_build_s`` the one-off build; ``cached_rss_1x_mb`` / ``cached_rss_10x_mb`` the peak memory of a
  process reading through the cache, at 1x and 10x the data (the bytes sit in the OS page cache, not the process).
* ``loader_samples_per_s``: a shuffled ``DataLoader`` with ``--workers`` workers and ``--batch`` samples.
* ``rss_1x_mb`` / ``rss_10x_mb``: peak resident memory of a fresh process that opens the dataset and reads
  ``--rss-samples`` random samples, on the dataset and on a copy ten times as large (episodes hard-linked).
  ``rss_ratio`` near 1 means reader memory does not grow with the data.
* ``verify_default_sps`` vs ``verify_none_sps``: one epoch in one process, opening the dataset included:
  ``DemoDataset`` with its default verification (every file hashed: nothing remembered, the worst case)
  against ``verify="none"``, then every sample read once in shuffled order. ``verify_ratio`` near 1 means
  checking what is read costs little. ``verify_hash_s`` is that cold open, ``verify_warm_s`` a reopen of
  the unchanged dataset (nothing hashed), and ``verify_hash_share`` the cold open over the ``verify="none"``
  epoch: what hashing every file costs next to decoding every frame once. These are the best of
  ``--rounds`` (the difference is milliseconds, smaller than the noise of a shared machine).

Last line: ``dataset_throughput: key=value ...``.

Usage::

    python benchmarks/dataset_throughput.py [--game CoinRun] [--obs-size 64] [--episodes 8] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import nitrogen_envs  # noqa: F401
from nitrogen_datasets.format import episode_paths, load_info, save_info
from nitrogen_datasets.record import record_episodes
from nitrogen_datasets.writer import DatasetWriter, WriterConfig
from nitrogen_envs import gamepad


class RandomFlat:
    def reset(self, env, seed):
        self.rng = np.random.default_rng(seed)

    def act(self, obs, info):
        return np.concatenate(
            [self.rng.uniform(-1, 1, 4), self.rng.uniform(0, 1, 2), self.rng.integers(0, 2, 15)]
        ).astype(np.float32)


def play_only(env, episodes: int, steps: int) -> float:
    policy, count = RandomFlat(), 0
    start = time.perf_counter()
    for k in range(episodes):
        env.reset(seed=k)
        policy.reset(env, k)
        for t in range(steps):
            _, _, terminated, truncated, _ = env.step(gamepad.from_flat(policy.act(None, None)))
            count += 1
            if terminated or truncated or t + 1 >= steps:
                break
    return count / (time.perf_counter() - start)


def record(env, root: Path, episodes: int, steps: int) -> float:
    writer = DatasetWriter(root, WriterConfig(fps=env.metadata["render_fps"]))
    start = time.perf_counter()
    stats = record_episodes(
        env, RandomFlat(), episodes, writer, seed=0, source="random", max_steps=steps, progress=False
    )
    return stats.steps / (time.perf_counter() - start)


def replicate(source: Path, target: Path, times: int) -> None:
    """A dataset ``times`` as large, its episodes hard-linked to the source files (no re-encoding)."""
    info = load_info(source)
    out = type(info)(fps=info.fps, frame_height=info.frame_height, frame_width=info.frame_width)
    for copy in range(times):
        for episode in info.episodes:
            index = copy * info.total_episodes + episode.episode_index
            for src, dst in zip(episode_paths(episode.episode_index), episode_paths(index), strict=True):
                (target / dst).parent.mkdir(parents=True, exist_ok=True)
                os.link(source / src, target / dst)
            out = out.with_episode(type(episode)(**{**episode.__dict__, "episode_index": index}))
    save_info(target, out)


def random_access(root: Path, samples: int, seed: int = 0, frame_cache: str | None = None) -> float:
    from nitrogen_datasets.reader import DemoDataset, ReaderConfig

    data = DemoDataset(root, ReaderConfig(frame_cache=frame_cache))
    indices = np.random.default_rng(seed).integers(0, len(data), samples + 20)
    for i in indices[:20]:  # warm-up: open containers
        data[int(i)]
    start = time.perf_counter()
    for i in indices[20:]:
        data[int(i)]
    return samples / (time.perf_counter() - start)


def loader(root: Path, workers: int, batch: int, batches: int) -> float:
    import torch

    from nitrogen_datasets.reader import DemoDataset

    data = DemoDataset(root)
    sampler = torch.utils.data.RandomSampler(data, replacement=True, num_samples=batch * (batches + 2))
    it = iter(torch.utils.data.DataLoader(data, batch_size=batch, sampler=sampler, num_workers=workers))
    next(it), next(it)  # warm-up: worker start
    start = time.perf_counter()
    count = sum(len(b["frame"]) for b in it)
    return count / (time.perf_counter() - start)


def epoch(root: Path, verify: str, seed: int) -> tuple[float, float]:
    """(seconds to open the dataset cold, seconds to read every sample once in shuffled order)."""
    from nitrogen_datasets import verify as checks
    from nitrogen_datasets.reader import DemoDataset, ReaderConfig

    checks.forget_verified()
    (root / checks.VERIFIED_PATH).unlink(missing_ok=True)
    start = time.perf_counter()
    data = DemoDataset(root, ReaderConfig(verify=verify))
    opened = time.perf_counter()
    for i in np.random.default_rng(seed).permutation(len(data)):
        data[int(i)]
    return opened - start, time.perf_counter() - opened


def warm_open(root: Path) -> float:
    """Seconds to reopen a dataset whose files were all verified before (what every later run pays)."""
    from nitrogen_datasets import verify as checks
    from nitrogen_datasets.reader import DemoDataset

    DemoDataset(root)
    best = float("inf")
    for _ in range(5):  # best of 5: a 3 ms figure is at the mercy of any other process
        checks.forget_verified()  # as a new process: only meta/verified.json remembers
        start = time.perf_counter()
        DemoDataset(root)
        best = min(best, time.perf_counter() - start)
    return best


def age(root: Path, seconds: int = 3600) -> None:
    """Date the files back: ones written in the last 2 s are re-hashed on every open (see ``verify.RACY_NS``)."""
    old = time.time_ns() - seconds * 10**9
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(old, old))


def cache_build(root: Path, folder: Path) -> float:
    """Seconds to open ``root`` with a frame cache in the empty ``folder`` (every frame decoded once)."""
    from nitrogen_datasets.reader import DemoDataset, ReaderConfig

    start = time.perf_counter()
    DemoDataset(root, ReaderConfig(frame_cache=str(folder)))
    return time.perf_counter() - start


def rss_probe(root: str, samples: int, frame_cache: str | None) -> None:
    random_access(Path(root), samples, frame_cache=frame_cache)
    print(json.dumps({"maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_rss(root: Path, samples: int, frame_cache: Path | None = None) -> float:
    cache = ["--rss-cache", str(frame_cache)] if frame_cache is not None else []
    result = subprocess.run(
        [sys.executable, __file__, "--rss-probe", str(root), "--rss-samples", str(samples), *cache],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["maxrss_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--game", default="CoinRun")
    parser.add_argument("--obs-size", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=100, help="steps per episode (cap)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=500, help="random-access samples per round")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rss-samples", type=int, default=2000)
    parser.add_argument("--rss-probe", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rss-cache", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_probe:
        rss_probe(args.rss_probe, args.rss_samples, args.rss_cache)
        return

    env = gym.make(f"NitroGen/{args.game}-v0", obs_size=args.obs_size)
    raw, rec, rand, load, cached = [], [], [], [], []
    timings: dict[str, list[tuple[float, float]]] = {"checksum": [], "none": []}
    with tempfile.TemporaryDirectory() as tmp:
        play_only(env, 1, 10)  # warm-up: engine start, first level, lazy imports
        record(env, Path(tmp) / "warmup", 1, 10)
        for r in range(args.rounds):
            raw.append(play_only(env, args.episodes, args.steps))
            root = Path(tmp) / f"round{r}"
            rec.append(record(env, root, args.episodes, args.steps))
            print(f"round {r}: raw {raw[-1]:.0f} steps/s, record {rec[-1]:.0f} steps/s", flush=True)
        root = Path(tmp) / "round0"
        frames = load_info(root).total_frames
        cache = Path(tmp) / "frame-cache"
        build_s = cache_build(root, cache)
        for r in range(args.rounds):
            rand.append(random_access(root, args.samples, seed=r))
            cached.append(random_access(root, args.samples, seed=r, frame_cache=str(cache)))
            load.append(loader(root, args.workers, args.batch, args.batches))
            print(
                f"round {r}: random {rand[-1]:.0f} samples/s, cached {cached[-1]:.0f} samples/s, "
                f"loader {load[-1]:.0f} samples/s",
                flush=True,
            )
        age(root)
        for r in range(args.rounds):
            for mode in ("checksum", "none") if r % 2 == 0 else ("none", "checksum"):
                timings[mode].append(epoch(root, mode, seed=r))
            print(
                f"round {r}: epoch default {sum(timings['checksum'][-1]):.2f} s, none {sum(timings['none'][-1]):.2f} s",
                flush=True,
            )
        warm = warm_open(root)
        big = Path(tmp) / "x10"
        replicate(root, big, 10)
        rss_1x = peak_rss(root, args.rss_samples)
        rss_10x = peak_rss(big, args.rss_samples)
        cached_rss_1x = peak_rss(root, args.rss_samples, cache)
        cached_rss_10x = peak_rss(big, args.rss_samples, cache)
    env.close()
    raw_m, rec_m = statistics.median(raw), statistics.median(rec)
    # Best of the rounds, not the median: hashing costs milliseconds, less than other processes' noise.
    default_s = min(sum(t) for t in timings["checksum"])
    none_s = min(sum(t) for t in timings["none"])
    hash_s = min(t[0] for t in timings["checksum"])
    decode_s = min(t[1] for t in timings["none"])
    figures = {
        "game": args.game,
        "obs_size": args.obs_size,
        "frames_1x": frames,
        "raw_steps_per_s": f"{raw_m:.0f}",
        "record_steps_per_s": f"{rec_m:.0f}",
        "record_ratio": f"{rec_m / raw_m:.2f}",
        "random_samples_per_s": f"{statistics.median(rand):.0f}",
        "cached_samples_per_s": f"{statistics.median(cached):.0f}",
        "cache_ratio": f"{statistics.median(c / r for c, r in zip(cached, rand, strict=True)):.1f}",
        "cache_build_s": f"{build_s:.2f}",
        "cached_rss_1x_mb": f"{cached_rss_1x:.0f}",
        "cached_rss_10x_mb": f"{cached_rss_10x:.0f}",
        "loader_samples_per_s": f"{statistics.median(load):.0f}",
        "workers": args.workers,
        "rss_1x_mb": f"{rss_1x:.0f}",
        "rss_10x_mb": f"{rss_10x:.0f}",
        "rss_ratio": f"{rss_10x / rss_1x:.2f}",
        "verify_default_sps": f"{frames / default_s:.0f}",
        "verify_none_sps": f"{frames / none_s:.0f}",
        "verify_ratio": f"{none_s / default_s:.3f}",
        "verify_hash_s": f"{hash_s:.4f}",
        "verify_warm_s": f"{warm:.4f}",
        "verify_hash_share": f"{hash_s / decode_s:.4f}",
    }
    print("dataset_throughput: " + " ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
