"""Stored GB 18218-2018 assessments (layers.hazard_records): exposure, edits, queue, history, HTTP, CLI.

Runs on its own throwaway databases: edits are committed through the app role
(a user's session under row-level security) and then drained by the owner
(the maintenance view), as in production. Each test works around its own
place, far (> 2 km) from every other test's.
"""

from __future__ import annotations

import json
from datetime import date
from itertools import count

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from geo import h3grid
from geo.context import RequestContext, install
from geo.db import make_engine, session_factory
from geo.errors import InvalidInput, NotFound
from geo.uscc import uscc_check_char
from layers.catalogue import HAZARD_UNITS, PROTECTION_TARGETS
from layers.editing import create_feature, update_feature
from layers.features import get_feature
from layers.hazard_records import (
    AssessmentSummary,
    assess_all,
    assess_pending,
    assess_units,
    assessment_history,
    exposed_people_500m,
)
from layers.hazards import CategoryNeeded, assess_unit
from layers.hazards import InvalidInput as HazardInvalidInput
from tests.conftest import XH, zhejiang_regions

PROVINCE = RequestContext(role="province", jurisdiction="33", actor="t.province")
XIHU = RequestContext(role="county", jurisdiction="330106", actor="t.xihu")

# Places well inside Zhejiang counties, > 20 km apart: one per test that commits.
SPOTS = iter([(120.15, 30.28), (121.55, 29.87), (120.58, 30.00), (120.75, 30.75), (120.09, 30.89),
              (119.65, 29.08), (118.87, 28.94), (119.92, 28.45), (121.42, 28.66), (120.70, 28.00),
              (120.07, 29.31), (120.90, 30.52), (119.70, 30.23), (121.15, 29.95)])
_uscc_seq = count(1)


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def rdb(throwaway):
    """A migrated database with the Zhejiang regions; tests commit into it."""
    from geo.regions import store_regions

    db = throwaway()
    owner = make_engine(db.owner_url)
    with owner.begin() as conn:
        store_regions(conn, zhejiang_regions())
    app = make_engine(db.app_url)
    db.owner, db.app = owner, app
    db.sessions = install(session_factory(app))
    yield db
    owner.dispose()
    app.dispose()


def at(point, metres: float = 0.0, bearing_deg: float = 0.0) -> str:
    """SQL for a point ``metres`` from ``point`` on ``bearing_deg`` (geodesic)."""
    x, y = point
    return (f"ST_Project(ST_SetSRID(ST_MakePoint({x}, {y}), 4326)::geography, {metres}, "
            f"radians({bearing_deg}))::geometry")


def lonlat(conn, sql_point: str) -> list[float]:
    return list(conn.execute(text(f"SELECT ST_X(g), ST_Y(g) FROM (SELECT {sql_point} AS g) p")).one())


def enterprise(conn, point) -> int:
    body = f"91330000{next(_uscc_seq):09d}"
    return conn.execute(text(
        f"INSERT INTO enterprises (uscc, name, industry, scale, geom) VALUES "
        f"(:u, '测试化工有限公司', 'hazchem_storage', 'small', {at(point)}) RETURNING id"),
        {"u": body + uscc_check_char(body)}).scalar_one()


def unit(conn, point, inventory=(), metres: float = 0.0) -> int:
    """A hazard unit (owner insert) with inventory rows ``(chemical, t[, category])``."""
    eid = enterprise(conn, point)
    uid = conn.execute(text(f"INSERT INTO hazard_units (enterprise_id, name, kind, geom) "
                            f"VALUES (:e, '罐区', 'storage', {at(point, metres)}) RETURNING id"),
                       {"e": eid}).scalar_one()
    for row in inventory:
        conn.execute(text("INSERT INTO hazard_unit_inventory (hazard_unit_id, chemical, max_quantity_t, category) "
                          "VALUES (:u, :c, :q, :k)"),
                     {"u": uid, "c": row[0], "q": row[1], "k": row[2] if len(row) > 2 else None})
    return uid


def target(conn, point, metres: float, population: int, *, bearing: float = 90.0, polygon_m: float = 0.0,
           valid: bool = True) -> int:
    geom = at(point, metres, bearing)
    if polygon_m:
        geom = f"ST_Buffer({geom}::geography, {polygon_m})::geometry"
    state = "'active', NULL" if valid else "'removed', now()"
    return conn.execute(text(
        f"INSERT INTO protection_targets (name, kind, category, population, geom, status, valid_to) "
        f"VALUES ('目标', 'residential', 'general_1', :p, {geom}, {state}) RETURNING id"),
        {"p": population}).scalar_one()


