"""One round trip per read: an asyncio connection pool that pipelines the request context with the query.

The hot read paths (vector tiles, nearest-N) spend most of their time not in
PostgreSQL but in round trips and driver layers: a SQLAlchemy request does
pre-ping, BEGIN, context, query and COMMIT as five exchanges. Here the same
transaction is sent at once with psycopg's pipeline mode, and the answers
come back together:

    SELECT <verify user and> set_config(context…), set_config(serial plans);  <query>;  Sync

In the extended query protocol a transaction opened by the first message
lasts until the Sync that ends the pipeline (there is no BEGIN/COMMIT to
send: the connections are in autocommit). The context is
:class:`geo.context.RequestContext`, applied with ``set_config(..., true)``
inside that transaction exactly as :func:`geo.context.apply_context` does,
so it ends with it and nothing leaks to the next user of a pooled
connection; should a driver ever sync between the two statements, the query
would run with no context and row-level security would show it nothing. With ``verify`` the first statement also answers whether
the token's user still holds those rights; the caller refuses the answer
when it does not (:class:`geo.errors.NotAuthenticated`).

A connection broken by a database restart is dropped by the pool and the
read is retried once on a fresh one; a database that stays unreachable is
:class:`geo.errors.DatabaseUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from geo.context import RequestContext
from geo.errors import DatabaseUnavailable, NotAuthenticated

__all__ = ["AsyncDatabase", "context_parameters"]

log = logging.getLogger(__name__)

_SET = ("set_config('onemap.role', %(role)s, true), set_config('onemap.jurisdiction', %(jurisdiction)s, true), "
        "set_config('onemap.enterprise_id', %(enterprise_id)s, true), set_config('onemap.user_id', %(user_id)s, true), "
        "set_config('onemap.actor', %(actor)s, true), set_config('onemap.request_id', %(request_id)s, true)")
_SERIAL = "set_config('max_parallel_workers_per_gather', '0', true)"
_CONTEXT = f"SELECT true, {_SET}, {_SERIAL}"
# the same check as geo.context.apply_context(verify=True), in the same statement as the context
_VERIFY_CONTEXT = (
    "SELECT EXISTS (SELECT 1 FROM onemap_login_lookup(%(actor)s) u WHERE u.status = 'active' AND u.id = %(uid)s "
    "AND u.role = %(role)s AND u.jurisdiction = %(jurisdiction)s AND u.enterprise_id IS NOT DISTINCT FROM %(eid)s), "
    f"{_SET}, {_SERIAL}"
)


def context_parameters(ctx: RequestContext) -> dict[str, Any]:
    """The bound parameters of the context statement for ``ctx``."""
    return {
        "role": ctx.role, "jurisdiction": ctx.jurisdiction,
        "enterprise_id": "" if ctx.enterprise_id is None else str(ctx.enterprise_id),
        "user_id": "" if ctx.user_id is None else str(ctx.user_id),
        "actor": ctx.actor, "request_id": ctx.request_id or "",
        "uid": ctx.user_id, "eid": ctx.enterprise_id,
    }


class AsyncDatabase:
    """An asyncio pool of app-role connections for pipelined reads under row-level security.

    ``dsn``: a libpq connection string (the app role). Open it inside the
    event loop that will use it (the app's lifespan) with :meth:`open`.
    """

    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 10, timeout_s: float = 10.0) -> None:
        self.pool = AsyncConnectionPool(dsn, min_size=min_size, max_size=max_size, timeout=timeout_s,
                                        open=False, name="onemap-reads",
                                        kwargs={"application_name": "onemap-reads", "autocommit": True})

    async def open(self) -> None:
        """Start the pool (connections are made in the background: a database still starting is fine)."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def read(self, ctx: RequestContext, sql: str, params: Mapping[str, Any] | Sequence[Any], *,
                   verified: bool = False, dicts: bool = False) -> list:
        """Rows of one read-only ``sql`` under ``ctx``, with parallel query off, in one round trip.

        Rows are tuples, or dicts by column name with ``dicts``.
        ``verified``: the caller already knows the token's user holds these
        rights (skip the check even when ``ctx.verify``). Raises
        :class:`NotAuthenticated` when the check fails, and
        :class:`DatabaseUnavailable` when no connection can be had.
        """
        check = ctx.verify and not verified
        first = _VERIFY_CONTEXT if check else _CONTEXT
        ctx_params = context_parameters(ctx)
        for attempt in (1, 2):
            conn = None
            try:
                # the pool's context rolls back on an error and drops a broken connection
                async with self.pool.connection() as conn:
                    # autocommit + pipeline: no BEGIN/COMMIT; the server runs everything up to the
                    # pipeline's one Sync as one transaction, and the settings end with it
                    async with conn.pipeline():
                        head = await conn.execute(first, ctx_params)
                        cur = conn.cursor(row_factory=dict_row) if dicts else conn.cursor()
                        await cur.execute(sql, params)
                    ok = (await head.fetchone())[0]
                    rows = await cur.fetchall()
            except psycopg.OperationalError as exc:
                if attempt == 1 and conn is not None and conn.broken:
                    log.warning("aiodb: connection lost (%s); checking the pool and retrying once", exc)
                    await self.pool.check()  # drop the other connections the restart broke
                    continue
                if isinstance(exc, psycopg.errors.QueryCanceled):
                    raise
                raise DatabaseUnavailable(f"database unavailable: {exc}") from exc
            if not ok:
                raise NotAuthenticated("user unknown, disabled or changed: log in again")
            return rows
        raise AssertionError("unreachable")

    async def scalar(self, ctx: RequestContext, sql: str, params: Mapping[str, Any] | Sequence[Any], *,
                     verified: bool = False) -> Any:
        """The first column of the first row of :meth:`read` (None without rows)."""
        rows = await self.read(ctx, sql, params, verified=verified)
        return rows[0][0] if rows else None
