"""Evaluation as a plain function: play episodes with any ``predict``-style agent, return per-episode results.

Training scripts, baselines, the leaderboard and users share it, so every number is produced the same way.
Episodes are independent (each depends on its seed alone), so ``workers=N`` plays them in this process and
N-1 spawned ones, each with its own env and agent and 1/N of the CPU threads; the results are those of
``workers=1`` (a torch policy's up to the last-bit rounding of another thread count: see :func:`evaluate`).
"""

from __future__ import annotations

import concurrent.futures
import difflib
import json
import logging
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from nitrogen_envs import FlatGamepad
from nitrogen_envs.base import unwrap
from nitrogen_envs.progress import progress_bar

logger = logging.getLogger(__name__)

RANDOM_OBS_SIZE = 64
"""Frame size for random play: it ignores frames, so the smallest cheap size."""
POLICY_OBS_SIZE = 256
"""Frame size handed to NitroGen and BC policies (they resize to their own input size)."""
PPO_CONFIG = "ppo_config.json"
BC_CONFIG = "bc_config.json"


class Agent(Protocol):
    """Anything with Stable-Baselines3's ``predict`` returning flat (21,) gamepad actions."""

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, Any]:
        """Next action for one observation."""
        ...


@dataclass
class EpisodeResult:
    """One evaluated episode."""

    seed: int
    episode_return: float
    success: bool
    steps: int
    score_normalized: float | None


class RandomAgent:
    """Uniformly random native actions of the game, sent as their gamepad actions (the 0 of normalized scores)."""

    def __init__(self, env: gym.Env, seed: int = 0) -> None:
        base = unwrap(env)
        self.base = base
        self.space = base.native_action_space()
        self.seed(seed)

    def seed(self, seed: int) -> None:
        """Restart the action stream; :func:`evaluate` calls it with each episode's seed."""
        self.space.seed(int(seed))

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, None]:
        """A random native action as a flat gamepad vector."""
        from nitrogen_envs import gamepad

        return gamepad.to_flat(self.base.native_to_gamepad(self.space.sample())), None


def evaluate(
    agent: Agent | str,
    env_id: str,
    seeds: Sequence[int],
    task: str | None = None,
    obs_size: int = 256,
    max_steps: int | None = None,
    deterministic: bool = True,
    progress: bool = False,
    workers: int = 1,
    game: str | None = None,
) -> list[EpisodeResult]:
    """Play one episode per seed and return its result (in the order of ``seeds``).

    Each episode depends on its seed alone: the random agent restarts its action stream from the episode's
    seed, and a NitroGen policy forgets its queued actions (with ``deterministic``, its noise is fixed too).
    So ``workers=2`` returns what ``workers=1`` does, and a seed's episode is the same in any list of seeds.
    One caveat for torch policies: with N workers each computes on 1/N of the threads, and a different thread
    count can round the continuous outputs differently in the last bit (measured: sticks differ by about 1e-7,
    buttons never); an episode changes only if such a value sits exactly at a game's threshold.

    Args:
        agent: a ``predict``-style agent, or a spec that :func:`resolve_agent` loads (``"random"``, a PPO/BC
            folder, a NitroGen checkpoint, name or Hub id); with ``workers > 1``, a spec, since each worker
            process builds its own agent.
        env_id: ``NitroGen/<Game>-v0``.
        seeds: one episode per seed (the leaderboard fixes these).
        task: task name (default: the game's).
        obs_size: observation size handed to the agent.
        max_steps: optional cap per episode (the env's own cap applies anyway).
        deterministic: passed to ``predict``.
        progress: a bar of episodes with ETA on stderr, and the running episode's step count (a line every
            few seconds when stderr is not a terminal; see :func:`nitrogen_envs.progress.progress_bar`).
        workers: processes playing episodes side by side: this one and ``workers - 1`` spawned ones, started
            first so that their start-up overlaps this process's play. Each takes the next unplayed seed and
            reuses one env, with an equal share of the CPU threads. 1 plays in this process alone.
        game: game name told to a game-conditioned agent (NitroGen's ``set_game``) before playing; ``None``
            leaves the agent as it is (zero-shot, or what the caller set).

    Raises:
        ValueError: ``workers < 1``, ``workers > 1`` with an agent object instead of a spec, or a spec that names
            no agent.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers > 1 and not isinstance(agent, str):
        raise ValueError(
            "evaluating in several processes needs the agent's spec ('random', a folder, a checkpoint name), "
            f"not a {type(agent).__name__} object; pass the spec, or workers=1"
        )
    bar = progress_bar(len(seeds), f"eval {env_id.rpartition('/')[2]}", unit="episode", enabled=progress)
    try:
        if workers > 1 and len(seeds) > 1:
            settings = EpisodeSettings(str(agent), env_id, task, obs_size, max_steps, deterministic, game)
            return _evaluate_in_workers(settings, seeds, workers, bar)
        env = make_eval_env(env_id, task=task, obs_size=obs_size)
        try:
            player = _load_agent(agent, env, game) if isinstance(agent, str) else _told_game(agent, game)
            results = []
            for seed in seeds:
                results.append(_play_seeded(player, env, int(seed), max_steps, deterministic, bar))
                bar.update(1)
            return results
        finally:
            env.close()
    finally:
        bar.close()


@dataclass(frozen=True)
class EpisodeSettings:
    """What a worker process needs to play episodes like :func:`evaluate` does here (picklable)."""

    agent: str
    env_id: str
    task: str | None
    obs_size: int
    max_steps: int | None
    deterministic: bool
    game: str | None


def _load_agent(spec: str, env: gym.Env, game: str | None) -> Agent:
    """The agent a spec names (see :func:`resolve_agent`), built on ``env`` for ``random``, told ``game``."""
    from nitrogen_policies.errors import CheckpointError

    if spec == "random":
        return RandomAgent(env)
    try:
        loaded, _ = resolve_agent(spec)
    except CheckpointError as err:
        raise ValueError(
            f"unknown built-in agent {spec!r}; use 'random', a checkpoint, or pass an object with predict() ({err})"
        ) from err
    return _told_game(loaded, game)  # type: ignore[arg-type]


def _told_game(agent: Agent, game: str | None) -> Agent:
    setter = getattr(agent, "set_game", None)
    if game is not None and callable(setter):
        setter(game)
    return agent


def _play_seeded(
    agent: Agent, env: gym.Env, seed: int, max_steps: int | None, deterministic: bool, bar: Any
) -> EpisodeResult:
    """:func:`play_episode` after restarting whatever the agent draws from at ``seed``."""
    if isinstance(agent, RandomAgent):
        agent.seed(seed)
    return play_episode(agent, env, seed, max_steps=max_steps, deterministic=deterministic, bar=bar)


_WORKER: dict[str, Any] = {}
"""A worker process's thread share and the call's shared state (set by the pool initializer)."""

_WAIT_SECONDS = 0.5
"""How often this process, once it has no episode left, moves the bar and looks for a worker's error."""


