"""Enterprise credit and the blacklist (诚信管理 / 严重失信主体名单), on a throwaway PostGIS.

The scoring is checked against hand-computed examples (pure, no database);
the workflow end to end over HTTP on the hidden-danger loop's module world
(regions, enterprises in Zhenhai 330211, Beilun 330206 and Xihu 330106, one
user per role: its ``loop`` fixture is reused here, in a database of this
module). Each test makes its own enterprises so tests do not see each other's
scores; time travel is ``as_of`` (events dated in the past), never sleeping.
"""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
import json
import threading
import time
from pathlib import Path

import mapbox_vector_tile
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from geo.audit import verify_chain
from geo.context import apply_context
from geo.db import libpq_dsn, make_engine
from geo.errors import InvalidInput
from tests import test_hidden_danger_loop as hd
from tests.conftest import ZH, _at, world_uscc
from tests.lock_race import race_for_a_lock
from tests.test_tiles_api import tile_of
from workflows import blacklist
from workflows.credit import CreditEventRow, assess, recompute
from workflows.credit_rules import GRADES, MANUAL_KINDS, load_rules, parse_rules, rules_markdown

ROOT = Path(__file__).resolve().parents[1]
RULES = load_rules()
AS_OF = dt.date(2026, 6, 30)
loop = hd.loop  # the module world of the hidden-danger loop (a database of this module)
_serial = itertools.count(600)


# ------------------------------------------------------------------------------------------ scoring by hand

def ev(event: str, value: str, days_ago: int, *, points: float | None = None, source: str = "record",
       n: int = 1) -> CreditEventRow:
    return CreditEventRow(1, source, n, event, value, AS_OF - dt.timedelta(days=days_ago), points, None)


def score_of(*events: CreditEventRow, **kw):
    return assess(1, list(events), RULES, AS_OF, **kw)


def test_no_events_is_the_base_score_and_grade_a():
    a = score_of()
    assert (a.raw, a.score, a.grade, a.breakdown, a.matches) == (100, 100, "A", [], [])


def test_points_windows_and_linear_decay_by_hand():
    # fine today: -5 × 1; fine 73 days ago: -5 × (1 - 73/365) = -4; warning 10 days ago: -2 (no decay)
    a = score_of(ev("enforcement", "fine", 0, n=1), ev("enforcement", "fine", 73, n=2),
                 ev("enforcement", "warning", 10, n=3))
    assert [c.points for c in a.counted] == [-5.0, -4.0, -2.0]
    assert a.raw == a.score == 89.0 and a.grade == "B"
    fines = next(b for b in a.breakdown if b["rule"] == "ENF2")
    assert fines["points"] == -9 and fines["count"] == 2 and not fines["capped"]


@pytest.mark.parametrize(("days_ago", "points"), [(0, -5.0), (364, -0.01), (365, 0.0), (400, 0.0)])
def test_a_window_expires_on_its_last_day(days_ago, points):
    a = score_of(ev("enforcement", "fine", days_ago))
    assert a.counted[0].points == points and a.counted[0].counted == (points != 0)
    assert a.score == 100 + points


def test_a_rule_is_capped():
    five = score_of(*(ev("enforcement", "warning", d, n=d) for d in range(5)))
    six = score_of(*(ev("enforcement", "warning", d, n=d) for d in range(6)))
    assert five.score == 90 and not five.breakdown[0]["capped"]
    assert six.score == 90 and six.breakdown[0]["capped"] and six.breakdown[0]["count"] == 6


def test_the_score_is_clipped_at_both_ends():
    low = score_of(ev("accident", "major", 10), ev("accident", "extraordinary", 20, n=2),
                   ev("enforcement", "closure", 30, n=3))
    assert low.raw == -40 and low.score == 0 and low.grade == "D"
    # credits offset deductions but never lift the score over the ceiling: 100 - 5 + 5 + min(9, 6) = 106 → 100
    high = score_of(ev("enforcement", "fine", 0), ev("manual", "honour", 5, source="manual"),
                    *(ev("manual", "commitment_kept", d, source="manual", n=d) for d in (1, 2, 3)))
    assert high.raw == 106 and high.score == 100 and high.grade == "A"
    kept = next(b for b in high.breakdown if b["rule"] == "M5")
    assert (kept["points"], kept["capped"], kept["count"]) == (6, True, 3)


@pytest.mark.parametrize(("deduction", "grade"), [(0, "A"), (10, "A"), (10.01, "B"), (25, "B"), (40, "C"),
                                                  (40.5, "D"), (100, "D")])
def test_grade_bands(deduction, grade):
    a = score_of(ev("manual", "violation", 0, points=-deduction, source="manual")) if deduction else score_of()
    if deduction > 20:  # the violation rule caps at 20: use the raw band function for the rest
        assert RULES.grade_of(100 - deduction) == grade
    else:
        assert a.grade == grade


