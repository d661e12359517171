"""Keyboard key names shared by the catalog and every keyboard backend.

The catalog writes keys in one lower-case vocabulary (``"left"``, ``"space"``, ``"enter"``, ``"z"``,
``"f12"``), close to pydirectinput's names, so a map written once works on Windows and Linux. Each
backend translates a name to its own code here, in one table, rather than in scattered ``if``s.

Example:
    >>> x11_keysym("enter"), x11_keysym("z"), x11_keysym("f12")
    ('Return', 'z', 'F12')
    >>> windows_vk("f12"), windows_vk("a")
    (123, 65)
"""

from __future__ import annotations

import string

_SPECIAL_X11: dict[str, str] = {
    "space": "space",
    "enter": "Return",
    "esc": "Escape",
    "tab": "Tab",
    "backspace": "BackSpace",
    "shift": "Shift_L",
    "ctrl": "Control_L",
    "alt": "Alt_L",
    "left": "Left",
    "right": "Right",
    "up": "Up",
    "down": "Down",
    "pause": "Pause",
    "home": "Home",
    "end": "End",
    "pageup": "Prior",
    "pagedown": "Next",
    "insert": "Insert",
    "delete": "Delete",
}
_SPECIAL_VK: dict[str, int] = {
    "space": 0x20,
    "enter": 0x0D,
    "esc": 0x1B,
    "tab": 0x09,
    "backspace": 0x08,
    "shift": 0x10,
    "ctrl": 0x11,
    "alt": 0x12,
    "left": 0x25,
    "up": 0x26,
    "right": 0x27,
    "down": 0x28,
    "pause": 0x13,
    "home": 0x24,
    "end": 0x23,
    "pageup": 0x21,
    "pagedown": 0x22,
    "insert": 0x2D,
    "delete": 0x2E,
}
_FUNCTION_KEYS = tuple(f"f{i}" for i in range(1, 13))
KEY_NAMES: frozenset[str] = frozenset([*_SPECIAL_X11, *_FUNCTION_KEYS, *string.ascii_lowercase, *string.digits])
"""Every key name a catalog may use."""


def check_key(name: str) -> str:
    """Return ``name`` if it is a known key name.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if name not in KEY_NAMES:
        raise ValueError(f"unknown key {name!r}; valid keys are letters, digits, f1-f12 and {sorted(_SPECIAL_X11)}")
    return name


def x11_keysym(name: str) -> str:
    """The X11 keysym name of a key (``XStringToKeysym`` input)."""
    check_key(name)
    if name in _SPECIAL_X11:
        return _SPECIAL_X11[name]
    if name in _FUNCTION_KEYS:
        return name.upper()
    return name


def windows_vk(name: str) -> int:
    """The Windows virtual-key code of a key (``GetAsyncKeyState`` input)."""
    check_key(name)
    if name in _SPECIAL_VK:
        return _SPECIAL_VK[name]
    if name in _FUNCTION_KEYS:
        return 0x70 + int(name[1:]) - 1
    return ord(name.upper())
