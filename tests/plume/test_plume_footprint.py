"""Finite-duration releases: limits, time maximum, toxic load."""


import numpy as np
import pytest

from plume.footprint import (
    Dispersion,
    centreline_reach_m,
    ground_max_g_m3,
    time_profile_g_m3,
    toxic_load,
)
from plume.gaussian import plume_concentration, puff_concentration
from plume.sigmas import briggs

X = np.array([150.0, 600.0, 2500.0, 8000.0])


def test_long_release_is_the_steady_plume():
    steady = ground_max_g_m3(X, 20.0, Dispersion(u_m_s=3, stability="C", rate_g_s=50.0, h_m=5))
    long = ground_max_g_m3(X, 20.0, Dispersion(u_m_s=3, stability="C", rate_g_s=50.0, h_m=5,
                                               duration_s=86400.0))
    np.testing.assert_allclose(long, steady, rtol=1e-9)
    sy, sz = briggs(X, "C")
    np.testing.assert_allclose(steady, plume_concentration(50.0, 3, X, 20.0, 0.0, 5, sy, sz),
                               rtol=1e-12)


def test_very_short_release_is_a_puff_of_the_same_mass():
    m, t = 1000.0, 0.01
    short = ground_max_g_m3(X, 0.0, Dispersion(u_m_s=4, stability="D", rate_g_s=m / t,
                                               duration_s=t))
    puff = ground_max_g_m3(X, 0.0, Dispersion(u_m_s=4, stability="D", mass_g=m))
    np.testing.assert_allclose(short, puff, rtol=1e-6)


def test_instantaneous_peak_is_the_puff_centre():
    d = Dispersion(u_m_s=2.0, stability="E", mass_g=5e4, h_m=3.0)
    sy, sz = briggs(X, "E")
    np.testing.assert_allclose(ground_max_g_m3(X, 30.0, d),
                               puff_concentration(5e4, 0.0, 30.0, 0.0, 3.0, sy, sy, sz),
                               rtol=1e-12)


def test_maximum_over_time_of_the_time_profile_is_the_footprint():
    d = Dispersion(u_m_s=3.0, stability="D", rate_g_s=100.0, duration_s=60.0)
    t = np.linspace(0, 4000, 40001)
    for x in X[:3]:
        prof = time_profile_g_m3(x, 10.0, t, d)
        assert prof.max() == pytest.approx(ground_max_g_m3(x, 10.0, d), rel=1e-6)
        assert t[np.argmax(prof)] == pytest.approx(x / 3.0 + 30.0, abs=0.5)


def test_nothing_before_the_release_or_upwind():
    d = Dispersion(u_m_s=3.0, stability="D", rate_g_s=100.0, duration_s=60.0)
    assert time_profile_g_m3(500.0, 0.0, -1.0, d) == 0.0
    assert time_profile_g_m3(-500.0, 0.0, 100.0, d) == 0.0
    assert ground_max_g_m3(-1.0, 0.0, d) == 0.0


@pytest.mark.parametrize("n", [1.0, 2.0, 2.75])
@pytest.mark.parametrize("duration", [10.0, 300.0])
def test_toxic_load_equals_time_integral(n, duration):
    d = Dispersion(u_m_s=2.5, stability="D", rate_g_s=200.0, duration_s=duration)
    t = np.linspace(0, 5000, 100001)
    for x in (300.0, 2000.0):
        numeric = np.trapezoid(time_profile_g_m3(x, 5.0, t, d) ** n, t)
        assert toxic_load(x, 5.0, d, n) == pytest.approx(numeric, rel=1e-3)


@pytest.mark.parametrize("n", [1.0, 2.75])
def test_steady_release_load_is_plateau_times_exposure(n):
    d = Dispersion(u_m_s=2.5, stability="D", rate_g_s=200.0)
    c = ground_max_g_m3(800.0, 5.0, d)
    assert toxic_load(800.0, 5.0, d, n, exposure_s=1800.0) == pytest.approx(c ** n * 1800.0)


def test_toxic_load_of_a_puff_is_analytic():
    d = Dispersion(u_m_s=3.0, stability="B", mass_g=1e4)
    t = np.linspace(0, 3000, 300001)
    numeric = np.trapezoid(time_profile_g_m3(700.0, 0.0, t, d) ** 2, t)
    assert toxic_load(700.0, 0.0, d, 2.0) == pytest.approx(numeric, rel=1e-4)


def test_centreline_reach_brackets_the_threshold():
    d = Dispersion(u_m_s=3.0, stability="F", rate_g_s=100.0, duration_s=600.0)
    thr = 1e-3
    reach, half = centreline_reach_m(thr, d)
    assert ground_max_g_m3(reach * 0.995, 0.0, d) >= thr >= ground_max_g_m3(reach * 1.005, 0.0, d)
    assert 0 < half < reach
    assert centreline_reach_m(1e9, d) == (0.0, 0.0)
