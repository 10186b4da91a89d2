"""Alarms in the database: raised in the ingest worker's batch transaction, and its periodic passes.

:class:`AlarmEngine` is owned by the ingest worker (one thread). For each
batch, :meth:`AlarmEngine.apply` runs the rules of :mod:`telemetry.alarm_rules`
and writes on the batch's connection, before its commit — an alarm is
committed with the reading that caused it, so ``alarm.raised`` reaches
``/events`` as soon as the batch does. It runs inside a savepoint: an error
of the alarm side is logged and never costs a reading. The rule state carried
between batches is taken over only after the commit (:meth:`committed`), so a
batch retried after a database outage is evaluated again.

Return to normal (ISA-18.2 "RTN"): ``returned_at`` is recorded; an alarm
already acknowledged (or handled) is then ``cleared`` by the system; one not
yet acknowledged stays ``raised`` (the operator must still see it), and is
cleared by the next periodic pass after someone acknowledges it. A new
reading that meets the rule again before that un-returns it
(``returned_at`` NULL). Offline and out-of-range alarms return at the next
accepted reading.

:meth:`AlarmEngine.periodic` (every ``ONEMAP_ALARM_CHECK_S`` seconds):
offline sensors (nothing received for ``interval_s × ONEMAP_ALARM_OFFLINE_FACTOR``,
judged by arrival time, ``sensor_latest.heard_at``, not by the readings'
own timestamps: a site replaying buffered old readings is reporting, and
judging by ``ts`` made such a sensor flap offline/returned at every pass;
a sensor that never reported is not offline), escalation of unacknowledged
alarms (:func:`escalate`), clearing of acknowledged alarms that returned to
normal. All as the owner role, written by the triggers of migration 0014
into ``alarm_transitions`` with the actor ``system``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import psycopg

from telemetry.alarm_rules import KIND_OF, LEVELS, Carry, SensorParams, evaluate
from telemetry.payloads import Reject
from telemetry.settings import TelemetrySettings
from telemetry.store import Row

__all__ = ["AlarmEngine", "AlarmSummary", "escalate", "ESCALATION_LEVELS"]

log = logging.getLogger("onemap.telemetry.alarms")
ESCALATION_LEVELS = ("enterprise", "county", "city")
_PARAMS_REFRESH_S = 60.0

_PARAMS = """SELECT id, threshold_low, threshold_high, threshold_high_high, deadband, min_duration_s, rate_limit
FROM sensors WHERE status = 'active' AND valid_to IS NULL"""
_OPEN = """SELECT id, sensor_id, rule, state, returned_at, peak_value FROM alarms
WHERE state <> 'cleared' AND sensor_id = ANY(%s)"""
_INSERT = """INSERT INTO alarms (sensor_id, hazard_unit_id, enterprise_id, adcode, geom, kind, rule, level, raised_at,
  value, threshold, peak_value, returned_at)
SELECT s.id, s.hazard_unit_id, h.enterprise_id, s.adcode, s.geom, x.kind, x.rule, x.level, x.raised_at, x.value,
  x.threshold, x.peak, x.returned_at
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::float8[], %s::float8[],
            %s::float8[], %s::timestamptz[]) AS x(sensor_id, kind, rule, level, raised_at, value, threshold, peak,
                                                  returned_at)
JOIN sensors s ON s.id = x.sensor_id LEFT JOIN hazard_units h ON h.id = s.hazard_unit_id
ON CONFLICT (sensor_id, rule) WHERE state <> 'cleared' DO NOTHING"""
_UPDATE = """UPDATE alarms a SET
  peak_value = CASE WHEN x.peak IS NULL THEN a.peak_value WHEN a.peak_value IS NULL THEN x.peak
                    WHEN a.rule = 'low' THEN least(a.peak_value, x.peak) ELSE greatest(a.peak_value, x.peak) END,
  returned_at = CASE WHEN x.back THEN NULL WHEN x.returned_at IS NOT NULL THEN coalesce(a.returned_at, x.returned_at)
                     ELSE a.returned_at END,
  state = CASE WHEN x.returned_at IS NOT NULL AND a.state IN ('acknowledged', 'handled') THEN 'cleared'
               ELSE a.state END,
  cleared_at = CASE WHEN x.returned_at IS NOT NULL AND a.state IN ('acknowledged', 'handled') THEN now()
                    ELSE a.cleared_at END
