"""Response bodies of the API (pydantic), so the OpenAPI spec documents every field the page and clients read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from nitrogen_leaderboard.server import db


class HealthOut(BaseModel):
    """``/health``: the server is up and its database answers."""

    status: str
    database: str = Field(description="SQLAlchemy dialect: sqlite or postgresql.")
    revision: str | None = Field(description="Alembic revision the database is at.")


class EntryOut(BaseModel):
    """One entry as the API shows it (never the submitter's token, never file paths)."""

    id: int
    submitter: str
    protocol: str
    track: str
    seed_set: str
    agent_name: str
    num_parameters: int | None
    status: str = Field(description="unverified, pending, verified, reproduced-low or failed.")
    score: float | None = Field(description="IQM of score_normalized over tasks (self-reported, dev seeds).")
    score_low: float | None = Field(description="Lower end of the 95% stratified-bootstrap interval.")
    score_high: float | None = Field(description="Upper end of the 95% stratified-bootstrap interval.")
    summary: dict[str, Any]
    weights_sha256: str | None
    rerun_summary: dict[str, Any] | None = Field(description="Summary of the server's re-run on the test seeds.")
    verification_note: str | None
    created_at: dt.datetime
    verified_at: dt.datetime | None

    @classmethod
    def of(cls, entry: db.Entry) -> EntryOut:
        """Build from a database row."""
        return cls(
            id=entry.id,
            submitter=entry.user.name,
            protocol=entry.protocol,
            track=entry.track,
            seed_set=entry.seed_set,
            agent_name=entry.agent_name,
            num_parameters=entry.num_parameters,
            status=entry.status,
            score=entry.score,
            score_low=entry.score_low,
            score_high=entry.score_high,
            summary=entry.summary,
            weights_sha256=entry.weights_sha256,
            rerun_summary=entry.rerun_summary,
            verification_note=entry.verification_note,
            created_at=entry.created_at,
            verified_at=entry.verified_at,
        )


class SubmitOut(EntryOut):
    """The submit endpoint's answer: the entry, and whether this request created it."""

    created: bool = Field(description="False when the same content was already submitted (same entry).")


class BoardRow(BaseModel):
    """One ranked entry of a track."""

    rank: int
    overlaps: list[int] = Field(description="Ids of entries whose 95% interval overlaps this one's.")
    entry: EntryOut


BOARD_PAGE = 100
"""Entries a board listing returns unless asked for another ``limit``."""
MAX_BOARD_PAGE = 500
"""The most entries one board listing returns (``limit``): a page's size, not the board's, bounds a listing's work
and memory; ``offset`` reaches the rest."""


class BoardOut(BaseModel):
    """One page of the ranked entries of one protocol and track (``offset`` and ``limit`` of ``total``)."""

    protocol: str
    track: str
    total: int = Field(description="Entries in the whole listing (all pages).")
    offset: int = Field(description="Rank - 1 of the first entry of this page.")
    limit: int = Field(description="The most entries this page could hold.")
    all: bool = Field(description="True when unverified entries are included.")
    entries: list[BoardRow]


class MeOut(BaseModel):
    """Who a token belongs to."""

    name: str
    entries: list[int]
