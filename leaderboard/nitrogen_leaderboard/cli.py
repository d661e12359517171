"""``nitrogen eval``: run a leaderboard protocol with one agent and write a results file.

Usage::

    nitrogen eval --agent random --protocol unseen-v1 --out results.json
    nitrogen eval --agent nitrogen-s-procgen6 --workers 2 --out results.json      # resumable: re-run after a kill
    nitrogen eval --agent runs/ppo_breakout --tasks Breakout/score --episodes 3 --out quick.json
    PYTHONPATH=. nitrogen eval --agent my_agent:make --out mine.json             # module:callable
"""

from __future__ import annotations

from pathlib import Path

import click

from nitrogen_leaderboard.protocol import DEFAULT_PROTOCOL, TEST_SECRET_ENV
from nitrogen_leaderboard.schema import SEED_SETS, TRACKS


@click.command("eval")
@click.option(
    "--agent",
    "agent_spec",
    required=True,
    help="'random', a NitroGen name/folder/Hub id, an SB3 baseline folder, or module:callable.",
)
@click.option("--protocol", "protocol_name", default=DEFAULT_PROTOCOL, show_default=True, help="Name or JSON file.")
@click.option("--track", default="zero-shot", show_default=True, type=click.Choice(TRACKS))
@click.option("--seeds", "seed_set", default="dev", show_default=True, type=click.Choice(SEED_SETS))
@click.option("--secret", default=None, help=f"Test-seed secret (servers only; default: ${TEST_SECRET_ENV}).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Parallel processes.")
@click.option("--ray", "use_ray", is_flag=True, help="Run episodes as Ray tasks (RAY_ADDRESS picks a cluster).")
@click.option("--tasks", multiple=True, metavar="GAME/TASK", help="Only these tasks (repeatable; not rankable).")
@click.option("--episodes", default=None, type=click.IntRange(min=1), help="Fewer episodes per task (not rankable).")
@click.option("--max-steps", default=None, type=click.IntRange(min=1), help="Lower step cap (not rankable).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Results JSON file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def eval_command(
    agent_spec: str,
    protocol_name: str,
    track: str,
    seed_set: str,
    secret: str | None,
    workers: int,
    use_ray: bool,
    tasks: tuple[str, ...],
    episodes: int | None,
    max_steps: int | None,
    out: Path,
    quiet: bool,
) -> None:
    """Evaluate an agent on a leaderboard protocol; per-episode results go to --out, the summary to stdout.

    Resumable: each finished task is kept in OUT.partial/, and the same command after a kill plays only the
    missing tasks.
    """
    from nitrogen_leaderboard.metrics import format_summary, summarize
    from nitrogen_leaderboard.protocol import load_protocol, resolve_secret
    from nitrogen_leaderboard.runner import run_protocol

    protocol = load_protocol(protocol_name)
    if tasks or episodes is not None or max_steps is not None:
        protocol = protocol.restricted(tasks=list(tasks) or None, episodes_per_task=episodes, max_steps=max_steps)
        click.echo("note: a run restricted by --tasks/--episodes/--max-steps is not accepted for ranking", err=True)
    secret = resolve_secret(secret) if seed_set == "test" else None
    if seed_set == "test" and secret is None:
        raise click.ClickException(
            f"--seeds test needs the server's secret: pass --secret or set {TEST_SECRET_ENV} "
            "(test seeds are private to the leaderboard server; evaluate on --seeds dev)"
        )
    results = run_protocol(
        agent_spec,
        protocol,
        track=track,
        seed_set=seed_set,
        secret=secret,
        workers=workers,
        out=out,
        progress=not quiet,
        use_ray=use_ray,
    )
    click.echo(format_summary(summarize(results.episodes)))
    click.echo(f"results: {out} ({len(results.episodes)} episodes, {results.wall_time_s:.1f} s)")
