"""Double-random inspections (双随机、一公开), end to end over HTTP on a throwaway PostGIS.

One module database: regions, enterprises of every risk colour in Zhenhai
(330211), a few in Xihu (330106) and Beilun (330206), regulators of each
county, the city of Ningbo and the province, an enterprise user. Every
refusal is checked to leave the draws, tasks, findings, history, dangers
and records exactly as they were. The draw itself is also tested without a
database (:mod:`workflows.random_draw`).
"""

from __future__ import annotations

import importlib
import json
import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from geo.audit import verify_chain
from geo.context import RequestContext, apply_context
from geo.db import libpq_dsn, make_engine
from geo.errors import InvalidInput
from tests.conftest import BL, XH, ZH, _at, world_uscc
from tests.lock_race import race_for_a_lock
from tests.test_hidden_danger_loop import _events
from tests.workflow_app import workflow_app
from workflows.errors import IllegalTransition
from workflows.inspections import DRAW_RULES, TASK_RULES, move_draw, rules_markdown
from workflows.random_draw import Stratum, TooFewInspectors, draw, result_digest, stratum_size

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[1]
USERS = {  # name -> (role, adcode, enterprise key)
    "zh": ("county", "330211", None), "zh2": ("county", "330211", None), "xh": ("county", "330106", None),
    "bl": ("county", "330206", None), "bl2": ("county", "330206", None), "nb": ("city", "330200", None),
    "prov": ("province", "330000", None), "ent": ("enterprise", "330211", "Z1"),
}
COLOURS = ["red", "red", "red", "orange", "orange", "yellow", "yellow", "yellow", "blue", "blue", "blue", None]
ENTERPRISES = {f"Z{i + 1}": (500 + i, "330211", ZH, c) for i, c in enumerate(COLOURS)}
ENTERPRISES |= {"X1": (601, "330106", XH, "red"), "X2": (602, "330106", XH, "blue"),
                "B1": (701, "330206", BL, "orange"), "B2": (702, "330206", BL, "yellow")}
TABLES = ("inspectors", "inspector_conflicts", "inspection_draws", "inspection_tasks", "inspection_findings",
          "inspection_transitions", "hidden_dangers", "enterprise_records", "audit_log")


class World:
    def __init__(self, db, owner, app_engine, client, ids, auth):
        self.db, self.owner, self.app_engine, self.client, self.ids, self.auth = (db, owner, app_engine, client,
                                                                                  ids, auth)

    def ctx(self, user: str) -> RequestContext:
        role, adcode, ent = USERS[user]
        return RequestContext(role=role, jurisdiction=RequestContext.prefix_of(adcode, role), actor=f"i.{user}",
                              enterprise_id=self.ids[ent] if ent else None)

    def post(self, who: str, path: str, body):
        return self.client.post(path, headers=self.auth[who], json=body)

    def get(self, who: str, path: str, **params):
        return self.client.get(path, headers=self.auth[who], params=params)

    def ok(self, who: str, path: str, body, status: int = 201) -> dict:
        r = self.post(who, path, body)
        assert r.status_code == status, r.text
        return r.json()

    def inspector(self, who: str, name: str, adcode: str, **extra) -> int:
        return self.ok(who, "/inspections/inspectors", {"name": name, "adcode": adcode, **extra})["id"]

    def draw(self, who: str = "zh", *, adcode: str = "330211", seed: int | None = 42, **body) -> dict:
        body = {"adcode": adcode, "period": "2026-11", "avoid_repeat_days": 0,
                "strata": [{"name": "all", "risk_colours": ["red", "orange", "yellow", "blue"], "count": 3}]} | body
        if seed is not None:
            body["seed"] = seed
        return self.ok(who, "/inspections/draws", body)

    def move(self, who: str, draw_id: int, to: str, **extra):
        return self.post(who, f"/inspections/draws/{draw_id}/transitions", {"to": to, **extra})

    def running(self, who: str = "zh", **body) -> dict:
        """A draw of 330211, published and started."""
        d = self.draw(who, **body)
        for to in ("published", "started"):
            assert self.move(who, d["id"], to).status_code == 201
        return self.get(who, f"/inspections/draws/{d['id']}").json()

    def state(self) -> dict:
        """Row counts and a digest of every table a refusal must leave as it was."""
        with self.owner.connect() as c:
            out = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}
            out["draws"] = c.execute(text("SELECT coalesce(md5(string_agg(id || status || version || is_public, ',' "
                                          "ORDER BY id)), '') FROM inspection_draws")).scalar()
            out["tasks"] = c.execute(text("SELECT coalesce(md5(string_agg(id || status || version || is_public, ',' "
                                          "ORDER BY id)), '') FROM inspection_tasks")).scalar()
        return out


