"""Resource endpoints: lists, items, filters, paging, writes with ETag/If-Match, jurisdiction on every path."""

import json

import pytest
from sqlalchemy import text

from tests.conftest import XH, ZH, world_uscc

RESOURCES = ["enterprises", "hazard-units", "hidden-dangers", "protection-targets", "rescue-teams", "supply-depots"]

# what each user may see, by world row name
VISIBLE = {
    "province": {"E1", "E2", "E3", "E4", "H1", "H3", "D1", "D3", "T1", "T2", "T3", "R1", "R2", "R3", "S1", "S2", "S3"},
    "ningbo": {"E1", "E2", "E4", "H1", "D1", "T1", "T2", "R1", "R2", "S1", "S2"},
    "zhenhai": {"E1", "E2", "H1", "D1", "T1", "T2", "R1", "R2", "S1", "S2"},
    "xihu": {"E3", "H3", "D3", "T3", "R3", "S3"},
    "ent": {"E1", "H1", "D1", "T1", "R1", "R2", "R3"},  # own enterprise; public rows of other tables
    "public": {"E2", "T1", "R1", "R2", "R3"},
}
PREFIX = {"enterprises": "E", "hazard-units": "H", "hidden-dangers": "D", "protection-targets": "T",
          "rescue-teams": "R", "supply-depots": "S"}


def _ids(client, path, who, **params):
    r = client.get(f"/{path}", params={"limit": 1000, **params}, headers=client.as_[who])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(body["data"])
    return {row["id"] for row in body["data"]}


def _expected(client, path, who):
    names = {n for n in VISIBLE[who] if n[0] == PREFIX[path]}
    return {client.world.ids[n] for n in names}


def _world_ids(client, path):
    return {row_id for name, row_id in client.world.ids.items() if name[0] == PREFIX[path]}


@pytest.mark.parametrize("who", list(VISIBLE))
@pytest.mark.parametrize("path", RESOURCES)
def test_lists_follow_jurisdiction(wclient, path, who):
    # other modules add rows to the shared world: judge the world's own rows
    assert _ids(wclient, path, who) & _world_ids(wclient, path) == _expected(wclient, path, who)


@pytest.mark.parametrize("who", ["zhenhai", "xihu", "public", "ent"])
@pytest.mark.parametrize("path", RESOURCES)
def test_foreign_items_are_404_and_own_items_200(wclient, path, who):
    for name, row_id in wclient.world.ids.items():
        if name[0] != PREFIX[path]:
            continue
        r = wclient.get(f"/{path}/{row_id}", headers=wclient.as_[who])
        assert r.status_code == (200 if name in VISIBLE[who] else 404), (name, r.text)


def test_geojson_by_parameter_and_by_accept(wclient):
    h = wclient.as_["province"]
    for r in (wclient.get("/enterprises", params={"f": "geojson"}, headers=h),
              wclient.get("/enterprises", headers={**h, "Accept": "application/geo+json"})):
        assert r.headers["content-type"].startswith("application/geo+json")
        fc = r.json()
        assert fc["type"] == "FeatureCollection" and fc["numberMatched"] == 4 == len(fc["features"])
        f = fc["features"][0]
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Point" and "name" in f["properties"]
        assert isinstance(f["id"], int)


def test_item_carries_etag_and_children(wclient):
    ids = wclient.world.ids
    r = wclient.get(f"/hazard-units/{ids['H1']}", headers=wclient.as_["zhenhai"])
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    body = r.json()
    assert body["inventory"] == [{"chemical": "氯", "cas": "7782-50-5", "max_quantity_t": 20.0, "category": None}]
    assert wclient.get(f"/hazard-units/{ids['H1']}", headers={**wclient.as_["zhenhai"],
                                                                "If-None-Match": '"1"'}).status_code == 304
    depot = wclient.get(f"/supply-depots/{ids['S1']}", params={"f": "geojson"}, headers=wclient.as_["zhenhai"]).json()
    assert depot["type"] == "Feature" and {s["item"] for s in depot["properties"]["stock"]} == {"堵漏器材", "吸附棉"}


