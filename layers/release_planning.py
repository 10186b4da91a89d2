"""What the scenario planner needs before a run: chemicals, a unit's pre-fill, tank-hole source terms.

* :func:`chemical_options`: the chemicals the plume model knows, with their
  levels of concern, for the planner's picker;
* :func:`unit_prefill`: for a hazard unit, its position and the first
  inventory row the model knows (by CAS number), as a planner pre-fill;
* :func:`tank_hole_release`: a hole in a storage tank turned into the
  continuous release ``plume.Scenario`` takes, with the assumptions said.

A liquefied gas (stored above its normal boiling point, e.g. chlorine,
ammonia) leaves the hole as liquid that flashes: the flashed fraction is
airborne (:func:`plume.source.liquid_through_hole`, ``airborne="flash"``).
A liquid stored below its boiling point does not flash; the whole jet is
then taken as airborne (``airborne="all"``): a screening upper bound, said
so in the assumptions, because pool evaporation needs a bund area the
planner does not ask for.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound
from geo.models import HazardUnit, InventoryRow
from plume import chemicals
from plume.chemicals import default_levels_of_concern
from plume.errors import PlumeError, describe
from plume.source import liquid_through_hole

__all__ = ["chemical_options", "unit_prefill", "tank_hole_release"]


def chemical_options() -> list[dict[str, Any]]:
    """Every chemical the model knows: names, CAS, levels of concern (ppm)."""
    out = []
    for name in chemicals.names():
        chem = chemicals.get(name)
        levels = [{"name": lc.name, "threshold_ppm": lc.threshold_ppm, "tier": lc.tier}
                  for lc in default_levels_of_concern(chem)]
        out.append({"name": chem.name_en, "name_zh": chem.name_zh, "cas": chem.cas, "levels": levels})
    return out


def unit_prefill(session: Session, *, unit_id: int) -> dict[str, Any]:
    """A hazard unit's source point and the largest of its inventory rows the model knows.

    ``not_modelled`` names the rows whose chemical the plume model does not know.

    Raises :class:`NotFound` when the unit does not exist or lies outside the caller's jurisdiction.
    """
    row = session.execute(select(HazardUnit.id, HazardUnit.name, HazardUnit.enterprise_id, HazardUnit.grade,
                                 func.ST_X(HazardUnit.geom).label("lon"), func.ST_Y(HazardUnit.geom).label("lat"))
                          .where(HazardUnit.id == unit_id, HazardUnit.valid_to.is_(None))).mappings().first()
    if row is None:
        raise NotFound(f"hazard unit {unit_id} not found")
    inventory = session.execute(select(InventoryRow.chemical, InventoryRow.cas, InventoryRow.max_quantity_t)
                                .where(InventoryRow.hazard_unit_id == unit_id)
                                .order_by(InventoryRow.max_quantity_t.desc())).mappings().all()
    known, others = None, []
    for item in inventory:
        try:
            chem = chemicals.get(item["cas"] or item["chemical"])
        except (KeyError, PlumeError):
            others.append(item["chemical"])
            continue
        if known is None:
            known = {"chemical": chem.name_en, "name_zh": chem.name_zh, "inventory_kg": item["max_quantity_t"] * 1000.0,
                     "as_stored": item["chemical"]}
    return {"unit": dict(row) | {"lon": float(row["lon"]), "lat": float(row["lat"])}, "release": known,
            "not_modelled": others}


def tank_hole_release(*, chemical: str, hole_diameter_mm: float, inventory_kg: float | None,
                      temperature_c: float = 25.0, liquid_head_m: float = 2.0) -> dict[str, Any]:
    """A continuous release (g/s for s) from a hole below the liquid level of a tank.

    Raises :class:`InvalidInput` naming the field for values the model cannot use.
    """
    try:
        chem = chemicals.get(chemical)
    except KeyError as exc:
        raise InvalidInput("chemical", describe(exc)) from None
    if not 0 < hole_diameter_mm <= 1000:
        raise InvalidInput("hole_diameter_mm", "must be more than 0 and at most 1000 mm")
    if inventory_kg is not None and not 0 < inventory_kg <= 1e7:
        raise InvalidInput("inventory_kg", "must be more than 0 and at most 10,000,000 kg")
    if not -40 <= temperature_c <= 100:
        raise InvalidInput("temperature_c", "must be between -40 and 100 °C")
    if not 0 <= liquid_head_m <= 50:
        raise InvalidInput("liquid_head_m", "must be between 0 and 50 m")
    temperature_k = temperature_c + 273.15
    try:
        liquefied_gas = chem.boiling_point_k < temperature_k
        term = liquid_through_hole(chem, hole_diameter_m=hole_diameter_mm / 1000.0, temperature_k=temperature_k,
                                   liquid_head_m=liquid_head_m, airborne="flash" if liquefied_gas else "all",
                                   inventory_g=None if inventory_kg is None else inventory_kg * 1000.0)
    except (PlumeError, ValueError) as exc:
        raise InvalidInput("release", describe(exc)) from None
    return {"release": {"kind": "continuous", "rate_g_s": term.rate_g_s, "duration_s": term.duration_s},
            "method": term.method, "liquefied_gas": liquefied_gas, "flash_fraction": term.flash_fraction,
            "liquid_rate_g_s": term.liquid_rate_g_s, "assumptions": list(term.assumptions)}
