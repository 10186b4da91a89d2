"""Accident quick reports (事故快报), end to end over HTTP on a throwaway PostGIS.

One module database (regions, enterprises in Zhenhai 330211, Beilun 330206
and Xihu 330106, one user per role) and one app (TestClient, app role).
Every refusal is checked to leave the report, its history and the enterprise
records exactly as they were.
"""

from __future__ import annotations

import datetime as dt
import importlib
import threading
import time

import mapbox_vector_tile
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from geo import vocab
from geo.audit import verify_chain
from geo.context import RequestContext, apply_context
from geo.db import libpq_dsn
from tests.conftest import BL, XH, ZH, _at, world_uscc
from tests.test_tiles_api import tile_of
from tests.workflow_app import workflow_app
from workflows.accident_reports import (
    CLOSED_BY,
    RULES,
    TARGETS,
    classes_markdown,
    grade,
    rules_markdown,
)

PASSWORD = "correct horse battery"
USERS = {  # name -> (role, adcode, enterprise key)
    "province": ("province", "330000", None), "ningbo": ("city", "330200", None),
    "zhenhai": ("county", "330211", None), "zhenhai2": ("county", "330211", None),
    "xihu": ("county", "330106", None), "ent": ("enterprise", "330211", "E1"), "ent2": ("enterprise", "330211", "E2"),
}
ENTERPRISES = {"E1": (401, "330211", ZH), "E2": (402, "330211", ZH), "SB1": (501, "330206", BL),
               "SX1": (601, "330106", XH)}
CHINA = dt.timezone(dt.timedelta(hours=8))


class Desk:
    def __init__(self, db, owner, client, ids, auth, now):
        self.db, self.owner, self.client, self.ids, self.auth, self.now = db, owner, client, ids, auth, now

    def ctx(self, user: str) -> RequestContext:
        role, adcode, ent = USERS[user]
        return RequestContext(role=role, jurisdiction=RequestContext.prefix_of(adcode, role), actor=f"a.{user}",
                              enterprise_id=self.ids[ent] if ent else None)

    def body(self, **over) -> dict:
        b = {"occurred_at": (self.now - dt.timedelta(minutes=20)).isoformat(), "accident_type": "leak",
             "description": "液氯钢瓶阀门泄漏，两人吸入不适", "enterprise_id": self.ids["E1"], "chemical": "氯",
             "cas": "7782-50-5", "serious_injuries": 2}
        b.update(over)
        return {k: v for k, v in b.items() if v is not None}

    def report(self, who: str = "ent", **over) -> dict:
        r = self.client.post("/accident-reports", headers=self.auth[who], json=self.body(**over))
        assert r.status_code == 201, r.text
        return r.json()

    def move(self, who: str, rid: int, **body):
        return self.client.post(f"/accident-reports/{rid}/transitions", headers=self.auth[who], json=body)

    def ok(self, who: str, rid: int, **body) -> dict:
        r = self.move(who, rid, **body)
        assert r.status_code == 201, r.text
        return r.json()

    def state(self, rid: int | None = None) -> dict:
        with self.owner.connect() as c:
            reports = c.execute(text("SELECT count(*) FROM accident_reports")).scalar()
            records = c.execute(text("SELECT count(*), string_agg(severity, ',' ORDER BY id) FROM enterprise_records "
                                     "WHERE kind = 'accident'")).one()
            row = None if rid is None else dict(c.execute(text(
                "SELECT status, deaths, serious_injuries, missing, accident_class, record_id, version, valid_to "
                "FROM accident_reports WHERE id = :i"), {"i": rid}).mappings().one())
            steps = None if rid is None else c.execute(text(
                "SELECT count(*) FROM accident_report_updates WHERE accident_report_id = :i"), {"i": rid}).scalar()
        return {"reports": reports, "records": tuple(records), "row": row, "steps": steps}