def stored(conn, uid: int) -> dict:
    return dict(conn.execute(text(
        "SELECT s, r, grade, is_major, alpha, exposed_people_500m, assessment_note, version "
        "FROM hazard_units WHERE id = :i"), {"i": uid}).mappings().one())


def queued(conn, uid: int) -> str | None:
    return conn.execute(text("SELECT reason FROM hazard_assessment_queue WHERE hazard_unit_id = :i"),
                        {"i": uid}).scalar()


def history(conn, uid: int) -> list[dict]:
    return assessment_history(conn, uid)


@pytest.fixture
def oconn(rdb):
    """An owner connection in a transaction rolled back after the test."""
    with rdb.owner.connect() as conn:
        trans = conn.begin()
        yield conn
        trans.rollback()


# --------------------------------------------------------------------------- layers.hazards additions


def test_grade_false_identifies_without_a_category():
    inventory = [{"chemical": "苯", "quantity_t": 60}]
    with pytest.raises(CategoryNeeded) as err:
        assess_unit(inventory, exposed_people_500m=10)
    assert isinstance(err.value, HazardInvalidInput) and err.value.field == "inventory[0].category"
    a = assess_unit(inventory, exposed_people_500m=10, grade=False)
    assert (a.s, a.is_major, a.r, a.grade, a.alpha) == (1.2, True, None, None, 1.0)
    graded = assess_unit([{**inventory[0], "category": "W5.3"}], exposed_people_500m=10, grade=False)
    assert graded.r is None and graded.contributions[0].beta == 1.0  # β known, grading still skipped
    assert assess_unit([{**inventory[0], "category": "W5.3"}], exposed_people_500m=10).grade == 4


# --------------------------------------------------------------------------- exposure


def test_exposure_counts_targets_within_500_m_geodesic(oconn):
    p = (121.10, 29.70)
    uid = unit(oconn, p)
    target(oconn, p, 495, 10)                          # just inside
    target(oconn, p, 505, 1000, bearing=180)           # just outside
    target(oconn, p, 700, 5, bearing=270, polygon_m=250)  # a polygon reaching to 450 m: counts whole
    target(oconn, p, 100, 100_000, bearing=0, valid=False)  # removed (valid_to set): not counted
    assert exposed_people_500m(oconn, [uid]) == {uid: 15}
    lone = unit(oconn, (121.30, 29.60))
    assert exposed_people_500m(oconn, [uid, lone, 10**12]) == {uid: 15, lone: 0}
    assert exposed_people_500m(oconn, []) == {}


def test_exposure_adds_population_cells_whose_centre_is_within_500_m(oconn):
    p = (121.20, 29.50)
    uid = unit(oconn, p)
    target(oconn, p, 200, 7)
    near = h3grid.cells_in_disk(p[0], p[1], 500.0, 9).astype("int64")
    far = h3grid.cells_in_disk(p[0], p[1], 2000.0, 9).astype("int64")
    outside = [int(c) for c in far if c not in set(near.tolist())][:3]
    rows = [{"h": int(c), "p": 10.4} for c in near] + [{"h": c, "p": 1000.0} for c in outside]
    oconn.execute(text("INSERT INTO population_cells (h3, population, source) VALUES (:h, :p, 'test')"), rows)
    assert exposed_people_500m(oconn, [uid]) == {uid: round(7 + 10.4 * len(near))}


# --------------------------------------------------------------------------- the edit path


def _session(rdb, ctx=PROVINCE):
    s = rdb.sessions()
    s.info["ctx"] = ctx
    return s


def _unit_payload(eid, point, inventory):
    return {"enterprise_id": eid, "name": "液氯储罐区", "kind": "storage",
            "geometry": {"type": "Point", "coordinates": list(point)}, "inventory": inventory}


