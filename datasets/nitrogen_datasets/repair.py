"""Rebuild the metadata (``meta/info.json``, ``meta/episodes.jsonl``) from the episodes that verify: ``nitrogen data repair DIR``.

A writer refuses a folder holding episode files that no valid ``info.json`` lists (it used to delete them:
a lost or stale ``info.json`` after a bad copy or a partial sync cost every episode). This module is the
way out. An episode is listed again when its parquet and mp4 pair up by name and check out:

* its two files match, by sha256, an episode the old ``info.json`` listed (its seed is kept); or
* the parquet reads with every column, ``frame_index`` runs 0..N-1, one game, task and source, actions in
  range, and the mp4 decodes to exactly N frames of the dataset's size. An episode the old ``info.json``
  lists under the same index with other checksums is refused: it changed after it was written.

Nothing is deleted. Files that cannot be used are moved to ``DIR/unusable/`` (same relative paths) and
reported with the reason. Episodes after a gap are renumbered so indices stay 0..N-1 (renamed, with their
``episode_index`` column rewritten); the renames are planned in ``meta/repair.json`` first, so an
interrupted repair resumes when run again.

Example:
    >>> report = repair_dataset("demos/coinrun")  # doctest: +SKIP
    >>> report.episodes, report.unusable  # doctest: +SKIP
    (41, {'videos/chunk-000/episode_000007.mp4': 'no matching parquet'})
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_datasets.errors import (
    DatasetNotFound,
    FormatVersionMismatch,
    InvalidDatasetInfo,
    SchemaVersionMismatch,
)
from nitrogen_datasets.format import (
    CHUNK_SIZE,
    COLUMNS,
    TMP_SUFFIX,
    DatasetInfo,
    EpisodeInfo,
    episode_paths,
    load_info,
    save_info,
)
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.safe_inputs import open_video
from nitrogen_datasets.verify import decode_errors, file_sha256
from nitrogen_datasets.writer import (
    DatasetLock,
    WriterConfig,
    episode_files,
    recover_commit,
    remove_partial_files,
    with_episode_index,
    write_json_atomic,
)
from nitrogen_envs import gamepad

logger = logging.getLogger(__name__)

UNUSABLE_DIR = "unusable"
"""Where files that cannot be listed are moved, under their relative path (outside ``data/`` and ``videos/``)."""
PLAN_PATH = "meta/repair.json"
"""Renames of an unfinished renumbering; present only while a repair moves episodes."""
_EPISODE_FILE = re.compile(r"^episode_(\d+)\.(?:parquet|mp4)$")


@dataclass
class RepairReport:
    """What a repair did.

    Args:
        root: the dataset folder.
        episodes: episodes listed in ``meta/info.json`` now.
        frames: frames they hold.
        renumbered: episodes moved to a lower index to close a gap.
        unusable: relative path of each file moved to ``unusable/``, with the reason.
        info_written: ``False`` when no episode verified and no geometry was known (no ``info.json`` written).
    """

    root: Path
    episodes: int = 0
    frames: int = 0
    renumbered: int = 0
    unusable: dict[str, str] = field(default_factory=dict)
    info_written: bool = False


@dataclass(frozen=True)
class _Checked:
    """A verified episode: where its files are and what ``info.json`` will say about it."""

    index: int
    entry: EpisodeInfo
    fps: int
    size: tuple[int, int]  # decoded (height, width), even-padded
    pix_fmt: str
    gop: int | None  # keyframe interval; None when the episode holds a single keyframe
    trusted: bool  # matched the old info.json by sha256 (not decoded)


class _Unusable(Exception):
    """The reason an episode's files cannot be listed."""


