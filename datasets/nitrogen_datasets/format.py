"""The on-disk demonstrations format, defined once: folder layout, columns and the metadata files.

A dataset is a folder::

    meta/info.json                                        DatasetInfo without its episodes (settings, totals)
    meta/episodes.jsonl                                   one EpisodeInfo per line, appended as episodes finish
    data/chunk-000/episode_000000.parquet                 one row per frame (columns: COLUMNS)
    videos/chunk-000/episode_000000.mp4                   one H.264 frame per row, at the observation size

Row ``t`` of an episode holds the action taken on frame ``t`` (``N`` frames, ``N`` actions); the
observation after the last action is not stored. ``meta/episodes.jsonl`` is the only source of truth for
episodes: an episode exists once its line is there, so files of an unfinished episode are never read.

Why two files: appending an episode appends one line and rewrites the small ``info.json`` (its size does
not grow with the episodes), so collecting the thousandth episode costs what the tenth did. The first
format (version 1) kept every episode inside ``info.json``, rewritten and re-validated whole on each
append; it still reads, and a writer converts it when it opens one (:func:`load_info`, ``DatasetWriter``).
A line is written with one ``write`` ending in its newline, so a line without one is a torn append: readers
skip it and the next writer cuts it off (its journal then appends it again).

Example:
    >>> info = DatasetInfo(fps=15, frame_height=32, frame_width=32)
    >>> DatasetInfo.from_dict(info.to_dict()) == info
    True
"""

from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from nitrogen_datasets.errors import (
    DatasetNotFound,
    FormatVersionMismatch,
    InvalidDatasetInfo,
    SchemaVersionMismatch,
)
from nitrogen_envs import gamepad

logger = logging.getLogger(__name__)

FORMAT_NAME = "nitrogen-demos"
FORMAT_VERSION = 2
"""Bumped whenever the layout, the columns or ``info.json`` change incompatibly (2: episodes in their own jsonl)."""
LEGACY_FORMAT_VERSION = 1
"""Episodes listed inside ``info.json``; read as they are, converted by the next writer."""

INFO_PATH = "meta/info.json"
EPISODES_PATH = "meta/episodes.jsonl"
SUMMARY_FIELDS = ("games", "tasks", "total_episodes", "total_frames")
"""Fields of ``info.json`` derived from the episodes: kept up to date for tools that read only ``info.json``
(``nitrogen_envs.splits`` checks ``games``), recomputed from ``episodes.jsonl`` on load."""
CHUNK_SIZE = 1000
"""Episodes per ``chunk-XXX`` folder, so no folder holds more than a thousand files."""
DEFAULT_CRF = 18
"""x264 quality of episode videos unless a writer is told otherwise (visually lossless for game frames)."""
DATA_PATH = "data/chunk-{chunk:03d}/episode_{episode:06d}.parquet"
VIDEO_PATH = "videos/chunk-{chunk:03d}/episode_{episode:06d}.mp4"
TMP_SUFFIX = ".partial"
"""Files being written end in this suffix; a reader never opens them and a writer deletes strays."""

ACTION_COLUMNS: tuple[str, ...] = gamepad.FLAT_NAMES
COLUMNS: tuple[str, ...] = (
    "episode_index",
    "frame_index",
    "timestamp",
    *ACTION_COLUMNS,
    "reward",
    "terminated",
    "truncated",
    "game",
    "task",
    "source",
)


def episode_paths(episode_index: int, chunk_size: int = CHUNK_SIZE) -> tuple[str, str]:
    """Relative (parquet, mp4) paths of an episode.

    Example:
        >>> episode_paths(1234)
        ('data/chunk-001/episode_001234.parquet', 'videos/chunk-001/episode_001234.mp4')
    """
    chunk = episode_index // chunk_size
    return (
        DATA_PATH.format(chunk=chunk, episode=episode_index),
        VIDEO_PATH.format(chunk=chunk, episode=episode_index),
    )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidDatasetInfo(message)


