"""X11 keyboard through the XTest extension (python-xlib): the same path as a physical key press."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nitrogen_envs.live.errors import BackendUnavailable
from nitrogen_envs.live.keys import x11_keysym
from nitrogen_envs.live.xlib_import import open_display, xlib_modules


class X11KeyState:
    """Global key state of an X server (one ``QueryKeymap`` round trip per poll), and keycode lookup.

    Reading needs no XTEST: it is how a person's keys are recorded and the kill switch is watched.

    Args:
        display: X display name; ``None`` reads ``$DISPLAY``.
    """

    def __init__(self, display: str | None = None) -> None:
        self._x = xlib_modules()
        self._display: Any = open_display(display)
        self._codes: dict[str, int] = {}

    def keycode(self, key: str) -> int:
        """X keycode of a catalog key name (cached)."""
        code = self._codes.get(key)
        if code is None:
            keysym = self._x["XK"].string_to_keysym(x11_keysym(key))
            code = int(self._display.keysym_to_keycode(keysym))
            if code == 0:
                raise BackendUnavailable(f"key {key!r} has no keycode in this X keyboard map")
            self._codes[key] = code
        return code

    def held(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` the X server reports held (any source: a person, xdotool, XTest)."""
        keymap = self._display.query_keymap()
        codes = {key: self.keycode(key) for key in keys}
        return {key for key, code in codes.items() if keymap[code // 8] & (1 << (code % 8))}

    def close(self) -> None:
        """Close the X connection."""
        if self._display is not None:
            self._display.close()
            self._display = None


class XTestKeyboard(X11KeyState):
    """Press and release keys on an X server; the focused window receives them.

    Args:
        display: X display name; ``None`` reads ``$DISPLAY``.
    """

    def __init__(self, display: str | None = None) -> None:
        super().__init__(display)
        if not self._display.has_extension("XTEST"):
            raise BackendUnavailable("the X server has no XTEST extension; keyboard input cannot be sent")

    def key_down(self, key: str) -> None:
        """Press ``key`` (queued until :meth:`flush`)."""
        self._x["xtest"].fake_input(self._display, self._x["X"].KeyPress, self.keycode(key))

    def key_up(self, key: str) -> None:
        """Release ``key`` (queued until :meth:`flush`)."""
        self._x["xtest"].fake_input(self._display, self._x["X"].KeyRelease, self.keycode(key))

    def flush(self) -> None:
        """Send queued events and wait until the server has processed them."""
        self._display.sync()


def pressed_keycodes(display: str | None = None) -> list[int]:
    """Keycodes the X server reports held right now (for cleanup and tests)."""
    connection = open_display(display)
    try:
        keymap = connection.query_keymap()
    finally:
        connection.close()
    return [index * 8 + bit for index, byte in enumerate(keymap) for bit in range(8) if byte & (1 << bit)]


def release_keycodes(codes: list[int], display: str | None = None) -> None:
    """Release the given keycodes through XTest (``nitrogen live cleanup`` uses it for stuck keys)."""
    x = xlib_modules()
    connection = open_display(display)
    try:
        for code in codes:
            x["xtest"].fake_input(connection, x["X"].KeyRelease, code)
        connection.sync()
    finally:
        connection.close()