@pytest.fixture(scope="module")
def desk(throwaway, settings):
    def populate(c) -> dict[str, int]:
        ids = {key: c.execute(text(
            "INSERT INTO enterprises (uscc, name, industry, scale, geom) "
            f"VALUES (:u, :n, 'hazchem_storage', 'small', {_at(point, n, 45)}) RETURNING id"),
            {"u": world_uscc(n, county), "n": f"快报测试企业{key}"}).scalar_one()
            for key, (n, county, point) in ENTERPRISES.items()}
        ids["H1"] = c.execute(text(
            "INSERT INTO hazard_units (enterprise_id, name, kind, geom) "
            f"VALUES (:e, '液氯储罐区', 'storage', {_at(ZH, 420, 45)}) RETURNING id"), {"e": ids["E1"]}).scalar_one()
        ids["H2"] = c.execute(text(
            "INSERT INTO hazard_units (enterprise_id, name, kind, geom) "
            f"VALUES (:e, '甲苯储罐', 'storage', {_at(ZH, 410, 45)}) RETURNING id"), {"e": ids["E2"]}).scalar_one()
        return ids

    with workflow_app(throwaway, settings, users=USERS, enterprises=ENTERPRISES, prefix="a", password=PASSWORD,
                      populate=populate) as app:
        with app.owner.connect() as c:
            now = c.execute(text("SELECT now()")).scalar_one()
        yield Desk(app.db, app.owner, app.client, app.ids, app.auth, now)


def _events(sub, rid: int, n: int, timeout_s: float = 10.0) -> list[str]:
    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        ev = sub.get(timeout=0.2)
        if ev is not None and ev.id == rid:
            got.append(ev.kind)
    return got


# ------------------------------------------------------------------------------------------ the whole story

def test_report_follow_up_verify_close_with_events_records_and_audit(desk):
    live = desk.client.app.state.live
    zh = live.subscribe(desk.ctx("zhenhai"), kinds=("accident_report.",))
    xh = live.subscribe(desk.ctx("xihu"), kinds=("accident_report.",))
    try:
        first = desk.report("ent", hazard_unit_id=desk.ids["H1"])  # location: the unit's
        rid = first["id"]
        assert first["status"] == "reported" and first["accident_class"] == "ordinary"
        assert first["adcode"] == "330211" and first["enterprise_id"] == desk.ids["E1"]
        assert first["title"] == "快报测试企业E1泄漏"
        # what the wall display fetches for the incident: a point
        item = desk.client.get(f"/accident-reports/{rid}", headers=desk.auth["zhenhai"]).json()
        assert item["geometry"]["type"] == "Point"
        unit = desk.client.get(f"/hazard-units/{desk.ids['H1']}", headers=desk.auth["zhenhai"]).json()
        assert item["geometry"]["coordinates"] == pytest.approx(unit["geometry"]["coordinates"])

        up = desk.ok("ent", rid, to="follow_up", deaths=1, serious_injuries=3, note="一名伤员经抢救无效死亡")
        assert up["update"]["action"] == "follow_up" and up["accident_report"]["deaths"] == 1
        v = desk.ok("zhenhai", rid, to="verified", note="现场核实")
        record_id = v["accident_report"]["record_id"]
        assert v["accident_report"]["status"] == "verified" and record_id is not None
        # the grade moves with a regulator's follow-up, and the enterprise record with it
        up2 = desk.ok("zhenhai", rid, to="follow_up", deaths=3, note="又有两人死亡")
        assert up2["update"]["accident_class"] == "larger" and up2["accident_report"]["accident_class"] == "larger"
        with desk.owner.connect() as c:
            rec = c.execute(text("SELECT kind, severity, enterprise_id, adcode FROM enterprise_records WHERE id = :i"),
                            {"i": record_id}).one()
        assert tuple(rec) == ("accident", "larger", desk.ids["E1"], "330211")
        refused = desk.move("zhenhai", rid, to="closed", note="结案")  # a larger accident: the city closes it
        assert refused.status_code == 403 and "city" in refused.json()["detail"]
        closed = desk.ok("ningbo", rid, to="closed", note="调查报告已批复，结案")
        assert closed["accident_report"]["status"] == "closed"
        kinds = _events(zh, rid, 6)
        assert _events(xh, rid, 1, timeout_s=0.5) == []
    finally:
        zh.close()
        xh.close()
    assert kinds == ["accident_report.created", "accident_report.updated", "accident_report.status_changed",
                     "accident_report.updated", "accident_report.closed"][: len(kinds)] and len(kinds) == 5

    h = desk.client.get(f"/accident-reports/{rid}/history", headers=desk.auth["zhenhai"]).json()
    assert h["status"] == "closed" and h["accident_class"] == "larger" and h["report_up_to"] == "province"
    assert h["reported_within_hour"] is True
    assert [(s["action"], s["actor"], s["deaths"]) for s in h["data"]] == [
        ("reported", "a.ent", 0), ("follow_up", "a.ent", 1), ("verified", "a.zhenhai", 1),
        ("follow_up", "a.zhenhai", 3), ("closed", "a.ningbo", 3)]
    assert desk.client.get(f"/accident-reports/{rid}/transitions", headers=desk.auth["zhenhai"]).json()["moves"] == []
    with desk.owner.connect() as c:
        audited = c.execute(text("SELECT count(*) FROM audit_log WHERE table_name = 'accident_report_updates' "
                                 "AND after->>'accident_report_id' = :i"), {"i": str(rid)}).scalar()
        assert audited == 5
    assert verify_chain(libpq_dsn(desk.db.owner_url)).ok