@dataclass(frozen=True)
class EpisodeInfo:
    """One finished episode as listed in ``meta/info.json``.

    Args:
        episode_index: position of the episode (0, 1, ...), also its file name.
        length: number of frames, equal to the number of actions and parquet rows.
        game: registry name of the game played (e.g. ``"CoinRun"``).
        task: task name within the game (e.g. ``"hard"``).
        source: who acted (``"random"``, ``"expert:planner"``, ``"human"``, ``"imitation"``...).
        parquet_sha256: hex sha256 of the parquet file, to detect corruption.
        video_sha256: hex sha256 of the mp4 file.
        seed: the ``env.reset`` seed the episode started from, when known (recorded episodes); lets a
            collection resume without repeating seeds and lets anyone replay the episode's start.
    """

    episode_index: int
    length: int
    game: str
    task: str
    source: str = ""
    parquet_sha256: str = ""
    video_sha256: str = ""
    seed: int | None = None

    def __post_init__(self) -> None:
        _require(self.episode_index >= 0, f"episode_index must be >= 0, got {self.episode_index}")
        _require(self.length >= 1, f"episode {self.episode_index}: length must be >= 1, got {self.length}")
        _require(bool(self.game), f"episode {self.episode_index}: game must be a non-empty name")
        _require(
            self.seed is None or (isinstance(self.seed, int) and not isinstance(self.seed, bool)),
            f"episode {self.episode_index}: seed must be an integer or null, got {self.seed!r}",
        )
        for name in ("parquet_sha256", "video_sha256"):
            value = getattr(self, name)
            _require(
                value == "" or (len(value) == 64 and all(c in "0123456789abcdef" for c in value)),
                f"episode {self.episode_index}: {name} must be 64 lowercase hex digits, got {value!r}",
            )


