"""Users: creation with argon2 password hashes, and password checks with throttling.

Keyword-only; the caller owns the transaction. Login works before any request
context exists, through the database's SECURITY DEFINER functions
``onemap_login_lookup`` and ``onemap_login_attempt`` (five failures in a row
lock the account for 15 minutes).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.orm import Session

from geo.context import ROLES, RequestContext
from geo.errors import GeoError, InvalidInput
from geo.models import Enterprise, User
from geo.registry import db_errors
from geo.uscc import validate_uscc

__all__ = ["UserRecord", "AuthError", "create_user", "authenticate", "login", "load_active_user",
           "hash_password"]

_HASHER = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
_USERNAME = re.compile(r"^[a-z0-9_.-]{3,64}$")


class AuthError(GeoError, PermissionError):
    """Login refused. The message never says whether the user exists."""


@cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown users; made on first need (an argon2 hash costs ~0.2 s)."""
    return _HASHER.hash("onemap-timing-equaliser")


@dataclass(frozen=True)
class UserRecord:
    """An active user as the API needs it."""

    id: int
    username: str
    role: str
    jurisdiction: str
    enterprise_id: int | None

    def context(self, request_id: str | None = None, *, verify: bool = False) -> RequestContext:
        return RequestContext(role=self.role, jurisdiction=self.jurisdiction, actor=self.username,
                              user_id=self.id, enterprise_id=self.enterprise_id, request_id=request_id,
                              verify=verify)


def hash_password(password: str, *, field: str = "password") -> str:
    """argon2id hash of a password of 8 to 256 characters."""
    if not isinstance(password, str) or not 8 <= len(password) <= 256:
        raise InvalidInput(field, "must be 8 to 256 characters")
    return _HASHER.hash(password)


def create_user(conn: Connection | Session, *, username: str, password: str, role: str, adcode: str,
                enterprise_uscc: str | None = None, display_name: str | None = None) -> int:
    """Create a user; the jurisdiction prefix comes from ``adcode`` and ``role``.

    ``role``: admin, province, city, county, enterprise, public. An enterprise
    user names its enterprise by USCC, which must lie inside ``adcode``.
    """
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidInput("username", "must be 3-64 characters of a-z, 0-9, '_', '.', '-'")
    if role not in ROLES:
        raise InvalidInput("role", f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
    jurisdiction = RequestContext.prefix_of(adcode, role)
    enterprise_id = None
    if role == "enterprise":
        if enterprise_uscc is None:
            raise InvalidInput("enterprise", "an enterprise user needs --enterprise USCC")
        row = conn.execute(select(Enterprise.id, Enterprise.adcode)
                           .where(Enterprise.uscc == validate_uscc(enterprise_uscc, field="enterprise"))).first()
        if row is None:
            raise InvalidInput("enterprise", f"no enterprise with USCC {enterprise_uscc}")
        if not row.adcode.startswith(jurisdiction):
            raise InvalidInput("adcode", f"the enterprise lies in {row.adcode}, outside {adcode}")
        enterprise_id = row.id
    elif enterprise_uscc is not None:
        raise InvalidInput("enterprise", "only enterprise users belong to an enterprise")
    values = {"username": username, "display_name": display_name or username, "role": role,
              "jurisdiction": jurisdiction, "enterprise_id": enterprise_id,
              "password_hash": hash_password(password)}
    bind = conn.connection() if isinstance(conn, Session) else conn
    with db_errors(bind):
        return bind.execute(insert(User).values(**values).returning(User.id)).scalar_one()


_LOOKUP = text("SELECT id, username, password_hash, role, jurisdiction, enterprise_id, status, locked_until "
               "FROM onemap_login_lookup(:u)")
_ATTEMPT = text("SELECT onemap_login_attempt(:u, :ok)")


def authenticate(conn: Connection, *, username: str, password: str, now: datetime | None = None) -> UserRecord:
    """Check a password; count the attempt. Raises :class:`AuthError` with one generic message.

    The attempt is recorded in the caller's transaction: commit it even when
    this raises, or failed logins never add up to a lock-out.
    """
    row = conn.execute(_LOOKUP, {"u": username}).first() if isinstance(username, str) else None
    if row is None or row.password_hash is None:
        with contextlib.suppress(VerificationError):  # spend the same time as a real check
            _HASHER.verify(_dummy_hash(), password if isinstance(password, str) else "")
        raise AuthError("incorrect username or password")
    if row.locked_until is not None:  # the database clock is asked only when there is a lock to compare
        current = conn.execute(text("SELECT now()")).scalar() if now is None else now
        if row.locked_until > current:
            raise AuthError("too many failed logins: try again later")
    try:
        _HASHER.verify(row.password_hash, password)
        ok = row.status == "active"
    except (VerificationError, InvalidHashError):
        ok = False
    conn.execute(_ATTEMPT, {"u": username, "ok": ok})
    if not ok:
        raise AuthError("incorrect username or password")
    return UserRecord(row.id, row.username, row.role, row.jurisdiction, row.enterprise_id)


def login(engine: Engine, *, username: str, password: str) -> UserRecord:
    """:func:`authenticate` in a transaction of its own that is committed even when
    the login is refused, so failed attempts add up to a lock-out."""
    with engine.connect() as conn:
        try:
            return authenticate(conn, username=username, password=password)
        finally:
            conn.commit()


def load_active_user(conn: Connection, *, username: str) -> UserRecord | None:
    """The user behind a token, or None when unknown, disabled or locked."""
    row = conn.execute(_LOOKUP, {"u": username}).first()
    if row is None or row.status != "active":
        return None
    return UserRecord(row.id, row.username, row.role, row.jurisdiction, row.enterprise_id)
