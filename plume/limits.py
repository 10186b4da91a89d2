"""Honest limits: warnings when a scenario leaves the model's validity.

The Gaussian model with Briggs sigmas is meant for neutrally buoyant gas,
flat terrain, steady uniform wind, 100 m – 10 km (briggs_sigmas.md §1) — the
same limits ALOHA documents for its Gaussian model (aloha.md): very low wind,
very stable air, dense gases, fires and reactions.

Dense-gas test (Richardson number), after Britter & McQuaid (1988),
*Workbook on the Dispersion of Dense Gases* (HSE CRR 17/1988), as used in
CCPS (1999):

* continuous release, volume rate ``q`` (m³/s) at release density ρg::

      Ri = (g′ q / D)^(1/3) / u,   D = sqrt(q / u),   g′ = g (ρg − ρa) / ρa

  dense-gas effects matter when ``Ri ≥ 0.15``;
* instantaneous release of volume ``V``: ``Ri = sqrt(g′ V^(1/3)) / u ≥ 0.2``.

The definitions of D and g′ are those of the Britter–McQuaid plume model as
implemented in GasDispersion.jl; the thresholds 0.15 and 0.2 are the values
usually quoted from the Workbook (not re-read in the Workbook itself here).
"""

from __future__ import annotations

import math

from .chemicals import Chemical
from .footprint import Dispersion
from .units import R_J_MOL_K, STANDARD_PRESSURE_PA

__all__ = ["richardson_continuous", "richardson_instantaneous", "validity_warnings",
           "RI_CONTINUOUS_THRESHOLD", "RI_INSTANTANEOUS_THRESHOLD",
           "ALWAYS_WARNING"]

RI_CONTINUOUS_THRESHOLD = 0.15
RI_INSTANTANEOUS_THRESHOLD = 0.2
_G = 9.80665
_AIR_MW_KG_MOL = 0.028964
ALWAYS_WARNING = ("fires, explosions and chemical reactions (e.g. with moisture) are not "
                  "modelled; terrain, buildings and wind shifts are ignored (flat, uniform wind)")


def _air_density(temperature_k: float) -> float:
    return STANDARD_PRESSURE_PA * _AIR_MW_KG_MOL / (R_J_MOL_K * temperature_k)


def _reduced_gravity(gas_density_kg_m3: float, air_density_kg_m3: float) -> float:
    """g′ = g (ρg − ρa) / ρa, m/s²; negative for gas lighter than air."""
    return _G * (gas_density_kg_m3 - air_density_kg_m3) / air_density_kg_m3


def richardson_continuous(rate_g_s: float, gas_density_kg_m3: float, air_density_kg_m3: float,
                          wind_speed_m_s: float) -> float:
    """Britter–McQuaid Richardson number of a continuous release.

    Negative for buoyant (lighter than air) releases.

    Examples
    --------
    1 kg/s of chlorine vapour at its boiling point in 3 m/s wind is dense:

    >>> round(richardson_continuous(1000.0, 3.61, 1.18, 3.0), 2)
    0.88
    """
    q = rate_g_s * 1e-3 / gas_density_kg_m3
    if q <= 0:
        return 0.0
    g_prime = _reduced_gravity(gas_density_kg_m3, air_density_kg_m3)
    d = math.sqrt(q / wind_speed_m_s)
    return math.copysign(abs(g_prime * q / d) ** (1.0 / 3.0), g_prime) / wind_speed_m_s


def richardson_instantaneous(mass_g: float, gas_density_kg_m3: float,
                             air_density_kg_m3: float, wind_speed_m_s: float) -> float:
    """Britter–McQuaid Richardson number of an instantaneous release.

    Examples
    --------
    >>> round(richardson_instantaneous(1e6, 3.61, 1.18, 3.0), 2)
    3.82
    """
    v = mass_g * 1e-3 / gas_density_kg_m3
    if v <= 0:
        return 0.0
    g_prime = _reduced_gravity(gas_density_kg_m3, air_density_kg_m3)
    return math.copysign(math.sqrt(abs(g_prime) * v ** (1.0 / 3.0)), g_prime) / wind_speed_m_s


def validity_warnings(d: Dispersion, chem: Chemical, *, air_temperature_k: float,
                      release_temperature_k: float | None,
                      zone_reaches_m: list[float]) -> list[str]:
    """Warnings for one run, most important first."""
    out: list[str] = []
    rho_a = _air_density(air_temperature_k)
    t_rel = release_temperature_k or air_temperature_k
    rho_g = chem.gas_density_kg_m3(t_rel)
    if d.instantaneous:
        ri = richardson_instantaneous(d.mass_g or 0.0, rho_g, rho_a, d.u_m_s)
        limit = RI_INSTANTANEOUS_THRESHOLD
    else:
        ri = richardson_continuous(d.rate_g_s, rho_g, rho_a, d.u_m_s)
        limit = RI_CONTINUOUS_THRESHOLD
    if ri >= limit:
        out.append(f"dense gas: Richardson number {ri:.2f} >= {limit} (Britter-McQuaid) for "
                   f"{chem.name_en} at {t_rel:.0f} K; heavy-gas slumping dominates near the "
                   "source and this Gaussian model is outside its validity there")
    if d.u_m_s < 1.0:
        out.append(f"wind {d.u_m_s:g} m/s < 1 m/s: the Gaussian plume is unreliable in "
                   "near-calm air; concentrations may stay higher and the direction is uncertain")
    if d.stability in ("E", "F") and d.u_m_s <= 2.0:
        out.append(f"very stable air (class {d.stability}) with low wind ({d.u_m_s:g} m/s): "
                   "the cloud may stay concentrated far from the source")
    reached = [r for r in zone_reaches_m if r > 0]
    if reached and max(reached) > 10_000.0:
        out.append(f"threat zone reaches {max(reached) / 1000:.1f} km: beyond 10 km the Briggs "
                   "sigma curves are extrapolated and uniform wind is unlikely")
    if reached and min(reached) < 100.0:
        out.append(f"threat zone ends at {min(reached):.0f} m: below 100 m the Briggs curves are "
                   "extrapolated and near-source concentrations are patchy")
    if not d.instantaneous and d.duration_s is not None and d.duration_s > 3600.0:
        out.append(f"release lasts {d.duration_s / 60:.0f} min: the 60-min guideline levels "
                   "underestimate the hazard of longer exposures")
    out.append(ALWAYS_WARNING)
    return out