@dataclass(frozen=True)
class _Shared:
    """What every player of one :func:`evaluate` call shares (multiprocessing objects, passed at spawn).

    ``claimed``: the next index of ``seeds`` to play; each player takes indices until none is left, so a
    worker that starts late plays fewer episodes (none if this process has played them all) and nobody waits
    on a fixed share. ``results``: the workers' ``(index, EpisodeResult)`` pairs, sent as each episode ends.
    """

    claimed: Any
    results: Any


_IN_USE: dict[int, _Shared] = {}
"""Shared state of calls that returned while a worker was still starting, kept until every worker is done.

Freed, a call's counter would hand its shared memory to the next call's counter, and the late worker of the
first call would claim (and lose) the second call's seeds: measured, a hang.
"""


def _keep_while_running(shared: _Shared, futures: Sequence[concurrent.futures.Future[None]]) -> None:
    """Hold ``shared`` in :data:`_IN_USE` until every worker's part of the call has ended (or was cancelled)."""
    _IN_USE[id(shared)] = shared

    def release(_: concurrent.futures.Future[None]) -> None:
        if all(future.done() for future in futures):
            _IN_USE.pop(id(shared), None)

    for future in futures:
        future.add_done_callback(release)


def _claim(shared: _Shared, total: int) -> int | None:
    """The next unplayed index of the call's seeds, or ``None`` when every one has been taken."""
    with shared.claimed.get_lock():
        index = int(shared.claimed.value)
        if index >= total:
            return None
        shared.claimed.value = index + 1
    return index


def _play_claimed(
    agent: Agent,
    env: gym.Env,
    seeds: Sequence[int],
    shared: _Shared,
    settings: EpisodeSettings,
    bar: Any,
    done: Callable[[int, EpisodeResult], None],
) -> None:
    """Play claimed episodes on one env and agent until none is left, handing each result to ``done``.

    Reusing the env is what makes a worker cheap (one engine build, then ``reset(seed=...)``), and it returns
    the episodes of a fresh env per seed (``tests/test_evaluation_workers.py`` checks it per engine).
    """
    while (index := _claim(shared, len(seeds))) is not None:
        done(index, _play_seeded(agent, env, int(seeds[index]), settings.max_steps, settings.deterministic, bar))


