import math

import numpy as np
import pytest

import plume
from plume.dose import default_probit, fatality_grid, probit_fatality, probits_for
from plume.errors import InvalidParameter, NoProbit
from plume.units import ppm_to_mg_m3


def test_only_verified_rows_are_used():
    assert probits_for("hydrogen sulfide") == []
    with pytest.raises(NoProbit):
        default_probit("hydrogen sulfide")
    assert default_probit("chlorine").status == "VERIFIED-PRIMARY"


def test_withers_lees_chlorine_in_ppm_minutes():
    p = default_probit("chlorine")
    assert (p.a, p.b, p.n, p.conc_unit) == (-8.29, 0.92, 2.0, "ppm")
    pr = -8.29 + 0.92 * math.log(100.0 ** 2 * 30.0)
    expected = 0.5 * math.erfc(-(pr - 5.0) / math.sqrt(2))
    assert probit_fatality(100.0, 30.0, "chlorine") == pytest.approx(expected, rel=1e-12)


def test_tno_rows_convert_ppm_to_mg_m3():
    tno = [p for p in probits_for("ammonia") if p.conc_unit == "mg/m3"][0]
    c_mg = ppm_to_mg_m3(5000.0, 17.03)
    pr = -15.6 + 1.0 * math.log(c_mg ** 2 * 30.0)
    expected = 0.5 * math.erfc(-(pr - 5.0) / math.sqrt(2))
    assert probit_fatality(5000.0, 30.0, "ammonia", probit=tno) == pytest.approx(expected)


def test_pr_of_five_is_fifty_percent():
    p = default_probit("chlorine")
    c = math.sqrt(math.exp((5.0 + 8.29) / 0.92) / 10.0)  # C^2 * 10 min gives Pr = 5
    assert probit_fatality(c, 10.0, "chlorine", probit=p) == pytest.approx(0.5, abs=1e-12)


def test_vectorised_and_edge_cases():
    out = probit_fatality(np.array([0.0, 10.0, 100.0, 1000.0]), 30.0, "chlorine")
    assert out[0] == 0.0 and np.all(np.diff(out) > 0) and out[-1] <= 1.0
    assert probit_fatality(100.0, 0.0, "chlorine") == 0.0
    with pytest.raises(InvalidParameter):
        probit_fatality(-1.0, 30.0, "chlorine")
    with pytest.raises(InvalidParameter):
        probit_fatality(10.0, float("nan"), "chlorine")


def test_fatality_grid_for_a_scenario():
    res = plume.run({"source_lon": 120, "source_lat": 30, "chemical": "chlorine",
                     "release": {"kind": "continuous", "rate_g_s": 5000, "duration_s": 600},
                     "weather": {"wind_speed_m_s": 2, "wind_from_deg": 270, "stability": "F"}})
    p = fatality_grid(res)
    assert p.shape == res.grid.shape and p.min() >= 0 and p.max() <= 1
    assert p.max() > 0.5
    # falls off along the centreline (wind from the west: row of the source, eastwards)
    row = np.argmin(np.abs(res.grid.centres()[1]))
    east = res.grid.centres()[0]
    line = p[row, east > 50]
    assert np.all(np.diff(line) <= 1e-12)
