"""``/health``: 200 when the database answers, 503 otherwise."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """Database reachability and the PostGIS version."""
    try:
        with request.app.state.engine.connect() as conn:
            postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
    except SQLAlchemyError:
        return JSONResponse(status_code=503, content={"status": "unavailable", "database": False})
    return JSONResponse(content={"status": "ok", "database": True, "postgis": postgis})
