"""Dataset metadata cost as a collection grows: appending an episode to a dataset of 10 vs of 1000 episodes.

Appending an episode encodes its video, writes its parquet and lists it in the metadata. Encoding and the
parquet cost the same at any dataset size; the listing must too, or a long collection slows down as it
goes (quadratic in episodes overall). This script builds two datasets of tiny synthetic episodes with
``DatasetWriter`` (a few 16x16 frames each, so the metadata is a large share of an append), one of
``--small`` and one of ``--large`` episodes, then appends ``--appends`` more episodes to each, alternating
between the two so that both see the same machine load. It reports the median time of one append on each
(``small_ms``, ``large_ms``), their ratio (``ratio`` near 1: the cost does not grow with the dataset), the
time to build the large dataset (``build_s``), the size of ``meta/`` after it, and the peak RSS.

Last line: ``dataset_metadata: key=value ...``.

Usage::

    python benchmarks/dataset_metadata.py [--small 10] [--large 1000] [--appends 30] [--frames 2]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nitrogen_datasets.writer import DatasetWriter, WriterConfig
from nitrogen_envs import gamepad

SIZE = 16
"""Frame side in pixels: the smallest that keeps the encoder's fixed cost low and the frame valid H.264."""


def synthetic_episode(rng: np.random.Generator, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames, 16, 16, 3) uint8 noise and as many no-op actions: content does not matter here."""
    pixels = rng.integers(0, 256, (frames, SIZE, SIZE, 3), dtype=np.uint8)
    actions = np.broadcast_to(gamepad.noop_flat(), (frames, gamepad.FLAT_SIZE)).copy()
    return pixels, actions


def append(writer: DatasetWriter, rng: np.random.Generator, frames: int) -> float:
    """Seconds to append one synthetic episode (encode, parquet, commit)."""
    pixels, actions = synthetic_episode(rng, frames)
    start = time.perf_counter()
    writer.add_episode(pixels, actions, game="CoinRun", task="hard", source="benchmark")
    return time.perf_counter() - start


def meta_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in (root / "meta").iterdir() if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10, help="episodes in the small dataset before timing")
    parser.add_argument("--large", type=int, default=1000, help="episodes in the large dataset before timing")
    parser.add_argument("--appends", type=int, default=30, help="timed appends to each dataset (alternating)")
    parser.add_argument("--frames", type=int, default=2, help="frames per synthetic episode")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    config = WriterConfig(fps=15)
    with tempfile.TemporaryDirectory(prefix="nitrogen-metadata-") as tmp:
        roots = {"small": Path(tmp) / "small", "large": Path(tmp) / "large"}
        with DatasetWriter(roots["small"], config) as small, DatasetWriter(roots["large"], config) as large:
            for _ in range(args.small):
                append(small, rng, args.frames)
            start = time.perf_counter()
            for built in range(args.large):
                append(large, rng, args.frames)
                if (built + 1) % 200 == 0:
                    print(f"built {built + 1}/{args.large} episodes", file=sys.stderr, flush=True)
            build_s = time.perf_counter() - start
            times: dict[str, list[float]] = {"small": [], "large": []}
            for _ in range(args.appends):
                times["small"].append(append(small, rng, args.frames))
                times["large"].append(append(large, rng, args.frames))
        small_ms = 1e3 * statistics.median(times["small"])
        large_ms = 1e3 * statistics.median(times["large"])
        meta_kb = meta_bytes(roots["large"]) / 1e3
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"append to a dataset of {args.small} episodes: {small_ms:.1f} ms (median of {args.appends})")
    print(f"append to a dataset of {args.large} episodes: {large_ms:.1f} ms (median of {args.appends})")
    print(
        f"dataset_metadata: small={args.small} large={args.large} small_ms={small_ms:.2f} large_ms={large_ms:.2f} "
        f"ratio={large_ms / small_ms:.2f} build_s={build_s:.1f} meta_kb={meta_kb:.0f} peak_rss_mb={rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