def test_an_ongoing_overdue_danger_counts_without_a_window_and_lists_from_two():
    one = score_of(ev("overdue_danger", "major", 900, source="danger"))
    assert one.score == 90 and one.counted[0].ongoing and one.matches == []
    four = score_of(*(ev("overdue_danger", "major", 900 + d, source="danger", n=d) for d in range(4)))
    assert four.score == 70 and four.breakdown[0]["capped"] and four.grade == "C"
    assert [m["rule"] for m in four.matches] == ["BL7"] and len(four.matches[0]["events"]) == 4


def test_a_regulators_points_replace_the_rules_and_still_decay():
    a = score_of(ev("manual", "violation", 73, points=-10, source="manual"))
    assert a.counted[0].base_points == -10 and a.counted[0].points == -8.0
    assert "设定" in a.counted[0].why_zh and "set by the regulator" in a.counted[0].why_en


@pytest.mark.parametrize(("events", "rules"), [
    ([("accident", "major", 10)], ["BL2"]),
    ([("accident", "extraordinary", 1000)], ["BL1"]),
    ([("accident", "larger", 10), ("accident", "larger", 300)], ["BL3"]),
    ([("accident", "larger", 10), ("accident", "larger", 400)], []),  # not within 12 months
    ([("enforcement", "licence_revoked", 100)], ["BL5"]),
    ([("manual", "concealed_accident", 1000)], ["BL4"]),
    ([("accident", "major", 1100)], []),  # outside the window
])
def test_blacklist_rules_match_by_hand(events, rules):
    a = score_of(*(ev(e, v, d, source="manual" if e == "manual" else "record", n=i)
                   for i, (e, v, d) in enumerate(events)))
    assert [m["rule"] for m in a.matches] == rules


def test_after_a_removal_only_newer_events_list_again():
    major = ev("accident", "major", 100)
    assert score_of(major, since=AS_OF - dt.timedelta(days=50)).matches == []
    assert [m["rule"] for m in score_of(major, since=AS_OF - dt.timedelta(days=150)).matches] == ["BL2"]
    # the score row needs a negative event after the removal too
    bad = [ev("accident", "major", 500, n=1), ev("enforcement", "closure", 600, n=2)]  # 100 - 80 = 20 < 40
    assert [m["rule"] for m in score_of(*bad).matches] == ["BL2", "BL8"]  # closure 600 days ago: outside BL6
    removed = AS_OF - dt.timedelta(days=10)
    assert score_of(*bad, since=removed).matches == []
    assert [m["rule"] for m in score_of(*bad, ev("enforcement", "warning", 1, n=3), since=removed).matches] == ["BL8"]


def test_removal_eligibility_by_hand():
    listed = AS_OF - dt.timedelta(days=400)
    a = score_of(ev("accident", "major", 500), listed_on=listed)
    assert a.grade == "D" and a.eligible_from == listed + dt.timedelta(days=365) and a.eligible()
    later = score_of(ev("accident", "major", 500), ev("enforcement", "fine", 100, n=2), listed_on=listed)
    assert later.eligible_from == AS_OF - dt.timedelta(days=100) + dt.timedelta(days=365) and not later.eligible()
    blocked = score_of(ev("overdue_danger", "major", 800, source="danger"), listed_on=listed)
    assert blocked.eligible_from <= AS_OF and blocked.blocked and not blocked.eligible()


# ------------------------------------------------------------------------------------------ the rule table

_HEAD = "section,rule,event,value,points,window_days,decay,cap,min_count,label_zh,label_en"
_BASE = ["setting,base,,,100,,,,,,", "setting,floor,,,0,,,,,,", "setting,ceiling,,,100,,,,,,",
         "setting,quiet_days,,,365,,,,,,", "setting,removal,,confirm,,,,,,,",
         "grade,A,,,90,,,,,甲,A", "grade,B,,,75,,,,,乙,B", "grade,C,,,60,,,,,丙,C"]


@pytest.mark.parametrize(("row", "field", "words"), [
    ("event,X1,accident,huge,-5,365,,,,大,big", "r.csv:10.value", "unknown value 'huge'"),
    ("event,X1,accidents,major,-5,365,,,,大,big", "r.csv:10.event", "unknown event 'accidents'"),
    ("event,X1,accident,major,-5,,,,,大,big", "r.csv:10.window_days", "required"),
    ("event,X1,overdue_danger,major,-5,30,,,,大,big", "r.csv:10.window_days", "must be empty"),
    ("event,X1,accident,major,0,365,,,,大,big", "r.csv:10.points", "must not be 0"),
    ("event,X1,accident,major,abc,365,,,,大,big", "r.csv:10.points", "a number"),
    ("event,X1,accident,major,-5,365,fast,,,大,big", "r.csv:10.decay", "none or linear"),
    ("event,X1,accident,major,-5,365,,,,,big", "r.csv:10.label_zh", "required"),
    ("event,A,accident,major,-5,365,,,,大,big", "r.csv:10.rule", "already used on line 7"),
    ("blacklist,B1,score,,,,,,,低,low", "r.csv:10.points", "required for event score"),
    ("blacklist,B1,accident,major,5,365,,,1,大,big", "r.csv:10.points", "must be empty"),
    ("grade,D,,,10,,,,,丁,D", "r.csv:10.rule", "D is every score below C"),
    ("bogus,X1,,,,,,,,,", "r.csv:10.section", "unknown 'bogus'"),
    ("event,X1,accident,major,-5,365", "r.csv:10.row", "has 6 fields"),
])
def test_a_bad_rule_table_names_the_line_and_the_field(row, field, words):
    with pytest.raises(InvalidInput) as err:
        parse_rules("\n".join([_HEAD, *_BASE, row]), source="r.csv")
    assert err.value.field == field and words in err.value.reason


