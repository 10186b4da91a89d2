"""The FastAPI application factory.

Routes are thin: they parse input, call a service function in ``layers``/``geo``
and serialise. The app connects as the *app* role (owns nothing, no BYPASSRLS).
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.errors import install_error_handlers
from api.routes import auth, health, regions, scenarios
from geo.context import install
from geo.db import app_url, make_engine, session_factory
from geo.settings import Settings, get_settings

__all__ = ["create_app", "MAX_BODY_BYTES"]

MAX_BODY_BYTES = 5 * 2**20


def create_app(settings: Settings | None = None, *, engine=None) -> FastAPI:
    """Build the app. ``engine`` may be given (tests); else one is made for the app role."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = engine or make_engine(app_url(settings))
        app.state.sessions = install(session_factory(app.state.engine))
        yield
        if engine is None:
            app.state.engine.dispose()

    app = FastAPI(
        title="OneMap",
        version="0.1.0",
        description="一张图: work-safety and emergency-management regulators' shared map.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)

    @app.middleware("http")
    async def request_id_and_size(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse(status_code=413, content={
                "detail": [{"field": "body", "reason": f"payload over {MAX_BODY_BYTES // 2**20} MB"}]})
        request.state.request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(regions.router)
    app.include_router(scenarios.router)
    return app
