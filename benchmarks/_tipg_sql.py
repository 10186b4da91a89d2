"""Helper of ``tiles_bench.py``, run with the *tipg* environment's Python (not the project's).

Reads one JSON request on stdin and prints the SQL tipg would send for it, so
that the benchmark can time tipg's queries as bare SQL next to its HTTP times:

    {"dsn": "...", "tiles": [[z, x, y], ...], "tile_properties": [...] | null,
     "items": [{"bbox": [...], "limit": 10000, "properties": [...] | null}, ...]}

→ ``{"tiles": [[sql, params], ...], "items": [[[sql, params], ...], ...]}``

The statements come from tipg's own ``Collection.get_tile`` / ``features``
(catalogue read from the database exactly as the server does, with the same
``TIPG_DB_*`` environment), called with a stand-in connection that records
each statement instead of running it.
"""

from __future__ import annotations

import asyncio
import json
import sys

import asyncpg
from morecantile import Tile
from morecantile import tms as default_tms
from tipg.collections import pg_get_collection_index
from tipg.database import connection_factory
from tipg.settings import DatabaseSettings


class _Recorder:
    """Stands in for an asyncpg connection: records statements, returns empty results."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list]] = []

    async def fetchval(self, sql: str, *params):
        self.calls.append((sql, list(params)))
        return 0 if sql.lstrip().upper().startswith("SELECT COUNT") else b""

    async def fetch(self, sql: str, *params):
        self.calls.append((sql, list(params)))
        return []


async def _main(req: dict) -> dict:
    db_settings = DatabaseSettings()
    init = connection_factory(db_settings.schemas, db_settings.tipg_schema)
    conn = await asyncpg.connect(req["dsn"])
    try:
        await init(conn)
        collections = {c.id: c for c in await pg_get_collection_index(conn, settings=db_settings)}
    finally:
        await conn.close()
    coll = collections[req.get("collection", "public.enterprises")]
    wmq = default_tms.get("WebMercatorQuad")
    out: dict = {"tiles": [], "items": []}
    for z, x, y in req.get("tiles", []):
        rec = _Recorder()
        await coll.get_tile(rec, tms=wmq, tile=Tile(x, y, z), properties=req.get("tile_properties"))
        out["tiles"].append(rec.calls[-1])
    for item in req.get("items", []):
        rec = _Recorder()
        await coll.features(rec, bbox_filter=item["bbox"], limit=item["limit"], properties=item.get("properties"))
        out["items"].append(rec.calls)
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main(json.load(sys.stdin)))))
