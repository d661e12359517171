"""``nitrogen data import-nitrogen``: NVIDIA's released action chunks + the user's videos -> our demonstrations format.

Each chunk folder (``<video_id>_chunk_NNNN`` holding ``actions_raw.parquet`` and ``metadata.json``) becomes one
episode: its actions resampled to the dataset's fps (each output tick takes the action row in effect at its
time), its frames decoded from the local video (:mod:`.frames`), the game name kept, and the source column
``nitrogen-dataset:<chunk folder name>``. The same parallel and resumable pattern as ``nitrogen collect`` and
``nitrogen overlay build-corpus``:

* each chunk is one job; a worker writes it into its own staging dataset, and the main process adopts finished
  chunks in sorted order, so the dataset does not depend on the number of workers (local processes or Ray);
* a chunk whose video is missing, unreadable or mismatched, or whose files are malformed, is skipped with its
  reason, never stopping the batch; the reasons are listed in ``OUT/meta/nitrogen_import.json`` (rewritten
  each run) and returned;
* rerunning skips every chunk whose episode is already listed in ``meta/info.json`` (so nothing is written
  twice, also after a crash: the writer's journal completes or drops an interrupted commit) and tries the
  skipped ones again (a video downloaded since is picked up).

Example:
    >>> stats = import_nitrogen("actions", "videos", "demos/nitrogen", ImportConfig(fps=15))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from nitrogen_datasets.errors import IncompatibleDataset
from nitrogen_datasets.format import DEFAULT_CRF
from nitrogen_datasets.official.frames import ChunkSkipped, VideoIndex, chunk_frames
from nitrogen_datasets.official.schema import ACTIONS_FILE, METADATA_FILE, read_actions, read_metadata
from nitrogen_datasets.parallel import run_parallel
from nitrogen_datasets.safe_inputs import InvalidInputFile
from nitrogen_datasets.writer import (
    STAGING_DIR,
    DatasetWriter,
    WriterConfig,
    remove_staging_if_empty,
    write_json_atomic,
)
from nitrogen_envs.progress import progress_bar
from nitrogen_envs.registry import UNKNOWN_GAME

logger = logging.getLogger(__name__)

SOURCE_PREFIX = "nitrogen-dataset:"
"""Source column of imported episodes, followed by the chunk folder name; how a rerun knows what is done."""
REPORT_PATH = "meta/nitrogen_import.json"
"""Chunks the last run skipped, with their reasons (relative to the dataset folder)."""
TASK = "play"
STAGING_PREFIX = "nitrogen-import-"
"""Name prefix of this command's staging datasets under ``OUT/.staging``."""


