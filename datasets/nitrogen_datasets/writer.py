"""Append episodes to a demonstrations dataset, atomically, resumably and by one writer at a time.

Each episode is streamed to temp files (``*.partial``). When it ends, a write-ahead record
(``meta/journal.json``) names the episode and the dataset's settings; only then are the parquet and mp4
renamed into place, the small ``meta/info.json`` rewritten (atomically), one line appended to
``meta/episodes.jsonl`` and the record removed. Reopening the folder first completes a recorded commit (every
step is idempotent), so a crash at any point loses at most the episode being written, and a reader never
sees a half-written one (readers only trust complete lines of ``episodes.jsonl``). Nothing in a commit
grows with the episodes already listed: only the new episode is checked, and no file is rewritten whole.

The writer holds an exclusive lock on the folder (``meta/.lock``, released by the kernel when the process
dies) and never deletes a file it did not make: it removes only its own ``*.partial`` files, and refuses a
folder holding episode files that ``info.json`` does not list (``nitrogen data repair`` rebuilds it).

Example:
    >>> writer = DatasetWriter("demos", WriterConfig(fps=15))  # doctest: +SKIP
    >>> episode = writer.start_episode(game="CoinRun", task="hard", source="random")  # doctest: +SKIP
    >>> episode.add(frame, action, reward=0.0)  # doctest: +SKIP
    >>> writer.finish_episode(episode)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from nitrogen_datasets.errors import (
    CorruptEpisode,
    DatasetError,
    DatasetLocked,
    DatasetNeedsRepair,
    DatasetNotFound,
    IncompatibleDataset,
    InvalidDatasetInfo,
    InvalidEpisode,
)
from nitrogen_datasets.format import (
    ACTION_COLUMNS,
    CHUNK_SIZE,
    COLUMNS,
    DEFAULT_CRF,
    FORMAT_VERSION,
    INFO_PATH,
    TMP_SUFFIX,
    DatasetInfo,
    EpisodeInfo,
    append_episode,
    episode_paths,
    load_info,
    save_info,
    save_summary,
)
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.verify import file_sha256
from nitrogen_datasets.video_io import episode_encoder
from nitrogen_envs import gamepad
from nitrogen_envs.video import check_preset

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
        preset: x264 speed preset (:data:`~nitrogen_envs.video.X264_PRESETS`); ``None`` keeps x264's default
            (``medium``). Only the encoding's speed and the file's size depend on it, not how the file is read,
            so a dataset may mix presets; the overlay corpus sets ``veryfast`` (:class:`~.overlay.corpus.CorpusConfig`).
    """

    fps: int = 15
    crf: int = DEFAULT_CRF
    gop: int = 16
    pix_fmt: str = "yuv420p"
    preset: str | None = None

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {self.crf}")
        if self.gop < 1:
            raise ValueError(f"gop must be >= 1, got {self.gop}")
        if self.pix_fmt not in ("yuv420p", "yuv444p"):
            raise ValueError(f"pix_fmt must be 'yuv420p' or 'yuv444p', got {self.pix_fmt!r}")
        check_preset(self.preset)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


LOCK_PATH = "meta/.lock"
"""Lock file of a dataset folder: ``flock``-ed by its writer and holding the writer's pid (for the message)."""
JOURNAL_PATH = "meta/journal.json"
"""Write-ahead record of the episode being committed; present only between the first rename and the cleanup."""


class DatasetLock:
    """Exclusive lock on a dataset folder, so two writers never interleave episodes or ``info.json`` rewrites.

    ``flock`` is tied to the open file and released by the kernel when the process dies, so a crash never
    leaves a stale lock; the pid written into the file only names the holder in the refusal message. A
    second lock on the same folder fails at once, from another process or from this one.

    Args:
        root: dataset folder (``meta/`` is created if missing).

    Raises:
        DatasetLocked: another writer holds the folder.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.path = Path(root) / LOCK_PATH
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 (held open for the lock's lifetime)
        try:
            _flock_exclusive(handle)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read(32).decode("ascii", "replace").strip()
            handle.close()
            raise DatasetLocked(_locked_message(Path(root), holder)) from None
        except BaseException:
            handle.close()
            raise
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        self._handle: Any = handle

    def release(self) -> None:
        """Give the folder up (idempotent); the lock file stays, removing it would race a new holder."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> DatasetLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _flock_exclusive(handle: Any) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one writer per folder is then the user's to ensure
        logger.debug("no fcntl on this platform; %s is not locked", handle.name)
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise
    except OSError as err:  # a filesystem without locks (some FUSE/NFS mounts): warn rather than refuse
        logger.warning("cannot lock %s (%s); make sure no other process writes to this dataset", handle.name, err)


