"""OGC API – Features under ``/ogc``: documents, paging, filters, jurisdiction, and GDAL's OAPIF driver.

A throwaway database of its own: three users (province, Zhenhai county,
Xihu county), five enterprises in Zhenhai (330211) and two in Xihu (330106),
one of each public, and hidden dangers found on known days.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.context import RequestContext, install
from geo.db import make_engine, session_factory
from geo.regions import store_regions
from geo.uscc import uscc_check_char
from geo.users import create_user
from layers import ogc
from layers.catalogue import LAYERS
from layers.features import ListQuery
from tests.conftest import zhejiang_regions
from tests.live_server import live_server

PASSWORD = "correct horse battery"
ZHENHAI = [(121.600, 29.970), (121.610, 29.975), (121.620, 29.980), (121.630, 29.985), (121.640, 29.990)]
XIHU = [(120.130, 30.270), (120.120, 30.260)]
ZHENHAI_BBOX = "121.59,29.96,121.65,30.00"
XIHU_BBOX = "120.11,30.25,120.14,30.28"
DANGER_DAYS = [date(2024, 1, 10), date(2024, 3, 5), date(2024, 6, 20)]
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"


def _uscc(n: int, county: str) -> str:
    body = f"91{county}{n:09d}"
    return body + uscc_check_char(body)


@dataclass
class World:
    client: TestClient
    auth: dict[str, dict[str, str]]
    tokens: dict[str, str]
    zhenhai: list[int]  # enterprise ids, the first is public
    xihu: list[int]
    app_engine: object
    settings: object


@pytest.fixture(scope="module")
def world(throwaway, settings):
    ogc.clear_extent_cache()
    db = throwaway()
    owner = make_engine(db.owner_url)
    ids: dict[str, list[int]] = {"330211": [], "330106": []}
    with owner.begin() as conn:
        store_regions(conn, zhejiang_regions())
        for name, role, adcode in (("prov", "province", "330000"), ("zh", "county", "330211"),
                                   ("xh", "county", "330106")):
            create_user(conn, username=f"ogc.{name}", password=PASSWORD, role=role, adcode=adcode)
        n = 0
        for county, points in (("330211", ZHENHAI), ("330106", XIHU)):
            for i, (x, y) in enumerate(points):
                n += 1
                row = conn.execute(text(
                    "INSERT INTO enterprises (uscc, name, industry, scale, is_public, risk_colour, geom) VALUES "
                    "(:u, :name, 'hazchem_storage', :scale, :pub, 'red', ST_SetSRID(ST_MakePoint(:x, :y), 4326)) "
                    "RETURNING id, adcode"),
                    {"u": _uscc(n, county), "name": f"测试企业{n}", "scale": "small" if i % 2 else "large",
                     "pub": i == 0, "x": x, "y": y}).one()
                assert row.adcode == county, (x, y, row.adcode)
                ids[county].append(row.id)
        for day in DANGER_DAYS:
            conn.execute(text(
                "INSERT INTO hidden_dangers (enterprise_id, title, category, level, found_on, geom) VALUES "
                "(:e, :t, 'storage', 'general', :d, ST_SetSRID(ST_MakePoint(121.64, 29.99), 4326))"),
                {"e": ids["330211"][1], "t": f"隐患 {day}", "d": day})
    app_engine = make_engine(db.app_url)
    with TestClient(create_app(settings, engine=app_engine)) as client:
        tokens = {u: client.post("/auth/token", data={"username": f"ogc.{u}", "password": PASSWORD}
                                 ).json()["access_token"] for u in ("prov", "zh", "xh")}
        auth = {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items()}
        auth["public"] = {}
        yield World(client, auth, tokens, ids["330211"], ids["330106"], app_engine, settings)
    app_engine.dispose()
    owner.dispose()
    ogc.clear_extent_cache()


def _get(world: World, url: str, who: str = "prov", **params):
    return world.client.get(url, params=params, headers=world.auth[who])


def _ids(fc: dict) -> list:
    return [f["id"] for f in fc["features"]]


def _links(doc: dict) -> dict[str, dict]:
    return {link["rel"]: link for link in doc["links"]}


# ---------------------------------------------------------------- documents


def test_doctests():
    result = doctest.testmod(ogc, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_landing_page(world):
    r = _get(world, "/ogc")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    page = r.json()
    assert page["title"] and page["description"]
    links = _links(page)
    assert links["self"]["href"] == "http://testserver/ogc"
    assert links["service-desc"] == {"href": "http://testserver/openapi.json", "rel": "service-desc",
                                     "type": "application/vnd.oai.openapi+json;version=3.0",
                                     "title": links["service-desc"]["title"]}
    assert links["conformance"]["href"] == "http://testserver/ogc/conformance"
    assert links["data"]["href"] == "http://testserver/ogc/collections"
    assert links["data"]["type"] == "application/json"


def test_conformance(world):
    body = _get(world, "/ogc/conformance", f="json").json()
    assert body["conformsTo"] == [CORE, CORE.replace("core", "geojson"), CORE.replace("core", "oas30")]


def test_every_catalogue_layer_is_a_collection(world):
    r = _get(world, "/ogc/collections", f="json")
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert [c["id"] for c in body["collections"]] == list(LAYERS)
    assert _links(body)["self"]["href"] == "http://testserver/ogc/collections"
    for c in body["collections"]:
        assert c["itemType"] == "feature" and c["crs"] == [ogc.CRS84]
        assert "/" in c["title"] and c["description"]
        x0, y0, x1, y1 = c["extent"]["spatial"]["bbox"][0]
        assert 118 <= x0 <= x1 <= 123.5 and 27 <= y0 <= y1 <= 31.5  # data or the loaded regions: Zhejiang
        items = _links(c)["items"]
        assert items == {"href": f"http://testserver/ogc/collections/{c['id']}/items", "rel": "items",
                         "type": "application/geo+json", "title": items["title"]}
        assert ("temporal" in c["extent"]) == (LAYERS[c["id"]].temporal is not None)


def test_collection_extent_is_what_the_caller_sees(world):
    zh = _get(world, "/ogc/collections/enterprises", "zh").json()
    assert zh["extent"]["spatial"]["bbox"] == [[121.6, 29.97, 121.64, 29.99]]
    prov = _get(world, "/ogc/collections/enterprises", "prov").json()
    assert prov["extent"]["spatial"]["bbox"] == [[120.12, 29.97, 121.64, 30.27]]
    dangers = _get(world, "/ogc/collections/hidden_dangers", "zh").json()
    assert dangers["extent"]["temporal"]["interval"] == [["2024-01-10T00:00:00Z", "2024-06-20T00:00:00Z"]]
    assert dangers["extent"]["temporal"]["trs"].endswith("Gregorian")


# ---------------------------------------------------------------- items


def test_paging_follows_next_links(world):
    url, seen, pages = "/ogc/collections/enterprises/items?limit=2", [], []
    while url:
        r = world.client.get(url, headers=world.auth["zh"])
        assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
        fc = r.json()
        assert fc["type"] == "FeatureCollection" and fc["numberMatched"] == 5
        assert fc["numberReturned"] == len(fc["features"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fc["timeStamp"])
        links = _links(fc)
        assert links["self"]["type"] == "application/geo+json"
        assert links["collection"] == {"href": "http://testserver/ogc/collections/enterprises",
                                       "rel": "collection", "type": "application/json", "title": "Enterprises"}
        assert ("prev" in links) == bool(pages)
        pages.append(fc["numberReturned"])
        seen += _ids(fc)
        url = links.get("next", {}).get("href")
        if url:
            assert url.startswith("http://testserver/ogc/collections/enterprises/items?")
            assert links["next"]["type"] == "application/geo+json"
    assert pages == [2, 2, 1]
    assert seen == sorted(world.zhenhai)


def test_prev_link_and_kept_parameters(world):
    fc = _get(world, "/ogc/collections/enterprises/items", "prov", limit=2, offset=3, scale="large").json()
    assert fc["numberMatched"] == 4 and fc["numberReturned"] == 1  # large: Zhenhai 0, 2, 4 and Xihu 0
    links = _links(fc)
    assert "next" not in links
    q = parse_qs(urlsplit(links["prev"]["href"]).query)
    assert q == {"scale": ["large"], "limit": ["2"], "offset": ["1"]}


def test_limit_over_the_maximum_is_clamped(world):
    r = _get(world, "/ogc/collections/enterprises/items", "prov", limit=50000)
    assert r.status_code == 200
    fc = r.json()
    assert fc["numberReturned"] == 7
    assert parse_qs(urlsplit(_links(fc)["self"]["href"]).query)["limit"] == ["10000"]


def test_default_limit_is_10(world):
    fc = _get(world, "/ogc/collections/regions_county/items").json()
    assert fc["numberReturned"] == 10 and fc["numberMatched"] == 90
    assert "limit=10&offset=10" in _links(fc)["next"]["href"]


@pytest.mark.parametrize(("bbox", "county"), [(ZHENHAI_BBOX, "330211"), (XIHU_BBOX, "330106")])
def test_bbox_filter(world, bbox, county):
    fc = _get(world, "/ogc/collections/enterprises/items", "prov", bbox=bbox).json()
    expected = world.zhenhai if county == "330211" else world.xihu
    assert sorted(_ids(fc)) == sorted(expected) and fc["numberMatched"] == len(expected)
    assert all(f["properties"]["adcode"] == county for f in fc["features"])


@pytest.mark.parametrize(("value", "days"), [
    ("2024-02-01/..", DANGER_DAYS[1:]),
    ("../2024-02-01", DANGER_DAYS[:1]),
    ("2024-03-05", DANGER_DAYS[1:2]),
    ("2024-03-01T00:00:00Z/2024-06-20T23:59:59Z", DANGER_DAYS[1:]),
    ("2025-01-01/..", []),
])
def test_datetime_filter_on_hidden_dangers(world, value, days):
    fc = _get(world, "/ogc/collections/hidden_dangers/items", "zh", datetime=value).json()
    assert sorted(f["properties"]["found_on"] for f in fc["features"]) == [d.isoformat() for d in days]
    assert fc["numberMatched"] == len(days)


def test_property_filters(world):
    fc = _get(world, "/ogc/collections/enterprises/items", "zh", scale="small").json()
    assert fc["numberMatched"] == 2 and {f["properties"]["scale"] for f in fc["features"]} == {"small"}
    fc = _get(world, "/ogc/collections/enterprises/items", "zh", risk_colour="blue,orange").json()
    assert fc["numberMatched"] == 0 and fc["features"] == []


def test_geometry_and_properties(world):
    fc = _get(world, "/ogc/collections/enterprises/items", "zh", limit=1).json()
    feature = fc["features"][0]
    assert feature["type"] == "Feature" and feature["id"] == world.zhenhai[0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [121.6, 29.97]}
    assert feature["properties"]["name"] == "测试企业1" and feature["properties"]["is_public"] is True


# ---------------------------------------------------------------- jurisdiction


@pytest.mark.parametrize(("who", "expected"), [
    ("prov", "zhenhai+xihu"), ("zh", "zhenhai"), ("xh", "xihu"), ("public", "public"),
])
def test_items_are_what_the_caller_may_see(world, who, expected):
    want = {"zhenhai+xihu": world.zhenhai + world.xihu, "zhenhai": world.zhenhai, "xihu": world.xihu,
            "public": [world.zhenhai[0], world.xihu[0]]}[expected]
    fc = _get(world, "/ogc/collections/enterprises/items", who, limit=100).json()
    assert sorted(_ids(fc)) == sorted(want) and fc["numberMatched"] == len(want)
    if who == "public":
        assert all(f["properties"]["is_public"] for f in fc["features"])


def test_item(world):
    fid = world.zhenhai[2]
    r = _get(world, f"/ogc/collections/enterprises/items/{fid}", "zh")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    feature = r.json()
    assert feature["type"] == "Feature" and feature["id"] == fid and feature["properties"]["adcode"] == "330211"
    links = _links(feature)
    assert links["self"]["href"] == f"http://testserver/ogc/collections/enterprises/items/{fid}"
    assert links["collection"]["href"] == "http://testserver/ogc/collections/enterprises"


@pytest.mark.parametrize(("who", "status"), [("prov", 200), ("zh", 200), ("xh", 404), ("public", 404)])
def test_foreign_item_is_404(world, who, status):
    r = _get(world, f"/ogc/collections/enterprises/items/{world.zhenhai[1]}", who)
    assert r.status_code == status, r.text


def test_public_item_is_visible_without_a_token(world):
    assert _get(world, f"/ogc/collections/enterprises/items/{world.zhenhai[0]}", "public").status_code == 200


def test_hazard_dangers_follow_their_enterprise(world):
    assert _get(world, "/ogc/collections/hidden_dangers/items", "xh").json()["numberMatched"] == 0
    assert _get(world, "/ogc/collections/hidden_dangers/items", "prov").json()["numberMatched"] == 3


@pytest.mark.parametrize(("collection", "fid", "status"), [
    ("regions_county", "330211", 200), ("regions_city", "330200", 200), ("regions_city", "330211", 404),
    ("regions_county", "33021", 404), ("regions_county", "abc", 404),
])
def test_region_items_are_addressed_by_adcode(world, collection, fid, status):
    r = _get(world, f"/ogc/collections/{collection}/items/{fid}", "public")
    assert r.status_code == status
    if status == 200:
        assert r.json()["id"] == fid and r.json()["geometry"]["type"] == "MultiPolygon"


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("url", "status", "field"), [
    ("/ogc/collections/enterprises/items?bbox=1,2,3", 400, "bbox"),
    ("/ogc/collections/enterprises/items?bbox=122,30,121,29", 400, "bbox"),
    ("/ogc/collections/enterprises/items?bbox=a,b,c,d", 400, "bbox"),
    ("/ogc/collections/enterprises/items?bbox=121,29,122,nan", 400, "bbox"),
    ("/ogc/collections/enterprises/items?bbox=121,-95,122,30", 400, "bbox"),
    ("/ogc/collections/enterprises/items?limit=0", 400, "limit"),
    ("/ogc/collections/enterprises/items?limit=ten", 400, "limit"),
    ("/ogc/collections/enterprises/items?offset=-1", 400, "offset"),
    ("/ogc/collections/enterprises/items?offset=99999999999999999999999", 400, "offset"),
    ("/ogc/collections/hidden_dangers/items?datetime=yesterday", 400, "datetime"),
    ("/ogc/collections/hidden_dangers/items?datetime=../..", 400, "datetime"),
    ("/ogc/collections/hidden_dangers/items?datetime=2024-05-01/2024-01-01", 400, "datetime"),
    ("/ogc/collections/regions_city/items?datetime=2024-01-01", 400, "datetime"),
    ("/ogc/collections/enterprises/items?risk_color=red", 400, "risk_color"),
    ("/ogc/collections/enterprises/items?scale=giant", 400, "scale"),
    ("/ogc/collections/enterprises/items?f=html", 400, "f"),
    ("/ogc/collections?f=xml", 400, "f"),
    # the request guard refuses NUL anywhere in the query string
    ("/ogc/collections/supply_depots/items?item=%00", 400, "query"),
])
def test_bad_parameters_are_400_naming_the_field(world, url, status, field):
    r = world.client.get(url, headers=world.auth["prov"])
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["detail"][0]["field"] == field


@pytest.mark.parametrize("url", [
    "/ogc/collections/factories", "/ogc/collections/factories/items", "/ogc/collections/factories/items/1",
    "/ogc/collections/enterprises/items/abc", "/ogc/collections/enterprises/items/0",
    "/ogc/collections/enterprises/items/-1", "/ogc/collections/enterprises/items/99999999999999999999",
    "/ogc/collections/enterprises/items/999999", "/ogc/collections/enterprises/items/" + "9" * 200,
])
def test_unknown_collections_and_features_are_404(world, url):
    r = world.client.get(url, headers=world.auth["prov"])
    assert r.status_code == 404, r.text
    assert r.json()["detail"]


def test_unknown_collection_lists_the_known_ones(world):
    detail = _get(world, "/ogc/collections/factories").json()["detail"]
    assert "factories" in detail and "enterprises" in detail and "regions_county" in detail


# ---------------------------------------------------------------- numberMatched, OpenAPI


def test_number_matched_estimate_on_big_tables(world):
    """Above the row threshold the count is the planner's estimate (forced: reltuples is -1 when never analysed)."""
    sessions = install(session_factory(world.app_engine))
    with sessions() as session:
        session.info["ctx"] = RequestContext(role="province", jurisdiction="33", actor="test")
        layer = LAYERS["enterprises"]
        exact = ogc.number_matched(session, layer=layer, query=ListQuery())
        estimate = ogc.number_matched(session, layer=layer, query=ListQuery(), exact_below=-2)
        body = json.loads(ogc.items(session, layer=layer, params={"limit": "2"}, root="http://h/ogc",
                                    exact_below=-2))
    assert exact == (7, True)
    assert estimate[1] is False and estimate[0] >= 1
    assert body["numberReturned"] == 2 and body["numberMatched"] >= 2 and "next" in _links(body)


