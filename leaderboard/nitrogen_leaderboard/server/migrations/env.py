"""Alembic environment: runs on the connection :func:`nitrogen_leaderboard.server.db.upgrade` passes in.

No ``alembic.ini`` is needed: the app, ``nitrogen leaderboard migrate`` and the tests all go through the
Python API with the engine they already have.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from nitrogen_leaderboard.server.db import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Migrate on the connection given in ``config.attributes``, else on ``sqlalchemy.url``."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as own:
            _run(own)
        return
    _run(connection)


def _run(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `nitrogen leaderboard migrate`")
run_migrations_online()
