"""Double-random inspections (双随机、一公开): roster, draw, publication, inspection, findings.

A county (or city, or province) office keeps a roster of inspectors
(执法检查人员名录库) with their declared conflicts of interest; each period it
draws enterprises from the pool of its region (检查对象名录库: active
enterprises, optionally filtered by industry and risk colour) by strata of
risk colour — a count or a proportion per stratum, higher-risk strata
weighted — and a team of at least two inspectors for each, none of them in
conflict with the enterprise or recently its inspector. The draw is a pure
function of recorded inputs (:mod:`workflows.random_draw`), so anyone can
re-run it (``GET /inspections/draws/{id}/verify``, ``onemap inspections
redraw --id N``). Publication makes the plan public (一公开); results follow
task by task; a finding opens a hidden danger in the closed loop
(:mod:`workflows.hidden_dangers`, status ``reported``) and, optionally, an
enforcement record (``enterprise_records``, penalty and amount).

Draws::

    drawn ──published──► published ──started──► in_progress ──completed──► completed
      └──cancelled──► cancelled (only before publication; its tasks too)

Tasks::

    planned ──inspected──► inspected ──closed──► closed
      └──(its draw cancelled)──► cancelled

:data:`DRAW_RULES` and :data:`TASK_RULES` are the rule tables (who may make
each move, what it needs); migration 0011 freezes their edges;
``docs/WORKFLOWS.md`` renders them with :func:`rules_markdown`. Service
functions are keyword-only and the caller owns the transaction. Moves lock
the draw first (``FOR UPDATE`` for a draw's move, ``FOR SHARE`` for a task's
move or finding) and then the task (``FOR UPDATE``): concurrent moves
serialise and the second gets :class:`~workflows.errors.IllegalTransition`
(409). Another jurisdiction's draw or task is :class:`~geo.errors.NotFound`
(row-level security hides it).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    any_,
    bindparam,
    func,
    insert,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from geo.bodies import parse_body
from geo.context import RequestContext, require_signed_in
from geo.errors import InvalidInput, NotFound, NotPermitted
from geo.models import (
    Enterprise,
    EnterpriseRecord,
    HiddenDanger,
    InspectionDraw,
    InspectionFinding,
    InspectionTask,
    InspectionTransition,
    Inspector,
    InspectorConflict,
    Region,
)
from geo.registry import db_errors
from geo.vocab import (
    CONFLICT_KINDS,
    DANGER_CATEGORIES,
    DANGER_LEVELS,
    INDUSTRIES,
    INSPECTION_RESULTS,
)
from layers.catalogue import LAYERS
from layers.editing import create_feature
from layers.enterprise_risk import RECORD_SEVERITIES
from workflows.errors import IllegalTransition, WorkflowConflict
from workflows.hidden_dangers import REGULATORS, _conn
from workflows.random_draw import (
    ALGORITHM,
    STRATUM_KEYS,
    Stratum,
    Task,
    TooFewInspectors,
    canonical_result,
    draw,
    result_digest,
)

__all__ = [
    "Rule", "DRAW_RULES", "TASK_RULES", "DRAW_TARGETS", "TASK_TARGETS", "MAX_TASKS", "PENALTIES",
    "InspectorCreate", "InspectorUpdate", "ConflictCreate", "StratumSpec", "DrawFilters", "DrawRequest",
    "DrawMove", "TaskMove", "FindingRequest",
    "add_inspector", "update_inspector", "list_inspectors", "add_conflict", "list_conflicts",
    "create_draw", "list_draws", "get_draw", "draw_history", "move_draw", "move_task", "add_finding",
    "list_findings", "verify_draw", "rules_markdown",
]

MAX_TASKS = 2000  # tasks in one draw
PENALTIES: dict[str, tuple[str, str]] = RECORD_SEVERITIES["enforcement"]
"""Penalty types of an enforcement record (the ``enterprise_records`` vocabulary of migration 0007)."""
_DRAW_LIVE = ("published", "in_progress", "completed")


@dataclass(frozen=True)
class Rule:
    """One move: the word of the request (``to``), the edge, who may make it, what it needs."""

    to: str
    from_status: str | None
    to_status: str
    roles: tuple[str, ...]
    zh: str
    en: str
    requires: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    via: str = ""


DRAW_RULES: dict[str, Rule] = {r.to: r for r in (
    Rule("drawn", None, "drawn", REGULATORS, "抽取（对象与执法人员）", "draw enterprises and teams",
         requires=("adcode", "strata"), optional=("period", "title", "filters", "team_size", "avoid_repeat_days",
                                                 "seed"),
         conditions=("the region lies in your jurisdiction", "the pool (active enterprises of the region matching "
                     "the filters) is not empty", "each task gets a team of team_size (≥ 2) eligible inspectors",
                     "no seed given: one is generated (secrets) and recorded"),
         via="POST /inspections/draws"),
    Rule("published", "drawn", "published", REGULATORS, "公示抽查计划", "publish the plan",
         optional=("note",), conditions=("the draw and its tasks become public (readable without login)",)),
    Rule("started", "published", "in_progress", REGULATORS, "开始检查", "start the inspections",
         optional=("note",)),
    Rule("completed", "in_progress", "completed", REGULATORS, "完成抽查", "complete the draw",
         optional=("note",), conditions=("no task is still planned",)),
    Rule("cancelled", "drawn", "cancelled", REGULATORS, "作废（公示前）", "cancel (before publication)",
         requires=("note",), conditions=("note: the reason, required; the draw and its tasks stay on record",)),
)}
TASK_RULES: dict[str, Rule] = {r.to: r for r in (
    Rule("finding", "planned", "planned", REGULATORS, "记录检查发现问题", "record a finding",
         requires=("title", "description", "category", "level"), optional=("legal_basis", "penalty"),
         conditions=("the draw is in_progress", "the team records it when any team member has a login",
                     "opens a hidden danger (reported) and, with a penalty, an enforcement record; amount_yuan "
                     "only and always for a fine"),
         via="POST /inspections/tasks/{id}/findings"),
    Rule("inspected", "planned", "inspected", REGULATORS, "录入检查结果", "record the result",
         requires=("result_summary",), optional=("result", "inspected_on", "note"),
         conditions=("the draw is in_progress", "the team records it when any team member has a login",
                     "result: findings when findings were recorded, else compliant (default), not_operating "
                     "or not_located", "inspected_on: not in the future, not before publication",
                     "the result and the findings (with their penalties) become public")),
    Rule("closed", "inspected", "closed", REGULATORS, "办结", "close",
         optional=("note",), conditions=("the draw is in_progress or completed",
                                         "every hidden danger found is verified or closed")),
)}
for _r in DRAW_RULES.values():
    object.__setattr__(_r, "via", _r.via or "POST /inspections/draws/{id}/transitions")
for _r in TASK_RULES.values():
    object.__setattr__(_r, "via", _r.via or "POST /inspections/tasks/{id}/transitions")

DRAW_TARGETS = tuple(t for t, r in DRAW_RULES.items() if r.from_status is not None)
TASK_TARGETS = tuple(t for t, r in TASK_RULES.items() if r.via.endswith("/transitions"))

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Adcode = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{5}$")]
Id = Annotated[int, Field(ge=1, lt=2**63)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InspectorCreate(_Model):
    """``POST /inspections/inspectors``."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "name": "王明", "adcode": "330211", "unit": "镇海区应急管理局执法大队", "badge_no": "33021100123",
        "username": "zh.wangming"}})
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    adcode: Adcode = Field(description="the region whose roster the inspector is on (county, city or province)")
    unit: Name | None = None
    badge_no: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z-]{4,30}$")] | None = Field(
        None, description="执法证号")
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = Field(
        None, description="the inspector's OneMap login (a regulator user); then only the team records its results")


