"""Behaviour-cloning training of NitroGenPolicy: flow-matching loss, cosine schedule, resumable checkpoints.

Reads top to bottom: config, data, model and optimizer, resume, loop. A run folder holds::

    <out>/tb/                         TensorBoard events (train/, perf/ scalars, hyperparameter table)
    <out>/checkpoints/step_000100/    config.json + model.safetensors + training_state.{safetensors,json}
    <out>/final/                      the last weights, loadable with NitroGenPolicy.from_pretrained

The training state (optimizer, step, RNG) is safetensors + JSON (:mod:`.checkpoint_state`): resuming unpickles nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from nitrogen_policies.nitrogen import NitroGenPolicy
from nitrogen_policies.nitrogen.processor_nitrogen import decode_actions
from nitrogen_policies.training.checkpoint_state import (
    STATE_NAME,
    TrainingState,
    load_training_state,
    refuse_legacy_state,
    save_training_state,
)
from nitrogen_policies.training.metrics import action_metrics
from nitrogen_policies.training.sampling import ResumableRandomSampler
from nitrogen_policies.training.schedule import cosine_lr

logger = logging.getLogger(__name__)

ADAMW_BETAS = (0.9, 0.95)
"""AdamW's (beta1, beta2). beta2 = 0.95 rather than PyTorch's 0.999, as GPT-3, nanoGPT and most transformer
recipes use: the squared-gradient average then forgets in about 20 steps instead of 1000, so a few large
gradients (after warm-up, or a hard batch) do not leave the step size scaled down for hundreds of steps."""


@dataclass
class TrainConfig:
    """Everything a training run needs; saved as ``train_config.json`` in the run folder.

    Args:
        out: run folder (checkpoints, TensorBoard logs, final weights).
        policy: preset name (``nitrogen-s``) for a fresh model.
        init_from: checkpoint (folder, bundled name or Hub id) to fine-tune instead of a fresh model.
        head_only: with ``init_from``, freeze the image encoder and train the action head only.
        policy_overrides: config fields to override on the preset (e.g. ``{"n_layers": 2}``).
        steps: optimizer steps. batch_size: samples per step. lr: peak learning rate.
        warmup_steps: linear warm-up steps. weight_decay: AdamW decay on matrices (not norms/biases).
        grad_clip: max gradient norm. num_workers: DataLoader worker processes.
        seed: seeds python, numpy and torch; the same seed repeats the run.
        log_every: steps between logged scalars. save_every: steps between checkpoints.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``. amp: bf16 autocast on CUDA.
        cpu_amp: bf16 autocast on CPU too. Off by default: it changes the numerics, and it is only faster on
            CPUs with native bf16 (AVX512-BF16 or AMX; ``torch.backends.cpu.get_cpu_capability()``); on an
            AVX2 CPU it is slower (see docs/performance.md).
        compile: run forward and backward through ``torch.compile``. Costs a one-off compilation of C++
            kernels on CPU (unfinished after 20 minutes on a loaded 2-core machine; see docs/performance.md),
            which only long runs can win back; off by default so runs and tests start at once.
        threads: torch CPU threads for the run (None: torch's default, one per core). On a machine that other
            jobs keep busy, 1 is often several times faster than 2: OpenMP threads that wait for each other
            stall while a core is taken (docs/performance.md, "What is left to try for 2x").
        progress: show a progress bar with ETA on stderr (a line every few seconds when it is not a terminal).
        frame_cache: folder to decode every training frame into once (files per dataset, named by its content),
            so that sampling at random costs one small read instead of a seek and a decode; "auto" is
            ~/.cache/nitrogen/frames. Costs the frames' raw size on disk (12 KiB per 64 px frame). Off by default.
    """

    out: str = "runs/nitrogen"
    policy: str = "nitrogen-s"
    init_from: str | None = None
    head_only: bool = False
    policy_overrides: dict[str, Any] = field(default_factory=dict)
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    num_workers: int = 2
    seed: int = 0
    log_every: int = 10
    save_every: int = 500
    device: str = "auto"
    amp: bool = True
    cpu_amp: bool = False
    compile: bool = False
    threads: int | None = None
    progress: bool = True
    frame_cache: str | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}")
        if self.head_only and not self.init_from:
            raise ValueError("head_only=True fine-tunes a pretrained policy: also pass init_from")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 (or None for torch's default), got {self.threads}")


@dataclass
class TrainResult:
    """Where the run ended and what it measured."""

    out: Path
    steps: int
    final_loss: float
    samples_per_second: float
    data_wait_fraction: float
    steady_data_wait_fraction: float = float("nan")
    """The wait share over the steps after the first: the first fetch also waits for the workers to start
    (and the first step pays one-off kernel set-up), which a short run would otherwise mistake for a slow loader."""


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (and make cuDNN deterministic)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def build_policy(config: TrainConfig) -> NitroGenPolicy:
    """Fresh preset or pretrained policy, with the encoder frozen for head-only fine-tuning."""
    if config.init_from:
        policy = NitroGenPolicy.from_pretrained(config.init_from)
    else:
        policy = NitroGenPolicy.from_config(config.policy, **config.policy_overrides)
    if config.head_only:
        for parameter in policy.model.encoder.parameters():
            parameter.requires_grad_(False)
    return policy.train()


def make_optimizer(policy: NitroGenPolicy, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay on weight matrices only (not biases, norms, embeddings' positions).

    The fused implementation (one kernel over all parameters instead of about ten ops per tensor) where this
    torch has it for the parameters' device: CUDA, and CPU from torch 2.4. Same update up to rounding.
    """
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for parameter in policy.parameters():
        if parameter.requires_grad:
            (decay if parameter.dim() >= 2 else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        return torch.optim.AdamW(groups, lr=config.lr, betas=ADAMW_BETAS, fused=True)
    except RuntimeError as err:  # torch < 2.4 fuses on CUDA only
        if "fused" not in str(err):
            raise
        return torch.optim.AdamW(groups, lr=config.lr, betas=ADAMW_BETAS)


def infinite(loader: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    """Cycle over a DataLoader forever (a new shuffled epoch each pass, also for a DistributedSampler).

    The first epoch's iterator is made here, not at the first ``next``: with worker processes that starts
    them and queues their first batches at once, so what the caller does next overlaps their start-up.
    """
    _set_epoch(loader, 0)
    return _epochs(loader, iter(loader))


def _set_epoch(loader: DataLoader, epoch: int) -> None:
    set_epoch = getattr(loader.sampler, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)


def _epochs(loader: DataLoader, first: Iterator[dict[str, torch.Tensor]]) -> Iterator[dict[str, torch.Tensor]]:
    yield from first
    epoch = 1
    while True:
        _set_epoch(loader, epoch)
        yield from loader
        epoch += 1


def draws_from_own_generator(sampler: object) -> bool:
    """Whether a sampler's order comes from its own seeded generator, never from torch's global RNG.

    Only such a loader may start before the model is built: one drawing from the global RNG (a
    ``WeightedRandomSampler`` without a generator) would change the numbers the model's initialisation
    and a resumed run's restored RNG state give.
    """
    return isinstance(sampler, (ResumableRandomSampler, torch.utils.data.DistributedSampler))


def latest_checkpoint(out: Path) -> Path | None:
    """The newest ``checkpoints/step_*`` folder with a training state, if any."""
    folders = sorted((out / "checkpoints").glob("step_*"))
    folders = [folder for folder in folders if (folder / STATE_NAME).is_file()]
    return folders[-1] if folders else None


def save_training_checkpoint(policy: NitroGenPolicy, optimizer: torch.optim.Optimizer, step: int, out: Path) -> Path:
    """Weights (safetensors) + optimizer state, step and RNG (safetensors + JSON) under ``checkpoints/step_N``."""
    folder = policy.save_pretrained(out / "checkpoints" / f"step_{step:06d}")
    save_training_state(folder, optimizer, step)
    return folder


def optimization_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    grad_clip: float,
    amp: bool = False,
) -> tuple[dict[str, float], torch.Tensor]:
    """Loss, backward, clipped AdamW step on one batch; returns the loss logs and the gradient norm.

    ``model`` is the module that runs forward (the policy, its DDP wrapper or its compiled form); ``amp``
    runs the forward under bf16 autocast on the parameters' device. The throughput benchmark times this.
    """
    device = next(model.parameters()).device
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
        loss, logs = model(batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return logs, grad_norm


def make_loader(
    dataset: Dataset, sampler: torch.utils.data.Sampler | None, config: TrainConfig, start_step: int
) -> DataLoader:
    """Batches of ``config.batch_size`` in worker processes; uniform shuffling resumed at ``start_step`` by default."""
    if sampler is None:
        sampler = ResumableRandomSampler(len(dataset), seed=config.seed, start=start_step * config.batch_size)  # type: ignore[arg-type]
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=len(sampler) >= config.batch_size,  # type: ignore[arg-type]  # a tiny finite sampler still yields
        persistent_workers=config.num_workers > 0,
        # Its own generator: creating the loader's iterator must not draw from the global RNG, or a resumed
        # run would see different noise than an uninterrupted one.
        generator=torch.Generator().manual_seed(config.seed),
    )


def train(config: TrainConfig, dataset: Dataset, sampler: torch.utils.data.Sampler | None = None) -> TrainResult:
    """Train a policy on ``dataset`` (items: ``frames``, ``actions``, optional ``action_mask``, ``game_id``).

    Resumes from the newest checkpoint in ``config.out`` when one exists. ``sampler`` (e.g. a weighted
    mixture of datasets) replaces uniform shuffling. Under ``torchrun`` it trains data-parallel (DDP).
    """
    from nitrogen_datasets.torch_settings import torch_threads

    with torch_threads(config.threads):
        return _train(config, dataset, sampler)


def _train(config: TrainConfig, dataset: Dataset, sampler: torch.utils.data.Sampler | None) -> TrainResult:
    """:func:`train`'s body, on the thread count the caller set."""
    from nitrogen_envs.progress import progress_bar
    from nitrogen_policies.training.distributed import device_for, init_distributed, shutdown

    distributed = init_distributed()
    seed_everything(config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    if distributed.is_main:
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True))
    device = device_for(distributed, config.device)
    refuse_legacy_state(out)
    resume = latest_checkpoint(out)
    state = None if resume is None else load_training_state(resume, device)
    start_step = 0 if state is None else state.step
    loader = make_loader(dataset, _distributed_sampler(distributed, dataset, sampler, config), config, start_step)
    # The workers start (and decode the first batches) while the model is built, instead of stalling step 0.
    batches = infinite(loader) if draws_from_own_generator(loader.sampler) else None
    policy = build_policy(config).to(device)
    optimizer = make_optimizer(policy, config)
    if resume is not None and state is not None:
        _restore(policy, optimizer, resume, state, device)
    # The module that runs forward/backward: DDP averages gradients across ranks; `policy` stays the
    # plain module for saving and metrics.
    model: torch.nn.Module = policy
    if distributed.enabled:
        model = torch.nn.parallel.DistributedDataParallel(
            policy, device_ids=[device.index] if device.type == "cuda" else None
        )
    writer = _tensorboard(out / "tb", config) if distributed.is_main else None
    if batches is None:  # a sampler drawing from the global RNG starts here, after the model, as it always did
        batches = infinite(loader)
    use_amp = (config.amp and device.type == "cuda") or (config.cpu_amp and device.type == "cpu")
    if config.compile:
        model = torch.compile(model)  # type: ignore[assignment]
    loss_value, samples, wait, busy = float("nan"), 0, 0.0, 0.0
    first_wait, first_busy = 0.0, 0.0
    bar = progress_bar(
        config.steps,
        "training",
        unit="step",
        enabled=config.progress and distributed.is_main,
        iterable=range(start_step, config.steps),
        initial=start_step,
    )
    for step in bar:
        started = time.perf_counter()
        batch = next(batches)
        fetched = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, config.lr, config.warmup_steps, config.steps)
        logs, grad_norm = optimization_step(model, optimizer, batch, config.grad_clip, use_amp)
        done = time.perf_counter()
        wait += fetched - started
        busy += done - started
        if step == start_step:
            first_wait, first_busy = wait, busy
        samples += len(batch["actions"]) * distributed.world_size
        loss_value = logs["loss"]
        if writer is not None and (step % config.log_every == 0 or step == config.steps - 1):
            writer.add_scalar("train/loss", loss_value, step)
            writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step)
            writer.add_scalar("train/grad_norm", float(grad_norm), step)
            writer.add_scalar("perf/samples_per_second", samples / max(busy, 1e-9), step)
            writer.add_scalar("perf/data_wait_fraction", wait / max(busy, 1e-9), step)
            for key, value in _batch_metrics(policy, batch).items():
                writer.add_scalar(f"train/{key}", value, step)
        bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)  # drawn at the bar's pace, not every step
        if distributed.is_main and (step + 1) % config.save_every == 0 and step + 1 < config.steps:
            save_training_checkpoint(policy, optimizer, step + 1, out)
    if distributed.is_main:
        if config.steps > start_step:
            save_training_checkpoint(policy, optimizer, config.steps, out)
        policy.eval().save_pretrained(out / "final")
    if writer is not None:
        writer.close()
    shutdown(distributed)
    return TrainResult(
        out=out,
        steps=config.steps,
        final_loss=loss_value,
        samples_per_second=samples / max(busy, 1e-9),
        data_wait_fraction=wait / max(busy, 1e-9),
        steady_data_wait_fraction=(wait - first_wait) / (busy - first_busy) if busy > first_busy else float("nan"),
    )


