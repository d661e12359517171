"""A leaderboard server's client: submitting a results file (and weights), :func:`submit`; reading a board, :func:`read_board`.

Every step is idempotent on the server (results by their content hash, weights by their sha256), so a
retry after a dropped connection, a 5xx or a 429 never makes a second entry; :func:`submit` retries those
itself a few times. Everything a user can get wrong is a one-line :class:`SubmitError`: a results file
that does not validate (checked here, before anything is sent), a weights folder without
``config.json`` + ``model.safetensors``, weights whose sha256 differs from the one the results name, a
refused token, a file over the server's limit, a server that cannot be reached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from nitrogen_envs.errors import NitroGenError
from nitrogen_leaderboard.schema import ResultsFile, read_results, sha256_file
from nitrogen_leaderboard.server.weights import ALLOWED as WEIGHT_FILES  # what an upload holds, nothing else

logger = logging.getLogger(__name__)

TOKEN_ENV = "NITROGEN_LEADERBOARD_TOKEN"
"""Environment variable the ``submit`` command reads the token from when ``--token`` is not given."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRIES = 3
"""Extra attempts :func:`submit` and :func:`read_board` (and their commands) make after a retryable failure."""
BOARD_ROWS = 20
"""Entries :func:`read_board` (and ``nitrogen board``) asks for unless told otherwise: a screenful."""
SUBMIT_TIMEOUT_S = 300.0
"""Per-request timeout of :func:`submit` (and ``nitrogen submit``): an upload of weights may take minutes."""
BOARD_TIMEOUT_S = 30.0
"""Per-request timeout of :func:`read_board`: one small JSON page, not an upload."""


class LeaderboardRequestError(NitroGenError):
    """A request to a leaderboard server that could not be made; the message says why and what to do."""

    status_messages: ClassVar[dict[int, str]] = {
        404: "not found on this server: {detail}",
        422: "the server refused the request: {detail}",
    }
    """What an error status means to this kind of request (``{detail}``: the server's reason)."""
    other_status: ClassVar[str] = "the server answered {code} ({detail})"
    """The message of any other error status."""


class SubmitError(LeaderboardRequestError):
    """A submission that could not be made; the message says why and what to do."""

    status_messages: ClassVar[dict[int, str]] = {
        401: "the server refused the token ({detail}); pass the token from `nitrogen leaderboard add-user` "
        f"with --token or ${TOKEN_ENV}",
        403: "not allowed: {detail}",
        409: "conflict: {detail}",
        413: "file too large for this server: {detail}",
        422: "the server refused the submission: {detail}",
        429: "rate limited by the server: {detail}; try again later",
    }
    other_status: ClassVar[str] = "the server answered {code} ({detail}); the submission is safe to retry"


class BoardError(LeaderboardRequestError):
    """A board that could not be read: an unknown protocol or track, a server that cannot be reached, ..."""


@dataclass(frozen=True)
class BoardEntry:
    """One ranked entry of a board, as the server lists it."""

    rank: int
    entry_id: int
    agent_name: str
    submitter: str
    status: str
    score: float | None
    score_low: float | None
    score_high: float | None
    num_parameters: int | None
    overlaps: tuple[int, ...]
    """Ids of the entries whose 95% interval overlaps this one's (their order is not settled)."""


@dataclass(frozen=True)
class Board:
    """One page of a board: ``entries`` are ranks ``offset + 1`` on, of ``total`` in the whole listing."""

    protocol: str
    track: str
    total: int
    offset: int
    include_unverified: bool
    entries: tuple[BoardEntry, ...]


@dataclass(frozen=True)
class Submission:
    """What the server answered: the entry, whether this call created it, and its verification status."""

    entry_id: int
    created: bool
    status: str
    url: str
    score: float | None


