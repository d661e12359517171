"""Evaluation throughput: episodes/s of ``evaluate(..., workers=2)`` against ``workers=1``, same seeds.

For the random agent (64 px frames) and a nitrogen-s policy (the bundled ``nitrogen-s-procgen6``, 256 px
frames, as ``nitrogen evaluate`` plays them), the two settings run in alternation, ``--rounds`` times, on the
same seeds; each timing is a whole ``evaluate`` call (worker start-up and agent loading included). Also
checks that both settings return the same episodes. Last line:
``eval_throughput: random_ratio=... nitrogen_ratio=... same_results=... peak_rss_mb=...``.

Usage::

    python benchmarks/eval_throughput.py [--game CoinRun] [--episodes 8] [--max-steps 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from nitrogen_envs.registry import get_game
from nitrogen_policies.evaluation import POLICY_OBS_SIZE, RANDOM_OBS_SIZE, evaluate

NITROGEN_AGENT = "nitrogen-s-procgen6"
"""The bundled nitrogen-s checkpoint (loads offline)."""


def timed(agent: str, env_id: str, game: str, seeds: list[int], obs: int, max_steps: int, workers: int):
    start = time.perf_counter()
    results = evaluate(agent, env_id, seeds, obs_size=obs, max_steps=max_steps, workers=workers, game=game)
    return time.perf_counter() - start, [vars(result) for result in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="CoinRun")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=300, help="step cap per episode")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    spec = get_game(args.game)
    seeds = list(range(args.episodes))
    ratios, same = {}, True
    for name, agent, obs in [("random", "random", RANDOM_OBS_SIZE), ("nitrogen", NITROGEN_AGENT, POLICY_OBS_SIZE)]:
        times: dict[int, list[float]] = {1: [], 2: []}
        reference = None
        for round_ in range(args.rounds):
            for workers in (1, 2) if round_ % 2 == 0 else (2, 1):
                seconds, rows = timed(agent, spec.env_id, spec.name, seeds, obs, args.max_steps, workers)
                times[workers].append(seconds)
                reference = reference or rows
                same = same and rows == reference
        one, two = statistics.median(times[1]), statistics.median(times[2])
        ratios[name] = one / two
        steps = sum(row["steps"] for row in reference or [])
        print(
            f"{name:8s} {args.episodes} episodes ({steps} steps): 1 worker {args.episodes / one:.2f} episodes/s, "
            f"2 workers {args.episodes / two:.2f} episodes/s, ratio {ratios[name]:.2f}"
        )
    rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    print(
        f"eval_throughput: random_ratio={ratios['random']:.2f} nitrogen_ratio={ratios['nitrogen']:.2f} "
        f"same_results={same} episodes={args.episodes} peak_rss_mb={rss:.0f}"
    )


if __name__ == "__main__":
    main()