def test_rule_table_level_refusals():
    with pytest.raises(InvalidInput, match=r"r.csv:8.points.*grade B \(75\) must be above grade C \(80\)"):
        parse_rules("\n".join([_HEAD, *_BASE[:-1], "grade,C,,,80,,,,,丙,C"]), source="r.csv")
    with pytest.raises(InvalidInput, match="no setting row for quiet_days"):
        parse_rules("\n".join([_HEAD, *[r for r in _BASE if "quiet_days" not in r]]), source="r.csv")
    with pytest.raises(InvalidInput, match=r"r.csv:1.header"):
        parse_rules("section,rule\n", source="r.csv")
    with pytest.raises(InvalidInput, match="cannot read"):
        load_rules(ROOT / "no-such-rules.csv")


def test_the_database_freezes_the_same_vocabulary_and_docs_show_the_tables():
    mig = importlib.import_module("geo.migrations.versions.0012_credit")
    assert tuple(MANUAL_KINDS) == mig.MANUAL_KINDS and mig.GRADES == GRADES
    docs = (ROOT / "docs" / "WORKFLOWS.md").read_text(encoding="utf-8")
    assert rules_markdown() in docs and blacklist.rules_markdown() in docs


# ------------------------------------------------------------------------------------------ HTTP helpers

class W:
    """Helpers over the loop world for credit tests."""

    def __init__(self, lp):
        self.lp, self.client, self.auth, self.owner, self.today = lp, lp.client, lp.auth, lp.owner, lp.today

    def enterprise(self, county: str = "330211", point=ZH) -> int:
        n = next(_serial)
        with self.owner.begin() as c:
            return c.execute(text(
                "INSERT INTO enterprises (uscc, name, industry, scale, geom) "
                f"VALUES (:u, :n, 'hazchem_storage', 'small', {_at(point, 40 + n % 50 * 8, n % 360)}) RETURNING id"),
                {"u": world_uscc(n, county), "n": f"诚信测试企业{n}"}).scalar_one()

    def record(self, eid: int, kind: str, severity: str, days_ago: int) -> int:
        with self.owner.begin() as c:
            return c.execute(text(
                "INSERT INTO enterprise_records (enterprise_id, kind, severity, occurred_on, description, source) "
                "VALUES (:e, :k, :s, :d, :desc, '测试') RETURNING id"),
                {"e": eid, "k": kind, "s": severity, "d": self.today - dt.timedelta(days=days_ago),
                 "desc": f"{kind} {severity}"}).scalar_one()

    def day(self, days_ago: int) -> str:
        return (self.today - dt.timedelta(days=days_ago)).isoformat()

    def recompute(self, who: str, ids: list[int], as_of_days_ago: int | None = None, status: int = 200) -> dict:
        body: dict = {"enterprise_ids": ids}
        if as_of_days_ago is not None:
            body["as_of"] = self.day(as_of_days_ago)
        r = self.client.post("/credit/recompute", headers=self.auth[who], json=body)
        assert r.status_code == status, r.text
        return r.json()

    def credit(self, who: str, eid: int, status: int = 200, **params):
        r = self.client.get(f"/enterprises/{eid}/credit", headers=self.auth[who], params=params)
        assert r.status_code == status, r.text
        return r.json()

    def remove(self, who: str, entry_id: int, reason: str = "满一年无新的失信行为，信用修复"):
        return self.client.post(f"/credit/blacklist/{entry_id}/transitions", headers=self.auth[who],
                                json={"to": "removed", "reason": reason})

    def add_event(self, who: str, eid: int, **body):
        return self.client.post(f"/enterprises/{eid}/credit-events", headers=self.auth[who], json=body)

    def rows(self, sql: str, **params) -> list:
        with self.owner.connect() as c:
            return c.execute(text(sql), params).all()

    def entries(self, eid: int) -> list:
        return self.rows("SELECT id, status, listed_on, via, rule_ids, listed_by, removed_on, removed_by, "
                         "removal_reason FROM blacklist_entries WHERE enterprise_id = :e ORDER BY id", e=eid)

    def state(self, eid: int) -> tuple:
        """Everything a refusal must leave as it was."""
        return (self.entries(eid),
                self.rows("SELECT * FROM credit_scores WHERE enterprise_id = :e", e=eid),
                self.rows("SELECT id, valid_to FROM credit_events WHERE enterprise_id = :e ORDER BY id", e=eid),
                self.rows("SELECT id FROM enterprise_records WHERE enterprise_id = :e ORDER BY id", e=eid))


