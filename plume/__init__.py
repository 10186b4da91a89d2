"""OneMap plume: Gaussian dispersion physics for toxic-release scenarios.

Pure numpy/scipy/shapely/pyproj — no database, no HTTP. Units are in the
names: metres, seconds, grams, g/m³ and ppm; wind direction is where the
wind blows FROM, degrees clockwise from north.

Quick start
-----------
>>> import plume
>>> res = plume.run({"source_lon": 121.70, "source_lat": 29.97, "chemical": "chlorine",
...                  "release": {"kind": "continuous", "rate_g_s": 1000, "duration_s": 600},
...                  "weather": {"wind_speed_m_s": 3, "wind_from_deg": 45, "stability": "D"}})
>>> res.zones[0].name, res.zones[0].max_downwind_m > 0
('AEGL-3 (60 min)', True)

Modules
-------
sigmas      Briggs (1973) σy, σz
gaussian    plume and puff formulas
meteo       Pasquill stability class
units       ppm ↔ mg/m³
chemicals   chemical lookup: thresholds and physical properties
source      source terms (gas/liquid through a hole, pool evaporation)
footprint   finite-duration maximum, time profile, toxic load
dose        probit and probability of death
scenario    validated inputs (pydantic)
runner      ``run``: grid, zones, band, warnings
ensembles   ``ensemble``: worst case over directions/classes/speeds
limits      validity warnings
errors      exception tree
"""

from . import chemicals, dose, errors, gaussian, meteo, sigmas, source, units
from .ensembles import EnsembleResult, ensemble
from .errors import (
                     GridTooLarge,
                     InvalidParameter,
                     MissingProperty,
                     NoProbit,
                     PlumeError,
                     SourceTermError,
                     UnknownChemical,
                     UnknownStabilityClass,
)
from .result import Result
from .runner import run
from .scenario import ContinuousRelease, InstantaneousRelease, LevelOfConcern, Scenario, Weather
from .source import SourceTerm

__all__ = [
    "chemicals", "dose", "errors", "gaussian", "meteo", "sigmas", "source", "units",
    "Scenario", "Weather", "ContinuousRelease", "InstantaneousRelease", "SourceTerm",
    "LevelOfConcern", "Result", "EnsembleResult", "run", "ensemble",
    "PlumeError", "InvalidParameter", "UnknownStabilityClass", "UnknownChemical",
    "MissingProperty", "NoProbit", "SourceTermError", "GridTooLarge",
]
