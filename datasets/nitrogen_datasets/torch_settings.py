"""Process-wide torch settings changed for one call and restored after it: thread count and random state.

Extraction runs the parser on one thread, parser training seeds torch and the policy trainer
(``nitrogen_policies.training``) runs on the thread count asked for; all are library calls inside someone
else's process (a notebook, a test session, a trainer), so none may leave torch changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block on ``count`` torch CPU threads, then restore the count before it (``None``: unchanged)."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def torch_seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's generators seeded by ``seed``, then restore their states before it.

    Uses :func:`torch.random.fork_rng`, which saves and restores the CPU generator and those of every CUDA
    device (each one's state is small); :func:`torch.manual_seed` seeds them all.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
