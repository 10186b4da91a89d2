"""The fused grid kernel equals the readable reference footprint."""

import numpy as np
import pytest
from scipy.special import erf

from plume.footprint import Dispersion, ground_max_g_m3
from plume.grid import LocalGrid
from plume.kernel import ERF_AS_7_1_26, _erf_expr, grid_max_g_m3


def test_abramowitz_stegun_erf_is_within_1_5e_7():
    z = np.linspace(0.0, 8.0, 200001)
    approx = eval(_erf_expr("z"), {"exp": np.exp}, {"z": z})  # noqa: S307
    assert np.max(np.abs(approx - erf(z))) < 1.5e-7
    assert set(ERF_AS_7_1_26) == {"p", "a1", "a2", "a3", "a4", "a5"}


CASES = [
    Dispersion(u_m_s=3.0, stability="D", rate_g_s=1000.0, duration_s=600.0),
    Dispersion(u_m_s=1.5, stability="F", terrain="urban", rate_g_s=10.0, h_m=5.0),
    Dispersion(u_m_s=4.0, stability="B", mass_g=1e5, h_m=2.0),
    Dispersion(u_m_s=3.0, stability="C", rate_g_s=100.0, h_m=30.0, mixing_height_m=200.0,
               duration_s=30.0),
    Dispersion(u_m_s=6.0, stability="A", terrain="urban", rate_g_s=100.0, h_m=30.0,
               mixing_height_m=150.0),
]


@pytest.mark.parametrize("d", CASES)
@pytest.mark.parametrize("wind_from", [0.0, 45.0, 233.0])
def test_kernel_matches_reference(d, wind_from):
    grid = LocalGrid.covering(121.7, 29.97, -2500, 2500, -2500, 2500, 25.0)
    east, north = grid.centres()
    fast = grid_max_g_m3(east, north, d, wind_from)
    x, y = grid.wind_coordinates(wind_from)
    ref = ground_max_g_m3(x, y, d)
    mask = ref > ref.max() * 1e-9
    np.testing.assert_allclose(fast[mask], ref[mask], rtol=2e-6)
    assert np.all(fast[~mask] <= ref.max() * 1e-8)
