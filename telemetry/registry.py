"""The sensor register (监测点登记): sensors on hazard units, with their alarm settings.

An enterprise user registers, re-tunes and retires the sensors of its own
hazard units; a regulator those of its jurisdiction (row-level security on
``sensors`` decides, as for reading them). Units: thresholds, deadband,
measuring range in the sensor's ``unit``; ``rate_limit`` in ``unit`` per
second; ``min_duration_s`` and ``interval_s`` in seconds.

A sensor is placed on its hazard unit's point unless ``lon``/``lat`` are given
(its county ``adcode`` is then set by the database from the point). Changes
reach the ingest worker's alarm rules from the next reading (the worker
watches the sensors' data version). A retired sensor keeps its readings and
alarms but takes no new readings (an unknown sensor for ingest) and leaves the map.

>>> SensorCreate.model_validate({"code": "HU1-9", "hazard_unit_id": 1, "kind": "toxic_gas", "unit": "ppm",
...     "chemical": "chlorine", "threshold_high": 1, "threshold_high_high": 3}).threshold_high_high
3.0
>>> parse_create({"code": "HU1-9", "hazard_unit_id": 1, "kind": "pressure", "unit": "MPa",
...               "threshold_high": 2, "threshold_high_high": 1})
Traceback (most recent call last):
...
geo.errors.InvalidInput: threshold_high_high: must be at least threshold_high (2)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, create_model
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from geo.bodies import parse_body
from geo.errors import InvalidInput, NotFound
from geo.registry import as_connection as _conn
from geo.registry import db_errors
from layers.editing import StaleVersion
from plume import chemicals

__all__ = ["SensorCreate", "SensorUpdate", "parse_create", "parse_update", "register", "update", "retire",
           "get_sensor", "list_sensors", "SETTINGS"]

Kind = Literal["tank_level", "temperature", "pressure", "combustible_gas", "toxic_gas"]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Value = Annotated[float, Field(allow_inf_nan=False, ge=-1e9, le=1e9)]


def _known_chemical(v: str) -> str:
    """The plume model's English name of a gas (so an alarm's release scenario can be run), else an error."""
    try:
        return chemicals.get(v).name_en
    except Exception:
        raise ValueError(f"unknown to the plume model: {v!r} (give a name, a Chinese name or a CAS number)") from None


Chemical = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                     AfterValidator(_known_chemical)]
#: each alarm setting once: (type, default on registration); a PATCH takes any of them, null clearing it
_SETTING_FIELDS: dict[str, tuple[Any, Any]] = {
    "chemical": (Chemical | None, None),
    "threshold_low": (Value | None, None),
    "threshold_high": (Value | None, None),
    "threshold_high_high": (Value | None, None),
    "deadband": (Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e9)], 0.0),
    "min_duration_s": (Annotated[int, Field(ge=0, le=86_400)], 0),
    "interval_s": (Annotated[int, Field(ge=1, le=86_400)], 60),
    "range_min": (Value | None, None),
    "range_max": (Value | None, None),
    "rate_limit": (Annotated[float, Field(allow_inf_nan=False, gt=0, le=1e9)] | None, None),
    "lon": (Annotated[float, Field(ge=73, le=136)] | None, None),
    "lat": (Annotated[float, Field(ge=3, le=54)] | None, None),
}
_FORBID = ConfigDict(extra="forbid")

SensorCreate = create_model(
    "SensorCreate", __config__=_FORBID, __doc__="``POST /sensors`` body.",
    code=(Code, ...), hazard_unit_id=(Annotated[int, Field(ge=1, lt=2**63)], ...), kind=(Kind, ...), unit=(Unit, ...),
    **_SETTING_FIELDS)
SensorUpdate = create_model(
    "SensorUpdate", __config__=_FORBID,
    __doc__="``PATCH /sensors/{id}`` body: any of :data:`SETTINGS` (null clears an optional one).",
    unit=(Unit | None, None), **{k: (t | None, None) for k, (t, _) in _SETTING_FIELDS.items()})
SETTINGS = tuple(SensorUpdate.model_fields)


def _consistent(s: dict[str, Any]) -> None:
    """Thresholds in order, a range that is a range, a toxic-gas detector's chemical, lon with lat."""
    def num(k: str) -> float | None:
        v = s.get(k)
        return None if v is None else float(v)
    lo, hi, hh = num("threshold_low"), num("threshold_high"), num("threshold_high_high")
    if hi is not None and hh is not None and hh < hi:
        raise InvalidInput("threshold_high_high", f"must be at least threshold_high ({hi:g})")
    if lo is not None and hi is not None and hi < lo:
        raise InvalidInput("threshold_high", f"must be at least threshold_low ({lo:g})")
    if lo is not None and hi is None and hh is not None and hh < lo:
        raise InvalidInput("threshold_high_high", f"must be at least threshold_low ({lo:g})")
    rmin, rmax = num("range_min"), num("range_max")
    if rmin is not None and rmax is not None and not rmax > rmin:
        raise InvalidInput("range_max", f"must be above range_min ({rmin:g})")
    for k in ("threshold_low", "threshold_high", "threshold_high_high"):
        v = num(k)
        if v is not None and ((rmin is not None and v < rmin) or (rmax is not None and v > rmax)):
            raise InvalidInput(k, "must lie within the measuring range (range_min … range_max)")
    if s.get("kind") == "toxic_gas" and not s.get("chemical"):
        raise InvalidInput("chemical", "required for a toxic-gas detector: the gas it measures (e.g. chlorine)")
    if (s.get("lon") is None) != (s.get("lat") is None):
        raise InvalidInput("lat" if s.get("lat") is None else "lon", "give lon and lat together")


