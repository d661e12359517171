"""``nitrogen leaderboard``: run the server, create submitter tokens, migrate the database.

Usage::

    nitrogen leaderboard add-user alice             # prints alice's token once (only its hash is stored)
    nitrogen leaderboard serve --port 8000          # SQLite in ~/.local/share/nitrogen/leaderboard
    nitrogen leaderboard serve --db postgresql+psycopg://lb@/lb?host=/run/postgresql
    nitrogen leaderboard migrate --db URL           # apply the Alembic migrations and print the revision

Every command takes ``--db URL`` and ``--data-dir DIR`` (or ``$NITROGEN_LEADERBOARD_DB`` /
``$NITROGEN_LEADERBOARD_DIR``), so ``add-user`` and ``serve`` find the same database. Other commands of the
group (the verification worker, baseline seeding) are added with ``leaderboard.add_command``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from nitrogen_leaderboard.server.settings import (
    DATA_DIR_ENV,
    DB_URL_ENV,
    GIB,
    MIB,
    RERUN_CPU_HOURS,
    RERUN_MEMORY_GB,
    RERUN_THREADS,
    RERUN_WALL_HOURS,
    ServerSettings,
)

if TYPE_CHECKING:
    from nitrogen_leaderboard.worker import RerunLimits

F = TypeVar("F", bound=Callable[..., Any])


def database_options(function: F) -> F:
    """``--db`` and ``--data-dir``, shared by every command that opens the database."""
    function = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Data folder: SQLite file and uploaded weights (default: ${DATA_DIR_ENV} or ~/.local/share/nitrogen/leaderboard).",
    )(function)
    return click.option(
        "--db",
        "db_url",
        default=None,
        metavar="URL",
        help=f"SQLAlchemy database URL (default: ${DB_URL_ENV}, else sqlite:///DATA_DIR/leaderboard.db).",
    )(function)


def rerun_limit_options(function: F) -> F:
    """``--cpu-hours``, ``--memory-gb``, ``--wall-hours``, ``--threads``: the limits of each verification re-run.

    One definition for ``worker`` and ``serve`` (its in-process worker); :func:`limits_from` reads them.
    """
    options = [
        click.option(
            "--cpu-hours",
            type=click.FloatRange(min=0.001),
            default=RERUN_CPU_HOURS,
            show_default=True,
            help="CPU limit per re-run.",
        ),
        click.option(
            "--memory-gb",
            type=click.FloatRange(min=0.5),
            default=RERUN_MEMORY_GB,
            show_default=True,
            help="Memory limit per re-run.",
        ),
        click.option(
            "--wall-hours",
            type=click.FloatRange(min=0.001),
            default=RERUN_WALL_HOURS,
            show_default=True,
            help="Wall-time limit per re-run.",
        ),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            default=RERUN_THREADS,
            show_default=True,
            help="torch threads per re-run.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def limits_from(cpu_hours: float, memory_gb: float, wall_hours: float, threads: int) -> RerunLimits:
    """The :class:`~nitrogen_leaderboard.worker.RerunLimits` of :func:`rerun_limit_options`' values."""
    from nitrogen_leaderboard.worker import RerunLimits

    return RerunLimits(
        cpu_s=max(1, round(cpu_hours * 3600)),
        memory_bytes=round(memory_gb * GIB),
        wall_s=wall_hours * 3600,
        threads=threads,
    )


def settings_from(db_url: str | None, data_dir: Path | None, **limits: Any) -> ServerSettings:
    """Settings from the shared options; unset ones keep :class:`ServerSettings`' defaults."""
    given = {key: value for key, value in limits.items() if value is not None}
    if data_dir is not None:
        given["data_dir"] = data_dir
    return ServerSettings(db_url=db_url, **given)


@click.group()
def leaderboard() -> None:
    """The leaderboard server: serve, add submitters, migrate the database."""


