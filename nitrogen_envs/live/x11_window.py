"""X11 window backend (python-xlib): find by title or _NET_WM_PID, follow moves, check and give focus."""

from __future__ import annotations

import logging
import time
from typing import Any

from nitrogen_envs.live.errors import WindowUnavailable
from nitrogen_envs.live.window import Rect
from nitrogen_envs.live.xlib_import import open_display, xlib_modules

logger = logging.getLogger(__name__)


class X11Window:
    """The game window on an X server (Xorg, XWayland or Xvfb).

    Args:
        display: X display name such as ``":99"``; ``None`` reads ``$DISPLAY``.
    """

    def __init__(self, display: str | None = None) -> None:
        self._x = xlib_modules()
        self._display = open_display(display)
        self._root = self._display.screen().root
        self._window: Any = None
        self._focus_ok: int | None = None  # last focus window known to be ours (skips the tree walk)
        self._atoms = {
            name: self._display.intern_atom(name)
            for name in ("_NET_WM_PID", "_NET_WM_NAME", "_NET_ACTIVE_WINDOW", "_NET_CLIENT_LIST", "WM_STATE")
        }

    # ---- finding -------------------------------------------------------------------------------------
    def _candidates(self) -> list[Any]:
        prop = self._root.get_full_property(self._atoms["_NET_CLIENT_LIST"], self._x["X"].AnyPropertyType)
        if prop is not None and len(prop.value):
            return [self._display.create_resource_object("window", wid) for wid in prop.value]
        found, stack = [], [self._root]
        while stack:  # no window manager: walk the tree
            window = stack.pop()
            try:
                children = window.query_tree().children
            except self._x["error"].XError:
                continue
            found.extend(children)
            stack.extend(children)
        return found

    def _title(self, window: Any) -> str:
        prop = window.get_full_property(self._atoms["_NET_WM_NAME"], 0)
        if prop is not None:
            value = prop.value
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        name = window.get_wm_name()
        return name.decode("latin-1") if isinstance(name, bytes) else (name or "")

    def _window_pid(self, window: Any) -> int | None:
        prop = window.get_full_property(self._atoms["_NET_WM_PID"], self._x["X"].AnyPropertyType)
        return int(prop.value[0]) if prop is not None and len(prop.value) else None

    def find(self, title: str | None, pid: int | None) -> bool:
        """Select the largest mapped window whose title contains ``title`` and/or whose pid is ``pid``."""
        best, best_area = None, 0
        for window in self._candidates():
            try:
                if title is not None and title.lower() not in self._title(window).lower():
                    continue
                if pid is not None and self._window_pid(window) != pid:
                    continue
                if window.get_attributes().map_state != self._x["X"].IsViewable:
                    continue
                geometry = window.get_geometry()
            except (self._x["error"].XError, self._x["error"].BadWindow):
                continue
            area = geometry.width * geometry.height
            if area > best_area:
                best, best_area = window, area
        self._window = best
        self._focus_ok = None
        return best is not None

    # ---- following -----------------------------------------------------------------------------------
    def _require(self) -> Any:
        if self._window is None:
            raise WindowUnavailable("no game window selected; call find() first")
        return self._window

    def rect(self) -> Rect:
        """Client area in root coordinates; raises WindowUnavailable when closed or unmapped (minimized)."""
        window = self._require()
        try:
            if window.get_attributes().map_state != self._x["X"].IsViewable:
                raise WindowUnavailable(
                    "the game window is minimized or hidden; restore it (it must be visible to be captured)"
                )
            geometry = window.get_geometry()
            origin = self._root.translate_coords(window, 0, 0)
        except self._x["error"].BadWindow as err:
            raise WindowUnavailable("the game window was closed; restart the game (or pass launch=True)") from err
        return Rect(int(origin.x), int(origin.y), int(geometry.width), int(geometry.height))

    def screen(self) -> Rect:
        """The root window's size."""
        geometry = self._root.get_geometry()
        return Rect(0, 0, int(geometry.width), int(geometry.height))

    def pid(self) -> int | None:
        """``_NET_WM_PID`` of the selected window (set by SDL, GTK, Qt, ...)."""
        return self._window_pid(self._require())

    # ---- focus ---------------------------------------------------------------------------------------
    def _related(self, a: int, b: int) -> bool:
        """Whether window ``b`` is ``a`` or one of its ancestors (a WM frame) or descendants."""
        for start, target in ((a, b), (b, a)):
            window = self._display.create_resource_object("window", start)
            for _ in range(16):
                if window.id == target:
                    return True
                try:
                    parent = window.query_tree().parent
                except self._x["error"].XError:
                    break
                if not parent or parent.id in (0, self._root.id):
                    break
                window = parent
        return False

    def is_foreground(self) -> bool:
        """True when the X input focus is on the game window (or its frame / a child)."""
        window = self._require()
        try:
            focus = self._display.get_input_focus().focus
        except self._x["error"].XError:
            return False
        focus_id = getattr(focus, "id", focus)
        if not isinstance(focus_id, int) or focus_id in (0, 1):  # None / PointerRoot
            return False
        if focus_id == self._focus_ok:
            return True
        related = self._related(window.id, focus_id)
        self._focus_ok = focus_id if related else None
        return related

    def activate(self, timeout_s: float = 2.0) -> bool:
        """Ask the window manager (EWMH ``_NET_ACTIVE_WINDOW``) to focus the window; fall back to SetInputFocus."""
        from Xlib.protocol import event

        window = self._require()
        xconst = self._x["X"]
        message = event.ClientMessage(
            window=window,
            client_type=self._atoms["_NET_ACTIVE_WINDOW"],
            data=(32, [2, xconst.CurrentTime, 0, 0, 0]),  # 2: request from a pager/tool, honoured by WMs
        )
        self._root.send_event(message, event_mask=xconst.SubstructureRedirectMask | xconst.SubstructureNotifyMask)
        window.raise_window()
        self._display.sync()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_foreground():
                return True
            time.sleep(0.05)
        window.set_input_focus(xconst.RevertToParent, xconst.CurrentTime)
        self._display.sync()
        time.sleep(0.05)
        return self.is_foreground()

    def close(self) -> None:
        """Close the X connection."""
        if self._display is not None:
            self._display.close()
            self._display = None
