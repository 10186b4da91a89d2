"""Enterprise credit (诚信管理): credit events, scores, grades and the blacklist, computed set-based.

Credit events come from four places, gathered for every enterprise in scope by
one ``UNION ALL`` query (no per-enterprise query):

* ``enterprise_records`` kind ``accident`` and ``enforcement`` (migration 0007;
  accident quick reports and inspection findings arrive there too), dated
  ``occurred_on``; ``amount_yuan`` is shown when the column exists;
* ``hidden_dangers`` open past their deadline (``overdue_danger``: dated the
  day after the deadline, counted while the danger stays open) and closed on
  or before it (``rectified_danger``: dated ``closed_on``);
* ``credit_events`` recorded by regulators (migration 0012).

``enterprise_records`` kind ``credit`` is *written* here, never read: when the
computed grade of an enterprise differs from its latest credit record (or the
enterprise is listed: ``dishonest``), a credit record dated ``as_of`` is added
(source ``OneMap credit rules <sha12>``), so the four-colour risk
(``layers/enterprise_risk.py``) keeps one path to credit. An enterprise with no
credit record and grade A gets none (nothing to say).

The rule table (:mod:`workflows.credit_rules`) turns events into points,
points into a score (base + points, each rule capped, clipped) and a grade;
its blacklist rows put enterprises on the list (``blacklist_entries``, via
``rule``, listed by the caller or ``system``). :func:`recompute` writes the
scores that changed, new listings, automatic removals (``removal = auto``)
and credit records, in the caller's transaction, one run at a time
(``pg_advisory_xact_lock``): a second run waits, then finds nothing to change.
:func:`explain` is the why for one enterprise. Time travel: every function
takes ``as_of`` (default: the database's today); windows and deadlines are
judged on that day, with the statuses stored now.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    Integer,
    Numeric,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    table,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo.context import RequestContext
from geo.errors import InvalidInput, NotFound, NotPermitted
from geo.models import (
    BlacklistEntry,
    CreditEvent,
    CreditScore,
    Enterprise,
    EnterpriseRecord,
    HiddenDanger,
    Region,
)
from workflows.credit_rules import GRADES, Rules, event_label, load_rules
from workflows.hidden_dangers import OPEN_STATUSES

__all__ = [
    "REGULATORS", "CreditEventRow", "Counted", "Assessment", "RecomputeSummary", "gather", "assess",
    "recompute", "explain", "check_as_of", "conn_of", "require_regulator", "entry_json",
]

REGULATORS = ("county", "city", "province", "admin")
_LOCK_KEY = 7245301  # pg_advisory_xact_lock of every write to scores and the blacklist
MAX_PAST_DAYS = 3650  # as_of at most ten years back
RECORD_SOURCE = "OneMap credit rules"

_E, _R, _D = Enterprise.__table__, EnterpriseRecord.__table__, HiddenDanger.__table__
_C, _S, _B = CreditEvent.__table__, CreditScore.__table__, BlacklistEntry.__table__
_SOURCE_ZH = {"record": "企业记录", "danger": "隐患", "manual": "信用事件"}


def conn_of(bind: Session | Any):
    """The connection of a session (or the connection itself): the caller's transaction."""
    return bind.connection() if isinstance(bind, Session) else bind


def require_regulator(ctx: RequestContext | None, what: str) -> None:
    """Refuse anyone but a regulator (county, city, province, admin); ``None`` is the owner's maintenance path."""
    if ctx is None:
        return
    if ctx.role == "public":
        raise NotPermitted(f"log in: {what} is for regulators")
    if ctx.role not in REGULATORS:
        raise NotPermitted(f"{what} is for {', '.join(REGULATORS)} users; you are {ctx.role}")


def check_as_of(conn, as_of: dt.date | None) -> tuple[dt.date, dt.date]:
    """``(as_of, today)``: ``as_of`` defaults to the database's today; a future day or one over ten years back is refused."""
    today = conn.execute(select(func.current_date())).scalar_one()
    if as_of is None:
        return today, today
    if as_of > today:
        raise InvalidInput("as_of", f"must be today ({today.isoformat()}) or earlier, got {as_of.isoformat()}")
    if as_of < today - dt.timedelta(days=MAX_PAST_DAYS):
        raise InvalidInput("as_of", f"at most {MAX_PAST_DAYS} days back, got {as_of.isoformat()}")
    return as_of, today


