"""Toxic dose and probability of death (probit).

``Pr = a + b · ln(Cⁿ · t)`` and ``P = Φ(Pr − 5)`` with Φ the standard normal
CDF. Constants come from ``reference/probits.csv`` and carry their own units:
TNO Purple Book rows use **mg/m³ and minutes**, the Lees/CCPS-style rows
**ppm and minutes** — each :class:`Probit` converts for you. Only rows whose
status is VERIFIED are used; the default is the best-verified row
(VERIFIED-PRIMARY before VERIFIED-SECONDARY, then file order).

For a time-varying exposure the load ``∫ Cⁿ dt`` replaces ``Cⁿ·t`` (Withers &
Lees 1985 define their chlorine probit on ``Σ Cⁿ T``); the grid version
integrates the passage of the cloud analytically
(:func:`plume.footprint.toxic_load`).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

from . import _reference_data
from .chemicals import Chemical, as_chemical
from .errors import InvalidParameter, NoProbit
from .footprint import toxic_load
from .units import g_m3_to_ppm, ppm_to_mg_m3

__all__ = ["Probit", "probits_for", "default_probit", "probit_fatality", "fatality_grid"]


@dataclass(frozen=True)
class Probit:
    """One probit row with its units."""

    cas: str
    a: float
    b: float
    n: float
    conc_unit: str  # "ppm" or "mg/m3"
    time_unit: str  # "min"
    status: str
    source: str

    def probit_value(self, concentration_ppm: ArrayLike, minutes: ArrayLike,
                     mw_g_mol: float, temperature_k: float = 298.15):
        """Pr for a constant concentration (ppm) held for ``minutes``."""
        c = np.asarray(concentration_ppm, dtype=float)
        if self.conc_unit == "mg/m3":
            c = ppm_to_mg_m3(c, mw_g_mol, temperature_k)
        t = np.asarray(minutes, dtype=float)
        with np.errstate(divide="ignore"):
            return self.a + self.b * np.log(np.asarray(c) ** self.n * t)

    def probit_from_load(self, load_unit_n_min: ArrayLike):
        """Pr from a toxic load already in (probit unit)ⁿ · min."""
        with np.errstate(divide="ignore"):
            return self.a + self.b * np.log(np.asarray(load_unit_n_min, dtype=float))


@lru_cache(maxsize=1)
def _rows() -> tuple[Probit, ...]:
    out = []
    for r in csv.DictReader(io.StringIO(_reference_data.PROBITS_CSV)):
        if not r["status"].startswith("VERIFIED") or not r["a"]:
            continue
        out.append(Probit(cas=r["cas"], a=float(r["a"]), b=float(r["b"]), n=float(r["n"]),
                          conc_unit=r["conc_unit"], time_unit=r["time_unit"],
                          status=r["status"], source=r["source"]))
    return tuple(out)


def probits_for(chemical: str | Chemical) -> list[Probit]:
    """Verified probit rows for a chemical, best first.

    Examples
    --------
    >>> [(p.a, p.conc_unit) for p in probits_for("chlorine")]
    [(-8.29, 'ppm'), (-6.35, 'mg/m3')]
    >>> probits_for("benzene")
    []
    """
    chem = as_chemical(chemical)
    rows = [p for p in _rows() if p.cas == chem.cas]
    rank = {"VERIFIED-PRIMARY": 0, "VERIFIED-SECONDARY": 1}
    return sorted(rows, key=lambda p: rank.get(p.status, 2))


def default_probit(chemical: str | Chemical) -> Probit:
    """The best-verified probit, or :class:`~plume.errors.NoProbit`."""
    chem = as_chemical(chemical)
    rows = probits_for(chem)
    if not rows:
        raise NoProbit(chem.name_en)
    return rows[0]


def probit_fatality(concentration_ppm: ArrayLike, minutes: ArrayLike,
                    chemical: str | Chemical, *, probit: Probit | None = None,
                    temperature_k: float = 298.15):
    """Probability of death for a constant exposure, ``Φ(Pr − 5)``.

    Parameters
    ----------
    concentration_ppm : array_like
        Concentration, ppm (converted to the probit's unit).
    minutes : array_like
        Exposure duration, minutes.
    chemical : str or Chemical
    probit : Probit, optional
        Defaults to :func:`default_probit`.
    temperature_k : float
        For ppm → mg/m³ conversion.

    Returns
    -------
    float or ndarray
        Probability in [0, 1]; 0 where the concentration or time is 0.

    Examples
    --------
    Chlorine, Withers & Lees (ppm, min): 100 ppm for 30 min gives Pr ≈ 3.31:

    >>> round(probit_fatality(100.0, 30.0, "chlorine"), 3)
    0.046
    >>> probit_fatality(0.0, 30.0, "chlorine")
    0.0
    >>> tno = probits_for("chlorine")[1]              # TNO, mg/m3 and min
    >>> round(probit_fatality(100.0, 30.0, "chlorine", probit=tno), 3)
    0.032
    """
    chem = as_chemical(chemical)
    p = probit or default_probit(chem)
    t = np.asarray(minutes, dtype=float)
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise InvalidParameter("minutes", "must be finite and >= 0")
    c = np.asarray(concentration_ppm, dtype=float)
    if np.any(c < 0) or not np.all(np.isfinite(c)):
        raise InvalidParameter("concentration_ppm", "must be finite and >= 0")
    pr = p.probit_value(c, t, chem.mw_g_mol, temperature_k)
    out = np.where((c > 0) & (t > 0), ndtr(pr - 5.0), 0.0)
    return float(out) if out.ndim == 0 else out


def fatality_grid(result, *, probit: Probit | None = None, exposure_minutes: float = 60.0):
    """Probability of death on the grid of a :class:`~plume.result.Result`.

    Outdoor exposure to the whole passage of the cloud (finite or
    instantaneous releases); a steady release is taken to last
    ``exposure_minutes``. No sheltering, no escape.

    Returns
    -------
    ndarray, shape (ny, nx)
        Probability in [0, 1], on ``result.grid``.
    """
    chem = result.scenario.chem
    p = probit or default_probit(chem)
    if not (math.isfinite(exposure_minutes) and exposure_minutes > 0):
        raise InvalidParameter("exposure_minutes", "must be a finite number > 0")
    t_air = result.scenario.weather.air_temperature_k
    x, y = result.grid.wind_coordinates(result.scenario.weather.wind_from_deg)
    load_g = toxic_load(x, y, result.dispersion, p.n, exposure_s=exposure_minutes * 60.0)
    # (g/m3)^n · s  ->  (probit unit)^n · min
    unit_per_g_m3 = (g_m3_to_ppm(1.0, chem.mw_g_mol, t_air) if p.conc_unit == "ppm"
                     else 1e3)
    load = load_g * unit_per_g_m3 ** p.n / 60.0
    pr = p.probit_from_load(load)
    return np.where(load > 0, ndtr(pr - 5.0), 0.0)
