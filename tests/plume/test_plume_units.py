import numpy as np
import pytest

from plume.errors import InvalidParameter
from plume.units import g_m3_to_ppm, mg_m3_to_ppm, ppm_to_g_m3, ppm_to_mg_m3


def test_chlorine_one_ppm_is_2_90_mg_m3_at_25c():
    assert ppm_to_mg_m3(1.0, 70.90) == pytest.approx(2.90, abs=0.005)


def test_rule_of_thumb_24_45():
    assert ppm_to_mg_m3(100.0, 17.03) == pytest.approx(100 * 17.03 / 24.45, rel=1e-3)


def test_round_trip_arrays_and_temperature():
    ppm = np.array([0.0, 0.5, 20.0, 1e4])
    mg = ppm_to_mg_m3(ppm, 64.06, temperature_k=273.15, pressure_pa=90000)
    np.testing.assert_allclose(mg_m3_to_ppm(mg, 64.06, 273.15, 90000), ppm, rtol=1e-14)
    np.testing.assert_allclose(g_m3_to_ppm(ppm_to_g_m3(ppm, 64.06), 64.06), ppm, rtol=1e-14)


def test_colder_air_holds_more_mass_per_ppm():
    assert ppm_to_mg_m3(1.0, 30.0, 263.15) > ppm_to_mg_m3(1.0, 30.0, 303.15)


@pytest.mark.parametrize("kwargs", [dict(mw_g_mol=0), dict(mw_g_mol=-3),
                                    dict(mw_g_mol=30, temperature_k=0),
                                    dict(mw_g_mol=30, pressure_pa=float("nan"))])
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameter):
        ppm_to_mg_m3(1.0, **kwargs)
