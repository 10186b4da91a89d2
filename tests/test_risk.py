"""Individual risk on H3 (layers/risk_model.py, layers/risk.py) and GB 36894 checks
(layers/risk_criteria.py), on a real PostGIS."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pyproj import Geod
from scipy.integrate import quad
from scipy.special import ndtr
from sqlalchemy import text

import plume
from geo.db import make_engine
from layers import risk, risk_criteria
from layers import risk_model as rm
from plume.dose import default_probit
from plume.footprint import Dispersion, toxic_load
from plume.units import g_m3_to_ppm
from tests.conftest import BL, ZH, _at, regions_database, world_uscc

_GEOD = Geod(ellps="WGS84")
DISTANCES_M = (200.0, 500.0, 1000.0, 2000.0)


def _ring(lon, lat, radius_m, *, n=24):
    """Fake 'cells': points on rings around the source, numbered 1.."""
    az = np.linspace(0, 360, n, endpoint=False)
    lons, lats = [], []
    for d in DISTANCES_M:
        lo, la, _ = _GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, d))
        lons.append(lo)
        lats.append(la)
    lo, la = np.concatenate(lons), np.concatenate(lats)
    return np.arange(1, lo.size + 1, dtype=np.uint64), lo, la


def _ring_ir(result, n=24):
    ir = np.zeros(len(DISTANCES_M) * n)
    ir[(result.cells - 1).astype(int)] = result.ir_q * rm.IR_QUANTUM
    return ir.reshape(len(DISTANCES_M), n)


CHLORINE = rm.ToxicSource(1, 1, 121.70, 29.95, "storage", "7782-50-5", 20.0)


def _dispersion(source, spec, w, terrain):
    """The full-scale release of a scenario, built independently of the model's unit tables."""
    mass_g = source.quantity_t * 1e6
    common = dict(u_m_s=w.wind_speed_m_s, stability=w.stability, terrain=terrain, h_m=rm.RELEASE_HEIGHT_M)
    if spec.release == "instantaneous":
        return Dispersion(mass_g=mass_g, **common)
    if spec.release == "continuous_10min":
        return Dispersion(rate_g_s=mass_g / 600.0, duration_s=600.0, **common)
    t = plume.source.liquid_through_hole(source.cas, hole_diameter_m=0.010, inventory_g=mass_g, airborne="all",
                                         max_duration_s=rm.MAX_RELEASE_S)
    return Dispersion(rate_g_s=t.rate_g_s, duration_s=t.duration_s, **common)


def _hand_ir(config, source, distance_m):
    """Σ f·p_w·(1/2π)∮P dθ by adaptive quadrature straight on plume's toxic load and probit."""
    chem = plume.chemicals.get(source.cas)
    probit = default_probit(chem)
    per_g_m3 = float(g_m3_to_ppm(1.0, chem.mw_g_mol)) if probit.conc_unit == "ppm" else 1000.0
    factor = per_g_m3 ** probit.n / 60.0  # (g/m³)ⁿ·s -> (probit unit)ⁿ·min
    total = 0.0
    for spec in config.scenarios_for(source.unit_kind):
        for w in config.weather:
            d = _dispersion(source, spec, w, config.terrain)

            def p(theta, d=d):
                load = float(toxic_load(distance_m * np.cos(theta), distance_m * np.sin(theta), d, probit.n))
                v = float(ndtr(probit.a + probit.b * np.log(load * factor) - 5.0)) if load > 0 else 0.0
                return v if v >= config.p_min else 0.0

            val, _ = quad(p, 0.0, np.pi, limit=500, points=[1e-3, 1e-2, 3e-2, 0.1, 0.3])
            total += spec.frequency_per_year * w.probability * 2.0 * val / (2.0 * np.pi)
    return total


# ---------------------------------------------------------------------------- the numeric core


