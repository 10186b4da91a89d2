"""Source terms: how fast a chemical becomes airborne, and for how long.

Each function returns a :class:`SourceTerm` (a release rate in g/s, a
duration in s, the release temperature and the assumptions made) that can be
used directly as ``Scenario.release``.

Formulas and where they were checked:

* **Gas through a hole** — choked when ``P/Pa ≥ ((k+1)/2)^(k/(k−1))``::

      Q = Cd A sqrt(k ρ P (2/(k+1))^((k+1)/(k−1)))

  otherwise::

      Q = Cd A sqrt(2 ρ P (k/(k−1)) [(Pa/P)^(2/k) − (Pa/P)^((k+1)/k)])

  (Wikipedia, "Accidental release source terms", after Perry's Handbook and
  the EPA/CCPS guidance, which also gives ``Cd ≈ 0.72`` as the usual value).
  Reproduces the CCPS (1999) *Guidelines for Consequence Analysis of Chemical
  Releases* p. 47 worked example (0.0900 kg/s).
* **Liquid through a hole** (Bernoulli): ``Q = Cd A sqrt(2 ρ ΔP)`` with
  ``ΔP = P − Pa + ρ g h``; reproduces CCPS (1999) p. 40 (0.2169 kg/s).
  Flashing of a liquefied gas stored above its boiling point (adiabatic
  flash): ``f = cp (Ts − Tb) / Hvap(Tb)`` (same Wikipedia article, "Adiabatic
  flash of liquified gas release").
* **Pool evaporation** of a non-boiling liquid: US EPA *Risk Management
  Program Guidance for Offsite Consequence Analysis* (EPA 550-B-99-009,
  1999), Appendix D, Eq. D-1 (mass-transfer exponent 2/3 on MW after Mackay &
  Matsugu 1973; equation identified via the JRC RAPID-N property estimator
  "Evaporation rate from pool")::

      QR [lb/min] = 0.284 · u^0.78 · MW^(2/3) · A [ft²] · VP [mmHg] / (82.05 · T [K])

  The numeric constants 0.284 and 82.05 (R in atm·cm³/(mol·K)) could not be
  re-read in the guidance itself during this work: they are flagged in
  docs/PLUME.md as a fact to confirm against the PDF.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .chemicals import Chemical, as_chemical
from .errors import InvalidParameter, SourceTermError

__all__ = [
    "SourceTerm",
    "DEFAULT_GAS_DISCHARGE_COEFFICIENT",
    "DEFAULT_LIQUID_DISCHARGE_COEFFICIENT",
    "DEFAULT_MAX_DURATION_S",
    "gas_orifice_mass_rate_kg_s",
    "liquid_orifice_mass_rate_kg_s",
    "flash_fraction",
    "gas_through_hole",
    "liquid_through_hole",
    "pool_evaporation",
]

#: "usually about 0.72" — Wikipedia, Accidental release source terms.
DEFAULT_GAS_DISCHARGE_COEFFICIENT = 0.72
#: value used for a liquid orifice in the CCPS (1999) p. 40 worked example.
DEFAULT_LIQUID_DISCHARGE_COEFFICIENT = 0.63
#: releases are followed for at most one hour (AEGL/ERPG are 60-min values).
DEFAULT_MAX_DURATION_S = 3600.0
_G_M_S2 = 9.80665
_FT2_PER_M2 = 1.0 / 0.3048 ** 2
_PA_PER_MMHG = 133.322387415
_G_PER_LB = 453.59237


class SourceTerm(BaseModel):
    """An airborne release rate and duration, with the assumptions behind it."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    kind: Literal["source_term"] = "source_term"
    method: str = Field(description="which formula produced the rate")
    rate_g_s: float = Field(ge=0, description="airborne release rate, g/s")
    duration_s: float = Field(gt=0, description="release duration, s")
    release_temperature_k: float = Field(gt=0, description="temperature of the released vapour, K")
    flash_fraction: float | None = Field(default=None, ge=0, le=1)
    liquid_rate_g_s: float | None = Field(default=None, ge=0,
                                          description="liquid leaving the hole, g/s")
    assumptions: tuple[str, ...] = ()

    @property
    def mass_g(self) -> float:
        """Airborne mass over the whole duration, g."""
        return self.rate_g_s * self.duration_s


