"""The blacklist (严重失信主体名单): the public list, manual listing, removal.

States of one entry (``blacklist_entries.status``)::

    (not listed) ──listed (rule, at a recompute: system or the regulator who ran it)──► listed
    (not listed) ──listed (manual: a regulator, with the reason)─────────────────────► listed
    listed ──removed (a regulator, with the reason, once eligible; or auto)──────────► removed

``removed`` is final for that entry: a later listing is a new entry. Removal
is possible once ``quiet_days`` (rule table) have passed since the listing
and since the enterprise's last negative credit event, and while no negative
ongoing condition (an overdue hidden danger) lasts; before that, 409 saying
from when. With ``removal = confirm`` (the default) a regulator removes; with
``auto`` the recompute does. :data:`RULES` is the rule table of the moves.

Writes take the credit lock (the one :func:`workflows.credit.recompute` takes)
and then the entry's row (``SELECT … FOR UPDATE``): two removals at once
serialise and the second gets 409. Each move recomputes the enterprise's score
in the same transaction (grade, ``blacklisted``, the credit record the
four-colour risk reads). The caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, insert, select, update

from geo.bodies import parse_body
from geo.context import RequestContext
from geo.errors import InvalidInput, NotFound, NotPermitted
from geo.models import BlacklistEntry, Enterprise, Region
from geo.registry import db_errors
from workflows.credit import (
    _LOCK_KEY,
    REGULATORS,
    assess,
    check_as_of,
    conn_of,
    entry_json,
    gather,
    recompute,
    removal_reason_text,
    require_regulator,
)
from workflows.credit_rules import Rules, load_rules
from workflows.errors import IllegalTransition, WorkflowConflict

__all__ = ["Move", "RULES", "RemovalRequest", "ListingRequest", "public_list", "get_entry", "transition",
           "list_manually", "rules_markdown", "MAX_LIMIT"]

MAX_LIMIT = 1000
_B, _E = BlacklistEntry.__table__, Enterprise.__table__


@dataclass(frozen=True)
class Move:
    """One move of the blacklist state machine: who may make it, what it needs."""

    to: str
    from_status: str | None
    to_status: str
    roles: tuple[str, ...]
    zh: str
    en: str
    requires: tuple[str, ...]
    conditions: tuple[str, ...]
    via: str


RULES: dict[str, Move] = {m.to: m for m in (
    Move("listed", None, "listed", ("system", *REGULATORS), "按规则列入", "listed by rule",
         (), ("a blacklist row of the rule table matches events after the enterprise's last removal",
              "at a recompute (`onemap credit recompute`, the maintenance thread, POST /credit/recompute, or a "
              "credit event or removal that recomputes the enterprise)",
              "the reasons (rules, events, dates) are kept with the entry and published"),
         "workflows.credit.recompute"),
    Move("listed_manually", None, "listed", REGULATORS, "人工列入（如上级决定、司法判决）",
         "listed by a regulator (a decision the rules do not see)",
         ("enterprise_id", "reason"), ("the enterprise is in your jurisdiction and not already listed",
                                       "the reason is published as the entry's reason"),
         "POST /credit/blacklist"),
    Move("removed", "listed", "removed", REGULATORS, "移出（信用修复）", "removed (credit repaired)",
         ("reason",), ("quiet_days (365 by default) since the listing and since the last negative credit event",
                       "no negative ongoing condition (an overdue hidden danger) lasts",
                       "a regulator of the enterprise's county or above; removal = confirm (default)"),
         "POST /credit/blacklist/{id}/transitions"),
    Move("removed_auto", "listed", "removed", ("system",), "自动移出", "removed automatically",
         (), ("only with removal = auto in the rule table, at a recompute, on the same conditions",),
         "workflows.credit.recompute"),
)}
"""The moves of a blacklist entry, with who may make them (``system``: the recompute)."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class RemovalRequest(BaseModel):
    """``POST /credit/blacklist/{id}/transitions``: remove an entry, saying why."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "to": "removed", "reason": "整改完成，满一年无新的失信行为，信用修复"}})
    to: Literal["removed"] = Field(description="removed (the only move a regulator makes on an entry)")
    reason: Text = Field(description="why the entry is removed (recorded, shown to regulators)")


class ListingRequest(BaseModel):
    """``POST /credit/blacklist``: list an enterprise by a regulator's decision."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "enterprise_id": 1, "reason": "市应急管理局行政处罚决定书（甬应急罚〔2026〕12号）认定严重失信"}})
    enterprise_id: int = Field(ge=1, lt=2**63)
    reason: Text = Field(description="the decision and its grounds; published as the entry's reason")