@pytest.mark.parametrize(("params", "expected"), [
    ({"risk_colour": "red"}, {"E1"}),
    ({"risk_colour": "red,orange"}, {"E1", "E3"}),
    ({"risk_colour": "none"}, {"E4"}),
    ({"industry": "hazchem_use"}, {"E3"}),
    ({"q": "镇海"}, {"E1", "E2"}),
    ({"q": world_uscc(3, "330106")[:12]}, {"E3"}),
    ({"q": "50%_"}, set()),
    ({"adcode": "330200"}, {"E1", "E2", "E4"}),
    ({"adcode": "330211"}, {"E1", "E2"}),
    ({"adcode": "330000"}, {"E1", "E2", "E3", "E4"}),
    ({"bbox": f"{ZH[0] - 0.01},{ZH[1] - 0.01},{ZH[0] + 0.01},{ZH[1] + 0.01}"}, {"E1", "E2"}),
    ({"bbox": f"{XH[0] - 0.01},{XH[1] - 0.01},{XH[0] + 0.01},{XH[1] + 0.01}", "risk_colour": "red"}, set()),
])
def test_enterprise_filters(wclient, params, expected):
    ids = wclient.world.ids
    assert _ids(wclient, "enterprises", "province", **params) == {ids[n] for n in expected}


def test_other_filters(wclient):
    ids = wclient.world.ids
    assert _ids(wclient, "hidden-dangers", "province", overdue="true") == {ids["D1"]}
    assert _ids(wclient, "hidden-dangers", "province", level="general") == {ids["D3"]}
    assert _ids(wclient, "hazard-units", "province", grade="1") == {ids["H1"]}
    assert _ids(wclient, "hazard-units", "province", is_major="false") == {ids["H3"]}
    assert _ids(wclient, "supply-depots", "province", item="堵漏器材") == {ids["S1"], ids["S3"]}
    assert _ids(wclient, "protection-targets", "province", category="high_sensitivity") == {ids["T1"], ids["T3"]}
    assert _ids(wclient, "rescue-teams", "province", kind="fire") == {ids["R2"], ids["R3"]}


def test_sort_and_paging(wclient):
    h = wclient.as_["province"]
    names = [r["name"] for r in wclient.get("/enterprises", params={"sort": "-name"}, headers=h).json()["data"]]
    assert names == sorted(names, reverse=True)
    page1 = wclient.get("/enterprises", params={"limit": 2}, headers=h).json()
    assert page1["count"] == 4 and len(page1["data"]) == 2 and page1["next_cursor"]
    page2 = wclient.get("/enterprises", params={"limit": 2, "cursor": page1["next_cursor"]}, headers=h).json()
    by_offset = wclient.get("/enterprises", params={"limit": 2, "offset": 2}, headers=h).json()
    assert [r["id"] for r in page2["data"]] == [r["id"] for r in by_offset["data"]]
    assert not {r["id"] for r in page1["data"]} & {r["id"] for r in page2["data"]}


@pytest.mark.parametrize(("params", "field"), [
    ({"bbox": "122,30,121,31"}, "bbox"),
    ({"bbox": "121,31,122,30"}, "bbox"),
    ({"bbox": "-200,30,121,31"}, "bbox"),
    ({"bbox": "121,-95,122,31"}, "bbox"),
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "nan,1,2,3"}, "bbox"),
    ({"limit": 10001}, "limit"),
    ({"limit": 0}, "limit"),
    ({"offset": -1}, "offset"),
    ({"risk_colour": "purple"}, "risk_colour"),
    ({"sort": "password"}, "sort"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"adcode": "999999"}, "adcode"),
    ({"adcode": "33"}, "adcode"),
])
def test_bad_list_parameters_are_400_naming_the_field(wclient, params, field):
    r = wclient.get("/enterprises", params=params, headers=wclient.as_["province"])
    assert r.status_code == 400, r.text
    assert r.json()["detail"][0]["field"] == field


# ---------------------------------------------------------------- writes