FROM unnest(%s::bigint[], %s::float8[], %s::timestamptz[], %s::boolean[]) AS x(id, peak, returned_at, back)
WHERE a.id = x.id AND a.state <> 'cleared'"""
_OFFLINE = """INSERT INTO alarms (sensor_id, hazard_unit_id, enterprise_id, adcode, geom, kind, rule, level, raised_at,
  value, threshold)
SELECT s.id, s.hazard_unit_id, h.enterprise_id, s.adcode, s.geom, 'health', 'offline', 'blue', now(),
  extract(epoch FROM now() - l.heard_at), s.interval_s * %(k)s
FROM sensors s JOIN sensor_latest l ON l.sensor_id = s.id LEFT JOIN hazard_units h ON h.id = s.hazard_unit_id
WHERE s.status = 'active' AND s.valid_to IS NULL
  AND l.heard_at < now() - make_interval(secs => s.interval_s * %(k)s)
ON CONFLICT (sensor_id, rule) WHERE state <> 'cleared' DO NOTHING"""
_OFFLINE_AGAIN = """UPDATE alarms a SET returned_at = NULL FROM sensor_latest l, sensors s
WHERE a.rule = 'offline' AND a.state <> 'cleared' AND a.returned_at IS NOT NULL AND l.sensor_id = a.sensor_id
  AND s.id = a.sensor_id AND l.heard_at < now() - make_interval(secs => s.interval_s * %(k)s)"""
_CLEAR_RETURNED = """UPDATE alarms SET state = 'cleared', cleared_at = now()
WHERE state IN ('acknowledged', 'handled') AND returned_at IS NOT NULL"""
_ESCALATE = """UPDATE alarms a SET escalation_level = x.target, escalated_at = now()
FROM (SELECT a2.id, CASE WHEN now() - a2.created_at >= make_interval(secs => 2 * lim.s) THEN 'city'
                         ELSE 'county' END AS target
      FROM alarms a2 JOIN unnest(%s::text[], %s::float8[]) AS lim(level, s) ON lim.level = a2.level
      WHERE a2.state = 'raised' AND now() - a2.created_at >= make_interval(secs => lim.s)
      FOR UPDATE OF a2 SKIP LOCKED) x
