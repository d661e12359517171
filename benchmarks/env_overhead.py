"""Cost of the NitroGen wrapper: raw engine steps/s vs ``NitroGen/...`` env steps/s, before and after, side by side.

For one game per engine, each round times these loops back to back, each in a fresh process:

* ``raw``: the engine's own API with random native actions, producing the same RGB frame we use;
* ``native``: ``gym.make("NitroGen/<Game>-v0", obs_size="native")`` with the canonical gamepad actions of
  the same random native actions (validation, mapping, info, Gymnasium's wrappers all included);
* ``256``: the same env at the default 256x256 observation (adds the resize);
* both env loops twice: with ``nitrogen_envs`` as of ``--before`` (a git revision, exported to a temporary
  folder) and as in this working tree (``after``), so the speed-up is measured in the same run;
* Crafter only, ``raw@256``: the raw engine asked for 256 px frames (the only engine that renders at any
  size; its render cost grows with the size, so this is the reference for what 256 px costs the engine).

Only step calls are timed (resets excluded): task semantics differ from the raw game (a Crafter task
ends when its achievement unlocks), and resets are not per-step overhead. The median over rounds is
reported; ratios below 1 mean our env is slower (0.9 = 10% overhead). Loops time CPU time, which other
programs on a shared machine barely change: this process's (all threads), plus, for ViZDoom, whose engine
runs in a child process, that process's (:class:`ProcessTreeClock`; the wall clock where ``/proc`` lacks
per-thread CPU times). Each loop is timed as a whole, less its resets. ViZDoom's raw loop and ours play the
same episodes (same engine seeds and actions; the worker reports episodes and return, and the last line
says whether every loop agreed). On a shared machine even CPU time swings by 20% from one loop to the
next (the other programs' use of the caches and of the core's sibling thread), more than the overhead
measured, so ViZDoom's ratios come from *paired* loops: one process runs the raw engine and our env side
by side, alternating blocks of :data:`PAIR_BLOCK` steps, each timed on its own engine process, and the
ratio is taken within that process (one per round and tree, median over rounds). Peak RSS is the largest of the
measuring processes, per loop. Last line: ``env_overhead: key=value ...``.

Usage::

    python benchmarks/env_overhead.py [--rounds 5] [--engines procgen ale vizdoom crafter] [--before REV]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from gymnasium.utils import seeding

GAMES = {
    "procgen": ("CoinRun", 300),
    "ale": ("Pong", 1500),
    "vizdoom": ("DoomDefendCenter", 1500),
    "crafter": ("Crafter", 300),
}
BEFORE = "4fd1bac"
"""The last commit before the environment-speed work of issue #19 (the ``before`` column)."""
REPO = Path(__file__).resolve().parent.parent
CHILD_PROCESS_ENGINES = frozenset({"vizdoom"})
"""Engines that run in a child process (ViZDoom's engine), whose CPU time :class:`ProcessTreeClock` adds."""
PAIR_BLOCK = 50
"""Steps per block when the raw loop and ours alternate in one process (ViZDoom)."""
clock: Callable[[], float] = time.process_time
"""What each loop times: this process's CPU time (all threads, Procgen's workers included), which the
other programs on a shared machine barely move; :class:`ProcessTreeClock` for :data:`CHILD_PROCESS_ENGINES`."""
played: dict[str, float] = {}
"""Episodes finished and reward collected by the last timed ViZDoom loop, to check that raw and ours agree."""


def child_pids() -> set[str]:
    """Process ids of this process's children (empty without ``/proc``)."""
    me, found = str(os.getpid()), set()
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[1] == me:
                    found.add(pid)
        except OSError:  # a process that ended while we looked
            continue
    return found


class ProcessTreeClock:
    """CPU seconds of this process plus the child processes running when it was made (ViZDoom's engine).

    The engine process renders every frame, so this process's CPU time alone misses most of a step, and
    the wall clock counts the waits of a shared machine. Linux keeps each thread's CPU time in
    nanoseconds (``/proc/<pid>/task/<tid>/schedstat``); the files stay open, so a reading costs a few
    ``pread`` calls. Where they are missing (no ``/proc``), it falls back to the wall clock.
    """

    def __init__(self, pids: set[str] | None = None) -> None:
        self._files: list[int] = []
        for pid in child_pids() if pids is None else pids:
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
                self._files += [os.open(f"/proc/{pid}/task/{tid}/schedstat", os.O_RDONLY) for tid in tasks]
            except OSError:  # a process that ended while we looked, or no schedstat
                continue
        self.name = "cpu(process+engine)" if self._files else "wall"

    def __call__(self) -> float:
        if not self._files:
            return time.perf_counter()
        total = time.process_time_ns()
        for fd in self._files:
            try:
                total += int(os.pread(fd, 64, 0).split()[0])
            except (OSError, IndexError):  # an engine thread that ended: its time is gone from both readings
                continue
        return total / 1e9

    def close(self) -> None:
        for fd in self._files:
            os.close(fd)


