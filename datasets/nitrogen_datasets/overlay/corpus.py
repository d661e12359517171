"""Turn a folder of overlay videos into a demonstrations dataset (``nitrogen overlay build-corpus``).

Each video is one job and one decode: while extraction reads its actions (localize, parse), the frames
that the dataset's ticks use are masked (the overlay blacked out, so a model cannot read the answer off the
screen), resized to the dataset's frame size and spooled losslessly to disk (:mod:`.resample`); once the
quality filter has judged the whole video, the frames it keeps go straight to the dataset writer, cut into
episodes (runs of at least ``min_episode_frames``). The dataset's own encode is the only lossy one. The full-size
masked video is written beside, from the same decode, only when ``masked_videos`` asks for it. A worker writes
into its own staging dataset; the main process adopts finished videos in sorted order, so the result does
not depend on the number of workers.

Nothing stops a batch: an unreadable video, one without the overlay, or one with nothing worth keeping
is recorded with its reason in ``meta/corpus.json`` and counted. Rerunning the same command skips every
video listed there (``retry_failed`` tries the failed ones again), so an interrupted build resumes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nitrogen_datasets.errors import DatasetError, IncompatibleDataset
from nitrogen_datasets.format import DEFAULT_CRF
from nitrogen_datasets.overlay.errors import InvalidOverlayConfig
from nitrogen_datasets.overlay.extract import (
    PARSERS,
    ExtractConfig,
    Extraction,
    check_known_placement,
    check_search_seconds,
    read_actions,
)
from nitrogen_datasets.overlay.masking import FrameTap, MaskedVideoTap
from nitrogen_datasets.overlay.resample import FrameSpool, dataset_sources
from nitrogen_datasets.parallel import run_parallel
from nitrogen_datasets.safe_inputs import refuse_inside
from nitrogen_datasets.writer import STAGING_DIR, DatasetWriter, EpisodeBuffer, WriterConfig, remove_staging_if_empty
from nitrogen_envs import gamepad
from nitrogen_envs.progress import progress_bar
from nitrogen_envs.registry import UNKNOWN_GAME
from nitrogen_envs.video import check_preset

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi")
MANIFEST = "meta/corpus.json"


class NoVideosFound(DatasetError, FileNotFoundError):
    """The videos folder is not a folder, or holds no file with a video suffix (:data:`VIDEO_SUFFIXES`)."""


@dataclass(frozen=True)
class CorpusConfig:
    """How videos become episodes.

    Args:
        layout: the overlay layout JSON shared by the videos.
        game: game name stored with the episodes (videos of unknown games: :data:`~nitrogen_envs.registry.UNKNOWN_GAME`).
        fps: frame rate of the dataset; videos are resampled to it.
        obs_size: square frame size of the dataset.
        min_episode_frames: shorter runs of kept frames are dropped.
        method: overlay parser, ``learned`` or ``reference``.
        parser_weights: learned-parser folder (``None``: shipped weights).
        crf: x264 quality of the dataset videos.
        preset: x264 speed preset of the dataset videos (:data:`~nitrogen_envs.video.X264_PRESETS`). ``veryfast``,
            not x264's ``medium``: on a 720p clip's 150 kept 256 px frames at CRF 18 it encoded in 0.18 s instead
            of 0.56 s (the encode was a fifth of the build), for a file 1% larger and 0.3 dB less PSNR against
            the frames given (37.0 against 37.3 dB; docs/overlay.md, "Speed", session 18).
        masked_videos: folder that also receives each video's masked mp4 (full size and rate, the tree of the
            videos folder mirrored, non-mp4 names get ``.mp4`` appended); ``None``: none are written.
        placement: ``(x, y, scale)`` of the overlay in every video (:attr:`~.extract.ExtractConfig.placement`: videos
            of one stream setup share it); ``None`` searches each video for it.
        search_seconds: how far into a video the search goes where its first frames do not show the overlay
            (:attr:`~.extract.ExtractConfig.search_seconds`).
    """

    layout: str
    game: str = UNKNOWN_GAME
    fps: int = 15
    obs_size: int = 256
    min_episode_frames: int = 16
    method: str = "learned"
    parser_weights: str | None = None
    crf: int = DEFAULT_CRF
    preset: str = "veryfast"
    masked_videos: str | None = None
    placement: tuple[int, int, float] | None = None
    search_seconds: float = ExtractConfig.search_seconds

    def __post_init__(self) -> None:
        check_known_placement(self.placement)
        check_search_seconds(self.search_seconds)
        # Checked here, once: a bad setting would otherwise fail every video of the batch, each on its own.
        if self.method not in PARSERS:
            raise InvalidOverlayConfig(f"method must be one of {PARSERS}, got {self.method!r}")
        for name in ("fps", "obs_size", "min_episode_frames"):
            if getattr(self, name) < 1:
                raise InvalidOverlayConfig(f"{name} must be >= 1, got {getattr(self, name)}")
        try:
            check_preset(self.preset)
        except ValueError as err:
            raise InvalidOverlayConfig(str(err)) from err


@dataclass(frozen=True)
class VideoJob:
    """One video to process, and where its staging dataset goes."""

    video: str
    key: str
    staging: str
    config: CorpusConfig


@dataclass
class VideoOutcome:
    """What became of one video: ``status`` is ``ok``, ``empty`` (nothing kept) or ``failed``."""

    key: str
    status: str
    reason: str = ""
    frames: int = 0
    kept_fraction: float = 0.0
    episodes: int = 0


@dataclass
class CorpusStats:
    """Counts of one build run (``skipped`` = already in the manifest)."""

    processed: int = 0
    episodes: int = 0
    failed: int = 0
    empty: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)


def find_videos(folder: str | os.PathLike[str]) -> list[Path]:
    """Video files under ``folder``, recursively, sorted (the adoption order); an empty list when there are none.

    Raises:
        NoVideosFound: ``folder`` is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise NoVideosFound(f"{root} is not a folder of videos; pass the folder that holds them")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def masked_video_path(folder: str | os.PathLike[str], key: str) -> Path:
    """Where the masked mp4 of the video ``key`` (its path under the videos folder) goes in ``folder``.

    >>> masked_video_path("masked", "day1/run.mkv").as_posix()
    'masked/day1/run.mkv.mp4'
    """
    return Path(folder) / (key if key.lower().endswith(".mp4") else f"{key}.mp4")


