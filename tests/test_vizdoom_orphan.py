"""A killed process must not leave ViZDoom's engine process behind (it would wait forever, holding memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("vizdoom")
pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="the guard finds the engine through /proc")

from nitrogen_envs.engines.orphan_guard import OrphanGuard, child_pids  # noqa: E402

HOLD_AN_ENV = """
import time, gymnasium as gym, nitrogen_envs
env = gym.make("NitroGen/DoomBasic-v0", obs_size=64)
env.reset(seed=0)
print("ready", flush=True)
time.sleep(300)
"""


def alive(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def engines_of(pid: int) -> set[int]:
    """``vizdoom`` processes whose parent is ``pid``."""
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            continue
        if parent == pid and name == "vizdoom":
            found.add(int(entry))
    return found


def test_engine_ends_when_the_process_holding_the_env_is_killed() -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AN_ENV], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        engines = engines_of(holder.pid)
        assert engines, "the env should have started ViZDoom's engine process"
    finally:
        holder.kill()  # SIGKILL: the process runs no cleanup at all
        holder.wait()
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in engines) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in engines), "ViZDoom's engine outlived the killed process"


def test_a_closed_env_leaves_no_guard_and_kills_nothing() -> None:
    import gymnasium as gym

    import nitrogen_envs  # noqa: F401
    from nitrogen_envs.base import unwrap

    before = child_pids()
    env = gym.make("NitroGen/DoomBasic-v0", obs_size=64)
    guard = unwrap(env)._orphan_guard
    assert guard.active and guard.pids
    shell = guard._guard.pid
    env.close()
    assert not alive(shell)
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
