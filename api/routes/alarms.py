"""Alarms over HTTP (报警): list, one alarm, its moves and history, enterprise warning levels, KPIs.

Thin: parse, call one function of :mod:`workflows.alarms`, serialise, commit.
Alarms are raised by the ingest worker (docs/TELEMETRY.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response

from api.deps import ContextDep, SessionDep
from geo.errors import InvalidInput
from telemetry.settings import get_telemetry_settings
from workflows.alarms import (
    Move,
    enterprise_levels,
    get_alarm,
    history,
    list_alarms,
    stats,
    transition,
)

__all__ = ["router"]

router = APIRouter(tags=["alarms"])
AlarmId = Annotated[int, Path(ge=1, lt=2**63, description="alarm id")]
_ADCODE = Query(pattern=r"^([0-9]{2}|[0-9]{4}|[0-9]{6})$", description="region code or prefix: 33, 3302, 330211")


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str), status_code=status,
                    media_type="application/json", headers=headers)


@router.get("/alarms", name="list_alarms", summary="Alarms you may see, newest first (e.g. ?state=raised)")
def alarms(session: SessionDep, ctx: ContextDep,
           state: Annotated[Literal["raised", "acknowledged", "handled", "cleared"] | None, Query()] = None,
           level: Annotated[Literal["red", "orange", "yellow", "blue"] | None, Query()] = None,
           kind: Annotated[Literal["process", "health"] | None, Query()] = None,
           adcode: Annotated[str | None, _ADCODE] = None,
           enterprise_id: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
           limit: Annotated[int, Query(ge=1, le=1000)] = 100,
           offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    return _json(list_alarms(session, ctx=ctx, state=state, level=level, kind=kind, adcode=adcode,
                             enterprise_id=enterprise_id, limit=limit, offset=offset))


@router.get("/alarms/enterprise-levels", name="alarm_enterprise_levels",
            summary="The four-colour warning level of each enterprise with open alarms (its worst open alarm)")
def levels(session: SessionDep, ctx: ContextDep) -> Response:
    return _json(enterprise_levels(session, ctx=ctx))


@router.get("/alarms/{alarm_id}", name="get_alarm",
            summary="One alarm: geometry, sensor, hazard unit, enterprise, history and the moves that may follow",
            responses={404: {"description": "no such alarm in your jurisdiction"}})
def alarm(session: SessionDep, ctx: ContextDep, alarm_id: AlarmId) -> Response:
    return _json(get_alarm(session, alarm_id=alarm_id, ctx=ctx))


@router.post("/alarms/{alarm_id}/transitions", status_code=201, name="alarm_transition",
             summary="Acknowledge (确认), handle (处置, with a reason) or clear (消除) an alarm",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": Move.model_json_schema()}}}},
             responses={403: {"description": "you may see but not move this alarm"},
                        404: {"description": "no such alarm in your jurisdiction"},
                        409: {"description": "not allowed from the current state (lists the allowed moves)"},
                        422: {"description": "a field is missing or wrong (named)"}})
def move(session: SessionDep, ctx: ContextDep, alarm_id: AlarmId, payload: Annotated[Any, Body()]) -> Response:
    step = transition(session, alarm_id=alarm_id, payload=payload, ctx=ctx)
    body = get_alarm(session, alarm_id=alarm_id, ctx=ctx)
    session.commit()
    return _json({"transition": step, "alarm": body}, 201, {"Location": f"/alarms/{alarm_id}/history"})


@router.get("/alarms/{alarm_id}/history", name="alarm_history", summary="Every step of an alarm, oldest first")
def alarm_history(session: SessionDep, ctx: ContextDep, alarm_id: AlarmId) -> Response:
    return _json(history(session, alarm_id=alarm_id, ctx=ctx))


@router.get("/stats/alarms", name="alarm_stats",
            summary="Alarm KPIs per county or enterprise: alarms per day, acknowledged in time, false alarms, "
                    "sensor data completeness")
def alarm_stats(session: SessionDep, ctx: ContextDep, adcode: Annotated[str | None, _ADCODE] = None,
                level: Annotated[Literal["county", "enterprise"], Query()] = "county",
                from_: Annotated[datetime | None, Query(alias="from", description="ISO 8601 with offset; "
                                                        "default 7 days before to")] = None,
                to: Annotated[datetime | None, Query(description="ISO 8601 with offset; default now")] = None
                ) -> Response:
    end = to or datetime.now(UTC)
    start = from_ or end - timedelta(days=7)
    if end.tzinfo is None or start.tzinfo is None:
        raise InvalidInput("from" if start.tzinfo is None else "to", "needs a UTC offset, e.g. +08:00")
    return _json(stats(session, ctx=ctx, start=start, end=end, by=level, adcode=adcode,
                       ack_limits_s=get_telemetry_settings().escalate_after_s()))