def process_video(job: VideoJob) -> VideoOutcome:
    """Worker: extract one video into its staging dataset; any failure becomes a ``failed`` outcome."""
    staging = Path(job.staging)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    config = job.config
    spool = FrameSpool(staging / "frames.spool", config.fps, config.obs_size)
    taps: list[FrameTap] = [spool]
    try:
        if config.masked_videos is not None:
            masked = masked_video_path(config.masked_videos, job.key)
            masked.parent.mkdir(parents=True, exist_ok=True)
            taps.append(MaskedVideoTap(masked))
        extract_config = ExtractConfig(
            method=config.method,
            parser_weights=config.parser_weights,
            placement=config.placement,
            search_seconds=config.search_seconds,
        )
        got = read_actions(job.video, config.layout, extract_config, taps)
        episodes = _write_episodes(job, got, spool, staging / "dataset")
    except Exception as err:  # a bad video must never stop the batch; the reason is recorded
        shutil.rmtree(staging, ignore_errors=True)
        return VideoOutcome(job.key, "failed", f"{type(err).__name__}: {err}")
    finally:
        spool.remove()
    status = "ok" if episodes else "empty"
    return VideoOutcome(
        job.key, status, "" if episodes else "no kept run long enough", got.frames, got.kept_fraction, episodes
    )


def dataset_actions(actions: np.ndarray) -> np.ndarray:
    """(N, 21) float32 actions as a dataset stores them: missing elements released or centred, presses 0/1.

    ``actions`` are extraction's readings (:attr:`~.extract.Extraction.actions`); they are not changed.
    """
    actions = np.nan_to_num(actions.astype(np.float32), nan=0.0)  # elements the layout lacks: released / centred
    actions[:, gamepad.BUTTON_SLICE] = (actions[:, gamepad.BUTTON_SLICE] >= gamepad.BUTTON_THRESHOLD).astype(np.float32)
    return np.clip(actions, gamepad.FLAT_LOW, gamepad.FLAT_HIGH)


def _write_episodes(job: VideoJob, got: Extraction, spool: FrameSpool, out: Path) -> int:
    """Resample the spooled frames and the actions to the dataset fps; write each kept run as an episode."""
    config = job.config
    if got.frames == 0:
        return 0
    actions, keep = dataset_actions(got.actions), got.keep
    sources = dataset_sources(got.times, config.fps)  # the frames the spool holds, one per dataset tick
    writer = DatasetWriter(out, WriterConfig(fps=config.fps, crf=config.crf, preset=config.preset))
    episodes = 0
    episode: EpisodeBuffer | None = None
    try:
        for index, image in zip(sources.tolist(), spool.frames(sources), strict=True):
            if keep[index]:
                if episode is None:
                    episode = writer.start_episode(config.game, "play", f"overlay:{job.key}")
                episode.add(image, actions[index])
            elif episode is not None:
                episodes += _close(writer, episode, config.min_episode_frames)
                episode = None
        if episode is not None:
            episodes += _close(writer, episode, config.min_episode_frames)
            episode = None
    finally:
        writer.close()
    return episodes


def _close(writer: DatasetWriter, episode: EpisodeBuffer, min_frames: int) -> int:
    """Finish ``episode`` when it holds ``min_frames`` or more, else drop it; 1 if it was kept."""
    if len(episode) < min_frames:
        writer.abort_episode(episode)
        return 0
    writer.finish_episode(episode)
    return 1