def test_regulator_reports_by_coordinates_and_china_time(desk):
    naive = (desk.now.astimezone(CHINA) - dt.timedelta(minutes=5)).replace(tzinfo=None, microsecond=0)
    r = desk.report("zhenhai", enterprise_id=None, chemical=None, cas=None, serious_injuries=None,
                    occurred_at=naive.isoformat(), accident_type="fire", lon=ZH[0] + 0.01, lat=ZH[1],
                    title="码头火情")
    assert r["enterprise_id"] is None and r["title"] == "码头火情" and r["adcode"] == "330211"
    got = dt.datetime.fromisoformat(r["occurred_at"])
    assert got == naive.replace(tzinfo=CHINA)  # no offset: China Standard Time
    v = desk.ok("zhenhai", r["id"], to="verified")
    assert v["accident_report"]["record_id"] is None  # no enterprise, no enterprise record
    # a county closes an ordinary accident
    assert desk.ok("zhenhai", r["id"], to="closed", note="结案")["accident_report"]["status"] == "closed"


def test_withdrawn_report_leaves_the_map_keeps_its_history(desk):
    live = desk.client.app.state.live
    sub = live.subscribe(desk.ctx("zhenhai"), kinds=("accident_report.",))
    try:
        rid = desk.report("ent", description="误报：演练")["id"]
        w = desk.ok("zhenhai", rid, to="withdrawn", note="经核实为应急演练")
        assert w["update"]["to_status"] == "withdrawn"
        kinds = _events(sub, rid, 2)
    finally:
        sub.close()
    assert kinds == ["accident_report.created", "accident_report.deleted"]
    item = desk.client.get(f"/accident-reports/{rid}", headers=desk.auth["zhenhai"]).json()
    assert item["status"] == "withdrawn"  # the item stays readable (soft deletion), the list drops it
    ids = [f["id"] for f in desk.client.get("/accident-reports?limit=500", headers=desk.auth["zhenhai"]).json()["data"]]
    assert rid not in ids
    h = desk.client.get(f"/accident-reports/{rid}/history", headers=desk.auth["zhenhai"]).json()
    assert [s["action"] for s in h["data"]] == ["reported", "withdrawn"] and h["status"] == "withdrawn"


def test_published_report_is_public_others_are_not(desk):
    pub = desk.report("zhenhai", is_public=True, enterprise_id=None, lon=ZH[0], lat=ZH[1] + 0.01)["id"]
    private = desk.report("ent")["id"]
    public_ids = [f["id"] for f in desk.client.get("/accident-reports?limit=500").json()["data"]]
    assert pub in public_ids and private not in public_ids
    assert desk.client.get(f"/accident-reports/{private}").status_code == 404
    assert desk.client.get(f"/accident-reports/{pub}/history").status_code in (401, 403)


