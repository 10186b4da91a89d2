"""Enterprise credit and the blacklist over HTTP (诚信管理 / 严重失信主体名单).

Thin: each route parses input, calls one service function of :mod:`workflows`
and serialises; the session's transaction is committed here. See
docs/WORKFLOWS.md "Enterprise credit and blacklist".
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ContextDep, SessionDep
from workflows import blacklist, credit, credit_events
from workflows.credit_rules import load_rules, rules_json

__all__ = ["router"]

router = APIRouter(tags=["credit and blacklist"])
EnterpriseId = Annotated[int, Path(ge=1, lt=2**63, description="enterprise id")]
EntryId = Annotated[int, Path(ge=1, lt=2**63, description="blacklist entry id")]
_ERRORS = {403: {"description": "your role may not do this (or the enterprise is outside your jurisdiction)"},
           404: {"description": "no such enterprise (or entry) in your jurisdiction"},
           422: {"description": "a field is missing or wrong (named)"}}


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str), status_code=status,
                    media_type="application/json", headers=headers)


def _body(model: type[BaseModel]) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


class RecomputeRequest(BaseModel):
    """``POST /credit/recompute`` (all optional)."""

    model_config = ConfigDict(extra="forbid")
    as_of: dt.date | None = Field(None, description="the day to judge by (default today; not in the future)")
    dry_run: bool = Field(False, description="compute and report, write nothing")
    enterprise_ids: list[Annotated[int, Field(ge=1, lt=2**63)]] | None = Field(
        None, max_length=1000, description="only these enterprises (default: every one in your jurisdiction)")


@router.get("/enterprises/{enterprise_id}/credit", name="enterprise_credit",
            summary="An enterprise's credit score and grade, every counted event with its rule, points and why, "
                    "and its blacklist status and reasons", responses=_ERRORS)
def enterprise_credit(session: SessionDep, ctx: ContextDep, enterprise_id: EnterpriseId,
                      as_of: Annotated[dt.date | None, Query(description="judge windows and deadlines on this "
                                                                         "day (default today)")] = None) -> Response:
    return _json(credit.explain(session, enterprise_id=enterprise_id, ctx=ctx, as_of=as_of))


@router.get("/enterprises/{enterprise_id}/credit-events", name="enterprise_credit_events",
            summary="Credit events recorded by regulators for an enterprise (withdrawn ones marked)",
            responses=_ERRORS)
def events_list(session: SessionDep, ctx: ContextDep, enterprise_id: EnterpriseId) -> Response:
    return _json(credit_events.list_events(session, enterprise_id=enterprise_id, ctx=ctx))


@router.post("/enterprises/{enterprise_id}/credit-events", status_code=201, name="enterprise_credit_event_add",
             summary="Record a credit event (regulators): violation, obstruction, concealed accident, "
                     "commitment signed/kept/broken, honour", openapi_extra=_body(credit_events.EventRequest),
             responses=_ERRORS)
def event_add(session: SessionDep, ctx: ContextDep, enterprise_id: EnterpriseId,
              payload: Annotated[Any, Body()]) -> Response:
    out = credit_events.record_event(session, enterprise_id=enterprise_id, payload=payload, ctx=ctx)
    session.commit()
    return _json(out, 201, {"Location": f"/enterprises/{enterprise_id}/credit"})


@router.post("/enterprises/{enterprise_id}/credit-events/{event_id}/withdrawal", name="enterprise_credit_event_withdraw",
             summary="Withdraw a credit event recorded in error (regulators; it stays, marked, and stops counting)",
             openapi_extra=_body(credit_events.WithdrawRequest),
             responses={**_ERRORS, 409: {"description": "already withdrawn"}})
def event_withdraw(session: SessionDep, ctx: ContextDep, enterprise_id: EnterpriseId,
                   event_id: Annotated[int, Path(ge=1, lt=2**63)], payload: Annotated[Any, Body()]) -> Response:
    out = credit_events.withdraw_event(session, enterprise_id=enterprise_id, event_id=event_id, payload=payload,
                                       ctx=ctx)
    session.commit()
    return _json(out)


@router.post("/credit/recompute", name="credit_recompute",
             summary="Recompute credit scores, grades and the blacklist for your jurisdiction (regulators)",
             responses={403: _ERRORS[403], 422: _ERRORS[422]})
def recompute(session: SessionDep, ctx: ContextDep,
              payload: Annotated[RecomputeRequest | None, Body()] = None) -> Response:
    req = payload or RecomputeRequest()
    summary = credit.recompute(session, ids=req.enterprise_ids, ctx=ctx, as_of=req.as_of, dry_run=req.dry_run)
    session.commit()
    return _json(summary.as_dict())


@router.get("/credit/rules", name="credit_rules", summary="The credit rule table: events → points, grades, "
                                                          "blacklist conditions (OneMap's configurable default)")
def rules() -> Response:
    return _json(rules_json(load_rules()))


@router.get("/credit/blacklist", name="credit_blacklist",
            summary="The blacklist (严重失信主体名单): public, no login needed — name, USCC, county, listed on, reasons")
def blacklist_list(session: SessionDep, ctx: ContextDep,
                   status: Annotated[Literal["listed", "removed", "all"], Query(
                       description="listed (default), removed or all")] = "listed",
                   adcode: Annotated[str | None, Query(pattern=r"^(\d{2}|\d{4}|\d{6})$",
                                                       description="region prefix: 33, 3302, 330211")] = None,
                   limit: Annotated[int, Query(ge=1, le=blacklist.MAX_LIMIT)] = 100,
                   offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    return _json(blacklist.public_list(session, ctx=ctx, status=status, adcode=adcode, limit=limit, offset=offset))


@router.post("/credit/blacklist", status_code=201, name="credit_blacklist_add",
             summary="List an enterprise by a regulator's decision (the reason is published)",
             openapi_extra=_body(blacklist.ListingRequest),
             responses={**_ERRORS, 409: {"description": "already listed"}})
def blacklist_add(session: SessionDep, ctx: ContextDep, payload: Annotated[Any, Body()]) -> Response:
    out = blacklist.list_manually(session, payload=payload, ctx=ctx)
    session.commit()
    return _json(out, 201, {"Location": f"/credit/blacklist/{out['entry']['id']}"})


@router.get("/credit/blacklist/{entry_id}", name="credit_blacklist_entry",
            summary="One blacklist entry (public; regulators of its county also see who and why)",
            responses={404: {"description": "no such entry"}})
def blacklist_entry(session: SessionDep, ctx: ContextDep, entry_id: EntryId) -> Response:
    return _json(blacklist.get_entry(session, entry_id=entry_id, ctx=ctx))


@router.post("/credit/blacklist/{entry_id}/transitions", name="credit_blacklist_transition",
             summary="Remove a blacklist entry once the rules allow it (regulators, with the reason)",
             openapi_extra=_body(blacklist.RemovalRequest),
             responses={**_ERRORS, 409: {"description": "already removed, or not yet removable (says from when "
                                                        "or what blocks it)"}})
def blacklist_move(session: SessionDep, ctx: ContextDep, entry_id: EntryId,
                   payload: Annotated[Any, Body()]) -> Response:
    out = blacklist.transition(session, entry_id=entry_id, payload=payload, ctx=ctx)
    session.commit()
    return _json(out)
