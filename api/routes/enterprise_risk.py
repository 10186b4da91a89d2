"""``/enterprises/{id}/risk`` (why an enterprise has its colour) and ``/risk/rules`` (the rule table)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import SessionDep
from layers.enterprise_risk import explain, load_rules, rules_json

__all__ = ["router"]

router = APIRouter(tags=["enterprise risk"])


@router.get("/enterprises/{enterprise_id}/risk", summary="Four-colour risk of an enterprise, explained")
def enterprise_risk(session: SessionDep, enterprise_id: Annotated[int, Path(ge=1, lt=2**63)]) -> dict[str, Any]:
    """The stored colour, score and top factors, and the full factor breakdown recomputed now.

    Row-level security applies: 404 when the enterprise does not exist or is
    not yours to see; the recomputation counts only rows you may see.
    """
    return explain(session, enterprise_id)


@router.get("/risk/rules", summary="The four-colour enterprise risk rule table")
def risk_rules() -> dict[str, Any]:
    """Points per factor, colour thresholds and overrides (OneMap's configurable default)."""
    return rules_json(load_rules())