def _start_worker(threads: int, shared: _Shared, parent_pid: int, death_signal: bool) -> None:
    """Pool initializer: end with the caller, take a share of the CPU threads and the call's shared state.

    A killed caller (SIGKILL, Ctrl-C of a hung run) must not leave workers playing out the remaining seeds
    for nobody: :func:`~nitrogen_datasets.parallel.end_with_parent` ends this process when it is gone.
    ``OMP_NUM_THREADS`` is set before torch loads (random play never loads it); torch and OpenCV, if the
    spawn already imported them, are told directly.
    """
    from nitrogen_datasets.parallel import end_with_parent

    end_with_parent(parent_pid, death_signal)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    _set_threads(threads)
    _WORKER.update(threads=threads, shared=shared)


def _play_in_worker(settings: EpisodeSettings, total: int, seeds: Sequence[int]) -> None:
    """A worker's part of a call: build the env and agent (a bad spec raises its own error), play claims.

    A worker that starts after every seed was taken returns at once, without building anything. Its extra
    first reset changes no episode: each starts from its own ``reset(seed=...)`` (tested per engine).
    """
    shared: _Shared = _WORKER["shared"]
    if int(shared.claimed.value) >= total:
        return
    env = make_eval_env(settings.env_id, task=settings.task, obs_size=settings.obs_size)
    try:
        agent = _load_agent(settings.agent, env, settings.game)
        # The first engine build (Procgen loads its assets: seconds, a minute on a loaded machine) before the
        # first claim, so that a seed is never held by a worker that is not ready to play it.
        env.reset(seed=int(seeds[0]))
        _set_threads(_WORKER["threads"])  # torch and OpenCV may have loaded just now
        _play_claimed(
            agent, env, seeds, shared, settings, None, lambda index, result: shared.results.put((index, result))
        )
    finally:
        env.close()


def _set_threads(threads: int) -> dict[str, int]:
    """Set the thread count of torch and OpenCV where loaded; their previous counts, for :func:`_restore_threads`."""
    before = {}
    torch = sys.modules.get("torch")
    if torch is not None:
        before["torch"] = torch.get_num_threads()
        torch.set_num_threads(threads)
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and hasattr(cv2, "setNumThreads"):
        before["cv2"] = cv2.getNumThreads()
        cv2.setNumThreads(threads)
    return before


def _restore_threads(before: dict[str, int]) -> None:
    """Put back the thread counts :func:`_set_threads` changed (this process keeps its own after a call)."""
    if "torch" in before:
        sys.modules["torch"].set_num_threads(before["torch"])
    if "cv2" in before:
        sys.modules["cv2"].setNumThreads(before["cv2"])