def repair_dataset(root: str | os.PathLike[str], progress: bool = False) -> RepairReport:
    """Rebuild ``root/meta/info.json`` from the episodes that verify; move the rest to ``root/unusable/``.

    ``progress`` shows a bar over the episodes checked (each is hashed, and decoded when unlisted).

    Raises:
        DatasetNotFound: ``root`` is not a folder.
        DatasetLocked: a writer has the folder open.
        FormatVersionMismatch, SchemaVersionMismatch: the old ``info.json`` is of another version (repair
            with the nitrogen-gym version that wrote it).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFound(f"{root} is not a folder; pass the dataset folder (the one holding meta/ and data/)")
    with DatasetLock(root):
        old = recover_commit(root, _old_info(root))
        resuming = (root / PLAN_PATH).is_file()
        if resuming:
            _run_plan(root, json.loads((root / PLAN_PATH).read_text()))
        remove_partial_files(root)
        chunk_size = old.chunk_size if old else CHUNK_SIZE
        report = RepairReport(root)
        pairs = _pair_files(root, chunk_size, report.unusable)
        checked = _verify_all(root, pairs, old, strict=not resuming, unusable=report.unusable, progress=progress)
        checked = _one_geometry(root, checked, old, pairs, report.unusable)
        _move_aside(root, report.unusable)
        report.renumbered = _renumber(root, [c.index for c in checked], chunk_size)
        info = _build_info(root, checked, old, chunk_size)
        if info is not None:
            save_info(root, info)
            report.info_written = True
            report.episodes, report.frames = info.total_episodes, info.total_frames
        (root / PLAN_PATH).unlink(missing_ok=True)
    return report


def _old_info(root: Path) -> DatasetInfo | None:
    try:
        return load_info(root)
    except (FormatVersionMismatch, SchemaVersionMismatch):
        raise
    except (DatasetNotFound, InvalidDatasetInfo) as err:
        logger.info("%s: rebuilding without the old info.json (%s)", root, err)
        return None


def _pair_files(root: Path, chunk_size: int, unusable: dict[str, str]) -> dict[int, tuple[Path, Path]]:
    """Episode files by index; a file without its partner, misnamed or misplaced goes to ``unusable``."""
    found: dict[int, dict[str, Path]] = {}
    for path in episode_files(root):
        relative = path.relative_to(root).as_posix()
        match = _EPISODE_FILE.match(path.name)
        if match is None:
            unusable[relative] = "not an episode file name"
            continue
        index = int(match.group(1))
        expected = episode_paths(index, chunk_size)[0 if path.suffix == ".parquet" else 1]
        if relative != expected:
            unusable[relative] = f"episode {index} belongs at {expected}"
            continue
        found.setdefault(index, {})[path.suffix] = path
    pairs = {}
    for index, files in sorted(found.items()):
        if len(files) == 2:
            pairs[index] = (files[".parquet"], files[".mp4"])
        else:
            (path,) = files.values()
            missing = "mp4" if ".parquet" in files else "parquet"
            unusable[path.relative_to(root).as_posix()] = f"no matching {missing}"
    return pairs


def _verify_all(
    root: Path,
    pairs: dict[int, tuple[Path, Path]],
    old: DatasetInfo | None,
    strict: bool,
    unusable: dict[str, str],
    progress: bool = False,
) -> list[_Checked]:
    known = {(e.parquet_sha256, e.video_sha256): e for e in (old.episodes if old else ())}
    checked = []
    for index, (parquet, video) in _with_bar(pairs, progress):
        try:
            checked.append(_verify(index, parquet, video, old, known, strict))
        except _Unusable as err:
            for path in (parquet, video):
                unusable[path.relative_to(root).as_posix()] = str(err)
    return checked


def _with_bar(pairs: dict[int, tuple[Path, Path]], enabled: bool) -> Iterator[tuple[int, tuple[Path, Path]]]:
    """The (index, files) pairs, advancing a progress bar as each is taken."""
    from nitrogen_envs.progress import progress_bar

    with progress_bar(len(pairs), "checking episodes", unit="episode", enabled=enabled) as bar:
        for item in pairs.items():
            yield item
            bar.update(1)


def _verify(
    index: int,
    parquet: Path,
    video: Path,
    old: DatasetInfo | None,
    known: dict[tuple[str, str], EpisodeInfo],
    strict: bool,
) -> _Checked:
    shas = file_sha256(parquet), file_sha256(video)
    listed = known.get(shas)
    if listed is not None and old is not None:  # exactly the files the writer listed: nothing to decode
        entry = replace(listed, episode_index=index)
        return _Checked(index, entry, old.fps, _encoded_size(old), old.video_pix_fmt, old.video_gop, trusted=True)
    if strict and old is not None and index < old.total_episodes:
        raise _Unusable(f"episode {index} does not match the sha256 meta/info.json lists for it (changed since)")
    length, fps, names = _check_parquet(parquet)
    size, pix_fmt, gop, stream_fps = _check_video(video, length)
    entry = EpisodeInfo(index, length, *names, parquet_sha256=shas[0], video_sha256=shas[1])
    return _Checked(index, entry, fps or stream_fps, size, pix_fmt, gop, trusted=False)


def _encoded_size(info: DatasetInfo) -> tuple[int, int]:
    """(height, width) of the dataset's mp4 frames: H.264 pads odd sides to even."""
    return info.frame_height + info.frame_height % 2, info.frame_width + info.frame_width % 2