NEW_TEAM = {"name": "新建救援队", "kind": "hazmat", "headcount": 12, "capabilities": ["leak_sealing"],
            "geometry": {"type": "Point", "coordinates": [ZH[0] + 0.01, ZH[1] + 0.01]}}


def _count_rows(engine, table):
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def test_create_update_delete_with_versions(wclient, world_owner_engine):
    h = wclient.as_["zhenhai"]
    r = wclient.post("/rescue-teams", json=NEW_TEAM, headers=h)
    assert r.status_code == 201, r.text
    team = r.json()
    assert team["adcode"] == "330211" and r.headers["etag"] == '"1"' and r.headers["location"].endswith(str(team["id"]))
    path = f"/rescue-teams/{team['id']}"
    assert wclient.patch(path, json={"headcount": 15}, headers=h).status_code == 428
    r = wclient.patch(path, json={"headcount": 15}, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["headcount"] == 15 and r.headers["etag"] == '"2"'
    stale = wclient.patch(path, json={"headcount": 16}, headers={**h, "If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    assert wclient.get(path, headers=h).json()["headcount"] == 15
    assert wclient.delete(path, headers={**h, "If-Match": '"1"'}).status_code == 409
    assert wclient.delete(path, headers={**h, "If-Match": '"2"'}).status_code == 204
    assert team["id"] not in _ids(wclient, "rescue-teams", "zhenhai")
    with world_owner_engine.connect() as conn:  # kept, with its history
        status, valid_to = conn.execute(text("SELECT status, valid_to FROM rescue_teams WHERE id = :i"),
                                        {"i": team["id"]}).one()
        assert status == "disbanded" and valid_to is not None
        ops = conn.execute(text("SELECT op FROM audit_log WHERE table_name = 'rescue_teams' AND row_key = :k "
                                "ORDER BY seq"), {"k": str(team["id"])}).scalars().all()
        assert ops == ["INSERT", "UPDATE", "UPDATE"]


def test_geojson_feature_body_and_inventory_upsert(wclient):
    h = wclient.as_["zhenhai"]
    ids = wclient.world.ids
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [ZH[0], ZH[1] + 0.001]},
            "properties": {"enterprise_id": ids["E1"], "name": "新储罐", "kind": "storage",
                           "inventory": [{"chemical": "氨", "max_quantity_t": 5}]}}
    r = wclient.post("/hazard-units", json=body, headers=h)
    assert r.status_code == 201, r.text
    unit = r.json()
    assert unit["inventory"] == [{"chemical": "氨", "cas": None, "max_quantity_t": 5.0, "category": None}]
    r = wclient.patch(f"/hazard-units/{unit['id']}", json={"inventory": [{"chemical": "氯", "max_quantity_t": 3}]},
                      headers={**h, "If-Match": r.headers["etag"]})
    assert r.status_code == 200, r.text
    assert r.json()["inventory"] == [{"chemical": "氯", "cas": None, "max_quantity_t": 3.0, "category": None}]  # ammonia set to 0 t
    # v1 the insert, v2 its GB 18218 assessment (S stored), v3 the edit together with its reassessment
    assert r.headers["etag"] == '"3"' and r.json()["s"] == 0.6


def test_hidden_danger_defaults_to_the_enterprise_location(wclient):
    ids = wclient.world.ids
    r = wclient.post("/hidden-dangers", json={"enterprise_id": ids["E1"], "title": "安全阀未校验",
                                              "category": "equipment", "level": "general", "found_on": "2026-11-01"},
                     headers=wclient.as_["ent"])
    assert r.status_code == 201, r.text
    assert r.json()["geometry"]["coordinates"] == pytest.approx(list(ZH), abs=1e-9)


@pytest.mark.parametrize(("who", "path", "body", "status"), [
    ("public", "/rescue-teams", NEW_TEAM, 403),
    ("xihu", "/rescue-teams", NEW_TEAM, 403),  # a point in Zhenhai, outside Xihu
    ("ent", "/rescue-teams", NEW_TEAM, 403),  # enterprise users keep to their enterprise
    ("zhenhai", "/hidden-dangers", {"enterprise_id": 10**12, "title": "x", "category": "fire", "level": "general",
                                    "found_on": "2026-01-01"}, 422),
])
def test_writes_outside_the_callers_reach_change_nothing(wclient, world_owner_engine, who, path, body, status):
    table = path.strip("/").replace("-", "_")
    before = _count_rows(world_owner_engine, table)
    r = wclient.post(path, json=body, headers=wclient.as_[who])
    assert r.status_code == status, r.text
    assert _count_rows(world_owner_engine, table) == before


def test_foreign_rows_cannot_be_changed(wclient):
    ids = wclient.world.ids
    h = {**wclient.as_["xihu"], "If-Match": '"1"'}
    assert wclient.patch(f"/enterprises/{ids['E1']}", json={"name": "改名"}, headers=h).status_code == 404
    assert wclient.delete(f"/enterprises/{ids['E1']}", headers=h).status_code == 404
    pub = {"If-Match": '"1"'}
    assert wclient.patch(f"/enterprises/{ids['E2']}", json={"name": "改名"}, headers=pub).status_code == 403


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({**NEW_TEAM, "geometry": {"type": "Polygon", "coordinates": [[[121.6, 29.9], [121.7, 29.9], [121.7, 30.0],
                                                                   [121.6, 29.9]]]}}, "geometry", "not allowed"),
    ({**NEW_TEAM, "geometry": {"type": "Point", "coordinates": [200, 95]}}, "geometry", ""),
    ({**NEW_TEAM, "geometry": {"type": "Point", "coordinates": [2.35, 48.85]}}, "geometry", "China"),
    ({**NEW_TEAM, "headcount": -1}, "headcount", ""),
    ({**NEW_TEAM, "kind": "ninja"}, "kind", ""),
    ({**NEW_TEAM, "colour": "red"}, "colour", "unknown field"),
    ({k: v for k, v in NEW_TEAM.items() if k != "name"}, "name", ""),
    ({**NEW_TEAM, "crs": "BD-09"}, "crs", "BD-09"),
])
def test_bad_bodies_are_422_naming_the_field(wclient, world_owner_engine, body, field, fragment):
    before = _count_rows(world_owner_engine, "rescue_teams")
    r = wclient.post("/rescue-teams", json=body, headers=wclient.as_["zhenhai"])
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["field"] == field and fragment in detail["reason"]
    assert _count_rows(world_owner_engine, "rescue_teams") == before


