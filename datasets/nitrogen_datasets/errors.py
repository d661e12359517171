"""Typed errors of :mod:`nitrogen_datasets`, so callers can catch exactly what went wrong.

Each message names the file or value at fault and says what to do next.
"""

from __future__ import annotations

from nitrogen_envs.errors import NitroGenError


class DatasetError(NitroGenError):
    """Base class of every error raised on purpose by the demonstrations dataset code."""


class DatasetNotFound(DatasetError, FileNotFoundError):
    """The folder holds no ``meta/info.json``; the message says how to create a dataset there."""


class InvalidDatasetInfo(DatasetError, ValueError):
    """``meta/info.json`` (or a :class:`~nitrogen_datasets.format.DatasetInfo`) holds a bad value."""


class FormatVersionMismatch(DatasetError, ValueError):
    """The dataset was written with another on-disk format version than this code reads."""


class SchemaVersionMismatch(DatasetError, ValueError):
    """The dataset's gamepad ``schema_version`` differs from :data:`nitrogen_envs.gamepad.SCHEMA_VERSION`."""


class IncompatibleDataset(DatasetError, ValueError):
    """Appending to a dataset whose fps or frame size differs from the writer's configuration."""


class CorruptEpisode(DatasetError, OSError):
    """An episode's parquet or mp4 file is missing, truncated, fails its checksum or cannot be decoded.

    Attributes:
        path: the file at fault.
        episode_index: the episode it belongs to.
    """

    def __init__(self, message: str, *, path: str, episode_index: int) -> None:
        super().__init__(message)
        self.path = path
        self.episode_index = episode_index


class InvalidEpisode(DatasetError, ValueError):
    """An episode handed to the writer is malformed (empty, wrong frame size, mismatched lengths)."""


class DatasetLocked(DatasetError, RuntimeError):
    """Another writer holds the dataset folder's lock (two writers would lose episodes); the message names its pid."""


class DatasetNeedsRepair(InvalidDatasetInfo):
    """The folder holds episode files that no valid ``meta/info.json`` lists; ``nitrogen data repair`` rebuilds it.

    A writer refuses such a folder instead of deleting the files (they may be a user's episodes whose
    ``info.json`` was lost or is stale), and changes nothing in it.
    """
