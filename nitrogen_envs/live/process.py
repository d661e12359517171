"""The game process: find, launch, suspend/resume (sync stepping) and stop, with a state file of PIDs.

Every process we launch is written to a small JSON state file (pid, start time, command), so that
``nitrogen live cleanup`` can resume and stop leftovers of a crashed run; the start time guards
against acting on a recycled PID.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nitrogen_envs.live.errors import GameNotRunning, LiveDependencyNotInstalled

logger = logging.getLogger(__name__)

STATE_ENV_VAR = "NITROGEN_LIVE_STATE"
"""Path of the JSON state file of launched games (default: ~/.cache/nitrogen/live_state.json)."""


def _psutil() -> Any:
    try:
        import psutil
    except ImportError as err:
        raise LiveDependencyNotInstalled(
            f"psutil is not installed ({err}). Install it with: pip install 'nitrogen-gym[live]'"
        ) from err
    return psutil


def state_path() -> Path:
    """Where launched PIDs are recorded."""
    custom = os.environ.get(STATE_ENV_VAR)
    return Path(custom) if custom else Path.home() / ".cache" / "nitrogen" / "live_state.json"


def read_state() -> list[dict[str, Any]]:
    """Entries of the state file (empty when missing or unreadable)."""
    try:
        data = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return []
    return [entry for entry in data.get("launched", []) if isinstance(entry, dict) and "pid" in entry]


def write_state(entries: list[dict[str, Any]]) -> None:
    """Replace the state file's entries (atomic rename, so a crash never leaves half a file)."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"launched": entries}, indent=1))
    tmp.replace(path)


def find_process(names: Sequence[str]) -> int | None:
    """PID of a running process whose name matches one of ``names`` (case-insensitive), or ``None``."""
    wanted = {name.lower() for name in names}
    if not wanted:
        return None
    for proc in _psutil().process_iter(["name", "pid"]):
        name = (proc.info.get("name") or "").lower()
        if name in wanted:
            return int(proc.info["pid"])
    return None


GAME_DIRS = ("/usr/games", "/usr/local/games")
"""Debian and Ubuntu install games here, often outside a non-login shell's PATH."""


def resolve_executable(name: str) -> str:
    """Full path of ``name`` from PATH or the distribution's game folders; ``name`` itself if not found."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *GAME_DIRS])
    return shutil.which(name, path=path) or name


class GameProcess:
    """One game process we may suspend, resume and (when we launched it) stop.

    Args:
        pid: the process id.
        launched: we started it, so :meth:`stop` may end it and the state file lists it.
        popen: the ``Popen`` handle when we launched it (reaps the child on stop).
    """

    def __init__(self, pid: int, launched: bool = False, popen: subprocess.Popen | None = None) -> None:
        psutil = _psutil()
        try:
            self._proc = psutil.Process(pid)
            self.create_time = self._proc.create_time()
        except psutil.NoSuchProcess as err:
            raise GameNotRunning(f"game process {pid} is not running") from err
        self.pid = pid
        self.launched = launched
        self.popen = popen
        self.suspended = False

    @classmethod
    def launch(cls, command: Sequence[str], env: dict[str, str] | None = None) -> GameProcess:
        """Start ``command`` in its own session and record it in the state file.

        Raises:
            GameNotRunning: the executable does not exist (the message names it).
        """
        argv = [resolve_executable(command[0]), *command[1:]]
        try:
            popen = subprocess.Popen(
                argv,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=sys.platform != "win32",
            )
        except OSError as err:
            raise GameNotRunning(f"cannot launch the game with {list(command)}: {err}") from err
        game = cls(popen.pid, launched=True, popen=popen)
        game.record()
        logger.info("launched %s as pid %d", command[0], popen.pid)
        return game

    def record(self) -> None:
        """Add this process to the state file (so cleanup finds it after a crash)."""
        entries = [e for e in read_state() if e.get("pid") != self.pid]
        entries.append({"pid": self.pid, "create_time": self.create_time, "cmd": self._proc.name()})
        write_state(entries)

    def _forget(self) -> None:
        write_state([e for e in read_state() if e.get("pid") != self.pid])

    def is_running(self) -> bool:
        """Whether the process is alive (a zombie counts as gone)."""
        psutil = _psutil()
        try:
            return self._proc.is_running() and self._proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def suspend(self, timeout_s: float = 1.0) -> None:
        """Freeze the game (SIGSTOP / NtSuspendProcess): its frames stop changing exactly.

        On POSIX a signal takes effect when the process is next scheduled, which on a busy machine
        can be milliseconds later; this waits until the kernel reports it stopped so the frame
        captured next is final.
        """
        if self.suspended:
            return
        psutil = _psutil()
        self._proc.suspend()
        self.suspended = True
        if sys.platform == "win32":
            return
        deadline = time.monotonic() + timeout_s
        with contextlib.suppress(psutil.NoSuchProcess):
            while self._proc.status() not in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP):
                if time.monotonic() > deadline:
                    logger.warning("game pid %d not reported stopped %.1f s after SIGSTOP", self.pid, timeout_s)
                    break
                time.sleep(0.0005)

    def resume(self) -> None:
        """Let the game run again (safe to call when not suspended or already gone)."""
        psutil = _psutil()
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            self._proc.resume()
        self.suspended = False

    def stop(self, timeout_s: float = 5.0) -> None:
        """End a launched game: resume, SIGTERM, wait, then SIGKILL; never returns while it still runs.

        A stopped process cannot act on SIGTERM, and a game whose X server died can spin at full CPU
        forever, so this always resumes first and escalates to a kill.
        """
        psutil = _psutil()
        self.resume()
        try:
            self._proc.terminate()
            try:
                self._proc.wait(timeout_s)
            except psutil.TimeoutExpired:
                logger.warning("game pid %d ignored SIGTERM for %.1f s; killing it", self.pid, timeout_s)
                self._proc.kill()
                self._proc.wait(timeout_s)
        except psutil.NoSuchProcess:
            pass
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(1.0)
        self._forget()


def cleanup_launched(stop: bool = True) -> list[str]:
    """Resume (and by default stop) every game the state file lists that is still ours; clear the file.

    Returns:
        One line per process handled, for the CLI to print.
    """
    psutil = _psutil()
    report = []
    for entry in read_state():
        pid = int(entry["pid"])
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - float(entry.get("create_time", 0))) > 1.0:
                report.append(f"pid {pid}: recycled by another program, left alone")
                continue
        except psutil.NoSuchProcess:
            report.append(f"pid {pid} ({entry.get('cmd', '?')}): already gone")
            continue
        game = GameProcess.__new__(GameProcess)
        game._proc, game.pid, game.create_time = proc, pid, proc.create_time()
        game.launched, game.popen, game.suspended = True, None, True
        if stop:
            game.stop()
            report.append(f"pid {pid} ({entry.get('cmd', '?')}): resumed and stopped")
        else:
            game.resume()
            report.append(f"pid {pid} ({entry.get('cmd', '?')}): resumed")
    if stop:
        write_state([])
    return report
