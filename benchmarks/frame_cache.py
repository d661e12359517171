"""Random training samples from a real dataset folder: decoded from its mp4s vs read from the frame cache.

``benchmarks/dataset_throughput.py`` measures the cache on a small dataset it records itself, whose 8 episodes
all stay open in the reader; a trainer's data is thousands of episodes, where each decoded sample also reopens a
container and reads a parquet table. This takes any dataset folder (``--data``), builds its cache in a temporary
folder (``cache_build_s``: one front-to-back decode), checks that ``--check`` random samples equal the decoded ones,
then alternates the two readers over the same random indices for ``--rounds`` rounds and prints the CPU time per
sample of each (process time, so other jobs on the machine do not count) and their ratio.

Last line: ``frame_cache: key=value ...``.

Usage::

    python benchmarks/frame_cache.py --data runs/bc_gate/procgen-frame/demos-l512/Heist-easy
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

from nitrogen_datasets.reader import DemoDataset, ReaderConfig


def cpu_per_sample(data: DemoDataset, indices: np.ndarray) -> float:
    """Milliseconds of this process's CPU per sample over ``indices``."""
    start = time.process_time()
    for index in indices:
        data[int(index)]
    return (time.process_time() - start) * 1000 / len(indices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a demonstrations dataset folder")
    parser.add_argument("--samples", type=int, default=1000, help="random samples per reader per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check", type=int, default=300, help="random samples compared between the readers")
    args = parser.parse_args()
    decoded = DemoDataset(args.data, ReaderConfig(action_chunk=16))
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        cached = DemoDataset(args.data, ReaderConfig(action_chunk=16, frame_cache=folder))
        build_s = time.perf_counter() - started
        rng = np.random.default_rng(0)
        for index in rng.integers(0, len(decoded), args.check):
            a, b = decoded[int(index)], cached[int(index)]
            if not all(torch.equal(a[key], b[key]) for key in a):
                raise SystemExit(f"Error: sample {index} differs between the readers")
        plain, fast = [], []
        for _ in range(args.rounds):
            indices = rng.integers(0, len(decoded), args.samples)
            plain.append(cpu_per_sample(decoded, indices))
            fast.append(cpu_per_sample(cached, indices))
            print(f"decoded {plain[-1]:.3f} ms/sample, cached {fast[-1]:.3f} ms/sample", flush=True)
    figures = {
        "frames": len(decoded),
        "episodes": len(decoded.episodes),
        "cache_build_s": f"{build_s:.1f}",
        "checked": args.check,
        "decoded_ms": f"{statistics.median(plain):.3f}",
        "cached_ms": f"{statistics.median(fast):.3f}",
        "ratio": f"{statistics.median(p / f for p, f in zip(plain, fast, strict=True)):.0f}",
    }
    print("frame_cache: " + " ".join(f"{key}={value}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
