"""A real alarm on the wall (issue 8): an MQTT reading over a real mosquitto, the real ingest worker, Chromium.

A demo toxic-gas detector reads above its high-high threshold: the worker
raises the alarms in the batch that stores the reading, the wall's ticker shows
``alarm.raised`` within seconds with its rule and colour, the wall moves to the
alarm, and then to the release scenario the alarm started. Acknowledged and
cleared through the API, the alarm leaves the map. Under the same page guard
as tests/browser/test_pages.py.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from geo.db import libpq_dsn
from telemetry.payloads import topic_for
from tests.browser.harness import api_token, login, save_screenshot
from tests.browser.test_pages import CANCELLED_TILE, READY_MS
from tests.telemetry_helpers import ThreadWorker, publish_all, wait_for


@pytest.fixture(autouse=True)
def _tile_cancellations_are_not_failures(page_guard):
    page_guard.allow(CANCELLED_TILE, kinds=["requestfailed"])


def test_a_toxic_gas_reading_over_mqtt_raises_an_alarm_on_the_wall_and_its_scenario(
        page, web, page_guard, browser_db, mqtt_broker):
    dsn = libpq_dsn(browser_db.db.owner_url)
    with psycopg.connect(dsn) as conn:
        sensor_id, code, hh, unit_name = conn.execute(
            "SELECT s.id, s.code, s.threshold_high_high, h.name FROM sensors s JOIN hazard_units h "
            "ON h.id = s.hazard_unit_id WHERE s.kind = 'toxic_gas' AND s.threshold_high_high IS NOT NULL "
            "ORDER BY s.id LIMIT 1").fetchone()
    token = api_token(web.url)
    login(page, web.url)
    page.set_viewport_size({"width": 1600, "height": 900})
    page.goto(f"{web.url}/wall?cycle=600&hold=120")
    page.wait_for_selector("body[data-ready=wall][data-stream=open]", timeout=READY_MS)
    before = int(page.get_attribute("[data-kpi=alarms]", "data-value"))

    now = datetime.now(UTC).replace(microsecond=0)
    series = [(topic_for(code), json.dumps({"seq": 900_000 + i, "ts": (now - timedelta(seconds=2 - i)).isoformat(),
                                           "value": v})) for i, v in enumerate([0.4, 0.6, hh * 1.5])]
    with ThreadWorker(mqtt_broker, dsn, "wall-alarm", alarm_check_s=0.3):
        t0 = time.monotonic()
        publish_all(mqtt_broker, series)
        page.wait_for_selector("#ticker li[data-kind='alarm.raised']", timeout=5_000)
        assert time.monotonic() - t0 < 5.0
        with psycopg.connect(dsn) as conn:
            alarms = dict(conn.execute("SELECT rule, id FROM alarms WHERE sensor_id = %s AND state = 'raised'",
                                       (sensor_id,)).fetchall())
        assert set(alarms) == {"high", "high_high"}
        red = alarms["high_high"]
        item = page.locator(f"#ticker li[data-kind='alarm.raised'][data-id='{red}']")
        assert "高高报" in item.inner_text() and item.locator(".badge.colour-red").count() == 1
        page.wait_for_function(f"() => Number(document.querySelector('[data-kpi=alarms]').dataset.value) >= "
                               f"{before + 2}", timeout=5_000)
        # the worker starts the release scenario of the excursion; the wall moves to its zones
        page.wait_for_selector("#ticker li[data-kind='scenario.created']", timeout=30_000)
        wait_for(lambda: _scenario_of(dsn, red) is not None, 10, "the alarm linked to its scenario")
        scenario = _scenario_of(dsn, red)
        page.wait_for_selector(f"body[data-focus='scenario:{scenario}']", timeout=10_000)
        page.wait_for_timeout(1000)
        save_screenshot(page, "wall-alarm-scenario")

    # the record the wall locates the alarm by: linked to its scenario, named by its unit
    record = httpx.get(f"{web.url}/alarms/{red}", headers=token["headers"]).json()
    assert record["scenario_id"] == scenario and record["hazard_unit_name"] == unit_name
    # acknowledged and cleared by the duty officer: both moves reach the ticker, the alarm leaves the map
    for move in ("acknowledged", "cleared"):
        for aid in alarms.values():
            r = httpx.post(f"{web.url}/alarms/{aid}/transitions", json={"to": move, "note": "现场确认，已处置"},
                           headers=token["headers"])
            assert r.status_code == 201, r.text
        page.wait_for_selector(f"#ticker li[data-kind='alarm.{move}'][data-id='{red}']", timeout=5_000)
    open_ = httpx.get(f"{web.url}/alarms?state=raised", headers=token["headers"]).json()
    assert red not in [a["id"] for a in open_["data"]]


def _scenario_of(dsn: str, alarm_id: int) -> int | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT scenario_id FROM alarms WHERE id = %s", (alarm_id,)).fetchone()[0]
