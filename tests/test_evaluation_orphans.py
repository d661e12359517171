"""A killed ``evaluate(workers=N)`` caller must not leave its workers playing the remaining seeds for nobody."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("procgen")
pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="the test finds the workers through /proc")

EVALUATE_MANY = """
from nitrogen_policies.evaluation import evaluate
evaluate("random", "NitroGen/CoinRun-v0", seeds=range(500), obs_size=64, workers=2)
"""


def spawned_workers(pid: int) -> set[int]:
    """Multiprocessing children of ``pid`` (started by ``spawn``: their command line runs ``spawn_main``)."""
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        if parent == pid and b"spawn_main" in command:
            found.add(int(entry))
    return found


def running(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_end_when_the_caller_is_killed() -> None:
    caller = subprocess.Popen([sys.executable, "-c", EVALUATE_MANY], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while not workers and time.monotonic() < deadline and caller.poll() is None:
            time.sleep(0.5)
            workers = spawned_workers(caller.pid)
        assert workers, "evaluate(workers=2) should have started a worker process"
        time.sleep(2)  # the worker is past its initializer, importing or playing
    finally:
        caller.kill()  # SIGKILL: the caller runs no cleanup
        caller.wait()
    deadline = time.monotonic() + 20
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(running(pid) for pid in workers), "a worker outlived the killed evaluate() caller"
