"""Baseline entries, evaluated and filed by one command (``nitrogen leaderboard seed-baselines``).

The reference points a new entry is read against, one per track (docs/leaderboard.md, "Tracks"):

* ``random``: uniformly random native actions (score 0 by the definition of ``score_normalized``), filed on
  the zero-shot and from-scratch tracks. It has no weights, but the server knows exactly what it is, so the
  worker re-runs it on the test seeds like any weights (:func:`~nitrogen_leaderboard.schema.builtin_agent_spec`).
* ``nitrogen-s-procgen6`` on the zero-shot track. The ``nitrogen-s`` foundation model has not shipped yet;
  this bundled behaviour-cloning policy (six Procgen games, none of them held out) stands in for it.
* ``nitrogen-s-procgen6-ft<k>`` on ``fine-tuned-<k>``: that policy fine-tuned on ``k`` expert demonstrations
  of every task of the protocol (one model for all tasks), collected with each game's default expert on the
  demonstration seeds ``DEMO_SEED_START .. + k - 1`` (never a dev or test seed).
* ``from-scratch-k<k>`` on ``from-scratch``: the same architecture from random initialisation (torch seed
  0), trained on the same demonstrations (``k`` = :data:`~nitrogen_leaderboard.schema.TRACK_DEMOS` of the
  track, 20) with the same step budget, so ``fine-tuned-20`` minus ``from-scratch`` is what pretraining adds.

Demonstrations come from :func:`nitrogen_datasets.collect.collect` (``nitrogen collect``); training is
:func:`nitrogen_policies.training.train` (``nitrogen train`` / ``nitrogen finetune``). Every trained
baseline is filed with its weights, so the verification worker re-runs it on the server's test seeds like any
submission. A full ``unseen-v1`` run is 660 episodes per agent (hours on a CPU), plus collection and training;
:class:`BaselineOptions` restricts the protocol (tasks, episodes, step cap) into a quick variant named
``<protocol>-quick``, written to the data folder's ``protocols/`` so the server ranks it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nitrogen_envs.errors import NitroGenError
from nitrogen_leaderboard.protocol import DEFAULT_PROTOCOL, DEMO_SEED_START, Protocol, TaskSpec, load_protocol
from nitrogen_leaderboard.schema import RANDOM_AGENT, TRACK_DEMOS, TRACKS, ResultsFile

logger = logging.getLogger(__name__)

SUBMITTER = "baselines"
"""The user the baseline entries are filed under."""
QUICK_SUFFIX = "-quick"
PRETRAINED = "nitrogen-s-procgen6"
"""The bundled policy standing in for the unshipped ``nitrogen-s`` foundation model."""
INIT_SEED = 0
"""torch seed of the from-scratch baseline's initial weights."""
TRAIN_STEPS = 2000
"""Optimizer steps of every trained baseline (fine-tuned and from-scratch alike)."""
TRAIN_BATCH = 32
FINE_TUNED = "fine-tuned"
FROM_SCRATCH = "from-scratch"


@dataclass(frozen=True)
class Baseline:
    """One baseline and the tracks it may be filed on (each trained baseline trains one model per track)."""

    name: str
    tracks: tuple[str, ...]
    description: str


BASELINES = (
    Baseline(RANDOM_AGENT, ("zero-shot", "from-scratch"), "uniformly random native actions"),
    Baseline(PRETRAINED, ("zero-shot",), "bundled BC policy (stand-in for nitrogen-s)"),
    Baseline(
        FINE_TUNED,
        ("fine-tuned-1", "fine-tuned-5", "fine-tuned-20"),
        f"{PRETRAINED} fine-tuned on k demonstrations per task",
    ),
    Baseline(FROM_SCRATCH, ("from-scratch",), f"{PRETRAINED}'s architecture trained from random weights on demos"),
)


