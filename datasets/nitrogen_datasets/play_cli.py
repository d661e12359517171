"""``nitrogen play GAME [--record DIR]``: a human plays an embedded game in a window, optionally recorded.

It lives in the datasets package because recording writes the demonstrations format; the play loop and
input mapping themselves are in :mod:`nitrogen_envs.play`.
"""

from __future__ import annotations

import os
from pathlib import Path

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
@click.option(
    "--record", "record_dir", type=click.Path(file_okay=False, path_type=Path), help="Record into this dataset."
)
@click.option("--episodes", default=1, show_default=True, type=click.IntRange(min=1), help="Episodes to record.")
def play(
    game: str,
    task: str | None,
    seed: int | None,
    fps: int | None,
    max_steps: int | None,
    no_controller: bool,
    record_dir: Path | None,
    episodes: int,
) -> None:
    """Play GAME yourself with the keyboard or a gamepad (needs a display); --record DIR saves demonstrations.

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
    show = lambda frame: window.show(frame, fps=rate)  # noqa: E731
    try:
        if record_dir is not None:
            stats = _record(env, source, show, record_dir, episodes, seed, max_steps)
            click.echo(f"recorded {len(stats.episodes)} episodes ({stats.steps} steps) into {record_dir}")
            return
        result = play_env(env, source, seed=seed, max_steps=max_steps, show=show)
    except KeyboardInterrupt:
        click.echo("stopped" + (f"; finished episodes are kept in {record_dir}" if record_dir else ""))
        return
    finally:
        window.close()
        env.close()
    click.echo(f"{result.steps} steps, episode returns: {[round(r, 2) for r in result.episode_returns]}")


class _HumanPolicy:
    """Shows each frame, then returns what the human is pressing (Escape or closing the window stops)."""

    def __init__(self, source, show) -> None:  # type: ignore[no-untyped-def]
        self.source, self.show = source, show

    def act(self, obs, info):  # type: ignore[no-untyped-def]
        """The human's gamepad action for this frame."""
        self.show(obs)
        action = self.source.poll()
        if self.source.quit_requested:
            raise KeyboardInterrupt("player quit")
        return action


def _record(env, source, show, folder: Path, episodes: int, seed: int | None, max_steps: int | None):  # type: ignore[no-untyped-def]
    """Record human episodes into the demonstrations format (an unfinished episode is dropped on quit)."""
    from nitrogen_datasets.record import record_episodes
    from nitrogen_datasets.writer import DatasetWriter, WriterConfig

    with DatasetWriter(folder, WriterConfig(fps=env.metadata.get("render_fps", 15))) as writer:
        return record_episodes(
            env, _HumanPolicy(source, show), episodes, writer, seed=seed or 0, source="human", max_steps=max_steps
        )
