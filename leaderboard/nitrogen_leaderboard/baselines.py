"""Baseline entries, evaluated and filed by one command (``nitrogen leaderboard seed-baselines``).

Three reference points a new entry is read against:

* ``random``: uniformly random native actions (score 0 by the definition of ``score_normalized``), filed on
  the zero-shot and from-scratch tracks. It has no weights, so it stays *unverified* (listed with ``?all=1``).
* ``from-scratch``: an untrained :class:`NitroGenPolicy` of the bundled model's config (seeded), on the
  from-scratch track: what the architecture does before it learns anything.
* the bundled ``nitrogen-s-procgen6`` on the zero-shot track. The ``nitrogen-s`` foundation model has not
  shipped yet; this small behaviour-cloning policy (six Procgen games, none of them held out) stands in for
  it, and there is no fine-tuned baseline until fine-tuning on the held-out games ships.

The two NitroGen baselines are filed with their weights, so the verification worker re-runs them on the
server's test seeds like any submission. A full ``unseen-v1`` run is 660 episodes per agent (hours on a
CPU); :class:`BaselineOptions` restricts the protocol (tasks, episodes, step cap) into a quick variant named
``<protocol>-quick``, written to the data folder's ``protocols/`` so the server ranks it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nitrogen_envs.errors import NitroGenError
from nitrogen_leaderboard.protocol import DEFAULT_PROTOCOL, Protocol, load_protocol
from nitrogen_leaderboard.schema import ResultsFile

logger = logging.getLogger(__name__)

SUBMITTER = "baselines"
"""The user the baseline entries are filed under."""
QUICK_SUFFIX = "-quick"
FROM_SCRATCH_SEED = 0


@dataclass(frozen=True)
class Baseline:
    """One baseline: an agent spec (or a factory writing a checkpoint folder), and the tracks it is filed on."""

    name: str
    tracks: tuple[str, ...]
    description: str


BASELINES = (
    Baseline("random", ("zero-shot", "from-scratch"), "uniformly random native actions"),
    Baseline("from-scratch", ("from-scratch",), "untrained NitroGenPolicy, bundled config, torch seed 0"),
    Baseline("nitrogen-s-procgen6", ("zero-shot",), "bundled BC policy (stand-in for nitrogen-s)"),
)


@dataclass(frozen=True)
class BaselineOptions:
    """Which protocol the baselines run, and how much of it.

    Args:
        protocol: protocol name or file (default ``unseen-v1``).
        tasks: ``Game/task`` keys to keep (default: all).
        episodes_per_task: episodes per task (default: the protocol's).
        max_steps: step cap per episode (default: the protocol's).
        workers: parallel evaluation processes.
        only: names from :data:`BASELINES` to run (default: all).
    """

    protocol: str = DEFAULT_PROTOCOL
    tasks: tuple[str, ...] | None = None
    episodes_per_task: int | None = None
    max_steps: int | None = None
    workers: int = 1
    only: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        """Reject unknown baseline names with the list of known ones."""
        known = [baseline.name for baseline in BASELINES]
        unknown = [name for name in self.only or () if name not in known]
        if unknown:
            raise BaselineError(f"unknown baseline(s) {unknown}; choose from {known}")

    @property
    def restricted(self) -> bool:
        """Whether any option shrinks the protocol."""
        return any(value is not None for value in (self.tasks, self.episodes_per_task, self.max_steps))

    def build_protocol(self) -> Protocol:
        """The protocol to run: the named one, or its restriction renamed ``<name>-quick``.

        A restricted run must not carry the full protocol's name: the server checks that results cover their
        protocol exactly, and a reader must never mistake a quick score for a full one.
        """
        protocol = load_protocol(self.protocol)
        if not self.restricted:
            return protocol
        small = protocol.restricted(
            tasks=list(self.tasks) if self.tasks is not None else None,
            episodes_per_task=self.episodes_per_task,
            max_steps=self.max_steps,
        )
        note = (
            f"A quick restriction of {protocol.name} for baselines and demos: {len(small.tasks)} task(s), "
            f"{small.episodes_per_task} episode(s) each, step caps <= {max(t.max_steps for t in small.tasks)}."
        )
        return dataclasses.replace(small, name=protocol.name + QUICK_SUFFIX, description=note)


class BaselineError(NitroGenError):
    """A baseline option that names nothing (an unknown baseline)."""


def write_protocol(protocol: Protocol, folder: Path) -> Path:
    """Write ``protocol`` as ``folder/<name>.json`` (atomically; the server's ``protocol_dir``); returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{protocol.name}.json"
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".protocol-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(protocol.to_dict(), handle, indent=1)
    os.replace(temp, path)
    return path


def from_scratch_checkpoint(folder: Path) -> Path:
    """Write an untrained policy of the bundled model's config (torch seed 0) to ``folder``; returns it."""
    import torch

    from nitrogen_policies import NitroGenConfig, NitroGenPolicy
    from nitrogen_policies.hub import DEFAULT_MODEL, read_config_dict, resolve_checkpoint

    config = NitroGenConfig.from_dict(read_config_dict(resolve_checkpoint(DEFAULT_MODEL)))
    torch.manual_seed(FROM_SCRATCH_SEED)
    return NitroGenPolicy(config).save_pretrained(folder)


def agent_spec(baseline: Baseline, workdir: Path) -> tuple[str, Path | None]:
    """The agent spec ``nitrogen eval`` takes for ``baseline``, and its weights folder (``None``: no weights)."""
    if baseline.name == "random":
        return "random", None
    if baseline.name == "from-scratch":
        folder = from_scratch_checkpoint(workdir / "from-scratch")
        return str(folder), folder
    from nitrogen_policies.hub import resolve_checkpoint

    return baseline.name, resolve_checkpoint(baseline.name)


@dataclass(frozen=True)
class BaselineRun:
    """One evaluated baseline on one track: its results file (written) and the weights to send with it."""

    baseline: str
    track: str
    results: Path
    weights: Path | None


def evaluate_baselines(
    options: BaselineOptions,
    out_dir: Path,
    progress: bool = False,
    log: Callable[[str], None] = logger.info,
    skip: Collection[tuple[str, str]] = (),
) -> tuple[Protocol, list[BaselineRun]]:
    """Run every selected baseline once and write one results file per (baseline, track) into ``out_dir``.

    An agent filed on two tracks plays once; the second file differs only in its ``track``. A baseline whose
    every (name, track) is in ``skip`` (already filed) is not played again.
    """
    from nitrogen_leaderboard.runner import run_protocol, write_results

    protocol = options.build_protocol()
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: list[BaselineRun] = []
    for baseline in BASELINES:
        if options.only is not None and baseline.name not in options.only:
            continue
        if all((baseline.name, track) in skip for track in baseline.tracks):
            log(f"{baseline.name}: already filed on {', '.join(baseline.tracks)}")
            continue
        spec, weights = agent_spec(baseline, out_dir)
        log(f"evaluating {baseline.name} ({baseline.description}) on {protocol.name}")
        first = out_dir / f"{baseline.name}.{baseline.tracks[0]}.json"
        results = run_protocol(
            spec, protocol, track=baseline.tracks[0], workers=options.workers, out=first, progress=progress
        )
        runs.append(BaselineRun(baseline.name, baseline.tracks[0], first, weights))
        for track in baseline.tracks[1:]:
            if (baseline.name, track) in skip:
                continue
            path = out_dir / f"{baseline.name}.{track}.json"
            write_results(results.model_copy(update={"track": track}), path)
            runs.append(BaselineRun(baseline.name, track, path, weights))
    return protocol, runs


def filed_baselines(settings: Any, protocol: str) -> set[tuple[str, str]]:
    """(agent name, track) of the entries the baselines user already has on ``protocol`` in this database."""
    from sqlalchemy import select

    from nitrogen_leaderboard.server import db

    engine = db.make_engine(settings)
    try:
        db.upgrade(engine)
        with db.make_sessionmaker(engine)() as session:
            query = (
                select(db.Entry.agent_name, db.Entry.track)
                .join(db.User)
                .where(db.User.name == SUBMITTER, db.Entry.protocol == protocol)
            )
            return {(str(name), str(track)) for name, track in session.execute(query)}
    finally:
        engine.dispose()


def file_locally(settings: Any, runs: Sequence[BaselineRun]) -> list[tuple[BaselineRun, int, str]]:
    """File the runs straight into the server database of ``settings`` (an operator command, like ``add-user``).

    Weights go through the same checks as an upload and leave the entry ``pending`` for the worker. Filing
    the same results again changes nothing (entries are keyed by content).

    Returns:
        (run, entry id, status) per run.
    """
    from sqlalchemy import select

    from nitrogen_leaderboard.schema import read_results
    from nitrogen_leaderboard.server import db
    from nitrogen_leaderboard.server.weights import ALLOWED, stage_upload

    engine = db.make_engine(settings)
    filed: list[tuple[BaselineRun, int, str]] = []
    try:
        db.upgrade(engine)
        with db.make_sessionmaker(engine)() as session:
            if session.scalar(select(db.User).where(db.User.name == SUBMITTER)) is None:
                db.add_user(session, SUBMITTER)  # its token is never needed: baselines are filed here
            user = session.scalars(select(db.User).where(db.User.name == SUBMITTER)).one()
            for run in runs:
                results: ResultsFile = read_results(run.results)
                entry, _ = db.insert_results(session, user, results)
                if run.weights is not None and entry.weights_sha256 is None:
                    handles = {name: (run.weights / name).open("rb") for name in ALLOWED}
                    try:
                        staged = stage_upload(settings, handles)  # type: ignore[arg-type]
                    finally:
                        for handle in handles.values():
                            handle.close()
                    try:
                        staged.install(settings.weights_root / str(entry.id))
                        entry.weights_sha256 = staged.sha256
                        entry.weights_bytes = staged.total_bytes
                        entry.num_parameters = entry.num_parameters or staged.num_parameters
                        entry.status = db.PENDING
                        session.commit()
                    finally:
                        staged.discard()
                filed.append((run, entry.id, entry.status))
    finally:
        engine.dispose()
    return filed
