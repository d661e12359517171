"""Two warm processes, one per tree, taking turns extracting the same clip: medians and a paired interval.

"before" runs with ``PYTHONPATH`` at another checkout (``--before``, e.g. a ``git worktree`` of the commit
before), "after" with this one. Each process extracts the clip twice to warm up, then once per turn; the
order alternates every round, and the paired difference (after - before) gets a 95% bootstrap interval of its
median. Session 28's figure (docs/overlay.md): ``--rounds 30`` on the throughput benchmark's 10-second 720p clip.

Usage::

    python experiments/results/overlay_session28/warm_ab.py VIDEO LAYOUT --before /tmp/base [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def worker(video: Path, layout: Path) -> None:
    """Extract once per line read on stdin; print wall and process CPU seconds."""
    from nitrogen_datasets.overlay.extract import extract

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "actions.parquet"
        extract(video, layout, out)
        extract(video, layout, out)
        print("ready", flush=True)
        for _ in sys.stdin:
            wall, cpu = time.perf_counter(), time.process_time()
            extract(video, layout, out)
            print(f"{time.perf_counter() - wall:.4f} {time.process_time() - cpu:.4f}", flush=True)


def main() -> None:
    """Run the turns and print one line per tree and the paired difference."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("layout", type=Path)
    parser.add_argument("--before", type=Path, help="the checkout to compare with (its datasets/ and root)")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.video, args.layout)
        return
    if args.before is None or not (args.before / "datasets").is_dir():
        parser.error("--before: give a checkout of the tree to compare with (e.g. `git worktree add /tmp/base HEAD~1`)")
    command = [sys.executable, __file__, str(args.video), str(args.layout), "--worker"]
    envs = {
        "before": dict(os.environ, PYTHONPATH=f"{args.before / 'datasets'}{os.pathsep}{args.before}"),
        "after": dict(os.environ),
    }
    procs = {
        name: subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for name, env in envs.items()
    }
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in procs}
    try:
        for proc in procs.values():
            assert proc.stdin is not None and proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                sys.exit("error: a worker failed to start; run it alone with --worker to see why")
        for turn in range(args.rounds):
            for name in ("before", "after") if turn % 2 == 0 else ("after", "before"):
                proc = procs[name]
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
                wall, cpu = map(float, proc.stdout.readline().split())
                timings[name].append((wall, cpu))
    finally:
        for proc in procs.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait()
    for name, values in timings.items():
        walls = sorted(wall for wall, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{name}: wall median {statistics.median(walls):.4f} s, fastest {walls[0]:.4f} s, CPU median {cpu:.4f} s")
    differences = np.array([a[0] - b[0] for a, b in zip(timings["after"], timings["before"], strict=True)])
    rng = np.random.default_rng(0)
    medians = [np.median(rng.choice(differences, len(differences))) for _ in range(2000)]
    low, high = np.percentile(medians, [2.5, 97.5])
    print(f"paired median after - before: {np.median(differences):+.4f} s [95% bootstrap {low:+.4f}, {high:+.4f}]")


if __name__ == "__main__":
    main()
