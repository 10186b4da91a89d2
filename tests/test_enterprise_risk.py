"""Four-colour enterprise risk: the rule table, each factor, colours, overrides, writes, events, HTTP, CLI.

Scoring tests run on a database of this module's own (regions loaded), each in
a transaction rolled back at the end; the write/event tests commit there (on
enterprises of their own). HTTP tests read the shared ``world`` and change
nothing in it.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from typer.testing import CliRunner

from api import enterprise_risk_cli
from api.enterprise_risk_cli import enterprise_risk_app
from data.demo_records import add_demo_records
from geo.context import RequestContext, apply_context
from geo.db import libpq_dsn, make_engine
from geo.errors import InvalidInput, NotFound
from geo.events import Listener
from geo.h3grid import cell_boundaries, lonlat_to_cells
from layers.enterprise_risk import (
    COLOURS,
    FACTORS,
    RULES_PATH,
    explain,
    load_rules,
    parse_rules,
    rules_json,
    score_enterprises,
)
from tests.conftest import XH, ZH, _at, regions_database, world_uscc

TODAY = date(2026, 6, 30)
RULES = load_rules()
_SERIAL = itertools.count(700_001)


def pts(factor: str, value) -> float:
    """Points the default rule table gives for one matching row."""
    return next(r.points for r in RULES.rows(factor) if r.value == value)


# ------------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def rdb(throwaway):
    return regions_database(throwaway)


@pytest.fixture(scope="module")
def owner(rdb):
    engine = make_engine(rdb.owner_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app_engine(rdb):
    engine = make_engine(rdb.app_url)
    yield engine
    engine.dispose()


@pytest.fixture
def rc(owner):
    """An owner connection on the module's database, rolled back after the test."""
    with owner.connect() as conn:
        trans = conn.begin()
        yield conn
        trans.rollback()


def ent(c, point=ZH, county="330211", *, synthetic: bool = False) -> int:
    return c.execute(text(
        "INSERT INTO enterprises (uscc, name, industry, scale, data_source, geom) "
        f"VALUES (:u, :n, 'hazchem_storage', 'small', :src, {_at(point)}) RETURNING id"),
        {"u": world_uscc(next(_SERIAL), county), "n": f"风险测试企业{next(_SERIAL)}",
         "src": "synthetic" if synthetic else "registry"}).scalar_one()


def unit(c, e: int, *, grade=None, s=None, major=None, point=ZH) -> int:
    return c.execute(text(
        "INSERT INTO hazard_units (enterprise_id, name, kind, s, grade, is_major, geom) "
        f"VALUES (:e, '储罐区', 'storage', :s, :g, :m, {_at(point, 30, 0)}) RETURNING id"),
        {"e": e, "s": s, "g": grade, "m": major if major is not None else (grade is not None or None)}).scalar_one()


def danger(c, e: int, *, level="general", status="reported", deadline=None, point=ZH) -> int:
    closed = TODAY - timedelta(days=1) if status == "closed" else None
    return c.execute(text(
        "INSERT INTO hidden_dangers (enterprise_id, title, category, level, status, found_on, deadline, closed_on, "
        f"geom) VALUES (:e, '消防通道堵塞', 'fire', :l, :st, :f, :d, :cl, {_at(point, 10, 180)}) RETURNING id"),
        {"e": e, "l": level, "st": status, "f": TODAY - timedelta(days=200), "d": deadline, "cl": closed},
    ).scalar_one()


def record(c, e: int, kind: str, severity: str, occurred_on: date) -> int:
    return c.execute(text(
        "INSERT INTO enterprise_records (enterprise_id, kind, severity, occurred_on, source) "
        "VALUES (:e, :k, :s, :d, 'test') RETURNING id"), {"e": e, "k": kind, "s": severity, "d": occurred_on},
    ).scalar_one()


def target(c, point, *, removed: bool = False) -> tuple[float, float]:
    status, valid_to = ("removed", "now()") if removed else ("active", "NULL")
    return tuple(c.execute(text(
        "INSERT INTO protection_targets (name, kind, category, population, status, valid_to, geom) "
        f"VALUES ('测试小学', 'school', 'high_sensitivity', 500, :st, {valid_to}, {point}) "
        "RETURNING ST_X(geom), ST_Y(geom)"), {"st": status}).one())


