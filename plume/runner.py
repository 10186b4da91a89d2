"""``plume.run``: from a :class:`~plume.scenario.Scenario` to threat zones."""

from __future__ import annotations

import math

from .errors import InvalidParameter
from .footprint import Dispersion, centreline_reaches_m
from .grid import LocalGrid
from .kernel import wind_frame_max_g_m3
from .limits import validity_warnings
from .result import Result
from .scenario import InstantaneousRelease, Scenario, SourceTerm
from .sigmas import SIGMA_SET_NAME
from .units import g_m3_to_ppm, ppm_to_g_m3
from .zones import confidence_band, contour_zones

__all__ = ["run", "dispersion_of", "auto_cell_m", "MAX_REACH_M", "TARGET_CELLS",
           "MAX_AUTO_CELLS"]

#: Farthest distance a grid is sized to, m.
MAX_REACH_M = 100_000.0
#: Cells along the longer side of an automatic grid.
TARGET_CELLS = 500


def dispersion_of(scenario: Scenario) -> Dispersion:
    """The plain-number physics settings of a scenario."""
    w = scenario.weather
    r = scenario.release
    common = dict(u_m_s=w.wind_speed_m_s, stability=w.stability_class, terrain=w.terrain,
                  h_m=scenario.release_height_m, mixing_height_m=w.mixing_height_m)
    if isinstance(r, InstantaneousRelease):
        return Dispersion(mass_g=r.mass_g, **common)
    return Dispersion(rate_g_s=r.rate_g_s, duration_s=r.duration_s, **common)


_NICE = (1.0, 2.0, 2.5, 5.0)
#: Cap on cells of an automatic grid (about 0.1 s of work).
MAX_AUTO_CELLS = 1_500_000


def _nice_ceil(value: float) -> float:
    """Smallest 1-2-2.5-5 × 10^k number >= value."""
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for m in (*_NICE, 10.0):
        if m * 10 ** exp >= value * (1 - 1e-12):
            return m * 10 ** exp
    return 10.0 ** (exp + 1)  # pragma: no cover


def _nice_floor(value: float) -> float:
    """Largest 1-2-2.5-5 × 10^k number <= value."""
    exp = math.floor(math.log10(value))
    for m in (10.0, *reversed(_NICE)):
        if m * 10 ** exp <= value * (1 + 1e-12):
            return m * 10 ** exp
    return 10.0 ** (exp - 1) * 5.0  # pragma: no cover


def auto_cell_m(longest_side_m: float) -> float:
    """Cell size giving about :data:`TARGET_CELLS` cells on the longest side (>= 1 m).

    Examples
    --------
    >>> auto_cell_m(12_000.0), auto_cell_m(100.0)
    (25.0, 1.0)
    """
    return max(1.0, _nice_ceil(longest_side_m / TARGET_CELLS))


def _positive_or_none(value, field: str) -> float | None:
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise InvalidParameter(field, f"must be a finite number > 0, got {value!r}")
    return v


def _grid_for(scenario: Scenario, d: Dispersion, thresholds_g_m3: list[float],
              cell_m: float | None, extent_m: float | None) -> tuple[LocalGrid, list[str]]:
    """Wind-aligned grid: columns downwind, a row of cell centres on the plume axis."""
    notes: list[str] = []
    lon, lat = scenario.source_lon, scenario.source_lat
    axis = scenario.weather.wind_to_deg
    if extent_m is not None:
        cell = cell_m or auto_cell_m(2 * extent_m)
        return LocalGrid.covering(lon, lat, -extent_m, extent_m, -extent_m, extent_m, cell,
                                  axis_deg=axis, centre_on_axis=True), notes
    spans = centreline_reaches_m(thresholds_g_m3, d, max_m=MAX_REACH_M)
    reach = max(r for r, _ in spans)
    if reach >= MAX_REACH_M:
        notes.append(f"the lowest level of concern is still exceeded {MAX_REACH_M / 1000:g} km "
                     "downwind: the grid stops there")
    if reach <= 0:
        reach = 1000.0  # nothing reaches the levels: show the near field
    down = reach * 1.1
    cross = max(max(h for _, h in spans) * 1.25, 0.02 * reach)
    up = max(0.02 * reach, 2.0)
    if cell_m is None:
        widths = [h for r, h in spans if r > 0]
        ideal = min([(up + down) / TARGET_CELLS] + [h / 3.0 for h in widths])
        cell = max(1.0, _nice_floor(ideal))
        n_cells = (up + down) * 2 * cross / cell ** 2
        if n_cells > MAX_AUTO_CELLS:
            cell = _nice_ceil(math.sqrt((up + down) * 2 * cross / MAX_AUTO_CELLS))
            notes.append(f"grid coarsened to {cell:g} m cells to stay under "
                         f"{MAX_AUTO_CELLS:,} receptors: the narrowest threat zone may be only "
                         "a few cells wide")
    else:
        cell = cell_m
    pad = 2 * cell
    grid = LocalGrid.covering(lon, lat, -up - pad, down + pad, -cross - pad, cross + pad, cell,
                              axis_deg=axis, centre_on_axis=True)
    return grid, notes