def test_one_scenario_one_weather_matches_hand_computation():
    base = rm.load_config()
    config = dataclasses.replace(base, scenarios=tuple(s for s in base.scenarios if s.key == "G1"),
                                 weather=(rm.WeatherClass("D5", "D", 5.0, 1.0),))
    result = rm.unit_risk(CHLORINE, config, cells_in_reach=_ring)
    ir = _ring_ir(result)
    for i, d in enumerate(DISTANCES_M):
        hand = _hand_ir(config, CHLORINE, d)
        assert hand > 0
        assert ir[i].mean() == pytest.approx(hand, rel=5e-3), d


def test_full_default_configuration_matches_hand_computation_at_1_km():
    config = rm.load_config()
    ir = _ring_ir(rm.unit_risk(CHLORINE, config, cells_in_reach=_ring))
    assert ir[2].mean() == pytest.approx(_hand_ir(config, CHLORINE, 1000.0), rel=5e-3)


def test_uniform_wind_rose_gives_a_radially_symmetric_surface():
    ir = _ring_ir(rm.unit_risk(CHLORINE, rm.load_config(), cells_in_reach=_ring))
    assert np.all(ir > 0)
    for row in ir:  # same distance, every bearing: identical to rounding
        assert row.max() - row.min() <= 2 * rm.IR_QUANTUM
    assert np.all(np.diff(ir[:, 0]) < 0)  # decreasing with distance


def test_wind_rose_puts_the_risk_downwind():
    north_only = (1.0,) + (0.0,) * 11  # the wind always blows from the north sector
    config = rm.load_config(wind_rose=north_only)
    ir = _ring_ir(rm.unit_risk(CHLORINE, config, cells_in_reach=_ring))
    south, north = ir[:, 12], ir[:, 0]  # bearing 180° and 0°
    assert np.all(south > 0) and np.all(north == 0)
    # half the wind from north, half from south: the two halves mirror each other
    config2 = rm.load_config(wind_rose=(1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0))
    ir2 = _ring_ir(rm.unit_risk(CHLORINE, config2, cells_in_reach=_ring))
    assert ir2[:, 12] == pytest.approx(ir2[:, 0], rel=1e-6)
    assert ir2[:, 12] == pytest.approx(south / 2, rel=1e-6)


def test_more_inventory_reaches_further_and_production_units_count_ten_times():
    config = rm.load_config()
    small = dataclasses.replace(CHLORINE, quantity_t=2.0)
    assert rm.reach_m(small, config) < rm.reach_m(CHLORINE, config)
    prod = dataclasses.replace(CHLORINE, unit_kind="production")
    a = _ring_ir(rm.unit_risk(CHLORINE, config, cells_in_reach=_ring))
    b = _ring_ir(rm.unit_risk(prod, config, cells_in_reach=_ring))
    assert b == pytest.approx(10 * a, rel=1e-6)  # Purple Book process vs pressure vessel frequencies


def test_toxic_candidates_and_config_errors(tmp_path):
    assert rm.toxic_candidate("氨") == ("7664-41-7", None)
    cas, reason = rm.toxic_candidate("7647-01-0")  # hydrogen chloride: no verified probit yet
    assert cas == "7647-01-0" and "probit" in reason
    bad = tmp_path / "w.csv"
    bad.write_text("name,stability,wind_speed_m_s,probability\nD5,D,5,0.5\n")
    with pytest.raises(ValueError, match="risk_weather"):
        rm.load_config(weather_file=bad)
    with pytest.raises(ValueError, match="wind_rose"):
        rm.load_config(wind_rose="1,2")


def test_fn_curve_and_verdict():
    curve = rm.fn_curve(np.array([0.5, 3.0, 30.0]), np.array([1e-3, 1e-6, 1e-7]))
    assert curve == [(3.0, 1.1e-6), (30.0, 1e-7)]
    assert risk_criteria.fn_verdict(curve) == "acceptable"  # 1.1e-6 <= 1e-5 / 1
    assert risk_criteria.fn_verdict([(2.0, 1e-6)]) == "acceptable"  # 1e-6 <= 1e-5/1
    assert risk_criteria.fn_verdict([(100.0, 2e-5)]) == "alarp"  # compared at N = 1
    # the second step is compared with the lines at N = 5 (upper: 2e-4)
    assert risk_criteria.fn_verdict([(5.0, 1e-4), (20.0, 9e-5)]) == "alarp"
    assert risk_criteria.fn_verdict([(5.0, 1e-4), (20.0, 2.5e-4)]) == "unacceptable"


