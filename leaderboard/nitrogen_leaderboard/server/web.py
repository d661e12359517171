"""The HTML routes: ``/`` (per-track tables and plots) and ``/entries/{id}`` (one entry's per-task breakdown).

This module only turns database rows into :class:`~.page.EntryView` values and picks what to show; the
markup lives in :mod:`.page`. Query values are validated by FastAPI (a protocol must be one this server
ranks); every string from a submitter is escaped by the page functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from nitrogen_leaderboard.protocol import DEFAULT_PROTOCOL, Protocol
from nitrogen_leaderboard.schema import MAX_NAME
from nitrogen_leaderboard.server import db
from nitrogen_leaderboard.server.api_models import BOARD_PAGE
from nitrogen_leaderboard.server.auth import SessionDep
from nitrogen_leaderboard.server.page import (
    FOUNDATION_NOTE,
    EntryView,
    Interval,
    TaskScore,
    content_security_policy,
    render_entry,
    render_index,
    render_message,
)

NAN = float("nan")


def _interval(value: Any, low: Any, high: Any) -> Interval:
    def number(x: Any) -> float:
        return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else NAN

    return Interval(number(value), number(low), number(high))


def _tasks(summary: dict[str, Any] | None) -> tuple[TaskScore, ...]:
    if not summary:
        return ()
    rows = []
    for key, task in sorted(summary.get("per_task", {}).items()):
        game, _, name = str(key).partition("/")
        rows.append(
            TaskScore(
                task=name,
                game=game,
                episodes=int(task.get("episodes", 0)),
                success_rate=float(task.get("success_rate", NAN)),
                score=float(task.get("score_mean", NAN)),
            )
        )
    return tuple(rows)


def entry_view(entry: db.Entry, rank: str | None = None) -> EntryView:
    """What the page shows of one database row."""
    rerun = entry.rerun_summary
    return EntryView(
        id=entry.id,
        track=entry.track,
        agent=entry.agent_name,
        submitter=entry.user.name,
        submitted_at=entry.created_at,
        protocol=entry.protocol,
        score=_interval(entry.score, entry.score_low, entry.score_high),
        status=entry.status,
        num_parameters=entry.num_parameters,
        rank=rank,
        rerun=_interval(rerun.get("iqm"), rerun.get("ci_low"), rerun.get("ci_high")) if rerun else None,
        tasks=_tasks(entry.summary),
        rerun_tasks=_tasks(rerun),
    )


def ranks(entries: Sequence[db.Entry | db.ScoreRow]) -> dict[int, str]:
    """Rank labels of verified entries (given best first): ``"3="`` when its interval overlaps the one above."""
    labels: dict[int, str] = {}
    above: Interval | None = None
    position = 0
    for entry in entries:
        if entry.status != db.VERIFIED:
            continue
        position += 1
        score = _interval(entry.score, entry.score_low, entry.score_high)
        tied = above is not None and score.low <= above.high and above.low <= score.high
        labels[entry.id] = f"{position}=" if tied else str(position)
        above = score
    return labels


def board_views(
    session: Any, protocol: Protocol, show_all: bool, per_track: int = BOARD_PAGE
) -> tuple[list[EntryView], int, list[str]]:
    """The entries of every track of ``protocol`` to show, how many the default view hides, and notes.

    At most the first ``per_track`` entries of each track are shown; a track with more gets a note saying where the
    rest are.

    Each track is ranked from its score columns alone (:func:`db.list_scores`); only the entries shown are loaded,
    so the page's work and memory stop growing with the board past ``per_track`` entries a track.
    """
    views: list[EntryView] = []
    hidden = 0
    notes: list[str] = []
    for track in protocol.tracks:
        scores = db.list_scores(session, protocol.name, track, include_all=True)
        labels = ranks(scores)
        hidden += sum(1 for score in scores if score.id not in labels)
        listed = [score.id for score in scores if show_all or score.id in labels]
        shown = listed[:per_track]
        entries = db.entries_by_id(session, shown)
        # an entry withdrawn since the scores were read is left out
        views.extend(entry_view(entries[entry_id], labels.get(entry_id)) for entry_id in shown if entry_id in entries)
        if len(listed) > per_track:
            flag = " --all" if show_all else ""
            notes.append(
                f"{track}: the first {per_track} of {len(listed)} entries are shown; the API lists the rest "
                f"(GET /api/v1/leaderboard/{protocol.name}/{track}?offset={per_track}"
                f"{'&all=true' if show_all else ''}; `nitrogen board {protocol.name} {track} --server URL "
                f"--offset {per_track}{flag}`)."
            )
    return views, hidden, notes


def pick_protocol(session: Any, protocols: dict[str, Protocol], requested: str | None) -> Protocol | None:
    """The protocol to show: the requested one, else the default if it has entries, else the busiest one."""
    if requested is not None:
        return protocols.get(requested)
    rows = session.execute(select(db.Entry.protocol, func.count()).group_by(db.Entry.protocol))
    counts = {str(name): int(count) for name, count in rows if name in protocols}
    if counts.get(DEFAULT_PROTOCOL) or not any(counts.values()):
        return protocols.get(DEFAULT_PROTOCOL) or next(iter(protocols.values()), None)
    return protocols[max(counts, key=lambda name: (counts[name], name))]


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        body,
        status_code=status_code,
        headers={
            "Content-Security-Policy": content_security_policy(),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def router() -> APIRouter:
    """The page routes (excluded from the OpenAPI spec: they are for people, not clients)."""
    pages = APIRouter(include_in_schema=False)

    @pages.get("/", response_class=HTMLResponse)
    def index(
        request: Request,
        session: SessionDep,
        all: Annotated[bool, Query()] = False,
        protocol: Annotated[str | None, Query(min_length=1, max_length=MAX_NAME)] = None,
    ) -> HTMLResponse:
        protocols: dict[str, Protocol] = request.app.state.protocols
        chosen = pick_protocol(session, protocols, protocol)
        if chosen is None:
            return _html(render_message("Unknown protocol", f"this server ranks {sorted(protocols)}"), 404)
        views, hidden, more = board_views(session, chosen, all)
        others = [name for name in sorted(protocols) if name != chosen.name]
        return _html(
            render_index(views, chosen.name, show_all=all, hidden=hidden, notes=[FOUNDATION_NOTE, *more], others=others)
        )

    @pages.get("/entries/{entry_id}", response_class=HTMLResponse)
    def entry_page(entry_id: Annotated[int, Path(ge=1, le=2**62)], session: SessionDep) -> HTMLResponse:
        entry = db.get_entry(session, entry_id)
        if entry is None:
            return _html(render_message("No such entry", f"there is no entry {entry_id}"), 404)
        labels = ranks(db.list_scores(session, entry.protocol, entry.track)) if entry.status == db.VERIFIED else {}
        return _html(render_entry(entry_view(entry, labels.get(entry.id))))

    return pages
