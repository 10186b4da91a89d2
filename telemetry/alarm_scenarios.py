"""Alarm → release scenario: a toxic-gas alarm at a hazard unit starts a plume run by itself.

Run by the ingest worker's periodic pass (never inside a batch transaction:
a plume run takes a fraction of a second to seconds). Picked up: open
``high`` / ``high_high`` alarms of ``toxic_gas`` sensors on a hazard unit,
raised in the last hour, with neither ``scenario_id`` nor ``scenario_note``
— so each alarm gets at most one scenario, and an alarm whose scenario
cannot be run says why once (``scenario_note``) instead of retrying forever.
One excursion, one scenario: a sensor's high and high-high alarms share the
scenario of the worse one (the duty officer sees one set of zones, not two).

Assumptions (documented in docs/TELEMETRY.md):

* **chemical** — the sensor's ``chemical`` when the plume model knows it,
  else the unit's largest inventory row the model knows
  (:func:`layers.release_planning.unit_prefill`);
* **release** — a 25 mm hole below the liquid level of the unit's tank
  (:func:`layers.release_planning.tank_hole_release`; 2 m liquid head, 25 °C,
  the unit's inventory of that chemical bounding the duration). 25 mm
  (1 inch) is the "medium" representative hole of API RP 581 (hole sizes
  ¼", 1", 4", rupture), a usual credible-leak size for screening;
* **weather** — ``ONEMAP_WEATHER_URL`` (a JSON station feed:
  ``wind_speed_m_s``, ``wind_from_deg``, optional ``stability`` A–F, read
  with a 2 s timeout) else ``ONEMAP_WEATHER_DEFAULT`` (``D,3,45``: neutral,
  3 m/s, wind from the north-east); a feed that fails or answers nonsense
  falls back to the default — a scenario is never lost for want of weather.

The scenario is stored through :func:`layers.scenario.run_and_save` (so
``scenario.created`` reaches the wall, which draws the zones) as the owner
role, and linked: ``alarms.scenario_id``.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

import plume
from layers.release_planning import tank_hole_release, unit_prefill
from layers.scenario import run_and_save
from plume import chemicals
from telemetry.settings import TelemetrySettings

__all__ = ["HOLE_DIAMETER_MM", "weather", "start_pending", "ACTOR"]

log = logging.getLogger("onemap.telemetry.alarm_scenarios")
HOLE_DIAMETER_MM = 25.0
ACTOR = "system:alarm"
_PENDING = """SELECT DISTINCT ON (a.sensor_id) a.id, a.hazard_unit_id, s.chemical, ST_X(a.geom), ST_Y(a.geom),
  a.sensor_id FROM alarms a
JOIN sensors s ON s.id = a.sensor_id
WHERE s.kind = 'toxic_gas' AND a.rule IN ('high', 'high_high') AND a.hazard_unit_id IS NOT NULL
  AND a.scenario_id IS NULL AND a.scenario_note IS NULL AND a.state <> 'cleared'
  AND a.created_at > now() - interval '1 hour'
ORDER BY a.sensor_id, a.rule = 'high_high' DESC, a.id LIMIT 20"""
# an excursion is one scenario: a sensor's other open high/high-high alarm shares the one already run
_SHARE = """UPDATE alarms a SET scenario_id = b.scenario_id,
  scenario_note = left('same excursion as alarm #' || b.id || ': ' || coalesce(b.scenario_note, ''), 500)
