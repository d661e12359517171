"""Decoded frames on disk, so a trainer's random access costs one small read instead of a seek and a decode.

Why: training samples frames at random. Reading one from an episode's mp4 opens the container, seeks to the
keyframe before it and decodes up to a GOP of frames, and its actions come from the episode's parquet table:
about 4 ms of CPU for a 64 px Procgen sample, where decoding the same episode front to back costs under 0.1 ms a
frame. On a 2-core machine the DataLoader worker that decodes is then what a step waits for. The cache decodes
every kept episode once, in order, into one ``.npy`` file of frames (uint8, ``(frames, height, width, 3)``) and
one of actions (float32, ``(frames, 21)``); a sample is then one ``pread`` of its frame's bytes and one of its
episode's actions. Nothing is memory-mapped or held: the bytes come from the OS page cache, shared by every
worker and evicted under memory pressure, so a process's memory does not grow with the dataset.

The files are named by a hash of what they hold (each kept episode's video and parquet sha256 and length, the
frame size and this format's version), so a changed or re-recorded episode gets new files and stale ones are
never read. They are written under temporary names and renamed into place once complete (a crash leaves no
partial cache), and builders of the same cache wait for each other's lock instead of decoding it twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_datasets.errors import DatasetError
from nitrogen_envs import gamepad

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Bumped when the file's layout or the frames it holds change meaning; part of every cache file's name."""
CACHE_ENV = "NITROGEN_CACHE"
"""Environment variable naming the cache root (default ``~/.cache/nitrogen``); frames go to ``<root>/frames``."""
FREE_MARGIN_BYTES = 256 << 20
"""Disk space left free after a cache is written: a full disk would fail every other writer on the machine."""


class FrameCacheError(DatasetError, OSError):
    """The frame cache cannot be built where asked (no room on the disk, or a folder that cannot be written)."""


def default_cache_dir() -> Path:
    """``$NITROGEN_CACHE/frames``, else ``$XDG_CACHE_HOME/nitrogen/frames``, else ``~/.cache/nitrogen/frames``."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "frames"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "nitrogen" / "frames"


def cache_key(height: int, width: int, episodes: Sequence[tuple[str, str, int]]) -> str:
    """The cache files' name stem for ``height`` x ``width`` frames of ``(video sha256, parquet sha256, length)``."""
    text = json.dumps([CACHE_VERSION, height, width, [list(row) for row in episodes]], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (waiting for another holder); released by the kernel on a crash."""
    with open(path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; two builders then each write a complete file, the last rename wins
            yield
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError as err:  # a filesystem without locks: build anyway, the rename keeps the file whole
            logger.warning("cannot lock %s (%s); building the frame cache without a lock", path, err)
        yield


def cache_paths(folder: Path, key: str) -> tuple[Path, Path]:
    """The frames' and the actions' files of cache ``key``."""
    return folder / f"{key}.frames.npy", folder / f"{key}.actions.npy"


class RowFile:
    """Rows of a C-ordered ``.npy`` file read with ``pread``: nothing mapped, and safe to share after ``fork``.

    ``pread`` has no file position, so a forked DataLoader worker can use the descriptor it inherited; a pickled
    copy (a spawned worker) opens the file again.

    Raises:
        ValueError: not a ``.npy`` file of ``shape`` and ``dtype``, or its size does not match its header.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: type) -> None:
        self.path = path
        self.shape = shape
        self.dtype = np.dtype(dtype)
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy format version {version} (this cache writes 2.0)")
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            found, fortran, found_dtype = read(handle)
            self.offset = handle.tell()
        if found != shape or fortran or found_dtype != self.dtype:
            raise ValueError(f"holds {found} {found_dtype}, expected {shape} {self.dtype}")
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize
        size = path.stat().st_size
        if size != self.offset + shape[0] * self.row_bytes:
            raise ValueError(f"{size} bytes, its header says {self.offset + shape[0] * self.row_bytes}")
        self._fd: int | None = None

    def rows(self, start: int, count: int = 1) -> np.ndarray:
        """Rows ``start .. start + count - 1`` as a new array."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        wanted = count * self.row_bytes
        data = os.pread(self._fd, wanted, self.offset + start * self.row_bytes)
        if len(data) != wanted:
            raise OSError(f"{self.path}: read {len(data)} of {wanted} bytes (the file was truncated)")
        return np.frombuffer(bytearray(data), dtype=self.dtype).reshape((count, *self.shape[1:]))

    def close(self) -> None:
        """Release the descriptor (it reopens on the next read)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fd": None}


def open_rows(path: Path, shape: tuple[int, ...], dtype: type) -> RowFile | None:
    """The file at ``path`` as a :class:`RowFile`, or ``None`` when it is missing, unreadable or another array."""
    if not path.is_file():
        return None
    try:
        return RowFile(path, shape, dtype)
    except (OSError, ValueError) as err:
        logger.warning("ignoring cache file %s (%s); it will be rebuilt", path, err)
        return None


