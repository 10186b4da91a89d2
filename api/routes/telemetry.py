"""Telemetry over HTTP: ingest for sites that cannot speak MQTT, time series, latest values, rejects, health.

Thin: parse, call one function of :mod:`telemetry`, commit, serialise. See docs/TELEMETRY.md.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request
from fastapi.responses import Response

from api.deps import ContextDep, SessionDep
from api.etags import etag_version
from geo.context import require_signed_in
from geo.errors import NotPermitted
from layers.features import InvalidQuery
from telemetry import registry
from telemetry.health import read_status, status_path
from telemetry.payloads import MAX_BATCH
from telemetry.queries import MAX_SERIES, recent_rejects, sensor_latest, sensor_series
from telemetry.service import ingest_body

__all__ = ["router"]

router = APIRouter(tags=["telemetry"])
SensorId = Annotated[int, Path(ge=1, lt=2**63, description="sensor id")]
_EXAMPLE = {"sensor": "HU000001-3", "seq": 17, "ts": "2026-11-23T14:05:00.250+08:00", "value": 12.5,
            "unit": "%LEL", "quality": "good"}


def _default(o: Any) -> str:
    return o.isoformat() if isinstance(o, datetime) else str(o)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_default),
                    status_code=status, media_type="application/json")


def _raw(session):
    """The request's psycopg connection (its transaction carries the request context)."""
    return session.connection().connection.driver_connection


@router.post("/telemetry/readings", name="telemetry_ingest",
             summary=f"Ingest readings over HTTP: one reading with its sensor code, or {{\"readings\": [...]}} "
                     f"(at most {MAX_BATCH})",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object"}, "example": _EXAMPLE}}}},
             responses={200: {"description": "stored (duplicates of stored readings are absorbed); any rejects "
                                             "listed with field and reason"},
                        403: {"description": "anonymous and public users may not ingest"},
                        422: {"description": "nothing acceptable: every reading rejected (each recorded)"}})
def ingest(session: SessionDep, ctx: ContextDep, payload: Annotated[Any, Body()]) -> Response:
    """Same payloads and checks as MQTT; an enterprise user writes only its own sensors, a regulator those
    of its jurisdiction. Rejects are recorded in ``reading_rejects`` (source ``http``)."""
    if ctx.role == "public":
        raise NotPermitted("role: sign in as an enterprise or regulator user to ingest readings")
    result = ingest_body(_raw(session), payload)
    session.commit()
    body = result.as_dict()
    if body["accepted"] == 0:
        return _json({"detail": body["rejects"][:100] or [{"field": "readings", "reason": "no readings"}],
                      "rejected": body["rejected"]}, 422)
    return _json(body)


def _instant(value: str | None, name: str, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidQuery(name, "not an ISO 8601 date-time, e.g. 2026-11-23T14:00:00+08:00") from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise InvalidQuery(name, "needs a UTC offset (Z or +08:00)")
    return t


_SENSOR_EXAMPLE = {"code": "HU000001-9", "hazard_unit_id": 1, "kind": "toxic_gas", "unit": "ppm",
                   "chemical": "chlorine", "threshold_high": 1, "threshold_high_high": 3, "deadband": 0.2,
                   "min_duration_s": 5, "interval_s": 10, "range_min": 0, "range_max": 20}


def _sensor_json(body: dict, status: int = 200) -> Response:
    r = _json(body, status)
    r.headers["ETag"] = f'"{body["version"]}"'
    return r


@router.get("/sensors", name="sensors_list",
            summary="Registered sensors you may see, by code (filters: hazard unit, kind, status)")
def sensors_list(session: SessionDep, ctx: ContextDep,
                 hazard_unit_id: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
                 kind: Annotated[str | None, Query(max_length=40, description="tank_level, temperature, pressure, "
                                                   "combustible_gas or toxic_gas")] = None,
                 status: Annotated[str, Query(max_length=20, description="active (default) or retired")] = "active",
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> Response:
    require_signed_in(ctx, "the sensor register")
    return _json(registry.list_sensors(session, hazard_unit_id=hazard_unit_id, kind=kind, status=status,
                                       limit=limit, offset=offset))


@router.post("/sensors", name="sensor_register", status_code=201,
             summary="Register a sensor on a hazard unit, with its thresholds (units: the sensor's unit; seconds)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object"}, "example": _SENSOR_EXAMPLE}}}},
             responses={201: {"description": "registered; ETag: its version"},
                        403: {"description": "the unit lies outside what you may write"},
                        422: {"description": "a field and the reason"}})
