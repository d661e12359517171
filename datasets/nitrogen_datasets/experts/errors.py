"""Typed errors of the experts package, so callers can catch exactly what went wrong."""

from __future__ import annotations

from nitrogen_envs.errors import NitroGenError


class UnknownExpert(NitroGenError, ValueError):
    """An expert name that is not registered; the message lists the valid names."""


class ExpertUnsupported(NitroGenError, ValueError):
    """The expert cannot play this game (e.g. the planner on a game without save states)."""


class ExpertNotReset(NitroGenError, RuntimeError):
    """``act`` was called before ``reset(env, seed)``."""
