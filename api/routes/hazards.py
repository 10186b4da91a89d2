"""``/hazard-units/{id}/assessments``: the stored GB 18218-2018 assessments of a unit (newest first)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import SessionDep
from layers.hazard_records import assessment_history

__all__ = ["router"]

router = APIRouter(tags=["hazard-units"])


@router.get("/hazard-units/{unit_id}/assessments", name="hazard_unit_assessments",
            summary="Assessment history of a hazard unit (GB 18218-2018), newest first")
def assessments(session: SessionDep, unit_id: Annotated[int, Path(ge=1, lt=2**63)]) -> dict[str, Any]:
    """``{data, count}``: S, R, grade, α, people within 500 m, per-chemical contributions, inputs, note.

    404 when the unit does not exist or lies outside your jurisdiction.
    """
    rows = assessment_history(session.connection(), unit_id)
    return {"data": rows, "count": len(rows)}