def cell(c, lonlat: tuple[float, float], ir_per_year: float) -> None:
    h3 = lonlat_to_cells(lonlat[0], lonlat[1], 9)
    c.execute(text("INSERT INTO risk_cells (res, h3, ir_fe15, adcode, geom) "
                   "VALUES (9, :h, :ir, '330211', ST_GeomFromText(:g, 4326))"),
              {"h": int(h3), "ir": round(ir_per_year * 1e15), "g": shapely.to_wkt(cell_boundaries(h3))})


def score(c, e: int, rules=None, today: date = TODAY):
    summary = score_enterprises(c, [e], rules=rules, today=today)
    colour, value, factors = c.execute(text(
        "SELECT risk_colour, risk_score, risk_factors FROM enterprises WHERE id = :e"), {"e": e}).one()
    return summary, colour, value, factors


def factor(c, e: int, name: str, today: date = TODAY) -> dict:
    return next(f for f in explain(c, e, today=today)["factors"] if f["factor"] == name)


# ------------------------------------------------------------------------------------------------ the rule table

def test_default_rules_load_and_are_described():
    assert [t.colour for t in RULES.thresholds] == ["red", "orange", "yellow"]
    assert RULES.thresholds[0].min_score > RULES.thresholds[1].min_score > RULES.thresholds[2].min_score
    assert {r.factor for r in RULES.score} == set(FACTORS)
    body = rules_json(RULES)
    assert [c["colour"] for c in body["colours"]] == list(COLOURS)
    assert {f["factor"] for f in body["factors"]} == set(FACTORS)
    assert "not a national" in body["note"]
    header = RULES_PATH.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("#") and "NOT A NATIONAL" in RULES_PATH.read_text(encoding="utf-8")


def test_doctests_of_the_module():
    import doctest

    import layers.enterprise_risk as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


HEADER = "section,factor,value,points,cap,window_days,min_count,colour,label_zh,label_en"
BASE = [
    "score,open_dangers,general,1,,,,,一般,general",
    "score,open_dangers,major,2.5,,,,,重大,major",
    "colour,,,6,,,,red,红,red",
    "colour,,,4,,,,orange,橙,orange",
    "colour,,,2,,,,yellow,黄,yellow",
]


def _table(*rows: str, header: str = HEADER) -> str:
    return "\n".join(["# a test rule table", header, *rows]) + "\n"


@pytest.mark.parametrize(("rows", "where", "words"), [
    ([*BASE, "score,no_such_factor,1,5,,,,,x,x"], "8.factor", "unknown factor"),
    ([*BASE, "score,accident,ordinary,-5,,365,,,x,x"], "8.points", ">= 0"),
    ([*BASE, "score,accident,ordinary,nan,,365,,,x,x"], "8.points", "finite"),
    ([*BASE, "score,accident,ordinary,5,,,,,x,x"], "8.window_days", "required"),
    ([*BASE, "score,inventory_s,10,5,,30,,,x,x"], "8.window_days", "only record factors"),
    ([*BASE, "score,major_hazard_grade,5,5,,,,,x,x"], "8.value", "1 (most severe) to 4"),
    ([*BASE, "score,open_dangers,minor,5,,,,,x,x"], "8.value", "allowed: major, general"),
    ([*BASE, "score,open_dangers,general,3,,,,,x,x"], "8.value", "given twice"),
    ([*BASE, "score,overdue_dangers,general,3,10,,,,x,x", "score,overdue_dangers,major,3,20,,,,x,x"], "9.cap",
     "one cap"),
    ([*BASE, "score,inventory_s,10,5,30,,,,x,x"], "8.cap", "only counted factors"),
    ([*BASE, "score,inventory_s,10,5,,,,,,x"], "8.label_zh", "required"),
    ([*BASE, "bonus,inventory_s,10,5,,,,,x,x"], "8.section", "unknown 'bonus'"),
    ([*BASE, "override,credit,dishonest,,,730,2,orange,x,x"], "8.min_count", "only counted"),
    ([*BASE, "override,accident,major,,,365,,purple,x,x"], "8.colour", "purple"),
    (BASE[:2] + ["colour,,,-6,,,,red,红,red"] + BASE[3:], "5.points", ">= 0"),
    (BASE[:2] + ["colour,,,3,,,,red,红,red"] + BASE[3:], "5.points", "must be above"),
    (BASE[:4], "6.colour", "no colour row for yellow"),
    ([*BASE, "colour,,,0,,,,blue,蓝,blue"], "8.colour", "blue is every score below yellow"),
    ([*BASE, "score,open_dangers"], "8.row", "expected 10"),
])
def test_bad_rule_tables_are_refused_naming_line_and_field(rows, where, words):
    with pytest.raises(InvalidInput) as err:
        parse_rules(_table(*rows), source="bad.csv")
    assert err.value.field == f"bad.csv:{where}", err.value
    assert words in err.value.reason, err.value


