"""The leaderboard server: FastAPI app, SQLAlchemy models, Alembic migrations (behind the ``leaderboard`` extra).

``create_app(ServerSettings(...))`` (:mod:`.app`) builds the app; :mod:`.db` holds the models and every
operation the worker and the page need; :mod:`.settings` every limit.
"""