def engine_seeds(seed: int = 0):
    """The engine seeds our env derives from ``reset(seed=seed)`` and later resets, so both loops play the
    same levels and episodes (game content changes the engine's cost per step)."""
    rng, _ = seeding.np_random(seed)
    while True:
        yield int(rng.integers(0, 2**31 - 1))


def raw_procgen(steps: int, actions: np.ndarray) -> float:
    from procgen import ProcgenGym3Env  # type: ignore[import-untyped]

    seed = next(engine_seeds())
    env = ProcgenGym3Env(num=1, env_name="coinrun", render_mode="rgb_array", distribution_mode="hard", rand_seed=seed)
    start = clock()
    for i in range(steps):
        env.act(np.array([actions[i] % 15], dtype=np.int32))
        env.observe()
        frame = env.get_info()[0]["rgb"]
    elapsed = clock() - start
    assert frame.shape == (512, 512, 3)
    return steps / elapsed


def raw_ale(steps: int, actions: np.ndarray) -> float:
    from ale_py.env import AtariEnv

    env = AtariEnv(game="pong", obs_type="rgb", frameskip=4, repeat_action_probability=0.25, full_action_space=True)
    env.reset(seed=next(engine_seeds()))
    # Our NativeActions indices are the minimal set's; play the same actions through the full set.
    full = list(env._action_set)
    minimal = [full.index(action) for action in env.ale.getMinimalActionSet()]
    elapsed = 0.0
    for i in range(steps):
        start = clock()
        _, _, terminated, truncated, _ = env.step(minimal[int(actions[i]) % len(minimal)])
        elapsed += clock() - start
        if terminated or truncated:
            env.reset()
    env.close()
    return steps / elapsed


class RawDoom:
    """DefendCenter at 320x240 RGB24 through ViZDoom's own API, reading the frame and the variables our env reads.

    Set up as our env sets the engine up where that changes the engine's work (the variables it fills
    in every state, its settings file outside the working directory); nothing else is asked for. It keeps
    each frame until the next, as an agent (and our env) does: dropping it at once lets malloc hand its
    pages back and fault them in again, about 80 page faults a step, which made the raw loop slower.
    """

    def __init__(self) -> None:
        import vizdoom as vzd  # type: ignore[import-untyped]

        before = child_pids()
        game = vzd.DoomGame()
        game.load_config(os.path.join(vzd.scenarios_path, "defend_the_center.cfg"))
        game.set_doom_config_path(os.path.join(tempfile.gettempdir(), "env_overhead_vizdoom.ini"))
        game.set_window_visible(False)
        game.set_screen_format(vzd.ScreenFormat.RGB24)
        game.set_screen_resolution(vzd.ScreenResolution.RES_320X240)
        game.set_sound_enabled(False)
        game.set_available_game_variables([vzd.GameVariable.KILLCOUNT, vzd.GameVariable.HEALTH])
        game.init()
        self.timer = ProcessTreeClock(child_pids() - before)
        buttons = game.get_available_buttons_size()
        self.table = [[0] * buttons] + [[int(j == i) for j in range(buttons)] for i in range(buttons)]
        self.seeds = engine_seeds()
        game.set_seed(next(self.seeds))
        game.new_episode()
        self.game, self.episodes, self.reward, self.frame = game, 0, 0.0, np.zeros((240, 320, 3), np.uint8)

    def play(self, actions: np.ndarray) -> float:
        """Play ``actions``; returns the CPU seconds they took (resets excluded)."""
        game, table, timer = self.game, self.table, self.timer
        paused = 0.0
        start = timer()
        for action in actions:
            self.reward += game.make_action(table[int(action) % len(table)], 4)
            if game.is_episode_finished():
                self.episodes += 1
                pause = timer()
                game.set_seed(next(self.seeds))
                game.new_episode()
                paused += timer() - pause
            else:
                state = game.get_state()
                self.frame, _ = state.screen_buffer, state.game_variables
        return timer() - start - paused

    def close(self) -> None:
        assert self.frame.shape == (240, 320, 3)
        self.timer.close()
        self.game.close()


