"""Ground-level footprint of a release: maximum over time, time profile, toxic load.

Finite-duration releases are a continuous line of puffs: a plume of rate Q
truncated to the cloud length ``L = u·T`` with Gaussian ends of along-wind
spread σx. Integrating the puffs analytically gives, at a receptor ``(x, y)``
and time ``t`` after the release starts::

    C(x, y, t) = C_plume(x, y) · ½ [erf((x − u(t − T)) / (√2 σx)) − erf((x − u t) / (√2 σx))]

whose maximum over time (cloud centred on the receptor) is::

    C_max(x, y) = C_plume(x, y) · erf(u T / (2 √2 σx))

→ the steady plume for long releases and the puff maximum
``M / ((2π)^{3/2} σx σy σz)·…`` for short ones (``Q T = M``). σx is taken equal
to σy (common practice, briggs_sigmas.md §4) and all sigmas are evaluated at
the receptor's downwind distance. An instantaneous release uses the puff
formula directly. Everything is vectorised over receptors; nothing loops over
time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import erf

from .gaussian import plume_concentration
from .sigmas import briggs

__all__ = ["Dispersion", "ground_max_g_m3", "centreline_reach_m", "centreline_reaches_m",
           "time_profile_g_m3", "toxic_load", "finite_duration_factor"]

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Dispersion:
    """Everything the footprint needs, in plain numbers.

    ``duration_s`` is ``None`` for a steady (indefinite) continuous release;
    ``mass_g`` is set (and ``rate_g_s`` is 0) for an instantaneous release.
    """

    u_m_s: float
    stability: str
    terrain: str = "rural"
    h_m: float = 0.0
    rate_g_s: float = 0.0
    duration_s: float | None = None
    mass_g: float | None = None
    mixing_height_m: float | None = None

    @property
    def instantaneous(self) -> bool:
        return self.mass_g is not None


def finite_duration_factor(u_m_s: float, duration_s: float | None, sigma_x_m: ArrayLike):
    """``erf(u T / (2√2 σx))``: peak of a finite release relative to the steady plume.

    Examples
    --------
    >>> round(float(finite_duration_factor(3.0, 600.0, 50.0)), 6)  # 1.8 km cloud, 50 m ends
    1.0
    >>> round(float(finite_duration_factor(3.0, 10.0, 50.0)), 3)
    0.236
    >>> finite_duration_factor(3.0, None, 50.0)
    1.0
    """
    if duration_s is None:
        return 1.0
    return erf(u_m_s * duration_s / (2.0 * _SQRT2 * np.asarray(sigma_x_m, dtype=float)))


def _unit_plume(x_m, y_m, d: Dispersion):
    sy, sz = briggs(x_m, d.stability, d.terrain)
    c1 = plume_concentration(1.0, d.u_m_s, x_m, y_m, 0.0, d.h_m, sy, sz, d.mixing_height_m)
    return c1, sy


def _ground_max_and_sigma_y(x: np.ndarray, y_m: ArrayLike, d: Dispersion):
    """:func:`ground_max_g_m3` as an array, with the σy it used (σy is also σx)."""
    c1, sy = _unit_plume(x, y_m, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        if d.instantaneous:
            factor = d.mass_g * d.u_m_s / (_SQRT2PI * sy)
        else:
            factor = d.rate_g_s * finite_duration_factor(d.u_m_s, d.duration_s, sy)
        return np.where(x > 0, c1 * factor, 0.0), sy


def ground_max_g_m3(x_m: ArrayLike, y_m: ArrayLike, d: Dispersion):
    """Maximum over time of the ground-level concentration, g/m³.

    Parameters
    ----------
    x_m, y_m : array_like
        Downwind and crosswind receptor coordinates, m (broadcast together).
    d : Dispersion

    Returns
    -------
    ndarray or float
        g/m³; 0 upwind of the source.

    Examples
    --------
    >>> d = Dispersion(u_m_s=5.0, stability="D", rate_g_s=100.0)
    >>> round(float(ground_max_g_m3(1000.0, 0.0, d)), 7)   # steady plume, §5 table
    0.0021994
    >>> float(ground_max_g_m3(-10.0, 0.0, d))
    0.0
    """
    out, _ = _ground_max_and_sigma_y(np.asarray(x_m, dtype=float), y_m, d)
    return float(out) if out.ndim == 0 else out


def centreline_reach_m(threshold_g_m3: float, d: Dispersion, *, max_m: float = 100_000.0,
                       samples: int = 4000) -> tuple[float, float]:
    """Farthest downwind distance where the centreline maximum reaches a threshold,
    and the widest crosswind half-width of that zone, both in metres.

    Sampled on a logarithmic axis from 1 m to ``max_m`` (relative step
    ``< 0.3 %``). Returns ``(0, 0)`` if the threshold is never reached and
    ``max_m`` if it is still exceeded there.

    Examples
    --------
    >>> d = Dispersion(u_m_s=5.0, stability="D", rate_g_s=100.0)
    >>> reach, half = centreline_reach_m(2.1994e-3, d)
    >>> round(reach, -1), round(half)
    (1000.0, 61)
    """
    return centreline_reaches_m([threshold_g_m3], d, max_m=max_m, samples=samples)[0]


def centreline_reaches_m(thresholds_g_m3: list[float], d: Dispersion, *,
                         max_m: float = 100_000.0,
                         samples: int = 4000) -> list[tuple[float, float]]:
    """:func:`centreline_reach_m` for several thresholds, sampling the centreline once.

    Examples
    --------
    >>> d = Dispersion(u_m_s=5.0, stability="D", rate_g_s=100.0)
    >>> [(round(r, -1), round(h)) for r, h in centreline_reaches_m([2.1994e-3, 1e3], d)]
    [(1000.0, 61), (0.0, 0)]
    """
    x = np.geomspace(1.0, max_m, samples)
    c, sy = _ground_max_and_sigma_y(x, 0.0, d)
    out = []
    for threshold_g_m3 in thresholds_g_m3:
        above = c >= threshold_g_m3
        if not above.any():
            out.append((0.0, 0.0))
            continue
        last = int(np.nonzero(above)[0][-1])
        if last == samples - 1:
            reach = max_m
        else:  # interpolate the crossing in log-log between the two samples
            c0, c1 = c[last], c[last + 1]
            if c1 > 0:
                f = math.log(threshold_g_m3 / c0) / math.log(c1 / c0)
                reach = float(math.exp(math.log(x[last]) + f * math.log(x[last + 1] / x[last])))
            else:
                reach = float(x[last])
        ratio = np.maximum(c[above] / threshold_g_m3, 1.0)
        out.append((reach, float(np.max(sy[above] * np.sqrt(2.0 * np.log(ratio))))))
    return out


def time_profile_g_m3(x_m: ArrayLike, y_m: ArrayLike, t_s: ArrayLike, d: Dispersion):
    """Ground-level concentration at time ``t_s`` after the release starts, g/m³.

    Examples
    --------
    Long after a 60 s release has passed, nothing is left:

    >>> d = Dispersion(u_m_s=2.0, stability="D", rate_g_s=10.0, duration_s=60.0)
    >>> float(time_profile_g_m3(200.0, 0.0, 3600.0, d))
    0.0
    """
    x = np.asarray(x_m, dtype=float)
    t = np.asarray(t_s, dtype=float)
    c1, sy = _unit_plume(x, y_m, d)
    sx = sy
    with np.errstate(invalid="ignore", divide="ignore"):
        if d.instantaneous:
            shape = d.mass_g * d.u_m_s / (_SQRT2PI * sx) * np.exp(
                -0.5 * ((x - d.u_m_s * t) / sx) ** 2)
        elif d.duration_s is None:
            shape = d.rate_g_s * 0.5 * (1.0 - erf((x - d.u_m_s * t) / (_SQRT2 * sx)))
        else:
            shape = d.rate_g_s * 0.5 * (erf((x - d.u_m_s * (t - d.duration_s)) / (_SQRT2 * sx))
                                        - erf((x - d.u_m_s * t) / (_SQRT2 * sx)))
        out = np.where((x > 0) & (t >= 0), c1 * shape, 0.0)
    return float(out) if out.ndim == 0 else out


@lru_cache(maxsize=16)
def _plateau_integral_table(n: float) -> tuple[np.ndarray, np.ndarray]:
    """log λ and log I(λ, n) with I = ∫ f(s)^n ds, f = ½[erf((λ−s)/√2) + erf(s/√2)]."""
    lam = np.geomspace(1e-4, 1e4, 321)
    out = np.empty_like(lam)
    for i, lm in enumerate(lam):
        pieces = [np.linspace(-9.0, 9.0, 1801), np.linspace(lm - 9.0, lm + 9.0, 1801)]
        if lm > 18.0:
            pieces.append(np.linspace(9.0, lm - 9.0, 3))
        s = np.unique(np.concatenate(pieces))
        f = 0.5 * (erf((lm - s) / _SQRT2) + erf(s / _SQRT2))
        out[i] = np.trapezoid(np.clip(f, 0.0, 1.0) ** n, s)
    return np.log(lam), np.log(out)


def _plateau_integral(lam: np.ndarray, n: float) -> np.ndarray:
    log_lam, log_i = _plateau_integral_table(float(n))
    with np.errstate(divide="ignore"):
        ll = np.log(np.maximum(lam, 1e-300))
    inside = np.exp(np.interp(ll, log_lam, log_i))
    # asymptotes outside the table: small λ -> λ^n ∫φ^n ; large λ -> λ + const
    small = lam ** n * (2.0 * math.pi) ** ((1.0 - n) / 2.0) / math.sqrt(n)
    large = lam + (math.exp(log_i[-1]) - math.exp(log_lam[-1]))
    return np.where(ll < log_lam[0], small, np.where(ll > log_lam[-1], large, inside))


def toxic_load(x_m: ArrayLike, y_m: ArrayLike, d: Dispersion, n: float, *,
               exposure_s: float = 3600.0):
    """Toxic load ``∫ C(t)^n dt`` at ground level, in (g/m³)^n · s.

    Finite releases are integrated over the whole passage of the cloud
    (analytically tabulated in the dimensionless cloud length λ = uT/σx);
    an instantaneous puff analytically; a steady release over
    ``exposure_s``.

    Examples
    --------
    For n = 1 the load of a finite release is C_steady × T:

    >>> d = Dispersion(u_m_s=3.0, stability="D", rate_g_s=100.0, duration_s=600.0)
    >>> steady = ground_max_g_m3(500.0, 0.0, Dispersion(u_m_s=3.0, stability="D", rate_g_s=100.0))
    >>> round(float(toxic_load(500.0, 0.0, d, 1.0)) / (steady * 600.0), 4)
    1.0
    """
    x = np.asarray(x_m, dtype=float)
    c1, sy = _unit_plume(x, y_m, d)
    sx = sy
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if d.instantaneous:
            peak = c1 * d.mass_g * d.u_m_s / (_SQRT2PI * sx)
            load = peak ** n * (sx / d.u_m_s) * math.sqrt(2.0 * math.pi / n)
        elif d.duration_s is None:
            load = (c1 * d.rate_g_s) ** n * exposure_s
        else:
            lam = d.u_m_s * d.duration_s / sx
            load = (c1 * d.rate_g_s) ** n * (sx / d.u_m_s) * _plateau_integral(lam, n)
        out = np.where((x > 0) & np.isfinite(load), load, 0.0)
    return float(out) if out.ndim == 0 else out
