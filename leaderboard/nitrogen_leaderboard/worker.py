"""The verification worker: re-run submitted weights on the server's secret test seeds and compare.

An entry whose submitter uploaded weights waits as ``pending``. The worker claims it
(:func:`~nitrogen_leaderboard.server.db.claim_pending`), checks the stored folder once more (exactly
``config.json`` + ``model.safetensors``, regular files, no pickle), and plays the protocol on the **test**
seeds in a child process (:mod:`nitrogen_leaderboard.rerun`) under CPU-time, memory and wall-time limits.
The verdict compares the self-reported dev summary with the re-run's:

* ``verified``: the two 95% intervals overlap, or the re-run scored at least the reported IQM;
* ``reproduced-low``: the re-run's interval lies entirely below the reported one;
* ``failed``: the re-run could not finish (a limit hit, weights that do not load); the note says why.

Entries without weights stay ``unverified`` and the worker never touches them, except entries of a built-in
agent (``random``, :data:`~nitrogen_leaderboard.schema.BUILTIN_AGENTS`): the server knows exactly what that
agent is, so it re-runs it like weights, with the spec string the server itself holds (never the name from
the submission) in place of a weights folder. Dev and test seeds are
different levels, so agreement is judged by intervals, not by equal numbers: a policy that generalises
scores alike on both, one tuned to the public seeds (or a file edited by hand) does not.

Run it as ``nitrogen leaderboard worker`` (a separate process; ``--once`` drains the queue and exits), or
in-process beside the default zero-setup server (:func:`start_background_worker`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nitrogen_envs.errors import NitroGenError
from nitrogen_leaderboard import metrics
from nitrogen_leaderboard.protocol import Protocol, ProtocolError, check_secret, resolve_secret
from nitrogen_leaderboard.rerun import RerunJob
from nitrogen_leaderboard.schema import builtin_agent_spec, read_results
from nitrogen_leaderboard.server import db
from nitrogen_leaderboard.server.app import load_protocols
from nitrogen_leaderboard.server.settings import (
    GIB,
    RERUN_CPU_HOURS,
    RERUN_MEMORY_GB,
    RERUN_THREADS,
    RERUN_WALL_HOURS,
    ServerSettings,
)
from nitrogen_leaderboard.server.weights import ALLOWED, refuse_pickle

logger = logging.getLogger(__name__)

SECRET_FILE = "test-seed-secret"
"""File in the data folder holding the zero-setup server's generated test-seed secret (mode 0600)."""
NOTE_CHARS = 500
"""Longest note stored with a verdict (the last line of the child's stderr, trimmed)."""
STDERR_TAIL = 64 * 1024
"""How much of the end of a failed child's stderr is read to find the reason."""
MEMORY_SIGNS = ("can't allocate memory", "Cannot allocate memory", "failed to map segment", "MemoryError", "out of its")
"""What a child's stderr says when ``RLIMIT_AS`` stopped it (torch, the dynamic loader, Python, our own message)."""


class WeightsFolderRefused(NitroGenError):
    """A stored weights folder that is not exactly ``config.json`` + ``model.safetensors`` as regular files."""


