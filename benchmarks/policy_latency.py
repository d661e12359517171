"""Latency of one action chunk: NitroGenPolicy with the context cache vs recomputing it every step.

Both variants run in alternation on the same frames and noise seed, on ``--threads`` CPU threads (or the
GPU with ``--device cuda``). Reports p50/p95 ms per chunk with the cache and the cached/uncached speedup.
Last line: ``policy_latency: p50_ms=... p95_ms=... speedup=...``.

Usage::

    python benchmarks/policy_latency.py [--config nitrogen-s] [--steps 8] [--threads 2] [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from nitrogen_policies import NitroGenPolicy


def time_chunk(policy: NitroGenPolicy, frame: np.ndarray, steps: int, use_cache: bool, device: str) -> float:
    generator = torch.Generator(device=device).manual_seed(0)
    start = time.perf_counter()
    policy.predict_action_chunk(frame, generator=generator, num_steps=steps, use_cache=use_cache)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="nitrogen-s")
    parser.add_argument("--steps", type=int, default=None, help="Euler steps K (default: the config's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    policy = NitroGenPolicy.from_config(args.config).to(args.device).eval()
    steps = args.steps or policy.config.num_inference_steps
    frame = np.random.default_rng(0).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    for _ in range(3):  # warm-up
        time_chunk(policy, frame, steps, True, args.device)
        time_chunk(policy, frame, steps, False, args.device)
    cached: list[float] = []
    uncached: list[float] = []
    for run in range(args.runs):
        order = [(cached, True), (uncached, False)] if run % 2 == 0 else [(uncached, False), (cached, True)]
        for results, use_cache in order:
            results.append(time_chunk(policy, frame, steps, use_cache, args.device))
    p50, p95 = statistics.median(cached), float(np.percentile(cached, 95))
    speedup = statistics.median(uncached) / p50
    params = policy.model.num_parameters() / 1e6
    print(f"{args.config} ({params:.1f}M params), K={steps}, {args.device} x{args.threads} threads")
    print(f"  cached:   p50 {p50:.1f} ms  p95 {p95:.1f} ms")
    print(f"  uncached: p50 {statistics.median(uncached):.1f} ms  p95 {float(np.percentile(uncached, 95)):.1f} ms")
    print(
        f"policy_latency: p50_ms={p50:.2f} p95_ms={p95:.2f} speedup={speedup:.2f} params_m={params:.1f} steps={steps}"
    )


if __name__ == "__main__":
    main()