def test_invalid_polygon_names_the_reason(wclient):
    bowtie = {"type": "Polygon", "coordinates": [[[121.60, 29.95], [121.65, 30.0], [121.65, 29.95],
                                                  [121.60, 30.0], [121.60, 29.95]]]}
    r = wclient.post("/protection-targets", json={"name": "蝴蝶", "kind": "school", "category": "important",
                                                  "population": 10, "geometry": bowtie},
                     headers=wclient.as_["zhenhai"])
    assert r.status_code == 422 and "Self-intersection" in r.json()["detail"][0]["reason"]


def test_nan_and_huge_payloads(wclient):
    h = {**wclient.as_["zhenhai"], "Content-Type": "application/json"}
    r = wclient.post("/rescue-teams", content=json.dumps(NEW_TEAM).replace("12", "NaN", 1), headers=h)
    assert r.status_code == 422
    r = wclient.post("/rescue-teams", content=b"{" + b" " * (5 * 2**20 + 10) + b"}", headers=h)
    assert r.status_code == 413 and r.json()["detail"][0]["field"] == "body"

    def chunked():  # no Content-Length: counted as it arrives
        for _ in range(6):
            yield b" " * 2**20

    r = wclient.post("/rescue-teams", content=chunked(), headers=h)
    assert r.status_code == 413


def test_nul_in_the_query_string_is_400(wclient):
    for path in ("/enterprises?q=%00", "/supply-depots?item=a%00b"):
        r = wclient.get(path, headers=wclient.as_["province"])
        assert r.status_code == 400 and r.json()["detail"][0]["field"] == "query"


def test_request_ids(wclient):
    assert wclient.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(wclient.get("/health", headers={"X-Request-ID": "bad id\r"}).headers["x-request-id"]) == 32