# ---------------------------------------------------------------------------- on PostGIS


@pytest.fixture(scope="module")
def riskdb(throwaway):
    """Regions, two enterprises with toxic major units, targets, one unit we cannot model."""
    database = regions_database(throwaway)
    engine = make_engine(database.owner_url)
    ids = {}
    with engine.begin() as conn:

        def insert(sql, **p):
            return conn.execute(text(sql + " RETURNING id"), p).scalar_one()

        ent = "INSERT INTO enterprises (uscc, name, industry, scale, geom) VALUES (:u, :n, 'hazchem_production', 'large', {g})"
        ids["E1"] = insert(ent.format(g=_at(ZH)), u=world_uscc(11), n="镇海氯碱")
        ids["E2"] = insert(ent.format(g=_at(BL)), u=world_uscc(12, "330206"), n="北仑氨库")
        hu = ("INSERT INTO hazard_units (enterprise_id, name, kind, is_major, geom) "
              "VALUES (:e, :n, :k, true, {g})")
        ids["H1"] = insert(hu.format(g=_at(ZH, 50, 0)), e=ids["E1"], n="液氯储罐", k="storage")
        ids["H2"] = insert(hu.format(g=_at(BL, 80, 90)), e=ids["E2"], n="液氨储罐", k="storage")
        ids["H3"] = insert(hu.format(g=_at(ZH, 900, 90)), e=ids["E1"], n="氯化氢装置", k="production")
        inv = "INSERT INTO hazard_unit_inventory (hazard_unit_id, chemical, cas, max_quantity_t) VALUES (:h, :c, :cas, :q)"
        conn.execute(text(inv), [{"h": ids["H1"], "c": "氯", "cas": "7782-50-5", "q": 20.0},
                                 {"h": ids["H2"], "c": "氨", "cas": "7664-41-7", "q": 60.0},
                                 {"h": ids["H3"], "c": "氯化氢(无水)", "cas": "7647-01-0", "q": 30.0},
                                 {"h": ids["H3"], "c": "氯", "cas": "7782-50-5", "q": 6.0}])
        pt = ("INSERT INTO protection_targets (name, kind, category, population, geom) "
              "VALUES (:n, :k, :c, :pop, {g})")
        ids["T1"] = insert(pt.format(g=_at(ZH, 400, 200)), n="近邻小学", k="school", c="high_sensitivity", pop=900)
        ids["T2"] = insert(pt.format(g=_at(ZH, 3000, 45)), n="远处小区", k="residential", c="general_1", pop=20000)
        ids["T3"] = insert(pt.format(g=_at(BL, 700, 270)), n="港区宾馆", k="hotel", c="general_3", pop=20)
        conn.execute(text("INSERT INTO hidden_dangers (enterprise_id, title, category, level, status, found_on, geom) "
                          f"VALUES (:e, '阀门泄漏', 'equipment', 'major', 'reported', DATE '2026-10-01', {_at(ZH, 55, 0)})"
                          ), {"e": ids["E1"]})
    yield database, engine, ids
    engine.dispose()


def _snapshot(engine):
    with engine.connect() as conn:
        cells = {res: risk.surface_cells(conn, res) for res in (9, 7, 5)}
        units = conn.execute(text("SELECT hazard_unit_id, inputs, cells, max_ir, reach_m FROM risk_units "
                                  "ORDER BY 1")).all()
        soc = conn.execute(text("SELECT enterprise_id, fn, max_n, verdict FROM societal_risk ORDER BY 1")).all()
    return cells, [tuple(u) for u in units], [tuple(s) for s in soc]


