"""Database: SQLAlchemy 2 models, the engine, Alembic migrations and the operations on entries.

An SQLite file by default, PostgreSQL through a URL (``postgresql+psycopg://user@host/db``); the schema is
created only by the Alembic migrations in ``migrations/`` (:func:`upgrade`), never by ``create_all``, so a
deployed database and a fresh one are always the same.

For the verification worker and the page (they call these, never raw SQL):

- :func:`make_engine` / :func:`make_sessionmaker`: open the database of :class:`~.settings.ServerSettings`.
- :func:`claim_pending` ``(session, lease_s) -> Entry | None``: take the oldest entry whose weights wait
  for verification (a claim lasts ``lease_s``; a crashed worker's claim expires).
- :func:`record_verification` ``(session, entry_id, status, rerun, note)``: store the re-run on the test
  seeds and set ``verified`` or ``reproduced-low``.
- :func:`record_failure` ``(session, entry_id, note)``: the re-run could not finish; status ``failed``.
- :func:`weights_folder` ``(settings, entry) -> Path``: the entry's ``config.json`` + ``model.safetensors``.
- :func:`list_entries` ``(session, protocol, track, include_all)``: ranked entries of one track.
- :func:`list_scores` / :func:`entries_by_id`: the same ranking from three score columns per entry, and whole
  entries for one page of it (what the board listing and page use).
- :func:`insert_results` ``(session, user, results) -> (entry, created)``: store a results file (baselines).
- :func:`add_user` ``(session, name) -> token``: a submitter and their token (only its hash is stored).
- :attr:`Entry.results` / :attr:`Entry.summary` / :attr:`Entry.rerun` / :attr:`Entry.rerun_summary`:
  the stored JSON, parsed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
from dataclasses import asdict, dataclass, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, defer, mapped_column, relationship, sessionmaker

from nitrogen_envs.errors import NitroGenError
from nitrogen_leaderboard.schema import ResultsFile, builtin_agent_spec, parse_results
from nitrogen_leaderboard.server.settings import ServerSettings

logger = logging.getLogger(__name__)

UNVERIFIED = "unverified"
"""No weights came with the results (and the agent is not built in): listed only with ``?all=true``."""
PENDING = "pending"
"""Waiting for the worker to re-run on the test seeds: weights came and passed the checks, or the agent is
built in (``random``, see :func:`~nitrogen_leaderboard.schema.builtin_agent_spec`)."""
VERIFIED = "verified"
"""The re-run on the test seeds agrees with the self-reported dev score within their intervals."""
REPRODUCED_LOW = "reproduced-low"
"""The re-run scored below the self-reported interval."""
FAILED = "failed"
"""The worker could not re-run the weights (a limit hit, weights that do not load); the note says why."""
STATUSES = (UNVERIFIED, PENDING, VERIFIED, REPRODUCED_LOW, FAILED)
FINAL_STATUSES = (VERIFIED, REPRODUCED_LOW)
MAX_USER_NAME = 64
TOKEN_PREFIX = "ngl_"
"""Tokens start with this, so a leaked one is easy to recognise (and to grep for)."""


class DatabaseError(NitroGenError):
    """The database cannot be opened or migrated; the message names the URL (without its password)."""


class UserExists(NitroGenError):
    """``add-user`` with a name that already has a token."""


def utcnow() -> dt.datetime:
    """Timezone-aware now (stored as UTC)."""
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the leaderboard tables (times are stored with their time zone, UTC)."""

    type_annotation_map = {dt.datetime: DateTime(timezone=True)}  # noqa: RUF012 (SQLAlchemy reads it)


