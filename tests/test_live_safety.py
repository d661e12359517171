"""Safety plumbing of live envs that needs no display: kill-switch thread and the exit/signal registry."""

from __future__ import annotations

import threading
import time

from nitrogen_envs.live.safety import KillSwitch, SafetyNet


def test_kill_switch_triggers_once_when_its_key_goes_down():
    pressed = threading.Event()
    calls = []
    switch = KillSwitch(pressed.is_set, lambda: calls.append(time.monotonic()), interval_s=0.005)
    time.sleep(0.05)
    assert calls == [] and not switch.triggered.is_set()
    pressed.set()
    assert switch.triggered.wait(1.0)
    time.sleep(0.05)
    switch.close()
    assert len(calls) == 1


def test_kill_switch_stops_quietly_when_its_probe_fails():
    def broken() -> bool:
        raise OSError("display gone")

    switch = KillSwitch(broken, lambda: None, interval_s=0.005)
    switch.close()
    assert not switch.triggered.is_set()


class Owner:
    def __init__(self) -> None:
        self.calls: list[bool] = []

    def emergency_stop(self, final: bool = False) -> None:
        self.calls.append(final)


def test_safety_net_calls_every_open_env_and_forgets_closed_ones():
    first, second = Owner(), Owner()
    SafetyNet.register(first)
    SafetyNet.register(second)
    SafetyNet.unregister(second)
    SafetyNet.fire(final=True)
    SafetyNet.unregister(first)
    assert first.calls == [True] and second.calls == []


def test_safety_net_keeps_going_when_one_emergency_stop_fails():
    class Broken:
        def emergency_stop(self, final: bool = False) -> None:
            raise RuntimeError("boom")

    broken, good = Broken(), Owner()
    SafetyNet.register(broken)
    SafetyNet.register(good)
    try:
        SafetyNet.fire()
    finally:
        SafetyNet.unregister(broken)
        SafetyNet.unregister(good)
    assert good.calls == [False]
