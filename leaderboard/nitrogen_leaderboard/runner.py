"""Run a protocol: every task's episodes on its seeds, in parallel, resumably, into one results file.

Each episode is one job, played by :func:`play_job` in this process, in local worker processes
(``workers``, spawned) or as Ray tasks (``use_ray``), through :func:`nitrogen_datasets.parallel.run_parallel`
(the same scheduler ``nitrogen collect`` uses: results in job order, workers end with their parent). A job
builds the env and the agent inside the worker (kept for the next job of the same task) and seeds the agent
from the episode's seed, so an episode is the same whichever worker plays it: ``--workers 2`` gives the
episodes of ``--workers 1``.

Resuming: with ``out``, each finished task is written atomically to ``<out>.partial/<NNN>_<Game>_<task>.json``
next to a ``run.json`` that names the run (agent, protocol fingerprint, track, seeds). A re-run with the same
arguments reads those files and plays only the tasks that are missing; at the end the results file is written
atomically and the partial folder removed. ``wall_time_s`` adds the time of earlier attempts up to their
last finished task.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nitrogen_envs.errors import NitroGenError
from nitrogen_envs.progress import progress_bar
from nitrogen_leaderboard.agents import agent_info, load_agent, obs_size, seed_agent, set_game
from nitrogen_leaderboard.protocol import Protocol, ProtocolError, TaskSpec
from nitrogen_leaderboard.schema import SEED_SETS, TRACKS, EpisodeRecord, ResultsFile, RunEnvironment

logger = logging.getLogger(__name__)

PACKAGE = "nitrogen-gym"
VERSIONED_PACKAGES = (
    "gymnasium",
    "numpy",
    "procgen2",
    "procgen-mirror",
    "ale-py",
    "vizdoom",
    "crafter",
    "torch",
    "stable-baselines3",
    "safetensors",
)
"""Distributions whose installed versions a results file records (engines and what the agent runs on)."""
PARTIAL_SUFFIX = ".partial"
RUN_FILE = "run.json"


class RunMismatch(NitroGenError, ValueError):
    """A partial folder left by a run with other arguments (agent, protocol, track or seeds)."""


@dataclass(frozen=True)
class EpisodeJob:
    """One episode to play: what a worker needs (picklable; the agent is named, not sent).

    Args:
        agent: agent spec (see :mod:`nitrogen_leaderboard.agents`).
        track: the leaderboard track (zero-shot hides the game's identity from the agent).
        task: the protocol task.
        seed: the episode's seed.
        obs_size: frame size the env renders for this agent.
    """

    agent: str
    track: str
    task: TaskSpec
    seed: int
    obs_size: int


_WORKER: dict[str, Any] = {}
"""This process's env and agent for the task it played last (each worker plays a task's episodes in a row)."""


def play_job(job: EpisodeJob, bar: Any = None) -> dict[str, Any]:
    """Play one episode (in a worker or in this process); returns an :class:`EpisodeRecord` as a dict."""
    from nitrogen_policies.evaluation import make_eval_env, play_episode

    key = (job.agent, job.track, job.task, job.obs_size)
    if _WORKER.get("key") != key:
        close_worker()
        env = make_eval_env(job.task.env_id, task=job.task.task, obs_size=job.obs_size)
        agent = load_agent(job.agent, env)
        set_game(agent, job.task.game, job.track)
        _WORKER.update(key=key, env=env, agent=agent)
    seed_agent(_WORKER["agent"], job.seed)
    result = play_episode(_WORKER["agent"], _WORKER["env"], job.seed, max_steps=job.task.max_steps, bar=bar)
    record = EpisodeRecord(
        game=job.task.game,
        task=job.task.task,
        seed=result.seed,
        episode_return=result.episode_return,
        success=result.success,
        steps=result.steps,
        score_normalized=result.score_normalized,
    )
    return record.model_dump(mode="json")


def close_worker() -> None:
    """Close this process's cached env (the end of an in-process run, or a switch to another task)."""
    env = _WORKER.pop("env", None)
    _WORKER.clear()
    if env is not None:
        env.close()


