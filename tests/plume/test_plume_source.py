"""Source terms against CCPS (1999) worked examples and physical sanity."""

import math

import pytest

import plume
from plume.errors import InvalidParameter, SourceTermError
from plume.source import (
    SourceTerm,
    flash_fraction,
    gas_orifice_mass_rate_kg_s,
    gas_through_hole,
    liquid_orifice_mass_rate_kg_s,
    liquid_through_hole,
    pool_evaporation,
)

AREA_1CM = math.pi / 4 * 0.01 ** 2


def test_ccps_1999_p47_choked_gas_jet():
    # CCPS Guidelines for Consequence Analysis (1999) p. 47, as in GasDispersion.jl tests
    rate, choked = gas_orifice_mass_rate_kg_s(AREA_1CM, 501e3, 8.90, 1.15, 0.85)
    assert choked
    assert rate == pytest.approx(0.09002799947040846, rel=1e-6)


def test_ccps_1999_p40_liquid_jet():
    rate = liquid_orifice_mass_rate_kg_s(AREA_1CM, 490.0, 120935.0368 - 101325.0, 0.63)
    assert rate == pytest.approx(0.21691154763598, rel=1e-6)


def test_choked_and_unchoked_meet_at_the_critical_ratio():
    k = 1.3
    pc = 101325.0 * ((k + 1) / 2) ** (k / (k - 1))
    above, c1 = gas_orifice_mass_rate_kg_s(AREA_1CM, pc * (1 + 1e-9), 5.0, k)
    below, c2 = gas_orifice_mass_rate_kg_s(AREA_1CM, pc * (1 - 1e-9), 5.0, k)
    assert c1 and not c2
    assert above == pytest.approx(below, rel=1e-6)


def test_gas_rate_grows_with_pressure_and_hole():
    a = gas_through_hole("ammonia", hole_diameter_m=0.01, pressure_pa=3e5).rate_g_s
    assert gas_through_hole("ammonia", hole_diameter_m=0.01, pressure_pa=6e5).rate_g_s > a
    assert gas_through_hole("ammonia", hole_diameter_m=0.02, pressure_pa=3e5).rate_g_s == (
        pytest.approx(4 * a))


def test_duration_from_inventory_and_cap():
    st = gas_through_hole("chlorine", hole_diameter_m=0.01, pressure_pa=5e5, inventory_g=1e4)
    assert st.duration_s == pytest.approx(1e4 / st.rate_g_s)
    st = gas_through_hole("chlorine", hole_diameter_m=0.01, pressure_pa=5e5, inventory_g=1e9)
    assert st.duration_s == 3600.0 and any("followed for" in a for a in st.assumptions)


def test_gas_below_ambient_pressure_is_refused():
    with pytest.raises(SourceTermError, match="pressure_pa"):
        gas_through_hole("chlorine", hole_diameter_m=0.01, pressure_pa=9e4)


@pytest.mark.parametrize("name", ["chlorine", "ammonia"])
def test_liquefied_gases_flash(name):
    f = flash_fraction(name, 298.15)
    assert 0.1 < f < 0.3  # about a fifth flashes for Cl2 and NH3 at 25 °C
    st = liquid_through_hole(name, hole_diameter_m=0.01)
    assert st.flash_fraction == pytest.approx(f)
    assert st.rate_g_s == pytest.approx(f * st.liquid_rate_g_s)
    assert st.release_temperature_k == pytest.approx(plume.chemicals.get(name).boiling_point_k)
    assert liquid_through_hole(name, hole_diameter_m=0.01, airborne="all").rate_g_s == (
        pytest.approx(st.liquid_rate_g_s))


def test_subcooled_liquid_does_not_flash():
    st = liquid_through_hole("benzene", hole_diameter_m=0.02, liquid_head_m=5.0)
    assert st.flash_fraction == 0.0 and st.rate_g_s == 0.0 and st.liquid_rate_g_s > 0
    assert any("pool_evaporation" in a for a in st.assumptions)


def test_liquid_without_driving_pressure_is_refused():
    with pytest.raises(SourceTermError):
        liquid_through_hole("benzene", hole_diameter_m=0.02)


def test_pool_evaporation_matches_si_form_of_eq_d1():
    st = pool_evaporation("toluene", area_m2=50.0, wind_speed_m_s=1.5, temperature_k=298.15)
    chem = plume.chemicals.get("toluene")
    vp_mmhg = chem.vapour_pressure_pa(298.15) / 133.322387415
    lb_min = 0.284 * 1.5 ** 0.78 * chem.mw_g_mol ** (2 / 3) * 50.0 * 10.7639104 * vp_mmhg / (
        82.05 * 298.15)
    assert st.rate_g_s == pytest.approx(lb_min * 453.59237 / 60.0, rel=1e-6)


def test_pool_evaporation_scales_with_area_and_wind():
    a = pool_evaporation("benzene", area_m2=10.0, wind_speed_m_s=1.0).rate_g_s
    assert pool_evaporation("benzene", area_m2=20.0, wind_speed_m_s=1.0).rate_g_s == (
        pytest.approx(2 * a))
    assert pool_evaporation("benzene", area_m2=10.0, wind_speed_m_s=2.0).rate_g_s == (
        pytest.approx(a * 2 ** 0.78))


def test_boiling_pool_is_refused():
    with pytest.raises(SourceTermError, match="non-boiling"):
        pool_evaporation("ammonia", area_m2=10.0, wind_speed_m_s=2.0)


@pytest.mark.parametrize("kwargs, field", [
    (dict(hole_diameter_m=0.0, pressure_pa=5e5), "hole_diameter_m"),
    (dict(hole_diameter_m=-0.01, pressure_pa=5e5), "hole_diameter_m"),
    (dict(hole_diameter_m=0.01, pressure_pa=float("nan")), "pressure_pa"),
    (dict(hole_diameter_m=0.01, pressure_pa=5e5, discharge_coefficient=1.5),
     "discharge_coefficient"),
])
def test_bad_source_inputs(kwargs, field):
    with pytest.raises(InvalidParameter) as info:
        gas_through_hole("chlorine", **kwargs)
    assert info.value.field == field


def test_source_term_feeds_a_scenario():
    st = liquid_through_hole("chlorine", hole_diameter_m=0.005, inventory_g=2e5)
    assert isinstance(st, SourceTerm) and st.mass_g > 0
    res = plume.run({"source_lon": 120.0, "source_lat": 30.0, "chemical": "chlorine",
                     "release": st, "weather": {"wind_speed_m_s": 3, "wind_from_deg": 90,
                                                "stability": "D"}})
    assert res.zones[0].max_downwind_m > 0
    # flashing chlorine at its boiling point is dense
    assert any(w.startswith("dense gas") and "239 K" in w for w in res.warnings)
