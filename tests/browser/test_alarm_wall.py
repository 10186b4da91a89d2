"""A real alarm on the wall (issue 8): an MQTT reading over a real mosquitto, the real ingest worker, Chromium;
and an alarm handled from its popup on the desk map.

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
from tests.browser.test_pages import CANCELLED_TILE, READY_MS, _jump, _open_map, _screen_point
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


def test_the_duty_officer_handles_an_alarm_from_its_popup(page, web, page_guard, browser_db):
    dsn = libpq_dsn(browser_db.db.owner_url)
    with psycopg.connect(dsn) as conn:  # an alarm as the worker raises it, on a demo combustible-gas detector
        sensor_id, lon, lat = conn.execute(
            "SELECT s.id, ST_X(s.geom), ST_Y(s.geom) FROM sensors s WHERE s.kind = 'combustible_gas' "
            "AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.sensor_id = s.id) ORDER BY s.id LIMIT 1").fetchone()
        alarm_id = conn.execute(
            "INSERT INTO alarms (sensor_id, hazard_unit_id, enterprise_id, adcode, geom, kind, rule, level, raised_at, "
            "value, threshold, peak_value) SELECT s.id, s.hazard_unit_id, h.enterprise_id, s.adcode, s.geom, "
            "'process', 'high', 'orange', now(), 31, 25, 31 FROM sensors s JOIN hazard_units h "
            "ON h.id = s.hazard_unit_id WHERE s.id = %s RETURNING id", (sensor_id,)).fetchone()[0]
    _open_map(page, web)
    _jump(page, lon, lat, 16)
    x, y = _screen_point(page, lon, lat)
    page.mouse.click(x, y)
    actions = page.locator(f".maplibregl-popup .alarm-actions[data-alarm='{alarm_id}']")
    actions.wait_for(timeout=10_000)
    assert actions.get_attribute("data-state") == "raised"
    # times in the reader's clock, not as stored (ISO 8601 in UTC)
    popup_text = page.inner_text(".maplibregl-popup")
    assert "报警时间" in popup_text and "+00:00" not in popup_text and "T1" not in popup_text
    assert [b.inner_text() for b in actions.locator("button").all()] == ["确认", "处置"]

    actions.locator("button[data-move=acknowledged]").click()
    page.wait_for_selector(f".alarm-actions[data-alarm='{alarm_id}'][data-state=acknowledged]", timeout=10_000)
    handled = page.locator(f".alarm-actions[data-alarm='{alarm_id}']")
    handled.locator("select[name=reason]").select_option("false_alarm")
    handled.locator("input[name=note]").fill("现场检查为探头受潮误报")
    handled.locator("button[data-move=handled]").click()
    page.wait_for_selector(f".alarm-actions[data-alarm='{alarm_id}'][data-state=handled]", timeout=10_000)
    save_screenshot(page, "map-alarm-popup")

    with psycopg.connect(dsn) as conn:
        state, reason, note = conn.execute("SELECT state, reason, note FROM alarms WHERE id = %s",
                                           (alarm_id,)).fetchone()
        moves = conn.execute("SELECT action, actor FROM alarm_transitions WHERE alarm_id = %s ORDER BY id",
                             (alarm_id,)).fetchall()
    assert (state, reason, note) == ("handled", "false_alarm", "现场检查为探头受潮误报")
    assert [m[0] for m in moves] == ["raised", "acknowledged", "handled"]
    assert all("demo.admin" in m[1] for m in moves[1:])

    # a move no longer allowed (another officer cleared it meanwhile) shows the reason in the popup
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE alarms SET state = 'cleared', cleared_at = now() WHERE id = %s", (alarm_id,))
    page_guard.allow(r"status of 409", kinds=["console"])
    with page_guard.expect_errors(r"^409 POST \S+/alarms/\d+/transitions$", kinds=["response"]):
        handled.locator("button[data-move=cleared]").click()
        page.wait_for_function("() => document.querySelector('.alarm-actions .error').textContent.includes('cleared')",
                               timeout=10_000)