def _distributed_sampler(
    distributed: Any, dataset: Dataset, sampler: torch.utils.data.Sampler | None, config: TrainConfig
) -> torch.utils.data.Sampler | None:
    """Under torchrun, each rank's share of the data; otherwise ``sampler`` as given."""
    if not distributed.enabled:
        return sampler
    if sampler is not None:
        raise ValueError("weighted dataset mixtures are not supported under torchrun yet; drop --weights")
    return torch.utils.data.DistributedSampler(
        dataset, num_replicas=distributed.world_size, rank=distributed.rank, seed=config.seed, drop_last=True
    )


def _restore(
    policy: NitroGenPolicy, optimizer: torch.optim.Optimizer, folder: Path, state: TrainingState, device: torch.device
) -> None:
    """Weights, optimizer state and torch's RNG of a checkpoint (``state`` is its training state)."""
    from nitrogen_policies.hub import load_weights

    load_weights(policy.model, folder, device=device)
    optimizer.load_state_dict(state.optimizer)
    torch.set_rng_state(state.torch_rng.cpu())
    logger.info("resumed from %s at step %d", folder, state.step)


@torch.no_grad()
def _batch_metrics(policy: NitroGenPolicy, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """Sample the policy on (a few frames of) the batch and score the decoded actions."""
    was_training = policy.training
    policy.eval()
    game_ids = batch.get("game_id")
    raw = policy.sample_raw(
        batch["frames"][:8],
        game_ids=None if game_ids is None else game_ids[:8],
        generator=torch.Generator(device="cpu").manual_seed(0),
    )
    policy.train(was_training)
    mask = batch.get("action_mask")
    return action_metrics(
        decode_actions(raw), batch["actions"][:8].float().numpy(), None if mask is None else mask[:8].numpy()
    )


def _tensorboard(folder: Path, config: TrainConfig) -> Any:
    """A SummaryWriter with the hyperparameter table, or ``None`` when tensorboard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        logger.warning("tensorboard is not installed; no TensorBoard logs (pip install tensorboard)")
        return None
    writer = SummaryWriter(str(folder))
    rows = "\n".join(f"|{key}|{value}|" for key, value in dataclasses.asdict(config).items())
    writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{rows}", 0)
    return writer