def _locked_message(root: Path, holder: str) -> str:
    if holder == str(os.getpid()):
        return (
            f"{root} is already open for writing in this process (pid {holder}); "
            "close the other DatasetWriter on it first"
        )
    who = f"process {holder}" if holder.isdigit() else "another process"
    return (
        f"{root} is being written by {who} (lock {root / LOCK_PATH}); "
        "wait for it to finish or stop it, or write to another folder"
    )


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to ``path`` through a flushed and fsynced ``*.partial`` file, then rename it into place."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class _StaleJournal(Exception):
    """A recorded commit that cannot be completed (its files are gone or changed, or info.json moved on)."""


@dataclass(frozen=True)
class _Commit:
    """One episode's commit, recorded in ``meta/journal.json`` before any file is renamed.

    Completing it (:func:`_complete`) is idempotent: each step checks whether it already happened, so a
    crash at any point is finished by the next writer that opens the folder. The record's size does not
    depend on how many episodes the dataset holds.

    Args:
        header: the dataset's settings (:meth:`DatasetInfo.header`), for a dataset this commit creates and to
            check that the folder is still the one the commit was recorded for.
        entry: the episode to list; its ``episode_index`` is the dataset's episode count before it.
        source: for :meth:`DatasetWriter.adopt`, the staged dataset (relative to the root) whose mp4 is moved
            in and whose parquet is removed once listed; ``None`` for an episode written here.
        source_index: the episode's index in ``source``.
        source_chunk_size: chunk size of ``source``.
        source_parquet_sha256: sha256 of the staged parquet; only a file with this checksum is removed.
    """

    header: DatasetInfo
    entry: EpisodeInfo
    source: str | None = None
    source_index: int = 0
    source_chunk_size: int = CHUNK_SIZE
    source_parquet_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "header": self.header.summary_dict(),
            "entry": asdict(self.entry),
            "source": self.source,
            "source_index": self.source_index,
            "source_chunk_size": self.source_chunk_size,
            "source_parquet_sha256": self.source_parquet_sha256,
        }

    @classmethod
    def from_dict(cls, data: Any) -> _Commit:
        if not isinstance(data, dict):
            raise InvalidDatasetInfo("journal must hold a JSON object")
        if isinstance(data.get("info"), dict):  # written by format version 1: the whole info.json after the commit
            info = DatasetInfo.from_dict(data["info"], source=JOURNAL_PATH)
            if not info.episodes:
                raise InvalidDatasetInfo(f"{JOURNAL_PATH} lists no episode")
            header, entry = info.header(), info.episodes[-1]
        elif isinstance(data.get("header"), dict) and isinstance(data.get("entry"), dict):
            header = DatasetInfo.from_dict(data["header"], source=JOURNAL_PATH, episodes=()).header()
            try:
                entry = EpisodeInfo(**data["entry"])
            except TypeError as err:
                raise InvalidDatasetInfo(f"{JOURNAL_PATH} has a malformed entry: {err}") from err
        else:
            raise InvalidDatasetInfo(f"{JOURNAL_PATH} must hold 'header' and 'entry' objects")
        commit = cls(
            header=header,
            entry=entry,
            source=data.get("source"),
            source_index=data.get("source_index", 0),
            source_chunk_size=data.get("source_chunk_size", CHUNK_SIZE),
            source_parquet_sha256=data.get("source_parquet_sha256", ""),
        )
        ok = (
            (commit.source is None or isinstance(commit.source, str))
            and isinstance(commit.source_index, int)
            and isinstance(commit.source_chunk_size, int)
            and commit.source_chunk_size >= 1
        )
        if not ok:
            raise InvalidDatasetInfo(f"{JOURNAL_PATH} has malformed fields")
        return commit

    def source_paths(self, root: Path) -> tuple[Path, Path] | None:
        """(parquet, mp4) of the staged episode, or ``None`` for an episode written in ``root``."""
        if self.source is None:
            return None
        data_rel, video_rel = episode_paths(self.source_index, self.source_chunk_size)
        return root / self.source / data_rel, root / self.source / video_rel