@pytest.fixture(scope="module")
def w(throwaway, settings):
    def populate(c) -> dict[str, int]:
        return {key: c.execute(text(
            "INSERT INTO enterprises (uscc, name, industry, scale, risk_colour, geom) "
            f"VALUES (:u, :n, :i, 'small', :c, {_at(point, 40 * n + 30, 30 * n)}) RETURNING id"),
            {"u": world_uscc(serial, county), "n": f"抽查测试企业{key}", "c": colour,
             "i": "hazchem_storage" if n % 2 else "hazchem_production"}).scalar_one()
            for n, (key, (serial, county, point, colour)) in enumerate(ENTERPRISES.items())}

    with workflow_app(throwaway, settings, users=USERS, enterprises=ENTERPRISES, prefix="i", password=PASSWORD,
                      populate=populate) as app:
        world = World(app.db, app.owner, app.app_engine, app.client, app.ids, app.auth)
        world.roster = {n: world.inspector("zh", n, "330211", unit="镇海区应急管理局执法大队")
                        for n in ("甲", "乙", "丙", "丁", "戊")}
        world.xh_roster = [world.inspector("xh", n, "330106") for n in ("西一", "西二")]
        yield world


def _task_of(d: dict, key_id: int) -> dict:
    return next(t for t in d["tasks"] if t["enterprise_id"] == key_id)


# ------------------------------------------------------------------------------------------ end to end

def test_roster_draw_publish_inspect_findings_close_complete(w):
    live = w.client.app.state.live
    zh_sub = live.subscribe(w.ctx("zh"), kinds=("inspection_",))
    xh_sub = live.subscribe(w.ctx("xh"), kinds=("inspection_",))
    try:
        conflict = w.ok("zh", f"/inspections/inspectors/{w.roster['甲']}/conflicts",
                        {"enterprise_id": w.ids["Z1"], "kind": "relative", "reason": "配偶在该企业任安全主管"})
        assert conflict["declared_by"] == "i.zh"
        d = w.draw(strata=[{"name": "红", "risk_colours": ["red"], "count": 2},
                           {"name": "其他", "risk_colours": ["orange", "yellow", "blue", "unrated"],
                            "proportion": "0.25", "weights": {"orange": 2}}], seed=20261101)
        did = d["id"]
        assert d["status"] == "drawn" and not d["is_public"] and d["seed"] == "20261101"
        assert d["seed_source"] == "given" and d["algorithm"] == "onemap-draw/1"
        assert [t["stratum"] for t in d["tasks"]] == ["红", "红", "其他", "其他", "其他"]  # 2 + ceil(0.25 × 9)
        assert d["task_count"] == 5 and [t["seq"] for t in d["tasks"]] == [1, 2, 3, 4, 5]
        assert [e for e, _ in d["inputs"]["pool"]] == sorted(w.ids[k] for k in ENTERPRISES if k.startswith("Z"))
        assert d["inputs"]["roster"] == sorted(w.roster.values())
        assert [w.roster["甲"], w.ids["Z1"], "declared"] in d["inputs"]["exclusions"]
        for t in d["tasks"]:
            assert len(t["inspector_ids"]) == 2 and len(set(t["inspector_ids"])) == 2
            assert len(t["team_names"]) == 2 and t["status"] == "planned"
            assert not (t["enterprise_id"] == w.ids["Z1"] and w.roster["甲"] in t["inspector_ids"])
        assert w.get("zh", f"/inspections/draws/{did}/verify").json()["matches"] is True

        # not public yet: the public and the enterprise see nothing
        assert w.get("public", f"/inspections/draws/{did}").status_code == 404
        assert w.get("public", "/inspections/tasks", draw_id=did).json()["count"] == 0
        mine = next((t for t in d["tasks"] if t["enterprise_id"] == w.ids["Z1"]), None)
        if mine:
            assert w.get("ent", f"/inspections/tasks/{mine['id']}").status_code == 404

        pub = w.move("zh", did, "published", note="局务会审定后公示")
        assert pub.status_code == 201, pub.text
        assert pub.json()["draw"]["is_public"] and pub.json()["draw"]["published_at"]
        anon = w.get("public", f"/inspections/draws/{did}").json()
        assert anon["status"] == "published" and len(anon["tasks"]) == 5
        assert w.get("public", f"/inspections/draws/{did}/verify").json()["matches"] is True
        layer = w.client.get("/inspections/tasks", params={"draw_id": did, "f": "geojson"}).json()
        assert len(layer["features"]) == 5 and layer["features"][0]["geometry"]["type"] == "Point"
        assert w.get("public", "/inspections/draws").json()["count"] >= 1
        assert w.move("zh", did, "started").status_code == 201

        t1, t2, *rest = d["tasks"]
        found = w.ok("zh", f"/inspections/tasks/{t1['id']}/findings", {
            "title": "可燃气体报警器失效", "description": "2号储罐区两台报警器未通电", "category": "equipment",
            "level": "general", "legal_basis": "《安全生产法》第三十六条",
            "penalty": {"type": "fine", "amount_yuan": "20000"}})
        hd = found["hidden_danger"]
        assert hd["status"] == "reported" and found["enforcement_record"]["amount_yuan"] == "20000.00"
        danger = w.get("zh", f"/hidden-dangers/{hd['id']}").json()
        assert danger["status"] == "reported" and danger["enterprise_id"] == t1["enterprise_id"]
        history = w.get("zh", f"/hidden-dangers/{hd['id']}/history").json()
        assert [(m["action"], m["actor"]) for m in history["data"]] == [("reported", "i.zh")]
        assert w.get("public", f"/inspections/tasks/{t1['id']}/findings").json()["count"] == 0  # not yet public

        done = w.ok("zh", f"/inspections/tasks/{t1['id']}/transitions",
                    {"to": "inspected", "result_summary": "发现问题1项，已责令改正并处罚款"})
        assert done["task"]["result"] == "findings" and done["task"]["status"] == "inspected"
        public_findings = w.get("public", f"/inspections/tasks/{t1['id']}/findings").json()
        assert public_findings["count"] == 1
        assert public_findings["data"][0]["penalty"] == {"type": "fine", "amount_yuan": "20000.00"}
        w.ok("zh", f"/inspections/tasks/{t2['id']}/transitions", {"to": "inspected", "result_summary": "未发现问题"})
        for t in rest:
            w.ok("zh2", f"/inspections/tasks/{t['id']}/transitions",
                 {"to": "inspected", "result": "not_operating", "result_summary": "企业停产"})

        refused = w.post("zh", f"/inspections/tasks/{t1['id']}/transitions", {"to": "closed"})
        assert refused.status_code == 409 and str(hd["id"]) in refused.text
        with w.owner.begin() as c:  # the closed loop runs elsewhere (test_hidden_danger_loop): jump to verified
            c.execute(text("UPDATE hidden_dangers SET status = 'verified' WHERE id = :i"), {"i": hd["id"]})
        assert w.post("zh", f"/inspections/tasks/{t1['id']}/transitions", {"to": "closed"}).status_code == 201
        completed = w.move("zh2", did, "completed")
        assert completed.status_code == 201 and completed.json()["draw"]["completed_at"]
        events = _events(zh_sub, did, 4)
        assert _events(xh_sub, did, 1, timeout_s=0.5) == []
    finally:
        zh_sub.close()
        xh_sub.close()

    h = w.get("zh", f"/inspections/draws/{did}/history").json()
    draw_moves = [(m["action"], m["actor"]) for m in h["data"] if m["task_id"] is None]
    assert draw_moves == [("drawn", "i.zh"), ("published", "i.zh"), ("started", "i.zh"), ("completed", "i.zh2")]
    t1_moves = [m["action"] for m in h["data"] if m["task_id"] == t1["id"]]
    assert t1_moves == ["planned", "inspected", "closed"]
    assert w.get("public", f"/inspections/draws/{did}/history").status_code == 403
    kinds = {e["kind"] for e in events}
    assert "inspection_draw.created" in kinds and "inspection_draw.updated" in kinds

    with w.owner.connect() as c:
        rec = c.execute(text("SELECT kind, severity, amount_yuan, is_public FROM enterprise_records WHERE id = :i"),
                        {"i": found["enforcement_record"]["id"]}).one()
        assert tuple(rec) == ("enforcement", "fine", Decimal("20000.00"), True)
        audited = c.execute(text("SELECT table_name, count(*), count(request_id) FROM audit_log WHERE table_name "
                                 "LIKE 'inspection%' GROUP BY table_name")).all()
        assert {t for t, _, _ in audited} >= {"inspection_draws", "inspection_tasks", "inspection_findings",
                                              "inspection_transitions"}
        assert all(n == with_request for _, n, with_request in audited)  # every row carries its HTTP request id
    assert verify_chain(libpq_dsn(w.db.owner_url)).ok


