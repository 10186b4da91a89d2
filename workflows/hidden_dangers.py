"""The hidden-danger closed loop (隐患排查治理): who may move a danger where, and the moves.

States are the six of ``hidden_dangers.status``::

    reported ──accepted──► accepted ──rectifying──► rectifying ──submitted──► submitted
                                                        ▲                        │
                                                        └───────rejected─────────┤
                                                                                 ▼
                                        closed ◄──closed── verified ◄──verified──┘

``rejected`` is a move (submitted → rectifying, with a reason), not a status.
:data:`RULES` is the one rule table: edges, roles, required fields and the
extra conditions; ``docs/WORKFLOWS.md`` renders it (:func:`rules_markdown`)
and migration 0009 freezes the edges and the enterprise's moves in the
database. Overdue open dangers are escalated (``county → city → province``)
by :func:`escalate_overdue` on the schedule of :class:`EscalationSchedule`.

Service functions are keyword-only; the caller owns the transaction (a move
is one transaction: the history row, the danger's new state and the evidence
it takes are committed together or not at all). Each move locks the danger
row (``SELECT … FOR UPDATE``) first, so concurrent moves serialise: the
second one sees the new status and gets :class:`~workflows.errors.IllegalTransition`.
Row-level security decides what a caller may see: another jurisdiction's
danger is :class:`~geo.errors.NotFound`, never "forbidden".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.orm import Session

from geo.bodies import invalid_input
from geo.context import RequestContext, require_signed_in
from geo.errors import InvalidInput, NotFound, NotPermitted
from geo.models import HiddenDanger, HiddenDangerEvidence, HiddenDangerTransition
from geo.registry import as_connection as _conn
from geo.registry import db_errors
from geo.vocab import DANGER_LEVELS, DANGER_UNRECTIFIED, REGION_LEVELS
from layers.editing import StaleVersion
from workflows.errors import IllegalTransition

__all__ = [
    "Rule", "RULES", "TARGETS", "REGULATORS", "OPEN_STATUSES", "MAJOR_SUPERVISION", "MAX_DEADLINE_DAYS",
    "TransitionRequest", "parse_request", "allowed_targets", "transition", "history", "next_moves",
    "EscalationSchedule", "EscalationSummary", "escalate_overdue", "rules_markdown", "is_overdue",
]

REGULATORS = ("county", "city", "province", "admin")
PEOPLE = ("enterprise", *REGULATORS)
# the level a role acts at, and the level a danger is supervised at (挂牌督办)
ROLE_RANK = {"county": 1, "city": 2, "province": 3, "admin": 3}
LEVEL_RANK = {"county": 1, "city": 2, "province": 3}
MAJOR_SUPERVISION = ("city", "province")  # a major danger is listed for supervision by the city or the province
OPEN_STATUSES = DANGER_UNRECTIFIED  # not yet verified as rectified: what "overdue" counts
MAX_DEADLINE_DAYS = 1826  # a deadline at most five years ahead


@dataclass(frozen=True)
class Rule:
    """One move: the word of the request (``to``), the edge, who may make it and what it needs."""

    to: str
    from_status: str | None
    to_status: str
    roles: tuple[str, ...]
    zh: str
    en: str
    requires: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    via: str = "POST /hidden-dangers/{id}/transitions"


RULES: dict[str, Rule] = {r.to: r for r in (
    Rule("reported", None, "reported", PEOPLE, "上报（企业自查或执法检查发现）", "report (self-check or inspection)",
         conditions=("an enterprise user reports dangers of its own enterprise only",
                     "the first history row is written by the database"),
         via="POST /hidden-dangers"),
    Rule("accepted", "reported", "accepted", REGULATORS, "确认（定级、定整改期限）",
         "accept: confirm the level, set the deadline",
         requires=("level", "deadline"), optional=("supervising_level", "note"),
         conditions=("deadline: today or later, not before found_on, at most five years ahead",
                     "a major danger is listed for supervision (挂牌督办): supervising_level city or province",
                     "a general danger may be listed (supervising_level county, city or province) or not")),
    Rule("rectifying", "accepted", "rectifying", PEOPLE, "制定整改方案（方案、责任人、资金）",
         "plan the rectification (plan, responsible person, funds)",
         requires=("rectification_plan", "responsible_person"), optional=("funds_yuan", "note"),
         conditions=("a regulator may record the plan on the enterprise's behalf",)),
    Rule("submitted", "rectifying", "submitted", PEOPLE, "提交整改完成（附佐证材料）",
         "report completion (with evidence)",
         requires=("note",),
         conditions=("at least one evidence file uploaded since the previous move "
                     "(POST /hidden-dangers/{id}/evidence); the move takes them",
                     "a regulator may submit on the enterprise's behalf")),
    Rule("rejected", "submitted", "rectifying", REGULATORS, "验收不通过，退回整改", "reject: back to rectification",
         requires=("note",), conditions=("note: the reason, required",)),
    Rule("verified", "submitted", "verified", REGULATORS, "验收通过", "verify (accept the rectification)",
         optional=("note",),
         conditions=("not by the person who recorded the submission (on the enterprise's behalf)",)),
    Rule("closed", "verified", "closed", REGULATORS, "销号", "close (销号)",
         optional=("note",),
         conditions=("a danger supervised at a level (挂牌督办) is closed by a regulator of that level or above "
                     "(county < city < province = admin)",
                     "closed_on is set to today")),
    Rule("escalated", None, "(unchanged)", ("system",), "逾期升级督办", "escalate an overdue danger",
         conditions=("the escalation job only (`onemap dangers escalate`, the maintenance thread of "
                     "`onemap serve`); see the schedule",),
         via="workflows.hidden_dangers.escalate_overdue"),
)}
"""The rule table. ``roles``: ``enterprise`` (its own enterprise's dangers), regulators ``county``,
``city``, ``province``, ``admin`` (dangers in their jurisdiction), ``system`` (the escalation job)."""

TARGETS = tuple(t for t, r in RULES.items() if r.via.endswith("/transitions"))
"""What ``to`` may say in a request."""

_FIELDS = ("note", "level", "deadline", "supervising_level", "rectification_plan", "responsible_person", "funds_yuan")

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class TransitionRequest(BaseModel):
    """``POST /hidden-dangers/{id}/transitions``: where to, why, and the fields that move needs."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"example": {
        "to": "accepted", "level": "major", "deadline": "2026-12-31", "supervising_level": "city",
        "note": "现场核实，定为重大事故隐患"}})
    to: Literal[TARGETS] = Field(description="accepted, rectifying, submitted, rejected, verified or closed")  # type: ignore[valid-type]
    note: Note | None = Field(None, description="required for submitted (what was done) and rejected (why)")
    level: Literal[tuple(DANGER_LEVELS)] | None = Field(None, description="accepted: general or major")  # type: ignore[valid-type]
    deadline: dt.date | None = Field(None, description="accepted: rectification deadline, today or later")
    supervising_level: Literal[tuple(REGION_LEVELS)] | None = Field(  # type: ignore[valid-type]
        None, description="accepted: 挂牌督办 level (a major danger: city or province)")
    rectification_plan: Note | None = Field(None, description="rectifying: the plan")
    responsible_person: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None \
        = Field(None, description="rectifying: who answers for it")
    funds_yuan: Decimal | None = Field(None, ge=0, le=Decimal("1e13"), max_digits=16, decimal_places=2,
                                       allow_inf_nan=False, description="rectifying: funds, yuan")


