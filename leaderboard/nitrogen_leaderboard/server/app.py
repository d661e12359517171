"""The FastAPI app: submissions, weights, the ranked listing per track, health; ``create_app(settings)``.

Routes (all JSON; the OpenAPI spec is at ``/openapi.json``, interactive docs at ``/docs``)::

    GET    /health                                  database reachable, migrations applied
    POST   /api/v1/submissions                      results file (token) -> entry; same content -> same entry
    PUT    /api/v1/submissions/{id}/weights         multipart config.json + model.safetensors (owner only)
    DELETE /api/v1/submissions/{id}                 withdraw an entry (owner only)
    GET    /api/v1/submissions/{id}                 one entry with its summaries
    GET    /api/v1/leaderboard/{protocol}/{track}   ranked entries; verified only unless ?all=true
    GET    /api/v1/me                               who the token belongs to, and their entries

Trust boundary: every request body, path and query value is untrusted and validated here (pydantic models,
the protocol's names, size limits in :mod:`.limits`, weights in :mod:`.weights`). Tokens are trusted only
after :mod:`.auth` found their hash. The database and the data folder are trusted.

For the page and the worker: ``app.state.settings``, ``app.state.engine``, ``app.state.sessionmaker`` and
``app.state.protocols`` (name -> :class:`~nitrogen_leaderboard.protocol.Protocol`) are set here; add routes with ``app.include_router`` in :func:`create_app`'s ``routers`` argument or after it returns.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from nitrogen_envs.errors import NitroGenError
from nitrogen_leaderboard.protocol import Protocol
from nitrogen_leaderboard.schema import MAX_NAME, ResultsFile
from nitrogen_leaderboard.server import db
from nitrogen_leaderboard.server.api_models import (
    BOARD_PAGE,
    MAX_BOARD_PAGE,
    BoardOut,
    BoardRow,
    EntryOut,
    HealthOut,
    MeOut,
    SubmitOut,
)
from nitrogen_leaderboard.server.auth import SessionDep, UserDep, require_owner
from nitrogen_leaderboard.server.limits import BodySizeLimit, RateLimiter
from nitrogen_leaderboard.server.settings import ServerSettings
from nitrogen_leaderboard.server.weights import ALLOWED, WeightsRejected, WeightsTooLarge, stage_upload

logger = logging.getLogger(__name__)

API = "/api/v1"
WEIGHTS_PATH_SUFFIX = "/weights"
EntryId = Annotated[int, Path(ge=1, le=2**62, description="Entry id, as returned by the submit endpoint.")]
NamePath = Annotated[str, Path(min_length=1, max_length=MAX_NAME)]


def create_app(settings: ServerSettings | None = None, routers: Iterable[APIRouter] = ()) -> FastAPI:
    """Build the app for ``settings``: open (and migrate) the database, set limits, add the routes."""
    settings = settings or ServerSettings()
    engine = db.make_engine(settings)
    if settings.migrate_on_start:
        db.upgrade(engine)
    app = FastAPI(
        title="NitroGen leaderboard",
        version=_package_version(),
        description="Ranks zero-shot results on unseen games; only entries the server re-ran rank by default.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = db.make_sessionmaker(engine)
    app.state.protocols = load_protocols(settings)
    app.state.rate_limiter = RateLimiter(settings.rate_limit_requests, settings.rate_limit_window_s)

    def limit_for(path: str) -> int:
        is_upload = path.startswith(f"{API}/submissions/") and path.endswith(WEIGHTS_PATH_SUFFIX)
        return settings.max_weights_bytes + 64 * 1024 if is_upload else settings.max_body_bytes

    app.add_middleware(BodySizeLimit, limit_for=limit_for)
    app.middleware("http")(_log_requests)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(_routes())
    from nitrogen_leaderboard.server import web  # the HTML page at / and /entries/{id}

    app.include_router(web.router())
    for router in routers:
        app.include_router(router)
    return app


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nitrogen-gym")
    except PackageNotFoundError:
        return "0+unknown"


async def _log_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    start = time.perf_counter()
    response = await call_next(request)
    logger.info(
        "request",
        extra={
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - start) * 1000, 2),
            "user": getattr(request.state, "user", None),
            "client": request.client.host if request.client else None,
        },
    )
    return response


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.error("unhandled error", exc_info=error, extra={"path": request.url.path})
    return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)


def load_protocols(settings: ServerSettings) -> dict[str, Protocol]:
    """The protocols this server ranks, by name.

    The shipped ones, the data folder's ``protocols/*.json`` (``seed-baselines`` writes there) and the
    operator's ``protocol_files``.
    """
    from nitrogen_leaderboard.protocol import available_protocols, load_protocol

    protocols = {name: load_protocol(name) for name in available_protocols()}
    local = sorted(settings.protocol_dir.glob("*.json")) if settings.protocol_dir.is_dir() else []
    for path in [*local, *settings.protocol_files]:
        protocol = load_protocol(str(path))
        protocols[protocol.name] = protocol
    return protocols


def check_board(protocols: dict[str, Protocol], protocol: str, track: str) -> Protocol:
    """The protocol named ``protocol`` if this server knows it and it has ``track``; 422 otherwise."""
    known = protocols.get(protocol)
    if known is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"unknown protocol {protocol!r}; this server ranks {sorted(protocols)}",
        )
    if track not in known.tracks:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"protocol {protocol!r} has no track {track!r}; tracks: {', '.join(known.tracks)}",
        )
    return known


def check_submission(protocols: dict[str, Protocol], results: ResultsFile) -> None:
    """422 unless the results are a complete dev-seed run of a known protocol and track."""
    protocol = check_board(protocols, results.protocol, results.track)
    if results.seed_set != "dev":
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"submit results on the dev seeds (got seed_set {results.seed_set!r}); the server runs the test seeds",
        )
    try:
        protocol.check_coverage(results)
    except NitroGenError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(err)) from err


def _routes() -> APIRouter:  # noqa: C901 (one closure per route reads best here)
    router = APIRouter()

    @router.get("/health", response_model=HealthOut, tags=["meta"])
    def health(request: Request, session: SessionDep) -> HealthOut:
        """Liveness and readiness: the database answers and is at the latest migration."""
        try:
            session.execute(text("SELECT 1"))
            revision = db.current_revision(request.app.state.engine)
        except Exception as err:
            logger.warning("health check failed", exc_info=err)
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="database unreachable") from err
        return HealthOut(status="ok", database=session.get_bind().dialect.name, revision=revision)

    @router.post(
        f"{API}/submissions",
        response_model=SubmitOut,
        status_code=status.HTTP_201_CREATED,
        tags=["submissions"],
        responses={200: {"model": SubmitOut, "description": "Already submitted: the same entry."}},
    )
    def submit(
        results: ResultsFile, request: Request, user: UserDep, session: SessionDep, response: Response
    ) -> SubmitOut:
        """Submit a results file. The same content again returns the same entry (200), so retrying is safe."""
        check_submission(request.app.state.protocols, results)
        try:
            entry, created = db.insert_results(session, user, results)
        except db.DuplicateSubmission as err:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(err)) from err
        if not created:
            response.status_code = status.HTTP_200_OK
        return SubmitOut(**EntryOut.of(entry).model_dump(), created=created)

    @router.put(
        f"{API}/submissions/{{entry_id}}{WEIGHTS_PATH_SUFFIX}",
        response_model=EntryOut,
        tags=["submissions"],
        openapi_extra={"requestBody": _multipart_spec()},
    )
    async def upload_weights(entry_id: EntryId, request: Request, user: UserDep) -> EntryOut:
        """Attach ``config.json`` + ``model.safetensors`` to your entry; it becomes ``pending`` verification.

        Uploading the same weights again returns the entry unchanged; different weights for an entry that
        has some are refused (409): submit a new results file instead.
        """
        settings: ServerSettings = request.app.state.settings
        try:
            form = await request.form(max_files=len(ALLOWED), max_fields=len(ALLOWED))
        except StarletteHTTPException as err:  # more parts than allowed, or a malformed multipart body
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"a weights upload is exactly the files {' and '.join(ALLOWED)}; refused: {err.detail}",
            ) from err
        try:
            files: dict[str, BinaryIO] = {}
            for name, value in form.multi_items():
                if not isinstance(value, UploadFile):
                    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"part {name!r} is not a file")
                if name in files:
                    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"part {name!r} sent twice")
                files[name] = value.file
            return await run_in_threadpool(_accept_weights, request, settings, entry_id, user.id, files)
        finally:
            await form.close()

    @router.delete(f"{API}/submissions/{{entry_id}}", status_code=status.HTTP_204_NO_CONTENT, tags=["submissions"])
    def withdraw(entry_id: EntryId, request: Request, user: UserDep, session: SessionDep) -> Response:
        """Withdraw your entry and delete its weights."""
        entry = require_owner(db.get_entry(session, entry_id), user, entry_id)
        folder = db.weights_folder(request.app.state.settings, entry)
        session.delete(entry)
        session.commit()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get(f"{API}/submissions/{{entry_id}}", response_model=EntryOut, tags=["entries"])
    def get_entry(entry_id: EntryId, session: SessionDep) -> EntryOut:
        """One entry, with its self-reported summary and (once verified) the re-run's."""
        entry = db.get_entry(session, entry_id)
        if entry is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no entry {entry_id}")
        return EntryOut.of(entry)

    @router.get(f"{API}/leaderboard/{{protocol}}/{{track}}", response_model=BoardOut, tags=["entries"])
    def board(
        request: Request,
        protocol: NamePath,
        track: NamePath,
        session: SessionDep,
        all: Annotated[bool, Query(description="Include unverified, pending and reproduced-low entries.")] = False,
        limit: Annotated[int, Query(ge=1, le=MAX_BOARD_PAGE, description="Entries on this page.")] = BOARD_PAGE,
        offset: Annotated[int, Query(ge=0, le=2**31, description="Entries ranked above this page.")] = 0,
    ) -> BoardOut:
        """One page of a track's entries, best IQM first, each with the entries whose 95% interval overlaps its own.

        The whole track is ranked from its score columns alone; only the page's entries are loaded.
        """
        check_board(request.app.state.protocols, protocol, track)
        scores = db.list_scores(session, protocol, track, include_all=all)
        rows = rank_rows(session, scores, offset, limit)
        return BoardOut(
            protocol=protocol, track=track, total=len(scores), offset=offset, limit=limit, all=all, entries=rows
        )

    @router.get(f"{API}/me", response_model=MeOut, tags=["submissions"])
    def me(user: UserDep, session: SessionDep) -> MeOut:
        """The token's user and the ids of their entries (a cheap way to check a token)."""
        ids = sorted(entry.id for entry in session.get(db.User, user.id).entries)  # type: ignore[union-attr]
        return MeOut(name=user.name, entries=ids)

    return router


