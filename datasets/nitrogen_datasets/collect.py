"""Collect expert demonstrations in parallel: local worker processes or a Ray cluster.

Every episode is one job, identified by its reset seed (``seed + k`` for ``k < episodes``). A worker
plays one job into its own one-episode staging dataset under ``OUT/.staging/``; the main process then
adopts finished jobs into ``OUT`` strictly in seed order. So:

* the episodes (seeds, actions, rewards, order) are the same whatever the number of workers or the
  order they finish in (experts are seeded per episode, see
  :func:`nitrogen_datasets.experts.base.episode_rng`);
* a crash or Ctrl-C loses at most the episodes being played: rerunning the same command skips the seeds
  already listed in ``meta/episodes.jsonl`` (episodes store their seed) and adopts staged episodes that had
  finished but were not adopted yet;
* workers never write to the shared dataset, so the metadata has one writer, and that writer holds
  the folder's lock: a second collection into the same folder is refused at once, naming the first one's pid;
* killing the main process ends its workers too (see :mod:`nitrogen_datasets.parallel`).

Example:
    >>> stats = collect(CollectConfig(game="CoinRun", episodes=8, workers=2), "demos/coinrun")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nitrogen_datasets.errors import DatasetError, DatasetNotFound, IncompatibleDataset
from nitrogen_datasets.format import DEFAULT_CRF, load_info
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.parallel import run_parallel
from nitrogen_datasets.writer import STAGING_DIR, DatasetWriter, WriterConfig, remove_staging_if_empty
from nitrogen_envs.progress import progress_bar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectConfig:
    """What to collect.

    Args:
        game: registry name or env id (``CoinRun`` or ``NitroGen/CoinRun-v0``).
        task: task name; ``None`` is the game's default task.
        episodes: how many episodes this collection should hold in total (seeds ``seed .. seed+episodes-1``);
            rerunning with a larger number extends it.
        expert: expert name (``planner``, ``scripted``, ``random``); ``None`` is the game's default expert.
        seed: first episode seed; also the expert's base seed.
        obs_size: square frame size of the recording.
        max_steps: cap on steps per episode (recorded as truncated); ``None`` keeps the env's limit.
        crf: x264 quality of the videos.
        workers: parallel worker processes (1 plays in this process).
    """

    game: str
    task: str | None = None
    episodes: int = 10
    expert: str | None = None
    seed: int = 0
    obs_size: int = 256
    max_steps: int | None = None
    crf: int = DEFAULT_CRF
    workers: int = 1

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.obs_size < 8:
            raise ValueError(f"obs_size must be >= 8 pixels, got {self.obs_size}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")

    def resolved(self) -> CollectConfig:
        """A copy with the game's canonical name, default task and default expert filled in.

        Raises:
            nitrogen_envs.errors.UnknownGame, UnknownTask: with close matches.
            nitrogen_datasets.experts.errors.UnknownExpert, ExpertUnsupported: a bad ``expert``.
        """
        from nitrogen_datasets.experts.registry import default_expert_name, make_expert
        from nitrogen_envs.registry import get_game

        spec = get_game(self.game)
        task = spec.task(self.task).name
        expert = self.expert or default_expert_name(spec.name)
        make_expert(expert, spec.name)  # validates the name and the engine before any worker starts
        return replace(self, game=spec.name, task=task, expert=expert)

    @property
    def source(self) -> str:
        """The ``source`` column of the episodes (``expert:<name>``)."""
        return f"expert:{self.expert}"


@dataclass(frozen=True)
class CollectStats:
    """What a collection run did.

    Args:
        collected: episodes played and added by this run.
        skipped: seeds already in the dataset (a resumed or repeated run).
        frames: frames added by this run.
        returns: returns of the episodes added by this run, in seed order.
        seconds: wall-clock time of the run.
    """

    collected: int
    skipped: int
    frames: int
    returns: tuple[float, ...]
    seconds: float

    @property
    def mean_return(self) -> float:
        """Mean return of the episodes this run added (NaN when it added none)."""
        return sum(self.returns) / len(self.returns) if self.returns else float("nan")


def collect(
    config: CollectConfig,
    out: str | Path,
    *,
    ray: bool = False,
    ray_address: str | None = None,
    progress: bool | None = None,
) -> CollectStats:
    """Collect ``config.episodes`` expert episodes of one game and task into the dataset ``out``.

    Args:
        config: what to collect (see :class:`CollectConfig`).
        out: dataset folder, created or extended.
        ray: run jobs as Ray tasks instead of local processes (``pip install "nitrogen-gym[scale]"``);
            Ray is initialized here if it is not yet (``ray_address`` or a local instance), and the staging
            folder must be on storage every Ray node can reach.
        ray_address: address of a running Ray cluster (``"auto"`` or ``ray://host:10001``).
        progress: show a progress bar with ETA (a line every few seconds when stderr is not a terminal);
            ``None`` shows it only when stderr is a TTY.

    Returns:
        Counts of collected and skipped episodes.

    Raises:
        IncompatibleDataset: ``out`` holds frames of another size or fps.
        DatasetLocked: another process is writing to ``out``.
        DatasetNeedsRepair: ``out`` holds episode files that its ``meta/info.json`` does not list.
    """
    started = time.monotonic()
    config = config.resolved()
    root = Path(out)
    fps = _game_fps(config.game)
    _check_existing(root, config, fps)
    writer = DatasetWriter(root, WriterConfig(fps=fps, crf=config.crf))
    done = {
        episode.seed
        for episode in (writer.info.episodes if writer.info else ())
        if episode.seed is not None
        and (episode.game, episode.task, episode.source) == (config.game, config.task, config.source)
    }
    seeds = [config.seed + k for k in range(config.episodes) if config.seed + k not in done]
    staging = root / STAGING_DIR
    for seed in done:  # staged by a run that died after adopting it: the episode is in OUT already
        shutil.rmtree(staging / _job_name(config, seed), ignore_errors=True)
    jobs = [_Job(config, seed, staging / _job_name(config, seed)) for seed in seeds]
    bar = progress_bar(
        config.episodes,
        f"collecting {config.game}/{config.task}",
        unit="episode",
        enabled=sys.stderr.isatty() if progress is None else progress,
        initial=config.episodes - len(seeds),
    )
    returns: list[float] = []
    frames = 0
    try:
        # Adopted in seed order, so the dataset does not depend on which worker finished first.
        for job, staged in run_parallel(
            jobs,
            play_job,
            workers=config.workers,
            ray=ray,
            ray_address=ray_address,
            on_complete=lambda _: bar.update(1),
        ):
            for entry in writer.adopt(staged):
                frames += entry.length
                returns.append(_episode_return(root, entry.episode_index, writer))
            shutil.rmtree(job.staging, ignore_errors=True)
            bar.set_postfix(frames=frames, refresh=False)  # drawn with the next update, not a line of its own
    finally:
        bar.close()
        writer.close()
    remove_staging_if_empty(root)
    stats = CollectStats(len(returns), config.episodes - len(seeds), frames, tuple(returns), time.monotonic() - started)
    logger.info(
        "collected %d episodes (%d frames) of %s/%s into %s", stats.collected, frames, config.game, config.task, root
    )
    return stats


@dataclass(frozen=True)
class _Job:
    config: CollectConfig
    seed: int
    staging: Path


def _job_name(config: CollectConfig, seed: int) -> str:
    return f"{config.game}-{config.task}-{config.expert}-seed{seed}"


def _game_fps(game: str) -> int:
    from nitrogen_envs.registry import get_game

    return get_game(game).native_fps


def _check_existing(root: Path, config: CollectConfig, fps: int) -> None:
    """Refuse before any episode is played when ``root`` holds data that could not be appended to."""
    try:
        info = load_info(root)
    except DatasetNotFound:
        return
    if (info.frame_height, info.frame_width) != (config.obs_size, config.obs_size) or info.fps != fps:
        raise IncompatibleDataset(
            f"{root} holds {info.frame_height}x{info.frame_width} frames at {info.fps} fps, but {config.game} "
            f"collects {config.obs_size}x{config.obs_size} at {fps} fps; pass --obs-size {info.frame_height} "
            "or collect into a new folder (mix datasets at training time instead)"
        )


def play_job(job: _Job) -> Path:
    """Worker entry point: play one episode into its staging dataset (reused when already complete)."""
    from nitrogen_datasets.experts.registry import make_expert
    from nitrogen_datasets.record import record_episodes

    try:
        if load_info(job.staging).total_episodes == 1:
            return job.staging  # finished before a crash of the main process
    except (DatasetError, OSError) as err:  # no, an unreadable or another version's info.json: replay the job
        logger.debug("replaying %s: %s", job.staging, err)
    shutil.rmtree(job.staging, ignore_errors=True)
    config = job.config
    env = _make_env(config)
    writer = DatasetWriter(job.staging, WriterConfig(fps=_game_fps(config.game), crf=config.crf))
    try:
        expert = make_expert(str(config.expert), config.game, seed=config.seed)
        record_episodes(
            env, expert, 1, writer, seed=job.seed, source=config.source, max_steps=config.max_steps, progress=False
        )
    finally:
        writer.close()
        env.close()
    return job.staging


def _make_env(config: CollectConfig) -> Any:
    import gymnasium as gym

    from nitrogen_envs.registry import get_game

    spec = get_game(config.game)
    # ViZDoom's scripted expert reads object positions and labels, which must be enabled at engine start.
    extra = {"privileged_info": True} if spec.engine == "vizdoom" and config.expert == "scripted" else {}
    return gym.make(spec.env_id, task=config.task, obs_size=config.obs_size, **extra)


def _episode_return(root: Path, index: int, writer: DatasetWriter) -> float:
    from nitrogen_datasets.format import episode_paths

    pq = require_package("pyarrow.parquet")
    data_rel, _ = episode_paths(index, writer.info.chunk_size if writer.info else 1000)
    return float(pq.read_table(root / data_rel, columns=["reward"]).column("reward").to_numpy().sum())
