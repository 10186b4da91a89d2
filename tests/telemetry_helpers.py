"""Shared helpers of the telemetry tests (test_telemetry, test_alarms): sensors, a worker in a thread, publishing."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from itertools import count

import psycopg
from sqlalchemy import text

from telemetry.broker import LocalBroker
from telemetry.ingest import IngestWorker
from telemetry.payloads import topic_for
from telemetry.settings import TelemetrySettings
from telemetry.simulate import publisher

CST = timezone(timedelta(hours=8))
_codes = count(1)


_SENSOR_COLUMNS = ("threshold_low", "threshold_high", "threshold_high_high", "deadband", "min_duration_s",
                   "interval_s", "rate_limit", "range_min", "range_max", "chemical")


def make_sensor(engine, unit_key: str, world, kind="combustible_gas", unit="%LEL", **extra) -> tuple[int, str]:
    """A new sensor on a world hazard unit (H1 Zhenhai/E1 or H3 Xihu/E3); returns (id, code).

    ``extra``: any of :data:`_SENSOR_COLUMNS` (``threshold_high`` defaults to 25).
    """
    code = f"T{next(_codes):04d}-{kind[:3]}"
    values = {"threshold_high": 25, **extra}
    bad = values.keys() - set(_SENSOR_COLUMNS)
    assert not bad, bad
    cols = "".join(f", {c}" for c in values)
    params = "".join(f", :{c}" for c in values)
    with engine.begin() as conn:
        sid = conn.execute(text(
            f"INSERT INTO sensors (code, hazard_unit_id, kind, unit, geom{cols}) "
            f"SELECT :c, h.id, :k, :u, h.geom{params} FROM hazard_units h WHERE h.id = :h RETURNING id"),
            {"c": code, "k": kind, "u": unit, "h": world.ids[unit_key], **values}).scalar_one()
    return sid, code


def rows_of(dsn, sensor_id) -> tuple[int, int]:
    """(rows, distinct seq) stored for a sensor."""
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*), count(DISTINCT seq) FROM readings WHERE sensor_id = %s",
                            (sensor_id,)).fetchone()


def wait_for(predicate, timeout_s=30.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def tsettings(broker: LocalBroker, client_id: str, **kw) -> TelemetrySettings:
    return TelemetrySettings(mqtt_url=f"mqtt://127.0.0.1:{broker.port}", ingest_client_id=client_id,
                             ingest_batch_ms=50, **kw)


class ThreadWorker:
    """An :class:`IngestWorker` in a thread, stopped on exit."""

    def __init__(self, broker, dsn, client_id, **kw):
        self.worker = IngestWorker(tsettings(broker, client_id, **kw), dsn)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop,), daemon=True)

    def __enter__(self):
        self.thread.start()
        assert self.worker.subscribed.wait(15), "worker did not subscribe"
        return self.worker

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def readings_for(code, n, *, start=0, base=None):
    base = base or datetime.now(CST).replace(microsecond=0) - timedelta(minutes=30)
    return [(topic_for(code), json.dumps({"seq": i, "ts": (base + timedelta(milliseconds=i)).isoformat(),
                                          "value": 1.0 + (i % 7)})) for i in range(start, start + n)]


def publish_all(broker, messages, *, client_id=None, pace_per_s: float | None = None):
    c = publisher("127.0.0.1", broker.port, client_id or f"pub-{next(_codes)}")
    try:
        infos = []
        t0 = time.monotonic()
        for i, (topic, body) in enumerate(messages):
            infos.append(c.publish(topic, body, qos=1))
            if pace_per_s and i % 50 == 49:
                pause = t0 + (i + 1) / pace_per_s - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
        for info in infos:
            info.wait_for_publish(30)
    finally:
        c.disconnect()
        c.loop_stop()
