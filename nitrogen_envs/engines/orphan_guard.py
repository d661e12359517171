"""End an engine's own processes when the Python process that drives them dies, even by SIGKILL.

ViZDoom runs its engine as a child process. When the Python process is killed (SIGKILL, the kernel's OOM
killer, a worker pool torn down), nothing closes the game, and the engine is re-parented to init and waits
for a controller that never comes: measured here, an orphaned ``vizdoom`` process was still there minutes
later. An ``atexit`` hook or a signal handler cannot help, because a killed process runs no code. So the
guard is another process: a tiny shell, started in its own session (a Ctrl-C or a kill of our process group
does not reach it), that waits for this process to end and then kills the engine processes it was given.
``close()`` stops the guard first on a normal shutdown, so a guard never outlives the game it guards.

Linux only (it finds the engine through ``/proc``); elsewhere :func:`child_pids` finds nothing and no guard
starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess

WAIT_FOR_PARENT = (
    # On SIGTERM (a normal close): stop waiting, reap the waiter, kill nothing.
    'trap \'kill "$w" 2>/dev/null; wait "$w"; exit 0\' TERM; '
    # GNU tail waits for a pid without forking; where it cannot (no --pid), poll with kill -0 once a second.
    'tail --pid="$0" -f /dev/null 2>/dev/null & w=$!; '
    'if ! wait "$w"; then while kill -0 "$0" 2>/dev/null; do sleep 1; done; fi; '
    'kill -9 "$@" 2>/dev/null'
)
"""The guard's script: ``$0`` is the pid to wait for, the rest are the pids to kill once it is gone."""
CLOSE_TIMEOUT_S = 5.0
"""How long :meth:`OrphanGuard.close` lets the guard stop by itself (about 1 s at most where it polls)."""


def child_pids(named: str | None = None, parent: int | None = None) -> set[int]:
    """Process ids whose parent is this process (from ``/proc``; empty where there is none).

    Args:
        named: only those whose command name (``/proc/<pid>/comm``) is this.
        parent: another process's children instead of this one's.
    """
    me, found = os.getpid() if parent is None else parent, set[int]()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):  # a process that ended while we looked
            continue
        if int(fields[1]) == me and (named is None or _command_name(entry) == named):
            found.add(int(entry))
    return found


def _command_name(pid: str) -> str | None:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return None


class OrphanGuard:
    """Kills ``pids`` once this process is gone, however it ends; :meth:`close` on a normal shutdown.

    Args:
        pids: the engine's processes (children this process started, e.g. ``child_pids() - before``).
    """

    def __init__(self, pids: set[int]) -> None:
        self.pids = frozenset(pids)
        self._guard: subprocess.Popen[bytes] | None = None
        shell = shutil.which("sh")
        if self.pids and shell is not None:
            self._guard = subprocess.Popen(
                [shell, "-c", WAIT_FOR_PARENT, str(os.getpid()), *map(str, sorted(self.pids))],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def active(self) -> bool:
        """Whether a guard process is watching (False off Linux, or with nothing to guard)."""
        return self._guard is not None and self._guard.poll() is None

    def close(self) -> None:
        """Stop the guard (the game was closed normally); it then kills nothing."""
        if self._guard is not None:
            self._guard.terminate()  # its trap stops and reaps the waiter, so no process is left behind
            try:
                self._guard.wait(timeout=CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # stuck: end its whole group (the shell and its waiter)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._guard.pid, signal.SIGKILL)
                self._guard.wait()
            self._guard = None
