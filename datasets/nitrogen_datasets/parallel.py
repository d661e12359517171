"""Run independent jobs in this process, in local worker processes, or as Ray tasks; results come in job order.

Collection (:mod:`.collect`), corpus building (:mod:`.overlay.corpus`), the expert report, the overlay
evaluation and the parser's training-pool rendering all turn a list of jobs into results that must not
depend on which worker finished first; this module is the part they share.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import multiprocessing
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


def _run_processes(jobs: Sequence[Job], fn: Callable[[Job], Result], workers: int) -> Iterator[tuple[int, Result]]:
    # spawn: engines hold threads and GL/SDL state that must not be forked; each worker imports afresh.
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context)
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
    remote = ray.remote(num_cpus=1)(fn)
    pending: dict[Any, int] = {}
    queue = list(range(len(jobs)))
    try:
        while queue or pending:
            # Keep at most `workers` tasks in flight so a big batch does not flood the scheduler.
            while queue and len(pending) < workers:
                index = queue.pop(0)
                pending[remote.remote(jobs[index])] = index
            ready, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ready[0])
            yield index, ray.get(ready[0])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
