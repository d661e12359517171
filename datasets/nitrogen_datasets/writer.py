"""Append episodes to a demonstrations dataset, atomically and resumably.

Each episode is streamed to temp files (``*.partial``); when it ends, the parquet and mp4 are renamed
into place and only then is ``meta/info.json`` rewritten (atomically) to list it. So a crash loses at most
the episode being written, a reader never sees a half-written one (readers only trust ``info.json``), and
reopening the folder appends after the last finished episode, deleting the crash's leftovers.

Example:
    >>> writer = DatasetWriter("demos", WriterConfig(fps=15))  # doctest: +SKIP
    >>> episode = writer.start_episode(game="CoinRun", task="hard", source="random")  # doctest: +SKIP
    >>> episode.add(frame, action, reward=0.0)  # doctest: +SKIP
    >>> writer.finish_episode(episode)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from nitrogen_datasets.errors import CorruptEpisode, DatasetNotFound, IncompatibleDataset, InvalidEpisode
from nitrogen_datasets.format import (
    ACTION_COLUMNS,
    CHUNK_SIZE,
    TMP_SUFFIX,
    DatasetInfo,
    EpisodeInfo,
    episode_paths,
    load_info,
    save_info,
)
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.video_io import episode_encoder
from nitrogen_envs import gamepad

logger = logging.getLogger(__name__)

STAGING_DIR = ".staging"
"""Folder inside a dataset where parallel workers write one-job datasets for :meth:`DatasetWriter.adopt`."""


def remove_staging_if_empty(root: str | os.PathLike[str]) -> None:
    """Delete ``root``'s staging folder once every staged job was adopted (kept while jobs remain)."""
    staging = Path(root) / STAGING_DIR
    if staging.is_dir() and not any(staging.iterdir()):
        staging.rmdir()


@dataclass(frozen=True)
class WriterConfig:
    """How new episodes are encoded.

    Args:
        fps: frames per second of the recording; use the env's ``metadata["render_fps"]``.
        crf: x264 constant rate factor (lower = better quality, larger files; 18 is near-lossless).
        gop: keyframe interval in frames; a random read decodes at most this many frames.
        pix_fmt: ``yuv420p`` (plays in every player) or ``yuv444p`` (keeps colour detail of tiny frames).
    """

    fps: int = 15
    crf: int = 18
    gop: int = 16
    pix_fmt: str = "yuv420p"

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {self.crf}")
        if self.gop < 1:
            raise ValueError(f"gop must be >= 1, got {self.gop}")
        if self.pix_fmt not in ("yuv420p", "yuv444p"):
            raise ValueError(f"pix_fmt must be 'yuv420p' or 'yuv444p', got {self.pix_fmt!r}")


