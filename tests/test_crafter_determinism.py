"""Crafter plays the same game for the same seed and actions, in any process (seeded evaluation relies on it).

Upstream Crafter keeps each chunk's objects in a ``set`` ordered by memory address, and picks which creature
despawns by an index into it, so the same seed diverged between processes. These tests replay one seeded
action sequence and compare every frame, reward and reset.
"""

from __future__ import annotations

import copy
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


DUSK = 130
"""A Crafter step count shortly before night: each episode starts there, so every one has a night."""
CREATURES = ("Zombie", "Skeleton", "Cow")
"""Crafter's balancing spawns and despawns these (every other object comes and goes by the game's rules)."""


def _world_state(engine) -> tuple:
    """Everything a Crafter game's future depends on: materials, objects (every attribute), chunk membership
    in order, the random state, the clock and the player's unlocked set."""
    import numpy as np

    world = engine._world
    index = {id(obj): i for i, obj in enumerate(world._objects) if obj is not None}
    objects = []
    for obj in world._objects:
        if obj is None:
            objects.append(None)
            continue
        fields = {
            name: (value.tolist() if isinstance(value, np.ndarray) else value)
            for name, value in vars(obj).items()
            if name not in ("world", "random", "player")
        }
        objects.append((type(obj).__name__, repr(sorted(fields.items()))))
    chunks = [
        (tuple(int(v) for v in key), [index[id(obj)] for obj in members]) for key, members in world._chunks.items()
    ]
    name, keys, pos, has_gauss, gauss = world.random.get_state()
    return (
        world._mat_map.tobytes(),
        world._obj_map.tobytes(),
        objects,
        chunks,
        (name, keys.tobytes(), pos, has_gauss, gauss),
        engine._step,
        sorted(engine._unlocked),
        float(world.daylight),
    )


@pytest.mark.slow
def test_fast_step_plays_crafters_game_state_for_state() -> None:
    """FastStep (our engine step) against crafter.Env.step from the same start, over games with nights,
    sleep, balancing spawns and despawns, deaths and resets: the same world after every step, the same
    frame, reward, done and info (less Crafter's semantic map, which FastStep does not build)."""
    import crafter  # type: ignore[import-untyped]
    import numpy as np

    from nitrogen_envs.engines.crafter import _order_chunks
    from nitrogen_envs.engines.crafter_step import FastStep

    stock = crafter.Env(size=(64, 64), seed=11)
    _order_chunks(stock._world)
    rng = np.random.default_rng(4)
    seen = {"night": 0, "sleep": 0, "reset": 0, "spawned": 0, "despawned": 0}
    known: dict[int, object] = {}
    done = False
    for step in range(400):
        if step == 0 or done:
            stock.reset()
            stock._step = DUSK
            fast = copy.deepcopy(stock)  # one world generation (about a second) for both
            fast_step = FastStep(fast)
            seen["reset"] += step > 0
            known = {}
        action = 6 if rng.random() < 0.08 else int(rng.integers(0, 17))  # 6 = sleep
        frame, reward, done, info = stock.step(action)
        fast_frame, fast_reward, fast_done, fast_info = fast_step(action)
        np.testing.assert_array_equal(fast_frame, frame)
        assert (fast_reward, fast_done) == (reward, done)
        semantic = info.pop("semantic")
        assert semantic.shape == (64, 64) and "semantic" not in fast_info
        assert repr(fast_info) == repr(info)
        assert _world_state(fast) == _world_state(stock), f"worlds differ after step {step}"
        creatures = {id(obj): obj for obj in fast._world.objects if type(obj).__name__ in CREATURES}
        seen["spawned"] += sum(type(obj).__name__ == "Zombie" for key, obj in creatures.items() if key not in known)
        seen["despawned"] += sum(obj.health > 0 for key, obj in known.items() if key not in creatures)
        known = creatures
        seen["night"] += fast._world.daylight < 0.5
        seen["sleep"] += bool(fast._player.sleeping)
    assert all(count >= 2 for count in seen.values()), seen