def test_inventory_edit_crossing_s_1_is_stored_major_with_grade_and_history(rdb):
    p = next(SPOTS)
    with rdb.owner.begin() as conn:
        eid = enterprise(conn, p)
        target(conn, p, 300, 120)  # α = 2.0
    with _session(rdb) as s:
        uid = create_feature(s, layer=HAZARD_UNITS, payload=_unit_payload(eid, p, [
            {"chemical": "氯", "max_quantity_t": 4}]))
        s.commit()
    with rdb.owner.connect() as conn:
        assert stored(conn, uid) | {"version": 0} == {"s": 0.8, "r": None, "grade": None, "is_major": False,
                                                   "alpha": 2.0, "exposed_people_500m": 120,
                                                   "assessment_note": None, "version": 0}
        assert queued(conn, uid) == "inventory"  # the user's view is partial: left for the maintenance recount
    with _session(rdb) as s:
        body, version = get_feature(s, layer=HAZARD_UNITS, feature_id=uid, geojson=False)
        new_version = update_feature(s, layer=HAZARD_UNITS, feature_id=uid, if_match=version,
                                     payload={"inventory": [{"chemical": "氯", "max_quantity_t": 6}]})
        s.commit()
    assert new_version == version + 1  # the edit and its reassessment move the version once
    with rdb.owner.connect() as conn:
        # S = 6/5; R = α·β·q/Q = 2.0 · 4 · 1.2 = 9.6 → grade 4
        assert stored(conn, uid) | {"version": 0} == {"s": 1.2, "r": 9.6, "grade": 4, "is_major": True,
                                                   "alpha": 2.0, "exposed_people_500m": 120,
                                                   "assessment_note": None, "version": 0}
        rows = history(conn, uid)
        assert [(r["s"], r["grade"], r["reason"]) for r in rows] == [(1.2, 4, "inventory"), (0.8, None, "inventory")]
        assert rows[0]["actor"] == "t.province" and rows[0]["standard"] == "GB 18218-2018"
        assert rows[0]["inputs"]["inventory"] == [{"chemical": "氯", "cas": None, "max_quantity_t": 6.0,
                                                   "category": None}]
        assert "last stored" in rows[0]["inputs"]["people_basis"]
        assert rows[0]["contributions"][0]["beta"] == 4.0 and rows[0]["contributions"][0]["beta_source"] == "table3"
    with rdb.owner.begin() as conn:  # the maintenance job recounts with the full view and empties the queue
        before = stored(conn, uid)["version"]
        summary = assess_pending(conn)
        assert summary.units >= 1 and queued(conn, uid) is None
        assert stored(conn, uid)["version"] == before  # same values: the unit row is not rewritten
        assert len(history(conn, uid)) == 3 and history(conn, uid)[0]["inputs"]["people_basis"].startswith("all")


def test_history_is_append_only(rdb):
    p = next(SPOTS)
    with rdb.owner.begin() as conn:
        uid = unit(conn, p, [("氨", 12)])
        assess_units(conn, [uid], reason="test")
    for sql in ("UPDATE hazard_assessments SET s = 0 WHERE hazard_unit_id = :i",
                "DELETE FROM hazard_assessments WHERE hazard_unit_id = :i"):
        with rdb.owner.connect() as conn, pytest.raises(DBAPIError, match="never deleted"):
            conn.execute(text(sql), {"i": uid})
    with rdb.app.connect() as conn, pytest.raises(DBAPIError):  # the app role has no UPDATE grant at all
        conn.execute(text("UPDATE hazard_assessments SET s = 0 WHERE hazard_unit_id = :i"), {"i": uid})
    with rdb.owner.connect() as conn:
        ops = conn.execute(text("SELECT op FROM audit_log WHERE table_name = 'hazard_assessments'")).scalars().all()
        assert "INSERT" in ops


def test_target_moved_next_to_a_unit_requeues_and_reassesses_it(rdb):
    p = next(SPOTS)
    with rdb.owner.begin() as conn:
        uid = unit(conn, p, [("氯", 60)])  # S = 12
        tid = target(conn, p, 3000, 150)
        assess_pending(conn)
        assert stored(conn, uid)["alpha"] == 0.5 and stored(conn, uid)["grade"] == 3  # R = 0.5·4·12 = 24
    new_place = lonlat_from(rdb, at(p, 100, 45))
    with _session(rdb) as s:  # a province user moves the school next to the unit
        _, version = get_feature(s, layer=PROTECTION_TARGETS, feature_id=tid, geojson=False)
        update_feature(s, layer=PROTECTION_TARGETS, feature_id=tid, if_match=version,
                       payload={"geometry": {"type": "Point", "coordinates": new_place}})
        s.commit()
    with rdb.owner.begin() as conn:
        assert queued(conn, uid) == "protection_target"
        now = stored(conn, uid)  # reassessed in the edit's own transaction: R = 2.0·4·12 = 96
        assert (now["exposed_people_500m"], now["alpha"], now["r"], now["grade"]) == (150, 2.0, 96.0, 2)
        assert "visible to the editing user" in history(conn, uid)[0]["inputs"]["people_basis"]
        assess_pending(conn)
        assert queued(conn, uid) is None and stored(conn, uid)["grade"] == 2
        # and a change straight in the database (owner) is queued by the trigger too
        conn.execute(text("UPDATE protection_targets SET population = 20 WHERE id = :t"), {"t": tid})
        assert queued(conn, uid) == "protection_target"
        assess_pending(conn)
        assert (stored(conn, uid)["alpha"], stored(conn, uid)["grade"]) == (1.0, 3)  # R = 48