def test_enterprise_sees_its_own_task_only_once_published(w):
    d = w.draw(strata=[{"name": "z1", "risk_colours": ["red"], "count": 3}], seed=5)
    task = _task_of(d, w.ids["Z1"])
    assert w.get("ent", f"/inspections/tasks/{task['id']}").status_code == 404
    assert w.move("zh", d["id"], "published").status_code == 201
    assert w.get("ent", f"/inspections/tasks/{task['id']}").status_code == 200
    checked = w.get("ent", f"/inspections/draws/{d['id']}/verify").json()  # its own task, and the digest
    assert checked["matches"] is True and checked["tasks_compared"] == 1 and checked["task_count"] == 3
    listed = w.get("ent", "/inspections/tasks", draw_id=d["id"]).json()
    assert [t["enterprise_id"] for t in listed["data"]] == [w.ids["Z1"]]


def test_a_generated_seed_is_recorded_and_reproduces(w):
    d = w.draw(seed=None)
    assert d["seed_source"] == "generated" and 0 <= int(d["seed"]) < 2**63
    assert w.get("zh", f"/inspections/draws/{d['id']}/verify").json()["matches"] is True


def test_the_same_seed_gives_the_same_draw_and_another_seed_another(w):
    a, b, c = w.draw(seed=7), w.draw(seed=7), w.draw(seed=8)
    strip = lambda d: [(t["enterprise_id"], t["inspector_ids"]) for t in d["tasks"]]  # noqa: E731
    assert strip(a) == strip(b) and a["result_sha256"] == b["result_sha256"]
    assert strip(a) != strip(c)


def test_cancelled_draw_and_its_tasks_leave_the_map_and_stay_on_record(w):
    d = w.draw(seed=11)
    assert w.move("zh", d["id"], "cancelled").json()["detail"][0]["field"] == "note"
    r = w.move("zh", d["id"], "cancelled", note="抽取范围设置错误")
    assert r.status_code == 201 and r.json()["draw"]["status"] == "cancelled"
    assert {t["status"] for t in r.json()["draw"]["tasks"]} == {"cancelled"}
    assert w.get("zh", "/inspections/tasks", draw_id=d["id"]).json()["count"] == 0
    assert w.move("zh", d["id"], "published").status_code == 409