def _load_manifest(root: Path) -> dict[str, dict]:
    path = root / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def _save_manifest(root: Path, manifest: dict[str, dict]) -> None:
    path = root / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, path)


def build_corpus(
    videos: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: CorpusConfig,
    *,
    workers: int = 1,
    ray: bool = False,
    ray_address: str | None = None,
    retry_failed: bool = False,
    progress: bool | None = None,
) -> CorpusStats:
    """Extract every video under ``videos`` into the demonstrations dataset ``out`` (see the module docstring).

    Raises:
        OutputOverwritesInput: ``out`` is inside ``videos`` (the dataset's mp4s would become input videos) or
            ``videos`` inside ``out``; or ``config.masked_videos`` is inside either, or holds ``videos``.
        NoVideosFound: ``videos`` is not a folder, or holds no video file.
        nitrogen_datasets.overlay.layout.InvalidLayout: the layout is broken (checked before any video).
        nitrogen_datasets.overlay.parser_weights.ParserNotFound: ``config.parser_weights`` holds no parser.
        IncompatibleDataset: ``out`` already holds frames of another size than ``config.obs_size``.
    """
    from nitrogen_datasets.overlay.layout import load_layout

    started = time.monotonic()
    root, source = Path(out), Path(videos)
    # The dataset's own mp4s must not become input videos, nor its files land on the user's videos.
    refuse_inside(root, source, "--out", "VIDEOS folder")
    refuse_inside(source, root, "VIDEOS", "--out dataset folder")
    if config.masked_videos is not None:  # masked mp4s must become neither input videos nor unlisted dataset files
        masked = Path(config.masked_videos)
        refuse_inside(masked, source, "--masked-videos", "VIDEOS folder")
        refuse_inside(masked, root, "--masked-videos", "--out dataset folder")
        refuse_inside(source, masked, "VIDEOS", "--masked-videos folder")
    files = find_videos(source)
    if not files:
        raise NoVideosFound(
            f"no videos found under {source} (looked for {' '.join(sorted(VIDEO_SUFFIXES))} files, "
            "recursively); nothing to build"
        )
    load_layout(config.layout)  # fail once, clearly, rather than once per video
    if config.method == "learned":
        from nitrogen_datasets.overlay.parser_weights import load_parser

        load_parser(config.parser_weights)
    with DatasetWriter(
        root, WriterConfig(fps=config.fps, crf=config.crf, preset=config.preset)
    ) as writer:  # unlocked however it ends
        info = writer.info
        if info is not None and (info.frame_height, info.frame_width) != (config.obs_size,) * 2:
            raise IncompatibleDataset(
                f"{root} holds {info.frame_height}x{info.frame_width} frames; pass "
                f"--obs-size {info.frame_height} or build into a new folder"
            )
        manifest = _load_manifest(root)
        adopted = {e.source.removeprefix("overlay:") for e in (info.episodes if info else ())}
        stats = CorpusStats()
        jobs: list[VideoJob] = []
        for path in files:
            key = path.relative_to(source).as_posix()
            entry = manifest.get(key)
            if key in adopted or (entry is not None and (entry["status"] != "failed" or not retry_failed)):
                stats.skipped += 1
                continue
            jobs.append(VideoJob(str(path), key, str(root / STAGING_DIR / f"{len(jobs):06d}"), config))
        enabled = sys.stderr.isatty() if progress is None else progress
        with progress_bar(len(files), "building corpus", unit="video", enabled=enabled, initial=stats.skipped) as bar:
            # Adopted in sorted order, so the dataset does not depend on which worker finished first.
            for job, outcome in run_parallel(
                jobs,
                process_video,
                workers=workers,
                ray=ray,
                ray_address=ray_address,
                on_complete=lambda _: bar.update(1),
            ):
                _record(writer, job, outcome, stats)
                manifest[outcome.key] = asdict(outcome)
                _save_manifest(root, manifest)
                shutil.rmtree(job.staging, ignore_errors=True)
                bar.set_postfix(
                    episodes=stats.episodes, failed=stats.failed, refresh=False
                )  # shown with the next update
    remove_staging_if_empty(root)
    stats.seconds = time.monotonic() - started
    return stats


def _record(writer: DatasetWriter, job: VideoJob, outcome: VideoOutcome, stats: CorpusStats) -> None:
    """Adopt a finished video's episodes into the dataset and count its outcome."""
    if outcome.status == "ok":
        writer.adopt(Path(job.staging) / "dataset")
        stats.episodes += outcome.episodes
    elif outcome.status == "failed":
        stats.failed += 1
        stats.failures[outcome.key] = outcome.reason
        logger.warning("skipped %s: %s", outcome.key, outcome.reason)
    else:
        stats.empty += 1
    stats.processed += 1