def _evaluate_in_workers(
    settings: EpisodeSettings, seeds: Sequence[int], workers: int, bar: Any
) -> list[EpisodeResult]:
    """Play ``seeds`` in this process and ``workers - 1`` spawned ones; results in the order of ``seeds``.

    The workers are started first, so their start-up (imports, agent load, first engine build: seconds, and
    a minute on a loaded machine) runs while this process, already warm, loads its agent and plays. Every
    player takes the next unplayed seed, so the call ends when the last episode does, whoever started late;
    a worker still starting then is not waited for (it finds no seed left and exits).
    """
    helpers = min(workers, len(seeds)) - 1
    threads = max(1, _cpu_count() // (helpers + 1))
    # spawn: engines hold threads and GL/SDL state that must not be forked; each worker imports afresh.
    context = multiprocessing.get_context("spawn")
    shared = _Shared(context.Value("q", 0), context.Queue())
    pool = concurrent.futures.ProcessPoolExecutor(
        helpers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(threads, shared, os.getpid(), threading.current_thread() is threading.main_thread()),
    )
    try:
        futures = [pool.submit(_play_in_worker, settings, len(seeds), seeds) for _ in range(helpers)]
        _keep_while_running(shared, futures)
        collected = _Collected(bar, shared, futures)
        env = make_eval_env(settings.env_id, task=settings.task, obs_size=settings.obs_size)
        try:
            agent = _load_agent(settings.agent, env, settings.game)
            before = _set_threads(threads)
            try:
                _play_claimed(agent, env, seeds, shared, settings, bar, collected.add_here)
            finally:
                _restore_threads(before)
        finally:
            env.close()
        while len(collected.results) < len(seeds):
            collected.receive(timeout=_WAIT_SECONDS)
        return [collected.results[index] for index in range(len(seeds))]
    finally:
        with shared.claimed.get_lock():
            shared.claimed.value = len(seeds)  # on an error, workers stop after their current episode
        pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class _Collected:
    """Episode results of one call as they arrive (this process's and the workers'), counted on the bar."""

    bar: Any
    shared: _Shared
    futures: list[concurrent.futures.Future[None]]
    results: dict[int, EpisodeResult] = field(default_factory=dict)

    def add_here(self, index: int, result: EpisodeResult) -> None:
        """This process finished an episode: keep it, take in the workers' so far, stop if one has failed."""
        self.results[index] = result
        self.bar.update(1)
        self.receive(timeout=0.0)

    def receive(self, timeout: float) -> None:
        """The workers' results sent so far (waiting up to ``timeout`` for one); a worker's error raised here."""
        try:
            while True:
                index, result = self.shared.results.get(timeout=timeout)
                self.results[index] = result
                self.bar.update(1)
                timeout = 0.0
        except queue.Empty:
            pass
        for future in self.futures:
            if future.done():
                future.result()  # raises the worker's error (or BrokenProcessPool if it died)


def _cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def make_eval_env(env_id: str, task: str | None = None, obs_size: int = 256) -> gym.Env:
    """The env every evaluation plays: ``env_id``'s task with flat (21,) gamepad actions and square frames."""
    return FlatGamepad(gym.make(env_id, task=task, obs_size=obs_size))


def play_episode(
    agent: Agent,
    env: gym.Env,
    seed: int,
    max_steps: int | None = None,
    deterministic: bool = True,
    bar: Any = None,
) -> EpisodeResult:
    """Play one episode from ``env.reset(seed=seed)`` to its end or ``max_steps``; ``bar`` shows the step count."""
    obs, info = env.reset(seed=int(seed))
    reset = getattr(agent, "reset", None)
    if callable(reset):
        reset()
    done, steps, total = False, 0, 0.0
    while not done:
        action, _ = agent.predict(obs, episode_start=np.array([steps == 0]), deterministic=deterministic)
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        steps += 1
        done = terminated or truncated or (max_steps is not None and steps >= max_steps)
        if bar is not None:
            _show_step(bar, steps)
    logger.info("%s seed %d: return %.2f success %s", env.spec.id if env.spec else env, seed, total, info["success"])
    return EpisodeResult(int(seed), total, bool(info["success"]), steps, info.get("score_normalized"))


def agent_obs_size(spec: str) -> int:
    """The frame size the agent named by ``spec`` plays at (read from its config, without loading weights)."""
    if spec == "random":
        return RANDOM_OBS_SIZE
    if (Path(spec) / PPO_CONFIG).is_file():
        return int(json.loads((Path(spec) / PPO_CONFIG).read_text())["obs_size"])
    return POLICY_OBS_SIZE


def resolve_agent(spec: str) -> tuple[Agent | str, int]:
    """An agent and its observation size from ``random``, a PPO or BC folder, or a NitroGen checkpoint/name/Hub id.

    ``random`` comes back as the string ``"random"`` (:func:`evaluate` builds it on the env). Weights are read
    from safetensors and JSON only: nothing is unpickled.

    Raises:
        DependencyNotInstalled: the agent needs an extra that is not installed (``rl`` for PPO/BC, ``policy``).
        CheckpointError: no such agent; the message suggests the closest bundled name, or ``random``.
    """
    from nitrogen_policies.import_utils import require_package

    if spec == "random":
        return "random", RANDOM_OBS_SIZE
    folder = Path(spec)
    if (folder / PPO_CONFIG).is_file():
        require_package("stable_baselines3")
        from nitrogen_policies.baselines.ppo import load_ppo

        return load_ppo(folder), agent_obs_size(spec)
    if (folder / BC_CONFIG).is_file():
        require_package("imitation")
        from nitrogen_policies.baselines.bc import load_bc

        return load_bc(folder), POLICY_OBS_SIZE
    from nitrogen_policies import NitroGenPolicy  # one line naming the `policy` extra when torch is missing
    from nitrogen_policies.errors import CheckpointError

    try:
        return NitroGenPolicy.from_pretrained(spec), POLICY_OBS_SIZE
    except CheckpointError as err:
        hint = (
            "did you mean 'random'?"
            if difflib.get_close_matches(spec.lower(), ["random"], cutoff=0.6)
            else ("--agent also takes 'random' (uniformly random play)")
        )
        raise CheckpointError(f"{err}; {hint}") from err


def _show_step(bar: Any, steps: int) -> None:
    """Put the running episode's step count on ``bar``, redrawn at most every ``bar.mininterval`` seconds.

    An episode can take minutes, so the bar must move between episodes too (in a log: a line every few seconds).
    """
    if bar.disable:
        return
    bar.set_postfix_str(f"step {steps}", refresh=False)
    now = time.monotonic()
    if now - getattr(bar, "_step_shown_at", 0.0) >= bar.mininterval:
        bar._step_shown_at = now
        bar.refresh()