@dataclass(frozen=True)
class DatasetInfo:
    """Everything a reader needs to know about a dataset: ``meta/info.json`` plus the ``episodes`` of ``episodes.jsonl``.

    Validated when built, so a bad file fails at load time with the field named rather than mid-training.
    Unknown keys in the JSON are logged and ignored (a newer writer may add fields).

    Args:
        fps: frames per second of the recording (the env's ``render_fps``); sets ``timestamp``.
        frame_height: observation height in pixels (videos may be padded to even sizes; readers crop).
        frame_width: observation width in pixels.
        format_version: on-disk format version, :data:`FORMAT_VERSION` for datasets this code writes.
        schema_version: gamepad schema version of the action columns.
        action_names: action column names, :data:`nitrogen_envs.gamepad.FLAT_NAMES` in order.
        games: game names appearing in the episodes, sorted; a reader's ``game_id`` indexes this list.
        tasks: task names appearing in the episodes, sorted; ``task_id`` indexes this list.
        total_episodes: number of episodes (derived, checked against ``episodes``).
        total_frames: number of frames over all episodes (derived, checked).
        chunk_size: episodes per chunk folder.
        video_codec: codec of the mp4 files (``h264``).
        video_pix_fmt: pixel format of the video stream (``yuv420p`` plays everywhere; ``yuv444p`` keeps colour detail).
        video_crf: x264 constant rate factor used (lower is better quality).
        video_gop: keyframe interval in frames; bounds the frames decoded for one random access.
        episodes: the finished episodes, in index order.
    """

    fps: int
    frame_height: int
    frame_width: int
    format_version: int = FORMAT_VERSION
    schema_version: int = gamepad.SCHEMA_VERSION
    action_names: tuple[str, ...] = ACTION_COLUMNS
    games: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    total_episodes: int = 0
    total_frames: int = 0
    chunk_size: int = CHUNK_SIZE
    video_codec: str = "h264"
    video_pix_fmt: str = "yuv420p"
    video_crf: int = DEFAULT_CRF
    video_gop: int = 16
    episodes: tuple[EpisodeInfo, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _require(isinstance(self.fps, int) and self.fps > 0, f"fps must be a positive integer, got {self.fps!r}")
        for name in ("frame_height", "frame_width"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value >= 1, f"{name} must be a positive integer, got {value!r}")
        _require(
            tuple(self.action_names) == ACTION_COLUMNS,
            f"action_names must be nitrogen_envs.gamepad.FLAT_NAMES in order {list(ACTION_COLUMNS)}, "
            f"got {list(self.action_names)}",
        )
        _require(self.chunk_size >= 1, f"chunk_size must be >= 1, got {self.chunk_size}")
        _require(self.video_gop >= 1, f"video_gop must be >= 1, got {self.video_gop}")
        _require(0 <= self.video_crf <= 51, f"video_crf must be in [0, 51], got {self.video_crf}")
        _require(
            self.video_pix_fmt in ("yuv420p", "yuv444p"),
            f"video_pix_fmt must be 'yuv420p' or 'yuv444p', got {self.video_pix_fmt!r}",
        )
        for position, episode in enumerate(self.episodes):
            _require(
                episode.episode_index == position,
                f"episodes must be listed in order 0..N-1; entry {position} has episode_index {episode.episode_index}",
            )
            _require(
                episode.game in self.games,
                f"episode {position}: game {episode.game!r} is not in games {list(self.games)}",
            )
            _require(
                episode.task in self.tasks,
                f"episode {position}: task {episode.task!r} is not in tasks {list(self.tasks)}",
            )
        _require(
            self.total_episodes == len(self.episodes),
            f"total_episodes is {self.total_episodes} but {len(self.episodes)} episodes are listed",
        )
        frames = sum(episode.length for episode in self.episodes)
        _require(self.total_frames == frames, f"total_frames is {self.total_frames} but the episodes hold {frames}")

    def with_episode(self, episode: EpisodeInfo) -> DatasetInfo:
        """A copy with ``episode`` appended and the derived fields (games, tasks, totals) updated.

        Only the new episode is checked (the rest were checked when this info was built), so appending
        stays cheap however many episodes the dataset holds.

        Raises:
            InvalidDatasetInfo: ``episode`` is not the next index.
        """
        _require(
            episode.episode_index == self.total_episodes,
            f"the next episode must have episode_index {self.total_episodes}, got {episode.episode_index}",
        )
        appended = copy.copy(self)  # a shallow copy skips __post_init__'s check of every episode
        for name, value in (
            ("episodes", (*self.episodes, episode)),
            ("games", self.games if episode.game in self.games else tuple(sorted({*self.games, episode.game}))),
            ("tasks", self.tasks if episode.task in self.tasks else tuple(sorted({*self.tasks, episode.task}))),
            ("total_episodes", self.total_episodes + 1),
            ("total_frames", self.total_frames + episode.length),
        ):
            object.__setattr__(appended, name, value)
        return appended

    def header(self) -> DatasetInfo:
        """The settings alone (no episodes, current format version): equal for two states of one dataset."""
        return _replace(
            self, format_version=FORMAT_VERSION, episodes=(), games=(), tasks=(), total_episodes=0, total_frames=0
        )

    def summary_dict(self) -> dict[str, Any]:
        """What ``meta/info.json`` holds: :meth:`to_dict` without the episodes (they live in ``episodes.jsonl``)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "episodes"}
        for key in ("action_names", "games", "tasks"):
            data[key] = list(data[key])
        return {"format": FORMAT_NAME, **data, "format_version": FORMAT_VERSION}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with every episode (``data info --json``); ``format`` names the format for humans."""
        return {
            **self.summary_dict(),
            "format_version": self.format_version,
            "episodes": [asdict(e) for e in self.episodes],
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], source: str = "info.json", episodes: tuple[EpisodeInfo, ...] | None = None
    ) -> DatasetInfo:
        """Build from a parsed ``info.json``, checking versions first so the message names the real problem.

        Args:
            data: the parsed JSON object (with an ``episodes`` list, as version 1 and :meth:`to_dict` have).
            source: where it came from, quoted in messages.
            episodes: the episodes read from ``episodes.jsonl``; when given, the derived fields
                (:data:`SUMMARY_FIELDS`) are computed from them and ``data``'s copies are ignored.

        Raises:
            FormatVersionMismatch: another on-disk format version.
            SchemaVersionMismatch: another gamepad schema version.
            InvalidDatasetInfo: a missing or bad field.
        """
        if not isinstance(data, dict):
            raise InvalidDatasetInfo(f"{source} must hold a JSON object, got {type(data).__name__}")
        _check_versions(data, source)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"format"})
        if unknown:
            logger.warning("%s: ignoring unknown keys %s (written by a newer nitrogen-gym?)", source, unknown)
        kwargs = {key: value for key, value in data.items() if key in known}
        listed = kwargs.pop("episodes", [])
        try:
            for key in ("action_names", "games", "tasks"):
                if key in kwargs:
                    kwargs[key] = tuple(kwargs[key])
            if episodes is None:
                if not isinstance(listed, list):
                    raise InvalidDatasetInfo(f"{source}: episodes must be a list, got {type(listed).__name__}")
                return cls(episodes=tuple(_episode_from_dict(item, source) for item in listed), **kwargs)
            for key in SUMMARY_FIELDS:
                kwargs.pop(key, None)
            return cls(
                episodes=episodes,
                games=tuple(sorted({e.game for e in episodes})),
                tasks=tuple(sorted({e.task for e in episodes})),
                total_episodes=len(episodes),
                total_frames=sum(e.length for e in episodes),
                **kwargs,
            )
        except TypeError as err:
            raise InvalidDatasetInfo(f"{source}: {err}") from err