def parse_request(payload: Any) -> TransitionRequest:
    """Validate a request body; :class:`InvalidInput` names the field (``to`` lists the moves)."""
    if not isinstance(payload, dict):
        raise InvalidInput("body", 'must be a JSON object such as {"to": "accepted", ...}')
    if "to" not in payload:
        raise InvalidInput("to", f"required: one of {', '.join(TARGETS)}")
    if payload["to"] not in TARGETS:
        raise InvalidInput("to", f"unknown move {payload['to']!r}; one of {', '.join(TARGETS)}")
    try:
        return TransitionRequest.model_validate(payload)
    except ValidationError as exc:
        raise invalid_input(exc, TransitionRequest, explain=lambda loc, err: (
            f"unknown field; allowed: to, {', '.join(_FIELDS)}" if err["type"] == "extra_forbidden" else None
        )) from None


def allowed_targets(status: str) -> list[str]:
    """The moves (``to`` values) leading out of ``status``, in rule-table order.

    >>> allowed_targets("submitted")
    ['rejected', 'verified']
    >>> allowed_targets("closed")
    []
    """
    return [t for t in TARGETS if RULES[t].from_status == status]


def is_overdue(status: str, deadline: dt.date | None, today: dt.date) -> bool:
    """Overdue: a deadline before ``today`` and not yet verified as rectified (nor closed).

    >>> is_overdue("rectifying", dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    True
    >>> is_overdue("verified", dt.date(2026, 1, 1), dt.date(2026, 3, 1)), is_overdue("accepted", None, dt.date(2026, 1, 1))
    (False, False)
    """
    return deadline is not None and deadline < today and status in OPEN_STATUSES


