"""Cost of the NitroGen wrapper: raw engine steps/s vs ``NitroGen/...`` env steps/s, side by side.

For one game per engine, each round times three loops back to back on the same machine state:

* ``raw``: the engine's own API with random native actions, producing the same RGB frame we use;
* ``native``: ``gym.make("NitroGen/<Game>-v0", obs_size="native")`` with the canonical gamepad actions of
  the same random native actions (validation, mapping, info, Gymnasium's wrappers all included);
* ``256``: the same env at the default 256x256 observation (adds the resize).

Only step calls are timed (resets excluded): task semantics differ from the raw game (a Crafter task
ends when its achievement unlocks), and resets are not per-step overhead. The median over rounds is
reported; ratios below 1 mean our env is slower (0.9 = 10% overhead).
Last line: ``env_overhead: key=value ...``.

Usage::

    python benchmarks/env_overhead.py [--rounds 5] [--engines procgen ale vizdoom crafter]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding

import nitrogen_envs  # noqa: F401

GAMES = {
    "procgen": ("CoinRun", 300),
    "ale": ("Pong", 1500),
    "vizdoom": ("DoomDefendCenter", 1500),
    "crafter": ("Crafter", 300),
}


def engine_seeds(seed: int = 0):
    """The engine seeds our env derives from ``reset(seed=seed)`` and later resets, so both loops play the
    same levels and episodes (game content changes the engine's cost per step)."""
    rng, _ = seeding.np_random(seed)
    while True:
        yield int(rng.integers(0, 2**31 - 1))


def raw_procgen(steps: int, actions: np.ndarray) -> float:
    from procgen import ProcgenGym3Env

    seed = next(engine_seeds())
    env = ProcgenGym3Env(num=1, env_name="coinrun", render_mode="rgb_array", distribution_mode="hard", rand_seed=seed)
    start = time.perf_counter()
    for i in range(steps):
        env.act(np.array([actions[i]], dtype=np.int32))
        env.observe()
        frame = env.get_info()[0]["rgb"]
    elapsed = time.perf_counter() - start
    assert frame.shape == (512, 512, 3)
    return steps / elapsed


def raw_ale(steps: int, actions: np.ndarray) -> float:
    from ale_py.env import AtariEnv

    env = AtariEnv(game="pong", obs_type="rgb", frameskip=4, repeat_action_probability=0.25, full_action_space=True)
    env.reset(seed=next(engine_seeds()))
    # Our NativeActions indices are the minimal set's; play the same actions through the full set.
    full = list(env._action_set)
    minimal = [full.index(action) for action in env.ale.getMinimalActionSet()]
    elapsed = 0.0
    for i in range(steps):
        start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(minimal[int(actions[i])])
        elapsed += time.perf_counter() - start
        if terminated or truncated:
            env.reset()
    env.close()
    return steps / elapsed


def raw_vizdoom(steps: int, actions: np.ndarray) -> float:
    import vizdoom as vzd

    game = vzd.DoomGame()
    game.load_config(os.path.join(vzd.scenarios_path, "defend_the_center.cfg"))
    game.set_window_visible(False)
    game.set_screen_format(vzd.ScreenFormat.RGB24)
    game.set_screen_resolution(vzd.ScreenResolution.RES_320X240)
    game.set_sound_enabled(False)
    game.init()
    buttons = game.get_available_buttons_size()
    table = [[0] * buttons] + [[int(j == i) for j in range(buttons)] for i in range(buttons)]
    seeds = engine_seeds()
    game.set_seed(next(seeds))
    game.new_episode()
    elapsed = 0.0
    for i in range(steps):
        start = time.perf_counter()
        game.make_action(table[int(actions[i]) % len(table)], 4)
        finished = game.is_episode_finished()
        if not finished:
            game.get_state().screen_buffer  # noqa: B018 - fetch the frame as our env does
        elapsed += time.perf_counter() - start
        if finished:
            game.set_seed(next(seeds))
            game.new_episode()
    game.close()
    return steps / elapsed


def raw_crafter(steps: int, actions: np.ndarray) -> float:
    import crafter

    seeds = engine_seeds()
    env = crafter.Env(size=(64, 64), seed=next(seeds))
    env.reset()
    elapsed = 0.0
    for i in range(steps):
        start = time.perf_counter()
        _, _, done, _ = env.step(int(actions[i]))
        elapsed += time.perf_counter() - start
        if done:
            env._seed, env._episode = next(seeds), 0  # as our env does on reset
            env.reset()
    return steps / elapsed


RAW: dict[str, Callable[[int, np.ndarray], float]] = {
    "procgen": raw_procgen, "ale": raw_ale, "vizdoom": raw_vizdoom, "crafter": raw_crafter,
}  # fmt: skip


def ours(game: str, obs_size: object, steps: int, actions: np.ndarray) -> float:
    env = gym.make(f"NitroGen/{game}-v0", obs_size=obs_size)
    base = env.unwrapped
    n = base.native_action_space().n
    pads = [base.native_to_gamepad(int(a) % n) for a in actions[:steps]]
    env.reset(seed=0)
    elapsed = 0.0
    for pad in pads:
        start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(pad)
        elapsed += time.perf_counter() - start
        if terminated or truncated:
            env.reset()
    env.close()
    return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engines", nargs="*", default=list(GAMES))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the step counts")
    args = parser.parse_args()
    figures: dict[str, str] = {}
    for engine in args.engines:
        game, steps = GAMES[engine]
        steps = max(10, int(steps * args.scale))
        # Random native actions, in range for every engine's native set (ours maps them through the gamepad).
        probe = gym.make(f"NitroGen/{game}-v0", obs_size=32)
        n_native = probe.unwrapped.native_action_space().n
        probe.close()
        actions = np.random.default_rng(0).integers(0, n_native, size=steps)
        native_size = "native"
        ours(game, native_size, 10, actions)  # warm-up: imports, caches
        RAW[engine](10, actions)
        raw, native, square = [], [], []
        for round_index in range(args.rounds):
            # Alternate which loop goes first so neither always runs on a cold or warm machine.
            loops = [(raw, RAW[engine], ()), (native, ours, (game, native_size)), (square, ours, (game, 256))]
            for results, loop, head in loops if round_index % 2 == 0 else loops[::-1]:
                results.append(loop(*head, steps, actions))
        r, n, s = statistics.median(raw), statistics.median(native), statistics.median(square)
        print(
            f"{engine:8s} {game:18s} raw={r:8.0f}/s  nitrogen@native={n:8.0f}/s ({n / r:.2f}x)  nitrogen@256={s:8.0f}/s ({s / r:.2f}x)"
        )
        figures[f"{engine}_ratio_native"] = f"{n / r:.3f}"
        figures[f"{engine}_ratio_256"] = f"{s / r:.3f}"
        figures[f"{engine}_raw_sps"] = f"{r:.0f}"
    print("env_overhead: " + " ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
