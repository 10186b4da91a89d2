"""Four-colour enterprise risk (四色图: red 重大 / orange 较大 / yellow 一般 / blue 低风险), explained.

Every current enterprise gets a score, a colour and the factors that made them,
by a rule kept in a table (``data/enterprise_risk_rules.csv``; OneMap's own
default, configurable, not a national standard — docs/RISK.md):

* **inherent**: the most severe grade of its active major hazard units
  (``hazard_units.grade``; a unit identified as major but not yet graded
  counts as grade 4), the sum of S = Σq/Q over its active units, and the
  highest individual risk (``risk_cells``, H3 resolution 9) of the cells
  holding active protection targets within :data:`TARGET_RADIUS_M` of it
  (0 points, "no risk surface yet", while ``risk_cells`` has no res-9 cell);
* **management**: open hidden dangers (status not ``closed``) and overdue
  ones (deadline before today, not closed), by level (重大隐患 weigh more);
* **dynamic**: active telemetry alarms, read from a table ``alarms`` when one
  exists (0 points, "no telemetry", until then; see :func:`_alarm_counts`);
* **record**: accidents, enforcement actions and the latest credit rating in
  ``enterprise_records`` (migration 0007) within each rule row's window.

Points add up (capped per factor where the rule says so); the colour is the
highest band the score reaches, raised by any matching *override* ("a major
accident in the last 3 years makes it red"). ``enterprises.risk_colour``,
``risk_score`` and ``risk_factors`` (the top five factors with points, most
points first, plus the overrides that raised the colour) are written only
for enterprises whose assessment changed, in one statement, so the audit log
and the ``/events`` feed (``enterprise.risk_colour_changed``) see real
changes only; ``risk_assessed_at`` is when the stored assessment last changed.

Set-based: one query gathers every factor for all enterprises, one for their
records, one for alarms (when the table exists); scoring is plain Python over
the rows; the write is one ``UPDATE … FROM unnest(…)``. No FastAPI here; the
caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Float,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    column,
    func,
    literal,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from geo import vocab
from geo.errors import NotFound
from geo.models import (
    Enterprise,
    EnterpriseRecord,
    HazardUnit,
    HiddenDanger,
    ProtectionTarget,
    RiskCell,
    Sensor,
)
from geo.rule_tables import fail, json_number, read_file, read_rows, require_empty, row_labels
from layers.spatial import bbox_overlaps

__all__ = [
    "RULES_PATH", "TARGET_RADIUS_M", "H3_RES", "COLOURS", "FACTORS", "RECORD_SEVERITIES", "Factor",
    "Rules", "ScoreRow", "Threshold", "Override", "RiskSummary", "load_rules", "rules_json",
    "score_enterprises", "explain",
]

RULES_PATH = Path(__file__).resolve().parents[1] / "data" / "enterprise_risk_rules.csv"
"""The default rule table (OneMap's own; see its header and docs/RISK.md)."""

TARGET_RADIUS_M = 1000.0
"""Protection targets within this many metres (geodesic) of an enterprise feed ``individual_risk``."""

H3_RES = 9
"""Resolution of the ``risk_cells`` rows read for ``individual_risk``."""

# Index prefilter: a lon/lat box around each target that surely holds everything within the radius
# (the shortest degree of latitude, 110,574 m; a degree of longitude shrinks with cos(latitude)).
_DLAT_DEG = TARGET_RADIUS_M / 110_574.0 * 1.01

COLOURS = ("red", "orange", "yellow", "blue")
"""Colours, most severe first (``geo.vocab.RISK_COLOURS``)."""
_RANK = {c: i for i, c in enumerate(reversed(COLOURS))}  # blue 0 … red 3
_COLOUR_ZH = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}

RECORD_SEVERITIES: dict[str, dict[str, tuple[str, str]]] = {
    "accident": {"ordinary": ("一般事故", "ordinary accident"), "larger": ("较大事故", "larger accident"),
                 "major": ("重大事故", "major accident"),
                 "extraordinary": ("特别重大事故", "extraordinary accident")},
    "enforcement": {"warning": ("警告", "warning"), "fine": ("罚款", "fine"),
                    "confiscation": ("没收违法所得", "confiscation"),
                    "suspension": ("责令停产停业整顿", "ordered to suspend operations"),
                    "licence_suspended": ("暂扣许可证", "licence suspended"),
                    "licence_revoked": ("吊销许可证", "licence revoked"), "closure": ("责令关闭", "ordered closed")},
    "credit": {"A": ("信用A级", "credit A"), "B": ("信用B级", "credit B"), "C": ("信用C级", "credit C"),
               "D": ("信用D级", "credit D"), "dishonest": ("失信联合惩戒名单", "dishonest list")},
}
"""``enterprise_records.severity`` keys by ``kind`` (the CHECK of migration 0007), with labels."""

_DANGER_LEVELS = {"major": ("重大", "major"), "general": ("一般", "general")}


@dataclass(frozen=True)
class Factor:
    """A factor the code computes: how its rule rows read (``kind``) and its labels.

    ``kind``: ``grade`` (value 1–4; the most severe grade counts), ``step``
    (value a lower bound; the highest step reached counts), ``count`` (value a
    key; points per matching item) or ``latest`` (value a key; the latest
    record counts).
    """

    name: str
    group: str  # inherent | management | dynamic | record
    kind: str
    zh: str
    en: str
    keys: tuple[str, ...] = ()  # values of count/latest factors
    windowed: bool = False  # record factors: rows need window_days


