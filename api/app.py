"""The FastAPI application factory.

Routes are thin: they parse input, call a service function in ``layers``/``geo``
and serialise. The app connects as the *app* role (owns nothing, no BYPASSRLS).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import TokenCache, VerifiedUsers
from api.errors import install_error_handlers
from api.middleware import RequestGuard
from api.routes import (
    accident_reports,
    alarms,
    auth,
    credit,
    enterprise_risk,
    events,
    exports,
    features,
    hazards,
    health,
    hidden_danger_workflow,
    inspections,
    ogc,
    pages,
    regions,
    risk,
    scenarios,
    spatial,
    telemetry,
    tiles,
)
from api.tile_answers import TileFastPath
from geo.aiodb import AsyncDatabase
from geo.context import install
from geo.db import app_url, libpq_dsn, make_engine, session_factory
from geo.settings import Settings, get_settings
from layers.tiles import TileCache

__all__ = ["create_app", "MAX_BODY_BYTES"]

MAX_BODY_BYTES = 5 * 2**20


def create_app(settings: Settings | None = None, *, engine=None) -> FastAPI:
    """Build the app. ``engine`` may be given (tests); else one is made for the app role."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = engine or make_engine(app_url(settings), pool_size=10, max_overflow=10)
        app.state.sessions = install(session_factory(app.state.engine))
        live = await events.start_live(app)  # app.state.live: LISTEN/NOTIFY change feed and data versions
        app.state.tile_cache = TileCache(lambda table: live.version(table) if live.connected else None,
                                         max_bytes=settings.tile_cache_mb * 2**20)
        app.state.verified_users = VerifiedUsers(lambda: live.version("users") if live.connected else None)
        # pipelined reads for the hot paths (tiles): one round trip per request
        app.state.reads = AsyncDatabase(libpq_dsn(app.state.engine.url), min_size=2, max_size=10)
        await app.state.reads.open()
        yield
        await app.state.reads.close()
        events.stop_live(app)
        if engine is None:
            app.state.engine.dispose()

    app = FastAPI(
        title="OneMap",
        version="0.1.0",
        description="一张图: work-safety and emergency-management regulators' shared map.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tokens = TokenCache(settings)
    install_error_handlers(app)

    app.add_middleware(TileFastPath)  # inside RequestGuard: tiles still get a request id
    app.add_middleware(RequestGuard, max_body_bytes=MAX_BODY_BYTES)

    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(regions.router)
    app.include_router(scenarios.router)
    app.include_router(exports.router)
    app.include_router(events.router)
    app.include_router(hidden_danger_workflow.router)
    app.include_router(inspections.router)
    app.include_router(accident_reports.router)
    app.include_router(alarms.router)
    app.include_router(credit.router)
    app.include_router(telemetry.router)
    app.include_router(features.router)
    app.include_router(enterprise_risk.router)
    app.include_router(hazards.router)
    app.include_router(ogc.router)
    app.include_router(tiles.router)
    app.include_router(spatial.router)
    app.include_router(risk.router)
    app.include_router(pages.router)
    pages.mount_static(app)
    return app