class InspectorUpdate(_Model):
    """``PATCH /inspections/inspectors/{id}``: any of these."""

    active: bool | None = None
    unit: Name | None = None
    badge_no: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z-]{4,30}$")] | None = None
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None


class ConflictCreate(_Model):
    """``POST /inspections/inspectors/{id}/conflicts``: a declared conflict of interest (回避)."""

    enterprise_id: Id
    kind: Literal[tuple(CONFLICT_KINDS)]  # type: ignore[valid-type]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]


StratumKey = Literal[STRATUM_KEYS]  # type: ignore[valid-type]


class StratumSpec(_Model):
    """One stratum: the risk colours it takes, ``count`` or ``proportion``, optional weights per colour."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-\u4e00-\u9fff]{1,40}$")]
    risk_colours: list[StratumKey] = Field(min_length=1, max_length=5)
    count: int | None = Field(None, ge=0, le=MAX_TASKS)
    proportion: Decimal | None = Field(None, gt=0, le=1, max_digits=5, decimal_places=4, allow_inf_nan=False,
                                       description="share of the stratum's enterprises, drawn as ceil(p × n)")
    weights: dict[StratumKey, float] = Field(default_factory=dict, description="per colour, default 1")

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        for key, w in v.items():
            if not (0 < w <= 1000) or w != w:
                raise ValueError(f"weight of {key} must be > 0 and at most 1000")
        return v


class DrawFilters(_Model):
    """Which enterprises of the region are in the pool (besides: active, not deregistered)."""

    industries: list[Literal[tuple(INDUSTRIES)]] | None = Field(None, min_length=1)  # type: ignore[valid-type]
    risk_colours: list[StratumKey] | None = Field(None, min_length=1)


class DrawRequest(_Model):
    """``POST /inspections/draws``."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "adcode": "330211", "period": "2026-11", "title": "镇海区2026年11月危化企业双随机抽查",
        "filters": {"industries": ["hazchem_production", "hazchem_storage"]},
        "strata": [{"name": "红橙", "risk_colours": ["red", "orange"], "count": 3, "weights": {"red": 2}},
                   {"name": "其他", "risk_colours": ["yellow", "blue", "unrated"], "proportion": "0.1"}],
        "team_size": 2, "seed": 20261101}})
    adcode: Adcode = Field(description="the region drawn from: county, city or province code")
    period: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}(-(0[1-9]|1[0-2])|-Q[1-4]|-H[12])?$")] | None = \
        Field(None, description="2026, 2026-11, 2026-Q4 or 2026-H2 (default: this month)")
    title: Name | None = None
    filters: DrawFilters = Field(default_factory=DrawFilters)
    strata: list[StratumSpec] = Field(min_length=1, max_length=20)
    team_size: int = Field(2, ge=2, le=10, description="inspectors per task, at least two")
    avoid_repeat_days: int = Field(365, ge=0, le=3650, description="an inspector of the enterprise within this "
                                                                   "many days is not drawn for it again (0: off)")
    seed: int | None = Field(None, ge=0, lt=2**63, description="default: generated and recorded")

    @field_validator("seed", mode="before")
    @classmethod
    def _no_bool(cls, v: Any) -> Any:
        if isinstance(v, bool) or (v is not None and not isinstance(v, int)):
            raise ValueError("must be an integer, 0 ≤ seed < 2^63")
        return v


class DrawMove(_Model):
    """``POST /inspections/draws/{id}/transitions``."""

    model_config = ConfigDict(json_schema_extra={"example": {"to": "published", "note": "经局务会审定后公示"}})
    to: Literal[DRAW_TARGETS] = Field(description="published, started, completed or cancelled")  # type: ignore[valid-type]
    note: Note | None = None


class TaskMove(_Model):
    """``POST /inspections/tasks/{id}/transitions``."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "to": "inspected", "result_summary": "现场检查储罐区、装卸区，未发现问题", "result": "compliant"}})
    to: Literal[TASK_TARGETS] = Field(description="inspected or closed")  # type: ignore[valid-type]
    note: Note | None = None
    result: Literal[tuple(INSPECTION_RESULTS)] | None = None  # type: ignore[valid-type]
    result_summary: Note | None = None
    inspected_on: dt.date | None = None


class Penalty(_Model):
    type: Literal[tuple(PENALTIES)]  # type: ignore[valid-type]
    amount_yuan: Decimal | None = Field(None, gt=0, le=Decimal("1e12"), max_digits=16, decimal_places=2,
                                        allow_inf_nan=False, description="only (and always) for a fine")


class FindingRequest(_Model):
    """``POST /inspections/tasks/{id}/findings``."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "title": "液氯储罐区可燃气体报警器失效", "description": "2号储罐区两台报警器未通电",
        "category": "equipment", "level": "general", "legal_basis": "《安全生产法》第三十六条",
        "penalty": {"type": "fine", "amount_yuan": 20000}}})
    title: Name
    description: Note
    category: Literal[tuple(DANGER_CATEGORIES)]  # type: ignore[valid-type]
    level: Literal[tuple(DANGER_LEVELS)]  # type: ignore[valid-type]
    legal_basis: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)] | None = None
    penalty: Penalty | None = None