WHERE a.id = x.id AND a.escalation_level IS DISTINCT FROM x.target
  AND array_position(ARRAY['enterprise', 'county', 'city'], x.target)
      > array_position(ARRAY['enterprise', 'county', 'city'], a.escalation_level)"""


@dataclass
class AlarmSummary:
    """What one batch or one periodic pass did to the alarms."""

    raised: int = 0
    updated: int = 0
    offline: int = 0
    escalated: int = 0
    cleared: int = 0


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def escalate(conn: psycopg.Connection, limits_s: dict[str, float]) -> int:
    """Raise the escalation level of alarms still unacknowledged ``limits_s[level]`` seconds after they were raised.

    enterprise → county after the limit, → city after twice the limit
    (by ``created_at``, the database's clock). Locked rows (someone is
    acknowledging) are skipped and looked at again next pass. No commit.
    """
    levels = sorted(limits_s)
    with conn.cursor() as cur:
        cur.execute(_ESCALATE, (levels, [float(limits_s[k]) for k in levels]))
        return cur.rowcount


class AlarmEngine:
    """The alarm side of the ingest worker: rule parameters, carried state, writes."""

    def __init__(self, settings: TelemetrySettings) -> None:
        self.settings = settings
        self.params: dict[int, SensorParams] = {}
        self.carry: dict[int, Carry] = {}
        self._pending: dict[int, Carry] = {}
        self._params_at = -1e18
        self._last_periodic = time.monotonic()

    def invalidate(self) -> None:
        """Re-read the sensors' alarm settings at the next batch (the register changed)."""
        self._params_at = -1e18

    def _refresh(self, conn: psycopg.Connection, ids: set[int]) -> None:
        now = time.monotonic()
        if now - self._params_at < _PARAMS_REFRESH_S and ids <= self.params.keys():
            return
        with conn.cursor() as cur:
            cur.execute(_PARAMS)
            self.params = {r[0]: SensorParams(r[1], r[2], r[3], float(r[4] or 0.0), float(r[5] or 0), r[6])
                           for r in cur.fetchall()}
        self._params_at = now

    def apply(self, conn: psycopg.Connection, rows: Sequence[Row], rejects: Sequence[tuple[Reject, int | None]]
              ) -> AlarmSummary:
        """Evaluate a batch and write its alarms on ``conn`` (savepoint; no commit). Never raises for the alarms."""
        self._pending = {}
        try:
            with conn.transaction():
                return self._apply(conn, rows, rejects)
        except psycopg.OperationalError:
            raise
        except Exception:  # the alarm side must never cost a reading
            log.exception("alarm evaluation failed for a batch of %d reading(s); readings kept", len(rows))
            self._pending = {}
            return AlarmSummary()

    def committed(self) -> None:
        """The batch is committed: its carried rule state becomes the current one."""
        self.carry.update(self._pending)
        self._pending = {}

    def _apply(self, conn, rows, rejects) -> AlarmSummary:
        out = AlarmSummary()
        range_bad = {sid for rj, sid in rejects if sid is not None and rj.field.endswith("value")
                     and "measuring range" in rj.reason}
        ids = {r.sensor_id for r in rows} | range_bad
        if not ids:
            return out
        self._refresh(conn, ids)
        with conn.cursor() as cur:
            cur.execute(_OPEN, (sorted(ids),))
            open_ = {(r[1], r[2]): r for r in cur.fetchall()}
        work: dict[int, Carry] = {}
        for sid in {r.sensor_id for r in rows}:
            c = self.carry[sid].copy() if sid in self.carry else Carry()
            if sid not in self.carry:  # first batch since start: open alarms are taken as "on"
                for (s, rule), a in open_.items():
                    if s == sid and a[4] is None:
                        c.on[rule], c.since[rule] = True, -np.inf
            work[sid] = c
        findings = []
        if rows:
            findings = evaluate(np.fromiter((r.sensor_id for r in rows), np.int64, len(rows)),
                                np.fromiter((r.ts.timestamp() for r in rows), float, len(rows)),
                                np.fromiter((r.value for r in rows), float, len(rows)), self.params, work,
                                flatline_n=self.settings.alarm_flatline_n)
        ins: list[tuple] = []
        upd: dict[int, list] = {}
        for f in findings:
            a = open_.get((f.sensor_id, f.rule))
            if a is None:
                if f.raise_ts is not None:
                    ins.append((f.sensor_id, KIND_OF[f.rule], f.rule, LEVELS[f.rule], _dt(f.raise_ts), f.raise_value,
                                f.threshold, f.peak, None if f.on else _dt(f.normal_ts)))
                continue
            peak = f.peak if f.peak is not None and (a[5] is None or (
                f.peak < a[5] if f.rule == "low" else f.peak > a[5])) else None
            back = f.raise_ts is not None and f.on and a[4] is not None
            ret = _dt(f.normal_ts) if not f.on and a[4] is None else None
            if peak is not None or back or ret is not None:
                upd[a[0]] = [a[0], peak, ret, back]
        now = datetime.now(UTC)
        for sid in range_bad:
            if (sid, "out_of_range") not in open_:
                ins.append((sid, "health", "out_of_range", "blue", now, None, None, None, None))
        newest: dict[int, datetime] = {}
        for r in rows:
            if r.sensor_id not in newest or r.ts > newest[r.sensor_id]:
                newest[r.sensor_id] = r.ts
        for sid in newest.keys() - range_bad:  # an accepted reading: the sensor reports, in range
            for rule in ("offline", "out_of_range"):
                a = open_.get((sid, rule))
                if a is not None and a[4] is None:
                    upd[a[0]] = [a[0], None, newest[sid], False]
        with conn.cursor() as cur:
            if ins:
                cur.execute(_INSERT, [list(col) for col in zip(*ins, strict=True)])
                out.raised = cur.rowcount
            if upd:
                cols = list(zip(*upd.values(), strict=True))
                cur.execute(_UPDATE, [list(c) for c in cols])
                out.updated = cur.rowcount
        self._pending = work
        return out

    def due(self) -> bool:
        """True when the periodic pass is due."""
        return time.monotonic() - self._last_periodic >= self.settings.alarm_check_s

    def periodic(self, conn: psycopg.Connection) -> AlarmSummary:
        """Offline sensors, escalation, clearing of acknowledged alarms back to normal; commits."""
        self._last_periodic = time.monotonic()
        out = AlarmSummary()
        k = float(self.settings.alarm_offline_factor)
        with conn.cursor() as cur:
            cur.execute(_OFFLINE, {"k": k})
            out.offline = cur.rowcount
            cur.execute(_OFFLINE_AGAIN, {"k": k})
            cur.execute(_CLEAR_RETURNED)
            out.cleared = cur.rowcount
        out.escalated = escalate(conn, self.settings.escalate_after_s())
        conn.commit()
        return out
