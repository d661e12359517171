"""The Procgen gate on a GPU lease: the frame expert's 19 passing tasks, collected on 16 cores, trained on one GPU.

Why (docs/results.md sections 16-17): from 64 to 512 levels per task the Procgen clone went from 2 to 4 of the 8
tasks it was trained on, and the 19 Procgen tasks the demonstrator passes would take days of these 2 cores. A lease
of the device machine (one H200 and 16 cores, 15 minutes of device time in all, starts included) is the only
larger budget this project gets, so this script fits one run into one command of it:

1. ``collect``: the frame expert (``bc_gate.expert_episode``, the gate's demonstrator and recording) plays every
   :data:`bc_gate.PROCGEN_PASSED_TASKS` task on seeds 0, 1, 2, ... in worker processes, seed by seed over the
   tasks, until a deadline; each task keeps the levels that finished (as many per task as the clock allowed,
   written to the summary). Frames stay in memory as the policy sees them (64 px, uint8): no video is written, so
   they are not H.264-compressed as the gate's other runs' demonstrations were.
2. ``train``: one nitrogen-s (levels1's settings: discrete head, one categorical per stick, 64 px) through the
   product trainer (:func:`nitrogen_policies.training.train`) on those frames, each task sampled alike; a short
   calibration run times the device first, and the real run takes as many steps as the rest of the budget holds.
3. The weights (``final/``), the trainer's ``train_config.json`` and ``summary.json`` go to ``--out``.

Played afterwards on this machine, as every other run: ``bc_gate.RUNS["gpu1"]`` reads the committed weights::

    # on the device (experiments/procgen_gpu_lease.sh, section 17), then here:
    python experiments/results/bc_gate/wide_eval.py play --engine procgen --arm policy --run gpu1 --all-tasks \
        --temperature 1
    python experiments/results/bc_gate/wide_eval.py report --engine procgen --run gpu1 --all-tasks --temperature 1

Rehearsal on a CPU (about a minute; the device run starts with the same on two tasks)::

    python experiments/procgen_gpu.py --out /tmp/gpu1 --budget 60 --collect-share 0.5 --workers 2 --device cpu \
        --batch-size 8 --tasks Chaser/easy Leaper/easy
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bc_gate  # experiments/, on sys.path above

MAX_LEVELS = 1000
"""Seeds 0..999 at most: the evaluation's start at 1000 (``bc_gate.check_levels``)."""


@dataclass(frozen=True)
class LeaseConfig:
    """One run's settings; written into ``summary.json`` so the results quote them."""

    budget: float = 540.0
    """Seconds for the whole run, from the script's start to the weights on disk."""
    collect_share: float = 0.5
    """The share of :attr:`budget` the expert collects for; training takes the rest but :attr:`margin`."""
    margin: float = 30.0
    """Seconds kept back at the end (saving, copying, the command's own exit)."""
    workers: int = 16
    batch_size: int = 256
    lr: float = 1e-3
    warmup_steps: int = 200
    loader_workers: int = 8
    device: str = "cuda"
    calibration_steps: int = 150
    seed: int = 0
    first_level: int = 0
    """The first seed collected: a later lease continues a run on levels it has not seen (``gpu1`` used 0-147)."""
    init: str | None = None
    """A policy folder to train from (a later lease continues ``gpu1``'s committed weights); ``None``: fresh."""

    def __post_init__(self) -> None:
        if not 0 < self.collect_share < 1:
            raise SystemExit(f"Error: --collect-share must be between 0 and 1, got {self.collect_share}")
        if self.budget <= self.margin + 10:
            raise SystemExit(f"Error: --budget must exceed the {self.margin:g} s margin by 10 s, got {self.budget}")
        if self.workers < 1 or self.batch_size < 1 or self.loader_workers < 0:
            raise SystemExit("Error: --workers and --batch-size must be >= 1, --loader-workers >= 0")
        if not 0 <= self.first_level < MAX_LEVELS:
            raise SystemExit(f"Error: --first-level must be 0-{MAX_LEVELS - 1} (evaluation seeds start at 1000)")
        if self.init is not None and not (Path(self.init) / "model.safetensors").is_file():
            raise SystemExit(f"Error: --init {self.init} holds no model.safetensors; give a policy folder")


def play_level(job: tuple[str, str, int, float]) -> dict[str, Any] | None:
    """One expert episode in a worker: frames and labels, or ``None`` when the deadline passed before it began."""
    game, task, seed, deadline = job
    if time.time() >= deadline:
        return None
    frames: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    started = time.perf_counter()

    def record(frame: np.ndarray, label: np.ndarray, *_: Any) -> None:
        frames.append(frame)
        labels.append(label)

    total = bc_gate.expert_episode(game, task, seed, record)
    return {
        "task": f"{game}/{task}",
        "seed": seed,
        "frames": np.stack(frames),
        "labels": np.stack(labels).astype(np.float32),
        "return": total,
        "seconds": time.perf_counter() - started,
    }


