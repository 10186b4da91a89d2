"""Alarm rules over a batch of readings: pure, vectorised numpy, no database.

Units: values in the sensor's own unit (``sensors.unit``), times in seconds
(``ts_s``: seconds since the epoch), ``deadband`` in the sensor's unit,
``min_duration_s`` in seconds, ``rate_limit`` in the sensor's unit per second.

Rules (see migration 0014 for the level of each):

* **high_high / high** — on when ``value ≥ threshold``, off when
  ``value < threshold − deadband``, unchanged in between (hysteresis); raised
  once the condition has held for ``min_duration_s`` (0: at the first reading).
* **low** — on when ``value ≤ threshold_low``, off when
  ``value > threshold_low + deadband``; same duration rule.
* **rate** — on while ``|Δvalue / Δt| ≥ rate_limit`` between consecutive
  readings of the sensor (Δt > 0); no duration.
* **flatline** — on while the last ``flatline_n`` values are identical (a
  stuck transmitter; health, not process).

Out of range (a refused reading) and offline (no reading for long) are
decided by :mod:`telemetry.alarms`, which also owns the database side.

State across batches (:class:`Carry`, one per sensor) is kept in memory by
the caller: whether each rule is on and since when, the last value and time,
the length of the run of identical values. After a restart it starts empty,
seeded from the open alarms (an open alarm is taken as "on"): a condition in
progress but not yet raised restarts its ``min_duration_s`` timer, so a
restart can delay a raise by at most that duration and never doubles one.

>>> import numpy as np
>>> p = {1: SensorParams(threshold_high=10.0, deadband=1.0)}
>>> out = evaluate(np.array([1, 1, 1, 1]), np.array([0., 1., 2., 3.]), np.array([9., 10., 9.5, 8.]), p, {})
>>> [(f.rule, f.raise_ts, f.raise_value, f.on) for f in out if f.rule == "high"]
[('high', 1.0, 10.0, False)]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SensorParams", "Carry", "Finding", "evaluate", "PROCESS_RULES", "LEVELS", "KIND_OF"]

PROCESS_RULES = ("high_high", "high", "low", "rate")
#: rule -> four-colour warning level (red > orange > yellow > blue)
LEVELS = {"high_high": "red", "high": "orange", "low": "yellow", "rate": "yellow",
          "flatline": "blue", "out_of_range": "blue", "offline": "blue"}
KIND_OF = {r: ("process" if r in PROCESS_RULES else "health") for r in LEVELS}
_NAN = float("nan")


@dataclass(frozen=True)
class SensorParams:
    """A sensor's alarm settings (None: that rule is off)."""

    threshold_low: float | None = None
    threshold_high: float | None = None
    threshold_high_high: float | None = None
    deadband: float = 0.0
    min_duration_s: float = 0.0
    rate_limit: float | None = None


@dataclass
class Carry:
    """What a sensor's next batch needs from the previous ones."""

    last_ts: float = -np.inf
    last_value: float = _NAN
    run: int = 0  # identical values in a row, up to the last one
    on: dict[str, bool] = field(default_factory=dict)
    since: dict[str, float] = field(default_factory=dict)

    def copy(self) -> Carry:
        """An independent copy (a batch works on copies until it is committed)."""
        return Carry(self.last_ts, self.last_value, self.run, dict(self.on), dict(self.since))


@dataclass(frozen=True)
class Finding:
    """One (sensor, rule) over a batch: the first reading that raises, the worst value, the state at the end.

    ``raise_ts``/``raise_value`` are None when no reading met the rule long
    enough; ``peak`` is the worst value (rate: the worst rate, unit/s) among
    the readings that met it; ``on`` is the condition after the last reading,
    ``normal_ts`` the first reading of the final normal run (when ``on`` is False).
    """

    sensor_id: int
    rule: str
    threshold: float | None
    raise_ts: float | None
    raise_value: float | None
    peak: float | None
    on: bool
    normal_ts: float | None


def _f(x: float | None) -> float:
    return _NAN if x is None else float(x)


