"""Individual and societal risk of toxic releases from one hazard unit: the numeric core.

Pure numpy over :mod:`plume` (no database, no h3 — cells arrive as arrays of
centres). :mod:`layers.risk` feeds it units from PostGIS and writes the surface.

Model (GB 36894-2018 definitions: individual risk is the yearly frequency of death
of a person who stays unprotected at a place; societal risk is the F–N curve)::

    IR(place) = Σ_scenarios Σ_weather Σ_wind-sectors  f_s · p_w · p_k · P̄_k(place)

* scenarios: loss-of-containment events of the unit's toxic inventory
  (``data/risk_scenarios.csv``: instantaneous, whole inventory in 10 min,
  10 mm hole) with generic frequencies ``f_s`` per year;
* weather: stability classes with wind speeds and probabilities ``p_w``
  (``data/risk_weather.csv``);
* wind: a rose of ``K`` sectors (wind blowing *from* sector ``k`` with
  probability ``p_k``, centred on ``k·360/K`` degrees); within a sector every
  direction is equally likely, so ``P̄_k`` is the probability of death averaged
  over the sector's directions — computed exactly from a cumulative angular
  table, not by sampling directions, so a uniform rose gives a surface that
  depends only on distance;
* probability of death ``P = Φ(Pr − 5)`` with ``Pr = a + b ln(∫Cⁿdt)`` from the
  chemical's verified probit (:mod:`plume.dose`), the toxic load integrated over
  the passage of the cloud at ground level (:func:`plume.footprint.toxic_load`),
  outdoors, no escape (GB 36894's "unprotected" person).

For each scenario and weather class ``P`` is tabulated once on a polar grid
(distance × angle from the downwind axis); the table's cumulative integral over
angle gives every sector average by two interpolations. Individual risk is
returned as an integer number of 1e-15 per year (:data:`IR_QUANTUM`), so that
sums over units are exact and do not depend on their order: an incremental
update equals a full rebuild, and any partitioning over workers gives the same
surface.

Societal risk: for each scenario, weather class and wind direction (three per
sector) the expected number of deaths ``N = Σ population · P`` over the cells in
reach is an outcome of frequency ``f_s p_w p_k / 3``; ``F(N)`` is the summed
frequency of outcomes with at least ``N`` deaths.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from pyproj import Geod
from scipy.special import ndtr

import plume
from geo.errors import InvalidInput
from plume.dose import Probit, default_probit
from plume.footprint import Dispersion, toxic_load
from plume.units import g_m3_to_ppm

__all__ = [
    "IR_QUANTUM",
    "ScenarioSpec",
    "WeatherClass",
    "RiskConfig",
    "ToxicSource",
    "UnitRisk",
    "load_config",
    "toxic_candidate",
    "unit_risk",
    "reach_m",
    "fn_curve",
]

#: Individual risk is stored as an integer multiple of this, per year.
IR_QUANTUM = 1e-15
#: Probability of death below which a release's effect is not followed (its reach).
P_MIN = 0.01
#: Release height, m (ground-level release of a vessel, as in QRA practice).
RELEASE_HEIGHT_M = 1.0
#: Liquid temperature of stored liquefied gases, K.
STORAGE_TEMPERATURE_K = 298.15
#: Longest release considered, s.
MAX_RELEASE_S = 1800.0

_DATA_DIR = Path(__file__).resolve().parents[1] / "data"
_GEOD = Geod(ellps="WGS84")
_RELEASES = ("instantaneous", "continuous_10min", "hole_10mm")
# the polar table: angle from the downwind axis, radians; 0.1° steps near the axis, where
# stable plumes are a degree or two wide
_THETA = np.radians(np.concatenate([np.linspace(0.0, 10.0, 101), np.arange(11.0, 181.0, 1.0)]))
_R_MIN_M = 5.0
# the polar table's distances: 5 m to 100 km, 40 per decade (a 6 % step), shared by every table
_R_GRID = np.geomspace(_R_MIN_M, 100_000.0, 173)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ScenarioSpec:
    """One loss-of-containment event for a kind of unit (a row of ``risk_scenarios.csv``)."""

    key: str
    unit_kind: str
    release: str
    frequency_per_year: float
    label_zh: str
    label_en: str


@dataclass(frozen=True)
class WeatherClass:
    """A stability class at a wind speed, with the fraction of the year it holds."""

    name: str
    stability: str
    wind_speed_m_s: float
    probability: float


@dataclass(frozen=True)
class RiskConfig:
    """Everything the surface depends on besides the units themselves.

    ``wind_rose`` holds the probability of wind blowing *from* each of ``K`` equal
    sectors, the first centred on north, clockwise.
    """

    scenarios: tuple[ScenarioSpec, ...]
    weather: tuple[WeatherClass, ...]
    wind_rose: tuple[float, ...] = (1.0 / 12,) * 12
    res: int = 9
    terrain: str = "rural"
    p_min: float = P_MIN

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> RiskConfig:
        """The configuration :meth:`as_json` wrote (``risk_surface.config``)."""
        return cls(scenarios=tuple(ScenarioSpec(**s) for s in data["scenarios"]),
                   weather=tuple(WeatherClass(**w) for w in data["weather"]),
                   wind_rose=tuple(data["wind_rose"]), res=data["res"], terrain=data["terrain"],
                   p_min=data["p_min"])

    @property
    def hash(self) -> str:
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def scenarios_for(self, unit_kind: str) -> tuple[ScenarioSpec, ...]:
        return tuple(s for s in self.scenarios if s.unit_kind == unit_kind)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _positive(text: str, field_name: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InvalidInput(field_name, f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(field_name, f"must be a finite number >= 0, got {text!r}")
    return value


def parse_wind_rose(text: str | Sequence[float]) -> tuple[float, ...]:
    """A wind rose from ``"p0,p1,…"`` (or numbers): sector probabilities, normalised.

    >>> parse_wind_rose("1,1,1,1")
    (0.25, 0.25, 0.25, 0.25)
    >>> parse_wind_rose("1,0")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: wind_rose: needs at least 4 sectors, got 2
    """
    parts = text.split(",") if isinstance(text, str) else list(text)
    values = [_positive(str(p).strip(), "wind_rose") for p in parts]
    if len(values) < 4:
        raise InvalidInput("wind_rose", f"needs at least 4 sectors, got {len(values)}")
    total = sum(values)
    if total <= 0:
        raise InvalidInput("wind_rose", "the sector probabilities sum to 0")
    return tuple(v / total for v in values)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise InvalidInput(name, f"no such file {value!r}")
    return path


def load_config(*, scenarios_file: Path | None = None, weather_file: Path | None = None,
                wind_rose: str | Sequence[float] | None = None, res: int = 9,
                terrain: str = "rural") -> RiskConfig:
    """Read the scenario and weather tables into a :class:`RiskConfig`.

    Defaults: ``ONEMAP_RISK_SCENARIOS_FILE`` / ``ONEMAP_RISK_WEATHER_FILE`` /
    ``ONEMAP_RISK_WIND_ROSE`` when set (read at call time), else ``data/`` and a
    uniform 12-sector rose.
    """
    scenarios_file = scenarios_file or _env_path("ONEMAP_RISK_SCENARIOS_FILE")
    weather_file = weather_file or _env_path("ONEMAP_RISK_WEATHER_FILE")
    if wind_rose is None:
        wind_rose = os.environ.get("ONEMAP_RISK_WIND_ROSE") or None
    scen = []
    for i, r in enumerate(_rows(scenarios_file or _DATA_DIR / "risk_scenarios.csv")):
        if r["release"] not in _RELEASES:
            raise InvalidInput(f"risk_scenarios[{i}].release",
                               f"must be one of {', '.join(_RELEASES)}, got {r['release']!r}")
        if r["unit_kind"] not in ("storage", "production"):
            raise InvalidInput(f"risk_scenarios[{i}].unit_kind", "must be storage or production")
        scen.append(ScenarioSpec(key=r["key"], unit_kind=r["unit_kind"], release=r["release"],
                                 frequency_per_year=_positive(r["frequency_per_year"],
                                                              f"risk_scenarios[{i}].frequency_per_year"),
                                 label_zh=r["label_zh"], label_en=r["label_en"]))
    weather = []
    for i, r in enumerate(_rows(weather_file or _DATA_DIR / "risk_weather.csv")):
        speed = _positive(r["wind_speed_m_s"], f"risk_weather[{i}].wind_speed_m_s")
        if speed < 0.5:
            raise InvalidInput(f"risk_weather[{i}].wind_speed_m_s", "must be at least 0.5 m/s")
        weather.append(WeatherClass(name=r["name"], stability=plume.sigmas.normalise_stability(r["stability"]),
                                    wind_speed_m_s=speed,
                                    probability=_positive(r["probability"], f"risk_weather[{i}].probability")))
    total = sum(w.probability for w in weather)
    if not weather or abs(total - 1.0) > 1e-6:
        raise InvalidInput("risk_weather", f"the class probabilities must sum to 1, got {total:g}")
    rose = parse_wind_rose(wind_rose) if wind_rose is not None else (1.0 / 12,) * 12
    return RiskConfig(scenarios=tuple(scen), weather=tuple(weather), wind_rose=rose, res=res,
                      terrain=terrain)


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class ToxicSource:
    """One toxic chemical held in one hazard unit: what the model needs of it."""

    unit_id: int
    enterprise_id: int
    lon: float
    lat: float
    unit_kind: str
    cas: str
    quantity_t: float

    def as_json(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=256)
def toxic_candidate(name_or_cas: str) -> tuple[str | None, str | None]:
    """``(cas, None)`` when a chemical can be modelled (known to plume, verified probit),
    else ``(cas or None, reason)``.

    >>> toxic_candidate("7782-50-5")
    ('7782-50-5', None)
    >>> toxic_candidate("67-56-1")[1]
    'not a toxic gas of the plume table'
    """
    try:
        chem = plume.chemicals.get(name_or_cas)
    except plume.UnknownChemical:
        return None, "not a toxic gas of the plume table"
    try:
        default_probit(chem)
    except plume.NoProbit:
        return chem.cas, "no verified probit (reference/probits.csv)"
    return chem.cas, None


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class _Table:
    """P(r, θ) and its cumulative integral over θ for one scenario and weather class."""

    log_r: np.ndarray  # (nr,)
    p: np.ndarray  # (nr, nθ)
    cum: np.ndarray  # (nr, nθ): ∫_0^θ P dθ'
    reach_m: float
    weight: float  # f_s · p_w, per year


def _load_factor(probit: Probit, mw_g_mol: float) -> float:
    """(g/m³)ⁿ·s → the probit's (unit)ⁿ·min."""
    per_g_m3 = float(g_m3_to_ppm(1.0, mw_g_mol)) if probit.conc_unit == "ppm" else 1000.0
    return per_g_m3 ** probit.n / 60.0


