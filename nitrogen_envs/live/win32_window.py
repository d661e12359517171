"""Windows window backend (user32 through ctypes, no extra package): find, follow, focus, DPI-aware.

The process is made per-monitor DPI aware first, otherwise Windows reports scaled (logical)
coordinates on a 125 %/150 % display and the capture would miss part of the game.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import time
from ctypes import wintypes
from typing import Any

from nitrogen_envs.live.errors import BackendUnavailable, WindowUnavailable
from nitrogen_envs.live.window import Rect

logger = logging.getLogger(__name__)

_SM_XVIRTUALSCREEN, _SM_YVIRTUALSCREEN, _SM_CXVIRTUALSCREEN, _SM_CYVIRTUALSCREEN = 76, 77, 78, 79
_SW_RESTORE = 9


def make_dpi_aware() -> None:
    """Per-monitor DPI awareness (Windows 8.1+), falling back to system awareness (Vista+)."""
    windll: Any = ctypes.windll  # type: ignore[attr-defined]
    try:
        windll.shcore.SetProcessDpiAwareness(2)
    except (AttributeError, OSError):
        windll.user32.SetProcessDPIAware()


class Win32Window:
    """The game window on Windows."""

    def __init__(self) -> None:
        if sys.platform != "win32":
            raise BackendUnavailable(f"the Win32 window backend works only on Windows (this is {sys.platform})")
        make_dpi_aware()
        self._user32: Any = ctypes.windll.user32  # type: ignore[attr-defined]
        self._hwnd: int | None = None

    def _title(self, hwnd: int) -> str:
        length = self._user32.GetWindowTextLengthW(hwnd)
        buffer = ctypes.create_unicode_buffer(length + 1)
        self._user32.GetWindowTextW(hwnd, buffer, length + 1)
        return buffer.value

    def _window_pid(self, hwnd: int) -> int:
        pid = wintypes.DWORD()
        self._user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
        return int(pid.value)

    def find(self, title: str | None, pid: int | None) -> bool:
        """Select the largest visible top-level window matching the title substring and/or pid."""
        matches: list[tuple[int, int]] = []

        @ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)  # type: ignore[attr-defined]  # Windows only
        def visit(hwnd: int, _: int) -> bool:
            if not self._user32.IsWindowVisible(hwnd):
                return True
            if title is not None and title.lower() not in self._title(hwnd).lower():
                return True
            if pid is not None and self._window_pid(hwnd) != pid:
                return True
            rect = wintypes.RECT()
            self._user32.GetClientRect(hwnd, ctypes.byref(rect))
            matches.append((rect.right * rect.bottom, hwnd))
            return True

        self._user32.EnumWindows(visit, 0)
        self._hwnd = max(matches)[1] if matches else None
        return self._hwnd is not None

    def _require(self) -> int:
        if self._hwnd is None:
            raise WindowUnavailable("no game window selected; call find() first")
        if not self._user32.IsWindow(self._hwnd):
            raise WindowUnavailable("the game window was closed; restart the game (or pass launch=True)")
        return self._hwnd

    def rect(self) -> Rect:
        """Client area in physical screen pixels; raises WindowUnavailable when minimized or closed."""
        hwnd = self._require()
        if self._user32.IsIconic(hwnd):
            raise WindowUnavailable("the game window is minimized; restore it (it must be visible to be captured)")
        client = wintypes.RECT()
        self._user32.GetClientRect(hwnd, ctypes.byref(client))
        origin = wintypes.POINT(0, 0)
        self._user32.ClientToScreen(hwnd, ctypes.byref(origin))
        return Rect(int(origin.x), int(origin.y), int(client.right), int(client.bottom))

    def screen(self) -> Rect:
        """The virtual screen spanning every monitor."""
        metric = self._user32.GetSystemMetrics
        return Rect(
            metric(_SM_XVIRTUALSCREEN),
            metric(_SM_YVIRTUALSCREEN),
            metric(_SM_CXVIRTUALSCREEN),
            metric(_SM_CYVIRTUALSCREEN),
        )

    def pid(self) -> int | None:
        """Process id owning the window."""
        return self._window_pid(self._require())

    def is_foreground(self) -> bool:
        """Whether the game window is the foreground window (keyboard and XInput go to it)."""
        return self._hwnd is not None and int(self._user32.GetForegroundWindow() or 0) == self._hwnd

    def activate(self, timeout_s: float = 2.0) -> bool:
        """Restore and bring the window to the front (Windows may refuse when another app is active)."""
        hwnd = self._require()
        self._user32.ShowWindow(hwnd, _SW_RESTORE)
        self._user32.SetForegroundWindow(hwnd)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_foreground():
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Nothing to release: window handles are not owned."""
        self._hwnd = None
