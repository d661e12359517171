"""Read ``imitation`` trajectory files without pickle: nothing in the file can run code.

``imitation.data.serialize.load`` calls ``np.load(..., allow_pickle=True)`` (so a ``.pkl`` or ``.npz``
file can run code the moment it is opened) and decodes each step's ``infos`` with ``jsonpickle`` (which can
build arbitrary objects). This module reads the same data through two doors only:

* the folder ``imitation.data.serialize.save`` writes (Hugging Face ``datasets``' ``save_to_disk``
  layout: ``state.json`` naming Arrow stream files). The Arrow files are read with ``pyarrow`` directly,
  every record batch is fully validated before use, and the ``infos`` column is never decoded;
* an ``.npz`` archive of plain arrays (imitation's older format: ``obs``, ``acts``, ``indices``,
  ``terminal``, optional ``rews``), loaded with ``allow_pickle=False``; its pickled ``infos`` are skipped.

Anything else (a pickle, a ``.npy``, a FIFO, ...) is refused with a one-line :class:`TrajectoryFileError`.
A folder written by ``nitrogen data export-imitation`` also names each trajectory's game and task in a small
JSON sidecar (``nitrogen.json``, size-bounded and type-checked); other folders and ``.npz`` files name none.
Trajectories are yielded one at a time, so a large file is never held in memory at once.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_datasets.imitation_bridge import GAMES_FILE, GAMES_FORMAT
from nitrogen_policies.errors import TrajectoryFileError

STATE_NAME = "state.json"
"""The file ``datasets``' ``save_to_disk`` writes to list its Arrow shards."""
MAX_STATE_BYTES = 1024 * 1024
"""``state.json`` is a few hundred bytes; anything much larger is not one."""
MAX_GAMES_BYTES = 16 * 1024 * 1024
"""The games sidecar holds ~50 bytes per trajectory; 16 MiB is far more trajectories than anyone exports."""
MAX_NAME_CHARS = 200
"""Longest game or task name accepted from the sidecar (registry names are under 30)."""
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
"""First bytes of a zip archive (an ``.npz``), a full one or an empty one."""
ACCEPTED = (
    "a folder written by imitation.data.serialize.save (state.json + .arrow files) or an .npz of plain arrays "
    "(obs, acts, indices, terminal, rews); pickle files are refused because loading them can run code"
)


@dataclass(frozen=True)
class Trajectory:
    """One trajectory, with the fields of ``imitation.data.types.TrajectoryWithRew`` we use (no ``infos``).

    Args:
        obs: (N + 1, ...) observations.
        acts: (N, ...) actions.
        terminal: whether the episode ended in a terminal state (not a time limit).
        rews: (N,) rewards, or ``None`` when the file has none.
        game: the game played, when the file names it (``nitrogen data export-imitation`` does), else ``None``.
        task: the task, likewise.
    """

    obs: np.ndarray
    acts: np.ndarray
    terminal: bool
    rews: np.ndarray | None = None
    game: str | None = None
    task: str | None = None


def read_trajectories(source: str | os.PathLike[str]) -> Iterator[Trajectory]:
    """Yield the trajectories of an ``imitation`` folder or ``.npz``, never unpickling anything.

    Raises:
        TrajectoryFileError: ``source`` is missing, not one of the accepted formats, or malformed.
    """
    path = Path(source)
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise TrajectoryFileError(f"cannot read imitation trajectories {path}: {err.strerror}") from err
    if stat.S_ISDIR(mode):
        yield from _read_hf_folder(path)
    elif stat.S_ISREG(mode) and _starts_with(path, ZIP_MAGIC):
        yield from _read_npz(path)
    else:
        raise TrajectoryFileError(f"{path} is not a trajectories format read here; give {ACCEPTED}")


def _starts_with(path: Path, prefixes: tuple[bytes, ...]) -> bool:
    with path.open("rb") as handle:
        head = handle.read(max(len(prefix) for prefix in prefixes))
    return head.startswith(prefixes)


# ---- Hugging Face datasets folder -------------------------------------------------------------------------
def _read_hf_folder(folder: Path) -> Iterator[Trajectory]:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type stubs

    names = _game_names(folder)
    count = 0
    for shard in _arrow_shards(folder):
        try:
            with pa.OSFile(str(shard)) as source:  # not memory-mapped: a file truncated meanwhile is a SIGBUS
                reader = pa.ipc.open_stream(source)
                for batch in reader:
                    batch.validate(full=True)  # untrusted IPC: check every offset before reading
                    for trajectory in _batch_trajectories(batch, shard):
                        yield _named(trajectory, names, count, folder)
                        count += 1
        except (pa.ArrowException, OSError) as err:
            raise TrajectoryFileError(f"{shard} is not a readable Arrow stream ({err}); give {ACCEPTED}") from err
    if names is not None and len(names) != count:
        raise TrajectoryFileError(f"{folder / GAMES_FILE} names {len(names)} trajectories, the folder holds {count}")


