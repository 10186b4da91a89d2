"""plume.run: grid, threat zones, exports, warnings, bad input."""

import json

import numpy as np
import pytest
import rasterio
from pydantic import ValidationError
from scipy.optimize import brentq
from shapely.geometry import Point, shape

import plume
from plume.errors import GridTooLarge, InvalidParameter, UnknownChemical
from plume.footprint import ground_max_g_m3
from plume.runner import dispersion_of
from plume.units import g_m3_to_ppm
from plume.zones import confidence_half_angle_deg


def scenario(**over):
    base = {"source_lon": 121.70, "source_lat": 29.97, "chemical": "chlorine",
            "release": {"kind": "continuous", "rate_g_s": 1000, "duration_s": 600},
            "weather": {"wind_speed_m_s": 3, "wind_from_deg": 45, "stability": "D",
                        "terrain": "urban"}}
    for k, v in over.items():
        if k == "weather":
            base["weather"] = {**base["weather"], **v}
        else:
            base[k] = v
    return base


@pytest.fixture(scope="module")
def chlorine_result():
    return plume.run(scenario())


def _centreline_crossing_m(res, threshold_ppm):
    d = dispersion_of(res.scenario)
    chem = res.scenario.chem
    t = res.scenario.weather.air_temperature_k

    def f(x):
        return g_m3_to_ppm(ground_max_g_m3(x, 0.0, d), chem.mw_g_mol, t) - threshold_ppm

    x = np.geomspace(1, 1e5, 2000)
    vals = np.array([f(v) for v in x])
    last = np.nonzero(vals >= 0)[0][-1]
    return brentq(f, x[last], x[last + 1], xtol=1e-6)


@pytest.mark.parametrize("over", [
    {},
    {"weather": {"wind_from_deg": 0, "terrain": "rural"}},
    {"weather": {"wind_from_deg": 137, "stability": "F", "wind_speed_m_s": 2, "terrain": "rural"}},
    {"release": {"kind": "instantaneous", "mass_g": 5e5}, "weather": {"wind_from_deg": 300}},
    {"chemical": "ammonia", "release_height_m": 10,
     "release": {"kind": "continuous", "rate_g_s": 2000}, "weather": {"stability": "B"}},
])
def test_zone_reach_equals_centreline_crossing_within_one_cell(over):
    res = plume.run(scenario(**over))
    for z in res.zones:
        if z.is_empty:
            continue
        assert abs(z.max_downwind_m - _centreline_crossing_m(res, z.threshold_ppm)) <= res.cell_m


def test_zones_are_nested_and_ordered(chlorine_result):
    zones = chlorine_result.zones
    assert [z.tier for z in zones] == [3, 2, 1]
    assert zones[0].max_downwind_m < zones[1].max_downwind_m < zones[2].max_downwind_m
    assert zones[0].area_m2 < zones[1].area_m2 < zones[2].area_m2
    assert zones[1].geometry_local.buffer(chlorine_result.cell_m).contains(zones[0].geometry_local)


def test_zones_lie_downwind_in_wgs84(chlorine_result):
    # wind from the north-east: zones lie south-west of the source
    c = chlorine_result.zones[-1].geometry_wgs84.centroid
    assert c.x < 121.70 and c.y < 29.97


def test_zone_area_is_close_to_the_polygon_area(chlorine_result):
    for z in chlorine_result.zones:
        assert z.geometry_local.area == pytest.approx(z.area_m2, rel=0.05)


def test_grid_has_transform_crs_and_ppm(chlorine_result):
    r = chlorine_result
    assert r.concentration_ppm.shape == r.grid.shape
    assert abs(r.transform.determinant) == pytest.approx(r.cell_m ** 2)
    assert r.crs.coordinate_operation.method_name == "Azimuthal Equidistant"
    # the grid runs along the wind: its column axis points where the wind blows to (225°)
    assert r.grid.axis_deg == pytest.approx(225.0)
    assert r.max_ppm > r.zones[0].threshold_ppm
    assert np.all(r.concentration_ppm >= 0)


