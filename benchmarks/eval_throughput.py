"""Evaluation throughput: episodes/s of ``evaluate(..., workers=2)`` against ``workers=1``, same seeds, one run.

For the random agent (64 px frames) and a nitrogen-s policy (the bundled ``nitrogen-s-procgen6``, 256 px
frames, as ``nitrogen evaluate`` plays them), three measurements:

* ``ratio`` (the issue's figure): whole ``evaluate`` calls with 1 and 2 workers, alternating, ``--rounds``
  times each, in a fresh process that first plays one short episode (imports, agent load and the first engine
  build, which a ``nitrogen evaluate`` process pays with any number of workers). Each 2-worker call pays its
  spawned worker's whole start-up; ratio = median 1-worker seconds / median 2-worker seconds. With
  ``--before REV``, the same calls with ``nitrogen_policies`` as of that git revision, in their own process.
* ``startup_s``: seconds from spawning a worker process to its being ready to play (imports, agent load,
  first engine build and reset), the largest of two started together (what a 2-worker call's worker pays).
* ``steady``: episodes/s once started: 1 process with all CPU threads, and 2 processes with half each, timed
  from a common start, each taking the next unplayed seed (as ``evaluate`` does); ``steady_ratio`` is 2 over 1.

Every setting must return the same episodes (``same_results``; a torch policy's episodes can differ only if
a last-bit rounding of another thread count flips an action, see ``evaluate``). Peak RSS is the largest of
this process and its children. Last line:
``eval_throughput: random_ratio=... nitrogen_ratio=... ... same_results=... peak_rss_mb=...``.

On an idle 2-core machine the defaults take about 12 minutes, 20 with ``--before`` (nitrogen-s plays about
30 steps/s per core).

Usage::

    python benchmarks/eval_throughput.py [--game CoinRun] [--episodes 16] [--max-steps 300] [--rounds 2]
        [--agents random nitrogen] [--before REV]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NITROGEN_AGENT = "nitrogen-s-procgen6"
"""The bundled nitrogen-s checkpoint (loads offline)."""
AGENTS = {"random": "random", "nitrogen": NITROGEN_AGENT}
"""Benchmark name -> agent spec."""
WARMUP_STEPS = 20
"""The short episode a timing process plays before its first timed call."""


@dataclass(frozen=True)
class Setup:
    """One agent's evaluation, as every measurement plays it."""

    agent: str
    env_id: str
    game: str
    obs_size: int
    max_steps: int
    seeds: tuple[int, ...]


def whole_calls(setup: Setup, rounds: int) -> dict[str, Any]:
    """Seconds of each whole ``evaluate`` call (1 and 2 workers, alternating) and the episodes it returned.

    Uses only ``evaluate``'s public signature, so it also runs against an older ``nitrogen_policies``.
    """
    from nitrogen_policies import evaluation

    def call(workers: int, seeds: tuple[int, ...], max_steps: int) -> tuple[float, list[dict]]:
        start = time.perf_counter()
        results = evaluation.evaluate(
            setup.agent, setup.env_id, list(seeds), obs_size=setup.obs_size, max_steps=max_steps,
            workers=workers, game=setup.game,
        )  # fmt: skip
        return time.perf_counter() - start, [vars(result) for result in results]

    call(1, setup.seeds[:1], WARMUP_STEPS)
    times: dict[int, list[float]] = {1: [], 2: []}
    episodes = []
    for round_ in range(rounds):
        for workers in (1, 2) if round_ % 2 == 0 else (2, 1):
            seconds, rows = call(workers, setup.seeds, setup.max_steps)
            times[workers].append(seconds)
            episodes.append(rows)
    return {"times": times, "episodes": episodes, "module": evaluation.__file__}


_PLAYER: dict[str, Any] = {}
"""A steady-state player process's thread share, start line and seed counter (set by its pool initializer)."""


def _start_player(threads: int, barrier: Any, claimed: Any) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    _PLAYER.update(threads=threads, barrier=barrier, claimed=claimed)


def _ready_then_play(setup: Setup) -> tuple[float, float, float, list[tuple[int, dict]]]:
    """Start up like an ``evaluate`` worker, wait for the other players, then play claimed seeds.

    Returns (ready, start, end) ``time.monotonic()`` stamps (one clock for all processes on Linux) and the
    (index, episode) pairs played. Uses ``evaluate``'s own agent loading and episode loop, so the timed play
    is the worker path's.
    """
    from nitrogen_policies.evaluation import _load_agent, _play_seeded, _set_threads, make_eval_env

    env = make_eval_env(setup.env_id, obs_size=setup.obs_size)
    agent = _load_agent(setup.agent, env, setup.game)
    env.reset(seed=setup.seeds[0])  # the first engine build, part of a worker's start-up
    _set_threads(_PLAYER["threads"])  # torch and OpenCV have loaded by now
    ready = time.monotonic()
    _PLAYER["barrier"].wait()
    start = time.monotonic()
    played = []
    claimed = _PLAYER["claimed"]
    while True:
        with claimed.get_lock():
            index = int(claimed.value)
            claimed.value = index + 1
        if index >= len(setup.seeds):
            break
        result = _play_seeded(agent, env, setup.seeds[index], setup.max_steps, True, None)
        played.append((index, vars(result)))
    env.close()
    return ready, start, time.monotonic(), played