FACTORS: dict[str, Factor] = {f.name: f for f in (
    Factor("major_hazard_grade", "inherent", "grade", "重大危险源等级", "major hazard grade"),
    Factor("inventory_s", "inherent", "step", "危险化学品储量（S值）", "hazardous inventory (S)"),
    Factor("individual_risk", "inherent", "step", "周边防护目标个人风险", "individual risk at nearby targets"),
    Factor("open_dangers", "management", "count", "未销号隐患", "open hidden dangers", tuple(_DANGER_LEVELS)),
    Factor("overdue_dangers", "management", "count", "逾期未整改隐患", "overdue hidden dangers",
           tuple(_DANGER_LEVELS)),
    Factor("active_alarms", "dynamic", "count", "未消除报警", "active alarms", ("active",)),
    Factor("accident", "record", "count", "事故", "accidents", tuple(RECORD_SEVERITIES["accident"]), True),
    Factor("enforcement", "record", "count", "行政处罚", "enforcement actions",
           tuple(RECORD_SEVERITIES["enforcement"]), True),
    Factor("credit", "record", "latest", "信用", "credit", tuple(RECORD_SEVERITIES["credit"]), True),
)}
"""Every factor, in the order explanations list them."""

_ORDER = {name: i for i, name in enumerate(FACTORS)}
_LOCK_KEY = 7245101  # pg_advisory_xact_lock of score_enterprises (the audit chain uses 7245001)
_TOP = 5
_COLUMNS = ("section", "factor", "value", "points", "cap", "window_days", "min_count", "colour", "label_zh",
            "label_en")
_NOTE = ("OneMap's own default rule, configurable (data/enterprise_risk_rules.csv); "
         "not a national or provincial standard")


# ----------------------------------------------------------------------------------------------- the rule table

@dataclass(frozen=True)
class ScoreRow:
    """``factor`` gives ``points`` when ``value`` matches (per item for counted factors)."""

    factor: str
    value: Any
    points: float
    cap: float | None
    window_days: int | None
    label_zh: str
    label_en: str
    line: int


@dataclass(frozen=True)
class Threshold:
    """A score of at least ``min_score`` is ``colour``."""

    colour: str
    min_score: float
    label_zh: str
    label_en: str
    line: int


@dataclass(frozen=True)
class Override:
    """When ``factor`` matches ``value`` (``min_count`` times), the colour is at least ``colour``."""

    factor: str
    value: Any
    min_count: int
    window_days: int | None
    colour: str
    label_zh: str
    label_en: str
    line: int


@dataclass(frozen=True)
class Rules:
    """A validated rule table (see :func:`load_rules`)."""

    source: str
    sha256: str
    score: tuple[ScoreRow, ...]
    thresholds: tuple[Threshold, ...]  # red, orange, yellow (descending)
    overrides: tuple[Override, ...]

    @cached_property
    def _by_factor(self) -> dict[str, list[ScoreRow]]:
        out: dict[str, list[ScoreRow]] = {name: [] for name in FACTORS}
        for r in self.score:
            out[r.factor].append(r)
        return out

    def rows(self, factor: str) -> list[ScoreRow]:
        """The score rows of ``factor``, in file order."""
        return self._by_factor[factor]

    def cap(self, factor: str) -> float | None:
        """The factor's cap (the same on each of its rows), or None."""
        rows = self._by_factor[factor]
        return rows[0].cap if rows else None

    def max_window(self) -> int:
        """The longest record window any row uses (days; 0 when none)."""
        return max([r.window_days or 0 for r in self.score] + [o.window_days or 0 for o in self.overrides])

    def colour_of(self, score: float) -> str:
        """The colour band ``score`` falls in (before overrides); a band's lowest score belongs to it.

        >>> rules = load_rules()
        >>> [rules.colour_of(x) for x in (0, 19.999, 20, 39.5, 40, 60, 1e9)]
        ['blue', 'blue', 'yellow', 'yellow', 'orange', 'red', 'red']
        """
        for t in self.thresholds:
            if score >= t.min_score:
                return t.colour
        return "blue"


def _number(text: str, source: str, line: int, col: str, *, integer: bool = False, minimum: float = 0.0,
            strict: bool = False) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise fail(source, line, col, f"must be {kind}, got {text!r}") from None
    if not math.isfinite(value):
        raise fail(source, line, col, f"must be finite, got {text!r}")
    if value < minimum or (strict and value == minimum):
        raise fail(source, line, col, f"must be {'>' if strict else '>='} {minimum:g}, got {text!r}")
    return value


def _parse_value(factor: Factor, text: str, source: str, line: int) -> Any:
    if not text:
        raise fail(source, line, "value", f"required for factor {factor.name}")
    if factor.kind == "grade":
        value = _number(text, source, line, "value", integer=True, minimum=1)
        if value > 4:
            raise fail(source, line, "value", f"a major hazard grade is 1 (most severe) to 4, got {text!r}")
        return int(value)
    if factor.kind == "step":
        return _number(text, source, line, "value")
    if text not in factor.keys:
        raise fail(source, line, "value", f"unknown value {text!r} for factor {factor.name}; "
                                           f"allowed: {', '.join(factor.keys)}")
    return text