def test_explicit_cell_and_extent(chlorine_result):
    r = plume.run(scenario(), cell_m=20, extent_m=3000)
    assert r.cell_m == 20 and r.grid.shape == (301, 300)
    assert r.zones[-1].max_downwind_m == pytest.approx(chlorine_result.zones[-1].max_downwind_m,
                                                       abs=20 + chlorine_result.cell_m)


def test_geojson_is_rfc7946(chlorine_result):
    doc = json.loads(chlorine_result.to_geojson())
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    assert kinds == ["threat_zone"] * 3 + ["wind_direction_confidence", "source"]
    assert doc["features"][-1]["geometry"]["coordinates"] == [121.70, 29.97]  # lon, lat
    zone = shape(doc["features"][0]["geometry"])
    assert zone.is_valid and 121 < zone.centroid.x < 122 and 29 < zone.centroid.y < 31
    assert doc["onemap"]["stability"] == "D" and doc["onemap"]["warnings"]
    assert doc["features"][0]["properties"]["threshold_ppm"] == 20.0


def test_geotiff_round_trip(chlorine_result, tmp_path):
    path = tmp_path / "c.tif"
    chlorine_result.to_geotiff(path)
    with rasterio.open(path) as src:
        assert src.crs is not None and src.transform == chlorine_result.transform
        data = src.read(1)
        assert src.tags()["units"] == "ppm"
    np.testing.assert_allclose(data, chlorine_result.concentration_ppm.astype(np.float32))


def test_folium_map(chlorine_result, tmp_path):
    fmap = chlorine_result.to_folium()
    out = tmp_path / "m.html"
    fmap.save(str(out))
    assert "AEGL-3" in out.read_text(encoding="utf-8")


def test_confidence_band_contains_the_zones_and_widens_at_low_wind(chlorine_result):
    band = chlorine_result.confidence_band
    assert band.buffer(1e-6).contains(chlorine_result.zones[0].geometry_wgs84.centroid)
    assert confidence_half_angle_deg(1.0) > confidence_half_angle_deg(3.0) > (
        confidence_half_angle_deg(8.0)) - 1e-9
    calm = plume.run(scenario(weather={"wind_speed_m_s": 0.4}))
    assert calm.confidence_band.contains(Point(121.70, 29.97))  # full disc around the source


def test_nothing_reached_gives_empty_zones_not_errors():
    r = plume.run(scenario(release={"kind": "continuous", "rate_g_s": 1e-6}))
    assert all(z.is_empty and z.max_downwind_m == 0 for z in r.zones)
    doc = json.loads(r.to_geojson())
    assert doc["features"][0]["geometry"] is None


@pytest.mark.parametrize("over, needle", [
    ({"weather": {"wind_speed_m_s": 0.5}}, "< 1 m/s"),
    ({"weather": {"stability": "F", "wind_speed_m_s": 1.5}}, "very stable"),
    ({"release": {"kind": "continuous", "rate_g_s": 20000}, "weather": {"stability": "F",
                                                                      "terrain": "rural"}},
     "beyond 10 km"),
    ({"release": {"kind": "continuous", "rate_g_s": 1000, "duration_s": 7200}}, "60-min"),
    ({}, "dense gas"),
    ({}, "not modelled"),
])
def test_honest_limits_as_warnings(over, needle):
    assert any(needle in w for w in plume.run(scenario(**over)).warnings)


def test_neutral_gas_gets_no_dense_gas_warning():
    r = plume.run(scenario(chemical="carbon monoxide",
                           release={"kind": "continuous", "rate_g_s": 100}))
    assert not any("dense gas" in w for w in r.warnings)


def test_stability_derived_from_cloud_and_night():
    s = plume.Scenario(**scenario(weather={"stability": None, "daytime": False,
                                           "cloud_cover_oktas": 1, "wind_speed_m_s": 2.5}))
    assert s.weather.stability == "F"


