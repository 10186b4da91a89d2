"""Spatial questions over HTTP: within R metres, nearest N, statistics per region — under jurisdiction."""

import pytest

from tests.conftest import XH, ZH


def _nearby(client, who, **params):
    r = client.get("/nearby", params={"lon": ZH[0], "lat": ZH[1], **params}, headers=client.as_[who])
    assert r.status_code == 200, r.text
    return r.json()["groups"]


def test_within_radius_in_true_metres(wclient):
    ids = wclient.world.ids
    g = _nearby(wclient, "province", radius_m=700)
    assert [f["id"] for f in g["rescue_teams"]["features"]] == [ids["R1"]]
    assert g["rescue_teams"]["features"][0]["distance_m"] == pytest.approx(400, abs=0.5)
    assert g["protection_targets"]["count"] == 1 and g["protection_targets"]["population"] == 900
    assert g["protection_targets"]["features"][0]["distance_m"] == pytest.approx(600, abs=0.5)
    assert {f["id"] for f in g["enterprises"]["features"]} == {ids["E1"], ids["E2"]}
    # 599 m leaves the school out, 601 m takes it in: the radius is geodesic metres, not degrees
    assert _nearby(wclient, "province", radius_m=599, layers="protection_targets")["protection_targets"]["count"] == 0
    assert _nearby(wclient, "province", radius_m=601, layers="protection_targets")["protection_targets"]["count"] == 1


def test_within_follows_jurisdiction(wclient):
    assert _nearby(wclient, "xihu", radius_m=5000)["enterprises"]["count"] == 0
    public = _nearby(wclient, "public", radius_m=5000)
    assert public["enterprises"]["count"] == 1 and public["supply_depots"]["count"] == 0


def test_within_a_polygon(wclient):
    d = 0.002  # a ~200 m box around Zhenhai; T1 is 600 m away
    square = {"type": "Polygon", "coordinates": [[[ZH[0] - d, ZH[1] - d], [ZH[0] + d, ZH[1] - d],
                                                  [ZH[0] + d, ZH[1] + d], [ZH[0] - d, ZH[1] + d],
                                                  [ZH[0] - d, ZH[1] - d]]]}
    r = wclient.post("/nearby", json={"geometry": square, "radius_m": 500, "layers": ["protection_targets",
                                                                                      "enterprises"]},
                     headers=wclient.as_["province"])
    assert r.status_code == 200, r.text
    groups = r.json()["groups"]
    assert set(groups) == {"protection_targets", "enterprises"}
    e1 = next(f for f in groups["enterprises"]["features"] if f["id"] == wclient.world.ids["E1"])
    assert e1["distance_m"] == 0.0  # inside the polygon
    assert groups["protection_targets"]["count"] == 1  # ~600 m from the centre, < 500 m from the edge


def test_nearest_teams_and_depots_with_an_item(wclient):
    ids = wclient.world.ids
    r = wclient.get("/nearest", params={"lon": ZH[0], "lat": ZH[1], "n": 3}, headers=wclient.as_["province"])
    rows = r.json()["data"]
    assert [row["id"] for row in rows] == [ids["R1"], ids["R2"], ids["R3"]]
    assert [round(row["distance_m"]) for row in rows[:2]] == [400, 1500]
    assert rows[2]["distance_m"] > 100_000  # Hangzhou
    r = wclient.get("/nearest", params={"lon": ZH[0], "lat": ZH[1], "kind": "supply_depots", "item": "堵漏器材"},
                    headers=wclient.as_["zhenhai"])
    rows = r.json()["data"]
    assert [row["id"] for row in rows] == [ids["S1"]]  # S2 is nearer but holds none; S3 is outside Zhenhai
    assert rows[0]["stock"]["quantity"] == 12 and round(rows[0]["distance_m"]) == 3000
    kinds = wclient.get("/nearest", params={"lon": ZH[0], "lat": ZH[1], "team_kind": "fire"},
                        headers=wclient.as_["province"]).json()["data"]
    assert {row["kind"] for row in kinds} == {"fire"}


def test_region_statistics_follow_jurisdiction(wclient):
    rows = wclient.get("/stats/regions", params={"level": "city"}, headers=wclient.as_["province"]).json()["data"]
    ningbo = next(r for r in rows if r["adcode"] == "330200")
    assert ningbo["enterprises"] == {"total": 3, "red": 1, "orange": 0, "yellow": 1, "blue": 0, "unrated": 1}
    assert ningbo["hazard_units"]["grade_1"] == 1 and ningbo["hazard_units"]["major"] == 1
    assert ningbo["hidden_dangers"]["major_open"] >= 1 and ningbo["hidden_dangers"]["overdue"] >= 1
    assert ningbo["protection_targets"]["population"] >= 5900
    hangzhou = next(r for r in rows if r["adcode"] == "330100")
    assert hangzhou["enterprises"]["orange"] == 1
    as_xihu = wclient.get("/stats/regions", params={"level": "city"}, headers=wclient.as_["xihu"]).json()["data"]
    assert next(r for r in as_xihu if r["adcode"] == "330200")["enterprises"]["total"] == 0
    counties = wclient.get("/stats/regions", params={"level": "county", "parent": "330200"},
                           headers=wclient.as_["ningbo"]).json()
    assert counties["count"] == 10
    assert next(r for r in counties["data"] if r["adcode"] == "330211")["enterprises"]["total"] == 2


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/nearby", {"lon": 200, "lat": 30, "radius_m": 10}, "lon"),
    ("/nearby", {"lon": 121, "lat": 30, "radius_m": 0}, "radius_m"),
    ("/nearby", {"lon": 121, "lat": 30, "radius_m": 1e9}, "radius_m"),
    ("/nearby", {"lon": 121, "lat": 30}, "radius_m"),
    ("/nearest", {"lon": 121, "lat": 30, "n": 0}, "n"),
    ("/nearest", {"lon": 121, "lat": 30, "kind": "hospitals"}, "kind"),
    ("/stats/regions", {"level": "planet"}, "level"),
    ("/stats/regions", {"parent": "12"}, "parent"),
])
def test_bad_spatial_queries_are_400(wclient, path, params, field):
    r = wclient.get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["detail"][0]["field"] == field


@pytest.mark.parametrize(("params", "field"), [
    ({"lon": 2.35, "lat": 48.85, "radius_m": 10}, "lon"),  # outside China
    ({"lon": ZH[0], "lat": ZH[1], "radius_m": 10, "layers": "secrets"}, "layers"),
    ({"lon": ZH[0], "lat": ZH[1], "radius_m": 10, "crs": "BD-09"}, "crs"),
])
def test_semantically_bad_spatial_queries_are_422(wclient, params, field):
    r = wclient.get("/nearby", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field


def test_nearby_polygon_body_errors(wclient):
    for body, field in (([], "body"), ({"radius_m": 5}, "geometry"), ({"geometry": {}, "radius_m": 5}, "geometry"),
                        ({"geometry": {"type": "Point", "coordinates": list(XH)}, "radius_m": 5, "x": 1}, "x")):
        r = wclient.post("/nearby", json=body)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, r.text


def test_region_item_has_its_statistics(wclient):
    body = wclient.get("/regions/330211", headers=wclient.as_["zhenhai"]).json()
    assert body["stats"]["enterprises"]["red"] == 1 and body["stats"]["protection_targets"]["population"] >= 5900
    assert wclient.get("/regions/330211", headers=wclient.as_["xihu"]).json()["stats"]["enterprises"]["total"] == 0