def _named(trajectory: Trajectory, names: list[tuple[str, str]] | None, index: int, folder: Path) -> Trajectory:
    if names is None:
        return trajectory
    if index >= len(names):
        raise TrajectoryFileError(f"{folder / GAMES_FILE} names {len(names)} trajectories, the folder holds more")
    game, task = names[index]
    return dataclasses.replace(trajectory, game=game, task=task)


def _load_json(path: Path, what: str, max_bytes: int) -> Any:
    """A JSON file read within a size and nesting limit (:func:`nitrogen_datasets.safe_inputs.load_json`).

    Raises:
        TrajectoryFileError: not a regular file, too large or too deep.
        ValueError: malformed JSON (callers say what they expected).
    """
    from nitrogen_datasets.safe_inputs import InvalidInputFile, load_json

    try:
        return load_json(path, what, max_bytes=max_bytes)
    except InvalidInputFile as err:
        raise TrajectoryFileError(f"{err}; give {ACCEPTED}") from err


def _game_names(folder: Path) -> list[tuple[str, str]] | None:
    """(game, task) per trajectory from the export's sidecar, or ``None`` when the folder has none."""
    path = folder / GAMES_FILE
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file() or path.is_symlink():
        raise TrajectoryFileError(f"{path} is not a regular file; delete it or re-export the trajectories")
    try:
        data = _load_json(path, "games file", MAX_GAMES_BYTES)
        if data.get("format") != GAMES_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {GAMES_FORMAT!r}")
        names = [(entry["game"], entry["task"]) for entry in data["trajectories"]]
    except TrajectoryFileError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise TrajectoryFileError(f"{path} is not a games file written by export-imitation ({err!r})") from err
    for game, task in names:
        for value in (game, task):
            if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_CHARS or not value.isprintable():
                raise TrajectoryFileError(
                    f"{path} names {value!r}; expected printable names of 1-{MAX_NAME_CHARS} chars"
                )
    return names


def _arrow_shards(folder: Path) -> list[Path]:
    """The Arrow files ``state.json`` lists, each a plain name of a regular file inside ``folder``."""
    state_path = folder / STATE_NAME
    if not state_path.is_file():
        raise TrajectoryFileError(
            f"{folder} has no {STATE_NAME}, so it was not written by serialize.save; give {ACCEPTED}"
        )
    try:
        files = _load_json(state_path, "datasets state file", MAX_STATE_BYTES)["_data_files"]
        names = [entry["filename"] for entry in files]
    except TrajectoryFileError:
        raise
    except (ValueError, KeyError, TypeError) as err:
        raise TrajectoryFileError(f"{state_path} does not list _data_files as datasets writes it ({err!r})") from err
    shards = []
    for name in names:
        if not isinstance(name, str) or not name.endswith(".arrow") or Path(name).name != name or name.startswith("."):
            raise TrajectoryFileError(f"{state_path} lists {name!r}; expected plain .arrow file names inside {folder}")
        shard = folder / name
        if not shard.is_file() or shard.is_symlink():
            raise TrajectoryFileError(f"{state_path} lists {name}, which is not a regular file in {folder}")
        shards.append(shard)
    return shards


def _batch_trajectories(batch: Any, shard: Path) -> Iterator[Trajectory]:
    names = set(batch.schema.names)
    missing = {"obs", "acts", "terminal"} - names
    if missing:
        raise TrajectoryFileError(
            f"{shard} has no column(s) {sorted(missing)}; it does not hold imitation trajectories"
        )
    obs, acts, terminal = (batch.column(name) for name in ("obs", "acts", "terminal"))
    rews = batch.column("rews") if "rews" in names else None  # "infos" (jsonpickle) is never read
    for row in range(batch.num_rows):
        where = f"{shard} row {row}"
        yield Trajectory(
            obs=_narrow_frames(_row_array(obs, row, f"{where} obs")),
            acts=_row_array(acts, row, f"{where} acts"),
            terminal=bool(terminal[row].as_py()),
            rews=None if rews is None else _row_array(rews, row, f"{where} rews"),
        )