# ---------------------------------------------------------------------------------------- the moves

_D = HiddenDanger.__table__
_T = HiddenDangerTransition.__table__
_E = HiddenDangerEvidence.__table__


def _lock(conn: Connection, danger_id: int):
    row = conn.execute(select(_D.c.id, _D.c.status, _D.c.level, _D.c.found_on, _D.c.deadline,
                              _D.c.supervising_level, _D.c.version, _D.c.enterprise_id, _D.c.adcode)
                       .where(_D.c.id == danger_id, _D.c.valid_to.is_(None)).with_for_update()).first()
    if row is None:
        raise NotFound(f"hidden danger {danger_id} not found")
    return row


def _today(conn: Connection, today: dt.date | None) -> dt.date:
    return today if today is not None else conn.execute(select(func.current_date())).scalar_one()


def _given(req: TransitionRequest) -> set[str]:
    return {name for name in req.model_fields_set if name != "to" and getattr(req, name) is not None}


def _check_fields(req: TransitionRequest, rule: Rule) -> None:
    takes = set(rule.requires) | set(rule.optional) | {"note"}
    for name in _FIELDS:
        if name in _given(req) and name not in takes:
            extra = ", ".join(n for n in _FIELDS if n in takes)
            raise InvalidInput(name, f"not used when moving to {req.to}; that move takes: {extra}")
    for name in rule.requires:
        if getattr(req, name) is None:
            raise InvalidInput(name, f"required when moving to {req.to}")


Check = Callable[..., tuple[dict[str, Any], dict[str, Any]]]


def _accepted(conn, *, row, req: TransitionRequest, ctx, today: dt.date) -> tuple[dict, dict]:
    deadline = req.deadline
    if deadline < today:
        raise InvalidInput("deadline", f"must be today ({today.isoformat()}) or later, got {deadline.isoformat()}")
    if deadline < row.found_on:
        raise InvalidInput("deadline", f"must not be before found_on ({row.found_on.isoformat()})")
    if deadline > today + dt.timedelta(days=MAX_DEADLINE_DAYS):
        raise InvalidInput("deadline", f"at most {MAX_DEADLINE_DAYS} days (five years) ahead")
    if req.level == "major" and req.supervising_level not in MAJOR_SUPERVISION:
        raise InvalidInput("supervising_level", "a major danger is listed for supervision (挂牌督办) by the city "
                                                "or the province: give city or province")
    values = {"level": req.level, "deadline": deadline, "supervising_level": req.supervising_level}
    return values, {**values, "deadline": deadline.isoformat(), "previous_level": row.level}


def _rectifying(conn, *, row, req: TransitionRequest, ctx, today) -> tuple[dict, dict]:
    funds = None if req.funds_yuan is None else req.funds_yuan.quantize(Decimal("0.01"))
    values = {"rectification_plan": req.rectification_plan, "responsible_person": req.responsible_person,
              "funds_yuan": funds}
    details = {**values, "funds_yuan": None if funds is None else str(funds)}
    return values, {k: v for k, v in details.items() if v is not None}


def _submitted(conn, *, row, req, ctx, today) -> tuple[dict, dict]:
    n = conn.execute(select(func.count()).select_from(_E).where(_E.c.hidden_danger_id == row.id,
                                                                 _E.c.transition_id.is_(None))).scalar_one()
    if n == 0:
        raise InvalidInput("evidence", f"upload at least one evidence file (POST /hidden-dangers/{row.id}/evidence) "
                                       "before reporting completion")
    return {}, {}


