"""The credit rule table (诚信管理规则): events → points, grade bands, blacklist conditions.

The table is a CSV file like the four-colour risk's (``data/credit_rules.csv``;
OneMap's own default, configurable, not a national standard — its header and
docs/WORKFLOWS.md explain each column). :func:`load_rules` reads and validates
it; every refusal is an :class:`~geo.errors.InvalidInput` whose field is
``file:line.column``. Pure: no database, no HTTP.

Vocabulary (``event`` → ``value``):

* ``accident`` → ``ordinary`` | ``larger`` | ``major`` | ``extraordinary``
  (``enterprise_records`` kind accident);
* ``enforcement`` → the penalties of ``enterprise_records`` kind enforcement;
* ``overdue_danger`` → ``general`` | ``major``: a hidden danger still open past
  its deadline (an ongoing condition: no window);
* ``rectified_danger`` → ``general`` | ``major``: closed on or before its deadline;
* ``manual`` → :data:`MANUAL_KINDS` (table ``credit_events``);
* ``score`` (blacklist rows only): the clipped score is below ``points``.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from geo.rule_tables import fail, json_number, read_file, read_rows, require_empty, row_labels

__all__ = [
    "RULES_PATH", "MANUAL_KINDS", "EVENTS", "GRADES", "NOTE", "EventRule", "ListRule", "Grade", "Rules",
    "parse_rules", "load_rules", "rules_json", "rules_markdown", "event_label",
]

RULES_PATH = Path(__file__).resolve().parents[1] / "data" / "credit_rules.csv"
"""The default rule table (OneMap's own; see its header and docs/WORKFLOWS.md)."""

NOTE = ("OneMap's own default rule, configurable (data/credit_rules.csv); its blacklist rows follow the listing "
        "conditions of 应急管理部令第11号 (2023) as read from secondary copies; not a national or provincial standard")

MANUAL_KINDS: dict[str, tuple[str, str]] = {
    "violation": ("违法违规行为（未处罚）", "violation found without penalty"),
    "obstruction": ("拒绝、阻碍监督检查", "refusing or obstructing an inspection"),
    "concealed_accident": ("瞒报、谎报事故", "concealed or falsely reported accident"),
    "commitment_signed": ("签署信用承诺", "credit commitment signed"),
    "commitment_kept": ("践行信用承诺", "credit commitment kept"),
    "commitment_broken": ("违背信用承诺", "credit commitment broken"),
    "honour": ("表彰奖励", "honour or award"),
}
"""Kinds of manually recorded credit events (``credit_events.kind``; frozen in migration 0012)."""

_LEVELS = {"general": ("一般隐患", "general hidden danger"), "major": ("重大事故隐患", "major hidden danger")}

EVENTS: dict[str, dict[str, tuple[str, str]]] = {
    "accident": {"ordinary": ("一般事故", "ordinary accident"), "larger": ("较大事故", "larger accident"),
                 "major": ("重大事故", "major accident"),
                 "extraordinary": ("特别重大事故", "extraordinary accident")},
    "enforcement": {"warning": ("警告", "warning"), "fine": ("罚款", "fine"),
                    "confiscation": ("没收违法所得", "confiscation"),
                    "suspension": ("责令停产停业整顿", "ordered to suspend operations"),
                    "licence_suspended": ("暂扣许可证", "licence suspended"),
                    "licence_revoked": ("吊销许可证", "licence revoked"), "closure": ("责令关闭", "ordered closed")},
    "overdue_danger": {k: (f"{zh}逾期未整改", f"{en} overdue") for k, (zh, en) in _LEVELS.items()},
    "rectified_danger": {k: (f"{zh}按期整改销号", f"{en} closed by its deadline") for k, (zh, en) in _LEVELS.items()},
    "manual": MANUAL_KINDS,
}
"""Credit event families and their values, with labels (zh, en)."""

ONGOING = frozenset({"overdue_danger"})  # conditions that count while they last (no window)
GRADES = ("A", "B", "C", "D")
_SETTINGS = {"base": (0.0, 1000.0), "floor": (0.0, 1000.0), "ceiling": (0.0, 1000.0), "quiet_days": (1.0, 3650.0),
             "removal": None}
_COLUMNS = ("section", "rule", "event", "value", "points", "window_days", "decay", "cap", "min_count", "label_zh",
            "label_en")
_RULE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,19}$")


