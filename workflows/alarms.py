"""The alarm lifecycle (报警处置): who may move an alarm where, listing, history, KPIs.

States of ``alarms.state`` (migration 0014)::

    raised ──acknowledged──► acknowledged ──handled──► handled ──cleared──► cleared
       │                          │                                  ▲
       └────────handled───────────┼──────────────────────────────────┤
                                  └──────────────cleared─────────────┘

Raising is the ingest worker's (:mod:`telemetry.alarms`), as are the
automatic moves: escalation (enterprise → county → city when not acknowledged
in time) and clearing of an acknowledged alarm that returned to normal.
People (the enterprise's users and the regulators of the place — who may
write the alarm's row under row-level security) acknowledge, handle (with a
reason code: real process deviation / sensor fault / maintenance / false
alarm) and clear. :data:`RULES` is the rule table.

Each move locks the alarm row (``SELECT … FOR UPDATE``) first: of two people
acknowledging at once, one wins, the other gets
:class:`~workflows.errors.IllegalTransition` (409, with the allowed moves).
Another jurisdiction's alarm is :class:`~geo.errors.NotFound`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from geo.bodies import invalid_input
from geo.context import RequestContext, require_signed_in
from geo.errors import InvalidInput, NotFound, NotPermitted
from geo.registry import as_connection as _conn
from geo.registry import db_errors
from workflows.errors import IllegalTransition

__all__ = ["RULES", "TARGETS", "STATES", "LEVELS", "KINDS", "REASONS", "Move", "parse_request", "allowed_targets",
           "transition", "list_alarms", "get_alarm", "history", "enterprise_levels", "stats"]

STATES = ("raised", "acknowledged", "handled", "cleared")
LEVELS = ("red", "orange", "yellow", "blue")  # four-colour warning grade, worst first
KINDS = ("process", "health")
REASONS = ("process", "sensor_fault", "maintenance", "false_alarm")


@dataclass(frozen=True)
class Rule:
    """One move: the target state, where it may start, what it needs."""

    to: str
    from_states: tuple[str, ...]
    requires: tuple[str, ...]
    zh: str


RULES: dict[str, Rule] = {
    "acknowledged": Rule("acknowledged", ("raised",), (), "确认"),
    "handled": Rule("handled", ("raised", "acknowledged"), ("reason",), "处置"),
    "cleared": Rule("cleared", ("acknowledged", "handled"), (), "消除"),
}
TARGETS = tuple(RULES)

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class Move(BaseModel):
    """``POST /alarms/{id}/transitions`` body."""

    model_config = ConfigDict(extra="forbid")

    to: Literal["acknowledged", "handled", "cleared"]
    reason: Literal["process", "sensor_fault", "maintenance", "false_alarm"] | None = None
    note: Note | None = None


def parse_request(payload: Any) -> Move:
    """Validate a move; :class:`InvalidInput` names the field.

    >>> parse_request({"to": "handled", "reason": "false_alarm"}).reason
    'false_alarm'
    >>> parse_request({"to": "handled"})
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: reason: required when moving to handled: one of process, sensor_fault, maintenance, false_alarm
    """
    if not isinstance(payload, dict):
        raise InvalidInput("body", 'must be a JSON object such as {"to": "acknowledged"}')
    if "to" not in payload:
        raise InvalidInput("to", f"required: one of {', '.join(TARGETS)}")
    if payload["to"] not in TARGETS:
        raise InvalidInput("to", f"unknown move {payload['to']!r}; one of {', '.join(TARGETS)}")
    try:
        req = Move.model_validate(payload)
    except ValidationError as exc:
        raise invalid_input(exc, Move) from None
    for name in RULES[req.to].requires:
        if getattr(req, name) is None:
            raise InvalidInput(name, f"required when moving to {req.to}: one of {', '.join(REASONS)}")
    if req.reason is not None and req.to != "handled":
        raise InvalidInput("reason", "given only when moving to handled")
    return req


def allowed_targets(state: str) -> list[str]:
    """The moves that may follow ``state``.

    >>> allowed_targets("raised"), allowed_targets("handled"), allowed_targets("cleared")
    (['acknowledged', 'handled'], ['cleared'], [])
    """
    return [t for t, r in RULES.items() if state in r.from_states]


_COLS = ("a.id, a.sensor_id, s.code AS sensor_code, s.kind AS sensor_kind, s.unit, a.hazard_unit_id, "
         "a.enterprise_id, a.adcode, a.kind, a.rule, a.level, a.state, a.raised_at, a.value, a.threshold, "
         "a.peak_value, a.returned_at, a.acknowledged_at, a.acknowledged_by, a.handled_at, a.reason, a.note, "
         "a.cleared_at, a.escalation_level, a.escalated_at, a.scenario_id, a.version, a.updated_at, "
         "ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat")


def _row(r) -> dict[str, Any]:
    d = dict(r._mapping)
    for k, v in d.items():
        if isinstance(v, dt.datetime):
            d[k] = v.isoformat()
    d["geometry"] = {"type": "Point", "coordinates": [d["lon"], d["lat"]]}
    return d


def list_alarms(session: Session | Connection, *, ctx: RequestContext, state: str | None = None,
                level: str | None = None, kind: str | None = None, adcode: str | None = None,
                enterprise_id: int | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Alarms the caller may see, newest first: ``{"data": [...], "count": total matching}``."""
    require_signed_in(ctx, "alarm handling")
    for name, value, allowed in (("state", state, STATES), ("level", level, LEVELS), ("kind", kind, KINDS)):
        if value is not None and value not in allowed:
            raise InvalidInput(name, f"unknown {name} {value!r}; one of {', '.join(allowed)}")
    if adcode is not None and not (adcode.isdigit() and len(adcode) in (2, 4, 6)):
        raise InvalidInput("adcode", "an adcode or a prefix of 2, 4 or 6 digits")
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit", "between 1 and 1000")
    where, p = ["true"], {"lim": limit, "off": offset}
    for name, value in (("state", state), ("level", level), ("kind", kind), ("enterprise_id", enterprise_id)):
        if value is not None:
            where.append(f"a.{name} = :{name}")
            p[name] = value
    if adcode is not None:
        where.append("starts_with(a.adcode, :adcode)")
        p["adcode"] = adcode
    w = " AND ".join(where)
    conn = _conn(session)
    total = conn.execute(text(f"SELECT count(*) FROM alarms a WHERE {w}"), p).scalar_one()
    rows = conn.execute(text(f"SELECT {_COLS} FROM alarms a JOIN sensors s ON s.id = a.sensor_id WHERE {w} "
                             "ORDER BY a.raised_at DESC, a.id DESC LIMIT :lim OFFSET :off"), p).all()
    return {"data": [_row(r) for r in rows], "count": total}


