"""Built-in agents are verifiable: entries of ``random`` without weights, filed as ``unverified``, become ``pending``.

Before this revision an entry without weights stayed ``unverified`` for good. The server can re-run the
built-in ``random`` agent itself (no code or weights from the submitter), so such entries now wait for the
worker like uploaded weights do. Only the status changes; the worker re-runs them on the test seeds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The values as of this revision (a migration must not change when the code it once matched changes).
BUILTIN_NAMES = ("random",)
entries = sa.table(
    "entries",
    sa.column("agent_name", sa.String),
    sa.column("status", sa.String),
    sa.column("claimed_weights_sha256", sa.String),
    sa.column("weights_sha256", sa.String),
)


def upgrade() -> None:
    """Queue the built-in agents' weightless entries for verification."""
    op.execute(
        entries.update()
        .where(
            entries.c.agent_name.in_(BUILTIN_NAMES),
            entries.c.status == "unverified",
            entries.c.claimed_weights_sha256.is_(None),
            entries.c.weights_sha256.is_(None),
        )
        .values(status="pending")
    )


def downgrade() -> None:
    """Put the not yet verified ones back to ``unverified`` (verdicts already given stay)."""
    op.execute(
        entries.update()
        .where(
            entries.c.agent_name.in_(BUILTIN_NAMES),
            entries.c.status == "pending",
            entries.c.weights_sha256.is_(None),
        )
        .values(status="unverified")
    )
