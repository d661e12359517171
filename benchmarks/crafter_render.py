"""Crafter's renderer against ours (``nitrogen_envs.engines.crafter_render``) on the same game states.

One Crafter game is played with random actions (some sleep), each episode started near dusk so nights
come often; after every step the state is rendered by ``crafter.Env.render`` and by our
``BufferedRenderer`` from the same world random state, in alternating order, timing each call's process
CPU time (other programs on a shared machine barely move it). The frames are checked equal. Reported per
size, over all states, by day and at night: the median microseconds per render of each and their ratio
(stock / ours, so 2.0 = twice as fast), with peak RSS. Last line: ``crafter_render: key=value ...``.

Usage::

    python benchmarks/crafter_render.py [--steps 600] [--sizes 64 256]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

DUSK = 130
"""A Crafter step count shortly before night, where each episode starts (nights cost the most to render)."""


def measure(size: int, steps: int) -> dict[str, tuple[float, float]]:
    """(Crafter's, ours) median microseconds per render over ``steps`` game states at ``size`` px: over all
    states (``"all"``), by day and at night (noise over the whole view; ours lights by day per tile)."""
    import crafter  # type: ignore[import-untyped]

    from nitrogen_envs.engines.crafter_render import NIGHT_DAYLIGHT, BufferedRenderer

    env = crafter.Env(size=(size, size), seed=7)
    env.reset()
    env._step = DUSK
    ours = BufferedRenderer(env)
    rng = np.random.default_rng(0)
    stock_us: list[float] = []
    ours_us: list[float] = []
    night: list[bool] = []
    for index in range(steps):
        action = 6 if rng.random() < 0.05 else int(rng.integers(0, 17))
        if env.step(action)[2]:
            env.reset()
            env._step = DUSK
        random = env._world.random
        state = random.get_state()
        frames = {}
        for name in ("stock", "ours") if index % 2 else ("ours", "stock"):
            random.set_state(state)
            start = time.process_time()
            frames[name] = crafter.Env.render(env) if name == "stock" else ours()
            (stock_us if name == "stock" else ours_us).append((time.process_time() - start) * 1e6)
        if not np.array_equal(frames["stock"], frames["ours"]):
            raise AssertionError(f"frames differ at step {index} ({size} px)")
        night.append(env._world.daylight < NIGHT_DAYLIGHT)
    phases = {"all": [True] * len(night), "day": [not n for n in night], "night": night}
    return {
        phase: (
            statistics.median(t for t, keep in zip(stock_us, chosen, strict=True) if keep),
            statistics.median(t for t, keep in zip(ours_us, chosen, strict=True) if keep),
        )
        for phase, chosen in phases.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--sizes", type=int, nargs="*", default=[64, 256])
    args = parser.parse_args()
    figures: dict[str, str] = {}
    for size in args.sizes:
        for phase, (stock, ours) in measure(size, args.steps).items():
            print(
                f"{size:4d} px {phase:5s}: Crafter {stock:7.0f} us/render, ours {ours:7.0f} us/render, "
                f"{stock / ours:.2f}x",
                flush=True,
            )
            suffix = f"{size}" if phase == "all" else f"{size}_{phase}"
            figures[f"stock_us_{suffix}"] = f"{stock:.0f}"
            figures[f"ours_us_{suffix}"] = f"{ours:.0f}"
            figures[f"speedup_{suffix}"] = f"{stock / ours:.2f}"
    figures["peak_rss_mb"] = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
    print("crafter_render: " + " ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
