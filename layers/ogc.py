"""OGC API – Features, Part 1 (Core, GeoJSON, OpenAPI 3.0) over the layer catalogue.

Framework-independent: every function takes a SQLAlchemy session (whose
transactions carry the caller's request context, so row-level security
decides what exists), the absolute URL of the OGC root (``http://host/ogc``,
built by the web adapter from the request) and plain query parameters, and
returns a document (a ``dict`` for the small JSON documents) or JSON text
(features, serialised by PostgreSQL through :mod:`layers.features`).

Every catalogue layer is a collection, named as in the catalogue. Items
accept ``limit`` (default 10; over 10,000 is clamped to 10,000 as the standard
recommends), ``offset``, ``bbox`` (CRS84), ``datetime`` on layers with a
temporal column, the layer's filterable fields, and ``f`` (``json`` or
``geojson``; both answer GeoJSON). Any other parameter is refused (400), as
the standard requires, so a misspelt filter never silently returns everything.

``numberMatched`` is exact while the table holds at most
:data:`EXACT_COUNT_MAX_ROWS` rows (by ``pg_class.reltuples``); above that it
is the planner's estimate (``EXPLAIN``) unless the page itself proves the
exact figure (a short page). Spatial and temporal extents are computed from
the rows the caller may see and cached per process for :data:`EXTENT_TTL_S`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import ClauseElement, Executable, column, func, literal, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.models import Region
from layers.catalogue import LAYERS, Layer
from layers.features import (
    MAX_LIMIT,
    InvalidQuery,
    ListQuery,
    count_features,
    filter_names,
    filter_parameters,
    get_feature,
    list_features,
    parse_bbox,
    parse_datetime,
    parse_filters,
    where_clauses,
)

__all__ = [
    "CONFORMANCE", "CRS84", "DEFAULT_LIMIT", "MAX_LIMIT", "EXACT_COUNT_MAX_ROWS", "EXTENT_TTL_S",
    "MEDIA_JSON", "MEDIA_GEOJSON", "MEDIA_OPENAPI", "ItemsRequest", "landing_page", "conformance",
    "collections", "collection", "collection_extent", "clear_extent_cache", "items_parameters",
    "parse_items", "check_format", "items", "item", "number_matched",
]

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
MEDIA_JSON = "application/json"
MEDIA_GEOJSON = "application/geo+json"
MEDIA_OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
MEDIA_HTML = "text/html"

DEFAULT_LIMIT = 10
MAX_OFFSET = 10_000_000
EXACT_COUNT_MAX_ROWS = 100_000
EXTENT_TTL_S = 300.0
_EXTENT_CACHE_MAX = 4096
FORMATS = ("json", "geojson")

# filters that are not catalogue fields (parse_filters knows them; documented here for the API definition)
def _link(href: str, rel: str, media: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": media}
    if title:
        out["title"] = title
    return out


def check_format(f: str | None) -> None:
    """``f`` must be ``json`` or ``geojson`` (or absent); HTML is not offered.

    >>> check_format(None); check_format("json")
    >>> check_format("html")
    Traceback (most recent call last):
    ...
    layers.features.InvalidQuery: f: unsupported format 'html'; allowed: json, geojson
    """
    if f is not None and f not in FORMATS:
        raise InvalidQuery("f", f"unsupported format {f!r}; allowed: {', '.join(FORMATS)}")


# ---------------------------------------------------------------- landing page, conformance


def landing_page(root: str, *, title: str, description: str, api_url: str, docs_url: str | None = None
                 ) -> dict[str, Any]:
    """The landing page: title, description and links to the API definition, conformance and data.

    >>> page = landing_page("http://h/ogc", title="T", description="D", api_url="http://h/openapi.json")
    >>> sorted(link["rel"] for link in page["links"])
    ['conformance', 'data', 'self', 'service-desc']
    """
    links = [
        _link(root, "self", MEDIA_JSON, "this document"),
        _link(api_url, "service-desc", MEDIA_OPENAPI, "the API definition (OpenAPI)"),
    ]
    if docs_url:
        links.append(_link(docs_url, "service-doc", MEDIA_HTML, "the API documentation"))
    links += [
        _link(f"{root}/conformance", "conformance", MEDIA_JSON, "conformance classes implemented"),
        _link(f"{root}/collections", "data", MEDIA_JSON, "the feature collections (map layers)"),
    ]
    return {"title": title, "description": description, "links": links}


def conformance(root: str) -> dict[str, Any]:
    """The conformance declaration (Core, GeoJSON, OpenAPI 3.0)."""
    return {"conformsTo": list(CONFORMANCE), "links": [_link(f"{root}/conformance", "self", MEDIA_JSON)]}


# ---------------------------------------------------------------- extents


_extents: dict[tuple, tuple[float, dict]] = {}
_extents_lock = threading.Lock()


def clear_extent_cache() -> None:
    """Forget every cached extent (tests, or after a bulk load)."""
    with _extents_lock:
        _extents.clear()


def _rfc3339(value: Any) -> str | None:
    """A date or time as an RFC 3339 instant in UTC (dates at midnight)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        stamp = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    return str(value)