@leaderboard.command()
@database_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--max-body-mb", type=click.IntRange(min=1), default=None, help="Largest results body (default 32).")
@click.option(
    "--max-weights-mb", type=click.IntRange(min=1), default=None, help="Largest weights upload (default 2048)."
)
@click.option(
    "--rate-limit", type=click.IntRange(min=1), default=None, help="Requests per token per minute (default 120)."
)
@click.option(
    "--protocol-file",
    "protocol_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="An extra protocol JSON file to rank (repeatable; the shipped protocols are always there).",
)
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Verify uploaded weights in this process (off: run `nitrogen leaderboard worker` separately).",
)
@rerun_limit_options
@click.option("--log-level", type=click.Choice(["debug", "info", "warning"]), default="info", show_default=True)
def serve(
    db_url: str | None,
    data_dir: Path | None,
    host: str,
    port: int,
    max_body_mb: int | None,
    max_weights_mb: int | None,
    rate_limit: int | None,
    protocol_files: tuple[Path, ...],
    verify: bool,
    cpu_hours: float,
    memory_gb: float,
    wall_hours: float,
    threads: int,
    log_level: str,
) -> None:
    """Run the leaderboard server (JSON logs on stderr; OpenAPI spec at /openapi.json).

    With --verify (the default) a worker in this process re-runs pending entries under the re-run limits
    (--cpu-hours, --memory-gb, --wall-hours, --threads, as for `nitrogen leaderboard worker`).
    """
    import uvicorn

    from nitrogen_leaderboard.server.app import create_app
    from nitrogen_leaderboard.server.logs import configure_json_logging

    settings = settings_from(
        db_url,
        data_dir,
        max_body_bytes=max_body_mb * MIB if max_body_mb else None,
        max_weights_bytes=max_weights_mb * MIB if max_weights_mb else None,
        rate_limit_requests=rate_limit,
        protocol_files=protocol_files or None,
        verify_in_process=verify,
    )
    limits = limits_from(cpu_hours, memory_gb, wall_hours, threads)
    level = getattr(logging, log_level.upper())
    configure_json_logging(level)
    app = create_app(settings)
    logging.getLogger(__name__).info("serving", extra={"host": host, "port": port, "database": _safe_url(settings)})
    background = None
    if settings.verify_in_process:
        from nitrogen_leaderboard.worker import start_background_worker

        background = start_background_worker(settings, limits=limits)
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, log_level=log_level)
    finally:
        if background is not None:
            background.stop()  # kills a re-run in flight; its entry stays pending


@leaderboard.command("add-user")
@database_options
@click.argument("name")
def add_user(db_url: str | None, data_dir: Path | None, name: str) -> None:
    """Create submitter NAME and print their token (shown only this once; the database keeps its hash)."""
    from nitrogen_leaderboard.server import db

    settings = settings_from(db_url, data_dir)
    engine = db.make_engine(settings)
    try:
        db.upgrade(engine)
        with db.make_sessionmaker(engine)() as session:
            try:
                token = db.add_user(session, name)
            except ValueError as err:
                raise click.BadParameter(str(err), param_hint="NAME") from err
    finally:
        engine.dispose()
    click.echo(token)
    click.echo(f"token of {name!r} printed above; it is not stored and cannot be shown again", err=True)


@leaderboard.command()
@database_options
def migrate(db_url: str | None, data_dir: Path | None) -> None:
    """Apply the database migrations (the server also does this when it starts) and print the revision."""
    from nitrogen_leaderboard.server import db

    settings = settings_from(db_url, data_dir)
    engine = db.make_engine(settings)
    try:
        db.upgrade(engine)
        click.echo(f"{_safe_url(settings)} is at revision {db.current_revision(engine)}")
    finally:
        engine.dispose()


def _safe_url(settings: ServerSettings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


# The verification worker and baseline seeding live in their own module (LB3); registered here so the group lists them.
from nitrogen_leaderboard.worker_cli import seed_baselines, worker  # noqa: E402

leaderboard.add_command(worker)
leaderboard.add_command(seed_baselines)