def run_environment() -> RunEnvironment:
    """Versions and hardware of this machine, for the results file."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)[:64]
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        package = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        package = "unknown"
    return RunEnvironment(
        package_version=package[:64],
        engine_versions=versions,
        python=platform.python_version(),
        platform=platform.platform()[:200],
        hardware=f"{cpu_model()} ({os.cpu_count()} CPUs)"[:200],
    )


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def partial_dir(out: Path) -> Path:
    """Where a run writing ``out`` keeps its finished tasks until it completes."""
    return out.with_name(out.name + PARTIAL_SUFFIX)


def _task_file(folder: Path, index: int, task: TaskSpec) -> Path:
    return folder / f"{index:03d}_{task.game}_{task.task}.json"


def _write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON through a fsynced temporary file in the same folder, then rename it into place."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _run_header(agent: str, protocol: Protocol, track: str, seed_set: str, seeds: list[list[int]]) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(seeds).encode()).hexdigest()
    return {"agent": agent, "protocol": protocol.fingerprint(), "track": track, "seed_set": seed_set, "seeds": digest}


def _open_partial(folder: Path, header: dict[str, Any]) -> None:
    """Create the partial folder with its ``run.json``, or check that an existing one is this run's."""
    run_file = folder / RUN_FILE
    if run_file.is_file():
        try:
            found = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            found = None
        if found != header:
            differs = sorted(k for k in header if not isinstance(found, dict) or found.get(k) != header[k])
            raise RunMismatch(
                f"{folder} holds a partial run with another {', '.join(differs) or 'format'}; delete that folder to "
                "start over, or write to another --out"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(run_file, header)


def _load_task(path: Path, task: TaskSpec, seeds: list[int]) -> tuple[list[EpisodeRecord], float] | None:
    """A finished task's episodes and the run's elapsed time when it finished; ``None`` when missing or unusable."""
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        episodes = [EpisodeRecord.model_validate(e) for e in raw["episodes"]]
        elapsed = float(raw["run_elapsed_s"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        logger.warning("%s is unreadable (%s); playing %s again", path, err, task.key)
        return None
    if [(e.game, e.task, e.seed) for e in episodes] != [(task.game, task.task, seed) for seed in seeds]:
        logger.warning("%s does not hold %s's episodes; playing it again", path, task.key)
        return None
    return episodes, elapsed


def _check_args(track: str, seed_set: str, workers: int) -> None:
    if track not in TRACKS:
        raise ProtocolError(f"unknown track {track!r}; choose one of {list(TRACKS)}")
    if seed_set not in SEED_SETS:
        raise ProtocolError(f"unknown seed set {seed_set!r}; choose one of {list(SEED_SETS)}")
    if workers < 1:
        raise ProtocolError(f"workers must be >= 1, got {workers}")


def run_protocol(
    agent: str,
    protocol: Protocol,
    track: str = "zero-shot",
    seed_set: str = "dev",
    secret: str | None = None,
    workers: int = 1,
    out: Path | None = None,
    progress: bool = False,
    use_ray: bool = False,
) -> ResultsFile:
    """Evaluate ``agent`` on every task of ``protocol`` and return (and with ``out``, write) the results file.

    Args:
        agent: agent spec: ``random``, a NitroGen name or folder, an SB3 baseline folder, ``module:callable``.
        protocol: the protocol (:func:`nitrogen_leaderboard.protocol.load_protocol`, maybe ``restricted``).
        track: leaderboard track; only ``zero-shot`` hides the game from game-conditioned agents.
        seed_set: ``dev`` (public) or ``test`` (needs ``secret``).
        secret: the server's test-seed secret.
        workers: parallel worker processes (or Ray tasks in flight); 1 plays in this process.
        out: results file to write atomically; its ``.partial`` folder makes the run resumable.
        progress: a bar of episodes with ETA on stderr.
        use_ray: run the episodes as Ray tasks (``ray.init()`` picks up ``RAY_ADDRESS`` for a cluster).

    Raises:
        ProtocolError: unknown track or seed set, bad worker count, test seeds without a secret.
        RunMismatch: ``out``'s partial folder belongs to a run with other arguments.
        AgentError, CheckpointError, DependencyNotInstalled: the agent cannot be loaded.
    """
    _check_args(track, seed_set, workers)
    started = time.monotonic()
    seeds = [protocol.seeds(task, seed_set, secret) for task in protocol.tasks]
    info = agent_info(agent)  # fails early, before any worker starts, on an agent that cannot be found
    size = obs_size(agent)
    folder = partial_dir(Path(out)) if out is not None else None
    done: dict[int, list[EpisodeRecord]] = {}
    prior = 0.0
    if folder is not None:
        _open_partial(folder, _run_header(agent, protocol, track, seed_set, seeds))
        for index, task in enumerate(protocol.tasks):
            loaded = _load_task(_task_file(folder, index, task), task, seeds[index])
            if loaded is not None:
                done[index], elapsed = loaded
                prior = max(prior, elapsed)
        if done:
            logger.info("resuming: %d of %d tasks already finished in %s", len(done), len(protocol.tasks), folder)
    jobs = [
        EpisodeJob(agent, track, task, seed, size)
        for index, task in enumerate(protocol.tasks)
        if index not in done
        for seed in seeds[index]
    ]
    index_of = {task: index for index, task in enumerate(protocol.tasks)}
    bar = progress_bar(len(jobs), f"eval {protocol.name}", unit="episode", enabled=progress)
    played: dict[int, list[EpisodeRecord]] = {}
    try:
        from nitrogen_datasets.parallel import run_parallel

        in_process = workers == 1 and not use_ray
        fn = functools.partial(play_job, bar=bar) if in_process else play_job
        for job, record in run_parallel(jobs, fn, workers=workers, ray=use_ray, on_complete=lambda job: bar.update(1)):
            index = index_of[job.task]
            played.setdefault(index, []).append(EpisodeRecord.model_validate(record))
            bar.set_postfix_str(job.task.key, refresh=False)
            if len(played[index]) == len(seeds[index]):
                done[index] = played.pop(index)
                if folder is not None:
                    _write_json_atomic(
                        _task_file(folder, index, job.task),
                        {
                            "task": job.task.key,
                            "episodes": [e.model_dump(mode="json") for e in done[index]],
                            "run_elapsed_s": prior + time.monotonic() - started,
                        },
                    )
    finally:
        bar.close()
        close_worker()
    results = ResultsFile(
        protocol=protocol.name,
        track=track,  # type: ignore[arg-type]  # checked by _check_args
        seed_set=seed_set,  # type: ignore[arg-type]
        agent=info,
        environment=run_environment(),
        wall_time_s=prior + time.monotonic() - started,
        episodes=[episode for index in range(len(protocol.tasks)) for episode in done[index]],
    )
    if out is not None:
        write_results(results, Path(out))
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return results


def write_results(results: ResultsFile, path: Path) -> None:
    """Write a results file atomically (what ``nitrogen submit`` and the server read back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(path, results.model_dump(mode="json"))


def episodes_per_second(results: ResultsFile) -> float:
    """Episodes played per second of wall time (a resumed run counts only the time of its attempts)."""
    return len(results.episodes) / results.wall_time_s if results.wall_time_s > 0 else float("inf")


__all__ = [
    "EpisodeJob",
    "RunMismatch",
    "episodes_per_second",
    "play_job",
    "run_environment",
    "run_protocol",
    "write_results",
]
