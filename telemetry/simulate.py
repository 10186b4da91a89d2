"""The simulator (``onemap telemetry simulate``): realistic readings over real MQTT for the demo sensors.

Per kind, in the sensor's unit (numbers are illustrative, not a plant model):

* ``tank_level`` (%): a slow random walk between filling and emptying, 20-80 %;
* ``temperature`` (°C): 18 °C ± 6 °C over the day (warmest at 15:00) plus noise;
* ``pressure`` (MPa): 0.6 MPa ± noise;
* ``combustible_gas`` (%LEL) and ``toxic_gas`` (ppm): near zero, with rare
  excursions (about one per sensor per ``1 / EXCURSION_P`` readings) that climb
  past the sensor's high threshold and decay over ~30 readings.

Faults, so the wall has something to show: a few sensors are **stuck** (the
same value again and again) and every sensor has **dropouts** (a run of
readings never sent: ``seq`` keeps counting, so the gap is visible).

Each reading is one QoS 1 message on ``onemap/v1/readings/{code}``; ``seq``
counts per sensor from ``seq_start``; ``ts`` is the publishing time, in
+08:00, to the microsecond. Deterministic for a given ``seed`` (values; the
timing is the wall clock's).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import paho.mqtt.client as mqtt

from telemetry.payloads import topic_for

__all__ = ["SimSensor", "SimSummary", "Generator", "simulate", "publisher", "demo_sensors"]

CST = timezone(timedelta(hours=8))
EXCURSION_P = 0.0003  # per gas sensor and reading: at 1 Hz one excursion in ~55 min, for 200 demo sensors
# (about 70 of them gas detectors) an alarm every half minute or so: a live wall, not a flickering one
DROPOUT_P = 0.001
STUCK_SHARE = 0.02


@dataclass(frozen=True)
class SimSensor:
    """What the simulator needs of a sensor."""

    code: str
    kind: str
    unit: str
    threshold_high: float | None = None


@dataclass(frozen=True)
class SimSummary:
    """What a run published."""

    sensors: int
    published: int
    dropped: int
    seconds: float

    @property
    def rate(self) -> float:
        """Readings published per second."""
        return self.published / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {"sensors": self.sensors, "published": self.published, "dropped_by_simulated_dropouts": self.dropped,
                "seconds": round(self.seconds, 2), "readings_per_s": round(self.rate, 1)}


class Generator:
    """Values for a set of sensors, one step at a time (numpy, vectorised over sensors)."""

    def __init__(self, sensors: Sequence[SimSensor], seed: int = 0) -> None:
        self.sensors = list(sensors)
        self.rng = np.random.default_rng(seed)
        n = len(self.sensors)
        kinds = np.array([s.kind for s in self.sensors])
        self.kinds = kinds
        self.high = np.array([s.threshold_high if s.threshold_high is not None else
                              (25.0 if s.kind == "combustible_gas" else 10.0) for s in self.sensors], dtype=float)
        self.level = self.rng.uniform(30, 70, n)
        self.trend = self.rng.choice([-1.0, 1.0], n) * self.rng.uniform(0.005, 0.03, n)
        self.gas_peak = np.zeros(n)
        self.stuck = self.rng.random(n) < STUCK_SHARE
        self.stuck_value: np.ndarray | None = None
        self.dropout_left = np.zeros(n, dtype=int)

    def step(self, now: datetime) -> tuple[np.ndarray, np.ndarray]:
        """(values, sent) for this step; ``sent`` False during a dropout."""
        n = len(self.sensors)
        rng = self.rng
        hour = now.astimezone(CST).hour + now.minute / 60
        # tank level: random walk that turns round at 20 % and 80 %
        self.level += self.trend + rng.normal(0, 0.02, n)
        self.trend = np.where((self.level > 80) | (self.level < 20), -self.trend, self.trend)
        self.level = np.clip(self.level, 0, 100)
        temp = 18 + 6 * np.cos(2 * math.pi * (hour - 15) / 24) + rng.normal(0, 0.2, n)
        pressure = 0.6 + rng.normal(0, 0.01, n)
        start = rng.random(n) < EXCURSION_P
        self.gas_peak = np.where(start, self.high * rng.uniform(1.1, 2.5, n), self.gas_peak * 0.9)
        gas = np.abs(rng.normal(0, 0.3, n)) + self.gas_peak
        values = np.select([self.kinds == "tank_level", self.kinds == "temperature", self.kinds == "pressure"],
                           [self.level, temp, pressure], gas)
        values = np.where((self.kinds == "combustible_gas"), np.clip(values, 0, 100), values)
        if self.stuck_value is None:
            self.stuck_value = values.copy()
        values = np.where(self.stuck, self.stuck_value, values)
        starts = (self.dropout_left == 0) & (rng.random(n) < DROPOUT_P)
        self.dropout_left = np.where(starts, rng.integers(5, 60, n), np.maximum(self.dropout_left - 1, 0))
        return np.round(values, 3), self.dropout_left == 0


def publisher(host: str, port: int, client_id: str, *, inflight: int = 1000) -> mqtt.Client:
    """A connected MQTT v5 publishing client with its network loop running."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(inflight)
    c.max_queued_messages_set(0)
    c.connect(host, port, keepalive=30)
    c.loop_start()
    deadline = time.monotonic() + 10
    while not c.is_connected() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not c.is_connected():
        c.loop_stop()
        raise ConnectionError(f"broker {host}:{port}: no connection")
    return c


def simulate(sensors: Sequence[SimSensor], *, host: str, port: int, rate_hz: float, duration_s: float,
             seed: int = 0, seq_start: int = 0, client_id: str = "onemap-simulator",
             progress: Callable[[int, float], None] | None = None) -> SimSummary:
    """Publish ``rate_hz`` readings per second per sensor for ``duration_s`` seconds; wait for every PUBACK."""
    gen = Generator(sensors, seed)
    topics = [topic_for(s.code) for s in sensors]
    seq = np.full(len(sensors), seq_start, dtype=np.int64)
    client = publisher(host, port, client_id)
    published = dropped = 0
    infos: list = []
    t0 = time.monotonic()
    step = 0
    try:
        while True:
            due = t0 + step / rate_hz
            if due - t0 >= duration_s:
                break
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            now = datetime.now(CST)
            values, sent = gen.step(now)
            stamp = now.isoformat(timespec="microseconds")
            for i in range(len(sensors)):
                if sent[i]:
                    body = json.dumps({"seq": int(seq[i]), "ts": stamp, "value": float(values[i])})
                    infos.append(client.publish(topics[i], body, qos=1))
                    published += 1
                else:
                    dropped += 1
            seq += 1
            step += 1
            if len(infos) > 20_000:  # keep memory flat: wait for the oldest acknowledgements
                for info in infos[:10_000]:
                    info.wait_for_publish(30)
                del infos[:10_000]
            if progress:
                progress(published, time.monotonic() - t0)
        for info in infos:
            info.wait_for_publish(60)
    finally:
        client.disconnect()
        client.loop_stop()
    return SimSummary(len(sensors), published, dropped, time.monotonic() - t0)


def demo_sensors(conn, limit: int) -> list[SimSensor]:
    """The first ``limit`` active sensors of the database (SQLAlchemy connection, owner role)."""
    from sqlalchemy import text

    rows = conn.execute(text("SELECT code, kind, unit, threshold_high FROM sensors WHERE status = 'active' "
                             "ORDER BY id LIMIT :n"), {"n": limit}).all()
    return [SimSensor(*r) for r in rows]