def event_label(event: str, value: str) -> tuple[str, str]:
    """Labels (zh, en) of an event family's value.

    >>> event_label("accident", "major")
    ('重大事故', 'major accident')
    """
    return EVENTS[event][value]


@dataclass(frozen=True)
class EventRule:
    """``event``/``value`` gives ``points`` per event within ``window_days`` (decayed, capped)."""

    rule: str
    event: str
    value: str
    points: float
    window_days: int | None  # None: an ongoing condition
    decay: str  # none | linear
    cap: float | None
    label_zh: str
    label_en: str
    line: int


@dataclass(frozen=True)
class ListRule:
    """``min_count`` matching events within ``window_days`` (or a score below ``threshold``) list the enterprise."""

    rule: str
    event: str
    value: str | None
    window_days: int | None
    min_count: int
    threshold: float | None  # event score only
    label_zh: str
    label_en: str
    line: int


@dataclass(frozen=True)
class Grade:
    """A score of at least ``min_score`` is ``grade``."""

    grade: str
    min_score: float
    label_zh: str
    label_en: str
    line: int


@dataclass(frozen=True)
class Rules:
    """A validated credit rule table (see :func:`load_rules`)."""

    source: str
    sha256: str
    base: float
    floor: float
    ceiling: float
    quiet_days: int
    removal: str  # confirm | auto
    grades: tuple[Grade, ...]  # A, B, C (descending)
    events: tuple[EventRule, ...]
    blacklist: tuple[ListRule, ...]

    def event_rule(self, event: str, value: str) -> EventRule | None:
        """The event row matching ``event``/``value``, or None (the event gives no points)."""
        return self._by_key.get((event, value))

    @property
    def _by_key(self) -> dict[tuple[str, str], EventRule]:
        cached = self.__dict__.get("_keys")
        if cached is None:
            cached = {(r.event, r.value): r for r in self.events}
            object.__setattr__(self, "_keys", cached)
        return cached

    def max_window(self, event: str) -> int:
        """The longest window (days) any event or blacklist row of ``event`` uses (0 when none)."""
        days = [r.window_days or 0 for r in self.events if r.event == event]
        days += [r.window_days or 0 for r in self.blacklist if r.event == event]
        return max(days, default=0)

    def grade_of(self, score: float) -> str:
        """The grade band ``score`` falls in; a band's lowest score belongs to it.

        >>> rules = load_rules()
        >>> [rules.grade_of(x) for x in (100, 90, 89.99, 75, 60, 59.5, 0)]
        ['A', 'A', 'B', 'B', 'C', 'D', 'D']
        """
        for g in self.grades:
            if score >= g.min_score:
                return g.grade
        return "D"

    def clip(self, raw: float) -> float:
        """``raw`` clipped to [floor, ceiling].

        >>> load_rules().clip(-12.5), load_rules().clip(104), load_rules().clip(71.25)
        (0.0, 100.0, 71.25)
        """
        return min(max(raw, self.floor), self.ceiling)

    @property
    def version(self) -> str:
        """``source (sha256 …12)``: what explanations and stored scores name."""
        return f"{self.source} (sha256 {self.sha256[:12]})"


