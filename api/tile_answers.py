"""Vector tiles answered in one database round trip, or none, and the ASGI fast path that serves them.

:func:`answer_tile` is the whole tile request: token (decoded once per
token, :class:`api.auth.TokenCache`), layer and address checks, the tile
cache, and on a miss one pipelined read (:mod:`geo.aiodb`: context, user
check, serial plans and the tile query sent together). The route
``GET /tiles/{layer}/{z}/{x}/{y}.mvt`` in :mod:`api.routes.tiles` and
:class:`TileFastPath` both call it, so the two cannot drift apart.

A signed-in user is checked in the database once per version of the users
table (:class:`api.auth.VerifiedUsers`, migration 0016): after that a
cached tile costs no database access at all, and a user disabled or moved
to another jurisdiction is checked again as soon as the change feed says so.
While the change feed is down there is no tile cache and every request
checks the user.

:class:`TileFastPath` is ASGI middleware that answers well-formed tile
requests before FastAPI's router and dependency machinery (which cost about
0.7 ms per request on this machine, several times the tile query itself).
Anything it does not answer — a malformed address, an unknown layer, a bad
token, a database error — goes to the FastAPI route unchanged, which gives
the usual JSON error through the app's handlers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import HTTPException

from api.auth import bearer_token
from api.etags import etag_matches
from api.reads import caller, read
from geo.errors import GeoError
from layers.catalogue import get_layer
from layers.tiles import TileCache, check_tile, tile_query, visibility_key

__all__ = ["TileAnswer", "answer_tile", "TileFastPath", "MVT"]

MVT = "application/vnd.mapbox-vector-tile"


@dataclass(frozen=True)
class TileAnswer:
    """Status, headers (name, value) and body of a tile response."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


async def answer_tile(state, *, layer: str, z: int, x: int, y: int, token: str | None,
                      if_none_match: str | None, request_id: str | None) -> TileAnswer:
    """One tile for whoever ``token`` speaks for (anonymous without one).

    ``state``: the app's state (``tokens``, ``verified_users``, ``tile_cache``,
    ``reads``). Raises :class:`geo.errors.GeoError` subclasses (unknown layer,
    outside the matrix, user no longer active, database unavailable) and
    ``HTTPException`` 401 for a bad token.
    """
    lyr = get_layer(layer)
    check_tile(z, x, y)
    who = caller(state, token, request_id)
    cache: TileCache | None = getattr(state, "tile_cache", None)
    cache_control = "public, max-age=60" if who.user is None else "private, no-cache"
    key = cache.key(lyr, z, x, y, visibility_key(who.ctx)) if cache is not None else None
    if key is not None and who.trusted and etag_matches(if_none_match, cache.etag_for(key)):
        return TileAnswer(304, (("etag", cache.etag_for(key)), ("cache-control", cache_control)), b"")
    entry = cache.get(key) if key is not None else None
    if entry is None or not who.trusted:
        # one round trip: the tile (unless cached) and, for a user not yet trusted, the check of its rights
        query = tile_query(lyr, z, x, y) if entry is None else None  # None too outside the layer's zooms
        rows = await read(state, who, *(query or (None,)))  # NotAuthenticated if the user lost them
        if entry is None:
            data = bytes(rows[0][0]) if rows and rows[0][0] is not None else b""
            if key is None:  # data versions unknown (change feed down): never cache
                return TileAnswer(200, (("content-type", MVT), ("cache-control", "no-store")), data)
            entry = cache.put(key, data)
    if etag_matches(if_none_match, entry.etag):
        return TileAnswer(304, (("etag", entry.etag), ("cache-control", cache_control)), b"")
    return TileAnswer(200, (("content-type", MVT), ("etag", entry.etag), ("cache-control", cache_control)),
                      entry.data)


# layer names are catalogue keys; z ≤ 22 and x, y < 2^22 fit the digit counts (anything else: the route)
_TILE_PATH = re.compile(r"^/tiles/([a-z0-9_]{1,64})/(\d{1,2})/(\d{1,7})/(\d{1,7})\.mvt$")


class TileFastPath:
    """ASGI middleware: well-formed ``GET /tiles/{layer}/{z}/{x}/{y}.mvt`` answered without the router."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _TILE_PATH.match(scope["path"])
            state = getattr(scope.get("app"), "state", None)
            if match is not None and state is not None and hasattr(state, "reads"):
                answer = await self._answer(scope, state, match)
                if answer is not None:
                    await _send(send, answer)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(scope, state, match: re.Match) -> TileAnswer | None:
        authorization = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        layer, z, x, y = match.groups()
        try:
            return await answer_tile(state, layer=layer, z=int(z), x=int(x), y=int(y),
                                     token=bearer_token(authorization), if_none_match=if_none_match,
                                     request_id=scope.get("state", {}).get("request_id"))
        except (GeoError, HTTPException):
            return None  # the route answers again, with the app's error handlers


async def _send(send, answer: TileAnswer) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
    if answer.status != 304:
        headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