def test_bad_header_and_empty_file_are_refused(tmp_path):
    with pytest.raises(InvalidInput, match="columns must be"):
        parse_rules(_table(*BASE, header="section,factor,value,points"), source="x.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("# nothing here\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="empty"):
        load_rules(empty)
    with pytest.raises(InvalidInput) as err:
        load_rules(tmp_path / "missing.csv")
    assert err.value.field == "rules"


# ------------------------------------------------------------------------------------------------ factors

def test_an_enterprise_with_nothing_is_blue_with_no_factors(rc):
    e = ent(rc)
    summary, colour, value, factors = score(rc, e)
    assert (summary.assessed, summary.changed) == (1, 1)
    assert (colour, value, factors) == ("blue", 0, [])


@pytest.mark.parametrize("grade", [1, 2, 3, 4])
def test_major_hazard_grade_gives_its_points(rc, grade):
    e = ent(rc)
    unit(rc, e, grade=grade)
    unit(rc, e, grade=None, major=False)  # a non-major unit changes nothing
    _, _, value, factors = score(rc, e)
    assert value == pts("major_hazard_grade", grade)
    assert factors[0]["factor"] == "major_hazard_grade" and factors[0]["points"] == value


def test_the_most_severe_grade_counts_and_ungraded_major_counts_as_4(rc):
    e = ent(rc)
    unit(rc, e, grade=3)
    unit(rc, e, grade=2)
    assert score(rc, e)[2] == pts("major_hazard_grade", 2)
    e2 = ent(rc)
    unit(rc, e2, grade=None, major=True)
    assert score(rc, e2)[2] == pts("major_hazard_grade", 4)
    assert "未分级" in factor(rc, e2, "major_hazard_grade")["detail"]


@pytest.mark.parametrize(("s_values", "step"), [([4.0, 6.0], 10.0), ([4.0, 5.999], 1.0), ([60.0, 45.0], 100.0),
                                                ([0.5], None)])
def test_inventory_s_sum_reaches_its_step(rc, s_values, step):
    e = ent(rc)
    for s in s_values:
        unit(rc, e, s=s, major=False)
    expected = 0 if step is None else pts("inventory_s", step)
    assert score(rc, e)[2] == expected


def test_a_decommissioned_unit_does_not_count(rc):
    e = ent(rc)
    u = unit(rc, e, grade=1, s=20.0)
    rc.execute(text("UPDATE hazard_units SET status = 'decommissioned', valid_to = now() WHERE id = :u"), {"u": u})
    assert score(rc, e)[2] == 0


def test_individual_risk_without_a_surface_scores_0_and_says_so(rc):
    e = ent(rc)
    target(rc, _at(ZH, 300, 45))
    f = factor(rc, e, "individual_risk")
    assert f["points"] == 0 and f["detail_en"] == "no risk surface yet"
    assert any("no risk surface yet" in n for n in score_enterprises(rc, [e], today=TODAY).notes)


def test_individual_risk_at_a_nearby_target_counts_and_far_or_removed_ones_do_not(rc):
    e = ent(rc)
    near = target(rc, _at(ZH, 300, 45))
    far = target(rc, _at(ZH, 2000, 90))
    gone = target(rc, _at(ZH, 600, 200), removed=True)
    cell(rc, near, 5e-6)
    cell(rc, far, 1e-3)
    cell(rc, gone, 1e-3)
    _, _, value, factors = score(rc, e)
    assert value == pts("individual_risk", 3e-6)
    assert factors[0]["factor"] == "individual_risk" and "测试小学" in factors[0]["detail"]


@pytest.mark.parametrize(("dangers", "expected"), [
    ([("general", "reported", None)], lambda: pts("open_dangers", "general")),
    ([("major", "rectifying", None)], lambda: pts("open_dangers", "major")),
    ([("major", "closed", None)], lambda: 0),
    ([("major", "rectifying", TODAY - timedelta(days=1))],
     lambda: pts("open_dangers", "major") + pts("overdue_dangers", "major")),
    ([("general", "submitted", TODAY - timedelta(days=1))],
     lambda: pts("open_dangers", "general") + pts("overdue_dangers", "general")),
    # verified as rectified but not yet closed (销号): still open, no longer overdue
    ([("general", "verified", TODAY - timedelta(days=1))], lambda: pts("open_dangers", "general")),
    ([("general", "reported", TODAY)], lambda: pts("open_dangers", "general")),  # due today: not overdue
    ([("major", "reported", None)] * 5, lambda: RULES.cap("open_dangers")),  # capped
])
def test_hidden_dangers_open_overdue_and_major_weigh_as_the_table_says(rc, dangers, expected):
    e = ent(rc)
    for level, status, deadline in dangers:
        danger(rc, e, level=level, status=status, deadline=deadline)
    assert score(rc, e)[2] == expected()


@pytest.mark.parametrize(("days_ago", "counts"), [(0, True), (1094, True), (1095, False), (-1, False)])
def test_accident_counts_within_its_window(rc, days_ago, counts):
    e = ent(rc)
    record(rc, e, "accident", "ordinary", TODAY - timedelta(days=days_ago))
    assert score(rc, e)[2] == (pts("accident", "ordinary") if counts else 0)


def test_enforcement_counts_and_a_withdrawn_record_does_not(rc):
    e = ent(rc)
    record(rc, e, "enforcement", "fine", TODAY - timedelta(days=30))
    withdrawn = record(rc, e, "enforcement", "suspension", TODAY - timedelta(days=30))
    rc.execute(text("UPDATE enterprise_records SET valid_to = now() WHERE id = :r"), {"r": withdrawn})
    assert score(rc, e)[2] == pts("enforcement", "fine")


def test_the_latest_credit_rating_counts(rc):
    e = ent(rc)
    record(rc, e, "credit", "D", TODAY - timedelta(days=400))
    record(rc, e, "credit", "A", TODAY - timedelta(days=10))
    assert score(rc, e)[2] == pts("credit", "A")
    assert "A" in factor(rc, e, "credit")["detail_en"]
    e2 = ent(rc)
    record(rc, e2, "credit", "C", TODAY - timedelta(days=10))
    assert score(rc, e2)[2] == pts("credit", "C")


def test_no_open_alarm_scores_0(rc):
    e = ent(rc)
    f = factor(rc, e, "active_alarms")
    assert f["points"] == 0 and "no active alarm" in f["detail_en"]


def test_alarms_without_a_table_score_0_with_no_telemetry(rc):
    e = ent(rc)
    rc.execute(text("CREATE TEMP TABLE alarms (id serial) ON COMMIT DROP"))  # hides the real one: no usable columns
    f = factor(rc, e, "active_alarms")
    assert f["points"] == 0 and "no telemetry" in f["detail_en"]


def test_active_alarms_are_counted_when_an_alarms_table_exists(rc):
    e, other = ent(rc), ent(rc)
    rc.execute(text("CREATE TEMP TABLE alarms (id serial, enterprise_id bigint, status text) ON COMMIT DROP"))
    rc.execute(text("INSERT INTO alarms (enterprise_id, status) VALUES (:e, 'active'), (:e, 'active'), "
                    "(:e, 'cleared'), (:o, 'active')"), {"e": e, "o": other})
    assert score(rc, e)[2] == 2 * pts("active_alarms", "active")


def test_alarms_by_sensor_reach_the_enterprise_through_its_unit(rc):
    e = ent(rc)
    u = unit(rc, e, major=False)
    sensor = rc.execute(text(
        "INSERT INTO sensors (code, hazard_unit_id, kind, unit, geom) "
        f"VALUES ('risk-test-1', :u, 'toxic_gas', 'ppm', {_at(ZH, 30, 0)}) RETURNING id"), {"u": u}).scalar_one()
    rc.execute(text("CREATE TEMP TABLE alarms (id serial, sensor_id bigint, status text) ON COMMIT DROP"))
    rc.execute(text("INSERT INTO alarms (sensor_id, status) VALUES (:s, 'active')"), {"s": sensor})
    assert score(rc, e)[2] == pts("active_alarms", "active")


# ------------------------------------------------------------------------------------------------ colours

@pytest.mark.parametrize(("n", "colour"), [(0, "blue"), (1, "blue"), (2, "yellow"), (3, "yellow"), (4, "orange"),
                                           (5, "orange"), (6, "red"), (7, "red")])
def test_colour_thresholds_at_their_exact_boundaries(rc, n, colour):
    rules = parse_rules(_table(*BASE), source="t.csv")
    e = ent(rc)
    for _ in range(n):
        danger(rc, e)
    _, got, value, _ = score(rc, e, rules=rules)
    assert (value, got) == (n, colour)


def test_fractional_points_just_below_a_threshold_stay_below(rc):
    rules = parse_rules(_table(*BASE), source="t.csv")
    e = ent(rc)
    danger(rc, e, level="major")  # 2.5
    danger(rc, e, level="general")  # 3.5
    assert score(rc, e, rules=rules)[1:3] == ("yellow", 3.5)
    danger(rc, e, level="general")  # 4.5
    assert score(rc, e, rules=rules)[1:3] == ("orange", 4.5)


@pytest.mark.parametrize(("build", "by_score", "final"), [
    (lambda c, e: unit(c, e, grade=4), "blue", "yellow"),  # a major hazard: at least yellow
    (lambda c, e: record(c, e, "accident", "major", TODAY - timedelta(days=100)), "orange", "red"),
    (lambda c, e: [record(c, e, "accident", "larger", TODAY - timedelta(days=d)) for d in (100, 700)],
     "orange", "red"),  # two larger accidents in 3 years
    (lambda c, e: record(c, e, "accident", "larger", TODAY - timedelta(days=100)), "yellow", "yellow"),
    (lambda c, e: danger(c, e, level="major", deadline=TODAY - timedelta(days=3)), "yellow", "orange"),
    (lambda c, e: record(c, e, "credit", "dishonest", TODAY - timedelta(days=3)), "yellow", "orange"),
])
def test_overrides_raise_the_colour_and_say_why(rc, build, by_score, final):
    e = ent(rc)
    build(rc, e)
    _, colour, value, factors = score(rc, e)
    assert RULES.colour_of(value) == by_score
    assert colour == final
    raised = [f for f in factors if f["factor"] == "override"]
    assert bool(raised) == (final != by_score)
    if raised:
        assert raised[0]["override"] == final and raised[0]["points"] == 0


def test_top_factors_are_stored_sorted_by_points(rc):
    e = ent(rc)
    unit(rc, e, grade=2, s=12.0)  # grade 30, S 10
    for _ in range(3):
        danger(rc, e)  # 3 × 2
    record(rc, e, "enforcement", "fine", TODAY - timedelta(days=10))  # 5
    record(rc, e, "credit", "C", TODAY - timedelta(days=10))  # 5
    record(rc, e, "accident", "ordinary", TODAY - timedelta(days=10))  # 10
    _, _, value, factors = score(rc, e)
    points = [f["points"] for f in factors]
    assert len(factors) == 5 and points == sorted(points, reverse=True)
    assert [f["factor"] for f in factors] == ["major_hazard_grade", "inventory_s", "accident", "open_dangers",
                                              "enforcement"]  # ties in the order of FACTORS; credit is 6th
    assert value == sum(points) + pts("credit", "C")
    for f in factors:
        assert f["label_zh"] and f["label_en"] and f["detail"] and f["detail_en"]


def test_explain_gives_every_factor_and_404_for_unknown(rc):
    e = ent(rc)
    unit(rc, e, grade=1, s=2.0)
    out = explain(rc, e, today=TODAY)
    assert {f["factor"] for f in out["factors"]} == set(FACTORS)
    assert out["score"] == pts("major_hazard_grade", 1) + pts("inventory_s", 1.0)
    assert out["current"] is False and out["stored"]["colour"] is None
    score(rc, e)
    assert explain(rc, e, today=TODAY)["current"] is True
    with pytest.raises(NotFound):
        explain(rc, 2**62, today=TODAY)


# ------------------------------------------------------------------------------------------------ writes

def _audit_rows(c, e: int) -> int:
    return c.execute(text("SELECT count(*) FROM audit_log WHERE table_name = 'enterprises' AND row_key = :k"),
                     {"k": str(e)}).scalar_one()


def test_unchanged_enterprises_are_not_rewritten(rc):
    e = ent(rc)
    danger(rc, e, level="major")
    first = score(rc, e)[0]
    before = _audit_rows(rc, e)
    version = rc.execute(text("SELECT version FROM enterprises WHERE id = :e"), {"e": e}).scalar_one()
    again = score_enterprises(rc, [e], today=TODAY)
    assert (first.changed, again.changed) == (1, 0)
    assert _audit_rows(rc, e) == before
    assert rc.execute(text("SELECT version FROM enterprises WHERE id = :e"), {"e": e}).scalar_one() == version
    danger(rc, e, level="major")  # an input changed: written once more
    assert score_enterprises(rc, [e], today=TODAY).changed == 1
    assert _audit_rows(rc, e) == before + 1


def test_dry_run_writes_nothing(rc):
    e = ent(rc)
    danger(rc, e, level="major")
    summary = score_enterprises(rc, [e], today=TODAY, dry_run=True)
    assert summary.changed == 1 and summary.dry_run
    assert rc.execute(text("SELECT risk_colour FROM enterprises WHERE id = :e"), {"e": e}).scalar() is None


def test_a_colour_change_is_audited_and_announced(owner, rdb):
    listener = Listener(libpq_dsn(rdb.app_url), poll_s=0.05)
    assert listener.start(wait_s=10)
    try:
        mine = listener.subscribe(RequestContext(role="county", jurisdiction="330211", actor="t"),
                                  kinds=("enterprise.risk_colour_changed",))
        other = listener.subscribe(RequestContext(role="county", jurisdiction="330106", actor="t"),
                                   kinds=("enterprise.risk_colour_changed",))
        with owner.begin() as c:
            e = ent(c)
            record(c, e, "accident", "major", TODAY - timedelta(days=5))
        with owner.begin() as c:
            assert score_enterprises(c, [e], today=TODAY).transitions == {"none->red": 1}
        event = None
        for _ in range(50):
            got = mine.get(timeout=10)
            assert got is not None, "no enterprise.risk_colour_changed event arrived"
            if not got.is_resync and got.id == e:
                event = got
                break
        assert event.kind == "enterprise.risk_colour_changed" and event.display["risk_colour"] == "red"
        assert all(ev is None or ev.is_resync or ev.id != e for ev in [other.get(timeout=0.3)])
    finally:
        listener.stop()
    with owner.connect() as c:
        before, after = c.execute(text(
            "SELECT before, after FROM audit_log WHERE table_name = 'enterprises' AND row_key = :k AND op = 'UPDATE' "
            "ORDER BY seq DESC LIMIT 1"), {"k": str(e)}).one()
    assert before["risk_colour"] is None and after["risk_colour"] == "red"
    assert after["risk_factors"][0]["factor"] == "accident"


# ------------------------------------------------------------------------------------------------ records table

def test_record_adcode_comes_from_the_enterprise(rc):
    e = ent(rc)
    rid = rc.execute(text("INSERT INTO enterprise_records (enterprise_id, kind, severity, occurred_on, source, "
                          "adcode) VALUES (:e, 'credit', 'B', DATE '2026-01-01', 'test', '330106') RETURNING id"),
                     {"e": e}).scalar_one()
    assert rc.execute(text("SELECT adcode FROM enterprise_records WHERE id = :r"), {"r": rid}).scalar() == "330211"


@pytest.mark.parametrize(("kind", "severity"), [("accident", "A"), ("credit", "major"), ("rumour", "major")])
def test_record_severity_must_fit_its_kind(rc, kind, severity):
    e = ent(rc)
    with pytest.raises(IntegrityError, match="check constraint"):
        record(rc, e, kind, severity, TODAY)


def test_records_are_never_deleted(rc):
    e = ent(rc)
    r = record(rc, e, "credit", "B", TODAY)
    with pytest.raises(DBAPIError, match="never deleted"):
        rc.execute(text("DELETE FROM enterprise_records WHERE id = :r"), {"r": r})


@pytest.fixture(scope="module")
def two_counties(owner):
    """Committed: an enterprise in Zhenhai (330211) and one in Xihu (330106)."""
    with owner.begin() as c:
        return {"zh": ent(c), "xh": ent(c, XH, "330106")}


@contextmanager
def _as(app_engine, role: str, jurisdiction: str, enterprise_id: int | None = None):
    """An app-role connection with a request context, in a transaction rolled back afterwards."""
    with app_engine.connect() as conn:
        trans = conn.begin()
        apply_context(conn, RequestContext(role=role, jurisdiction=jurisdiction, actor="t",
                                           enterprise_id=enterprise_id))
        try:
            yield conn
        finally:
            trans.rollback()


def test_regulators_write_records_of_their_jurisdiction_only(app_engine, two_counties):
    with _as(app_engine, "county", "330211") as c:
        record(c, two_counties["zh"], "enforcement", "fine", TODAY)
        with pytest.raises(ProgrammingError, match="row-level security"):
            record(c, two_counties["xh"], "enforcement", "fine", TODAY)


def test_an_enterprise_reads_its_records_but_never_writes_them(owner, app_engine, two_counties):
    e = two_counties["zh"]
    with owner.begin() as c:
        record(c, e, "credit", "B", TODAY - timedelta(days=1))
    with _as(app_engine, "enterprise", "330211", e) as c:
        seen = c.execute(text("SELECT count(*) FROM enterprise_records WHERE enterprise_id = :e"), {"e": e}).scalar()
        assert seen >= 1
        with pytest.raises(ProgrammingError, match="row-level security"):
            record(c, e, "credit", "A", TODAY)
    with _as(app_engine, "county", "330106") as c:
        assert c.execute(text("SELECT count(*) FROM enterprise_records WHERE enterprise_id = :e"),
                         {"e": e}).scalar() == 0


def test_explain_under_rls_is_404_for_another_jurisdiction(app_engine, two_counties):
    with _as(app_engine, "county", "330106") as c:
        with pytest.raises(NotFound):
            explain(c, two_counties["zh"], today=TODAY)
        assert explain(c, two_counties["xh"], today=TODAY)["enterprise_id"] == two_counties["xh"]


# ------------------------------------------------------------------------------------------------ demo records

def test_demo_records_are_deterministic_and_added_once(owner):
    runs = []
    for _ in range(2):
        with owner.connect() as c, c.begin() as trans:
            made = [ent(c, synthetic=True) for _ in range(30)]
            counts = add_demo_records(c, fraction=0.5, seed=7, today=TODAY)
            assert counts and sum(counts.values()) >= 1
            assert add_demo_records(c, fraction=0.5, seed=7, today=TODAY) == {}
            rows = c.execute(text(
                "SELECT enterprise_id - :first, kind, severity, occurred_on, data_source FROM enterprise_records "
                "WHERE enterprise_id = ANY(:ids) ORDER BY 1, 2, 3, 4"), {"first": made[0], "ids": made}).all()
            assert {r[4] for r in rows} == {"synthetic"}
            runs.append(rows)
            trans.rollback()
    assert runs[0] == runs[1]


def test_demo_records_refuse_a_bad_fraction(owner):
    with pytest.raises(InvalidInput, match="fraction"):
        add_demo_records(owner, fraction=1.5)


# ------------------------------------------------------------------------------------------------ HTTP

def test_risk_of_a_visible_enterprise_is_200_and_of_another_jurisdiction_404(wclient):
    e1 = wclient.world.ids["E1"]
    r = wclient.get(f"/enterprises/{e1}/risk", headers=wclient.as_["zhenhai"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["enterprise_id"] == e1 and body["colour"] in COLOURS
    assert {f["factor"] for f in body["factors"]} == set(FACTORS)
    grade = next(f for f in body["factors"] if f["factor"] == "major_hazard_grade")
    assert grade["points"] == pts("major_hazard_grade", 1)  # H1 is a grade-1 major hazard
    assert "stored" in body and "rules" in body
    for who in ("xihu", "public"):
        assert wclient.get(f"/enterprises/{e1}/risk", headers=wclient.as_[who]).status_code == 404
    assert wclient.get(f"/enterprises/{2**62}/risk", headers=wclient.as_["province"]).status_code == 404
    assert wclient.get("/enterprises/0/risk", headers=wclient.as_["province"]).status_code == 422


def test_rules_endpoint(wclient):
    r = wclient.get("/risk/rules")
    assert r.status_code == 200
    body = r.json()
    assert [c["colour"] for c in body["colours"]] == list(COLOURS)
    assert body["sha256"] == RULES.sha256


def test_enterprise_item_shows_read_only_risk_fields(wclient):
    e1 = wclient.world.ids["E1"]
    h = wclient.as_["zhenhai"]
    item = wclient.get(f"/enterprises/{e1}", headers=h).json()
    assert "risk_score" in item and "risk_factors" in item
    r = wclient.patch(f"/enterprises/{e1}", json={"risk_score": 1}, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 422


# ------------------------------------------------------------------------------------------------ CLI

@pytest.fixture
def cli_db(monkeypatch, rdb):
    monkeypatch.setattr(enterprise_risk_cli, "_engine", lambda: make_engine(rdb.owner_url))


def test_cli_colours_dry_run_and_real_run(cli_db, owner):
    runner = CliRunner()
    with owner.begin() as c:
        e = ent(c)
        record(c, e, "accident", "major", date.today() - timedelta(days=3))
    dry = runner.invoke(enterprise_risk_app, ["colours", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would change" in dry.output and "red" in dry.output
    with owner.connect() as c:
        assert c.execute(text("SELECT risk_colour FROM enterprises WHERE id = :e"), {"e": e}).scalar() is None
    real = runner.invoke(enterprise_risk_app, ["colours"])
    assert real.exit_code == 0, real.output
    assert "assessed" in real.output and "->red" in real.output
    with owner.connect() as c:
        assert c.execute(text("SELECT risk_colour FROM enterprises WHERE id = :e"), {"e": e}).scalar() == "red"
    again = runner.invoke(enterprise_risk_app, ["colours"])
    assert again.exit_code == 0 and "changed 0 " in again.output


def test_cli_bad_input_exits_2_with_one_line(cli_db, tmp_path):
    bad = tmp_path / "rules.csv"
    bad.write_text(_table(*BASE, "score,accident,ordinary,-5,,365,,,x,x"), encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(enterprise_risk_app, ["colours", "--rules", str(bad)])
    assert out.exit_code == 2
    assert out.stderr.strip() == "error: rules.csv:8.points: must be >= 0, got '-5'"
    out = runner.invoke(enterprise_risk_app, ["colours", "--today", "2026-02-30"])
    assert out.exit_code == 2 and out.stderr.startswith("error: today:")
