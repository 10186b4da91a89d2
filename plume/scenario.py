"""Validated scenario parameters (pydantic v2, bounds on every number).

A :class:`Scenario` is what :func:`plume.run` needs: where the source is,
what is released and how, the weather, and the levels of concern. Every
number must be finite (``allow_inf_nan=False``); unknown fields are refused.
Validation errors are pydantic ``ValidationError`` (a ``ValueError``) naming
the field; an unknown chemical raises :class:`plume.errors.UnknownChemical`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .chemicals import Chemical, default_levels_of_concern, get
from .errors import InvalidParameter
from .meteo import stability_class
from .sigmas import STABILITY_CLASSES
from .source import SourceTerm

__all__ = [
    "ContinuousRelease",
    "InstantaneousRelease",
    "SourceTerm",
    "Release",
    "Weather",
    "LevelOfConcern",
    "Scenario",
]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class ContinuousRelease(BaseModel):
    """A constant release rate, for a finite duration or (``None``) indefinitely."""

    model_config = _STRICT
    kind: Literal["continuous"] = "continuous"
    rate_g_s: float = Field(ge=0, le=1e9, description="release rate, g/s")
    duration_s: float | None = Field(default=None, gt=0, le=86400,
                                     description="release duration, s; None = steady")


class InstantaneousRelease(BaseModel):
    """A mass released all at once (a puff)."""

    model_config = _STRICT
    kind: Literal["instantaneous"] = "instantaneous"
    mass_g: float = Field(ge=0, le=1e12, description="mass released, g")


Release = Annotated[ContinuousRelease | InstantaneousRelease | SourceTerm,
                    Field(discriminator="kind")]


class Weather(BaseModel):
    """Wind, stability and surface.

    Give ``stability`` directly, or ``daytime`` with ``insolation`` (by day)
    or ``cloud_cover_oktas`` (at night, or 8 for overcast) and the class is
    derived with :func:`plume.meteo.stability_class`.
    """

    model_config = _STRICT
    wind_speed_m_s: float = Field(gt=0, le=60, description="wind speed at 10 m, m/s")
    wind_from_deg: float = Field(ge=0, le=360,
                                 description="direction the wind blows FROM, degrees "
                                             "clockwise from north")
    stability: Literal["A", "B", "C", "D", "E", "F"] | None = None
    daytime: bool | None = None
    insolation: Literal["strong", "moderate", "slight"] | None = None
    cloud_cover_oktas: int | None = Field(default=None, ge=0, le=8)
    terrain: Literal["rural", "urban"] = "rural"
    mixing_height_m: float | None = Field(default=None, gt=0, le=5000)
    air_temperature_c: float = Field(default=25.0, ge=-60, le=60)

    @field_validator("stability", mode="before")
    @classmethod
    def _upper(cls, v):
        return v.strip().upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _derive_stability(self) -> Weather:
        if self.stability is None:
            if self.daytime is None:
                raise ValueError("stability: give a Pasquill class A-F, or daytime with "
                                 "insolation/cloud_cover_oktas to derive it")
            try:
                cls = stability_class(self.wind_speed_m_s, daytime=self.daytime,
                                      insolation=self.insolation,
                                      cloud_cover_oktas=self.cloud_cover_oktas)
            except InvalidParameter as exc:
                raise ValueError(str(exc)) from None
            object.__setattr__(self, "stability", cls)
        return self

    @property
    def stability_class(self) -> str:
        assert self.stability in STABILITY_CLASSES
        return self.stability

    @property
    def air_temperature_k(self) -> float:
        return self.air_temperature_c + 273.15

    @property
    def wind_to_deg(self) -> float:
        """Direction the wind blows TO, degrees clockwise from north."""
        return (self.wind_from_deg + 180.0) % 360.0


class LevelOfConcern(BaseModel):
    """A named concentration threshold, ppm."""

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=80)
    threshold_ppm: float = Field(gt=0, le=1e6)
    tier: int = Field(default=0, ge=0, le=3,
                      description="3 red (life-threatening), 2 orange, 1 yellow, 0 other")


class Scenario(BaseModel):
    """Everything :func:`plume.run` needs.

    Examples
    --------
    >>> s = Scenario(source_lon=121.70, source_lat=29.97, chemical="chlorine",
    ...              release={"kind": "continuous", "rate_g_s": 1000, "duration_s": 600},
    ...              weather={"wind_speed_m_s": 3, "wind_from_deg": 45, "stability": "D"})
    >>> [lc.name for lc in s.levels_of_concern]
    ['AEGL-3 (60 min)', 'AEGL-2 (60 min)', 'AEGL-1 (60 min)']
    >>> from plume.errors import describe
    >>> try:
    ...     Scenario(source_lon=121.7, source_lat=95, chemical="chlorine",
    ...              release={"kind": "instantaneous", "mass_g": 1e3},
    ...              weather={"wind_speed_m_s": 3, "wind_from_deg": 0, "stability": "D"})
    ... except ValueError as exc:
    ...     print(describe(exc))
    source_lat: Input should be less than or equal to 90
    """

    model_config = _STRICT
    source_lon: float = Field(ge=-180, le=180, description="WGS84 longitude, degrees")
    source_lat: float = Field(ge=-90, le=90, description="WGS84 latitude, degrees")
    release_height_m: float = Field(default=0.0, ge=0, le=1000)
    chemical: str = Field(min_length=1, max_length=200)
    release: Release
    weather: Weather
    levels_of_concern: tuple[LevelOfConcern, ...] = ()

    @field_validator("chemical")
    @classmethod
    def _known_chemical(cls, v: str) -> str:
        return get(v).name_en  # raises UnknownChemical (a KeyError) with close matches

    @model_validator(mode="after")
    def _default_levels(self) -> Scenario:
        if not self.levels_of_concern:
            levels = tuple(LevelOfConcern(name=lc.name, threshold_ppm=lc.threshold_ppm,
                                          tier=lc.tier)
                           for lc in default_levels_of_concern(self.chem))
            if not levels:
                raise ValueError(f"levels_of_concern: no AEGL, ERPG or IDLH on file for "
                                 f"{self.chemical}; give levels_of_concern explicitly")
            object.__setattr__(self, "levels_of_concern", levels)
        return self

    @property
    def chem(self) -> Chemical:
        return get(self.chemical)
