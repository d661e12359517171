"""NVIDIA's released NitroGen action dataset: its chunk files, read with every field checked, and its action columns.

The release (``huggingface.co/datasets/nvidia/NitroGen``) holds actions only, one folder per 20-second chunk::

    actions/SHARD_XXXX/<video_id>/<video_id>_chunk_NNNN/actions_raw.parquet   one row per video frame
    actions/SHARD_XXXX/<video_id>/<video_id>_chunk_NNNN/metadata.json         where the chunk is in its video

``actions_raw.parquet`` has 17 button columns (:data:`BUTTON_COLUMNS`, booleans) and the two sticks
``j_left`` / ``j_right``, each an ``[x, y]`` list in [-1, 1]. The buttons carry the same names as ours
(:data:`nitrogen_envs.gamepad.BUTTON_NAMES` plus the two triggers, which the release stores pressed or not).

**Stick y sign.** In the release ``y = -1`` is the stick pushed *up* (``(-1, -1)`` is top-left, the
DirectInput/SDL convention): the official game client negates y before handing it to the XInput driver, whose
+y is up (``nitrogen/game_env.py``, ``set_joystick``: ``value = -value - 1`` on Windows). Ours has +y up
(:mod:`nitrogen_envs.gamepad`), so ``our_y = -official_y`` both ways; x is the same in both.

Everything read here comes from the internet, so sizes are checked before anything is allocated: the parquet's
byte size and row count (from its footer) before its columns are read, and the metadata's resolution and
boxes against :data:`nitrogen_datasets.safe_inputs.MAX_IMAGE_SIDE`. A bad file is one
:class:`InvalidNitroGenChunk` naming it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.safe_inputs import (
    MAX_IMAGE_SIDE,
    InvalidInputFile,
    check_frame_size,
    load_json,
    read_regular_file,
)
from nitrogen_envs import gamepad

ACTIONS_FILE = "actions_raw.parquet"
METADATA_FILE = "metadata.json"
BUTTON_COLUMNS: tuple[str, ...] = (
    "back",
    "dpad_down",
    "dpad_left",
    "dpad_right",
    "dpad_up",
    "east",
    "guide",
    "left_shoulder",
    "left_thumb",
    "left_trigger",
    "north",
    "right_shoulder",
    "right_thumb",
    "right_trigger",
    "south",
    "start",
    "west",
)
"""The release's 17 button columns, in its (alphabetical) order; the triggers are buttons there."""
STICK_COLUMNS: tuple[str, ...] = ("j_left", "j_right")
OFFICIAL_COLUMNS: tuple[str, ...] = (*BUTTON_COLUMNS, *STICK_COLUMNS)
CHUNK_SECONDS = 20.0
"""Length of one released chunk; ``export-nitrogen`` splits episodes at this length by default."""
OFFICIAL_Y_SIGN = -1.0
"""Multiplies a stick's y between the release (+y down) and ours (+y up), in both directions."""

MAX_CHUNK_ROWS = 100_000
"""Most rows a chunk may have: 20 s at 60 fps is 1,200; this allows 80 minutes at 20 fps before refusing."""
MAX_PARQUET_BYTES = 64 * 1024 * 1024
"""Largest chunk parquet read; a released one is a few tens of KB."""
MAX_CHUNK_DURATION_S = 3600.0
"""Longest time range a chunk may claim (bounds the frames decoded and written for it)."""

if set(BUTTON_COLUMNS) != set(gamepad.BUTTON_NAMES) | set(gamepad.TRIGGERS):  # a bug here, not a user mistake
    raise RuntimeError("official BUTTON_COLUMNS no longer match nitrogen_envs.gamepad's buttons and triggers")
_FLAT_INDEX = {name: gamepad.FLAT_NAMES.index(name) for name in BUTTON_COLUMNS}


class InvalidNitroGenChunk(InvalidInputFile):
    """A chunk of the released dataset whose ``actions_raw.parquet`` or ``metadata.json`` is malformed or too big.

    The message names the file and what was wrong with it.
    """


