"""The current stack against the classic (``imitation``) stack: env steps/s and policy latency, interleaved.

Issue #21 asks that the upgrade (NumPy 2, Gymnasium 1.x, ...) make neither ``env_overhead.py`` nor
``policy_latency.py`` slower. Timing one stack after the other on a shared machine compares the load, not
the stacks, so this script runs each measurement in both venvs back to back, case by case and round by
round, alternating which stack goes first, and reports medians over rounds:

* env loops: ``env_overhead.py``'s own worker (a fresh process per loop, CPU time, for ViZDoom of this process plus its engine process)
  for the raw engine, our env at native size and our env at 256 px, one game per engine;
* policy: ``policy_latency.py`` (nitrogen-s by default), its cached p50 ms per chunk.

Before timing, each engine's game plays the same seeded 256 px rollout in both venvs and the frames,
rewards and resets are compared (``<engine>_same_episodes``): a speed ratio between stacks that play
different episodes measures the episodes (Crafter's resets regenerate the world), not the stacks.

Both venvs run this working tree's packages (``PYTHONPATH``), so only the installed stack differs.
Ratios are current / classic *speed* (steps/s, or 1 / latency): above 1 the current stack is faster.
Peak RSS is the largest of all measuring processes. Last line: ``stack_compare: key=value ...``.

Usage::

    python benchmarks/stack_compare.py [--rounds 3] [--engines procgen ale vizdoom crafter] [--scale 1.0]
        [--policy-runs 10] [--current .venv/bin/python] [--classic .venv-classic/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

import env_overhead

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
STACKS = ("current", "classic")
VERSIONS = "import numpy, gymnasium, torch; print(numpy.__version__, gymnasium.__version__, torch.__version__)"
DIGEST_STEPS = 200
EPISODE_DIGEST = """
import hashlib, sys
import gymnasium as gym
import numpy as np
import nitrogen_envs

game, steps = sys.argv[1], int(sys.argv[2])
env = gym.make(f"NitroGen/{game}-v0")
base = env.unwrapped
count = base.native_action_space().n
obs, _ = env.reset(seed=0)
digest = hashlib.sha256(obs.tobytes())
for native in np.random.default_rng(0).integers(0, 1 << 16, size=steps):
    obs, reward, terminated, truncated, _ = env.step(base.native_to_gamepad(int(native) % count))
    digest.update(obs.tobytes() + repr((float(reward), terminated, truncated)).encode())
    if terminated or truncated:
        obs, _ = env.reset()
        digest.update(obs.tobytes())
