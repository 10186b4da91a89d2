"""``/health``: 200 when the database answers, 503 otherwise."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from geo.db import postgis_version

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """Database reachability and the PostGIS version."""
    try:
        postgis = postgis_version(request.app.state.engine)
    except SQLAlchemyError:
        return JSONResponse(status_code=503, content={"status": "unavailable", "database": False})
    return JSONResponse(content={"status": "ok", "database": True, "postgis": postgis})
