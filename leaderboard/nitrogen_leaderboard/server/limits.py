"""Limits on what one client can make the server do: request body size (413) and a per-token rate (429).

The size limit is an ASGI middleware, so it acts before any route reads the body: a declared
``Content-Length`` over the limit is refused without reading a byte, and a body sent without one (chunked)
is cut off as soon as it passes the limit.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """ASGI middleware: 413 for bodies over ``limit_for(path)`` bytes, before they are read in full."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        """Wrap ``app``; ``limit_for`` maps a request path to its byte limit."""
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check ``Content-Length`` first, then count the bytes as the app reads them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared == -1:
            await _reply(send, 400, "Content-Length is not a non-negative integer")
            return
        if declared is not None and declared > limit:
            await _reply(send, 413, f"request body of {declared} bytes is over the limit of {limit} bytes")
            return
        seen = 0
        replied = False  # 413 sent: the app sees a disconnect and whatever it answers is dropped

        async def counting_receive() -> Message:
            nonlocal seen, replied
            if replied:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    replied = True
                    await _reply(send, 413, f"request body is over the limit of {limit} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not replied:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    """The declared length, ``None`` when absent, -1 when malformed."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 20 else -1
    return None


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class RateLimiter:
    """A token bucket per key: ``requests`` at once, refilled evenly over ``window_s`` seconds.

    In memory, one per process: behind several server processes each allows the full rate.
    """

    requests: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, key: str) -> float:
        """Spend one request of ``key``: 0.0 when allowed, else the seconds until one is available."""
        rate = self.requests / self.window_s
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key, (float(self.requests), now))
            tokens = min(float(self.requests), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
