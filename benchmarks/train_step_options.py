"""What the CPU levers issue #19 names can give a nitrogen-s training step, side by side in one run.

``train_throughput.py`` measures the trainer before and after; this script asks whether any remaining lever
could double the step with the same model and loss on this CPU. On the same batches of real 256 px CoinRun
demonstrations, in alternation, it times :func:`optimization_step` (forward, flow-matching loss, backward,
clipping, fused AdamW) of nitrogen-s:

* ``fp32``: the trainer's default, on ``--threads`` threads (the reference);
* ``bf16``: the same under bf16 autocast (the trainer's ``amp``), which pays off only on CPUs with bf16
  arithmetic (AVX-512 BF16 or AMX); the CPU's flags are printed;
* ``one_thread``: fp32 on one thread. Two data-parallel processes of one thread each (``torchrun`` DDP on
  gloo) can at best do twice this, with no gradient exchange at all: ``ddp_bound`` is that ceiling over the
  reference, the most that splitting the cores by process instead of by thread could give.

Wall-clock medians over ``--rounds`` (run it on an idle machine: the threads compete with other programs).
Last line: ``train_step_options: fp32_samples_per_s=... bf16_ratio=... one_thread_ratio=... ddp_bound=...
cpu_bf16=... peak_rss_mb=...``; ratios above 1 are faster than the reference.

Usage::

    python benchmarks/train_step_options.py [--rounds 8] [--batch-size 16] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from train_throughput import record

from nitrogen_policies.nitrogen import NitroGenPolicy, config_from_preset
from nitrogen_policies.training import TrainConfig
from nitrogen_policies.training.data import load_training_data
from nitrogen_policies.training.trainer import make_optimizer, optimization_step


def cpu_has_bf16() -> bool:
    """Whether this CPU advertises bf16 arithmetic (Linux's flags; False elsewhere)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="timed steps per setting")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demos"
        record(data, 2, 100, 256)
        dataset, _ = load_training_data([data], config_from_preset("nitrogen-s"))
        config = TrainConfig(out=str(Path(tmp) / "run"), steps=1, batch_size=args.batch_size, progress=False)
        loader = DataLoader(
            dataset, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
        )
        batches = [batch for batch, _ in zip(loader, range(3), strict=False)]
    settings = {"fp32": (False, args.threads), "bf16": (True, args.threads), "one_thread": (False, 1)}
    states: dict[str, tuple[NitroGenPolicy, torch.optim.Optimizer, list[float]]] = {}
    for name, (amp, threads) in settings.items():
        torch.manual_seed(config.seed)
        policy = NitroGenPolicy.from_config(config.policy).train()
        optimizer = make_optimizer(policy, config)
        torch.set_num_threads(threads)
        optimization_step(policy, optimizer, batches[0], config.grad_clip, amp=amp)  # warm-up
        states[name] = (policy, optimizer, [])
    for index in range(args.rounds):
        names = list(settings)
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            amp, threads = settings[name]
            policy, optimizer, times = states[name]
            torch.set_num_threads(threads)
            start = time.perf_counter()
            optimization_step(policy, optimizer, batches[index % len(batches)], config.grad_clip, amp=amp)
            times.append(time.perf_counter() - start)
    rate = {name: args.batch_size / statistics.median(times) for name, (_, _, times) in states.items()}
    reference = rate["fp32"]
    for name, value in rate.items():
        print(f"  {name:10s} {value:6.1f} samples/s  ({value / reference:.2f}x fp32 on {args.threads} threads)")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"train_step_options: fp32_samples_per_s={reference:.1f} bf16_ratio={rate['bf16'] / reference:.2f} "
        f"one_thread_ratio={rate['one_thread'] / reference:.2f} ddp_bound={2 * rate['one_thread'] / reference:.2f} "
        f"cpu_bf16={cpu_has_bf16()} threads={args.threads} load_avg={os.getloadavg()[0]:.1f} peak_rss_mb={rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