def _bbox_row(session: Session, geom, *where) -> list[float] | None:
    ext = func.ST_Extent(geom)
    row = session.execute(select(func.ST_XMin(ext), func.ST_YMin(ext), func.ST_XMax(ext), func.ST_YMax(ext))
                          .where(*where)).one()
    return None if row[0] is None else [round(float(v), 7) for v in row]


def _compute_extent(session: Session, layer: Layer) -> dict[str, Any]:
    ext = func.ST_Extent(layer.geom_column)
    cols = [func.ST_XMin(ext), func.ST_YMin(ext), func.ST_XMax(ext), func.ST_YMax(ext)]
    if layer.temporal is not None:
        cols += [func.min(layer.temporal), func.max(layer.temporal)]
    row = session.execute(select(*cols).where(layer.where())).one()
    if row[0] is not None:
        bbox = [round(float(v), 7) for v in row[:4]]
    else:  # nothing visible: the loaded regions (not row-level secured), else the world
        bbox = _bbox_row(session, Region.geom) or [-180.0, -90.0, 180.0, 90.0]
    out: dict[str, Any] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    if layer.temporal is not None:
        out["temporal"] = {"interval": [[_rfc3339(row[4]), _rfc3339(row[5])]], "trs": GREGORIAN}
    return out


def _cache_key(session: Session, layer: Layer) -> tuple | None:
    ctx = session.info.get("ctx")
    if ctx is None:
        return None
    return (str(session.get_bind().url), layer.name, ctx.role, ctx.jurisdiction, ctx.enterprise_id)


def collection_extent(session: Session, layer: Layer, *, ttl_s: float = EXTENT_TTL_S) -> dict[str, Any]:
    """``extent`` of a collection: bbox (and time interval) of the rows the caller may see.

    Computed with ``ST_Extent`` (and ``min``/``max`` of the temporal column)
    under the caller's row-level security, cached per process for ``ttl_s``
    seconds per database, layer and jurisdiction. A layer with no visible
    rows reports the extent of the loaded regions.
    """
    key = _cache_key(session, layer)
    now = time.monotonic()
    if key is not None:
        hit = _extents.get(key)
        if hit is not None and now - hit[0] < ttl_s:
            return hit[1]
    extent = _compute_extent(session, layer)
    if key is not None:
        with _extents_lock:
            if len(_extents) >= _EXTENT_CACHE_MAX:
                _extents.clear()
            _extents[key] = (now, extent)
    return extent


# ---------------------------------------------------------------- collections


def _collection_url(root: str, layer: Layer) -> str:
    return f"{root}/collections/{quote(layer.name)}"


def collection(session: Session, *, layer: Layer, root: str) -> dict[str, Any]:
    """The description of one collection: id, titles, extent, CRS, links to its items."""
    url = _collection_url(root, layer)
    details = [f"{layer.en} ({layer.zh})."]
    if filter_names(layer):
        details.append(f"Filter by: {', '.join(filter_names(layer))}.")
    if layer.temporal is not None:
        details.append(f"datetime selects by {layer.temporal.key}.")
    return {
        "id": layer.name,
        "title": f"{layer.zh} / {layer.en}",
        "description": " ".join(details),
        "itemType": "feature",
        "crs": [CRS84],
        "extent": collection_extent(session, layer),
        "links": [
            _link(url, "self", MEDIA_JSON, "this collection"),
            _link(f"{url}/items", "items", MEDIA_GEOJSON, f"{layer.en} (GeoJSON)"),
        ],
    }