@lru_cache(maxsize=1024)
def _hole_term(cas: str, mass_g: float) -> tuple[float, float]:
    """Rate (g/s) and duration (s) of liquid through a 10 mm hole, all of it airborne."""
    t = plume.source.liquid_through_hole(cas, hole_diameter_m=0.010, temperature_k=STORAGE_TEMPERATURE_K,
                                         inventory_g=mass_g, airborne="all", max_duration_s=MAX_RELEASE_S)
    return t.rate_g_s, t.duration_s


def _scale_and_unit(source: ToxicSource, spec: ScenarioSpec) -> tuple[float, str, float | None]:
    """The release's scale (mass g, or rate g/s), its kind, and its duration (s).

    The toxic load at ground level is ``scaleⁿ`` times that of a unit release of the
    same kind and duration (:func:`plume.footprint.toxic_load`: the puff is linear in
    mass, a finite plume in rate, and λ = uT/σx does not depend on either), so the
    load table of a unit release is computed once per weather class and duration.
    """
    mass_g = source.quantity_t * 1e6
    if spec.release == "instantaneous":
        return mass_g, "instantaneous", None
    if spec.release == "continuous_10min":
        return mass_g / 600.0, "continuous", 600.0
    rate, duration = _hole_term(source.cas, mass_g)
    return rate, "continuous", duration


