"""Finding, following and focusing the game window: the Protocol every OS backend implements."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Rect:
    """A screen rectangle in physical pixels (``left``/``top`` of the client area, no decorations)."""

    left: int
    top: int
    width: int
    height: int

    def as_mss(self) -> dict[str, int]:
        """The region dict ``mss.grab`` expects."""
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}

    def clip(self, screen: Rect) -> Rect | None:
        """The part of this rectangle inside ``screen``, or ``None`` when nothing is visible."""
        left, top = max(self.left, screen.left), max(self.top, screen.top)
        right = min(self.left + self.width, screen.left + screen.width)
        bottom = min(self.top + self.height, screen.top + screen.height)
        if right <= left or bottom <= top:
            return None
        return Rect(left, top, right - left, bottom - top)


class WindowBackend(Protocol):
    """What the env needs from the OS about one game window.

    ``find`` picks the window once; ``rect`` is called every step so a moved window is followed, and
    raises :class:`~nitrogen_envs.live.errors.WindowUnavailable` when it is closed or minimized.
    """

    def find(self, title: str | None, pid: int | None) -> bool:
        """Select the game window by title substring and/or process id; False when none matches."""
        ...

    def rect(self) -> Rect:
        """The client area of the selected window in screen pixels."""
        ...

    def screen(self) -> Rect:
        """The whole virtual screen, to clip captures to."""
        ...

    def pid(self) -> int | None:
        """Process id owning the window, when the OS tells."""
        ...

    def is_foreground(self) -> bool:
        """Whether keyboard input would reach the selected window."""
        ...

    def activate(self, timeout_s: float = 2.0) -> bool:
        """Bring the window to the front; True when it has focus afterwards."""
        ...

    def close(self) -> None:
        """Release OS handles."""
        ...


def make_window_backend(display: str | None = None) -> WindowBackend:
    """The window backend of this OS (python-xlib on Linux, user32 via ctypes on Windows)."""
    if sys.platform == "win32":
        from nitrogen_envs.live.win32_window import Win32Window

        return Win32Window()
    from nitrogen_envs.live.x11_window import X11Window

    return X11Window(display)
