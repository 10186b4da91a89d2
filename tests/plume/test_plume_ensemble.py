import numpy as np
import pytest

import plume
from plume.errors import InvalidParameter

BASE = {"source_lon": 116.4, "source_lat": 39.9, "chemical": "ammonia",
        "release": {"kind": "continuous", "rate_g_s": 800, "duration_s": 900},
        "weather": {"wind_speed_m_s": 2.5, "wind_from_deg": 0, "stability": "D"}}


@pytest.mark.parametrize("kwargs", [
    dict(stabilities=list("ABCDEF")),
    dict(wind_from_deg=[0, 15, 200], stabilities=["F"], wind_speeds_m_s=[1.5, 4.0]),
    dict(stabilities=["C", "E"]),
])
@pytest.mark.parametrize("terrain, height", [("rural", 0.0), ("urban", 25.0)])
def test_nearest_axis_method_equals_brute_force(kwargs, terrain, height):
    sc = {**BASE, "release_height_m": height, "weather": {**BASE["weather"], "terrain": terrain}}
    fast = plume.ensemble(sc, cell_m=40, extent_m=4000, **kwargs)
    slow = plume.ensemble(sc, cell_m=40, extent_m=4000, method="brute", **kwargs)
    np.testing.assert_allclose(fast.concentration_ppm, slow.concentration_ppm,
                               rtol=1e-9, atol=1e-15)


def test_ensemble_dominates_each_member_and_is_round():
    ens = plume.ensemble(BASE, cell_m=40, extent_m=4000)
    single = plume.ensemble(BASE, wind_from_deg=[30], cell_m=40, extent_m=4000, method="brute")
    assert np.all(ens.concentration_ppm >= single.concentration_ppm - 1e-12)
    assert ens.concentration_ppm.sum() > 10 * single.concentration_ppm.sum()
    assert len(ens.members) == 36
    reach = [z.max_downwind_m for z in ens.zones]
    assert reach[0] < reach[1] and ens.zones[0].area_m2 > 0


def test_bad_ensemble_inputs():
    with pytest.raises(InvalidParameter):
        plume.ensemble(BASE, wind_speeds_m_s=[0.0])
    with pytest.raises(InvalidParameter):
        plume.ensemble(BASE, wind_from_deg=[float("nan")])
    with pytest.raises(plume.UnknownStabilityClass):
        plume.ensemble(BASE, stabilities=["X"])
    with pytest.raises(InvalidParameter):
        plume.ensemble(BASE, method="magic")