# ----------------------------------------------------------------------------------------------- gathering

@dataclass(frozen=True)
class CreditEventRow:
    """One credit event of an enterprise, whatever its source."""

    enterprise_id: int
    source: str  # record | danger | manual
    source_id: int
    event: str  # accident | enforcement | overdue_danger | rectified_danger | manual
    value: str
    occurred_on: dt.date
    points_override: float | None
    text: str | None  # description (records, manual events) or title (dangers)
    amount_yuan: float | None = None

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.source_id}"


def _ids(ids: Sequence[int]):
    return bindparam("credit_ids", [int(i) for i in ids], type_=ARRAY(BigInteger))


def _has_amount(conn) -> bool:
    """Whether ``enterprise_records.amount_yuan`` exists (added by the inspections migration, maybe)."""
    att = table("pg_attribute", column("attrelid"), column("attname"), column("attnum"), column("attisdropped"))
    return bool(conn.execute(select(func.count()).select_from(att).where(
        att.c.attrelid == func.to_regclass(literal("enterprise_records")), att.c.attname == "amount_yuan",
        att.c.attnum > 0, att.c.attisdropped.is_(False))).scalar_one())


def _since(as_of: dt.date, days: int) -> dt.date:
    return as_of - dt.timedelta(days=days)


def _event_query(conn, ids: Sequence[int] | None, rules: Rules, as_of: dt.date):
    """One UNION ALL over the four sources, limited to each family's longest window."""
    parts = []
    money = cast(null(), Numeric)
    record_windows = [(kind, rules.max_window(kind)) for kind in ("accident", "enforcement")]
    record_windows = [(k, w) for k, w in record_windows if w > 0]
    if record_windows:
        amount = literal_column("enterprise_records.amount_yuan", Numeric) if _has_amount(conn) else money
        parts.append(select(
            _R.c.enterprise_id, literal("record").label("source"), _R.c.id.label("source_id"),
            _R.c.kind.label("event"), _R.c.severity.label("value"), _R.c.occurred_on.label("occurred_on"),
            cast(null(), Numeric).label("points"),
            func.concat_ws(" — ", _R.c.description, _R.c.source).label("text"), amount.label("amount_yuan"))
            .where(_R.c.valid_to.is_(None), _R.c.occurred_on <= as_of,
                   or_(*(and_(_R.c.kind == k, _R.c.occurred_on > _since(as_of, w)) for k, w in record_windows))))
    if any(r.event == "overdue_danger" for r in (*rules.events, *rules.blacklist)):
        parts.append(select(
            _D.c.enterprise_id, literal("danger"), _D.c.id, literal("overdue_danger"), _D.c.level,
            _D.c.deadline, cast(null(), Numeric), _D.c.title, money)
            .where(_D.c.valid_to.is_(None), _D.c.status.in_(OPEN_STATUSES), _D.c.deadline < as_of))
    window = rules.max_window("rectified_danger")
    if window:
        parts.append(select(
            _D.c.enterprise_id, literal("danger"), _D.c.id, literal("rectified_danger"), _D.c.level,
            _D.c.closed_on, cast(null(), Numeric), _D.c.title, money)
            .where(_D.c.valid_to.is_(None), _D.c.status == "closed", _D.c.closed_on <= _D.c.deadline,
                   _D.c.closed_on <= as_of, _D.c.closed_on > _since(as_of, window)))
    window = rules.max_window("manual")
    if window:
        parts.append(select(
            _C.c.enterprise_id, literal("manual"), _C.c.id, literal("manual"), _C.c.kind, _C.c.occurred_on,
            _C.c.points, func.concat_ws(" — ", _C.c.description, _C.c.source), money)
            .where(_C.c.valid_to.is_(None), _C.c.occurred_on <= as_of, _C.c.occurred_on > _since(as_of, window)))
    if not parts:
        return None
    if ids is not None:
        parts = [p.where(p.selected_columns[0] == any_(_ids(ids))) for p in parts]
    return union_all(*parts)


