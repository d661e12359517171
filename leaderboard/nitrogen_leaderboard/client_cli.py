"""``nitrogen submit``: send a results file (and optionally the evaluated weights) to a leaderboard server.

Usage::

    nitrogen submit results.json --server https://lb.example.org --token TOKEN [--weights CHECKPOINT_DIR]

Safe to run again after any failure: the server keeps one entry per content.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from nitrogen_leaderboard.client import TOKEN_ENV, submit


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
@click.option("--timeout", "timeout_s", default=300.0, show_default=True, help="Seconds per request.")
@click.option(
    "--retries",
    default=3,
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