def submit(
    results_path: str | Path,
    server: str,
    token: str,
    weights: str | Path | None = None,
    timeout_s: float = SUBMIT_TIMEOUT_S,
    retries: int = RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> Submission:
    """Send ``results_path`` (and the ``weights`` folder) to ``server``; see the module docstring.

    Args:
        results_path: a results file written by ``nitrogen eval``.
        server: base URL, e.g. ``https://leaderboard.example.org``.
        token: the submitter's token from ``nitrogen leaderboard add-user``.
        weights: a folder holding ``config.json`` and ``model.safetensors`` (the evaluated checkpoint).
        timeout_s: per-request timeout.
        retries: extra attempts after a connection error, 429 or 5xx (waits 1, 2, 4 s or the server's Retry-After).
        sleep: how to wait between attempts (tests pass a no-op).

    Raises:
        BadResultsFile: the results file does not validate.
        SubmitError: anything else a user can fix (see the module docstring).
    """
    import httpx

    results = read_results(results_path)
    files = _weight_files(Path(weights), results) if weights is not None else None
    base = _base_url(server, SubmitError)
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "nitrogen-submit"}
    with httpx.Client(base_url=base, headers=headers, timeout=timeout_s) as client:
        body = results.model_dump_json().encode("utf-8")
        answer = _request(
            client,
            "POST",
            "/api/v1/submissions",
            retries,
            sleep,
            content=body,
            headers={"Content-Type": "application/json"},
        )
        data = _json(answer)
        created = bool(data.get("created"))
        entry_id = int(data["id"])
        if files is not None:
            data = _json(_upload(client, entry_id, files, retries, sleep))
    return Submission(
        entry_id=entry_id,
        created=created,
        status=str(data.get("status")),
        url=f"{base}/api/v1/submissions/{entry_id}",
        score=data.get("score"),
    )


