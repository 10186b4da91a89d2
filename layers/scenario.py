"""Release scenarios on the map: who and what lies inside each threat zone, and help nearby.

For a :class:`plume.Result` (zones in WGS84) this answers the planner's
questions from the database, under the caller's row-level security:

* per zone: protection targets touched and the people in them (polygons are
  weighted by the share of their area inside the zone, points count whole),
  enterprises and hazard units inside;
* the nearest rescue teams and supply depots **outside** the AEGL-2 (tier 2)
  zone, with straight-line distances in metres from the source (KNN on the
  GiST index, distances on the geography type).

Keyword-only service functions; the caller owns the transaction.
"""

from __future__ import annotations

from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import Float, and_, cast, func, insert, literal, not_, select
from sqlalchemy.orm import Session

import plume
from geo.errors import NotFound
from geo.models import Enterprise, HazardUnit, ProtectionTarget, RescueTeam, Scenario, SupplyDepot
from geo.registry import db_errors
from layers.catalogue import LAYERS
from layers.nearby import knn
from layers.spatial import intersects

__all__ = ["analyse_impact", "save_scenario", "get_scenario", "run_and_save"]

_LIST_CAP = 50


def _geom(wkt: str):
    return func.ST_GeomFromText(literal(wkt), 4326)


def _people(zone):
    """Population inside ``zone``: area-weighted for polygons, whole for points."""
    inside = func.ST_Area(cast(func.ST_Intersection(ProtectionTarget.geom, zone), Geography))
    whole = func.ST_Area(cast(ProtectionTarget.geom, Geography))
    share = func.coalesce(inside / func.nullif(whole, 0), literal(1.0))
    return func.coalesce(func.sum(ProtectionTarget.population * cast(share, Float)), 0)


def _zone_impact(session: Session, zone) -> dict[str, Any]:
    in_zone = and_(intersects(ProtectionTarget.geom, zone), ProtectionTarget.status == "active")
    touched, people = session.execute(select(func.count(), _people(zone)).where(in_zone)).one()
    by_kind = dict(session.execute(select(ProtectionTarget.kind, func.count()).where(in_zone)
                                   .group_by(ProtectionTarget.kind)).all())
    sensitive = [dict(r) for r in session.execute(
        select(ProtectionTarget.id, ProtectionTarget.name, ProtectionTarget.kind, ProtectionTarget.category,
               ProtectionTarget.population)
        .where(in_zone, ProtectionTarget.category.in_(("high_sensitivity", "important")))
        .order_by(ProtectionTarget.population.desc()).limit(_LIST_CAP)).mappings()]
    ent_where = and_(intersects(Enterprise.geom, zone), Enterprise.status != "deregistered")
    n_ent = session.execute(select(func.count()).where(ent_where)).scalar_one()
    enterprises = [dict(r) for r in session.execute(
        select(Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.risk_colour)
        .where(ent_where).order_by(Enterprise.id).limit(_LIST_CAP)).mappings()]
    unit_where = and_(intersects(HazardUnit.geom, zone), HazardUnit.status == "active")
    n_units = session.execute(select(func.count()).where(unit_where)).scalar_one()
    units = [dict(r) for r in session.execute(
        select(HazardUnit.id, HazardUnit.name, HazardUnit.enterprise_id, HazardUnit.grade)
        .where(unit_where).order_by(HazardUnit.id).limit(_LIST_CAP)).mappings()]
    return {
        "protection_targets": {"count": touched, "population": round(float(people)), "by_kind": by_kind,
                               "sensitive": sensitive},
        "enterprises": {"count": n_ent, "items": enterprises},
        "hazard_units": {"count": n_units, "items": units},
    }


def _help_outside(session: Session, layer_name: str, source: plume.Scenario, exclude, n: int,
                  columns) -> list[dict[str, Any]]:
    """The ``n`` nearest teams or depots to the source that lie outside ``exclude`` (the AEGL-2 zone)."""
    layer = LAYERS[layer_name]
    where = [] if exclude is None else [not_(func.ST_Intersects(layer.geom_column, exclude))]
    return knn(session, layer=layer, lon=source.source_lon, lat=source.source_lat, n=n,
               columns=(*columns, layer.model.adcode), where=where)


def analyse_impact(session: Session, *, result: plume.Result, nearest: int = 5) -> dict[str, Any]:
    """Impact of a plume result: per zone, and help outside the AEGL-2 zone."""
    s = result.scenario
    zones = []
    exclude = None
    for z in sorted(result.zones, key=lambda z: -z.tier):
        entry = {"level": z.name, "tier": z.tier, "threshold_ppm": z.threshold_ppm,
                 "max_downwind_m": round(z.max_downwind_m, 1), "area_m2": round(z.area_m2, 1)}
        if not z.is_empty:
            zone = _geom(z.geometry_wgs84.wkt)
            entry.update(_zone_impact(session, zone))
            if z.tier == 2:
                exclude = zone
        zones.append(entry)
    if exclude is None:  # no AEGL-2 zone: keep help out of the most serious zone there is
        serious = [z for z in result.zones if not z.is_empty and z.tier >= 2]
        exclude = _geom(serious[0].geometry_wgs84.wkt) if serious else None
    return {
        "zones": zones,
        "nearest_rescue_teams": _help_outside(session, "rescue_teams", s, exclude, nearest,
                                              (RescueTeam.kind, RescueTeam.headcount, RescueTeam.capabilities)),
        "nearest_supply_depots": _help_outside(session, "supply_depots", s, exclude, nearest, (SupplyDepot.level,)),
        "outside_zone": "tier 2 (AEGL-2 or its stand-in)" if exclude is not None else None,
    }


def save_scenario(session: Session, *, result: plume.Result, impact: dict[str, Any], actor: str,
                  title: str | None = None, is_public: bool = False) -> int:
    """Store a scenario (parameters, zones, impact); its adcode comes from the source point."""
    s = result.scenario
    fc = result.to_geojson_dict()
    values = {
        "title": title, "chemical": s.chemical, "params": s.model_dump(mode="json"), "result": fc,
        "impact": impact, "warnings": list(result.warnings), "created_by": actor, "is_public": is_public,
        "geom": func.ST_SetSRID(func.ST_MakePoint(s.source_lon, s.source_lat), 4326),
    }
    conn = session.connection()
    with db_errors(conn):
        return conn.execute(insert(Scenario).values(**values).returning(Scenario.id)).scalar_one()


def run_and_save(session: Session, *, scenario: plume.Scenario, actor: str, title: str | None = None,
                 is_public: bool = False) -> dict[str, Any]:
    """Run the plume model, analyse the impact and save; returns the stored scenario."""
    result = plume.run(scenario)
    impact = analyse_impact(session, result=result)
    sid = save_scenario(session, result=result, impact=impact, actor=actor, title=title, is_public=is_public)
    return get_scenario(session, scenario_id=sid)


def get_scenario(session: Session, *, scenario_id: int) -> dict[str, Any]:
    """One stored scenario visible to the caller (404 otherwise)."""
    row = session.execute(select(Scenario.id, Scenario.title, Scenario.chemical, Scenario.adcode,
                                 Scenario.params, Scenario.result, Scenario.impact, Scenario.warnings,
                                 Scenario.created_by, Scenario.created_at, Scenario.is_public)
                          .where(Scenario.id == scenario_id)).mappings().first()
    if row is None:
        raise NotFound(f"scenario {scenario_id} not found")
    return dict(row)