@dataclass(frozen=True)
class RerunLimits:
    """Limits on one verification re-run (the child process).

    Args:
        cpu_s: CPU seconds (``RLIMIT_CPU``). The full unseen-v1 protocol is 660 episodes of up to 4,500
            steps: hours of a nitrogen-s-sized policy on one thread, not minutes.
        memory_bytes: address space (``RLIMIT_AS``). torch alone maps ~1-2 GB of virtual memory at import.
        wall_s: wall-clock seconds before the child's process group is killed.
        threads: torch threads of the child.
    """

    cpu_s: int = round(RERUN_CPU_HOURS * 3600)
    memory_bytes: int = round(RERUN_MEMORY_GB * GIB)
    wall_s: float = RERUN_WALL_HOURS * 3600
    threads: int = RERUN_THREADS

    def __post_init__(self) -> None:
        """Reject limits that would make every re-run fail or never end."""
        for name in ("cpu_s", "memory_bytes", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"RerunLimits.{name} must be a positive integer, got {value!r}")
        if not self.wall_s > 0:
            raise ValueError(f"RerunLimits.wall_s must be positive, got {self.wall_s!r}")


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed entry."""

    entry_id: int
    status: str
    note: str = ""


# ---- the verdict -------------------------------------------------------------------------------------------
def verdict(reported: metrics.Summary, rerun: metrics.Summary) -> str:
    """``verified`` when the intervals overlap or the re-run is at least as good, else ``reproduced-low``.

    Example:
        >>> s = lambda iqm, lo, hi: metrics.Summary(per_task={}, iqm=iqm, ci_low=lo, ci_high=hi, episodes=1)
        >>> verdict(s(0.5, 0.4, 0.6), s(0.45, 0.3, 0.55)), verdict(s(0.9, 0.8, 1.0), s(0.2, 0.1, 0.3))
        ('verified', 'reproduced-low')
    """
    if rerun.iqm >= reported.iqm or metrics.overlaps(reported, rerun):
        return db.VERIFIED
    return db.REPRODUCED_LOW


# ---- the test-seed secret ----------------------------------------------------------------------------------
def server_secret(settings: ServerSettings) -> str:
    """The test-seed secret: ``$NITROGEN_LEADERBOARD_TEST_SECRET``, else one generated once into the data folder.

    The generated file (mode 0600) makes the zero-setup server verify on seeds nobody else knows without any
    configuration; a deployment sets the variable (and keeps it out of the repository).
    """
    explicit = resolve_secret()
    if explicit is not None:
        return check_secret(explicit)
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=settings.data_dir, prefix=".secret-")
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        os.chmod(temp, 0o600)
        try:
            os.link(temp, path)  # never replaces a secret another worker wrote first
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return check_secret(path.read_text(encoding="ascii").strip())


# ---- the weights folder ------------------------------------------------------------------------------------
def check_weights_folder(folder: Path) -> None:
    """Refuse a folder that is not exactly ``config.json`` + ``model.safetensors``, as regular files, unpickled.

    The upload was checked when it arrived; this repeats the cheap part right before loading, because the
    data folder may have been written by something else since (a restore, a hand copy).

    Raises:
        WeightsFolderRefused: missing folder, other names, a link or special file, or a pickle.
    """
    try:
        names = sorted(os.listdir(folder))
    except OSError as err:
        raise WeightsFolderRefused(f"weights folder {folder}: {err.strerror}") from None
    if names != sorted(ALLOWED):
        extra = sorted(set(names) - set(ALLOWED))
        raise WeightsFolderRefused(
            f"weights folder {folder} must hold exactly {' and '.join(ALLOWED)}; found {names}"
            + (f" (refused: {extra})" if extra else "")
        )
    for name in names:
        mode = os.lstat(folder / name).st_mode
        if not stat.S_ISREG(mode):
            raise WeightsFolderRefused(f"{folder / name} is not a regular file (a link or special file); refused")
        try:
            refuse_pickle(folder / name)
        except NitroGenError as err:
            raise WeightsFolderRefused(f"{folder}: {err}") from None


# ---- one re-run in a child process -------------------------------------------------------------------------
def rerun(
    agent: str,
    protocol: Protocol,
    track: str,
    secret: str,
    limits: RerunLimits,
    workdir: Path,
    stop: threading.Event | None = None,
) -> Path:
    """Play ``protocol``'s test seeds with ``agent`` in a limited child process; returns its results file.

    ``agent`` is chosen by the server: a checked weights folder of the data folder, or a value of
    :data:`~nitrogen_leaderboard.schema.BUILTIN_AGENTS`; the child refuses anything else.

    Raises:
        RerunFailed: the child exceeded a limit or exited with an error (the message says which).
        RerunInterrupted: ``stop`` was set (the server is shutting down); the child was killed.
    """
    out = workdir / "rerun.json"
    job = RerunJob(
        agent=agent,
        protocol=protocol.to_dict(),
        track=track,
        secret=secret,
        out=str(out),
        cpu_s=limits.cpu_s,
        memory_bytes=limits.memory_bytes,
        threads=limits.threads,
    )
    env = {**os.environ, "OMP_NUM_THREADS": str(limits.threads), "MKL_NUM_THREADS": str(limits.threads)}
    deadline = time.monotonic() + limits.wall_s
    with (workdir / "stderr.log").open("w+b") as log:  # a file, not a pipe: a chatty child cannot fill our memory
        child = subprocess.Popen(  # the job (with the secret) goes through stdin, not argv
            [sys.executable, "-m", "nitrogen_leaderboard.rerun"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=workdir,
            env=env,
            start_new_session=True,  # its own process group, so killing it ends everything it started
        )
        try:
            if child.stdin is not None:  # always, with stdin=PIPE; the check narrows the type
                child.stdin.write(job.to_json().encode())
                child.stdin.close()
            while child.poll() is None:
                if stop is not None and stop.is_set():
                    raise RerunInterrupted("the worker is stopping")
                if time.monotonic() > deadline:
                    raise RerunFailed(f"the re-run exceeded its wall-time limit of {limits.wall_s:g} s")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=min(1.0, max(0.01, deadline - time.monotonic())))
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if child.returncode == 0 and out.is_file():
            return out
        log.seek(max(0, log.seek(0, os.SEEK_END) - STDERR_TAIL))
        raise RerunFailed(_failure_reason(child.returncode, log.read().decode("utf-8", "replace"), limits))


class RerunInterrupted(Exception):
    """The worker was asked to stop while a re-run was in flight (not the submission's fault)."""


class RerunFailed(NitroGenError):
    """The verification child did not produce a results file."""


def _failure_reason(code: int, stderr: str, limits: RerunLimits) -> str:
    if code in (-signal.SIGXCPU, -signal.SIGKILL) and "Traceback" not in stderr:
        return f"the re-run was stopped by its CPU-time limit of {limits.cpu_s} s (signal {-code})"
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit status {code}"
    if any(sign in stderr for sign in MEMORY_SIGNS):
        return f"the re-run exceeded its memory limit of {limits.memory_bytes} bytes ({last})"[:NOTE_CHARS]
    return f"the re-run failed: {last}"[:NOTE_CHARS]


# ---- the queue ---------------------------------------------------------------------------------------------
def verify_entry(
    settings: ServerSettings,
    session: Any,
    entry: db.Entry,
    limits: RerunLimits,
    secret: str,
    protocols: dict[str, Protocol],
    stop: threading.Event | None = None,
) -> Outcome | None:
    """Re-run one claimed entry on its protocol (from ``protocols``, the server's) and store the verdict or failure.

    Returns ``None`` when ``stop`` interrupted the re-run: the claim is released, so the entry is verified
    from scratch by the next worker.
    """
    folder = db.weights_folder(settings, entry)
    try:
        agent = _rerun_agent(entry, folder)
        board = protocols.get(entry.protocol)
        if board is None:
            raise ProtocolError(f"this server does not rank protocol {entry.protocol!r} (it knows {sorted(protocols)})")
        with tempfile.TemporaryDirectory(prefix=f"verify-{entry.id}-") as workdir:
            out = rerun(agent, board, entry.track, secret, limits, Path(workdir), stop)
            results = read_results(out)
            board.check_coverage(results, secret=secret)
    except RerunInterrupted:
        entry.claimed_at = None
        session.commit()
        logger.info("entry %d: re-run interrupted; left pending", entry.id)
        return None
    except NitroGenError as err:
        note = f"{type(err).__name__}: {err}"
        logger.warning("entry %d: verification failed: %s", entry.id, note)
        db.record_failure(session, entry.id, note[:NOTE_CHARS])
        return Outcome(entry.id, db.FAILED, note)
    reported = metrics.Summary.from_dict(entry.summary)
    again = metrics.summarize(results.episodes)
    status = verdict(reported, again)
    note = (
        f"reported {reported.iqm:.3f} [{reported.ci_low:.3f}, {reported.ci_high:.3f}] on dev seeds; "
        f"re-run {again.iqm:.3f} [{again.ci_low:.3f}, {again.ci_high:.3f}] on {again.episodes} test-seed episodes"
    )
    db.record_verification(session, entry.id, status, results, note=note)
    logger.info("entry %d: %s (%s)", entry.id, status, note)
    return Outcome(entry.id, status, note)


def _rerun_agent(entry: db.Entry, folder: Path | None) -> str:
    """The agent spec to re-run: the checked weights folder, else the server's own built-in spec."""
    if folder is not None:
        check_weights_folder(folder)
        return str(folder)
    builtin = builtin_agent_spec(entry.agent_name, entry.claimed_weights_sha256)
    if builtin is None:
        raise WeightsFolderRefused(f"entry {entry.id} has no weights and names no built-in agent")
    return builtin  # a value of BUILTIN_AGENTS: the server's literal, not the submitted name


def verify_pending(
    settings: ServerSettings,
    once: bool = True,
    limits: RerunLimits | None = None,
    secret: str | None = None,
    poll_s: float = 10.0,
    stop: threading.Event | None = None,
) -> list[Outcome]:
    """Claim and verify pending entries until none is left (``once``) or until ``stop`` is set.

    Args:
        settings: the server's settings (database, data folder, claim lease).
        once: return when the queue is empty; otherwise poll every ``poll_s`` seconds.
        limits: limits of each re-run (default :class:`RerunLimits`).
        secret: the test-seed secret (default :func:`server_secret`).
        poll_s: seconds between polls of an empty queue.
        stop: set it to end a polling worker after the entry in hand.

    Returns:
        What happened to each entry this call handled, in order.
    """
    limits = limits or RerunLimits()
    secret = check_secret(secret) if secret is not None else server_secret(settings)
    stop = stop or threading.Event()
    protocols = load_protocols(settings)  # the same set the server accepts submissions for
    engine = db.make_engine(settings)
    sessions = db.make_sessionmaker(engine)
    outcomes: list[Outcome] = []
    try:
        while not stop.is_set():
            with sessions() as session:
                entry = db.claim_pending(session, lease_s=settings.claim_lease_s)
                if entry is not None:
                    logger.info("verifying entry %d (%s, %s)", entry.id, entry.agent_name, entry.track)
                    outcome = verify_entry(settings, session, entry, limits, secret, protocols, stop)
                    if outcome is not None:
                        outcomes.append(outcome)
                    continue
            if once:
                break
            stop.wait(poll_s)
    finally:
        engine.dispose()
    return outcomes


@dataclass
class BackgroundWorker:
    """A verification loop in a daemon thread of this process (the zero-setup server); :meth:`stop` ends it."""

    thread: threading.Thread
    event: threading.Event

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end, kill a re-run in flight (its entry stays pending), and wait for the thread."""
        self.event.set()
        self.thread.join(timeout)


def start_background_worker(
    settings: ServerSettings, limits: RerunLimits | None = None, poll_s: float = 5.0
) -> BackgroundWorker:
    """Start verifying in a daemon thread; the re-runs themselves still happen in limited child processes."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                verify_pending(settings, once=False, limits=limits, poll_s=poll_s, stop=stop)
            except Exception:  # keep serving pages if the database hiccups; the traceback is logged
                logger.exception("verification worker crashed; restarting in %.0f s", poll_s)
                stop.wait(poll_s)

    thread = threading.Thread(target=loop, name="nitrogen-verify", daemon=True)
    thread.start()
    return BackgroundWorker(thread, stop)


def summary_line(outcomes: list[Outcome]) -> str:
    """``3 entries: 2 verified, 1 reproduced-low`` for the CLI."""
    if not outcomes:
        return "no pending entries"
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return f"{len(outcomes)} entries: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
