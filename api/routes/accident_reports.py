"""Accident quick reports over HTTP (事故快报): the first report, follow-ups, verification, closure, history.

Thin: parse, call one function of :mod:`workflows.accident_reports`, serialise,
commit. The list and item routes (``GET /accident-reports``, ``/{id}``,
GeoJSON, tiles, OGC) are the catalogue resource (:mod:`api.routes.features`).
See docs/WORKFLOWS.md.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path
from fastapi.responses import Response

from api.deps import ContextDep, SessionDep
from api.etags import etag_version
from layers.catalogue import LAYERS
from layers.features import get_feature
from workflows.accident_reports import MoveRequest, QuickReport, history, move, next_moves, report

__all__ = ["router"]

router = APIRouter(tags=["accident reports"])
ReportId = Annotated[int, Path(ge=1, lt=2**63, description="accident report id")]
_LAYER = LAYERS["accident_reports"]


def _json(data: Any) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str),
                    media_type="application/json")


@router.post("/accident-reports", status_code=201, name="report_accident",
             summary="File an accident quick report (事故快报); it appears on the wall display via /events",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": QuickReport.model_json_schema()}}}},
             responses={403: {"description": "outside your jurisdiction, or another enterprise"},
                        422: {"description": "a field is missing or wrong (named)"}})
def create(session: SessionDep, ctx: ContextDep, payload: Annotated[Any, Body()]) -> Response:
    report_id = report(session, payload=payload, ctx=ctx)
    body, version = get_feature(session, layer=_LAYER, feature_id=report_id, geojson=False)
    session.commit()
    return Response(body, status_code=201, media_type="application/json",
                    headers={"ETag": f'"{version}"', "Location": f"/accident-reports/{report_id}"})


@router.post("/accident-reports/{report_id}/transitions", status_code=201, name="accident_report_transition",
             summary="Follow up (续报), verify, close (结案) or withdraw (误报) an accident report",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": MoveRequest.model_json_schema()}}}},
             responses={403: {"description": "your role (or level) may not make this move"},
                        404: {"description": "no such report in your jurisdiction"},
                        409: {"description": "not allowed from the current status (lists the allowed moves), "
                                             "or a stale If-Match"},
                        422: {"description": "a field is missing or wrong (named)"}})
def transition(session: SessionDep, ctx: ContextDep, report_id: ReportId, payload: Annotated[Any, Body()],
               if_match: Annotated[str | None, Header(description='optional: the ETag you read, e.g. "3"')] = None
               ) -> Response:
    version = None if if_match is None else etag_version(if_match)
    step = move(session, report_id=report_id, payload=payload, ctx=ctx, if_match=version)
    body, version = get_feature(session, layer=_LAYER, feature_id=report_id, geojson=False)
    session.commit()
    text = '{"update":' + json.dumps(step, ensure_ascii=False, default=str) + ',"accident_report":' + body + "}"
    return Response(text, status_code=201, media_type="application/json",
                    headers={"ETag": f'"{version}"', "Location": f"/accident-reports/{report_id}/history"})


@router.get("/accident-reports/{report_id}/transitions", name="accident_report_next_moves",
            summary="The moves that can follow the current status, and whether you may make them")
def moves(session: SessionDep, ctx: ContextDep, report_id: ReportId) -> Response:
    return _json(next_moves(session, report_id=report_id, ctx=ctx))


@router.get("/accident-reports/{report_id}/history", name="accident_report_history",
            summary="Every step of an accident report (首报, 续报, verified, closed), with its grade")
def report_history(session: SessionDep, ctx: ContextDep, report_id: ReportId) -> Response:
    return _json(history(session, report_id=report_id, ctx=ctx))
