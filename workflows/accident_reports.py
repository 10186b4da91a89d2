"""Accident quick reports (事故快报): the first report, follow-ups, verification, closure.

States (``accident_reports.status``)::

    (首报) ──► reported ──verified──► verified ──closed──► closed (结案)
                  │  ▲                   │  ▲
                  │  └──follow_up (续报)  │  └──follow_up (续报, regulators)
                  └──withdrawn──► withdrawn (误报, leaves the map)

State Council Decree No. 493 (2007) sets the frame: the first report within
an hour of the accident (Art. 9), follow-up reports when the casualties change
(Art. 13), the grade by deaths, serious injuries and direct loss (Art. 3; the
database computes ``accident_class``), the level a grade is reported up to
(Art. 10: :data:`REPORT_UP_TO`) and the level that investigates it (Art. 19:
:data:`CLOSED_BY`, used here for closure). :data:`RULES` is the rule table
(migration 0010 freezes its edges and the enterprise's moves);
``docs/WORKFLOWS.md`` renders it with :func:`rules_markdown`.

A verified report of an enterprise's accident becomes an ``enterprise_records``
row (kind ``accident``, severity = the grade), so the enterprise's four-colour
risk and its credit see it; a later follow-up that changes the grade updates
that row. Service functions are keyword-only; the caller owns the transaction;
each move locks the report row first, so concurrent moves serialise and the
second gets :class:`~workflows.errors.IllegalTransition` (or a stale version).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from geoalchemy2.shape import from_shape
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.orm import Session

from geo.bodies import parse_body
from geo.context import RequestContext, require_signed_in
from geo.errors import InvalidInput, NotFound, NotPermitted
from geo.models import (
    AccidentReport,
    AccidentReportUpdate,
    Enterprise,
    EnterpriseRecord,
    HazardUnit,
)
from geo.registry import db_errors
from geo.validate import parse_geojson_geometry
from geo.vocab import ACCIDENT_CLASSES, ACCIDENT_TYPES
from layers.editing import StaleVersion
from workflows.errors import IllegalTransition
from workflows.hidden_dangers import LEVEL_RANK, PEOPLE, REGULATORS, ROLE_RANK, _conn

__all__ = ["Rule", "RULES", "TARGETS", "FIGURES", "REPORT_UP_TO", "CLOSED_BY", "CHINA_TZ", "MAX_AGE_DAYS",
           "QuickReport", "MoveRequest", "report", "move", "history", "next_moves", "grade", "rules_markdown"]

CHINA_TZ = ZoneInfo("Asia/Shanghai")  # a time without an offset is China Standard Time
MAX_AGE_DAYS = 30  # a quick report is for an accident of the last 30 days (Art. 13's follow-up window)
FUTURE_SLACK = dt.timedelta(minutes=5)  # clocks of phones and PCs drift
FIGURES = ("deaths", "serious_injuries", "minor_injuries", "missing", "direct_loss_yuan")

# Art. 10: the level a grade of accident is reported up to (逐级上报)
REPORT_UP_TO = {"ordinary": "city", "larger": "province", "major": "state", "extraordinary": "state"}
# Art. 19: who investigates it; here the lowest regulator level that may close (结案) it
CLOSED_BY = {"ordinary": "county", "larger": "city", "major": "province", "extraordinary": "province"}


def grade(deaths: int, serious_injuries: int, direct_loss_yuan: Decimal | float | None) -> str:
    """The grade of Decree No. 493, Art. 3 ("以上" includes the figure); the database's generated column agrees.

    >>> grade(0, 0, None), grade(2, 9, 9_999_999), grade(3, 0, None), grade(0, 10, None)
    ('ordinary', 'ordinary', 'larger', 'larger')
    >>> grade(10, 0, None), grade(0, 50, None), grade(0, 0, 50_000_000), grade(30, 0, None), grade(0, 100, 0)
    ('major', 'major', 'major', 'extraordinary', 'extraordinary')
    """
    loss = float(direct_loss_yuan or 0)
    if deaths >= 30 or serious_injuries >= 100 or loss >= 1e8:
        return "extraordinary"
    if deaths >= 10 or serious_injuries >= 50 or loss >= 5e7:
        return "major"
    if deaths >= 3 or serious_injuries >= 10 or loss >= 1e7:
        return "larger"
    return "ordinary"


@dataclass(frozen=True)
class Rule:
    """One move: the word of the request (``to``), the edge, who may make it and what it needs."""

    to: str
    from_status: tuple[str, ...]
    to_status: str | None  # None: the status stays
    roles: tuple[str, ...]
    zh: str
    en: str
    requires: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    via: str = "POST /accident-reports/{id}/transitions"


RULES: dict[str, Rule] = {r.to: r for r in (
    Rule("reported", (), "reported", PEOPLE, "首报（事故快报）", "first report (quick report)",
         requires=("occurred_at", "accident_type", "description", "location (geometry, lon/lat or the unit's)"),
         conditions=("an enterprise user reports accidents of its own enterprise only",
                     f"occurred_at: not in the future, at most {MAX_AGE_DAYS} days ago",
                     "the location lies in the reporter's jurisdiction"),
         via="POST /accident-reports"),
    Rule("follow_up", ("reported", "verified"), None, PEOPLE, "续报（伤亡、损失、情况变化）",
         "follow-up report (casualties, loss, situation)",
         requires=("at least one figure, description, chemical or cas",),
         conditions=("an enterprise user only while the report is not yet verified",
                     "note: required when a figure goes down (a correction)",
                     "a verified enterprise accident's record follows a change of grade")),
    Rule("verified", ("reported",), "verified", REGULATORS, "核实", "verify",
         conditions=("figures may be corrected with the move",
                     "an enterprise's accident becomes an enterprise record (kind accident, severity = grade)")),
    Rule("closed", ("verified",), "closed", REGULATORS, "结案", "close (investigation concluded)",
         requires=("note",),
         conditions=("by a regulator of the level that investigates the grade (Decree 493 Art. 19) or above: "
                     "ordinary county, larger city, major and extraordinary province",)),
    Rule("withdrawn", ("reported",), "withdrawn", REGULATORS, "撤销（误报）", "withdraw (false report)",
         requires=("note",), conditions=("the report leaves the map (valid_to set); its history stays",)),
)}
"""The rule table. Roles: ``enterprise`` (its own enterprise), regulators ``county``, ``city``,
``province``, ``admin`` (reports in their jurisdiction)."""

TARGETS = tuple(t for t, r in RULES.items() if r.via.endswith("/transitions"))

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text4000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Cas = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{2,7}-[0-9]{2}-[0-9]$")]
Count = Annotated[int, Field(ge=0, le=100_000)]
Loss = Annotated[Decimal, Field(ge=0, le=Decimal("1e13"), max_digits=16, decimal_places=2, allow_inf_nan=False)]


class _Figures(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    deaths: Count | None = Field(None, description="死亡人数")
    serious_injuries: Count | None = Field(None, description="重伤人数（含急性工业中毒）")
    minor_injuries: Count | None = Field(None, description="轻伤人数")
    missing: Count | None = Field(None, description="失踪人数")
    direct_loss_yuan: Loss | None = Field(None, description="直接经济损失（元）")


class QuickReport(_Figures):
    """``POST /accident-reports``: the first report. Location by ``geometry`` (GeoJSON Point), ``lon``/``lat``,
    or, when both are absent, the hazard unit's (else the enterprise's) location."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"example": {
        "occurred_at": "2026-11-23T03:12:00+08:00", "accident_type": "leak", "enterprise_id": 1,
        "title": "液氯储罐区泄漏", "description": "液氯钢瓶阀门泄漏，现场2人吸入不适，已送医",
        "chemical": "氯", "cas": "7782-50-5", "serious_injuries": 2, "lon": 121.64, "lat": 29.99}})
    occurred_at: dt.datetime = Field(description="when it happened; ISO 8601, without an offset = China time")
    accident_type: Literal[tuple(ACCIDENT_TYPES)] = Field(description=", ".join(ACCIDENT_TYPES))  # type: ignore[valid-type]
    description: Text4000
    title: Text200 | None = Field(None, description="short title (default: type and enterprise)")
    enterprise_id: int | None = Field(None, ge=1, lt=2**63)
    hazard_unit_id: int | None = Field(None, ge=1, lt=2**63)
    chemical: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    cas: Cas | None = Field(None, description="CAS number of the chemical released, e.g. 7782-50-5")
    contact: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    geometry: dict | None = Field(None, description="GeoJSON Point (WGS84 unless crs is given)")
    crs: Annotated[str, StringConstraints(max_length=40)] | None = None
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    is_public: bool = Field(False, description="published (regulators only)")


