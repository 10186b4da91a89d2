"""``/scenarios``: plume + impact + storage through HTTP, under jurisdiction."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.db import make_engine
from geo.regions import store_regions
from geo.users import create_user
from tests.conftest import zhejiang_regions

PASSWORD = "correct horse battery"
SOURCE = (121.64, 29.99)  # Zhenhai; wind from 45° blows the plume to the south-west
BODY = {"source_lon": SOURCE[0], "source_lat": SOURCE[1], "chemical": "chlorine",
        "release": {"kind": "continuous", "rate_g_s": 1000, "duration_s": 600},
        "weather": {"wind_speed_m_s": 3, "wind_from_deg": 45, "stability": "D", "terrain": "urban"},
        "title": "测试"}


@pytest.fixture(scope="module")
def api(throwaway, settings):
    db = throwaway()
    owner = make_engine(db.owner_url)
    with owner.begin() as conn:
        store_regions(conn, zhejiang_regions())
        for name, role, ad in (("zh", "county", "330211"), ("xh", "county", "330106"), ("nb", "city", "330200")):
            create_user(conn, username=f"u.{name}", password=PASSWORD, role=role, adcode=ad)
        # 600 m downwind (south-west) of the source: inside the AEGL-2 zone
        conn.execute(text(
            "INSERT INTO protection_targets (name, kind, category, population, geom) VALUES "
            "('下风向小学', 'school', 'high_sensitivity', 900, ST_Project(ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, 600, radians(225))::geometry),"
            "('上风向小区', 'residential', 'general_1', 5000, ST_Project(ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, 600, radians(45))::geometry)"),
            {"x": SOURCE[0], "y": SOURCE[1]})
        conn.execute(text(
            "INSERT INTO rescue_teams (name, kind, headcount, geom) VALUES "
            "('区内危化队', 'hazmat', 20, ST_Project(ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, 400, radians(225))::geometry),"
            "('上风向消防站', 'fire', 30, ST_Project(ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, 1500, radians(45))::geometry)"),
            {"x": SOURCE[0], "y": SOURCE[1]})
    app_engine = make_engine(db.app_url)
    with TestClient(create_app(settings, engine=app_engine)) as client:
        tokens = {u: client.post("/auth/token", data={"username": f"u.{u}", "password": PASSWORD}).json()["access_token"]
                  for u in ("zh", "xh", "nb")}
        yield client, {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items()}
    app_engine.dispose()
    owner.dispose()


@pytest.fixture(scope="module")
def created(api):
    client, auth = api
    r = client.post("/scenarios", json=BODY, headers=auth["zh"])
    assert r.status_code == 201, r.text
    return r.json()


def test_zones_and_who_is_inside(created):
    zones = {z["level"]: z for z in created["impact"]["zones"]}
    aegl2 = zones["AEGL-2 (60 min)"]
    assert aegl2["max_downwind_m"] > 600
    assert aegl2["protection_targets"]["count"] == 1
    assert aegl2["protection_targets"]["population"] == 900
    assert aegl2["protection_targets"]["sensitive"][0]["name"] == "下风向小学"
    assert created["adcode"] == "330211" and created["chemical"] == "chlorine"
    kinds = [f["properties"]["kind"] for f in created["result"]["features"]]
    assert kinds.count("threat_zone") == 3 and "source" in kinds


def test_nearest_help_is_outside_the_aegl2_zone(created):
    teams = created["impact"]["nearest_rescue_teams"]
    assert [t["name"] for t in teams] == ["上风向消防站"]
    assert teams[0]["distance_m"] == pytest.approx(1500, rel=0.01)


def test_reopen_and_jurisdiction(api, created):
    client, auth = api
    sid = created["id"]
    assert client.get(f"/scenarios/{sid}", headers=auth["zh"]).json()["impact"] == created["impact"]
    assert client.get(f"/scenarios/{sid}", headers=auth["nb"]).status_code == 200  # the city above
    assert client.get(f"/scenarios/{sid}", headers=auth["xh"]).status_code == 404  # another county
    assert client.get(f"/scenarios/{sid}").status_code == 404  # anonymous, not public


@pytest.mark.parametrize(("change", "status", "words"), [
    ({"chemical": "chlorin"}, 422, "did you mean"),
    ({"weather": {"wind_speed_m_s": 0, "wind_from_deg": 45, "stability": "D"}}, 422, "wind_speed_m_s"),
    ({"weather": {"wind_speed_m_s": 3, "wind_from_deg": 45, "stability": "Q"}}, 422, "stability"),
    ({"source_lat": 95}, 422, "source_lat"),
    ({"release": {"kind": "continuous", "rate_g_s": -5, "duration_s": 60}}, 422, "rate_g_s"),
    ({"title": 5}, 422, "title"),
    ({"source_lon": 120.13, "source_lat": 30.27}, 403, "jurisdiction"),
    ({"source_lon": 116.40, "source_lat": 39.90}, 422, "outside every loaded county"),
])
def test_bad_scenarios(api, change, status, words):
    client, auth = api
    r = client.post("/scenarios", json={**BODY, **change}, headers=auth["zh"])
    assert r.status_code == status, r.text
    assert words in r.text


def test_nan_in_body_is_refused(api):
    client, auth = api
    raw = '{"source_lon": NaN, "source_lat": 29.99, "chemical": "chlorine"}'
    r = client.post("/scenarios", content=raw, headers={**auth["zh"], "content-type": "application/json"})
    assert r.status_code == 422


def test_anonymous_cannot_run(api):
    client, _ = api
    assert client.post("/scenarios", json=BODY).status_code == 403


def test_oversized_payload_is_413(api):
    client, auth = api
    r = client.post("/scenarios", content=b"x" * (5 * 2**20 + 1),
                    headers={**auth["zh"], "content-type": "application/json"})
    assert r.status_code == 413
