"""The validated write path for registry rows.

Every function validates first (names the field and the reason), then writes
inside a SAVEPOINT, so a refused row leaves the caller's transaction usable and
nothing written. ``adcode`` is never taken from the caller: the database sets
it from the geometry (trigger ``onemap_set_adcode``). The caller owns the
transaction (commit or roll back).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg.errors as pgerr
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import Connection, insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotPermitted, OutsideJurisdiction
from geo.models import Enterprise, HazardUnit, InventoryRow, ProtectionTarget, Region
from geo.regions import is_adcode
from geo.uscc import validate_uscc
from geo.validate import parse_geojson_geometry, point_from_lonlat
from geo.vocab import (
    HAZARD_UNIT_KINDS,
    INDUSTRIES,
    REGION_LEVELS,
    SCALES,
    TARGET_CATEGORIES,
    TARGET_KINDS,
)

__all__ = ["as_connection", "create_enterprise", "create_hazard_unit", "add_inventory_row", "create_protection_target",
           "store_region", "db_errors"]

# Constraint name -> the input field it guards.
_CONSTRAINT_FIELD = {
    "enterprises_uscc_check": "uscc",
    "enterprises_uscc_key": "uscc",
    "hazard_unit_inventory_quantity_check": "max_quantity_t",
    "hazard_unit_inventory_unit_chemical_key": "chemical",
    "protection_targets_geom_valid": "geometry",
    "protection_targets_geom_type": "geometry",
    "regions_geom_valid": "geometry",
    "sensors_code_key": "code",
}


def as_connection(bind: Session | Connection) -> Connection:
    """The connection of a session (or the connection itself): the caller's transaction."""
    return bind.connection() if isinstance(bind, Session) else bind


@contextmanager
def db_errors(conn: Connection) -> Iterator[None]:
    """Run a write in a SAVEPOINT and turn database refusals into :mod:`geo.errors`."""
    try:
        with conn.begin_nested():
            yield
    except IntegrityError as exc:
        orig = exc.orig
        name = getattr(getattr(orig, "diag", None), "constraint_name", None) or ""
        field = _CONSTRAINT_FIELD.get(name, name or "row")
        if isinstance(orig, pgerr.UniqueViolation):
            raise InvalidInput(field, "already exists") from None
        if isinstance(orig, pgerr.ForeignKeyViolation):
            raise InvalidInput(field, "refers to a row that does not exist") from None
        raise InvalidInput(field, f"violates constraint {name}") from None
    except DBAPIError as exc:
        orig = exc.orig
        if getattr(orig, "sqlstate", None) == "42501":  # row-level security WITH CHECK
            raise NotPermitted("the row would lie outside your jurisdiction") from None
        if getattr(orig, "sqlstate", None) == "OMJ01":
            msg = str(orig.diag.message_primary or orig).removeprefix("geom: ")
            raise OutsideJurisdiction("geometry", msg) from None
        if getattr(orig, "sqlstate", None) in ("OMW01", "OMW02"):  # workflow guards (migration 0009): "field: reason"
            field, _, reason = str(orig.diag.message_primary or orig).partition(": ")
            raise InvalidInput(field, reason) from None
        raise


def _text(value: Any, field: str, *, max_len: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "must be a non-empty string")
    value = value.strip()
    if len(value) > max_len:
        raise InvalidInput(field, f"must be at most {max_len} characters")
    return value


def _choice(value: Any, field: str, allowed: dict) -> str:
    if value not in allowed:
        raise InvalidInput(field, f"unknown value {value!r}; allowed: {', '.join(allowed)}")
    return value


def _quantity(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(field, "must be a number")
    if not math.isfinite(value):
        raise InvalidInput(field, "must be a finite number")
    if value < 0:
        raise InvalidInput(field, f"must be >= 0, got {value}")
    return float(value)


def create_enterprise(conn: Connection, *, uscc: str, name: str, industry: str, scale: str,
                      lon: Any, lat: Any, crs: str | None = None, address: str | None = None,
                      data_source: str = "registry") -> int:
    """Insert one enterprise; returns its id. ``adcode`` comes from the location."""
    values = {
        "uscc": validate_uscc(uscc),
        "name": _text(name, "name"),
        "industry": _choice(industry, "industry", INDUSTRIES),
        "scale": _choice(scale, "scale", SCALES),
        "address": address,
        "data_source": data_source,
        "geom": from_shape(point_from_lonlat(lon, lat, crs=crs), srid=4326),
    }
    with db_errors(conn):
        return conn.execute(insert(Enterprise).values(**values).returning(Enterprise.id)).scalar_one()


def create_hazard_unit(conn: Connection, *, enterprise_id: int, name: str, kind: str, lon: Any, lat: Any,
                       crs: str | None = None) -> int:
    """Insert one hazard unit; returns its id."""
    values = {
        "enterprise_id": enterprise_id,
        "name": _text(name, "name"),
        "kind": _choice(kind, "kind", HAZARD_UNIT_KINDS),
        "geom": from_shape(point_from_lonlat(lon, lat, crs=crs), srid=4326),
    }
    with db_errors(conn):
        return conn.execute(insert(HazardUnit).values(**values).returning(HazardUnit.id)).scalar_one()


def add_inventory_row(conn: Connection, *, hazard_unit_id: int, chemical: str, max_quantity_t: Any,
                      cas: str | None = None) -> int:
    """Add a chemical to a hazard unit's inventory (tonnes, >= 0); returns the row id."""
    values = {
        "hazard_unit_id": hazard_unit_id,
        "chemical": _text(chemical, "chemical"),
        "cas": cas,
        "max_quantity_t": _quantity(max_quantity_t, "max_quantity_t"),
    }
    with db_errors(conn):
        return conn.execute(insert(InventoryRow).values(**values).returning(InventoryRow.id)).scalar_one()


def create_protection_target(conn: Connection, *, name: str, kind: str, category: str, population: Any,
                             geometry: Any, crs: str | None = None) -> int:
    """Insert a protection target (GeoJSON Point/Polygon/MultiPolygon); returns its id."""
    if isinstance(population, bool) or not isinstance(population, int) or population < 0:
        raise InvalidInput("population", "must be an integer >= 0")
    geom = parse_geojson_geometry(geometry, crs=crs)
    values = {
        "name": _text(name, "name"),
        "kind": _choice(kind, "kind", TARGET_KINDS),
        "category": _choice(category, "category", TARGET_CATEGORIES),
        "population": population,
        "geom": from_shape(geom, srid=4326),
    }
    with db_errors(conn):
        return conn.execute(insert(ProtectionTarget).values(**values).returning(ProtectionTarget.id)).scalar_one()


def store_region(conn: Connection, *, adcode: str, name: str, level: str, parent_adcode: str | None,
                 geometry: Any, crs: str | None = None) -> str:
    """Insert one region from a GeoJSON (Multi)Polygon; refuses invalid geometry."""
    if not (is_adcode(adcode) and adcode[0] != "0"):
        raise InvalidInput("adcode", "must be a 6-digit administrative code")
    geom = parse_geojson_geometry(geometry, crs=crs, allowed=("Polygon", "MultiPolygon"))
    if geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    values = {
        "adcode": adcode,
        "name": _text(name, "name"),
        "level": _choice(level, "level", REGION_LEVELS),
        "parent_adcode": parent_adcode,
        "geom": from_shape(geom, srid=4326),
    }
    with db_errors(conn):
        conn.execute(insert(Region).values(**values))
    return adcode