@dataclass(frozen=True)
class BaselineOptions:
    """Which protocol the baselines run, how much of it, and how long the trained ones train.

    Args:
        protocol: protocol name or file (default ``unseen-v1``).
        tasks: ``Game/task`` keys to keep (default: all).
        episodes_per_task: episodes per task (default: the protocol's).
        max_steps: step cap per episode, also of each demonstration (default: the protocol's).
        workers: parallel evaluation (and collection) processes.
        only: names from :data:`BASELINES` to run (default: all).
        tracks: tracks to file baselines on (default: every track of the protocol).
        train_steps: optimizer steps of each trained baseline.
        batch_size: samples per training step.
        scratch_demos: demonstrations per task of the from-scratch baseline (default: the track's 20; lower
            it only for a quick variant, where it is part of the agent's name).
    """

    protocol: str = DEFAULT_PROTOCOL
    tasks: tuple[str, ...] | None = None
    episodes_per_task: int | None = None
    max_steps: int | None = None
    workers: int = 1
    only: tuple[str, ...] | None = None
    tracks: tuple[str, ...] | None = None
    train_steps: int = TRAIN_STEPS
    batch_size: int = TRAIN_BATCH
    scratch_demos: int = TRACK_DEMOS["from-scratch"]

    def __post_init__(self) -> None:
        """Reject unknown baseline or track names with the list of known ones, and empty budgets."""
        known = [baseline.name for baseline in BASELINES]
        unknown = [name for name in self.only or () if name not in known]
        if unknown:
            raise BaselineError(f"unknown baseline(s) {unknown}; choose from {known}")
        bad_tracks = [track for track in self.tracks or () if track not in TRACKS]
        if bad_tracks:
            raise BaselineError(f"unknown track(s) {bad_tracks}; choose from {list(TRACKS)}")
        if self.train_steps < 1 or self.batch_size < 1 or self.scratch_demos < 1:
            raise BaselineError("--steps, the batch size and the from-scratch demonstrations must be at least 1")

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

    def demos_for(self, track: str) -> int:
        """Demonstrations per task the trained baseline of ``track`` learns from."""
        return self.scratch_demos if track == FROM_SCRATCH else TRACK_DEMOS[track]


class BaselineError(NitroGenError):
    """A baseline option that names nothing (an unknown baseline or track) or an empty training budget."""


