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

from geo.context import RequestContext, context_parameters, context_statement
from geo.db import psycopg_sql
from geo.errors import DatabaseUnavailable, NotAuthenticated

__all__ = ["AsyncDatabase"]

log = logging.getLogger(__name__)

_SERIAL = ", set_config('max_parallel_workers_per_gather', '0', true)"  # serial plans (layers.spatial)
# geo.context's statement, compiled once for psycopg, with parallel query off in the same statement
_CONTEXT = psycopg_sql(("context", False), lambda: context_statement(verify=False))[0] + _SERIAL
_VERIFY_CONTEXT = psycopg_sql(("context", True), lambda: context_statement(verify=True))[0] + _SERIAL


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

    async def read(self, ctx: RequestContext, sql: str | None, params: Mapping[str, Any] | Sequence[Any] = (), *,
                   verified: bool = False, dicts: bool = False) -> list:
        """Rows of one read-only ``sql`` under ``ctx``, with parallel query off, in one round trip.

        Rows are tuples, or dicts by column name with ``dicts``; ``sql=None``
        only checks the user (no rows).
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
                        if sql is not None:
                            await cur.execute(sql, params)
                    ok = (await head.fetchone())[0] if check else True
                    rows = await cur.fetchall() if sql is not None else []
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
