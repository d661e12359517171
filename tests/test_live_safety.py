"""Safety plumbing of live envs that needs no display: kill-switch thread and the exit/signal registry."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from fixtures.repo import run_python

from nitrogen_envs.live.safety import KillSwitch, SafetyNet


@pytest.fixture(autouse=True)
def _no_safety_hooks_leak():
    """Every test leaves the process's signal handlers and atexit hooks as it found them."""
    yield
    SafetyNet.uninstall()


@pytest.fixture
def thread_errors(monkeypatch):
    """Exceptions that escaped a thread (a dying watcher), which pytest would only warn about."""
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    return errors


def test_kill_switch_triggers_once_when_its_key_goes_down(thread_errors):
    pressed = threading.Event()
    calls = []
    switch = KillSwitch(pressed.is_set, lambda: calls.append(time.monotonic()), interval_s=0.005)
    time.sleep(0.05)
    assert calls == [] and not switch.triggered.is_set() and switch.watching
    pressed.set()
    assert switch.triggered.wait(1.0)
    time.sleep(0.05)
    switch.close()
    assert len(calls) == 1
    assert thread_errors == []


def test_kill_switch_stops_quietly_when_its_probe_fails(thread_errors):
    probed = threading.Event()
    calls = []

    def broken() -> bool:
        probed.set()
        raise OSError("display gone")

    switch = KillSwitch(broken, lambda: calls.append(True), interval_s=0.005)
    try:
        assert probed.wait(1.0), "the watcher never polled its probe"
        deadline = time.monotonic() + 1.0
        while switch.watching and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not switch.watching, "the watcher kept running after its probe failed"
    finally:
        switch.close()
    # Stopping quietly: the probe's error did not escape the thread, and nothing was triggered.
    assert thread_errors == []
    assert not switch.triggered.is_set() and calls == []


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


def test_safety_net_hooks_chain_to_the_previous_handler_and_uninstall_restores_it():
    SafetyNet.uninstall()
    # The previous SIGINT handler is Python's own, which raises KeyboardInterrupt, whatever an earlier test
    # left installed (a full CI run once had another one here, and nothing was raised).
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        owner = Owner()
        SafetyNet.register(owner)
        assert all(signal.getsignal(signum) != handler for signum, handler in before.items())
        with pytest.raises(KeyboardInterrupt):  # the previous handler raises it, after our stop
            signal.raise_signal(signal.SIGINT)
        assert owner.calls == [False]

        SafetyNet.uninstall()
        assert {signum: signal.getsignal(signum) for signum in before} == before
        SafetyNet.fire()
        assert owner.calls == [False], "uninstall forgets the registered envs"
    finally:
        SafetyNet.uninstall()
        if outer is not None:  # None: a handler not set from Python, which cannot be put back
            signal.signal(signal.SIGINT, outer)


_EXIT = """
from nitrogen_envs.live.safety import SafetyNet
class Owner:
    def emergency_stop(self, final=False):
        print("stopped at exit", final)
owner = Owner()
SafetyNet.register(owner)
{then}
"""


@pytest.mark.parametrize(("then", "printed"), [("", "stopped at exit True"), ("SafetyNet.uninstall()", "")])
def test_interpreter_exit_stops_registered_envs_until_the_hooks_are_uninstalled(then, printed):
    result = run_python(_EXIT.format(then=then))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == printed