def collect(
    tasks: list[tuple[str, str]], deadline: float, workers: int, first_level: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """Every task's finished levels by the deadline, seed by seed over the tasks (so the tasks get alike levels).

    Episodes under way at the deadline are dropped (the pool is terminated): a task keeps only levels it finished.
    """
    jobs = [(game, task, seed, deadline) for seed in range(first_level, MAX_LEVELS) for game, task in tasks]
    done: dict[str, list[dict[str, Any]]] = {f"{game}/{task}": [] for game, task in tasks}
    context = multiprocessing.get_context("fork")  # the workers inherit the imports instead of redoing them
    pool = context.Pool(workers)
    try:
        for result in pool.imap_unordered(play_level, jobs, chunksize=1):
            if result is None:
                break  # jobs are handed out in order: every later one begins after the deadline too
            done[result["task"]].append(result)
            if time.time() >= deadline:
                break
    finally:
        pool.terminate()
        pool.join()
    for rows in done.values():
        rows.sort(key=lambda row: row["seed"])
    return done


class LevelFrames:
    """The collected frames as the trainer's samples (the keys and layout of ``PolicySamples``, action chunk 1)."""

    def __init__(self, frames: np.ndarray, labels: np.ndarray, game_ids: np.ndarray) -> None:
        self.frames, self.labels, self.game_ids = frames, labels, game_ids

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        return {
            "frames": torch.from_numpy(self.frames[index]),
            "actions": torch.from_numpy(self.labels[index][None]),
            "action_mask": torch.ones(1, dtype=torch.bool),
            "game_id": torch.tensor(int(self.game_ids[index]), dtype=torch.long),
        }


def policy_overrides() -> dict[str, Any]:
    """levels1's network: the gate's settings with one categorical per stick."""
    return dict(bc_gate.CONFIG.policy) | dict(bc_gate.RUNS["levels1"].policy)


def training_data(levels: dict[str, list[dict[str, Any]]], init: str | None = None) -> tuple[Any, Any]:
    """The samples (a :class:`LevelFrames`) and a sampler drawing each task alike (the gate's ``balance="equal"``).

    The levels' frames are moved into one array as they are read (and dropped from ``levels``), so the peak
    memory stays near the frames' raw size rather than twice it.
    """
    import torch

    from nitrogen_policies import NitroGenPolicy

    if init:  # its game vocabulary
        config = NitroGenPolicy.from_pretrained(init).config
    else:
        config = NitroGenPolicy.from_config("nitrogen-s", **policy_overrides()).config
    empty = [name for name, rows in levels.items() if not rows]
    if empty:
        raise SystemExit(f"Error: no level of {empty} finished before the deadline; raise --budget")
    counts = {name: int(sum(len(row["frames"]) for row in rows)) for name, rows in levels.items()}
    first = next(iter(levels.values()))[0]
    total = sum(counts.values())
    frames = np.empty((total, *first["frames"].shape[1:]), dtype=np.uint8)
    labels = np.empty((total, first["labels"].shape[1]), dtype=np.float32)
    ids = np.empty(total, dtype=np.int64)
    weights = np.empty(total, dtype=np.float64)
    at = 0
    for name, rows in levels.items():
        ids[at : at + counts[name]] = config.game_id(name.split("/")[0])
        weights[at : at + counts[name]] = 1.0 / counts[name]
        while rows:
            row = rows.pop(0)
            size = len(row["frames"])
            frames[at : at + size], labels[at : at + size] = row["frames"], row["labels"]
            at += size
    sampler = torch.utils.data.WeightedRandomSampler(weights.tolist(), num_samples=total, replacement=True)
    return LevelFrames(frames, labels, ids), sampler


def train_config(lease: LeaseConfig, out: Path, steps: int) -> Any:
    """The trainer's settings for ``steps`` steps into ``out``."""
    from nitrogen_policies.training import TrainConfig

    return TrainConfig(
        out=str(out),
        init_from=lease.init,
        policy_overrides={} if lease.init else policy_overrides(),  # a checkpoint brings its own
        steps=steps,
        seed=lease.seed,
        batch_size=lease.batch_size,
        lr=lease.lr,
        warmup_steps=min(lease.warmup_steps, max(1, steps // 10)),
        num_workers=lease.loader_workers,
        save_every=max(steps // 4, 1),
        device=lease.device,
        threads=None if lease.device == "cuda" else 1,
        progress=False,
    )


def run(lease: LeaseConfig, out: Path, tasks: list[tuple[str, str]]) -> dict[str, Any]:
    """Collect until the deadline, calibrate, train on the rest of the budget, write the weights and summary."""
    started = time.time()
    finish = started + lease.budget - lease.margin
    deadline = started + lease.budget * lease.collect_share
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"procgen_gpu-{os.getpid()}"
    levels = collect(tasks, deadline, lease.workers, lease.first_level)
    collected = time.time()
    per_task = {
        name: {
            "levels": len(rows),
            "seeds": [row["seed"] for row in rows],
            "frames": int(sum(len(row["frames"]) for row in rows)),
            "mean_return": round(float(np.mean([row["return"] for row in rows])), 3) if rows else None,
            "mean_seconds": round(float(np.mean([row["seconds"] for row in rows])), 2) if rows else None,
        }
        for name, rows in levels.items()
    }
    print(f"collect: {json.dumps({k: v['levels'] for k, v in per_task.items()})}", flush=True)
    bc_gate.atomic_json(out / "summary.json", {"lease": asdict(lease), "tasks": per_task, "machine": machine()})
    import torch  # after the workers forked: torch starts no threads in them

    from nitrogen_policies import NitroGenPolicy
    from nitrogen_policies.training import train

    dataset, sampler = training_data(levels, lease.init)
    # twice: the first run pays the device's one-off set-up (CUDA context, kernel choice), the second is the rate
    train(train_config(lease, scratch / "warm-up", lease.calibration_steps // 3), dataset, sampler)
    probe = train(train_config(lease, scratch / "calibration", lease.calibration_steps), dataset, sampler)
    rate = probe.samples_per_second
    left = finish - time.time()
    steps = max(int(left * rate / lease.batch_size * 0.9), lease.calibration_steps)
    print(f"calibration: {rate:.0f} samples/s, {left:.0f} s left: {steps} steps", flush=True)
    config = train_config(lease, scratch / "train", steps)
    began = time.time()
    result = train(config, dataset, sampler)
    trained = time.time()
    # float16, as the shipped weights: half the size (9 MB; a file from the device may be 16 MiB at most), and
    # these are the weights that play and are committed
    NitroGenPolicy.from_pretrained(Path(config.out) / "final").save_pretrained(out / "final", dtype=torch.float16)
    shutil.copy2(Path(config.out) / "train_config.json", out / "train_config.json")
    summary = {
        "lease": asdict(lease),
        "tasks": per_task,
        "frames": len(dataset),
        "steps": steps,
        "samples": steps * lease.batch_size,
        "final_loss": result.final_loss,
        "samples_per_second": round(result.samples_per_second, 1),
        "data_wait_fraction": round(result.data_wait_fraction, 4),
        "steady_data_wait_fraction": round(result.steady_data_wait_fraction, 4),
        "calibration_samples_per_second": round(rate, 1),
        "seconds": {
            "collect": round(collected - started, 1),
            "calibrate": round(began - collected, 1),
            "train": round(trained - began, 1),
            "total": round(time.time() - started, 1),
        },
        "machine": machine(),
    }
    bc_gate.atomic_json(out / "summary.json", summary)
    shutil.rmtree(scratch, ignore_errors=True)
    return summary


def machine() -> dict[str, Any]:
    """What the run ran on: cores, Python, torch and the GPU's name."""
    import torch

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def parse_tasks(names: list[str] | None) -> list[tuple[str, str]]:
    """``Game/task`` names, each one of :data:`bc_gate.PROCGEN_PASSED_TASKS` (default: all of them)."""
    if not names:
        return list(bc_gate.PROCGEN_PASSED_TASKS)
    tasks = [tuple(name.split("/", 1)) for name in names]
    unknown = [name for name, task in zip(names, tasks, strict=True) if task not in bc_gate.PROCGEN_PASSED_TASKS]
    if unknown:
        passed = " ".join(f"{g}/{t}" for g, t in bc_gate.PROCGEN_PASSED_TASKS)
        raise SystemExit(f"Error: {unknown} are not tasks the Procgen frame expert passes; choose from {passed}")
    return [(game, task) for game, task in tasks]


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run."""
    defaults = LeaseConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for final/, train_config.json and summary.json")
    parser.add_argument("--budget", type=float, default=defaults.budget, help="seconds for the whole run")
    parser.add_argument("--collect-share", type=float, default=defaults.collect_share)
    parser.add_argument("--workers", type=int, default=defaults.workers, help="expert processes")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--loader-workers", type=int, default=defaults.loader_workers)
    parser.add_argument("--device", choices=("cuda", "cpu"), default=defaults.device)
    parser.add_argument("--tasks", nargs="*", help="Game/task names (default: all 19)")
    parser.add_argument("--first-level", type=int, default=0, help="first seed collected (a later lease: 148)")
    parser.add_argument("--init", help="policy folder to train from (a later lease: gpu1's committed weights)")
    args = parser.parse_args(argv)
    lease = LeaseConfig(
        budget=args.budget,
        collect_share=args.collect_share,
        workers=args.workers,
        batch_size=args.batch_size,
        lr=args.lr,
        loader_workers=args.loader_workers,
        device=args.device,
        first_level=args.first_level,
        init=args.init,
    )
    bc_gate.use_engine("procgen")
    summary = run(lease, Path(args.out), parse_tasks(args.tasks))
    print(
        f"procgen_gpu: frames={summary['frames']} steps={summary['steps']} "
        f"samples_per_second={summary['samples_per_second']} total_s={summary['seconds']['total']}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
