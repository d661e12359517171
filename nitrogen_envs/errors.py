"""Typed errors of :mod:`nitrogen_envs`, so callers can catch exactly what went wrong.

Each message says what was wrong, the value received, and what to do next.
"""

from __future__ import annotations

from gymnasium import error as gym_error


class NitroGenError(Exception):
    """Base class of every error raised on purpose by NitroGen Gym."""


class DependencyNotInstalled(NitroGenError, gym_error.DependencyNotInstalled):
    """An optional package (a game engine, pygame, PyAV, ...) is missing; the message names the pip extra."""


class UnknownGame(NitroGenError, gym_error.NameNotFound):
    """A game name or env id that is not registered; the message lists close matches."""


class UnknownTask(NitroGenError, ValueError):
    """A task name the game does not define; the message lists the game's tasks."""


class SaveStateUnsupported(NitroGenError, NotImplementedError):
    """The engine behind this game cannot snapshot its state."""


class InvalidSaveState(NitroGenError, ValueError):
    """Bytes given to ``load_state`` were not produced by ``save_state`` of the same game.

    Raised before the engine sees the bytes: a truncated, corrupted or foreign state fails the length,
    format version, engine, game or checksum check (some engines exit the process on a bad blob).
    """


class EnvClosed(NitroGenError, gym_error.Error):
    """``step``, ``reset`` or a save state was used after ``close()``; the engine is gone, so make a new env."""
