"""`run_parallel`: results in job order, finished results not held back, errors surface."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from nitrogen_datasets.parallel import IN_FLIGHT_PER_WORKER, run_parallel


def _square_block(n: int) -> np.ndarray:
    return np.full(1000, n * n, np.int64)


def _fail_on_three(n: int) -> int:
    if n == 3:
        raise ValueError("job 3 failed")
    return n


@pytest.mark.slow  # worker processes: 14 s in a full run on 2 shared cores
def test_process_results_come_in_job_order_and_are_released_once_consumed():
    """Consumed results must not pile up inside run_parallel (a training pool doubled when they did)."""
    jobs = list(range(24))
    refs = []
    for job, result in run_parallel(jobs, _square_block, workers=2):
        assert result[0] == job * job
        refs.append(weakref.ref(result))
        del result
        gc.collect()
        alive = sum(ref() is not None for ref in refs)
        # at most the jobs in flight (finished together) and the one being handed on, however many jobs there are
        assert alive <= 2 * IN_FLIGHT_PER_WORKER + 1, (
            f"{alive} consumed results are still referenced inside run_parallel"
        )
    assert len(refs) == len(jobs)


def test_a_failing_job_raises_its_error():
    with pytest.raises(ValueError, match="job 3 failed"):
        list(run_parallel(list(range(6)), _fail_on_three, workers=2))