def gather(conn, ids: Sequence[int] | None, rules: Rules, as_of: dt.date) -> dict[int, list[CreditEventRow]]:
    """Every credit event of the enterprises ``ids`` (None: all the caller sees), by enterprise.

    Overdue dangers carry the day after their deadline as ``occurred_on``.
    """
    out: dict[int, list[CreditEventRow]] = defaultdict(list)
    q = _event_query(conn, ids, rules, as_of)
    if q is None:
        return out
    for eid, source, sid, event, value, occurred, points, text, amount in conn.execute(q):
        if event == "overdue_danger":
            occurred = occurred + dt.timedelta(days=1)
        out[eid].append(CreditEventRow(eid, source, sid, event, value, occurred,
                                       None if points is None else float(points), text,
                                       None if amount is None else float(amount)))
    for events in out.values():
        events.sort(key=lambda e: (e.occurred_on, e.source, e.source_id))
    return out


# ----------------------------------------------------------------------------------------------- scoring

def _r2(x: float) -> float:
    return round(float(x) + 0.0, 2)


def _num(x: float | None) -> int | float | None:
    if x is None:
        return None
    return int(x) if float(x).is_integer() else round(float(x), 2)


@dataclass
class Counted:
    """One event and what the rules made of it (``points`` 0 and a ``why`` when it does not count)."""

    event: CreditEventRow
    rule: str | None
    points: float
    base_points: float
    factor: float
    counted: bool
    why_zh: str
    why_en: str
    ongoing: bool = False


@dataclass
class Assessment:
    """The credit of one enterprise on one day: score, grade, per-rule breakdown, blacklist matches."""

    enterprise_id: int
    as_of: dt.date
    raw: float
    score: float
    grade: str
    score_grade: str
    counted: list[Counted]
    breakdown: list[dict[str, Any]]
    matches: list[dict[str, Any]]  # blacklist rules that match now (events after the last removal)
    listed: bool = False
    eligible_from: dt.date | None = None
    blocked: list[str] = field(default_factory=list)  # ongoing negative conditions that block removal

    @property
    def events_counted(self) -> int:
        return sum(1 for c in self.counted if c.counted)

    def eligible(self) -> bool:
        return self.eligible_from is not None and self.eligible_from <= self.as_of and not self.blocked


def _count(ev: CreditEventRow, rules: Rules, as_of: dt.date) -> Counted:
    rule = rules.event_rule(ev.event, ev.value)
    zh, en = event_label(ev.event, ev.value)
    day = ev.occurred_on.isoformat()
    if rule is None:
        return Counted(ev, None, 0.0, 0.0, 0.0, False, f"{zh}（{day}）：规则表无此项，不计分",
                       f"{en} ({day}): no rule for it, no points")
    base = ev.points_override if ev.points_override is not None else rule.points
    set_by = ("（分值由监管人员设定，规则默认 " + f"{_num(rule.points)}）", f" (points set by the regulator; rule default "
              f"{_num(rule.points)})") if ev.points_override is not None else ("", "")
    if rule.window_days is None:  # an ongoing condition: counts while it lasts
        return Counted(ev, rule.rule, _r2(base), base, 1.0, True,
                       f"{zh}（自 {day} 起逾期，仍未整改）：{_num(base)} 分{set_by[0]}",
                       f"{en} (overdue since {day}, still open): {_num(base)} points{set_by[1]}", ongoing=True)
    age = (as_of - ev.occurred_on).days
    if not 0 <= age < rule.window_days:
        return Counted(ev, rule.rule, 0.0, base, 0.0, False,
                       f"{zh}（{day}）：已超出 {rule.window_days} 天计分期，不计分",
                       f"{en} ({day}): older than the {rule.window_days}-day window, no points")
    factor = 1.0 - age / rule.window_days if rule.decay == "linear" else 1.0
    points = _r2(base * factor)
    if rule.decay == "linear":
        zh_why = f"{zh}（{day}，{age} 天前）：{_num(base)} × {factor:.3f}（{rule.window_days} 天线性衰减）= {_num(points)} 分"
        en_why = (f"{en} ({day}, {age} days ago): {_num(base)} × {factor:.3f} (linear over {rule.window_days} days) "
                  f"= {_num(points)} points")
    else:
        zh_why = f"{zh}（{day}）：{_num(points)} 分（{rule.window_days} 天内计分）"
        en_why = f"{en} ({day}): {_num(points)} points (counts for {rule.window_days} days)"
    return Counted(ev, rule.rule, points, base, factor, True, zh_why + set_by[0], en_why + set_by[1])


