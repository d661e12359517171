"""Crafter plays the same game for the same seed and actions, in any process (seeded evaluation relies on it).

Upstream Crafter keeps each chunk's objects in a ``set`` ordered by memory address, and picks which creature
despawns by an index into it, so the same seed diverged between processes. These tests replay one seeded
action sequence and compare every frame, reward and reset.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("crafter")

REPO = Path(__file__).resolve().parent.parent
STEPS = 200

ROLLOUT = """
import hashlib, sys
import gymnasium as gym
import numpy as np
import nitrogen_envs

def rollout(steps):
    env = gym.make("NitroGen/Crafter-v0", obs_size="native")
    base = env.unwrapped
    actions = np.random.default_rng(7).integers(0, 17, size=steps)
    obs, _ = env.reset(seed=3)
    digest = hashlib.sha256(obs.tobytes())
    for native in actions:
        obs, reward, terminated, truncated, info = env.step(base.native_to_gamepad(int(native)))
        digest.update(obs.tobytes())
        digest.update(repr((float(reward), terminated, truncated, info["crafter_reward"])).encode())
        if terminated or truncated:
            obs, _ = env.reset()
            digest.update(obs.tobytes())
    env.close()
    return digest.hexdigest()

if __name__ == "__main__":
    print(rollout(int(sys.argv[1])))
"""


def _rollout_in_process(steps: int) -> str:
    namespace: dict[str, object] = {"__name__": "rollout"}
    exec(ROLLOUT, namespace)
    return namespace["rollout"](steps)  # type: ignore[operator]


def _rollout_in_subprocess(steps: int, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", ROLLOUT, str(steps)], env=env, capture_output=True, text=True, check=True, cwd=REPO
    )
    return done.stdout.strip().splitlines()[-1]


def test_same_seed_same_game_in_one_process() -> None:
    # Objects of the second env live at other addresses than the first's: upstream ordering would differ.
    first = _rollout_in_process(STEPS)
    keep_alive = [bytearray(64) for _ in range(1000)]  # shift later allocations
    second = _rollout_in_process(STEPS)
    del keep_alive
    assert first == second


def test_same_seed_same_game_across_processes() -> None:
    digests = {_rollout_in_subprocess(STEPS, seed) for seed in ("0", "1")}
    assert len(digests) == 1, digests
    assert digests == {_rollout_in_process(STEPS)}


def test_chunk_objects_keep_insertion_order() -> None:
    from nitrogen_envs.engines.crafter import _ObjectsInOrder

    objects = _ObjectsInOrder()
    items = [object() for _ in range(50)]
    for item in reversed(items):
        objects.add(item)
    objects.remove(items[10])
    assert list(objects) == [item for item in reversed(items) if item is not items[10]]
