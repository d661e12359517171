"""Episode checksums, checked once per version of a file and remembered; no torch, so the CLI can use it too.

The writer records each episode file's sha256 in ``meta/episodes.jsonl``. Hashing reads every byte once, a small
fraction of what decoding every frame costs, and training decodes each frame many times, so checking every
file before it is used costs little. Less still when the check is remembered: a file whose sha256 was checked
is known by its *stamp* (device, inode, size, mtime_ns, ctime_ns), in this process and in
``meta/verified.json``. Any write gives a file a new stamp (ctime moves even when a tool such as
``cp -p`` or ``rsync -t`` puts the old mtime back; a copy is a new inode), so a changed file is hashed again.

What a stamp cannot see is a disk changing bytes behind the filesystem's back (bit rot): the stamp stays the
same. ``nitrogen data info --verify`` hashes every file without consulting the cache.

Example:
    >>> ok, problems = verify_dataset("demos")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from nitrogen_datasets.errors import CorruptEpisode
from nitrogen_datasets.format import DatasetInfo, EpisodeInfo, episode_paths, load_info
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.video_io import VideoReader
from nitrogen_envs.progress import progress_bar

logger = logging.getLogger(__name__)

VERIFIED_PATH = "meta/verified.json"
"""Where a dataset remembers which file versions matched their checksum (a cache: deleting it is harmless)."""
CACHE_VERSION = 1
MAX_CACHE_BYTES = 256 << 20
"""A larger ``verified.json`` is ignored rather than parsed (about a million files' worth)."""
RACY_NS = 2_000_000_000
"""A file written this recently may change again within the same timestamp tick (1-2 s on FAT and HFS+)
without its stamp changing, so its check is not remembered (git's rule for "racy" index entries)."""


class FileStamp(NamedTuple):
    """What identifies one version of a file without reading it; any write changes at least ``ctime_ns``."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> FileStamp:
        """Stamp of ``path`` (follows symlinks, like the open that reads it).

        Raises:
            OSError: the file cannot be stat'ed (``FileNotFoundError`` when missing).
        """
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end when hashed
            raise OSError(f"{path} is not a regular file")
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def racy(self, now_ns: int) -> bool:
        """True when a write in the current timestamp tick could leave this stamp unchanged."""
        return abs(now_ns - self.mtime_ns) < RACY_NS and abs(now_ns - self.ctime_ns) < RACY_NS


def file_sha256(path: str | os.PathLike[str], block: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks so memory stays flat for large videos."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


_MEMORY: dict[str, tuple[FileStamp, str]] = {}
"""This process's verified files: absolute path -> (stamp when hashed, sha256). Forked workers inherit it."""


def forget_verified() -> None:
    """Forget which files this process has verified (benchmarks measuring a cold open; ``verified.json`` stays)."""
    _MEMORY.clear()


@functools.cache
def decode_errors() -> tuple[type[BaseException], ...]:
    """What damaged data raises while a file is opened, parsed or decoded: these become ``CorruptEpisode``.

    Anything else (``TypeError``, ``AttributeError``...) is a bug and keeps its traceback. ``IndexError`` is
    here because a video without the frames ``info.json`` lists (or without a video stream) raises it.
    """
    errors: list[type[BaseException]] = [OSError, ValueError, EOFError, IndexError]
    errors.append(require_package("av.error").FFmpegError)
    errors.append(require_package("pyarrow").ArrowException)
    return tuple(errors)


def corrupt(path: Path, episode_index: int, cause: object) -> CorruptEpisode:
    """The error for a damaged file, saying what to do about it."""
    return CorruptEpisode(
        f"{path} (episode {episode_index}) is corrupt or truncated: {cause}; re-record the episode, or open the "
        "dataset with ReaderConfig(skip_corrupt=True) to skip damaged episodes",
        path=str(path),
        episode_index=episode_index,
    )


def missing(path: Path, episode_index: int) -> CorruptEpisode:
    """The error for an episode file that is not there."""
    return CorruptEpisode(
        f"{path} is missing (episode {episode_index}); re-record the episode or read with "
        "ReaderConfig(skip_corrupt=True)",
        path=str(path),
        episode_index=episode_index,
    )


def mismatch(path: Path, episode_index: int) -> CorruptEpisode:
    """The error for a file whose bytes differ from the sha256 in ``info.json``."""
    return CorruptEpisode(
        f"{path} fails its sha256 check (episode {episode_index}): the file changed after it was written; "
        "re-record the episode or read with ReaderConfig(skip_corrupt=True)",
        path=str(path),
        episode_index=episode_index,
    )


def _entry(value: Any) -> tuple[FileStamp, str] | None:
    """A ``verified.json`` entry ``[device, inode, size, mtime_ns, ctime_ns, sha256]``, or None if malformed."""
    if not (isinstance(value, list) and len(value) == 6):
        return None
    *numbers, digest = value
    if not all(type(n) is int for n in numbers) or not (isinstance(digest, str) and len(digest) == 64):
        return None
    return FileStamp(*numbers), digest


def _read_cache(path: Path) -> dict[str, tuple[FileStamp, str]]:
    """Entries of a ``verified.json``; an unreadable, oversized or malformed file counts as empty."""
    try:
        if FileStamp.of(path).size > MAX_CACHE_BYTES:
            logger.debug("ignoring %s: larger than %d bytes", path, MAX_CACHE_BYTES)
            return {}
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as err:
        logger.debug("ignoring %s: %s", path, err)
        return {}
    files = data.get("files") if isinstance(data, dict) and data.get("version") == CACHE_VERSION else None
    if not isinstance(files, dict):
        return {}
    entries = {rel: _entry(value) for rel, value in files.items() if isinstance(rel, str)}
    return {rel: entry for rel, entry in entries.items() if entry is not None}


@dataclass
class ChecksumCache:
    """Remembered sha256 of one dataset's files, keyed by stamp: this process's memory, then ``verified.json``.

    Args:
        root: the dataset folder.
        lookup: answer from what is remembered; ``False`` hashes every file (``data info --verify``).
        persist: read and update ``meta/verified.json``; ``False`` remembers in this process only.
    """

    root: Path
    lookup: bool = True
    persist: bool = True
    _disk: dict[str, tuple[FileStamp, str]] | None = field(default=None, repr=False)
    _new: dict[str, tuple[FileStamp, str]] = field(default_factory=dict, repr=False)

    def known(self, rel: str, stamp: FileStamp) -> str | None:
        """The sha256 of ``root/rel`` if it was hashed while it had exactly this stamp, else None."""
        if not self.lookup:
            return None
        for remembered in (_MEMORY.get(os.path.abspath(self.root / rel)), self._disk_entries().get(rel)):
            if remembered is not None and remembered[0] == stamp:
                return remembered[1]
        return None

    def remember(self, rel: str, stamp: FileStamp, digest: str) -> None:
        """Record that ``root/rel`` with this (non-racy) stamp hashed to ``digest``."""
        _MEMORY[os.path.abspath(self.root / rel)] = (stamp, digest)
        if self.persist:
            self._new[rel] = (stamp, digest)

    def _disk_entries(self) -> dict[str, tuple[FileStamp, str]]:
        if self._disk is None:
            self._disk = _read_cache(self.root / VERIFIED_PATH) if self.persist else {}
        return self._disk

    def save(self, listed: set[str]) -> None:
        """Write what was newly verified into ``verified.json`` atomically, keeping only files in ``listed``.

        Best effort: a read-only dataset just stays unremembered across processes.
        """
        if not self._new:
            return
        path = self.root / VERIFIED_PATH
        merged = {**_read_cache(path), **self._new}  # re-read: another process may have written meanwhile
        files = {rel: [*stamp, digest] for rel, (stamp, digest) in sorted(merged.items()) if rel in listed}
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "files": files}))
            os.replace(tmp, path)
        except OSError as err:
            logger.debug("not remembering verified files in %s: %s", path, err)
            tmp.unlink(missing_ok=True)
            return
        self._disk, self._new = merged, {}


