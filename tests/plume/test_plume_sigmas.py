"""Briggs sigmas equal the values pinned in reference/briggs_sigmas.md §5."""

import numpy as np
import pytest

from plume.errors import InvalidParameter, UnknownStabilityClass
from plume.gaussian import plume_concentration
from plume.sigmas import STABILITY_CLASSES, briggs

# (terrain, class, x_m, sigma_y_m, sigma_z_m, C_g_m3 for Q=100 g/s, u=5 m/s ground release)
PINNED = [
    ("rural", "A", 100, 21.891, 20.000, 1.4541e-02),
    ("rural", "A", 1000, 209.762, 200.000, 1.5175e-04),
    ("rural", "A", 10000, 1555.635, 2000.000, 2.0462e-06),
    ("rural", "B", 100, 15.921, 12.000, 3.3323e-02),
    ("rural", "B", 1000, 152.554, 120.000, 3.4776e-04),
    ("rural", "B", 10000, 1131.371, 1200.000, 4.6891e-06),
    ("rural", "C", 100, 10.945, 7.921, 7.3427e-02),
    ("rural", "C", 1000, 104.881, 73.030, 8.3116e-04),
    ("rural", "C", 10000, 777.817, 461.880, 1.7720e-05),
    ("rural", "D", 100, 7.960, 5.595, 1.4294e-01),
    ("rural", "D", 1000, 76.277, 37.947, 2.1994e-03),
    ("rural", "D", 10000, 565.685, 150.000, 7.5026e-05),
    ("rural", "E", 100, 5.970, 2.913, 3.6610e-01),
    ("rural", "E", 1000, 57.208, 23.077, 4.8222e-03),
    ("rural", "E", 10000, 424.264, 75.000, 2.0007e-04),
    ("rural", "F", 100, 3.980, 1.553, 1.0297e+00),
    ("rural", "F", 1000, 38.139, 12.308, 1.3563e-02),
    ("rural", "F", 10000, 282.843, 40.000, 5.6270e-04),
    ("urban", "A", 100, 31.379, 25.171, 8.0601e-03),
    ("urban", "B", 1000, 270.449, 339.411, 6.9353e-05),
    ("urban", "A", 10000, 1431.084, 7959.899, 5.5887e-07),
    ("urban", "C", 100, 21.573, 20.000, 1.4755e-02),
    ("urban", "C", 1000, 185.934, 200.000, 1.7120e-04),
    ("urban", "C", 10000, 983.870, 2000.000, 3.2353e-06),
    ("urban", "D", 100, 15.689, 13.795, 2.9415e-02),
    ("urban", "D", 1000, 135.225, 122.788, 3.8341e-04),
    ("urban", "D", 10000, 715.542, 700.000, 1.2710e-05),
    ("urban", "E", 100, 10.786, 7.460, 7.9116e-02),
    ("urban", "F", 1000, 92.967, 50.596, 1.3534e-03),
    ("urban", "E", 10000, 491.935, 200.000, 6.4706e-05),
]


@pytest.mark.parametrize("terrain, cls, x, sy_ref, sz_ref, c_ref", PINNED)
def test_sigmas_match_pinned_table(terrain, cls, x, sy_ref, sz_ref, c_ref):
    sy, sz = briggs(x, cls, terrain)
    assert round(sy, 3) == pytest.approx(sy_ref, abs=1e-9)
    assert round(sz, 3) == pytest.approx(sz_ref, abs=1e-9)


@pytest.mark.parametrize("terrain, cls, x, sy_ref, sz_ref, c_ref", PINNED)
def test_centreline_concentration_matches_pinned_table(terrain, cls, x, sy_ref, sz_ref, c_ref):
    sy, sz = briggs(x, cls, terrain)
    c = plume_concentration(100.0, 5.0, x, 0.0, 0.0, 0.0, sy, sz)
    assert c == pytest.approx(c_ref, rel=5e-5)


def test_arrays_in_arrays_out_and_nan_upwind():
    x = np.array([[-10.0, 0.0], [np.nan, 500.0]])
    sy, sz = briggs(x, "D")
    assert sy.shape == x.shape and sz.shape == x.shape
    assert np.isnan(sy[0, 0]) and np.isnan(sy[0, 1]) and np.isnan(sy[1, 0])
    assert np.isnan(sz[0, 0]) and np.isnan(sz[1, 0])
    assert np.isfinite(sy[1, 1]) and np.isfinite(sz[1, 1])


def test_scalar_in_scalar_out():
    sy, sz = briggs(250.0, "c")
    assert isinstance(sy, float) and isinstance(sz, float)


@pytest.mark.parametrize("x", [100.0, 1000.0, 10000.0])
def test_rural_sigmas_decrease_from_a_to_f(x):
    sys_ = [briggs(x, c)[0] for c in STABILITY_CLASSES]
    szs = [briggs(x, c)[1] for c in STABILITY_CLASSES]
    assert all(a > b for a, b in zip(sys_, sys_[1:], strict=False))
    assert all(a > b for a, b in zip(szs, szs[1:], strict=False))


def test_urban_pairs_are_identical():
    x = np.geomspace(10, 20000, 50)
    np.testing.assert_array_equal(briggs(x, "A", "urban")[1], briggs(x, "B", "urban")[1])
    np.testing.assert_array_equal(briggs(x, "E", "urban")[0], briggs(x, "F", "urban")[0])


def test_urban_d_uses_negative_exponent():
    # the R package holstius/plume has (1+...)^+1/2 here; the pinned value rules it out
    assert briggs(10000.0, "D", "urban")[1] == pytest.approx(700.0, rel=1e-9)


@pytest.mark.parametrize("bad", ["G", "", "AB", None, 3])
def test_unknown_class_is_refused(bad):
    with pytest.raises(UnknownStabilityClass) as info:
        briggs(1000.0, bad)
    assert isinstance(info.value, ValueError)
    assert "stability" in str(info.value) and "A, B, C, D, E, F" in str(info.value)


def test_unknown_terrain_is_refused():
    with pytest.raises(InvalidParameter, match="terrain"):
        briggs(1000.0, "D", "suburban")
