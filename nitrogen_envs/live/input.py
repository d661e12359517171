"""Turning gamepad actions into OS input: backend Protocols, the two controllers, and backend choice.

A controller owns the "what is held right now" state, so releasing everything (on close, on an
exception, on a signal, on the kill switch) is one call that works from any thread.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Protocol

from nitrogen_envs import gamepad
from nitrogen_envs.live.errors import BackendUnavailable
from nitrogen_envs.mapping import ButtonTable

logger = logging.getLogger(__name__)


class KeyboardBackend(Protocol):
    """Presses and releases keys named in :mod:`nitrogen_envs.live.keys`."""

    def key_down(self, key: str) -> None:
        """Press a key."""
        ...

    def key_up(self, key: str) -> None:
        """Release a key."""
        ...

    def flush(self) -> None:
        """Deliver queued events."""
        ...

    def close(self) -> None:
        """Release OS handles."""
        ...


class PadBackend(Protocol):
    """A virtual gamepad taking whole gamepad states."""

    def send(self, action: gamepad.GamepadDict) -> None:
        """Write a validated action."""
        ...

    def neutral(self) -> None:
        """Release everything, centre the sticks."""
        ...

    def close(self) -> None:
        """Neutralize and remove the device."""
        ...


class InputController(Protocol):
    """What the env drives: apply an action, release everything, close."""

    def apply(self, action: gamepad.GamepadDict) -> None:
        """Make the OS input match ``action``."""
        ...

    def release_all(self) -> None:
        """Release every key/button and centre sticks (safe to call any time, from any thread)."""
        ...

    def enable(self) -> None:
        """Accept actions again after an emergency release."""
        ...

    def disable(self) -> None:
        """Release everything and ignore later actions (kill switch)."""
        ...

    def emergency_release(self) -> None:
        """Release everything from a signal handler or atexit (no locks that may be held)."""
        ...

    def close(self) -> None:
        """Release everything and free the backend (the virtual pad is removed)."""
        ...


class KeyboardController:
    """Holds the keys whose :class:`~nitrogen_envs.mapping.Binding` matches the action.

    Only changes are sent (a key held over several steps is pressed once), which is what a game
    expects from a real keyboard and keeps each step to a handful of events.

    Args:
        backend: the OS keyboard.
        table: the game's gamepad -> key map.
    """

    def __init__(
        self,
        backend: KeyboardBackend,
        table: ButtonTable,
        fresh_backend: Callable[[], KeyboardBackend] | None = None,
    ) -> None:
        self.backend = backend
        self.table = table
        self.held: set[str] = set()
        self._fresh_backend = fresh_backend
        self._lock = threading.RLock()
        self._closed = False
        self._disabled = False

    def apply(self, action: gamepad.GamepadDict) -> None:
        """Press newly matching keys and release keys that no longer match."""
        wanted = {key for key, on in zip(self.table.names, self.table.to_native(action), strict=True) if on}
        with self._lock:
            if self._closed or self._disabled:
                return
            for key in sorted(self.held - wanted):
                self.backend.key_up(key)
            for key in sorted(wanted - self.held):
                self.backend.key_down(key)
            self.held = wanted
            self.backend.flush()

    def release_all(self) -> None:
        """Release every key of the map (not only those we think are held: a stuck key is released too)."""
        with self._lock:
            if self._closed:
                return
            for key in sorted(set(self.table.names)):
                self.backend.key_up(key)
            self.backend.flush()
            self.held = set()

    def enable(self) -> None:
        """Accept actions again after :meth:`emergency_release` (``reset`` calls it)."""
        self._disabled = False

    def disable(self) -> None:
        """Release everything and ignore every later :meth:`apply` (the kill switch)."""
        with self._lock:
            self._disabled = True
            self.release_all()

    def emergency_release(self) -> None:
        """Release every key without taking the lock or reusing the backend's connection.

        Runs inside signal handlers and atexit, possibly while the main thread is half-way through a
        call on the backend's own connection (python-xlib's locks are not re-entrant), so it opens a
        fresh connection when the backend can make one.
        """
        self._disabled = True
        if self._closed:
            return
        backend = self._fresh_backend() if self._fresh_backend is not None else self.backend
        try:
            for key in sorted(set(self.table.names)):
                backend.key_up(key)
            backend.flush()
        finally:
            if backend is not self.backend:
                backend.close()

    def close(self) -> None:
        """Release everything and close the backend."""
        with self._lock:
            if self._closed:
                return
            try:
                self.release_all()
            finally:
                self._closed = True
                self.backend.close()


class PadController:
    """Forwards whole actions to a virtual pad.

    Args:
        backend: the virtual pad.
    """

    def __init__(self, backend: PadBackend) -> None:
        self.backend = backend
        self._lock = threading.RLock()
        self._closed = False
        self._disabled = False

    def apply(self, action: gamepad.GamepadDict) -> None:
        """Send the action as one report."""
        with self._lock:
            if not self._closed and not self._disabled:
                self.backend.send(action)

    def enable(self) -> None:
        """Accept actions again after :meth:`emergency_release` (``reset`` calls it)."""
        self._disabled = False

    def disable(self) -> None:
        """Neutralize and ignore every later :meth:`apply` (the kill switch)."""
        with self._lock:
            self._disabled = True
            self.release_all()

    def emergency_release(self) -> None:
        """Neutral report without the lock (signal handlers, atexit); the pad API holds no OS lock."""
        self._disabled = True
        if not self._closed:
            self.backend.neutral()

    def release_all(self) -> None:
        """Neutral report: buttons up, sticks centred, triggers released."""
        with self._lock:
            if not self._closed:
                self.backend.neutral()

    def close(self) -> None:
        """Neutralize and remove the virtual pad."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.backend.close()