def check_file(root: Path, rel: str, expected: str, episode_index: int, cache: ChecksumCache) -> FileStamp | None:
    """Check ``root/rel`` against its sha256 ``expected``, hashing only a version of it not checked before.

    Returns:
        The stamp of the version checked, or None when it was written too recently to vouch for it later
        (the caller hashes it again next time).

    Raises:
        CorruptEpisode: the file is missing, not a regular file, unreadable, or its sha256 differs.
    """
    path = root / rel
    try:
        stamp = FileStamp.of(path)
        racy = stamp.racy(time.time_ns())
        digest = cache.known(rel, stamp)
        if digest is None:
            digest = file_sha256(path)
            if FileStamp.of(path) != stamp:  # written to while hashed: what was hashed is not what is there
                raise mismatch(path, episode_index)
            if not racy:
                cache.remember(rel, stamp, digest)
    except FileNotFoundError as err:
        raise missing(path, episode_index) from err
    except CorruptEpisode:
        raise
    except OSError as err:
        raise corrupt(path, episode_index, err) from err
    if digest != expected:
        raise mismatch(path, episode_index)
    return None if racy else stamp


def check_headers(root: Path, info: DatasetInfo, episode: EpisodeInfo) -> None:
    """Open the episode's parquet metadata and mp4 header: catches missing, truncated and mislabelled files.

    Raises:
        CorruptEpisode: a file is missing or unreadable, or its length differs from ``info.json``.
    """
    data_rel, video_rel = episode_paths(episode.episode_index, info.chunk_size)
    data_path, video_path = root / data_rel, root / video_rel
    for path in (data_path, video_path):
        if not path.is_file():
            raise missing(path, episode.episode_index)
    pq = require_package("pyarrow.parquet")
    try:
        rows = pq.ParquetFile(data_path).metadata.num_rows
    except decode_errors() as err:
        raise corrupt(data_path, episode.episode_index, err) from err
    if rows != episode.length:
        raise corrupt(data_path, episode.episode_index, f"{rows} rows, info.json lists {episode.length}")
    try:
        reader = VideoReader(video_path, info.fps, info.video_gop)
        frames = reader.num_frames
        reader.close()
    except decode_errors() as err:
        raise corrupt(video_path, episode.episode_index, err) from err
    if frames not in (0, episode.length):  # 0: the container does not say
        raise corrupt(video_path, episode.episode_index, f"{frames} frames, info.json lists {episode.length}")