def parse_rules(text: str, *, source: str = "rules") -> Rules:
    """Validate a rule table given as CSV text (see :func:`load_rules`).

    >>> head = ",".join(_COLUMNS)
    >>> bands = ["colour,,,6,,,,red,红,red", "colour,,,4,,,,orange,橙,orange", "colour,,,2,,,,yellow,黄,yellow"]
    >>> rules = parse_rules("\\n".join([head, "score,open_dangers,major,2.5,10,,,,重大,major", *bands]))
    >>> rules.rows("open_dangers")[0].points, rules.cap("open_dangers"), rules.rows("credit")
    (2.5, 10.0, [])
    >>> parse_rules("\\n".join([head, "score,open_dangers,major,-1,,,,,重大,major", *bands]), source="r.csv")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: r.csv:2.points: must be >= 0, got '-1'
    >>> parse_rules("# only a comment")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: rules:1.header: no header row: the file is empty
    """
    lines = read_rows(text, source, _COLUMNS)
    score: list[ScoreRow] = []
    thresholds: dict[str, Threshold] = {}
    overrides: list[Override] = []
    seen: dict[tuple, int] = {}
    caps: dict[str, tuple[float | None, int]] = {}
    for line, row in lines:
        section = row["section"]
        if section == "colour":
            require_empty(row, ("factor", "value", "cap", "window_days", "min_count"), "on colour rows", source, line)
            colour = row["colour"]
            if colour not in ("red", "orange", "yellow"):
                why = "blue is every score below yellow: no row" if colour == "blue" else f"unknown {colour!r}"
                raise fail(source, line, "colour", f"{why}; colour rows are red, orange, yellow")
            if colour in thresholds:
                raise fail(source, line, "colour", f"{colour} given twice (line {thresholds[colour].line})")
            if not row["points"]:
                raise fail(source, line, "points", "required: the lowest score of the colour")
            thresholds[colour] = Threshold(colour, _number(row["points"], source, line, "points"),
                                           *row_labels(row, source, line), line)
            continue
        if section not in ("score", "override"):
            raise fail(source, line, "section", f"unknown {section!r}; allowed: score, colour, override")
        factor = FACTORS.get(row["factor"])
        if factor is None:
            raise fail(source, line, "factor", f"unknown factor {row['factor']!r}; known: {', '.join(FACTORS)}")
        value = _parse_value(factor, row["value"], source, line)
        window = None
        if factor.windowed:
            if not row["window_days"]:
                raise fail(source, line, "window_days", f"required for factor {factor.name} (records count "
                                                         "within the last N days)")
            window = int(_number(row["window_days"], source, line, "window_days", integer=True, minimum=1))
        elif row["window_days"]:
            raise fail(source, line, "window_days", f"only record factors (accident, enforcement, credit) "
                                                     f"have a window, not {factor.name}")
        labels = row_labels(row, source, line)
        key = (section, factor.name, value)
        if key in seen:
            raise fail(source, line, "value", f"{section} row for {factor.name} = {row['value']} given twice "
                                               f"(line {seen[key]})")
        seen[key] = line
        if section == "score":
            require_empty(row, ("min_count", "colour"), "on score rows", source, line)
            if not row["points"]:
                raise fail(source, line, "points", "required on score rows")
            points = _number(row["points"], source, line, "points")
            cap = None
            if row["cap"]:
                if factor.kind != "count":
                    raise fail(source, line, "cap", f"only counted factors have a cap, not {factor.name}")
                cap = _number(row["cap"], source, line, "cap")
            earlier = caps.setdefault(factor.name, (cap, line))
            if earlier[0] != cap:
                raise fail(source, line, "cap", f"differs from the cap of {factor.name} on line {earlier[1]}; "
                                                 "a factor has one cap")
            score.append(ScoreRow(factor.name, value, points, cap, window, *labels, line))
        else:
            require_empty(row, ("points", "cap"), "on override rows", source, line)
            if row["colour"] not in ("red", "orange", "yellow"):
                raise fail(source, line, "colour", f"an override raises to red, orange or yellow; got "
                                                    f"{row['colour']!r}")
            min_count = 1
            if row["min_count"]:
                if factor.kind != "count":
                    raise fail(source, line, "min_count", f"only counted factors take a count, not {factor.name}")
                min_count = int(_number(row["min_count"], source, line, "min_count", integer=True, minimum=1))
            overrides.append(Override(factor.name, value, min_count, window, row["colour"], *labels, line))
    missing = [c for c in ("red", "orange", "yellow") if c not in thresholds]
    if missing:
        raise fail(source, lines[-1][0] if lines else 1, "colour", f"no colour row for {', '.join(missing)}")
    red, orange, yellow = thresholds["red"], thresholds["orange"], thresholds["yellow"]
    for hi, lo in ((red, orange), (orange, yellow)):
        if not hi.min_score > lo.min_score:
            raise fail(source, hi.line, "points", f"the {hi.colour} threshold ({hi.min_score:g}) must be above "
                                                   f"the {lo.colour} one ({lo.min_score:g})")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Rules(source, digest, tuple(score), (red, orange, yellow), tuple(overrides))


@lru_cache(maxsize=1)
def _default_rules() -> Rules:
    return parse_rules(RULES_PATH.read_text(encoding="utf-8"), source=RULES_PATH.name)


def load_rules(path: str | Path | None = None) -> Rules:
    """Read and validate a rule table (default: :data:`RULES_PATH`).

    Refuses, with :class:`~geo.errors.InvalidInput` naming ``file:line.column``,
    a wrong header, an unknown section, factor, value or colour, a negative or
    non-finite number, a missing window on a record factor (or one elsewhere),
    a cap that differs between rows of a factor, a row given twice, a missing
    label, a missing colour band and bands that do not decrease red > orange >
    yellow.
    """
    if path is None:
        return _default_rules()
    return read_file(path, parse_rules)


def rules_json(rules: Rules) -> dict[str, Any]:
    """The rule table as JSON (``GET /risk/rules``)."""
    factors = []
    for f in FACTORS.values():
        factors.append({
            "factor": f.name, "group": f.group, "kind": f.kind, "label_zh": f.zh, "label_en": f.en,
            "values": list(f.keys) or None, "cap": None if rules.cap(f.name) is None else json_number(rules.cap(f.name)),
            "rows": [{"value": r.value, "points": json_number(r.points), "window_days": r.window_days,
                      "label_zh": r.label_zh, "label_en": r.label_en} for r in rules.rows(f.name)],
        })
    colours = [{"colour": t.colour, "min_score": json_number(t.min_score), "label_zh": t.label_zh, "label_en": t.label_en}
               for t in rules.thresholds]
    colours.append({"colour": "blue", "min_score": 0, "label_zh": "蓝色（低风险）：黄色以下",
                    "label_en": "blue (low): below yellow"})
    overrides = [{"factor": o.factor, "value": o.value, "min_count": o.min_count, "window_days": o.window_days,
                  "colour": o.colour, "label_zh": o.label_zh, "label_en": o.label_en} for o in rules.overrides]
    return {"source": rules.source, "sha256": rules.sha256, "note": _NOTE, "target_radius_m": TARGET_RADIUS_M,
            "h3_resolution": H3_RES, "factors": factors, "colours": colours, "overrides": overrides}