class User(Base):
    """A submitter. ``token_hash`` is the sha256 of their token; the token itself is never stored."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_USER_NAME), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    entries: Mapped[list[Entry]] = relationship(back_populates="user")


class Entry(Base):
    """One submitted results file, its summary, its verification status and (maybe) its weights."""

    __tablename__ = "entries"
    __table_args__ = (Index("ix_entries_board", "protocol", "track", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    protocol: Mapped[str] = mapped_column(String(200))
    track: Mapped[str] = mapped_column(String(32))
    seed_set: Mapped[str] = mapped_column(String(16))
    agent_name: Mapped[str] = mapped_column(String(200))
    claimed_weights_sha256: Mapped[str | None] = mapped_column(String(64))
    num_parameters: Mapped[int | None] = mapped_column(BigInteger)
    results_json: Mapped[str] = mapped_column(Text)
    summary_json: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None]
    score_low: Mapped[float | None]
    score_high: Mapped[float | None]
    status: Mapped[str] = mapped_column(String(16), default=UNVERIFIED)
    weights_sha256: Mapped[str | None] = mapped_column(String(64))
    weights_bytes: Mapped[int | None] = mapped_column(BigInteger)
    claimed_at: Mapped[dt.datetime | None]
    verified_at: Mapped[dt.datetime | None]
    rerun_json: Mapped[str | None] = mapped_column(Text)
    rerun_summary_json: Mapped[str | None] = mapped_column(Text)
    verification_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="entries", lazy="joined")

    @property
    def results(self) -> ResultsFile:
        """The stored results file, parsed (it was validated on the way in)."""
        return parse_results(json.loads(self.results_json), source=f"entry {self.id}")

    @property
    def summary(self) -> dict[str, Any]:
        """The self-reported results' summary (``metrics.summarize``) as JSON."""
        data: dict[str, Any] = json.loads(self.summary_json)
        return data

    @property
    def rerun(self) -> ResultsFile | None:
        """The worker's re-run on the test seeds, once there is one."""
        if self.rerun_json is None:
            return None
        return parse_results(json.loads(self.rerun_json), source=f"entry {self.id} re-run")

    @property
    def rerun_summary(self) -> dict[str, Any] | None:
        """The re-run's summary as JSON, once there is one."""
        return None if self.rerun_summary_json is None else json.loads(self.rerun_summary_json)


# ---- engine, sessions, migrations --------------------------------------------------------------------------
def make_engine(settings: ServerSettings) -> Engine:
    """An engine for ``settings.database_url``; an SQLite file's folder is created, WAL and a busy timeout set.

    WAL lets the page read while the worker (another process) writes; the busy timeout makes a writer wait
    for the other instead of failing at once.
    """
    url = settings.database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    if not getattr(dbapi_connection, "_nitrogen_memory", False):
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (responses are built after it)."""
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` with Alembic's Python API (the scripts ship inside the package)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("nitrogen_leaderboard.server") / "migrations"))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except Exception as err:
        if isinstance(err, NitroGenError):
            raise
        from sqlalchemy.exc import OperationalError

        if isinstance(err, OperationalError):
            url = engine.url.render_as_string(hide_password=True)
            raise DatabaseError(f"cannot open the leaderboard database {url} ({err.orig}); check --db") from err
        raise


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (``None`` before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# ---- users and tokens --------------------------------------------------------------------------------------
def hash_token(token: str) -> str:
    """sha256 of a token. Tokens are 32 random bytes, so a fast hash is enough (no dictionary to attack)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(session: Session, name: str) -> str:
    """Create a submitter and return their token; only its hash is stored, so this is the only time it is seen.

    Raises:
        UserExists: the name is taken.
        ValueError: the name is empty, too long or not printable.
    """
    if not name or len(name) > MAX_USER_NAME or not name.isprintable() or name != name.strip():
        raise ValueError(f"user name must be 1-{MAX_USER_NAME} printable characters without edge spaces, got {name!r}")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise UserExists(f"user {name!r} already exists; pick another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(User(name=name, token_hash=hash_token(token)))
    session.commit()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The user whose token hashes to ``token``'s hash, compared in constant time; ``None`` otherwise."""
    digest = hash_token(token)
    user = session.scalar(select(User).where(User.token_hash == digest))
    if user is None or not secrets.compare_digest(user.token_hash, digest):
        return None
    return user


# ---- entries -----------------------------------------------------------------------------------------------
def canonical_json(results: ResultsFile) -> str:
    """The results file as canonical JSON (sorted keys, no spaces): equal content, equal bytes."""
    return json.dumps(results.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), allow_nan=False)


def content_hash(results: ResultsFile) -> str:
    """sha256 of :func:`canonical_json`: the idempotency key of a submission."""
    return hashlib.sha256(canonical_json(results).encode("utf-8")).hexdigest()


