"""OGC API – Features (Part 1: Core, GeoJSON, OpenAPI 3.0) under ``/ogc``.

Thin adapter over :mod:`layers.ogc`: each route builds the absolute OGC root
from the request (``request.base_url``, so links work behind a proxy that
sets the root path), hands the query parameters over and returns the
document. Collections come from the layer catalogue; one factory registers
the collection, items and item routes per layer (so the API definition lists
each collection's own filters), and catch-all routes answer 404 for unknown
collections. Sessions carry the caller's jurisdiction exactly as in
:mod:`api.routes.features`: row-level security decides what exists.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from layers import ogc
from layers.catalogue import LAYERS, Layer, get_layer

__all__ = ["router", "PREFIX"]

PREFIX = "/ogc"
TAG = "OGC API – Features"
router = APIRouter(prefix=PREFIX, tags=[TAG])

FormatQuery = Annotated[str | None, Query(description="json (the only format; geojson accepted for items)")]


def _root(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


@router.get("", name="ogc_landing", summary="Landing page", response_class=JSONResponse)
def landing(request: Request, f: FormatQuery = None) -> JSONResponse:
    ogc.check_format(f)
    base = str(request.base_url).rstrip("/")
    app = request.app
    return JSONResponse(ogc.landing_page(
        _root(request), title=f"{app.title} – OGC API Features",
        description=f"{app.description} Every map layer of the catalogue as a feature collection.",
        api_url=base + app.openapi_url, docs_url=base + app.docs_url if app.docs_url else None))


@router.get("/conformance", name="ogc_conformance", summary="Conformance classes", response_class=JSONResponse)
def conformance(request: Request, f: FormatQuery = None) -> JSONResponse:
    ogc.check_format(f)
    return JSONResponse(ogc.conformance(_root(request)))


@router.get("/collections", name="ogc_collections", summary="Feature collections (every catalogue layer)",
            response_class=JSONResponse)
def collections(request: Request, session: SessionDep, f: FormatQuery = None) -> JSONResponse:
    ogc.check_format(f)
    return JSONResponse(ogc.collections(session, root=_root(request)))


_ITEMS_RESPONSES = {200: {"description": "GeoJSON FeatureCollection", "content": {ogc.MEDIA_GEOJSON: {}}},
                    400: {"description": "a bad parameter, named in detail[].field"}}
_ITEM_RESPONSES = {200: {"description": "GeoJSON Feature", "content": {ogc.MEDIA_GEOJSON: {}}},
                   404: {"description": "no such feature, or not one your jurisdiction can see"}}


def _register(layer: Layer) -> None:
    path = f"/collections/{layer.name}"

    @router.get(path, name=f"ogc_collection_{layer.name}", summary=f"Collection {layer.name} ({layer.en})",
                response_class=JSONResponse)
    def describe(request: Request, session: SessionDep, f: FormatQuery = None) -> JSONResponse:
        ogc.check_format(f)
        return JSONResponse(ogc.collection(session, layer=layer, root=_root(request)))

    @router.get(f"{path}/items", name=f"ogc_items_{layer.name}", summary=f"Features of {layer.name} ({layer.en})",
                openapi_extra={"parameters": ogc.items_parameters(layer)}, responses=_ITEMS_RESPONSES,
                response_class=Response)
    def items(request: Request, session: SessionDep) -> Response:
        body = ogc.items(session, layer=layer, params=request.query_params, root=_root(request))
        return Response(body, media_type=ogc.MEDIA_GEOJSON)

    @router.get(f"{path}/items/{{feature_id}}", name=f"ogc_item_{layer.name}",
                summary=f"One feature of {layer.name}", responses=_ITEM_RESPONSES, response_class=Response)
    def item(request: Request, session: SessionDep,
             feature_id: Annotated[str, Path(description="the feature's id (a region's adcode)")],
             f: FormatQuery = None) -> Response:
        ogc.check_format(f)
        body = ogc.item(session, layer=layer, feature_id=feature_id, root=_root(request))
        return Response(body, media_type=ogc.MEDIA_GEOJSON)


for _layer in LAYERS.values():
    _register(_layer)


# Unknown collections: 404 naming the known ones (registered after the per-layer routes, which match first).
@router.get("/collections/{collection_id}", include_in_schema=False)
@router.get("/collections/{collection_id}/items", include_in_schema=False)
@router.get("/collections/{collection_id}/items/{feature_id}", include_in_schema=False)
def unknown_collection(collection_id: str) -> Response:
    get_layer(collection_id, field_name="collection")
    raise AssertionError("unreachable: every catalogue layer has its own routes")  # pragma: no cover
