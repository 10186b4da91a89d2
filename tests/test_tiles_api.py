"""Vector tiles: real MVT decoded, jurisdiction, thinning, caching by data version, TileJSON, catalogue."""

import math
import time

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from geo.context import RequestContext, apply_context
from layers.catalogue import LAYERS
from layers.tiles import render_tile
from tests.conftest import XH, ZH


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def get_tile(client, layer, zxy, who="province", **headers):
    z, x, y = zxy
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", headers={**client.as_[who], **headers})


def features(client, layer, zxy, who="province"):
    r = get_tile(client, layer, zxy, who)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(r.content)
    return decoded[layer]["features"] if layer in decoded else []


@pytest.mark.parametrize(("who", "expected"), [
    ("province", {"E1", "E2"}), ("zhenhai", {"E1", "E2"}), ("xihu", set()), ("public", {"E2"}), ("ent", {"E1"}),
])
def test_tile_rows_follow_jurisdiction(wclient, who, expected):
    # 121.64 E lies on a tile edge down to z11: E1 and E2 (300 m east) fall in neighbouring tiles
    tiles = (tile_of(*ZH, 14), tile_of(ZH[0] + 0.0031, ZH[1], 14))
    got = {f["id"] for zxy in tiles for f in features(wclient, "enterprises", zxy, who)}
    assert got == {wclient.world.ids[n] for n in expected}


def test_tile_properties_and_geometry(wclient):
    feats = features(wclient, "enterprises", tile_of(*ZH, 16))
    e1 = next(f for f in feats if f["id"] == wclient.world.ids["E1"])
    assert e1["properties"]["name"] == "镇海一号化工有限公司" and e1["properties"]["risk_colour"] == "red"
    assert "uscc" not in e1["properties"]  # the popup reads the rest from /enterprises/{id}
    assert e1["geometry"]["type"] == "Point"
    x, y = e1["geometry"]["coordinates"]
    assert 0 <= x <= 4096 and 0 <= y <= 4096


def test_low_zoom_points_are_thinned_with_counts_and_worst_colour(wclient):
    feats = features(wclient, "enterprises", tile_of(*ZH, 7))
    assert feats and all(f["properties"]["cluster"] for f in feats)
    assert sum(f["properties"]["count"] for f in feats) == 3  # E1, E2 and E4 (Beilun) share the tile
    zhenhai = max(feats, key=lambda f: f["properties"]["count"])
    assert zhenhai["properties"]["risk_colour"] == "red"  # red outranks yellow


def test_polygons_regions_and_protection_targets(wclient):
    counties = features(wclient, "regions_county", tile_of(*XH, 10), "public")
    names = {f["properties"]["name"] for f in counties}
    assert "西湖区" in names and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in counties)
    targets = features(wclient, "protection_targets", tile_of(XH[0] + 0.0083, XH[1], 15), "xihu")  # T3
    assert [f["properties"]["name"] for f in targets] == ["西湖医院"]
    assert targets[0]["geometry"]["type"] == "Polygon"


def test_below_min_zoom_is_an_empty_tile(wclient):
    assert features(wclient, "protection_targets", tile_of(*ZH, 3)) == []


@pytest.mark.parametrize("path", [
    "/tiles/enterprises/23/0/0.mvt", "/tiles/enterprises/3/8/0.mvt", "/tiles/enterprises/3/0/8.mvt",
    "/tiles/enterprises/-1/0/0.mvt", "/tiles/enterprises/2/-1/0.mvt", "/tiles/nosuchlayer/1/0/0.mvt",
    "/tiles/nosuchlayer.json",
])
def test_outside_the_tile_matrix_or_unknown_layer_is_404(wclient, path):
    r = wclient.get(path)
    assert r.status_code == 404 and r.json()["detail"]