# ----------------------------------------------------------------------------------------------- gathering

_E, _H, _D, _T, _R = (Enterprise.__table__, HazardUnit.__table__, HiddenDanger.__table__,
                      ProtectionTarget.__table__, EnterpriseRecord.__table__)
_CELLS = RiskCell.__table__


@dataclass
class Inputs:
    """What the database says about one enterprise, before any rule is applied."""

    id: int
    name: str
    worst_grade: int | None = None
    n_major: int = 0
    n_ungraded_major: int = 0
    sum_s: float = 0.0
    n_units: int = 0
    n_unassessed: int = 0
    max_ir: float | None = None
    ir_target: str | None = None
    open: dict[str, int] = field(default_factory=dict)
    overdue: dict[str, int] = field(default_factory=dict)
    alarms: int = 0
    records: list[tuple[str, str, date, int]] = field(default_factory=list)  # kind, severity, occurred_on, id
    stored_colour: str | None = None
    stored_score: float | None = None
    stored_factors: Any = None
    assessed_at: datetime | None = None


@dataclass
class Context:
    """What holds for every enterprise of one run: today, and which sources exist."""

    today: date
    surface: bool
    telemetry: bool
    telemetry_note: str | None = None


def _ids_param(ids: Sequence[int]):
    return bindparam("ids", [int(i) for i in ids], type_=ARRAY(BigInteger))


def _has_surface(conn) -> bool:
    probe = select(literal(1)).select_from(_CELLS).where(_CELLS.c.res == H3_RES).limit(1)
    return conn.execute(select(probe.exists())).scalar_one()


def _units():
    major = _H.c.is_major.is_(True)
    return (select(_H.c.enterprise_id,
                   func.min(_H.c.grade).filter(major).label("worst_grade"),
                   func.count().filter(major).label("n_major"),
                   func.count().filter(and_(major, _H.c.grade.is_(None))).label("n_ungraded_major"),
                   func.coalesce(func.sum(_H.c.s), 0.0).label("sum_s"),
                   func.count().label("n_units"),
                   func.count().filter(_H.c.s.is_(None)).label("n_unassessed"))
            .where(_H.c.valid_to.is_(None), _H.c.status == "active")
            .group_by(_H.c.enterprise_id).subquery("u"))


def _dangers(today: date):
    overdue = and_(_D.c.deadline < today, _D.c.status.in_(vocab.DANGER_UNRECTIFIED))
    cols = [_D.c.enterprise_id]
    for level in _DANGER_LEVELS:
        cols.append(func.count().filter(_D.c.level == level).label(f"open_{level}"))
        cols.append(func.count().filter(and_(_D.c.level == level, overdue)).label(f"overdue_{level}"))
    return (select(*cols).where(_D.c.valid_to.is_(None), _D.c.status != "closed")
            .group_by(_D.c.enterprise_id).subquery("d"))


def _worst_target(ids):
    """Per enterprise: the highest res-9 cell risk over active targets within the radius, and that target."""
    coslat = func.greatest(func.cos(func.radians(func.least(89.0, func.ST_YMax(_T.c.geom) + _DLAT_DEG))), 1e-6)
    box = func.ST_Expand(_T.c.geom, TARGET_RADIUS_M / 111_320.0 * 1.01 / coslat, _DLAT_DEG)
    at_target = (select(_T.c.id.label("target_id"), _T.c.name.label("target_name"), _T.c.geom.label("tgeom"),
                        box.label("box"), func.max(_CELLS.c.ir_fe15).label("ir_fe15"))
                 .select_from(_T.join(_CELLS, and_(_CELLS.c.res == H3_RES, bbox_overlaps(_CELLS.c.geom, _T.c.geom),
                                                   func.ST_Intersects(_CELLS.c.geom, _T.c.geom))))
                 .where(_T.c.valid_to.is_(None), _T.c.status == "active")
                 .group_by(_T.c.id).cte("target_risk"))
    near = and_(bbox_overlaps(_E.c.geom, at_target.c.box),
                func.ST_DWithin(cast(_E.c.geom, Geography), cast(at_target.c.tgeom, Geography), TARGET_RADIUS_M))
    rank = func.row_number().over(partition_by=_E.c.id,
                                  order_by=(at_target.c.ir_fe15.desc(), at_target.c.target_id))
    q = (select(_E.c.id.label("enterprise_id"), at_target.c.ir_fe15, at_target.c.target_name, rank.label("rank"))
         .select_from(_E.join(at_target, near))
         .where(at_target.c.ir_fe15 > 0))
    if ids is not None:
        q = q.where(_E.c.id == any_(_ids_param(ids)))
    ranked = q.subquery("ranked")
    return (select(ranked.c.enterprise_id, ranked.c.ir_fe15, ranked.c.target_name)
            .where(ranked.c.rank == 1).subquery("ir"))


