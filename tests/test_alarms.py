"""Alarms from telemetry over a real mosquitto and a real PostGIS: rules, lifecycle, escalation, events, KPIs.

The rules are checked pure (numpy, crafted values around the thresholds) and
end to end (readings published over MQTT, the worker in a thread, alarms read
from the database and from the ``onemap_events`` notifications that feed
``/events``). The lifecycle runs over HTTP (TestClient, app role, the world
users). Each test uses sensors of its own.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from sqlalchemy import text

from geo.context import RequestContext, apply_context
from geo.db import libpq_dsn, make_engine
from telemetry.alarm_rules import Carry, SensorParams, evaluate
from telemetry.alarms import AlarmEngine
from telemetry.payloads import topic_for
from telemetry.settings import TelemetrySettings
from tests.conftest import build_world, world_client
from tests.telemetry_helpers import CST, ThreadWorker, make_sensor, publish_all, rows_of, wait_for
from workflows.alarms import transition
from workflows.errors import IllegalTransition

# ---------------------------------------------------------------------------- rules (pure)


def _eval(values, params, carry=None, t0=0.0, step=1.0, flatline_n=60, sensor=1):
    carry = {} if carry is None else carry
    n = len(values)
    found = evaluate(np.full(n, sensor), t0 + step * np.arange(n), np.asarray(values, float), {sensor: params},
                     carry, flatline_n=flatline_n)
    return {f.rule: f for f in found}, carry


def test_threshold_needs_the_minimum_duration_and_resets_only_beyond_the_deadband():
    p = SensorParams(threshold_high=25.0, deadband=2.0, min_duration_s=3.0)
    # 25 at t=1..3 (2 s only), dips to 24 (inside the deadband: still on), 25 again: on since t=1 -> raised at t=4
    f, _ = _eval([20, 25, 25, 25, 24, 26, 22.9], p)
    assert f["high"].raise_ts == 4.0 and f["high"].raise_value == 24.0 and f["high"].peak == 26.0
    assert f["high"].on is False and f["high"].normal_ts == 6.0  # 22.9 < 25 - 2
    # held for less than the minimum duration: nothing
    f, _ = _eval([25, 25, 25, 20], p)
    assert f["high"].raise_ts is None


def test_a_condition_carries_over_batches():
    p = SensorParams(threshold_high=25.0, deadband=1.0, min_duration_s=5.0)
    f, carry = _eval([26, 26, 26], p)  # t=0..2
    assert f["high"].raise_ts is None and f["high"].on
    f, carry = _eval([26, 26, 26, 26], p, carry, t0=3.0)  # t=3..6: on since t=0 -> raised at t=5
    assert f["high"].raise_ts == 5.0
    f, _ = _eval([26], p, carry, t0=3.0)  # a redelivered old reading is ignored
    assert f == {}


def test_low_high_high_rate_and_flatline():
    p = SensorParams(threshold_low=2.0, threshold_high=10.0, threshold_high_high=20.0, deadband=0.5,
                     rate_limit=5.0)
    f, _ = _eval([5, 1.9, 2.4, 2.6, 21, 21, 21], p, flatline_n=3)
    assert f["low"].raise_ts == 1.0 and f["low"].peak == 1.9 and not f["low"].on
    assert f["high_high"].raise_ts == 4.0 and f["high"].raise_ts == 4.0 and f["high_high"].on
    assert f["rate"].raise_ts == 4.0 and f["rate"].peak == pytest.approx(18.4) and not f["rate"].on
    assert f["flatline"].raise_ts == 6.0 and f["flatline"].on
    assert f["low"].threshold == 2.0 and f["rate"].threshold == 5.0


def test_no_threshold_no_alarm_and_nan_free():
    f, carry = _eval([1e6, -1e6, 3], SensorParams())
    assert all(x.raise_ts is None for r, x in f.items() if r != "flatline")
    assert isinstance(carry[1], Carry) and carry[1].last_value == 3


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def aworld(throwaway):
    return build_world(throwaway)


@pytest.fixture(scope="module")
def aowner(aworld):
    engine = make_engine(aworld.db.owner_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def adsn(aworld):
    return libpq_dsn(aworld.db.owner_url)


@pytest.fixture(scope="module")
def aclient(settings, aworld):
    with world_client(settings, aworld) as client:
        yield client


def _alarms(dsn, sensor_id):
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("SELECT * FROM alarms WHERE sensor_id = %s ORDER BY id", (sensor_id,))
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _series(code, values, *, start, step_s=1.0, seq0=0):
    return [(topic_for(code), json.dumps({"seq": seq0 + i, "ts": (start + timedelta(seconds=step_s * i)).isoformat(),
                                          "value": v})) for i, v in enumerate(values)]


def _raise(dsn, sensor_id, rule="high", level="orange", value=30.0, **cols):
    """An alarm raised as the worker raises it (owner role); returns its id."""
    raised = cols.pop("raised_at", None)
    extra = "".join(f", {c}" for c in cols)
    vals = "".join(f", %({c})s" for c in cols)
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            f"INSERT INTO alarms (sensor_id, hazard_unit_id, enterprise_id, adcode, geom, kind, rule, level, "
            f"raised_at, value, peak_value{extra}) SELECT s.id, s.hazard_unit_id, h.enterprise_id, s.adcode, s.geom, "
            f"%(kind)s, %(rule)s, %(level)s, coalesce(%(raised)s, now()), %(v)s, %(v)s{vals} FROM sensors s "
            "LEFT JOIN hazard_units h ON h.id = s.hazard_unit_id WHERE s.id = %(s)s RETURNING id",
            {"s": sensor_id, "rule": rule, "level": level, "v": value, "raised": raised,
             "kind": "health" if rule in ("flatline", "out_of_range", "offline") else "process", **cols}
        ).fetchone()[0]


class Notifications:
    """LISTEN onemap_events (what /events relays) on a connection of its own, in a thread."""

    def __init__(self, dsn):
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute("LISTEN onemap_events")
        self.got: list[tuple[float, dict]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import time
        while not self.stop.is_set():
            for n in self.conn.notifies(timeout=0.2):
                self.got.append((time.monotonic(), json.loads(n.payload)))

    def kinds(self, alarm_ids=None):
        return [p["k"] for _, p in self.got if p.get("t") == "alarms" and (alarm_ids is None or p["id"] in alarm_ids)]

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.conn.close()


# ---------------------------------------------------------------------------- end to end over MQTT


def test_a_threshold_alarm_is_raised_with_its_reading_and_announced(mqtt_broker, aworld, aowner, adsn):
    sid, code = make_sensor(aowner, "H1", aworld, threshold_high=25, threshold_high_high=50, deadband=2,
                            min_duration_s=2)
    start = datetime.now(CST).replace(microsecond=0) - timedelta(seconds=60)
    listen = Notifications(adsn)
    try:
        with ThreadWorker(mqtt_broker, adsn, "a-thr"):
            publish_all(mqtt_broker, _series(code, [20, 25, 26, 24, 27], start=start))  # on at t1, raised at t3
            wait_for(lambda: _alarms(adsn, sid), what="the high alarm")
            publish_all(mqtt_broker, _series(code, [22.5, 22.9], start=start + timedelta(seconds=5), seq0=5))
            wait_for(lambda: _alarms(adsn, sid)[0]["returned_at"] is not None, what="return to normal")
        wait_for(lambda: "alarm.raised" in listen.kinds(), 10, "alarm.raised on the channel")
    finally:
        listen.close()
    (a,) = _alarms(adsn, sid)
    assert (a["rule"], a["kind"], a["level"], a["state"]) == ("high", "process", "orange", "raised")
    assert a["raised_at"] == start + timedelta(seconds=3) and a["value"] == 24 and a["peak_value"] == 27
    assert a["threshold"] == 25 and a["enterprise_id"] == aworld.ids["E1"] and a["adcode"] == "330211"
    assert a["returned_at"] == start + timedelta(seconds=5)  # 22.5 < 25 - 2; still raised (not acknowledged)
    with psycopg.connect(adsn) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM alarm_transitions WHERE alarm_id = %s ORDER BY id",
                                              (a["id"],))]
        audited = conn.execute("SELECT count(*) FROM audit_log WHERE table_name = 'alarms' AND row_key = %s",
                               (str(a["id"]),)).fetchone()[0]
    assert actions == ["raised", "returned"] and audited >= 2


def test_rate_flatline_out_of_range_and_offline(mqtt_broker, aworld, aowner, adsn):
    rate_id, rate = make_sensor(aowner, "H1", aworld, threshold_high=None, rate_limit=5)
    flat_id, flat = make_sensor(aowner, "H1", aworld, threshold_high=None)
    rng_id, rng = make_sensor(aowner, "H1", aworld, threshold_high=None, range_min=0, range_max=100)
    off_id, off = make_sensor(aowner, "H1", aworld, interval_s=1)
    late_id, late = make_sensor(aowner, "H1", aworld, interval_s=30)  # replays readings 10 minutes old
    start = datetime.now(CST).replace(microsecond=0) - timedelta(seconds=20)  # offline: interval 1 s × 2 only
    with ThreadWorker(mqtt_broker, adsn, "a-health", alarm_flatline_n=4, alarm_check_s=0.2,
                      alarm_offline_factor=2):
        publish_all(mqtt_broker, _series(rate, [10, 12, 20, 21], start=start)
                    + _series(flat, [7, 7, 7, 7, 7], start=start)
                    + _series(rng, [50, 140], start=start)
                    + _series(off, [1], start=start)
                    + _series(late, [1, 2, 3], start=start - timedelta(minutes=10)))
        wait_for(lambda: [a["rule"] for a in _alarms(adsn, rate_id)] == ["rate"], what="rate alarm")
        wait_for(lambda: [a["rule"] for a in _alarms(adsn, flat_id)] == ["flatline"], what="flatline alarm")
        wait_for(lambda: [a["rule"] for a in _alarms(adsn, rng_id)] == ["out_of_range"], what="out of range")
        wait_for(lambda: [a["rule"] for a in _alarms(adsn, off_id)] == ["offline"], what="offline alarm")
        publish_all(mqtt_broker, _series(off, [2], start=datetime.now(CST), seq0=1))
        wait_for(lambda: _alarms(adsn, off_id)[0]["returned_at"] is not None, what="offline sensor back")
    (r,) = _alarms(adsn, rate_id)
    assert r["level"] == "yellow" and r["kind"] == "process" and r["peak_value"] == 8 and r["threshold"] == 5
    assert r["raised_at"] == start + timedelta(seconds=2)
    for sensor in (flat_id, rng_id, off_id):
        (a,) = _alarms(adsn, sensor)
        assert (a["kind"], a["level"]) == ("health", "blue")
    assert len(_alarms(adsn, off_id)) == 1  # the periodic pass does not raise it twice
    # offline is judged by arrival, not by the readings' own (old) timestamps: the replaying sensor reports
    assert _alarms(adsn, late_id) == []


def test_new_thresholds_apply_from_the_next_reading(mqtt_broker, aworld, aowner, adsn):
    """The register changes a threshold while the worker runs: the worker reloads within a second or so,
    not at its 60-s refresh (the sensors' data version)."""
    sid, code = make_sensor(aowner, "H1", aworld, threshold_high=25)
    start = datetime.now(CST).replace(microsecond=0) - timedelta(seconds=30)
    with ThreadWorker(mqtt_broker, adsn, "a-retune"):
        publish_all(mqtt_broker, _series(code, [10], start=start))
        wait_for(lambda: rows_of(adsn, sid)[0] == 1, what="the first reading")
        with aowner.begin() as conn:
            conn.execute(text("UPDATE sensors SET threshold_high = 5 WHERE id = :i"), {"i": sid})
        time.sleep(1.5)  # the worker asks for the register's version once a second
        publish_all(mqtt_broker, _series(code, [10], start=start + timedelta(seconds=1), seq0=1))
        wait_for(lambda: [a["rule"] for a in _alarms(adsn, sid)] == ["high"], 10, "the high alarm at the new threshold")
    (a,) = _alarms(adsn, sid)
    assert a["threshold"] == 5 and a["value"] == 10


def test_a_site_replaying_its_buffer_is_not_offline(mqtt_broker, aworld, aowner, adsn):
    """Its newest reading stays put while older ones arrive: still heard from, so never offline (migration 0018)."""
    sid, code = make_sensor(aowner, "H1", aworld, interval_s=1)
    silent_id, silent = make_sensor(aowner, "H1", aworld, interval_s=1)
    now = datetime.now(CST).replace(microsecond=0)
    with ThreadWorker(mqtt_broker, adsn, "a-replay", alarm_check_s=0.2, alarm_offline_factor=2):
        publish_all(mqtt_broker, _series(code, [1], start=now) + _series(silent, [1], start=now))
        wait_for(lambda: rows_of(adsn, sid)[0] == 1, what="the newest reading")
        # 4 s of the buffer, one older reading every 0.4 s: longer than the 2 s offline window
        for i in range(10):
            publish_all(mqtt_broker, _series(code, [i + 2], start=now - timedelta(minutes=30) + timedelta(seconds=i),
                                             seq0=100 + i))
            time.sleep(0.4)
        wait_for(lambda: rows_of(adsn, sid)[0] == 11, what="the replayed readings")
        wait_for(lambda: [a["rule"] for a in _alarms(adsn, silent_id)] == ["offline"], what="the silent one offline")
    assert _alarms(adsn, sid) == []
    with psycopg.connect(adsn) as conn:
        ts, received, heard = conn.execute("SELECT ts, received_at, heard_at FROM sensor_latest WHERE sensor_id = %s",
                                           (sid,)).fetchone()
    assert ts == now and heard > received  # the newest reading kept; heard from since


# ---------------------------------------------------------------------------- lifecycle over HTTP


def test_lifecycle_roles_jurisdiction_and_illegal_moves(aclient, aworld, aowner, adsn):
    sid, _ = make_sensor(aowner, "H1", aworld)
    aid = _raise(adsn, sid)
    c, as_ = aclient, aclient.as_
    r = c.get(f"/alarms/{aid}", headers=as_["ent"])
    assert r.status_code == 200 and r.json()["geometry"]["type"] == "Point" and r.json()["state"] == "raised"
    assert r.json()["moves"] == ["acknowledged", "handled"] and r.json()["history"][0]["action"] == "raised"
    assert c.get(f"/alarms/{aid}", headers=as_["xihu"]).status_code == 404
    assert c.post(f"/alarms/{aid}/transitions", json={"to": "acknowledged"}, headers=as_["xihu"]).status_code == 404
    assert c.post(f"/alarms/{aid}/transitions", json={"to": "acknowledged"}).status_code in (401, 403)
    listed = c.get("/alarms", params={"state": "raised", "limit": 1}, headers=as_["zhenhai"]).json()
    assert listed["count"] >= 1 and len(listed["data"]) == 1
    assert all(a["adcode"] == "330106" for a in c.get("/alarms", headers=as_["xihu"]).json()["data"])
    before = _alarms(adsn, sid)
    for body, field in (({"to": "handled"}, "reason"), ({"to": "handled", "reason": "oops"}, "reason"),
                        ({"to": "gone"}, "to"), ({"to": "acknowledged", "reason": "process"}, "reason"),
                        ([], "body"), ({"to": "acknowledged", "note": "x" * 4001}, "note")):
        r = c.post(f"/alarms/{aid}/transitions", json=body, headers=as_["ent"])
        assert r.status_code == 422 and field in r.text, (body, r.text)
    r = c.post(f"/alarms/{aid}/transitions", json={"to": "cleared"}, headers=as_["ent"])
    assert r.status_code == 409 and "acknowledged" in r.text
    assert _alarms(adsn, sid) == before  # refusals leave the alarm unchanged
    r = c.post(f"/alarms/{aid}/transitions", json={"to": "acknowledged", "note": "看到了"}, headers=as_["ent"])
    assert r.status_code == 201, r.text
    assert r.json()["alarm"]["acknowledged_by"] == "w.ent"
    r = c.post(f"/alarms/{aid}/transitions", json={"to": "handled", "reason": "sensor_fault"},
               headers=as_["zhenhai"])
    assert r.status_code == 201 and r.json()["alarm"]["reason"] == "sensor_fault"
    r = c.post(f"/alarms/{aid}/transitions", json={"to": "cleared"}, headers=as_["ningbo"])
    assert r.status_code == 201 and r.json()["alarm"]["state"] == "cleared"
    r = c.post(f"/alarms/{aid}/transitions", json={"to": "acknowledged"}, headers=as_["ent"])
    assert r.status_code == 409
    h = c.get(f"/alarms/{aid}/history", headers=as_["province"]).json()
    assert [(x["action"], x["actor_role"]) for x in h["data"]] == [
        ("raised", "system"), ("acknowledged", "enterprise"), ("handled", "county"), ("cleared", "city")]
    bad = c.get("/alarms", params={"state": "nope"}, headers=as_["ent"])
    assert bad.status_code == 400 and "state" in bad.text  # query parameters: 400, as everywhere


def test_the_app_role_cannot_move_an_alarm_around_the_workflow(aworld, aowner, adsn):
    sid, _ = make_sensor(aowner, "H1", aworld)
    aid = _raise(adsn, sid)
    engine = make_engine(aworld.db.app_url)
    try:
        with engine.connect() as conn:
            apply_context(conn, RequestContext(role="county", jurisdiction="330211", actor="x"))
            with pytest.raises(Exception, match="transitions"):
                conn.execute(text("UPDATE alarms SET state = 'cleared', cleared_at = now() WHERE id = :i"),
                             {"i": aid})
            conn.rollback()
    finally:
        engine.dispose()
    assert _alarms(adsn, sid)[0]["state"] == "raised"


def test_two_acknowledgements_at_once_one_wins(aworld, aowner, adsn):
    sid, _ = make_sensor(aowner, "H1", aworld)
    aid = _raise(adsn, sid)
    engine = make_engine(aworld.db.app_url)
    results: list[str] = []
    ctx = RequestContext(role="county", jurisdiction="330211", actor="a.one")
    try:
        first = engine.connect()
        apply_context(first, ctx)
        transition(first, alarm_id=aid, payload={"to": "acknowledged"}, ctx=ctx)  # holds the row lock

        def second():
            with engine.connect() as conn:
                c2 = RequestContext(role="county", jurisdiction="330211", actor="a.two")
                apply_context(conn, c2)
                try:
                    transition(conn, alarm_id=aid, payload={"to": "acknowledged"}, ctx=c2)
                    conn.commit()
                    results.append("201")
                except IllegalTransition:
                    results.append("409")

        t = threading.Thread(target=second)
        t.start()
        t.join(0.5)
        assert t.is_alive()  # waiting for the lock
        first.commit()
        first.close()
        t.join(10)
    finally:
        engine.dispose()
    assert results == ["409"]
    assert _alarms(adsn, sid)[0]["acknowledged_by"] == "a.one"


def test_unacknowledged_alarms_escalate_and_acknowledged_returned_ones_clear(aworld, aowner, adsn):
    sid, _ = make_sensor(aowner, "H1", aworld)
    red = _raise(adsn, sid, rule="high_high", level="red", value=60)
    sid2, _ = make_sensor(aowner, "H1", aworld)
    acked = _raise(adsn, sid2)
    with psycopg.connect(adsn) as conn:
        conn.execute("UPDATE alarms SET created_at = now() - interval '61 seconds' WHERE id = %s", (red,))
        conn.execute("UPDATE alarms SET state = 'acknowledged', acknowledged_at = now(), returned_at = now() "
                     "WHERE id = %s", (acked,))
    engine = AlarmEngine(TelemetrySettings(alarm_escalate_red_s=60))
    with psycopg.connect(adsn) as conn:
        engine.periodic(conn)
    a = _alarms(adsn, sid)[0]
    assert a["escalation_level"] == "county" and a["escalated_at"] is not None
    with psycopg.connect(adsn) as conn:
        conn.execute("UPDATE alarms SET created_at = now() - interval '200 seconds' WHERE id = %s", (red,))
        engine.periodic(conn)
        engine.periodic(conn)  # once at the city, it stays there
        actions = [r[0] for r in conn.execute("SELECT action FROM alarm_transitions WHERE alarm_id = %s ORDER BY id",
                                              (red,))]
    assert _alarms(adsn, sid)[0]["escalation_level"] == "city"
    assert actions == ["raised", "escalated", "escalated"]
    assert _alarms(adsn, sid2)[0]["state"] == "cleared"


# ---------------------------------------------------------------------------- KPIs


def test_kpis_on_a_hand_made_set(aclient, aworld, aowner, adsn):
    day0 = datetime(2026, 1, 10, tzinfo=UTC)
    sid, _ = make_sensor(aowner, "H3", aworld, interval_s=3600)  # Xihu, E3: nobody else's alarms there in January
    with psycopg.connect(adsn) as conn:
        conn.execute("UPDATE sensors SET created_at = %s WHERE id = %s", (day0 - timedelta(days=30), sid))
        for h in range(0, 48, 2):  # 24 of the 48 hourly readings of two days
            conn.execute("INSERT INTO readings (sensor_id, ts, seq, value, source) VALUES (%s, %s, %s, 1, 'mqtt')",
                         (sid, day0 + timedelta(hours=h), h))
    ids = []
    for i in range(4):  # 4 alarms in 2 days: 2/day
        t = day0 + timedelta(hours=6 + i)
        ids.append(_raise(adsn, sid, rule=["high", "low", "high_high", "flatline"][i],
                          level=["orange", "yellow", "red", "blue"][i], raised_at=t, created_at=t))
    with psycopg.connect(adsn) as conn:
        for aid, ack_after_s, reason in ((ids[0], 60, "false_alarm"), (ids[1], 5000, "process"),
                                         (ids[2], 10, None)):
            conn.execute("UPDATE alarms SET state = %s, acknowledged_at = created_at + make_interval(secs => %s), "
                         "reason = %s, handled_at = CASE WHEN %s::text IS NULL THEN NULL ELSE now() END "
                         "WHERE id = %s", ("handled" if reason else "acknowledged", ack_after_s, reason, reason, aid))
    r = aclient.get("/stats/alarms", params={"from": day0.isoformat(), "to": (day0 + timedelta(days=2)).isoformat(),
                                             "level": "enterprise", "adcode": "330106"},
                    headers=aclient.as_["xihu"])
    assert r.status_code == 200, r.text
    (row,) = [d for d in r.json()["data"] if d["key"] == str(aworld.ids["E3"])]
    assert row["alarms"] == 4 and row["alarms_per_day"] == 2.0
    assert row["acknowledged_in_time_share"] == 0.5  # 60 s < 900 s (orange), 10 s < 300 s (red); 5000 s > 1800 s
    assert row["false_alarm_share"] == 0.5
    assert row["readings_received"] == 24 and row["completeness"] == 0.5
    bad = aclient.get("/stats/alarms", params={"from": "2026-01-10T00:00:00"}, headers=aclient.as_["xihu"])
    assert bad.status_code == 422 and "from" in bad.text
    lv = aclient.get("/alarms/enterprise-levels", headers=aclient.as_["xihu"]).json()
    assert {"enterprise_id": aworld.ids["E3"], "level": "red", "open": 4} in lv["data"]  # none cleared


# ---------------------------------------------------------------------------- alarm → release scenario


def test_a_toxic_gas_alarm_starts_one_release_scenario(mqtt_broker, aworld, aowner, adsn):
    sid, code = make_sensor(aowner, "H1", aworld, kind="toxic_gas", unit="ppm", threshold_high=1,
                            threshold_high_high=10)  # no chemical of its own: the unit's chlorine
    start = datetime.now(CST).replace(microsecond=0) - timedelta(seconds=20)
    listen = Notifications(adsn)
    try:  # the weather feed is down (a closed loopback port): the default weather is used
        with ThreadWorker(mqtt_broker, adsn, "a-scn", alarm_check_s=0.2, weather_url="http://127.0.0.1:9/"):
            publish_all(mqtt_broker, _series(code, [0.5, 3, 12], start=start))
            wait_for(lambda: len(_alarms(adsn, sid)) == 2 and all(a["scenario_id"] for a in _alarms(adsn, sid)),
                     60, "both alarms' scenarios")
            wait_for(lambda: any(p.get("t") == "scenarios" and p["k"] == "scenario.created" for _, p in listen.got),
                     10, "scenario.created on the channel")
    finally:
        listen.close()
    alarms = _alarms(adsn, sid)
    assert sorted(a["rule"] for a in alarms) == ["high", "high_high"]
    assert len({a["scenario_id"] for a in alarms}) == 1  # one excursion, one scenario: the high-high alarm's
    hh, high = (next(a for a in alarms if a["rule"] == r) for r in ("high_high", "high"))
    with psycopg.connect(adsn) as conn:
        title, chem, created_by, result, params = conn.execute(
            "SELECT title, chemical, created_by, result, params FROM scenarios WHERE id = %s",
            (hh["scenario_id"],)).fetchone()
        made = conn.execute("SELECT count(*) FROM scenarios WHERE created_by = 'system:alarm' AND title LIKE %s",
                            (f"%#{high['id']} %",)).fetchone()[0]
    assert chem == "chlorine" and created_by == "system:alarm" and f"#{hh['id']} " in title and made == 0
    assert result["features"] and params["weather"]["stability"] == "D" and params["weather"]["wind_speed_m_s"] == 3
    assert "25 mm hole" in hh["scenario_note"] and "weather default" in hh["scenario_note"]
    assert high["scenario_note"].startswith(f"same excursion as alarm #{hh['id']}")


# ---------------------------------------------------------------------------- the map layer


def test_the_alarm_layer_shows_open_alarms_where_they_are(aclient, aworld, aowner, adsn):
    import mapbox_vector_tile

    from tests.test_tiles_api import tile_of

    sid, _ = make_sensor(aowner, "H1", aworld)
    aid = _raise(adsn, sid, rule="high_high", level="red", value=99)
    with psycopg.connect(adsn) as conn:
        lon, lat = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM alarms WHERE id = %s", (aid,)).fetchone()
    z, x, y = tile_of(lon, lat, 14)

    def feats(who: str) -> dict:
        r = aclient.get(f"/tiles/alarms/{z}/{x}/{y}.mvt", headers=aclient.as_[who])
        assert r.status_code == 200, r.text
        layer = mapbox_vector_tile.decode(r.content).get("alarms", {"features": []})
        return {f["id"]: f["properties"] for f in layer["features"]}

    assert feats("zhenhai")[aid]["level"] == "red" and feats("zhenhai")[aid]["state"] == "raised"
    assert aid not in feats("xihu") and aid not in feats("public")
    layers = {layer["name"]: layer for layer in aclient.get("/layers").json()["data"]}
    assert [e["value"] for e in layers["alarms"]["legend"]] == ["red", "orange", "yellow", "blue", None]
    assert layers["alarms"]["title"]["zh"] == "实时报警"
    assert {f["name"]: f.get("format") for f in layers["alarms"]["fields"]}["raised_at"] == "date-time"
    with psycopg.connect(adsn) as conn:  # cleared alarms leave the map
        conn.execute("UPDATE alarms SET state = 'cleared', cleared_at = now() WHERE id = %s", (aid,))
    assert aid not in feats("zhenhai")


def test_the_sensor_layer_colours_each_sensor_by_its_worst_open_alarm(aclient, aworld, aowner, adsn):
    import mapbox_vector_tile

    from tests.test_tiles_api import tile_of

    quiet, _ = make_sensor(aowner, "H1", aworld)
    normal, _ = make_sensor(aowner, "H1", aworld)
    alarming, _ = make_sensor(aowner, "H1", aworld)
    with psycopg.connect(adsn) as conn:
        conn.execute("INSERT INTO sensor_latest (sensor_id, ts, seq, value, quality, received_at) "
                     "SELECT id, now(), 1, 12.5, 'good', now() FROM sensors WHERE id = ANY(%s)",
                     ([normal, alarming],))
    _raise(adsn, alarming, rule="offline", level="blue", value=400)
    _raise(adsn, alarming, rule="high_high", level="red", value=99)
    with psycopg.connect(adsn) as conn:
        lon, lat = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM sensors WHERE id = %s", (quiet,)).fetchone()
    z, x, y = tile_of(lon, lat, 14)

    def feats(who: str) -> dict:
        r = aclient.get(f"/tiles/sensors/{z}/{x}/{y}.mvt", headers=aclient.as_[who])
        assert r.status_code == 200, r.text
        layer = mapbox_vector_tile.decode(r.content).get("sensors", {"features": []})
        return {f["id"]: f["properties"] for f in layer["features"]}

    seen = feats("zhenhai")
    assert seen[quiet]["status"] == "no_data" and "latest_value" not in seen[quiet]
    assert (seen[normal]["status"], seen[normal]["latest_value"]) == ("normal", 12.5)
    assert (seen[alarming]["status"], seen[alarming]["open_alarms"]) == ("red", 2)
    assert quiet not in feats("xihu") and quiet not in feats("public")  # another county; not public
    layers = {layer["name"]: layer for layer in aclient.get("/layers").json()["data"]}
    assert [e["value"] for e in layers["sensors"]["legend"]] == ["red", "orange", "yellow", "blue", "normal",
                                                                  "no_data"]
    with psycopg.connect(adsn) as conn:  # the red alarm cleared: the offline one (blue) is now the worst
        conn.execute("UPDATE alarms SET state = 'cleared', cleared_at = now() WHERE sensor_id = %s "
                     "AND rule = 'high_high'", (alarming,))
    assert feats("zhenhai")[alarming]["status"] == "blue"