def _parse(model: type[_Model], payload: Any, example: str = '{...}'):
    """Validate a JSON body; :class:`InvalidInput` names the field (dotted path) and the reason."""
    return parse_body(model, payload, example=example)


def _regulator(ctx: RequestContext, what: str) -> None:
    require_signed_in(ctx, what)
    if ctx.role not in REGULATORS:
        raise NotPermitted(f"{what} is for regulators ({', '.join(REGULATORS)}); you are {ctx.role}")


# ---------------------------------------------------------------------------------------- roster

_I = Inspector.__table__
_C = InspectorConflict.__table__
_D = InspectionDraw.__table__
_T = InspectionTask.__table__
_F = InspectionFinding.__table__
_H = InspectionTransition.__table__
_EN = Enterprise.__table__
_REC = EnterpriseRecord.__table__
_HD = HiddenDanger.__table__
_UNIQUE = {"inspectors_username_key": "username", "inspectors_badge_no_key": "badge_no",
           "inspector_conflicts_pair_key": "enterprise_id"}


def _region(conn: Connection, adcode: str) -> tuple[str, str, str]:
    """(adcode prefix, level, name) of a region; InvalidInput when unknown."""
    row = conn.execute(select(Region.level, Region.name).where(Region.adcode == adcode)).first()
    if row is None:
        raise InvalidInput("adcode", f"unknown region {adcode}")
    prefix = {"province": adcode[:2], "city": adcode[:4]}.get(row.level, adcode)
    return prefix, row.level, row.name


def _inside(ctx: RequestContext, prefix: str, adcode: str) -> None:
    if not prefix.startswith(ctx.jurisdiction):
        raise NotPermitted(f"adcode: region {adcode} lies outside your jurisdiction ({ctx.jurisdiction})")


def _inspector_dict(r) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "adcode": r.adcode, "unit": r.unit, "badge_no": r.badge_no,
            "username": r.username, "active": r.active, "created_by": r.created_by,
            "updated_at": r.updated_at.isoformat(), "version": r.version}


_INSPECTOR_COLS = (_I.c.id, _I.c.name, _I.c.adcode, _I.c.unit, _I.c.badge_no, _I.c.username, _I.c.active,
                   _I.c.created_by, _I.c.updated_at, _I.c.version)


def _check_username(conn: Connection, username: str, ctx: RequestContext) -> None:
    row = conn.execute(text("SELECT role, jurisdiction, status FROM onemap_login_lookup(:u)"), {"u": username}).first()
    if row is None or row.status != "active" or row.role not in REGULATORS \
            or not row.jurisdiction.startswith(ctx.jurisdiction):
        raise InvalidInput("username", f"no active regulator user {username!r} in your jurisdiction")


def _unique(conn: Connection):
    """db_errors, with the unique indexes named by their field."""
    import contextlib

    @contextlib.contextmanager
    def guard():
        try:
            with db_errors(conn):
                yield
        except InvalidInput as exc:
            if exc.field in _UNIQUE:
                raise InvalidInput(_UNIQUE[exc.field], "already registered (on this or another roster)") from None
            raise

    return guard()


def add_inspector(session: Session | Connection, *, payload: Any, ctx: RequestContext) -> dict[str, Any]:
    """Put an inspector on the roster of a region in the caller's jurisdiction."""
    body = _parse(InspectorCreate, payload, '{"name": "王明", "adcode": "330211"}')
    _regulator(ctx, "the inspector roster")
    conn = _conn(session)
    prefix, _, _ = _region(conn, body.adcode)
    _inside(ctx, prefix, body.adcode)
    if body.username is not None:
        _check_username(conn, body.username, ctx)
    with _unique(conn):
        row = conn.execute(insert(_I).values(**body.model_dump()).returning(*_INSPECTOR_COLS)).one()
    return _inspector_dict(row)


def update_inspector(session: Session | Connection, *, inspector_id: int, payload: Any,
                     ctx: RequestContext) -> dict[str, Any]:
    """Change an inspector (``active`` false takes them off future draws; nothing is deleted)."""
    body = _parse(InspectorUpdate, payload, '{"active": false}')
    _regulator(ctx, "the inspector roster")
    conn = _conn(session)
    values = body.model_dump(exclude_unset=True)
    if not values:
        raise InvalidInput("body", "give at least one of active, unit, badge_no, username")
    if values.get("username") is not None:
        _check_username(conn, values["username"], ctx)
    if conn.execute(select(_I.c.id).where(_I.c.id == inspector_id).with_for_update()).first() is None:
        raise NotFound(f"inspector {inspector_id} not found")
    with _unique(conn):
        row = conn.execute(update(_I).where(_I.c.id == inspector_id).values(**values)
                           .returning(*_INSPECTOR_COLS)).one()
    return _inspector_dict(row)


def list_inspectors(session: Session | Connection, *, ctx: RequestContext, adcode: str | None = None,
                    active: bool | None = None) -> dict[str, Any]:
    """The roster the caller sees (its jurisdiction), by id; ``adcode`` narrows to a region's."""
    _regulator(ctx, "the inspector roster")
    conn = _conn(session)
    stmt = select(*_INSPECTOR_COLS).order_by(_I.c.id)
    if adcode is not None:
        prefix, _, _ = _region(conn, adcode)
        stmt = stmt.where(func.starts_with(_I.c.adcode, prefix))
    if active is not None:
        stmt = stmt.where(_I.c.active.is_(active))
    data = [_inspector_dict(r) for r in conn.execute(stmt)]
    return {"data": data, "count": len(data)}


def _conflict_dict(r) -> dict[str, Any]:
    return {"id": r.id, "inspector_id": r.inspector_id, "enterprise_id": r.enterprise_id, "kind": r.kind,
            "reason": r.reason, "declared_by": r.declared_by, "declared_at": r.declared_at.isoformat()}


def add_conflict(session: Session | Connection, *, inspector_id: int, payload: Any,
                 ctx: RequestContext) -> dict[str, Any]:
    """Record a declared conflict of interest: the draw never sends this inspector to that enterprise."""
    body = _parse(ConflictCreate, payload, '{"enterprise_id": 1, "kind": "relative", "reason": "..."}')
    _regulator(ctx, "the inspector roster")
    conn = _conn(session)
    if conn.execute(select(_I.c.id).where(_I.c.id == inspector_id)).first() is None:
        raise NotFound(f"inspector {inspector_id} not found")
    if conn.execute(select(_EN.c.id).where(_EN.c.id == body.enterprise_id)).first() is None:
        raise InvalidInput("enterprise_id", f"no enterprise {body.enterprise_id} in your jurisdiction")
    with _unique(conn):
        row = conn.execute(insert(_C).values(inspector_id=inspector_id, **body.model_dump()).returning(_C)).one()
    return _conflict_dict(row)