def _parse(model: type[BaseModel], payload: Any):
    def explain(loc: str, err: dict) -> str | None:
        if loc == "to" and err["type"] != "extra_forbidden":
            return f"unknown move {payload.get('to')!r}; a regulator may only move an entry to removed"
        return None

    return parse_body(model, payload, explain=explain)


# ----------------------------------------------------------------------------------------------- reading

def _county_names(conn, adcodes: set[str]) -> dict[str, str]:
    if not adcodes:
        return {}
    return dict(conn.execute(select(Region.adcode, Region.name).where(Region.adcode.in_(sorted(adcodes)))).all())


def _public(row, counties: dict[str, str], *, full: bool) -> dict[str, Any]:
    out = entry_json(row, public=not full)
    if not full:
        out.pop("enterprise_id")
        out["reasons"] = [{k: v for k, v in r.items() if k in ("rule", "label_zh", "label_en", "events", "score")}
                          for r in row.reasons]
    out["county"] = counties.get(row.adcode)
    return out


def public_list(bind, *, ctx: RequestContext, status: str = "listed", adcode: str | None = None,
                limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """The blacklist, newest first: ``{"data", "count"}``; readable by anyone (the public role included).

    Public fields only for the public and enterprise users (name, USCC, county,
    listed on, reasons with rule labels and event dates); regulators also get
    who listed/removed and why. ``status``: listed (default), removed or all;
    ``adcode``: a region prefix (2, 4 or 6 digits).
    """
    if status not in ("listed", "removed", "all"):
        raise InvalidInput("status", f"listed, removed or all, got {status!r}")
    if adcode is not None and not (adcode.isascii() and adcode.isdigit() and len(adcode) in (2, 4, 6)):
        raise InvalidInput("adcode", "a region prefix of 2, 4 or 6 digits (33, 3302, 330211)")
    conn = conn_of(bind)
    where = [] if status == "all" else [_B.c.status == status]
    if adcode is not None:
        where.append(func.starts_with(_B.c.adcode, adcode))
    count = conn.execute(select(func.count()).select_from(_B).where(*where)).scalar_one()
    rows = conn.execute(select(_B).where(*where).order_by(_B.c.listed_on.desc(), _B.c.id.desc())
                        .limit(limit).offset(offset)).all()
    counties = _county_names(conn, {r.adcode for r in rows})
    full = ctx.role in REGULATORS
    return {"data": [_public(r, counties, full=full and r.adcode.startswith(ctx.jurisdiction)) for r in rows],
            "count": count, "limit": limit, "offset": offset, "status": status}


def get_entry(bind, *, entry_id: int, ctx: RequestContext) -> dict[str, Any]:
    """One entry (public projection; regulators of its county or above see who and why)."""
    conn = conn_of(bind)
    row = conn.execute(select(_B).where(_B.c.id == entry_id)).first()
    if row is None:
        raise NotFound(f"blacklist entry {entry_id} not found")
    full = ctx.role in REGULATORS and row.adcode.startswith(ctx.jurisdiction)
    return _public(row, _county_names(conn, {row.adcode}), full=full)


# ----------------------------------------------------------------------------------------------- moves

def _lock(conn) -> None:
    conn.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))


def _in_jurisdiction(ctx: RequestContext, adcode: str, what: str) -> None:
    if not adcode.startswith(ctx.jurisdiction):
        raise NotPermitted(f"{what}: the enterprise is in county {adcode}, outside your jurisdiction "
                           f"({ctx.jurisdiction})")


