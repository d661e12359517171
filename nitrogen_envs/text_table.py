"""Tables as lines of text: columns aligned for a terminal, or Markdown for the docs.

One layout for every table the package prints (the overlay evaluation, the experts' report, a leaderboard page),
so they read alike and none keeps its own copy of the column arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["text_table"]


def text_table(header: Sequence[object], rows: Sequence[Sequence[object]], markdown: bool = False) -> list[str]:
    """``header`` and ``rows`` as lines: each column padded to its widest cell and two spaces apart, or Markdown.

    >>> text_table(["game", "score"], [["Pong", "0.5"], ["Breakout", "12"]])
    ['game      score', 'Pong      0.5  ', 'Breakout  12   ']
    >>> text_table(["game", "score"], [["Pong", "0.5"]], markdown=True)
    ['| game | score |', '|---|---|', '| Pong | 0.5 |']
    """
    if markdown:
        return [
            "| " + " | ".join(str(c) for c in header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
        ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in [header, *rows]]