def _matches(events: list[Counted], score: float, rules: Rules, as_of: dt.date,
             since: dt.date | None) -> list[dict[str, Any]]:
    """Blacklist rules that match, with the events that made them (only events after ``since``, a removal)."""
    out = []
    fresh = [c for c in events if since is None or c.event.occurred_on > since]
    for lr in rules.blacklist:
        if lr.event == "score":
            negative_since = any(c.counted and c.points < 0 for c in fresh)
            if score < lr.threshold and (since is None or negative_since):
                out.append({"rule": lr.rule, "label_zh": lr.label_zh, "label_en": lr.label_en,
                            "score": _num(score), "events": []})
            continue
        hits = []
        for c in fresh:
            ev = c.event
            if ev.event != lr.event or ev.value != lr.value:
                continue
            if lr.window_days is not None and not 0 <= (as_of - ev.occurred_on).days < lr.window_days:
                continue
            hits.append(ev)
        if len(hits) >= lr.min_count:
            out.append({"rule": lr.rule, "label_zh": lr.label_zh, "label_en": lr.label_en,
                        "events": [_public_event(ev) for ev in hits]})
    return out


def _public_event(ev: CreditEventRow) -> dict[str, Any]:
    """An event as a listing's reasons keep it (published: no descriptions, no record ids)."""
    zh, en = event_label(ev.event, ev.value)
    return {"event": ev.event, "value": ev.value, "label_zh": zh, "label_en": en,
            "occurred_on": ev.occurred_on.isoformat()}


def assess(enterprise_id: int, events: list[CreditEventRow], rules: Rules, as_of: dt.date, *,
           listed_on: dt.date | None = None, since: dt.date | None = None) -> Assessment:
    """Score one enterprise: ``events`` (from :func:`gather`), its open listing's date, its last removal's date.

    Pure: no database. ``listed_on`` (an open entry) makes the grade D and
    sets when removal becomes possible: ``quiet_days`` after the listing and
    after the last negative event, and never while a negative ongoing
    condition (an overdue danger) lasts.
    """
    counted = [_count(ev, rules, as_of) for ev in events]
    by_rule: dict[str, list[Counted]] = defaultdict(list)
    for c in counted:
        if c.counted:
            by_rule[c.rule].append(c)
    breakdown = []
    total = 0.0
    for r in rules.events:
        items = by_rule.get(r.rule)
        if not items:
            continue
        points = _r2(sum(c.points for c in items))
        capped = r.cap is not None and abs(points) > r.cap
        if capped:
            points = _r2(r.cap if points > 0 else -r.cap)
        total += points
        breakdown.append({"rule": r.rule, "event": r.event, "value": r.value, "label_zh": r.label_zh,
                          "label_en": r.label_en, "points": _num(points), "count": len(items), "capped": capped,
                          "cap": _num(r.cap),
                          "events": [{"source": c.event.source, "id": c.event.source_id,
                                      "on": c.event.occurred_on.isoformat(), "points": _num(c.points)}
                                     for c in items]})
    raw = _r2(rules.base + total)
    score = _r2(rules.clip(raw))
    score_grade = rules.grade_of(score)
    a = Assessment(enterprise_id, as_of, raw, score, score_grade, score_grade, counted, breakdown,
                   _matches(counted, score, rules, as_of, since))
    if listed_on is not None:
        a.listed = True
        a.grade = "D"
        negatives = [c for c in counted if (c.points < 0 or (not c.counted and c.base_points < 0))]
        last = max([c.event.occurred_on for c in negatives if not c.ongoing], default=None)
        start = max(listed_on, last) if last is not None else listed_on
        a.eligible_from = start + dt.timedelta(days=rules.quiet_days)
        a.blocked = [c.why_zh + " / " + c.why_en for c in counted if c.ongoing and c.points < 0]
    return a


def removal_reason_text(a: Assessment, rules: Rules) -> tuple[str, str]:
    """Why an open entry may or may not be removed on ``a.as_of`` (zh, en)."""
    if a.blocked:
        return (f"尚有持续的失信情形：{'；'.join(b.split(' / ')[0] for b in a.blocked)}",
                f"negative conditions still last: {'; '.join(b.split(' / ')[1] for b in a.blocked)}")
    day = a.eligible_from.isoformat() if a.eligible_from else "?"
    if a.eligible():
        return (f"自列入及最近一次失信事件起已满 {rules.quiet_days} 天（{day} 起可移出）",
                f"{rules.quiet_days} days without negative events since the listing (eligible since {day})")
    return (f"列入及最近一次失信事件后需满 {rules.quiet_days} 天，{day} 起方可移出",
            f"removal needs {rules.quiet_days} days without negative events after the listing: eligible from {day}")


