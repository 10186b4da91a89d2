"""Offline exports: folium → self-contained HTML, map-view briefings and GeoJSON, scenario GeoJSON/GeoTIFF/HTML."""

from __future__ import annotations

import doctest
import json
import re
import shutil
from io import BytesIO
from pathlib import Path

import folium
import numpy as np
import pytest
import rasterio
import shapely.geometry

import plume
from geo.context import RequestContext, install
from geo.db import session_factory
from layers import offline_html, reports
from layers.catalogue import LAYERS, RISK_COLOURS
from layers.offline_html import NotOfflineSafe, OfflineAssetMissing, to_offline_html
from layers.reports import view_geojson
from tests.conftest import BL, ZH, world_uscc

SCENARIO = {"source_lon": ZH[0], "source_lat": ZH[1], "chemical": "chlorine",
            "release": {"kind": "continuous", "rate_g_s": 1000, "duration_s": 600},
            "weather": {"wind_speed_m_s": 3, "wind_from_deg": 45, "stability": "D", "terrain": "urban"}}
VIEW = f"{ZH[0] - 0.1},{BL[1] - 0.05},{BL[0] + 0.1},{ZH[1] + 0.05}"  # Zhenhai and Beilun
LAYER_NAMES = "enterprises,hazard_units,hidden_dangers"

# what a browser would fetch from another host: src/href attributes, CSS url(), @import
_REMOTE = re.compile(r"""(?:\b(?:src|href)\s*=\s*\\?["']?\s*|url\(\s*["']?\s*)(?:https?:)?//|@import""",
                     re.IGNORECASE)


REPO_WEBMAP = Path(__file__).resolve().parents[1] / "webmap"


def leaflet_banner() -> str:
    """The banner of the Leaflet npm package the project installs (its version from package.json)."""
    version = json.loads((REPO_WEBMAP / "node_modules" / "leaflet" / "package.json").read_text())["version"]
    return f"Leaflet {version}, a JS library for interactive maps"