def verify_episode(
    root: Path, info: DatasetInfo, episode: EpisodeInfo, cache: ChecksumCache, headers: bool = False
) -> dict[str, FileStamp | None]:
    """Check an episode's files against their checksums (and headers when asked, or when it has no checksums).

    Returns:
        Relative path -> stamp checked (None: hash again before trusting) for each file that has a checksum.

    Raises:
        CorruptEpisode: a check failed; the message names the file.
    """
    stamps: dict[str, FileStamp | None] = {}
    rels = episode_paths(episode.episode_index, info.chunk_size)
    for rel, expected in zip(rels, (episode.parquet_sha256, episode.video_sha256), strict=True):
        if expected:
            stamps[rel] = check_file(root, rel, expected, episode.episode_index, cache)
    if headers or len(stamps) < len(rels):
        check_headers(root, info, episode)
    return stamps


def listed_files(info: DatasetInfo) -> set[str]:
    """Relative paths of every episode file ``info`` lists (what ``verified.json`` may keep)."""
    return {rel for e in info.episodes for rel in episode_paths(e.episode_index, info.chunk_size)}


def verify_dataset(
    root: str | os.PathLike[str], info: DatasetInfo | None = None, progress: bool = False
) -> tuple[int, list[CorruptEpisode]]:
    """Hash every file of every episode (ignoring what is remembered) and open its headers.

    ``progress`` shows a bar over the episodes (hashing a large dataset takes a while).

    What matched is remembered in ``meta/verified.json``, so the next reader opens the dataset without hashing.

    Returns:
        (episodes that passed, one ``CorruptEpisode`` per episode that did not).
    """
    root = Path(root)
    info = info or load_info(root)
    cache = ChecksumCache(root, lookup=False)
    problems: list[CorruptEpisode] = []
    with progress_bar(len(info.episodes), "verifying", unit="episode", enabled=progress) as bar:
        for episode in info.episodes:
            try:
                verify_episode(root, info, episode, cache, headers=True)
            except CorruptEpisode as err:
                problems.append(err)
            bar.update(1)
    cache.save(listed_files(info))
    return len(info.episodes) - len(problems), problems