# ----------------------------------------------------------------------------------------------- state

@dataclass
class _State:
    names: dict[int, tuple[str, str, str]]  # id -> name, uscc, adcode
    open_entries: dict[int, tuple[int, dt.date]]  # enterprise -> (entry id, listed_on)
    last_removal: dict[int, dt.date]
    stored: dict[int, tuple]
    latest_credit: dict[int, tuple[str, dt.date]]


def _state(conn, ids: Sequence[int] | None, *, current_only: bool = True) -> _State:
    def scoped(q, col):
        return q if ids is None else q.where(col == any_(_ids(ids)))

    q = select(_E.c.id, _E.c.name, _E.c.uscc, _E.c.adcode)
    if current_only:
        q = q.where(_E.c.valid_to.is_(None))
    names = {r.id: (r.name, r.uscc, r.adcode) for r in conn.execute(scoped(q, _E.c.id).order_by(_E.c.id))}
    open_entries = {r.enterprise_id: (r.id, r.listed_on) for r in conn.execute(scoped(
        select(_B.c.enterprise_id, _B.c.id, _B.c.listed_on).where(_B.c.removed_on.is_(None)), _B.c.enterprise_id))}
    last_removal = {r.enterprise_id: r.last for r in conn.execute(scoped(
        select(_B.c.enterprise_id, func.max(_B.c.removed_on).label("last")).where(_B.c.removed_on.isnot(None))
        .group_by(_B.c.enterprise_id), _B.c.enterprise_id))}
    stored = {r.enterprise_id: (float(r.score), float(r.raw_score), r.grade, r.blacklisted, r.breakdown,
                                r.events_counted, r.rules_sha256)
              for r in conn.execute(scoped(select(_S.c.enterprise_id, _S.c.score, _S.c.raw_score, _S.c.grade,
                                                  _S.c.blacklisted, _S.c.breakdown, _S.c.events_counted,
                                                  _S.c.rules_sha256), _S.c.enterprise_id))}
    rank = func.row_number().over(partition_by=_R.c.enterprise_id,
                                  order_by=(_R.c.occurred_on.desc(), _R.c.id.desc())).label("rank")
    ranked = scoped(select(_R.c.enterprise_id, _R.c.severity, _R.c.occurred_on, rank)
                    .where(_R.c.kind == "credit", _R.c.valid_to.is_(None)), _R.c.enterprise_id).subquery("latest")
    latest_credit = {r.enterprise_id: (r.severity, r.occurred_on) for r in conn.execute(
        select(ranked.c.enterprise_id, ranked.c.severity, ranked.c.occurred_on).where(ranked.c.rank == 1))}
    return _State(names, open_entries, last_removal, stored, latest_credit)


# ----------------------------------------------------------------------------------------------- recompute

@dataclass
class RecomputeSummary:
    """What one run did."""

    as_of: dt.date
    rules: str
    assessed: int = 0
    changed: int = 0
    grades: dict[str, int] = field(default_factory=dict)
    listed: list[int] = field(default_factory=list)  # new entry ids
    removed: list[int] = field(default_factory=list)  # entries removed automatically
    eligible: int = 0  # open entries a regulator may remove now
    records_written: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "rules": self.rules, "assessed": self.assessed,
                "changed": self.changed, "grades": self.grades, "listed": len(self.listed),
                "listed_entries": self.listed, "removed": len(self.removed), "removed_entries": self.removed,
                "eligible_for_removal": self.eligible, "records_written": self.records_written,
                "seconds": self.seconds, "dry_run": self.dry_run}

    def as_text(self) -> str:
        verb = "would change" if self.dry_run else "changed"
        return (f"credit as of {self.as_of.isoformat()}: {self.assessed:,} enterprises assessed, {verb} "
                f"{self.changed:,}; grades " + ", ".join(f"{g} {n:,}" for g, n in self.grades.items())
                + f"; blacklist +{len(self.listed):,} listed, {len(self.removed):,} removed automatically, "
                  f"{self.eligible:,} eligible for removal; {self.records_written:,} credit records; "
                  f"rules {self.rules}")


