"""``nitrogen leaderboard worker`` and ``nitrogen leaderboard seed-baselines`` (registered on the group in server_cli).

Usage::

    nitrogen leaderboard worker --once                # verify every pending entry, then exit
    nitrogen leaderboard worker                       # keep polling (a separate process beside `serve`)
    nitrogen leaderboard seed-baselines --tasks Maze/hard --tasks BigFish/easy --episodes 3 --max-steps 200
    nitrogen leaderboard seed-baselines --server URL --token TOKEN   # file them on a remote server instead
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import click

from nitrogen_leaderboard.baselines import TRAIN_BATCH, TRAIN_STEPS
from nitrogen_leaderboard.schema import TRACK_DEMOS
from nitrogen_leaderboard.server_cli import database_options, limits_from, rerun_limit_options, settings_from


@click.command()
@database_options
@click.option("--once", is_flag=True, help="Verify what is pending now, then exit (default: keep polling).")
@click.option("--poll-s", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="Polling interval.")
@rerun_limit_options
@click.option(
    "--protocol-file",
    "protocol_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="An extra protocol the server ranks (give the same files as to `serve`).",
)
@click.option("-q", "--quiet", is_flag=True, help="Only print the final line.")
def worker(
    db_url: str | None,
    data_dir: Path | None,
    once: bool,
    poll_s: float,
    cpu_hours: float,
    memory_gb: float,
    wall_hours: float,
    threads: int,
    protocol_files: tuple[Path, ...],
    quiet: bool,
) -> None:
    """Re-run pending entries' weights on the secret test seeds and mark them verified or reproduced-low.

    The test-seed secret comes from $NITROGEN_LEADERBOARD_TEST_SECRET, else from the file the server's data
    folder keeps (generated on first use). Each re-run is a child process with CPU, memory and time limits.
    """
    from nitrogen_leaderboard.worker import summary_line, verify_pending

    if not quiet:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = settings_from(db_url, data_dir, protocol_files=protocol_files or None)
    limits = limits_from(cpu_hours, memory_gb, wall_hours, threads)
    try:
        outcomes = verify_pending(settings, once=once, limits=limits, poll_s=poll_s)
    except KeyboardInterrupt:
        raise click.Abort() from None
    click.echo(summary_line(outcomes))


@click.command("seed-baselines")
@database_options
@click.option("--protocol", default="unseen-v1", show_default=True, help="Protocol name or JSON file.")
@click.option("--tasks", "tasks", multiple=True, metavar="GAME/TASK", help="Keep only these tasks (repeatable).")
@click.option(
    "--episodes", type=click.IntRange(min=1), default=None, help="Episodes per task (default: the protocol's)."
)
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Step cap per episode.")
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Run only these baselines: random, nitrogen-s-procgen6, fine-tuned, from-scratch (repeatable).",
)
@click.option(
    "--tracks",
    "tracks",
    multiple=True,
    metavar="TRACK",
    help="File baselines only on these tracks (repeatable; default: every track of the protocol).",
)
@click.option(
    "--steps",
    "train_steps",
    type=click.IntRange(min=1),
    default=TRAIN_STEPS,
    show_default=True,
    help="Training steps of each fine-tuned and from-scratch baseline.",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=TRAIN_BATCH, show_default=True, help="Training batch size."
)
@click.option(
    "--scratch-demos",
    type=click.IntRange(min=1),
    default=TRACK_DEMOS["from-scratch"],
    show_default=True,
    help="Demonstrations per task of the from-scratch baseline (lower only for a quick variant).",
)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Parallel envs.")
@click.option(
    "--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Keep the results files here."
)
@click.option("--server", default=None, metavar="URL", help="File on this server over HTTP instead of into --db.")
@click.option("--token", envvar="NITROGEN_LEADERBOARD_TOKEN", default=None, help="Token for --server.")
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Run the verification worker once after filing (local only).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def seed_baselines(
    db_url: str | None,
    data_dir: Path | None,
    protocol: str,
    tasks: tuple[str, ...],
    episodes: int | None,
    max_steps: int | None,
    only: tuple[str, ...],
    tracks: tuple[str, ...],
    train_steps: int,
    batch_size: int,
    scratch_demos: int,
    workers: int,
    out_dir: Path | None,
    server: str | None,
    token: str | None,
    verify: bool,
    quiet: bool,
) -> None:
    """Produce and evaluate the baselines of every track and file them as entries.

    random (zero-shot, from-scratch), nitrogen-s-procgen6 (zero-shot), nitrogen-s-procgen6 fine-tuned on k
    expert demonstrations per task (fine-tuned-k) and the same architecture trained from scratch on 20
    (from-scratch); demonstrations are collected on seeds 0..k-1 of every task, each trained model is one
    weights file for all tasks, and weights go through the upload checks so the worker verifies them.

    Restricting options (--tasks, --episodes, --max-steps) run a quick variant named PROTOCOL-quick. Locally it
    is written to the data folder's protocols/ so the server ranks it; a remote server must be started with it
    as --protocol-file.
    """
    from nitrogen_leaderboard.baselines import (
        BaselineOptions,
        evaluate_baselines,
        file_locally,
        filed_baselines,
        write_protocol,
    )

    if server is not None and token is None:
        raise click.UsageError("--server needs --token (or $NITROGEN_LEADERBOARD_TOKEN)")
    options = BaselineOptions(
        protocol=protocol,
        tasks=tasks or None,
        episodes_per_task=episodes,
        max_steps=max_steps,
        workers=workers,
        only=only or None,
        tracks=tracks or None,
        train_steps=train_steps,
        batch_size=batch_size,
        scratch_demos=scratch_demos,
    )
    settings = settings_from(db_url, data_dir)
    with tempfile.TemporaryDirectory(prefix="nitrogen-baselines-") as scratch:
        folder = out_dir or Path(scratch)
        skip = filed_baselines(settings, options.build_protocol().name) if server is None else set()
        board, runs = evaluate_baselines(options, folder, progress=not quiet, log=click.echo, skip=skip)
        if server is not None:
            from nitrogen_leaderboard.client import submit

            for run in runs:
                answer = submit(run.results, server, token or "", weights=run.weights)
                click.echo(f"{run.baseline} ({run.track}): entry {answer.entry_id}, {answer.status}")
            if options.restricted:
                click.echo(f"the server must rank {board.name}: start it with --protocol-file for that protocol")
            return
        if options.restricted:
            click.echo(f"protocol {board.name} written to {write_protocol(board, settings.protocol_dir)}")
        for run, entry_id, status in file_locally(settings, runs):
            click.echo(f"{run.baseline} ({run.track}): entry {entry_id}, {status}")
    if verify:
        from nitrogen_leaderboard.worker import summary_line, verify_pending

        click.echo("verifying: " + summary_line(verify_pending(settings, once=True)))