class MoveRequest(_Figures):
    """``POST /accident-reports/{id}/transitions``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"example": {
        "to": "follow_up", "deaths": 1, "serious_injuries": 3, "note": "一名伤员经抢救无效死亡"}})
    to: Literal[TARGETS] = Field(description=", ".join(TARGETS))  # type: ignore[valid-type]
    note: Text4000 | None = None
    description: Text4000 | None = None
    chemical: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    cas: Cas | None = None


def _validate(model: type[BaseModel], payload: Any, example: str) -> Any:
    def explain(loc: str, err: dict) -> str | None:
        if err["type"] == "literal_error" and loc == "to":
            return f"unknown move {payload.get('to')!r}; one of {', '.join(TARGETS)}"
        return None

    return parse_body(model, payload, example=example, explain=explain)


_R = AccidentReport.__table__
_U = AccidentReportUpdate.__table__
_REC = EnterpriseRecord.__table__


def _now(conn: Connection, now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else conn.execute(select(func.now())).scalar_one()


def _occurred(value: dt.datetime, now: dt.datetime) -> dt.datetime:
    when = value if value.tzinfo is not None else value.replace(tzinfo=CHINA_TZ)
    if when > now + FUTURE_SLACK:
        raise InvalidInput("occurred_at", f"is in the future ({when.isoformat()}; now {now.isoformat()})")
    if when < now - dt.timedelta(days=MAX_AGE_DAYS):
        raise InvalidInput("occurred_at", f"more than {MAX_AGE_DAYS} days ago: a quick report is for a recent "
                                          "accident; older ones go in the enterprise records")
    return when


def _location(conn: Connection, req: QuickReport):
    given = [n for n in ("geometry", "lon") if getattr(req, n) is not None]
    if (req.lon is None) != (req.lat is None):
        raise InvalidInput("lat" if req.lat is None else "lon", "give lon and lat together")
    if len(given) == 2:
        raise InvalidInput("geometry", "give either geometry or lon/lat, not both")
    if req.geometry is not None:
        return from_shape(parse_geojson_geometry(req.geometry, crs=req.crs, allowed=("Point",)), srid=4326)
    if req.lon is not None:
        point = {"type": "Point", "coordinates": [req.lon, req.lat]}
        return from_shape(parse_geojson_geometry(point, crs=req.crs, allowed=("Point",), field="lon"), srid=4326)
    if req.hazard_unit_id is not None:
        geom = conn.execute(select(HazardUnit.geom).where(HazardUnit.id == req.hazard_unit_id)).scalar()
        if geom is not None:
            return geom
    if req.enterprise_id is not None:
        geom = conn.execute(select(Enterprise.geom).where(Enterprise.id == req.enterprise_id)).scalar()
        if geom is not None:
            return geom
    raise InvalidInput("geometry", "required: a GeoJSON Point, lon/lat, or an enterprise or hazard unit to take "
                                   "the location from")


def report(session: Session | Connection, *, payload: Any, ctx: RequestContext,
           now: dt.datetime | None = None) -> int:
    """File a quick report (首报); returns its id. The first history row is written by the database."""
    req: QuickReport = _validate(QuickReport, payload, '{"occurred_at": "...", "accident_type": "leak", ...}')
    require_signed_in(ctx, "reporting an accident")
    conn = _conn(session)
    when = _occurred(req.occurred_at, _now(conn, now))
    enterprise_id = req.enterprise_id
    if ctx.role == "enterprise":
        if enterprise_id not in (None, ctx.enterprise_id):
            raise NotPermitted("enterprise_id: an enterprise user reports accidents of its own enterprise only")
        enterprise_id = ctx.enterprise_id
    if req.hazard_unit_id is not None and enterprise_id is None:
        raise InvalidInput("enterprise_id", "required with hazard_unit_id (the unit's enterprise)")
    if req.is_public and ctx.role == "enterprise":
        raise NotPermitted("is_public: publishing a report is for regulators")
    ent_name = None
    if enterprise_id is not None:
        ent_name = conn.execute(select(Enterprise.name).where(Enterprise.id == enterprise_id,
                                                               Enterprise.valid_to.is_(None))).scalar()
        if ent_name is None:
            raise InvalidInput("enterprise_id", f"no enterprise {enterprise_id} in your jurisdiction")
    if req.hazard_unit_id is not None:
        unit = conn.execute(select(HazardUnit.enterprise_id).where(HazardUnit.id == req.hazard_unit_id,
                                                                   HazardUnit.valid_to.is_(None))).first()
        if unit is None or unit.enterprise_id != enterprise_id:
            raise InvalidInput("hazard_unit_id", f"no hazard unit {req.hazard_unit_id} of enterprise {enterprise_id}")
    req.enterprise_id = enterprise_id
    geom = _location(conn, req)
    title = req.title or (f"{ent_name}{ACCIDENT_TYPES[req.accident_type][0]}" if ent_name
                          else f"{ACCIDENT_TYPES[req.accident_type][0]}事故")[:200]
    figures = {name: getattr(req, name) for name in FIGURES if getattr(req, name) is not None}
    with db_errors(conn):
        return conn.execute(insert(_R).values(
            occurred_at=when, accident_type=req.accident_type, enterprise_id=enterprise_id,
            hazard_unit_id=req.hazard_unit_id, title=title, description=req.description, chemical=req.chemical,
            cas=req.cas, contact=req.contact, is_public=req.is_public, geom=geom, **figures,
        ).returning(_R.c.id)).scalar_one()


def allowed_targets(status: str) -> list[str]:
    """The moves leading out of ``status``.

    >>> allowed_targets("reported"), allowed_targets("verified"), allowed_targets("closed")
    (['follow_up', 'verified', 'withdrawn'], ['follow_up', 'closed'], [])
    """
    return [t for t in TARGETS if status in RULES[t].from_status]


def _lock(conn: Connection, report_id: int):
    row = conn.execute(select(_R).where(_R.c.id == report_id, _R.c.valid_to.is_(None)).with_for_update()).first()
    if row is None:
        raise NotFound(f"accident report {report_id} not found")
    return row


def _figure_changes(row, req: MoveRequest) -> dict[str, Any]:
    changes = {}
    for name in FIGURES:
        value = getattr(req, name)
        if value is not None and value != getattr(row, name):
            changes[name] = value.quantize(Decimal("0.01")) if isinstance(value, Decimal) else value
    return changes


def _text_changes(row, req: MoveRequest) -> dict[str, Any]:
    return {n: getattr(req, n) for n in ("description", "chemical", "cas")
            if getattr(req, n) is not None and getattr(req, n) != getattr(row, n)}


def _occurred_on(row) -> dt.date:
    return row.occurred_at.astimezone(CHINA_TZ).date()


def _write_record(conn: Connection, row, accident_class: str) -> int:
    description = f"{row.title}（事故快报 #{row.id}）"[:4000]
    with db_errors(conn):
        return conn.execute(insert(_REC).values(
            enterprise_id=row.enterprise_id, kind="accident", occurred_on=_occurred_on(row), severity=accident_class,
            description=description, source=f"事故快报 #{row.id}", is_public=row.is_public,
        ).returning(_REC.c.id)).scalar_one()


def move(session: Session | Connection, *, report_id: int, payload: Any, ctx: RequestContext,
         if_match: int | None = None) -> dict[str, Any]:
    """Move report ``report_id`` as ``payload`` asks; returns the history row written and the new version.

    Refusal order as in the hidden-danger loop: body (422), public caller,
    not visible (404), stale ``if_match`` (409), no edge (409 with the allowed
    moves), role (403), the move's own fields and conditions.
    """
    req: MoveRequest = _validate(MoveRequest, payload, '{"to": "follow_up", "deaths": 1, ...}')
    require_signed_in(ctx, "the accident-report workflow")
    conn = _conn(session)
    row = _lock(conn, report_id)
    if if_match is not None and row.version != if_match:
        raise StaleVersion(row.version)
    rule = RULES[req.to]
    if row.status not in rule.from_status:
        raise IllegalTransition(status=row.status, requested=req.to, allowed=allowed_targets(row.status),
                                thing="an accident report")
    if ctx.role not in rule.roles:
        raise NotPermitted(f"to: {req.to} is for {', '.join(rule.roles)} users; you are {ctx.role}")
    figures = _figure_changes(row, req)
    texts = _text_changes(row, req)
    if req.to in ("closed", "withdrawn"):
        extra = [n for n in (*FIGURES, "description", "chemical", "cas") if getattr(req, n) is not None]
        if extra:
            raise InvalidInput(extra[0], f"not used when moving to {req.to}; send a follow_up first")
        if req.note is None:
            raise InvalidInput("note", f"required when moving to {req.to}")
    if req.to == "follow_up":
        if not figures and not texts:
            raise InvalidInput("body", "a follow-up changes at least one of: " + ", ".join((*FIGURES, "description",
                                                                                           "chemical", "cas")))
        if ctx.role == "enterprise" and row.status != "reported":
            raise NotPermitted("to: the report is verified; follow-ups now come from the regulator")
    if req.to == "verified" and texts:
        raise InvalidInput(next(iter(texts)), "not used when verifying; send a follow_up")
    down = [n for n, v in figures.items() if v < (getattr(row, n) or 0)]
    if down and req.note is None:
        raise InvalidInput("note", f"required: {down[0]} goes down from {getattr(row, down[0])} to {figures[down[0]]} "
                                   "(say why: a correction, a missing person found)")
    after = {n: figures.get(n, getattr(row, n)) for n in FIGURES}
    new_class = grade(after["deaths"], after["serious_injuries"], after["direct_loss_yuan"])
    if req.to == "closed" and ROLE_RANK[ctx.role] < LEVEL_RANK[CLOSED_BY[row.accident_class]]:
        need = CLOSED_BY[row.accident_class]
        raise NotPermitted(f"to: a {row.accident_class} accident is investigated and closed by the {need} or above; "
                           f"you are {ctx.role}")
    to_status = rule.to_status or row.status
    values: dict[str, Any] = {"status": to_status, **figures, **texts}
    with db_errors(conn):
        written = conn.execute(insert(_U).values(
            accident_report_id=row.id, from_status=row.status, to_status=to_status, action=req.to, note=req.note,
            **after).returning(_U)).one()
        if req.to == "withdrawn":
            values["valid_to"] = func.now()
        if row.enterprise_id is not None and req.to == "verified":
            values["record_id"] = _write_record(conn, row, new_class)
        elif row.record_id is not None and new_class != row.accident_class:
            conn.execute(update(_REC).where(_REC.c.id == row.record_id).values(severity=new_class))
        conn.execute(update(_R).where(_R.c.id == row.id).values(**values))
    version = conn.execute(select(_R.c.version).where(_R.c.id == row.id)).scalar_one()
    return {**_update_json(written), "accident_class": new_class, "version": version}


def _update_json(row) -> dict[str, Any]:
    out = {c: getattr(row, c) for c in ("id", "accident_report_id", "action", "from_status", "to_status", "note",
                                         "actor", "actor_role", *FIGURES)}
    out["direct_loss_yuan"] = None if row.direct_loss_yuan is None else str(row.direct_loss_yuan)
    out["at"] = row.at.isoformat()
    return out


def _summary(row) -> dict[str, Any]:
    delay_s = (row.reported_at - row.occurred_at).total_seconds()
    return {"status": row.status, "accident_class": row.accident_class,
            "report_up_to": REPORT_UP_TO[row.accident_class], "closed_by": CLOSED_BY[row.accident_class],
            "reported_after_s": round(delay_s), "reported_within_hour": delay_s <= 3600, "version": row.version}


def history(session: Session | Connection, *, report_id: int, ctx: RequestContext) -> dict[str, Any]:
    """Every step of a report, oldest first (首报, 续报 …), with the grade and where it must be reported up to.

    ``reported_within_hour`` compares the database's receipt time with ``occurred_at`` (Art. 9: one hour).
    Withdrawn reports keep their history.
    """
    require_signed_in(ctx, "the accident-report history")
    conn = _conn(session)
    row = conn.execute(select(_R).where(_R.c.id == report_id)).first()
    if row is None:
        raise NotFound(f"accident report {report_id} not found")
    steps = [_update_json(u) for u in conn.execute(select(_U).where(_U.c.accident_report_id == report_id)
                                                   .order_by(_U.c.id))]
    return {"accident_report_id": report_id, **_summary(row), "data": steps, "count": len(steps)}


def next_moves(session: Session | Connection, *, report_id: int, ctx: RequestContext) -> dict[str, Any]:
    """What can happen next to a report, and whether the caller's role may do it."""
    require_signed_in(ctx, "the accident-report workflow")
    conn = _conn(session)
    row = conn.execute(select(_R).where(_R.c.id == report_id, _R.c.valid_to.is_(None))).first()
    if row is None:
        raise NotFound(f"accident report {report_id} not found")
    moves = []
    for t in allowed_targets(row.status):
        rule = RULES[t]
        may = ctx.role in rule.roles
        if t == "follow_up" and ctx.role == "enterprise" and row.status != "reported":
            may = False
        if t == "closed" and may:
            may = ROLE_RANK[ctx.role] >= LEVEL_RANK[CLOSED_BY[row.accident_class]]
        moves.append({"to": t, "to_status": rule.to_status or row.status, "you_may": may,
                      "requires": list(rule.requires), "conditions": list(rule.conditions)})
    return {"accident_report_id": report_id, **_summary(row), "moves": moves}


def rules_markdown() -> str:
    """The rule table as a Markdown table (docs/WORKFLOWS.md)."""
    lines = ["| move | from | to | who | needs | conditions |", "|---|---|---|---|---|---|"]
    for r in RULES.values():
        lines.append(f"| `{r.to}` {r.zh} | {', '.join(r.from_status) or '—'} | {r.to_status or '(unchanged)'} | "
                     f"{', '.join(r.roles)} | {', '.join(r.requires) or '—'} | {'; '.join(r.conditions) or '—'} |")
    return "\n".join(lines)


def classes_markdown() -> str:
    """Grades, the level each is reported up to and who closes it (docs/WORKFLOWS.md)."""
    lines = ["| grade | reported up to (Art. 10) | closed by (Art. 19) |", "|---|---|---|"]
    for key, (zh, en) in ACCIDENT_CLASSES.items():
        lines.append(f"| `{key}` {zh} ({en}) | {REPORT_UP_TO[key]} | {CLOSED_BY[key]} or above |")
    return "\n".join(lines)