def test_rebuild_stores_cells_rollups_units_and_societal_risk(riskdb):
    _, engine, ids = riskdb
    summary = risk.rebuild(engine)
    assert summary.sources == 3 and summary.units == 3
    assert [s["hazard_unit_id"] for s in summary.skipped] == [ids["H3"]]
    assert "probit" in summary.skipped[0]["reason"]
    cells, units, soc = _snapshot(engine)
    assert len(cells[9]) > 1000 and cells[7] and cells[5]
    # roll-ups hold the max of their children
    from geo import h3grid

    base = np.array(list(cells[9]), dtype=np.uint64)
    base_ir = np.array([v[0] for v in cells[9].values()])
    parents = h3grid.parents(base, 7)
    for parent, row in list(cells[7].items())[:50]:
        assert row[0] == base_ir[parents == np.uint64(parent)].max()
    # the school 400 m from the chlorine tank: its cell has population and a county
    with engine.connect() as conn:
        school = conn.execute(text("""SELECT c.individual_risk, c.population, c.adcode, c.open_dangers
            FROM risk_cells c JOIN protection_targets t ON ST_Intersects(c.geom, t.geom)
            WHERE c.res = 9 AND t.id = :t"""), {"t": ids["T1"]}).one()
        tank = conn.execute(text("""SELECT c.hazard_units, c.open_dangers FROM risk_cells c JOIN hazard_units h
            ON ST_Intersects(c.geom, h.geom) WHERE c.res = 9 AND h.id = :h"""), {"h": ids["H1"]}).one()
        surface = conn.execute(text("SELECT units, cells, config_hash FROM risk_surface")).one()
    assert school[0] > 1e-8 and school[1] == 900 and school[2] == "330211"
    assert tank == (1, 1)
    assert surface[0] == 3 and surface[1] == sum(len(c) for c in cells.values())
    assert {s[0] for s in soc} == {ids["E1"], ids["E2"]}
    assert all(s[3] in ("acceptable", "alarp", "unacceptable") for s in soc)