def _check_parquet(path: Path) -> tuple[int, int | None, tuple[str, str, str]]:
    """(rows, fps from the timestamps or ``None`` for one row, (game, task, source)) of a parquet that checks out."""
    pq = require_package("pyarrow.parquet")
    try:
        table = pq.read_table(path)
    except decode_errors() as err:  # what damaged data raises (pyarrow has several types); the reason is reported
        raise _Unusable(f"parquet unreadable: {err}") from err
    missing = [name for name in COLUMNS if name not in table.column_names]
    if missing:
        raise _Unusable(f"parquet lacks columns {missing}")
    rows = table.num_rows
    if rows < 1 or not np.array_equal(table.column("frame_index").to_numpy(), np.arange(rows)):
        raise _Unusable("parquet frame_index is not 0..N-1")
    names = []
    for column in ("game", "task", "source"):
        values = table.column(column).unique().to_pylist()
        if len(values) != 1 or not isinstance(values[0], str):
            raise _Unusable(f"parquet column {column!r} does not hold one name")
        names.append(values[0])
    if not names[0]:
        raise _Unusable("parquet has an empty game name")
    actions = np.stack([table.column(n).to_numpy(zero_copy_only=False) for n in gamepad.FLAT_NAMES], axis=1)
    if not (np.all(actions >= gamepad.FLAT_LOW) and np.all(actions <= gamepad.FLAT_HIGH)):
        raise _Unusable("parquet holds actions outside the gamepad ranges")
    timestamps = table.column("timestamp").to_numpy()
    fps = round(1.0 / float(timestamps[1] - timestamps[0])) if rows > 1 and timestamps[1] > timestamps[0] else None
    return rows, fps, (names[0], names[1], names[2])


def _check_video(path: Path, length: int) -> tuple[tuple[int, int], str, int | None, int]:
    """((height, width), pix_fmt, keyframe interval, fps) of an mp4 that decodes to exactly ``length`` frames."""
    keyframes, count, size = [], 0, (0, 0)
    try:
        with open_video(path, "episode video") as container:  # regular file, video stream, bounded size
            stream = container.streams.video[0]
            rate, pix_fmt = stream.average_rate, ""
            for frame in container.decode(stream):
                if count == 0:
                    size, pix_fmt = (frame.height, frame.width), frame.format.name
                elif (frame.height, frame.width) != size:
                    raise _Unusable("mp4 frames change size")
                if frame.key_frame:
                    keyframes.append(count)
                count += 1
    except _Unusable:
        raise
    except decode_errors() as err:  # FFmpeg's per-codec errors, a missing stream, a bad file; reported
        raise _Unusable(f"mp4 does not decode: {err}") from err
    if count != length:
        raise _Unusable(f"mp4 holds {count} frames but the parquet {length} rows")
    gop = keyframes[1] - keyframes[0] if len(keyframes) > 1 else None
    return size, pix_fmt, gop, round(float(rate)) if rate else 0