@dataclass(frozen=True)
class ChunkMetadata:
    """The parts of a chunk's ``metadata.json`` the import uses, typed and checked.

    Args:
        uuid: ``<video_id>_chunk_NNNN_actions`` (empty when the file has none).
        chunk_id: the chunk's number within its video, as written (``"0003"``).
        video_id: id of the source video (a YouTube id in the release); the local file is found by it.
        game: game name (``"other"`` in much of the release); kept as the episodes' game.
        resolution: (height, width) of the source video the boxes are measured in, in pixels.
        start_time: start of the chunk in the source video, seconds (``None`` when only frames are given).
        end_time: end of the chunk in the source video, seconds.
        start_frame: first source-video frame of the chunk (used with the local video's frame rate when the
            times are missing).
        end_frame: frame after the last one.
        controller_type: ``xboxone``, ``ps4``, ``switch``... (informative).
        source: where the video came from (``youtube``...).
        url: the source video's address.
        overlay_box: ``bbox_controller_overlay`` as (x, y, w, h) pixels at ``resolution``, or ``None``.
        game_area: ``bbox_game_area`` as (x0, y0, x1, y1) fractions of the frame, or ``None`` (whole frame).
    """

    uuid: str
    chunk_id: str
    video_id: str
    game: str
    resolution: tuple[int, int]
    start_time: float | None = None
    end_time: float | None = None
    start_frame: int | None = None
    end_frame: int | None = None
    controller_type: str = ""
    source: str = ""
    url: str = ""
    overlay_box: tuple[float, float, float, float] | None = None
    game_area: tuple[float, float, float, float] | None = None


# ---- metadata.json -------------------------------------------------------------------------------------------
class _Fields:
    """Typed getters over one JSON object that raise :class:`InvalidNitroGenChunk` naming the file and the field."""

    def __init__(self, data: Any, path: Path, where: str = "") -> None:
        if not isinstance(data, dict):
            raise InvalidNitroGenChunk(f"{path}: {where or 'the file'} must be a JSON object, got {_kind(data)}")
        self.data, self.path, self.where = data, path, where

    def _fail(self, key: str, expected: str, value: Any) -> InvalidNitroGenChunk:
        return InvalidNitroGenChunk(f"{self.path}: {self.where}{key} must be {expected}, got {_short(value)}")

    def text(self, key: str, default: str | None = None, numeric_ok: bool = False) -> str:
        value = self.data.get(key)
        if value is None and default is not None:
            return default
        if numeric_ok and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or len(value) > 512:
            raise self._fail(key, "a string of at most 512 characters", value)
        return value

    def number(self, key: str, low: float, high: float) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self._fail(key, f"a number in [{low:g}, {high:g}]", value)
        if not low <= value <= high:
            raise self._fail(key, f"a number in [{low:g}, {high:g}]", value)
        return float(value)

    def integer(self, key: str, low: int, high: int) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._fail(key, f"an integer in [{low}, {high}]", value)
        return value

    def numbers(self, key: str, count: int) -> list[float] | None:
        value = self.data.get(key)
        if value is None:
            return None
        ok = isinstance(value, list) and len(value) == count
        ok = ok and all(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in value)
        if not ok:
            raise self._fail(key, f"a list of {count} finite numbers", value)
        return [float(v) for v in value]


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list, str, int, float, bool, type(None))) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _overlay_box(fields: _Fields) -> tuple[float, float, float, float] | None:
    box = fields.numbers("bbox_controller_overlay", 4)
    if box is None:
        return None
    x, y, w, h = box
    if not (
        abs(x) <= MAX_IMAGE_SIDE and abs(y) <= MAX_IMAGE_SIDE and 0 <= w <= MAX_IMAGE_SIDE and 0 <= h <= MAX_IMAGE_SIDE
    ):
        raise fields._fail("bbox_controller_overlay", f"[x, y, w, h] pixels within {MAX_IMAGE_SIDE} (w, h >= 0)", box)
    return x, y, w, h