def test_etag_304_and_cache_control(wclient):
    zxy = tile_of(*ZH, 14)
    r = get_tile(wclient, "enterprises", zxy, "zhenhai")
    assert r.headers["cache-control"].startswith("private")
    again = get_tile(wclient, "enterprises", zxy, "zhenhai", **{"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    anon = get_tile(wclient, "enterprises", zxy, "public")
    assert anon.headers["cache-control"].startswith("public") and anon.headers["etag"] != r.headers["etag"]


def test_a_change_through_another_connection_reaches_the_next_tile(wclient, world_owner_engine):
    zxy = tile_of(*XH, 14)
    before = get_tile(wclient, "rescue_teams", zxy, "xihu")
    assert before.status_code == 200
    with world_owner_engine.begin() as conn:
        new_id = conn.execute(text(
            "INSERT INTO rescue_teams (name, kind, headcount, geom) VALUES ('新队', 'fire', 5, "
            "ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"), {"x": XH[0] + 0.0005, "y": XH[1]}).scalar_one()
    deadline = time.monotonic() + 10
    while True:  # the change feed bumps the data version; the cached tile is no longer served
        r = get_tile(wclient, "rescue_teams", zxy, "xihu")
        ids = {f["id"] for f in mapbox_vector_tile.decode(r.content).get("rescue_teams", {"features": []})["features"]}
        if new_id in ids:
            break
        assert time.monotonic() < deadline, "the new team never appeared in the tile"
        time.sleep(0.05)
    assert r.headers["etag"] != before.headers["etag"]
    with world_owner_engine.begin() as conn:  # leave the shared world as it was (for other modules' counts)
        conn.execute(text("UPDATE rescue_teams SET status = 'disbanded', valid_to = now() WHERE id = :i"),
                     {"i": new_id})


def test_tile_queries_run_without_parallel_workers(world_app_engine):
    with world_app_engine.connect() as conn, conn.begin():
        apply_context(conn, RequestContext(role="province", jurisdiction="33", actor="test"))
        render_tile(conn, layer=LAYERS["enterprises"], z=14, x=13724, y=6711)
        assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar() == "0"
    with world_app_engine.connect() as conn:  # transaction-local: the pooled connection is clean again
        assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar() != "0"


def test_tilejson(wclient):
    tj = wclient.get("/tiles/hazard_units.json").json()
    assert tj["tilejson"] == "3.0.0" and tj["tiles"][0].endswith("/tiles/hazard_units/{z}/{x}/{y}.mvt")
    assert tj["vector_layers"][0]["id"] == "hazard_units" and "grade" in tj["vector_layers"][0]["fields"]
    assert 0 <= tj["minzoom"] <= tj["maxzoom"] <= 22


def test_layer_catalogue_gives_styles_and_legends(wclient):
    body = wclient.get("/layers").json()
    names = [layer["name"] for layer in body["data"]]
    assert names[:6] == ["enterprises", "hazard_units", "hidden_dangers", "protection_targets", "rescue_teams",
                         "supply_depots"]
    ent = body["data"][0]
    assert ent["title"] == {"zh": "企业", "en": "Enterprises"}
    assert [item["value"] for item in ent["legend"]][:4] == ["red", "orange", "yellow", "blue"]
    assert ent["style"]["type"] == "circle" and ent["tilejson"] == "/tiles/enterprises.json"


def test_a_disabled_users_token_stops_at_once_on_every_path(wclient, world_owner_engine):
    from geo.users import create_user
    from tests.conftest import WORLD_PASSWORD

    with world_owner_engine.begin() as conn:
        create_user(conn, username="w.soon.gone", password=WORLD_PASSWORD, role="county", adcode="330211")
    token = wclient.post("/auth/token", data={"username": "w.soon.gone", "password": WORLD_PASSWORD}).json()
    h = {"Authorization": f"Bearer {token['access_token']}"}
    z, x, y = tile_of(*ZH, 14)
    path = f"/tiles/enterprises/{z}/{x}/{y}.mvt"
    etag = wclient.get(path, headers=h).headers["etag"]  # now cached
    assert wclient.get("/enterprises", headers=h).status_code == 200
    with world_owner_engine.begin() as conn:
        conn.execute(text("UPDATE users SET status = 'disabled', valid_to = now() WHERE username = 'w.soon.gone'"))
    assert wclient.get(path, headers=h).status_code == 401  # a cached tile is not served to it
    assert wclient.get(path, headers={**h, "If-None-Match": etag}).status_code == 401
    assert wclient.get("/enterprises", headers=h).status_code == 401  # checked in the request's transaction
    assert wclient.get("/auth/me", headers=h).status_code == 401
    assert wclient.get("/ogc/collections/enterprises/items", headers=h).status_code == 401