def test_city_draws_across_its_counties_and_counties_cannot_move_it(w):
    w.inspector("nb", "宁波市一", "330200")
    w.inspector("nb", "宁波市二", "330200")
    d = w.draw("nb", adcode="330200", strata=[{"name": "all", "risk_colours": ["orange", "yellow"], "count": 5}],
               seed=3)
    counties = {t["adcode"] for t in d["tasks"]}
    assert counties <= {"330211", "330206"}
    assert w.move("zh", d["id"], "published").status_code == 404  # the city's draw, not the county's
    assert w.move("nb", d["id"], "published").status_code == 201


def test_teams_are_recorded_and_only_the_team_records_its_results(w):
    w.inspector("bl", "北仑一", "330206", username="i.bl")
    w.inspector("bl", "北仑二", "330206")
    d = w.draw("bl", adcode="330206", strata=[{"name": "all", "risk_colours": ["orange", "yellow"], "count": 2}])
    for to in ("published", "started"):
        assert w.move("bl", d["id"], to).status_code == 201
    task = d["tasks"][0]
    body = {"to": "inspected", "result_summary": "未发现问题"}
    refused = w.post("bl2", f"/inspections/tasks/{task['id']}/transitions", body)
    assert refused.status_code == 403 and "北仑一" in refused.text
    refused = w.post("bl2", f"/inspections/tasks/{task['id']}/findings", {
        "title": "t", "description": "d", "category": "fire", "level": "general"})
    assert refused.status_code == 403
    assert w.post("bl", f"/inspections/tasks/{task['id']}/transitions", body).status_code == 201


def test_recent_inspectors_are_not_sent_to_the_same_enterprise_again(w):
    first = w.draw("xh", adcode="330106", strata=[{"name": "all", "risk_colours": ["red"], "count": 1}],
                   avoid_repeat_days=365)
    assert sorted(first["tasks"][0]["inspector_ids"]) == sorted(w.xh_roster)
    before = w.state()
    again = w.post("xh", "/inspections/draws", {"adcode": "330106", "avoid_repeat_days": 365, "seed": 1,
                                                "strata": [{"name": "all", "risk_colours": ["red"], "count": 1}]})
    assert again.status_code == 422, again.text
    detail = again.json()["detail"][0]
    assert detail["field"] == "inspectors" and str(w.ids["X1"]) in detail["reason"] and "抽查测试企业X1" in detail["reason"]
    assert w.state() == before
    assert w.draw("xh", adcode="330106", strata=[{"name": "all", "risk_colours": ["red"], "count": 1}],
                  avoid_repeat_days=0)["task_count"] == 1


# ------------------------------------------------------------------------------------------ bad input

BAD_DRAWS = [
    ({"filters": {"industries": ["fireworks"]}}, 422, "filters"),
    ({"adcode": "330102"}, 403, None),  # Shangcheng: another county
    ({"adcode": "330299"}, 422, "adcode"),  # no such region
    ({"adcode": "33021"}, 422, "adcode"),
    ({"team_size": 6}, 422, "inspectors"),
    ({"team_size": 1}, 422, "team_size"),
    ({"strata": []}, 422, "strata"),
    ({"strata": [{"name": "a", "risk_colours": ["red"], "count": -1}]}, 422, "strata.0.count"),
    ({"strata": [{"name": "a", "risk_colours": ["red"], "proportion": "1.5"}]}, 422, "strata.0.proportion"),
    ({"strata": [{"name": "a", "risk_colours": ["red"], "proportion": "0.123456"}]}, 422, "strata.0.proportion"),
    ({"strata": [{"name": "a", "risk_colours": ["red"], "count": 4}]}, 422, "strata.0.count"),
    ({"strata": [{"name": "a", "risk_colours": ["red"], "count": 1, "proportion": "0.5"}]}, 422, "strata.0"),
    ({"strata": [{"name": "a", "risk_colours": ["red"]}]}, 422, "strata.0"),
    ({"strata": [{"name": "a", "risk_colours": ["red"], "count": 0}]}, 422, "strata"),
    ({"strata": [{"name": "a", "risk_colours": ["purple"], "count": 1}]}, 422, "strata.0.risk_colours.0"),
    ({"strata": [{"name": "a", "risk_colours": ["red"], "count": 1},
                 {"name": "b", "risk_colours": ["red", "blue"], "count": 1}]}, 422, "strata.1.risk_colours"),
    ({"strata": [{"name": "a", "risk_colours": ["red"], "count": 1},
                 {"name": "a", "risk_colours": ["blue"], "count": 1}]}, 422, "strata.1.name"),
    ({"strata": [{"name": "a", "risk_colours": ["red"], "count": 1, "weights": {"blue": 2}}]}, 422,
     "strata.0.weights"),
    ({"strata": [{"name": "a", "risk_colours": ["red"], "count": 1, "weights": {"red": 0}}]}, 422,
     "strata.0.weights"),
    ({"seed": -1}, 422, "seed"),
    ({"seed": 2**63}, 422, "seed"),
    ({"seed": True}, 422, "seed"),
    ({"seed": "42"}, 422, "seed"),
    ({"period": "2026-13"}, 422, "period"),
    ({"colour": "red"}, 422, "colour"),
]