def _positive(value: float, field: str, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(field, f"must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidParameter(field, f"must be a finite number {bound}, got {v!r}")
    return v


def _hole_area_m2(hole_diameter_m: float) -> float:
    return math.pi / 4.0 * _positive(hole_diameter_m, "hole_diameter_m") ** 2


def _duration(rate_g_s: float, inventory_g: float | None, max_duration_s: float,
              assumptions: list[str]) -> float:
    max_d = _positive(max_duration_s, "max_duration_s")
    if inventory_g is None:
        assumptions.append(f"inventory not given: release assumed to last {max_d:g} s")
        return max_d
    inv = _positive(inventory_g, "inventory_g")
    if rate_g_s <= 0:
        return max_d
    d = inv / rate_g_s
    if d > max_d:
        assumptions.append(f"inventory would last {d:.0f} s; followed for {max_d:g} s only")
        return max_d
    assumptions.append(f"inventory {inv:g} g empties in {d:.0f} s at the initial rate")
    return d


def gas_orifice_mass_rate_kg_s(hole_area_m2: float, pressure_pa: float,
                               gas_density_kg_m3: float, heat_capacity_ratio: float,
                               discharge_coefficient: float = DEFAULT_GAS_DISCHARGE_COEFFICIENT,
                               ambient_pressure_pa: float = 101325.0) -> tuple[float, bool]:
    """Mass flow of gas through an orifice, kg/s, and whether it is choked.

    Parameters
    ----------
    hole_area_m2 : float
        Hole area, m².
    pressure_pa : float
        Absolute upstream pressure, Pa (must exceed ``ambient_pressure_pa``).
    gas_density_kg_m3 : float
        Gas density at upstream pressure and temperature, kg/m³.
    heat_capacity_ratio : float
        k = Cp/Cv (> 1).
    discharge_coefficient : float
        Cd, default 0.72.
    ambient_pressure_pa : float
        Absolute downstream pressure, Pa.

    Examples
    --------
    CCPS (1999) p. 47: 1 cm hole, 501 kPa, ρ = 8.90 kg/m³, k = 1.15, Cd = 0.85:

    >>> rate, choked = gas_orifice_mass_rate_kg_s(math.pi / 4 * 0.01**2, 501e3, 8.90, 1.15, 0.85)
    >>> round(rate, 5), choked
    (0.09003, True)
    """
    a = _positive(hole_area_m2, "hole_area_m2")
    p = _positive(pressure_pa, "pressure_pa")
    rho = _positive(gas_density_kg_m3, "gas_density_kg_m3")
    k = _positive(heat_capacity_ratio, "heat_capacity_ratio")
    cd = _positive(discharge_coefficient, "discharge_coefficient")
    pa = _positive(ambient_pressure_pa, "ambient_pressure_pa")
    if k <= 1.0:
        raise InvalidParameter("heat_capacity_ratio", f"must be > 1, got {k!r}")
    if cd > 1.0:
        raise InvalidParameter("discharge_coefficient", f"must be <= 1, got {cd!r}")
    if p <= pa:
        raise SourceTermError("pressure_pa", f"{p:g} Pa does not exceed the ambient "
                              f"pressure {pa:g} Pa: nothing flows out")
    critical_ratio = ((k + 1.0) / 2.0) ** (k / (k - 1.0))
    if p / pa >= critical_ratio:
        q = cd * a * math.sqrt(k * rho * p * (2.0 / (k + 1.0)) ** ((k + 1.0) / (k - 1.0)))
        return q, True
    r = pa / p
    q = cd * a * math.sqrt(2.0 * rho * p * (k / (k - 1.0))
                           * (r ** (2.0 / k) - r ** ((k + 1.0) / k)))
    return q, False


def liquid_orifice_mass_rate_kg_s(hole_area_m2: float, liquid_density_kg_m3: float,
                                  pressure_difference_pa: float,
                                  discharge_coefficient: float = DEFAULT_LIQUID_DISCHARGE_COEFFICIENT
                                  ) -> float:
    """Bernoulli flow of liquid through an orifice, kg/s: ``Cd A sqrt(2 ρ ΔP)``.

    Examples
    --------
    CCPS (1999) p. 40: 1 cm hole, ρ = 490 kg/m³, ΔP = 120 935 − 101 325 Pa, Cd = 0.63:

    >>> round(liquid_orifice_mass_rate_kg_s(math.pi / 4 * 0.01**2, 490.0, 120935.0368 - 101325.0, 0.63), 4)
    0.2169
    """
    a = _positive(hole_area_m2, "hole_area_m2")
    rho = _positive(liquid_density_kg_m3, "liquid_density_kg_m3")
    dp = _positive(pressure_difference_pa, "pressure_difference_pa")
    cd = _positive(discharge_coefficient, "discharge_coefficient")
    if cd > 1.0:
        raise InvalidParameter("discharge_coefficient", f"must be <= 1, got {cd!r}")
    return cd * a * math.sqrt(2.0 * rho * dp)


def flash_fraction(chemical: str | Chemical, storage_temperature_k: float) -> float:
    """Mass fraction of a liquefied gas that flashes to vapour on release.

    Adiabatic flash ``f = cp (Ts − Tb) / Hvap(Tb)``, clipped to [0, 1]; 0 for a
    liquid stored at or below its normal boiling point.

    Examples
    --------
    >>> round(flash_fraction("chlorine", 298.15), 3)
    0.197
    >>> flash_fraction("benzene", 298.15)
    0.0
    """
    chem = as_chemical(chemical)
    ts = _positive(storage_temperature_k, "temperature_k")
    tb = chem.boiling_point_k
    if ts <= tb:
        return 0.0
    f = chem.liquid_cp_j_kg_k(ts) * (ts - tb) / chem.heat_of_vaporisation_j_kg(tb)
    return min(1.0, max(0.0, f))


def gas_through_hole(chemical: str | Chemical, *, hole_diameter_m: float, pressure_pa: float,
                     temperature_k: float = 298.15,
                     discharge_coefficient: float = DEFAULT_GAS_DISCHARGE_COEFFICIENT,
                     ambient_pressure_pa: float = 101325.0, inventory_g: float | None = None,
                     max_duration_s: float = DEFAULT_MAX_DURATION_S) -> SourceTerm:
    """Gas escaping from a pressurised vessel through a hole (choked or not).

    Parameters
    ----------
    chemical : str or Chemical
        Name or CAS number.
    hole_diameter_m : float
        Equivalent hole diameter, m.
    pressure_pa : float
        Absolute pressure in the vessel, Pa.
    temperature_k : float
        Gas temperature in the vessel, K.
    discharge_coefficient : float
        Cd (default 0.72).
    ambient_pressure_pa : float
        Absolute outside pressure, Pa.
    inventory_g : float, optional
        Gas in the vessel, g; sets the duration (else ``max_duration_s``).
    max_duration_s : float
        Longest duration followed, s (default 3600).

    Returns
    -------
    SourceTerm

    Examples
    --------
    >>> st = gas_through_hole("chlorine", hole_diameter_m=0.01, pressure_pa=5e5, inventory_g=50e3)
    >>> round(st.rate_g_s), round(st.duration_s), st.assumptions[0]
    (102, 492, 'ideal gas (Z = 1) at 298.15 K, k = Cp/Cv = 1.324')
    """
    chem = as_chemical(chemical)
    t = _positive(temperature_k, "temperature_k")
    p = _positive(pressure_pa, "pressure_pa")
    k = chem.heat_capacity_ratio(t)
    rho = chem.gas_density_kg_m3(t, p)
    q_kg_s, choked = gas_orifice_mass_rate_kg_s(_hole_area_m2(hole_diameter_m), p, rho, k,
                                                discharge_coefficient, ambient_pressure_pa)
    assumptions = [f"ideal gas (Z = 1) at {t:g} K, k = Cp/Cv = {k:.3f}",
                   f"{'choked (sonic)' if choked else 'unchoked (subsonic)'} flow, "
                   f"Cd = {discharge_coefficient:g}",
                   "initial (maximum) rate held constant: vessel depressurisation "
                   "not modelled (conservative)"]
    rate_g_s = q_kg_s * 1e3
    duration = _duration(rate_g_s, inventory_g, max_duration_s, assumptions)
    return SourceTerm(method="gas through hole (choked/unchoked orifice)", rate_g_s=rate_g_s,
                      duration_s=duration, release_temperature_k=t,
                      assumptions=tuple(assumptions))


def liquid_through_hole(chemical: str | Chemical, *, hole_diameter_m: float,
                        temperature_k: float = 298.15, pressure_pa: float | None = None,
                        liquid_head_m: float = 0.0,
                        discharge_coefficient: float = DEFAULT_LIQUID_DISCHARGE_COEFFICIENT,
                        ambient_pressure_pa: float = 101325.0, inventory_g: float | None = None,
                        airborne: Literal["flash", "all"] = "flash",
                        max_duration_s: float = DEFAULT_MAX_DURATION_S) -> SourceTerm:
    """Liquid escaping through a hole below the liquid level (Bernoulli), with flashing.

    For a liquefied gas (stored above its normal boiling point, e.g. chlorine
    or ammonia) the fraction :func:`flash_fraction` turns to vapour at once.

    Parameters
    ----------
    chemical : str or Chemical
    hole_diameter_m : float
        Hole diameter, m.
    temperature_k : float
        Liquid temperature, K.
    pressure_pa : float, optional
        Absolute pressure above the liquid, Pa; default: the saturation
        vapour pressure at ``temperature_k`` (liquefied gas under its own
        pressure), or ambient pressure if the liquid would not boil.
    liquid_head_m : float
        Height of liquid above the hole, m.
    discharge_coefficient : float
        Cd (default 0.63).
    ambient_pressure_pa : float
    inventory_g : float, optional
        Liquid in the vessel, g; sets the duration.
    airborne : {"flash", "all"}
        ``"flash"``: only the flashed vapour is airborne (the rest rains out;
        model its pool with :func:`pool_evaporation`); ``"all"``: the whole jet
        is treated as airborne vapour and aerosol (screening, conservative).
    max_duration_s : float

    Returns
    -------
    SourceTerm
        ``rate_g_s`` is the airborne rate; ``liquid_rate_g_s`` the liquid flow.

    Examples
    --------
    >>> st = liquid_through_hole("chlorine", hole_diameter_m=0.01)
    >>> round(st.liquid_rate_g_s), round(st.flash_fraction, 3), round(st.rate_g_s)
    (2153, 0.197, 424)
    """
    chem = as_chemical(chemical)
    t = _positive(temperature_k, "temperature_k")
    pa = _positive(ambient_pressure_pa, "ambient_pressure_pa")
    head = _positive(liquid_head_m, "liquid_head_m", allow_zero=True)
    rho_l = chem.liquid_density_kg_m3(t)
    assumptions: list[str] = []
    if pressure_pa is None:
        p = max(chem.vapour_pressure_pa(t), pa)
        assumptions.append(f"vessel pressure = saturation pressure at {t:g} K ({p:.0f} Pa)")
    else:
        p = _positive(pressure_pa, "pressure_pa")
    dp = p - pa + rho_l * _G_M_S2 * head
    if dp <= 0:
        raise SourceTermError("pressure_pa", "no driving pressure: vessel pressure plus liquid "
                              "head does not exceed ambient pressure")
    q_kg_s = liquid_orifice_mass_rate_kg_s(_hole_area_m2(hole_diameter_m), rho_l, dp,
                                           discharge_coefficient)
    f = flash_fraction(chem, t)
    liquid_g_s = q_kg_s * 1e3
    assumptions += [f"Bernoulli flow of liquid (ρ = {rho_l:.0f} kg/m³), ΔP = {dp:.0f} Pa, "
                    f"Cd = {discharge_coefficient:g}; no two-phase choking (conservative)",
                    "initial (maximum) rate held constant"]
    if airborne == "all":
        rate_g_s = liquid_g_s
        assumptions.append("whole jet assumed airborne (vapour + aerosol), no rain-out: "
                           "screening, conservative")
    elif airborne == "flash":
        rate_g_s = liquid_g_s * f
        if f > 0:
            assumptions.append(f"adiabatic flash fraction {f:.3f} airborne; aerosol "
                               "entrainment neglected (may underestimate)")
        assumptions.append("liquid that does not flash rains out: evaporation of the "
                           "pool it forms is not included (use pool_evaporation)")
    else:
        raise InvalidParameter("airborne", f"must be 'flash' or 'all', got {airborne!r}")
    duration = _duration(liquid_g_s, inventory_g, max_duration_s, assumptions)
    release_t = chem.boiling_point_k if f > 0 else t
    return SourceTerm(method="liquid through hole (Bernoulli) with adiabatic flash",
                      rate_g_s=rate_g_s, duration_s=duration, release_temperature_k=release_t,
                      flash_fraction=f, liquid_rate_g_s=liquid_g_s,
                      assumptions=tuple(assumptions))


def pool_evaporation(chemical: str | Chemical, *, area_m2: float, wind_speed_m_s: float,
                     temperature_k: float = 298.15, liquid_mass_g: float | None = None,
                     ambient_pressure_pa: float = 101325.0,
                     max_duration_s: float = DEFAULT_MAX_DURATION_S) -> SourceTerm:
    """Evaporation from a non-boiling liquid pool (US EPA RMP guidance Eq. D-1).

    Parameters
    ----------
    chemical : str or Chemical
    area_m2 : float
        Pool area, m² (diked area, or the spread pool).
    wind_speed_m_s : float
        Wind speed, m/s (> 0).
    temperature_k : float
        Liquid temperature, K; the liquid must not boil at it.
    liquid_mass_g : float, optional
        Liquid in the pool, g; sets the duration.
    ambient_pressure_pa : float
    max_duration_s : float

    Examples
    --------
    >>> st = pool_evaporation("benzene", area_m2=100.0, wind_speed_m_s=1.5)
    >>> round(st.rate_g_s)  # about 2.2 g/(m² s)
    225
    >>> pool_evaporation("chlorine", area_m2=10.0, wind_speed_m_s=1.5)
    Traceback (most recent call last):
    ...
    plume.errors.SourceTermError: temperature_k: chlorine boils at 298.15 K (vapour pressure 780560 Pa >= ambient 101325 Pa): Eq. D-1 is for non-boiling pools
    """
    chem = as_chemical(chemical)
    area = _positive(area_m2, "area_m2")
    u = _positive(wind_speed_m_s, "wind_speed_m_s")
    t = _positive(temperature_k, "temperature_k")
    pa = _positive(ambient_pressure_pa, "ambient_pressure_pa")
    vp_pa = chem.vapour_pressure_pa(t)
    if vp_pa >= pa:
        raise SourceTermError("temperature_k", f"{chem.name_en} boils at {t:g} K (vapour "
                              f"pressure {vp_pa:.0f} Pa >= ambient {pa:.0f} Pa): Eq. D-1 is "
                              "for non-boiling pools")
    qr_lb_min = (0.284 * u ** 0.78 * chem.mw_g_mol ** (2.0 / 3.0) * area * _FT2_PER_M2
                 * (vp_pa / _PA_PER_MMHG) / (82.05 * t))
    rate_g_s = qr_lb_min * _G_PER_LB / 60.0
    assumptions = [f"US EPA RMP OCA guidance Eq. D-1, liquid at {t:g} K "
                   f"(vapour pressure {vp_pa:.0f} Pa), wind {u:g} m/s",
                   "pool area constant; liquid temperature constant (no cooling)"]
    duration = _duration(rate_g_s, liquid_mass_g, max_duration_s, assumptions)
    return SourceTerm(method="pool evaporation (US EPA RMP guidance Eq. D-1)",
                      rate_g_s=rate_g_s, duration_s=duration, release_temperature_k=t,
                      assumptions=tuple(assumptions))