def run(scenario: Scenario, *, cell_m: float | None = None,
        extent_m: float | None = None) -> Result:
    """Run a scenario: ground-level concentration grid, threat zones, warnings.

    Parameters
    ----------
    scenario : Scenario
        Validated input (a dict is accepted and validated).
    cell_m : float, optional
        Grid cell size, m. Default: about 500 cells along the wind, and at
        least 6 cells across the widest part of every threat zone (capped at
        :data:`MAX_AUTO_CELLS` receptors).
    extent_m : float, optional
        Half-size of a square grid centred on the source, m. Default: sized
        from the farthest level of concern along the wind.

    The grid is laid along the wind (columns downwind, a row of cell centres
    on the plume axis); ``Result.transform`` carries that rotation.

    Returns
    -------
    Result

    Examples
    --------
    >>> res = run({"source_lon": 121.70, "source_lat": 29.97, "chemical": "chlorine",
    ...            "release": {"kind": "continuous", "rate_g_s": 1000, "duration_s": 600},
    ...            "weather": {"wind_speed_m_s": 3, "wind_from_deg": 45, "stability": "D",
    ...                        "terrain": "urban"}})
    >>> [(z.name, round(z.max_downwind_m, -2)) for z in res.zones]
    [('AEGL-3 (60 min)', 300.0), ('AEGL-2 (60 min)', 1100.0), ('AEGL-1 (60 min)', 2500.0)]
    """
    if not isinstance(scenario, Scenario):
        scenario = Scenario.model_validate(scenario)
    cell_m = _positive_or_none(cell_m, "cell_m")
    extent_m = _positive_or_none(extent_m, "extent_m")
    chem = scenario.chem
    t_air = scenario.weather.air_temperature_k
    d = dispersion_of(scenario)
    levels = [(lc.name, lc.threshold_ppm, lc.tier) for lc in scenario.levels_of_concern]
    thresholds = [ppm_to_g_m3(lv[1], chem.mw_g_mol, t_air) for lv in levels]
    grid, notes = _grid_for(scenario, d, thresholds, cell_m, extent_m)
    along, across = grid.axis_coordinates()  # the grid's column axis is the wind
    conc_g_m3 = wind_frame_max_g_m3(along[None, :], across[:, None], d)
    conc_ppm = g_m3_to_ppm(conc_g_m3, chem.mw_g_mol, t_air)
    zones = contour_zones(conc_ppm, grid, scenario.weather.wind_from_deg, levels)
    reach = max((z.max_downwind_m for z in zones), default=0.0)
    band = confidence_band(grid, scenario.weather.wind_from_deg,
                           scenario.weather.wind_speed_m_s, reach)
    release_t = (scenario.release.release_temperature_k
                 if isinstance(scenario.release, SourceTerm) else None)
    warnings = notes + validity_warnings(d, chem, air_temperature_k=t_air,
                                         release_temperature_k=release_t,
                                         zone_reaches_m=[z.max_downwind_m for z in zones])
    return Result(scenario=scenario, grid=grid, concentration_ppm=conc_ppm,
                  zones=tuple(zones), confidence_band=band, warnings=tuple(warnings),
                  dispersion=d, sigma_set=SIGMA_SET_NAME, release_temperature_k=release_t)
