"""Who is asking: bearer tokens checked against their stored sha256, and the per-token rate limit.

Tokens come from ``nitrogen leaderboard add-user`` (:func:`.db.add_user`). A request without one, or with
one no user has, gets 401; a valid token acting on another user's entry gets 403 (checked where the entry
is loaded, :func:`require_owner`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from nitrogen_leaderboard.server import db
from nitrogen_leaderboard.server.limits import RateLimiter

MAX_TOKEN_CHARS = 200
"""A real token is ~47 characters; anything much longer is refused before it is hashed."""
bearer = HTTPBearer(auto_error=False, description="Token printed by `nitrogen leaderboard add-user NAME`.")


def get_session(request: Request):  # type: ignore[no-untyped-def]  # FastAPI dependency generator
    """A database session for one request, closed after the response."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> db.User:
    """The user of the request's bearer token (401 otherwise), after the token's rate limit (429)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing token: send 'Authorization: Bearer TOKEN' (from `nitrogen leaderboard add-user`)")
    token = credentials.credentials
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise _unauthorized("invalid token")
    user = db.user_for_token(session, token)
    if user is None:
        raise _unauthorized("invalid token: no user has it (ask the server's operator for one)")
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.hit(user.token_hash)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"rate limit: at most {limiter.requests} requests per {limiter.window_s:g} s; retry in {wait:.0f} s",
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    request.state.user = user.name
    return user


UserDep = Annotated[db.User, Depends(current_user)]


def require_owner(entry: db.Entry | None, user: db.User, entry_id: int) -> db.Entry:
    """The entry if ``user`` submitted it: 404 when there is none, 403 when it is someone else's."""
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no entry {entry_id}")
    if entry.user_id != user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"entry {entry_id} belongs to another user")
    return entry