def _ffill(state: np.ndarray, gstart: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Fill -1 entries with the last 0/1 of the same group, or the group's ``initial``; vectorised."""
    n = len(state)
    idx = np.where(state >= 0, np.arange(n), -1)
    idx = np.maximum.accumulate(idx) if n else idx
    ok = idx >= gstart
    return np.where(ok, state[np.clip(idx, 0, None)], initial).astype(np.int8)


def _run_start(on: np.ndarray, first: np.ndarray, prev_on: np.ndarray, ts: np.ndarray, gstart: np.ndarray,
               since0: np.ndarray) -> np.ndarray:
    """The time each "on" run began (carried from the previous batch when it began there)."""
    n = len(on)
    before = np.empty(n, dtype=bool)
    before[1:] = on[:-1]
    before[first] = prev_on[first]
    starts = on & ~before
    idx = np.maximum.accumulate(np.where(starts, np.arange(n), -1)) if n else np.zeros(0, int)
    return np.where(idx >= gstart, ts[np.clip(idx, 0, None)], since0)


def evaluate(sensor_ids: np.ndarray, ts_s: np.ndarray, values: np.ndarray, params: dict[int, SensorParams],
             carry: dict[int, Carry], *, flatline_n: int = 60) -> list[Finding]:
    """Evaluate every rule for every sensor of a batch; update ``carry`` in place.

    Readings not newer than a sensor's carried ``last_ts`` (redeliveries) are
    ignored. Sensors missing from ``params`` are skipped.
    """
    sid = np.asarray(sensor_ids, dtype=np.int64)
    ts = np.asarray(ts_s, dtype=float)
    v = np.asarray(values, dtype=float)
    keep = np.fromiter((int(s) in params for s in sid), bool, len(sid)) if len(sid) else np.zeros(0, bool)
    sid, ts, v = sid[keep], ts[keep], v[keep]
    order = np.lexsort((ts, sid))
    sid, ts, v = sid[order], ts[order], v[order]
    if len(sid):  # drop same (sensor, ts) twice and anything already seen
        dup = np.zeros(len(sid), bool)
        dup[1:] = (sid[1:] == sid[:-1]) & (ts[1:] == ts[:-1])
        uniq0 = np.unique(sid)
        last_seen = np.array([carry[int(s)].last_ts if int(s) in carry else -np.inf for s in uniq0])
        fresh = ts > last_seen[np.searchsorted(uniq0, sid)]
        sel = fresh & ~dup
        sid, ts, v = sid[sel], ts[sel], v[sel]
    if not len(sid):
        return []
    uniq, gstart_u, counts = np.unique(sid, return_index=True, return_counts=True)
    g = np.repeat(np.arange(len(uniq)), counts)
    gstart = gstart_u[g]
    first = np.zeros(len(sid), bool)
    first[gstart_u] = True
    last_u = gstart_u + counts - 1
    cs = [carry.setdefault(int(s), Carry()) for s in uniq]
    P = [params[int(s)] for s in uniq]
    db = np.array([max(p.deadband, 0.0) for p in P])[g]
    mindur = np.array([p.min_duration_s for p in P])[g]
    out: list[Finding] = []

    def carried(rule: str) -> tuple[np.ndarray, np.ndarray]:
        on0 = np.array([c.on.get(rule, False) for c in cs], dtype=bool)
        since0 = np.array([c.since.get(rule, _NAN) for c in cs])
        return on0, since0

    def finish(rule: str, thr_u: np.ndarray, on: np.ndarray, qual: np.ndarray, measure: np.ndarray,
               worst, since: np.ndarray) -> None:
        for k, s in enumerate(uniq):
            lo, hi = gstart_u[k], last_u[k] + 1
            if np.isnan(thr_u[k]):
                continue
            q = np.flatnonzero(qual[lo:hi])
            on_end = bool(on[hi - 1])
            normal_ts = None
            if not on_end:
                ons = np.flatnonzero(on[lo:hi])
                normal_ts = float(ts[lo + ons[-1] + 1]) if len(ons) else float(ts[lo])
            out.append(Finding(int(s), rule, float(thr_u[k]),
                               float(ts[lo + q[0]]) if len(q) else None, float(v[lo + q[0]]) if len(q) else None,
                               float(worst(measure[lo:hi][q])) if len(q) else None, on_end, normal_ts))
            cs[k].on[rule] = on_end
            cs[k].since[rule] = float(since[hi - 1]) if on_end else _NAN

    # thresholds with deadband hysteresis and minimum duration
    for rule, attr, high in (("high_high", "threshold_high_high", True), ("high", "threshold_high", True),
                             ("low", "threshold_low", False)):
        thr_u = np.array([_f(getattr(p, attr)) for p in P])
        thr = thr_u[g]
        with np.errstate(invalid="ignore"):
            if high:
                set_, reset = v >= thr, v < thr - db
            else:
                set_, reset = v <= thr, v > thr + db
        reset |= np.isnan(thr)
        state = np.where(set_, 1, np.where(reset, 0, -1)).astype(np.int8)
        on0, since0 = carried(rule)
        on = _ffill(state, gstart, on0[g].astype(np.int8)).astype(bool)
        since = _run_start(on, first, on0[g], ts, gstart, since0[g])
        qual = on & ((ts - np.nan_to_num(since, nan=np.inf)) >= mindur)
        finish(rule, thr_u, on, qual, v, np.max if high else np.min, since)

    # rate of change between consecutive readings of a sensor (unit per second)
    prev_v = np.empty(len(v))
    prev_t = np.empty(len(v))
    prev_v[1:], prev_t[1:] = v[:-1], ts[:-1]
    prev_v[first] = np.array([c.last_value for c in cs])
    prev_t[first] = np.array([c.last_ts for c in cs])
    dt = ts - prev_t
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where((dt > 0) & np.isfinite(dt), np.abs(v - prev_v) / dt, np.nan)
    lim_u = np.array([_f(p.rate_limit) for p in P])
    with np.errstate(invalid="ignore"):
        on = rate >= lim_u[g]
    finish("rate", lim_u, on, on, rate, np.max, np.where(on, ts, np.nan))

    # flatline: flatline_n identical values in a row
    same = v == prev_v
    reset_idx = np.maximum.accumulate(np.where(~same, np.arange(len(v)), -1))
    base = np.array([c.run for c in cs])[g]
    run = np.where(reset_idx >= gstart, np.arange(len(v)) - reset_idx + 1,
                   base + np.arange(len(v)) - gstart + 1)
    on = run >= flatline_n
    finish("flatline", np.full(len(uniq), float(flatline_n)), on, on, v, np.max, np.where(on, ts, np.nan))

    for k, c in enumerate(cs):
        c.last_ts, c.last_value, c.run = float(ts[last_u[k]]), float(v[last_u[k]]), int(run[last_u[k]])
    return out