def list_conflicts(session: Session | Connection, *, inspector_id: int, ctx: RequestContext) -> dict[str, Any]:
    """The declared conflicts of one inspector."""
    _regulator(ctx, "the inspector roster")
    conn = _conn(session)
    if conn.execute(select(_I.c.id).where(_I.c.id == inspector_id)).first() is None:
        raise NotFound(f"inspector {inspector_id} not found")
    data = [_conflict_dict(r) for r in conn.execute(select(_C).where(_C.c.inspector_id == inspector_id)
                                                    .order_by(_C.c.id))]
    return {"data": data, "count": len(data)}


# ---------------------------------------------------------------------------------------- the draw

def _strata(specs: Sequence[StratumSpec]) -> tuple[Stratum, ...]:
    names: set[str] = set()
    taken: dict[str, str] = {}
    out = []
    for i, s in enumerate(specs):
        where = f"strata.{i}"
        if s.name in names:
            raise InvalidInput(f"{where}.name", f"stratum name {s.name!r} is used twice")
        names.add(s.name)
        if (s.count is None) == (s.proportion is None):
            raise InvalidInput(where, "give exactly one of count or proportion")
        if len(set(s.risk_colours)) != len(s.risk_colours):
            raise InvalidInput(f"{where}.risk_colours", "a colour is listed twice")
        for key in s.risk_colours:
            if key in taken:
                raise InvalidInput(f"{where}.risk_colours", f"{key} is already in stratum {taken[key]!r}; strata "
                                                            "do not overlap")
            taken[key] = s.name
        for key in s.weights:
            if key not in s.risk_colours:
                raise InvalidInput(f"{where}.weights", f"{key} is not one of this stratum's colours "
                                                       f"({', '.join(s.risk_colours)})")
        out.append(Stratum(s.name, tuple(s.risk_colours), count=s.count, proportion=s.proportion,
                           weights={k: float(w) for k, w in s.weights.items()}))
    return tuple(out)


def _strata_json(strata: Sequence[Stratum]) -> list[dict[str, Any]]:
    return [{"name": s.name, "risk_colours": list(s.keys), **({"count": s.count} if s.count is not None else
                                                               {"proportion": str(s.proportion)}),
             **({"weights": s.weights} if s.weights else {})} for s in strata]


def _strata_from_json(stored: list[dict[str, Any]]) -> tuple[Stratum, ...]:
    return tuple(Stratum(s["name"], tuple(s["risk_colours"]), count=s.get("count"),
                         proportion=None if s.get("proportion") is None else Decimal(s["proportion"]),
                         weights={k: float(w) for k, w in (s.get("weights") or {}).items()}) for s in stored)


def _pool(conn: Connection, prefix: str, filters: DrawFilters) -> list[tuple[int, str, str]]:
    """(id, stratum key, name) of the active enterprises of the region matching the filters, by id."""
    key = func.coalesce(_EN.c.risk_colour, "unrated")
    stmt = (select(_EN.c.id, key.label("key"), _EN.c.name)
            .where(_EN.c.valid_to.is_(None), _EN.c.status == "active", func.starts_with(_EN.c.adcode, prefix))
            .order_by(_EN.c.id))
    if filters.industries:
        stmt = stmt.where(_EN.c.industry.in_(filters.industries))
    if filters.risk_colours:
        stmt = stmt.where(key.in_(filters.risk_colours))
    return [(r.id, r.key, r.name) for r in conn.execute(stmt)]


def _ids(name: str, values: Sequence[int]):
    return bindparam(name, list(values), type_=ARRAY(BigInteger))


def _exclusions(conn: Connection, roster: list[int], pool_ids: list[int], avoid_repeat_days: int
                ) -> list[list]:
    """[[inspector, enterprise, 'declared' | 'recent'], ...] sorted; declared wins over recent."""
    found: dict[tuple[int, int], str] = {}
    on_roster = set(roster)
    if avoid_repeat_days > 0:
        recent = (select(func.unnest(_T.c.inspector_ids).label("i"), _T.c.enterprise_id)
                  .select_from(_T.join(_D, _D.c.id == _T.c.draw_id))
                  .where(_T.c.enterprise_id == any_(_ids("pool", pool_ids)), _D.c.status != "cancelled",
                         _D.c.drawn_at >= func.now() - func.make_interval(0, 0, 0, avoid_repeat_days)))
        for i, e in conn.execute(recent):
            if i in on_roster:
                found[(i, e)] = "recent"
    declared = select(_C.c.inspector_id, _C.c.enterprise_id).where(
        _C.c.inspector_id == any_(_ids("roster", roster)), _C.c.enterprise_id == any_(_ids("pool", pool_ids)))
    for i, e in conn.execute(declared):
        found[(i, e)] = "declared"
    return [[i, e, why] for (i, e), why in sorted(found.items())]


def _task_dict(r, findings: int | None = None) -> dict[str, Any]:
    out = {"id": r.id, "draw_id": r.draw_id, "seq": r.seq, "enterprise_id": r.enterprise_id, "name": r.name,
           "stratum": r.stratum, "risk_colour": r.risk_colour, "inspector_ids": list(r.inspector_ids),
           "team_names": list(r.team_names), "status": r.status, "result": r.result,
           "result_summary": r.result_summary,
           "inspected_on": None if r.inspected_on is None else r.inspected_on.isoformat(),
           "closed_on": None if r.closed_on is None else r.closed_on.isoformat(), "adcode": r.adcode,
           "is_public": r.is_public, "version": r.version}
    if findings is not None:
        out["findings"] = findings
    return out


_TASK_COLS = (_T.c.id, _T.c.draw_id, _T.c.seq, _T.c.enterprise_id, _T.c.name, _T.c.stratum, _T.c.risk_colour,
              _T.c.inspector_ids, _T.c.team_names, _T.c.status, _T.c.result, _T.c.result_summary,
              _T.c.inspected_on, _T.c.closed_on, _T.c.adcode, _T.c.is_public, _T.c.version)