def file_sha256(path: str | os.PathLike[str], block: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks so memory stays flat for large videos."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def as_flat_action(action: Any) -> np.ndarray:
    """Canonical (21,) float32 vector of a Dict or flat gamepad action, buttons snapped to 0/1.

    Snapping records exactly what the game received (the env thresholds buttons at 0.5 too).

    Raises:
        ValueError: a malformed action (the message names the field).
    """
    if isinstance(action, Mapping):
        return gamepad.to_flat(action)
    flat = gamepad.validate_flat(action).copy()
    flat[gamepad.BUTTON_SLICE] = (flat[gamepad.BUTTON_SLICE] >= gamepad.BUTTON_THRESHOLD).astype(np.float32)
    return flat


class EpisodeBuffer:
    """One episode being written: frames stream into the encoder, per-step values stay in small lists.

    Created by :meth:`DatasetWriter.start_episode`; hand it back to :meth:`DatasetWriter.finish_episode`
    or :meth:`DatasetWriter.abort_episode`.
    """

    def __init__(
        self,
        index: int,
        game: str,
        task: str,
        source: str,
        video_tmp: Path,
        config: WriterConfig,
        seed: int | None = None,
    ) -> None:
        self.index, self.game, self.task, self.source, self.seed = index, game, task, source, seed
        self.video_tmp = video_tmp
        self.video = episode_encoder(video_tmp, config.fps, config.crf, config.gop, config.pix_fmt)
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.terminated: list[bool] = []
        self.truncated: list[bool] = []

    def __len__(self) -> int:
        return len(self.actions)

    def add(
        self, frame: np.ndarray, action: Any, reward: float = 0.0, terminated: bool = False, truncated: bool = False
    ) -> None:
        """Record one step: ``action`` was taken on ``frame`` and earned ``reward``.

        Args:
            frame: (H, W, 3) uint8 RGB observation the action was chosen on.
            action: Dict or flat (21,) gamepad action.
            reward: reward returned by the step.
            terminated: the step ended the episode inside the game.
            truncated: the step ended the episode by a time limit.
        """
        flat = as_flat_action(action)
        self.video.write(np.asarray(frame))
        self.actions.append(flat)
        self.rewards.append(float(reward))
        self.terminated.append(bool(terminated))
        self.truncated.append(bool(truncated))


class DatasetWriter:
    """Create a dataset folder, or reopen one to append episodes.

    Args:
        root: dataset folder (created if missing).
        config: encoding settings; when ``root`` exists, its fps must match.

    Raises:
        IncompatibleDataset: the existing dataset has another fps.
        FormatVersionMismatch, SchemaVersionMismatch: the existing dataset is of another version.
    """

    def __init__(self, root: str | os.PathLike[str], config: WriterConfig | None = None) -> None:
        self.root = Path(root)
        self.config = config or WriterConfig()
        self._pq = require_package("pyarrow.parquet")
        self._pa = require_package("pyarrow")
        try:
            self.info: DatasetInfo | None = load_info(self.root)
        except DatasetNotFound:
            self.info = None
        if self.info is not None and self.info.fps != self.config.fps:
            raise IncompatibleDataset(
                f"{self.root} was recorded at {self.info.fps} fps, the writer is configured for {self.config.fps}; "
                "write to a new folder or pass WriterConfig(fps=...) matching the dataset"
            )
        self._clean_leftovers()
        self._open: EpisodeBuffer | None = None

    @property
    def num_episodes(self) -> int:
        """Finished episodes in the dataset (the index the next episode gets)."""
        return 0 if self.info is None else self.info.total_episodes

    def _clean_leftovers(self) -> None:
        """Delete temp files and files of episodes that ``info.json`` does not list (a crash between rename and commit)."""
        listed = {path for i in range(self.num_episodes) for path in episode_paths(i, self._chunk_size)}
        for folder in ("data", "videos", "meta"):
            base = self.root / folder
            if not base.is_dir():
                continue
            for path in base.rglob("*"):
                if not path.is_file():
                    continue
                relative = path.relative_to(self.root).as_posix()
                stray = path.name.endswith(TMP_SUFFIX) or (
                    folder != "meta" and path.suffix in (".parquet", ".mp4") and relative not in listed
                )
                if stray:
                    logger.warning("removing %s left by an interrupted writer", path)
                    path.unlink()

    @property
    def _chunk_size(self) -> int:
        return CHUNK_SIZE if self.info is None else self.info.chunk_size

    def start_episode(self, game: str, task: str, source: str = "", seed: int | None = None) -> EpisodeBuffer:
        """Begin the next episode; frames go straight to a temp mp4.

        ``seed`` is the ``env.reset`` seed the episode starts from, stored in ``meta/info.json`` when given.

        Raises:
            RuntimeError: another episode is still open (finish or abort it first).
        """
        if self._open is not None:
            raise RuntimeError(f"episode {self._open.index} is still open; call finish_episode or abort_episode first")
        _, video = episode_paths(self.num_episodes, self._chunk_size)
        video_tmp = self.root / (video + TMP_SUFFIX)
        self._open = EpisodeBuffer(
            self.num_episodes,
            str(game),
            str(task),
            str(source),
            video_tmp,
            self.config,
            None if seed is None else int(seed),
        )
        return self._open

    def abort_episode(self, episode: EpisodeBuffer) -> None:
        """Drop an unfinished episode and its temp files."""
        episode.video.abort()
        if self._open is episode:
            self._open = None

    def finish_episode(self, episode: EpisodeBuffer) -> EpisodeInfo:
        """Write the episode's parquet, move both files into place, then list it in ``meta/info.json``.

        Raises:
            InvalidEpisode: the episode is empty or its frame size differs from the dataset's.
        """
        if episode is not self._open:
            raise RuntimeError("finish_episode got an episode that is not the open one")
        try:
            return self._commit(episode)
        except BaseException:
            self.abort_episode(episode)
            raise
        finally:
            self._open = None

    def _commit(self, episode: EpisodeBuffer) -> EpisodeInfo:
        if len(episode) == 0:
            raise InvalidEpisode(f"episode {episode.index} has no frames; nothing to write")
        height, width = episode.video.shape or (0, 0)
        self._check_frame_size(height, width)
        episode.video.close()
        template = EpisodeInfo(
            episode_index=episode.index,
            length=len(episode),
            game=episode.game,
            task=episode.task,
            source=episode.source,
            seed=episode.seed,
        )
        return self._install(template, self._table(episode), episode.video_tmp, height, width)

    def _check_frame_size(self, height: int, width: int) -> None:
        if self.info is not None and (height, width) != (self.info.frame_height, self.info.frame_width):
            raise IncompatibleDataset(
                f"episode frames are {height}x{width} but {self.root} holds "
                f"{self.info.frame_height}x{self.info.frame_width} frames; resize them or write to a new folder"
            )

    def _install(self, template: EpisodeInfo, table: Any, video_tmp: Path, height: int, width: int) -> EpisodeInfo:
        """Write the parquet, fsync both temp files, rename them into place, then list the episode.

        ``template.video_sha256`` is kept when given (a video already checked); otherwise it is computed.
        """
        data_rel, video_rel = episode_paths(template.episode_index, self._chunk_size)
        data_path, video_path = self.root / data_rel, self.root / video_rel
        data_tmp = data_path.with_name(data_path.name + TMP_SUFFIX)
        data_tmp.parent.mkdir(parents=True, exist_ok=True)
        self._pq.write_table(table, data_tmp, compression="zstd")
        for tmp in (data_tmp, video_tmp):
            _fsync(tmp)
        entry = replace(
            template,
            parquet_sha256=file_sha256(data_tmp),
            video_sha256=template.video_sha256 or file_sha256(video_tmp),
        )
        os.replace(data_tmp, data_path)
        video_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(video_tmp, video_path)
        base = self.info or DatasetInfo(
            fps=self.config.fps,
            frame_height=height,
            frame_width=width,
            video_crf=self.config.crf,
            video_gop=self.config.gop,
            video_pix_fmt=self.config.pix_fmt,
        )
        self.info = base.with_episode(entry)
        save_info(self.root, self.info)
        logger.debug("wrote episode %d (%d frames) to %s", entry.episode_index, entry.length, self.root)
        return entry

    def adopt(self, other: str | os.PathLike[str]) -> list[EpisodeInfo]:
        """Move every episode of the finished dataset ``other`` into this one, appended and renumbered.

        This is how parallel collection stays safe: each worker records into its own small dataset, and
        one process adopts them in a fixed order, so the result does not depend on which worker finished
        first. Files are moved (same filesystem: a rename), and each episode is checked against its
        sha256 first, so a damaged staging file is refused rather than listed. ``other`` is left empty of
        episode files; delete the folder afterwards.

        Raises:
            IncompatibleDataset: ``other`` has another fps or frame size.
            CorruptEpisode: a staged file does not match its checksum.
        """
        if self._open is not None:
            raise RuntimeError(f"episode {self._open.index} is still open; finish or abort it before adopting")
        source_root = Path(other)
        staged = load_info(source_root)
        if staged.fps != self.config.fps:
            raise IncompatibleDataset(
                f"{source_root} was recorded at {staged.fps} fps but {self.root} is at {self.config.fps} fps"
            )
        self._check_frame_size(staged.frame_height, staged.frame_width)
        adopted = []
        for episode in staged.episodes:
            data_rel, video_rel = episode_paths(episode.episode_index, staged.chunk_size)
            data_src, video_src = source_root / data_rel, source_root / video_rel
            for path, expected in ((data_src, episode.parquet_sha256), (video_src, episode.video_sha256)):
                if not path.is_file() or (expected and file_sha256(path) != expected):
                    raise CorruptEpisode(f"{path} is missing or does not match its sha256; re-record that episode")
            index = self.num_episodes
            table = self._pq.read_table(data_src)
            position = table.schema.get_field_index("episode_index")
            table = table.set_column(
                position, "episode_index", self._pa.array(np.full(table.num_rows, index, dtype=np.int64))
            )
            _, video_dest = episode_paths(index, self._chunk_size)
            video_tmp = self.root / (video_dest + TMP_SUFFIX)
            video_tmp.parent.mkdir(parents=True, exist_ok=True)
            os.replace(video_src, video_tmp)
            # The video is moved unchanged, so its checked sha256 stands; the parquet is rewritten.
            template = replace(episode, episode_index=index, parquet_sha256="")
            adopted.append(self._install(template, table, video_tmp, staged.frame_height, staged.frame_width))
            data_src.unlink()
        return adopted

    def _table(self, episode: EpisodeBuffer) -> Any:
        pa = self._pa
        n = len(episode)
        actions = np.stack(episode.actions).astype(np.float32)
        columns: dict[str, Any] = {
            "episode_index": pa.array(np.full(n, episode.index, dtype=np.int64)),
            "frame_index": pa.array(np.arange(n, dtype=np.int64)),
            "timestamp": pa.array(np.arange(n, dtype=np.float32) / np.float32(self.config.fps)),
        }
        for position, name in enumerate(ACTION_COLUMNS):
            columns[name] = pa.array(actions[:, position])
        columns["reward"] = pa.array(np.asarray(episode.rewards, dtype=np.float32))
        columns["terminated"] = pa.array(episode.terminated, type=pa.bool_())
        columns["truncated"] = pa.array(episode.truncated, type=pa.bool_())
        for name, value in (("game", episode.game), ("task", episode.task), ("source", episode.source)):
            columns[name] = pa.array([value] * n, type=pa.string()).dictionary_encode()
        return pa.table(columns)

    def add_episode(
        self,
        frames: Any,
        actions: Any,
        rewards: Any | None = None,
        *,
        game: str,
        task: str,
        source: str = "",
        terminated: bool = False,
        truncated: bool = False,
    ) -> EpisodeInfo:
        """Write a whole in-memory episode: (N, H, W, 3) uint8 frames and N actions (flat or Dict).

        Args:
            frames: the N observations, frame ``t`` being the one action ``t`` was taken on.
            actions: N flat (21,) vectors or Dict actions.
            rewards: N rewards (zeros when ``None``).
            game: game name.
            task: task name.
            source: who acted.
            terminated: whether the episode ended inside the game (set on the last step).
            truncated: whether a time limit ended it (set on the last step).

        Raises:
            InvalidEpisode: lengths differ or the episode is empty.
        """
        n = len(frames)
        rewards = np.zeros(n, dtype=np.float32) if rewards is None else np.asarray(rewards, dtype=np.float32)
        if n == 0 or len(actions) != n or len(rewards) != n:
            raise InvalidEpisode(
                f"an episode needs N >= 1 frames, N actions and N rewards; got {n} frames, "
                f"{len(actions)} actions, {len(rewards)} rewards"
            )
        episode = self.start_episode(game, task, source)
        try:
            for t in range(n):
                last = t == n - 1
                episode.add(frames[t], actions[t], float(rewards[t]), last and terminated, last and truncated)
        except BaseException:
            self.abort_episode(episode)
            raise
        return self.finish_episode(episode)

    def close(self) -> None:
        """Abort an episode left open (its frames are dropped; finished episodes are already safe)."""
        if self._open is not None:
            logger.warning("dropping unfinished episode %d of %s", self._open.index, self.root)
            self.abort_episode(self._open)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