INPUT_BACKENDS = ("auto", "vgamepad", "uinput", "xtest", "pydirectinput")


def choose_backend(kind: str, backend: str, has_keymap: bool, game: str = "the game") -> str:
    """Pick the input backend for an input kind on this OS.

    Args:
        kind: ``"gamepad"`` or ``"keyboard"``.
        backend: ``"auto"`` or a forced name from :data:`INPUT_BACKENDS`.
        has_keymap: a key map exists, allowing a keyboard fallback on Linux without uinput.
        game: name used in messages.

    Returns:
        The backend name.

    Raises:
        BackendUnavailable: nothing fits; the message says what to install or change.
    """
    if backend != "auto":
        return backend
    windows = sys.platform == "win32"
    if kind == "keyboard":
        return "pydirectinput" if windows else "xtest"
    if windows:
        return "vgamepad"
    from nitrogen_envs.live.uinput_pad import uinput_available

    if uinput_available():
        return "uinput"
    if has_keymap:
        logger.warning("/dev/uinput is not available: driving %s with its keyboard map instead", game)
        return "xtest"
    raise BackendUnavailable(
        f"gamepad input for {game} on Linux needs /dev/uinput (`sudo modprobe uinput` and write access); "
        "or pass input='keyboard' with a key map (catalog `keys` or keymap=)"
    )


def make_controller(backend: str, table: ButtonTable | None, display: str | None = None) -> InputController:
    """Construct the controller for a backend name (imports only that backend's packages).

    Raises:
        BackendUnavailable: a keyboard backend without a key map, or an unknown backend name.
    """
    if backend in ("xtest", "pydirectinput"):
        if table is None or not table.bindings:
            raise BackendUnavailable(
                "keyboard input needs a key map: use a catalog game with `keys` or pass keymap= to the env"
            )
        if backend == "xtest":
            from nitrogen_envs.live.x11_keyboard import XTestKeyboard

            return KeyboardController(XTestKeyboard(display), table, fresh_backend=lambda: XTestKeyboard(display))
        from nitrogen_envs.live.win32_input import DirectInputKeyboard

        return KeyboardController(DirectInputKeyboard(), table)
    if backend == "vgamepad":
        from nitrogen_envs.live.win32_input import VGamepadPad

        return PadController(VGamepadPad())
    if backend == "uinput":
        from nitrogen_envs.live.uinput_pad import UInputPad

        return PadController(UInputPad())
    raise BackendUnavailable(f"unknown input backend {backend!r}; choose one of {INPUT_BACKENDS}")