def _row_array(column: Any, row: int, where: str) -> np.ndarray:
    """One row of a nested-list Arrow column as a rectangular ndarray, without a Python object per element."""
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    values = column.slice(row, 1)
    shape: list[int] = []
    while (
        pa.types.is_list(values.type) or pa.types.is_large_list(values.type) or pa.types.is_fixed_size_list(values.type)
    ):
        if values.null_count:
            raise TrajectoryFileError(f"{where} has missing values")
        lengths = pc.list_value_length(values)
        low, high = pc.min(lengths).as_py(), pc.max(lengths).as_py()
        if low != high:
            raise TrajectoryFileError(f"{where} is ragged (inner lengths {low}..{high}); expected a rectangular array")
        shape.append(int(high or 0))
        values = values.flatten()
    leaf = values.type
    if not (pa.types.is_integer(leaf) or pa.types.is_floating(leaf) or pa.types.is_boolean(leaf)) or values.null_count:
        raise TrajectoryFileError(f"{where} holds {leaf} values; expected numbers without missing values")
    return values.to_numpy(zero_copy_only=False).reshape(shape)


def _narrow_frames(obs: np.ndarray) -> np.ndarray:
    """Older ``datasets`` versions widened uint8 frames to int64 on disk; narrow them back when they fit."""
    if (
        obs.dtype != np.uint8
        and np.issubdtype(obs.dtype, np.integer)
        and obs.size
        and obs.min() >= 0
        and obs.max() <= 255
    ):
        return obs.astype(np.uint8)
    return obs


# ---- .npz ---------------------------------------------------------------------------------------------------
MAX_NPZ_BYTES = 16 * 1024**3
"""Largest total of uncompressed arrays an ``.npz`` may declare: an archive is a zip, and a few kilobytes of
zip can declare gigabytes (a decompression bomb)."""


def _check_npz_sizes(path: Path) -> None:
    """Refuse an ``.npz`` whose arrays would allocate more than the archive holds, or more than the cap.

    NumPy allocates an array from the shape in its ``.npy`` header before reading the data, so each member's
    header is read (a few hundred bytes) and its size compared with the member's declared uncompressed size.
    """
    import zipfile

    from numpy.lib import format as npy_format

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(member.file_size for member in members)
            if total > MAX_NPZ_BYTES:
                raise TrajectoryFileError(
                    f"{path} declares {total / 1024**3:.1f} GiB of arrays, over the {MAX_NPZ_BYTES // 1024**3} GiB limit"
                )
            for member in members:
                with archive.open(member) as stream:
                    major, _ = npy_format.read_magic(stream)
                    read_header = npy_format.read_array_header_1_0 if major == 1 else npy_format.read_array_header_2_0
                    shape, _, dtype = read_header(stream)
                if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > member.file_size:
                    raise TrajectoryFileError(
                        f"{path}: array {member.filename} declares shape {shape} ({dtype}), more than the "
                        f"{member.file_size} bytes it holds; the file is damaged or crafted"
                    )
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise TrajectoryFileError(f"{path} is not a readable .npz ({err}); give {ACCEPTED}") from err


def _read_npz(path: Path) -> Iterator[Trajectory]:
    _check_npz_sizes(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise TrajectoryFileError(f"{path} is not a readable .npz ({err}); give {ACCEPTED}") from err
    with archive:
        missing = {"obs", "acts", "indices", "terminal"} - set(archive.files)
        if missing:
            raise TrajectoryFileError(f"{path} has no array(s) {sorted(missing)}; give {ACCEPTED}")
        try:
            obs, acts, indices, terminal = (archive[key] for key in ("obs", "acts", "indices", "terminal"))
            rews = archive["rews"] if "rews" in archive.files else None  # "infos" is pickled: never loaded
        except ValueError as err:  # an object array needs pickle
            raise TrajectoryFileError(f"{path} holds an array that needs pickle ({err}); give {ACCEPTED}") from err
    indices = np.asarray(indices)
    count = len(indices)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer) or np.shape(terminal) != (count + 1,):
        # imitation stores split points between trajectories: len(terminal) == len(indices) + 1
        raise TrajectoryFileError(f"{path}: indices must be 1-D integers with one fewer entry than terminal")
    obs_parts = np.split(obs, indices + np.arange(count) + 1)  # each trajectory has one extra observation
    act_parts = np.split(acts, indices)
    rew_parts = np.split(rews, indices) if rews is not None else [None] * (count + 1)
    for part_obs, part_acts, part_terminal, part_rews in zip(obs_parts, act_parts, terminal, rew_parts, strict=True):
        yield Trajectory(obs=_narrow_frames(part_obs), acts=part_acts, terminal=bool(part_terminal), rews=part_rews)
