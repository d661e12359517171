"""A killed process leaves nothing running: ViZDoom's engine (it would wait forever, holding memory) and
``evaluate(workers=N)``'s workers (they would play the remaining seeds for nobody) end with it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from nitrogen_envs.engines.orphan_guard import OrphanGuard, child_pids

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc"), reason="the guard and the tests find processes through /proc"
)


HOLD_AN_ENV = """
import time, gymnasium as gym, nitrogen_envs
env = gym.make("NitroGen/DoomBasic-v0", obs_size=64)
env.reset(seed=0)
print("ready", flush=True)
time.sleep(300)
"""

EVALUATE_MANY = """
from nitrogen_policies.evaluation import evaluate
evaluate("random", "NitroGen/CoinRun-v0", seeds=range(500), obs_size=64, workers=2)
"""


def running(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_engine_ends_when_the_process_holding_the_env_is_killed() -> None:
    pytest.importorskip("vizdoom")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AN_ENV], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        engines = child_pids(named="vizdoom", parent=holder.pid)
        assert engines, "the env should have started ViZDoom's engine process"
    finally:
        holder.kill()  # SIGKILL: the process runs no cleanup at all
        holder.wait()
    deadline = time.monotonic() + 20
    while any(running(pid) for pid in engines) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(running(pid) for pid in engines), "ViZDoom's engine outlived the killed process"


def test_a_closed_env_leaves_no_guard_and_kills_nothing() -> None:
    pytest.importorskip("vizdoom")
    import gymnasium as gym

    import nitrogen_envs  # noqa: F401
    from nitrogen_envs.base import unwrap

    before = child_pids()
    env = gym.make("NitroGen/DoomBasic-v0", obs_size=64)
    guard = unwrap(env)._orphan_guard
    assert guard.active and guard.pids
    shell = guard._guard.pid
    env.close()
    assert not running(shell)
    assert not child_pids() - before, "closing the env should end the engine and the guard, and leave no waiter"


def test_guard_kills_only_after_its_process_is_gone() -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        guard = OrphanGuard({sleeper.pid})
        time.sleep(1.5)  # the guard waits for this process, which is alive: it must not kill
        assert sleeper.poll() is None
        guard.close()
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_evaluate_workers_end_when_the_caller_is_killed() -> None:
    pytest.importorskip("procgen")
    caller = subprocess.Popen([sys.executable, "-c", EVALUATE_MANY], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while not workers and time.monotonic() < deadline and caller.poll() is None:
            time.sleep(0.5)
            workers = child_pids(named="python", parent=caller.pid)  # workers (and the resource tracker)
        assert workers, "evaluate(workers=2) should have started a worker process"
        time.sleep(2)  # the worker is past its initializer, importing or playing
    finally:
        caller.kill()  # SIGKILL: the caller runs no cleanup
        caller.wait()
    deadline = time.monotonic() + 20
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(running(pid) for pid in workers), "a worker outlived the killed evaluate() caller"
