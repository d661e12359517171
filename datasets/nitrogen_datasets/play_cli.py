"""``nitrogen play GAME [--record DIR]``: a human plays a game, optionally recorded as demonstrations.

Embedded games open a window of ours. ``--live`` records a live game the person plays in its own
window (``nitrogen play --live SuperTux --record demos/supertux``): frames are captured, the person's
keyboard (through the game's catalog key map) or controller is read, nothing is sent.

It lives in the datasets package because recording writes the demonstrations format; the play loop and
input mapping themselves are in :mod:`nitrogen_envs.play` and :mod:`nitrogen_envs.live.human`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
@click.option(
    "--episodes",
    default=None,
    type=click.IntRange(min=1),
    help="Episodes to record [default: 1; with --live, until the stop key].",
)
@click.option("--live", is_flag=True, help="GAME is a live game (see `nitrogen live games`) you play in its window.")
@click.option("--display", default=None, help="--live on Linux: X display of the game (default: $DISPLAY).")
@click.option("--launch", is_flag=True, help="--live: start the game with its catalog command if it is not running.")
@click.option("--obs-size", default=256, show_default=True, type=click.IntRange(min=8), help="--live: frame size.")
@click.option("--end-key", default="f10", show_default=True, help="--live: key that ends the current episode.")
@click.option("--stop-key", default="f12", show_default=True, help="--live: key that saves the episode and stops.")
def play(
    game: str,
    task: str | None,
    seed: int | None,
    fps: int | None,
    max_steps: int | None,
    no_controller: bool,
    record_dir: Path | None,
    episodes: int | None,
    live: bool,
    display: str | None,
    launch: bool,
    obs_size: int,
    end_key: str,
    stop_key: str,
) -> None:
    """Play GAME yourself with the keyboard or a gamepad; --record DIR saves demonstrations.

    Embedded games open a window (needs a display). Keys: arrows = left stick, IJKL = right stick,
    Space/Z X C V = south east west north, Q/E = shoulders, 1/3 = triggers, WASD = d-pad,
    Tab/Return = back/start, Escape = quit.

    With --live, play the live game in its own window as usual; its frames and your keyboard (mapped
    through the game's catalog keys) or controller are recorded. END-KEY ends an episode, STOP-KEY
    saves it and stops, Ctrl-C stops and drops the episode in progress.
    """
    if live:
        if record_dir is None:
            raise click.UsageError("--live records a game you play in its own window; add --record DIR")
        _record_live_game(
            game, record_dir, episodes, max_steps, fps, display, launch, obs_size, end_key, stop_key, no_controller
        )
        return
    episodes = episodes or 1
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


def _record_live_game(
    game: str,
    folder: Path,
    episodes: int | None,
    max_steps: int | None,
    fps: int | None,
    display: str | None,
    launch: bool,
    obs_size: int,
    end_key: str,
    stop_key: str,
    no_controller: bool,
) -> None:
    """``nitrogen play --live``: capture the game, read the person's input, write the dataset."""
    import gymnasium as gym

    from nitrogen_datasets.live_record import record_live
    from nitrogen_datasets.writer import DatasetWriter, WriterConfig
    from nitrogen_envs.live import register_live_games
    from nitrogen_envs.live.catalog import get_live_game
    from nitrogen_envs.live.errors import BackendUnavailable
    from nitrogen_envs.live.human import LiveHumanInput, PhysicalGamepad, system_key_state

    pad = human = None
    try:
        spec = get_live_game(game)
        register_live_games()
        key_table = spec.key_table() if spec.keys else None
        if not no_controller:
            try:
                pad = PhysicalGamepad()
            except BackendUnavailable as err:
                if key_table is None:
                    raise click.ClickException(
                        f"{spec.id} is played with a gamepad and has no keyboard map in the catalog, so only a "
                        f"controller can be recorded: {err}"
                    ) from err
        human = LiveHumanInput(key_table, system_key_state(display), pad, end_key=end_key, stop_key=stop_key)
        options: dict[str, Any] = {
            "display": display,
            "launch": True if launch else None,
            "obs_size": obs_size,
            "dry_run": True,
        }
        if fps is not None:
            options["fps"] = fps
        env = gym.make(spec.env_id, **options)
        live_fps = float(env.unwrapped.metadata["render_fps"])  # LiveEnv's control rate, set from its fps
    except (NitroGenError, ValueError) as err:
        # Release the controller and the key-state connection opened before the failure.
        if human is not None:
            human.close()
        elif pad is not None:
            pad.close()
        raise click.ClickException(str(err)) from err
    unit = "episodes" if episodes is None else f"{episodes} episode(s)"
    click.echo(
        f"recording {spec.id} into {folder} ({unit}, {live_fps:g} frames/s, "
        f"{'controller + ' if pad else ''}{'keyboard' if key_table else 'no keyboard'}): play in the game window; "
        f"{end_key.upper()} ends an episode, {stop_key.upper()} saves it and stops, Ctrl-C drops it and stops"
    )
    report = lambda entry: click.echo(f"saved episode {entry.episode_index}: {entry.length} frames")  # noqa: E731
    try:
        with DatasetWriter(folder, WriterConfig(fps=round(live_fps))) as writer:
            stats = record_live(env, human, writer, episodes=episodes, max_steps=max_steps, on_episode=report)
    except KeyboardInterrupt:
        click.echo(f"stopped; finished episodes are kept in {folder}")
        return
    finally:
        human.close()
        env.close()
    click.echo(f"recorded {len(stats.episodes)} episodes ({stats.steps} frames) into {folder}")
