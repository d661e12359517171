"""``nitrogen list``, ``nitrogen info`` and ``nitrogen rollout``: thin wrappers over library functions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nitrogen_envs.errors import NitroGenError
from nitrogen_envs.registry import GENRES, GameSpec, all_games, get_game

ENGINE_EXTRAS = {"procgen": "procgen", "ale": "atari", "vizdoom": "vizdoom", "crafter": "crafter"}


def games_markdown(games: tuple[GameSpec, ...]) -> str:
    """The README games table (generated, so it never goes stale)."""
    lines = [
        f"{len(games)} games, {sum(len(g.tasks) for g in games)} tasks.",
        "",
        "| Env id | Genre | Engine (extra) | Tasks | Save states | Description |",
        "|---|---|---|---|---|---|",
    ]
    for game in games:
        tasks = (
            ", ".join(f"`{t.name}`" for t in game.tasks) if len(game.tasks) <= 4 else f"{len(game.tasks)} achievements"
        )
        extra = ENGINE_EXTRAS[game.engine]
        lines.append(
            f"| `{game.env_id}` | {game.genre} | {game.engine} (`{extra}`) | {tasks} | "
            f"{'yes' if game.save_states else 'no'} | {game.description} |"
        )
    return "\n".join(lines)


@click.command("list")
@click.option("--markdown", is_flag=True, help="Print the Markdown table used in the README.")
@click.option("--genre", type=click.Choice(GENRES), help="Only games of this genre.")
@click.option("--engine", type=click.Choice(sorted(ENGINE_EXTRAS)), help="Only games of this engine.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_games(markdown: bool, genre: str | None, engine: str | None, as_json: bool) -> None:
    """List games, tasks and genres."""
    games = tuple(
        g for g in all_games() if (genre is None or g.genre == genre) and (engine is None or g.engine == engine)
    )
    if markdown:
        click.echo(games_markdown(games))
        return
    if as_json:
        rows = [
            {"id": g.env_id, "genre": g.genre, "engine": g.engine, "tasks": [t.name for t in g.tasks]} for g in games
        ]
        click.echo(json.dumps(rows, indent=1))
        return
    width = max(len(g.env_id) for g in games) if games else 10
    for game in games:
        tasks = ",".join(t.name for t in game.tasks) if len(game.tasks) <= 4 else f"{len(game.tasks)} tasks (see info)"
        click.echo(f"{game.env_id:<{width}}  {game.genre:<20} {game.engine:<8} {tasks}")
    click.echo(f"\n{len(games)} games, {sum(len(g.tasks) for g in games)} tasks")


def _mapping_rows(game: GameSpec) -> list[tuple[str, str, str]] | None:
    """Build the env to read its mapping table; ``None`` when its engine is not installed."""
    import gymnasium as gym

    from nitrogen_envs.base import unwrap

    try:
        env = gym.make(game.env_id, obs_size=64)
    except NitroGenError:
        return None
    try:
        return unwrap(env).mapping_rows()
    finally:
        env.close()


@click.command()
@click.argument("game")
@click.option("--no-mapping", is_flag=True, help="Skip building the env to print its action mapping.")
def info(game: str, no_mapping: bool) -> None:
    """Show GAME's tasks, success criteria, mapping table and settings."""
    try:
        spec = get_game(game)
    except NitroGenError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{spec.env_id}: {spec.description}")
    click.echo(
        f"  engine: {spec.engine} (pip install 'nitrogen-gym[{ENGINE_EXTRAS[spec.engine]}]'), genre: {spec.genre}"
    )
    click.echo(
        f"  step cap: {spec.max_episode_steps}, fps: {spec.native_fps}, save states: {'yes' if spec.save_states else 'no'}"
    )
    click.echo("  tasks (first is the default):")
    for task in spec.tasks:
        reference = f"  [1.0 = {task.expert_score} ({task.expert_source})]" if task.expert_score is not None else ""
        click.echo(f"    {task.name}: {task.success}{reference}")
    rows = None if no_mapping else _mapping_rows(spec)
    if rows:
        click.echo("  gamepad -> native actions:")
        for index, name, description in rows:
            click.echo(f"    {index:>3}  {name:<20} {description}")
    elif not no_mapping:
        click.echo(f"  (install the '{ENGINE_EXTRAS[spec.engine]}' extra to see the action mapping)")


@click.command()
@click.argument("game")
@click.option("--task", default=None, help="Task name (default: the game's first task).")
@click.option("--steps", default=500, show_default=True, type=click.IntRange(min=1), help="Env steps to play.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--agent", default="random", show_default=True, type=click.Choice(["random", "noop"]))
@click.option("--obs-size", default=256, show_default=True, type=click.IntRange(8, 4096))
@click.option("--video", type=click.Path(dir_okay=False, path_type=Path), help="Write the frames to this .mp4.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (no progress bar).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def rollout(
    game: str,
    task: str | None,
    steps: int,
    seed: int,
    agent: str,
    obs_size: int,
    video: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Play GAME for a number of steps and print the score."""
    from nitrogen_envs.rollout import RolloutConfig, run_rollout

    try:
        config = RolloutConfig(
            game=game,
            task=task,
            steps=steps,
            seed=seed,
            agent=agent,
            obs_size=obs_size,
            video=video,
            progress=not (quiet or as_json),
        )
        result = run_rollout(config)
    except (NitroGenError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1))
        return
    click.echo(f"{result.game}/{result.task}: {len(result.episode_returns)} finished episodes in {result.steps} steps")
    for i, episode_return in enumerate(result.episode_returns):
        normalized = f", normalized {result.normalized[i]:.3f}" if i < len(result.normalized) else ""
        click.echo(f"  episode {i + 1}: return {episode_return:.2f}, success {result.successes[i]}{normalized}")
    click.echo(f"  unfinished episode: return {result.partial_return:.2f}")
    if result.video:
        click.echo(f"video: {result.video}")
    score = (
        sum(result.episode_returns) / len(result.episode_returns) if result.episode_returns else result.partial_return
    )
    click.echo(f"score: {score:.2f}")
