"""One map from domain exceptions to HTTP status codes (JSON bodies, never a 500 for input)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from geo.errors import DatabaseUnavailable, InvalidInput, NotAuthenticated, NotFound, NotPermitted
from geo.users import AuthError
from layers.editing import StaleVersion, VersionRequired
from layers.features import InvalidQuery
from layers.tiles import TileOutsideMatrix
from plume.errors import PlumeError, describe
from workflows.errors import EvidenceTooLarge, UnsupportedMediaType, WorkflowConflict

__all__ = ["install_error_handlers"]


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        status = 428 if isinstance(exc, VersionRequired) else 400 if isinstance(exc, InvalidQuery) else 422
        return JSONResponse(status_code=status, content={"detail": [{"field": exc.field, "reason": exc.reason}]})

    @app.exception_handler(TileOutsideMatrix)
    async def _no_tile(_: Request, exc: TileOutsideMatrix) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": [{"field": exc.field, "reason": exc.reason}]})

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = []
        for err in exc.errors()[:20]:
            loc = [str(p) for p in err.get("loc", ())]
            where = loc[0] if loc else "request"
            field = where if err.get("type") == "json_invalid" else (".".join(loc[1:]) or where)
            detail.append({"field": field, "in": where, "reason": str(err.get("msg", "invalid"))})
        # a malformed selection (query string, headers) is a bad request; a bad body or path is unprocessable
        status = 400 if all(d["in"] in ("query", "header") for d in detail) else 422
        return JSONResponse(status_code=status, content={"detail": detail})

    @app.exception_handler(EvidenceTooLarge)
    @app.exception_handler(UnsupportedMediaType)
    async def _evidence(_: Request, exc: InvalidInput) -> JSONResponse:
        status = 413 if isinstance(exc, EvidenceTooLarge) else 415
        return JSONResponse(status_code=status, content={"detail": [{"field": exc.field, "reason": exc.reason}]})

    @app.exception_handler(WorkflowConflict)
    async def _workflow(_: Request, exc: WorkflowConflict) -> JSONResponse:
        # an illegal move: 409 naming the field, the current status and what is allowed from it
        return JSONResponse(status_code=409, content={"detail": [{"field": exc.field, "reason": exc.reason}],
                                                      "status": exc.status, "allowed": exc.allowed})

    @app.exception_handler(StaleVersion)
    async def _stale(_: Request, exc: StaleVersion) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc), "current_version": exc.current},
                            headers={"ETag": f'"{exc.current}"'})

    @app.exception_handler(AuthError)
    @app.exception_handler(NotAuthenticated)
    async def _auth(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=401, content={"detail": str(exc)}, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(PlumeError)
    async def _plume(_: Request, exc: PlumeError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": describe(exc)})

    @app.exception_handler(NotPermitted)
    async def _forbidden(_: Request, exc: NotPermitted) -> JSONResponse:
        return JSONResponse(status_code=403, content={"detail": str(exc)})

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(DatabaseUnavailable)
    @app.exception_handler(OperationalError)
    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": "database unavailable"})

    @app.exception_handler(DBAPIError)
    async def _db_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if getattr(exc, "connection_invalidated", False):
            return JSONResponse(status_code=503, content={"detail": "database unavailable"})
        return JSONResponse(status_code=409, content={"detail": "the request conflicts with stored data"})