def open_cache(folder: Path, key: str, frames: int, height: int, width: int) -> tuple[RowFile, RowFile] | None:
    """Cache ``key``'s frames ``(frames, height, width, 3)`` uint8 and actions ``(frames, 21)`` float32, if complete."""
    frame_path, action_path = cache_paths(folder, key)
    actions = open_rows(action_path, (frames, gamepad.FLAT_SIZE), np.float32)
    images = open_rows(frame_path, (frames, height, width, 3), np.uint8) if actions is not None else None
    return None if images is None or actions is None else (images, actions)


def build_cache(
    folder: Path,
    key: str,
    frames: int,
    height: int,
    width: int,
    episodes: Iterator[tuple[np.ndarray, Iterator[np.ndarray]]],
    progress: bool = True,
) -> tuple[RowFile, RowFile]:
    """Open cache ``key`` under ``folder`` (see :func:`open_cache`), decoding it first if no complete one exists.

    ``episodes`` yields each episode's ``(actions, frames)`` in order, ``frames`` rows in all; it is consumed only
    when this process builds the cache.

    Raises:
        FrameCacheError: ``folder`` cannot be created or written, or its disk lacks the room.
    """
    found = open_cache(folder, key, frames, height, width)
    if found is not None:
        return found
    with contextlib.ExitStack() as held:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            held.enter_context(_build_lock(folder / f"{key}.lock"))
        except OSError as err:
            raise FrameCacheError(
                f"cannot write the frame cache in {folder} ({err.strerror or err}); choose another folder with "
                "--frame-cache DIR, or train without it"
            ) from err
        found = open_cache(folder, key, frames, height, width)  # another process may have built it meanwhile
        if found is not None:
            return found
        needed = frames * (height * width * 3 + gamepad.FLAT_SIZE * 4)
        free = shutil.disk_usage(folder).free
        if needed + FREE_MARGIN_BYTES > free:
            raise FrameCacheError(
                f"the frame cache needs {needed / 2**30:.1f} GiB in {folder} and {free / 2**30:.1f} GiB are free; "
                "free some space or choose another folder with --frame-cache DIR"
            )
        _write(folder, key, (frames, height, width, 3), episodes, progress)
        found = open_cache(folder, key, frames, height, width)
        if found is None:
            raise RuntimeError(f"the frame cache {key} just written in {folder} does not read back")
        return found


def _header(handle: Any, shape: tuple[int, ...], dtype: type) -> None:
    """Write a ``.npy`` header for a C-ordered array of ``shape`` and ``dtype`` (its rows follow)."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_2_0(handle, header)


def _write(
    folder: Path,
    key: str,
    shape: tuple[int, int, int, int],
    episodes: Iterator[tuple[np.ndarray, Iterator[np.ndarray]]],
    progress: bool,
) -> None:
    """Decode into ``*.partial`` files written front to back, fsync them and rename them (the actions first)."""
    from nitrogen_envs.progress import progress_bar

    frame_path, action_path = cache_paths(folder, key)
    partials = [path.with_name(path.name + ".partial") for path in (frame_path, action_path)]
    logger.info("decoding %d frames once into the frame cache %s", shape[0], frame_path)
    try:
        with open(partials[0], "wb") as images, open(partials[1], "wb") as actions:
            _header(images, shape, np.uint8)
            _header(actions, (shape[0], gamepad.FLAT_SIZE), np.float32)
            row = 0
            with progress_bar(shape[0], "frame cache", unit="frame", enabled=progress) as bar:
                for episode_actions, episode_frames in episodes:
                    count = 0
                    for frame in episode_frames:
                        if frame.shape != shape[1:] or frame.dtype != np.uint8:
                            raise RuntimeError(f"a decoded frame is {frame.shape} {frame.dtype}, not {shape[1:]}")
                        images.write(np.ascontiguousarray(frame).tobytes())
                        count += 1
                    if count != len(episode_actions):
                        raise RuntimeError(f"an episode holds {count} frames and {len(episode_actions)} actions")
                    row += count
                    if row > shape[0]:
                        raise RuntimeError(f"the episodes hold more than the {shape[0]} frames the index lists")
                    actions.write(np.ascontiguousarray(episode_actions, dtype=np.float32).tobytes())
                    bar.update(count)
            if row != shape[0]:
                raise RuntimeError(f"the episodes hold {row} frames, the index lists {shape[0]}")
            for handle in (images, actions):
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(partials[1], action_path)
        os.replace(partials[0], frame_path)
    except BaseException:
        for partial in partials:
            with contextlib.suppress(OSError):
                partial.unlink()
        raise
