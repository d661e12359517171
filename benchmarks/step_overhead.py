"""Our per-step Python alone: a ``NitroGen/Pong-v0`` step with the engine's own step replayed, before and after.

The Atari engine's step is replaced by one that returns a copy of a recorded result, so what is timed
is everything our env adds per step (``gym.make``'s wrappers, action validation, the mapping, the
``info`` dict, the observation) plus one frame copy. Each round times ``nitrogen_envs`` as of
``--before`` (a git revision, exported to a temporary folder) and as in this working tree, each in a fresh
process and in alternating order; each process reports the best of 9 timings of 3000 steps cycling
through the 6 canonical Pong actions. Reported: the median over rounds of each, their ratio
(before / after, so 2.0 = half the overhead) and peak RSS. Last line: ``step_overhead: key=value ...``.

Usage::

    python benchmarks/step_overhead.py [--rounds 3] [--before REV]
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
import timeit
from pathlib import Path
from typing import Any

from env_overhead import export_tree

REPO = Path(__file__).resolve().parent.parent
BEFORE = "f71fa7e"
"""The last commit before the per-step action memos (the ``before`` column)."""
STEPS, REPEATS = 3000, 9


def worker() -> None:
    """Time the stubbed step in this process; prints microseconds per step and peak RSS as JSON."""
    import warnings

    import gymnasium as gym

    from nitrogen_envs.base import unwrap

    warnings.filterwarnings("ignore")  # the checker would note the replayed frames; not what is measured
    env = gym.make("NitroGen/Pong-v0", obs_size="native")
    base = unwrap(env)
    env.reset(seed=0)
    engine: Any = getattr(base, "_engine")  # noqa: B009 - the Atari adapter's ale_py env
    frame, *rest = engine.step(0)
    engine.step = lambda action: (frame.copy(), *rest)
    space = base.native_action_space()
    if not isinstance(space, gym.spaces.Discrete):
        raise TypeError(f"expected a Discrete native action space, got {space}")
    pads = [base.native_to_gamepad(i) for i in range(int(space.n))]
    index = 0

    def step() -> None:
        nonlocal index
        env.step(pads[index % len(pads)])
        index += 1

    best = min(timeit.repeat(step, number=STEPS, repeat=REPEATS)) / STEPS * 1e6
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"us": best, "rss_mb": rss_mb}))


def measure(tree: Path) -> tuple[float, float]:
    """(microseconds per step, peak RSS MB) of :func:`worker` run in a fresh process on ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, __file__, "--worker"], env=env, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["us"]), float(result["rss_mb"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default=BEFORE, help="git revision of the 'before' nitrogen_envs")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    times: dict[str, list[float]] = {"before": [], "after": []}
    peak_rss = 0.0
    with tempfile.TemporaryDirectory(prefix="step_overhead_") as tmp:
        trees = {"before": export_tree(args.before, Path(tmp)), "after": REPO}
        for round_index in range(args.rounds):
            order = ["before", "after"] if round_index % 2 == 0 else ["after", "before"]
            for name in order:
                micros, rss = measure(trees[name])
                times[name].append(micros)
                peak_rss = max(peak_rss, rss)
    before, after = statistics.median(times["before"]), statistics.median(times["after"])
    print(f"Pong step, engine replayed: before {before:.1f} us, after {after:.1f} us, {before / after:.2f}x less")
    print(
        f"step_overhead: before_us={before:.1f} after_us={after:.1f} speedup={before / after:.2f} "
        f"peak_rss_mb={peak_rss:.0f}"
    )


if __name__ == "__main__":
    main()
