"""Tokens and the request context: OAuth2 password flow with short-lived JWTs.

``POST /auth/token`` checks the password (argon2, throttled in the database)
and issues an HS256 JWT with ``sub``, ``aud``, ``iat`` and ``exp``. Every
request with a bearer token is re-checked against the user row (a disabled
user's token stops working at once). Requests without a token act as the
``public`` role. The context reaches PostgreSQL through ``geo.context``.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

from geo.context import RequestContext
from geo.settings import Settings
from geo.users import UserRecord, load_active_user

__all__ = ["issue_token", "signing_key", "token_user", "current_user", "request_context", "CurrentUser", "ContextDep",
           "ALGORITHMS"]

ALGORITHMS = ["HS256"]  # the allow-list: 'none' and asymmetric confusion are refused
_ISSUER = "onemap"
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def signing_key(settings: Settings) -> str:
    """``ONEMAP_JWT_SECRET``, or in development a key generated once into the state dir."""
    if settings.jwt_secret:
        return settings.jwt_secret
    return _development_key(settings.state_path / "jwt_secret")


@lru_cache(maxsize=8)
def _development_key(path: Path) -> str:
    """Read (creating once) the development key: once per process, not per request."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def issue_token(user: UserRecord, settings: Settings, *, now: float | None = None) -> str:
    """A signed JWT for ``user`` valid ``settings.jwt_ttl_s`` seconds."""
    now = time.time() if now is None else now
    claims = {"sub": user.username, "uid": user.id, "role": user.role, "jur": user.jurisdiction,
              "ent": user.enterprise_id, "aud": settings.jwt_audience,
              "iss": _ISSUER, "iat": int(now), "exp": int(now) + settings.jwt_ttl_s,
              "jti": uuid.uuid4().hex}
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHMS[0])


def _unauthorised(reason: str) -> HTTPException:
    return HTTPException(status_code=401, detail=reason, headers={"WWW-Authenticate": "Bearer"})


def token_user(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]) -> UserRecord | None:
    """The user a valid bearer token speaks for (signature, ``aud``, ``iss``, ``exp``), None without one.

    No database access: the rights in the token are checked against the user
    row in the request's own transaction (:func:`geo.context.apply_context`
    with ``verify``), or by :func:`current_user` where no transaction follows.
    """
    if token is None:
        return None
    settings: Settings = request.app.state.settings
    try:
        claims = jwt.decode(token, signing_key(settings), algorithms=ALGORITHMS,
                            audience=settings.jwt_audience, issuer=_ISSUER,
                            options={"require": ["exp", "iat", "sub", "aud"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorised("token expired") from None
    except jwt.InvalidTokenError:
        raise _unauthorised("invalid token") from None
    try:
        ent = claims["ent"]
        user = UserRecord(int(claims["uid"]), str(claims["sub"]), str(claims["role"]), str(claims["jur"]),
                          None if ent is None else int(ent))
    except (KeyError, TypeError, ValueError):
        raise _unauthorised("token from an older version: log in again") from None
    return user


def current_user(request: Request, user: Annotated[UserRecord | None, Depends(token_user)]) -> UserRecord | None:
    """:func:`token_user`, checked against the database now (for routes that open no transaction)."""
    if user is None:
        return None
    with request.app.state.engine.connect() as conn:
        row = load_active_user(conn, username=user.username)
    if row != user:
        raise _unauthorised("user unknown, disabled or changed: log in again")
    return user


CurrentUser = Annotated[UserRecord | None, Depends(current_user)]


def request_context(request: Request, user: Annotated[UserRecord | None, Depends(token_user)]) -> RequestContext:
    """Who is asking, for RLS and the audit log; anonymous requests are ``public``.

    A token's rights are verified by the first statement of the request's
    transaction (``verify=True``), not by a separate query.
    """
    request_id = getattr(request.state, "request_id", None)
    if user is None:
        return RequestContext(role="public", jurisdiction="00", actor="anonymous", request_id=request_id)
    return user.context(request_id, verify=True)


ContextDep = Annotated[RequestContext, Depends(request_context)]
