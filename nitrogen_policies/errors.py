"""Typed errors of :mod:`nitrogen_policies`; messages name the problem and the fix."""

from __future__ import annotations

from nitrogen_envs.errors import DependencyNotInstalled, NitroGenError

__all__ = [
    "CheckpointError",
    "DependencyNotInstalled",
    "InvalidConfig",
    "NitroGenError",
    "PolicyInputError",
    "SchemaMismatch",
    "TrajectoryFileError",
    "UnsafeCheckpoint",
]


class CheckpointError(NitroGenError, OSError):
    """A checkpoint folder, bundled name or Hub id could not be found or read."""


class UnsafeCheckpoint(CheckpointError):
    """A pickled checkpoint (NVIDIA's ``ng.pt``) names something our restricted reader does not allow; nothing ran."""


class InvalidConfig(NitroGenError, ValueError):
    """A policy config (``config.json``, a preset override) has a field of the wrong type or out of range."""


class TrajectoryFileError(NitroGenError, ValueError):
    """An ``--imitation`` trajectories file is not in a format read without pickle, or its arrays are malformed."""


class SchemaMismatch(NitroGenError, ValueError):
    """A checkpoint speaks another gamepad schema version than this install."""


class PolicyInputError(NitroGenError, ValueError):
    """Observations given to ``predict`` have the wrong type, shape or dtype."""