def _alarm_counts(conn, ids) -> tuple[dict[int, int] | None, str | None]:
    """Active alarms per enterprise from a table ``alarms``, when it exists (else None and why).

    Migration 0014 creates it: open alarms (``state <> 'cleared'``) count;
    a table of another shape is read when present: rows with ``status = 'active'`` count for ``enterprise_id`` when the table has
    that column, else for the enterprise of ``sensor_id`` → sensor's hazard
    unit → its enterprise (both when both exist: the direct one first).
    """
    oid = conn.execute(select(func.to_regclass(literal("alarms")).isnot(None))).scalar_one()
    if not oid:
        return None, "no telemetry (no alarms table yet)"
    att = table("pg_attribute", column("attrelid"), column("attname"), column("attnum"), column("attisdropped"))
    cols = set(conn.execute(select(att.c.attname).where(
        att.c.attrelid == func.to_regclass(literal("alarms")), att.c.attnum > 0,
        att.c.attisdropped.is_(False))).scalars())
    if not cols & {"status", "state"} or not cols & {"enterprise_id", "sensor_id"}:
        return None, "no telemetry (table alarms lacks status and enterprise_id or sensor_id)"
    alarms = table("alarms", *(column(c) for c in cols & {"status", "state", "enterprise_id", "sensor_id"}))
    source = alarms
    owners = []
    if "enterprise_id" in cols:
        owners.append(alarms.c.enterprise_id)
    if "sensor_id" in cols:
        sensors, units = Sensor.__table__, _H
        source = source.outerjoin(sensors, sensors.c.id == alarms.c.sensor_id).outerjoin(
            units, units.c.id == sensors.c.hazard_unit_id)
        owners.append(units.c.enterprise_id)
    owner = (func.coalesce(*owners) if len(owners) > 1 else owners[0]).label("enterprise_id")
    # migration 0014's table: open = not cleared; an older shape: status 'active'
    active = alarms.c.state != "cleared" if "state" in cols else alarms.c.status == "active"
    q = select(owner, func.count()).select_from(source).where(active).group_by(owner)
    rows = conn.execute(q).all()
    wanted = None if ids is None else set(ids)
    return {int(e): int(n) for e, n in rows if e is not None and (wanted is None or e in wanted)}, None


def _records(conn, ids, today: date, days: int) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    if days <= 0:
        return out
    q = (select(_R.c.enterprise_id, _R.c.kind, _R.c.severity, _R.c.occurred_on, _R.c.id)
         .where(_R.c.valid_to.is_(None), _R.c.occurred_on <= today, _R.c.occurred_on > today - timedelta(days=days)))
    if ids is not None:
        q = q.where(_R.c.enterprise_id == any_(_ids_param(ids)))
    for e, kind, severity, occurred_on, rid in conn.execute(q):
        out[e].append((kind, severity, occurred_on, rid))
    return out


def _gather(conn, ids, rules: Rules, today: date, *, current_only: bool = True) -> tuple[list[Inputs], Context]:
    surface = _has_surface(conn)
    u, d = _units(), _dangers(today)
    cols = [_E.c.id, _E.c.name, _E.c.risk_colour, _E.c.risk_score, _E.c.risk_factors, _E.c.risk_assessed_at,
            u.c.worst_grade, u.c.n_major, u.c.n_ungraded_major, u.c.sum_s, u.c.n_units, u.c.n_unassessed,
            *(d.c[f"{kind}_{level}"] for kind in ("open", "overdue") for level in _DANGER_LEVELS)]
    src = _E.outerjoin(u, u.c.enterprise_id == _E.c.id).outerjoin(d, d.c.enterprise_id == _E.c.id)
    if surface:
        ir = _worst_target(ids)
        cols += [ir.c.ir_fe15, ir.c.target_name]
        src = src.outerjoin(ir, ir.c.enterprise_id == _E.c.id)
    q = select(*cols).select_from(src).order_by(_E.c.id)
    if current_only:
        q = q.where(_E.c.valid_to.is_(None))
    if ids is not None:
        q = q.where(_E.c.id == any_(_ids_param(ids)))
    rows = conn.execute(q).mappings().all()
    records = _records(conn, ids, today, rules.max_window())
    alarms, why = _alarm_counts(conn, ids)
    ctx = Context(today, surface, alarms is not None, why)
    out = []
    for r in rows:
        ir_fe15 = r.get("ir_fe15")
        out.append(Inputs(
            id=r["id"], name=r["name"], worst_grade=r["worst_grade"], n_major=r["n_major"] or 0,
            n_ungraded_major=r["n_ungraded_major"] or 0, sum_s=float(r["sum_s"] or 0.0),
            n_units=r["n_units"] or 0, n_unassessed=r["n_unassessed"] or 0,
            max_ir=None if ir_fe15 is None else ir_fe15 * 1e-15, ir_target=r.get("target_name"),
            open={lv: r[f"open_{lv}"] or 0 for lv in _DANGER_LEVELS},
            overdue={lv: r[f"overdue_{lv}"] or 0 for lv in _DANGER_LEVELS},
            alarms=(alarms or {}).get(r["id"], 0), records=records.get(r["id"], []),
            stored_colour=r["risk_colour"], stored_score=r["risk_score"], stored_factors=r["risk_factors"],
            assessed_at=r["risk_assessed_at"]))
    return out, ctx


# ----------------------------------------------------------------------------------------------- scoring

_GRADE_ZH = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sci_zh(x: float) -> str:
    """Scientific notation as Chinese texts write it.

    >>> _sci_zh(3.2e-06), _sci_zh(1e-05), _sci_zh(0.0)
    ('3.2×10⁻⁶', '1.0×10⁻⁵', '0.0×10⁰')
    """
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}×10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def _g(x: float) -> str:
    return f"{x:.4g}"


@dataclass
class Assessment:
    """The result for one enterprise: every factor (with points and detail), overrides, colour."""

    score: float
    score_colour: str
    colour: str
    factors: list[dict[str, Any]]  # every factor, most points first
    overrides: list[dict[str, Any]]  # every override that matched; raised = it set the colour

    def stored_factors(self) -> list[dict[str, Any]]:
        """What ``enterprises.risk_factors`` keeps: top factors with points, then raising overrides."""
        keep = ("factor", "label_zh", "label_en", "points", "detail", "detail_en")
        top = [{k: f[k] for k in keep} for f in self.factors if f["points"] > 0][:_TOP]
        raised = [{"factor": "override", "label_zh": o["label_zh"], "label_en": o["label_en"], "points": 0,
                   "detail": f"按规则不低于{_COLOUR_ZH[o['colour']]}：{o['label_zh']}",
                   "detail_en": f"at least {o['colour']} by rule: {o['label_en']}", "override": o["colour"]}
                  for o in self.overrides if o["raised"]]
        return top + raised


def _within(d: date, today: date, days: int | None) -> bool:
    return days is not None and today - timedelta(days=days) < d <= today


