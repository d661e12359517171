"""The leaderboard's web page: pure functions from plain entry data to one self-contained HTML document.

Nothing here touches the database or FastAPI, so the page can be rendered (and tested) from a list of
:class:`EntryView` alone; the server's routes build those views and return the string. The page must work
offline and behind strict networks, so CSS, the sorting script and the score plot (an inline SVG) are all
inside the document: no CDN, no web font, no external image.

Everything that came from a submitter (agent names, submitter names, task names, protocol) goes through
:func:`html.escape` on its way into the document, and the inline script and style are pinned by hash in
:func:`content_security_policy`, so even a missed escape could not run a script.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from urllib.parse import quote

from nitrogen_leaderboard.schema import TRACKS

STATUSES = ("verified", "reproduced-low", "unverified", "pending", "failed")
"""Verification states an entry can show (the worker's outcomes, plus ``pending`` before it ran and ``failed``
when the re-run itself broke: bad weights, a limit hit)."""
STATUS_HELP = {
    "verified": "re-run on the server's test seeds agrees with the reported score",
    "reproduced-low": "re-run on the server's test seeds scored below the reported interval",
    "unverified": "no weights were submitted, so the score could not be re-run",
    "pending": "waiting for the verification worker",
    "failed": "the verification re-run could not complete",
}
FOUNDATION_NOTE = (
    "The nitrogen-s foundation model has not shipped yet: the zero-shot and fine-tuned baselines start from "
    "the bundled nitrogen-s-procgen6 behaviour-cloning policy."
)


@dataclass(frozen=True)
class Interval:
    """A score with its 95% confidence interval (interquartile mean over tasks, stratified bootstrap)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class TaskScore:
    """One task's line on an entry's page."""

    task: str
    game: str
    episodes: int
    success_rate: float
    score: float
    """Mean ``score_normalized`` over the task's episodes (0 = random, 1 = expert)."""


@dataclass(frozen=True)
class EntryView:
    """What the page shows about one submission; the server builds these from its rows."""

    id: int
    track: str
    agent: str
    submitter: str
    submitted_at: datetime
    protocol: str
    score: Interval
    status: str = "unverified"
    num_parameters: int | None = None
    rank: str | None = None
    """Position among the ranked (verified) entries of its track, ``"2="`` when tied by overlapping intervals."""
    rerun: Interval | None = None
    """The server's re-run on the test seeds, when there was one."""
    tasks: tuple[TaskScore, ...] = field(default_factory=tuple)
    rerun_tasks: tuple[TaskScore, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        """Reject a status the page has no badge for (a bug in the caller, not user input)."""
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


CSS = """
:root{--fg:#1d2330;--muted:#5d6677;--line:#d9dde5;--bg:#fff;--accent:#2457c5;--ok:#1a7f37;--low:#b3261e;--wait:#8a6d00}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
 margin:0 auto;max-width:1100px;padding:1.2rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}
p.lead,p.note,.muted{color:var(--muted)}
a{color:var(--accent)}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}
th,td{padding:.35rem .55rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.name{white-space:normal;word-break:break-word;max-width:22rem}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th:hover{background:#f3f5f9}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:.7em}
th[aria-sort=descending]::after{content:" \\25BC";font-size:.7em}
tr.unranked td{color:var(--muted)}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.7rem;font-size:.8rem;border:1px solid}
.badge.verified{color:var(--ok);border-color:var(--ok)}
.badge.reproduced-low,.badge.failed{color:var(--low);border-color:var(--low)}
.badge.unverified,.badge.pending{color:var(--wait);border-color:var(--wait)}
svg.plot{width:100%;height:auto;max-width:900px}
svg.plot text{font:12px system-ui,sans-serif;fill:var(--fg)}
svg.plot .axis{stroke:var(--muted);stroke-width:1}
svg.plot .grid{stroke:var(--line);stroke-width:1}
svg.plot .whisker{stroke-width:2}
nav{margin:.4rem 0 1rem}nav a{margin-right:1rem}
table.facts{width:auto}table.facts th{padding-right:2.5rem;font-weight:600}
"""

SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.sort, y = b.cells[column].dataset.sort;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    });
  });
});
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def content_security_policy() -> str:
    """The ``Content-Security-Policy`` header for these pages: only our own inline style and script may run.

    Pinning the two inline blocks by hash (rather than allowing ``'unsafe-inline'``) means a submitter name
    that slipped past escaping still could not execute, and nothing may be fetched from anywhere.
    """
    return (
        f"default-src 'none'; style-src {_csp_hash(CSS)}; script-src {_csp_hash(SORT_JS)}; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _document(title: str, body: str, script: bool = False) -> str:
    script_tag = f"<script>{SORT_JS}</script>" if script else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}{script_tag}</body></html>"
    )


