"""The ingest worker (``onemap telemetry ingest``): MQTT v5 → PostgreSQL, nothing lost, nothing doubled.

* paho-mqtt 2 client, ``protocol=MQTTv5``, a fixed client id, ``clean_start=False``
  and a Session Expiry Interval (1 day): the broker keeps the subscription and
  queues QoS 1 messages while the worker is away.
* Subscribes ``onemap/v1/readings/+`` at QoS 1 with **manual acknowledgement**:
  a PUBACK goes out only after the batch holding the message is committed. A
  crash before the commit means redelivery; a crash between commit and PUBACK
  means redelivery of stored readings, which ``ON CONFLICT DO NOTHING`` absorbs.
  Messages received on an earlier connection are not acknowledged on a later
  one (packet ids are reused): the broker redelivers them instead.
* Receive Maximum (``ONEMAP_INGEST_INFLIGHT``) bounds what the broker sends
  unacknowledged; batches of up to ``ONEMAP_INGEST_BATCH`` readings or
  ``ONEMAP_INGEST_BATCH_MS`` ms go through COPY (:mod:`telemetry.store`).
* Broker gone: paho reconnects by itself (1-5 s back-off). Database gone: the
  batch is kept, nothing is acknowledged (so the broker stops sending at the
  Receive Maximum and queues the rest), retried with back-off up to 10 s; the
  status file says ``database.ok: false`` meanwhile.
* Bad messages never stop the worker: every refusal is a ``reading_rejects``
  row. A batch the database refuses for another reason is retried message by
  message; a message that still fails becomes a reject naming the error.
* Daily partitions are made ahead at start and every hour.
* Alarms (:mod:`telemetry.alarms`): evaluated for every batch inside its
  transaction (an alarm commits with the reading that raised it); every
  ``ONEMAP_ALARM_CHECK_S`` seconds a periodic pass looks for offline sensors,
  escalates unacknowledged alarms and starts the release scenario of a
  toxic-gas alarm (:mod:`telemetry.alarm_scenarios`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from telemetry.alarm_scenarios import start_pending
from telemetry.alarms import AlarmEngine
from telemetry.health import write_status
from telemetry.payloads import TOPIC_FILTER, Parsed, Reject, SensorInfo, parse_message
from telemetry.retention import prune
from telemetry.service import resolve
from telemetry.settings import TelemetrySettings
from telemetry.store import PARTITION_TZ, ensure_partitions, lookup_sensors, write_batch

__all__ = ["IngestWorker", "Message", "IngestCounters"]

log = logging.getLogger("onemap.telemetry.ingest")
_PARTITION_EVERY_S = 3600.0
_SENSOR_REFRESH_S = 60.0
_SENSOR_VERSION_EVERY_S = 1.0  # how often the worker asks whether the sensor register changed
_UNKNOWN_RETRY_S = 5.0


@dataclass(frozen=True)
class Message:
    """One received MQTT message, not yet acknowledged."""

    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime


@dataclass
class IngestCounters:
    """Running totals since the worker started."""

    messages: int = 0
    committed: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0


class IngestWorker:
    """Run with :meth:`run` until ``stop`` is set; thread-safe to observe through :meth:`status`."""

    def __init__(self, settings: TelemetrySettings, dsn: str, *, status_file: Path | None = None,
                 progress: Callable[[IngestCounters, int], None] | None = None, progress_every: int = 10_000
                 ) -> None:
        self.settings = settings
        self.dsn = dsn
        self.status_file = status_file
        self.progress = progress
        self.progress_every = progress_every
        self.counters = IngestCounters()
        self.host, self.port = settings.broker_address
        self._pending: deque[Message] = deque()
        self._cond = threading.Condition()
        self._generation = 0
        self._connected = False
        self._db: psycopg.Connection | None = None
        self._db_ok = False
        self._db_error: str | None = None
        self._sensors: dict[str, SensorInfo] = {}
        self._sensors_at = 0.0
        self._version_at = -1e18
        self._sensors_version: int | None = None
        self._unknown_at: dict[str, float] = {}
        self._partitions_at = 0.0
        self._pruning: threading.Thread | None = None
        self._last_commit: datetime | None = None
        self._started = datetime.now(UTC)
        self._status_at = 0.0
        self._reported = 0
        self.subscribed = threading.Event()
        self._exit_after = int(os.environ.get("ONEMAP_INGEST_EXIT_AFTER_COMMITS", "0") or 0)  # fault injection
        self.alarms = AlarmEngine(settings)
        self._scenarios: threading.Thread | None = None
        self.client = self._make_client()

    # --- MQTT ------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.settings.ingest_client_id,
                        protocol=mqtt.MQTTv5, manual_ack=True)
        c.reconnect_delay_set(min_delay=1, max_delay=5)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = lambda *_: self.subscribed.set()
        return c

    def _connect_properties(self) -> Properties:
        p = Properties(PacketTypes.CONNECT)
        p.SessionExpiryInterval = self.settings.ingest_session_expiry_s
        p.ReceiveMaximum = self.settings.ingest_inflight
        return p

    def _on_connect(self, client, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        with self._cond:
            self._generation += 1
            self._connected = True
        client.subscribe(TOPIC_FILTER, qos=1)
        log.info("connected to %s:%s (session present: %s)", self.host, self.port, flags.session_present)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        with self._cond:
            self._connected = False
        self.subscribed.clear()
        log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        m = Message(self._generation, msg.mid, msg.qos, msg.topic, bytes(msg.payload), datetime.now(UTC))
        with self._cond:
            self._pending.append(m)
            self.counters.messages += 1
            if len(self._pending) >= self.settings.ingest_batch:
                self._cond.notify()

    # --- database --------------------------------------------------------------
    def _conn(self) -> psycopg.Connection:
        if self._db is None or self._db.closed:
            self._db = psycopg.connect(self.dsn, connect_timeout=5, application_name="onemap-ingest")
            self._db.execute("SET synchronous_commit = on")
            self._db.commit()
            self._sensors_at = 0.0
        return self._db

    def _drop_conn(self) -> None:
        if self._db is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._db.close()
        self._db = None

    def _maintain(self, conn: psycopg.Connection) -> None:
        now = time.monotonic()
        if now - self._version_at >= _SENSOR_VERSION_EVERY_S:
            # a sensor added, retired or given new thresholds (the register, migration 0004's version):
            # reload at once rather than at the next 60-s refresh
            self._version_at = now
            row = conn.execute("SELECT version FROM data_versions WHERE table_name = 'sensors'").fetchone()
            conn.commit()
            version = None if row is None else int(row[0])
            if version != self._sensors_version:
                if self._sensors_version is not None:
                    log.info("sensor register changed (version %s): reloading sensors and alarm settings", version)
                self._sensors_version = version
                self._sensors_at = 0.0
                self.alarms.invalidate()
        if now - self._partitions_at > _PARTITION_EVERY_S:
            made = ensure_partitions(conn, datetime.now(PARTITION_TZ).date())
            conn.commit()
            self._partitions_at = now
            if made:
                log.info("made %d daily readings partition(s)", made)
            self._start_prune()
        if now - self._sensors_at > _SENSOR_REFRESH_S:
            self._sensors = lookup_sensors(conn)
            conn.commit()
            self._sensors_at = now
            self._unknown_at.clear()

    def _start_prune(self) -> None:
        """Old readings archived and dropped in a thread of its own (a day's COPY must not stall ingest)."""
        retention = self.settings.retention()
        if retention is None or (self._pruning is not None and self._pruning.is_alive()):
            return
        keep_days, archive_dir = retention

        def run() -> None:
            try:
                steps = prune(self.dsn, keep_days=keep_days, archive_dir=archive_dir)
                if steps:
                    log.info("pruned %d step(s), %d readings (kept %d days)", len(steps),
                             sum(st.rows for st in steps), keep_days)
            except Exception:  # logged; the next hour tries again
                log.exception("pruning old readings failed; the partitions stay")

        self._pruning = threading.Thread(target=run, name="onemap-prune", daemon=True)
        self._pruning.start()

    def _sensors_for(self, conn: psycopg.Connection, codes: set[str]) -> dict[str, SensorInfo]:
        now = time.monotonic()
        missing = {c for c in codes - self._sensors.keys() if now - self._unknown_at.get(c, -1e9) > _UNKNOWN_RETRY_S}
        if missing:
            found = lookup_sensors(conn, missing)
            self._sensors.update(found)
            for c in missing - found.keys():
                self._unknown_at[c] = now
        return self._sensors

    # --- the loop ----------------------------------------------------------------
    def _take_batch(self, stop: threading.Event) -> list[Message]:
        limit = self.settings.ingest_batch
        wait_s = self.settings.ingest_batch_ms / 1000
        with self._cond:
            if not self._pending:
                self._cond.wait(timeout=0.5)
            if not self._pending:
                return []
            first_seen = time.monotonic()
            while len(self._pending) < limit and not stop.is_set():
                left = wait_s - (time.monotonic() - first_seen)
                if left <= 0:
                    break
                self._cond.wait(timeout=left)
            return [self._pending.popleft() for _ in range(min(limit, len(self._pending)))]

    def _parse(self, batch: list[Message]) -> list[tuple[Parsed, datetime]]:
        return [(parse_message(m.topic, m.payload, received_at=m.received_at,
                               max_future_s=self.settings.ingest_max_future_s), m.received_at) for m in batch]

    def _commit(self, conn: psycopg.Connection, parsed: list[tuple[Parsed, datetime]]) -> None:
        codes = {r.sensor_code for p, _ in parsed for r in p.readings}
        codes |= {r.sensor_code for p, _ in parsed for r in p.rejects if r.sensor_code}
        resolved = resolve(parsed, self._sensors_for(conn, codes))
        summary = write_batch(conn, resolved.rows, resolved.rejects, source="mqtt", received_at=datetime.now(UTC))
        self.alarms.apply(conn, resolved.rows, resolved.rejects)
        conn.commit()
        self.alarms.committed()
        if self._exit_after and self.counters.batches + 1 >= self._exit_after:
            log.warning("ONEMAP_INGEST_EXIT_AFTER_COMMITS: exiting between commit and acknowledgement")
            os._exit(3)
        self.counters.committed += summary.inserted
        self.counters.duplicates += summary.duplicates
        self.counters.rejected += summary.rejected

    def _store(self, batch: list[Message]) -> None:
        """Commit ``batch`` (retrying while the database is unavailable); return when it is stored."""
        parsed = self._parse(batch)
        delay = 0.5
        while True:
            try:
                conn = self._conn()
                self._maintain(conn)
                try:
                    self._commit(conn, parsed)
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as exc:  # refused by the database: isolate the message(s) at fault
                    conn.rollback()
                    log.warning("batch refused (%s); storing message by message", exc.__class__.__name__)
                    self._store_one_by_one(conn, batch, parsed)
                self._db_ok, self._db_error = True, None
                self._last_commit = datetime.now(UTC)
                return
            except psycopg.OperationalError as exc:
                self._db_ok, self._db_error = False, str(exc).strip().splitlines()[0][:200] if str(exc) else "error"
                self._drop_conn()
                log.warning("database unavailable (%s); holding %d message(s), retry in %.1f s", self._db_error,
                            len(batch), delay)
                self._write_status(force=True, in_hand=len(batch))
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _store_one_by_one(self, conn: psycopg.Connection, batch: list[Message],
                          parsed: list[tuple[Parsed, datetime]]) -> None:
        for m, p in zip(batch, parsed, strict=True):
            try:
                self._commit(conn, [p])
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                conn.rollback()
                code = p[0].readings[0].sensor_code if p[0].readings else None
                rj = Reject("payload", f"refused by the database: {str(exc).splitlines()[0][:300]}", code,
                            m.topic[:300], len(m.payload), None)
                write_batch(conn, [], [(rj, None)], source="mqtt", received_at=datetime.now(UTC))
                conn.commit()
                self.counters.rejected += 1

    def _periodic(self) -> None:
        """The alarms' periodic pass; a failure is logged and retried at the next one."""
        try:
            conn = self._conn()
            self.alarms.periodic(conn)
            if self._scenarios is None or not self._scenarios.is_alive():  # plume runs off the ingest thread
                self._scenarios = threading.Thread(target=self._run_scenarios, name="alarm-scenarios", daemon=True)
                self._scenarios.start()
        except psycopg.OperationalError as exc:
            log.warning("alarm pass skipped: database unavailable (%s)", str(exc).strip().splitlines()[:1])
            self._drop_conn()
        except psycopg.Error:
            log.exception("alarm pass failed")
            with contextlib.suppress(psycopg.Error):
                self._conn().rollback()

    def _run_scenarios(self) -> None:
        try:
            made = start_pending(self.dsn, self.settings)
            if made:
                log.info("stored %d alarm scenario(s)", made)
        except Exception:  # logged; the next pass tries again
            log.exception("alarm scenarios failed")

    def _ack(self, batch: list[Message]) -> None:
        with self._cond:
            gen, connected = self._generation, self._connected
        if not connected:
            return
        for m in batch:
            if m.qos > 0 and m.generation == gen:
                self.client.ack(m.mid, m.qos)

    def status(self, in_hand: int = 0) -> dict[str, Any]:
        """The status written to the status file."""
        c = self.counters
        with self._cond:
            backlog = len(self._pending) + in_hand
            connected = self._connected
        return {"pid": os.getpid(), "client_id": self.settings.ingest_client_id,
                "broker": {"connected": connected, "subscribed": self.subscribed.is_set(), "host": self.host,
                           "port": self.port},
                "database": {"ok": self._db_ok, "error": self._db_error},
                "backlog": backlog, "messages": c.messages, "committed": c.committed, "duplicates": c.duplicates,
                "rejected": c.rejected, "batches": c.batches,
                "last_commit_at": self._last_commit.isoformat() if self._last_commit else None,
                "started_at": self._started.isoformat(), "updated_at": datetime.now(UTC).isoformat()}

    def _write_status(self, *, force: bool = False, in_hand: int = 0) -> None:
        now = time.monotonic()
        if self.status_file is None or (not force and now - self._status_at < 1.0):
            return
        self._status_at = now
        try:
            write_status(self.status_file, self.status(in_hand))
        except OSError as exc:
            log.warning("could not write the status file %s: %s", self.status_file, exc)

    def run(self, stop: threading.Event) -> IngestCounters:
        """Connect, consume and store until ``stop`` is set; then finish the batch in hand and disconnect."""
        try:
            conn = self._conn()
            self._maintain(conn)
            self._db_ok = True
        except psycopg.OperationalError as exc:
            self._db_ok, self._db_error = False, str(exc).strip().splitlines()[0][:200] if str(exc) else "error"
            self._drop_conn()
            log.warning("database unavailable at start (%s): connecting to the broker anyway", self._db_error)
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False,
                                  properties=self._connect_properties())
        self.client.loop_start()
        try:
            while not stop.is_set():
                batch = self._take_batch(stop)
                if batch:
                    self._store(batch)
                    self._ack(batch)
                    self.counters.batches += 1
                    if self.progress and self.counters.committed - self._reported >= self.progress_every:
                        self._reported = self.counters.committed
                        self.progress(self.counters, len(self._pending))
                if self.alarms.due():
                    self._periodic()
                self._write_status()
            # drain what has arrived, so a clean stop leaves nothing unacknowledged in hand
            while batch := self._take_batch(stop):
                self._store(batch)
                self._ack(batch)
        finally:
            if self._scenarios is not None:
                self._scenarios.join(30)
            time.sleep(0.1)  # let the last PUBACKs leave
            self.client.disconnect()
            self.client.loop_stop()
            self._write_status(force=True)
            self._drop_conn()
        return self.counters