def collections(session: Session, *, root: str) -> dict[str, Any]:
    """Every catalogue layer as a collection."""
    return {
        "links": [_link(f"{root}/collections", "self", MEDIA_JSON, "the collections")],
        "collections": [collection(session, layer=layer, root=root) for layer in LAYERS.values()],
    }


# ---------------------------------------------------------------- items


def items_parameters(layer: Layer) -> list[dict[str, Any]]:
    """The query parameters of ``/collections/{layer}/items`` as OpenAPI 3.0 parameter objects."""
    def q(name: str, schema: dict, description: str, **kw) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description,
                **kw}

    params = [
        q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
          f"page size; values over {MAX_LIMIT} are clamped to {MAX_LIMIT}", style="form", explode=False),
        q("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
          "features to skip (the next link carries it)", style="form", explode=False),
        q("bbox", {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
          "minLon,minLat,maxLon,maxLat in CRS84 (WGS84 longitude, latitude)", style="form", explode=False),
    ]
    if layer.temporal is not None:
        params.append(q("datetime", {"type": "string"},
                        f"by {layer.temporal.key}: an RFC 3339 date or date-time, or an interval start/end "
                        "with '..' for an open end", style="form", explode=False))
    params += [{**p, "style": "form", "explode": False} for p in filter_parameters(layer)]
    params.append(q("f", {"type": "string", "enum": list(FORMATS)}, "output format (both are GeoJSON)"))
    return params


@dataclass(frozen=True)
class ItemsRequest:
    """A validated items request: the selection and the parameters to echo in links."""

    query: ListQuery
    params: tuple[tuple[str, str], ...]  # as given (minus limit/offset), for self/next/prev links


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidQuery(name, f"must be an integer, got {raw[:40]!r}") from None
    if value < low:
        raise InvalidQuery(name, f"must be at least {low}")
    if high is not None and value > high:
        raise InvalidQuery(name, f"must be at most {high}")
    return value


_BARE_T = re.compile(r"^(\d{4}-\d{2}-\d{2})T$")


def _gdal_dates(value: str | None) -> str | None:
    """Accept GDAL's ``2024-02-01T`` (a date with an empty time, as GDAL 3.6 sends for ``-where``) as a date.

    >>> _gdal_dates("2024-02-01T/.."), _gdal_dates("2024-02-01T10:00:00Z"), _gdal_dates(None)
    ('2024-02-01/..', '2024-02-01T10:00:00Z', None)
    """
    if not value:
        return value
    return "/".join(_BARE_T.sub(r"\1", part) for part in value.split("/"))


def parse_items(layer: Layer, params: Mapping[str, str]) -> ItemsRequest:
    """Validate the query parameters of an items request (400s name the parameter).

    >>> from layers.catalogue import LAYERS
    >>> r = parse_items(LAYERS["enterprises"], {"limit": "50000", "bbox": "121,29,122,30", "scale": "small"})
    >>> r.query.limit, r.query.bbox, r.query.filters
    (10000, (121.0, 29.0, 122.0, 30.0), {'scale': ('small',)})
    >>> parse_items(LAYERS["regions_city"], {"datetime": "2024-01-01"})
    Traceback (most recent call last):
    ...
    layers.features.InvalidQuery: datetime: unknown parameter for collection regions_city; allowed: limit, offset, bbox, f
    """
    allowed = [p["name"] for p in items_parameters(layer)]
    for name in params:
        if name not in allowed:
            raise InvalidQuery(name, f"unknown parameter for collection {layer.name}; allowed: {', '.join(allowed)}")
    check_format(params.get("f"))
    limit = min(_int_param(params, "limit", DEFAULT_LIMIT, 1, None), MAX_LIMIT)
    offset = _int_param(params, "offset", 0, 0, MAX_OFFSET)
    filters = parse_filters(layer, {name: params.get(name) for name in filter_names(layer)})
    interval = parse_datetime(_gdal_dates(params.get("datetime"))) if layer.temporal is not None else None
    query = ListQuery(bbox=parse_bbox(params.get("bbox")), filters=filters, limit=limit, offset=offset,
                      interval=interval)
    echo = tuple((k, v) for k, v in params.items() if k not in ("limit", "offset"))
    return ItemsRequest(query=query, params=echo)


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>`` with the statement's values bound."""

    inherit_cache = False

    def __init__(self, statement) -> None:
        self.statement = statement