def _desired_record(a: Assessment, latest: tuple[str, dt.date] | None) -> str | None:
    want = "dishonest" if a.listed else a.grade
    if latest is None:
        return None if want == GRADES[0] else want
    return None if latest[0] == want else want


def _upsert_scores(conn, rows: list[tuple], rules: Rules, as_of: dt.date) -> None:
    def arr(i, type_):
        return [r[i] for r in rows], type_

    cols = {"enterprise_id": arr(0, BigInteger), "score": arr(1, Numeric), "raw_score": arr(2, Numeric),
            "grade": arr(3, Text), "blacklisted": arr(4, Boolean), "breakdown": arr(5, Text),
            "events_counted": arr(6, Integer)}
    values = func.unnest(*(bindparam(f"u_{name}", data, type_=ARRAY(t)) for name, (data, t) in cols.items())) \
        .table_valued(*cols).render_derived(name="u")
    src = select(values.c.enterprise_id, values.c.score, values.c.raw_score, values.c.grade, values.c.blacklisted,
                 cast(values.c.breakdown, JSONB), values.c.events_counted,
                 literal(as_of, Date), literal(rules.source), literal(rules.sha256), func.now())
    stmt = pg_insert(_S).from_select(
        ["enterprise_id", "score", "raw_score", "grade", "blacklisted", "breakdown", "events_counted", "as_of",
         "rules_source", "rules_sha256", "computed_at"], src)
    ex = stmt.excluded
    conn.execute(stmt.on_conflict_do_update(index_elements=[_S.c.enterprise_id], set_={
        "score": ex.score, "raw_score": ex.raw_score, "grade": ex.grade, "blacklisted": ex.blacklisted,
        "breakdown": ex.breakdown, "events_counted": ex.events_counted, "as_of": ex.as_of,
        "rules_source": ex.rules_source, "rules_sha256": ex.rules_sha256, "computed_at": ex.computed_at}))


def _stored_equal(stored: tuple | None, a: Assessment, rules: Rules) -> bool:
    return stored is not None and stored == (a.score, a.raw, a.grade, a.listed, a.breakdown, a.events_counted,
                                             rules.sha256)


