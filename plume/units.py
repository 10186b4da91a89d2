"""Unit conversions between volume mixing ratio (ppm) and mass concentration.

Ideal gas: ``c_mg_m3 = ppm * MW * P / (R * T) / 1000``. At 25 °C and
101.325 kPa one mole occupies 24.466 L, the "24.45" of the usual rule
``mg/m³ = ppm × MW / 24.45`` (reference/README.md).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .errors import InvalidParameter

__all__ = [
    "R_J_MOL_K",
    "STANDARD_TEMPERATURE_K",
    "STANDARD_PRESSURE_PA",
    "ppm_to_mg_m3",
    "mg_m3_to_ppm",
    "g_m3_to_ppm",
    "ppm_to_g_m3",
    "molar_concentration_mol_m3",
]

#: Molar gas constant (2019 SI, exact to the digits shown), J/(mol·K).
R_J_MOL_K = 8.314462618
#: Reference conditions of AEGL/ERPG/IDLH ppm values (toxic_thresholds_sources.md).
STANDARD_TEMPERATURE_K = 298.15
STANDARD_PRESSURE_PA = 101325.0


def _positive_scalar(value: float, field: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise InvalidParameter(field, f"must be a finite number > 0, got {value!r}")
    return value


def molar_concentration_mol_m3(temperature_k: float = STANDARD_TEMPERATURE_K,
                               pressure_pa: float = STANDARD_PRESSURE_PA) -> float:
    """Moles of ideal gas per cubic metre, ``P / (R T)``.

    Examples
    --------
    >>> round(molar_concentration_mol_m3(), 3)
    40.874
    """
    t = _positive_scalar(temperature_k, "temperature_k")
    p = _positive_scalar(pressure_pa, "pressure_pa")
    return p / (R_J_MOL_K * t)


def _mg_m3_per_ppm(mw_g_mol: float, temperature_k: float, pressure_pa: float) -> float:
    mw = _positive_scalar(mw_g_mol, "mw_g_mol")
    return mw * molar_concentration_mol_m3(temperature_k, pressure_pa) * 1e-3


def ppm_to_mg_m3(ppm: ArrayLike, mw_g_mol: float,
                 temperature_k: float = STANDARD_TEMPERATURE_K,
                 pressure_pa: float = STANDARD_PRESSURE_PA):
    """Convert a volume mixing ratio in ppm to mg/m³.

    Parameters
    ----------
    ppm : array_like
        Volume mixing ratio, parts per million.
    mw_g_mol : float
        Molecular weight, g/mol.
    temperature_k, pressure_pa : float
        Air temperature (K) and pressure (Pa); default 25 °C, 1 atm.

    Returns
    -------
    float or ndarray
        Mass concentration in mg/m³, same shape as ``ppm``.

    Examples
    --------
    Chlorine, 1 ppm at 25 °C is 2.90 mg/m³ (probits.csv note):

    >>> round(ppm_to_mg_m3(1.0, 70.90), 2)
    2.9
    >>> ppm_to_mg_m3([0.0, 10.0], 17.03).round(3).tolist()
    [0.0, 6.961]
    """
    factor = _mg_m3_per_ppm(mw_g_mol, temperature_k, pressure_pa)
    out = np.asarray(ppm, dtype=float) * factor
    return out if out.ndim else float(out)


def mg_m3_to_ppm(mg_m3: ArrayLike, mw_g_mol: float,
                 temperature_k: float = STANDARD_TEMPERATURE_K,
                 pressure_pa: float = STANDARD_PRESSURE_PA):
    """Convert mg/m³ to ppm (the inverse of :func:`ppm_to_mg_m3`).

    Examples
    --------
    >>> round(mg_m3_to_ppm(2.898, 70.90), 3)
    1.0
    >>> mg_m3_to_ppm(ppm_to_mg_m3(5.0, 34.08), 34.08)
    5.0
    """
    factor = _mg_m3_per_ppm(mw_g_mol, temperature_k, pressure_pa)
    out = np.asarray(mg_m3, dtype=float) / factor
    return out if out.ndim else float(out)


def g_m3_to_ppm(g_m3: ArrayLike, mw_g_mol: float,
                temperature_k: float = STANDARD_TEMPERATURE_K,
                pressure_pa: float = STANDARD_PRESSURE_PA):
    """Convert g/m³ (what the Gaussian formulas give) to ppm.

    Examples
    --------
    >>> round(g_m3_to_ppm(2.898e-3, 70.90), 3)
    1.0
    """
    return mg_m3_to_ppm(np.asarray(g_m3, dtype=float) * 1e3, mw_g_mol,
                        temperature_k, pressure_pa)


def ppm_to_g_m3(ppm: ArrayLike, mw_g_mol: float,
                temperature_k: float = STANDARD_TEMPERATURE_K,
                pressure_pa: float = STANDARD_PRESSURE_PA):
    """Convert ppm to g/m³.

    Examples
    --------
    >>> round(ppm_to_g_m3(20.0, 70.90) * 1e3, 2)
    57.96
    """
    return ppm_to_mg_m3(ppm, mw_g_mol, temperature_k, pressure_pa) * 1e-3
