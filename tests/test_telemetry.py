"""Telemetry ingest over a real mosquitto and a real PostGIS: payloads, dedupe, faults, HTTP, partitions.

The worker runs in a thread (most tests) or as a subprocess ``python -m api.cli telemetry ingest``
(the kill tests). Each test uses sensors of its own, so row counts are its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from geo.db import libpq_dsn, make_engine
from telemetry.broker import port_open
from telemetry.health import read_status
from telemetry.payloads import parse_body, parse_message, topic_for
from telemetry.simulate import SimSensor, publisher, simulate
from telemetry.store import ensure_partitions
from tests.conftest import build_world, world_client
from tests.telemetry_helpers import (
    ThreadWorker,
    make_sensor,
    publish_all,
    readings_for,
    rows_of,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------- payloads (pure)

def _msg(obj, code="GT-1"):
    return parse_message(topic_for(code), obj if isinstance(obj, bytes) else json.dumps(obj).encode(),
                         received_at=NOW)


GOOD = {"seq": 1, "ts": "2026-11-23T14:00:00+08:00", "value": 3.5}


@pytest.mark.parametrize("payload, field, words", [
    (b"{not json", "payload", "not JSON"),
    (b"\xff\xfe", "payload", "UTF-8"),
    (b'{"seq": 1, "ts": "2026-11-23T14:00:00+08:00", "value": NaN}', "payload", "not JSON"),
    ({**GOOD, "value": "12"}, "value", "a number"),
    ({**GOOD, "value": True}, "value", "a number"),
    ({**GOOD, "value": 1e308 * 10}, "payload", "not JSON"),  # json.dumps writes Infinity
    ({**GOOD, "seq": -1}, "seq", ">= 0"),
    ({**GOOD, "seq": 1.5}, "seq", "integer"),
    ({k: v for k, v in GOOD.items() if k != "ts"}, "ts", "ISO 8601"),
    ({**GOOD, "ts": "2026-11-23T14:00:00"}, "ts", "UTC offset"),
    ({**GOOD, "ts": "yesterday"}, "ts", "not an ISO 8601"),
    ({**GOOD, "ts": "2099-01-01T00:00:00Z"}, "ts", "after it was received"),
    ({**GOOD, "ts": "1999-12-31T00:00:00Z"}, "ts", "before 2000"),
    ({**GOOD, "quality": "great"}, "quality", "good, uncertain, bad"),
    ({**GOOD, "val": 1}, "val", "unknown field"),
    ({**GOOD, "unit": ""}, "unit", "unit string"),
    ([1, 2], "payload", "JSON object"),
    ({"readings": []}, "readings", "non-empty"),
    ({"readings": [GOOD] * 1001}, "readings", "at most 1000"),
    ({"readings": [GOOD, {**GOOD, "seq": "x"}]}, "readings[1].seq", "integer"),
])
def test_bad_payloads_are_rejected_naming_the_field(payload, field, words):
    p = _msg(payload)
    assert p.rejects, p
    assert p.rejects[-1].field == field
    assert words in p.rejects[-1].reason
    assert p.rejects[-1].topic == topic_for("GT-1")


@pytest.mark.parametrize("topic", ["onemap/v1/readings/x'; DROP TABLE readings;--", "onemap/v1/readings/",
                                   "onemap/v1/readings/" + "a" * 65, "other/topic", "onemap/v1/readings/a b"])
def test_topics_with_bad_sensor_codes_are_rejected(topic):
    p = parse_message(topic, json.dumps(GOOD).encode(), received_at=NOW)
    assert [r.field for r in p.rejects] == ["topic"] and not p.readings


def test_one_reading_and_a_batch_are_accepted():
    one = _msg({**GOOD, "unit": "%LEL", "quality": "uncertain"})
    assert one.readings[0].quality == "uncertain" and one.readings[0].unit == "%LEL" and not one.rejects
    batch = _msg({"readings": [{**GOOD, "seq": i, "ts": f"2026-11-23T06:00:0{i}Z"} for i in range(5)]})
    assert [r.seq for r in batch.readings] == list(range(5)) and not batch.rejects


def test_an_oversized_payload_is_rejected_with_an_excerpt_only():
    p = _msg(b"x" * (300 * 1024))
    assert p.rejects[0].field == "payload" and "at most" in p.rejects[0].reason
    assert p.rejects[0].payload_bytes == 300 * 1024 and len(p.rejects[0].excerpt) <= 512


def test_http_bodies_name_their_sensor():
    p = parse_body({**GOOD, "sensor": "GT-1"}, received_at=NOW)
    assert p.readings[0].sensor_code == "GT-1"
    assert parse_body(GOOD, received_at=NOW).rejects[0].field == "sensor"


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tworld(throwaway):
    """The HTTP-test world in a database of its own (sensors and readings stay out of the shared one)."""
    return build_world(throwaway)


@pytest.fixture(scope="module")
def towner(tworld):
    engine = make_engine(tworld.db.owner_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def dsn(tworld):
    return libpq_dsn(tworld.db.owner_url)


# ---------------------------------------------------------------------------- broker

def test_broker_listens_on_loopback_only_and_starts_idempotently(mqtt_broker):
    conf = mqtt_broker.conf_file.read_text()
    assert f"listener {mqtt_broker.port} 127.0.0.1" in conf and "0.0.0.0" not in conf
    assert "persistence true" in conf and "max_queued_messages" in conf
    assert mqtt_broker.status() == "running"
    assert mqtt_broker.start() is False  # already running
    assert port_open("127.0.0.1", mqtt_broker.port)


# ---------------------------------------------------------------------------- end to end

def test_published_readings_become_rows_and_the_latest_value(mqtt_broker, tworld, towner, dsn):
    sid, code = make_sensor(towner, "H1", tworld)
    with ThreadWorker(mqtt_broker, dsn, "t-e2e") as w:
        publish_all(mqtt_broker, readings_for(code, 200))
        wait_for(lambda: rows_of(dsn, sid)[0] == 200, what="200 rows")
        batch = {"readings": [json.loads(b) | {"seq": 200 + i} for i, (_, b) in
                              enumerate(readings_for(code, 5, start=300))]}
        publish_all(mqtt_broker, [(topic_for(code), json.dumps(batch))])
        wait_for(lambda: rows_of(dsn, sid)[0] == 205, what="205 rows")
        assert w.status()["database"]["ok"] and w.status()["broker"]["connected"]
    with psycopg.connect(dsn) as conn:
        seq, = conn.execute("SELECT seq FROM sensor_latest WHERE sensor_id = %s", (sid,)).fetchone()
        src, = conn.execute("SELECT DISTINCT source FROM readings WHERE sensor_id = %s", (sid,)).fetchone()
    assert seq == 204 and src == "mqtt"


def test_redelivered_readings_are_stored_once(mqtt_broker, tworld, towner, dsn):
    sid, code = make_sensor(towner, "H1", tworld)
    msgs = readings_for(code, 50)
    with ThreadWorker(mqtt_broker, dsn, "t-dedupe") as w:
        publish_all(mqtt_broker, msgs + msgs + msgs[:10])
        wait_for(lambda: w.counters.committed + w.counters.duplicates >= 110, what="all messages written")
    assert rows_of(dsn, sid) == (50, 50)
    assert w.counters.duplicates >= 60


def test_messages_published_while_the_worker_is_away_are_delivered_when_it_returns(mqtt_broker, tworld, towner, dsn):
    sid, code = make_sensor(towner, "H1", tworld)
    with ThreadWorker(mqtt_broker, dsn, "t-away"):
        pass  # the session (subscription) now exists at the broker
    publish_all(mqtt_broker, readings_for(code, 300))
    assert rows_of(dsn, sid)[0] == 0
    with ThreadWorker(mqtt_broker, dsn, "t-away"):
        wait_for(lambda: rows_of(dsn, sid)[0] == 300, what="300 queued readings")


def test_rejects_are_recorded_and_the_worker_keeps_going(mqtt_broker, tworld, towner, dsn):
    sid, code = make_sensor(towner, "H1", tworld, range_min=0, range_max=100)
    retired_id, retired = make_sensor(towner, "H1", tworld)
    with towner.begin() as conn:
        conn.execute(text("UPDATE sensors SET status = 'retired', valid_to = now() WHERE id = :i"), {"i": retired_id})
    good_ts = datetime.now(CST) - timedelta(minutes=1)
    bad = [
        (topic_for(code), b"{not json"),
        (topic_for(code), json.dumps({"seq": 1, "ts": good_ts.isoformat(), "value": "high"})),
        (topic_for(code), b'{"seq": 1, "ts": "2026-11-23T14:00:00+08:00", "value": NaN}'),
        (topic_for(code), json.dumps({"seq": 1, "ts": "2099-01-01T00:00:00+08:00", "value": 1})),
        (topic_for(code), json.dumps({"seq": 1, "ts": good_ts.isoformat(), "value": 1, "unit": "ppm"})),
        (topic_for(code), json.dumps({"seq": 1, "ts": good_ts.isoformat(), "value": 140})),
        (topic_for(code), b"x" * (300 * 1024)),  # over our 256 KiB, under the broker's 1 MiB
        ("onemap/v1/readings/x'); DROP TABLE readings;--", json.dumps({"seq": 1, "ts": good_ts.isoformat(),
                                                                      "value": 1})),
        (topic_for("NO-SUCH-SENSOR"), json.dumps({"seq": 1, "ts": good_ts.isoformat(), "value": 1})),
        (topic_for(retired), json.dumps({"seq": 1, "ts": good_ts.isoformat(), "value": 1})),
    ]
    with ThreadWorker(mqtt_broker, dsn, "t-rejects") as w:
        # a 10 MB payload: mosquitto (max_packet_size 1 MiB) disconnects the publisher; nothing reaches us
        big = publisher("127.0.0.1", mqtt_broker.port, "pub-10mb")
        info = big.publish(topic_for(code), b"y" * (10 * 2**20), qos=1)
        wait_for(lambda: not big.is_connected(), 15, "the broker to drop the 10 MB publisher")
        assert not info.is_published()
        big.loop_stop()
        publish_all(mqtt_broker, bad + [(topic_for(code), json.dumps({"seq": 2, "ts": good_ts.isoformat(),
                                                                      "value": 4.5}))])
        wait_for(lambda: rows_of(dsn, sid)[0] == 1, what="the good reading after the bad ones")
        wait_for(lambda: w.counters.rejected >= len(bad), what="the rejects")
    with psycopg.connect(dsn) as conn:
        got = conn.execute("SELECT field, reason, sensor_code, sensor_id, payload_bytes, length(payload_excerpt) "
                           "FROM reading_rejects WHERE received_at > now() - interval '5 minutes' AND "
                           "(sensor_code IN (%s, %s, 'NO-SUCH-SENSOR') OR topic LIKE %s)",
                           (code, retired, "%DROP TABLE%")).fetchall()
        assert conn.execute("SELECT to_regclass('readings') IS NOT NULL").fetchone()[0]
    reasons = {(f, r.split(" ")[0]) for f, r, *_ in got}
    fields = sorted(f for f, *_ in got)
    assert fields == sorted(["payload", "value", "payload", "ts", "unit", "value", "payload", "topic", "sensor",
                             "sensor"]), got
    assert ("sensor", "unknown") in reasons and any("retired" in r for _, r, *_ in got)
    assert all(ex is None or ex <= 512 for *_, ex in got)
    assert max(b for *_, b, _ in got) == 300 * 1024
    assert not any(b >= 10 * 2**20 for *_, b, _ in got)  # the 10 MB never reached the worker
    assert all(sid_ == sid for _, _, c, sid_, *_ in got if c == code)


def test_the_simulator_publishes_what_the_worker_stores(mqtt_broker, tworld, towner, dsn):
    sensors = [make_sensor(towner, "H1", tworld, kind=k, unit=u) for k, u in
               (("tank_level", "%"), ("temperature", "°C"), ("toxic_gas", "ppm"))]
    with ThreadWorker(mqtt_broker, dsn, "t-sim") as w:
        s = simulate([SimSensor(code, kind, unit, 10.0) for (_, code), kind, unit in
                      zip(sensors, ("tank_level", "temperature", "toxic_gas"), ("%", "°C", "ppm"), strict=True)],
                     host="127.0.0.1", port=mqtt_broker.port, rate_hz=20, duration_s=1.0, seed=1)
        assert s.published + s.dropped == 60
        wait_for(lambda: sum(rows_of(dsn, i)[0] for i, _ in sensors) == s.published, what="simulated rows")
        assert w.counters.rejected == 0


# ---------------------------------------------------------------------------- faults

def _spawn_worker(broker, db, client_id, status: Path, **env):
    e = {**os.environ, "DATABASE_URL": db.owner_url.render_as_string(hide_password=False),
         "ONEMAP_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}", "ONEMAP_INGEST_CLIENT_ID": client_id,
         "ONEMAP_INGEST_BATCH": "200", "ONEMAP_INGEST_BATCH_MS": "50", "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen([sys.executable, "-m", "api.cli", "telemetry", "ingest", "--quiet",
                             "--status-file", str(status)], cwd=ROOT, env=e, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def _wait_subscribed(status: Path, proc):
    def ok():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        st = read_status(status)
        return st.get("broker", {}).get("subscribed") and st.get("running")
    wait_for(ok, 30, "the worker to subscribe")


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_worker_killed_mid_stream_loses_and_doubles_nothing(mqtt_broker, tworld, towner, dsn, tmp_path):
    sid, code = make_sensor(towner, "H1", tworld)
    status = tmp_path / "ingest.json"
    proc = _spawn_worker(mqtt_broker, tworld.db, "t-kill", status)
    try:
        _wait_subscribed(status, proc)
        pub = threading.Thread(target=publish_all, args=(mqtt_broker, readings_for(code, 3000)),
                               kwargs={"pace_per_s": 1500})
        pub.start()
        wait_for(lambda: rows_of(dsn, sid)[0] >= 500, what="500 rows before the kill")
        proc.kill()  # SIGKILL: no goodbye, unacknowledged messages stay with the broker
        proc.wait(10)
        killed_at = rows_of(dsn, sid)[0]
        assert killed_at < 3000
        proc = _spawn_worker(mqtt_broker, tworld.db, "t-kill", status)
        pub.join(60)
        wait_for(lambda: rows_of(dsn, sid)[0] >= 3000, 60, "3000 rows after the restart")
        time.sleep(0.5)
        assert rows_of(dsn, sid) == (3000, 3000)
    finally:
        _stop(proc)


def test_worker_dying_between_commit_and_ack_is_absorbed_by_dedupe(mqtt_broker, tworld, towner, dsn, tmp_path):
    sid, code = make_sensor(towner, "H1", tworld)
    status = tmp_path / "ingest.json"
    proc = _spawn_worker(mqtt_broker, tworld.db, "t-commit-ack", status, ONEMAP_INGEST_EXIT_AFTER_COMMITS="2")
    try:
        _wait_subscribed(status, proc)
        publish_all(mqtt_broker, readings_for(code, 1000))
        assert proc.wait(30) == 3  # exited right after its second commit, before acknowledging it
        committed = rows_of(dsn, sid)[0]
        assert 0 < committed < 1000
        proc = _spawn_worker(mqtt_broker, tworld.db, "t-commit-ack", status)
        wait_for(lambda: rows_of(dsn, sid)[0] >= 1000, 60, "1000 rows after the restart")
        wait_for(lambda: read_status(status).get("duplicates", 0) > 0, 10, "redelivered duplicates")
        assert rows_of(dsn, sid) == (1000, 1000)
    finally:
        _stop(proc)


def test_broker_restart_the_worker_reconnects_and_catches_up(mqtt_broker, tworld, towner, dsn):
    sid, code = make_sensor(towner, "H1", tworld)
    with ThreadWorker(mqtt_broker, dsn, "t-broker-restart") as w:
        publish_all(mqtt_broker, readings_for(code, 1500))
        mqtt_broker.stop()  # SIGTERM mid-stream: mosquitto saves its queues and in-flight messages
        wait_for(lambda: not w.status()["broker"]["connected"], 10, "the worker to notice")
        mqtt_broker.start()
        publish_all(mqtt_broker, readings_for(code, 500, start=1500))
        wait_for(lambda: rows_of(dsn, sid)[0] >= 2000, 60, "2000 rows after the broker restart")
        assert w.status()["broker"]["connected"]
    assert rows_of(dsn, sid) == (2000, 2000)


def test_database_unavailable_the_worker_waits_reports_and_catches_up(mqtt_broker, tworld, towner, dsn):
    sid, code = make_sensor(towner, "H1", tworld)
    admin = libpq_dsn(tworld.db.admin_url.set(database="postgres"))
    name = tworld.db.name
    with ThreadWorker(mqtt_broker, dsn, "t-db-down") as w:
        publish_all(mqtt_broker, readings_for(code, 500))
        wait_for(lambda: rows_of(dsn, sid)[0] == 500, what="500 rows before the outage")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                         "AND application_name = 'onemap-ingest'", (name,))
        try:
            publish_all(mqtt_broker, readings_for(code, 1000, start=500))
            wait_for(lambda: not w.status()["database"]["ok"], 20, "the worker to report the database down")
            st = w.status()
            assert st["backlog"] > 0 and st["broker"]["connected"]
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        wait_for(lambda: rows_of(dsn, sid)[0] >= 1500, 60, "1500 rows after the outage")
        wait_for(lambda: w.status()["database"]["ok"], 10, "the worker to report the database back")
    assert rows_of(dsn, sid) == (1500, 1500)


# ---------------------------------------------------------------------------- partitions

def test_daily_partitions_are_made_ahead_and_take_rows_from_the_default(tworld, towner, dsn):
    sid, _ = make_sensor(towner, "H1", tworld)
    with psycopg.connect(dsn) as conn:
        parts = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'readings'::regclass").fetchall()}
        today = datetime.now(CST).date()
        for d in range(-1, 8):
            assert f"readings_p{(today + timedelta(days=d)):%Y%m%d}" in parts
        assert "readings_default" in parts
        day = today + timedelta(days=40)
        ts = datetime(day.year, day.month, day.day, 0, 30, tzinfo=CST)  # 16:30 UTC the day before
        conn.execute("INSERT INTO readings (sensor_id, ts, seq, value, source) VALUES (%s, %s, 1, 1, 'mqtt')",
                     (sid, ts))
        assert conn.execute("SELECT count(*) FROM readings_default WHERE sensor_id = %s", (sid,)).fetchone()[0] == 1
        assert ensure_partitions(conn, day, behind=0, ahead=1) == 2
        assert ensure_partitions(conn, day, behind=0, ahead=1) == 0  # idempotent
        where = conn.execute("SELECT tableoid::regclass::text FROM readings WHERE sensor_id = %s",
                             (sid,)).fetchone()[0]
        assert where == f"readings_p{day:%Y%m%d}"
        conn.rollback()


# ---------------------------------------------------------------------------- HTTP

@pytest.fixture(scope="module")
def tclient(settings, tworld):
    with world_client(settings, tworld) as client:
        yield client


_HTTP_BASE = datetime.now(CST).replace(microsecond=0) - timedelta(hours=1)


def _http_reading(code, seq, **kw):
    ts = (_HTTP_BASE + timedelta(seconds=seq)).isoformat()
    return {"sensor": code, "seq": seq, "ts": ts, "value": 2.5, **kw}


def test_http_ingest_by_the_enterprise_for_its_own_sensors_only(tclient, tworld, towner, dsn):
    own_id, own = make_sensor(towner, "H1", tworld)  # E1, Zhenhai: w.ent's enterprise
    _, other = make_sensor(towner, "H3", tworld)  # E3, Xihu
    r = tclient.post("/telemetry/readings", json=_http_reading(own, 1, unit="%LEL"), headers=tclient.as_["ent"])
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 1
    r = tclient.post("/telemetry/readings", json=_http_reading(own, 1), headers=tclient.as_["ent"])
    assert r.json()["duplicates"] == 1 and r.json()["stored"] == 0
    r = tclient.post("/telemetry/readings", json=_http_reading(other, 1), headers=tclient.as_["ent"])
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "sensor"
    body = {"readings": [_http_reading(own, 2), _http_reading(own, 3, value=float("nan")),
                         _http_reading(own, 4, ts="2026-11-23 14:00")]}
    r = tclient.post("/telemetry/readings", content=json.dumps(body), headers={**tclient.as_["ent"],
                                                                               "content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 1 and {x["field"] for x in r.json()["rejects"]} == {"readings[1].value",
                                                                                     "readings[2].ts"}
    assert rows_of(dsn, own_id) == (2, 2)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT DISTINCT source FROM readings WHERE sensor_id = %s", (own_id,)).fetchone() == \
            ("http",)


def test_http_ingest_by_regulators_follows_jurisdiction(tclient, tworld, towner):
    xh_id, xh = make_sensor(towner, "H3", tworld, kind="tank_level", unit="%")
    assert tclient.post("/telemetry/readings", json=_http_reading(xh, 1),
                        headers=tclient.as_["zhenhai"]).status_code == 422
    r = tclient.post("/telemetry/readings", json=_http_reading(xh, 1), headers=tclient.as_["xihu"])
    assert r.status_code == 200 and r.json()["stored"] == 1
    assert tclient.post("/telemetry/readings", json=_http_reading(xh, 2),
                        headers=tclient.as_["public"]).status_code == 403
    # reading back
    r = tclient.get(f"/sensors/{xh_id}/readings", headers=tclient.as_["xihu"])
    assert r.status_code == 200 and r.json()["count"] == 1 and r.json()["data"][0]["seq"] == 1
    assert tclient.get(f"/sensors/{xh_id}/readings", headers=tclient.as_["zhenhai"]).status_code == 404
    assert tclient.get(f"/sensors/{xh_id}/latest", headers=tclient.as_["xihu"]).json()["latest"]["seq"] == 1
    assert tclient.get(f"/sensors/{xh_id}/readings", params={"from": "2026-11-23T00:00:00"},
                       headers=tclient.as_["xihu"]).status_code == 400


def test_rejects_are_readable_by_province_and_by_the_county_of_known_sensors(tclient, tworld, towner):
    zh_id, zh = make_sensor(towner, "H1", tworld)
    tclient.post("/telemetry/readings", json=_http_reading(zh, 1, value="bad"), headers=tclient.as_["zhenhai"])
    tclient.post("/telemetry/readings", json=_http_reading("NOPE-1", 1), headers=tclient.as_["zhenhai"])
    prov = tclient.get("/telemetry/rejects", headers=tclient.as_["province"]).json()["data"]
    assert {"NOPE-1", zh} <= {r["sensor_code"] for r in prov}
    county = tclient.get("/telemetry/rejects", headers=tclient.as_["zhenhai"]).json()["data"]
    assert zh in {r["sensor_code"] for r in county} and "NOPE-1" not in {r["sensor_code"] for r in county}
    assert not tclient.get("/telemetry/rejects", headers=tclient.as_["xihu"]).json()["data"] or \
        zh not in {r["sensor_code"] for r in tclient.get("/telemetry/rejects", headers=tclient.as_["xihu"]).json()["data"]}
    assert tclient.get("/telemetry/rejects", headers=tclient.as_["ent"]).status_code == 403


def test_health_endpoint_reads_the_worker_status(tclient, tmp_path):
    tclient.app.state.telemetry_status_file = tmp_path / "none.json"
    r = tclient.get("/telemetry/health")
    assert r.status_code == 503 and r.json()["running"] is False
    from telemetry.health import write_status

    now = datetime.now(UTC).isoformat()
    write_status(tmp_path / "ok.json", {"broker": {"connected": True}, "database": {"ok": False}, "backlog": 7,
                                        "updated_at": now})
    tclient.app.state.telemetry_status_file = tmp_path / "ok.json"
    r = tclient.get("/telemetry/health")
    assert r.status_code == 503 and "database unavailable" in r.json()["reason"] and r.json()["backlog"] == 7
    write_status(tmp_path / "ok.json", {"broker": {"connected": True}, "database": {"ok": True}, "updated_at": now})
    assert tclient.get("/telemetry/health").status_code == 200
    tclient.app.state.telemetry_status_file = None


def test_no_broker_or_worker_left_behind(mqtt_broker):
    """The session fixture stops its broker; here: no stray worker subprocesses of this module."""
    out = subprocess.run(["pgrep", "-f", "api.cli telemetry ingest"], capture_output=True, text=True)
    assert out.stdout.strip() == "", out.stdout
