"""PyTorch reader: random access to (frame, next-actions chunk) samples, safe in DataLoader workers.

Memory stays flat as a dataset grows: construction reads the metadata (``meta/``) and checks each episode file
against its sha256 (hashing only file versions not checked before, see :mod:`nitrogen_datasets.verify`),
and each worker keeps a small LRU of open videos and per-episode action tables. Nothing
unpicklable is created before a worker first reads, and a worker (fork or spawn) opens its own files.

Example:
    >>> data = DemoDataset("demos", ReaderConfig(action_chunk=16))  # doctest: +SKIP
    >>> sample = data[0]  # doctest: +SKIP
    >>> sample["frame"].shape, sample["actions"].shape, sample["action_mask"].shape  # doctest: +SKIP
    (torch.Size([32, 32, 3]), torch.Size([16, 21]), torch.Size([16]))
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nitrogen_datasets.errors import CorruptEpisode
from nitrogen_datasets.format import ACTION_COLUMNS, DatasetInfo, EpisodeInfo, episode_paths, load_info
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.verify import (
    ChecksumCache,
    FileStamp,
    check_file,
    check_headers,
    corrupt,
    decode_errors,
    listed_files,
    verify_episode,
)
from nitrogen_datasets.video_io import VideoReader
from nitrogen_envs import gamepad

if TYPE_CHECKING:
    from nitrogen_datasets.frame_cache import RowFile

try:
    import torch
except ImportError:  # re-raised as DependencyNotInstalled naming the pip extra
    require_package("torch")
    raise
logger = logging.getLogger(__name__)

VERIFY_MODES = ("none", "header", "checksum")

_INHERITED: list[Any] = []
"""Decoders a forked worker inherited from its parent. They are kept alive, never freed: FFmpeg's
scaler owns worker threads that do not exist after ``fork``, and freeing it there waits on them forever."""


@dataclass(frozen=True)
class ReaderConfig:
    """How samples are built and how much checking happens, when.

    Args:
        action_chunk: actions per sample: the action taken on this frame and the next ``action_chunk - 1``.
        verify: ``"checksum"`` (default) checks every episode file against its sha256 in ``episodes.jsonl`` when
            the dataset is opened, and a file that changed since (new size, inode or timestamps) again before
            a worker opens it; so any flipped byte raises ``CorruptEpisode`` instead of yielding wrong frames
            or actions. A version of a file that already passed is not hashed again (see
            ``checksum_cache``); hashing reads each byte once, a few percent of decoding every frame once
            (``benchmarks/dataset_throughput.py`` measures it). ``"header"`` only opens each episode's parquet
            metadata and mp4 header (catches missing and truncated files, not damaged bytes); ``"none"``
            trusts the files (damage then shows up as decode errors, or silently as wrong values).
        skip_corrupt: drop episodes that fail verification when the dataset is opened, with a logged warning,
            instead of raising. A file damaged after that still raises ``CorruptEpisode`` when read, since a
            worker cannot change the shared index.
        checksum_cache: remember verified file versions in ``meta/verified.json`` (best effort; a read-only
            dataset is remembered by this process only), so reopening an unchanged dataset hashes nothing.
        cache_episodes: open videos and action tables each worker keeps (LRU); bounds memory and file handles.
        episodes: keep only these episode indices (``None`` keeps all).
        frame_cache: a folder where every kept frame and its actions are decoded once into files read with
            ``pread`` (see :mod:`nitrogen_datasets.frame_cache`), so random access costs one small read instead of a
            seek and a decode; ``"auto"`` is ``~/.cache/nitrogen/frames`` (``$NITROGEN_CACHE/frames``). Costs
            the frames' raw size on disk (a 64 px frame: 12 KiB); ``None`` (default) decodes each sample.
    """

    action_chunk: int = 16
    verify: str = "checksum"
    skip_corrupt: bool = False
    checksum_cache: bool = True
    cache_episodes: int = 8
    episodes: tuple[int, ...] | None = field(default=None)
    frame_cache: str | None = None

    def __post_init__(self) -> None:
        if self.action_chunk < 1:
            raise ValueError(f"action_chunk must be >= 1, got {self.action_chunk}")
        if self.verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {self.verify!r}")
        if self.cache_episodes < 1:
            raise ValueError(f"cache_episodes must be >= 1, got {self.cache_episodes}")


class DemoDataset(torch.utils.data.Dataset):
    """Frames with the chunk of actions that follows them, one sample per stored frame.

    Each sample is a dict:

    * ``frame``: (H, W, 3) ``torch.uint8`` RGB, channels last as the env produces it (decoded H.264, so
      within codec error of the original observation).
    * ``actions``: (action_chunk, 21) ``torch.float32``: actions ``t .. t + action_chunk - 1`` in
      :data:`nitrogen_envs.gamepad.FLAT_NAMES` order; steps past the episode end hold the no-op action.
    * ``action_mask``: (action_chunk,) ``torch.bool``, false for those padded steps.
    * ``game_id``, ``task_id``: ``torch.int64`` indices into :attr:`game_names` and :attr:`task_names`.
    * ``episode_index``, ``frame_index``: ``torch.int64``, where the sample comes from.

    Args:
        root: dataset folder.
        config: reader settings.

    Raises:
        DatasetNotFound, FormatVersionMismatch, SchemaVersionMismatch, InvalidDatasetInfo: see ``load_info``.
        CorruptEpisode: a file is missing, fails its sha256 or cannot be decoded: here (unless ``skip_corrupt``)
            or, for a file damaged after the dataset was opened, when a sample is read; the message names the file.
    """

    def __init__(self, root: str | os.PathLike[str], config: ReaderConfig | None = None) -> None:
        self.root = Path(root)
        self.config = config or ReaderConfig()
        self.info: DatasetInfo = load_info(self.root)
        self.game_names: tuple[str, ...] = self.info.games
        self.task_names: tuple[str, ...] = self.info.tasks
        # verified files (relative path) -> stamp when checked; a changed or None stamp is hashed again
        self._stamps: dict[str, FileStamp | None] = {}
        cache = ChecksumCache(self.root, persist=self.config.checksum_cache)
        wanted = range(self.info.total_episodes) if self.config.episodes is None else self.config.episodes
        kept: list[EpisodeInfo] = []
        for index in wanted:
            episode = self.info.episodes[index]
            try:
                self._verify(episode, cache)
            except CorruptEpisode as err:
                if not self.config.skip_corrupt:
                    raise
                logger.warning("skipping episode %d: %s", episode.episode_index, err)
                continue
            kept.append(episode)
        cache.save(listed_files(self.info))
        self.episodes: tuple[EpisodeInfo, ...] = tuple(kept)
        lengths = np.array([episode.length for episode in kept], dtype=np.int64)
        self._starts = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        self._game_ids = np.array([self.game_names.index(e.game) for e in kept], dtype=np.int64)
        self._task_ids = np.array([self.task_names.index(e.task) for e in kept], dtype=np.int64)
        self._reset_caches()
        self._cache_at: tuple[Path, str] | None = None  # (folder, key) of the frame cache in use
        self._cache: tuple[RowFile, RowFile] | None = None  # its frames and actions
        if self.config.frame_cache is not None:
            self._open_frame_cache(self.config.frame_cache)

    # ---- lazily opened, per-process state ------------------------------------------------------------
    def _reset_caches(self) -> None:
        self._pid = os.getpid()
        self._videos: OrderedDict[int, VideoReader] = OrderedDict()
        self._actions: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_videos"], state["_actions"] = OrderedDict(), OrderedDict()
        state["_cache"] = None  # a spawned worker opens the files again
        return state

    def _open_frame_cache(self, folder: str) -> None:
        """Map (building them first if needed) the kept episodes' decoded frames and actions; see ``ReaderConfig``."""
        from nitrogen_datasets.frame_cache import build_cache, cache_key, default_cache_dir

        unhashed = [e.episode_index for e in self.episodes if not (e.video_sha256 and e.parquet_sha256)]
        if not len(self):  # nothing to map (a file of zero bytes cannot be mapped)
            return
        if unhashed:
            logger.warning(
                "%s: episodes %s have no sha256 to name a frame cache by; decoding every sample instead",
                self.root,
                unhashed[:5],
            )
            return
        where = default_cache_dir() if folder == "auto" else Path(folder).expanduser()
        key = cache_key(
            self.info.frame_height,
            self.info.frame_width,
            [(e.video_sha256, e.parquet_sha256, e.length) for e in self.episodes],
        )
        episodes = (
            (self._episode_actions(position), self.iter_episode_frames(position))
            for position in range(len(self.episodes))
        )
        try:
            self._cache = build_cache(where, key, len(self), self.info.frame_height, self.info.frame_width, episodes)
        finally:
            self.close()  # the decoders and tables the build opened
        self._cache_at = (where, key)

    def _cached(self) -> tuple[RowFile, RowFile] | None:
        """The cache's files (opened again in a spawned worker), or ``None`` without one."""
        if self._cache_at is None:
            return None
        if self._cache is None:
            from nitrogen_datasets.frame_cache import open_cache

            self._cache = open_cache(*self._cache_at, len(self), self.info.frame_height, self.info.frame_width)
            if self._cache is None:
                raise CorruptEpisode(
                    f"the frame cache {self._cache_at[1]} in {self._cache_at[0]} is gone or changed since the "
                    "dataset was opened; open the dataset again",
                    path=str(self._cache_at[0]),
                    episode_index=-1,
                )
        return self._cache

    def _check_process(self) -> None:
        # After a fork the parent's open containers are shared file positions: never reuse them.
        if self._pid != os.getpid():
            _INHERITED.append((self._videos, self._actions))
            self._reset_caches()

    def _paths(self, episode_index: int) -> tuple[Path, Path]:
        data, video = episode_paths(episode_index, self.info.chunk_size)
        return self.root / data, self.root / video

    def _verify(self, episode: EpisodeInfo, cache: ChecksumCache) -> None:
        if self.config.verify == "checksum":
            self._stamps.update(verify_episode(self.root, self.info, episode, cache))
        elif self.config.verify == "header":
            check_headers(self.root, self.info, episode)

    def _recheck(self, path: Path, episode: EpisodeInfo, expected: str) -> None:
        """Before this process opens a verified file: hash it again if it changed since it was checked."""
        rel = path.relative_to(self.root).as_posix()
        if rel not in self._stamps:  # not verified by checksum (verify mode, or no sha256 recorded)
            return
        checked = self._stamps[rel]
        try:
            unchanged = checked is not None and FileStamp.of(path) == checked
        except OSError:
            unchanged = False  # check_file names the problem
        if not unchanged:
            cache = ChecksumCache(self.root, persist=False)
            self._stamps[rel] = check_file(self.root, rel, expected, episode.episode_index, cache)

    def _episode_actions(self, position: int) -> np.ndarray:
        cached = self._actions.get(position)
        if cached is not None:
            self._actions.move_to_end(position)
            return cached
        episode = self.episodes[position]
        data_path, _ = self._paths(episode.episode_index)
        self._recheck(data_path, episode, episode.parquet_sha256)
        pq = require_package("pyarrow.parquet")
        try:
            table = pq.read_table(data_path, columns=list(ACTION_COLUMNS))
            actions = np.stack([table.column(name).to_numpy() for name in ACTION_COLUMNS], axis=1).astype(np.float32)
        except decode_errors() as err:
            raise corrupt(data_path, episode.episode_index, err) from err
        if len(actions) != episode.length:
            raise corrupt(data_path, episode.episode_index, f"{len(actions)} rows, info.json lists {episode.length}")
        self._actions[position] = actions
        if len(self._actions) > self.config.cache_episodes:
            self._actions.popitem(last=False)
        return actions

    def _frame(self, position: int, frame_index: int) -> np.ndarray:
        cache = self._cached()
        if cache is not None:
            return cache[0].rows(int(self._starts[position]) + frame_index)[0]
        episode = self.episodes[position]
        _, video_path = self._paths(episode.episode_index)
        if position not in self._videos:
            self._recheck(video_path, episode, episode.video_sha256)
        try:
            reader = self._videos.get(position)
            if reader is None:
                reader = VideoReader(video_path, self.info.fps, self.info.video_gop)
                self._videos[position] = reader
                if len(self._videos) > self.config.cache_episodes:
                    self._videos.popitem(last=False)[1].close()
            else:
                self._videos.move_to_end(position)
            frame = reader.read(frame_index)
        except decode_errors() as err:
            self._videos.pop(position, None)
            raise corrupt(video_path, episode.episode_index, err) from err
        return frame[: self.info.frame_height, : self.info.frame_width]

    # ---- Dataset API ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._starts[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(position in :attr:`episodes`, frame index) of sample ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample index {index} out of range for a dataset of {len(self)} frames")
        index %= len(self)
        position = int(np.searchsorted(self._starts, index, side="right")) - 1
        return position, index - int(self._starts[position])

    def action_chunk(self, position: int, frame_index: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk, 21) float32 actions from ``frame_index`` on, and the (chunk,) bool mask of real steps."""
        size = self.config.action_chunk
        cache = self._cached()
        if cache is None:
            real = self._episode_actions(position)[frame_index : frame_index + size]
        else:  # only the rows the chunk takes
            count = min(size, self.episodes[position].length - frame_index)
            real = cache[1].rows(int(self._starts[position]) + frame_index, count)
        chunk = np.broadcast_to(gamepad.noop_flat(), (size, gamepad.FLAT_SIZE)).copy()
        chunk[: len(real)] = real
        mask = np.zeros(size, dtype=bool)
        mask[: len(real)] = True
        return chunk, mask

    def __getitem__(self, index: int) -> dict[str, Any]:
        self._check_process()
        position, frame_index = self.locate(int(index))
        chunk, mask = self.action_chunk(position, frame_index)
        frame = self._frame(position, frame_index)
        return {
            "frame": torch.from_numpy(np.ascontiguousarray(frame)),
            "actions": torch.from_numpy(chunk),
            "action_mask": torch.from_numpy(mask),
            "game_id": torch.tensor(self._game_ids[position]),
            "task_id": torch.tensor(self._task_ids[position]),
            "episode_index": torch.tensor(self.episodes[position].episode_index),
            "frame_index": torch.tensor(frame_index),
        }

    def iter_episode_frames(self, position: int) -> Iterator[np.ndarray]:
        """Yield the (H, W, 3) uint8 frames of one episode in order (decodes sequentially, no seeks)."""
        self._check_process()
        for frame_index in range(self.episodes[position].length):
            yield self._frame(position, frame_index)

    def read_episode_table(self, position: int) -> Any:
        """The episode's whole parquet table (``pyarrow.Table``)."""
        episode = self.episodes[position]
        data_path, _ = self._paths(episode.episode_index)
        self._recheck(data_path, episode, episode.parquet_sha256)
        try:
            return require_package("pyarrow.parquet").read_table(data_path)
        except decode_errors() as err:
            raise corrupt(data_path, episode.episode_index, err) from err

    def close(self) -> None:
        """Close every cached video and the frame cache's files (they reopen on the next read)."""
        for reader in self._videos.values():
            reader.close()
        for rows in self._cache or ():
            rows.close()
        self._reset_caches()