def _draw_dict(r) -> dict[str, Any]:
    return {"id": r.id, "adcode": r.adcode, "period": r.period, "title": r.title, "status": r.status,
            "filters": r.filters, "strata": r.strata, "team_size": r.team_size,
            "avoid_repeat_days": r.avoid_repeat_days, "seed": str(r.seed), "seed_source": r.seed_source,
            "algorithm": r.algorithm, "task_count": r.task_count, "result_sha256": r.result_sha256,
            "drawn_by": r.drawn_by, "drawn_at": r.drawn_at.isoformat(),
            "published_at": None if r.published_at is None else r.published_at.isoformat(),
            "completed_at": None if r.completed_at is None else r.completed_at.isoformat(),
            "is_public": r.is_public, "version": r.version}


def create_draw(session: Session | Connection, *, payload: Any, ctx: RequestContext,
                today: dt.date | None = None) -> dict[str, Any]:
    """Draw enterprises and teams for a region (status ``drawn``, not yet public); returns the draw with tasks.

    Refusals (nothing written): bad body (422 naming the field: ``strata.1.count``
    …), public/enterprise caller (403), unknown region (422 ``adcode``), a
    region outside the jurisdiction (403), an empty pool (422 ``filters``, or
    ``adcode`` without filters), a stratum asking for more than it has (422
    ``strata.N.count``), nothing selected (422 ``strata``), a roster too small
    or an enterprise without a full team of eligible inspectors (422
    ``inspectors``, naming the enterprise).
    """
    body = _parse(DrawRequest, payload, '{"adcode": "330211", "strata": [{"name": "all", '
                                        '"risk_colours": ["red"], "count": 1}]}')
    _regulator(ctx, "drawing inspections")
    strata = _strata(body.strata)
    conn = _conn(session)
    prefix, _, region_name = _region(conn, body.adcode)
    _inside(ctx, prefix, body.adcode)
    day = today if today is not None else conn.execute(select(func.current_date())).scalar_one()
    pool = _pool(conn, prefix, body.filters)
    if not pool:
        given = body.filters.model_dump(exclude_none=True)
        raise InvalidInput("filters" if given else "adcode",
                           f"no active enterprise in region {body.adcode} ({region_name})"
                           + (f" matches the filters {given}" if given else "") + ": the pool is empty")
    roster = [r for (r,) in conn.execute(select(_I.c.id).where(_I.c.active.is_(True),
                                                               func.starts_with(_I.c.adcode, prefix))
                                         .order_by(_I.c.id))]
    if len(roster) < body.team_size:
        raise InvalidInput("inspectors", f"the roster of region {body.adcode} has {len(roster)} active "
                                         f"inspector(s); a team needs {body.team_size} (POST /inspections/inspectors)")
    pairs = [(e, k) for e, k, _ in pool]
    exclusions = _exclusions(conn, roster, [e for e, _ in pairs], body.avoid_repeat_days)
    seed_source = "given" if body.seed is not None else "generated"
    seed = body.seed if body.seed is not None else secrets.randbits(63)
    names = {e: n for e, _, n in pool}
    try:
        tasks = draw(pool=pairs, roster=roster, exclusions={(i, e) for i, e, _ in exclusions}, strata=strata,
                     team_size=body.team_size, seed=seed)
    except TooFewInspectors as exc:
        raise InvalidInput("inspectors", f"enterprise {exc.enterprise_id} ({names[exc.enterprise_id]}) has "
                                         f"{exc.eligible} eligible inspector(s) ({exc.excluded} excluded by declared "
                                         f"conflicts of interest or inspections in the last {body.avoid_repeat_days} "
                                         f"days); a team needs {exc.team_size}") from None
    except InvalidInput as exc:
        if exc.field == "count":  # a stratum asks for more than it has
            index = next(i for i, s in enumerate(strata) if exc.reason.startswith(f"stratum {s.name!r}"))
            raise InvalidInput(f"strata.{index}.count", exc.reason) from None
        raise
    if not tasks:
        raise InvalidInput("strata", "the strata select no enterprise (every size is 0 or its stratum is empty)")
    if len(tasks) > MAX_TASKS:
        raise InvalidInput("strata", f"the strata select {len(tasks)} enterprises; at most {MAX_TASKS} per draw")
    colours = dict(pairs)
    with db_errors(conn):
        draw_id = conn.execute(insert(_D).values(
            adcode=body.adcode, period=body.period or f"{day:%Y-%m}",
            title=body.title or f"{region_name}{body.period or f'{day:%Y-%m}'}双随机抽查",
            filters=body.filters.model_dump(exclude_none=True), strata=_strata_json(strata), team_size=body.team_size,
            avoid_repeat_days=body.avoid_repeat_days, seed=seed, seed_source=seed_source, algorithm=ALGORITHM,
            pool=[[e, k] for e, k in pairs], roster=roster, exclusions=exclusions, result_sha256=result_digest(tasks),
            task_count=len(tasks)).returning(_D.c.id)).scalar_one()
        # name, geom, adcode and team_names are copied by the database (migration 0011)
        conn.execute(insert(_T), [{
            "draw_id": draw_id, "seq": t.seq, "enterprise_id": t.enterprise_id, "stratum": t.stratum,
            "risk_colour": None if colours[t.enterprise_id] == "unrated" else colours[t.enterprise_id],
            "inspector_ids": list(t.inspectors)} for t in tasks])
    return get_draw(conn, draw_id=draw_id, ctx=ctx)


def _draw_row(conn: Connection, draw_id: int, lock: str | None = None):
    stmt = select(_D).where(_D.c.id == draw_id)
    if lock == "update":
        stmt = stmt.with_for_update()
    elif lock == "share":
        stmt = stmt.with_for_update(read=True)
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"inspection draw {draw_id} not found")
    return row


def _findings_count(conn: Connection, draw_id: int) -> dict[int, int]:
    return dict(conn.execute(select(_F.c.task_id, func.count()).where(_F.c.draw_id == draw_id)
                             .group_by(_F.c.task_id)).all())


def get_draw(session: Session | Connection, *, draw_id: int, ctx: RequestContext) -> dict[str, Any]:
    """A draw with its recorded inputs and its tasks (public once published: anyone may check it)."""
    conn = _conn(session)
    row = _draw_row(conn, draw_id)
    counts = _findings_count(conn, draw_id)
    tasks = [_task_dict(t, counts.get(t.id, 0)) for t in conn.execute(select(*_TASK_COLS)
                                                                      .where(_T.c.draw_id == draw_id)
                                                                      .order_by(_T.c.seq))]
    return {**_draw_dict(row), "inputs": {"pool": row.pool, "roster": list(row.roster), "exclusions": row.exclusions},
            "tasks": tasks}


