"""Tokens and the request context: OAuth2 password flow with short-lived JWTs.

``POST /auth/token`` checks the password (argon2, throttled in the database)
and issues an HS256 JWT with ``sub``, ``aud``, ``iat`` and ``exp``. A request
with a bearer token is checked against the user row in its own first
statement (a disabled user's token stops working at once); the hot read paths
(tiles, ``/nearest``) skip that check for a user the database already
confirmed under the current version of the users table
(:class:`VerifiedUsers`, migration 0016), which changes the moment a user is
disabled or re-scoped. Decoded tokens are kept by :class:`TokenCache`.
Requests without a token act as the ``public`` role. The context reaches
PostgreSQL through ``geo.context``.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param

from geo.context import RequestContext
from geo.settings import Settings
from geo.users import UserRecord, load_active_user

__all__ = ["issue_token", "signing_key", "decode_token", "TokenCache", "VerifiedUsers", "token_user", "current_user",
           "request_context", "context_of", "CurrentUser", "ContextDep", "ALGORITHMS", "bearer_token"]

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


def decode_token(token: str, settings: Settings) -> tuple[UserRecord, int]:
    """The user a bearer token speaks for and its expiry (Unix s), after checking signature, ``aud``, ``iss``, ``exp``.

    Raises HTTP 401 for an expired, forged or malformed token.
    """
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
        return user, int(claims["exp"])
    except (KeyError, TypeError, ValueError):
        raise _unauthorised("token from an older version: log in again") from None


class TokenCache:
    """Tokens already decoded, by their text, until they expire (a JWT check costs ~60 µs; a lookup ~1 µs).

    Only tokens whose signature checked out are kept, so a forged token is
    decoded (and refused) every time. The expiry is re-checked on every use.
    """

    def __init__(self, settings: Settings, *, max_entries: int = 10_000) -> None:
        self._settings = settings
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[UserRecord, int]] = OrderedDict()
        self._lock = threading.Lock()

    def user(self, token: str) -> UserRecord:
        with self._lock:
            hit = self._entries.get(token)
            if hit is not None:
                self._entries.move_to_end(token)
        if hit is not None:
            user, exp = hit
            if time.time() < exp:
                return user
            with self._lock:
                self._entries.pop(token, None)
            raise _unauthorised("token expired")
        user, exp = decode_token(token, self._settings)
        with self._lock:
            self._entries[token] = (user, exp)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return user


class VerifiedUsers:
    """Users the database confirmed as active with their token's rights, valid while the users' data version stands.

    ``version()`` is the current data version of ``users`` from the change
    feed (migration 0016 bumps it whenever a user is added, removed, disabled
    or re-scoped), or None while the feed is down — then nothing counts as
    verified and every request checks in the database. Read the version
    *before* the database check and remember the user under it: a change
    committed meanwhile bumps the version and the next request checks again.
    """

    def __init__(self, version: Callable[[], int | None], *, max_entries: int = 10_000) -> None:
        self.version = version
        self._max = max_entries
        self._seen: dict[UserRecord, int] = {}
        self._lock = threading.Lock()

    def holds(self, user: UserRecord, version: int | None) -> bool:
        """Did the database confirm ``user`` under ``version`` (the current one)?"""
        return version is not None and self._seen.get(user) == version

    def remember(self, user: UserRecord, version: int | None) -> None:
        if version is None:
            return
        with self._lock:
            if len(self._seen) >= self._max:
                self._seen.clear()
            self._seen[user] = version


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, read as FastAPI's OAuth2 scheme reads it."""
    scheme, param = get_authorization_scheme_param(authorization)
    return param if scheme.lower() == "bearer" else None


def token_user(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]) -> UserRecord | None:
    """The user a valid bearer token speaks for (signature, ``aud``, ``iss``, ``exp``), None without one.

    No database access: the rights in the token are checked against the user
    row in the request's own transaction (:func:`geo.context.apply_context`
    with ``verify``), or by :func:`current_user` where no transaction follows.
    """
    return None if token is None else request.app.state.tokens.user(token)


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
    return context_of(user, getattr(request.state, "request_id", None))


def context_of(user: UserRecord | None, request_id: str | None) -> RequestContext:
    """The context of a token's user (verified by the first statement that sets it), or the anonymous one."""
    if user is None:
        return RequestContext(role="public", jurisdiction="00", actor="anonymous", request_id=request_id)
    return user.context(request_id, verify=True)


ContextDep = Annotated[RequestContext, Depends(request_context)]
