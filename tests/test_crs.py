"""GCJ-02 conversions and CRS names."""

import numpy as np
import pytest
from pyproj import Geod

from geo.crs import gcj02_to_wgs84, normalise_crs, to_wgs84, wgs84_to_gcj02
from geo.errors import UnknownCRS

# Test vectors published with eviltransform (googollee/eviltransform, its Python tests):
# (wgs lat, wgs lon, gcj lat, gcj lon)
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), EVILTRANSFORM)
def test_forward_matches_published_vectors(wlat, wlon, glat, glon):
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert lon == pytest.approx(glon, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), EVILTRANSFORM)
def test_inverse_recovers_published_vectors(wlat, wlon, glat, glon):
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert lon == pytest.approx(wlon, abs=1e-8)
    assert lat == pytest.approx(wlat, abs=1e-8)


def test_round_trip_better_than_half_a_metre_everywhere_in_china():
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.6, 135.0, 200_000)
    lat = rng.uniform(3.9, 53.5, 200_000)
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    _, _, dist_m = Geod(ellps="WGS84").inv(lon, lat, back_lon, back_lat)
    assert dist_m.max() < 0.5
    assert back_lon.shape == lon.shape


def test_offset_in_zhejiang_is_hundreds_of_metres():
    lon, lat = wgs84_to_gcj02(121.64, 29.99)
    _, _, dist_m = Geod(ellps="WGS84").inv(121.64, 29.99, lon, lat)
    assert 300 < dist_m < 700


def test_outside_china_passes_through_unchanged():
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)
    lon, lat = gcj02_to_wgs84(np.array([2.35, 121.0]), np.array([48.85, 30.0]))
    assert lon[0] == 2.35 and lon[1] != 121.0


def test_scalars_in_floats_out_arrays_in_arrays_out():
    assert isinstance(wgs84_to_gcj02(120, 30)[0], float)
    out = wgs84_to_gcj02(np.full((3, 2), 120.0), np.full((3, 2), 30.0))
    assert out[0].shape == (3, 2)


@pytest.mark.parametrize(("name", "canon"), [
    ("EPSG:4326", "EPSG:4326"), ("wgs84", "EPSG:4326"), (None, "EPSG:4326"),
    ("EPSG:4490", "EPSG:4490"), ("CGCS2000", "EPSG:4490"), ("gcj-02", "GCJ-02"), ("GCJ02", "GCJ-02"),
])
def test_accepted_crs_names(name, canon):
    assert normalise_crs(name) == canon


@pytest.mark.parametrize("name", ["EPSG:3857", "BD-09", "foo", ""])
def test_unknown_crs_is_refused_with_the_accepted_list(name):
    with pytest.raises(UnknownCRS) as err:
        normalise_crs(name)
    assert err.value.field == "crs"
    assert "EPSG:4326" in err.value.reason and "GCJ-02" in err.value.reason


def test_cgcs2000_is_stored_as_is_and_gcj_converted():
    assert to_wgs84(120.1, 30.2, "EPSG:4490") == (120.1, 30.2)
    assert to_wgs84(120.1, 30.2, "GCJ-02") != (120.1, 30.2)
