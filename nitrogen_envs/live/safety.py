"""Input safety: release everything at interpreter exit and on SIGINT/SIGTERM, and the kill switch.

A live env sends real input to a real machine, so a crashed or interrupted agent must never leave a
key held, a stick pushed or a game frozen. Every open env registers an emergency callback here; the
process-wide hooks (atexit and signal handlers, installed once and chaining to the previous
handlers) call all of them before the normal exit or ``KeyboardInterrupt`` proceeds.
:meth:`SafetyNet.uninstall` takes the hooks out again, for tests and programs that must leave the
process as they found it.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, ClassVar

logger = logging.getLogger(__name__)


class SafetyNet:
    """Process-wide registry of emergency callbacks (one per open live env)."""

    _callbacks: ClassVar[weakref.WeakValueDictionary[int, Any]] = weakref.WeakValueDictionary()
    _installed: ClassVar[bool] = False
    _previous: ClassVar[dict[int, Any]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def register(cls, owner: Any) -> None:
        """Call ``owner.emergency_stop()`` at exit or on SIGINT/SIGTERM while ``owner`` is alive."""
        with cls._lock:
            cls._callbacks[id(owner)] = owner
            if not cls._installed:
                cls._install()

    @classmethod
    def unregister(cls, owner: Any) -> None:
        """Forget ``owner`` (after its normal close)."""
        with cls._lock:
            cls._callbacks.pop(id(owner), None)

    @classmethod
    def uninstall(cls) -> None:
        """Remove the atexit and signal hooks, restoring the handlers they chained to, and forget every env.

        The next :meth:`register` installs them again. A signal handler that someone else set after
        ours is left in place (it may chain to ours; replacing it would break its owner). Call from the
        main thread, like any change of signal handlers.
        """
        with cls._lock:
            cls._callbacks.clear()
            if not cls._installed:
                return
            atexit.unregister(cls.fire)
            for signum, previous in cls._previous.items():
                # None: the previous handler was not set from Python, so it cannot be put back.
                if previous is not None and signal.getsignal(signum) == cls._handle:
                    signal.signal(signum, previous)
            cls._previous.clear()
            cls._installed = False

    @classmethod
    def fire(cls, final: bool = False) -> None:
        """Run every registered emergency stop; errors are logged, never raised.

        Args:
            final: the interpreter is exiting (atexit, SIGTERM), so launched games are stopped too.
        """
        for owner in list(cls._callbacks.values()):
            try:
                owner.emergency_stop(final=final)
            except Exception:  # safety code must not stop the others from running
                logger.exception("emergency stop of %r failed", owner)

    @classmethod
    def _install(cls) -> None:
        atexit.register(cls.fire, True)
        if threading.current_thread() is not threading.main_thread():
            logger.warning("live env created outside the main thread: SIGINT/SIGTERM hooks not installed")
        else:
            for signum in (signal.SIGINT, signal.SIGTERM):
                cls._previous[signum] = signal.getsignal(signum)
                signal.signal(signum, cls._handle)
        cls._installed = True

    @classmethod
    def _handle(cls, signum: int, frame: FrameType | None) -> None:
        cls.fire(final=signum == signal.SIGTERM)
        previous = cls._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)


class KillSwitch:
    """Watches one key in a background thread; when it goes down, ``on_trigger`` runs once.

    Polling (every ``interval_s``) rather than hooking the keyboard keeps it independent of which
    window has focus and works the same way with XTest (``XQueryKeymap``) and Windows
    (``GetAsyncKeyState``).

    Args:
        is_pressed: returns whether the kill-switch key is held.
        on_trigger: releases all input; called from the watcher thread.
        interval_s: polling period in seconds.
    """

    def __init__(
        self, is_pressed: Callable[[], bool], on_trigger: Callable[[], None], interval_s: float = 0.02
    ) -> None:
        self._is_pressed = is_pressed
        self._on_trigger = on_trigger
        self._interval = interval_s
        self._stop = threading.Event()
        self.triggered = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nitrogen-kill-switch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pressed = self._is_pressed()
            except Exception:  # the display went away: nothing left to watch
                logger.debug("kill switch stopped polling", exc_info=True)
                return
            if pressed:
                logger.warning("kill switch pressed: releasing all input and refusing further input")
                self.triggered.set()
                self._on_trigger()
                return
            time.sleep(self._interval)

    @property
    def watching(self) -> bool:
        """Whether the watcher thread is still polling (it ends once triggered, or when its probe fails)."""
        return self._thread.is_alive()

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)


def make_kill_switch_probe(key: str, display: str | None) -> tuple[Callable[[], bool], Callable[[], None]]:
    """A ``(is_pressed, close)`` pair for ``key`` on this OS, with its own display connection."""
    from nitrogen_envs.live.human import system_key_state

    probe = system_key_state(display)
    return (lambda: key in probe.held((key,))), probe.close
