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

from fastapi import APIRouter, Depends, Header, Path, Request, Response

from api.auth import oauth2_scheme
from api.tile_answers import MVT, answer_tile
from layers.catalogue import LAYERS, get_layer, style_json
from layers.tiles import MAX_ZOOM, tile_fields

router = APIRouter(tags=["tiles"])

ZHEJIANG_BOUNDS = [118.0, 27.0, 123.3, 31.3]


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", response_class=Response,
            responses={200: {"content": {MVT: {}}}, 304: {"description": "not modified"},
                       404: {"description": "unknown layer or tile outside the matrix"}})
async def tile(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)],
               layer: Annotated[str, Path(max_length=64)],
               z: Annotated[int, Path(ge=-2**31, lt=2**31)], x: Annotated[int, Path(ge=-2**31, lt=2**31)],
               y: Annotated[int, Path(ge=-2**31, lt=2**31)],
               if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """One vector tile (WebMercatorQuad, 4096 units, 64-unit buffer).

    Well-formed requests are usually answered by :class:`api.tile_answers.TileFastPath`
    before they reach this route; both run :func:`api.tile_answers.answer_tile`.
    """
    answer = await answer_tile(request.app.state, layer=layer, z=z, x=x, y=y, token=token,
                               if_none_match=if_none_match, request_id=getattr(request.state, "request_id", None))
    return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))


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
