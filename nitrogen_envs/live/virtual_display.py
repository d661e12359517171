"""A throw-away X server (Xvfb) with a window manager, for headless machines, tests and benchmarks.

Keyboard input reaches an X client only when its window has focus, and only a window manager hands
out focus on request, so ``openbox`` is started with the server by default.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time

from nitrogen_envs.live.errors import BackendUnavailable

logger = logging.getLogger(__name__)


def _stop(proc: subprocess.Popen | None, timeout_s: float = 5.0) -> None:
    """Terminate, wait, then kill: never return while the process still runs."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)


class VirtualDisplay:
    """Xvfb on a free display number (chosen by Xvfb itself via ``-displayfd``), plus openbox.

    Args:
        size: screen (width, height) in pixels.
        window_manager: start openbox so windows can be focused (needed for keyboard input).

    Example::

        with VirtualDisplay((1600, 900)) as vd:
            env = gym.make("NitroGen/SuperTux-v0", display=vd.name, launch=True)
    """

    def __init__(self, size: tuple[int, int] = (1600, 900), window_manager: bool = True) -> None:
        if shutil.which("Xvfb") is None:
            raise BackendUnavailable("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb openbox)")
        if window_manager and shutil.which("openbox") is None:
            raise BackendUnavailable("openbox is not installed (Debian/Ubuntu: apt-get install openbox)")
        self.size = size
        self.window_manager = window_manager
        self.name = ""
        self.xvfb: subprocess.Popen | None = None
        self.wm: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> VirtualDisplay:
        """Start the server (and window manager); returns self."""
        read_fd, write_fd = os.pipe()
        width, height = self.size
        self.xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        try:
            with os.fdopen(read_fd) as pipe:
                number = pipe.readline().strip()
            if not number:
                raise BackendUnavailable("Xvfb did not start (no display number reported)")
            self.name = f":{number}"
            if self.window_manager:
                self.wm = subprocess.Popen(
                    ["openbox"],
                    env={**os.environ, "DISPLAY": self.name},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                self._wait_for_wm(timeout_s)
        except BaseException:
            self.stop()
            raise
        logger.info("virtual display %s (%dx%d) started", self.name, width, height)
        return self

    def _wait_for_wm(self, timeout_s: float) -> None:
        from nitrogen_envs.live.xlib_import import open_display

        connection = open_display(self.name)
        try:
            atom = connection.intern_atom("_NET_SUPPORTING_WM_CHECK")
            root = connection.screen().root
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if root.get_full_property(atom, 0) is not None:
                    return
                time.sleep(0.05)
        finally:
            connection.close()
        logger.warning("openbox did not announce itself within %.0f s", timeout_s)

    def stop(self) -> None:
        """Stop the window manager and the server, waiting for both to exit."""
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):  # the server must stop even so
            _stop(self.wm)
        _stop(self.xvfb)

    def __enter__(self) -> VirtualDisplay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
