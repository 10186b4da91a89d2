"""The write path: adcode from geometry, and every bad-input case (clear error, no row written)."""

import math

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from geo.crs import wgs84_to_gcj02
from geo.errors import InvalidGeometry, InvalidInput, InvalidUSCC, OutsideJurisdiction, UnknownCRS
from geo.models import Enterprise, InventoryRow, ProtectionTarget, Region
from geo.registry import (
    add_inventory_row,
    create_enterprise,
    create_hazard_unit,
    create_protection_target,
    store_region,
)
from geo.uscc import uscc_check_char
from tests.fixtures_geo import BEIJING_POINT, BOWTIE, SQUARE_HZ, ZHENHAI_POINT


def _uscc(n: int) -> str:
    body = f"91330211{n:09d}"
    return body + uscc_check_char(body)


def _count(conn, model):
    return conn.execute(select(func.count()).select_from(model)).scalar()


def _enterprise(conn, n=1, **kw):
    args = {"uscc": _uscc(n), "name": "测试化工有限公司", "industry": "hazchem_production", "scale": "small",
            "lon": ZHENHAI_POINT[0], "lat": ZHENHAI_POINT[1]}
    args.update(kw)
    return create_enterprise(conn, **args)


def test_adcode_is_derived_from_geometry(conn):
    eid = _enterprise(conn)
    assert conn.execute(select(Enterprise.adcode).where(Enterprise.id == eid)).scalar() == "330211"


def test_adcode_given_by_a_caller_is_overwritten(conn):
    eid = _enterprise(conn)
    conn.execute(text("UPDATE enterprises SET adcode = '330106' WHERE id = :i"), {"i": eid})
    assert conn.execute(select(Enterprise.adcode).where(Enterprise.id == eid)).scalar() == "330211"
    conn.execute(text(
        "INSERT INTO enterprises (uscc, name, industry, scale, adcode, geom) VALUES "
        "(:u, 'x', 'gas', 'small', '330106', ST_SetSRID(ST_MakePoint(121.64, 29.99), 4326))"), {"u": _uscc(9)})
    assert conn.execute(select(Enterprise.adcode).where(Enterprise.uscc == _uscc(9))).scalar() == "330211"


def test_moving_an_enterprise_updates_its_adcode_and_version(conn):
    eid = _enterprise(conn)
    conn.execute(text("UPDATE enterprises SET geom = ST_SetSRID(ST_MakePoint(120.17, 30.26), 4326) WHERE id = :i"),
                 {"i": eid})
    ad, version = conn.execute(select(Enterprise.adcode, Enterprise.version).where(Enterprise.id == eid)).one()
    assert ad.startswith("3301") and version == 2


def test_gcj02_input_is_stored_as_wgs84(conn):
    glon, glat = wgs84_to_gcj02(*ZHENHAI_POINT)
    eid = _enterprise(conn, lon=glon, lat=glat, crs="GCJ-02")
    x, y = conn.execute(select(func.ST_X(Enterprise.geom), func.ST_Y(Enterprise.geom))
                        .where(Enterprise.id == eid)).one()
    assert x == pytest.approx(ZHENHAI_POINT[0], abs=1e-8) and y == pytest.approx(ZHENHAI_POINT[1], abs=1e-8)


def test_cgcs2000_input_is_stored_as_is(conn):
    eid = _enterprise(conn, crs="EPSG:4490")
    x = conn.execute(select(func.ST_X(Enterprise.geom)).where(Enterprise.id == eid)).scalar()
    assert x == ZHENHAI_POINT[0]


# --- bad input: each refused with the field and the reason, nothing written --------------

@pytest.mark.parametrize(("kwargs", "error", "field", "words"), [
    ({"uscc": "914403001922038217"}, InvalidUSCC, "uscc", "check character"),
    ({"uscc": "123"}, InvalidUSCC, "uscc", "18 characters"),
    ({"lon": BEIJING_POINT[0], "lat": BEIJING_POINT[1]}, OutsideJurisdiction, "geometry", "outside every loaded county"),
    ({"lon": ZHENHAI_POINT[1], "lat": ZHENHAI_POINT[0]}, OutsideJurisdiction, "geometry", "swapped"),
    ({"lon": math.nan, "lat": 30.0}, InvalidGeometry, "geometry", "finite"),
    ({"lon": 120.0, "lat": math.inf}, InvalidGeometry, "geometry", "finite"),
    ({"crs": "EPSG:3857"}, UnknownCRS, "crs", "unknown CRS"),
    ({"crs": "BD-09"}, UnknownCRS, "crs", "BD-09"),
    ({"industry": "bakery"}, InvalidInput, "industry", "allowed"),
    ({"name": "  "}, InvalidInput, "name", "non-empty"),
])
def test_bad_enterprise_input(conn, kwargs, error, field, words):
    before = _count(conn, Enterprise)
    with pytest.raises(error) as err:
        _enterprise(conn, **kwargs)
    assert err.value.field == field
    assert words in err.value.reason
    assert _count(conn, Enterprise) == before


def test_duplicate_uscc_is_a_clear_error(conn):
    _enterprise(conn, n=5)
    before = _count(conn, Enterprise)
    with pytest.raises(InvalidInput) as err:
        _enterprise(conn, n=5)
    assert err.value.field == "uscc" and "already exists" in err.value.reason
    assert _count(conn, Enterprise) == before