def read_board(
    server: str,
    protocol: str,
    track: str,
    limit: int = BOARD_ROWS,
    offset: int = 0,
    include_unverified: bool = False,
    timeout_s: float = BOARD_TIMEOUT_S,
    retries: int = RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> Board:
    """One page of the ranked entries of ``protocol``'s ``track`` on ``server`` (no token needed).

    Args:
        server: base URL, e.g. ``https://leaderboard.example.org``.
        protocol: e.g. ``unseen-v1``.
        track: e.g. ``zero-shot`` or ``fine-tuned-5``.
        limit: entries on the page (the server allows 1-500).
        offset: ranks to skip (``offset=20`` starts at rank 21).
        include_unverified: also list entries the server has not verified (ranked on their own reports).
        timeout_s: per-request timeout.
        retries: extra attempts after a connection error, 429 or 5xx.
        sleep: how to wait between attempts (tests pass a no-op).

    Raises:
        BoardError: an unknown protocol or track, a bad page, a server that cannot be reached or is not a leaderboard.
    """
    import httpx

    base = _base_url(server, BoardError)
    params: dict[str, str | int] = {"limit": limit, "offset": offset, "all": "true" if include_unverified else "false"}
    path = f"/api/v1/leaderboard/{quote(protocol, safe='')}/{quote(track, safe='')}"
    with httpx.Client(base_url=base, headers={"User-Agent": "nitrogen-board"}, timeout=timeout_s) as client:
        answer = _with_retries(client, lambda: client.request("GET", path, params=params), retries, sleep, BoardError)
    try:
        data = answer.json()
        rows = data["entries"]
        entries = tuple(
            BoardEntry(
                rank=int(row["rank"]),
                entry_id=int(row["entry"]["id"]),
                agent_name=str(row["entry"]["agent_name"]),
                submitter=str(row["entry"]["submitter"]),
                status=str(row["entry"]["status"]),
                score=row["entry"]["score"],
                score_low=row["entry"]["score_low"],
                score_high=row["entry"]["score_high"],
                num_parameters=row["entry"]["num_parameters"],
                overlaps=tuple(int(i) for i in row["overlaps"]),
            )
            for row in rows
        )
        return Board(
            str(data["protocol"]),
            str(data["track"]),
            int(data["total"]),
            int(data["offset"]),
            bool(data["all"]),
            entries,
        )
    except (ValueError, KeyError, TypeError) as err:
        raise BoardError(
            f"the server's answer is not a board ({type(err).__name__}: {err}); is --server a NitroGen leaderboard?"
        ) from err


def _base_url(server: str, error: type[LeaderboardRequestError]) -> str:
    base = server.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise error(f"--server {server!r} is not an http(s):// URL")
    return base


def _weight_files(folder: Path, results: ResultsFile) -> dict[str, Path]:
    if not folder.is_dir():
        raise SubmitError(f"--weights {folder}: no such folder (it should hold {' and '.join(WEIGHT_FILES)})")
    files = {name: folder / name for name in WEIGHT_FILES}
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise SubmitError(
            f"--weights {folder} lacks {', '.join(missing)}; a checkpoint folder from save_pretrained holds "
            f"{' and '.join(WEIGHT_FILES)}"
        )
    claimed = results.agent.weights_sha256
    if claimed is not None:
        actual = sha256_file(files["model.safetensors"])
        if actual != claimed:
            raise SubmitError(
                f"{files['model.safetensors']} has sha256 {actual[:12]}..., but the results were made with weights "
                f"{claimed[:12]}...: pass the folder that was evaluated"
            )
    return files


def _upload(client: Any, entry_id: int, files: dict[str, Path], retries: int, sleep: Callable[[float], None]) -> Any:
    def send() -> Any:
        handles = {name: path.open("rb") for name, path in files.items()}
        try:
            parts = {name: (name, handle, "application/octet-stream") for name, handle in handles.items()}
            return client.request("PUT", f"/api/v1/submissions/{entry_id}/weights", files=parts)
        finally:
            for handle in handles.values():
                handle.close()

    return _with_retries(client, send, retries, sleep)


def _request(client: Any, method: str, path: str, retries: int, sleep: Callable[[float], None], **kwargs: Any) -> Any:
    return _with_retries(client, lambda: client.request(method, path, **kwargs), retries, sleep)


def _with_retries(
    client: Any,
    send: Callable[[], Any],
    retries: int,
    sleep: Callable[[float], None],
    error: type[LeaderboardRequestError] = SubmitError,
) -> Any:
    """Send, retrying connection errors, 429 and 5xx; then turn an error status into an ``error``."""
    import httpx

    for attempt in range(retries + 1):
        try:
            response = send()
        except httpx.TransportError as err:
            if attempt == retries:
                raise error(
                    f"cannot reach the leaderboard server at {client.base_url} ({type(err).__name__}: {err}); "
                    "check --server and your network"
                ) from err
            logger.info("retrying after %s", err)
            sleep(2.0**attempt)
            continue
        if response.status_code in RETRY_STATUSES and attempt < retries:
            wait = _retry_after(response) or 2.0**attempt
            logger.info("server answered %d; retrying in %.0f s", response.status_code, wait)
            sleep(wait)
            continue
        return _check(response, error)
    raise AssertionError("unreachable")  # the loop always returns or raises


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After", "")
    return min(float(value), 60.0) if value.isdigit() else None


def _check(response: Any, error: type[LeaderboardRequestError] = SubmitError) -> Any:
    """``response`` if it succeeded, else an ``error`` whose message says what its status means to that request."""
    code = response.status_code
    if code < 400:
        return response
    template = error.status_messages.get(code, error.other_status)
    raise error(template.format(code=code, detail=_detail(response)))


def _detail(response: Any) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(detail, list) and detail:  # FastAPI's validation errors
        first = detail[0]
        where = ".".join(str(part) for part in first.get("loc", []))
        return f"{where}: {first.get('msg')} ({len(detail)} problem(s))"
    return str(detail)[:500]


def _json(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as err:
        raise SubmitError(
            f"the server's answer is not JSON ({response.text[:100]!r}); is --server a leaderboard?"
        ) from err
    if not isinstance(data, dict) or "id" not in data:
        raise SubmitError("the server's answer has no entry id; is --server a NitroGen leaderboard?")
    return data