def rank_rows(session: Any, scores: list[db.ScoreRow], offset: int, limit: int) -> list[BoardRow]:
    """Rows ``offset + 1`` to ``offset + limit`` of the ranking (:func:`metrics.rank`: IQM, then lower interval end).

    ``overlaps``: ids whose interval meets the row's. The entries are loaded for those rows only; one withdrawn
    between the two queries (another request's DELETE) is left out of the page rather than failing it.
    """
    from nitrogen_leaderboard.metrics import rank

    rows = rank({str(score.id): score for score in scores}, first=offset, count=limit)
    entries = db.entries_by_id(session, [int(row.name) for row in rows])
    return [
        BoardRow(
            rank=row.position,
            overlaps=[int(key) for key in row.overlaps_with],
            entry=EntryOut.of(entries[int(row.name)]),
        )
        for row in rows
        if int(row.name) in entries
    ]


def _accept_weights(
    request: Request, settings: ServerSettings, entry_id: int, user_id: int, files: dict[str, BinaryIO]
) -> EntryOut:
    """Check, store and record an upload (in a worker thread: hashing and checking take a while)."""
    with request.app.state.sessionmaker() as session:
        user = session.get(db.User, user_id)
        entry = require_owner(db.get_entry(session, entry_id), user, entry_id)
        if entry.weights_sha256 is None and db.is_builtin(entry.agent_name, entry.claimed_weights_sha256):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"entry {entry_id} is the built-in agent {entry.agent_name!r}, which the server re-runs "
                "without weights; evaluate your own model under another name to submit weights",
            )
        try:
            staged = stage_upload(settings, files)
        except WeightsTooLarge as err:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=str(err)) from err
        except WeightsRejected as err:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(err)) from err
        try:
            if entry.claimed_weights_sha256 is not None and entry.claimed_weights_sha256 != staged.sha256:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    detail=f"model.safetensors has sha256 {staged.sha256}, the results name "
                    f"{entry.claimed_weights_sha256}: upload the weights that were evaluated",
                )
            if entry.weights_sha256 is not None:
                if entry.weights_sha256 != staged.sha256:
                    raise HTTPException(
                        status.HTTP_409_CONFLICT,
                        detail=f"entry {entry_id} already has other weights; submit a new results file for new weights",
                    )
                return EntryOut.of(entry)  # the same upload again: nothing changes
            staged.install(settings.weights_root / str(entry.id))
            entry.weights_sha256 = staged.sha256
            entry.weights_bytes = staged.total_bytes
            if entry.num_parameters is None:
                entry.num_parameters = staged.num_parameters
            entry.status = db.PENDING
            try:
                session.commit()
            except Exception:
                shutil.rmtree(settings.weights_root / str(entry.id), ignore_errors=True)
                raise
            logger.info("weights accepted", extra={"entry": entry.id, "sha256": staged.sha256})
            return EntryOut.of(entry)
        finally:
            staged.discard()


def _multipart_spec() -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": dict.fromkeys(ALLOWED, binary),
                    "required": list(ALLOWED),
                    "additionalProperties": False,
                }
            }
        },
    }