def test_transaction_stays_usable_after_a_refusal(conn):
    with pytest.raises(OutsideJurisdiction):
        _enterprise(conn, lon=BEIJING_POINT[0], lat=BEIJING_POINT[1])
    assert _enterprise(conn, n=2) > 0


def test_database_refuses_invalid_uscc_even_without_python(conn):
    with pytest.raises(IntegrityError, match="enterprises_uscc_check"):
        conn.execute(text(
            "INSERT INTO enterprises (uscc, name, industry, scale, geom) VALUES "
            "('914403001922038217', 'x', 'gas', 'small', ST_SetSRID(ST_MakePoint(121.64, 29.99), 4326))"))


def test_database_refuses_a_point_outside_zhejiang(conn):
    with pytest.raises(DBAPIError, match="outside every loaded county region"):
        conn.execute(text(
            "INSERT INTO enterprises (uscc, name, industry, scale, geom) VALUES "
            "(:u, 'x', 'gas', 'small', ST_SetSRID(ST_MakePoint(116.4, 39.9), 4326))"), {"u": _uscc(3)})


@pytest.mark.parametrize("quantity", [-1.0, -0.001, math.nan, math.inf, "12", True])
def test_bad_inventory_quantity(conn, quantity):
    eid = _enterprise(conn)
    uid = create_hazard_unit(conn, enterprise_id=eid, name="1号罐区", kind="storage", lon=121.64, lat=29.99)
    before = _count(conn, InventoryRow)
    with pytest.raises(InvalidInput) as err:
        add_inventory_row(conn, hazard_unit_id=uid, chemical="氯", max_quantity_t=quantity)
    assert err.value.field == "max_quantity_t"
    assert _count(conn, InventoryRow) == before


@pytest.mark.parametrize("quantity", ["-1", "'NaN'", "'Infinity'"])
def test_database_refuses_bad_quantities(conn, quantity):
    eid = _enterprise(conn)
    uid = create_hazard_unit(conn, enterprise_id=eid, name="1号罐区", kind="storage", lon=121.64, lat=29.99)
    with pytest.raises(IntegrityError, match="quantity_check"):
        conn.execute(text(f"INSERT INTO hazard_unit_inventory (hazard_unit_id, chemical, max_quantity_t) "
                          f"VALUES (:u, '氯', CAST({quantity} AS float8))"), {"u": uid})


def test_good_inventory_row(conn):
    eid = _enterprise(conn)
    uid = create_hazard_unit(conn, enterprise_id=eid, name="液氯储罐区", kind="storage", lon=121.64, lat=29.99)
    assert add_inventory_row(conn, hazard_unit_id=uid, chemical="氯", cas="7782-50-5", max_quantity_t=0.0) > 0


def test_self_intersecting_protection_target(conn):
    before = _count(conn, ProtectionTarget)
    with pytest.raises(InvalidGeometry) as err:
        create_protection_target(conn, name="某小学", kind="school", category="high_sensitivity",
                                 population=800, geometry=BOWTIE)
    assert err.value.field == "geometry" and "Self-intersection" in err.value.reason
    assert _count(conn, ProtectionTarget) == before


def test_good_protection_target_polygon(conn):
    tid = create_protection_target(conn, name="测试小区", kind="residential", category="general_1",
                                   population=3000, geometry=SQUARE_HZ)
    ad = conn.execute(select(ProtectionTarget.adcode).where(ProtectionTarget.id == tid)).scalar()
    assert ad.startswith("3301")


def test_database_refuses_invalid_polygon_without_python(conn):
    with pytest.raises(IntegrityError, match="protection_targets_geom_valid"):
        conn.execute(text(
            "INSERT INTO protection_targets (name, kind, category, population, geom) VALUES "
            "('x', 'school', 'high_sensitivity', 1, ST_GeomFromText("
            "'POLYGON((120.1 30.2, 120.2 30.3, 120.2 30.2, 120.1 30.3, 120.1 30.2))', 4326))"))


def test_self_intersecting_region(conn):
    before = _count(conn, Region)
    with pytest.raises(InvalidGeometry) as err:
        store_region(conn, adcode="330199", name="测试区", level="county", parent_adcode="330100", geometry=BOWTIE)
    assert "Self-intersection" in err.value.reason
    assert _count(conn, Region) == before


def test_negative_population_refused(conn):
    with pytest.raises(InvalidInput) as err:
        create_protection_target(conn, name="x", kind="school", category="high_sensitivity",
                                 population=-5, geometry=SQUARE_HZ)
    assert err.value.field == "population"


def test_deregistration_keeps_the_row(conn):
    eid = _enterprise(conn)
    conn.execute(text("UPDATE enterprises SET status = 'deregistered', valid_to = now() WHERE id = :i"), {"i": eid})
    assert conn.execute(select(Enterprise.status).where(Enterprise.id == eid)).scalar() == "deregistered"
    with pytest.raises(IntegrityError), conn.begin_nested():
        conn.execute(text("UPDATE enterprises SET status = 'deregistered', valid_to = NULL WHERE id = :i"),
                     {"i": eid})
