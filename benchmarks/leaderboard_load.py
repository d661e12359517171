"""Leaderboard load: requests/s and p95 latency of the listing, page and submit endpoints, and eval episodes/s.

A real ``nitrogen leaderboard serve`` (uvicorn, SQLite in a temporary folder, in-process verification off)
runs as a separate process on a loopback port; ``--concurrency`` client threads send requests to it.

* ``list``: ``GET /api/v1/leaderboard/unseen-v1/zero-shot?all=true`` over ``--entries`` seeded entries;
* ``page``: ``GET /?all=1`` (the HTML page, same entries);
* ``submit``: ``POST /api/v1/submissions`` of complete unseen-v1 dev results files (every one different,
  so each is validated, summarised with the bootstrap and stored).

Every phase stops at its request count or after ``--seconds``, whichever comes first. Then
``run_protocol`` plays a restricted protocol with the random agent on ``--workers 1`` and ``2`` and reports
episodes/s of each. Last line: ``leaderboard_load: key=value ...``.

Usage::

    python benchmarks/leaderboard_load.py [--requests 200] [--submits 40] [--concurrency 4] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from nitrogen_leaderboard.protocol import load_protocol
from nitrogen_leaderboard.runner import episodes_per_second, run_protocol

PROTOCOL = "unseen-v1"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def results_body(index: int) -> dict[str, Any]:
    """A complete dev-seed results file of unseen-v1 whose scores depend on ``index`` (so its hash is unique)."""
    rng = np.random.default_rng(index)
    keys = load_protocol(PROTOCOL).episode_keys("dev")
    level = 0.05 + 0.9 * rng.random()
    return {
        "protocol": PROTOCOL,
        "track": "zero-shot",
        "seed_set": "dev",
        "agent": {"name": f"bench-{index}"},
        "environment": {"package_version": "bench"},
        "wall_time_s": 1.0,
        "episodes": [
            {
                "game": game,
                "task": task,
                "seed": seed,
                "episode_return": 1.0,
                "success": bool(rng.random() < level),
                "steps": 100,
                "score_normalized": float(level + 0.2 * rng.standard_normal()),
            }
            for game, task, seed in keys
        ],
    }


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "nitrogen_envs.cli", "leaderboard", "serve", "--data-dir", str(data_dir)]
    command += ["--port", str(port), "--no-verify", "--rate-limit", "1000000", "--log-level", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the leaderboard server did not answer /health within 60 s")


def add_user(data_dir: Path, name: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "nitrogen_envs.cli", "leaderboard", "add-user", name, "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def load(
    send: Callable[[httpx.Client, int], httpx.Response], count: int, concurrency: int, seconds: float, url: str
) -> tuple[float, list[float]]:
    """Send up to ``count`` requests from ``concurrency`` threads for at most ``seconds``; (req/s, latencies ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(count))
    stop_at = time.monotonic() + seconds

    def client_loop() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < stop_at:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                start = time.perf_counter()
                response = send(client, index)
                elapsed = (time.perf_counter() - start) * 1000
                if response.status_code >= 400:
                    raise RuntimeError(f"{response.request.url}: HTTP {response.status_code} {response.text[:200]}")
                with lock:
                    latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(client_loop) for _ in range(concurrency)]:
            future.result()
    wall = time.perf_counter() - started
    return len(latencies) / wall, latencies


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


def eval_rate(workers: int, episodes: int, max_steps: int, out: Path) -> float:
    protocol = load_protocol(PROTOCOL).restricted(
        tasks=["BigFish/easy", "Maze/easy", "Climber/easy", "Breakout/score"],
        episodes_per_task=episodes,
        max_steps=max_steps,
    )
    return episodes_per_second(run_protocol("random", protocol, workers=workers, out=out))