@lru_cache(maxsize=512)
def _unit_log_load(kind: str, duration_s: float | None, stability: str, u_m_s: float, terrain: str,
                   n: float) -> np.ndarray:
    """ln of the toxic load of a unit release, (g/m³)ⁿ·s, on the universal polar grid."""
    common = dict(u_m_s=u_m_s, stability=stability, terrain=terrain, h_m=RELEASE_HEIGHT_M)
    d = (Dispersion(mass_g=1.0, **common) if kind == "instantaneous"
         else Dispersion(rate_g_s=1.0, duration_s=duration_s, **common))
    x = _R_GRID[:, None] * np.cos(_THETA)[None, :]
    y = _R_GRID[:, None] * np.sin(_THETA)[None, :]
    with np.errstate(divide="ignore"):
        return np.log(toxic_load(x, y, d, n))


def _tables(source: ToxicSource, config: RiskConfig) -> list[_Table]:
    return _tables_for(source.cas, source.quantity_t, source.unit_kind, config)


def reach_m(source: ToxicSource, config: RiskConfig) -> float:
    """Farthest distance, m, at which any scenario of the source kills with probability ≥ ``p_min``."""
    return max((t.reach_m for t in _tables(source, config)), default=0.0)


@lru_cache(maxsize=256)
def _tables_for(cas: str, quantity_t: float, unit_kind: str, config: RiskConfig) -> list[_Table]:
    source = ToxicSource(0, 0, 0.0, 0.0, unit_kind, cas, quantity_t)
    chem = plume.chemicals.get(source.cas)
    probit = default_probit(chem)
    log_factor = math.log(_load_factor(probit, chem.mw_g_mol))
    out = []
    for spec in config.scenarios_for(source.unit_kind):
        scale, kind, duration = _scale_and_unit(source, spec)
        for w in config.weather:
            log_load = _unit_log_load(kind, duration, w.stability, w.wind_speed_m_s, config.terrain, probit.n)
            pr = probit.a + probit.b * (log_factor + probit.n * math.log(scale) + log_load)
            p = ndtr(pr - 5.0)  # ln 0 = -inf gives Pr = -inf, P = 0
            # the reach: one grid step beyond the farthest radius where the centreline reaches p_min
            # (the ground-level maximum over angle is on the plume axis)
            above = np.nonzero(p[:, 0] >= config.p_min)[0]
            if above.size == 0:
                continue
            last = min(above[-1] + 1, _R_GRID.size - 1)
            rows = slice(0, max(last + 1, 2))
            p = p[rows]
            p[p < config.p_min] = 0.0  # not followed below p_min, as for the reach itself
            steps = 0.5 * (p[:, 1:] + p[:, :-1]) * np.diff(_THETA)[None, :]
            cum = np.concatenate([np.zeros((p.shape[0], 1)), np.cumsum(steps, axis=1)], axis=1)
            out.append(_Table(np.log(_R_GRID[rows]), p, cum, float(_R_GRID[last]),
                              spec.frequency_per_year * w.probability))
    return out