def _latest_credit(inp: Inputs) -> tuple[str, date, int] | None:
    credit = [(occ, rid, sev) for kind, sev, occ, rid in inp.records if kind == "credit"]
    if not credit:
        return None
    occ, rid, sev = max(credit)
    return sev, occ, rid


def _count_items(inp: Inputs, factor: str, key: str, window: int | None, today: date) -> int:
    if factor == "open_dangers":
        return inp.open.get(key, 0)
    if factor == "overdue_dangers":
        return inp.overdue.get(key, 0)
    if factor == "active_alarms":
        return inp.alarms
    return sum(1 for kind, sev, occ, _ in inp.records if kind == factor and sev == key and _within(occ, today, window))


def _grade(inp: Inputs) -> int | None:
    """Most severe grade; a major unit not yet graded counts as grade 4."""
    if inp.worst_grade is not None:
        return int(inp.worst_grade)
    return 4 if inp.n_ungraded_major else None


def _factor_grade(inp: Inputs, rules: Rules, ctx: Context):
    grade = _grade(inp)
    row = next((r for r in rules.rows("major_hazard_grade") if grade is not None and r.value == grade), None)
    if grade is None:
        return 0.0, "无重大危险源", "no major hazard unit", [], {"worst_grade": None, "major_units": 0}
    ungraded = f"，{inp.n_ungraded_major} 个未分级按四级计" if inp.n_ungraded_major else ""
    ungraded_en = f", {inp.n_ungraded_major} not yet graded counted as grade 4" if inp.n_ungraded_major else ""
    zh = f"{_GRADE_ZH[grade]}重大危险源（重大危险源单元 {inp.n_major} 个{ungraded}）"
    en = f"grade-{grade} major hazard ({inp.n_major} major hazard unit(s){ungraded_en})"
    return (row.points if row else 0.0), zh, en, [row] if row else [], {
        "worst_grade": grade, "major_units": inp.n_major, "ungraded_major_units": inp.n_ungraded_major}


def _step(rows: list[ScoreRow], measured: float | None) -> ScoreRow | None:
    reached = [r for r in rows if measured is not None and measured >= r.value]
    return max(reached, key=lambda r: r.value) if reached else None


def _factor_s(inp: Inputs, rules: Rules, ctx: Context):
    row = _step(rules.rows("inventory_s"), inp.sum_s if inp.n_units else None)
    inputs = {"sum_s": round(inp.sum_s, 6), "units": inp.n_units, "unassessed_units": inp.n_unassessed}
    if not inp.n_units:
        return 0.0, "无在用危险源单元", "no active hazard unit", [], inputs
    pending = f"，{inp.n_unassessed} 个未评估" if inp.n_unassessed else ""
    pending_en = f", {inp.n_unassessed} not assessed" if inp.n_unassessed else ""
    zh = f"S 合计 {_g(inp.sum_s)}（{inp.n_units} 个单元{pending}）"
    en = f"total S {_g(inp.sum_s)} over {inp.n_units} unit(s){pending_en}"
    return (row.points if row else 0.0), zh, en, [row] if row else [], inputs


def _factor_ir(inp: Inputs, rules: Rules, ctx: Context):
    radius = f"{TARGET_RADIUS_M:g}"
    if not ctx.surface:
        return 0.0, "尚无风险面（risk_cells 为空）", "no risk surface yet", [], {"max_ir_per_year": None}
    if inp.max_ir is None:
        return (0.0, f"{radius} 米内防护目标处无个人风险", f"no individual risk at protection targets within {radius} m",
                [], {"max_ir_per_year": None})
    row = _step(rules.rows("individual_risk"), inp.max_ir)
    zh = f"防护目标「{inp.ir_target}」处个人风险 {_sci_zh(inp.max_ir)}/年（{radius} 米内最高）"
    en = f"individual risk {inp.max_ir:.1e} per year at protection target {inp.ir_target} (highest within {radius} m)"
    return (row.points if row else 0.0), zh, en, [row] if row else [], {
        "max_ir_per_year": inp.max_ir, "target": inp.ir_target}


def _counted(inp: Inputs, rules: Rules, ctx: Context, factor: str):
    if FACTORS[factor].windowed and not inp.records:
        return 0.0, {}, [], False
    total, used, counts = 0.0, [], {}
    for row in rules.rows(factor):
        n = _count_items(inp, factor, row.value, row.window_days, ctx.today)
        counts[row.value] = n
        if n:
            total += n * row.points
            used.append(row)
    cap = rules.cap(factor)
    capped = cap is not None and total > cap
    return (min(total, cap) if capped else total), counts, used, capped


def _cap_note(capped: bool, rules: Rules, factor: str) -> tuple[str, str]:
    if not capped:
        return "", ""
    cap = _g(rules.cap(factor))
    return f"（封顶 {cap} 分）", f" (capped at {cap})"


def _factor_dangers(factor: str):
    zh_kind = "未销号隐患" if factor == "open_dangers" else "逾期未整改隐患"
    en_kind = "open hidden dangers" if factor == "open_dangers" else "overdue hidden dangers"

    def compute(inp: Inputs, rules: Rules, ctx: Context):
        points, _, used, capped = _counted(inp, rules, ctx, factor)
        counts = inp.open if factor == "open_dangers" else inp.overdue
        if not any(counts.values()):
            return 0.0, f"无{zh_kind}", f"no {en_kind}", [], dict(counts)
        cz, ce = _cap_note(capped, rules, factor)
        zh = f"{zh_kind}：重大 {counts.get('major', 0)} 项，一般 {counts.get('general', 0)} 项{cz}"
        en = f"{en_kind}: {counts.get('major', 0)} major, {counts.get('general', 0)} general{ce}"
        return points, zh, en, used, dict(counts)
    return compute