def _complete(root: Path, commit: _Commit, current: DatasetInfo | None, recovering: bool) -> DatasetInfo:
    """Rename the episode's files into place, list it, consume the staged parquet, drop the journal.

    ``recovering`` re-checks every file against the recorded sha256 before it is moved or listed (the
    journal came from disk, so nothing in it is taken on trust), and touches staged files only inside
    ``root`` (where collection stages them). Returns the dataset's info once the episode is listed.

    Raises:
        _StaleJournal: the commit cannot be completed (a file is missing or changed, or the dataset differs).
    """
    entry = commit.entry
    index = entry.episode_index
    before = current if current is not None else commit.header
    if before.header() != commit.header:
        raise _StaleJournal("meta/info.json holds other settings than the commit was recorded for")
    if before.total_episodes > index:
        if before.episodes[index] != entry:
            raise _StaleJournal(f"meta/episodes.jsonl lists another episode {index}")
        after = before
    elif before.total_episodes == index:
        data_rel, video_rel = episode_paths(index, commit.header.chunk_size)
        staged = commit.source_paths(root)
        video_src = staged[1] if staged else root / (video_rel + TMP_SUFFIX)
        if recovering and not _inside(video_src, root):
            video_src = root / (video_rel + TMP_SUFFIX)  # never exists: only a video already moved in counts
        for src, final, sha in (
            (video_src, root / video_rel, entry.video_sha256),
            (root / (data_rel + TMP_SUFFIX), root / data_rel, entry.parquet_sha256),
        ):
            _move_checked(src, final, sha, recovering)
        after = before.with_episode(entry)
        append_episode(root, after)
    else:
        raise _StaleJournal(f"the dataset holds {before.total_episodes} episodes, the commit is of episode {index}")
    _consume_staged(root, commit, recovering)
    (root / JOURNAL_PATH).unlink(missing_ok=True)
    return after


def _move_checked(src: Path, final: Path, sha: str, recovering: bool) -> None:
    if src.is_file():
        if recovering and file_sha256(src) != sha:
            raise _StaleJournal(f"{src} does not match its recorded sha256")
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, final)
    elif not final.is_file() or (recovering and file_sha256(final) != sha):
        raise _StaleJournal(f"neither {src} nor {final} holds the recorded file")


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _consume_staged(root: Path, commit: _Commit, recovering: bool) -> None:
    staged = commit.source_paths(root)
    if staged is None or not staged[0].is_file():
        return
    if recovering and not (_inside(staged[0], root) and file_sha256(staged[0]) == commit.source_parquet_sha256):
        logger.warning("left %s in place: it is outside %s or not the adopted file", staged[0], root)
        return
    staged[0].unlink()


def recover_commit(root: str | os.PathLike[str], current: DatasetInfo | None) -> DatasetInfo | None:
    """Finish the commit a crashed writer recorded in ``meta/journal.json``, if any; returns ``info.json`` after it.

    The caller must hold the folder's :class:`DatasetLock`. A commit that can no longer be completed is
    dropped with a warning; the files it names are left where they are (a ``*.partial`` file is removed by
    the next writer, an unlisted episode file makes the next writer refuse and point to ``nitrogen data repair``).
    """
    root = Path(root)
    path = root / JOURNAL_PATH
    if not path.is_file():
        return current
    try:
        commit = _Commit.from_dict(json.loads(path.read_text()))
        recovered = _complete(root, commit, current, recovering=True)
    except (_StaleJournal, DatasetError, OSError, ValueError) as err:
        logger.warning("%s: dropping an interrupted commit that cannot be completed (%s)", root, err)
        path.unlink(missing_ok=True)
        return current
    logger.warning("%s: completed the commit of episode %d interrupted by a crash", root, commit.entry.episode_index)
    return recovered


def unlisted_episode_files(root: str | os.PathLike[str], info: DatasetInfo | None) -> list[str]:
    """Parquet and mp4 files under ``data/`` and ``videos/`` that ``info`` does not list, relative and sorted."""
    root = Path(root)
    listed = set()
    if info is not None:
        listed = {path for i in range(info.total_episodes) for path in episode_paths(i, info.chunk_size)}
    found = (path.relative_to(root).as_posix() for path in episode_files(root))
    return sorted(path for path in found if path not in listed)