def _fmt(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "n/a"


def format_parameters(count: int | None) -> str:
    """``7.5M`` / ``512k`` / ``n/a``: model size as people say it.

    >>> format_parameters(7_512_000), format_parameters(40_960), format_parameters(None)
    ('7.5M', '41k', 'n/a')
    """
    if count is None:
        return "n/a"
    if count >= 1_000_000_000:
        return f"{count / 1e9:.1f}B"
    if count >= 1_000_000:
        return f"{count / 1e6:.1f}M"
    if count >= 1_000:
        return f"{count / 1e3:.0f}k"
    return str(count)


def badge(status: str) -> str:
    """A coloured status label with its meaning as a tooltip."""
    return f'<span class="badge {escape(status)}" title="{escape(STATUS_HELP[status])}">{escape(status)}</span>'


def _entry_row(entry: EntryView) -> str:
    rank_sort = entry.rank.rstrip("=") if entry.rank else "1e9"
    size = entry.num_parameters if entry.num_parameters is not None else -1
    cells = [
        f'<td class="num" data-sort="{escape(rank_sort)}">{escape(entry.rank or "-")}</td>',
        f'<td class="name" data-sort="{escape(entry.agent.lower())}">'
        f'<a href="/entries/{entry.id}">{escape(entry.agent)}</a></td>',
        f'<td class="num" data-sort="{entry.score.value:.6f}">{_fmt(entry.score.value)}</td>',
        f'<td class="num" data-sort="{entry.score.high - entry.score.low:.6f}">'
        f"[{_fmt(entry.score.low)}, {_fmt(entry.score.high)}]</td>",
        f'<td data-sort="{STATUSES.index(entry.status)}">{badge(entry.status)}</td>',
        f'<td class="name" data-sort="{escape(entry.submitter.lower())}">{escape(entry.submitter)}</td>',
        f'<td data-sort="{entry.submitted_at.isoformat()}">{entry.submitted_at:%Y-%m-%d}</td>',
        f'<td class="num" data-sort="{size}">{format_parameters(entry.num_parameters)}</td>',
    ]
    css = "" if entry.rank else ' class="unranked"'
    return f'<tr{css} data-entry="{entry.id}">{"".join(cells)}</tr>'


HEADERS = ("Rank", "Agent", "Score (IQM)", "95% CI", "Status", "Submitter", "Date", "Size")


def entries_table(entries: Sequence[EntryView], track: str) -> str:
    """One sortable table of a track's entries, ranked ones first (best score first), then the rest."""
    heads = "".join(
        f'<th scope="col"{" class=num" if name in ("Rank", "Score (IQM)", "95% CI", "Size") else ""}>{name}</th>'
        for name in HEADERS
    )
    ordered = sorted(entries, key=lambda e: (e.rank is None, -e.score.value, e.id))
    rows = "".join(_entry_row(entry) for entry in ordered)
    return (
        f'<table class="sortable" id="track-{escape(track)}" data-track="{escape(track)}">'
        f"<thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table>"
    )


def scores_svg(entries: Sequence[EntryView], title: str = "Score (IQM) with 95% CI") -> str:
    """A horizontal dot-and-whisker plot of entries' scores, one row per entry, as inline SVG markup.

    The x axis spans the data (always including 0, the random level, and 1, the expert level), so overlap
    between intervals is visible at a glance: the same question the ranking's ``=`` answers.
    """
    if not entries:
        return ""
    row, left, right, top = 26, 230, 30, 34
    width = 900
    lows = [e.score.low for e in entries] + [e.rerun.low for e in entries if e.rerun]
    highs = [e.score.high for e in entries] + [e.rerun.high for e in entries if e.rerun]
    finite_lows = [v for v in lows if math.isfinite(v)]
    finite_highs = [v for v in highs if math.isfinite(v)]
    lo = math.floor(min([0.0, *finite_lows]) * 4) / 4
    hi = math.ceil(max([1.0, *finite_highs]) * 4) / 4
    height = top + row * len(entries) + 30

    def x(value: float) -> float:
        value = min(max(value, lo), hi) if math.isfinite(value) else lo
        return left + (value - lo) / (hi - lo) * (width - left - right)

    parts = [
        f'<svg class="plot" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16">{escape(title)}</text>',
    ]
    steps = round((hi - lo) / 0.25)
    for step in range(steps + 1):
        tick = lo + step * 0.25
        parts.append(
            f'<line class="grid" x1="{x(tick):.1f}" y1="{top - 8}" x2="{x(tick):.1f}" y2="{height - 24}"/>'
            f'<text x="{x(tick):.1f}" y="{height - 8}" text-anchor="middle">{tick:g}</text>'
        )
    for index, entry in enumerate(entries):
        y = top + row * index + row / 2
        colour = "#1a7f37" if entry.status == "verified" else "#8a6d00" if entry.rank is None else "#2457c5"
        label = entry.agent if len(entry.agent) <= 32 else entry.agent[:31] + "\u2026"
        parts.append(
            f'<g data-entry="{entry.id}"><title>{escape(entry.agent)} ({escape(entry.submitter)}): '
            f"{_fmt(entry.score.value)} [{_fmt(entry.score.low)}, {_fmt(entry.score.high)}]</title>"
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>'
            f'<line class="whisker" stroke="{colour}" x1="{x(entry.score.low):.1f}" y1="{y:.1f}" '
            f'x2="{x(entry.score.high):.1f}" y2="{y:.1f}"/>'
            f'<circle cx="{x(entry.score.value):.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>'
        )
        if entry.rerun is not None:
            parts.append(
                f'<line stroke="#5d6677" stroke-dasharray="3 2" x1="{x(entry.rerun.low):.1f}" y1="{y + 7:.1f}" '
                f'x2="{x(entry.rerun.high):.1f}" y2="{y + 7:.1f}"/>'
                f'<rect x="{x(entry.rerun.value) - 3:.1f}" y="{y + 4:.1f}" width="6" height="6" fill="#5d6677"/>'
            )
        parts.append("</g>")
    parts.append(f'<line class="axis" x1="{left}" y1="{height - 24}" x2="{width - right}" y2="{height - 24}"/></svg>')
    return "".join(parts)


def _group(entries: Iterable[EntryView]) -> dict[str, list[EntryView]]:
    groups: dict[str, list[EntryView]] = {}
    for entry in entries:
        groups.setdefault(entry.track, []).append(entry)
    known = [track for track in TRACKS if track in groups]
    return {track: groups[track] for track in [*known, *sorted(set(groups) - set(known))]}


def render_index(
    entries: Sequence[EntryView],
    protocol: str,
    show_all: bool = False,
    hidden: int = 0,
    notes: Sequence[str] = (),
    others: Sequence[str] = (),
) -> str:
    """The front page: per track, a sortable table and a plot of the entries given.

    Args:
        entries: what to show (the server passes only ranked entries unless ``show_all``).
        protocol: the protocol name in the heading.
        show_all: whether ``entries`` includes unranked ones (changes the toggle link).
        hidden: how many entries the default view leaves out, for the toggle's label.
        notes: extra lines under the heading (e.g. :data:`FOUNDATION_NOTE`).
        others: other protocols this server ranks (linked in the navigation).
    """
    here = f"protocol={quote(protocol)}"
    toggle = (
        f'<a href="/?{escape(here)}">show verified entries only</a>'
        if show_all
        else f'<a href="/?{escape(here)}&amp;all=1">show all entries ({hidden} not verified)</a>'
    )
    links = "".join(f'<a href="/?protocol={escape(quote(name))}">{escape(name)}</a>' for name in others)
    body = [
        f"<h1>NitroGen leaderboard <span class=muted>&middot; {escape(protocol)}</span></h1>",
        '<p class="lead">Zero-shot and few-shot play on held-out games. Scores are the interquartile mean of '
        "normalized task scores (0 = random, 1 = expert) with stratified-bootstrap 95% intervals; only entries "
        "the server re-ran on its secret test seeds rank. Ranks with <code>=</code> share overlapping "
        "intervals. Click a column header to sort.</p>",
        *(f'<p class="note">{escape(note)}</p>' for note in notes),
        f'<nav>{toggle} <a href="/docs">API</a>{" other protocols: " + links if links else ""}</nav>',
    ]
    groups = _group(entries)
    if not groups:
        body.append("<p id=empty>No entries yet. Submit one with <code>nitrogen submit</code>.</p>")
    for track, rows in groups.items():
        body.append(f'<section data-track="{escape(track)}"><h2>Track: {escape(track)}</h2>')
        body.append(entries_table(rows, track))
        ordered = sorted(rows, key=lambda e: (e.rank is None, -e.score.value, e.id))
        body.append(scores_svg(ordered, f"{track}: score (IQM) with 95% CI"))
        body.append("</section>")
    return _document(f"NitroGen leaderboard: {protocol}", "".join(body), script=True)


def _tasks_table(tasks: Sequence[TaskScore], caption: str) -> str:
    heads = "".join(
        f"<th{' class=num' if n not in ('Game', 'Task') else ''}>{n}</th>"
        for n in ("Game", "Task", "Episodes", "Success rate", "Score")
    )
    rows = "".join(
        f'<tr><td class="name" data-sort="{escape(t.game.lower())}">{escape(t.game)}</td>'
        f'<td class="name" data-sort="{escape(t.task.lower())}">{escape(t.task)}</td>'
        f'<td class="num" data-sort="{t.episodes}">{t.episodes}</td>'
        f'<td class="num" data-sort="{t.success_rate:.6f}">{t.success_rate:.0%}</td>'
        f'<td class="num" data-sort="{t.score:.6f}">{_fmt(t.score)}</td></tr>'
        for t in sorted(tasks, key=lambda t: (t.game, t.task))
    )
    return (
        f'<table class="sortable tasks"><caption class="muted">{escape(caption)}</caption>'
        f"<thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table>"
    )


def render_entry(entry: EntryView) -> str:
    """One entry's page: its scores, status, and the per-task breakdown (reported and re-run)."""
    facts = [
        ("Agent", escape(entry.agent)),
        ("Submitter", escape(entry.submitter)),
        ("Track", escape(entry.track)),
        ("Protocol", escape(entry.protocol)),
        ("Submitted", f"{entry.submitted_at:%Y-%m-%d %H:%M} UTC"),
        ("Model size", format_parameters(entry.num_parameters) + " parameters"),
        ("Status", badge(entry.status)),
        ("Rank", escape(entry.rank or "not ranked")),
        (
            "Reported score (dev seeds)",
            f"{_fmt(entry.score.value)} [{_fmt(entry.score.low)}, {_fmt(entry.score.high)}]",
        ),
    ]
    if entry.rerun is not None:
        facts.append(
            (
                "Server re-run (test seeds)",
                f"{_fmt(entry.rerun.value)} [{_fmt(entry.rerun.low)}, {_fmt(entry.rerun.high)}]",
            )
        )
    dl = "".join(f"<tr><th scope=row>{name}</th><td>{value}</td></tr>" for name, value in facts)
    body = [
        '<nav><a href="/">&larr; leaderboard</a></nav>',
        f"<h1>{escape(entry.agent)}</h1>",
        f'<table class="facts">{dl}</table>',
        scores_svg([entry], "Reported (dot) and server re-run (square) with 95% CI"),
        "<h2>Per task</h2>",
        _tasks_table(entry.tasks, "as reported by the submitter"),
    ]
    if entry.rerun_tasks:
        body.append(_tasks_table(entry.rerun_tasks, "as re-run by the server on its test seeds"))
    return _document(f"{entry.agent}: NitroGen leaderboard", "".join(body), script=True)


def render_message(title: str, message: str) -> str:
    """A small page for 404s and the like (both strings are escaped)."""
    return _document(
        title, f'<nav><a href="/">&larr; leaderboard</a></nav><h1>{escape(title)}</h1><p>{escape(message)}</p>'
    )