def _check_versions(data: dict[str, Any], source: str) -> None:
    found = data.get("format_version")
    if found not in (LEGACY_FORMAT_VERSION, FORMAT_VERSION):
        raise FormatVersionMismatch(
            f"{source} has format_version {found!r}, but this nitrogen_datasets reads versions "
            f"{LEGACY_FORMAT_VERSION} and {FORMAT_VERSION}; "
            + (
                "upgrade nitrogen-gym (pip install -U nitrogen-gym) to read it"
                if isinstance(found, int) and found > FORMAT_VERSION
                else "re-export it with the nitrogen-gym version that wrote it, or re-record the episodes"
            )
        )
    found = data.get("schema_version")
    if found != gamepad.SCHEMA_VERSION:
        raise SchemaVersionMismatch(
            f"{source} stores gamepad actions of schema_version {found!r}, but nitrogen_envs.gamepad is at "
            f"SCHEMA_VERSION {gamepad.SCHEMA_VERSION}; convert the action columns to the current FLAT_NAMES "
            "order and ranges (see nitrogen_envs/gamepad.py) or use the nitrogen-gym version that wrote it"
        )


def _episode_from_dict(item: Any, source: str) -> EpisodeInfo:
    if not isinstance(item, dict):
        raise InvalidDatasetInfo(f"{source}: each episode must be a JSON object, got {item!r}")
    known = {f.name for f in fields(EpisodeInfo)}
    unknown = sorted(set(item) - known)
    if unknown:
        logger.warning("%s: ignoring unknown episode keys %s", source, unknown)
    try:
        return EpisodeInfo(**{key: value for key, value in item.items() if key in known})
    except TypeError as err:
        raise InvalidDatasetInfo(f"{source}: bad episode entry {item!r}: {err}") from err


def _replace(info: DatasetInfo, **changes: Any) -> DatasetInfo:
    values = {f.name: getattr(info, f.name) for f in fields(info)}
    values.update(changes)
    return DatasetInfo(**values)


