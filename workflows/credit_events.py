"""Credit events recorded by regulators (``credit_events``): record, withdraw, list.

A regulator of the enterprise's county or above records what the other
sources do not carry: a violation found without a penalty, obstruction of an
inspection, a concealed accident, a credit commitment signed, kept or broken,
an honour (:data:`workflows.credit_rules.MANUAL_KINDS`). Each write recomputes
the enterprise's credit in the same transaction (so a concealed accident
lists it at once). Nothing is changed or deleted: a wrong event is withdrawn
(``valid_to``, with the reason) and no longer counts. The caller owns the
transaction.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, insert, select, update

from geo.bodies import parse_body
from geo.context import RequestContext
from geo.errors import InvalidInput, NotFound, NotPermitted
from geo.models import CreditEvent, Enterprise
from geo.registry import db_errors
from workflows.credit import check_as_of, conn_of, recompute, require_regulator
from workflows.credit_rules import MANUAL_KINDS, Rules, load_rules
from workflows.errors import WorkflowConflict

__all__ = ["EventRequest", "WithdrawRequest", "record_event", "withdraw_event", "list_events"]

_C, _E = CreditEvent.__table__, Enterprise.__table__
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class EventRequest(BaseModel):
    """``POST /enterprises/{id}/credit-events``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "kind": "violation", "occurred_on": "2026-11-02", "description": "动火作业未办理作业票",
        "source": "镇海区应急管理局现场检查记录（2026-11-02）"}})
    kind: Literal[tuple(MANUAL_KINDS)] = Field(  # type: ignore[valid-type]
        description="violation, obstruction, concealed_accident, commitment_signed, commitment_kept, "
                    "commitment_broken or honour")
    occurred_on: dt.date = Field(description="the day it happened; not in the future")
    description: Text = Field(description="what happened")
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = Field(
        description="where it is documented (document number, inspection record)")
    points: Decimal | None = Field(None, ge=-100, le=100, max_digits=6, decimal_places=2, allow_inf_nan=False,
                                   description="optional: points instead of the rule's (same sign, not 0)")


class WithdrawRequest(BaseModel):
    """``POST /enterprises/{id}/credit-events/{event_id}/withdrawal``."""

    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(description="why the event is withdrawn (recorded)")


def _parse(model: type[BaseModel], payload: Any):
    if not isinstance(payload, dict):
        raise InvalidInput("body", "must be a JSON object")
    if model is EventRequest and isinstance(payload.get("kind"), str) and payload["kind"] not in MANUAL_KINDS:
        raise InvalidInput("kind", f"unknown kind {payload['kind']!r}; one of {', '.join(MANUAL_KINDS)}")
    return parse_body(model, payload)


def _event_json(row) -> dict[str, Any]:
    zh, en = MANUAL_KINDS[row.kind]
    return {"id": row.id, "enterprise_id": row.enterprise_id, "kind": row.kind, "label_zh": zh, "label_en": en,
            "occurred_on": row.occurred_on.isoformat(),
            "points": None if row.points is None else float(row.points), "description": row.description,
            "source": row.source, "recorded_by": row.recorded_by, "recorded_role": row.recorded_role,
            "created_at": row.created_at.isoformat(),
            "withdrawn_at": None if row.valid_to is None else row.valid_to.isoformat(),
            "withdraw_reason": row.withdraw_reason}


def _enterprise(conn, enterprise_id: int):
    ent = conn.execute(select(_E.c.id, _E.c.adcode).where(_E.c.id == enterprise_id, _E.c.valid_to.is_(None))).first()
    if ent is None:
        raise NotFound(f"enterprise {enterprise_id} not found")
    return ent


def record_event(bind, *, enterprise_id: int, payload: Any, ctx: RequestContext, rules: Rules | None = None
                 ) -> dict[str, Any]:
    """Record a credit event; returns it and the enterprise's recomputed credit summary.

    Refusals: bad body (422 naming the field: unknown kind, future date,
    points of the wrong sign or for a kind the rule table does not score); not
    a regulator (403); enterprise not visible (404).
    """
    req = _parse(EventRequest, payload)
    require_regulator(ctx, "recording credit events")
    rules = rules or load_rules()
    conn = conn_of(bind)
    _enterprise(conn, enterprise_id)
    _, today = check_as_of(conn, None)
    if req.occurred_on > today:
        raise InvalidInput("occurred_on", f"must be today ({today.isoformat()}) or earlier, got "
                                          f"{req.occurred_on.isoformat()}")
    if req.occurred_on < dt.date(2000, 1, 1):
        raise InvalidInput("occurred_on", "must be 2000-01-01 or later")
    if req.points is not None:
        rule = rules.event_rule("manual", req.kind)
        if rule is None:
            raise InvalidInput("points", f"the rule table gives no points for {req.kind}: nothing to override")
        if req.points == 0 or (req.points > 0) != (rule.points > 0):
            sign = "positive" if rule.points > 0 else "negative"
            raise InvalidInput("points", f"{req.kind} is a {sign} event (rule {rule.rule}: {rule.points:g}); "
                                         f"give {sign} points other than 0")
    with db_errors(conn):
        row = conn.execute(insert(_C).values(
            enterprise_id=enterprise_id, kind=req.kind, occurred_on=req.occurred_on, description=req.description,
            source=req.source, points=req.points).returning(*_C.c)).one()
    summary = recompute(conn, ids=[enterprise_id], ctx=ctx, rules=rules)
    return {"event": _event_json(row), "credit": summary.as_dict()}


def withdraw_event(bind, *, enterprise_id: int, event_id: int, payload: Any, ctx: RequestContext,
                   rules: Rules | None = None) -> dict[str, Any]:
    """Withdraw a credit event (it stays, marked, and no longer counts); 409 when already withdrawn."""
    req = _parse(WithdrawRequest, payload)
    require_regulator(ctx, "withdrawing credit events")
    conn = conn_of(bind)
    _enterprise(conn, enterprise_id)
    row = conn.execute(select(_C.c.id, _C.c.valid_to).where(_C.c.id == event_id, _C.c.enterprise_id == enterprise_id)
                       .with_for_update()).first()
    if row is None:
        raise NotFound(f"credit event {event_id} of enterprise {enterprise_id} not found")
    if row.valid_to is not None:
        raise WorkflowConflict("event_id", f"credit event {event_id} was already withdrawn on "
                                           f"{row.valid_to.date().isoformat()}", status="withdrawn", allowed=[])
    with db_errors(conn):
        updated = conn.execute(update(_C).where(_C.c.id == event_id).values(
            valid_to=func.now(), withdraw_reason=req.reason).returning(*_C.c)).one()
    summary = recompute(conn, ids=[enterprise_id], ctx=ctx, rules=rules)
    return {"event": _event_json(updated), "credit": summary.as_dict()}


def list_events(bind, *, enterprise_id: int, ctx: RequestContext) -> dict[str, Any]:
    """The manual credit events of an enterprise (withdrawn ones included, marked), newest first."""
    conn = conn_of(bind)
    if ctx.role == "public":
        raise NotPermitted("log in: credit events are shown to the enterprise and its regulators")
    ent = conn.execute(select(_E.c.id).where(_E.c.id == enterprise_id)).first()
    if ent is None:
        raise NotFound(f"enterprise {enterprise_id} not found")
    rows = conn.execute(select(*_C.c).where(_C.c.enterprise_id == enterprise_id)
                        .order_by(_C.c.occurred_on.desc(), _C.c.id.desc())).all()
    return {"data": [_event_json(r) for r in rows], "count": len(rows)}