@pytest.mark.parametrize(("change", "status", "field"), BAD_DRAWS)
def test_bad_draw_is_refused_and_nothing_is_written(w, change, status, field):
    body = {"adcode": "330211", "avoid_repeat_days": 0, "seed": 1,
            "strata": [{"name": "all", "risk_colours": ["red"], "count": 1}]} | change
    before = w.state()
    r = w.post("zh", "/inspections/draws", body)
    assert r.status_code == status, r.text
    if field is not None:
        assert r.json()["detail"][0]["field"] == field, r.text
    assert w.state() == before


def test_an_empty_region_names_the_adcode(w):
    before = w.state()
    r = w.post("prov", "/inspections/draws", {"adcode": "330102", "seed": 1,
                                              "strata": [{"name": "a", "risk_colours": ["red"], "count": 1}]})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "adcode" and "empty" in r.text
    assert w.state() == before


@pytest.mark.parametrize("who", ["ent", "public"])
def test_enterprise_and_public_may_not_draw_or_keep_the_roster(w, who):
    before = w.state()
    assert w.post(who, "/inspections/draws", {"adcode": "330211", "strata": [
        {"name": "a", "risk_colours": ["red"], "count": 1}]}).status_code == 403
    assert w.post(who, "/inspections/inspectors", {"name": "x", "adcode": "330211"}).status_code == 403
    assert w.get(who, "/inspections/inspectors").status_code == 403
    assert w.state() == before


def test_another_jurisdictions_draw_tasks_and_roster_are_404(w):
    d = w.running()
    task = d["tasks"][0]
    before = w.state()
    assert w.get("xh", f"/inspections/draws/{d['id']}").status_code == 404
    assert w.get("xh", f"/inspections/draws/{d['id']}/history").status_code == 404
    assert w.move("xh", d["id"], "completed").status_code == 404
    assert w.post("xh", f"/inspections/tasks/{task['id']}/transitions",
                  {"to": "inspected", "result_summary": "x"}).status_code == 404
    assert w.post("xh", f"/inspections/tasks/{task['id']}/findings", {
        "title": "t", "description": "d", "category": "fire", "level": "general"}).status_code == 404
    assert w.post("xh", f"/inspections/inspectors/{w.roster['甲']}/conflicts", {
        "enterprise_id": w.ids["X1"], "kind": "other", "reason": "x"}).status_code == 404
    assert w.client.patch(f"/inspections/inspectors/{w.roster['甲']}", headers=w.auth["xh"],
                          json={"active": False}).status_code == 404
    assert w.post("xh", "/inspections/inspectors", {"name": "越权", "adcode": "330211"}).status_code == 403
    assert w.state() == before


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    ("/inspections/inspectors", {"name": "", "adcode": "330211"}, 422, "name"),
    ("/inspections/inspectors", {"name": "x", "adcode": "330211", "badge_no": "a b"}, 422, "badge_no"),
    ("/inspections/inspectors", {"name": "x", "adcode": "330211", "username": "nobody"}, 422, "username"),
    ("/inspections/inspectors", {"name": "x", "adcode": "330211", "username": "i.ent"}, 422, "username"),
    ("/inspections/inspectors", [1], 422, "body"),
    ("CONFLICT", {"enterprise_id": 999999, "kind": "relative", "reason": "x"}, 422, "enterprise_id"),
    ("CONFLICT", {"enterprise_id": "X1", "kind": "relative", "reason": "x"}, 422, "enterprise_id"),
    ("CONFLICT", {"enterprise_id": "Z2", "kind": "cousin", "reason": "x"}, 422, "kind"),
    ("CONFLICT", {"enterprise_id": "Z2", "kind": "relative", "reason": " "}, 422, "reason"),
])
def test_bad_roster_input_is_422_naming_the_field(w, path, body, status, field):
    if path == "CONFLICT":
        path = f"/inspections/inspectors/{w.roster['乙']}/conflicts"
        if isinstance(body["enterprise_id"], str):
            body = body | {"enterprise_id": w.ids[body["enterprise_id"]]}
    before = w.state()
    r = w.post("zh", path, body)
    assert r.status_code == status and r.json()["detail"][0]["field"] == field, r.text
    assert w.state() == before