def _history(conn: Connection, alarm_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(text("SELECT id, action, from_state, to_state, reason, note, escalation_level, actor, "
                             "actor_role, at FROM alarm_transitions WHERE alarm_id = :i ORDER BY id"),
                        {"i": alarm_id}).all()
    return [{**dict(r._mapping), "at": r.at.isoformat()} for r in rows]


def get_alarm(session: Session | Connection, *, alarm_id: int, ctx: RequestContext) -> dict[str, Any]:
    """One alarm with its sensor, unit, enterprise, ``geometry``, ``history`` and next moves."""
    require_signed_in(ctx, "alarm handling")
    conn = _conn(session)
    r = conn.execute(text(f"SELECT {_COLS}, h.name AS hazard_unit_name, e.name AS enterprise_name "
                          "FROM alarms a JOIN sensors s ON s.id = a.sensor_id "
                          "LEFT JOIN hazard_units h ON h.id = a.hazard_unit_id "
                          "LEFT JOIN enterprises e ON e.id = a.enterprise_id WHERE a.id = :i"), {"i": alarm_id}).first()
    if r is None:
        raise NotFound(f"alarm {alarm_id} not found")
    d = _row(r)
    d["history"] = _history(conn, alarm_id)
    d["moves"] = allowed_targets(d["state"])
    return d


def history(session: Session | Connection, *, alarm_id: int, ctx: RequestContext) -> dict[str, Any]:
    """``{"alarm_id", "state", "data": [...], "count"}``, oldest first."""
    require_signed_in(ctx, "alarm handling")
    conn = _conn(session)
    state = conn.execute(text("SELECT state FROM alarms WHERE id = :i"), {"i": alarm_id}).scalar()
    if state is None:
        raise NotFound(f"alarm {alarm_id} not found")
    data = _history(conn, alarm_id)
    return {"alarm_id": alarm_id, "state": state, "data": data, "count": len(data)}


def transition(session: Session | Connection, *, alarm_id: int, payload: Any, ctx: RequestContext
               ) -> dict[str, Any]:
    """Move alarm ``alarm_id``; returns the history row written and the alarm's new version.

    Refusals, in order: bad body (InvalidInput); not a person (NotPermitted);
    not visible (NotFound); no edge from the current state (IllegalTransition);
    may see but not write it (NotPermitted). Nothing is written unless all pass.
    """
    req = parse_request(payload)
    require_signed_in(ctx, "alarm handling")
    conn = _conn(session)
    row = conn.execute(text("SELECT id, state, acknowledged_at, onemap_may_write(adcode, enterprise_id) AS may "
                            "FROM alarms WHERE id = :i FOR UPDATE"), {"i": alarm_id}).first()
    if row is None:
        raise NotFound(f"alarm {alarm_id} not found")
    if row.state not in RULES[req.to].from_states:
        raise IllegalTransition(status=row.state, requested=req.to, allowed=allowed_targets(row.state),
                                thing="an alarm")
    if not row.may:
        raise NotPermitted("to: only the enterprise's users and the regulators of the place move this alarm")
    sets = ["state = :to", "note = coalesce(:note, note)"]
    if row.acknowledged_at is None:
        sets += ["acknowledged_at = now()", "acknowledged_by = :actor"]
    if req.to == "handled":
        sets += ["handled_at = now()", "reason = :reason"]
    if req.to == "cleared":
        sets.append("cleared_at = now()")
    p = {"i": alarm_id, "to": req.to, "note": req.note, "reason": req.reason, "actor": ctx.actor, "from": row.state}
    with db_errors(conn):
        written = conn.execute(text(
            "INSERT INTO alarm_transitions (alarm_id, from_state, to_state, action, reason, note) "
            "VALUES (:i, :from, :to, :to, :reason, :note) RETURNING id, action, from_state, to_state, reason, note, "
            "actor, actor_role, at"), p).one()
        version = conn.execute(text(f"UPDATE alarms SET {', '.join(sets)} WHERE id = :i RETURNING version"),
                               p).scalar_one()
    return {**dict(written._mapping), "at": written.at.isoformat(), "alarm_id": alarm_id, "version": version}


_RANK = "CASE level WHEN 'red' THEN 4 WHEN 'orange' THEN 3 WHEN 'yellow' THEN 2 WHEN 'blue' THEN 1 END"


def enterprise_levels(session: Session | Connection, *, ctx: RequestContext) -> dict[str, Any]:
    """The four-colour warning level of each enterprise with open alarms: the worst open alarm's level."""
    require_signed_in(ctx, "alarm handling")
    rows = _conn(session).execute(text(
        f"SELECT enterprise_id, (ARRAY['blue', 'yellow', 'orange', 'red'])[max({_RANK})] AS level, count(*) AS open "
        "FROM alarms WHERE state <> 'cleared' AND enterprise_id IS NOT NULL GROUP BY enterprise_id "
        "ORDER BY max(" + _RANK + ") DESC, enterprise_id")).all()
    data = [dict(r._mapping) for r in rows]
    return {"data": data, "count": len(data)}


def stats(session: Session | Connection, *, ctx: RequestContext, start: dt.datetime, end: dt.datetime,
          by: str = "county", adcode: str | None = None, ack_limits_s: dict[str, float]) -> dict[str, Any]:
    """Alarm KPIs per county or enterprise over ``[start, end)``.

    * ``alarms_per_day`` — alarms raised in the period / its length in days;
    * ``acknowledged_in_time_share`` — of those raised, the share acknowledged
      (or handled) within the escalation limit of their level
      (``ack_limits_s``, seconds); None when none was raised;
    * ``false_alarm_share`` — of those handled, the share with reason
      ``false_alarm``; None when none was handled;
    * ``completeness`` — readings received / readings expected
      (Σ over active sensors of period ÷ ``interval_s``); None without sensors.
    """
    require_signed_in(ctx, "alarm handling")
    if by not in ("county", "enterprise"):
        raise InvalidInput("level", "county or enterprise")
    if end <= start:
        raise InvalidInput("to", "must be after from")
    if (end - start).days > 366:
        raise InvalidInput("to", "at most 366 days after from")
    if adcode is not None and not (adcode.isdigit() and len(adcode) in (2, 4, 6)):
        raise InvalidInput("adcode", "an adcode or a prefix of 2, 4 or 6 digits")
    key_a = "a.adcode" if by == "county" else "a.enterprise_id::text"
    key_s = "s.adcode" if by == "county" else "h.enterprise_id::text"
    days = (end - start).total_seconds() / 86400.0
    p = {"s": start, "e": end, "ad": adcode or "", "lv": list(ack_limits_s), "lim": [float(v) for v in
                                                                                     ack_limits_s.values()]}
    conn = _conn(session)
    alarms = conn.execute(text(
        f"SELECT {key_a} AS k, count(*) AS n, "
        "count(*) FILTER (WHERE coalesce(a.acknowledged_at, a.handled_at) <= a.created_at + "
        "  make_interval(secs => lim.s)) AS in_time, "
        "count(*) FILTER (WHERE a.reason IS NOT NULL) AS handled, "
        "count(*) FILTER (WHERE a.reason = 'false_alarm') AS false_alarms "
        "FROM alarms a JOIN unnest(CAST(:lv AS text[]), CAST(:lim AS float8[])) AS lim(level, s) "
        "  ON lim.level = a.level "
        "WHERE a.raised_at >= :s AND a.raised_at < :e AND starts_with(a.adcode, :ad) "
        f"AND {key_a} IS NOT NULL GROUP BY 1"), p).all()
    sensors = conn.execute(text(
        f"SELECT {key_s} AS k, sum(extract(epoch FROM (:e - greatest(:s, s.created_at))) / s.interval_s) AS expected, "
        "sum((SELECT count(*) FROM readings r WHERE r.sensor_id = s.id AND r.ts >= :s AND r.ts < :e)) AS received "
        "FROM sensors s LEFT JOIN hazard_units h ON h.id = s.hazard_unit_id "
        "WHERE s.status = 'active' AND s.valid_to IS NULL AND s.created_at < :e AND starts_with(s.adcode, :ad) "
        f"AND {key_s} IS NOT NULL GROUP BY 1"), p).all()
    out: dict[str, dict[str, Any]] = {}
    for r in alarms:
        out[r.k] = {"key": r.k, "alarms": r.n, "alarms_per_day": round(r.n / days, 4),
                    "acknowledged_in_time_share": round(r.in_time / r.n, 4) if r.n else None,
                    "false_alarm_share": round(r.false_alarms / r.handled, 4) if r.handled else None}
    for r in sensors:
        d = out.setdefault(r.k, {"key": r.k, "alarms": 0, "alarms_per_day": 0.0, "acknowledged_in_time_share": None,
                                 "false_alarm_share": None})
        exp = float(r.expected or 0)
        d["readings_expected"] = round(exp, 1)
        d["readings_received"] = int(r.received or 0)
        d["completeness"] = round(min(1.0, int(r.received or 0) / exp), 4) if exp > 0 else None
    data = sorted(out.values(), key=lambda d: d["key"])
    return {"level": by, "from": start.isoformat(), "to": end.isoformat(), "days": round(days, 4), "data": data,
            "count": len(data)}
