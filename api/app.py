"""The FastAPI application factory.

Routes are thin: they parse input, call a service function in ``layers``/``geo``
and serialise. The app connects as the *app* role (owns nothing, no BYPASSRLS).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routes import health, regions
from geo.db import app_url, make_engine, session_factory
from geo.settings import Settings, get_settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, engine=None) -> FastAPI:
    """Build the app. ``engine`` may be given (tests); else one is made for the app role."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = engine or make_engine(app_url(settings))
        app.state.sessions = session_factory(app.state.engine)
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
    app.include_router(health.router)
    app.include_router(regions.router)
    return app