@dataclass(frozen=True)
class ImportConfig:
    """How released chunks become episodes.

    Args:
        fps: frame rate of the dataset; chunks (60 fps in the release) are resampled to it.
        size: square frame side of the dataset, in pixels (the game area is resized to it).
        crf: x264 quality of the dataset videos.
        workers: parallel processes (or Ray tasks in flight).
    """

    fps: int = 15
    size: int = 256
    crf: int = DEFAULT_CRF
    workers: int = 1

    def __post_init__(self) -> None:
        if self.fps < 1:
            raise ValueError(f"fps must be >= 1, got {self.fps}")
        if self.size < 8:
            raise ValueError(f"size must be >= 8 pixels, got {self.size}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {self.crf}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


@dataclass(frozen=True)
class ChunkJob:
    """One chunk to import, the local video it pairs with (``None``: none found) and its staging dataset."""

    chunk: str
    key: str
    video_id: str
    video: str | None
    missing_reason: str
    staging: str
    config: ImportConfig


@dataclass(frozen=True)
class ChunkOutcome:
    """What became of one chunk: ``ok`` (its episode is staged) or ``skipped`` with the reason."""

    key: str
    status: str
    reason: str = ""
    frames: int = 0


@dataclass
class ImportStats:
    """Counts of one import run.

    Args:
        imported: chunks written as episodes by this run.
        frames: frames written by this run.
        already: chunks already in the dataset (an earlier or interrupted run), not written again.
        skipped: chunk folder name -> why it was not imported (missing video, bad file...).
        seconds: wall-clock time.
    """

    imported: int = 0
    frames: int = 0
    already: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def find_chunks(actions_dir: str | os.PathLike[str]) -> list[Path]:
    """Chunk folders (those holding ``metadata.json``) under ``actions_dir``, sorted; symlinked folders not followed.

    ``actions_dir`` may be the release's ``actions`` folder, one ``SHARD_XXXX``, one video's folder or one chunk.

    Raises:
        FileNotFoundError: ``actions_dir`` is not a folder.
    """
    root = Path(actions_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of NitroGen action chunks")
    return sorted(Path(dirpath) for dirpath, _, names in os.walk(root) if METADATA_FILE in names)


def process_chunk(job: ChunkJob) -> ChunkOutcome:
    """Worker: read, check and convert one chunk into its staging dataset; any refusal becomes a ``skipped`` outcome."""
    staging = Path(job.staging)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        frames = _write_chunk(job, staging)
    except (ChunkSkipped, InvalidInputFile) as err:
        shutil.rmtree(staging, ignore_errors=True)
        return ChunkOutcome(job.key, "skipped", str(err))
    return ChunkOutcome(job.key, "ok", frames=frames)


def _write_chunk(job: ChunkJob, staging: Path) -> int:
    chunk = Path(job.chunk)
    meta = read_metadata(chunk / METADATA_FILE)
    actions = read_actions(chunk / ACTIONS_FILE)  # both files are checked before the video is looked at
    if meta.video_id != job.video_id:
        raise ChunkSkipped(
            f"{chunk / METADATA_FILE} names video {meta.video_id!r} but its folder is named for {job.video_id!r}"
        )
    if job.video is None:
        raise ChunkSkipped(job.missing_reason)
    config = job.config
    writer = DatasetWriter(staging, WriterConfig(fps=config.fps, crf=config.crf))
    try:
        episode = writer.start_episode(meta.game or UNKNOWN_GAME, TASK, SOURCE_PREFIX + job.key)
        try:
            for position, image in chunk_frames(Path(job.video), meta, config.fps, config.size):
                # The rows are spread evenly over the chunk's time range: take the one in effect at this tick.
                row = min(len(actions) - 1, math.floor(position * len(actions) + 1e-6))
                episode.add(image, actions[row])
            frames = len(episode)
        except BaseException:
            writer.abort_episode(episode)
            raise
        writer.finish_episode(episode)
    finally:
        writer.close()
    return frames


def import_nitrogen(
    actions_dir: str | os.PathLike[str],
    videos_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: ImportConfig,
    *,
    ray: bool = False,
    ray_address: str | None = None,
    progress: bool | None = None,
) -> ImportStats:
    """Import every chunk under ``actions_dir`` whose video is under ``videos_dir`` into the dataset ``out``.

    Args:
        actions_dir: the release's ``actions`` folder (or a shard, video or chunk folder inside it).
        videos_dir: the user's downloaded videos, named by video id (searched recursively).
        out: dataset folder, created or extended (see the module docstring for resuming).
        config: fps, frame size, quality and workers.
        ray: run chunks as Ray tasks (``pip install "nitrogen-gym[scale]"``); staging must be on shared storage.
        ray_address: Ray cluster address (``None``: a local instance).
        progress: show a progress bar (``None``: only when stderr is a terminal).

    Raises:
        FileNotFoundError: ``actions_dir`` or ``videos_dir`` is not a folder.
        IncompatibleDataset: ``out`` holds frames of another size or fps.
        DatasetLocked: another process is writing to ``out``.
    """
    started = time.monotonic()
    chunks = find_chunks(actions_dir)
    if not Path(videos_dir).is_dir():
        raise FileNotFoundError(f"{videos_dir} is not a folder of videos")
    videos = VideoIndex(videos_dir)
    root = Path(out)
    writer = DatasetWriter(root, WriterConfig(fps=config.fps, crf=config.crf))
    stats = ImportStats()
    try:
        _check_size(writer, config)
        for leftover in sorted((root / STAGING_DIR).glob(STAGING_PREFIX + "*")):
            # Staged by a run that died (adopted or not); we hold OUT's lock, so no other import uses them.
            shutil.rmtree(leftover, ignore_errors=True)
        done = {e.source.removeprefix(SOURCE_PREFIX) for e in (writer.info.episodes if writer.info else ())}
        jobs: list[ChunkJob] = []
        for chunk in chunks:
            key = chunk.name
            if key in done:
                stats.already += 1
                continue
            video_id = chunk_video_id(chunk)
            video, reason = _pair(videos, video_id)
            staging = root / STAGING_DIR / f"{STAGING_PREFIX}{len(jobs):06d}"
            jobs.append(ChunkJob(str(chunk), key, video_id, video, reason, str(staging), config))
        _run(jobs, writer, stats, config, ray, ray_address, progress, len(chunks))
    finally:
        writer.close()
        write_json_atomic(root / REPORT_PATH, {"skipped": stats.skipped})
    remove_staging_if_empty(root)
    stats.seconds = time.monotonic() - started
    logger.info(
        "imported %d chunks (%d frames) into %s; %d skipped", stats.imported, stats.frames, root, len(stats.skipped)
    )
    return stats


def _check_size(writer: DatasetWriter, config: ImportConfig) -> None:
    info = writer.info
    if info is not None and (info.frame_height, info.frame_width) != (config.size, config.size):
        raise IncompatibleDataset(
            f"{writer.root} holds {info.frame_height}x{info.frame_width} frames; pass --size {info.frame_height} "
            "or import into a new folder"
        )


def chunk_video_id(chunk: Path) -> str:
    """The video id a chunk folder's name carries (``<video_id>_chunk_NNNN``; else its parent folder's name).

    The main process pairs chunks with videos by this name, without opening every ``metadata.json``; the
    worker then checks that the metadata names the same video.
    """
    return chunk.name.rsplit("_chunk_", 1)[0] if "_chunk_" in chunk.name else chunk.parent.name


def _pair(videos: VideoIndex, video_id: str) -> tuple[str | None, str]:
    try:
        return str(videos.find(video_id)), ""
    except ChunkSkipped as err:
        return None, str(err)


def _run(
    jobs: list[ChunkJob],
    writer: DatasetWriter,
    stats: ImportStats,
    config: ImportConfig,
    ray: bool,
    ray_address: str | None,
    progress: bool | None,
    total: int,
) -> None:
    bar = progress_bar(
        total,
        "importing NitroGen chunks",
        unit="chunk",
        enabled=sys.stderr.isatty() if progress is None else progress,
        initial=stats.already,
    )
    try:
        # Adopted in sorted order, so the dataset does not depend on which worker finished first.
        for job, outcome in run_parallel(
            jobs,
            process_chunk,
            workers=config.workers,
            ray=ray,
            ray_address=ray_address,
            on_complete=lambda _: bar.update(1),
        ):
            if outcome.status == "ok":
                writer.adopt(job.staging)
                stats.imported += 1
                stats.frames += outcome.frames
            else:
                stats.skipped[outcome.key] = outcome.reason
                logger.warning("skipped %s: %s", outcome.key, outcome.reason)
            shutil.rmtree(job.staging, ignore_errors=True)
            bar.set_postfix(episodes=stats.imported, skipped=len(stats.skipped), refresh=False)
    finally:
        bar.close()