# ------------------------------------------------------------------------------------------ who sees and does what

def test_jurisdiction_and_roles(desk):
    rid = desk.report("ent")["id"]
    before = desk.state(rid)
    assert desk.client.get(f"/accident-reports/{rid}", headers=desk.auth["xihu"]).status_code == 404
    assert desk.move("xihu", rid, to="verified").status_code == 404
    assert desk.client.get(f"/accident-reports/{rid}", headers=desk.auth["ent2"]).status_code == 404
    assert desk.move("ent2", rid, to="follow_up", deaths=1).status_code == 404
    r = desk.move("ent", rid, to="verified")
    assert r.status_code == 403 and "county" in r.json()["detail"]
    assert desk.move("public", rid, to="verified").status_code in (401, 403)
    assert desk.state(rid) == before
    # the city and the province see it
    for who in ("ningbo", "province"):
        assert desk.client.get(f"/accident-reports/{rid}", headers=desk.auth[who]).status_code == 200
    # after verification the enterprise no longer files follow-ups
    desk.ok("zhenhai", rid, to="verified")
    before = desk.state(rid)
    r = desk.move("ent", rid, to="follow_up", deaths=2)
    assert r.status_code == 403 and "regulator" in r.json()["detail"]
    assert desk.state(rid) == before


@pytest.mark.parametrize(("who", "over", "status", "field"), [
    ("ent", {"occurred_at": "2099-01-01T00:00:00+08:00"}, 422, "occurred_at"),
    ("ent", {"occurred_at": "2020-01-01T00:00:00+08:00"}, 422, "occurred_at"),
    ("ent", {"occurred_at": "yesterday"}, 422, "occurred_at"),
    ("ent", {"description": "  "}, 422, "description"),
    ("ent", {"accident_type": "meteor"}, 422, "accident_type"),
    ("ent", {"deaths": -1}, 422, "deaths"),
    ("ent", {"deaths": 1.5}, 422, "deaths"),
    ("ent", {"direct_loss_yuan": "NaN"}, 422, "direct_loss_yuan"),
    ("ent", {"cas": "7782505"}, 422, "cas"),
    ("ent", {"lon": 121.6}, 422, "lat"),
    ("ent", {"lon": 121.6, "lat": 29.9, "geometry": {"type": "Point", "coordinates": [121.6, 29.9]}}, 422, "geometry"),
    ("ent", {"geometry": {"type": "Polygon", "coordinates": []}}, 422, "geometry"),
    ("ent", {"lon": 2.35, "lat": 48.85}, 422, "lon"),
    ("ent", {"colour": "red"}, 422, "colour"),
    ("ent", {"enterprise_id": "E2"}, 422, "enterprise_id"),
    ("ent", {"is_public": True}, 403, None),
    ("zhenhai", {"enterprise_id": None, "chemical": None}, 422, "geometry"),  # nowhere to take the place from
    ("xihu", {"lon": ZH[0], "lat": ZH[1]}, 422, "enterprise_id"),  # E1 lies outside its county: not visible
    ("xihu", {"enterprise_id": None, "lon": ZH[0], "lat": ZH[1]}, 403, None),  # a place outside its county
    ("zhenhai", {"enterprise_id": None, "lon": XH[0], "lat": XH[1]}, 403, None),  # in Xihu: not its county
    ("public", {}, 401, None),
])
def test_bad_reports_are_refused_and_change_nothing(desk, who, over, status, field):
    before = desk.state()
    body = desk.body(**over)
    if over.get("enterprise_id") == "E2":
        body["enterprise_id"] = desk.ids["E2"]  # another enterprise's: the enterprise user may not
        status, field = 403, None
    r = desk.client.post("/accident-reports", headers=desk.auth[who], json=body)
    if who == "public":
        assert r.status_code in (401, 403), r.text
    else:
        assert r.status_code == status, r.text
    if field:
        assert any(d["field"] == field for d in r.json()["detail"]), r.text
    assert desk.state() == before