class OurDoom:
    """``NitroGen/<game>-v0`` stepped with the gamepad form of the same native actions (see :func:`ours`)."""

    def __init__(self, game: str, obs_size: object, actions: np.ndarray) -> None:
        import gymnasium as gym

        from nitrogen_envs.base import unwrap

        before = child_pids()
        self.env = gym.make(f"NitroGen/{game}-v0", obs_size=obs_size)
        self.timer = ProcessTreeClock(child_pids() - before)
        base = unwrap(self.env)
        n = int(base.native_action_space().n)  # type: ignore[attr-defined]
        self.pads = {int(a) % n: base.native_to_gamepad(int(a) % n) for a in np.unique(actions)}
        self.n, self.episodes, self.reward = n, 0, 0.0
        self.env.reset(seed=0)

    def play(self, actions: np.ndarray) -> float:
        """Play ``actions``; returns the CPU seconds they took (resets excluded)."""
        env, timer, pads = self.env, self.timer, [self.pads[int(a) % self.n] for a in actions]
        paused = 0.0
        start = timer()
        for pad in pads:
            _, reward, terminated, truncated, _ = env.step(pad)
            self.reward += float(reward)
            if terminated or truncated:
                self.episodes += 1
                pause = timer()
                env.reset()
                paused += timer() - pause
        return timer() - start - paused

    def close(self) -> None:
        self.timer.close()
        self.env.close()


def raw_vizdoom(steps: int, actions: np.ndarray) -> float:
    loop = RawDoom()
    elapsed = loop.play(actions[:steps])
    played.update(episodes=loop.episodes, reward=loop.reward)
    loop.close()
    return steps / elapsed


def paired_vizdoom(game: str, obs_size: object, steps: int, actions: np.ndarray) -> dict[str, object]:
    """Raw ViZDoom and our env in this one process, alternating blocks of :data:`PAIR_BLOCK` steps (which goes
    first alternates too), so both see the same machine; steps/s of each and what each played."""
    raw, env = RawDoom(), OurDoom(game, obs_size, actions[:steps])
    elapsed = {"raw": 0.0, "ours": 0.0}
    for index, begin in enumerate(range(0, steps, PAIR_BLOCK)):
        block = actions[begin : min(steps, begin + PAIR_BLOCK)]
        order = (("raw", raw), ("ours", env)) if index % 2 == 0 else (("ours", env), ("raw", raw))
        for name, loop in order:
            elapsed[name] += loop.play(block)
    raw.close()
    env.close()
    return {
        "raw_sps": steps / elapsed["raw"],
        "sps": steps / elapsed["ours"],
        "raw_outcome": [raw.episodes, raw.reward],
        "outcome": [env.episodes, env.reward],
    }


def raw_crafter(steps: int, actions: np.ndarray, size: int = 64) -> float:
    import crafter  # type: ignore[import-untyped]

    seeds = engine_seeds()
    env = crafter.Env(size=(size, size), seed=next(seeds))
    env.reset()
    elapsed = 0.0
    for i in range(steps):
        start = clock()
        _, _, done, _ = env.step(int(actions[i]) % 17)
        elapsed += clock() - start
        if done:
            env._seed, env._episode = next(seeds), 0  # as our env does on reset
            env.reset()
    return steps / elapsed


RAW: dict[str, Callable[..., float]] = {
    "procgen": raw_procgen, "ale": raw_ale, "vizdoom": raw_vizdoom, "crafter": raw_crafter,
}  # fmt: skip


def ours(game: str, obs_size: object, steps: int, actions: np.ndarray, engine: str = "") -> float:
    import gymnasium as gym

    from nitrogen_envs.base import unwrap

    env = gym.make(f"NitroGen/{game}-v0", obs_size=obs_size)
    base = unwrap(env)
    space = base.native_action_space()
    if not isinstance(space, gym.spaces.Discrete):
        raise TypeError(f"{game}: expected a Discrete native action space, got {space}")
    n = int(space.n)
    pads = [base.native_to_gamepad(int(a) % n) for a in actions[:steps]]
    env.reset(seed=0)
    timer = ProcessTreeClock() if engine in CHILD_PROCESS_ENGINES else clock
    episodes, total = 0, 0.0
    paused = 0.0
    start = timer()
    for pad in pads:
        _, reward, terminated, truncated, _ = env.step(pad)
        total += float(reward)
        if terminated or truncated:
            episodes += 1
            pause = timer()
            env.reset()
            paused += timer() - pause
    elapsed = timer() - start - paused
    if isinstance(timer, ProcessTreeClock):
        timer.close()
        played.update(episodes=episodes, reward=total)
    env.close()
    return steps / elapsed


def worker(spec: dict) -> None:
    """One timed loop in this process (after a short warm-up); prints steps/s and peak RSS as JSON."""
    # Random native actions, taken modulo each engine's action count (ours maps them through the gamepad).
    actions = np.random.default_rng(0).integers(0, 1 << 16, size=spec["steps"])
    if spec["loop"] == "paired":
        paired_vizdoom(spec["game"], spec["obs_size"], 10, actions)
        result = paired_vizdoom(spec["game"], spec["obs_size"], len(actions), actions)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({**result, "rss_mb": rss_mb}))
        return
    if spec["loop"] == "raw":
        run = RAW[spec["engine"]]
        args = {"size": spec["size"]} if spec.get("size") else {}
        run(10, actions, **args)
        sps = run(len(actions), actions, **args)
    else:
        obs_size = spec["obs_size"]
        ours(spec["game"], obs_size, 10, actions, spec["engine"])
        sps = ours(spec["game"], obs_size, len(actions), actions, spec["engine"])
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"sps": sps, "rss_mb": rss_mb, **played}))