@dataclass(frozen=True)
class _Radial:
    """Where each receptor falls on a table's radial axis (shared by every angle looked up)."""

    i: np.ndarray  # (n, 1) lower radial index
    fr: np.ndarray  # (n, 1) fraction towards i + 1
    inside: np.ndarray  # (n, 1) within the table's last radius


def _radial(log_r: np.ndarray, lr: np.ndarray) -> _Radial:
    i = np.clip(np.searchsorted(log_r, lr) - 1, 0, log_r.size - 2)
    fr = np.clip((lr - log_r[i]) / (log_r[i + 1] - log_r[i]), 0.0, 1.0)
    return _Radial(i[:, None], fr[:, None], (lr <= log_r[-1])[:, None])


def _interp(table: np.ndarray, rad: _Radial, theta: np.ndarray) -> np.ndarray:
    """Interpolate a (nr, nθ) table at receptors ``rad`` and angles ``theta`` (n, m) in [0, π].

    Linear in angle; geometric in distance where both radial neighbours are positive
    (the values fall off like a power of r, so this is far closer than linear on a
    6 % radial step), else linear; 0 beyond the last radius.
    """
    j = np.clip(np.searchsorted(_THETA, theta) - 1, 0, _THETA.size - 2)
    ft = np.clip((theta - _THETA[j]) / (_THETA[j + 1] - _THETA[j]), 0.0, 1.0)
    i = rad.i
    a = (1 - ft) * table[i, j] + ft * table[i, j + 1]
    b = (1 - ft) * table[i + 1, j] + ft * table[i + 1, j + 1]
    fr = rad.fr
    with np.errstate(divide="ignore", invalid="ignore"):
        geo = np.exp((1 - fr) * np.log(a) + fr * np.log(b))
    v = np.where((a > 0) & (b > 0), geo, (1 - fr) * a + fr * b)
    return np.where(rad.inside, v, 0.0)