def episode_files(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Every ``*.parquet`` under ``root/data`` and ``*.mp4`` under ``root/videos`` (regular files), sorted per folder."""
    for folder, suffix in (("data", ".parquet"), ("videos", ".mp4")):
        base = Path(root) / folder
        if base.is_dir():
            yield from (path for path in sorted(base.rglob("*" + suffix)) if path.is_file())


def with_episode_index(table: Any, index: int) -> Any:
    """A parquet table (``pyarrow.Table``) with its ``episode_index`` column set to ``index`` on every row."""
    pa = require_package("pyarrow")
    position = table.schema.get_field_index("episode_index")
    return table.set_column(position, "episode_index", pa.array(np.full(table.num_rows, index, dtype=np.int64)))


def remove_partial_files(root: str | os.PathLike[str]) -> None:
    """Delete the ``*.partial`` files an interrupted writer left (the only files a writer ever deletes)."""
    for folder in ("data", "videos", "meta"):
        base = Path(root) / folder
        if base.is_dir():
            for path in base.rglob("*" + TMP_SUFFIX):
                if path.is_file():
                    logger.warning("removing %s left by an interrupted writer", path)
                    path.unlink()


def _load_existing(root: Path) -> DatasetInfo | None:
    """``info.json`` of ``root``, ``None`` when there is none; an unreadable one asks for a repair."""
    try:
        return load_info(root)
    except DatasetNotFound:
        return None
    except DatasetNeedsRepair:
        raise
    except InvalidDatasetInfo as err:
        raise DatasetNeedsRepair(
            f"{err}; nothing was deleted: run `nitrogen data repair {root}` to rebuild it from the episodes that verify"
        ) from err


def _current_layout(root: Path) -> DatasetInfo | None:
    """``_load_existing``, with a version-1 dataset converted to the current layout (the caller holds the lock).

    Also brings ``info.json``'s totals up to date when a dropped commit left them ahead of ``episodes.jsonl``.
    """
    info = _load_existing(root)
    if info is None:
        return None
    if info.format_version != FORMAT_VERSION:
        logger.info(
            "%s: converting format version %d to %d before appending", root, info.format_version, FORMAT_VERSION
        )
        info = replace(info, format_version=FORMAT_VERSION)
        save_info(root, info)
    elif _stored_summary(root) != info.summary_dict():
        save_summary(root, info)
    return info


def _stored_summary(root: Path) -> Any:
    try:
        return json.loads((root / INFO_PATH).read_text())
    except (OSError, ValueError):
        return None


def _refuse_unlisted(root: Path, info: DatasetInfo | None) -> None:
    unlisted = unlisted_episode_files(root, info)
    if not unlisted:
        return
    where = "no meta/info.json lists them" if info is None else "meta/info.json does not list them"
    raise DatasetNeedsRepair(
        f"{root} holds {len(unlisted)} episode files (e.g. {unlisted[0]}) but {where}; nothing was deleted: "
        f"run `nitrogen data repair {root}` to list the episodes that verify, then write again"
    )


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
        self.video = episode_encoder(video_tmp, config.fps, config.crf, config.gop, config.pix_fmt, config.preset)
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
        flat = gamepad.as_flat_action(action)
        self.video.write(np.asarray(frame))
        self.actions.append(flat)
        self.rewards.append(float(reward))
        self.terminated.append(bool(terminated))
        self.truncated.append(bool(truncated))


class DatasetWriter:
    """Create a dataset folder, or reopen one to append episodes.

    The writer locks the folder until :meth:`close` (or the end of a ``with`` block, or the process).
    Opening completes a commit a crash interrupted and removes ``*.partial`` leftovers; it deletes nothing else.

    Args:
        root: dataset folder (created if missing).
        config: encoding settings; when ``root`` exists, its fps must match.

    Raises:
        DatasetLocked: another writer has the folder open (the message names its pid).
        DatasetNeedsRepair: the folder holds episode files that no valid ``meta/info.json`` lists.
        IncompatibleDataset: the existing dataset has another fps.
        FormatVersionMismatch, SchemaVersionMismatch: the existing dataset is of another version.
    """

    def __init__(self, root: str | os.PathLike[str], config: WriterConfig | None = None) -> None:
        self.root = Path(root)
        self.config = config or WriterConfig()
        self._pq = require_package("pyarrow.parquet")
        self._pa = require_package("pyarrow")
        self._open: EpisodeBuffer | None = None
        self._lock: DatasetLock | None = DatasetLock(self.root)
        try:
            self.info: DatasetInfo | None = recover_commit(self.root, _current_layout(self.root))
            if self.info is not None and self.info.fps != self.config.fps:
                raise IncompatibleDataset(
                    f"{self.root} was recorded at {self.info.fps} fps, the writer is configured for "
                    f"{self.config.fps}; write to a new folder or pass WriterConfig(fps=...) matching the dataset"
                )
            _refuse_unlisted(self.root, self.info)
            remove_partial_files(self.root)
        except BaseException:
            self._release()
            raise

    @property
    def num_episodes(self) -> int:
        """Finished episodes in the dataset (the index the next episode gets)."""
        return 0 if self.info is None else self.info.total_episodes

    def _require_writable(self) -> None:
        if self._lock is None:
            raise RuntimeError(f"the writer of {self.root} is closed; open a new DatasetWriter to write more")
        if self._open is not None:
            raise RuntimeError(f"episode {self._open.index} is still open; call finish_episode or abort_episode first")

    @property
    def _chunk_size(self) -> int:
        return CHUNK_SIZE if self.info is None else self.info.chunk_size

    def start_episode(self, game: str, task: str, source: str = "", seed: int | None = None) -> EpisodeBuffer:
        """Begin the next episode; frames go straight to a temp mp4.

        ``seed`` is the ``env.reset`` seed the episode starts from, stored in ``meta/info.json`` when given.

        Raises:
            RuntimeError: another episode is still open (finish or abort it first), or the writer is closed.
        """
        self._require_writable()
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
            commit = self._prepare(episode)
        except BaseException:
            self.abort_episode(episode)
            raise
        finally:
            self._open = None
        return self._commit(commit)  # from here on the temp files belong to the commit, not to the episode

    def _prepare(self, episode: EpisodeBuffer) -> _Commit:
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
        entry = replace(
            template,
            parquet_sha256=self._write_parquet_tmp(template.episode_index, self._table(episode)),
            video_sha256=file_sha256(episode.video_tmp),
        )
        _fsync(episode.video_tmp)
        return _Commit(self._base(height, width).header(), entry)

    def _check_frame_size(self, height: int, width: int) -> None:
        if self.info is not None and (height, width) != (self.info.frame_height, self.info.frame_width):
            raise IncompatibleDataset(
                f"episode frames are {height}x{width} but {self.root} holds "
                f"{self.info.frame_height}x{self.info.frame_width} frames; resize them or write to a new folder"
            )

    def _write_parquet_tmp(self, index: int, table: Any) -> str:
        """Write episode ``index``'s parquet as a flushed ``*.partial`` file; returns its sha256."""
        data_rel, _ = episode_paths(index, self._chunk_size)
        data_tmp = self.root / (data_rel + TMP_SUFFIX)
        data_tmp.parent.mkdir(parents=True, exist_ok=True)
        self._pq.write_table(table, data_tmp, compression="zstd")
        _fsync(data_tmp)
        return file_sha256(data_tmp)

    def _base(self, height: int, width: int) -> DatasetInfo:
        return self.info or DatasetInfo(
            fps=self.config.fps,
            frame_height=height,
            frame_width=width,
            video_crf=self.config.crf,
            video_gop=self.config.gop,
            video_pix_fmt=self.config.pix_fmt,
        )

    def _commit(self, commit: _Commit) -> EpisodeInfo:
        """Record the commit in ``meta/journal.json``, then rename, list and clean up (write-ahead).

        Before the record exists only ``*.partial`` files were written (removed on reopen); once it exists,
        reopening completes the commit. So no crash leaves a renamed but unlisted file, or a staged episode
        half moved. A failure mid-commit closes this writer; the next one opened on the folder completes it.
        """
        try:
            write_json_atomic(self.root / JOURNAL_PATH, commit.to_dict())
            self.info = _complete(self.root, commit, self.info, recovering=False)
        except BaseException:
            self._release()
            raise
        entry = commit.entry
        logger.debug("wrote episode %d (%d frames) to %s", entry.episode_index, entry.length, self.root)
        return entry

    def adopt(self, other: str | os.PathLike[str]) -> list[EpisodeInfo]:
        """Move every episode of the finished dataset ``other`` into this one, appended and renumbered.

        This is how parallel collection stays safe: each worker records into its own small dataset, and
        one process adopts them in a fixed order, so the result does not depend on which worker finished
        first. Files are moved (same filesystem: a rename), and each episode is checked against its
        sha256 first, so a damaged staging file is refused rather than listed. ``other`` is locked while
        its episodes move and is left empty of episode files; delete the folder afterwards.

        Crash-safe and resumable: each episode is committed write-ahead (see :meth:`_commit`), a staged
        episode is consumed only once it is listed here, and adopting ``other`` again after a crash skips
        the episodes already moved (both of their files are gone).

        Returns:
            The episodes added by this call, in order.

        Raises:
            DatasetLocked: a writer still has ``other`` open.
            IncompatibleDataset: ``other`` has another fps or frame size.
            CorruptEpisode: a staged file is missing or does not match its checksum.
        """
        self._require_writable()
        source_root = Path(other)
        with DatasetLock(source_root):
            staged = load_info(source_root)
            if staged.fps != self.config.fps:
                raise IncompatibleDataset(
                    f"{source_root} was recorded at {staged.fps} fps but {self.root} is at {self.config.fps} fps"
                )
            self._check_frame_size(staged.frame_height, staged.frame_width)
            adopted = []
            for episode in staged.episodes:
                data_rel, video_rel = episode_paths(episode.episode_index, staged.chunk_size)
                files = source_root / data_rel, source_root / video_rel
                if not any(path.exists() for path in files):
                    continue  # adopted before a crash: consumed only once listed here
                self._check_staged(files, episode)
                adopted.append(self._adopt_episode(source_root, staged, episode))
        return adopted

    def _check_staged(self, files: tuple[Path, Path], episode: EpisodeInfo) -> None:
        for path, expected in zip(files, (episode.parquet_sha256, episode.video_sha256), strict=True):
            if not path.is_file() or (expected and file_sha256(path) != expected):
                raise CorruptEpisode(
                    f"{path} is missing or does not match its sha256; re-record that episode",
                    path=str(path),
                    episode_index=episode.episode_index,
                )

    def _adopt_episode(self, source_root: Path, staged: DatasetInfo, episode: EpisodeInfo) -> EpisodeInfo:
        data_rel, video_rel = episode_paths(episode.episode_index, staged.chunk_size)
        index = self.num_episodes
        table = with_episode_index(self._pq.read_table(source_root / data_rel), index)
        # The video is moved unchanged, so its checked sha256 stands; the parquet is rewritten.
        entry = replace(
            episode,
            episode_index=index,
            parquet_sha256=self._write_parquet_tmp(index, table),
            video_sha256=episode.video_sha256 or file_sha256(source_root / video_rel),
        )
        source = os.path.relpath(source_root.resolve(), self.root.resolve())
        commit = _Commit(
            self._base(staged.frame_height, staged.frame_width).header(),
            entry,
            source=source,
            source_index=episode.episode_index,
            source_chunk_size=staged.chunk_size,
            source_parquet_sha256=episode.parquet_sha256 or file_sha256(source_root / data_rel),
        )
        return self._commit(commit)

    def _table(self, episode: EpisodeBuffer) -> Any:
        """The episode's parquet table, its columns taken from :data:`~nitrogen_datasets.format.COLUMNS` in order."""
        pa = self._pa
        n = len(episode)
        actions = np.stack(episode.actions).astype(np.float32)
        values: dict[str, Any] = {
            "episode_index": pa.array(np.full(n, episode.index, dtype=np.int64)),
            "frame_index": pa.array(np.arange(n, dtype=np.int64)),
            "timestamp": pa.array(np.arange(n, dtype=np.float32) / np.float32(self.config.fps)),
            **{name: pa.array(actions[:, position]) for position, name in enumerate(ACTION_COLUMNS)},
            "reward": pa.array(np.asarray(episode.rewards, dtype=np.float32)),
            "terminated": pa.array(episode.terminated, type=pa.bool_()),
            "truncated": pa.array(episode.truncated, type=pa.bool_()),
            **{
                name: pa.array([value] * n, type=pa.string()).dictionary_encode()
                for name, value in (("game", episode.game), ("task", episode.task), ("source", episode.source))
            },
        }
        if set(values) != set(COLUMNS):  # a column added to the format but not written here (or the reverse)
            raise RuntimeError(f"writer columns {sorted(values)} differ from format.COLUMNS {sorted(COLUMNS)}")
        return pa.table({name: values[name] for name in COLUMNS})

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
        """Abort an episode left open (its frames are dropped; finished episodes are already safe), then unlock."""
        try:
            if self._open is not None:
                logger.warning("dropping unfinished episode %d of %s", self._open.index, self.root)
                self.abort_episode(self._open)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
