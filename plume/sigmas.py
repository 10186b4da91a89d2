"""Briggs (1973) plume dispersion coefficients σy(x), σz(x).

Open-country (rural) and urban curves as tabulated in
``reference/briggs_sigmas.md`` §1 (Briggs 1973, ATDL contribution 79; verified
term by term against Stern, Boubel, Turner & Fox, *Fundamentals of Air
Pollution* 3rd ed. Tables 19-6/19-7 and GasDispersion.jl ``briggs.jl``).
Every curve has the form ``a * x * (1 + b * x) ** c``; note the exponent −1 on
the rural E/F σz and +1/2 on the urban A–B σz. The curves were fitted for
100 m < x < 10 km; outside that range they are extrapolations
(:mod:`plume.limits` warns).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ._evaluate import evaluate
from .errors import InvalidParameter, UnknownStabilityClass

__all__ = [
    "STABILITY_CLASSES",
    "SIGMA_SET_NAME",
    "BRIGGS_COEFFICIENTS",
    "briggs",
    "briggs_expression",
    "normalise_stability",
    "normalise_terrain",
]

STABILITY_CLASSES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")
SIGMA_SET_NAME = "Briggs (1973) open-country/urban, via Gifford (1976)"

Terrain = Literal["rural", "urban"]

# (a, b, c) for sigma = a * x * (1 + b x) ** c; c == 0 means sigma = a * x.
_Y_RURAL = (0.0001, -0.5)
_Y_URBAN = (0.0004, -0.5)
BRIGGS_COEFFICIENTS: dict[str, dict[str, tuple[tuple[float, float, float],
                                                tuple[float, float, float]]]] = {
    "rural": {
        "A": ((0.22, *_Y_RURAL), (0.20, 0.0, 0.0)),
        "B": ((0.16, *_Y_RURAL), (0.12, 0.0, 0.0)),
        "C": ((0.11, *_Y_RURAL), (0.08, 0.0002, -0.5)),
        "D": ((0.08, *_Y_RURAL), (0.06, 0.0015, -0.5)),
        "E": ((0.06, *_Y_RURAL), (0.03, 0.0003, -1.0)),
        "F": ((0.04, *_Y_RURAL), (0.016, 0.0003, -1.0)),
    },
    "urban": {
        "A": ((0.32, *_Y_URBAN), (0.24, 0.001, 0.5)),
        "B": ((0.32, *_Y_URBAN), (0.24, 0.001, 0.5)),
        "C": ((0.22, *_Y_URBAN), (0.20, 0.0, 0.0)),
        "D": ((0.16, *_Y_URBAN), (0.14, 0.0003, -0.5)),
        "E": ((0.11, *_Y_URBAN), (0.08, 0.0015, -0.5)),
        "F": ((0.11, *_Y_URBAN), (0.08, 0.0015, -0.5)),
    },
}


def normalise_stability(stability: object, field: str = "stability") -> str:
    """Return the upper-case class letter or raise :class:`UnknownStabilityClass`.

    Examples
    --------
    >>> normalise_stability("d")
    'D'
    >>> normalise_stability("G")
    Traceback (most recent call last):
    ...
    plume.errors.UnknownStabilityClass: stability: unknown Pasquill stability class 'G'; valid classes are A, B, C, D, E, F
    """
    if isinstance(stability, str) and stability.strip().upper() in STABILITY_CLASSES:
        return stability.strip().upper()
    raise UnknownStabilityClass(stability, field)


def normalise_terrain(terrain: object, field: str = "terrain") -> str:
    """Return ``"rural"`` or ``"urban"`` or raise :class:`InvalidParameter`."""
    if isinstance(terrain, str) and terrain.strip().lower() in BRIGGS_COEFFICIENTS:
        return terrain.strip().lower()
    raise InvalidParameter(field, f"unknown terrain {terrain!r}; valid: rural, urban")


def briggs_expression(var: str, coeff: tuple[float, float, float]) -> str:
    """numexpr/numpy expression text for ``a*x*(1+b*x)**c`` in variable ``var``.

    Used to fuse the sigma computation into larger numexpr expressions.

    Examples
    --------
    >>> briggs_expression("x", (0.08, 0.0001, -0.5))
    '(0.08*x/sqrt(1.0+0.0001*x))'
    """
    a, b, c = coeff
    if c == 0.0 or b == 0.0:
        return f"({a!r}*{var})"
    if c == -0.5:
        return f"({a!r}*{var}/sqrt(1.0+{b!r}*{var}))"
    if c == -1.0:
        return f"({a!r}*{var}/(1.0+{b!r}*{var}))"
    if c == 0.5:
        return f"({a!r}*{var}*sqrt(1.0+{b!r}*{var}))"
    return f"({a!r}*{var}*(1.0+{b!r}*{var})**{c!r})"  # pragma: no cover


def briggs(x_m: ArrayLike, stability: str, terrain: Terrain = "rural"):
    """Briggs (1973) σy and σz at downwind distance ``x_m``.

    Parameters
    ----------
    x_m : array_like
        Downwind distance from the source, metres. Values ``<= 0`` (and NaN)
        give NaN: there is no plume upwind.
    stability : {"A", "B", "C", "D", "E", "F"}
        Pasquill stability class.
    terrain : {"rural", "urban"}
        Open-country or urban curves.

    Returns
    -------
    sigma_y_m, sigma_z_m : float or ndarray
        Crosswind and vertical standard deviations, metres, same shape as
        ``x_m``.

    Examples
    --------
    Values pinned in briggs_sigmas.md §5:

    >>> sy, sz = briggs(1000.0, "D")
    >>> round(sy, 3), round(sz, 3)
    (76.277, 37.947)
    >>> [round(v, 3) for v in briggs(10000.0, "A", "urban")]
    [1431.084, 7959.899]

    Upwind or at the source there is no plume:

    >>> briggs([-5.0, 0.0], "F")
    (array([nan, nan]), array([nan, nan]))
    """
    cls = normalise_stability(stability)
    coeff_y, coeff_z = BRIGGS_COEFFICIENTS[normalise_terrain(terrain)][cls]
    x = np.asarray(x_m, dtype=float)
    xp = np.where(x > 0, x, np.nan)
    sy = evaluate(briggs_expression("x", coeff_y), {"x": xp})
    sz = evaluate(briggs_expression("x", coeff_z), {"x": xp})
    if sy.ndim == 0:
        return float(sy), float(sz)
    return sy, sz