def load_info(root: str | os.PathLike[str]) -> DatasetInfo:
    """Read and validate ``<root>/meta/info.json`` and, from format version 2 on, ``meta/episodes.jsonl``.

    A version-1 dataset (episodes inside ``info.json``) comes back with ``format_version`` 1.

    Raises:
        DatasetNotFound: no ``meta/info.json`` under ``root``.
        FormatVersionMismatch, SchemaVersionMismatch, InvalidDatasetInfo: see :meth:`DatasetInfo.from_dict`;
            also a missing or malformed ``episodes.jsonl``.
    """
    path = Path(root) / INFO_PATH
    if not path.is_file():
        raise DatasetNotFound(
            f"no dataset at {str(root)!r}: {INFO_PATH} is missing; create one with "
            "nitrogen_datasets.DatasetWriter(root, fps=..., frame_size=...) or record_episodes(...)"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InvalidDatasetInfo(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise InvalidDatasetInfo(f"{path} must hold a JSON object, got {type(data).__name__}")
    _check_versions(data, str(path))
    if data.get("format_version") == LEGACY_FORMAT_VERSION:
        return DatasetInfo.from_dict(data, source=str(path))
    episodes = read_episodes(root, expected=data.get("total_episodes"))
    return DatasetInfo.from_dict(data, source=str(path), episodes=episodes)


def read_episodes(root: str | os.PathLike[str], expected: Any = None) -> tuple[EpisodeInfo, ...]:
    """The episodes of ``<root>/meta/episodes.jsonl``, each line validated; a torn last line is skipped.

    Args:
        root: dataset folder.
        expected: ``total_episodes`` as ``info.json`` records it; a missing file is an error only when it
            names some (a new dataset has no episodes yet).

    Raises:
        InvalidDatasetInfo: a line that is not a valid episode, or a missing file that should hold episodes.
    """
    path = Path(root) / EPISODES_PATH
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if expected:
            raise InvalidDatasetInfo(
                f"{path} is missing but {INFO_PATH} counts {expected} episodes; run `nitrogen data repair {root}`"
            ) from None
        return ()
    except OSError as err:
        raise InvalidDatasetInfo(f"{path} cannot be read: {err}") from err
    *lines, torn = raw.split(b"\n")
    if torn:
        logger.debug("%s: ignoring a torn last line (%d bytes) of an interrupted append", path, len(torn))
    episodes = []
    for number, line in enumerate(lines, start=1):
        try:
            item = json.loads(line)
        except ValueError as err:
            raise InvalidDatasetInfo(f"{path}:{number} is not valid JSON: {err}") from err
        episodes.append(_episode_from_dict(item, f"{path}:{number}"))
    return tuple(episodes)


def episode_line(episode: EpisodeInfo) -> bytes:
    """One ``episodes.jsonl`` line, newline included (``json.dumps`` escapes any newline inside)."""
    return json.dumps(asdict(episode), separators=(",", ":")).encode() + b"\n"


def _write_atomic(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` through a flushed and fsynced ``*.partial`` file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def save_summary(root: str | os.PathLike[str], info: DatasetInfo) -> None:
    """Rewrite ``meta/info.json`` (settings and totals, never the episodes) atomically; its size does not grow."""
    _write_atomic(Path(root) / INFO_PATH, json.dumps(info.summary_dict(), indent=1).encode())


def save_info(root: str | os.PathLike[str], info: DatasetInfo) -> None:
    """Write the whole metadata (all of ``episodes.jsonl``, then ``info.json``), each file atomically.

    For a repair or a conversion from version 1; appending an episode uses :func:`append_episode`. A crash
    between the two files leaves the previous ``info.json``: a version-1 one is still read as it was.
    """
    _write_atomic(Path(root) / EPISODES_PATH, b"".join(episode_line(e) for e in info.episodes))
    save_summary(root, info)


def append_episode(root: str | os.PathLike[str], info: DatasetInfo) -> None:
    """List ``info``'s last episode: rewrite ``info.json``'s totals, then append one line to ``episodes.jsonl``.

    The caller holds the dataset's lock, and the file holds exactly ``info``'s earlier episodes (a torn
    line an interrupted append left is cut off first). ``info.json`` is written first so that its ``games``
    never miss a listed episode's game. The line is fsynced before this returns.
    """
    save_summary(root, info)
    path = Path(root) / EPISODES_PATH
    with open(path, "ab") as handle:
        _cut_torn_line(handle)
        handle.write(episode_line(info.episodes[-1]))
        handle.flush()
        os.fsync(handle.fileno())


def _cut_torn_line(handle: Any) -> None:
    """Truncate an append-mode file after its last newline (reads only the torn tail, if any)."""
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return
    with open(handle.name, "rb") as reader:
        reader.seek(end - 1)
        if reader.read(1) == b"\n":
            return
        keep, block = end, 4096
        while keep > 0:  # scan back for the last newline
            start = max(0, keep - block)
            reader.seek(start)
            chunk = reader.read(keep - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            keep = start
    logger.warning("%s: removing a torn line (%d bytes) left by an interrupted append", handle.name, end - keep)
    handle.truncate(keep)