def _signed_cum(t: _Table, rad: _Radial, full: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """∫_0^δ P dδ' for any real δ (P is even and 2π-periodic in δ); ``full`` = ∫_0^π P."""
    turns = np.floor((delta + np.pi) / (2 * np.pi))
    d = delta - 2 * np.pi * turns  # in [-π, π)
    return 2.0 * full * turns + np.sign(d) * _interp(t.cum, rad, np.abs(d))


def _sector_mean(t: _Table, rad: _Radial, bearing: np.ndarray, rose: np.ndarray) -> np.ndarray:
    """Σ_k p_k · (mean probability of death over sector k's wind directions), per receptor."""
    full = _interp(t.cum, rad, np.full((bearing.size, 1), np.pi))  # (n, 1)
    k = rose.size
    if np.all(rose == rose[0]):  # uniform: the sectors tile the circle, ∮P = 2∫_0^π P
        return (full / np.pi)[:, 0]
    width = 2 * np.pi / k
    # sector k (wind from k·w, blowing towards k·w + π) spans δ in [δ_k − w/2, δ_k + w/2] with
    # δ_k = bearing − π − k·w; its lower edge is sector k+1's upper edge, so K+1 edges do
    edges = bearing[:, None] - np.pi + width / 2 - np.arange(k + 1)[None, :] * width
    g = _signed_cum(t, rad, full, edges)
    means = (g[:, :-1] - g[:, 1:]) / width
    return means @ rose


# --------------------------------------------------------------------------- one unit


@dataclass
class UnitRisk:
    """What one toxic source contributes: per cell, and its F–N outcomes."""

    source: ToxicSource
    cells: np.ndarray  # uint64, sorted
    ir_q: np.ndarray  # int64, individual risk in IR_QUANTUM per year
    reach_m: float
    outcomes_n: np.ndarray = field(default_factory=lambda: np.zeros(0))  # deaths
    outcomes_f: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per year

    @property
    def max_ir(self) -> float:
        return float(self.ir_q.max()) * IR_QUANTUM if self.ir_q.size else 0.0


def unit_risk(source: ToxicSource, config: RiskConfig, *, cells_in_reach, population=None) -> UnitRisk:
    """Individual risk of one toxic source at the cells within its reach, and its F–N outcomes.

    Parameters
    ----------
    source : ToxicSource
    config : RiskConfig
    cells_in_reach : callable
        ``(lon, lat, radius_m) -> (cells uint64, centre_lon, centre_lat)``: the cells
        (of ``config.res``) whose centres lie within the radius (:mod:`geo.h3grid`).
    population : callable, optional
        ``cells -> people per cell`` for societal risk; no outcomes without it.
    """
    tables = _tables(source, config)
    reach = max((t.reach_m for t in tables), default=0.0)
    empty = np.zeros(0, dtype=np.uint64)
    if reach <= 0:
        return UnitRisk(source, empty, np.zeros(0, dtype=np.int64), 0.0)
    cells, c_lon, c_lat = cells_in_reach(source.lon, source.lat, reach)
    n = cells.size
    az, _, dist = _GEOD.inv(np.full(n, source.lon), np.full(n, source.lat), c_lon, c_lat)
    lr = np.log(np.maximum(np.asarray(dist, dtype=float), _R_MIN_M))
    bearing = np.radians(np.asarray(az, dtype=float))
    rose = np.asarray(config.wind_rose)
    rads = [_radial(t.log_r, lr) for t in tables]
    ir = np.zeros(n)
    for t, rad in zip(tables, rads, strict=True):
        ir += t.weight * _sector_mean(t, rad, bearing, rose)
    ir_q = np.rint(ir / IR_QUANTUM).astype(np.int64)
    keep = ir_q > 0
    result = UnitRisk(source, cells[keep], ir_q[keep], reach)
    if population is not None:
        people = np.asarray(population(cells), dtype=float)
        sel = people > 0
        if sel.any():
            result.outcomes_n, result.outcomes_f = _outcomes(tables, rose, lr[sel], bearing[sel], people[sel])
    return result


def _outcomes(tables: list[_Table], rose: np.ndarray, lr: np.ndarray, bearing: np.ndarray,
              people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected deaths and frequency of each (scenario, weather, direction) outcome:
    three directions per wind sector (its centre and ± a third of its width)."""
    k = rose.size
    width = 2 * np.pi / k
    sectors = np.nonzero(rose > 0)[0]
    offsets = np.array([-width / 3, 0.0, width / 3])
    to = (sectors[:, None] * width + np.pi + offsets[None, :]).reshape(-1)  # downwind bearings
    delta = np.abs(np.angle(np.exp(1j * (bearing[:, None] - to[None, :]))))  # (n, m) in [0, π]
    f_dir = np.repeat(rose[sectors], offsets.size) / offsets.size
    ns, fs = [], []
    for t in tables:
        deaths = people @ _interp(t.p, _radial(t.log_r, lr), delta)
        ns.append(deaths)
        fs.append(t.weight * f_dir)
    return np.concatenate(ns), np.concatenate(fs)


def fn_curve(deaths: np.ndarray, frequency: np.ndarray, *, n_min: float = 1.0) -> list[tuple[float, float]]:
    """Cumulative F–N points ``(N, F(N))`` at each distinct outcome N ≥ ``n_min``.

    >>> fn_curve(np.array([0.5, 2.0, 10.0, 2.0]), np.array([1e-5, 1e-6, 1e-7, 1e-6]))
    [(2.0, 2.1e-06), (10.0, 1e-07)]
    """
    order = np.argsort(-deaths, kind="stable")
    n = deaths[order]
    f = np.cumsum(frequency[order])
    points: dict[float, float] = {}
    for ni, fi in zip(n, f, strict=True):
        if ni >= n_min:
            points[round(float(ni), 3)] = float(f"{fi:.6g}")
    return sorted(points.items())
