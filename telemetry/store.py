"""Readings in PostgreSQL: sensor look-up, batched writes, partitions, time series.

Functions take a psycopg :class:`~psycopg.Connection` and never commit: the
caller owns the transaction (the ingest worker commits each batch before it
acknowledges; the HTTP route commits its request). The same functions run as
the owner role (worker) and as the app role under row-level security (HTTP).

Batches go through ``COPY`` into a temporary table and one
``INSERT … SELECT … ON CONFLICT (sensor_id, ts) DO NOTHING`` (rows already
stored — a redelivery — are counted as duplicates, not errors), then one
upsert of ``sensor_latest`` (only where the new reading is newer) and
``onemap_sensor_latest_bump()`` once. Rejects are plain multi-row INSERTs
(PostgreSQL refuses ``COPY FROM`` into a table under row-level security).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import psycopg

from telemetry.payloads import Reject, SensorInfo

__all__ = ["Row", "WriteSummary", "lookup_sensors", "write_batch", "ensure_partitions", "readings_between",
           "PARTITION_TZ",
           "latest_of", "PARTITION_DAYS_BEHIND", "PARTITION_DAYS_AHEAD"]

PARTITION_TZ = timezone(timedelta(hours=8))  # a partition is a China Standard Time day (migration 0013)
PARTITION_DAYS_BEHIND = 1
PARTITION_DAYS_AHEAD = 7

_TEMP = """CREATE TEMP TABLE IF NOT EXISTS onemap_readings_in (
  sensor_id bigint, ts timestamptz, seq bigint, value double precision, quality text, received_at timestamptz
) ON COMMIT DELETE ROWS"""
_INSERT = """INSERT INTO readings (sensor_id, ts, seq, value, quality, received_at, source)
SELECT sensor_id, ts, seq, value, quality, received_at, %s FROM onemap_readings_in
ON CONFLICT (sensor_id, ts) DO NOTHING"""
# the newest reading per sensor moves only forward; heard_at (migration 0018) moves with any reading that arrives
_LATEST = """INSERT INTO sensor_latest AS l (sensor_id, ts, seq, value, quality, received_at, heard_at)
SELECT DISTINCT ON (sensor_id) sensor_id, ts, seq, value, quality, received_at,
  max(received_at) OVER (PARTITION BY sensor_id)
FROM onemap_readings_in ORDER BY sensor_id, ts DESC, received_at DESC
ON CONFLICT (sensor_id) DO UPDATE SET
  ts = CASE WHEN l.ts < EXCLUDED.ts THEN EXCLUDED.ts ELSE l.ts END,
  seq = CASE WHEN l.ts < EXCLUDED.ts THEN EXCLUDED.seq ELSE l.seq END,
  value = CASE WHEN l.ts < EXCLUDED.ts THEN EXCLUDED.value ELSE l.value END,
  quality = CASE WHEN l.ts < EXCLUDED.ts THEN EXCLUDED.quality ELSE l.quality END,
  received_at = CASE WHEN l.ts < EXCLUDED.ts THEN EXCLUDED.received_at ELSE l.received_at END,
  heard_at = greatest(l.heard_at, EXCLUDED.heard_at)
WHERE l.ts < EXCLUDED.ts OR l.heard_at < EXCLUDED.heard_at"""
_REJECT = """INSERT INTO reading_rejects (received_at, source, topic, sensor_code, sensor_id, field, reason,
  payload_bytes, payload_excerpt) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"""


@dataclass(frozen=True)
class Row:
    """A reading ready to store (its sensor resolved and checked)."""

    sensor_id: int
    ts: datetime
    seq: int
    value: float
    quality: str
    received_at: datetime


@dataclass(frozen=True)
class WriteSummary:
    """What one batch did: rows stored, duplicates absorbed, latest values moved, rejects recorded."""

    inserted: int
    duplicates: int
    latest: int
    rejected: int


def lookup_sensors(conn: psycopg.Connection, codes: Iterable[str] | None = None) -> dict[str, SensorInfo]:
    """Sensors by code (all when ``codes`` is None); under RLS only those the context may see."""
    q = "SELECT id, code, kind, unit, status, range_min, range_max FROM sensors"
    params: tuple = ()
    if codes is not None:
        codes = sorted(set(codes))
        if not codes:
            return {}
        q += " WHERE code = ANY(%s)"
        params = (codes,)
    with conn.cursor() as cur:
        cur.execute(q, params)
        return {r[1]: SensorInfo(*r) for r in cur.fetchall()}


def _clip(text: str | None, n: int) -> str | None:
    return None if text is None else text.replace("\x00", "")[:n]


def write_batch(conn: psycopg.Connection, rows: Sequence[Row], rejects: Sequence[tuple[Reject, int | None]],
                *, source: str, received_at: datetime) -> WriteSummary:
    """Store ``rows`` (deduplicated on (sensor, ts)) and ``rejects`` ((reject, sensor id or None)); no commit."""
    inserted = latest = 0
    with conn.cursor() as cur:
        if rows:
            cur.execute(_TEMP)
            with cur.copy("COPY onemap_readings_in (sensor_id, ts, seq, value, quality, received_at) "
                          "FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "timestamptz", "int8", "float8", "text", "timestamptz"])
                for r in rows:
                    copy.write_row((r.sensor_id, r.ts, r.seq, r.value, r.quality, r.received_at))
            cur.execute(_INSERT, (source,))
            inserted = cur.rowcount
            cur.execute(_LATEST)
            latest = cur.rowcount
            if latest:
                cur.execute("SELECT onemap_sensor_latest_bump()")
            cur.execute("TRUNCATE onemap_readings_in")  # the next batch of this transaction starts empty
        if rejects:
            cur.executemany(_REJECT, [
                (received_at, source, _clip(r.topic, 300), _clip(r.sensor_code, 100), sid, _clip(r.field, 100) or "?",
                 _clip(r.reason, 500) or "?", max(0, r.payload_bytes), _clip(r.excerpt, 512))
                for r, sid in rejects])
    return WriteSummary(inserted, len(rows) - inserted, latest, len(rejects))


def ensure_partitions(conn: psycopg.Connection, today: date, *, behind: int = PARTITION_DAYS_BEHIND,
                      ahead: int = PARTITION_DAYS_AHEAD) -> int:
    """Create the missing daily partitions from ``today - behind`` to ``today + ahead``; how many were made."""
    with conn.cursor() as cur:
        cur.execute("SELECT onemap_readings_ensure_partitions(%s, %s)",
                    (today - timedelta(days=behind), today + timedelta(days=ahead)))
        return int(cur.fetchone()[0])


def readings_between(conn: psycopg.Connection, *, sensor_id: int, start: datetime, end: datetime,
                     limit: int) -> list[dict]:
    """A sensor's readings with ``start <= ts < end``, oldest first, at most ``limit``."""
    with conn.cursor() as cur:
        cur.execute("SELECT ts, seq, value, quality, received_at, source FROM readings "
                    "WHERE sensor_id = %s AND ts >= %s AND ts < %s ORDER BY ts LIMIT %s",
                    (sensor_id, start, end, limit))
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def latest_of(conn: psycopg.Connection, *, sensor_id: int) -> dict | None:
    """The newest reading of a sensor, or None."""
    with conn.cursor() as cur:
        cur.execute("SELECT ts, seq, value, quality, received_at FROM sensor_latest WHERE sensor_id = %s",
                    (sensor_id,))
        row = cur.fetchone()
        return None if row is None else dict(zip([d.name for d in cur.description], row, strict=True))
