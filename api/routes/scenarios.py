"""``/scenarios``: run a release scenario, see who is affected, reopen it later."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import ValidationError

import plume
from api.deps import ContextDep, SessionDep
from geo.errors import InvalidInput, NotPermitted
from layers.release_planning import chemical_options, tank_hole_release, unit_prefill
from layers.scenario import get_scenario, run_and_save
from plume.errors import describe

router = APIRouter(prefix="/scenarios", tags=["scenarios"])

_EXAMPLE = {"source_lon": 121.64, "source_lat": 29.99, "chemical": "chlorine",
            "release": {"kind": "continuous", "rate_g_s": 1000, "duration_s": 600},
            "weather": {"wind_speed_m_s": 3, "wind_from_deg": 45, "stability": "D", "terrain": "urban"},
            "title": "镇海 液氯储罐 泄漏"}


@router.post("", status_code=201, openapi_extra={"requestBody": {"content": {"application/json": {
    "schema": {"type": "object"}, "example": _EXAMPLE}}}})
def create(session: SessionDep, ctx: ContextDep, payload: Annotated[dict[str, Any], Body()]) -> dict:
    """Run ``plume`` for the scenario (plus optional ``title``, ``is_public``); zones and impact; saved."""
    if ctx.role == "public":
        raise NotPermitted("log in to run and save scenarios")
    body = dict(payload)
    title = body.pop("title", None)
    is_public = body.pop("is_public", False)
    if title is not None and (not isinstance(title, str) or len(title) > 200):
        raise InvalidInput("title", "must be a string of at most 200 characters")
    if not isinstance(is_public, bool):
        raise InvalidInput("is_public", "must be true or false")
    try:
        scenario = plume.Scenario.model_validate(body)
    except (ValidationError, ValueError, KeyError) as exc:
        raise InvalidInput("scenario", describe(exc)) from None
    out = run_and_save(session, scenario=scenario, actor=ctx.actor, title=title, is_public=is_public)
    session.commit()
    return out


@router.get("/chemicals", summary="Chemicals the plume model knows, with their levels of concern")
def chemicals() -> dict:
    """Names (English and Chinese), CAS numbers and levels of concern in ppm."""
    data = chemical_options()
    return {"data": data, "count": len(data)}


@router.get("/prefill", summary="A hazard unit's source point and modelled chemical, for the planner")
def prefill(session: SessionDep, unit: Annotated[int, Query(ge=1, le=2**63 - 1, description="hazard unit id")]) -> dict:
    """Position of the unit and its largest inventory row the model knows (404 outside your jurisdiction)."""
    return unit_prefill(session, unit_id=unit)


@router.get("/tank-hole", summary="A hole in a tank as a continuous release (rate and duration)")
def tank_hole(
    chemical: Annotated[str, Query(min_length=1, max_length=200)],
    hole_diameter_mm: Annotated[float, Query(gt=0, le=1000, description="hole diameter, mm")],
    inventory_kg: Annotated[float | None, Query(gt=0, le=1e7, description="contents of the tank, kg")] = None,
    temperature_c: Annotated[float, Query(ge=-40, le=100, description="liquid temperature, °C")] = 25.0,
    liquid_head_m: Annotated[float, Query(ge=0, le=50, description="liquid above the hole, m")] = 2.0,
) -> dict:
    """Bernoulli flow through the hole, the flashed (liquefied gases) or whole (liquids) jet airborne."""
    return tank_hole_release(chemical=chemical, hole_diameter_mm=hole_diameter_mm, inventory_kg=inventory_kg,
                             temperature_c=temperature_c, liquid_head_m=liquid_head_m)


@router.get("/{scenario_id}")
def read(session: SessionDep, scenario_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> dict:
    """A saved scenario (404 when it does not exist or lies outside your jurisdiction)."""
    return get_scenario(session, scenario_id=scenario_id)
