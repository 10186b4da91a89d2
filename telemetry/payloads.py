"""Topics and payloads of telemetry readings: a pure parser (no database, no I/O).

Topic ``onemap/v1/readings/{sensor_code}``; the code matches
``^[A-Za-z0-9_.:-]{1,64}$`` (the ``sensors.code`` CHECK). Payload, UTF-8 JSON,
either one reading::

    {"seq": 17, "ts": "2026-11-23T14:05:00.250+08:00", "value": 42.5, "unit": "%", "quality": "good"}

or a batch ``{"readings": [<reading>, ...]}`` of at most :data:`MAX_BATCH`.
``seq`` is the sensor's own counter (integer ≥ 0), ``ts`` ISO 8601 **with an
offset** (``Z`` or ``+08:00``), ``value`` a finite number in the sensor's unit,
``unit`` optional (when given it must be the sensor's unit), ``quality``
optional ``good`` (default) | ``uncertain`` | ``bad``. Over HTTP each reading
also names its ``sensor`` (code).

Units per sensor kind (:data:`KIND_UNITS`): tank level ``%`` of the tank's
height (or ``m``), temperature ``°C``, pressure ``MPa`` (gauge), combustible
gas ``%LEL``, toxic gas ``ppm`` (by volume).

Every refusal is a :class:`Reject` naming the field (``topic``, ``payload``,
``readings[3].value`` …) and the reason; nothing is dropped silently.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "TOPIC_PREFIX", "TOPIC_FILTER", "CODE_RE", "MAX_PAYLOAD_BYTES", "MAX_BATCH", "EXCERPT_CHARS", "QUALITIES",
    "KIND_UNITS", "Reading", "Reject", "Parsed", "SensorInfo", "topic_for", "parse_message", "parse_body",
    "check_reading", "normalise_unit", "excerpt",
]

TOPIC_PREFIX = "onemap/v1/readings/"
TOPIC_FILTER = TOPIC_PREFIX + "+"
CODE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_PAYLOAD_BYTES = 256 * 1024  # ours; the broker refuses packets over ONEMAP_MQTT_MAX_PACKET_BYTES (1 MiB)
MAX_BATCH = 1000
EXCERPT_CHARS = 512
QUALITIES = ("good", "uncertain", "bad")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

#: sensor kind -> accepted units (the first is the usual one)
KIND_UNITS = {
    "tank_level": ("%", "m"),
    "temperature": ("°C",),
    "pressure": ("MPa",),
    "combustible_gas": ("%LEL",),
    "toxic_gas": ("ppm",),
}
#: normalised unit -> physically possible (min, max) when the sensor has no measuring range of its own
UNIT_LIMITS = {"%": (0.0, 100.0), "%lel": (0.0, 100.0), "ppm": (0.0, 1e6), "°c": (-273.15, 3000.0),
               "mpa": (-0.101325, 1000.0), "m": (0.0, 1000.0)}
_READING_KEYS = {"seq", "ts", "value", "unit", "quality"}


@dataclass(frozen=True)
class Reading:
    """One accepted reading (not yet checked against its sensor: see :func:`check_reading`)."""

    sensor_code: str
    seq: int
    ts: datetime
    value: float
    quality: str = "good"
    unit: str | None = None
    field: str = "payload"  # where it was in the payload, for rejects found later


@dataclass(frozen=True)
class Reject:
    """A refused reading or payload: the field at fault and why."""

    field: str
    reason: str
    sensor_code: str | None = None
    topic: str | None = None
    payload_bytes: int = 0
    excerpt: str | None = None


@dataclass
class Parsed:
    """What a message or body held: accepted readings and rejects."""

    readings: list[Reading] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


@dataclass(frozen=True)
class SensorInfo:
    """What checking a reading needs to know about its sensor."""

    id: int
    code: str
    kind: str
    unit: str
    status: str = "active"
    range_min: float | None = None
    range_max: float | None = None


def topic_for(sensor_code: str) -> str:
    """The topic a sensor publishes on.

    >>> topic_for("HU000001-1")
    'onemap/v1/readings/HU000001-1'
    """
    return TOPIC_PREFIX + sensor_code


def excerpt(data: bytes | str | None) -> str | None:
    """At most :data:`EXCERPT_CHARS` characters of a payload, undecodable bytes replaced, NULs removed.

    >>> excerpt(b'{"v": 1}\\x00\\xff')
    '{"v": 1}\\ufffd'
    >>> excerpt(None) is None
    True
    """
    if data is None:
        return None
    if isinstance(data, bytes):
        data = data[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return data[:EXCERPT_CHARS].replace("\x00", "")


def normalise_unit(unit: str) -> str:
    """Case, spaces and the usual spellings of degrees Celsius folded.

    >>> normalise_unit(" ℃ "), normalise_unit("%lel"), normalise_unit("degC")
    ('°c', '%lel', '°c')
    """
    u = unit.strip().lower().replace(" ", "").replace("℃", "°c")
    return "°c" if u in ("degc", "c", "celsius") else u


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _code_from_topic(topic: str) -> tuple[str | None, Reject | None]:
    if not topic.startswith(TOPIC_PREFIX):
        return None, Reject("topic", f"not a readings topic: expected {TOPIC_PREFIX}{{sensor_code}}",
                            topic=topic[:300])
    code = topic[len(TOPIC_PREFIX):]
    if not CODE_RE.match(code):
        return None, Reject("topic", "sensor code must be 1-64 of A-Z a-z 0-9 _ . : -", sensor_code=code[:100],
                            topic=topic[:300])
    return code, None


def _parse_ts(value: Any, received_at: datetime, max_future_s: float) -> datetime | str:
    if not isinstance(value, str) or len(value) > 40:
        return "must be an ISO 8601 date-time string with an offset, e.g. 2026-11-23T14:05:00+08:00"
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return f"not an ISO 8601 date-time: {value[:40]!r}"
    if ts.tzinfo is None or ts.utcoffset() is None:
        return "needs a UTC offset (Z or +08:00): a time without one is ambiguous"
    if ts < EARLIEST:
        return "before 2000-01-01"
    if ts > received_at + timedelta(seconds=max_future_s):
        return f"more than {max_future_s:g} s after it was received (clock wrong?)"
    return ts


def _parse_reading(item: Any, *, code: str | None, where: str, received_at: datetime,
                   max_future_s: float, with_sensor: bool) -> Reading | Reject:
    if not isinstance(item, Mapping):
        return Reject(where or "payload", "a reading must be a JSON object", sensor_code=code)
    prefix = f"{where}." if where else ""
    allowed = _READING_KEYS | ({"sensor"} if with_sensor else set())
    unknown = sorted(set(item) - allowed)
    if unknown:
        return Reject(prefix + str(unknown[0])[:50], f"unknown field; allowed: {', '.join(sorted(allowed))}",
                      sensor_code=code)
    if with_sensor:
        code = item.get("sensor")
        if not isinstance(code, str) or not CODE_RE.match(code):
            return Reject(prefix + "sensor", "required: a sensor code of 1-64 of A-Z a-z 0-9 _ . : -",
                          sensor_code=code[:100] if isinstance(code, str) else None)
    assert code is not None
    seq = item.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63:
        return Reject(prefix + "seq", "required: an integer >= 0 (the sensor's message counter)", sensor_code=code)
    ts = _parse_ts(item.get("ts"), received_at, max_future_s)
    if isinstance(ts, str):
        return Reject(prefix + "ts", ts, sensor_code=code)
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Reject(prefix + "value", "required: a number", sensor_code=code)
    value = float(value) if abs(value) < 1e300 else math.inf
    if not math.isfinite(value):
        return Reject(prefix + "value", "must be finite (no NaN, no Infinity)", sensor_code=code)
    unit = item.get("unit")
    if unit is not None and (not isinstance(unit, str) or not 0 < len(unit.strip()) <= 20):
        return Reject(prefix + "unit", "must be a unit string such as %LEL, ppm, MPa, °C, %", sensor_code=code)
    quality = item.get("quality", "good")
    if quality not in QUALITIES:
        return Reject(prefix + "quality", f"must be one of {', '.join(QUALITIES)}", sensor_code=code)
    return Reading(code, seq, ts, value, quality, unit, prefix + "value" if prefix else "value")


def _readings_of(doc: Any, *, code: str | None, received_at: datetime, max_future_s: float,
                 with_sensor: bool, raw_excerpt: str | None) -> Parsed:
    out = Parsed()
    if isinstance(doc, Mapping) and "readings" in doc:
        items = doc["readings"]
        if set(doc) != {"readings"}:
            other = sorted(set(doc) - {"readings"})[0]
            out.rejects.append(Reject(str(other)[:50], "a batch holds only 'readings'", sensor_code=code,
                                      excerpt=raw_excerpt))
            return out
        if not isinstance(items, list) or not items:
            out.rejects.append(Reject("readings", "must be a non-empty array", sensor_code=code,
                                      excerpt=raw_excerpt))
            return out
        if len(items) > MAX_BATCH:
            out.rejects.append(Reject("readings", f"{len(items)} readings: at most {MAX_BATCH} per message",
                                      sensor_code=code, excerpt=raw_excerpt))
            return out
        for i, item in enumerate(items):
            r = _parse_reading(item, code=code, where=f"readings[{i}]", received_at=received_at,
                               max_future_s=max_future_s, with_sensor=with_sensor)
            if isinstance(r, Reject):
                r = Reject(r.field, r.reason, r.sensor_code, excerpt=excerpt(json.dumps(item, ensure_ascii=False,
                                                                                       default=str)))
                out.rejects.append(r)
            else:
                out.readings.append(r)
        return out
    r = _parse_reading(doc, code=code, where="", received_at=received_at, max_future_s=max_future_s,
                       with_sensor=with_sensor)
    if isinstance(r, Reject):
        out.rejects.append(Reject(r.field, r.reason, r.sensor_code, excerpt=raw_excerpt))
    else:
        out.readings.append(r)
    return out


def parse_message(topic: str, payload: bytes, *, received_at: datetime, max_future_s: float = 300.0,
                  max_bytes: int = MAX_PAYLOAD_BYTES) -> Parsed:
    """Read one MQTT message: the sensor from the topic, one reading or a batch from the payload.

    Rejects carry the topic, the payload size and an excerpt; the caller adds the source.

    >>> now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    >>> p = parse_message("onemap/v1/readings/GT-1", b'{"seq": 1, "ts": "2026-11-23T14:00:00+08:00", "value": 3}',
    ...                   received_at=now)
    >>> p.readings[0].value, p.readings[0].ts.isoformat(), p.rejects
    (3.0, '2026-11-23T14:00:00+08:00', [])
    >>> parse_message("onemap/v1/readings/x'; DROP TABLE readings;--", b"{}", received_at=now).rejects[0].field
    'topic'
    >>> parse_message("onemap/v1/readings/GT-1", b'{"seq": 1, "ts": "2026-11-23T14:00:00", "value": 3}',
    ...               received_at=now).rejects[0].reason
    'needs a UTC offset (Z or +08:00): a time without one is ambiguous'
    >>> parse_message("onemap/v1/readings/GT-1", b'{"seq": 1, "ts": "2026-11-23T14:00:00Z", "value": NaN}',
    ...               received_at=now).rejects[0].field
    'payload'
    """
    size = len(payload)
    found = _parse_payload(topic, payload, received_at=received_at, max_future_s=max_future_s, max_bytes=max_bytes)
    found.rejects = [Reject(r.field, r.reason, r.sensor_code, topic[:300], size, r.excerpt)
                     for r in found.rejects]
    return found


def _parse_payload(topic: str, payload: bytes, *, received_at: datetime, max_future_s: float,
                   max_bytes: int) -> Parsed:
    code, bad = _code_from_topic(topic)
    if bad is not None:
        return Parsed(rejects=[Reject(bad.field, bad.reason, bad.sensor_code, excerpt=excerpt(payload))])
    raw = excerpt(payload)
    if len(payload) > max_bytes:
        return Parsed(rejects=[Reject("payload", f"{len(payload):,} bytes: at most {max_bytes:,}",
                                      sensor_code=code, excerpt=raw)])
    try:
        doc = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        return Parsed(rejects=[Reject("payload", "not UTF-8", sensor_code=code, excerpt=raw)])
    except (ValueError, RecursionError) as exc:
        return Parsed(rejects=[Reject("payload", f"not JSON: {str(exc)[:120]}", sensor_code=code, excerpt=raw)])
    return _readings_of(doc, code=code, received_at=received_at, max_future_s=max_future_s, with_sensor=False,
                        raw_excerpt=raw)


def parse_body(body: Any, *, received_at: datetime, max_future_s: float = 300.0) -> Parsed:
    """Read an HTTP ingest body (already decoded JSON): one reading with ``sensor``, or ``{"readings": [...]}``.

    >>> now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    >>> parse_body({"readings": [{"sensor": "A", "seq": 1, "ts": "2026-11-23T06:00:00Z", "value": 1},
    ...                          {"sensor": "A", "seq": "2", "ts": "2026-11-23T06:00:01Z", "value": 1}]},
    ...            received_at=now).rejects[0].field
    'readings[1].seq'
    """
    raw = excerpt(json.dumps(body, ensure_ascii=False, default=str)[:EXCERPT_CHARS * 2])
    return _readings_of(body, code=None, received_at=received_at, max_future_s=max_future_s, with_sensor=True,
                        raw_excerpt=raw)


def check_reading(reading: Reading, sensor: SensorInfo | None) -> Reject | None:
    """Refuse a reading its sensor contradicts: unknown or retired sensor, another unit, outside the range.

    >>> s = SensorInfo(1, "GT-1", "combustible_gas", "%LEL")
    >>> r = Reading("GT-1", 1, datetime(2026, 1, 1, tzinfo=UTC), 12.0, unit="ppm")
    >>> check_reading(r, s).reason
    "'ppm' is not the sensor's unit '%LEL'"
    >>> check_reading(Reading("GT-1", 1, r.ts, 140.0), s).reason
    'outside the measuring range [0, 100] %LEL'
    >>> check_reading(Reading("GT-1", 1, r.ts, 14.0), s) is None
    True
    """
    code = reading.sensor_code
    if sensor is None:
        return Reject("sensor", f"unknown sensor code {code!r}", sensor_code=code)
    if sensor.status != "active":
        return Reject("sensor", f"sensor {code!r} is {sensor.status}", sensor_code=code)
    field_prefix = reading.field[: -len("value")] if reading.field.endswith("value") else ""
    if reading.unit is not None and normalise_unit(reading.unit) != normalise_unit(sensor.unit):
        return Reject(field_prefix + "unit", f"{reading.unit!r} is not the sensor's unit {sensor.unit!r}",
                      sensor_code=code)
    lo, hi = UNIT_LIMITS.get(normalise_unit(sensor.unit), (-math.inf, math.inf))
    lo = sensor.range_min if sensor.range_min is not None else lo
    hi = sensor.range_max if sensor.range_max is not None else hi
    if not lo <= reading.value <= hi:
        return Reject(field_prefix + "value", f"outside the measuring range [{lo:g}, {hi:g}] {sensor.unit}",
                      sensor_code=code)
    return None