def _game_area(fields: _Fields, resolution: tuple[int, int]) -> tuple[float, float, float, float] | None:
    """``bbox_game_area`` as fractions (x0, y0, x1, y1), from any of the forms it is found in.

    The release writes ``{"xtl", "ytl", "xbr", "ybr"}`` fractions of the frame. A list of four numbers all in
    [0, 1] is read as the same corners; any other list as ``[x, y, w, h]`` pixels, like the overlay box.
    """
    value = fields.data.get("bbox_game_area")
    if value is None:
        return None
    if isinstance(value, dict):
        corners = _Fields(value, fields.path, "bbox_game_area.")
        x0, y0, x1, y1 = (corners.number(key, 0.0, 1.0) for key in ("xtl", "ytl", "xbr", "ybr"))
        if None in (x0, y0, x1, y1):
            raise fields._fail("bbox_game_area", "an object with xtl, ytl, xbr, ybr in [0, 1]", value)
        box = (float(x0), float(y0), float(x1), float(y1))  # type: ignore[arg-type]
    else:
        numbers = fields.numbers("bbox_game_area", 4)
        assert numbers is not None  # value is not None here
        if all(0.0 <= v <= 1.0 for v in numbers):
            box = (numbers[0], numbers[1], numbers[2], numbers[3])
        else:
            x, y, w, h = numbers
            height, width = resolution
            if not (
                0 <= w <= MAX_IMAGE_SIDE
                and 0 <= h <= MAX_IMAGE_SIDE
                and abs(x) <= MAX_IMAGE_SIDE
                and abs(y) <= MAX_IMAGE_SIDE
            ):
                raise fields._fail("bbox_game_area", f"[x, y, w, h] pixels within {MAX_IMAGE_SIDE}", numbers)
            box = (x / width, y / height, (x + w) / width, (y + h) / height)
    if not (box[2] > box[0] and box[3] > box[1]):
        raise fields._fail("bbox_game_area", "a box of positive width and height", value)
    return box


def read_metadata(path: str | os.PathLike[str]) -> ChunkMetadata:
    """Read and check one chunk's ``metadata.json`` (size- and depth-limited, every used field typed).

    Raises:
        InvalidNitroGenChunk: not JSON, or a field missing, of the wrong type or out of range (named).
        InvalidInputFile: missing, not a regular file, or over the JSON size limit.
    """
    path = Path(path)
    try:
        data = load_json(path, what="chunk metadata")
    except json.JSONDecodeError as err:
        raise InvalidNitroGenChunk(
            f"{path} is not valid JSON (line {err.lineno} column {err.colno}: {err.msg})"
        ) from err
    top = _Fields(data, path)
    video = _Fields(data.get("original_video"), path, "original_video.")
    resolution = video.numbers("resolution", 2)
    if resolution is None:
        raise InvalidNitroGenChunk(f"{path}: original_video.resolution ([height, width]) is missing")
    height, width = (int(v) for v in resolution)
    if (height, width) != tuple(resolution):
        raise video._fail("resolution", "[height, width] in whole pixels", resolution)
    try:
        check_frame_size(width, height, "chunk metadata resolution of", path)
    except InvalidInputFile as err:
        raise InvalidNitroGenChunk(str(err)) from None
    max_frame = int(MAX_CHUNK_DURATION_S * 1000 * 240)  # frame numbers of a 1000-hour video at 240 fps
    meta = ChunkMetadata(
        uuid=top.text("uuid", default=""),
        chunk_id=top.text("chunk_id", default="", numeric_ok=True),
        video_id=video.text("video_id"),
        game=top.text("game", default="").strip(),
        resolution=(height, width),
        start_time=video.number("start_time", 0.0, MAX_CHUNK_DURATION_S * 1000),
        end_time=video.number("end_time", 0.0, MAX_CHUNK_DURATION_S * 1000),
        start_frame=video.integer("start_frame", 0, max_frame),
        end_frame=video.integer("end_frame", 0, max_frame),
        controller_type=top.text("controller_type", default=""),
        source=video.text("source", default=""),
        url=video.text("url", default=""),
        overlay_box=_overlay_box(top),
        game_area=_game_area(top, (height, width)),
    )
    if not meta.video_id or "/" in meta.video_id or "\\" in meta.video_id or meta.video_id in (".", ".."):
        raise video._fail("video_id", "a file-name-safe id", meta.video_id)
    _check_range(meta, path)
    return meta