def parse_create(payload: Any) -> SensorCreate:
    """Validate a registration; :class:`InvalidInput` names the field."""
    req = parse_body(SensorCreate, payload)
    _consistent(req.model_dump())
    return req


def parse_update(payload: Any) -> dict[str, Any]:
    """Validate a change: the fields given (null clears), checked with nothing else yet."""
    req = parse_body(SensorUpdate, payload)
    given = req.model_dump(include=req.model_fields_set)
    if not given:
        raise InvalidInput("body", f"nothing to change: give any of {', '.join(SETTINGS)}")
    for k in ("unit", "deadband", "min_duration_s", "interval_s"):
        if k in given and given[k] is None:
            raise InvalidInput(k, "cannot be cleared (send a value)")
    return given


_COLS = ("s.id, s.code, s.hazard_unit_id, h.name AS hazard_unit_name, h.enterprise_id, s.kind, s.unit, s.chemical, "
         "s.threshold_low, s.threshold_high, s.threshold_high_high, s.deadband, s.min_duration_s, s.interval_s, "
         "s.range_min, s.range_max, s.rate_limit, s.status, s.adcode, s.version, s.updated_at, "
         "ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat")
_SELECT = f"SELECT {_COLS} FROM sensors s LEFT JOIN hazard_units h ON h.id = s.hazard_unit_id"


def _row(r) -> dict[str, Any]:
    d = dict(r._mapping)
    d["updated_at"] = d["updated_at"].isoformat()
    d["geometry"] = {"type": "Point", "coordinates": [d["lon"], d["lat"]]}
    return d


def get_sensor(bind: Session | Connection, *, sensor_id: int) -> dict[str, Any]:
    """One sensor the caller may see, with its unit, settings and point."""
    r = _conn(bind).execute(text(f"{_SELECT} WHERE s.id = :i"), {"i": sensor_id}).first()
    if r is None:
        raise NotFound(f"sensor {sensor_id}: no such sensor in your jurisdiction")
    return _row(r)