def sensor_register(session: SessionDep, ctx: ContextDep, payload: Annotated[Any, Body()]) -> Response:
    """An enterprise user registers on its own hazard units, a regulator in its jurisdiction. Placed on the unit's
    point unless ``lon``/``lat`` are given; a toxic-gas detector names its chemical (its alarms start a release
    scenario of that gas)."""
    require_signed_in(ctx, "the sensor register")
    body = registry.register(session, payload)
    session.commit()
    return _sensor_json(body, 201)


@router.get("/sensors/{sensor_id}", name="sensor_item", summary="One sensor with its settings and point")
def sensor_item(session: SessionDep, ctx: ContextDep, sensor_id: SensorId) -> Response:
    require_signed_in(ctx, "the sensor register")
    return _sensor_json(registry.get_sensor(session, sensor_id=sensor_id))


@router.patch("/sensors/{sensor_id}", name="sensor_update",
              summary="Change a sensor's settings (If-Match: the ETag you read); null clears an optional one",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"type": "object"}, "example": {"threshold_high": 2, "min_duration_s": 10}}}}},
              responses={409: {"description": "stale If-Match"}, 428: {"description": "If-Match missing"}})
def sensor_update(session: SessionDep, ctx: ContextDep, sensor_id: SensorId, payload: Annotated[Any, Body()],
                  if_match: Annotated[str | None, Header()] = None) -> Response:
    require_signed_in(ctx, "the sensor register")
    body = registry.update(session, sensor_id=sensor_id, payload=payload, version=etag_version(if_match))
    session.commit()
    return _sensor_json(body)


@router.delete("/sensors/{sensor_id}", name="sensor_retire",
               summary="Retire a sensor (If-Match): no new readings, off the map; readings and alarms kept",
               responses={409: {"description": "stale If-Match"}, 428: {"description": "If-Match missing"}})
def sensor_retire(session: SessionDep, ctx: ContextDep, sensor_id: SensorId,
                  if_match: Annotated[str | None, Header()] = None) -> Response:
    require_signed_in(ctx, "the sensor register")
    body = registry.retire(session, sensor_id=sensor_id, version=etag_version(if_match))
    session.commit()
    return _sensor_json(body)


@router.get("/sensors/{sensor_id}/readings", name="sensor_readings",
            summary="A sensor's readings between two instants (default: the last 24 hours), oldest first")
def readings(session: SessionDep, sensor_id: SensorId,
             from_: Annotated[str | None, Query(alias="from", max_length=40,
                                                description="ISO 8601 with offset, inclusive")] = None,
             to: Annotated[str | None, Query(max_length=40, description="ISO 8601 with offset, exclusive")] = None,
             limit: Annotated[int, Query(ge=1, le=MAX_SERIES)] = 1000) -> Response:
    now = datetime.now(UTC)
    end = _instant(to, "to", now + timedelta(minutes=5))
    start = _instant(from_, "from", end - timedelta(hours=24))
    if start >= end:
        raise InvalidQuery("from", "must be before to")
    return _json(sensor_series(_raw(session), sensor_id=sensor_id, start=start, end=end, limit=limit))


@router.get("/sensors/{sensor_id}/latest", name="sensor_latest",
            summary="A sensor and its newest reading (null before the first)")
def latest(session: SessionDep, sensor_id: SensorId) -> Response:
    return _json(sensor_latest(_raw(session), sensor_id=sensor_id))


@router.get("/telemetry/rejects", name="telemetry_rejects",
            summary="The newest rejected readings you may see (admin/province: all; city/county: known sensors "
                    "of your jurisdiction)")
def rejects(session: SessionDep, ctx: ContextDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    if ctx.role in ("public", "enterprise"):
        raise NotPermitted("role: rejected readings are for regulators")
    rows = recent_rejects(_raw(session), limit=limit)
    return _json({"data": rows, "count": len(rows)})


@router.get("/telemetry/health", name="telemetry_health",
            summary="The ingest worker's health: broker and database connections, backlog, last commit "
                    "(503 when unhealthy or not running)")
def health(request: Request) -> Response:
    path = getattr(request.app.state, "telemetry_status_file", None)
    if path is None:
        from telemetry.settings import get_telemetry_settings

        s = get_telemetry_settings()
        path = status_path(s.state_path, s.ingest_client_id)
    st = read_status(path)
    st.pop("pid", None)
    return _json(st, 200 if st["healthy"] else 503)
