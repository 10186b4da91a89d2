"""``onemap plume``: run a release scenario from the command line.

Mounted by ``api/cli.py`` as ``app.add_typer(plume_app, name="plume")``.
Imports only :mod:`plume` (and typer). Output: GeoJSON on stdout unless
``--out`` is given; warnings on stderr; bad parameters exit with code 2 and
one line on stderr naming the field and the reason.

Option values are read as text and checked here (not by click), so that a
bad number, a missing option or an unknown choice also gives that one line.

Example::

    onemap plume run --chemical chlorine --rate-g-s 1000 --duration-s 600 \\
        --lon 121.70 --lat 29.97 --wind-speed 3 --wind-from 45 --stability D \\
        --terrain urban --format geojson --out zones.geojson
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated

import typer

import plume
from plume.errors import PlumeError, describe

__all__ = ["plume_app"]

plume_app = typer.Typer(help="Gaussian plume release scenarios (no database needed).",
                        no_args_is_help=True, add_completion=False)

_FORMATS = ("geojson", "geotiff", "html")
_TERRAINS = ("rural", "urban")
_INSOLATION = ("strong", "moderate", "slight")


class _BadInput(Exception):
    pass


@plume_app.callback()
def _group() -> None:
    """Gaussian plume release scenarios."""


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _number(text: str | None, field: str, *, required: bool = False,
            integer: bool = False) -> float | None:
    if text is None:
        if required:
            raise _BadInput(f"{field}: required (--{field.replace('_', '-')})")
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise _BadInput(f"{field}: must be {kind}, got {text!r}") from None
    if not math.isfinite(value):
        raise _BadInput(f"{field}: must be finite, got {text!r}")
    return value


def _choice(text: str | None, field: str, options: tuple[str, ...]) -> str | None:
    if text is None:
        return None
    value = text.strip().lower()
    if value not in options:
        raise _BadInput(f"{field}: unknown value {text!r}; valid: {', '.join(options)}")
    return value


def _day_night(text: str | None) -> bool | None:
    choice = _choice(text, "time_of_day", ("day", "night"))
    return None if choice is None else choice == "day"


_NUM = "FLOAT"


@plume_app.command("run")
def run_command(
    chemical: Annotated[str | None, typer.Option(
        help="name (English or Chinese) or CAS number (required)")] = None,
    lon: Annotated[str | None, typer.Option(metavar=_NUM, help="source longitude, WGS84 degrees (required)")] = None,
    lat: Annotated[str | None, typer.Option(metavar=_NUM, help="source latitude, WGS84 degrees (required)")] = None,
    wind_speed: Annotated[str | None, typer.Option(metavar=_NUM, help="wind speed at 10 m, m/s (required)")] = None,
    wind_from: Annotated[str | None, typer.Option(metavar=_NUM, help="direction the wind blows FROM, degrees clockwise from north (required)")] = None,
    rate_g_s: Annotated[str | None, typer.Option(metavar=_NUM, help="continuous release rate, g/s")] = None,
    duration_s: Annotated[str | None, typer.Option(metavar=_NUM, help="release duration, s (omit for a steady release)")] = None,
    mass_g: Annotated[str | None, typer.Option(metavar=_NUM, help="instantaneous release mass, g")] = None,
    height_m: Annotated[str | None, typer.Option(metavar=_NUM, help="release height, m (default: 0)")] = None,
    stability: Annotated[str | None, typer.Option(help="Pasquill class A-F")] = None,
    time_of_day: Annotated[str | None, typer.Option(metavar="day|night", help="derive the class from day/night (with --insolation or --cloud-cover)")] = None,
    insolation: Annotated[str | None, typer.Option(metavar="strong|moderate|slight", help="solar radiation by day")] = None,
    cloud_cover: Annotated[str | None, typer.Option(metavar="INT", help="cloud cover, oktas 0-8")] = None,
    terrain: Annotated[str | None, typer.Option(metavar="rural|urban", help="sigma curves (default: rural)")] = None,
    mixing_height_m: Annotated[str | None, typer.Option(metavar=_NUM, help="mixing lid height, m")] = None,
    air_temperature_c: Annotated[str | None, typer.Option(metavar=_NUM, help="air temperature, °C (default: 25)")] = None,
    cell_m: Annotated[str | None, typer.Option(metavar=_NUM, help="grid cell, m (default: auto)")] = None,
    extent_m: Annotated[str | None, typer.Option(metavar=_NUM, help="half-width of a square grid, m (default: auto)")] = None,
    format: Annotated[str | None, typer.Option("--format", metavar="geojson|geotiff|html", help="output format (default: geojson)")] = None,
    out: Annotated[Path | None, typer.Option(help="output file (default: GeoJSON on stdout)")] = None,
) -> None:
    """Run one release scenario: threat zones (GeoJSON), concentration grid (GeoTIFF) or map (HTML)."""
    try:
        fmt = _choice(format, "format", _FORMATS) or "geojson"
        if chemical is None or not chemical.strip():
            raise _BadInput("chemical: required (--chemical)")
        rate = _number(rate_g_s, "rate_g_s")
        mass = _number(mass_g, "mass_g")
        duration = _number(duration_s, "duration_s")
        if (rate is None) == (mass is None):
            raise _BadInput("release: give exactly one of --rate-g-s (continuous) "
                            "or --mass-g (instantaneous)")
        if mass is not None and duration is not None:
            raise _BadInput("duration_s: --duration-s applies to --rate-g-s releases only")
        if fmt != "geojson" and out is None:
            raise _BadInput(f"out: --format {fmt} needs --out FILE")
        release = ({"kind": "instantaneous", "mass_g": mass} if mass is not None else
                   {"kind": "continuous", "rate_g_s": rate, "duration_s": duration})
        weather = {
            "wind_speed_m_s": _number(wind_speed, "wind_speed", required=True),
            "wind_from_deg": _number(wind_from, "wind_from", required=True),
            "stability": stability, "daytime": _day_night(time_of_day),
            "insolation": _choice(insolation, "insolation", _INSOLATION),
            "cloud_cover_oktas": _number(cloud_cover, "cloud_cover", integer=True),
            "terrain": _choice(terrain, "terrain", _TERRAINS) or "rural",
            "mixing_height_m": _number(mixing_height_m, "mixing_height_m"),
        }
        temp = _number(air_temperature_c, "air_temperature_c")
        if temp is not None:
            weather["air_temperature_c"] = temp
        scenario = plume.Scenario(
            source_lon=_number(lon, "lon", required=True),
            source_lat=_number(lat, "lat", required=True),
            release_height_m=_number(height_m, "height_m") or 0.0,
            chemical=chemical, release=release, weather=weather)
        result = plume.run(scenario, cell_m=_number(cell_m, "cell_m"),
                           extent_m=_number(extent_m, "extent_m"))
    except _BadInput as exc:
        _fail(str(exc))
        return
    except (PlumeError, ValueError) as exc:  # pydantic ValidationError is a ValueError
        _fail(describe(exc))
        return
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
    try:
        if fmt == "geojson":
            text = result.to_geojson()
            if out is None:
                sys.stdout.write(text + "\n")
            else:
                out.write_text(text + "\n", encoding="utf-8")
        elif fmt == "geotiff":
            result.to_geotiff(out)
        else:
            result.to_folium().save(str(out))
    except OSError as exc:
        _fail(f"out: cannot write {out}: {exc.strerror or exc}")
    if out is not None:
        typer.echo(f"wrote {out}", err=True)
