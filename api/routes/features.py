"""Resource endpoints for every writable catalogue layer: ``/enterprises``, ``/hazard-units`` ...

One router factory registers the same five routes per resource (list, item,
create, update, soft delete). Lists answer ``{"data": [...], "count": n}``,
or a GeoJSON FeatureCollection with ``Accept: application/geo+json`` or
``?f=geojson``; both are serialised by PostgreSQL. Items carry an ``ETag``
of their row version; updates and deletes need ``If-Match`` with it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response

from api.deps import SessionDep
from api.etags import etag_matches, etag_version
from layers.catalogue import RESOURCES, Layer
from layers.editing import (
    CREATE_MODELS,
    create_feature,
    delete_feature,
    payload_schema,
    update_feature,
)
from layers.features import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    InvalidQuery,
    ListQuery,
    count_features,
    decode_cursor,
    encode_cursor,
    filter_names,
    filter_parameters,
    get_feature,
    list_features,
    parse_bbox,
    parse_filters,
    parse_sort,
    region_prefix,
)

__all__ = ["router", "wants_geojson", "GEOJSON", "Paging", "PagingDep"]

GEOJSON = "application/geo+json"
router = APIRouter()


def wants_geojson(request: Request, f: str | None) -> bool:
    """``?f=geojson`` or an ``Accept`` header preferring GeoJSON."""
    if f is not None:
        return f == "geojson"
    return GEOJSON in request.headers.get("accept", "")


class Paging:
    """``limit`` (1..10000, default 100), ``offset`` or an opaque ``cursor`` (id order)."""

    def __init__(self,
                 limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, at most {MAX_LIMIT}")]
                 = DEFAULT_LIMIT,
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                 cursor: Annotated[str | None, Query(max_length=100, description="from next_cursor")] = None):
        self.limit, self.offset = limit, offset
        self.after_id = decode_cursor(cursor)
        if self.after_id is not None and offset:
            raise InvalidQuery("cursor", "use either cursor or offset, not both")


PagingDep = Annotated[Paging, Depends()]

def _register(layer: Layer, segment: str) -> None:
    tag = segment
    filters_of_layer = filter_names(layer)

    @router.get(f"/{segment}", tags=[tag], name=f"list_{layer.name}", summary=f"List {layer.en.lower()}",
                openapi_extra={"parameters": filter_parameters(layer)},
                responses={200: {"content": {"application/json": {}, GEOJSON: {}}}})
    def list_(request: Request, session: SessionDep, paging: PagingDep,
              bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS84)")] = None,
              adcode: Annotated[str | None, Query(description="region code at any level: 330000, 330200, 330211")]
              = None,
              q: Annotated[str | None, Query(max_length=100, description="name (or USCC) contains")] = None,
              sort: Annotated[str | None, Query(max_length=200, description="fields, - for descending")] = None,
              f: Annotated[Literal["json", "geojson"] | None, Query()] = None) -> Response:
        filters = parse_filters(layer, {k: request.query_params.get(k) for k in filters_of_layer})
        query = ListQuery(bbox=parse_bbox(bbox), prefix=region_prefix(session, adcode), q=q or None,
                          filters=filters, limit=paging.limit, offset=paging.offset, after_id=paging.after_id,
                          sort=parse_sort(layer, sort))
        if query.after_id is not None and query.sort:
            raise InvalidQuery("cursor", "cursor paging follows id order; drop sort or use offset")
        geojson = wants_geojson(request, f)
        page = list_features(session, layer=layer, query=query, geojson=geojson)
        if page.n < query.limit and (page.n > 0 or query.offset == 0) and query.after_id is None:
            count: int | None = query.offset + page.n  # a short page tells the total without counting
        elif geojson:
            count = None  # a full GeoJSON page does not pay for count(*); page with limit/offset or cursor
        else:
            count = count_features(session, layer=layer, query=query)
        headers = {} if count is None else {"X-Total-Count": str(count)}
        if geojson:
            matched = "" if count is None else f'"numberMatched":{count},'
            return Response(f'{{"type":"FeatureCollection",{matched}"numberReturned":{page.n},'
                            f'"features":{page.body}}}', media_type=GEOJSON, headers=headers)
        tail = ""
        if not query.sort and page.n == query.limit and page.last_id is not None and query.offset == 0:
            tail = f',"next_cursor":"{encode_cursor(page.last_id)}"'
        return Response(f'{{"data":{page.body},"count":{count}{tail}}}', media_type="application/json",
                        headers=headers)

    @router.get(f"/{segment}/{{feature_id}}", tags=[tag], name=f"get_{layer.name}",
                summary=f"One of the {layer.en.lower()} (with ETag)")
    def item(request: Request, session: SessionDep, feature_id: Annotated[int, Path(ge=1, lt=2**63)],
             f: Annotated[Literal["json", "geojson"] | None, Query()] = None,
             if_none_match: Annotated[str | None, Header()] = None) -> Response:
        geojson = wants_geojson(request, f)
        body, version = get_feature(session, layer=layer, feature_id=feature_id, geojson=geojson)
        etag = f'"{version}"'
        if etag_matches(if_none_match, etag):
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type=GEOJSON if geojson else "application/json",
                        headers={"ETag": etag, "Cache-Control": "private, no-cache"})

    if layer.name not in CREATE_MODELS:
        return  # read-only here: written by its workflow's own routes (accident reports, inspections, ...)
    create_schema = payload_schema(layer, create=True)
    update_schema = payload_schema(layer, create=False)

    @router.post(f"/{segment}", tags=[tag], status_code=201, name=f"create_{layer.name}",
                 summary=f"Create one of the {layer.en.lower()}",
                 openapi_extra={"requestBody": {"required": True, "content": {
                     "application/json": {"schema": create_schema}, GEOJSON: {"schema": {"type": "object"}}}}})
    def create(session: SessionDep, payload: Annotated[Any, Body()]) -> Response:
        new_id = create_feature(session, layer=layer, payload=payload)
        body, version = get_feature(session, layer=layer, feature_id=new_id, geojson=False)
        session.commit()
        return Response(body, status_code=201, media_type="application/json",
                        headers={"ETag": f'"{version}"', "Location": f"/{segment}/{new_id}"})

    @router.patch(f"/{segment}/{{feature_id}}", tags=[tag], name=f"update_{layer.name}",
                  summary=f"Change one of the {layer.en.lower()} (If-Match required)",
                  openapi_extra={"requestBody": {"required": True, "content": {
                      "application/json": {"schema": update_schema}}}})
    def patch(session: SessionDep, feature_id: Annotated[int, Path(ge=1, lt=2**63)],
              payload: Annotated[Any, Body()],
              if_match: Annotated[str | None, Header(description='ETag from GET, e.g. "3"')] = None) -> Response:
        version = update_feature(session, layer=layer, feature_id=feature_id, payload=payload,
                                 if_match=etag_version(if_match))
        body, version = get_feature(session, layer=layer, feature_id=feature_id, geojson=False)
        session.commit()
        return Response(body, media_type="application/json", headers={"ETag": f'"{version}"'})

    @router.delete(f"/{segment}/{{feature_id}}", tags=[tag], status_code=204, name=f"delete_{layer.name}",
                   summary=f"Soft-delete one of the {layer.en.lower()} (kept with valid_to; If-Match required)")
    def delete(session: SessionDep, feature_id: Annotated[int, Path(ge=1, lt=2**63)],
               if_match: Annotated[str | None, Header(description='ETag from GET, e.g. "3"')] = None) -> Response:
        delete_feature(session, layer=layer, feature_id=feature_id, if_match=etag_version(if_match))
        session.commit()
        return Response(status_code=204)


for _segment, _layer in RESOURCES.items():
    _register(_layer, _segment)