def _one_geometry(
    root: Path,
    checked: list[_Checked],
    old: DatasetInfo | None,
    pairs: dict[int, tuple[Path, Path]],
    unusable: dict[str, str],
) -> list[_Checked]:
    """Keep the episodes of the dataset's fps and frame size (the old info.json's, else the most common)."""
    if old is not None:
        target = (old.fps, _encoded_size(old))
    elif checked:
        target = Counter((c.fps, c.size) for c in checked).most_common(1)[0][0]
    else:
        return []
    kept = []
    for item in checked:
        if (item.fps, item.size) == target:
            kept.append(item)
            continue
        reason = f"{item.size[0]}x{item.size[1]} at {item.fps} fps, the dataset is {target[1][0]}x{target[1][1]} at {target[0]} fps"
        for path in pairs[item.index]:
            unusable[path.relative_to(root).as_posix()] = reason
    return kept


def _move_aside(root: Path, unusable: dict[str, str]) -> None:
    for relative in unusable:
        target = root / UNUSABLE_DIR / relative
        suffix = 0
        while target.exists():
            suffix += 1
            target = root / UNUSABLE_DIR / f"{relative}.{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(root / relative, target)
        logger.warning("moved %s to %s", relative, target.relative_to(root))


def _renumber(root: Path, indices: list[int], chunk_size: int) -> int:
    """Rename episodes down to 0..N-1, planned in ``meta/repair.json`` first so a crash can be resumed."""
    moves = [(old, new) for new, old in enumerate(indices) if old != new]
    if moves:
        plan = {"chunk_size": chunk_size, "moves": moves}
        (root / PLAN_PATH).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(root / PLAN_PATH, plan)
        _run_plan(root, plan)
    return len(moves)


def _run_plan(root: Path, plan: Any) -> None:
    """Do the renames of a plan that are not done yet (both files of each episode; idempotent)."""
    chunk_size = int(plan["chunk_size"])
    for old, new in plan["moves"]:
        if not (isinstance(old, int) and isinstance(new, int) and 0 <= new < old):
            raise InvalidDatasetInfo(f"{root / PLAN_PATH} holds a bad move {old!r} -> {new!r}; delete it and rerun")
        for src, dst in zip(episode_paths(old, chunk_size), episode_paths(new, chunk_size), strict=True):
            if (root / src).is_file() and not (root / dst).exists():
                (root / dst).parent.mkdir(parents=True, exist_ok=True)
                os.replace(root / src, root / dst)


def _build_info(root: Path, checked: list[_Checked], old: DatasetInfo | None, chunk_size: int) -> DatasetInfo | None:
    """The new ``info.json``: geometry from the old one (else the episodes), each episode at its new index."""
    if old is not None:
        info = old.header()  # geometry and encoding kept, no episodes
    elif checked:
        first = checked[0]
        defaults = WriterConfig()
        info = DatasetInfo(
            fps=first.fps,
            frame_height=first.size[0],
            frame_width=first.size[1],
            chunk_size=chunk_size,
            video_pix_fmt=first.pix_fmt if first.pix_fmt in ("yuv420p", "yuv444p") else defaults.pix_fmt,
            video_gop=next((c.gop for c in checked if c.gop), defaults.gop),
            video_crf=defaults.crf,  # not recorded in the mp4: the writer's default
        )
    else:
        return None
    for new, item in enumerate(checked):
        parquet_sha = _set_episode_index(root, new, chunk_size) or item.entry.parquet_sha256
        info = info.with_episode(replace(item.entry, episode_index=new, parquet_sha256=parquet_sha))
    return info


def _set_episode_index(root: Path, index: int, chunk_size: int) -> str | None:
    """Rewrite the parquet's ``episode_index`` column when it is not ``index``; returns the new sha256 if so."""
    pq = require_package("pyarrow.parquet")
    path = root / episode_paths(index, chunk_size)[0]
    table = pq.read_table(path)
    if np.all(table.column("episode_index").to_numpy() == index):
        return None
    table = with_episode_index(table, index)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return file_sha256(path)