def _factor_alarms(inp: Inputs, rules: Rules, ctx: Context):
    if not ctx.telemetry:
        return 0.0, "无遥测数据（尚无报警表）", ctx.telemetry_note or "no telemetry", [], {"active_alarms": None}
    points, _, used, capped = _counted(inp, rules, ctx, "active_alarms")
    if not inp.alarms:
        return 0.0, "无未消除报警", "no active alarm", [], {"active_alarms": 0}
    cz, ce = _cap_note(capped, rules, "active_alarms")
    return points, f"未消除报警 {inp.alarms} 项{cz}", f"{inp.alarms} active alarm(s){ce}", used, {
        "active_alarms": inp.alarms}


def _factor_records(factor: str):
    labels = RECORD_SEVERITIES[factor]
    zh_kind, en_kind = FACTORS[factor].zh, FACTORS[factor].en
    unit = "起" if factor == "accident" else "次"

    def compute(inp: Inputs, rules: Rules, ctx: Context):
        points, counts, used, capped = _counted(inp, rules, ctx, factor)
        counted = {k: n for k, n in counts.items() if n}
        if not counted:
            return 0.0, f"期内无{zh_kind}记录", f"no {en_kind} within the window", [], {}
        cz, ce = _cap_note(capped, rules, factor)
        zh = "、".join(f"{labels[k][0]} {n} {unit}" for k, n in counted.items()) + cz
        en = ", ".join(f"{n} {labels[k][1]}" for k, n in counted.items()) + ce
        return points, zh, en, used, counted
    return compute


def _factor_credit(inp: Inputs, rules: Rules, ctx: Context):
    latest = _latest_credit(inp)
    if latest is None:
        return 0.0, "期内无信用记录", "no credit record within the window", [], {"latest": None}
    sev, occ, _ = latest
    row = next((r for r in rules.rows("credit") if r.value == sev and _within(occ, ctx.today, r.window_days)), None)
    label = RECORD_SEVERITIES["credit"][sev]
    inputs = {"latest": sev, "occurred_on": occ.isoformat()}
    if row is None:
        return 0.0, f"最新信用记录：{label[0]}（{occ.isoformat()}，已过期或不计分）", \
            f"latest credit record: {label[1]} ({occ.isoformat()}; outside its window or not scored)", [], inputs
    return row.points, f"最新信用记录：{label[0]}（{occ.isoformat()}）", \
        f"latest credit record: {label[1]} ({occ.isoformat()})", [row], inputs


_COMPUTE: dict[str, Callable] = {
    "major_hazard_grade": _factor_grade, "inventory_s": _factor_s, "individual_risk": _factor_ir,
    "open_dangers": _factor_dangers("open_dangers"), "overdue_dangers": _factor_dangers("overdue_dangers"),
    "active_alarms": _factor_alarms, "accident": _factor_records("accident"),
    "enforcement": _factor_records("enforcement"), "credit": _factor_credit,
}


def _override_matches(o: Override, inp: Inputs, ctx: Context) -> bool:
    factor = FACTORS[o.factor]
    if factor.kind == "grade":
        grade = _grade(inp)
        return grade is not None and grade <= o.value
    if factor.kind == "step":
        measured = (inp.sum_s if inp.n_units else None) if o.factor == "inventory_s" else inp.max_ir
        return measured is not None and measured >= o.value
    if factor.kind == "latest":
        latest = _latest_credit(inp)
        return latest is not None and latest[0] == o.value and _within(latest[1], ctx.today, o.window_days)
    if (o.factor == "active_alarms" and not ctx.telemetry) or (factor.windowed and not inp.records):
        return False
    return _count_items(inp, o.factor, o.value, o.window_days, ctx.today) >= o.min_count


def assess(inp: Inputs, rules: Rules, ctx: Context, *, full: bool = True) -> Assessment:
    """Apply ``rules`` to one enterprise's inputs (``full``: with each factor's inputs and rule lines)."""
    factors = []
    for name, spec in FACTORS.items():
        points, zh, en, rows, inputs = _COMPUTE[name](inp, rules, ctx)
        f = {"factor": name, "label_zh": spec.zh, "label_en": spec.en, "points": json_number(points), "detail": zh,
             "detail_en": en}
        if full:
            f["group"], f["inputs"] = spec.group, inputs
            f["rules"] = [{"line": r.line, "value": r.value, "points": json_number(r.points), "label_zh": r.label_zh,
                           "label_en": r.label_en} for r in rows]
        factors.append(f)
    factors.sort(key=lambda f: (-f["points"], _ORDER[f["factor"]]))
    score = json_number(sum(f["points"] for f in factors))
    score_colour = rules.colour_of(score)
    colour = score_colour
    matched = []
    for o in rules.overrides:
        if _override_matches(o, inp, ctx):
            matched.append(o)
            if _RANK[o.colour] > _RANK[colour]:
                colour = o.colour
    # raised: the override sets the final colour, above the score's own band
    lifted = _RANK[colour] > _RANK[score_colour]
    overrides = [{"factor": o.factor, "value": o.value, "colour": o.colour, "line": o.line,
                  "label_zh": o.label_zh, "label_en": o.label_en, "raised": lifted and o.colour == colour}
                 for o in sorted(matched, key=lambda o: (-_RANK[o.colour], o.line))]
    return Assessment(score, score_colour, colour, factors, overrides)


# ----------------------------------------------------------------------------------------------- running

@dataclass
class RiskSummary:
    """What a run did: how many were assessed and rewritten, colours after, transitions, notes, timings."""

    assessed: int = 0
    changed: int = 0
    colours: dict[str, int] = field(default_factory=dict)  # colour -> enterprises (after the run)
    transitions: dict[str, int] = field(default_factory=dict)  # "blue->yellow" -> enterprises
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    rules: str = ""
    dry_run: bool = False

    @property
    def colour_changes(self) -> int:
        """Enterprises whose colour changed."""
        return sum(self.transitions.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"assessed": self.assessed, "changed": self.changed, "colour_changes": self.colour_changes,
                "colours": self.colours, "transitions": self.transitions, "notes": self.notes,
                "seconds": self.seconds, "rules": self.rules, "dry_run": self.dry_run}


