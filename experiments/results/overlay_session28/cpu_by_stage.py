"""How many cores an extraction keeps busy in each of its stages, by sampling the process's CPU time every 2 ms.

The stages are :attr:`ExtractResult.seconds` (``locate``, ``first_frames``, ``setup``, ``parse``) and the parquet
write after them; a stage's figure is the process CPU seconds over the wall seconds between its first and last
sample (2.0 = both cores of the 2-core machine). Session 28 read the parse's 1.3 cores with it (docs/overlay.md).

Usage::

    python experiments/results/overlay_session28/cpu_by_stage.py VIDEO LAYOUT [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from nitrogen_datasets.overlay.extract import extract

STAGES = ("locate", "first_frames", "setup", "parse")


def sampled_extraction(video: Path, layout: Path, out: Path) -> str:
    """One extraction with a sampling thread beside it: its wall time and each stage's busy cores, as a line."""
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), time.process_time()))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, name="cpu-sampler")
    start = time.perf_counter()
    sampler.start()
    try:
        result = extract(video, layout, out)
    finally:
        stop.set()
        sampler.join()
    wall = time.perf_counter() - start
    edges = [0.0]
    for stage in STAGES:
        edges.append(edges[-1] + result.seconds[stage])
    edges.append(wall)
    parts = []
    for name, low, high in zip((*STAGES, "write"), edges[:-1], edges[1:], strict=True):
        inside = [(w - start, c) for w, c in samples if low <= w - start <= high]
        if len(inside) > 1:
            cores = (inside[-1][1] - inside[0][1]) / max(1e-9, inside[-1][0] - inside[0][0])
            parts.append(f"{name} {high - low:.3f} s, {cores:.2f} cores")
    return f"wall {wall:.3f} s | " + " | ".join(parts)


def main() -> None:
    """A warm-up extraction, then one line per run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("layout", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "actions.parquet"
        extract(args.video, args.layout, out)  # imports and torch's warm-up
        for _ in range(args.runs):
            print(sampled_extraction(args.video, args.layout, out), flush=True)


if __name__ == "__main__":
    main()
