"""Validation of coordinates and GeoJSON geometry (no database)."""

import math

import pytest

from geo.errors import InvalidGeometry, OutsideJurisdiction, UnknownCRS
from geo.validate import check_lonlat, loads_strict, parse_geojson_geometry, point_from_lonlat
from tests.fixtures_geo import BOWTIE, EMPTY_POLYGON, PARIS_POINT, SQUARE_HZ


def test_good_point():
    assert check_lonlat(120.15, 30.27) == (120.15, 30.27)


@pytest.mark.parametrize(("lon", "lat"), [(math.nan, 30.0), (120.0, math.inf), (-math.inf, 30.0)])
def test_non_finite_coordinates(lon, lat):
    with pytest.raises(InvalidGeometry, match="finite"):
        check_lonlat(lon, lat)


def test_swapped_lat_lon_is_named():
    with pytest.raises(OutsideJurisdiction) as err:
        check_lonlat(30.27, 120.15)
    assert "swapped" in err.value.reason


def test_swapped_even_when_both_in_range():
    # (lon 29.99, lat 121.64) is out of lat range; (lon 40, lat 100) too; use a pair in range both ways
    with pytest.raises(OutsideJurisdiction) as err:
        check_lonlat(35.0, 110.0)
    assert "swapped" in err.value.reason


def test_outside_china_is_refused_without_a_swap_hint():
    with pytest.raises(OutsideJurisdiction) as err:
        check_lonlat(*PARIS_POINT)
    assert "outside China" in err.value.reason and "swapped" not in err.value.reason


@pytest.mark.parametrize("value", ["abc", None, True])
def test_non_numbers(value):
    with pytest.raises(InvalidGeometry):
        check_lonlat(value, 30.0)


def test_self_intersecting_polygon_reason():
    with pytest.raises(InvalidGeometry) as err:
        parse_geojson_geometry(BOWTIE)
    assert "Self-intersection" in err.value.reason


def test_empty_geometry():
    with pytest.raises(InvalidGeometry, match="empty"):
        parse_geojson_geometry(EMPTY_POLYGON)


def test_crs_member_is_refused():
    with pytest.raises(InvalidGeometry, match="RFC 7946"):
        parse_geojson_geometry({**SQUARE_HZ, "crs": {"type": "name", "properties": {"name": "EPSG:4490"}}})


def test_type_not_allowed():
    with pytest.raises(InvalidGeometry, match="not allowed"):
        parse_geojson_geometry({"type": "LineString", "coordinates": [[120, 30], [120.1, 30.1]]})


def test_nan_in_json_text_is_refused():
    with pytest.raises(InvalidGeometry, match="NaN"):
        loads_strict('{"type": "Point", "coordinates": [NaN, 30]}')


def test_unknown_crs():
    with pytest.raises(UnknownCRS):
        point_from_lonlat(120.0, 30.0, crs="EPSG:3857")


def test_gcj02_point_is_converted():
    p = point_from_lonlat(121.644, 29.988, crs="GCJ-02")
    assert p.x < 121.644 and abs(p.x - 121.644) < 0.01
