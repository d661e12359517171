"""Typed errors of :mod:`nitrogen_policies`; messages name the problem and the fix."""

from __future__ import annotations

from nitrogen_envs.errors import DependencyNotInstalled, NitroGenError

__all__ = ["CheckpointError", "DependencyNotInstalled", "NitroGenError", "PolicyInputError", "SchemaMismatch"]


class CheckpointError(NitroGenError, OSError):
    """A checkpoint folder, bundled name or Hub id could not be found or read."""


class SchemaMismatch(NitroGenError, ValueError):
    """A checkpoint speaks another gamepad schema version than this install."""


class PolicyInputError(NitroGenError, ValueError):
    """Observations given to ``predict`` have the wrong type, shape or dtype."""