env.close()
print(digest.hexdigest())
"""
"""A seeded 256 px rollout's digest (frames, rewards, resets): the timed loops compare the stacks' speed
only if both stacks play the same episodes."""


@dataclass(frozen=True)
class Case:
    """One measurement, run once per stack per round.

    Args:
        name: row label and key prefix, e.g. ``procgen_256``.
        argv: arguments after the interpreter (a script under ``benchmarks/`` and its flags).
        higher_is_faster: True for steps/s, False for milliseconds.
    """

    name: str
    argv: tuple[str, ...]
    higher_is_faster: bool


def env_cases(engines: list[str], scale: float) -> list[Case]:
    """The raw engine, our env at native size and at 256 px, for one game per engine (env_overhead's GAMES)."""
    cases = []
    for engine in engines:
        game, steps = env_overhead.GAMES[engine]
        steps = max(10, int(steps * scale))
        loops: dict[str, dict[str, str | int]] = {
            "raw": {"loop": "raw", "engine": engine},
            "native": {"loop": "ours", "engine": engine, "game": game, "obs_size": "native"},
            "256": {"loop": "ours", "engine": engine, "game": game, "obs_size": 256},
        }
        for label, spec in loops.items():
            argv = (str(BENCHMARKS / "env_overhead.py"), "--worker", json.dumps({**spec, "steps": steps}))
            cases.append(Case(f"{engine}_{label}", argv, higher_is_faster=True))
    return cases


def policy_case(config: str, runs: int, threads: int) -> Case:
    """``policy_latency.py``'s cached p50 (ms per chunk)."""
    argv = (str(BENCHMARKS / "policy_latency.py"), "--config", config, "--runs", str(runs), "--threads", str(threads))
    return Case("policy_p50", argv, higher_is_faster=False)


def run_case(python: str, case: Case) -> float:
    """One run of ``case`` under ``python``: steps/s (env worker) or cached p50 ms (policy_latency)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(BENCHMARKS)])}
    done = subprocess.run([python, *case.argv], env=env, check=True, capture_output=True, text=True, cwd=REPO)
    last = done.stdout.strip().splitlines()[-1]
    if last.startswith("policy_latency:"):
        fields = dict(item.split("=", 1) for item in last.split()[1:])
        return float(fields["p50_ms"])
    return float(json.loads(last)["sps"])


def episode_digest(python: str, game: str, steps: int = DIGEST_STEPS) -> str:
    """sha256 of a seeded rollout of ``game`` at 256 px under ``python`` (see ``EPISODE_DIGEST``)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [python, "-c", EPISODE_DIGEST, game, str(steps)], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip().splitlines()[-1]


def stack_versions(python: str) -> str:
    """``numpy gymnasium torch`` versions of a venv, for the header."""
    done = subprocess.run([python, "-c", VERSIONS], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", nargs="*", default=list(env_overhead.GAMES), choices=list(env_overhead.GAMES))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply env_overhead's step counts")
    parser.add_argument("--policy-config", default="nitrogen-s")
    parser.add_argument("--policy-runs", type=int, default=10, help="policy_latency.py --runs per round (0: skip)")
    parser.add_argument("--threads", type=int, default=2, help="policy_latency.py --threads")
    parser.add_argument("--current", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--classic", default=str(REPO / ".venv-classic" / "bin" / "python"))
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    pythons = {"current": args.current, "classic": args.classic}
    for stack, python in pythons.items():
        if not Path(python).is_file():
            raise SystemExit(
                f"Error: no {stack} interpreter at {python}; build that venv (docs/install.md) or pass --{stack}"
            )
        print(f"{stack:8s} numpy/gymnasium/torch {stack_versions(python)}", flush=True)

    same_episodes = {}
    for engine in args.engines:
        game = env_overhead.GAMES[engine][0]
        digests = {stack: episode_digest(python, game) for stack, python in pythons.items()}
        same_episodes[engine] = len(set(digests.values())) == 1
        print(f"{game}: both stacks play the same {DIGEST_STEPS} seeded steps: {same_episodes[engine]}", flush=True)

    cases = env_cases(args.engines, args.scale)
    if args.policy_runs > 0:
        cases.append(policy_case(args.policy_config, args.policy_runs, args.threads))
    results: dict[str, dict[str, list[float]]] = {case.name: {stack: [] for stack in STACKS} for case in cases}
    for round_index in range(args.rounds):
        for case_index, case in enumerate(cases):
            # Same case in both stacks back to back, so a load change hits both; alternate who goes first.
            order = STACKS if (round_index + case_index) % 2 == 0 else STACKS[::-1]
            for stack in order:
                results[case.name][stack].append(run_case(pythons[stack], case))
            current, classic = (results[case.name][stack][-1] for stack in STACKS)
            print(
                f"round {round_index + 1}/{args.rounds} {case.name}: current {current:.1f} classic {classic:.1f}",
                flush=True,
            )

    figures: dict[str, str] = {}
    unit = {True: "steps/s", False: "ms"}
    print(f"{'case':16s} {'current':>10s} {'classic':>10s}  current/classic speed")
    for case in cases:
        current, classic = (statistics.median(results[case.name][stack]) for stack in STACKS)
        speed = current / classic if case.higher_is_faster else classic / current
        print(f"{case.name:16s} {current:10.1f} {classic:10.1f}  {speed:.2f}x  ({unit[case.higher_is_faster]})")
        figures[case.name] = f"{speed:.3f}"
    for engine in args.engines:
        for stack in STACKS:
            raw = statistics.median(results[f"{engine}_raw"][stack])
            ours = statistics.median(results[f"{engine}_256"][stack])
            figures[f"{engine}_overhead_256_{stack}"] = f"{ours / raw:.3f}"
    for engine, same in same_episodes.items():
        figures[f"{engine}_same_episodes"] = str(same).lower()
    figures["rounds"] = str(args.rounds)
    figures["peak_rss_mb"] = f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}"
    print("stack_compare: " + " ".join(f"{key}={value}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