def lonlat_from(rdb, sql_point):
    with rdb.owner.connect() as conn:
        return lonlat(conn, sql_point)


def test_units_the_user_may_not_write_stay_untouched_and_queued(rdb):
    p = next(SPOTS)  # Hangzhou's spots are used above; this one is outside Xihu
    with rdb.owner.begin() as conn:
        uid = unit(conn, p, [("氯", 6)])
    with _session(rdb, XIHU) as s:
        summary = assess_pending(s.connection())
        s.commit()
    assert uid not in summary.updated_ids
    with rdb.owner.connect() as conn:
        assert stored(conn, uid)["s"] is None and queued(conn, uid) == "inventory" and history(conn, uid) == []


def test_missing_category_stores_s_and_is_major_with_a_note(oconn):
    p = (120.50, 29.60)
    uid = unit(oconn, p, [("苯", 60), ("氨", 2)])  # S = 1.2 + 0.2
    summary = assess_units(oconn, [uid], reason="test")
    assert summary.notes == {"category_needed": 1} and summary.major == 1 and summary.graded == 0
    s = stored(oconn, uid)
    assert (s["s"], s["is_major"], s["r"], s["grade"], s["alpha"]) == (pytest.approx(1.4), True, None, None, 0.5)
    assert "苯" in s["assessment_note"] and "category" in s["assessment_note"] and "氨" not in s["assessment_note"]
    oconn.execute(text("UPDATE hazard_unit_inventory SET category = 'W5.3' WHERE hazard_unit_id = :u "
                       "AND chemical = '苯'"), {"u": uid})
    assess_units(oconn, [uid], reason="test")
    s = stored(oconn, uid)  # R = 0.5·(1·1.2 + 2·0.2) = 0.8
    assert (s["r"], s["grade"], s["assessment_note"]) == (pytest.approx(0.8), 4, None)


def test_a_chemical_outside_table_1_is_assessed_by_its_category(oconn):
    uid = unit(oconn, (120.40, 29.80), [("某溶剂", 25, "W5.1")])
    assess_units(oconn, [uid], reason="test")
    s = stored(oconn, uid)  # Table 2: Q = 10 t, β = 1.5 (Table 4)
    assert (s["s"], s["is_major"], s["r"]) == (2.5, True, 1.875)
    contribution = history(oconn, uid)[0]["contributions"][0]
    assert contribution["q_source"] == "table2" and contribution["given"] == "某溶剂"


def test_unknown_chemical_gets_a_note_and_the_batch_goes_on(oconn):
    p = (120.30, 29.40)
    bad = unit(oconn, p, [("氯化钾", 10), ("氯", 1)])
    good = unit(oconn, (120.30, 29.50), [("氯", 1)])
    oconn.execute(text("UPDATE hazard_units SET s = 0.5 WHERE id = :u"), {"u": bad})
    summary = assess_pending(oconn)
    assert summary.notes == {"unknown_chemical": 1} and summary.units >= 2
    s = stored(oconn, bad)
    assert s["s"] == 0.5 and "氯化钾" in s["assessment_note"] and "Table 1" in s["assessment_note"]
    assert stored(oconn, good)["s"] == 0.2
    assert queued(oconn, bad) is None and queued(oconn, good) is None
    row = history(oconn, bad)[0]
    assert row["s"] is None and row["note"] == s["assessment_note"] and row["contributions"] == []


