"""Alembic migrations of the leaderboard database, run through :func:`nitrogen_leaderboard.server.db.upgrade`."""
