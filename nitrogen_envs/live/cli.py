"""``nitrogen live``: commands for live games (the root CLI table's ``live`` row imports this when run).

Usage::

    nitrogen live games                  list the live-game catalog
    nitrogen live cleanup [--keep-games] release stuck keys, resume/stop games we launched
"""

from __future__ import annotations

import click


@click.group()
def live() -> None:
    """Live games: drive a running game through screen capture and a virtual gamepad."""


@live.command()
@click.option("--keep-games", is_flag=True, help="Only resume suspended games we launched; do not stop them.")
@click.option("--no-keys", is_flag=True, help="Do not release held keys.")
@click.option("--display", default=None, help="X display (Linux); default $DISPLAY.")
def cleanup(keep_games: bool, no_keys: bool, display: str | None) -> None:
    """Remove leftovers of a crashed session: stuck keys and games we launched (frozen or running)."""
    from nitrogen_envs.live.cleanup import CleanupConfig
    from nitrogen_envs.live.cleanup import cleanup as run_cleanup

    for line in run_cleanup(CleanupConfig(release_keys=not no_keys, stop_games=not keep_games, display=display)):
        print(line)


@live.command()
def games() -> None:
    """List the live-game catalog (packaged plus $NITROGEN_LIVE_CATALOG)."""
    from nitrogen_envs.live.catalog import load_catalog

    for spec in load_catalog().values():
        print(f"{spec.env_id:32} {spec.input:8} {spec.fps:3} fps  {'/'.join(spec.platforms):14} {spec.title}")