def test_incremental_update_equals_full_rebuild(riskdb):
    _, engine, ids = riskdb
    risk.rebuild(engine)
    with engine.begin() as conn:  # more chlorine, and the ammonia tank moves 300 m east
        conn.execute(text("UPDATE hazard_unit_inventory SET max_quantity_t = 35 WHERE hazard_unit_id = :h"),
                     {"h": ids["H1"]})
        conn.execute(text(f"UPDATE hazard_units SET geom = {_at(BL, 380, 90)} WHERE id = :h"), {"h": ids["H2"]})
        queued = conn.execute(text("SELECT hazard_unit_id FROM risk_queue ORDER BY 1")).scalars().all()
    assert queued == sorted([ids["H1"], ids["H2"]])
    upd = risk.update_pending(engine)
    assert upd.units == 2 and not upd.rebuilt and upd.cells_changed > 0
    incremental = _snapshot(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM risk_queue")).scalar() == 0
    risk.rebuild(engine)
    full = _snapshot(engine)
    assert incremental[0] == full[0]  # every cell of every resolution, bit for bit
    assert [u[:1] + u[2:] for u in incremental[1]] == [u[:1] + u[2:] for u in full[1]]
    assert incremental[2] == full[2]
    # and back: removing the unit's toxic inventory removes its cells exactly
    with engine.begin() as conn:
        conn.execute(text("UPDATE hazard_units SET is_major = false WHERE id = :h"), {"h": ids["H2"]})
    risk.update_units(engine, [ids["H2"]])
    after = _snapshot(engine)
    risk.rebuild(engine)
    assert after[0] == _snapshot(engine)[0]
    with engine.begin() as conn:
        conn.execute(text("UPDATE hazard_units SET is_major = true WHERE id = :h"), {"h": ids["H2"]})


def test_dask_one_worker_two_workers_and_plain_agree(riskdb):
    _, engine, _ = riskdb
    risk.rebuild(engine)
    plain = _snapshot(engine)
    risk.rebuild(engine, workers=1)
    one = _snapshot(engine)
    risk.rebuild(engine, workers=2)
    two = _snapshot(engine)
    assert plain[0] == one[0] == two[0]
    assert plain[2] == one[2] == two[2]
    # a scheduler given by address, as for a real cluster
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        risk.rebuild(engine, scheduler=cluster.scheduler_address)
    assert _snapshot(engine)[0] == plain[0]


def test_contours_and_protection_targets_in_breach(riskdb):
    _, engine, ids = riskdb
    risk.rebuild(engine)
    with engine.connect() as conn:
        fc = risk_criteria.contours(conn, status="new")
        limits = [f["properties"]["threshold_per_year"] for f in fc["features"]]
        assert limits == sorted(limits) and 3e-7 in limits
        first = fc["features"][0]
        assert first["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert "high_sensitivity" in first["properties"]["categories"]
        ir_school = conn.execute(text("""SELECT c.individual_risk FROM risk_cells c JOIN protection_targets t
            ON ST_Intersects(c.geom, t.geom) WHERE c.res = 9 AND t.id = :t"""), {"t": ids["T1"]}).scalar()
        new = risk_criteria.violations(conn, status="new")
        existing = risk_criteria.violations(conn, status="existing")
        custom = risk_criteria.contours(conn, thresholds=[1e-9])
    by_id = {v["id"]: v for v in new}
    assert (ids["T1"] in by_id) == (ir_school > 3e-7)
    assert all(v["individual_risk"] > v["limit_per_year"] for v in new + existing)
    assert len(existing) <= len(new)
    assert custom["features"][0]["properties"]["cells"] > 0
    with pytest.raises(ValueError, match="installations"):
        risk_criteria.violations(engine.connect(), status="old")
    with pytest.raises(ValueError, match="threshold"):
        risk_criteria.contours(engine.connect(), thresholds=[2.0])


# ---------------------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def riskclient(settings, riskdb):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from geo.users import create_user
    from tests.conftest import WORLD_PASSWORD

    database, engine, ids = riskdb
    with engine.begin() as conn:
        for name, role, adcode in (("r.province", "province", "330000"), ("r.xihu", "county", "330106")):
            create_user(conn, username=name, password=WORLD_PASSWORD, role=role, adcode=adcode)
    risk.rebuild(engine)
    app_engine = make_engine(database.app_url)
    with TestClient(create_app(settings, engine=app_engine)) as client:
        headers = {}
        for name in ("province", "xihu"):
            r = client.post("/auth/token", data={"username": f"r.{name}", "password": WORLD_PASSWORD})
            assert r.status_code == 200, r.text
            headers[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        client.as_ = headers  # type: ignore[attr-defined]
        client.ids = ids  # type: ignore[attr-defined]
        yield client
    app_engine.dispose()


def test_risk_endpoints(riskclient):
    c, h, ids = riskclient, riskclient.as_["province"], riskclient.ids
    info = c.get("/risk/surface", headers=h).json()
    assert info["built"] and info["res"] == 9 and info["units"] == 3 and len(info["skipped"]) == 1
    box = f"{ZH[0] - 0.2},{ZH[1] - 0.2},{ZH[0] + 0.2},{ZH[1] + 0.2}"
    fc = c.get("/risk/cells", params={"bbox": box, "limit": 50}, headers=h).json()
    risks = [f["properties"]["individual_risk"] for f in fc["features"]]
    assert len(risks) == 50 and risks == sorted(risks, reverse=True) and fc["truncated"]
    assert fc["features"][0]["geometry"]["type"] == "Polygon"
    r7 = c.get("/risk/cells", params={"bbox": box, "res": 7}, headers=h).json()
    assert r7["features"] and r7["features"][0]["properties"]["res"] == 7
    counties = c.get("/risk/counties", headers=h)
    assert counties.status_code == 200, counties.text
    counties = counties.json()
    assert "330211" in {x["adcode"] for x in counties}
    assert c.get("/risk/counties", params={"adcode": "330200"}, headers=h).status_code == 200
    contours = c.get("/risk/contours", params={"installations": "new"}, headers=h).json()
    assert contours["type"] == "FeatureCollection" and contours["features"]
    custom = c.get("/risk/contours", params=[("threshold", "1e-7"), ("threshold", "1e-6")], headers=h).json()
    assert [f["properties"]["threshold_per_year"] for f in custom["features"]][:1] == [1e-7]
    viol = c.get("/risk/violations", params={"installations": "new"}, headers=h).json()
    assert all(f["properties"]["individual_risk"] > f["properties"]["limit_per_year"] for f in viol["features"])
    soc = c.get(f"/risk/societal/{ids['E1']}", headers=h).json()
    assert soc["verdict"] in ("acceptable", "alarp", "unacceptable") and "upper" in soc["criterion_lines"]


def test_risk_endpoints_refuse_bad_input_and_respect_jurisdiction(riskclient):
    c, h, ids = riskclient, riskclient.as_["province"], riskclient.ids
    for params in ({"bbox": ""}, {"bbox": "1,2,3"}, {"bbox": "121,30,120,29"}, {"bbox": "120,29,121,30", "res": 8},
                   {"bbox": "120,29,121,30", "min_risk": 2}):
        r = c.get("/risk/cells", params=params, headers=h)
        assert r.status_code in (400, 422), (params, r.text)
        assert "detail" in r.json()
    assert c.get("/risk/contours", params={"threshold": "5"}, headers=h).status_code == 400
    assert c.get("/risk/contours", params={"threshold": "abc"}, headers=h).status_code == 400
    assert c.get("/risk/violations", params={"installations": "old"}, headers=h).status_code == 400
    assert c.get("/risk/counties", params={"adcode": "339999"}, headers=h).status_code == 400
    # a Xihu county user sees neither Zhenhai's cells nor its enterprise's F–N; anonymous sees no cells
    box = f"{ZH[0] - 0.2},{ZH[1] - 0.2},{ZH[0] + 0.2},{ZH[1] + 0.2}"
    assert c.get("/risk/cells", params={"bbox": box}, headers=c.as_["xihu"]).json()["features"] == []
    assert c.get(f"/risk/societal/{ids['E1']}", headers=c.as_["xihu"]).status_code == 404
    assert c.get("/risk/cells", params={"bbox": box}).json()["features"] == []


def test_cli_rebuild_update_status(riskdb, monkeypatch):
    from typer.testing import CliRunner

    from api.risk_cli import risk_app

    database, engine, ids = riskdb
    monkeypatch.setattr("api.risk_cli._engine", lambda: make_engine(database.owner_url))
    runner = CliRunner()
    out = runner.invoke(risk_app, ["rebuild"])
    assert out.exit_code == 0, out.output
    assert '"units": 3' in out.output
    out = runner.invoke(risk_app, ["status"])
    assert out.exit_code == 0 and '"built": true' in out.output and '"pending_units": 0' in out.output
    out = runner.invoke(risk_app, ["update"])
    assert out.exit_code == 0 and '"units": 0' in out.output
    out = runner.invoke(risk_app, ["rebuild", "--wind-rose", "1,2"])
    assert out.exit_code == 2 and "wind_rose" in out.output


def test_risk_cells_as_vector_tiles_and_ogc_items(riskclient):
    import mapbox_vector_tile

    from tests.test_tiles_api import tile_of

    c, h = riskclient, riskclient.as_["province"]
    for layer, z in (("risk_cells_r9", 12), ("risk_cells_r7", 9), ("risk_cells_r5", 6)):
        _, x, y = tile_of(ZH[0], ZH[1], z)
        r = c.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", headers=h)
        assert r.status_code == 200, r.text
        feats = mapbox_vector_tile.decode(r.content)[layer]["features"]
        assert feats and all(f["properties"]["individual_risk"] > 0 for f in feats)
        assert all(f["properties"]["adcode"].startswith("33") for f in feats)
        # outside the layer's zooms: an empty tile; anonymous: nothing
        assert c.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt").content == b""
    assert c.get("/tiles/risk_cells_r9.json", headers=h).json()["minzoom"] == 11
    style = next(x for x in c.get("/layers").json()["data"] if x["name"] == "risk_cells_r9")
    assert style["style"]["type"] == "fill" and style["legend"][0]["value"] == 3e-5
    box = f"{ZH[0] - 0.05},{ZH[1] - 0.05},{ZH[0] + 0.05},{ZH[1] + 0.05}"
    items = c.get("/ogc/collections/risk_cells_r9/items", params={"bbox": box, "limit": 5}, headers=h)
    assert items.status_code == 200, items.text
    assert len(items.json()["features"]) == 5


def test_maintenance_pass_and_loop_keep_derived_risk_in_step(riskdb):
    import threading
    import time

    from geo.db import libpq_dsn
    from layers.risk_maintenance import run_forever, run_once

    database, engine, ids = riskdb
    risk.rebuild(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE hazard_unit_inventory SET max_quantity_t = 25 WHERE hazard_unit_id = :h "
                          "AND chemical = '氯'"), {"h": ids["H1"]})
    s = run_once(engine)
    assert s.assessed >= 1 and s.risk_units >= 1 and s.cells_changed > 0 and s.enterprises_rescored >= 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT (SELECT count(*) FROM risk_queue) + "
                                 "(SELECT count(*) FROM hazard_assessment_queue)")).scalar() == 0
        s_h1, major, colour = conn.execute(text(
            "SELECT h.s, h.is_major, e.risk_colour FROM hazard_units h JOIN enterprises e ON e.id = h.enterprise_id "
            "WHERE h.id = :h"), {"h": ids["H1"]}).one()
    assert s_h1 == pytest.approx(25 / 5) and major and colour in ("red", "orange", "yellow", "blue")
    incremental = _snapshot(engine)[0]
    risk.rebuild(engine)
    assert _snapshot(engine)[0] == incremental
    # the loop: an edit is picked up on its notification, well before the 60 s interval
    stop = threading.Event()
    loop = threading.Thread(target=run_forever, args=(engine,),
                            kwargs={"interval_s": 60.0, "stop": stop, "dsn": libpq_dsn(database.owner_url)})
    loop.start()
    try:
        time.sleep(1.0)
        with engine.begin() as conn:
            conn.execute(text("UPDATE hazard_unit_inventory SET max_quantity_t = 22 WHERE hazard_unit_id = :h "
                              "AND chemical = '氯'"), {"h": ids["H1"]})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                left = conn.execute(text("SELECT count(*) FROM risk_queue")).scalar()
                stored = conn.execute(text("SELECT inputs->'sources'->0->>'quantity_t' FROM risk_units "
                                           "WHERE hazard_unit_id = :h"), {"h": ids["H1"]}).scalar()
            if left == 0 and stored == "22.0":
                break
            time.sleep(0.3)
        assert left == 0 and stored == "22.0"
    finally:
        stop.set()
        loop.join(timeout=30)
    assert not loop.is_alive()