def steady(setup: Setup, players: int, cpus: int) -> dict[str, Any]:
    """Start-up seconds and steady episodes/s of ``players`` fresh processes with ``cpus // players`` threads."""
    context = multiprocessing.get_context("spawn")
    barrier, claimed = context.Barrier(players), context.Value("q", 0)
    spawned = time.monotonic()
    with concurrent.futures.ProcessPoolExecutor(
        players, mp_context=context, initializer=_start_player, initargs=(max(1, cpus // players), barrier, claimed)
    ) as pool:
        outcomes = [future.result() for future in [pool.submit(_ready_then_play, setup) for _ in range(players)]]
    start = min(outcome[1] for outcome in outcomes)
    end = max(outcome[2] for outcome in outcomes)
    rows = dict(pair for outcome in outcomes for pair in outcome[3])
    return {
        "startup_s": max(outcome[0] for outcome in outcomes) - spawned,
        "episodes_per_s": len(setup.seeds) / (end - start),
        "episodes": [rows[index] for index in range(len(setup.seeds))],
    }


def export_policies(revision: str, into: Path) -> Path:
    """``nitrogen_policies`` as of ``revision`` in ``into`` (the envs stay this tree's: only evaluation differs)."""
    blob = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "nitrogen_policies"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        archive.extractall(into, filter="data")
    return into


def whole_calls_in_process(setup: Setup, rounds: int, pythonpath: Path | None) -> dict[str, Any]:
    """:func:`whole_calls` in a fresh process, importing ``nitrogen_policies`` from ``pythonpath`` if given."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    command = [sys.executable, __file__, "--whole-calls", json.dumps({"setup": asdict(setup), "rounds": rounds})]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["times"] = {int(workers): seconds for workers, seconds in report["times"].items()}
    return report


def _ratio(times: dict[int, list[float]]) -> float:
    return statistics.median(times[1]) / statistics.median(times[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="CoinRun")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=300, help="step cap per episode")
    parser.add_argument("--rounds", type=int, default=2, help="whole calls per setting (alternating)")
    parser.add_argument("--agents", nargs="+", choices=sorted(AGENTS), default=["random", "nitrogen"])
    parser.add_argument("--before", default=None, help="also time whole calls with nitrogen_policies at this revision")
    parser.add_argument("--whole-calls", default=None, help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args()
    if args.whole_calls is not None:
        job = json.loads(args.whole_calls)
        setup = Setup(**{**job["setup"], "seeds": tuple(job["setup"]["seeds"])})
        print(json.dumps(whole_calls(setup, job["rounds"])))
        return

    from nitrogen_envs.registry import get_game
    from nitrogen_policies.evaluation import POLICY_OBS_SIZE, RANDOM_OBS_SIZE, _cpu_count

    spec, cpus = get_game(args.game), _cpu_count()
    figures: dict[str, str] = {}
    same = True
    with tempfile.TemporaryDirectory() as folder:
        before_tree = export_policies(args.before, Path(folder)) if args.before else None
        for name in args.agents:
            obs = RANDOM_OBS_SIZE if name == "random" else POLICY_OBS_SIZE
            setup = Setup(AGENTS[name], spec.env_id, spec.name, obs, args.max_steps, tuple(range(args.episodes)))
            calls = whole_calls_in_process(setup, args.rounds, None)
            one, two = steady(setup, 1, cpus), steady(setup, 2, cpus)
            reference = calls["episodes"][0]
            same = same and all(rows == reference for rows in [*calls["episodes"], one["episodes"], two["episodes"]])
            steps = sum(row["steps"] for row in reference)
            median = {workers: statistics.median(seconds) for workers, seconds in calls["times"].items()}
            print(
                f"{name}: {args.episodes} episodes ({steps} steps) on {cpus} CPUs. Whole calls: 1 worker "
                f"{args.episodes / median[1]:.3f} episodes/s, 2 workers {args.episodes / median[2]:.3f}, ratio "
                f"{_ratio(calls['times']):.2f} (seconds {calls['times']}). Start-up of a worker "
                f"{two['startup_s']:.1f} s (alone {one['startup_s']:.1f} s). Steady: 1 process "
                f"{one['episodes_per_s']:.3f} episodes/s, 2 processes {two['episodes_per_s']:.3f}",
                flush=True,
            )
            figures[f"{name}_ratio"] = f"{_ratio(calls['times']):.2f}"
            figures[f"{name}_startup_s"] = f"{two['startup_s']:.1f}"
            figures[f"{name}_steady_ratio"] = f"{two['episodes_per_s'] / one['episodes_per_s']:.2f}"
            if before_tree is not None:
                old = whole_calls_in_process(setup, args.rounds, before_tree)
                same = same and all(rows == reference for rows in old["episodes"])
                print(
                    f"{name} before ({args.before}, {old['module']}): ratio {_ratio(old['times']):.2f} "
                    f"(seconds {old['times']})"
                )
                figures[f"{name}_ratio_before"] = f"{_ratio(old['times']):.2f}"
    rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    pairs = " ".join(f"{key}={value}" for key, value in figures.items())
    print(
        f"eval_throughput: {pairs} same_results={same} episodes={args.episodes} max_steps={args.max_steps} "
        f"cpus={cpus} load={os.getloadavg()[0]:.1f} peak_rss_mb={rss:.0f}"
    )


if __name__ == "__main__":
    main()
