"""Structured logs: one JSON object per line, with the fields a request log needs.

``nitrogen leaderboard serve`` installs :class:`JsonFormatter` on the root logger (uvicorn's access log is
turned off; the app logs each request itself, with its user and duration).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

# attributes every LogRecord has; anything else was passed through ``extra=`` and goes into the JSON
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra}`` as one JSON line; tracebacks under ``"exc"``."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record."""
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send all logs to stderr as JSON lines (replaces the root logger's handlers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
