"""``nitrogen play GAME``: a human plays an embedded game in a window."""

from __future__ import annotations

import os

import click

from nitrogen_envs.errors import NitroGenError
from nitrogen_envs.registry import get_game


@click.command()
@click.argument("game")
@click.option("--task", default=None, help="Task name (default: the game's first task).")
@click.option("--seed", default=None, type=int, help="Seed of the first episode.")
@click.option("--fps", default=None, type=click.IntRange(1, 240), help="Steps per second (default: the game's).")
@click.option("--max-steps", default=None, type=click.IntRange(min=1), help="Stop after this many steps.")
@click.option("--no-controller", is_flag=True, help="Ignore connected gamepads; keyboard only.")
def play(
    game: str, task: str | None, seed: int | None, fps: int | None, max_steps: int | None, no_controller: bool
) -> None:
    """Play GAME yourself with the keyboard or a gamepad (needs a display).

    Keys: arrows = left stick, IJKL = right stick, Space/Z X C V = south east west north,
    Q/E = shoulders, 1/3 = triggers, WASD = d-pad, Tab/Return = back/start, Escape = quit.
    """
    import gymnasium as gym

    from nitrogen_envs.base import unwrap
    from nitrogen_envs.play import HumanInput, play_env
    from nitrogen_envs.window import FrameWindow

    if (
        os.name != "nt"
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and os.environ.get("SDL_VIDEODRIVER") != "dummy"
    ):
        raise click.ClickException(
            "`nitrogen play` needs a display (DISPLAY is not set); run it on a desktop, or under `xvfb-run` to test"
        )
    try:
        spec = get_game(game)
        env = gym.make(spec.env_id, task=task)
    except NitroGenError as err:
        raise click.ClickException(str(err)) from err
    source = HumanInput.create(use_controller=not no_controller)
    window = FrameWindow(f"NitroGen - {spec.name} (Esc quits)", unwrap(env).obs_size)
    rate = fps or spec.native_fps
    try:
        result = play_env(env, source, seed=seed, max_steps=max_steps, show=lambda frame: window.show(frame, fps=rate))
    except KeyboardInterrupt:
        click.echo("stopped")
        return
    finally:
        window.close()
        env.close()
    click.echo(f"{result.steps} steps, episode returns: {[round(r, 2) for r in result.episode_returns]}")
