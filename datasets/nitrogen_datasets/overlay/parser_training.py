"""Train the learned overlay parser on synthetic renders (``nitrogen overlay train-parser``).

A pool of synthetic element samples is rendered first, in parallel worker processes (rendering costs
more than a training step, so every sample is reused for several epochs), then :class:`ElementNet` is
trained with AdamW and a cosine schedule. TensorBoard scalars go to ``OUT/tb``; the result is
``OUT/parser.safetensors`` + ``OUT/parser.json`` (with the validation figures; rewritten after every epoch,
so a run stopped early keeps its last finished epoch), loadable with
``load_parser(OUT)`` or ``nitrogen overlay extract --parser-weights OUT``.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import operator
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.overlay.layout import ELEMENT_NAMES
from nitrogen_datasets.overlay.parser_config import CHANNELS, ParserNetConfig, ParserTrainConfig, SampleMix
from nitrogen_datasets.overlay.parser_net import ElementNet, decode_outputs, element_loss, to_inputs
from nitrogen_datasets.overlay.parser_weights import InvalidParser, load_parser, save_parser
from nitrogen_datasets.overlay.synthetic import ElementBatch, ElementSampler
from nitrogen_datasets.parallel import run_parallel
from nitrogen_datasets.torch_settings import torch_seeded, torch_threads
from nitrogen_envs import gamepad
from nitrogen_envs.errors import NitroGenError
from nitrogen_envs.progress import progress_bar

logger = logging.getLogger(__name__)

_CHUNK_RENDERS = 100


@dataclass(frozen=True)
class ParserTrainResult:
    """Where the parser went and how it did on the validation renders."""

    out: Path
    button_accuracy: float
    trigger_accuracy: float
    stick_r2: float
    samples: int
    seconds: float


def _render_chunk(chunk: tuple[int, int, ParserNetConfig, float, SampleMix | None]) -> ElementBatch:
    seed, renders, net, sprite_fraction, mix = chunk
    return ElementSampler(seed, net=net, sprite_fraction=sprite_fraction, mix=mix).sample(renders)


def pool_bytes(renders: int, crop: int) -> int:
    """Memory the element samples of ``renders`` overlays take at most (every element of every render)."""
    return renders * len(ELEMENT_NAMES) * (crop * crop * CHANNELS + 4 * 4 + 8)


def render_pool(
    seed: int,
    renders: int,
    net: ParserNetConfig,
    workers: int,
    progress: bool,
    desc: str,
    sprite_fraction: float = 0.0,
    mix: SampleMix | None = None,
) -> ElementBatch:
    """Render ``renders`` synthetic overlays into element samples cut for ``net`` (deterministic per seed).

    ``sprite_fraction`` of the overlays are drawn in trained-on sprite-sheet styles
    (:class:`~.synthetic.ElementSampler`); at 0 the pool is the one rendered before sprite styles existed.
    ``mix`` sets the samples' press rates and rest image (:class:`~.parser_config.SampleMix`; ``None``: the default).

    The samples are written into arrays allocated once as chunks come back, and :func:`run_parallel` keeps
    only a few chunks in flight, so the pool's peak memory is the pool itself (about 195 kB per render at
    crop 32): 80,000 renders peaked at 15.8 GB of RSS, where the concatenated copy and the finished chunks
    that every submitted job's future kept had a run killed by the kernel at 62,000 (23.9 GB).
    """
    chunks = [
        (seed * 1_000_003 + index, min(_CHUNK_RENDERS, renders - start), net, sprite_fraction, mix)
        for index, start in enumerate(range(0, renders, _CHUNK_RENDERS))
    ]
    capacity = renders * len(ELEMENT_NAMES)  # a render has at most one sample per element
    images = np.empty((capacity, net.crop, net.crop, CHANNELS), np.uint8)
    targets = np.empty((capacity, 4), np.float32)
    kinds = np.empty(capacity, np.int64)
    filled = 0
    with progress_bar(renders, desc, unit="render", enabled=progress) as bar:
        for _, part in run_parallel(chunks, _render_chunk, workers=workers, on_complete=lambda c: bar.update(c[1])):
            count = len(part.kinds)
            images[filled : filled + count] = part.images
            targets[filled : filled + count] = part.targets
            kinds[filled : filled + count] = part.kinds
            filled += count
    return ElementBatch(images[:filled], targets[:filled], kinds[:filled])


class PoolTooLarge(NitroGenError, ValueError):
    """The synthetic pool asked for does not fit in the memory available (the message names ``--renders``)."""


def _check_memory(config: ParserTrainConfig) -> None:
    """Fail before rendering, naming the fix, when the pool cannot fit in memory (the kernel would kill the run)."""
    needed = pool_bytes(config.renders + config.validation_renders, config.crop)
    available = _available_memory()
    if available is not None and needed > 0.85 * available:
        raise PoolTooLarge(
            f"{config.renders} renders need about {needed / 2**30:.1f} GiB for the training pool, and this machine "
            f"has {available / 2**30:.1f} GiB available; use fewer renders (--renders) and more epochs"
        )


def _available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes, or ``None`` where it cannot be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def evaluate_elements(model: ElementNet, batch: ElementBatch, batch_size: int = 1024) -> dict[str, float]:
    """Button accuracy, trigger accuracy (pressed = travel >= 0.5), trigger MAE and stick R^2 on element samples."""
    outputs = []
    model.eval()
    device = next(model.parameters()).device
    with torch.inference_mode():
        for start in range(0, len(batch.kinds), batch_size):
            images = torch.from_numpy(batch.images[start : start + batch_size]).to(device)
            kinds = torch.from_numpy(batch.kinds[start : start + batch_size]).to(device)
            outputs.append(decode_outputs(model(to_inputs(images), kinds)).cpu().numpy())
    predicted = np.concatenate(outputs)
    return element_metrics(predicted, batch.targets, batch.kinds)


def _agreement(predicted: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of predictions on the same side of the press threshold as their targets (NaN when there are none)."""
    if not len(targets):
        return math.nan
    return float(((predicted >= gamepad.BUTTON_THRESHOLD) == (targets >= gamepad.BUTTON_THRESHOLD)).mean())


