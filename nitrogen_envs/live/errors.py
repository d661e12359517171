"""Typed errors of the live-game layer; each message says what went wrong and how to fix it."""

from __future__ import annotations

from nitrogen_envs.errors import DependencyNotInstalled, NitroGenError


class LiveGameError(NitroGenError, RuntimeError):
    """Base class of every error raised on purpose while driving a live game."""


class GameNotRunning(LiveGameError):
    """The target game (window or process) was not found; the message says how to start it."""


class WindowUnavailable(LiveGameError):
    """The game window was closed, minimized or moved off screen, so it cannot be captured."""


class WindowBlank(LiveGameError):
    """The game window showed only black or one-colour frames until ``render_timeout_s`` ran out."""


class FocusLost(LiveGameError):
    """Input was refused because the game window is not in front (it would go to another program)."""


class KillSwitchPressed(LiveGameError):
    """The user pressed the kill-switch key: every input was released and no more is sent."""


class BackendUnavailable(LiveGameError):
    """No capture or input backend works on this platform with the requested options."""


class LiveDependencyNotInstalled(DependencyNotInstalled):
    """A package of the ``live`` or ``windows`` extra is missing; the message names the extra."""


class CatalogError(NitroGenError, ValueError):
    """A live-game catalog entry (TOML) is malformed or names an unknown game."""