def _verified(conn, *, row, req, ctx, today) -> tuple[dict, dict]:
    submitter = conn.execute(select(_T.c.actor).where(_T.c.hidden_danger_id == row.id, _T.c.action == "submitted")
                             .order_by(_T.c.id.desc()).limit(1)).scalar()
    if submitter == ctx.actor:
        raise NotPermitted("to: you recorded the completion of this danger; another officer verifies it")
    return {}, {}


def _closed(conn, *, row, req, ctx, today) -> tuple[dict, dict]:
    level = row.supervising_level
    if level is not None and ROLE_RANK[ctx.role] < LEVEL_RANK[level]:
        raise NotPermitted(f"to: this danger is supervised (挂牌督办) by the {level}: a {level} or higher regulator "
                           f"closes (销号) it; you are {ctx.role}")
    return {"closed_on": today}, {"closed_on": today.isoformat()}


def _nothing(conn, *, row, req, ctx, today) -> tuple[dict, dict]:
    return {}, {}


_CHECKS: dict[str, Check] = {"accepted": _accepted, "rectifying": _rectifying, "submitted": _submitted,
                             "rejected": _nothing, "verified": _verified, "closed": _closed}


def _record(row) -> dict[str, Any]:
    return {"id": row.id, "hidden_danger_id": row.hidden_danger_id, "action": row.action,
            "from_status": row.from_status, "to_status": row.to_status, "actor": row.actor,
            "actor_role": row.actor_role, "at": row.at.isoformat(), "note": row.note, "details": row.details}


_RETURNED = (_T.c.id, _T.c.hidden_danger_id, _T.c.action, _T.c.from_status, _T.c.to_status, _T.c.actor,
             _T.c.actor_role, _T.c.at, _T.c.note, _T.c.details)


def transition(session: Session | Connection, *, danger_id: int, payload: Any, ctx: RequestContext,
               today: dt.date | None = None, if_match: int | None = None) -> dict[str, Any]:
    """Move hidden danger ``danger_id`` as ``payload`` asks (``{"to": ..., "note": ..., ...}``).

    Order of refusals: bad body (``InvalidInput``, 422); public caller
    (``NotPermitted``); danger not visible or deleted (``NotFound``); stale
    ``if_match`` (``StaleVersion``); no such edge from the current status
    (``IllegalTransition``, listing the allowed moves); role not allowed
    (``NotPermitted``); the move's own fields and conditions (``InvalidInput``
    naming the field, or ``NotPermitted``). Nothing is written unless all pass.

    Returns the history row written, with ``evidence`` (ids of the files it
    took) and ``version`` (the danger's new row version).
    """
    req = parse_request(payload)
    require_signed_in(ctx, "the hidden-danger workflow")
    conn = _conn(session)
    row = _lock(conn, danger_id)
    if if_match is not None and row.version != if_match:
        raise StaleVersion(row.version)
    rule = RULES[req.to]
    if row.status != rule.from_status:
        raise IllegalTransition(status=row.status, requested=req.to, allowed=allowed_targets(row.status))
    if ctx.role not in rule.roles:
        raise NotPermitted(f"to: moving a danger to {req.to} is for {', '.join(rule.roles)} users; you are {ctx.role}")
    _check_fields(req, rule)
    day = _today(conn, today)
    values, details = _CHECKS[req.to](conn, row=row, req=req, ctx=ctx, today=day)
    with db_errors(conn):
        written = conn.execute(insert(_T).values(hidden_danger_id=row.id, from_status=row.status,
                                                 to_status=rule.to_status, action=req.to, note=req.note,
                                                 details=details).returning(*_RETURNED)).one()
        conn.execute(update(_D).where(_D.c.id == row.id).values(status=rule.to_status, **values))
        taken = conn.execute(update(_E).where(_E.c.hidden_danger_id == row.id, _E.c.transition_id.is_(None))
                             .values(transition_id=written.id).returning(_E.c.id)).scalars().all()
    version = conn.execute(select(_D.c.version).where(_D.c.id == row.id)).scalar_one()
    return {**_record(written), "evidence": sorted(taken), "version": version}