def assert_offline(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert _REMOTE.findall(page) == []
    assert leaflet_banner() in page  # Leaflet inlined from the npm package
    for cdn in ("cdn.jsdelivr", "code.jquery", "cdnjs", "bootstrapcdn", "openstreetmap", "<script src", "<link"):
        assert cdn not in page


# ---------------------------------------------------------------------------- folium → offline HTML (no database)


@pytest.mark.parametrize("module", [offline_html, reports])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_plume_folium_map_becomes_offline():
    fmap = plume.run(SCENARIO).to_folium()  # OpenStreetMap tiles and a default L.Marker icon
    page = to_offline_html(fmap, title="液氯 <泄漏>")
    assert_offline(page)
    assert "AEGL-2 (60 min)" in page and "<title>液氯 &lt;泄漏&gt;</title>" in page
    assert "L.Icon.Default.mergeOptions({iconUrl: \"data:image/png;base64," in page  # marker icon needs no request
    assert "openstreetmap" in fmap.get_root().render()  # the caller's map keeps its tiles


def test_icons_that_need_a_cdn_or_remote_images_are_refused():
    fmap = folium.Map(location=[30, 121], tiles=None)
    folium.Marker([30, 121], icon=folium.Icon(color="red")).add_to(fmap)
    with pytest.raises(NotOfflineSafe, match="awesome-markers"):
        to_offline_html(fmap)
    fmap = folium.Map(location=[30, 121], tiles=None)
    folium.raster_layers.ImageOverlay("https://example.org/x.png", bounds=[[29, 120], [31, 122]]).add_to(fmap)
    with pytest.raises(NotOfflineSafe, match="example.org"):
        to_offline_html(fmap)


def test_missing_leaflet_names_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEMAP_WEBMAP_DIR", str(tmp_path))
    with pytest.raises(OfflineAssetMissing, match=r"leaflet\.js") as info:
        to_offline_html(folium.Map(tiles=None))
    assert str(tmp_path / "dist" / "vendor") in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_falls_back_to_node_modules(tmp_path, monkeypatch):
    shutil.copytree(REPO_WEBMAP / "node_modules" / "leaflet" / "dist", tmp_path / "node_modules" / "leaflet" / "dist")
    monkeypatch.setenv("ONEMAP_WEBMAP_DIR", str(tmp_path))
    assert offline_html.leaflet_assets().source == tmp_path / "node_modules" / "leaflet" / "dist"
    assert_offline(to_offline_html(folium.Map(tiles=None)))


def test_popups_work_without_jquery_in_a_browser_with_no_network(tmp_path):
    fmap = folium.Map(location=[30, 121], zoom_start=10, tiles=None)
    folium.CircleMarker([30, 121], radius=8, fill=True, popup=folium.Popup("<b>弹窗</b>")).add_to(fmap)
    folium.LayerControl().add_to(fmap)
    result = open_offline(tmp_path, to_offline_html(fmap), click=(640, 360))
    assert result["popup"] is not None and "弹窗" in result["popup"]


# ---------------------------------------------------------------------------- a headless browser, network cut


def open_offline(tmp_path, page_html: str, click: tuple[int, int] | None = None) -> dict:
    """Open the page from a file in Chromium with every non-file request aborted; what it drew and asked for."""
    from playwright.sync_api import sync_playwright

    path = tmp_path / "export.html"
    path.write_text(page_html, encoding="utf-8")
    requested, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            def guard(route):
                url = route.request.url
                if url.startswith(("file:", "data:")):
                    route.continue_()
                else:
                    requested.append(url)
                    route.abort()
            page.route("**/*", guard)
            page.goto(path.as_uri())
            page.wait_for_function("document.querySelector('.leaflet-container') !== null")
            if click:
                page.mouse.click(*click)
                page.wait_for_timeout(200)
            drawn = page.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
            canvases = page.evaluate("document.querySelectorAll('.leaflet-container canvas').length")
            popup = page.evaluate("(document.querySelector('.leaflet-popup-content') || {}).innerHTML || null")
        finally:
            browser.close()
    assert requested == [] and errors == []
    return {"drawn": drawn, "canvases": canvases, "popup": popup}


# ---------------------------------------------------------------------------- scenario exports over HTTP


@pytest.fixture(scope="module")
def scenario(wclient):
    r = wclient.post("/scenarios", json={**SCENARIO, "title": "镇海液氯泄漏演练"}, headers=wclient.as_["zhenhai"])
    assert r.status_code == 201, r.text
    return r.json()


def test_scenario_geojson_is_the_stored_result(wclient, scenario):
    r = wclient.get(f"/scenarios/{scenario['id']}/export.geojson", headers=wclient.as_["zhenhai"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.headers["content-disposition"] == f'attachment; filename="scenario-{scenario["id"]}.geojson"'
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["features"] == scenario["result"]["features"]
    assert fc["onemap"]["scenario_id"] == scenario["id"] and fc["onemap"]["title"] == "镇海液氯泄漏演练"
    kinds = [f["properties"]["kind"] for f in fc["features"]]
    assert kinds.count("threat_zone") == 3 and "wind_direction_confidence" in kinds and "source" in kinds
    for f in fc["features"]:
        assert shapely.geometry.shape(f["geometry"]).is_valid


def _open_tif(content: bytes):
    return rasterio.MemoryFile(BytesIO(content)).open()


def test_scenario_geotiff_agrees_with_plume(wclient, scenario):
    r = wclient.get(f"/scenarios/{scenario['id']}/export.tif", headers=wclient.as_["zhenhai"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/tiff"
    expected = plume.run(plume.Scenario.model_validate(scenario["params"]))
    with _open_tif(r.content) as ds:
        assert ds.crs is not None and ds.crs.is_projected
        assert ds.count == 1 and ds.dtypes[0] == "float32"
        assert ds.tags()["units"] == "ppm" and ds.tags()["scenario_id"] == str(scenario["id"])
        band = ds.read(1)
        np.testing.assert_array_equal(band, expected.concentration_ppm.astype(np.float32))
        # the grid's CRS is centred on the source: cells within 200 m of (0, 0) carry the highest values
        rows, cols = np.indices(band.shape)
        xs, ys = rasterio.transform.xy(ds.transform, rows.ravel(), cols.ravel())
        near = np.hypot(np.asarray(xs), np.asarray(ys)).reshape(band.shape) < 200
        assert band[near].max() > 0
        assert band[near].max() == pytest.approx(band.max(), rel=0.5)


def test_scenario_geotiff_north_up(wclient, scenario):
    r = wclient.get(f"/scenarios/{scenario['id']}/export.tif?north_up=true", headers=wclient.as_["zhenhai"])
    assert r.status_code == 200
    with _open_tif(r.content) as ds:
        assert ds.transform.b == 0 and ds.transform.d == 0 and ds.transform.e < 0
        assert ds.read(1).max() > 0


def test_scenario_html_briefing(wclient, scenario, tmp_path):
    r = wclient.get(f"/scenarios/{scenario['id']}/export.html", headers=wclient.as_["zhenhai"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-disposition"].startswith("attachment;")
    page = r.text
    assert_offline(page)
    impact = scenario["impact"]
    assert "镇海液氯泄漏演练" in page and "AEGL-2 (60 min)" in page
    for zone in impact["zones"]:
        if "protection_targets" in zone:
            assert f"<td class=\"num\">{zone['protection_targets']['population']:,}</td>" in page
    for team in impact["nearest_rescue_teams"]:
        assert team["name"] in page and f"{round(team['distance_m']):,}" in page
    assert "下风向小学" in page  # the school in the AEGL-2 zone
    drawn = open_offline(tmp_path, page)
    assert drawn["drawn"] >= 3  # band, zones, source, help: SVG paths


def test_scenario_html_in_english(wclient, scenario):
    r = wclient.get(f"/scenarios/{scenario['id']}/export.html?lang=en", headers=wclient.as_["zhenhai"])
    assert r.status_code == 200
    assert "Nearest rescue teams" in r.text and '<html lang="en">' in r.text


@pytest.mark.parametrize("fmt", ["geojson", "tif", "html"])
def test_scenario_exports_follow_jurisdiction(wclient, scenario, fmt):
    url = f"/scenarios/{scenario['id']}/export.{fmt}"
    assert wclient.get(url, headers=wclient.as_["ningbo"]).status_code == 200  # the city above
    for who in ("xihu", "public"):
        r = wclient.get(url, headers=wclient.as_[who])
        assert r.status_code == 404, (who, r.text)


@pytest.mark.parametrize("url,status", [("/scenarios/0/export.geojson", 422), ("/scenarios/x/export.tif", 422),
                                        ("/scenarios/999999/export.html", 404)])
def test_scenario_export_bad_ids(wclient, url, status):
    assert wclient.get(url, headers=wclient.as_["province"]).status_code == status


def test_html_exports_say_when_leaflet_is_missing(wclient, scenario, tmp_path, monkeypatch):
    monkeypatch.setenv("ONEMAP_WEBMAP_DIR", str(tmp_path))
    r = wclient.get(f"/scenarios/{scenario['id']}/export.html", headers=wclient.as_["zhenhai"])
    assert r.status_code == 503 and "leaflet.js" in r.json()["detail"]


# ---------------------------------------------------------------------------- the map view


def _names(fc: dict, layer: str) -> set[str]:
    return {f["properties"].get("name") or f["properties"].get("title")
            for f in fc["features"] if f["properties"]["layer"] == layer}


def _listed(wclient, who: str, layer: str) -> dict[str, int]:
    """What the resource list says is in the view for ``who``: name (or title) → id."""
    r = wclient.get(LAYERS[layer].path, params={"bbox": VIEW, "limit": 10000}, headers=wclient.as_[who])
    assert r.status_code == 200, r.text
    return {item.get("name") or item.get("title"): item["id"] for item in r.json()["data"]}


def test_view_geojson_is_a_valid_feature_collection(wclient):
    r = wclient.get("/export/view.geojson", params={"bbox": VIEW, "layers": LAYER_NAMES},
                    headers=wclient.as_["ningbo"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["bbox"]) == 4
    ids = [f["id"] for f in fc["features"]]
    assert len(ids) == len(set(ids))
    for f in fc["features"]:
        assert f["type"] == "Feature" and f["properties"]["layer"] in LAYER_NAMES.split(",")
        assert re.fullmatch(rf"{f['properties']['layer']}\.\d+", f["id"])
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid and shapely.geometry.box(*map(float, VIEW.split(","))).intersects(geom)
    # the world's rows (other tests may add more to the shared world) ...
    assert {"镇海一号化工有限公司", "镇海公开储运有限公司", "北仑港务化工有限公司"} <= _names(fc, "enterprises")
    assert "液氯储罐区" in _names(fc, "hazard_units") and "液氯钢瓶露天存放" in _names(fc, "hidden_dangers")
    # ... and exactly what the resource lists hold for the same user and box
    for layer in LAYER_NAMES.split(","):
        listed = _listed(wclient, "ningbo", layer)
        assert _names(fc, layer) == set(listed) and fc["matched"][layer] == len(listed)
        assert fc["capped"][layer] is False


@pytest.mark.parametrize("who,seen,unseen", [
    ("zhenhai", {"镇海一号化工有限公司", "镇海公开储运有限公司"}, {"北仑港务化工有限公司"}),  # not Beilun's
    ("public", {"镇海公开储运有限公司"}, {"镇海一号化工有限公司", "北仑港务化工有限公司"}),  # public rows only
])
def test_view_geojson_under_row_level_security(wclient, who, seen, unseen):
    r = wclient.get("/export/view.geojson", params={"bbox": VIEW, "layers": "enterprises"},
                    headers=wclient.as_[who])
    names = _names(r.json(), "enterprises")
    assert r.status_code == 200 and seen <= names and not unseen & names
    assert names == set(_listed(wclient, who, "enterprises"))


def test_view_geojson_caps_most_severe_first(world_app_engine):
    sessions = install(session_factory(world_app_engine))
    with sessions() as session:
        session.info["ctx"] = RequestContext(role="city", jurisdiction="3302", actor="t")
        fc = view_geojson(session, bbox=tuple(map(float, VIEW.split(","))), layers=["enterprises"], cap=1)
    assert fc["capped"] == {"enterprises": True} and fc["matched"]["enterprises"] >= 3
    assert len(fc["features"]) == 1 and fc["features"][0]["properties"]["risk_colour"] == "red"  # E1 is red


def test_view_html_briefing(wclient, tmp_path):
    r = wclient.get("/export/view.html", params={"bbox": VIEW, "layers": LAYER_NAMES},
                    headers=wclient.as_["ningbo"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert_offline(page)
    assert "当前视图简报" in page and '<html lang="zh-CN">' in page
    summary = page[page.index("<table>"): page.index("</table>")]
    for layer in LAYER_NAMES.split(","):  # counts in view = what the resource lists hold for the same user
        n = len(_listed(wclient, "ningbo", layer))
        assert f'<td>{LAYERS[layer].zh}</td><td class="num">{n}</td><td class="num">{n}</td>' in summary
    for name in ("镇海一号化工有限公司", "北仑港务化工有限公司", world_uscc(1), "液氯储罐区", "液氯钢瓶露天存放"):
        assert name in page
    # enterprises red first, colours from the catalogue
    table = page[page.index("企业（按风险等级）"):]
    assert table.index("镇海一号化工有限公司") < table.index("镇海公开储运有限公司")  # red before yellow
    assert f"background:{RISK_COLOURS['red']}" in page and LAYERS["hazard_units"].legend[0]["color"] in page
    # the major danger's deadline (2026-02-01) has passed and it is not closed
    danger_row = page[page.index("液氯钢瓶露天存放"):].split("</tr>")[0]
    assert "2026-02-01" in danger_row and 'class="overdue"' in danger_row
    drawn = open_offline(tmp_path, page)
    assert drawn["canvases"] >= 1  # features drawn on a canvas (prefer_canvas), nothing fetched


def test_view_html_in_english_respects_jurisdiction(wclient):
    r = wclient.get("/export/view.html", params={"bbox": VIEW, "layers": "enterprises", "lang": "en"},
                    headers=wclient.as_["zhenhai"])
    assert r.status_code == 200
    assert "Map view briefing" in r.text and "Enterprises (by risk colour)" in r.text
    assert "镇海一号化工有限公司" in r.text and "北仑港务化工有限公司" not in r.text


def test_view_html_with_a_layer_empty_in_view(wclient):
    # the world has no alarm: the layer is listed with 0 and the page still builds (no tooltip without features)
    r = wclient.get("/export/view.html", params={"bbox": VIEW, "layers": "alarms,enterprises"},
                    headers=wclient.as_["ningbo"])
    assert r.status_code == 200, r.text
    summary = r.text[r.text.index("<table>"): r.text.index("</table>")]
    assert f'<td>{LAYERS["alarms"].zh}</td><td class="num">0</td>' in summary


@pytest.mark.parametrize("path", ["/export/view.geojson", "/export/view.html"])
@pytest.mark.parametrize("params,field", [
    ({"bbox": "121,29,122", "layers": "enterprises"}, "bbox"),
    ({"bbox": "122,29,121,30", "layers": "enterprises"}, "bbox"),
    ({"bbox": "121,29,200,30", "layers": "enterprises"}, "bbox"),
    ({"bbox": "121,29,nan,30", "layers": "enterprises"}, "bbox"),
    ({"bbox": "121,30,121,30", "layers": "enterprises"}, "bbox"),
    ({"layers": "enterprises"}, "bbox"),
    ({"bbox": "121,29,122,30", "layers": "enterprises,tanks"}, "layers"),
    ({"bbox": "121,29,122,30", "layers": ", ,"}, "layers"),
    ({"bbox": "121,29,122,30"}, "layers"),
])
def test_view_bad_input_names_the_field(wclient, path, params, field):
    r = wclient.get(path, params=params, headers=wclient.as_["province"])
    assert r.status_code == 400, r.text
    assert [d["field"] for d in r.json()["detail"]] == [field]


def test_view_unknown_layer_lists_the_known_ones(wclient):
    r = wclient.get("/export/view.geojson", params={"bbox": "121,29,122,30", "layers": "tanks"},
                    headers=wclient.as_["province"])
    assert r.status_code == 400 and "enterprises" in r.json()["detail"][0]["reason"]


def test_view_bad_lang(wclient):
    r = wclient.get("/export/view.html", params={"bbox": "121,29,122,30", "layers": "enterprises", "lang": "fr"},
                    headers=wclient.as_["province"])
    assert r.status_code == 400 and r.json()["detail"][0]["field"] == "lang"