def test_a_duplicate_badge_or_conflict_names_the_field(w):
    w.inspector("zh", "持证人", "330211", badge_no="ZJ-0001")
    before = w.state()
    r = w.post("zh", "/inspections/inspectors", {"name": "重复", "adcode": "330211", "badge_no": "ZJ-0001"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "badge_no"
    assert w.state() == before


def test_an_enterprise_without_eligible_inspectors_is_named(w):
    target = w.ids["Z12"]  # the only unrated one (the other tests leave it out of their strata)
    for inspector in w.get("zh", "/inspections/inspectors", adcode="330211").json()["data"][1:]:
        w.ok("zh", f"/inspections/inspectors/{inspector['id']}/conflicts",
             {"enterprise_id": target, "kind": "former_employee", "reason": "曾在该企业任职"})
    before = w.state()
    r = w.post("zh", "/inspections/draws", {"adcode": "330211", "seed": 1, "avoid_repeat_days": 0, "strata": [
        {"name": "u", "risk_colours": ["unrated"], "count": 1}]})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "inspectors"
    assert str(target) in r.text and "抽查测试企业Z12" in r.text
    assert w.state() == before


@pytest.mark.parametrize(("stage", "to", "status", "allowed"), [
    ("drawn", "started", 409, ["published", "cancelled"]),
    ("drawn", "completed", 409, ["published", "cancelled"]),
    ("published", "published", 409, ["started"]),
    ("published", "cancelled", 409, ["started"]),
    ("running", "completed", 409, []),  # tasks still planned
    ("drawn", "closed", 422, None),
])
def test_illegal_draw_moves_are_refused_and_change_nothing(w, stage, to, status, allowed):
    d = w.draw(seed=21)
    if stage in ("published", "running"):
        assert w.move("zh", d["id"], "published").status_code == 201
    if stage == "running":
        assert w.move("zh", d["id"], "started").status_code == 201
    before = w.state()
    r = w.move("zh", d["id"], to)
    assert r.status_code == status, r.text
    if allowed is not None:
        assert r.json()["allowed"] == allowed
    assert w.state() == before


def test_illegal_task_moves_and_findings_are_refused_and_change_nothing(w):
    d = w.draw(seed=31)
    w.move("zh", d["id"], "published")
    task = d["tasks"][0]
    finding = {"title": "t", "description": "d", "category": "fire", "level": "general"}
    cases = [
        ({"to": "inspected", "result_summary": "x"}, "transitions", 409, "draw"),  # draw not started yet
        (finding, "findings", 409, "draw"),
    ]
    before = w.state()
    for body, kind, status, field in cases:
        r = w.post("zh", f"/inspections/tasks/{task['id']}/{kind}", body)
        assert r.status_code == status and r.json()["detail"][0]["field"] == field, r.text
    assert w.state() == before
    w.move("zh", d["id"], "started")
    before = w.state()
    for body, kind, status, field in [
        ({"to": "closed"}, "transitions", 409, "to"),
        ({"to": "inspected"}, "transitions", 422, "result_summary"),
        ({"to": "inspected", "result_summary": "x", "result": "findings"}, "transitions", 422, "result"),
        ({"to": "inspected", "result_summary": "x", "inspected_on": "2999-01-01"}, "transitions", 422,
         "inspected_on"),
        ({"to": "inspected", "result_summary": "x", "inspected_on": "2001-01-01"}, "transitions", 422,
         "inspected_on"),
        ({"to": "reported"}, "transitions", 422, "to"),
        (finding | {"penalty": {"type": "fine"}}, "findings", 422, "penalty.amount_yuan"),
        (finding | {"penalty": {"type": "warning", "amount_yuan": 100}}, "findings", 422, "penalty.amount_yuan"),
        (finding | {"penalty": {"type": "fine", "amount_yuan": -5}}, "findings", 422, "penalty.amount_yuan"),
        (finding | {"penalty": {"type": "jail"}}, "findings", 422, "penalty.type"),
        (finding | {"level": "huge"}, "findings", 422, "level"),
        ({"title": "t"}, "findings", 422, "description"),
    ]:
        r = w.post("zh", f"/inspections/tasks/{task['id']}/{kind}", body)
        assert r.status_code == status and r.json()["detail"][0]["field"] == field, (body, r.text)
    assert w.state() == before
    assert w.post("ent", f"/inspections/tasks/{task['id']}/findings", finding).status_code in (403, 404)
    assert w.post("zh", "/inspections/tasks/999999/findings", finding).status_code == 404
    w.ok("zh", f"/inspections/tasks/{task['id']}/transitions", {"to": "inspected", "result_summary": "未发现问题"})
    before = w.state()
    r = w.post("zh", f"/inspections/tasks/{task['id']}/findings", finding)
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "task"
    assert w.state() == before


# ------------------------------------------------------------------------------------------ concurrency

def test_two_officers_publishing_at_once_over_http_one_gets_409(w):
    for seed in (41, 42, 43):
        d = w.draw(seed=seed)
        start = threading.Barrier(2)
        codes: list[int] = []

        def publish(user: str, did=d["id"], start=start, codes=codes) -> None:
            start.wait()
            codes.append(w.move(user, did, "published").status_code)

        threads = [threading.Thread(target=publish, args=(u,)) for u in ("zh", "zh2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(codes) == [201, 409]
        with w.owner.connect() as c:
            assert c.execute(text("SELECT count(*) FROM inspection_transitions WHERE draw_id = :i "
                                  "AND action = 'published'"), {"i": d["id"]}).scalar() == 1


def test_the_second_officer_waits_for_the_first_and_finds_the_draw_started(w):
    d = w.draw(seed=51)
    assert w.move("zh", d["id"], "published").status_code == 201
    a, b = race_for_a_lock(w.app_engine, w.ctx("zh"), w.ctx("zh2"),
                           lambda conn, ctx: move_draw(conn, draw_id=d["id"], payload={"to": "started"}, ctx=ctx))
    assert not isinstance(a, Exception), a
    assert isinstance(b, IllegalTransition) and b.status == "in_progress"


# ------------------------------------------------------------------------------------------ the database holds

def test_the_recorded_draw_never_changes_even_for_the_owner(w):
    d = w.draw(seed=61)
    for stmt in ("UPDATE inspection_draws SET seed = seed + 1 WHERE id = :i",
                 "UPDATE inspection_tasks SET inspector_ids = ARRAY[1, 2]::bigint[] WHERE draw_id = :i",
                 "UPDATE inspection_transitions SET note = 'x' WHERE draw_id = :i",
                 "DELETE FROM inspection_transitions WHERE draw_id = :i"):
        with w.owner.begin() as c, pytest.raises(DBAPIError, match="never|append-only"):
            c.execute(text(stmt), {"i": d["id"]})


def test_the_app_role_cannot_skip_the_workflow(w):
    d = w.draw(seed=71)
    ctx = w.ctx("zh")
    for stmt, words in (("UPDATE inspection_draws SET status = 'published', is_public = true WHERE id = :i",
                         "transitions"),
                        ("UPDATE inspection_tasks SET is_public = true WHERE draw_id = :i", "published with"),
                        ("INSERT INTO inspection_transitions (draw_id, from_status, to_status, action) "
                         "VALUES (:i, 'drawn', 'drawn', 'maintenance')", "row-level security")):
        with w.app_engine.connect() as conn, conn.begin():
            apply_context(conn, ctx)
            with pytest.raises(DBAPIError, match=words):
                conn.execute(text(stmt), {"i": d["id"]})


def test_a_fine_alone_has_an_amount_in_the_database(w):
    with w.owner.begin() as c, pytest.raises(DBAPIError, match="enterprise_records_amount_check"):
        c.execute(text("INSERT INTO enterprise_records (enterprise_id, kind, occurred_on, severity, source, "
                       "amount_yuan) VALUES (:e, 'enforcement', DATE '2026-01-01', 'warning', 'test', 100)"),
                  {"e": w.ids["Z2"]})


def test_redraw_cli_reproduces_and_detects_tampering(w, monkeypatch):
    from api import inspections_cli

    monkeypatch.setattr(inspections_cli, "_engine", lambda: make_engine(w.db.owner_url))
    d = w.draw(seed=81)
    runner = CliRunner()
    out = runner.invoke(inspections_cli.inspections_app, ["redraw", "--id", str(d["id"])])
    assert out.exit_code == 0, out.output
    assert "identical" in out.output and d["result_sha256"] in out.output
    out = runner.invoke(inspections_cli.inspections_app, ["redraw", "--id", str(d["id"]), "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["matches"] is True
    bad = runner.invoke(inspections_cli.inspections_app, ["redraw", "--id", "999999"])
    assert bad.exit_code == 2 and bad.output.startswith("error: id:")
    # a superuser swaps a team past the triggers: the redraw no longer matches
    admin = make_engine(w.db.admin_url)
    try:
        with admin.begin() as c:
            c.execute(text("SET LOCAL session_replication_role = replica"))
            c.execute(text("UPDATE inspection_tasks SET inspector_ids = inspector_ids[2:2] || inspector_ids[1:1] "
                           "WHERE draw_id = :i AND seq = 1"), {"i": d["id"]})
    finally:
        admin.dispose()
    out = runner.invoke(inspections_cli.inspections_app, ["redraw", "--id", str(d["id"])])
    assert out.exit_code == 1 and "differs at seq 1" in out.output and "DIFFERENT" in out.output
    assert w.get("zh", f"/inspections/draws/{d['id']}/verify").json()["matches"] is False


def test_the_layer_is_in_the_catalogue_with_a_legend(w):
    layers = {entry["name"]: entry for entry in w.client.get("/layers").json()["data"]}
    layer = layers["inspection_tasks"]
    assert layer["path"] == "/inspections/tasks" and len(layer["legend"]) == 5
    assert all(item["zh"] and item["en"] for item in layer["legend"])
    tile = w.client.get("/tiles/inspection_tasks/10/857/418.mvt")
    assert tile.status_code in (200, 204)


# ------------------------------------------------------------------------------------------ the draw, pure

def _pool(n_red: int = 20, n_blue: int = 20):
    return tuple((i + 1, "red" if i < n_red else "blue") for i in range(n_red + n_blue))


def test_pure_draw_is_deterministic_and_ignores_input_order():
    pool = _pool()
    strata = (Stratum("all", ("red", "blue"), count=5, weights={"red": 3.0}),)
    a = draw(pool=pool, roster=(1, 2, 3, 4), exclusions=frozenset(), strata=strata, team_size=2, seed=99)
    b = draw(pool=tuple(reversed(pool)), roster=(4, 3, 2, 1), exclusions=set(), strata=strata, team_size=2, seed=99)
    c = draw(pool=pool, roster=(1, 2, 3, 4), exclusions=frozenset(), strata=strata, team_size=2, seed=100)
    assert a == b and result_digest(a) == result_digest(b) and a != c


def test_weighted_strata_draw_red_about_three_times_as_often_as_blue():
    pool = _pool()
    strata = (Stratum("all", ("red", "blue"), count=2, weights={"red": 3.0}),)
    counts: Counter = Counter()
    for seed in range(3000):
        for t in draw(pool=pool, roster=(1, 2), exclusions=(), strata=strata, team_size=2, seed=seed):
            counts["red" if t.enterprise_id <= 20 else "blue"] += 1
    ratio = counts["red"] / counts["blue"]
    assert 2.4 < ratio < 3.6, counts


def test_unweighted_draw_is_uniform():
    pool = _pool(10, 10)
    strata = (Stratum("all", ("red", "blue"), count=5),)
    counts: Counter = Counter()
    for seed in range(2000):
        counts.update(t.enterprise_id for t in draw(pool=pool, roster=(1, 2), exclusions=(), strata=strata,
                                                    team_size=2, seed=seed))
    expected = 2000 * 5 / 20
    assert all(abs(counts[i] - expected) < 0.15 * expected for i in range(1, 21)), counts


def test_teams_have_two_distinct_inspectors_spread_evenly_and_respect_conflicts():
    pool = _pool(12, 0)
    excl = {(1, 1), (2, 1), (3, 5)}
    tasks = draw(pool=pool, roster=(1, 2, 3, 4), exclusions=excl, strata=(Stratum("r", ("red",), count=12),),
                 team_size=2, seed=5)
    load: Counter = Counter()
    for t in tasks:
        assert len(t.inspectors) == 2 and len(set(t.inspectors)) == 2
        assert not any((i, t.enterprise_id) in excl for i in t.inspectors)
        load.update(t.inspectors)
    assert max(load.values()) - min(load.values()) <= 2
    with pytest.raises(TooFewInspectors) as info:
        draw(pool=pool, roster=(1, 2, 3), exclusions={(1, 7), (2, 7)}, strata=(Stratum("r", ("red",), count=12),),
             team_size=2, seed=5)
    assert info.value.enterprise_id == 7 and info.value.field == "inspectors"


@pytest.mark.parametrize(("proportion", "n", "size"), [("0.1", 30, 3), ("0.1", 31, 4), ("1", 7, 7), ("0.0001", 1, 1),
                                                        ("0.3333", 3, 1), ("0.5", 0, 0)])
def test_proportions_round_up_exactly(proportion, n, size):
    assert stratum_size(Stratum("s", ("red",), proportion=Decimal(proportion)), n) == size


def test_a_count_larger_than_the_stratum_is_refused():
    with pytest.raises(InvalidInput, match="asks for 3"):
        draw(pool=_pool(2, 0), roster=(1, 2), exclusions=(), strata=(Stratum("s", ("red",), count=3),), team_size=2,
             seed=1)


def test_the_recorded_algorithm_is_stable():
    """A fixed case: if this changes, old draws no longer verify (bump the algorithm version instead)."""
    tasks = draw(pool=((1, "red"), (2, "red"), (3, "blue"), (4, "blue"), (5, "blue")), roster=(10, 11, 12),
                 exclusions={(10, 3)}, strata=(Stratum("r", ("red",), count=1), Stratum("b", ("blue",), count=2)),
                 team_size=2, seed=20261123)
    assert [t.as_list() for t in tasks] == STABLE_RESULT


# recorded with numpy 2.4 (PCG64 and Generator.random are stable across numpy versions by numpy's policy)
STABLE_RESULT = [[1, 1, "r", [12, 10]], [2, 3, "b", [11, 12]], [3, 4, "b", [11, 10]]]


# ------------------------------------------------------------------------------------------ one rule table

def test_the_database_freezes_the_same_edges_as_the_rule_tables():
    mig = importlib.import_module("geo.migrations.versions.0011_inspections")
    assert {a: (r.from_status, r.to_status) for a, r in DRAW_RULES.items()} == mig.DRAW_EDGES
    task_edges = {a: (r.from_status, r.to_status) for a, r in TASK_RULES.items() if a != "finding"}
    assert task_edges == {a: e for a, e in mig.TASK_EDGES.items() if a not in ("planned", "cancelled")}


def test_docs_show_the_rule_tables():
    assert rules_markdown() in (ROOT / "docs" / "WORKFLOWS.md").read_text(encoding="utf-8")


def test_demo_rosters_and_running_draw(throwaway):
    from data.demo import load_demo
    from data.demo_inspections import DEMO_COUNTY, add_demo_inspections

    db = throwaway()
    engine = make_engine(db.owner_url)
    try:
        load_demo(engine, n_enterprises=300, seed=5)
        counts = add_demo_inspections(engine)
        with engine.connect() as c:
            counties = c.execute(text("SELECT count(DISTINCT adcode) FROM enterprises WHERE status = 'active'")).scalar()
            draw_row = c.execute(text("SELECT id, status, is_public FROM inspection_draws")).one()
            results = dict(c.execute(text("SELECT coalesce(result, status), count(*) FROM inspection_tasks "
                                          "GROUP BY 1")).all())
        assert counts["inspectors"] == 4 * counties and counts["draws"] == 1 and counts["tasks"] >= 1
        assert draw_row.status == "in_progress" and draw_row.is_public
        assert results.get("findings") == 1 and sum(results.values()) == counts["tasks"], results
        from workflows.inspections import verify_draw

        with engine.connect() as c:
            assert verify_draw(c, draw_id=draw_row.id)["matches"]
        assert DEMO_COUNTY == "330211"
    finally:
        engine.dispose()