def transition(bind, *, entry_id: int, payload: Any, ctx: RequestContext, rules: Rules | None = None
               ) -> dict[str, Any]:
    """Remove a blacklist entry (``{"to": "removed", "reason": ...}``) when the rules allow it.

    Refusals, in order: bad body (422 naming the field); not a regulator (403);
    no such entry (404); outside the caller's jurisdiction (403: the list is
    public, so the entry is not hidden); already removed (409,
    :class:`IllegalTransition`); not yet eligible (409 saying from when, or
    which overdue dangers block it). Returns the entry after the move and the
    enterprise's recomputed credit summary.
    """
    req = _parse(RemovalRequest, payload)
    require_regulator(ctx, "removing a blacklist entry")
    rules = rules or load_rules()
    conn = conn_of(bind)
    _lock(conn)
    row = conn.execute(select(_B.c.adcode).where(_B.c.id == entry_id)).first()  # the public list: visible
    if row is None:
        raise NotFound(f"blacklist entry {entry_id} not found")
    _in_jurisdiction(ctx, row.adcode, "to")
    row = conn.execute(select(_B).where(_B.c.id == entry_id).with_for_update()).one()
    if row.status != "listed":
        raise IllegalTransition(status=row.status, requested=req.to, allowed=[], thing="a blacklist entry")
    as_of, today = check_as_of(conn, None)
    if rules.removal == "auto":
        raise WorkflowConflict("to", "the rule table removes entries automatically (removal = auto); "
                                     "they leave the list at the next recompute once eligible",
                               status=row.status, allowed=[])
    last = conn.execute(select(func.max(_B.c.removed_on)).where(_B.c.enterprise_id == row.enterprise_id,
                                                                _B.c.removed_on.isnot(None))).scalar()
    events = gather(conn, [row.enterprise_id], rules, today).get(row.enterprise_id, [])
    a = assess(row.enterprise_id, events, rules, today, listed_on=row.listed_on, since=last)
    if not a.eligible():
        zh, en = removal_reason_text(a, rules)
        raise WorkflowConflict("to", f"not yet removable: {en} ({zh})", status=row.status, allowed=[])
    with db_errors(conn):
        conn.execute(update(_B).where(_B.c.id == entry_id).values(
            removed_on=today, removal_via="regulator", removal_reason=req.reason))
    summary = recompute(conn, ids=[row.enterprise_id], ctx=ctx, rules=rules)
    return {"entry": get_entry(conn, entry_id=entry_id, ctx=ctx), "credit": summary.as_dict()}


def list_manually(bind, *, payload: Any, ctx: RequestContext, rules: Rules | None = None) -> dict[str, Any]:
    """List an enterprise by a regulator's decision (``{"enterprise_id", "reason"}``), dated today.

    404 when the caller cannot see the enterprise; 409 when it is already listed.
    """
    req = _parse(ListingRequest, payload)
    require_regulator(ctx, "listing an enterprise")
    rules = rules or load_rules()
    conn = conn_of(bind)
    ent = conn.execute(select(_E.c.id, _E.c.adcode).where(_E.c.id == req.enterprise_id,
                                                         _E.c.valid_to.is_(None))).first()
    if ent is None:
        raise NotFound(f"enterprise {req.enterprise_id} not found")
    _in_jurisdiction(ctx, ent.adcode, "enterprise_id")
    _lock(conn)
    current = conn.execute(select(_B.c.id).where(_B.c.enterprise_id == ent.id, _B.c.removed_on.is_(None))).scalar()
    if current is not None:
        raise WorkflowConflict("enterprise_id", f"already on the blacklist (entry {current})", status="listed",
                               allowed=["removed"])
    today, _ = check_as_of(conn, None)
    reason = [{"rule": "manual", "label_zh": req.reason, "label_en": req.reason, "events": []}]
    with db_errors(conn):
        entry_id = conn.execute(insert(_B).values(enterprise_id=ent.id, listed_on=today, via="manual",
                                                  rule_ids=[], reasons=reason, note=req.reason)
                                .returning(_B.c.id)).scalar_one()
    summary = recompute(conn, ids=[ent.id], ctx=ctx, rules=rules)
    return {"entry": get_entry(conn, entry_id=entry_id, ctx=ctx), "credit": summary.as_dict()}


def rules_markdown() -> str:
    """The moves as Markdown (docs/WORKFLOWS.md embeds it; a test keeps the two equal)."""
    lines = ["| move | from → to | who | requires | conditions (via) |", "|---|---|---|---|---|"]
    for m in RULES.values():
        lines.append(f"| `{m.to}` {m.zh} / {m.en} | {m.from_status or '(not listed)'} → {m.to_status} | "
                     f"{', '.join(m.roles)} | {', '.join(f'`{x}`' for x in m.requires) or '–'} | "
                     f"{'; '.join(m.conditions)} (via {m.via}) |")
    return "\n".join(lines)