def test_hazard_unit_of_another_enterprise_is_refused(desk):
    before = desk.state()
    r = desk.client.post("/accident-reports", headers=desk.auth["zhenhai"],
                         json=desk.body(hazard_unit_id=desk.ids["H2"]))
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "hazard_unit_id"
    assert desk.state() == before


@pytest.mark.parametrize(("setup", "body", "status", "field"), [
    ([], {"to": "closed", "note": "x"}, 409, "to"),
    ([], {"to": "teleport"}, 422, "to"),
    ([], {"to": "withdrawn"}, 422, "note"),
    ([], {"to": "follow_up"}, 422, "body"),
    ([], {"to": "follow_up", "serious_injuries": 2}, 422, "body"),  # no change is no follow-up
    ([], {"to": "follow_up", "serious_injuries": 1}, 422, "note"),  # a figure down needs a reason
    ([], {"to": "verified", "description": "改写"}, 422, "description"),
    ([], {"to": "verified", "deaths": -3}, 422, "deaths"),
    ([{"to": "verified"}], {"to": "withdrawn", "note": "x"}, 409, "to"),
    ([{"to": "verified"}], {"to": "closed", "note": "x", "deaths": 4}, 422, "deaths"),
    ([{"to": "verified"}], {"to": "closed"}, 422, "note"),
    ([{"to": "verified"}, {"to": "closed", "note": "x"}], {"to": "follow_up", "deaths": 1}, 409, "to"),
])
def test_bad_moves_are_refused_and_change_nothing(desk, setup, body, status, field):
    rid = desk.report("ent")["id"]
    for step in setup:
        desk.ok("zhenhai", rid, **step)
    before = desk.state(rid)
    r = desk.move("zhenhai", rid, **body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert any(d["field"] == field for d in detail), r.text
    if status == 409:
        assert r.json()["allowed"] == [t for t in TARGETS if r.json()["status"] in RULES[t].from_status]
    assert desk.state(rid) == before


def test_stale_version_and_no_generic_writes(desk):
    created = desk.client.post("/accident-reports", headers=desk.auth["ent"], json=desk.body())
    rid, etag = created.json()["id"], created.headers["ETag"]
    desk.ok("ent", rid, to="follow_up", deaths=1)
    before = desk.state(rid)
    r = desk.client.post(f"/accident-reports/{rid}/transitions", headers={**desk.auth["zhenhai"], "If-Match": etag},
                         json={"to": "verified"})
    assert r.status_code == 409
    for method in ("patch", "delete"):
        r = getattr(desk.client, method)(f"/accident-reports/{rid}", headers={**desk.auth["zhenhai"], "If-Match": '"2"'})
        assert r.status_code == 405
    assert desk.state(rid) == before


def test_database_refuses_status_and_figures_outside_the_workflow(desk):
    rid = desk.report("ent")["id"]
    before = desk.state(rid)
    engine = desk.client.app.state.engine
    for sql in ("UPDATE accident_reports SET status = 'verified' WHERE id = :i",
                "UPDATE accident_reports SET deaths = 0, serious_injuries = 0 WHERE id = :i",
                "UPDATE accident_report_updates SET note = 'x' WHERE accident_report_id = :i"):
        with engine.connect() as c, c.begin():
            apply_context(c, desk.ctx("zhenhai"))
            with pytest.raises(DBAPIError):
                c.execute(text(sql), {"i": rid})
    with engine.connect() as c, c.begin():  # an enterprise user may not record a verification
        apply_context(c, desk.ctx("ent"))
        with pytest.raises(DBAPIError):
            c.execute(text("INSERT INTO accident_report_updates (accident_report_id, from_status, to_status, action, "
                           "deaths, serious_injuries, minor_injuries, missing) "
                           "VALUES (:i, 'reported', 'verified', 'verified', 0, 0, 0, 0)"), {"i": rid})
    assert desk.state(rid) == before


def test_two_officers_verify_at_once_exactly_one_wins(desk):
    rid = desk.report("ent")["id"]
    start = threading.Barrier(2)
    codes: dict[str, int] = {}

    def verify(user: str) -> None:
        start.wait()
        codes[user] = desk.move(user, rid, to="verified", note=user).status_code

    threads = [threading.Thread(target=verify, args=(u,)) for u in ("zhenhai", "zhenhai2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes.values()) == [201, 409]
    with desk.owner.connect() as c:
        n = c.execute(text("SELECT count(*) FROM enterprise_records WHERE source = :s"),
                      {"s": f"事故快报 #{rid}"}).scalar()
        steps = c.execute(text("SELECT count(*) FROM accident_report_updates WHERE accident_report_id = :i "
                               "AND action = 'verified'"), {"i": rid}).scalar()
    assert (n, steps) == (1, 1)


# ------------------------------------------------------------------------------------------ the map layer

def test_layer_in_catalogue_and_tiles(desk):
    rid = desk.report("ent", deaths=30)["id"]
    layers = {x["name"]: x for x in desk.client.get("/layers").json()["data"]}
    layer = layers["accident_reports"]
    assert layer["path"] == "/accident-reports"
    assert [x["value"] for x in layer["legend"]][:4] == ["ordinary", "larger", "major", "extraordinary"]
    assert layer["title"] == {"zh": "事故快报", "en": "Accident reports"}
    item = desk.client.get(f"/accident-reports/{rid}", headers=desk.auth["zhenhai"]).json()
    lon, lat = item["geometry"]["coordinates"]
    z, x, y = tile_of(lon, lat, 12)
    r = desk.client.get(f"/tiles/accident_reports/{z}/{x}/{y}.mvt", headers=desk.auth["zhenhai"])
    assert r.status_code == 200
    feats = mapbox_vector_tile.decode(r.content)["accident_reports"]["features"]
    mine = [f for f in feats if f["properties"].get("title") and f["id"] == rid] or \
        [f for f in feats if f["properties"].get("accident_class") == "extraordinary"]
    assert mine and mine[0]["properties"]["accident_class"] == "extraordinary"
    # another county's tile request sees nothing of Zhenhai's
    r = desk.client.get(f"/tiles/accident_reports/{z}/{x}/{y}.mvt", headers=desk.auth["xihu"])
    assert r.status_code in (200, 204)
    assert not r.content or "accident_reports" not in mapbox_vector_tile.decode(r.content)


# ------------------------------------------------------------------------------------------ the rules

@pytest.mark.parametrize(("deaths", "injured", "loss"), [
    (0, 0, None), (2, 9, 9_999_999.99), (3, 0, None), (0, 10, None), (0, 0, 10_000_000), (9, 49, 49_999_999),
    (10, 0, None), (0, 50, None), (0, 0, 50_000_000), (29, 99, 99_999_999), (30, 0, None), (0, 100, None),
    (0, 0, 100_000_000), (100, 1000, 1e10)])
def test_grade_agrees_with_the_database(conn, deaths, injured, loss):
    db = conn.execute(text(
        f"INSERT INTO accident_reports (occurred_at, accident_type, title, description, deaths, serious_injuries, "
        f"direct_loss_yuan, geom) VALUES (now(), 'fire', 't', 'd', :d, :s, :l, {_at(ZH)}) RETURNING accident_class"),
        {"d": deaths, "s": injured, "l": loss}).scalar_one()
    assert db == grade(deaths, injured, loss)


def test_rule_table_matches_the_migration_and_vocabularies():
    mig = importlib.import_module("geo.migrations.versions.0010_accident_reports")
    edges = {t: (r.from_status[0] if r.from_status else None, r.to_status) for t, r in RULES.items() if r.to_status}
    assert edges == mig.EDGES
    assert tuple(vocab.ACCIDENT_TYPES) == mig.ACCIDENT_TYPES
    assert tuple(vocab.ACCIDENT_STATUSES) == mig.STATUSES
    assert tuple(vocab.ACCIDENT_CLASSES) == mig.CLASSES
    assert set(CLOSED_BY) == set(vocab.ACCIDENT_CLASSES)
    assert RULES["withdrawn"].roles == RULES["verified"].roles and "enterprise" not in RULES["closed"].roles
    md = rules_markdown()
    assert all(f"`{t}`" in md for t in RULES) and "province" in classes_markdown()