def server_peak_rss_mb(pid: int) -> float:
    """Peak resident memory of the server process (Linux VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def listing_peak_rss(data_dir: Path, requests: int, concurrency: int, seconds: float) -> float:
    """Start a fresh server on ``data_dir``, list the board and render the page, return its peak RSS (MB)."""
    port = free_port()
    server = start_server(data_dir, port)
    url = f"http://127.0.0.1:{port}"
    try:
        load(lambda c, i: c.get(f"/api/v1/leaderboard/{PROTOCOL}/zero-shot", params={"all": "true"}), requests,
             concurrency, seconds, url)  # fmt: skip
        load(lambda c, i: c.get("/", params={"all": "1"}), requests, concurrency, seconds, url)
        return server_peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def seed_entries(data_dir: Path, token: str, indices: range, concurrency: int) -> None:
    """File the results bodies ``indices`` through a fresh server."""
    port = free_port()
    server = start_server(data_dir, port)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        load(lambda c, i: c.post("/api/v1/submissions", json=results_body(indices[i]), headers=headers),
             len(indices), concurrency, 1200, f"http://127.0.0.1:{port}")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="GET requests per listing phase")
    parser.add_argument("--submits", type=int, default=40, help="POST requests in the submit phase")
    parser.add_argument("--entries", type=int, default=30, help="entries seeded before the listing phases")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="time cap of each phase")
    parser.add_argument("--episodes", type=int, default=4, help="eval: episodes per task (4 tasks)")
    parser.add_argument("--max-steps", type=int, default=300, help="eval: step cap per episode")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="leaderboard-load-") as scratch:
        data_dir = Path(scratch) / "data"
        token = add_user(data_dir, "bench")
        port = free_port()
        server = start_server(data_dir, port)
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            bodies = [results_body(index) for index in range(args.entries + args.submits)]
            seed_rate, _ = load(
                lambda c, i: c.post("/api/v1/submissions", json=bodies[i], headers=headers),
                args.entries,
                args.concurrency,
                600,
                url,
            )
            list_rps, list_ms = load(
                lambda c, i: c.get(f"/api/v1/leaderboard/{PROTOCOL}/zero-shot", params={"all": "true"}),
                args.requests,
                args.concurrency,
                args.seconds,
                url,
            )
            page_rps, page_ms = load(lambda c, i: c.get("/", params={"all": "1"}), args.requests, args.concurrency,
                                     args.seconds, url)  # fmt: skip
            submit_rps, submit_ms = load(
                lambda c, i: c.post("/api/v1/submissions", json=bodies[args.entries + i], headers=headers),
                args.submits,
                args.concurrency,
                args.seconds,
                url,
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        body_kb = len(httpx.Request("POST", url, json=bodies[0]).content) / 1024
        print(f"server: uvicorn on loopback, SQLite, {args.entries} entries, {args.concurrency} client threads")
        print(f"  list   {list_rps:7.1f} req/s  p50 {statistics.median(list_ms):7.1f} ms  p95 {p95(list_ms):7.1f} ms")
        print(f"  page   {page_rps:7.1f} req/s  p50 {statistics.median(page_ms):7.1f} ms  p95 {p95(page_ms):7.1f} ms")
        print(
            f"  submit {submit_rps:7.1f} req/s  p50 {statistics.median(submit_ms):7.1f} ms  p95 {p95(submit_ms):7.1f} ms"
            f"  ({body_kb:.0f} KB results files; seeding ran at {seed_rate:.1f}/s)"
        )
        # Memory as the board grows: a fresh server's peak while listing 1x and then 10x the seeded entries.
        filed = args.entries + args.submits
        rss_1x = listing_peak_rss(data_dir, args.requests // 4, args.concurrency, args.seconds)
        seed_entries(data_dir, token, range(filed, 10 * filed), args.concurrency)
        rss_10x = listing_peak_rss(data_dir, args.requests // 4, args.concurrency, args.seconds)
        print(f"  server peak RSS while listing: {rss_1x:.0f} MB at {filed} entries, {rss_10x:.0f} MB at {10 * filed}")
        one = eval_rate(1, args.episodes, args.max_steps, Path(scratch) / "eval1.json")
        two = eval_rate(2, args.episodes, args.max_steps, Path(scratch) / "eval2.json")
    print(f"eval (random agent, 4 tasks x {args.episodes} episodes, <= {args.max_steps} steps, {os.cpu_count()} CPUs):")
    print(f"  workers 1: {one:.2f} episodes/s   workers 2: {two:.2f} episodes/s   ratio {two / one:.2f}")
    print(
        f"leaderboard_load: list_rps={list_rps:.1f} list_p95_ms={p95(list_ms):.1f} page_rps={page_rps:.1f} "
        f"page_p95_ms={p95(page_ms):.1f} submit_rps={submit_rps:.1f} submit_p95_ms={p95(submit_ms):.1f} "
        f"eval_eps_w1={one:.2f} eval_eps_w2={two:.2f} eval_speedup={two / one:.2f} "
        f"requests={len(list_ms) + len(page_ms) + len(submit_ms)} peak_rss_1x_mb={rss_1x:.0f} "
        f"peak_rss_10x_mb={rss_10x:.0f}"
    )


if __name__ == "__main__":
    main()