def recompute(bind, *, ids: Sequence[int] | None = None, ctx: RequestContext | None = None,
              rules: Rules | None = None, as_of: dt.date | None = None, dry_run: bool = False,
              progress: Callable[[str, int, int], None] | None = None) -> RecomputeSummary:
    """Recompute credit for the enterprises ``ids`` (None: every current enterprise the caller sees).

    ``ctx``: a regulator's request context (None: the owner's maintenance path,
    actor ``system``); the caller owns the transaction and row-level security
    limits the run to its jurisdiction. Writes, unless ``dry_run``: new
    listings (``via rule``), automatic removals (``removal = auto``), the
    scores that changed, and credit records for the four-colour risk.
    ``progress(phase, done, total)`` follows the phases gather, score, write.
    """
    require_regulator(ctx, "recomputing credit")
    rules = rules or load_rules()
    conn = conn_of(bind)
    as_of, _today = check_as_of(conn, as_of)
    summary = RecomputeSummary(as_of=as_of, rules=rules.version, dry_run=dry_run)
    t0 = time.perf_counter()
    if not dry_run:
        conn.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
    if ctx is None:
        conn.execute(select(func.set_config("onemap.actor", "system", True)))
    if progress:
        progress("gather", 0, 0)
    state = _state(conn, ids)
    events = gather(conn, ids, rules, as_of)
    t1 = time.perf_counter()
    total = len(state.names)
    if progress:
        progress("score", 0, total)
    new_entries, auto_removed, score_rows, records = [], [], [], []
    grades = dict.fromkeys(GRADES, 0)
    for n, (eid, (_name, _uscc, _adcode)) in enumerate(state.names.items(), start=1):
        entry = state.open_entries.get(eid)
        a = assess(eid, events.get(eid, []), rules, as_of, listed_on=entry[1] if entry else None,
                   since=state.last_removal.get(eid))
        if entry is not None and a.eligible():
            if rules.removal == "auto":
                auto_removed.append(entry[0])
                a = assess(eid, events.get(eid, []), rules, as_of, since=as_of)
            else:
                summary.eligible += 1
        elif entry is None and a.matches:
            new_entries.append({"enterprise_id": eid, "listed_on": as_of, "via": "rule",
                                "rule_ids": [m["rule"] for m in a.matches], "reasons": a.matches,
                                "rules_sha256": rules.sha256})
            a = assess(eid, events.get(eid, []), rules, as_of, listed_on=as_of, since=state.last_removal.get(eid))
        grades[a.grade] += 1
        if not _stored_equal(state.stored.get(eid), a, rules):
            score_rows.append((eid, a.score, a.raw, a.grade, a.listed,
                               json.dumps(a.breakdown, ensure_ascii=False), a.events_counted))
        want = _desired_record(a, state.latest_credit.get(eid))
        if want is not None:
            latest = state.latest_credit.get(eid)
            day = max(as_of, latest[1]) if latest else as_of
            label = "列入严重失信主体名单" if want == "dishonest" else f"信用等级 {want}（{_num(a.score)} 分）"
            records.append({"enterprise_id": eid, "kind": "credit", "severity": want, "occurred_on": day,
                            "description": f"{label}; OneMap credit {a.grade}, score {_num(a.score)} as of "
                                           f"{as_of.isoformat()}",
                            "source": f"{RECORD_SOURCE} {rules.sha256[:12]}"})
        if progress and n % 2000 == 0:
            progress("score", n, total)
    t2 = time.perf_counter()
    summary.assessed, summary.changed, summary.grades = total, len(score_rows), grades
    if progress:
        progress("write", 0, len(score_rows))
    if not dry_run:
        if auto_removed:
            conn.execute(update(_B).where(_B.c.id == any_(_ids(auto_removed)), _B.c.removed_on.is_(None)).values(
                removed_on=as_of, removal_via="auto",
                removal_reason=f"自动移出：满 {rules.quiet_days} 天无新的失信事件（auto: {rules.quiet_days} days "
                               f"without negative events; {rules.version}）"))
        if new_entries:
            summary.listed = sorted(conn.execute(insert(_B).returning(_B.c.id), new_entries).scalars().all())
        if score_rows:
            for start in range(0, len(score_rows), 5000):
                _upsert_scores(conn, score_rows[start:start + 5000], rules, as_of)
        if records:
            conn.execute(insert(_R), records)
    else:
        summary.listed = [0] * len(new_entries)
    summary.removed = sorted(auto_removed)
    summary.records_written = len(records)
    t3 = time.perf_counter()
    summary.seconds = {"gather": round(t1 - t0, 3), "score": round(t2 - t1, 3), "write": round(t3 - t2, 3),
                       "total": round(t3 - t0, 3)}
    if progress:
        progress("write", len(score_rows), len(score_rows))
    return summary


# ----------------------------------------------------------------------------------------------- explain

def entry_json(row, *, public: bool = True) -> dict[str, Any]:
    """A blacklist entry as JSON: the public projection, or with who/why of the listing and removal."""
    out = {"id": row.id, "enterprise_id": row.enterprise_id, "enterprise_name": row.enterprise_name,
           "uscc": row.uscc, "adcode": row.adcode, "status": row.status, "via": row.via,
           "listed_on": row.listed_on.isoformat(), "rule_ids": list(row.rule_ids), "reasons": row.reasons,
           "removed_on": None if row.removed_on is None else row.removed_on.isoformat(),
           "removal_via": row.removal_via}
    if not public:
        out.update({"listed_by": row.listed_by, "listed_role": row.listed_role,
                    "listed_at": row.listed_at.isoformat(), "note": row.note, "rules_sha256": row.rules_sha256,
                    "removed_by": row.removed_by, "removed_role": row.removed_role,
                    "removed_at": None if row.removed_at is None else row.removed_at.isoformat(),
                    "removal_reason": row.removal_reason})
    return out


