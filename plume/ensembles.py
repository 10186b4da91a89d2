"""Worst case over wind directions (and optionally stabilities and speeds).

For planning around a fixed installation the wind direction is unknown: the
ensemble evaluates every member on one square receptor grid centred on the
source and keeps, per receptor, the maximum ground-level concentration.

Two methods give the same answer:

* ``"brute"`` — every (direction, class, speed) member is one fused numexpr
  pass over the grid (:func:`plume.kernel.grid_max_g_m3`), folded into the
  running maximum in place.
* ``"nearest"`` (default) — at a receptor at distance r, the footprint
  ``A(x) · exp(−y² / 2σy(x)²)`` with ``x = r cos α``, ``y = r sin α`` falls as
  the angle α off the wind axis grows: ``d ln C / d(α²) ≈ (|d ln A/d ln x| −
  r²/σy²)/2 < 0`` because r/σy ≥ 1/0.32 for every Briggs curve while
  ``|d ln A / d ln x|`` stays near 2. So among a set of directions the
  maximum comes from the direction whose axis is angularly nearest to the
  receptor, and each (class, speed) needs one pass instead of one per
  direction. tests/plume/test_ensemble.py checks both methods agree.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import InvalidParameter
from .footprint import centreline_reach_m
from .grid import LocalGrid
from .kernel import grid_max_g_m3, wind_frame_max_g_m3
from .result import MODEL_NAME
from .runner import MAX_REACH_M, _positive_or_none, auto_cell_m, dispersion_of
from .scenario import Scenario
from .sigmas import SIGMA_SET_NAME, normalise_stability
from .units import g_m3_to_ppm, ppm_to_g_m3
from .zones import ThreatZone, contour_zones

__all__ = ["ensemble", "EnsembleResult", "DEFAULT_DIRECTIONS_DEG"]

DEFAULT_DIRECTIONS_DEG = tuple(float(a) for a in range(0, 360, 10))


@dataclass(frozen=True)
class EnsembleResult:
    """Per-receptor maximum over all members, and the zones it implies."""

    scenario: Scenario
    grid: LocalGrid
    concentration_ppm: np.ndarray = field(repr=False)
    zones: tuple[ThreatZone, ...]
    members: tuple[tuple[float, str, float], ...]  # (wind_from_deg, stability, wind m/s)
    sigma_set: str = SIGMA_SET_NAME
    model: str = MODEL_NAME

    @property
    def transform(self):
        return self.grid.transform

    @property
    def crs(self):
        return self.grid.crs


def _floats(values, field: str, *, lo: float, hi: float, strict_lo: bool) -> tuple[float, ...]:
    out = []
    for v in np.atleast_1d(np.asarray(values, dtype=float)).tolist():
        ok = np.isfinite(v) and (v > lo if strict_lo else v >= lo) and v <= hi
        if not ok:
            raise InvalidParameter(field, f"value {v!r} out of range")
        out.append(float(v))
    if not out:
        raise InvalidParameter(field, "needs at least one value")
    return tuple(out)


def _nearest_axis_frame(east: np.ndarray, north: np.ndarray,
                        dirs: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Downwind/crosswind coordinates of each cell w.r.t. its angularly nearest wind axis."""
    to = np.sort(np.mod(np.asarray(dirs) + 180.0, 360.0))
    ring = np.concatenate([to - 360.0, to, to + 360.0])
    e = east[None, :]
    n = north[:, None]
    r = np.hypot(e, n)
    bearing = np.mod(np.degrees(np.arctan2(e, n)), 360.0)
    idx = np.searchsorted(ring, bearing)
    gap = np.minimum(np.abs(bearing - ring[idx - 1]), np.abs(ring[idx] - bearing))
    alpha = np.radians(gap)
    return r * np.cos(alpha), r * np.sin(alpha)