def element_metrics(predicted: np.ndarray, targets: np.ndarray, kinds: np.ndarray) -> dict[str, float]:
    """The metrics of :func:`evaluate_elements` from decoded predictions."""
    buttons, triggers, sticks = kinds == 0, kinds == 1, kinds == 2
    metrics = {
        "button_accuracy": _agreement(predicted[buttons, 0], targets[buttons, 0]),
        "trigger_accuracy": _agreement(predicted[triggers, 1], targets[triggers, 1]),
        "trigger_mae": float(np.abs(predicted[triggers, 1] - targets[triggers, 1]).mean())
        if triggers.any()
        else math.nan,
    }
    if sticks.any():
        truth, guess = targets[sticks, 2:], predicted[sticks, 2:]
        metrics["stick_r2"] = float(1 - ((truth - guess) ** 2).sum() / max(1e-9, ((truth - truth.mean(0)) ** 2).sum()))
    else:
        metrics["stick_r2"] = math.nan
    return metrics


def train_parser(config: ParserTrainConfig, out: str | Path, progress: bool | None = None) -> ParserTrainResult:
    """Render the synthetic pool, train :class:`ElementNet`, save it to ``out`` with its validation figures.

    Seeds torch with ``config.seed`` and runs on ``config.threads`` threads; both are restored afterwards, so a
    caller's process (a notebook, a test session) is left as it was.

    Raises:
        PoolTooLarge: the pool would not fit in the memory available (checked before rendering).
    """
    with torch_seeded(config.seed), torch_threads(config.threads):
        return _train(config, Path(out), sys.stderr.isatty() if progress is None else progress)


def _initial_model(config: ParserTrainConfig, net: ParserNetConfig) -> ElementNet | None:
    """The parser of ``config.init`` to start from (``None`` without one).

    Raises:
        InvalidParser: its network is not the one ``config`` trains.
    """
    if config.init is None:
        return None
    model = load_parser(config.init)
    if model.config != net:
        raise InvalidParser(f"{config.init} holds the network {model.config}; this training builds {net}")
    return model


def _train(config: ParserTrainConfig, out: Path, show: bool) -> ParserTrainResult:
    """:func:`train_parser` with torch's seed and threads set."""
    started = time.monotonic()
    _check_memory(config)
    net = ParserNetConfig(crop=config.crop, button_margin=config.button_margin)
    initial = _initial_model(config, net)  # checked before the pool is rendered
    sprites = config.sprite_fraction
    pool = render_pool(
        config.seed, config.renders, net, config.workers, show, "rendering training overlays", sprites, config.mix
    )
    # Validation keeps the default mix, so runs with different mixes are compared on the same kind of samples.
    validation = render_pool(
        config.seed + 1, config.validation_renders, net, config.workers, show, "rendering validation overlays", sprites
    )
    device = torch.device(config.device)
    model = (initial or ElementNet(net)).to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(pool.kinds) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = max(1, total // 50)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
    )
    tensorboard = require_package("torch.utils.tensorboard")
    writer = tensorboard.SummaryWriter(str(out / "tb"))
    rng = np.random.default_rng(config.seed)
    images, targets, kinds = torch.from_numpy(pool.images), torch.from_numpy(pool.targets), torch.from_numpy(pool.kinds)
    step = 0
    metrics: dict[str, float] = {}
    try:
        with progress_bar(total, "training the overlay parser", unit="step", enabled=show) as bar:
            for epoch in range(config.epochs):
                model.train()
                order = torch.from_numpy(rng.permutation(len(kinds)))
                for start in range(0, len(order), config.batch_size):
                    index = order[start : start + config.batch_size]
                    batch_kinds = kinds[index].to(device, non_blocking=True)
                    outputs = model(to_inputs(images[index].to(device, non_blocking=True)), batch_kinds)
                    losses = element_loss(outputs, targets[index].to(device, non_blocking=True), batch_kinds)
                    loss = functools.reduce(operator.add, losses.values())
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    step += 1
                    bar.update(1)
                    if step % 50 == 0:
                        # .item(), not float(): float() of a tensor that requires grad warns on every call (torch 2.13)
                        total_loss = loss.item()
                        writer.add_scalar("loss/total", total_loss, step)
                        for kind, value in losses.items():
                            writer.add_scalar(f"loss/{kind}", value.item(), step)
                        writer.add_scalar("lr", schedule.get_last_lr()[0], step)
                        bar.set_postfix(loss=f"{total_loss:.4f}", refresh=False)
                metrics = evaluate_elements(model, validation)
                for name, figure in metrics.items():
                    writer.add_scalar(f"validation/{name}", figure, step)
                logger.info("epoch %d: %s", epoch + 1, metrics)
                # Saved (atomically) after every epoch: a run stopped early still leaves its last epoch.
                notes = {"training": asdict(config), "validation": metrics, "epochs_done": epoch + 1}
                save_parser(
                    copy.deepcopy(model).cpu(), out, metadata=notes | {"seconds": round(time.monotonic() - started)}
                )
    finally:
        writer.close()
    seconds = time.monotonic() - started
    return ParserTrainResult(
        out, metrics["button_accuracy"], metrics["trigger_accuracy"], metrics["stick_r2"], len(pool.kinds), seconds
    )
