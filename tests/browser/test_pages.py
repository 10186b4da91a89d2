"""The three pages in Debian's Chromium, driven as a person would, offline.

Every test runs under the page guard (tests/browser/conftest.py): any console
error, uncaught error, failed request, 4xx/5xx response or request off this
machine fails the test unless the test allows it by name. One kind is allowed
everywhere: a vector tile request *cancelled by MapLibre* (``net::ERR_ABORTED``)
when the view moves on before the tile arrives; that is the client dropping
work it no longer needs, not a failure (any HTTP error on a tile still fails).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from geo.db import make_engine
from tests.browser.harness import (
    api_token,
    assert_canvas_not_blank,
    element_box,
    login,
    save_screenshot,
)

READY_MS = 30_000
CANCELLED_TILE = r"^GET \S+/tiles/\S+\.mvt net::ERR_ABORTED$"


@pytest.fixture(autouse=True)
def _tile_cancellations_are_not_failures(page_guard):
    page_guard.allow(CANCELLED_TILE, kinds=["requestfailed"])


def _open_map(page, web, path: str = "/") -> None:
    login(page, web.url)
    page.goto(f"{web.url}{path}")
    page.wait_for_selector("body[data-ready=map][data-region]", timeout=READY_MS)
    _idle(page)


def _idle(page, handle: str = "onemap") -> None:
    """Wait until the map has loaded every tile it needs for the view."""
    page.wait_for_function(f"() => window.{handle} && window.{handle}.map.loaded() && "
                           f"window.{handle}.map.areTilesLoaded()", timeout=READY_MS)
    page.wait_for_timeout(300)


def _map_shot(page, name: str):
    path = save_screenshot(page, name)
    return assert_canvas_not_blank(path, region=element_box(page, "#map canvas"))


def _jump(page, lon: float, lat: float, zoom: float, handle: str = "onemap") -> None:
    page.evaluate(f"([lon, lat, zoom]) => window.{handle}.map.jumpTo({{center: [lon, lat], zoom}})", [lon, lat, zoom])
    _idle(page, handle)


def _screen_point(page, lon: float, lat: float, handle: str = "onemap") -> tuple[float, float]:
    """Page coordinates of (lon, lat) on the map canvas."""
    xy = page.evaluate(f"([lon, lat]) => {{ const p = window.{handle}.map.project([lon, lat]); "
                       f"const r = window.{handle}.map.getCanvas().getBoundingClientRect(); "
                       "return [r.left + p.x, r.top + p.y]; }", [lon, lat])
    return xy[0], xy[1]


def _stat(page, key: str) -> int:
    return int(page.inner_text(f"[data-stat='{key}']").replace(",", ""))


# ---- the risk-distribution map ------------------------------------------------------------------

def test_map_loads_offline_and_draws(page, web):
    _open_map(page, web)
    stats = _map_shot(page, "webmap")
    assert stats["colours"] >= 8
    assert page.inner_text("h1") == "安全风险等级和重大事故隐患分布电子图"
    assert _stat(page, "enterprises.total") > 0
    # the layer switcher and legends come from the catalogue
    legend = page.inner_text("#layers")
    assert "红色（重大风险）" in legend and "一级" in legend
    # region labels are drawn (the glyphs and label source loaded, nothing failed)
    names = page.evaluate("() => window.onemap.map.queryRenderedFeatures({layers: ['labels-city']})"
                          ".map(f => f.properties.name)")
    assert "杭州市" in names


def test_clicking_an_enterprise_opens_its_popup(page, web):
    token = api_token(web.url)
    top = httpx.get(f"{web.url}/enterprises?risk_colour=yellow&limit=1&f=geojson", headers=token["headers"]).json()
    ent = top["features"][0]
    lon, lat = ent["geometry"]["coordinates"]
    _open_map(page, web)
    _jump(page, lon, lat, 17)
    x, y = _screen_point(page, lon, lat)
    page.mouse.click(x, y)
    popup = page.wait_for_selector(".maplibregl-popup .popup-title", timeout=10_000)
    assert popup.inner_text() == ent["properties"]["name"]
    page.wait_for_selector(".maplibregl-popup[data-complete]", timeout=10_000)  # completed from the record
    text = page.inner_text(".maplibregl-popup")
    assert ent["properties"]["uscc"] in text and "黄色（一般风险）" in text
    # the popup links to the detail view
    page.click(".maplibregl-popup .popup-detail")
    page.wait_for_selector("#detail .detail-table", timeout=10_000)
    assert ent["properties"]["name"] in page.inner_text("#detail")


_FREE_SPOT = """(prefix) => {
  // a pixel inside a county of `prefix` where no point feature is drawn (what a person would click)
  const map = window.onemap.map, canvas = map.getCanvas();
  const w = canvas.clientWidth, h = canvas.clientHeight, r = canvas.getBoundingClientRect();
  const points = map.getStyle().layers.filter(l => l.type === "circle").map(l => l.id);
  for (let step = 40; step >= 10; step -= 10) {
    for (let y = step; y < h; y += step) for (let x = step; x < w; x += step) {
      const county = map.queryRenderedFeatures([x, y], {layers: ["regions-hit"]})[0];
      if (!county || !county.properties.adcode.startsWith(prefix)) continue;
      const box = [[x - 6, y - 6], [x + 6, y + 6]];
      if (map.queryRenderedFeatures(box, {layers: points}).length) continue;
      return [r.left + x, r.top + y];
    }
  }
  return null;
}"""


def test_region_drill_down_changes_the_statistics(page, web):
    _open_map(page, web)
    province_total = _stat(page, "enterprises.total")
    assert page.inner_text("#stats-title").startswith("浙江省")
    # click inside Ningbo on the map: the city
    spot = page.evaluate(_FREE_SPOT, "3302")
    assert spot, "no free spot inside Ningbo on the map"
    page.mouse.click(*spot)
    page.wait_for_selector("body[data-region='330200']", timeout=10_000)
    assert page.inner_text("#stats-title").startswith("宁波市")
    city_total = _stat(page, "enterprises.total")
    assert city_total < province_total
    _idle(page)
    # then a county picked from the tree
    page.select_option("#region-select", "330211")
    page.wait_for_selector("body[data-region='330211']", timeout=10_000)
    assert page.inner_text("#stats-title").startswith("镇海区")
    assert _stat(page, "enterprises.total") <= city_total
    assert page.inner_text("#breadcrumb") == "浙江省 › 宁波市 › 镇海区"
    # and back up by the breadcrumb
    page.click("#breadcrumb a[data-adcode='330000']")
    page.wait_for_selector("body[data-region='330000']", timeout=10_000)
    assert _stat(page, "enterprises.total") == province_total
    _idle(page)


def test_search_by_name_and_by_uscc(page, web):
    token = api_token(web.url)
    ent = httpx.get(f"{web.url}/enterprises?limit=1&offset=7", headers=token["headers"]).json()["data"][0]
    _open_map(page, web)
    for query in (ent["name"][2:8], ent["uscc"]):
        page.fill("#search-input", query)
        page.wait_for_selector(f"#search-results a[data-id='{ent['id']}']", timeout=10_000)
    page.click(f"#search-results a[data-id='{ent['id']}']")
    popup = page.wait_for_selector(".maplibregl-popup .popup-title", timeout=15_000)
    assert popup.inner_text() == ent["name"]
    page.fill("#search-input", "没有这样的企业名称")
    page.wait_for_selector("#search-results:has-text('未找到匹配的企业')", timeout=10_000)


def test_english_toggle_and_layer_switch(page, web):
    _open_map(page, web)
    page.click("#lang-toggle")
    page.wait_for_selector("#stats-title:has-text('Statistics')", timeout=5_000)
    assert page.inner_text("h1") == "Safety risk levels and major hidden dangers map"
    assert "red (major)" in page.inner_text("#layers")
    page.uncheck("#layers input[data-group='enterprises']")
    visibility = page.evaluate("() => window.onemap.map.getLayoutProperty('enterprises', 'visibility')")
    assert visibility == "none"
    page.click("#lang-toggle")  # back to Chinese for the next tests (the choice is remembered)
    page.wait_for_selector("#stats-title:has-text('统计')", timeout=5_000)


def test_exports_of_the_current_view(page, web):
    _open_map(page, web, "/?region=330200")
    page.wait_for_selector("body[data-region='330200']")
    _idle(page)
    with page.expect_download() as got:
        page.click("#export-geojson")
    fc = json.loads(Path(got.value.path()).read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection" and fc["features"]
    assert {f["properties"]["layer"] for f in fc["features"]} >= {"enterprises"}
    with page.expect_download() as got:
        page.click("#export-report")
    html = Path(got.value.path()).read_text(encoding="utf-8")
    assert "<html" in html.lower() and "https://cdn" not in html


# ---- the scenario planner -------------------------------------------------------------------------

def _target_near_nothing(web, headers) -> dict:
    """A point protection target, for a release placed 300 m north of it."""
    fc = httpx.get(f"{web.url}/protection-targets?category=high_sensitivity&limit=50&f=geojson", headers=headers).json()
    return next(f for f in fc["features"] if f["geometry"]["type"] == "Point")


def test_planner_run_draws_zones_and_lists_targets(page, web):
    token = api_token(web.url)
    target = _target_near_nothing(web, token["headers"])
    t_lon, t_lat = target["geometry"]["coordinates"]
    s_lon, s_lat = t_lon, t_lat + 300 / 111_320  # 300 m north: a north wind blows the plume over it
    login(page, web.url)
    page.goto(f"{web.url}/planner")
    page.wait_for_selector("body[data-ready=planner]", timeout=READY_MS)
    _jump(page, s_lon, s_lat, 18)  # zoomed in far enough that the click lands on open ground
    page.mouse.click(*_screen_point(page, s_lon, s_lat))
    page.wait_for_selector("body[data-source=set]", timeout=5_000)
    page.select_option("#chemical", "chlorine")
    page.select_option("#release-kind", "continuous")
    page.fill("input[name=rate_g_s]", "1000")
    page.fill("input[name=duration_s]", "600")
    page.fill("input[name=wind_speed_m_s]", "3")
    page.fill("input[name=wind_from_deg]", "0")
    page.select_option("#stability", "D")
    page.fill("input[name=title]", "浏览器测试 液氯泄漏")
    page.click("#run")
    page.wait_for_selector("body[data-run=done]", timeout=60_000)
    _idle(page)
    assert page.locator("#zone-list li").count() == 3
    results = page.inner_text("#results")
    assert "AEGL-2" in results and target["properties"]["name"] in results
    assert int(page.inner_text("[data-targets='2']").replace(",", "")) >= 1
    assert page.locator("#teams tr").count() >= 2  # a header and at least one team with its distance
    drawn = page.evaluate("() => window.onemap.map.queryRenderedFeatures({layers: ['scenario-zones']}).length")
    assert drawn >= 1
    assert page.locator("#warnings li").count() >= 1  # model limits in plain words
    _map_shot(page, "planner")
    # the run is saved and reopens by URL
    assert "scenario=" in page.url
    sid = int(page.url.split("scenario=")[1])
    page.goto(f"{web.url}/planner?scenario={sid}")
    page.wait_for_selector("body[data-run=done]", timeout=READY_MS)
    assert target["properties"]["name"] in page.inner_text("#results")
    with page.expect_download() as got:
        page.click("button[data-export=geojson]")
    zones = json.loads(Path(got.value.path()).read_text(encoding="utf-8"))
    assert any(f["properties"].get("kind") == "threat_zone" for f in zones["features"])


def test_planner_prefills_from_a_hazard_unit(page, web, browser_db):
    engine = make_engine(browser_db.owner_url)
    try:
        with engine.connect() as conn:
            unit = conn.execute(text(
                "SELECT h.id, h.name FROM hazard_units h JOIN hazard_unit_inventory i ON i.hazard_unit_id = h.id "
                "WHERE i.cas IN ('7782-50-5', '7664-41-7') AND h.valid_to IS NULL "
                "ORDER BY i.max_quantity_t DESC LIMIT 1")).mappings().first()
    finally:
        engine.dispose()
    assert unit, "the demo has a chlorine or ammonia unit"
    login(page, web.url)
    page.goto(f"{web.url}/planner?unit={unit['id']}")
    page.wait_for_selector("body[data-ready=planner][data-source=set]", timeout=READY_MS)
    assert page.input_value("#chemical") in ("chlorine", "ammonia")
    assert page.input_value("#release-kind") == "tank_hole"
    assert unit["name"] in page.inner_text("#source-text")
    page.click("#run")
    page.wait_for_selector("body[data-run=done]", timeout=60_000)
    assert "源强" in page.inner_text("#results")  # the tank-hole source term is shown
    _idle(page)


# ---- the wall --------------------------------------------------------------------------------------

def _post_scenario(web, headers, title: str) -> int:
    body = {"source_lon": 121.64, "source_lat": 29.99, "chemical": "chlorine",
            "release": {"kind": "continuous", "rate_g_s": 1000, "duration_s": 600},
            "weather": {"wind_speed_m_s": 3, "wind_from_deg": 45, "stability": "D", "terrain": "urban"},
            "title": title}
    r = httpx.post(f"{web.url}/scenarios", json=body, headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_wall_shows_events_within_2s_and_recovers_after_restart(page, web, page_guard):
    token = api_token(web.url)
    login(page, web.url)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{web.url}/wall?cycle=600&hold=60")
    page.wait_for_selector("body[data-ready=wall][data-stream=open]", timeout=READY_MS)
    page.wait_for_function("() => window.onemapWall.map.loaded() && window.onemapWall.map.areTilesLoaded()",
                           timeout=READY_MS)
    assert int(page.get_attribute("[data-kpi=enterprises]", "data-value")) > 0
    assert page.inner_text("#clock")
    sid = _post_scenario(web, token["headers"], "大屏测试一")
    t0 = time.monotonic()
    page.wait_for_selector(f"#ticker li[data-kind='scenario.created'][data-id='{sid}']", timeout=2_000)
    assert time.monotonic() - t0 < 2.0
    page.wait_for_selector(f"body[data-focus='scenario:{sid}']", timeout=10_000)
    assert "大屏测试一" in page.inner_text("#banner")
    page.wait_for_timeout(1500)
    path = save_screenshot(page, "wall")
    assert_canvas_not_blank(path, region=element_box(page, "canvas"))

    # the server goes away: the stamp turns red; it comes back: the page reconnects by itself
    page_guard.allow("ERR_CONNECTION_REFUSED", kinds=["requestfailed", "console"])
    page_guard.allow(r"/events", kinds=["requestfailed"])
    web.stop()
    page.wait_for_selector("body[data-stream=down]", timeout=10_000)
    page.wait_for_selector("#updated.stale", timeout=20_000)
    web.start()
    page.wait_for_selector("body[data-stream=open]", timeout=30_000)
    page.wait_for_selector("#updated:not(.stale)", timeout=10_000)
    sid2 = _post_scenario(web, api_token(web.url)["headers"], "大屏测试二")
    page.wait_for_selector(f"#ticker li[data-kind='scenario.created'][data-id='{sid2}']", timeout=2_000)


def test_wall_url_parameters(page, web):
    login(page, web.url, "demo.admin")
    page.goto(f"{web.url}/wall?region=330200&cycle=5&lang=en")
    page.wait_for_selector("body[data-ready=wall]", timeout=READY_MS)
    assert page.inner_text("h1").startswith("Work-safety")
    first = page.get_attribute("body", "data-region")
    assert first == "330200"
    # the tour moves on to a county of Ningbo after the cycle period
    page.wait_for_function("() => document.body.dataset.region !== '330200'", timeout=15_000)
    assert page.get_attribute("body", "data-region").startswith("3302")