FROM alarms b
WHERE a.sensor_id = b.sensor_id AND a.id <> b.id AND a.rule IN ('high', 'high_high')
  AND a.scenario_id IS NULL AND a.scenario_note IS NULL AND a.state <> 'cleared'
  AND b.scenario_id IS NOT NULL AND b.state <> 'cleared'"""


def _default_weather(settings: TelemetrySettings) -> dict[str, Any]:
    stability, speed, direction = settings.weather_default.split(",")
    return {"stability": stability, "wind_speed_m_s": float(speed), "wind_from_deg": float(direction),
            "terrain": "urban", "source": "default"}


def weather(settings: TelemetrySettings) -> dict[str, Any]:
    """The current weather for a scenario: the station feed when it answers sensibly, else the default."""
    fallback = _default_weather(settings)
    if not settings.weather_url:
        return fallback
    try:
        with urllib.request.urlopen(settings.weather_url, timeout=2) as resp:  # noqa: S310 (configured URL)
            data = json.loads(resp.read(65536))
        w = plume.Weather.model_validate({"wind_speed_m_s": data["wind_speed_m_s"],
                                          "wind_from_deg": data["wind_from_deg"],
                                          "stability": data.get("stability") or fallback["stability"],
                                          "terrain": "urban"})
        return {**w.model_dump(include={"wind_speed_m_s", "wind_from_deg", "stability", "terrain"}),
                "source": "station"}
    except Exception as exc:  # any failure of the feed: the default
        log.warning("weather feed unusable (%s); using the default %s", exc.__class__.__name__,
                    settings.weather_default)
        return fallback


def _known(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return chemicals.get(name).name_en
    except Exception:  # not a chemical the model knows (the chemicals package says why)
        return None


def _one(session: Session, settings: TelemetrySettings, alarm_id: int, unit_id: int, sensor_chemical: str | None,
         lon: float, lat: float) -> tuple[int | None, str]:
    pre = unit_prefill(session, unit_id=unit_id)
    inv = pre.get("release") or {}
    chem = _known(sensor_chemical) or inv.get("chemical")
    if chem is None:
        return None, "no scenario: neither the sensor's chemical nor the unit's inventory is known to the plume model"
    inventory_kg = inv.get("inventory_kg") if inv.get("chemical") == chem else None
    hole = tank_hole_release(chemical=chem, hole_diameter_mm=HOLE_DIAMETER_MM, inventory_kg=inventory_kg)
    w = weather(settings)
    scenario = plume.Scenario.model_validate({
        "source_lon": lon, "source_lat": lat, "chemical": chem, "release": hole["release"],
        "weather": {k: w[k] for k in ("wind_speed_m_s", "wind_from_deg", "stability", "terrain")}})
    title = f"报警 #{alarm_id} 自动推演：{pre['unit']['name']}"[:200]  # the wall adds the chemical
    out = run_and_save(session, scenario=scenario, actor=ACTOR, title=title)
    note = (f"{chem}; {HOLE_DIAMETER_MM:g} mm hole, {hole['release']['rate_g_s']:.0f} g/s for "
            f"{hole['release']['duration_s']:.0f} s; weather {w['source']}: {w['stability']}, "
            f"{w['wind_speed_m_s']:g} m/s from {w['wind_from_deg']:g}°")
    return int(out["id"]), note[:500]


def start_pending(dsn: str, settings: TelemetrySettings) -> int:
    """Run and store the scenarios of the toxic-gas alarms waiting for one; how many were stored.

    One scenario per excursion of a sensor: when a reading crosses both the
    high and the high-high threshold, the high-high alarm's scenario is run and
    the high alarm links to it (``scenario_note`` says so); an alarm raised
    while another open alarm of its sensor already has a scenario links to that.
    """
    with psycopg.connect(dsn) as conn:
        conn.execute(_SHARE)
        pending = conn.execute(_PENDING).fetchall()
    if not pending:
        return 0
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    made = 0
    try:
        for alarm_id, unit_id, chem, lon, lat, _sensor in pending:
            with Session(engine) as session:
                try:
                    sid, note = _one(session, settings, alarm_id, unit_id, chem, lon, lat)
                except Exception as exc:  # the model refused: say why once, never retry in a loop
                    session.rollback()
                    sid, note = None, f"no scenario: {exc.__class__.__name__}: {str(exc)[:400]}"
                    log.warning("alarm %s: %s", alarm_id, note)
                conn = session.connection().connection.driver_connection
                with conn.cursor() as cur:
                    cur.execute("UPDATE alarms SET scenario_id = %s, scenario_note = %s WHERE id = %s "
                                "AND scenario_id IS NULL AND scenario_note IS NULL", (sid, note, alarm_id))
                    if sid is not None:
                        cur.execute(_SHARE)
                session.commit()
                made += sid is not None
    finally:
        engine.dispose()
    return made