def _event_json(c: Counted) -> dict[str, Any]:
    ev = c.event
    zh, en = event_label(ev.event, ev.value)
    out = {"source": ev.source, "source_id": ev.source_id, "event": ev.event, "value": ev.value,
           "label_zh": zh, "label_en": en, "occurred_on": ev.occurred_on.isoformat(), "rule": c.rule,
           "points": _num(c.points), "rule_points": _num(c.base_points), "decay_factor": round(c.factor, 4),
           "counted": c.counted, "ongoing": c.ongoing, "why": c.why_zh, "why_en": c.why_en,
           "detail": ev.text, "source_label": f"{_SOURCE_ZH[ev.source]} #{ev.source_id}"}
    if ev.amount_yuan is not None:
        out["amount_yuan"] = ev.amount_yuan
    if ev.points_override is not None:
        out["points_set_by_regulator"] = _num(ev.points_override)
    return out


def explain(bind, *, enterprise_id: int, ctx: RequestContext, rules: Rules | None = None,
            as_of: dt.date | None = None) -> dict[str, Any]:
    """Why an enterprise has its score and grade: every event with its rule, points and why; blacklist state.

    Runs under the caller's row-level security (another county's or another
    enterprise's → :class:`~geo.errors.NotFound`); anonymous callers are
    refused. Recomputed now (``as_of``) and shown next to what is stored.
    """
    if ctx.role == "public":
        raise NotPermitted("log in: an enterprise's credit is shown to the enterprise and its regulators")
    rules = rules or load_rules()
    conn = conn_of(bind)
    as_of, _today = check_as_of(conn, as_of)
    state = _state(conn, [enterprise_id], current_only=False)
    if enterprise_id not in state.names:
        raise NotFound(f"enterprise {enterprise_id} not found")
    name, uscc, adcode = state.names[enterprise_id]
    events = gather(conn, [enterprise_id], rules, as_of).get(enterprise_id, [])
    entry = state.open_entries.get(enterprise_id)
    a = assess(enterprise_id, events, rules, as_of, listed_on=entry[1] if entry else None,
               since=state.last_removal.get(enterprise_id))
    history = conn.execute(select(_B).where(_B.c.enterprise_id == enterprise_id).order_by(_B.c.id)).all()
    regulator = ctx.role in REGULATORS
    county = conn.execute(select(Region.name).where(Region.adcode == adcode)).scalar()
    blacklist: dict[str, Any] = {"listed": a.listed, "entry": None, "would_list": [], "removal": None,
                                 "history": [entry_json(h, public=not regulator) for h in history]}
    if entry is not None:
        current = next(h for h in history if h.id == entry[0])
        blacklist["entry"] = entry_json(current, public=not regulator)
        zh, en = removal_reason_text(a, rules)
        blacklist["removal"] = {"eligible": a.eligible(), "eligible_from": a.eligible_from.isoformat(),
                                "mode": rules.removal, "blocked_by": a.blocked, "why": zh, "why_en": en}
    else:
        blacklist["would_list"] = a.matches
    stored = conn.execute(select(_S).where(_S.c.enterprise_id == enterprise_id)).first()
    grade_why = ("列入严重失信主体名单，等级为 D", "on the blacklist: graded D") if a.listed else (
        f"{_num(a.score)} 分，属 {a.grade} 级", f"{_num(a.score)} points: grade {a.grade}")
    return {
        "enterprise_id": enterprise_id, "name": name, "uscc": uscc, "adcode": adcode, "county": county,
        "as_of": as_of.isoformat(), "base": _num(rules.base), "raw_score": _num(a.raw), "score": _num(a.score),
        "score_grade": a.score_grade, "grade": a.grade, "grade_why": grade_why[0], "grade_why_en": grade_why[1],
        "clipped": a.raw != a.score,
        "grades": [{"grade": g.grade, "min_score": _num(g.min_score)} for g in rules.grades],
        "rules_applied": a.breakdown,
        "events": [_event_json(c) for c in a.counted if c.counted],
        "not_counted": [_event_json(c) for c in a.counted if not c.counted],
        "blacklist": blacklist,
        "stored": None if stored is None else {
            "score": float(stored.score), "grade": stored.grade, "blacklisted": stored.blacklisted,
            "as_of": stored.as_of.isoformat(), "computed_at": stored.computed_at.isoformat(),
            "rules_sha256": stored.rules_sha256},
        "current": stored is not None and stored.grade == a.grade and float(stored.score) == a.score
        and stored.blacklisted == a.listed and stored.rules_sha256 == rules.sha256,
        "rules": {"source": rules.source, "sha256": rules.sha256},
    }

