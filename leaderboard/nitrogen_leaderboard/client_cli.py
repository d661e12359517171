"""The leaderboard's client commands: ``nitrogen submit`` and ``nitrogen board``.

``submit`` sends a results file (and optionally the evaluated weights) to a leaderboard server; ``board`` reads a
track's ranking from one.

Usage::

    nitrogen submit results.json --server https://lb.example.org --token TOKEN [--weights CHECKPOINT_DIR]
    nitrogen board unseen-v1 zero-shot --server https://lb.example.org [--limit 20 --offset 20] [--all] [--json]

Submitting is safe to run again after any failure: the server keeps one entry per content. Reading needs no token.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from nitrogen_envs.text_table import text_table
from nitrogen_leaderboard.client import (
    BOARD_ROWS,
    BOARD_TIMEOUT_S,
    RETRIES,
    SUBMIT_TIMEOUT_S,
    TOKEN_ENV,
    Board,
    read_board,
    submit,
)


@click.command("submit")
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--server", required=True, metavar="URL", help="The leaderboard's base URL.")
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    required=True,
    help=f"Your token from `nitrogen leaderboard add-user` (or ${TOKEN_ENV}, which keeps it out of shell history).",
)
@click.option(
    "--weights",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Checkpoint folder (config.json + model.safetensors) so the server can verify the entry.",
)
@click.option("--timeout", "timeout_s", default=SUBMIT_TIMEOUT_S, show_default=True, help="Seconds per request.")
@click.option(
    "--retries",
    default=RETRIES,
    show_default=True,
    type=click.IntRange(0, 10),
    help="Attempts after a connection error, 429 or 5xx (safe: the server keeps one entry per content).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def submit_command(
    results: Path, server: str, token: str, weights: Path | None, timeout_s: float, retries: int, as_json: bool
) -> None:
    """Submit RESULTS (from `nitrogen eval`) to a leaderboard server."""
    answer = submit(results, server, token, weights=weights, timeout_s=timeout_s, retries=retries)
    if as_json:
        click.echo(json.dumps(answer.__dict__))
        return
    verb = "submitted as" if answer.created else "already submitted:"
    score = "" if answer.score is None else f", IQM {answer.score:.3f}"
    click.echo(f"{verb} entry {answer.entry_id} ({answer.status}{score}): {answer.url}")


@click.command("board")
@click.argument("protocol")
@click.argument("track")
@click.option("--server", required=True, metavar="URL", help="The leaderboard's base URL.")
@click.option("--limit", default=BOARD_ROWS, show_default=True, type=click.IntRange(1, 500), help="Entries to show.")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0), help="Ranks to skip.")
@click.option(
    "--all", "include_unverified", is_flag=True, help="Include entries the server has not verified (self-reported)."
)
@click.option("--timeout", "timeout_s", default=BOARD_TIMEOUT_S, show_default=True, help="Seconds per request.")
@click.option(
    "--retries", default=RETRIES, show_default=True, type=click.IntRange(0, 10), help="Attempts after a failure."
)
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
def board_command(
    protocol: str,
    track: str,
    server: str,
    limit: int,
    offset: int,
    include_unverified: bool,
    timeout_s: float,
    retries: int,
    as_json: bool,
) -> None:
    """Show the ranking of PROTOCOL's TRACK (e.g. unseen-v1 zero-shot) on a leaderboard server."""
    page = read_board(
        server,
        protocol,
        track,
        limit=limit,
        offset=offset,
        include_unverified=include_unverified,
        timeout_s=timeout_s,
        retries=retries,
    )
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(page)))
        return
    for line in format_board(page):
        click.echo(line)


def format_board(page: Board) -> list[str]:
    """The page as a heading and an aligned table (interquartile mean and its 95% bootstrap interval)."""
    which = "all entries" if page.include_unverified else "verified entries"
    if not page.entries:
        return [f"{page.protocol} / {page.track}: no {which} at ranks {page.offset + 1} on (of {page.total})"]
    first, last = page.entries[0].rank, page.entries[-1].rank
    header = ["rank", "id", "agent", "submitter", "status", "IQM", "95% interval", "params"]
    rows = []
    for entry in page.entries:
        interval = (
            "-"
            if entry.score_low is None or entry.score_high is None
            else f"[{entry.score_low:.3f}, {entry.score_high:.3f}]"
        )
        rows.append(
            [
                str(entry.rank),
                str(entry.entry_id),
                entry.agent_name,
                entry.submitter,
                entry.status,
                "-" if entry.score is None else f"{entry.score:.3f}",
                interval,
                "-" if entry.num_parameters is None else f"{entry.num_parameters:,}",
            ]
        )
    table = [line.rstrip() for line in text_table(header, rows)]
    return [f"{page.protocol} / {page.track}: ranks {first}-{last} of {page.total} ({which})", *table]