def list_draws(session: Session | Connection, *, ctx: RequestContext, adcode: str | None = None,
               status: str | None = None, period: str | None = None, limit: int = 100, offset: int = 0
               ) -> dict[str, Any]:
    """Draws the caller sees (the public: published ones), newest first, without their inputs."""
    conn = _conn(session)
    conds = []
    if adcode is not None:
        prefix, _, _ = _region(conn, adcode)
        conds.append(func.starts_with(_D.c.adcode, prefix))
    if status is not None:
        conds.append(_D.c.status == status)
    if period is not None:
        conds.append(_D.c.period == period)
    where = and_(true(), *conds)
    count = conn.execute(select(func.count()).select_from(_D).where(where)).scalar_one()
    rows = conn.execute(select(_D).where(where).order_by(_D.c.drawn_at.desc(), _D.c.id.desc())
                        .limit(limit).offset(offset)).all()
    return {"data": [_draw_dict(r) for r in rows], "count": count}


def _history_dict(r) -> dict[str, Any]:
    return {"id": r.id, "draw_id": r.draw_id, "task_id": r.task_id, "action": r.action,
            "from_status": r.from_status, "to_status": r.to_status, "actor": r.actor, "actor_role": r.actor_role,
            "at": r.at.isoformat(), "note": r.note, "details": r.details}


def draw_history(session: Session | Connection, *, draw_id: int, ctx: RequestContext) -> dict[str, Any]:
    """Every move of a draw and of its tasks, oldest first (not for the public)."""
    require_signed_in(ctx, "the history of a draw")
    conn = _conn(session)
    status = _draw_row(conn, draw_id).status
    rows = conn.execute(select(_H).where(_H.c.draw_id == draw_id).order_by(_H.c.id)).all()
    data = [_history_dict(r) for r in rows]
    return {"draw_id": draw_id, "status": status, "data": data, "count": len(data)}


def _write_move(conn: Connection, *, draw_id: int, task_id: int | None, src: str, dst: str, action: str,
                note: str | None, details: dict | None = None):
    return conn.execute(insert(_H).values(draw_id=draw_id, task_id=task_id, from_status=src, to_status=dst,
                                          action=action, note=note, details=details or {})
                        .returning(_H)).one()


def move_draw(session: Session | Connection, *, draw_id: int, payload: Any, ctx: RequestContext
              ) -> dict[str, Any]:
    """Publish, start, complete or cancel a draw. Returns the history row and the draw (with tasks)."""
    req = _parse(DrawMove, payload, '{"to": "published"}')
    require_signed_in(ctx, "the inspection workflow")
    conn = _conn(session)
    row = _draw_row(conn, draw_id, lock="update")
    rule = DRAW_RULES[req.to]
    if row.status != rule.from_status:
        allowed = [t for t in DRAW_TARGETS if DRAW_RULES[t].from_status == row.status]
        raise IllegalTransition(status=row.status, requested=req.to, allowed=allowed, thing="a draw")
    if ctx.role not in rule.roles:
        raise NotPermitted(f"to: moving a draw to {req.to} is for {', '.join(rule.roles)} users; you are {ctx.role}")
    if "note" in rule.requires and req.note is None:
        raise InvalidInput("note", f"required when moving to {req.to}: the reason")
    values: dict[str, Any] = {"status": rule.to_status}
    details: dict[str, Any] = {}
    if req.to == "completed":
        open_ids = conn.execute(select(_T.c.id).where(_T.c.draw_id == draw_id, _T.c.status == "planned")
                                .order_by(_T.c.seq)).scalars().all()
        if open_ids:
            raise WorkflowConflict("to", f"{len(open_ids)} task(s) not yet inspected (ids "
                                         f"{', '.join(map(str, open_ids[:10]))}); record their results first",
                                   status=row.status, allowed=[])
        values["completed_at"] = func.now()
    with db_errors(conn):
        written = _write_move(conn, draw_id=draw_id, task_id=None, src=row.status, dst=rule.to_status,
                              action=req.to, note=req.note, details=details)
        if req.to == "published":
            values.update(is_public=True, published_at=func.now())
        if req.to == "cancelled":
            values["valid_to"] = func.now()
            planned = conn.execute(select(_T.c.id).where(_T.c.draw_id == draw_id, _T.c.status == "planned")
                                   .order_by(_T.c.id)).scalars().all()
            if planned:
                conn.execute(insert(_H), [{"draw_id": draw_id, "task_id": t, "from_status": "planned",
                                           "to_status": "cancelled", "action": "cancelled", "note": req.note,
                                           "details": {}} for t in planned])
                conn.execute(update(_T).where(_T.c.id.in_(planned)).values(status="cancelled", valid_to=func.now()))
        conn.execute(update(_D).where(_D.c.id == draw_id).values(**values))
        if req.to == "published":
            conn.execute(update(_T).where(_T.c.draw_id == draw_id).values(is_public=True))
    return {"transition": _history_dict(written), "draw": get_draw(conn, draw_id=draw_id, ctx=ctx)}


