"""The verification re-run, as a child process: play submitted weights (or a built-in agent) on the test seeds.

The verification worker (:mod:`nitrogen_leaderboard.worker`) starts ``python -m nitrogen_leaderboard.rerun``
and writes one JSON job to its stdin (the test-seed secret travels there, never on the command line, where
``ps`` would show it). The child caps its own CPU time and address space with :func:`resource.setrlimit`
*before* importing torch or reading a weight, so a submission describing a huge model, or one that makes
episodes crawl, ends this process and not the server. The weights are read only through
:meth:`NitroGenPolicy.from_pretrained` (safetensors, header checked against the config before any tensor is
read), so nothing in a submission can run code. The only other agent the child accepts is a built-in one
(``random``, :data:`~nitrogen_leaderboard.schema.BUILTIN_AGENTS`); it refuses any other spec (a
``module:callable`` would import code) even though the worker never sends one.

Exit status 0 means the results file was written to the job's ``out`` path; anything else is a failure whose
last stderr line says why.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MAX_JOB_BYTES = 1024 * 1024
"""The job is a protocol (a few kB) and a few paths; anything larger is not from our worker."""


@dataclass(frozen=True)
class RerunJob:
    """What the child is asked to do.

    Args:
        agent: a folder holding exactly ``config.json`` + ``model.safetensors``, or a built-in agent's spec.
        protocol: the protocol as :meth:`Protocol.to_dict` data (the server's own, maybe restricted).
        track: the entry's track (written into the results file).
        secret: the server's test-seed secret.
        out: where to write the results file.
        cpu_s: CPU-time limit in seconds (``RLIMIT_CPU``; the kernel sends SIGXCPU, then SIGKILL).
        memory_bytes: address-space limit (``RLIMIT_AS``); allocations beyond it fail.
        threads: torch intra-op threads (the worker shares the machine with the server).
    """

    agent: str
    protocol: dict[str, Any]
    track: str
    secret: str
    out: str
    cpu_s: int
    memory_bytes: int
    threads: int = 1

    def to_json(self) -> str:
        """The job as the JSON the child reads on stdin."""
        return json.dumps(asdict(self))


def apply_limits(cpu_s: int, memory_bytes: int) -> None:
    """Cap this process's CPU seconds and address space (soft = hard, so the child cannot raise them again)."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


class RerunRefused(Exception):
    """A job whose agent is neither a weights folder nor a built-in agent (the worker never sends one)."""


def check_agent(agent: str) -> None:
    """Accept a built-in agent's spec or an existing folder; refuse anything else (it might import code)."""
    from nitrogen_leaderboard.schema import BUILTIN_AGENTS

    if agent in BUILTIN_AGENTS.values() or Path(agent).is_dir():
        return
    raise RerunRefused(f"refusing to re-run agent {agent!r}: only a weights folder or a built-in agent")


def run_job(job: RerunJob) -> Path:
    """Load the weights and play the protocol's test seeds; returns the written results file."""
    import torch

    from nitrogen_leaderboard.protocol import Protocol
    from nitrogen_leaderboard.runner import run_protocol

    check_agent(job.agent)
    torch.set_num_threads(job.threads)
    protocol = Protocol.from_dict(job.protocol, source="verification job")
    # workers=1 plays in this very process, so the limits above cover every episode
    run_protocol(job.agent, protocol, track=job.track, seed_set="test", secret=job.secret, workers=1, out=Path(job.out))
    return Path(job.out)


def main() -> int:
    """Read the job from stdin, limit this process, run it; one line on stderr on failure."""
    raw = sys.stdin.buffer.read(MAX_JOB_BYTES + 1)
    if len(raw) > MAX_JOB_BYTES:
        print("verification job larger than its limit", file=sys.stderr)  # noqa: T201
        return 2
    job = RerunJob(**json.loads(raw))
    apply_limits(job.cpu_s, job.memory_bytes)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        run_job(job)
    except MemoryError:
        print(f"the re-run ran out of its {job.memory_bytes} bytes of memory", file=sys.stderr)  # noqa: T201
        return 3
    except RerunRefused as err:
        print(f"RerunRefused: {err}", file=sys.stderr)  # noqa: T201
        return 4
    except Exception as err:
        from nitrogen_envs.errors import NitroGenError

        if not isinstance(err, NitroGenError):
            raise  # a bug: keep the traceback (the worker logs it)
        print(f"{type(err).__name__}: {err}", file=sys.stderr)  # noqa: T201
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