def next_moves(session: Session | Connection, *, danger_id: int, ctx: RequestContext) -> dict[str, Any]:
    """What can happen next to a danger: ``{"status", "moves": [{"to", "you_may", "requires", "optional"}]}``.

    ``you_may`` says whether the caller's role is in the rule (the move's own
    conditions, such as the supervising level for ``closed``, are checked when made).
    """
    require_signed_in(ctx, "the hidden-danger workflow")
    conn = _conn(session)
    row = conn.execute(select(_D.c.status, _D.c.version).where(_D.c.id == danger_id, _D.c.valid_to.is_(None))).first()
    if row is None:
        raise NotFound(f"hidden danger {danger_id} not found")
    moves = [{"to": t, "to_status": RULES[t].to_status, "you_may": ctx.role in RULES[t].roles,
              "requires": list(RULES[t].requires), "optional": list(RULES[t].optional),
              "conditions": list(RULES[t].conditions)} for t in allowed_targets(row.status)]
    return {"hidden_danger_id": danger_id, "status": row.status, "version": row.version, "moves": moves}


def history(session: Session | Connection, *, danger_id: int, ctx: RequestContext) -> dict[str, Any]:
    """Every move of a danger, oldest first, with the evidence each took (metadata only).

    ``{"hidden_danger_id", "status", "data": [...], "count"}``; NotFound when
    the caller cannot see the danger. Soft-deleted dangers keep their history.
    """
    require_signed_in(ctx, "the hidden-danger workflow")
    conn = _conn(session)
    status = conn.execute(select(_D.c.status).where(_D.c.id == danger_id)).scalar()
    if status is None:
        raise NotFound(f"hidden danger {danger_id} not found")
    rows = conn.execute(select(*_RETURNED).where(_T.c.hidden_danger_id == danger_id).order_by(_T.c.id)).all()
    files: dict[int | None, list[dict]] = {}
    for e in conn.execute(select(_E.c.id, _E.c.transition_id, _E.c.filename, _E.c.media_type, _E.c.size_bytes)
                          .where(_E.c.hidden_danger_id == danger_id).order_by(_E.c.id)):
        files.setdefault(e.transition_id, []).append(
            {"id": e.id, "filename": e.filename, "media_type": e.media_type, "size_bytes": e.size_bytes,
             "href": f"/hidden-dangers/{danger_id}/evidence/{e.id}"})
    data = [{**_record(r), "evidence": files.get(r.id, [])} for r in rows]
    return {"hidden_danger_id": danger_id, "status": status, "data": data, "count": len(data),
            "pending_evidence": files.get(None, [])}


# ---------------------------------------------------------------------------------------- escalation

class EscalationSchedule(BaseSettings):
    """When an overdue open danger's supervision moves up (days past the deadline).

    ``ONEMAP_ESCALATION_CITY_AFTER_DAYS`` (default 1: the first day overdue)
    and ``ONEMAP_ESCALATION_PROVINCE_AFTER_DAYS`` (default 30).

    >>> s = EscalationSchedule(city_after_days=1, province_after_days=30)
    >>> s.target(0), s.target(1), s.target(29), s.target(30)
    (None, 'city', 'city', 'province')
    """

    model_config = SettingsConfigDict(env_prefix="ONEMAP_ESCALATION_", extra="ignore")
    city_after_days: int = Field(1, ge=1, le=3650, description="days past the deadline: county → city")
    province_after_days: int = Field(30, ge=2, le=3650, description="days past the deadline: city → province")

    @model_validator(mode="after")
    def _ordered(self) -> EscalationSchedule:
        if self.province_after_days <= self.city_after_days:
            raise ValueError("province_after_days must be greater than city_after_days")
        return self

    def target(self, days_overdue: int) -> str | None:
        """The supervising level a danger this many days past its deadline should have at least."""
        if days_overdue >= self.province_after_days:
            return "province"
        if days_overdue >= self.city_after_days:
            return "city"
        return None


@dataclass
class EscalationSummary:
    """What one escalation pass did."""

    today: dt.date
    checked: int = 0
    escalated: int = 0
    to_city: int = 0
    to_province: int = 0
    skipped_locked: int = 0
    ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"today": self.today.isoformat(), "checked": self.checked, "escalated": self.escalated,
                "to_city": self.to_city, "to_province": self.to_province, "skipped_locked": self.skipped_locked}

    def as_text(self) -> str:
        return (f"escalation on {self.today.isoformat()}: {self.checked:,} overdue open dangers checked, "
                f"{self.escalated:,} escalated ({self.to_city:,} to city, {self.to_province:,} to province)"
                + (f"; {self.skipped_locked:,} busy, left for the next pass" if self.skipped_locked else ""))