def _task_row(conn: Connection, task_id: int):
    """The task, after its draw (FOR SHARE) and then itself (FOR UPDATE): the lock order of every move."""
    draw_id = conn.execute(select(_T.c.draw_id).where(_T.c.id == task_id)).scalar()
    if draw_id is None:
        raise NotFound(f"inspection task {task_id} not found")
    try:
        draw_row = _draw_row(conn, draw_id, lock="share")
    except NotFound:
        raise NotFound(f"inspection task {task_id} not found") from None
    row = conn.execute(select(*_TASK_COLS).where(_T.c.id == task_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"inspection task {task_id} not found")
    return draw_row, row


def _team_check(conn: Connection, task, ctx: RequestContext, what: str) -> None:
    members = conn.execute(select(_I.c.username).where(_I.c.id == any_(_ids("team", task.inspector_ids)),
                                                       _I.c.username.is_not(None))).scalars().all()
    if members and ctx.actor not in members:
        raise NotPermitted(f"to: the team of task {task.id} ({', '.join(task.team_names)}) records {what}; "
                           f"you ({ctx.actor}) are not on it")


def _draw_running(draw_row, task, allowed: tuple[str, ...] = ("in_progress",)) -> None:
    if draw_row.status not in allowed:
        raise WorkflowConflict("draw", f"draw {draw_row.id} is {draw_row.status}: its tasks move while it is "
                                       f"{' or '.join(allowed)} (POST /inspections/draws/{draw_row.id}/transitions "
                                       '{"to": "started"})', status=task.status, allowed=[])


def _today(conn: Connection, today: dt.date | None) -> dt.date:
    return today if today is not None else conn.execute(select(func.current_date())).scalar_one()


def move_task(session: Session | Connection, *, task_id: int, payload: Any, ctx: RequestContext,
              today: dt.date | None = None) -> dict[str, Any]:
    """Record a task's result (``inspected``) or close it (``closed``). Returns the history row and the task."""
    req = _parse(TaskMove, payload, '{"to": "inspected", "result_summary": "..."}')
    require_signed_in(ctx, "the inspection workflow")
    conn = _conn(session)
    draw_row, task = _task_row(conn, task_id)
    rule = TASK_RULES[req.to]
    if task.status != rule.from_status:
        allowed = [t for t in TASK_TARGETS if TASK_RULES[t].from_status == task.status]
        raise IllegalTransition(status=task.status, requested=req.to, allowed=allowed, thing="an inspection task")
    if ctx.role not in rule.roles:
        raise NotPermitted(f"to: moving a task to {req.to} is for {', '.join(rule.roles)} users; you are {ctx.role}")
    takes = {"note", *rule.requires, *rule.optional}
    for name in ("result", "result_summary", "inspected_on"):
        if getattr(req, name) is not None and name not in takes:
            raise InvalidInput(name, f"not used when moving to {req.to}; that move takes: {', '.join(sorted(takes))}")
    day = _today(conn, today)
    values: dict[str, Any] = {"status": rule.to_status}
    details: dict[str, Any] = {}
    if req.to == "inspected":
        _draw_running(draw_row, task)
        if req.result_summary is None:
            raise InvalidInput("result_summary", "required when moving to inspected: what was checked and found")
        _team_check(conn, task, ctx, "its result")
        n = conn.execute(select(func.count()).select_from(_F).where(_F.c.task_id == task_id)).scalar_one()
        result = req.result or ("findings" if n else "compliant")
        if n and result != "findings":
            raise InvalidInput("result", f"{n} finding(s) were recorded on this task: the result is findings")
        if not n and result == "findings":
            raise InvalidInput("result", f"no finding recorded: record them first (POST /inspections/tasks/{task_id}"
                                         "/findings), or give compliant, not_operating or not_located")
        on = req.inspected_on or day
        if on > day:
            raise InvalidInput("inspected_on", f"must not be in the future (today is {day.isoformat()})")
        published = draw_row.published_at.date() if draw_row.published_at else day
        if on < published:
            raise InvalidInput("inspected_on", f"must not be before the plan was published ({published.isoformat()})")
        values.update(result=result, result_summary=req.result_summary, inspected_on=on)
        details = {"result": result, "inspected_on": on.isoformat(), "findings": n}
    else:  # closed
        _draw_running(draw_row, task, ("in_progress", "completed"))
        open_dangers = conn.execute(select(_HD.c.id, _HD.c.status).select_from(_F.join(_HD, _HD.c.id == _F.c.hidden_danger_id))
                                    .where(_F.c.task_id == task_id, _HD.c.status.not_in(("verified", "closed")))
                                    .order_by(_HD.c.id)).all()
        if open_dangers:
            listed = ", ".join(f"{i} ({s})" for i, s in open_dangers[:10])
            raise WorkflowConflict("to", f"hidden dangers found on this task are not yet verified as rectified: "
                                         f"{listed}", status=task.status, allowed=[])
        values["closed_on"] = day
        details = {"closed_on": day.isoformat()}
    with db_errors(conn):
        written = _write_move(conn, draw_id=task.draw_id, task_id=task_id, src=task.status, dst=rule.to_status,
                              action=req.to, note=req.note, details=details)
        conn.execute(update(_T).where(_T.c.id == task_id).values(**values))
        if req.to == "inspected" and draw_row.is_public:
            record_ids = conn.execute(update(_F).where(_F.c.task_id == task_id, _F.c.is_public.is_(False))
                                      .values(is_public=True).returning(_F.c.record_id)).scalars().all()
            records = [r for r in record_ids if r is not None]
            if records:
                conn.execute(update(_REC).where(_REC.c.id.in_(records)).values(is_public=True))
    row = conn.execute(select(*_TASK_COLS).where(_T.c.id == task_id)).one()
    return {"transition": _history_dict(written), "task": _task_dict(row)}


def _finding_dict(r) -> dict[str, Any]:
    return {"id": r.id, "task_id": r.task_id, "draw_id": r.draw_id, "title": r.title, "description": r.description,
            "legal_basis": r.legal_basis, "hidden_danger_id": r.hidden_danger_id, "record_id": r.record_id,
            "recorded_by": r.recorded_by, "recorded_at": r.recorded_at.isoformat(), "is_public": r.is_public}


def add_finding(session: Session, *, task_id: int, payload: Any, ctx: RequestContext,
                today: dt.date | None = None) -> dict[str, Any]:
    """Record a finding on a planned task of a running draw, in one transaction with what it opens.

    The hidden danger goes through the closed loop's own insert path
    (:func:`layers.editing.create_feature`, as ``POST /hidden-dangers``):
    status ``reported``, found today, at the enterprise's location, its first
    history row by the database. A ``penalty`` becomes an ``enterprise_records``
    row (kind ``enforcement``, severity = the penalty type, ``amount_yuan`` for
    a fine), not public until the task's result is. Returns the finding, the
    danger and the record.
    """
    body = _parse(FindingRequest, payload, '{"title": "...", "description": "...", "category": "fire", '
                                           '"level": "general"}')
    require_signed_in(ctx, "the inspection workflow")
    if ctx.role not in REGULATORS:
        raise NotPermitted(f"findings are recorded by regulators ({', '.join(REGULATORS)}); you are {ctx.role}")
    if body.penalty is not None:
        if body.penalty.type == "fine" and body.penalty.amount_yuan is None:
            raise InvalidInput("penalty.amount_yuan", "required for a fine (罚款): the amount in yuan")
        if body.penalty.type != "fine" and body.penalty.amount_yuan is not None:
            raise InvalidInput("penalty.amount_yuan", f"only a fine (罚款) has an amount; {body.penalty.type} has none")
    conn = _conn(session)
    draw_row, task = _task_row(conn, task_id)
    if task.status != "planned":
        raise WorkflowConflict("task", f"findings are recorded while a task is planned; this one is {task.status}",
                               status=task.status, allowed=[])
    _draw_running(draw_row, task)
    _team_check(conn, task, ctx, "its findings")
    day = _today(conn, today)
    danger_id = create_feature(session, layer=LAYERS["hidden_dangers"], payload={
        "enterprise_id": task.enterprise_id, "title": body.title, "description": body.description,
        "category": body.category, "level": body.level, "found_on": day.isoformat(), "is_public": False})
    record = None
    amount = None if body.penalty is None or body.penalty.amount_yuan is None \
        else body.penalty.amount_yuan.quantize(Decimal("0.01"))
    with db_errors(conn):
        record_id = None
        if body.penalty is not None:
            record_id = conn.execute(insert(_REC).values(
                enterprise_id=task.enterprise_id, kind="enforcement", occurred_on=day, severity=body.penalty.type,
                amount_yuan=amount,
                description=(f"{body.title}：{body.description}" + (f"（{body.legal_basis}）" if body.legal_basis
                                                                  else ""))[:4000],
                source=f"双随机抽查 {draw_row.title} (draw {draw_row.id}, task {task_id})"[:200], is_public=False)
                .returning(_REC.c.id)).scalar_one()
            record = {"id": record_id, "kind": "enforcement", "severity": body.penalty.type,
                      "amount_yuan": None if amount is None else str(amount),
                      "occurred_on": day.isoformat()}
        finding = conn.execute(insert(_F).values(
            task_id=task_id, draw_id=task.draw_id, title=body.title, description=body.description,
            legal_basis=body.legal_basis, hidden_danger_id=danger_id, record_id=record_id,
            recorded_by=ctx.actor, adcode=task.adcode, enterprise_id=task.enterprise_id).returning(_F)).one()
        # the task's row version moves: the map and its ETag see a new finding
        conn.execute(update(_T).where(_T.c.id == task_id).values(updated_at=func.now()))
    danger = conn.execute(select(_HD.c.id, _HD.c.status, _HD.c.level, _HD.c.found_on)
                          .where(_HD.c.id == danger_id)).one()
    return {"finding": _finding_dict(finding), "hidden_danger": {
        "id": danger.id, "status": danger.status, "level": danger.level, "found_on": danger.found_on.isoformat(),
        "href": f"/hidden-dangers/{danger.id}"}, "enforcement_record": record}


def list_findings(session: Session | Connection, *, task_id: int, ctx: RequestContext) -> dict[str, Any]:
    """The findings of a task the caller sees (the public: once the result is published)."""
    conn = _conn(session)
    if conn.execute(select(_T.c.id).where(_T.c.id == task_id)).first() is None:
        raise NotFound(f"inspection task {task_id} not found")
    rows = conn.execute(select(_F, _REC.c.severity, _REC.c.amount_yuan)
                        .select_from(_F.outerjoin(_REC, _REC.c.id == _F.c.record_id))
                        .where(_F.c.task_id == task_id).order_by(_F.c.id)).all()
    data = [{**_finding_dict(r), "penalty": None if r.severity is None else {
        "type": r.severity, "amount_yuan": None if r.amount_yuan is None else str(r.amount_yuan)}} for r in rows]
    return {"task_id": task_id, "data": data, "count": len(data)}


# ---------------------------------------------------------------------------------------- verification

def verify_draw(bind: Session | Connection, *, draw_id: int) -> dict[str, Any]:
    """Re-run draw ``draw_id`` from its recorded inputs; compare with the recorded tasks and digest.

    ``matches`` is true when the recomputed result equals the stored tasks
    (order, enterprise, stratum, team) and its SHA-256 the recorded one.
    """
    conn = _conn(bind)
    row = _draw_row(conn, draw_id)
    stored = [Task(t.seq, t.enterprise_id, t.stratum, tuple(t.inspector_ids)) for t in conn.execute(
        select(_T.c.seq, _T.c.enterprise_id, _T.c.stratum, _T.c.inspector_ids).where(_T.c.draw_id == draw_id)
        .order_by(_T.c.seq))]
    try:
        again = draw(pool=[(int(e), str(k)) for e, k in row.pool], roster=list(row.roster),
                     exclusions={(int(i), int(e)) for i, e, _ in row.exclusions},
                     strata=_strata_from_json(row.strata), team_size=row.team_size, seed=int(row.seed))
        error = None
    except InvalidInput as exc:
        again, error = (), str(exc)
    # the recorded digest covers the whole result; each task the caller can see is compared too (an
    # enterprise user sees its own task only, the owner role every task)
    by_seq = {t.seq: t for t in again}
    differences = []
    for t in stored:
        other = by_seq.get(t.seq)
        if other is None or other != t:
            differences.append({"seq": t.seq, "stored": t.as_list(),
                                "recomputed": None if other is None else other.as_list()})
    if len(again) != row.task_count:
        differences.append({"seq": None, "stored": f"{row.task_count} tasks", "recomputed": f"{len(again)} tasks"})
    digest = result_digest(again) if again else None
    matches = error is None and not differences and digest == row.result_sha256
    return {"draw_id": draw_id, "algorithm": row.algorithm, "seed": str(row.seed), "matches": matches,
            "result_sha256": row.result_sha256, "recomputed_sha256": digest, "error": error,
            "tasks_compared": len(stored), "task_count": row.task_count,
            "stored": canonical_result(stored), "recomputed": canonical_result(again), "differences": differences}


# ---------------------------------------------------------------------------------------- docs

def rules_markdown() -> str:
    """The two rule tables as Markdown (docs/WORKFLOWS.md embeds it; a test keeps the two equal)."""
    lines = ["| thing | move (`to`) | from → to | who | requires | optional | conditions |",
             "|---|---|---|---|---|---|---|"]
    for thing, rules in (("draw", DRAW_RULES), ("task", TASK_RULES)):
        for r in rules.values():
            src = "(new)" if r.from_status is None else r.from_status
            lines.append(f"| {thing} | `{r.to}` {r.zh} | {src} → {r.to_status} | {', '.join(r.roles)} | "
                         f"{', '.join(f'`{x}`' for x in r.requires) or '–'} | "
                         f"{', '.join(f'`{x}`' for x in r.optional) or '–'} | "
                         f"{'; '.join(r.conditions) or '–'} (via {r.via}) |")
    return "\n".join(lines)