def test_empty_inventory_zero_quantities_and_decommissioned_units(oconn):
    empty = unit(oconn, (119.90, 29.90))
    zeroed = unit(oconn, (119.90, 29.95), [("氯", 0)])
    gone = unit(oconn, (119.90, 30.00), [("氯", 9)])
    oconn.execute(text("UPDATE hazard_units SET valid_to = now(), status = 'decommissioned' WHERE id = :u"),
                  {"u": gone})
    summary = assess_units(oconn, [empty, zeroed, gone], reason="test")
    assert (summary.units, summary.skipped) == (2, 1)
    for uid in (empty, zeroed):
        s = stored(oconn, uid)
        assert (s["s"], s["is_major"], s["r"], s["grade"]) == (0.0, False, None, None)
    assert stored(oconn, gone)["s"] is None and history(oconn, gone) == []


def test_category_is_validated_normalised_written_and_returned(rdb):
    p = next(SPOTS)
    with rdb.owner.begin() as conn:
        eid = enterprise(conn, p)
    with _session(rdb) as s:
        with pytest.raises(InvalidInput) as err:
            create_feature(s, layer=HAZARD_UNITS, payload=_unit_payload(eid, p, [
                {"chemical": "苯", "max_quantity_t": 60, "category": "W99"}]))
        assert err.value.field == "inventory.0.category" and "W5.3" in err.value.reason
        uid = create_feature(s, layer=HAZARD_UNITS, payload=_unit_payload(eid, p, [
            {"chemical": "苯", "max_quantity_t": 60, "category": "w5.3"},
            {"chemical": "甲醛(含量>90%)", "max_quantity_t": 1, "category": "j3, W2"}]))
        body = json.loads(get_feature(s, layer=HAZARD_UNITS, feature_id=uid, geojson=False)[0])
        s.commit()
    assert [(i["chemical"], i["category"]) for i in body["inventory"]] == [("苯", "W5.3"),
                                                                          ("甲醛(含量>90%)", "J3,W2")]
    # S = 60/50 + 1/5 = 1.4; β: W5.3 → 1, formaldehyde's controlling category W2 (Q 10 < 50) → 1.5
    assert body["is_major"] is True and body["grade"] == 4 and body["assessment_note"] is None
    assert body["r"] == pytest.approx(0.5 * (1.2 + 1.5 * 0.2))


# --------------------------------------------------------------------------- a synthetic registry


@pytest.fixture(scope="module")
def demo_db(throwaway):
    """A fresh database with a small synthetic registry (COPY, as ``data.demo`` loads it)."""
    from data.demo import LOAD_ORDER
    from data.synthetic import build_registry
    from geo.bulk import copy_rows, reset_sequence
    from geo.regions import store_regions

    db = throwaway()
    engine = make_engine(db.owner_url)
    regions = zhejiang_regions()
    registry = build_registry(regions, n_enterprises=300, seed=5, today=date(2026, 11, 23))
    with engine.begin() as conn:
        store_regions(conn, regions)
        raw = conn.connection.driver_connection
        for table in LOAD_ORDER:
            copy_rows(raw, table, *registry.tables[table])
            reset_sequence(raw, table)
    yield db, engine
    engine.dispose()


def test_assess_all_on_a_synthetic_registry(demo_db):
    db, engine = demo_db
    with engine.connect() as conn:
        active = conn.execute(text("SELECT count(*) FROM hazard_units WHERE valid_to IS NULL")).scalar()
        assert active > 200 and conn.execute(text("SELECT count(*) FROM hazard_assessment_queue")).scalar() > 0
    summary = assess_all(engine, batch=100)
    assert isinstance(summary, AssessmentSummary) and summary.units == active and summary.skipped == 0
    assert summary.major > 0 and summary.graded > 0.9 * summary.major
    assert summary.notes.get("unknown_chemical", 0) == 0
    assert summary.notes.get("category_needed", 0) == summary.major - summary.graded
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM hazard_assessment_queue")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM risk_queue")).scalar() > 0  # not ours to drain
        assert conn.execute(text("SELECT count(*) FROM hazard_units WHERE valid_to IS NULL AND s IS NULL")
                            ).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM hazard_assessments")).scalar() == active
        # the only demo chemical left without a confirmed category is 汽油 (data/chemical_categories.csv)
        assert conn.execute(text("SELECT count(*) FROM hazard_units WHERE is_major AND grade IS NULL "
                                 "AND assessment_note NOT LIKE '%汽油%'")).scalar() == 0
        # one unit recomputed by hand from its stored inputs agrees with what was stored
        uid, s, r, people = conn.execute(text(
            "SELECT id, s, r, exposed_people_500m FROM hazard_units WHERE is_major ORDER BY id LIMIT 1")).one()
        rows = conn.execute(text("SELECT chemical, max_quantity_t, category FROM hazard_unit_inventory "
                                 "WHERE hazard_unit_id = :u AND max_quantity_t > 0 ORDER BY id"), {"u": uid}).all()
        people_now = exposed_people_500m(conn, [uid])[uid]
    inventory = [{"chemical": c, "quantity_t": q, **({"category": k.split(",")} if k else {})} for c, q, k in rows]
    again = assess_unit(inventory, exposed_people_500m=people_now)
    assert (again.s, again.r, people) == (pytest.approx(s), pytest.approx(r), people_now)
    rerun = assess_all(engine, batch=1000)  # nothing changed: history grows, unit rows are not rewritten
    assert rerun.units == active and rerun.updated == 0


