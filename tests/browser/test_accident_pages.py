"""Accident quick report (事故快报) in Chromium: filed from the desk map, seen on the wall, planned from.

Under the same page guard as tests/browser/test_pages.py (any console error,
failed request or request off this machine fails the test).
"""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest

from tests.browser.harness import api_token, save_screenshot
from tests.browser.test_pages import (
    CANCELLED_TILE,
    READY_MS,
    _idle,
    _jump,
    _open_map,
    _screen_point,
)


@pytest.fixture(autouse=True)
def _tile_cancellations_are_not_failures(page_guard):
    page_guard.allow(CANCELLED_TILE, kinds=["requestfailed"])


def test_quick_report_from_the_map_reaches_the_wall_and_the_planner(page, web, page_guard):
    token = api_token(web.url)
    ent = httpx.get(f"{web.url}/enterprises?limit=1&sort=id&f=geojson", headers=token["headers"]).json()["features"][0]
    lon, lat = ent["geometry"]["coordinates"]

    # the wall, in a second tab of the same browser session, waits for incidents
    _open_map(page, web)
    wall = page.context.new_page()
    wall.set_viewport_size({"width": 1600, "height": 900})
    wall.goto(f"{web.url}/wall?cycle=600&hold=120")
    wall.wait_for_selector("body[data-ready=wall][data-stream=open]", timeout=READY_MS)

    # the duty officer files a quick report: place by a map click, the nearest enterprise offered
    assert page.locator("#layers div.layer-group[data-group=accident_reports]").count() == 1  # the layer, with its legend
    assert "未核实快报（白色外圈）" in page.inner_text("#layers div.layer-group[data-group=accident_reports]")
    _jump(page, lon, lat, 16)
    page.click("#quick-open")
    page.wait_for_selector("#quick-dialog[open]")
    assert page.get_attribute("body", "data-picking") == "accident"
    x, y = _screen_point(page, lon + 0.0002, lat)
    page.mouse.click(x, y)
    page.wait_for_function(f"() => document.querySelector('#quick-form select[name=enterprise_id]').value === "
                           f"'{ent['id']}'", timeout=10_000)
    assert page.locator(".maplibregl-popup").count() == 0  # the click placed the accident, it opened no popup
    page.select_option("#quick-form select[name=accident_type]", "leak")
    page.fill("#quick-form textarea[name=description]", "储罐区液氯泄漏，现场两人吸入不适")
    page.fill("#quick-form input[name=serious_injuries]", "2")
    page.fill("#quick-form input[name=chemical]", "氯")
    t0 = time.monotonic()
    page.click("#quick-submit")
    page.wait_for_selector("body[data-reported]", timeout=10_000)
    rid = int(page.get_attribute("body", "data-reported"))
    assert "一般事故" in page.inner_text("#quick-done")

    # it reaches the wall as an incident within seconds, and the wall moves to it
    wall.wait_for_selector(f"#ticker li[data-kind='accident_report.created'][data-id='{rid}']", timeout=5_000)
    assert time.monotonic() - t0 < 5.0
    wall.wait_for_selector(f"body[data-focus='accident_report:{rid}']", timeout=10_000)
    save_screenshot(wall, "wall-accident")
    wall.close()

    saved = httpx.get(f"{web.url}/accident-reports/{rid}", headers=token["headers"]).json()
    assert saved["enterprise_id"] == ent["id"] and saved["serious_injuries"] == 2
    # the time typed in the form (the browser's clock, sent with its offset) is the time stored
    occurred = dt.datetime.fromisoformat(saved["occurred_at"])
    assert abs(dt.datetime.now(dt.UTC) - occurred) < dt.timedelta(minutes=3)
    assert saved["geometry"]["coordinates"] == pytest.approx([lon + 0.0002, lat], abs=1e-5)

    # and the planner starts a release scenario from it
    page.click("#quick-plan")
    page.wait_for_selector(f"body[data-ready=planner][data-source=set][data-accident='{rid}']", timeout=READY_MS)
    assert page.input_value("#chemical") == "chlorine"
    assert f"#{rid}" in page.input_value("input[name=title]")
    page.click("#run")
    page.wait_for_selector("body[data-run=done]", timeout=60_000)
    _idle(page)
    save_screenshot(page, "planner-accident")


def test_quick_report_shows_the_reason_of_a_refusal(page, web, page_guard):
    page_guard.allow(r"status of 422", kinds=["console"])
    _open_map(page, web)
    page.click("#quick-open")
    page.wait_for_selector("#quick-dialog[open]")
    # a place in the sea off Zhejiang: no county there
    page.fill("#quick-form input[name=lon]", "124.5")
    page.fill("#quick-form input[name=lat]", "29.0")
    page.fill("#quick-form textarea[name=description]", "测试")
    with page_guard.expect_errors(r"^422 POST \S+/accident-reports$", kinds=["response"]), \
            page.expect_response(lambda r: r.url.endswith("/accident-reports")) as resp:
        page.click("#quick-submit")
    assert resp.value.status == 422
    # the response is in; the page writes its reason a moment later
    page.wait_for_function("() => document.querySelector('#quick-error').textContent.trim() !== ''", timeout=5_000)
    error = page.inner_text("#quick-error")
    assert "geometry" in error or "lon" in error
    assert page.get_attribute("body", "data-reported") is None