def summary_to_dict(summary: Any) -> dict[str, Any]:
    """A metrics summary (dataclass, pydantic model or dict) as plain JSON-ready data."""
    if hasattr(summary, "to_dict"):
        data = summary.to_dict()
    elif hasattr(summary, "model_dump"):
        data = summary.model_dump(mode="json")
    elif is_dataclass(summary) and not isinstance(summary, type):
        data = asdict(summary)
    else:
        data = dict(summary)
    # round-trip through JSON so what is stored is exactly what is read back
    return dict(json.loads(json.dumps(data, allow_nan=False)))


def summarize(results: ResultsFile) -> dict[str, Any]:
    """The summary of a results file with the protocol's metrics (IQM over tasks and its 95% CI)."""
    from nitrogen_leaderboard import metrics

    return summary_to_dict(metrics.summarize(results.episodes))


def score_of(summary: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(IQM, CI low, CI high) of a summary, the columns the ranking sorts by."""
    from nitrogen_leaderboard.metrics import Summary

    parsed = Summary.from_dict(summary)
    return parsed.iqm, parsed.ci_low, parsed.ci_high


def insert_results(session: Session, user: User, results: ResultsFile) -> tuple[Entry, bool]:
    """Store ``results`` for ``user`` unless the same content is stored already; returns (entry, created).

    Raises:
        DuplicateSubmission: the same content was submitted by another user.
    """
    digest = content_hash(results)
    existing = session.scalar(select(Entry).where(Entry.content_hash == digest))
    if existing is not None:
        if existing.user_id != user.id:
            raise DuplicateSubmission(f"these results were already submitted by another user (entry {existing.id})")
        return existing, False
    summary = summarize(results)
    score, low, high = score_of(summary)
    entry = Entry(
        user_id=user.id,
        content_hash=digest,
        protocol=results.protocol,
        track=results.track,
        seed_set=results.seed_set,
        agent_name=results.agent.name,
        claimed_weights_sha256=results.agent.weights_sha256,
        num_parameters=results.agent.num_parameters,
        results_json=canonical_json(results),
        summary_json=json.dumps(summary, allow_nan=False),
        score=score,
        score_low=low,
        score_high=high,
        status=PENDING if is_builtin(results.agent.name, results.agent.weights_sha256) else UNVERIFIED,
    )
    session.add(entry)
    session.commit()
    return entry, True


class DuplicateSubmission(NitroGenError):
    """The same results content is already an entry of another submitter."""


def get_entry(session: Session, entry_id: int) -> Entry | None:
    """The entry with this id, or ``None``."""
    return session.get(Entry, entry_id)


LISTING_DEFERRED = ("results_json", "rerun_json")
"""Columns a listing never loads: whole results files (~90 KB each for unseen-v1); listings read summaries."""


def _listing_options() -> list[Any]:
    """Load options of a listing's entries: everything but :data:`LISTING_DEFERRED`."""
    return [defer(getattr(Entry, name)) for name in LISTING_DEFERRED]


def _ranked_track(query: Any, protocol: str, track: str, include_all: bool) -> Any:
    """``query`` narrowed to one protocol and track, best score first, ties earliest first.

    Verified entries only unless ``include_all``: the filter and order every listing and ranking of a track shares.
    """
    query = query.where(Entry.protocol == protocol, Entry.track == track)
    if not include_all:
        query = query.where(Entry.status == VERIFIED)
    return query.order_by(Entry.score.desc().nulls_last(), Entry.created_at, Entry.id)


def list_entries(session: Session, protocol: str, track: str, include_all: bool = False) -> list[Entry]:
    """Entries of one protocol and track, best score first (ties: earliest first); verified only by default.

    The full results files (:data:`LISTING_DEFERRED`) are not loaded: a listing shows summaries only.
    Touching :attr:`Entry.results` or :attr:`Entry.rerun` on a listed entry still works (one query for
    that row), so a caller sharing the session with a listing never breaks.
    """
    query = _ranked_track(select(Entry).options(*_listing_options()), protocol, track, include_all)
    return list(session.scalars(query))


@dataclass(frozen=True)
class ScoreRow:
    """What ranking needs of one entry (:func:`list_scores`): its id, status and score columns.

    A few numbers, where an :class:`Entry` carries its summaries too (its per-task table is most of an entry's
    memory in a listing).
    """

    id: int
    status: str
    score: float
    score_low: float
    score_high: float

    @property
    def iqm(self) -> float:
        """The score (IQM), under :class:`~nitrogen_leaderboard.metrics.Scored`'s name."""
        return self.score

    @property
    def ci_low(self) -> float:
        """The score's 95% interval, low end."""
        return self.score_low

    @property
    def ci_high(self) -> float:
        """The score's 95% interval, high end."""
        return self.score_high


def list_scores(session: Session, protocol: str, track: str, include_all: bool = False) -> list[ScoreRow]:
    """:func:`list_entries`' entries as :class:`ScoreRow`, in the same order.

    Ranking a board of any size reads these few columns, and only the page shown loads whole entries
    (:func:`entries_by_id`).
    """
    columns = select(Entry.id, Entry.status, Entry.score, Entry.score_low, Entry.score_high)
    query = _ranked_track(columns, protocol, track, include_all)
    unscored = float("-inf")  # every stored entry has a score (score_of); a row without one ranks last
    return [
        ScoreRow(
            int(entry_id),
            str(status),
            unscored if score is None else float(score),
            unscored if low is None else float(low),
            unscored if high is None else float(high),
        )
        for entry_id, status, score, low, high in session.execute(query)
    ]


def entries_by_id(session: Session, ids: list[int]) -> dict[int, Entry]:
    """The entries with these ids (those that exist), their full results files not loaded (as in a listing)."""
    if not ids:
        return {}
    query = select(Entry).options(*_listing_options()).where(Entry.id.in_(ids))
    return {entry.id: entry for entry in session.scalars(query)}


def is_builtin(agent_name: str, claimed_weights_sha256: str | None) -> bool:
    """Whether an entry names a built-in agent (``random``) and no weights: the worker re-runs it as is."""
    return builtin_agent_spec(agent_name, claimed_weights_sha256) is not None


def weights_folder(settings: ServerSettings, entry: Entry) -> Path | None:
    """The entry's ``config.json`` + ``model.safetensors`` folder, or ``None`` when no weights came."""
    if entry.weights_sha256 is None:
        return None
    return settings.weights_root / str(entry.id)


def claim_pending(session: Session, lease_s: float = 3600.0) -> Entry | None:
    """Claim the oldest ``pending`` entry for verification (stamps ``claimed_at``); ``None`` when none waits.

    A claim older than ``lease_s`` counts as abandoned (its worker died) and may be taken again. On
    PostgreSQL the row is locked with ``SKIP LOCKED`` so two workers never take the same entry; SQLite
    serialises writers anyway.
    """
    stale = utcnow() - dt.timedelta(seconds=lease_s)
    query = (
        select(Entry)
        .where(Entry.status == PENDING)
        .where((Entry.claimed_at.is_(None)) | (Entry.claimed_at < stale))
        .order_by(Entry.created_at, Entry.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Entry)
    entry = session.scalar(query)
    if entry is None:
        session.rollback()
        return None
    entry.claimed_at = utcnow()
    session.commit()
    return entry


def record_verification(session: Session, entry_id: int, status: str, rerun: ResultsFile, note: str = "") -> Entry:
    """Store the worker's re-run of an entry and its verdict (``verified`` or ``reproduced-low``).

    Raises:
        ValueError: an unknown status, or the entry is not waiting for verification (no weights).
        LookupError: no such entry.
    """
    if status not in FINAL_STATUSES:
        raise ValueError(f"verification status must be one of {FINAL_STATUSES}, got {status!r}")
    entry = session.get(Entry, entry_id)
    if entry is None:
        raise LookupError(f"no leaderboard entry {entry_id}")
    if entry.weights_sha256 is None and not is_builtin(entry.agent_name, entry.claimed_weights_sha256):
        raise ValueError(f"entry {entry_id} has no weights and no built-in agent, so it cannot be verified")
    summary = summarize(rerun)
    entry.status = status
    entry.rerun_json = canonical_json(rerun)
    entry.rerun_summary_json = json.dumps(summary, allow_nan=False)
    entry.verification_note = note
    entry.verified_at = utcnow()
    entry.claimed_at = None
    session.commit()
    return entry


def record_failure(session: Session, entry_id: int, note: str) -> Entry:
    """Mark an entry whose re-run could not finish as ``failed``, with the reason.

    Raises:
        LookupError: no such entry.
    """
    entry = session.get(Entry, entry_id)
    if entry is None:
        raise LookupError(f"no leaderboard entry {entry_id}")
    entry.status = FAILED
    entry.verification_note = note
    entry.verified_at = utcnow()
    entry.claimed_at = None
    session.commit()
    return entry