def _check_range(meta: ChunkMetadata, path: Path) -> None:
    for first, last, unit in (
        (meta.start_time, meta.end_time, "time"),
        (meta.start_frame, meta.end_frame, "frame"),
    ):
        if (first is None) != (last is None):
            raise InvalidNitroGenChunk(f"{path}: original_video has start_{unit} or end_{unit} but not both")
        if first is not None and last is not None and not last > first:
            raise InvalidNitroGenChunk(
                f"{path}: original_video.end_{unit} ({last}) must be after start_{unit} ({first})"
            )
    if meta.start_time is None and meta.start_frame is None:
        raise InvalidNitroGenChunk(
            f"{path}: original_video has neither start_time/end_time nor start_frame/end_frame; "
            "the chunk cannot be placed in its video"
        )
    if (
        meta.start_time is not None
        and meta.end_time is not None
        and meta.end_time - meta.start_time > MAX_CHUNK_DURATION_S
    ):
        raise InvalidNitroGenChunk(
            f"{path}: the chunk spans {meta.end_time - meta.start_time:.0f} s, over the {MAX_CHUNK_DURATION_S:.0f} s limit"
        )


# ---- actions_raw.parquet --------------------------------------------------------------------------------------
def read_actions(path: str | os.PathLike[str], max_rows: int = MAX_CHUNK_ROWS) -> np.ndarray:
    """A chunk's actions as our (N, 21) float32 flat vectors (:data:`nitrogen_envs.gamepad.FLAT_NAMES` order).

    The file size and the footer (columns, types, row count) are checked before any column is read.
    Buttons are snapped to 0/1 at 0.5 and stick y is flipped to our +y-up convention.

    Raises:
        InvalidNitroGenChunk: unreadable parquet, a missing column, a wrong type, a null or NaN, a stick that
            is not ``[x, y]`` in [-1, 1], or more than ``max_rows`` rows (the message names the file).
        InvalidInputFile: missing, not a regular file, or over :data:`MAX_PARQUET_BYTES`.
    """
    pa = require_package("pyarrow")
    pq = require_package("pyarrow.parquet")
    path = Path(path)
    data = read_regular_file(path, MAX_PARQUET_BYTES, what="chunk actions")
    try:
        handle = pq.ParquetFile(pa.BufferReader(data))
        schema, rows = handle.schema_arrow, handle.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError) as err:
        raise InvalidNitroGenChunk(f"{path} is not a readable parquet file ({_first_line(err)})") from err
    _check_schema(path, schema, pa)
    if not 1 <= rows <= max_rows:
        raise InvalidNitroGenChunk(
            f"{path} has {rows} rows; a chunk must have between 1 and {max_rows} (20 s at 60 fps is 1200)"
        )
    try:
        table = handle.read(columns=list(OFFICIAL_COLUMNS))
    except (pa.ArrowException, OSError, ValueError) as err:
        raise InvalidNitroGenChunk(f"{path}: its columns cannot be read ({_first_line(err)})") from err
    if table.num_rows != rows:
        raise InvalidNitroGenChunk(f"{path}: the footer says {rows} rows but {table.num_rows} were read")
    flat = np.zeros((rows, gamepad.FLAT_SIZE), dtype=np.float32)
    for name in BUTTON_COLUMNS:
        flat[:, _FLAT_INDEX[name]] = _button_values(path, name, table.column(name), pa)
    for name, (x_index, y_index) in zip(STICK_COLUMNS, ((0, 1), (2, 3)), strict=True):
        stick = _stick_values(path, name, table.column(name), rows, pa)
        flat[:, x_index] = stick[:, 0]
        flat[:, y_index] = OFFICIAL_Y_SIGN * stick[:, 1]
    return flat


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _check_schema(path: Path, schema: Any, pa: Any) -> None:
    missing = [name for name in OFFICIAL_COLUMNS if name not in schema.names]
    if missing:
        raise InvalidNitroGenChunk(
            f"{path} lacks the column(s) {missing}; a NitroGen actions file has {list(OFFICIAL_COLUMNS)}"
        )
    for name in BUTTON_COLUMNS:
        kind = schema.field(name).type
        if not (pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise InvalidNitroGenChunk(f"{path}: button column {name!r} must be boolean or numeric, got {kind}")
    for name in STICK_COLUMNS:
        kind = schema.field(name).type
        listed = pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
        if not listed or not (pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type)):
            raise InvalidNitroGenChunk(f"{path}: stick column {name!r} must be a list of numbers [x, y], got {kind}")


