"""The request context that row-level security and the audit log read.

Set with ``set_config(name, value, true)`` inside the transaction (never a
plain ``SET``: it would leak to the next user of a pooled connection). With
SQLAlchemy sessions, put a :class:`RequestContext` in ``session.info["ctx"]``
and call :func:`install` once on the session factory: every transaction the
session begins gets the context first (``after_begin``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, event, text
from sqlalchemy.orm import Session, sessionmaker

from geo.errors import InvalidInput, NotAuthenticated, NotPermitted
from geo.regions import is_adcode

__all__ = ["RequestContext", "apply_context", "context_statement", "context_parameters", "require_signed_in",
           "install", "ROLES"]

ROLES = ("admin", "province", "city", "county", "enterprise", "public")
_PREFIX = re.compile(r"^(\d{2}|\d{4}|\d{6})$")
_SET = text(
    "SELECT set_config('onemap.role', :role, true), set_config('onemap.jurisdiction', :jurisdiction, true), "
    "set_config('onemap.enterprise_id', :enterprise_id, true), set_config('onemap.user_id', :user_id, true), "
    "set_config('onemap.actor', :actor, true), set_config('onemap.request_id', :request_id, true)"
)


@dataclass(frozen=True)
class RequestContext:
    """Who is asking: role, jurisdiction prefix ('33', '3302', '330211'), enterprise, actor."""

    role: str
    jurisdiction: str
    actor: str
    user_id: int | None = None
    enterprise_id: int | None = None
    request_id: str | None = None
    verify: bool = False  # check in the same statement that the user still holds these rights (tokens)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidInput("role", f"unknown role {self.role!r}; allowed: {', '.join(ROLES)}")
        if not _PREFIX.match(self.jurisdiction):
            raise InvalidInput("jurisdiction", "must be an adcode prefix of 2, 4 or 6 digits")
        if self.role == "enterprise" and self.enterprise_id is None:
            raise InvalidInput("enterprise_id", "an enterprise user needs its enterprise")

    @staticmethod
    def prefix_of(adcode: str, role: str) -> str:
        """Jurisdiction prefix from a 6-digit region code and a role ('330200', 'city' → '3302')."""
        if not is_adcode(adcode):
            raise InvalidInput("adcode", "must be a 6-digit region code such as 330000, 330200, 330106")
        if role in ("admin", "province", "public"):
            return adcode[:2]
        if role == "city":
            return adcode[:4]
        return adcode


_VERIFY_AND_SET = text(
    "SELECT EXISTS (SELECT 1 FROM onemap_login_lookup(:actor) u WHERE u.status = 'active' AND u.id = :uid "
    "AND u.role = :role AND u.jurisdiction = :jurisdiction AND u.enterprise_id IS NOT DISTINCT FROM :eid), "
    + _SET.text.removeprefix("SELECT ")
)


def context_statement(*, verify: bool) -> TextClause:
    """The statement that sets the context (with ``verify``: its first column says whether the user holds it).

    Bound with :func:`context_parameters`. The one definition of the context:
    :func:`apply_context` runs it through SQLAlchemy, :mod:`geo.aiodb` compiles it for its pipelined reads.
    """
    return _VERIFY_AND_SET if verify else _SET


def context_parameters(ctx: RequestContext) -> dict[str, Any]:
    """The bound parameters of :func:`context_statement` for ``ctx``."""
    return {
        "role": ctx.role, "jurisdiction": ctx.jurisdiction,
        "enterprise_id": "" if ctx.enterprise_id is None else str(ctx.enterprise_id),
        "user_id": "" if ctx.user_id is None else str(ctx.user_id),
        "actor": ctx.actor, "request_id": ctx.request_id or "",
        "uid": ctx.user_id, "eid": ctx.enterprise_id,
    }


def apply_context(conn: Connection | Session, ctx: RequestContext) -> None:
    """Set the context for the current transaction of ``conn``.

    With ``ctx.verify`` (a context built from a token) the same statement
    checks that the user is still active with that role, jurisdiction and
    enterprise; if not, :class:`~geo.errors.NotAuthenticated` — so a disabled
    user's token stops working at its next request, at no extra round trip.
    """
    result = conn.execute(context_statement(verify=ctx.verify), context_parameters(ctx))
    if ctx.verify and not result.scalar():
        raise NotAuthenticated("user unknown, disabled or changed: log in again")


def require_signed_in(ctx: RequestContext, what: str) -> None:
    """Refuse anonymous callers: ``what`` is for enterprise and regulator users."""
    if ctx.role == "public":
        raise NotPermitted(f"log in: {what} is for enterprise and regulator users")


def install(factory: sessionmaker) -> sessionmaker:
    """Make sessions from ``factory`` apply ``session.info['ctx']`` at every transaction start."""

    @event.listens_for(factory, "after_begin")
    def _after_begin(session: Session, transaction, connection: Connection) -> None:
        ctx = session.info.get("ctx")
        if ctx is not None:
            apply_context(connection, ctx)

    return factory
