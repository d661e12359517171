"""One progress bar for every long-running command: a live tqdm bar on a terminal, a line every few seconds in logs.

tqdm redraws its bar in place with carriage returns, which a log file or CI console shows as one ever-growing
line (or not at all until the job ends). :func:`progress_bar` keeps tqdm's bar, rate and ETA, but when stderr
is not a terminal it refreshes at most every :data:`LOG_INTERVAL_S` seconds and ends each refresh with a
newline, so ``nitrogen ... 2> run.log`` reads like a log. ``enabled=False`` (a command's ``--quiet``) hides it.

Example:
    >>> with progress_bar(total=3, desc="rendering", unit="frame", enabled=False) as bar:
    ...     for _ in range(3):
    ...         bar.update(1)
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm  # type: ignore[import-untyped]

LOG_INTERVAL_S = 5.0
"""Seconds between progress lines when stderr is not a terminal (logs, CI, ``2> file``)."""


class _LineStream:
    """A text stream for tqdm that turns each in-place redraw into one newline-terminated line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = ""

    def write(self, text: str) -> int:
        r"""Write tqdm's redraw (``"\r" + status + padding``) as ``status + "\n"``; skip repeats and blanks."""
        line = text.replace("\r", "").strip()
        if line and line != self._last:
            self._stream.write(line + "\n")
            self._last = line
        return len(text)

    def flush(self) -> None:
        """Flush the wrapped stream, so each line reaches the log as it is written."""
        self._stream.flush()


def progress_bar(
    total: int | None, desc: str, unit: str = "it", enabled: bool = True, stream: TextIO | None = None, **kwargs: Any
) -> tqdm:
    """A tqdm bar with ETA on ``stream`` (default: stderr at call time): live on a terminal, else a line every few seconds.

    Args:
        total: number of steps (``None`` when unknown: no ETA then).
        desc: what is being done, shown before the bar.
        unit: what one step is ("frame", "episode", ...).
        enabled: ``False`` hides the bar entirely (``--quiet``).
        stream: where the bar goes; its ``isatty()`` picks the live bar or the log lines.
        **kwargs: passed on to :class:`tqdm.tqdm`.
    """
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return tqdm(total=total, desc=desc, unit=unit, disable=True, **kwargs)
    if _isatty(stream):
        return tqdm(total=total, desc=desc, unit=unit, file=stream, **kwargs)
    options = {"mininterval": LOG_INTERVAL_S, "maxinterval": LOG_INTERVAL_S, "ncols": 80, **kwargs}
    return tqdm(total=total, desc=desc, unit=unit, file=_LineStream(stream), **options)


def _isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (streams without ``isatty``, such as test captures, are not)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