@pytest.fixture(scope="module")
def w(loop):
    return W(loop)


# ------------------------------------------------------------------------------------------ end to end

def test_listed_by_rule_in_the_past_then_removed_by_a_regulator(w):
    eid = w.enterprise()
    acc = w.record(eid, "accident", "major", 400)
    w.record(eid, "enforcement", "fine", 395)
    run = w.recompute("zhenhai", [eid], as_of_days_ago=390)
    assert run["listed"] == 1 and run["as_of"] == w.day(390) and run["assessed"] == 1
    [entry] = w.entries(eid)
    assert (entry.status, entry.listed_on.isoformat(), entry.via, entry.rule_ids, entry.listed_by) == (
        "listed", w.day(390), "rule", ["BL2"], "l.zhenhai")

    # the public list, anonymous: name, USCC, county, date, reasons; nothing private
    pub = w.client.get("/credit/blacklist", params={"adcode": "330211"}).json()
    mine = next(e for e in pub["data"] if e["id"] == entry.id)
    assert mine["enterprise_name"].startswith("诚信测试企业") and mine["county"] == "镇海区"
    assert mine["listed_on"] == w.day(390) and mine["status"] == "listed"
    assert mine["reasons"][0]["rule"] == "BL2" and mine["reasons"][0]["events"][0]["occurred_on"] == w.day(400)
    assert not {"enterprise_id", "listed_by", "note", "removal_reason", "removed_by"} & set(mine)
    assert w.client.get(f"/credit/blacklist/{entry.id}").json()["uscc"] == mine["uscc"]

    # why: every counted event with its rule and points; listed → D; when removal becomes possible
    c = w.credit("zhenhai", eid)
    assert c["grade"] == "D" and c["score_grade"] == "C" and c["score"] == 60 and c["blacklist"]["listed"]
    assert [(e["rule"], e["points"], e["source_id"]) for e in c["events"]] == [("ACC3", -40, acc)]
    assert c["not_counted"][0]["rule"] == "ENF2" and "window" in c["not_counted"][0]["why_en"]
    assert c["blacklist"]["entry"]["listed_by"] == "l.zhenhai"
    removal = c["blacklist"]["removal"]
    assert removal["eligible"] and removal["eligible_from"] == w.day(25)

    r = w.remove("zhenhai", entry.id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["entry"]["status"] == "removed" and body["entry"]["removed_on"] == w.today.isoformat()
    assert body["entry"]["removed_by"] == "l.zhenhai" and body["entry"]["removal_via"] == "regulator"
    again = w.remove("zhenhai2", entry.id)
    assert again.status_code == 409 and again.json()["status"] == "removed"

    after = w.credit("zhenhai", eid)
    assert after["grade"] == "C" and not after["blacklist"]["listed"] and after["blacklist"]["would_list"] == []
    assert after["current"] and after["stored"]["grade"] == "C"
    assert w.recompute("zhenhai", [eid])["listed"] == 0  # the old accident does not list again
    assert [e.status for e in w.entries(eid)] == ["removed"]
    removed = w.client.get("/credit/blacklist", params={"status": "removed", "adcode": "330211"}).json()
    assert entry.id in [e["id"] for e in removed["data"]]
    listed = w.client.get("/credit/blacklist", params={"adcode": "330211"}).json()
    assert entry.id not in [e["id"] for e in listed["data"]]

    # one path into the four-colour risk: the credit records written on the way
    records = w.rows("SELECT severity, occurred_on, source FROM enterprise_records WHERE enterprise_id = :e "
                     "AND kind = 'credit' ORDER BY id", e=eid)
    assert [(s, d.isoformat()) for s, d, _ in records] == [("dishonest", w.day(390)), ("C", w.today.isoformat())]
    assert all(src.startswith("OneMap credit rules ") for _, _, src in records)
    from layers.enterprise_risk import explain as risk_explain

    with w.owner.connect() as conn:
        factor = next(f for f in risk_explain(conn, eid)["factors"] if f["factor"] == "credit")
    assert factor["inputs"]["latest"] == "C"


def test_removing_too_early_is_409_saying_from_when_and_changes_nothing(w):
    eid = w.enterprise()
    w.record(eid, "accident", "major", 100)
    assert w.recompute("zhenhai", [eid])["listed"] == 1
    [entry] = w.entries(eid)
    before = w.state(eid)
    r = w.remove("ningbo", entry.id)
    assert r.status_code == 409, r.text
    reason = r.json()["detail"][0]["reason"]
    assert (w.today + dt.timedelta(days=365)).isoformat() in reason and r.json()["status"] == "listed"
    assert w.state(eid) == before


def test_an_overdue_major_danger_blocks_removal_and_two_list(w):
    eid = w.enterprise()
    with w.owner.begin() as c:
        for i in range(2):
            c.execute(text(
                "INSERT INTO hidden_dangers (enterprise_id, title, category, level, status, found_on, deadline, "
                f"geom) VALUES (:e, :t, 'fire', 'major', 'accepted', :f, :d, {_at(ZH, 30, 90 * i)})"),
                {"e": eid, "t": f"逾期重大隐患{i}", "f": w.today - dt.timedelta(days=900),
                 "d": w.today - dt.timedelta(days=800)})
    assert w.recompute("zhenhai", [eid])["listed"] == 1
    c = w.credit("zhenhai", eid)
    assert c["blacklist"]["entry"]["rule_ids"] == ["BL7"] and c["score"] == 80
    assert [e["event"] for e in c["events"]] == ["overdue_danger", "overdue_danger"]
    assert all(e["ongoing"] and e["occurred_on"] == w.day(799) for e in c["events"])
    assert not c["blacklist"]["removal"]["eligible"] and c["blacklist"]["removal"]["blocked_by"]
    r = w.remove("zhenhai", c["blacklist"]["entry"]["id"])
    assert r.status_code == 409 and "overdue" in r.json()["detail"][0]["reason"]


def test_a_manual_event_lists_at_once_and_can_be_withdrawn(w):
    eid = w.enterprise()
    r = w.add_event("zhenhai", eid, kind="concealed_accident", occurred_on=w.day(3), description="瞒报一起灼烫事故",
                    source="镇海区应急管理局调查报告（2026）12号")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["event"]["recorded_by"] == "l.zhenhai" and body["event"]["recorded_role"] == "county"
    assert body["credit"]["listed"] == 1
    [entry] = w.entries(eid)
    assert entry.rule_ids == ["BL4"]
    c = w.credit("ent", eid, status=404)  # another enterprise's user
    c = w.credit("zhenhai", eid)
    assert c["events"][0]["rule"] == "M3" and c["events"][0]["detail"].startswith("瞒报一起灼烫事故")
    listed = w.client.get(f"/enterprises/{eid}/credit-events", headers=w.auth["zhenhai"]).json()
    assert listed["count"] == 1 and listed["data"][0]["kind"] == "concealed_accident"

    ev_id = body["event"]["id"]
    wd = w.client.post(f"/enterprises/{eid}/credit-events/{ev_id}/withdrawal", headers=w.auth["zhenhai"],
                       json={"reason": "录入错误"})
    assert wd.status_code == 200, wd.text
    assert wd.json()["event"]["withdraw_reason"] == "录入错误"
    again = w.client.post(f"/enterprises/{eid}/credit-events/{ev_id}/withdrawal", headers=w.auth["zhenhai"],
                          json={"reason": "再次"})
    assert again.status_code == 409
    after = w.credit("zhenhai", eid)
    assert after["events"] == [] and after["score"] == 100
    assert after["blacklist"]["listed"]  # a listing stands until removed by the rules


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "bribery", "occurred_on": "2026-01-01", "description": "x", "source": "y"}, "kind"),
    ({"kind": "violation", "occurred_on": "2999-01-01", "description": "x", "source": "y"}, "occurred_on"),
    ({"kind": "violation", "occurred_on": "2026-01-01", "description": " ", "source": "y"}, "description"),
    ({"kind": "violation", "occurred_on": "2026-01-01", "description": "x"}, "source"),
    ({"kind": "violation", "occurred_on": "2026-01-01", "description": "x", "source": "y", "points": 5}, "points"),
    ({"kind": "honour", "occurred_on": "2026-01-01", "description": "x", "source": "y", "points": -5}, "points"),
    ({"kind": "violation", "occurred_on": "2026-01-01", "description": "x", "source": "y", "points": 1e9},
     "points"),
    ({"kind": "violation", "occurred_on": "1999-12-31", "description": "x", "source": "y"}, "occurred_on"),
    ({"kind": "violation", "occurred_on": "2026-01-01", "description": "x", "source": "y", "grade": "A"}, "grade"),
    ({"kind": {}, "occurred_on": "2026-01-01", "description": "x", "source": "y"}, "kind"),
    ({"kind": ["honour"], "occurred_on": "2026-01-01", "description": "x", "source": "y"}, "kind"),
])
def test_bad_credit_events_are_422_naming_the_field_and_change_nothing(w, body, field):
    eid = w.enterprise()
    before = w.state(eid)
    r = w.add_event("zhenhai", eid, **body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field
    assert w.state(eid) == before


@pytest.mark.parametrize(("who", "status"), [("ent", 403), ("public", 403), ("xihu", 404)])
def test_who_may_record_credit_events(w, who, status):
    eid = w.enterprise()
    before = w.state(eid)
    r = w.add_event(who, eid, kind="honour", occurred_on=w.day(1), description="表彰", source="文件")
    assert r.status_code == status, r.text
    assert w.state(eid) == before


def test_row_level_security_on_credit(w, loop):
    eid = w.enterprise()
    assert w.credit("province", eid)["enterprise_id"] == eid
    assert w.credit("ningbo", eid)["enterprise_id"] == eid
    w.credit("xihu", eid, status=404)
    w.credit("public", eid, status=403)
    own = w.credit("ent", loop.ids["E1"])
    assert own["enterprise_id"] == loop.ids["E1"]
    w.credit("ent", loop.ids["E2"], status=404)
    assert w.client.post("/credit/recompute", headers=w.auth["ent"], json={}).status_code == 403
    assert w.client.post("/credit/recompute", json={}).status_code == 403
    # a county's recompute sees only its county: the Xihu enterprise keeps no score
    sx = loop.ids["SX1"]
    w.recompute("zhenhai", [sx, eid])
    assert w.rows("SELECT count(*) FROM credit_scores WHERE enterprise_id = :e", e=sx)[0][0] == 0
    assert w.rows("SELECT count(*) FROM credit_scores WHERE enterprise_id = :e", e=eid)[0][0] == 1


def test_another_countys_regulator_may_read_the_entry_but_not_remove_it(w):
    eid = w.enterprise()
    w.record(eid, "accident", "extraordinary", 500)
    w.recompute("zhenhai", [eid], as_of_days_ago=450)
    [entry] = w.entries(eid)
    before = w.state(eid)
    assert w.client.get(f"/credit/blacklist/{entry.id}", headers=w.auth["xihu"]).status_code == 200
    r = w.remove("xihu", entry.id)
    assert r.status_code == 403 and "jurisdiction" in r.json()["detail"]
    assert w.remove("ent", entry.id).status_code == 403
    assert w.remove("public", entry.id).status_code == 403
    assert w.client.post("/credit/blacklist/999999999/transitions", headers=w.auth["zhenhai"],
                         json={"to": "removed", "reason": "x"}).status_code == 404
    bad = w.client.post(f"/credit/blacklist/{entry.id}/transitions", headers=w.auth["zhenhai"],
                        json={"to": "listed", "reason": "x"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "to"
    nobody = w.client.post(f"/credit/blacklist/{entry.id}/transitions", headers=w.auth["zhenhai"],
                           json={"to": "removed"})
    assert nobody.status_code == 422 and nobody.json()["detail"][0]["field"] == "reason"
    assert w.state(eid) == before
    assert w.remove("ningbo", entry.id).status_code == 200  # the city covers the county


def test_manual_listing_by_a_regulator(w):
    eid = w.enterprise()
    r = w.client.post("/credit/blacklist", headers=w.auth["zhenhai"],
                      json={"enterprise_id": eid, "reason": "市应急管理局行政处罚决定认定严重失信"})
    assert r.status_code == 201, r.text
    entry = r.json()["entry"]
    assert entry["via"] == "manual" and entry["reasons"][0]["label_zh"] == "市应急管理局行政处罚决定认定严重失信"
    assert w.credit("zhenhai", eid)["grade"] == "D"
    twice = w.client.post("/credit/blacklist", headers=w.auth["zhenhai"], json={"enterprise_id": eid, "reason": "x"})
    assert twice.status_code == 409
    assert w.client.post("/credit/blacklist", headers=w.auth["xihu"],
                         json={"enterprise_id": eid, "reason": "x"}).status_code == 404
    assert w.client.post("/credit/blacklist", headers=w.auth["ent"],
                         json={"enterprise_id": eid, "reason": "x"}).status_code == 403
    assert len(w.entries(eid)) == 1


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"as_of": "2999-01-01"}, 422, "as_of"),
    ({"as_of": "1990-01-01"}, 422, "as_of"),
    ({"as_of": "yesterday"}, 422, "as_of"),
    ({"nonsense": 1}, 422, "nonsense"),
    ({"enterprise_ids": [0]}, 422, "enterprise_ids.0"),
])
def test_bad_recompute_requests(w, body, status, field):
    r = w.client.post("/credit/recompute", headers=w.auth["zhenhai"], json=body)
    assert r.status_code == status, r.text
    assert r.json()["detail"][0]["field"] == field