def test_openapi_describes_each_collection(world):
    spec = world.client.get("/openapi.json").json()
    for name in LAYERS:
        assert f"/ogc/collections/{name}/items" in spec["paths"]
    params = {p["name"]: p for p in spec["paths"]["/ogc/collections/hidden_dangers/items"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 10000 and params["limit"]["schema"]["default"] == 10
    assert {"bbox", "datetime", "offset", "level", "overdue"} <= set(params)
    regions = spec["paths"]["/ogc/collections/regions_city/items"]["get"]["parameters"]
    assert "datetime" not in {p["name"] for p in regions}


# ---------------------------------------------------------------- GDAL's OAPIF driver against a live server


@pytest.fixture(scope="module")
def server(world):
    """The app on a real uvicorn server in a thread (127.0.0.1, a free port)."""
    with live_server(create_app(world.settings, engine=world.app_engine)) as url:
        yield url


def _gdal(*args: str, token: str | None = None, timeout: float = 120) -> str:
    exe = shutil.which(args[0])
    assert exe, f"{args[0]} is not installed (scripts/setup.sh installs gdal-bin)"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"GDAL_HTTP_TIMEOUT": "30", "CPL_DEBUG": "OFF", "NO_PROXY": "127.0.0.1"})
    extra = ["--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {token}"] if token else []
    proc = subprocess.run([exe, *extra, *args[1:]], capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{args[0]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


def test_gdal_lists_the_collections(server):
    out = _gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server}/ogc")
    listed = re.findall(r"^\d+: (\w+)", out, flags=re.M)
    assert listed == list(LAYERS), out
    assert re.search(r"^\d+: enterprises \(title: 企业 / Enterprises\) \(Point\)$", out, flags=re.M), out
    assert re.search(r"^\d+: regions_county \(title: .*\) \(Multi Polygon\)$", out, flags=re.M), out


def test_gdal_reads_what_an_anonymous_caller_may_see(server, world):
    out = _gdal("ogrinfo", "-ro", f"OAPIF:{server}/ogc", "enterprises")
    assert re.search(r"^Feature Count: 2$", out, flags=re.M), out
    assert sorted(int(x) for x in re.findall(r"^OGRFeature\(enterprises\):(\d+)$", out, flags=re.M)) == sorted(
        [world.zhenhai[0], world.xihu[0]])


def test_gdal_pushes_a_date_comparison_down_as_datetime(server, world):
    """GDAL 3.6 turns ``found_on >= '2024-02-01'`` into ``datetime=2024-02-01T/..`` (note the bare T)."""
    out = _gdal("ogrinfo", "-ro", f"OAPIF:{server}/ogc", "hidden_dangers", "-where", "found_on >= '2024-02-01'",
                token=world.tokens["zh"])
    assert re.findall(r"^  found_on \(Date\) = (\S+)$", out, flags=re.M) == ["2024/03/05", "2024/06/20"], out


def _ogr2ogr(server: str, tmp_path, *, token: str | None = None) -> dict:
    out = tmp_path / "out.geojson"
    _gdal("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{server}/ogc", "enterprises", "-oo", "PAGE_SIZE=2",
          token=token)
    return json.loads(out.read_text())


def test_gdal_ogr2ogr_follows_next_links(server, tmp_path):
    fc = _ogr2ogr(server, tmp_path)
    assert len(fc["features"]) == 2
    assert {f["properties"]["name"] for f in fc["features"]} == {"测试企业1", "测试企业6"}
    assert {f["properties"]["is_public"] for f in fc["features"]} == {True}


def test_gdal_with_a_county_token_sees_its_county(server, tmp_path, world):
    fc = _ogr2ogr(server, tmp_path, token=world.tokens["zh"])
    assert len(fc["features"]) == 5  # three pages of PAGE_SIZE=2
    assert {f["properties"]["adcode"] for f in fc["features"]} == {"330211"}
    assert sorted(f["properties"]["name"] for f in fc["features"]) == [f"测试企业{i}" for i in range(1, 6)]
