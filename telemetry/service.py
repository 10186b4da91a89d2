"""From parsed readings to rows: the sensor check shared by the MQTT worker and HTTP ingest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from telemetry.payloads import Parsed, Reject, SensorInfo, check_reading, parse_body
from telemetry.store import Row, WriteSummary, lookup_sensors, write_batch

__all__ = ["Resolved", "resolve", "ingest_body", "HttpResult"]


@dataclass
class Resolved:
    """Rows to store and rejects (with the sensor id when the sensor is known)."""

    rows: list[Row] = field(default_factory=list)
    rejects: list[tuple[Reject, int | None]] = field(default_factory=list)


def resolve(parsed: Iterable[tuple[Parsed, datetime]], sensors: dict[str, SensorInfo]) -> Resolved:
    """Check every reading against its sensor; ``parsed`` pairs a message's result with its arrival time."""
    out = Resolved()
    for p, received_at in parsed:
        for rj in p.rejects:
            s = sensors.get(rj.sensor_code) if rj.sensor_code else None
            out.rejects.append((rj, s.id if s else None))
        for r in p.readings:
            s = sensors.get(r.sensor_code)
            bad = check_reading(r, s)
            if bad is not None:
                first = p.rejects[0] if p.rejects else None
                out.rejects.append((Reject(bad.field, bad.reason, bad.sensor_code,
                                           first.topic if first else None, first.payload_bytes if first else 0,
                                           None), s.id if s else None))
                continue
            out.rows.append(Row(s.id, r.ts, r.seq, r.value, r.quality, received_at))
    return out


@dataclass(frozen=True)
class HttpResult:
    """The answer to an HTTP ingest: counts and every reject with its field and reason."""

    summary: WriteSummary
    rejects: list[Reject]

    def as_dict(self) -> dict[str, Any]:
        s = self.summary
        return {"accepted": s.inserted + s.duplicates, "stored": s.inserted, "duplicates": s.duplicates,
                "rejected": s.rejected,
                "rejects": [{"field": r.field, "reason": r.reason, "sensor": r.sensor_code} for r in self.rejects]}


def ingest_body(conn: psycopg.Connection, body: Any, *, max_future_s: float = 300.0) -> HttpResult:
    """Parse, check and store an HTTP ingest body on ``conn`` (the request's transaction; no commit).

    Under row-level security a sensor the caller may not see is an unknown
    sensor; one it may see but not write (a public user, another enterprise)
    is refused by the insert policy, so those are rejected here first.
    """
    now = datetime.now(UTC)
    parsed = parse_body(body, received_at=now, max_future_s=max_future_s)
    codes = {r.sensor_code for r in parsed.readings} | {r.sensor_code for r in parsed.rejects if r.sensor_code}
    sensors = lookup_sensors(conn, codes)
    writable = _writable(conn, [s.id for s in sensors.values()])
    visible_only = {c for c, s in sensors.items() if s.id not in writable}
    resolved = resolve([(parsed, now)], {c: s for c, s in sensors.items() if c not in visible_only})
    summary = write_batch(conn, resolved.rows, resolved.rejects, source="http", received_at=now)
    return HttpResult(summary, [r for r, _ in resolved.rejects])


def _writable(conn: psycopg.Connection, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    with conn.cursor() as cur:
        cur.execute("SELECT s.id FROM sensors s LEFT JOIN hazard_units h ON h.id = s.hazard_unit_id "
                    "WHERE s.id = ANY(%s) AND onemap_may_write(s.adcode, h.enterprise_id)", (ids,))
        return {r[0] for r in cur.fetchall()}