_ZH_LEVEL = {"county": "区县", "city": "市", "province": "省"}


def escalate_overdue(conn: Connection, today: dt.date | None = None, *, schedule: EscalationSchedule | None = None,
                     progress: Callable[[int, int], None] | None = None) -> EscalationSummary:
    """Raise the supervising level of overdue open dangers as the schedule says; idempotent.

    Run as the owner role (the maintenance path) in a transaction of its own:
    the actor of the history rows and the audit log is set to ``system`` for
    the rest of the transaction. A danger with no supervising level counts as
    county-supervised. Each raise writes a history row (action ``escalated``,
    status unchanged, details: levels, days overdue, schedule) and sets
    ``supervising_level`` and ``escalated_at``. Rows locked by a user's move
    at that moment are skipped (``FOR UPDATE SKIP LOCKED``) and taken by the
    next pass; running it twice on the same day changes nothing the second time.
    ``progress(done, total)`` is called as rows are handled.
    """
    schedule = schedule or EscalationSchedule()
    day = _today(conn, today)
    conn.execute(text("SELECT set_config('onemap.actor', 'system', true)"))
    overdue = (_D.c.valid_to.is_(None), _D.c.status.in_(OPEN_STATUSES),
               _D.c.deadline <= day - dt.timedelta(days=schedule.city_after_days),
               func.coalesce(_D.c.supervising_level, "county") != "province")
    candidates = conn.execute(select(func.count()).select_from(_D).where(*overdue)).scalar_one()
    rows = conn.execute(select(_D.c.id, _D.c.status, _D.c.deadline, _D.c.supervising_level).where(*overdue)
                        .order_by(_D.c.id).with_for_update(skip_locked=True)).all()
    summary = EscalationSummary(today=day, checked=candidates, skipped_locked=candidates - len(rows))
    moves: list[tuple[int, str, str, str, int]] = []
    for r in rows:
        days = (day - r.deadline).days
        target = schedule.target(days)
        current = r.supervising_level or "county"
        if target is not None and LEVEL_RANK[target] > LEVEL_RANK[current]:
            moves.append((r.id, r.status, current, target, days))
    if progress:
        progress(0, len(moves))
    for start in range(0, len(moves), 1000):
        batch = moves[start:start + 1000]
        conn.execute(insert(_T), [{
            "hidden_danger_id": i, "from_status": st, "to_status": st, "action": "escalated",
            "note": f"逾期 {days} 天，督办层级由{_ZH_LEVEL[old]}升至{_ZH_LEVEL[new]}"
                    f"（overdue {days} days: supervision {old} → {new}）",
            "details": {"from_level": old, "to_level": new, "days_overdue": days,
                        "schedule": {"city_after_days": schedule.city_after_days,
                                     "province_after_days": schedule.province_after_days}},
        } for i, st, old, new, days in batch])
        for level in ("city", "province"):
            ids = [i for i, _, _, new, _ in batch if new == level]
            if ids:
                conn.execute(update(_D).where(_D.c.id.in_(ids)).values(supervising_level=level,
                                                                        escalated_at=func.now()))
        if progress:
            progress(start + len(batch), len(moves))
    summary.escalated = len(moves)
    summary.to_city = sum(1 for m in moves if m[3] == "city")
    summary.to_province = sum(1 for m in moves if m[3] == "province")
    summary.ids = [m[0] for m in moves]
    return summary


# ---------------------------------------------------------------------------------------- docs

def rules_markdown() -> str:
    """The rule table as Markdown (docs/WORKFLOWS.md embeds it; a test keeps the two equal)."""
    lines = ["| move (`to`) | from → to | who | requires | optional | conditions |",
             "|---|---|---|---|---|---|"]
    for r in RULES.values():
        src = "(new)" if r.from_status is None and r.to != "escalated" else (r.from_status or "any open")
        lines.append(f"| `{r.to}` {r.zh} | {src} → {r.to_status} | {', '.join(r.roles)} | "
                     f"{', '.join(f'`{x}`' for x in r.requires) or '–'} | "
                     f"{', '.join(f'`{x}`' for x in r.optional) or '–'} | "
                     f"{'; '.join(r.conditions) or '–'} (via {r.via}) |")
    return "\n".join(lines)

