"""Run independent jobs in this process, in local worker processes, or as Ray tasks; results come in job order.

Collection (:mod:`.collect`), corpus building (:mod:`.overlay.corpus`), the expert report, the overlay
evaluation and the parser's training-pool rendering all turn a list of jobs into results that must not
depend on which worker finished first; this module is the part they share.

Workers end with the process that started them: a killed ``nitrogen collect`` must not leave engines of
hundreds of MB running. Local workers get ``PR_SET_PDEATHSIG`` on Linux and, everywhere, a watchdog thread
that exits when their parent changes; a Ray task on the driver's machine watches the driver's pid (Ray
itself ends the tasks of a driver that is gone on other machines).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import itertools
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from nitrogen_datasets.import_utils import require_package

Job = TypeVar("Job")
Result = TypeVar("Result")


def run_parallel(
    jobs: Sequence[Job],
    fn: Callable[[Job], Result],
    *,
    workers: int = 1,
    ray: bool = False,
    ray_address: str | None = None,
    on_complete: Callable[[Job], None] | None = None,
) -> Iterator[tuple[Job, Result]]:
    """Yield ``(job, fn(job))`` in the order of ``jobs``, each as soon as it and every earlier job are done.

    Args:
        jobs: the work items (picklable for processes and Ray).
        fn: a module-level function (picklable).
        workers: parallel processes, or Ray tasks in flight; 1 without Ray runs in this process.
        ray: run as Ray tasks (``pip install "nitrogen-gym[scale]"``); Ray is initialized when it is not yet.
        ray_address: Ray cluster address (``None``: a local instance).
        on_complete: called with each job the moment it finishes, in completion order (progress bars).

    On an error or Ctrl-C, queued jobs are cancelled; results already yielded stay with the caller.
    """
    if not jobs:
        return
    if ray:
        completed = _run_ray(jobs, fn, workers, ray_address)
    elif workers == 1:
        completed = ((index, fn(job)) for index, job in enumerate(jobs))
    else:
        completed = _run_processes(jobs, fn, workers)
    finished: dict[int, Result] = {}
    position = 0
    for index, result in completed:
        if on_complete is not None:
            on_complete(jobs[index])
        finished[index] = result
        while position in finished:
            yield jobs[position], finished.pop(position)
            position += 1


IN_FLIGHT_PER_WORKER = 2
"""Jobs submitted ahead per worker process: enough to keep every worker busy while the caller consumes a
result, few enough that finished results are not held in memory waiting (a training pool of 80,000
renders was killed by the kernel when every job was submitted at once and each future kept its result)."""


PARENT_POLL_S = 0.5
"""How often a worker's watchdog checks that its parent is alive: orphans end within about this long."""

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _exit_when(parent_gone: Callable[[], bool]) -> None:
    """Start a daemon thread that ends this process (no cleanup: the parent that wanted the result is gone)."""

    def watch() -> None:
        while not parent_gone():
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="nitrogen-parent-watchdog", daemon=True).start()


def end_with_parent(parent_pid: int, death_signal: bool) -> None:
    """Initializer of local workers: die with the parent process, even when it is SIGKILLed.

    Also what :func:`nitrogen_policies.evaluation.evaluate`'s workers run first.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that spawned the worker ends, so it is only asked for when
    that was the main thread (which ends with the process); the ``getppid`` watchdog covers the rest.
    """
    if death_signal and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no usable libc: the watchdog alone
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    _exit_when(lambda: os.getppid() != parent_pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


_WATCHED_DRIVERS: set[int] = set()


def _call_ending_with_driver(fn: Callable[[Job], Result], driver_pid: int, driver_host: str, job: Job) -> Result:
    """Ray task body: ``fn(job)``, with a watchdog that exits when the driver is gone (on the driver's machine)."""
    here = socket.gethostname() == driver_host and os.getpid() != driver_pid
    if here and driver_pid not in _WATCHED_DRIVERS:  # one watchdog per worker process and driver
        _WATCHED_DRIVERS.add(driver_pid)
        _exit_when(lambda: not _pid_alive(driver_pid))
    return fn(job)


def _run_processes(jobs: Sequence[Job], fn: Callable[[Job], Result], workers: int) -> Iterator[tuple[int, Result]]:
    # spawn: engines hold threads and GL/SDL state that must not be forked; each worker imports afresh.
    context = multiprocessing.get_context("spawn")
    main_thread = threading.current_thread() is threading.main_thread()
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=context,
        initializer=end_with_parent,
        initargs=(os.getpid(), main_thread),
    )
    queue = iter(range(len(jobs)))
    pending: dict[concurrent.futures.Future[Result], int] = {}

    def submit(count: int) -> None:
        for index in itertools.islice(queue, count):
            pending[pool.submit(fn, jobs[index])] = index

    try:
        submit(workers * IN_FLIGHT_PER_WORKER)
        while pending:
            done, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)  # the future goes, so the result lives only as long as the caller keeps it
                result = future.result()
                submit(1)
                yield index, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(
    jobs: Sequence[Job], fn: Callable[[Job], Result], workers: int, address: str | None
) -> Iterator[tuple[int, Result]]:
    ray = require_package("ray")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(_call_ending_with_driver)
    driver = os.getpid(), socket.gethostname()
    pending: dict[Any, int] = {}
    queue = list(range(len(jobs)))
    try:
        while queue or pending:
            # Keep at most `workers` tasks in flight so a big batch does not flood the scheduler.
            while queue and len(pending) < workers:
                index = queue.pop(0)
                pending[remote.remote(fn, *driver, jobs[index])] = index
            ready, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ready[0])
            yield index, ray.get(ready[0])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