@compiles(_Explain, "postgresql")
def _compile_explain(element: _Explain, compiler, **kw) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def _reltuples(session: Session, layer: Layer) -> float:
    pg_class = table("pg_class", column("oid"), column("reltuples"))
    value = session.execute(select(pg_class.c.reltuples)
                            .where(pg_class.c.oid == func.to_regclass(literal(layer.table.fullname)))).scalar()
    return -1.0 if value is None else float(value)


def number_matched(session: Session, *, layer: Layer, query: ListQuery,
                   exact_below: int = EXACT_COUNT_MAX_ROWS) -> tuple[int, bool]:
    """How many features match, and whether that is exact.

    Exact (``count(*)``) while the table's ``reltuples`` is at most
    ``exact_below`` (or the table was never analysed); otherwise the
    planner's row estimate for the selection, under the caller's row-level
    security, which costs no scan.
    """
    if _reltuples(session, layer) <= exact_below:
        return count_features(session, layer=layer, query=query), True
    stmt = select(literal(1)).select_from(layer.table).where(*where_clauses(layer, query.selection()))
    plan = session.execute(_Explain(stmt)).scalar()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"]), False


def _items_url(root: str, layer: Layer, params: tuple[tuple[str, str], ...], limit: int, offset: int) -> str:
    pairs = list(params) + [("limit", str(limit))] + ([("offset", str(offset))] if offset else [])
    return f"{_collection_url(root, layer)}/items?{urlencode(pairs)}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def items(session: Session, *, layer: Layer, params: Mapping[str, str], root: str,
          exact_below: int = EXACT_COUNT_MAX_ROWS) -> str:
    """A page of the collection as GeoJSON FeatureCollection text (features serialised by PostgreSQL).

    Links: ``self``, ``next`` (while more features match), ``prev`` (after
    the first page) and ``collection``, all absolute under ``root``.
    """
    request = parse_items(layer, params)
    query = request.query
    page = list_features(session, layer=layer, query=query, geojson=True)
    if page.n < query.limit and (page.n > 0 or query.offset == 0):
        matched, exact = query.offset + page.n, True  # a short page proves the total
    else:
        matched, exact = number_matched(session, layer=layer, query=query, exact_below=exact_below)
        matched = max(matched, query.offset + page.n)
    links = [_link(_items_url(root, layer, request.params, query.limit, query.offset), "self", MEDIA_GEOJSON,
                   "this page")]
    more = query.offset + page.n < matched if exact else page.n == query.limit
    if more:
        links.append(_link(_items_url(root, layer, request.params, query.limit, query.offset + page.n), "next",
                           MEDIA_GEOJSON, "next page"))
    if query.offset > 0:
        links.append(_link(_items_url(root, layer, request.params, query.limit,
                                      max(0, query.offset - query.limit)), "prev", MEDIA_GEOJSON, "previous page"))
    links.append(_link(_collection_url(root, layer), "collection", MEDIA_JSON, layer.en))
    tail = json.dumps({"numberMatched": matched, "numberReturned": page.n, "timeStamp": _now(), "links": links},
                      ensure_ascii=False, separators=(",", ":"))
    return f'{{"type":"FeatureCollection","features":{page.body},{tail[1:]}'


def _feature_id(layer: Layer, raw: str) -> int | str:
    """The id in the path: a 6-digit adcode for region layers, else a positive 64-bit integer."""
    if raw.isascii() and raw.isdigit():
        if layer.model is Region:
            if len(raw) == 6:
                return raw
        elif len(raw) <= 19 and 0 < int(raw) < 2**63:
            return int(raw)
    raise NotFound(f"{layer.name} {raw[:40]!r} not found")


def item(session: Session, *, layer: Layer, feature_id: str, root: str) -> str:
    """One feature as GeoJSON text with ``self`` and ``collection`` links; NotFound if not visible."""
    fid = _feature_id(layer, feature_id)
    body, _version = get_feature(session, layer=layer, feature_id=fid, geojson=True, include_deleted=False)
    url = _collection_url(root, layer)
    links = [_link(f"{url}/items/{quote(str(fid))}", "self", MEDIA_GEOJSON, "this feature"),
             _link(url, "collection", MEDIA_JSON, layer.en)]
    body = body.rstrip()
    if not body.endswith("}"):  # pragma: no cover - PostgreSQL always answers an object here
        raise ValueError("feature JSON is not an object")
    return f'{body[:-1]},"links":{json.dumps(links, ensure_ascii=False, separators=(",", ":"))}}}'