def write_protocol(protocol: Protocol, folder: Path) -> Path:
    """Write ``protocol`` as ``folder/<name>.json`` (atomically; the server's ``protocol_dir``); returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{protocol.name}.json"
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".protocol-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(protocol.to_dict(), handle, indent=1)
    os.replace(temp, path)
    return path


@dataclass(frozen=True)
class Job:
    """One entry to produce: an agent name (the results file's), the track, and how the agent comes to be."""

    baseline: str
    track: str
    agent: str

    @property
    def trained(self) -> bool:
        """Whether this job trains a model on demonstrations first."""
        return self.baseline in (FINE_TUNED, FROM_SCRATCH)


def plan(options: BaselineOptions, protocol: Protocol) -> list[Job]:
    """The (baseline, track, agent name) jobs the options ask for, in :data:`BASELINES` order."""
    wanted = [track for track in protocol.tracks if options.tracks is None or track in options.tracks]
    jobs: list[Job] = []
    for baseline in BASELINES:
        if options.only is not None and baseline.name not in options.only:
            continue
        for track in baseline.tracks:
            if track not in wanted:
                continue
            if baseline.name == FINE_TUNED:
                agent = f"{PRETRAINED}-ft{options.demos_for(track)}"
            elif baseline.name == FROM_SCRATCH:
                agent = f"{FROM_SCRATCH}-k{options.demos_for(track)}"
            else:
                agent = baseline.name
            jobs.append(Job(baseline.name, track, agent))
    return jobs


# ---- demonstrations and training ---------------------------------------------------------------------------
def demo_folder(root: Path, task: TaskSpec) -> Path:
    """Where the demonstrations of ``task`` are collected (one dataset per task)."""
    return root / "demos" / f"{task.game}_{task.task}"


def collect_demos(
    protocol: Protocol, episodes: int, root: Path, workers: int = 1, progress: bool = False
) -> list[Path]:
    """Collect ``episodes`` expert demonstrations of every task on the demonstration seeds; one folder per task.

    Each game's default expert (``nitrogen_datasets.experts.default_expert_name``) plays seeds
    ``DEMO_SEED_START ..`` capped at the task's step limit, recorded at the frame size evaluation feeds the
    policy. A folder that already holds them is extended or reused, never re-recorded.
    """
    from nitrogen_datasets.collect import CollectConfig, collect
    from nitrogen_policies.evaluation import POLICY_OBS_SIZE

    folders = []
    for task in protocol.tasks:
        folder = demo_folder(root, task)
        config = CollectConfig(
            game=task.game,
            task=task.task,
            episodes=episodes,
            seed=DEMO_SEED_START,
            obs_size=POLICY_OBS_SIZE,
            max_steps=task.max_steps,
            workers=workers,
        )
        collect(config, folder, progress=progress)
        folders.append(folder)
    return folders


def untrained_checkpoint(folder: Path) -> Path:
    """Write the bundled model's architecture with fresh weights (torch seed :data:`INIT_SEED`) to ``folder``."""
    import torch

    from nitrogen_policies import NitroGenConfig, NitroGenPolicy
    from nitrogen_policies.hub import read_config_dict, resolve_checkpoint

    config = NitroGenConfig.from_dict(read_config_dict(resolve_checkpoint(PRETRAINED)))
    torch.manual_seed(INIT_SEED)
    return NitroGenPolicy(config).save_pretrained(folder)


def train_baseline(
    job: Job, demos: Sequence[Path], k: int, options: BaselineOptions, workdir: Path, progress: bool = False
) -> Path:
    """Train one model for ``job`` on the first ``k`` demonstrations of every task; returns its weights folder.

    Fine-tuned jobs start from :data:`PRETRAINED`; from-scratch jobs from :func:`untrained_checkpoint`. Both
    use the same data, steps, batch size, learning rate and seed. The folder is named after the agent, so
    ``nitrogen eval`` records that name, and holds only ``config.json`` + ``model.safetensors``.
    """
    from torch.utils.data import ConcatDataset

    from nitrogen_datasets.reader import DemoDataset, ReaderConfig
    from nitrogen_policies import NitroGenPolicy
    from nitrogen_policies.training import TrainConfig, train
    from nitrogen_policies.training.data import PolicySamples

    start = PRETRAINED if job.baseline == FINE_TUNED else str(untrained_checkpoint(workdir / "init" / job.agent))
    policy_config = NitroGenPolicy.from_pretrained(start).config
    reader = ReaderConfig(action_chunk=policy_config.chunk_size, episodes=tuple(range(k)))
    dataset: ConcatDataset[dict[str, Any]] = ConcatDataset(
        [PolicySamples(DemoDataset(folder, reader), policy_config) for folder in demos]
    )
    run = workdir / "train" / job.agent
    config = TrainConfig(
        out=str(run),
        init_from=start,
        steps=options.train_steps,
        batch_size=options.batch_size,
        warmup_steps=min(100, options.train_steps // 10),
        num_workers=0,
        seed=INIT_SEED,
        save_every=max(options.train_steps, 1),
        progress=progress,
    )
    train(config, dataset)
    weights = workdir / job.agent
    shutil.rmtree(weights, ignore_errors=True)
    shutil.copytree(run / "final", weights)
    return weights


def agent_spec(
    job: Job, demos: Sequence[Path], options: BaselineOptions, workdir: Path, progress: bool
) -> tuple[str, Path | None]:
    """The agent spec ``nitrogen eval`` takes for ``job``, and its weights folder (``None``: no weights)."""
    if job.baseline == RANDOM_AGENT:
        return RANDOM_AGENT, None
    if job.trained:
        folder = train_baseline(job, demos, options.demos_for(job.track), options, workdir, progress)
        return str(folder), folder
    from nitrogen_policies.hub import resolve_checkpoint

    return job.agent, resolve_checkpoint(job.agent)


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
    """Produce (collect, train) and evaluate every selected baseline; one results file per (agent, track).

    An agent filed on two tracks (``random``) plays once; the second file differs only in its ``track``.
    Jobs whose (agent name, track) is in ``skip`` (already filed) are neither trained nor played again.
    """
    from nitrogen_leaderboard.runner import run_protocol, write_results

    protocol = options.build_protocol()
    out_dir.mkdir(parents=True, exist_ok=True)
    planned = plan(options, protocol)
    jobs = [job for job in planned if (job.agent, job.track) not in skip]
    already: dict[str, list[str]] = {}
    for job in planned:
        if (job.agent, job.track) in skip:
            already.setdefault(job.agent, []).append(job.track)
    for name, tracks in already.items():
        log(f"{name}: already filed on {', '.join(tracks)}")
    demos: list[Path] = []
    needed = max((options.demos_for(job.track) for job in jobs if job.trained), default=0)
    if needed:
        log(
            f"collecting {needed} demonstration(s) per task on seeds from {DEMO_SEED_START} ({len(protocol.tasks)} tasks)"
        )
        demos = collect_demos(protocol, needed, out_dir, workers=options.workers, progress=progress)
    runs: list[BaselineRun] = []
    played: dict[str, tuple[ResultsFile, Path | None]] = {}
    for job in jobs:
        path = out_dir / f"{job.agent}.{job.track}.json"
        if job.agent in played and not job.trained:  # the same agent on another track: play once
            results, weights = played[job.agent]
            write_results(results.model_copy(update={"track": job.track}), path)
            runs.append(BaselineRun(job.agent, job.track, path, weights))
            continue
        spec, weights = agent_spec(job, demos, options, out_dir, progress)
        log(f"evaluating {job.agent} on {protocol.name} ({job.track})")
        results = run_protocol(spec, protocol, track=job.track, workers=options.workers, out=path, progress=progress)
        played[job.agent] = (results, weights)
        runs.append(BaselineRun(job.agent, job.track, path, weights))
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
