"""Vector tiles, TileJSON and the layer catalogue for the web map.

- ``GET /tiles/{layer}/{z}/{x}/{y}.mvt``: a Mapbox vector tile under the
  caller's jurisdiction. ``ETag`` follows the data version of the layer's
  tables and the caller's visibility; ``If-None-Match`` gets a 304 without
  touching the database. Anonymous tiles may be cached by proxies for a
  minute; signed-in tiles are ``private`` and revalidated.
- ``GET /tiles/{layer}.json``: TileJSON 3.0.0.
- ``GET /layers``: every layer's title, style fragment, legend and fields.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response

from api.deps import ContextDep
from api.etags import etag_matches
from geo.context import apply_context
from layers.catalogue import LAYERS, get_layer, style_json
from layers.tiles import MAX_ZOOM, TileCache, check_tile, render_tile, tile_fields, visibility_key

router = APIRouter(tags=["tiles"])

MVT = "application/vnd.mapbox-vector-tile"
ZHEJIANG_BOUNDS = [118.0, 27.0, 123.3, 31.3]


def _cache(request: Request) -> TileCache | None:
    return getattr(request.app.state, "tile_cache", None)


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", response_class=Response,
            responses={200: {"content": {MVT: {}}}, 304: {"description": "not modified"},
                       404: {"description": "unknown layer or tile outside the matrix"}})
def tile(request: Request, ctx: ContextDep,
         layer: Annotated[str, Path(max_length=64)],
         z: Annotated[int, Path(ge=-2**31, lt=2**31)], x: Annotated[int, Path(ge=-2**31, lt=2**31)],
         y: Annotated[int, Path(ge=-2**31, lt=2**31)],
         if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """One vector tile (WebMercatorQuad, 4096 units, 64-unit buffer)."""
    lyr = get_layer(layer)
    check_tile(z, x, y)
    cache = _cache(request)
    public = ctx.role == "public"
    cache_control = "public, max-age=60" if public else "private, no-cache"
    key = cache.key(lyr, z, x, y, visibility_key(ctx)) if cache is not None else None
    if key is not None and not ctx.verify:  # anonymous: answered from memory, no database at all
        response = _from_cache(cache, key, if_none_match, cache_control)
        if response is not None:
            return response
    with request.app.state.engine.connect() as conn, conn.begin():
        apply_context(conn, ctx)  # for a token: verifies the user in the same statement (401 if not active)
        if key is not None:
            response = _from_cache(cache, key, if_none_match, cache_control)
            if response is not None:
                return response
        data = render_tile(conn, layer=lyr, z=z, x=x, y=y)
    if key is None:  # data versions unknown (change feed down): never cache
        return Response(data, media_type=MVT, headers={"Cache-Control": "no-store"})
    entry = cache.put(key, data)
    return Response(entry.data, media_type=MVT, headers={"ETag": entry.etag, "Cache-Control": cache_control})


def _from_cache(cache: TileCache, key: tuple, if_none_match: str | None, cache_control: str) -> Response | None:
    etag = cache.etag_for(key)
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})
    entry = cache.get(key)
    if entry is None:
        return None
    return Response(entry.data, media_type=MVT, headers={"ETag": entry.etag, "Cache-Control": cache_control})


@router.get("/tiles/{layer}.json")
def tilejson(request: Request, layer: Annotated[str, Path(max_length=64)]) -> dict:
    """TileJSON 3.0.0 for one layer."""
    lyr = get_layer(layer)
    base = str(request.base_url).rstrip("/")
    return {
        "tilejson": "3.0.0",
        "name": lyr.name,
        "description": f"{lyr.zh} / {lyr.en}",
        "version": "1.0.0",
        "attribution": "OneMap",
        "scheme": "xyz",
        "tiles": [f"{base}/tiles/{lyr.name}/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": lyr.minzoom,
        "maxzoom": min(lyr.maxzoom, MAX_ZOOM),
        "bounds": ZHEJIANG_BOUNDS,
        "center": [120.15, 30.27, 8],
        "vector_layers": [{
            "id": lyr.name,
            "description": lyr.en,
            "minzoom": lyr.minzoom,
            "maxzoom": min(lyr.maxzoom, MAX_ZOOM),
            "fields": {f.name: f"{f.en} ({f.zh})" for f in tile_fields(lyr)},
        }],
    }


@router.get("/layers")
def layers() -> dict:
    """The layer catalogue: what the web map draws, in order, with styles and legends."""
    data = [style_json(lyr) | {"tilejson": f"/tiles/{lyr.name}.json"} for lyr in LAYERS.values()]
    return {"data": data, "count": len(data)}