def _key(inp: Inputs) -> tuple:
    """Everything :func:`assess` reads (not the id, name or stored values): equal keys, equal results."""
    return (inp.worst_grade, inp.n_major, inp.n_ungraded_major, inp.sum_s, inp.n_units, inp.n_unassessed,
            inp.max_ir, inp.ir_target, tuple(inp.open.items()), tuple(inp.overdue.items()), inp.alarms,
            tuple(sorted(inp.records)))


def _same(inp: Inputs, a: Assessment, stored: list) -> bool:
    return (inp.stored_colour == a.colour and inp.stored_score is not None
            and abs(inp.stored_score - a.score) <= 1e-9 and inp.stored_factors == stored)


def _write(conn, changed: list[tuple[int, str, float, list]]) -> None:
    values = func.unnest(
        bindparam("w_ids", [c[0] for c in changed], type_=ARRAY(BigInteger)),
        bindparam("w_colours", [c[1] for c in changed], type_=ARRAY(Text)),
        bindparam("w_scores", [float(c[2]) for c in changed], type_=ARRAY(Float)),
        cast(bindparam("w_factors", [json.dumps(c[3], ensure_ascii=False) for c in changed], type_=ARRAY(Text)),
             ARRAY(JSONB)),
    ).table_valued("id", "colour", "score", "factors").render_derived(name="v")
    conn.execute(update(_E).where(_E.c.id == values.c.id).values(
        risk_colour=values.c.colour, risk_score=values.c.score, risk_factors=values.c.factors,
        risk_assessed_at=func.now()))


def _notes(ctx: Context) -> list[str]:
    notes = []
    if not ctx.surface:
        notes.append("individual_risk: no risk surface yet (risk_cells has no res-9 cell): 0 points")
    if not ctx.telemetry:
        notes.append(f"active_alarms: {ctx.telemetry_note or 'no telemetry'}: 0 points")
    return notes


def score_enterprises(conn, enterprise_ids: Sequence[int] | None = None, *, rules: Rules | None = None,
                      today: date | None = None, dry_run: bool = False,
                      progress: Callable[[str], None] | None = None) -> RiskSummary:
    """Score current enterprises (all, or ``enterprise_ids``) and store the ones whose assessment changed.

    ``conn`` is a Connection or Session in the caller's transaction (the
    caller commits); run it as the owner role to score every enterprise (the
    app role sees only its jurisdiction). ``today`` (default: the local date)
    decides overdue dangers and record windows. ``dry_run`` computes
    everything and writes nothing. ``progress`` is called with ``"gather"``,
    ``"score"`` and ``"write"`` as each phase starts.
    """
    rules = rules or load_rules()
    today = today or date.today()
    summary = RiskSummary(rules=f"{rules.source} (sha256 {rules.sha256[:12]})", dry_run=dry_run)
    t0 = time.perf_counter()
    if not dry_run:  # one writer at a time: a second run waits, then finds nothing left to change
        conn.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
    if progress:
        progress("gather")
    inputs, ctx = _gather(conn, enterprise_ids, rules, today)
    summary.notes = _notes(ctx)
    t1 = time.perf_counter()
    if progress:
        progress("score")
    changed: list[tuple[int, str, float, list]] = []
    colours: Counter = Counter()
    transitions: Counter = Counter()
    memo: dict[tuple, tuple[Assessment, list]] = {}  # many enterprises share their inputs: assess those once
    for inp in inputs:
        key = _key(inp)
        hit = memo.get(key)
        if hit is None:
            a = assess(inp, rules, ctx, full=False)
            hit = memo[key] = (a, a.stored_factors())
        a, stored = hit
        colours[a.colour] += 1
        if _same(inp, a, stored):
            continue
        changed.append((inp.id, a.colour, a.score, stored))
        if inp.stored_colour != a.colour:
            transitions[f"{inp.stored_colour or 'none'}->{a.colour}"] += 1
    t2 = time.perf_counter()
    if progress:
        progress("write")
    if changed and not dry_run:
        _write(conn, changed)
    t3 = time.perf_counter()
    summary.assessed, summary.changed = len(inputs), len(changed)
    summary.colours = {c: colours.get(c, 0) for c in COLOURS}
    summary.transitions = dict(sorted(transitions.items()))
    summary.seconds = {"gather": round(t1 - t0, 3), "score": round(t2 - t1, 3), "write": round(t3 - t2, 3),
                       "total": round(t3 - t0, 3)}
    return summary


def explain(conn, enterprise_id: int, *, rules: Rules | None = None, today: date | None = None) -> dict[str, Any]:
    """The full breakdown for one enterprise, recomputed now, next to what is stored.

    Runs under the caller's row-level security: an enterprise the caller may
    not see is :class:`~geo.errors.NotFound`, and the recomputation sees only
    rows the caller may see (so ``current`` may be false for a caller who
    cannot see, say, a hidden danger that the stored assessment counted).
    """
    rules = rules or load_rules()
    today = today or date.today()
    inputs, ctx = _gather(conn, [enterprise_id], rules, today, current_only=False)
    if not inputs:
        raise NotFound(f"enterprise {enterprise_id} not found")
    inp = inputs[0]
    a = assess(inp, rules, ctx)
    stored = a.stored_factors()
    return {
        "enterprise_id": inp.id, "name": inp.name, "today": today.isoformat(),
        "colour": a.colour, "score": a.score, "score_colour": a.score_colour,
        "factors": a.factors, "overrides": a.overrides,
        "thresholds": [{"colour": t.colour, "min_score": json_number(t.min_score)} for t in rules.thresholds],
        "stored": {"colour": inp.stored_colour, "score": inp.stored_score, "factors": inp.stored_factors,
                   "assessed_at": None if inp.assessed_at is None else inp.assessed_at.isoformat()},
        "current": _same(inp, a, stored),
        "notes": _notes(ctx),
        "rules": {"source": rules.source, "sha256": rules.sha256, "note": _NOTE},
    }
