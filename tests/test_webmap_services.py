"""What the pages load from the server: style, glyphs, labels, assets, planner helpers, token refresh."""

from __future__ import annotations

import numpy as np
import pytest

import plume
from layers.basemap import THEMATIC, map_style
from layers.catalogue import LAYERS, RISK_COLOURS
from layers.glyphs import BUFFER_PX, glyph_range_pbf, sdf
from layers.release_planning import tank_hole_release
from plume.source import liquid_through_hole

pytestmark = pytest.mark.db


# ---- a minimal protobuf reader for the glyph sheets ---------------------------------------

def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(buf: bytes):
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:  # pragma: no cover - the format uses only varints and bytes
            raise AssertionError(f"wire type {wire}")
        yield field, value


def _glyphs(pbf: bytes) -> tuple[str, str, dict[int, dict]]:
    (field, stack), = list(_fields(pbf))
    assert field == 1
    parts = list(_fields(stack))
    name = next(v for f, v in parts if f == 1).decode()
    rng = next(v for f, v in parts if f == 2).decode()
    glyphs = {}
    for f, g in parts:
        if f == 3:
            d = dict(_fields(g))
            glyphs[d[1]] = d
    return name, rng, glyphs


def test_glyph_sheet_is_valid_sdf_of_the_local_font():
    name, rng, glyphs = _glyphs(glyph_range_pbf("OneMap Sans", "0-255"))
    assert (name, rng) == ("OneMap Sans", "0-255")
    a = glyphs[ord("A")]
    w, h = a[3], a[4]
    assert 8 <= w <= 24 and 12 <= h <= 24  # a capital at 24 px
    bitmap = np.frombuffer(a[2], np.uint8).reshape(h + 2 * BUFFER_PX, w + 2 * BUFFER_PX)
    assert bitmap[0, 0] < 191 < bitmap.max()  # the corner is outside, some pixel is inside the outline
    assert a[7] > 0  # advance
    space = glyphs[ord(" ")]
    assert space[3] == 0 and 2 not in space and space[7] > 0  # no bitmap, still advances
    start = ord("浙") // 256 * 256
    _, _, cjk = _glyphs(glyph_range_pbf("OneMap Sans", f"{start}-{start + 255}"))
    assert cjk[ord("浙")][3] > 0  # the CJK font draws it


def test_sdf_encoding_edge_at_191():
    square = np.zeros((20, 20), np.uint8)
    square[5:15, 5:15] = 255
    out = sdf(square)
    centre, far = int(out[10 + BUFFER_PX, 10 + BUFFER_PX]), int(out[0, 0])
    assert centre > 191 > far
    # on the outline the value sits at the edge (255 * (1 - 0.25) = 191) within a step
    assert abs(int(out[5 + BUFFER_PX, 10 + BUFFER_PX]) - 191) <= 20


@pytest.mark.parametrize("stack,rng", [("OneMap Sans", "0-100"), ("OneMap Sans", "256-300"),
                                       ("<script>", "0-255"), ("OneMap Sans", "65536-65791")])
def test_glyph_bad_input_is_refused(wclient, stack, rng):
    r = wclient.get(f"/fonts/{stack}/{rng}.pbf")
    assert r.status_code in (400, 404, 422), r.text  # a path that cannot match a route is a 404
    if r.status_code != 404:
        assert r.json()["detail"][0]["field"] in ("range", "fontstack")


def test_style_is_built_from_the_catalogue():
    style = map_style(origin="http://127.0.0.1:8000", theme="light")
    assert style["version"] == 8 and style["glyphs"].endswith("/fonts/{fontstack}/{range}.pbf")
    ids = [layer["id"] for layer in style["layers"]]
    assert len(ids) == len(set(ids))
    for layer in style["layers"]:
        if "source" in layer:
            assert layer["source"] in style["sources"]
        for url in style["sources"].get(layer.get("source"), {}).get("tiles", []):
            assert url.startswith("http://127.0.0.1:8000/tiles/")
    by_id = {layer["id"]: layer for layer in style["layers"]}
    # every thematic layer draws with the catalogue's own paint (one source of truth)
    for name in THEMATIC:
        assert by_id[name]["paint"]["fill-color" if LAYERS[name].style["type"] == "fill" else "circle-color"] == \
            LAYERS[name].style["paint"]["fill-color" if LAYERS[name].style["type"] == "fill" else "circle-color"]
    assert all(c in str(by_id["enterprises"]["paint"]["circle-color"]) for c in RISK_COLOURS.values())
    # nothing points off this server
    assert "https://" not in str(style) and "http://" not in str(style).replace("http://127.0.0.1:8000", "")


def test_dark_theme_differs_only_in_the_basemap():
    light = map_style(origin="http://x", theme="light")
    dark = map_style(origin="http://x", theme="dark")
    bg = {s["id"]: s for s in light["layers"]}["sea"]["paint"]["background-color"]
    assert bg != {s["id"]: s for s in dark["layers"]}["sea"]["paint"]["background-color"]
    assert {s["id"]: s for s in light["layers"]}["enterprises"]["paint"] == \
        {s["id"]: s for s in dark["layers"]}["enterprises"]["paint"]


