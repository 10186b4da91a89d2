"""Who is asking, and one-round-trip reads on their behalf (for the async hot paths: tiles, nearest-N).

:func:`caller` turns a bearer token into a :class:`Caller` without touching
the database: the token is decoded once per token text
(:class:`api.auth.TokenCache`), and the user counts as *trusted* when the
database already confirmed their rights under the current version of the
users table (:class:`api.auth.VerifiedUsers`). :func:`read` runs one SQL
statement through :class:`geo.aiodb.AsyncDatabase` under the caller's
row-level security, checking an untrusted user in the same round trip and
remembering the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api.auth import context_of
from geo.context import RequestContext
from geo.users import UserRecord

__all__ = ["Caller", "caller", "read"]


@dataclass(frozen=True)
class Caller:
    """The request's user (None: anonymous), its context, and whether its rights are already confirmed."""

    user: UserRecord | None
    ctx: RequestContext
    users_version: int | None
    trusted: bool


def caller(state, token: str | None, request_id: str | None) -> Caller:
    """The caller behind ``token`` (HTTP 401 for a bad or expired one); anonymous without one.

    ``state``: the app's state (``tokens``, ``verified_users``).
    """
    user = None if token is None else state.tokens.user(token)
    if user is None:
        return Caller(None, context_of(None, request_id), None, True)
    version = state.verified_users.version()  # read before the database check (see VerifiedUsers)
    return Caller(user, context_of(user, request_id), version, state.verified_users.holds(user, version))


async def read(state, who: Caller, sql: str | None, params: Mapping[str, Any] | None = None, *,
               dicts: bool = False) -> list:
    """Rows of ``sql`` as ``who`` sees them (one round trip; the user checked there unless trusted).

    ``sql=None``: only the check of the user (nothing to read, say a tile already cached).

    Raises :class:`geo.errors.NotAuthenticated` when the user no longer holds
    the token's rights, :class:`geo.errors.DatabaseUnavailable` without a database.
    """
    rows = await state.reads.read(who.ctx, sql, params or {}, verified=who.trusted, dicts=dicts)
    if not who.trusted:
        state.verified_users.remember(who.user, who.users_version)
    return rows