def test_bad_queries_on_the_public_list(w):
    assert w.client.get("/credit/blacklist", params={"status": "gone"}).status_code == 400
    assert w.client.get("/credit/blacklist", params={"adcode": "33x"}).status_code == 400
    assert w.client.get("/credit/blacklist", params={"limit": 0}).status_code == 400
    assert w.client.get("/credit/blacklist/0").status_code == 422
    assert w.client.get("/credit/blacklist/12345678").status_code == 404
    assert w.client.get("/enterprises/1/credit", params={"as_of": "2999-01-01"},
                        headers=w.auth["province"]).status_code == 422


def test_rules_endpoint(w):
    body = w.client.get("/credit/rules").json()
    assert body["sha256"] == RULES.sha256 and body["settings"]["quiet_days"] == 365
    assert [g["grade"] for g in body["grades"]] == ["A", "B", "C", "D"]
    assert {r["rule"] for r in body["blacklist"]} >= {"BL1", "BL2", "BL8"}


# ------------------------------------------------------------------------------------------ concurrency

def test_two_recomputes_at_once_give_one_listing(w, loop):
    """Run A holds the credit lock until told to commit; run B waits for it, then finds the work done."""
    eid = w.enterprise()
    w.record(eid, "accident", "major", 20)
    a, b = race_for_a_lock(loop.app_engine, loop.ctx("zhenhai"), loop.ctx("zhenhai2"),
                           lambda conn, ctx: recompute(conn, ids=[eid], ctx=ctx), what="A's credit lock")
    assert len(a.listed) == 1 and a.changed == 1
    assert b.listed == [] and b.changed == 0 and b.records_written == 0
    assert len(w.entries(eid)) == 1
    assert len(w.rows("SELECT 1 FROM enterprise_records WHERE enterprise_id = :e AND kind = 'credit'", e=eid)) == 1