def list_sensors(bind: Session | Connection, *, hazard_unit_id: int | None = None, kind: str | None = None,
                 status: str = "active", limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Sensors the caller may see, by code: ``{"data": [...], "count": total matching}``."""
    if kind is not None and kind not in Kind.__args__:
        raise InvalidInput("kind", f"unknown kind {kind!r}; one of {', '.join(Kind.__args__)}")
    if status not in ("active", "retired"):
        raise InvalidInput("status", "active or retired")
    where, p = ["s.status = :status"], {"status": status, "lim": limit, "off": offset}
    if hazard_unit_id is not None:
        where.append("s.hazard_unit_id = :unit")
        p["unit"] = hazard_unit_id
    if kind is not None:
        where.append("s.kind = :kind")
        p["kind"] = kind
    w = " AND ".join(where)
    conn = _conn(bind)
    total = conn.execute(text(f"SELECT count(*) FROM sensors s WHERE {w}"), p).scalar_one()
    rows = conn.execute(text(f"{_SELECT} WHERE {w} ORDER BY s.code LIMIT :lim OFFSET :off"), p).all()
    return {"data": [_row(r) for r in rows], "count": total}


def register(bind: Session | Connection, payload: Any) -> dict[str, Any]:
    """Register a sensor on a hazard unit the caller may write; returns it. The caller commits."""
    req = parse_create(payload)
    conn = _conn(bind)
    unit = conn.execute(text("SELECT id FROM hazard_units WHERE id = :i AND valid_to IS NULL"),
                        {"i": req.hazard_unit_id}).first()
    if unit is None:
        raise InvalidInput("hazard_unit_id", f"no current hazard unit {req.hazard_unit_id} in your jurisdiction")
    # a code used anywhere (even out of sight) is refused by its unique key: db_errors names it
    v = req.model_dump()
    point = ("ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)" if req.lon is not None
             else "(SELECT geom FROM hazard_units WHERE id = :hazard_unit_id)")
    cols = [k for k in v if k not in ("lon", "lat")]
    with db_errors(conn):
        sid = conn.execute(text(f"INSERT INTO sensors ({', '.join(cols)}, data_source, geom) "
                                f"VALUES ({', '.join(':' + c for c in cols)}, 'registry', {point}) RETURNING id"),
                           v).scalar_one()
    return get_sensor(conn, sensor_id=sid)


def update(bind: Session | Connection, *, sensor_id: int, payload: Any, version: int) -> dict[str, Any]:
    """Change a sensor's settings (``version``: the one the caller read, else :class:`StaleVersion`)."""
    given = parse_update(payload)
    conn = _conn(bind)
    r = conn.execute(text(f"{_SELECT} WHERE s.id = :i FOR UPDATE OF s"), {"i": sensor_id}).first()
    if r is None:
        raise NotFound(f"sensor {sensor_id}: no such sensor in your jurisdiction")
    current = dict(r._mapping)
    if current["status"] != "active":
        raise InvalidInput("status", "the sensor is retired")
    if current["version"] != version:
        raise StaleVersion(current["version"])
    merged = {**current, **given}
    if "lon" in given or "lat" in given:
        merged["lon"], merged["lat"] = given.get("lon"), given.get("lat")
    _consistent(merged)
    sets = [f"{k} = :{k}" for k in given if k not in ("lon", "lat")]
    if "lon" in given or "lat" in given:
        sets.append("geom = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)")
    with db_errors(conn):
        conn.execute(text(f"UPDATE sensors SET {', '.join(sets)} WHERE id = :i"),
                     {**merged, "i": sensor_id})
    return get_sensor(conn, sensor_id=sensor_id)


def retire(bind: Session | Connection, *, sensor_id: int, version: int) -> dict[str, Any]:
    """Retire a sensor (soft: ``status`` retired, ``valid_to`` now); its readings and alarms stay."""
    conn = _conn(bind)
    r = conn.execute(text("SELECT version, status FROM sensors WHERE id = :i FOR UPDATE"), {"i": sensor_id}).first()
    if r is None:
        raise NotFound(f"sensor {sensor_id}: no such sensor in your jurisdiction")
    if r.status != "active":
        raise InvalidInput("status", "the sensor is already retired")
    if r.version != version:
        raise StaleVersion(r.version)
    with db_errors(conn):
        conn.execute(text("UPDATE sensors SET status = 'retired', valid_to = now() WHERE id = :i"), {"i": sensor_id})
    return get_sensor(conn, sensor_id=sensor_id)