def test_style_endpoint_and_its_errors(wclient):
    r = wclient.get("/map/style.json?theme=dark&layers=enterprises,hazard_units")
    assert r.status_code == 200
    style = r.json()
    visibility = {layer["id"]: layer.get("layout", {}).get("visibility") for layer in style["layers"]}
    assert visibility["enterprises"] == "visible" and visibility["hidden_dangers"] == "none"
    bad = wclient.get("/map/style.json?layers=enterprises,nope")
    assert bad.status_code == 400 and bad.json()["detail"][0]["field"] == "layers"
    assert wclient.get("/map/style.json?theme=pink").status_code == 400


def test_region_labels_one_point_per_region(wclient):
    r = wclient.get("/map/region-labels")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    feats = r.json()["features"]
    regions = wclient.get("/regions").json()["count"]
    assert len(feats) == regions and all(f["geometry"]["type"] == "Point" for f in feats)
    hangzhou = next(f for f in feats if f["properties"]["adcode"] == "330100")
    lon, lat = hangzhou["geometry"]["coordinates"]
    assert 118.3 < lon < 120.8 and 29.1 < lat < 30.6  # inside Hangzhou's extent


def test_pages_and_vendor_assets_are_served(wclient):
    for path, marker in (("/", "app.js"), ("/wall", "wall.js"), ("/planner", "planner.js")):
        r = wclient.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert marker in r.text and "http://" not in r.text.replace("http://www.w3.org", "")
    js = wclient.get("/static/vendor/maplibre-gl.js")
    assert js.status_code == 200 and len(js.content) > 500_000
    assert wclient.get("/static/vendor/leaflet.js").status_code == 200
    assert wclient.get("/static/messages.js").status_code == 200
    assert wclient.get("/static/../pyproject.toml").status_code == 404


def test_region_without_geometry(wclient):
    r = wclient.get("/regions/330200?geometry=false", headers=wclient.as_["province"])
    body = r.json()
    assert r.status_code == 200 and "geometry" not in body
    assert len(body["bbox"]) == 4 and body["bbox"][0] < body["bbox"][2]


def test_tank_hole_matches_the_plume_source_term():
    out = tank_hole_release(chemical="chlorine", hole_diameter_mm=25, inventory_kg=20000)
    ref = liquid_through_hole("chlorine", hole_diameter_m=0.025, temperature_k=298.15, liquid_head_m=2.0,
                              airborne="flash", inventory_g=2e7)
    assert out["liquefied_gas"] is True
    assert out["release"]["rate_g_s"] == pytest.approx(ref.rate_g_s)
    assert out["release"]["duration_s"] == pytest.approx(ref.duration_s)
    # the release goes straight into a Scenario
    plume.Scenario.model_validate({"source_lon": 121.6, "source_lat": 29.9, "chemical": "chlorine",
                                   "release": out["release"],
                                   "weather": {"wind_speed_m_s": 3, "wind_from_deg": 0, "stability": "D"}})
    benzene = tank_hole_release(chemical="benzene", hole_diameter_mm=25, inventory_kg=20000)
    assert benzene["liquefied_gas"] is False
    assert any("conservative" in a for a in benzene["assumptions"])


@pytest.mark.parametrize("query,field", [
    ("chemical=unobtainium&hole_diameter_mm=25", "chemical"),
    ("chemical=chlorine&hole_diameter_mm=0", "hole_diameter_mm"),
    ("chemical=chlorine&hole_diameter_mm=25&inventory_kg=-5", "inventory_kg"),
    ("chemical=chlorine&hole_diameter_mm=25&temperature_c=500", "temperature_c"),
])
def test_tank_hole_bad_input(wclient, query, field):
    r = wclient.get(f"/scenarios/tank-hole?{query}")
    assert r.status_code in (400, 422), r.text
    assert r.json()["detail"][0]["field"] == field


def test_prefill_from_a_unit_and_jurisdiction(wclient):
    h1 = wclient.world.ids["H1"]
    r = wclient.get(f"/scenarios/prefill?unit={h1}", headers=wclient.as_["zhenhai"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["release"]["chemical"] == "chlorine" and body["release"]["inventory_kg"] == pytest.approx(20000)
    assert 121 < body["unit"]["lon"] < 122
    # another county's user does not learn it exists
    assert wclient.get(f"/scenarios/prefill?unit={h1}", headers=wclient.as_["xihu"]).status_code == 404
    assert wclient.get("/scenarios/prefill?unit=0").status_code in (400, 422)


def test_chemicals_for_the_picker(wclient):
    data = wclient.get("/scenarios/chemicals").json()["data"]
    chlorine = next(c for c in data if c["name"] == "chlorine")
    assert chlorine["cas"] == "7782-50-5" and chlorine["name_zh"]
    assert [lc["tier"] for lc in chlorine["levels"]] == [3, 2, 1]


def test_token_refresh(wclient):
    r = wclient.post("/auth/refresh", headers=wclient.as_["zhenhai"])
    assert r.status_code == 200
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert wclient.get("/auth/me", headers=fresh).json()["username"] == "w.zhenhai"
    assert wclient.post("/auth/refresh").status_code == 401
    assert wclient.post("/auth/refresh", headers={"Authorization": "Bearer nonsense"}).status_code == 401