def _button_values(path: Path, name: str, column: Any, pa: Any) -> np.ndarray:
    if column.null_count:
        raise InvalidNitroGenChunk(f"{path}: button column {name!r} has {column.null_count} null value(s)")
    values = column.combine_chunks().to_numpy(zero_copy_only=False).astype(np.float64)
    bad = ~((values >= 0.0) & (values <= 1.0))  # also catches NaN
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidNitroGenChunk(f"{path}: button column {name!r} row {row} is {values[row]}, not in [0, 1]")
    return (values >= gamepad.BUTTON_THRESHOLD).astype(np.float32)


def _stick_values(path: Path, name: str, column: Any, rows: int, pa: Any) -> np.ndarray:
    pc = require_package("pyarrow.compute")
    column = column.combine_chunks()
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    if column.null_count or np.any(lengths != 2):
        row = int(np.flatnonzero(lengths != 2)[0]) if np.any(lengths != 2) else 0
        raise InvalidNitroGenChunk(f"{path}: stick column {name!r} row {row} is not an [x, y] pair")
    flat_values = pc.list_flatten(column)
    if flat_values.null_count:
        raise InvalidNitroGenChunk(f"{path}: stick column {name!r} has null coordinates")
    values = flat_values.to_numpy(zero_copy_only=False).astype(np.float64).reshape(rows, 2)
    bad = ~(np.abs(values) <= 1.0 + 1e-6)  # also catches NaN
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InvalidNitroGenChunk(
            f"{path}: stick column {name!r} row {row} is {values[row].tolist()}, outside [-1, 1]"
        )
    return np.clip(values, -1.0, 1.0).astype(np.float32)


def official_table(actions: np.ndarray) -> Any:
    """Our (N, 21) flat actions as a table with the release's columns (the inverse of :func:`read_actions`).

    Buttons and triggers become booleans (pressed at >= 0.5, so a half-pressed trigger is pressed), sticks
    ``[x, y]`` float64 lists with y flipped to the release's +y-down convention.
    """
    pa = require_package("pyarrow")
    actions = np.asarray(actions, dtype=np.float32)
    if actions.ndim != 2 or actions.shape[1] != gamepad.FLAT_SIZE:
        raise ValueError(f"actions must be (N, {gamepad.FLAT_SIZE}) flat gamepad vectors, got shape {actions.shape}")
    columns: dict[str, Any] = {
        name: pa.array(actions[:, _FLAT_INDEX[name]] >= gamepad.BUTTON_THRESHOLD, type=pa.bool_())
        for name in BUTTON_COLUMNS
    }
    for name, (x_index, y_index) in zip(STICK_COLUMNS, ((0, 1), (2, 3)), strict=True):
        pairs = np.stack([actions[:, x_index], OFFICIAL_Y_SIGN * actions[:, y_index]], axis=1) + np.float32(0.0)
        offsets = pa.array(np.arange(0, 2 * len(pairs) + 1, 2, dtype=np.int32))
        columns[name] = pa.ListArray.from_arrays(offsets, pa.array(pairs.reshape(-1).astype(np.float64)))
    return pa.table(columns)
