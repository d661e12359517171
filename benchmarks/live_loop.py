"""Cost of one live-env control step under Xvfb: capture + resize + input send, and achieved fps.

Starts its own Xvfb (+ openbox) and either SuperTux or a plain window (a pygame window drawing a
moving gradient, needs no game), then steps a LiveEnv in real time (``sync=False``) with random-ish
actions and reports per-step costs. The target on 2 cores: capture + resize + input <= 10 ms at
1280x720 -> 256x256.

Usage::

    python benchmarks/live_loop.py                    # plain window, 300 steps at 30 fps
    python benchmarks/live_loop.py --game supertux --steps 200 --fps 20

Prints the figures last as one line: ``live_loop: key=value ...``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import textwrap
import time

import numpy as np

PLAIN_WINDOW = textwrap.dedent(
    """
    import os, pygame
    pygame.display.init()
    screen = pygame.display.set_mode((1280, 720))
    pygame.display.set_caption("NitroGen plain window")
    x = 0
    clock = pygame.time.Clock()
    while True:
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                raise SystemExit
        x = (x + 8) % 1280
        screen.fill((30, 60, 90))
        pygame.draw.rect(screen, (250, 200, 40), (x, 300, 120, 120))
        pygame.display.flip()
        clock.tick(60)
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", choices=["plain", "supertux"], default="plain")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--obs-size", type=int, default=256)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import gymnasium as gym

    from nitrogen_envs import gamepad
    from nitrogen_envs.live import register_live_games
    from nitrogen_envs.live.env import LiveEnv
    from nitrogen_envs.live.virtual_display import VirtualDisplay

    register_live_games()
    scratch = tempfile.TemporaryDirectory(prefix="nitrogen_live_bench_")  # game HOME and PID state file
    state = scratch.name
    os.environ["NITROGEN_LIVE_STATE"] = os.path.join(state, "state.json")
    with scratch, VirtualDisplay((1600, 900)) as display:
        common = {"display": display.name, "launch": True, "fps": args.fps, "obs_size": args.obs_size, "sync": False}
        if args.game == "supertux":
            env = gym.make(
                "NitroGen/SuperTux-v0",
                launch_env={
                    "HOME": state,
                    "XDG_DATA_HOME": state,
                    "XDG_CONFIG_HOME": state,
                    "SDL_AUDIODRIVER": "dummy",
                },
                **common,
            )
        else:
            from nitrogen_envs.mapping import Binding

            common["launch"] = [sys.executable, "-c", PLAIN_WINDOW]
            env = gym.make(
                "NitroGen/Live-v0",
                window="NitroGen plain window",
                input="keyboard",
                keymap=[
                    Binding("left", move=(-1, 0)),
                    Binding("right", move=(1, 0)),
                    Binding("space", inputs=("south",)),
                ],
                launch_env={"SDL_VIDEODRIVER": "x11", "SDL_AUDIODRIVER": "dummy"},
                **common,
            )
        try:
            env.reset(seed=0)
            live = env.unwrapped
            assert isinstance(live, LiveEnv)
            rect = live.window_rect()
            rng = np.random.default_rng(0)
            actions = [
                gamepad.make_action(
                    ["south"] if rng.random() < 0.3 else [], left_stick=(float(rng.choice([-1, 0, 1])), 0.0)
                )
                for _ in range(64)
            ]
            work, capture, send, jitter = [], [], [], []
            for step in range(args.warmup + args.steps):
                if step == args.warmup:
                    started = time.perf_counter()
                _, _, _, _, info = env.step(actions[step % len(actions)])
                if step >= args.warmup:
                    capture.append(info["capture_ms"])
                    send.append(info["input_ms"])
                    work.append(info["capture_ms"] + info["input_ms"])
                    jitter.append(info["jitter_ms"])
            elapsed = time.perf_counter() - started
        finally:
            env.close()
    p = lambda values, q: float(np.percentile(values, q))  # noqa: E731
    print(
        f"live_loop: game={args.game} window={rect.width}x{rect.height} obs={args.obs_size} steps={args.steps} "
        f"step_work_ms_p50={p(work, 50):.2f} step_work_ms_p95={p(work, 95):.2f} "
        f"capture_resize_ms_p50={p(capture, 50):.2f} capture_resize_ms_p95={p(capture, 95):.2f} "
        f"input_ms_p50={p(send, 50):.3f} input_ms_p95={p(send, 95):.3f} "
        f"jitter_ms_p50={p(jitter, 50):.2f} jitter_ms_p95={p(jitter, 95):.2f} "
        f"fps_target={args.fps:g} fps_achieved={args.steps / elapsed:.2f} target_ms=10 "
        f"meets_target={p(work, 50) <= 10.0}"
    )


if __name__ == "__main__":
    main()