def export_tree(revision: str, into: Path) -> Path:
    """``nitrogen_envs`` as of ``revision``, unpacked under ``into`` (the working tree is left alone)."""
    blob = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "nitrogen_envs"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        archive.extractall(into, filter="data")
    return into


def measure(spec: dict, pythonpath: Path) -> dict:
    """What :func:`worker` printed for one loop (``sps``, ``rss_mb``, ...), run in a fresh process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pythonpath), str(REPO / "benchmarks")])}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)], env=env, check=True, capture_output=True, text=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engines", nargs="*", default=list(GAMES))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the step counts")
    parser.add_argument("--before", default=BEFORE, help="git revision of the 'before' nitrogen_envs")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    figures: dict[str, str] = {}
    peak_rss = 0.0
    with tempfile.TemporaryDirectory(prefix="env_overhead_") as tmp:
        trees = {"before": export_tree(args.before, Path(tmp)), "after": REPO}
        for engine in args.engines:
            game, steps = GAMES[engine]
            steps = max(10, int(steps * args.scale))
            # ViZDoom: each loop pairs the raw engine with our env in one process (see the module docstring).
            paired = engine in CHILD_PROCESS_ENGINES
            loops: dict[str, tuple[dict, Path]] = {} if paired else {"raw": ({"loop": "raw", "engine": engine}, REPO)}
            if engine == "crafter":
                loops["raw@256"] = ({"loop": "raw", "engine": engine, "size": 256}, REPO)
            for when, tree in trees.items():
                for size in ("native", 256):
                    kind = "paired" if paired else "ours"
                    loops[f"{when}@{size}"] = ({"loop": kind, "engine": engine, "game": game, "obs_size": size}, tree)
            rates: dict[str, list[float]] = {name: [] for name in loops}
            pair_ratios: dict[str, list[float]] = {name: [] for name in loops}
            pair_raw: list[float] = []
            outcomes: set[tuple[float, ...]] = set()
            names = list(loops)
            for round_index in range(args.rounds):
                # Rotate the order so no loop always runs first (cold caches) or last.
                shift = round_index % len(names)
                for name in names[shift:] + names[:shift]:
                    spec, tree = loops[name]
                    result = measure({**spec, "steps": steps}, tree)
                    rates[name].append(float(result["sps"]))
                    if "raw_sps" in result:
                        pair_ratios[name].append(float(result["sps"]) / float(result["raw_sps"]))
                        pair_raw.append(float(result["raw_sps"]))
                        outcomes.update((tuple(result["raw_outcome"]), tuple(result["outcome"])))
                    peak_rss = max(peak_rss, float(result["rss_mb"]))
            med = {name: statistics.median(values) for name, values in rates.items()}
            raw = statistics.median(pair_raw) if paired else med["raw"]
            ratio = {
                name: statistics.median(pair_ratios[name]) if paired else med[name] / raw
                for name in loops
                if name.startswith(("before@", "after@"))
            }
            line = f"{engine:8s} {game:17s} raw={raw:7.0f}/s"
            for size in ("native", 256):
                before, after = ratio[f"before@{size}"], ratio[f"after@{size}"]
                line += f"  @{size}: before {before:.2f}x after {after:.2f}x"
                figures[f"{engine}_ratio_{size}"] = f"{after:.3f}"
                figures[f"{engine}_before_ratio_{size}"] = f"{before:.3f}"
            if paired:
                spread = {f"{when}@{size}": pair_ratios[f"{when}@{size}"] for when in trees for size in ("native", 256)}
                line += "  (per round: " + ", ".join(f"{k} {min(v):.2f}-{max(v):.2f}" for k, v in spread.items()) + ")"
            if "raw@256" in med:
                line += f"  (raw@256={med['raw@256']:.0f}/s; after@256 {med['after@256'] / med['raw@256']:.2f}x of it)"
                figures[f"{engine}_ratio_256_vs_raw256"] = f"{med['after@256'] / med['raw@256']:.3f}"
            figures[f"{engine}_raw_sps"] = f"{raw:.0f}"
            if outcomes:  # every loop played the same episodes (episodes finished, total reward)
                figures[f"{engine}_same_episodes"] = str(len(outcomes) == 1)
                line += f"  episodes/reward {sorted(outcomes)}"
            print(line, flush=True)
    figures["peak_rss_mb"] = f"{peak_rss:.0f}"
    print("env_overhead: " + " ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
