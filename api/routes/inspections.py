"""Double-random inspections (双随机、一公开) over HTTP: roster, draws, moves, findings, verification.

Thin: each route parses input, calls one service function of
:mod:`workflows.inspections` and serialises; writes are committed here. The
reads of draws, tasks and findings answer anonymous callers too (row-level
security shows them what is published). The tasks themselves are the
catalogue resource ``/inspections/tasks`` (list, item, GeoJSON, tiles, OGC:
:mod:`api.routes.features`). See docs/WORKFLOWS.md.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response

from api.deps import ContextDep, SessionDep
from geo.vocab import INSPECTION_DRAW_STATUSES
from workflows.inspections import (
    ConflictCreate,
    DrawMove,
    DrawRequest,
    FindingRequest,
    InspectorCreate,
    InspectorUpdate,
    TaskMove,
    add_conflict,
    add_finding,
    add_inspector,
    create_draw,
    draw_history,
    get_draw,
    list_conflicts,
    list_draws,
    list_findings,
    list_inspectors,
    move_draw,
    move_task,
    update_inspector,
    verify_draw,
)

__all__ = ["router"]

router = APIRouter(tags=["inspections"])
RowId = Annotated[int, Path(ge=1, lt=2**63)]
_ADCODE = Query(pattern=r"^[1-9][0-9]{5}$", description="region code at any level: 330000, 330200, 330211")
_REFUSALS = {403: {"description": "your role or jurisdiction may not do this"},
             404: {"description": "no such row in your jurisdiction"},
             409: {"description": "not allowed in the current status (lists the allowed moves)"},
             422: {"description": "a field is missing or wrong (named)"}}


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str), status_code=status,
                    media_type="application/json", headers=headers)


def _body(model) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


# ---------------------------------------------------------------------------------------- roster

@router.post("/inspections/inspectors", status_code=201, name="inspector_create", responses=_REFUSALS,
             summary="Put an inspector on the roster of a region (执法检查人员名录库)", openapi_extra=_body(InspectorCreate))
def inspector_create(session: SessionDep, ctx: ContextDep, payload: Annotated[Any, Body()]) -> Response:
    row = add_inspector(session, payload=payload, ctx=ctx)
    session.commit()
    return _json(row, 201, {"Location": f"/inspections/inspectors/{row['id']}"})


@router.get("/inspections/inspectors", name="inspector_list", summary="The inspector roster of your jurisdiction")
def inspector_list(session: SessionDep, ctx: ContextDep,
                   adcode: Annotated[str | None, _ADCODE] = None,
                   active: Annotated[bool | None, Query(description="only active (true) or inactive (false)")] = None
                   ) -> Response:
    return _json(list_inspectors(session, ctx=ctx, adcode=adcode, active=active))


@router.patch("/inspections/inspectors/{inspector_id}", name="inspector_update", responses=_REFUSALS,
              summary="Change an inspector (active false: off future draws)", openapi_extra=_body(InspectorUpdate))
def inspector_update(session: SessionDep, ctx: ContextDep, inspector_id: RowId,
                     payload: Annotated[Any, Body()]) -> Response:
    row = update_inspector(session, inspector_id=inspector_id, payload=payload, ctx=ctx)
    session.commit()
    return _json(row)


@router.post("/inspections/inspectors/{inspector_id}/conflicts", status_code=201, name="inspector_conflict_create",
             responses=_REFUSALS, summary="Declare a conflict of interest (回避) of an inspector with an enterprise",
             openapi_extra=_body(ConflictCreate))
def conflict_create(session: SessionDep, ctx: ContextDep, inspector_id: RowId,
                    payload: Annotated[Any, Body()]) -> Response:
    row = add_conflict(session, inspector_id=inspector_id, payload=payload, ctx=ctx)
    session.commit()
    return _json(row, 201)


@router.get("/inspections/inspectors/{inspector_id}/conflicts", name="inspector_conflict_list",
            summary="The declared conflicts of interest of an inspector")
def conflict_list(session: SessionDep, ctx: ContextDep, inspector_id: RowId) -> Response:
    return _json(list_conflicts(session, inspector_id=inspector_id, ctx=ctx))


# ---------------------------------------------------------------------------------------- draws

@router.post("/inspections/draws", status_code=201, name="inspection_draw_create", responses=_REFUSALS,
             summary="Draw enterprises and inspector teams (双随机), recorded with the seed and every input",
             openapi_extra=_body(DrawRequest))
def draw_create(session: SessionDep, ctx: ContextDep, payload: Annotated[Any, Body()]) -> Response:
    body = create_draw(session, payload=payload, ctx=ctx)
    session.commit()
    return _json(body, 201, {"Location": f"/inspections/draws/{body['id']}"})


@router.get("/inspections/draws", name="inspection_draw_list",
            summary="Draws in your jurisdiction, newest first (without login: the published ones)")
def draw_list(session: SessionDep, ctx: ContextDep,
              adcode: Annotated[str | None, _ADCODE] = None,
              status: Annotated[Literal[tuple(INSPECTION_DRAW_STATUSES)] | None, Query()] = None,  # type: ignore[valid-type]
              period: Annotated[str | None, Query(pattern=r"^[0-9]{4}(-(0[1-9]|1[0-2])|-Q[1-4]|-H[12])?$")] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    return _json(list_draws(session, ctx=ctx, adcode=adcode, status=status, period=period, limit=limit,
                            offset=offset))


@router.get("/inspections/draws/{draw_id}", name="inspection_draw",
            summary="A draw: its recorded inputs (pool, roster, exclusions, strata, seed) and its tasks")
def draw_item(session: SessionDep, ctx: ContextDep, draw_id: RowId) -> Response:
    return _json(get_draw(session, draw_id=draw_id, ctx=ctx))


@router.get("/inspections/draws/{draw_id}/verify", name="inspection_draw_verify",
            summary="Re-run the draw from its recorded inputs and say whether it gives the recorded result")
def draw_verify(session: SessionDep, draw_id: RowId) -> Response:
    return _json(verify_draw(session, draw_id=draw_id))


@router.get("/inspections/draws/{draw_id}/history", name="inspection_draw_history",
            summary="Every move of a draw and of its tasks, oldest first")
def draw_moves(session: SessionDep, ctx: ContextDep, draw_id: RowId) -> Response:
    return _json(draw_history(session, draw_id=draw_id, ctx=ctx))


@router.post("/inspections/draws/{draw_id}/transitions", status_code=201, name="inspection_draw_transition",
             responses=_REFUSALS, summary="Publish, start, complete or cancel a draw", openapi_extra=_body(DrawMove))
def draw_move(session: SessionDep, ctx: ContextDep, draw_id: RowId, payload: Annotated[Any, Body()]) -> Response:
    body = move_draw(session, draw_id=draw_id, payload=payload, ctx=ctx)
    session.commit()
    return _json(body, 201, {"Location": f"/inspections/draws/{draw_id}/history"})


# ---------------------------------------------------------------------------------------- tasks

@router.post("/inspections/tasks/{task_id}/transitions", status_code=201, name="inspection_task_transition",
             responses=_REFUSALS, summary="Record a task's result (inspected) or close it", openapi_extra=_body(TaskMove))
def task_move(session: SessionDep, ctx: ContextDep, task_id: RowId, payload: Annotated[Any, Body()]) -> Response:
    body = move_task(session, task_id=task_id, payload=payload, ctx=ctx)
    session.commit()
    return _json(body, 201)


@router.post("/inspections/tasks/{task_id}/findings", status_code=201, name="inspection_finding_create",
             responses=_REFUSALS, openapi_extra=_body(FindingRequest),
             summary="Record a finding: opens a hidden danger (reported) and, with a penalty, an enforcement record")
def finding_create(session: SessionDep, ctx: ContextDep, task_id: RowId, payload: Annotated[Any, Body()]
                   ) -> Response:
    body = add_finding(session, task_id=task_id, payload=payload, ctx=ctx)
    session.commit()
    return _json(body, 201, {"Location": body["hidden_danger"]["href"]})


@router.get("/inspections/tasks/{task_id}/findings", name="inspection_finding_list",
            summary="The findings of a task (without login: once its result is published)")
def finding_list(session: SessionDep, ctx: ContextDep, task_id: RowId) -> Response:
    return _json(list_findings(session, task_id=task_id, ctx=ctx))
