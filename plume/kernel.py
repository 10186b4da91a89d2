"""Fused, multi-threaded evaluation of the ground-level footprint on a grid.

:func:`grid_max_g_m3` gives the same numbers as
:func:`plume.footprint.ground_max_g_m3` (the readable reference, checked
against it in the tests) but builds one numexpr expression per run: the
rotation into wind axes, the Briggs sigmas, the plume with its reflections and
the finite-duration factor, evaluated in a single pass over the receptors with
broadcasting of the east (1, nx) and north (ny, 1) axes. numexpr has no erf,
so the finite-duration factor uses Abramowitz & Stegun (1964) formula 7.1.26
(absolute error below 1.5e-7, checked against ``scipy.special.erf`` in
tests/plume/test_kernel.py).
"""

from __future__ import annotations

import math

import numpy as np

from ._evaluate import evaluate
from .footprint import Dispersion
from .gaussian import MIXING_SWITCH_RATIO, _lid_image_terms
from .grid import wind_axes
from .sigmas import BRIGGS_COEFFICIENTS, briggs_expression

__all__ = ["grid_max_g_m3", "wind_frame_max_g_m3", "footprint_expression", "ERF_AS_7_1_26"]

# Abramowitz & Stegun 7.1.26: erf(z) ≈ 1 − (a1 t + a2 t² + a3 t³ + a4 t⁴ + a5 t⁵) e^(−z²),
# t = 1/(1 + p z), z >= 0.
ERF_AS_7_1_26 = {"p": 0.3275911, "a1": 0.254829592, "a2": -0.284496736,
                 "a3": 1.421413741, "a4": -1.453152027, "a5": 1.061405429}


def _erf_expr(z: str) -> str:
    c = ERF_AS_7_1_26
    t = f"(1.0/(1.0+{c['p']!r}*{z}))"
    poly = (f"(((({c['a5']!r}*{t}+{c['a4']!r})*{t}+{c['a3']!r})*{t}+{c['a2']!r})*{t}"
            f"+{c['a1']!r})*{t}")
    return f"(1.0-{poly}*exp(-({z})**2))"


def footprint_expression(d: Dispersion, x: str = "(e*de+n*dn)",
                         y: str = "(n*de-e*dn)") -> tuple[str, dict[str, float]]:
    """numexpr text and scalar constants for the footprint of ``d``.

    By default the variables expected at evaluation are ``e`` (east, m),
    ``n`` (north, m) and ``de``, ``dn`` (downwind unit vector); pass
    ``x="x", y="y"`` to evaluate on downwind/crosswind arrays directly.
    """
    coeff_y, coeff_z = BRIGGS_COEFFICIENTS[d.terrain][d.stability]
    sy = briggs_expression(x, coeff_y)
    sz = briggs_expression(x, coeff_z)
    consts: dict[str, float] = {"k": 1.0 / (2.0 * math.pi * d.u_m_s), "h": float(d.h_m)}
    if d.mixing_height_m is None:
        if d.h_m == 0.0:
            plume = f"2.0*exp(-0.5*({y}/{sy})**2)"
        else:
            plume = f"2.0*exp(-0.5*(({y}/{sy})**2+(h/{sz})**2))"
        plume = f"k/({sy}*{sz})*{plume}"
        valid = f"({x} > 0)"
    else:
        consts["L"] = float(d.mixing_height_m)
        consts["kmix"] = 1.0 / (math.sqrt(2.0 * math.pi) * d.u_m_s * d.mixing_height_m)
        terms = [f"exp(-0.5*(h/{sz})**2)", f"exp(-0.5*(h/{sz})**2)",
                 *_lid_image_terms("-h", "h", sz)]
        cross = f"exp(-0.5*({y}/{sy})**2)"
        plume = (f"where({sz} < {MIXING_SWITCH_RATIO!r}*L, k/({sy}*{sz})*{cross}*({'+'.join(terms)}),"
                 f" kmix/{sy}*{cross})")
        valid = f"(({x} > 0) & (h <= L))"
    if d.instantaneous:
        consts["mfac"] = d.mass_g * d.u_m_s / math.sqrt(2.0 * math.pi)
        factor = f"mfac/{sy}"
    elif d.duration_s is None:
        consts["q"] = float(d.rate_g_s)
        factor = "q"
    else:
        consts["q"] = float(d.rate_g_s)
        consts["c"] = d.u_m_s * d.duration_s / (2.0 * math.sqrt(2.0))
        factor = f"q*{_erf_expr(f'(c/{sy})')}"
    return f"where({valid}, {plume}*{factor}, 0.0)", consts


def grid_max_g_m3(east_m: np.ndarray, north_m: np.ndarray, d: Dispersion,
                  wind_from_deg: float, *, out: np.ndarray | None = None) -> np.ndarray:
    """Ground-level maximum-over-time concentration on a grid, g/m³.

    Parameters
    ----------
    east_m : ndarray, shape (nx,)
        Cell-centre east coordinates, m from the source.
    north_m : ndarray, shape (ny,)
        Cell-centre north coordinates, m from the source.
    d : Dispersion
    wind_from_deg : float
        Direction the wind blows from, degrees clockwise from north.
    out : ndarray, shape (ny, nx), optional
        Where to write the result.

    Returns
    -------
    ndarray, shape (ny, nx)
    """
    expr, consts = footprint_expression(d)
    de, dn = wind_axes(wind_from_deg)
    names = dict(consts, de=de, dn=dn,
                 e=np.asarray(east_m, dtype=float)[None, :],
                 n=np.asarray(north_m, dtype=float)[:, None])
    return evaluate(expr, names, out=out, min_size=0)


def wind_frame_max_g_m3(x_m: np.ndarray, y_m: np.ndarray, d: Dispersion, *,
                        out: np.ndarray | None = None) -> np.ndarray:
    """Same footprint as :func:`grid_max_g_m3` on downwind/crosswind arrays, g/m³."""
    expr, consts = footprint_expression(d, x="x", y="y")
    names = dict(consts, x=np.asarray(x_m, dtype=float), y=np.asarray(y_m, dtype=float))
    return evaluate(expr, names, out=out, min_size=0)