def test_two_removals_at_once_one_wins(w):
    for _ in range(2):
        eid = w.enterprise()
        w.record(eid, "accident", "major", 500)
        w.recompute("zhenhai", [eid], as_of_days_ago=450)
        [entry] = w.entries(eid)
        start = threading.Barrier(2)
        codes: list[int] = []

        def remove(user: str, entry_id=entry.id, start=start, codes=codes) -> None:
            start.wait()
            codes.append(w.remove(user, entry_id).status_code)

        threads = [threading.Thread(target=remove, args=(u,)) for u in ("zhenhai", "zhenhai2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(codes) == [200, 409]
        assert [e.status for e in w.entries(eid)] == ["removed"]


# ------------------------------------------------------------------------------------------ database guards

def test_the_blacklist_is_append_only_even_for_the_owner(w):
    eid = w.enterprise()
    w.record(eid, "accident", "major", 10)
    w.recompute("zhenhai", [eid])
    [entry] = w.entries(eid)
    for sql in ("UPDATE blacklist_entries SET reasons = '[{\"rule\": \"x\"}]' WHERE id = :i",
                "UPDATE blacklist_entries SET listed_on = listed_on - 1 WHERE id = :i",
                "DELETE FROM blacklist_entries WHERE id = :i"):
        with pytest.raises(Exception, match="append-only|never deleted|never changed"), w.owner.begin() as c:
            c.execute(text(sql), {"i": entry.id})
    with w.owner.begin() as c:  # the owner may record a removal (maintenance), once
        c.execute(text("UPDATE blacklist_entries SET removed_on = current_date, removal_via = 'regulator', "
                       "removal_reason = '维护' WHERE id = :i"), {"i": entry.id})
    with pytest.raises(Exception, match="already removed"), w.owner.begin() as c:
        c.execute(text("UPDATE blacklist_entries SET removal_reason = '改写' WHERE id = :i"), {"i": entry.id})
    assert w.entries(eid)[0].removal_reason == "维护"


def test_the_app_role_cannot_rewrite_a_listing_or_an_event(w, loop):
    eid = w.enterprise()
    w.add_event("zhenhai", eid, kind="violation", occurred_on=w.day(1), description="x", source="y")
    ctx = loop.ctx("zhenhai")
    with loop.app_engine.connect() as conn, conn.begin():
        apply_context(conn, ctx)
        with pytest.raises(Exception, match="permission denied"):
            conn.execute(text("UPDATE credit_events SET description = 'changed' WHERE enterprise_id = :e"),
                         {"e": eid})


# ------------------------------------------------------------------------------------------ audit, events, map

def _events(sub, n: int, timeout_s: float = 10.0) -> list:
    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        e = sub.get(timeout=0.2)
        if e is not None and not e.is_resync:
            got.append(e)
    return got


def test_audit_and_events_are_written(w, loop):
    eid = w.enterprise()
    live = w.client.app.state.live
    sub = live.subscribe(loop.ctx("zhenhai"), kinds=("credit_event.", "credit_score.", "blacklist_entry."))
    xh = live.subscribe(loop.ctx("xihu"), kinds=("blacklist_entry.",))
    try:
        r = w.add_event("zhenhai", eid, kind="obstruction", occurred_on=w.day(2), description="拒绝检查",
                        source="检查记录")
        assert r.status_code == 201
        w.add_event("zhenhai", eid, kind="concealed_accident", occurred_on=w.day(2), description="瞒报",
                    source="调查报告")
        got = _events(sub, 5)
        assert _events(xh, 1, timeout_s=0.5) == []
    finally:
        sub.close()
        xh.close()
    kinds = [(e.kind, e.id) for e in got]
    assert ("credit_event.created", r.json()["event"]["id"]) in kinds
    assert ("credit_score.created", eid) in kinds and ("credit_score.updated", eid) in kinds
    [entry] = w.entries(eid)
    assert ("blacklist_entry.created", entry.id) in kinds
    audited = w.rows("SELECT table_name, op, actor FROM audit_log WHERE (table_name = 'blacklist_entries' AND "
                     "row_key = :b) OR (table_name IN ('credit_scores', 'credit_events') AND "
                     "after->>'enterprise_id' = :e) ORDER BY seq", b=str(entry.id), e=str(eid))
    assert ("credit_events", "INSERT", "l.zhenhai") in audited
    assert ("credit_scores", "INSERT", "l.zhenhai") in audited and ("credit_scores", "UPDATE", "l.zhenhai") in audited
    assert ("blacklist_entries", "INSERT", "l.zhenhai") in audited
    assert verify_chain(libpq_dsn(loop.db.owner_url)).ok


def test_the_map_layer_shows_grades_and_the_blacklist(w):
    eid = w.enterprise()
    w.record(eid, "accident", "major", 5)
    w.recompute("zhenhai", [eid])
    point = w.rows("SELECT ST_X(geom), ST_Y(geom) FROM enterprises WHERE id = :e", e=eid)[0]
    z, x, y = tile_of(point[0], point[1], 14)

    def feats(who: str) -> dict:
        r = w.client.get(f"/tiles/credit_grades/{z}/{x}/{y}.mvt", headers=w.auth[who])
        assert r.status_code == 200, r.text
        layer = mapbox_vector_tile.decode(r.content).get("credit_grades", {"features": []})
        return {f["id"]: f["properties"] for f in layer["features"]}

    mine = feats("zhenhai")[eid]
    assert mine["grade"] == "D" and mine["blacklisted"] is True and mine["listed_on"] == w.today.isoformat()
    assert eid not in feats("xihu") and eid not in feats("public")
    layers = {layer["name"]: layer for layer in w.client.get("/layers").json()["data"]}
    legend = layers["credit_grades"]["legend"]
    assert [entry["value"] for entry in legend] == ["A", "B", "C", "D", None]
    ogc = w.client.get(f"/ogc/collections/credit_grades/items/{eid}", headers=w.auth["zhenhai"])
    assert ogc.status_code == 200 and ogc.json()["properties"]["grade"] == "D"
    assert w.client.get(f"/ogc/collections/credit_grades/items/{eid}", headers=w.auth["xihu"]).status_code == 404


# ------------------------------------------------------------------------------------------ the maintenance path

def test_cli_recompute_and_rules(w, monkeypatch, tmp_path):
    from api import credit_cli

    app = credit_cli.credit_app
    monkeypatch.setattr(credit_cli, "_engine", lambda: make_engine(w.lp.db.owner_url))
    eid = w.enterprise()
    w.record(eid, "enforcement", "licence_revoked", 30)
    if True:
        runner = CliRunner()
        bad = tmp_path / "bad.csv"
        bad.write_text(_HEAD + "\n" + "\n".join(_BASE) + "\nevent,X,accident,major,-5,,,,,大,big\n", encoding="utf-8")
        before = w.state(eid)
        res = runner.invoke(app, ["recompute", "--rules", str(bad)])
        assert res.exit_code == 2 and "bad.csv:10.window_days" in res.output
        assert w.state(eid) == before
        res = runner.invoke(app, ["recompute", "--as-of", "someday"])
        assert res.exit_code == 2 and "as_of" in res.output
        res = runner.invoke(app, ["recompute", "--json"])
        assert res.exit_code == 0, res.output
        summary = json.loads(res.output.strip().splitlines()[-1])
        assert summary["assessed"] >= 1 and summary["listed"] >= 1
        [entry] = w.entries(eid)
        assert entry.listed_by == "system" and entry.rule_ids == ["BL5"]
        again = json.loads(runner.invoke(app, ["recompute", "--json"]).output.strip().splitlines()[-1])
        assert again["changed"] == 0 and again["listed"] == 0 and again["records_written"] == 0
        res = runner.invoke(app, ["rules"])
        assert res.exit_code == 0 and "BL8" in res.output


def test_automatic_removal_when_the_rule_table_says_so(w, loop, tmp_path):
    text_ = (ROOT / "data" / "credit_rules.csv").read_text(encoding="utf-8").replace(
        "setting,removal,,confirm", "setting,removal,,auto")
    auto = parse_rules(text_, source="auto.csv")
    eid = w.enterprise()
    w.record(eid, "accident", "major", 500)
    with loop.owner.begin() as conn:
        first = recompute(conn, ids=[eid], rules=auto, as_of=w.today - dt.timedelta(days=450))
    assert len(first.listed) == 1
    with loop.owner.begin() as conn:
        second = recompute(conn, ids=[eid], rules=auto)
    assert second.removed == first.listed
    [entry] = w.entries(eid)
    assert entry.status == "removed" and entry.removed_by == "system" and "auto" in entry.removal_reason
    r = w.client.get(f"/credit/blacklist/{entry.id}", headers=w.auth["zhenhai"]).json()
    assert r["removal_via"] == "auto"


def test_workflows_never_import_the_api():
    for name in ("credit.py", "credit_rules.py", "credit_events.py", "blacklist.py"):
        source = (ROOT / "workflows" / name).read_text(encoding="utf-8")
        assert "from api" not in source and "import api" not in source, name