def test_updates_keep_the_configuration_the_surface_was_built_with(riskdb, monkeypatch):
    _, engine, ids = riskdb
    north = rm.load_config(wind_rose=(1.0,) + (0.0,) * 11)
    risk.rebuild(engine, config=north)
    with engine.begin() as conn:
        conn.execute(text("UPDATE hazard_unit_inventory SET max_quantity_t = 30 WHERE hazard_unit_id = :h "
                          "AND chemical = '氯'"), {"h": ids["H1"]})
    upd = risk.update_pending(engine)
    assert upd.units >= 1 and not upd.rebuilt
    after = _snapshot(engine)[0]
    risk.rebuild(engine, config=north)
    assert _snapshot(engine)[0] == after
    monkeypatch.setenv("ONEMAP_RISK_WIND_ROSE", "1,1,1,1")
    assert rm.load_config().wind_rose == (0.25,) * 4
    monkeypatch.setenv("ONEMAP_RISK_WEATHER_FILE", "/nonexistent.csv")
    with pytest.raises(ValueError, match="ONEMAP_RISK_WEATHER_FILE"):
        rm.load_config()
    monkeypatch.delenv("ONEMAP_RISK_WEATHER_FILE")
    monkeypatch.delenv("ONEMAP_RISK_WIND_ROSE")
    risk.rebuild(engine)  # back to the default for the other tests