@pytest.mark.parametrize("over, field", [
    ({"weather": {"wind_speed_m_s": 0}}, "wind_speed_m_s"),
    ({"weather": {"wind_speed_m_s": -3}}, "wind_speed_m_s"),
    ({"weather": {"wind_speed_m_s": float("nan")}}, "wind_speed_m_s"),
    ({"weather": {"stability": "G"}}, "stability"),
    ({"weather": {"wind_from_deg": 400}}, "wind_from_deg"),
    ({"source_lat": 95}, "source_lat"),
    ({"source_lon": -181}, "source_lon"),
    ({"source_lon": float("inf")}, "source_lon"),
    ({"release": {"kind": "continuous", "rate_g_s": -1}}, "rate_g_s"),
    ({"release": {"kind": "instantaneous", "mass_g": float("nan")}}, "mass_g"),
    ({"release": {"kind": "puff", "mass_g": 1}}, "release"),
    ({"release_height_m": -2}, "release_height_m"),
    ({"weather": {"stability": None}}, "stability"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_input_is_a_clear_validation_error(over, field):
    with pytest.raises(ValidationError) as info:
        plume.run(scenario(**over))
    assert isinstance(info.value, ValueError)
    assert field in plume.errors.describe(info.value)


def test_unknown_chemical_in_a_scenario():
    with pytest.raises(UnknownChemical, match="chlorine"):
        plume.run(scenario(chemical="chlorene"))


@pytest.mark.parametrize("kwargs, error", [
    (dict(cell_m=0), InvalidParameter), (dict(cell_m=float("nan")), InvalidParameter),
    (dict(extent_m=-5), InvalidParameter), (dict(cell_m=1, extent_m=50_000), GridTooLarge),
])
def test_bad_grid_parameters(kwargs, error):
    with pytest.raises(error):
        plume.run(scenario(), **kwargs)


def test_rotation_only_rotates():
    a = plume.run(scenario(weather={"wind_from_deg": 0}))
    b = plume.run(scenario(weather={"wind_from_deg": 90}))
    # the grid follows the wind: same numbers, rotated transform
    np.testing.assert_array_equal(a.concentration_ppm, b.concentration_ppm)
    assert [z.max_downwind_m for z in a.zones] == [z.max_downwind_m for z in b.zones]
    ca = a.zones[-1].geometry_wgs84.centroid   # north wind -> zone to the south
    cb = b.zones[-1].geometry_wgs84.centroid   # east wind -> zone to the west
    assert ca.y < 29.97 and abs(ca.x - 121.70) < 1e-3
    assert cb.x < 121.70 and abs(cb.y - 29.97) < 1e-3
    assert a.zones[-1].area_m2 == b.zones[-1].area_m2


def test_narrow_stable_plume_is_resolved_whatever_the_direction():
    # a narrow class-F plume along a grid axis used to fall between cell centres
    base = {"source_lon": 120, "source_lat": 30, "chemical": "chlorine",
            "release": {"kind": "continuous", "rate_g_s": 5000, "duration_s": 600},
            "weather": {"wind_speed_m_s": 2, "stability": "F"}}
    maxima = {wd: plume.run({**base, "weather": {**base["weather"], "wind_from_deg": wd}}).max_ppm
              for wd in (0, 45, 270)}
    assert len(set(maxima.values())) == 1


def test_north_up_geotiff(chlorine_result, tmp_path):
    path = tmp_path / "n.tif"
    chlorine_result.to_geotiff(path, north_up=True)
    with rasterio.open(path) as src:
        assert src.transform.b == 0 and src.transform.d == 0
        data = src.read(1)
        cell_area = abs(src.transform.determinant)
    # resampling smooths the near-source peak but keeps the zones
    yellow = chlorine_result.zones[-1]
    assert (data >= yellow.threshold_ppm).sum() * cell_area == pytest.approx(yellow.area_m2, rel=0.05)