def test_assessment_history_of_an_unknown_unit_is_not_found(oconn):
    with pytest.raises(NotFound):
        assessment_history(oconn, 10**12)


# --------------------------------------------------------------------------- HTTP


def test_http_history_newest_first_and_404_outside_jurisdiction(wclient):
    # the world is shared with other modules: add a unit that changes none of their filters
    # (Xihu, far from the world's targets; major, grade 4 — not grade 1, not is_major=false)
    ids = wclient.world.ids
    h = wclient.as_["xihu"]
    body = {"enterprise_id": ids["E3"], "name": "氯气钢瓶库", "kind": "storage",
            "geometry": {"type": "Point", "coordinates": [XH[0] - 0.004, XH[1]]},
            "inventory": [{"chemical": "氯", "max_quantity_t": 6}]}
    r = wclient.post("/hazard-units", json=body, headers=h)
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert (r.json()["s"], r.json()["is_major"], r.json()["grade"], r.json()["alpha"]) == (1.2, True, 4, 0.5)
    r = wclient.patch(f"/hazard-units/{uid}", json={"inventory": [{"chemical": "氯", "max_quantity_t": 7}]},
                      headers={**h, "If-Match": r.headers["etag"]})
    assert r.status_code == 200 and r.json()["s"] == 1.4 and r.json()["r"] == pytest.approx(2.8)
    r = wclient.get(f"/hazard-units/{uid}/assessments", headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["count"] == 2 and [row["s"] for row in out["data"]] == [1.4, 1.2]
    assert out["data"][0]["assessed_at"] >= out["data"][1]["assessed_at"]
    assert {"r", "grade", "alpha", "exposed_people_500m", "contributions", "inputs", "note", "reason",
            "actor"} <= set(out["data"][0])
    assert wclient.get(f"/hazard-units/{uid}/assessments", headers=wclient.as_["province"]).json()["count"] == 2
    assert wclient.get(f"/hazard-units/{uid}/assessments", headers=wclient.as_["zhenhai"]).status_code == 404
    assert wclient.get(f"/hazard-units/{ids['H1']}/assessments", headers=h).status_code == 404
    assert wclient.get("/hazard-units/0/assessments", headers=h).status_code == 422


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(rdb, monkeypatch):
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", rdb.owner_url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield rdb
    get_settings.cache_clear()


def test_cli_assess_drains_the_queue_and_recomputes_all(cli_env):
    from typer.testing import CliRunner

    from api.hazards_cli import hazards_app

    runner = CliRunner()
    p = next(SPOTS)
    with cli_env.owner.begin() as conn:
        uid = unit(conn, p, [("氨", 25)])
    out = runner.invoke(hazards_app, ["assess"])
    assert out.exit_code == 0, out.output
    assert "assessed" in out.output and "GB 18218-2018" in out.output
    with cli_env.owner.connect() as conn:
        assert queued(conn, uid) is None and stored(conn, uid)["s"] == 2.5
    out = runner.invoke(hazards_app, ["assess", "--all", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output.strip().splitlines()[-1])
    assert summary["scope"] == "all" and summary["units"] >= 1 and summary["major"] >= 1


@pytest.mark.parametrize("args", [["assess", "--limit", "0"], ["assess", "--limit", "x"],
                                  ["assess", "--all", "--limit", "5"], ["assess", "--batch", "10"]])
def test_cli_bad_options_exit_2_with_one_line(args):
    from typer.testing import CliRunner

    from api.hazards_cli import hazards_app

    out = CliRunner().invoke(hazards_app, args)
    assert out.exit_code == 2
    assert out.output.strip().startswith("error: ") and len(out.output.strip().splitlines()) == 1