def _number(text: str, source: str, line: int, col: str, *, integer: bool = False,
            lo: float | None = None, hi: float | None = None) -> float:
    try:
        value = float(int(text)) if integer else float(text)
    except ValueError:
        raise fail(source, line, col, f"must be {'a whole number' if integer else 'a number'}, got {text!r}") \
            from None
    if not math.isfinite(value):
        raise fail(source, line, col, f"must be finite, got {text!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise fail(source, line, col, f"must be between {lo:g} and {hi:g}, got {text!r}")
    return value


def _event_value(row: dict, source: str, line: int, *, allow_score: bool) -> tuple[str, str | None]:
    event = row["event"]
    if event == "score" and allow_score:
        require_empty(row, ("value",), "for event score", source, line)
        return event, None
    if event not in EVENTS:
        known = ", ".join([*EVENTS, *(["score"] if allow_score else [])])
        raise fail(source, line, "event", f"unknown event {event!r}; known: {known}")
    if row["value"] not in EVENTS[event]:
        raise fail(source, line, "value", f"unknown value {row['value']!r} for event {event}; "
                                           f"allowed: {', '.join(EVENTS[event])}")
    return event, row["value"]


def _window(row: dict, event: str, source: str, line: int) -> int | None:
    if event in ONGOING or event == "score":
        require_empty(row, ("window_days",), f"for {event} (it counts while it lasts)", source, line)
        return None
    if not row["window_days"]:
        raise fail(source, line, "window_days", f"required for event {event} (events count within the last N days)")
    return int(_number(row["window_days"], source, line, "window_days", integer=True, lo=1, hi=3650))


def parse_rules(text: str, *, source: str = "rules") -> Rules:
    """Validate a rule table given as CSV text (see :func:`load_rules`).

    >>> head = ",".join(_COLUMNS)
    >>> base = ["setting,base,,,100,,,,,,", "setting,floor,,,0,,,,,,", "setting,ceiling,,,100,,,,,,",
    ...         "setting,quiet_days,,,365,,,,,,", "setting,removal,,confirm,,,,,,,",
    ...         "grade,A,,,90,,,,,甲,A", "grade,B,,,75,,,,,乙,B", "grade,C,,,60,,,,,丙,C"]
    >>> rules = parse_rules("\\n".join([head, *base, "event,F,enforcement,fine,-5,365,linear,20,,罚款,fine"]))
    >>> rules.event_rule("enforcement", "fine").points, rules.event_rule("accident", "major")
    (-5.0, None)
    >>> parse_rules("\\n".join([head, *base, "event,F,enforcement,fine,-5,,,,,罚款,fine"]), source="r.csv")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: r.csv:10.window_days: required for event enforcement (events count within the last N days)
    >>> parse_rules("# only a comment")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: rules:1.header: no header row: the file is empty
    """
    lines = read_rows(text, source, _COLUMNS)
    settings: dict[str, Any] = {}
    grades: dict[str, Grade] = {}
    events: list[EventRule] = []
    blacklist: list[ListRule] = []
    ids: dict[str, int] = {}
    keys: dict[tuple, int] = {}
    for line, row in lines:
        section, rule = row["section"], row["rule"]
        if section not in ("setting", "grade", "event", "blacklist"):
            raise fail(source, line, "section", f"unknown {section!r}; allowed: setting, grade, event, blacklist")
        if section == "setting":
            if rule not in _SETTINGS:
                raise fail(source, line, "rule", f"unknown setting {rule!r}; known: {', '.join(_SETTINGS)}")
            if rule in settings:
                raise fail(source, line, "rule", f"setting {rule} given twice")
            require_empty(row, ("event", "window_days", "decay", "cap", "min_count"), "on setting rows", source, line)
            if rule == "removal":
                require_empty(row, ("points",), "on the removal setting (the word goes in value)", source, line)
                if row["value"] not in ("confirm", "auto"):
                    raise fail(source, line, "value", f"removal is confirm or auto, got {row['value']!r}")
                settings[rule] = row["value"]
            else:
                require_empty(row, ("value",), f"on setting {rule} (the number goes in points)", source, line)
                if not row["points"]:
                    raise fail(source, line, "points", f"required: the value of {rule}")
                lo, hi = _SETTINGS[rule]
                settings[rule] = _number(row["points"], source, line, "points", integer=rule == "quiet_days",
                                         lo=lo, hi=hi)
            continue
        if not _RULE_ID.match(rule):
            raise fail(source, line, "rule", f"an id of letters, digits, _ or - (at most 20, starting with a "
                                              f"letter), got {rule!r}")
        if rule in ids:
            raise fail(source, line, "rule", f"id {rule} already used on line {ids[rule]}")
        ids[rule] = line
        labels = row_labels(row, source, line)
        if section == "grade":
            if rule not in ("A", "B", "C"):
                why = "D is every score below C: no row" if rule == "D" else f"unknown grade {rule!r}"
                raise fail(source, line, "rule", f"{why}; grade rows are A, B, C")
            require_empty(row, ("event", "value", "window_days", "decay", "cap", "min_count"), "on grade rows", source,
                   line)
            if not row["points"]:
                raise fail(source, line, "points", "required: the lowest score of the grade")
            grades[rule] = Grade(rule, _number(row["points"], source, line, "points"), *labels, line)
            continue
        if section == "event":
            event, value = _event_value(row, source, line, allow_score=False)
            require_empty(row, ("min_count",), "on event rows", source, line)
            if not row["points"]:
                raise fail(source, line, "points", "required on event rows (negative: a deduction)")
            points = _number(row["points"], source, line, "points", lo=-1000, hi=1000)
            if points == 0:
                raise fail(source, line, "points", "must not be 0 (leave the event out instead)")
            window = _window(row, event, source, line)
            decay = row["decay"] or "none"
            if decay not in ("none", "linear"):
                raise fail(source, line, "decay", f"none or linear, got {row['decay']!r}")
            if decay != "none" and window is None:
                raise fail(source, line, "decay", f"{event} has no window to decay over; leave decay empty")
            cap = None if not row["cap"] else _number(row["cap"], source, line, "cap", lo=0.01, hi=10000)
            key = ("event", event, value)
            if key in keys:
                raise fail(source, line, "value", f"event row for {event} = {value} given twice (line {keys[key]})")
            keys[key] = line
            events.append(EventRule(rule, event, value, points, window, decay, cap, *labels, line))
            continue
        event, value = _event_value(row, source, line, allow_score=True)
        require_empty(row, ("decay", "cap"), "on blacklist rows", source, line)
        window = _window(row, event, source, line)
        threshold = None
        if event == "score":
            require_empty(row, ("min_count",), "for event score", source, line)
            if not row["points"]:
                raise fail(source, line, "points", "required for event score: the score below which it lists")
            threshold = _number(row["points"], source, line, "points", lo=0, hi=1000)
        else:
            require_empty(row, ("points",), "on blacklist rows (but for event score)", source, line)
        min_count = 1
        if row["min_count"]:
            min_count = int(_number(row["min_count"], source, line, "min_count", integer=True, lo=1, hi=1000))
        blacklist.append(ListRule(rule, event, value, window, min_count, threshold, *labels, line))
    last = lines[-1][0] if lines else 1
    missing = [s for s in _SETTINGS if s not in settings]
    if missing:
        raise fail(source, last, "rule", f"no setting row for {', '.join(missing)}")
    missing = [g for g in ("A", "B", "C") if g not in grades]
    if missing:
        raise fail(source, last, "rule", f"no grade row for {', '.join(missing)}")
    if not settings["floor"] <= settings["base"] <= settings["ceiling"] or settings["floor"] == settings["ceiling"]:
        raise fail(source, last, "points", f"settings must satisfy floor ({settings['floor']:g}) <= base "
                                            f"({settings['base']:g}) <= ceiling ({settings['ceiling']:g}), "
                                            "floor below ceiling")
    a, b, c = grades["A"], grades["B"], grades["C"]
    for hi, lo in ((a, b), (b, c)):
        if not hi.min_score > lo.min_score:
            raise fail(source, hi.line, "points", f"grade {hi.grade} ({hi.min_score:g}) must be above grade "
                                                   f"{lo.grade} ({lo.min_score:g})")
    for g in (a, b, c):
        if not settings["floor"] < g.min_score <= settings["ceiling"]:
            raise fail(source, g.line, "points", f"grade {g.grade} ({g.min_score:g}) must lie above the floor "
                                                  f"({settings['floor']:g}) and at most the ceiling "
                                                  f"({settings['ceiling']:g})")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Rules(source, digest, settings["base"], settings["floor"], settings["ceiling"], int(settings["quiet_days"]),
                 settings["removal"], (a, b, c), tuple(events), tuple(blacklist))


@lru_cache(maxsize=1)
def _default_rules() -> Rules:
    return parse_rules(RULES_PATH.read_text(encoding="utf-8"), source=RULES_PATH.name)


def load_rules(path: str | Path | None = None) -> Rules:
    """Read and validate a credit rule table (default: :data:`RULES_PATH`).

    Refuses, with :class:`~geo.errors.InvalidInput` naming ``file:line.column``:
    a wrong header or field count, an unknown section, setting, event, value,
    decay or grade, a rule id that is malformed or used twice, an event row given
    twice, a non-number or out-of-range number, zero points, a missing or extra
    window, a decay without a window, a missing label, a missing setting or
    grade, settings out of order (floor <= base <= ceiling) and grades that do
    not decrease A > B > C inside (floor, ceiling].
    """
    if path is None:
        return _default_rules()
    return read_file(path, parse_rules)


def rules_json(rules: Rules) -> dict[str, Any]:
    """The rule table as JSON (``GET /credit/rules``)."""
    return {
        "source": rules.source, "sha256": rules.sha256, "note": NOTE,
        "settings": {"base": json_number(rules.base), "floor": json_number(rules.floor), "ceiling": json_number(rules.ceiling),
                     "quiet_days": rules.quiet_days, "removal": rules.removal},
        "grades": [{"grade": g.grade, "min_score": json_number(g.min_score), "label_zh": g.label_zh,
                    "label_en": g.label_en} for g in rules.grades]
        + [{"grade": "D", "min_score": json_number(rules.floor), "label_zh": "D级（严重失信）：C级以下，或列入黑名单",
            "label_en": "D (seriously untrustworthy): below C, or on the blacklist"}],
        "events": [{"rule": r.rule, "event": r.event, "value": r.value, "points": json_number(r.points),
                    "window_days": r.window_days, "decay": r.decay, "cap": json_number(r.cap), "label_zh": r.label_zh,
                    "label_en": r.label_en} for r in rules.events],
        "blacklist": [{"rule": r.rule, "event": r.event, "value": r.value, "window_days": r.window_days,
                       "min_count": r.min_count, "score_below": json_number(r.threshold), "label_zh": r.label_zh,
                       "label_en": r.label_en} for r in rules.blacklist],
        "vocabulary": {event: {k: {"zh": zh, "en": en} for k, (zh, en) in values.items()}
                       for event, values in EVENTS.items()},
    }


def rules_markdown(rules: Rules | None = None) -> str:
    """The default rule table as Markdown (docs/WORKFLOWS.md embeds it; a test keeps the two equal)."""
    rules = rules or load_rules()
    out = [f"Base {json_number(rules.base)}, clipped to [{json_number(rules.floor)}, {json_number(rules.ceiling)}]; grades "
           + ", ".join(f"{g.grade} ≥ {json_number(g.min_score)}" for g in rules.grades)
           + f", D below (and every listed enterprise); removal: {rules.removal} after {rules.quiet_days} quiet days.",
           "", "| rule | event | value | points | window (days) | decay | cap | meaning |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rules.events:
        window = "while it lasts" if r.window_days is None else str(r.window_days)
        out.append(f"| {r.rule} | {r.event} | {r.value} | {json_number(r.points):+} | {window} | {r.decay} | "
                   f"{'–' if r.cap is None else json_number(r.cap)} | {r.label_zh} / {r.label_en} |")
    out += ["", "| blacklist rule | condition | window (days) | at least | meaning |", "|---|---|---|---|---|"]
    for r in rules.blacklist:
        cond = f"score < {json_number(r.threshold)}" if r.event == "score" else f"{r.event} = {r.value}"
        window = "–" if r.window_days is None else str(r.window_days)
        out.append(f"| {r.rule} | {cond} | {window} | {r.min_count} | {r.label_zh} / {r.label_en} |")
    return "\n".join(out)
