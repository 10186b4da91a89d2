"""Gaussian plume (continuous) and puff (instantaneous) concentrations.

Formulas from ``reference/briggs_sigmas.md`` §3 and §4 (verified):

* plume, total ground reflection::

    C = Q / (2 π u σy σz) · exp(−y²/2σy²) · [exp(−(z−H)²/2σz²) + exp(−(z+H)²/2σz²)]

* puff centred at the origin, ground reflection::

    C = M / ((2π)^{3/2} σx σy σz) · exp(−x²/2σx²) · exp(−y²/2σy²) · [same vertical terms]

Mixing lid at height L (optional, plume only): image sources at
``z = ±H + 2jL`` for ``j = ±1 … ±4`` while ``σz / L < 1.6``, and the uniformly
mixed form ``C = Q / (√(2π) u σy L) · exp(−y²/2σy²)`` once ``σz / L ≥ 1.6``
— the switch EPA ISC3 uses (weblakes ISCST3 technical guide §7.1.6, as cited
in briggs_sigmas.md §3). A source or receptor above the lid gets 0 at ground
(the plume is assumed to stay above the lid).

Everything broadcasts; arrays of a million receptors are evaluated in one
fused numexpr expression (multi-threaded) when numexpr is available.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ._evaluate import evaluate
from .errors import InvalidParameter

__all__ = ["plume_concentration", "puff_concentration", "MIXING_SWITCH_RATIO",
           "N_LID_IMAGES"]

#: σz / mixing height at and above which the plume is treated as uniformly mixed.
MIXING_SWITCH_RATIO = 1.6
#: Image pairs on each side of the lid (j = 1 … N); the first omitted term is
#: below exp(−12) of the source term while σz/L < 1.6.
N_LID_IMAGES = 4


def _scalar(value: float, field: str, *, minimum: float | None = None,
            strictly: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(field, f"must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise InvalidParameter(field, f"must be finite, got {v!r}")
    if minimum is not None and (v <= minimum if strictly else v < minimum):
        op = ">" if strictly else ">="
        raise InvalidParameter(field, f"must be {op} {minimum:g}, got {v!r}")
    return v


def _as_float_array(value: ArrayLike) -> np.ndarray | float:
    if np.isscalar(value):
        return float(value)
    return np.asarray(value, dtype=float)


def _kernel_expr(z_is_zero_scalar: bool, h_m: float) -> str:
    """Crosswind × vertical terms with the exponentials merged (one exp per image)."""
    if z_is_zero_scalar:
        if h_m == 0.0:
            return "(2.0*exp(-0.5*(y/sy)**2))"
        return "(2.0*exp(-0.5*((y/sy)**2+(h/sz)**2)))"
    return ("(exp(-0.5*((y/sy)**2+((z-h)/sz)**2))"
            "+exp(-0.5*((y/sy)**2+((z+h)/sz)**2)))")


def _lid_image_terms(below: str, above: str, sz: str) -> list[str]:
    """Vertical terms of the image sources at ``z = ±H + 2jL``, j = ±1 … ±N_LID_IMAGES.

    ``below`` and ``above`` are the expression texts of ``z − H`` and ``z + H``
    (``"-h"`` and ``"h"`` at ground level); ``sz`` that of σz.
    """
    terms = []
    for j in range(1, N_LID_IMAGES + 1):
        for sign in (1, -1):
            off = f"{2 * j * sign}.0*L"
            terms.append(f"exp(-0.5*(({below}+{off})/{sz})**2)")
            terms.append(f"exp(-0.5*(({above}+{off})/{sz})**2)")
    return terms


def plume_concentration(q_g_s: float, u_m_s: float, x_m: ArrayLike, y_m: ArrayLike,
                        z_m: ArrayLike, h_m: float, sigma_y_m: ArrayLike,
                        sigma_z_m: ArrayLike, mixing_height_m: float | None = None):
    """Steady Gaussian plume from a continuous point source, g/m³.

    Parameters
    ----------
    q_g_s : float
        Emission rate, g/s (>= 0).
    u_m_s : float
        Mean wind speed, m/s (> 0).
    x_m, y_m, z_m : array_like
        Receptor coordinates: downwind, crosswind and height above ground, m.
    h_m : float
        Effective release height, m (>= 0).
    sigma_y_m, sigma_z_m : array_like
        Dispersion coefficients at ``x_m`` (e.g. from :func:`plume.sigmas.briggs`).
    mixing_height_m : float, optional
        Height of the mixing lid, m; adds lid reflections (see module notes).

    Returns
    -------
    float or ndarray
        Concentration in g/m³ (g/s ÷ m/s ÷ m²), broadcast shape of the
        inputs; exactly 0 where ``x_m <= 0`` (upwind or at the source).

    Raises
    ------
    InvalidParameter
        Zero or negative wind, negative rate or height, non-finite scalars.

    Examples
    --------
    Ground-level centreline of a ground release is Q/(π u σy σz)
    (briggs_sigmas.md §5, class D rural at 1 km):

    >>> round(plume_concentration(100, 5, 1000, 0, 0, 0, 76.277, 37.947), 7)
    0.0021994

    A receptor upwind of the source sees nothing:

    >>> plume_concentration(100, 5, -50.0, 0, 0, 0, 5.0, 3.0)
    0.0

    Zero wind has no Gaussian-plume answer:

    >>> plume_concentration(100, 0, 1000, 0, 0, 0, 76.3, 37.9)
    Traceback (most recent call last):
    ...
    plume.errors.InvalidParameter: u_m_s: must be > 0, got 0.0
    """
    q = _scalar(q_g_s, "q_g_s", minimum=0.0)
    u = _scalar(u_m_s, "u_m_s", minimum=0.0, strictly=True)
    h = _scalar(h_m, "h_m", minimum=0.0)
    names = {"x": _as_float_array(x_m), "y": _as_float_array(y_m),
             "sy": _as_float_array(sigma_y_m), "sz": _as_float_array(sigma_z_m),
             "h": h, "k": q / (2.0 * math.pi * u)}
    z = _as_float_array(z_m)
    z_zero = np.isscalar(z) and z == 0.0
    if not z_zero:
        names["z"] = z
    if mixing_height_m is None:
        expr = f"where(x > 0, k/(sy*sz)*{_kernel_expr(z_zero, h)}, 0.0)"
    else:
        lid = _scalar(mixing_height_m, "mixing_height_m", minimum=0.0, strictly=True)
        names.update(L=lid, z=z, kmix=q / (math.sqrt(2.0 * math.pi) * u * lid))
        vertical = "(exp(-0.5*((z-h)/sz)**2)+exp(-0.5*((z+h)/sz)**2))"
        images = f"({vertical}+{'+'.join(_lid_image_terms('z-h', 'z+h', 'sz'))})"
        expr = ("where((x > 0) & (z <= L) & (h <= L), "
                f"where(sz < {MIXING_SWITCH_RATIO!r}*L, "
                f"k/(sy*sz)*exp(-0.5*(y/sy)**2)*{images}, "
                "kmix/sy*exp(-0.5*(y/sy)**2)), 0.0)")
    out = np.asarray(evaluate(expr, names), dtype=float)
    return float(out) if out.ndim == 0 else out


def puff_concentration(m_g: float, x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike,
                       h_m: float, sigma_x_m: ArrayLike, sigma_y_m: ArrayLike,
                       sigma_z_m: ArrayLike):
    """Instantaneous Gaussian puff centred at the origin, with ground reflection, g/m³.

    The caller moves the centre: pass ``x_m = x_receptor − u t`` (and the
    sigmas for the puff's travel distance).

    Parameters
    ----------
    m_g : float
        Mass released, g (>= 0).
    x_m, y_m, z_m : array_like
        Receptor position relative to the puff centre (along-wind, crosswind)
        and height above ground, m.
    h_m : float
        Height of the puff centre, m (>= 0).
    sigma_x_m, sigma_y_m, sigma_z_m : array_like
        Puff standard deviations, m (> 0 where the result is wanted; a
        non-positive or NaN sigma gives 0 there).

    Returns
    -------
    float or ndarray
        Concentration, g/m³.

    Examples
    --------
    Centre of a ground-level puff: 2 M / ((2π)^{3/2} σx σy σz):

    >>> round(puff_concentration(1000.0, 0, 0, 0, 0, 10, 10, 5), 6)
    0.253975

    A puff that has not spread yet (σ = 0) gives 0 instead of a division error:

    >>> puff_concentration(1000.0, 0, 0, 0, 0, 0.0, 0.0, 0.0)
    0.0
    """
    m = _scalar(m_g, "m_g", minimum=0.0)
    h = _scalar(h_m, "h_m", minimum=0.0)
    names = {"x": _as_float_array(x_m), "y": _as_float_array(y_m),
             "z": _as_float_array(z_m), "sx": _as_float_array(sigma_x_m),
             "sy": _as_float_array(sigma_y_m), "sz": _as_float_array(sigma_z_m),
             "h": h, "k": m / (2.0 * math.pi) ** 1.5}
    expr = ("where((sx > 0) & (sy > 0) & (sz > 0), k/(sx*sy*sz)*exp(-0.5*(x/sx)**2)"
            "*exp(-0.5*(y/sy)**2)*(exp(-0.5*((z-h)/sz)**2)+exp(-0.5*((z+h)/sz)**2)), 0.0)")
    out = np.asarray(evaluate(expr, names), dtype=float)
    return float(out) if out.ndim == 0 else out
