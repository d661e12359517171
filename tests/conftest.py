"""Session-wide test setup: headless SDL, ``gpu`` tests skipped without CUDA, and a guard against tests that
leave process-wide state changed.

Helpers and factories live in ``tests/fixtures`` (``from fixtures.games import installed_games``); test modules
never import from this file or from one another.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _process_state() -> dict[str, tuple[Any, Callable[[Any], object]]]:
    """Process-wide settings a test could leave changed: name -> (value now, how to put a value back).

    Only what is cheap to read on every test and changes what later tests see: torch's and OpenCV's thread
    counts (read only once the test session has imported them) and the SIGINT/SIGTERM handlers. The global torch
    RNG is left out on purpose: seeding it is how the trainer makes a run repeatable, and no test relies on the
    seed another test left behind.
    """
    state: dict[str, tuple[Any, Callable[[Any], object]]] = {}
    for signum in _SIGNALS:
        state[f"{signal.Signals(signum).name} handler"] = (
            signal.getsignal(signum),
            functools.partial(signal.signal, signum),
        )
    torch = sys.modules.get("torch")
    if torch is not None:
        state["torch.get_num_threads()"] = (torch.get_num_threads(), torch.set_num_threads)
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and hasattr(cv2, "getNumThreads"):
        state["cv2.getNumThreads()"] = (cv2.getNumThreads(), cv2.setNumThreads)
    return state


@pytest.fixture(autouse=True)
def _process_state_is_restored() -> Iterator[None]:
    """Fail a test that leaves torch's or OpenCV's thread count or a SIGINT/SIGTERM handler changed.

    Such a leak makes later tests depend on the order they run in: one torch thread left set slows every later
    torch test, and a handler left installed changes what Ctrl-C or a kill does to the rest of the run. The
    setting is put back before failing, so only the test that changed it fails.
    """
    before = _process_state()
    yield
    after = _process_state()
    changed = []
    for name, (value, restore) in before.items():
        now = after.get(name, (value, restore))[0]
        if now != value:
            changed.append(f"{name} {value!r} -> {now!r}")
            restore(value)
    if changed:
        pytest.fail(
            "the test left process-wide state changed: "
            + "; ".join(changed)
            + " (restore it, e.g. in a finally block)",
            pytrace=False,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests where torch sees no CUDA device (torch is imported only when such a test is collected)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    try:
        import torch
    except ImportError:
        cuda = False
    else:
        cuda = torch.cuda.is_available()
    if not cuda:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