def ensemble(scenario: Scenario | dict, *, wind_from_deg=None, stabilities=None,
             wind_speeds_m_s=None, cell_m: float | None = None,
             extent_m: float | None = None,
             method: str = "nearest") -> EnsembleResult:
    """Maximum ground-level concentration over wind directions, classes and speeds.

    Parameters
    ----------
    scenario : Scenario or dict
        Source, chemical, release and levels of concern; its weather gives the
        defaults for classes and speeds.
    wind_from_deg : array_like, optional
        Directions (degrees from north, wind blowing FROM). Default every 10°.
    stabilities : sequence of str, optional
        Pasquill classes. Default: the scenario's class.
    wind_speeds_m_s : array_like, optional
        Wind speeds, m/s. Default: the scenario's speed.
    cell_m, extent_m : float, optional
        Grid cell and half-width of the square grid, m. Default: sized to the
        farthest reach of the lowest level of concern over all classes/speeds.
    method : {"nearest", "brute"}
        See the module notes; both give the same maximum.

    Returns
    -------
    EnsembleResult

    Examples
    --------
    >>> ens = ensemble({"source_lon": 121.7, "source_lat": 29.97, "chemical": "ammonia",
    ...                 "release": {"kind": "continuous", "rate_g_s": 500},
    ...                 "weather": {"wind_speed_m_s": 2, "wind_from_deg": 0, "stability": "D"}},
    ...                stabilities=["D", "F"])
    >>> len(ens.members), ens.zones[0].name
    (72, 'AEGL-3 (60 min)')
    """
    if not isinstance(scenario, Scenario):
        scenario = Scenario.model_validate(scenario)
    dirs = _floats(DEFAULT_DIRECTIONS_DEG if wind_from_deg is None else wind_from_deg,
                   "wind_from_deg", lo=0.0, hi=360.0, strict_lo=False)
    classes = tuple(normalise_stability(s, "stabilities")
                    for s in (stabilities or [scenario.weather.stability_class]))
    speeds = _floats(wind_speeds_m_s if wind_speeds_m_s is not None
                     else scenario.weather.wind_speed_m_s,
                     "wind_speeds_m_s", lo=0.0, hi=60.0, strict_lo=True)
    chem = scenario.chem
    t_air = scenario.weather.air_temperature_k
    base = dispersion_of(scenario)
    variants = [replace(base, stability=c, u_m_s=u) for c, u in itertools.product(classes, speeds)]
    levels = [(lc.name, lc.threshold_ppm, lc.tier) for lc in scenario.levels_of_concern]
    extent_m = _positive_or_none(extent_m, "extent_m")
    cell_m = _positive_or_none(cell_m, "cell_m")
    if extent_m is None:
        lowest = ppm_to_g_m3(min(lv[1] for lv in levels), chem.mw_g_mol, t_air)
        reach = max(centreline_reach_m(lowest, v, max_m=MAX_REACH_M)[0] for v in variants)
        extent_m = max(reach * 1.05, 100.0)
    cell = cell_m or auto_cell_m(2 * extent_m)
    grid = LocalGrid.covering(scenario.source_lon, scenario.source_lat,
                              -extent_m, extent_m, -extent_m, extent_m, cell)
    if method not in ("nearest", "brute"):
        raise InvalidParameter("method", f"must be 'nearest' or 'brute', got {method!r}")
    east, north = grid.centres()
    best = np.zeros(grid.shape)
    work = np.empty(grid.shape)
    members = [(wd, v.stability, v.u_m_s) for v in variants for wd in dirs]
    if method == "nearest":
        x, y = _nearest_axis_frame(east, north, dirs)
        for v in variants:
            wind_frame_max_g_m3(x, y, v, out=work)
            np.maximum(best, work, out=best)
    else:
        for v in variants:
            for wd in dirs:
                grid_max_g_m3(east, north, v, wd, out=work)
                np.maximum(best, work, out=best)
    conc_ppm = g_m3_to_ppm(best, chem.mw_g_mol, t_air)
    zones = contour_zones(conc_ppm, grid, None, levels)
    return EnsembleResult(scenario=scenario, grid=grid, concentration_ppm=conc_ppm,
                          zones=tuple(zones), members=tuple(members))
