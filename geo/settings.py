"""OneMap settings, one module (pydantic-settings, ``ONEMAP_*`` environment variables).

Nothing is read at import time: call :func:`get_settings` (cached) or build
:class:`Settings` yourself (tests do).

Variables
---------
``DATABASE_URL`` (or ``ONEMAP_DATABASE_URL``)
    SQLAlchemy URL of an existing PostGIS used by the *owner* role (migrations,
    bulk loads). When set, OneMap starts no local cluster.
``ONEMAP_APP_DATABASE_URL``
    URL for the application role (serves requests; owns nothing, no BYPASSRLS).
    Defaults to ``DATABASE_URL`` with the user and password replaced by
    ``ONEMAP_APP_ROLE`` / ``ONEMAP_APP_PASSWORD``.
``ONEMAP_STATE_DIR``
    Where the local cluster lives (default ``.onemap`` in the working directory).
``ONEMAP_PG_PORT`` (default 55432), ``ONEMAP_PG_BIN`` (PostgreSQL bin dir; found
automatically), ``ONEMAP_DB_NAME`` (default ``onemap``), ``ONEMAP_OWNER_ROLE``
(default ``onemap_owner``), ``ONEMAP_APP_ROLE`` (default ``onemap_app``).
``ONEMAP_ENV``
    ``development`` (default) or ``production``. Production refuses generated
    local-cluster credentials and requires ``DATABASE_URL``.
``ONEMAP_JWT_SECRET`` (32+ characters; generated into the state dir in
development), ``ONEMAP_JWT_TTL_S`` (default 900), ``ONEMAP_JWT_AUDIENCE``
(default ``onemap``).
``ONEMAP_SETTINGS_FILE``
    Optional ``KEY=value`` file read before the environment (``.env`` format).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """All OneMap settings (database and local cluster)."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "ONEMAP_DATABASE_URL")
    )
    app_database_url: str | None = None
    state_dir: Path = Path(".onemap")
    pg_port: int = Field(default=55432, ge=1024, le=65535)
    pg_bin: Path | None = None
    db_name: str = Field(default="onemap", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    owner_role: str = Field(default="onemap_owner", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    app_role: str = Field(default="onemap_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    app_password: str | None = None
    jwt_secret: str | None = Field(default=None, min_length=32)
    jwt_ttl_s: int = Field(default=900, ge=60, le=86_400)
    jwt_audience: str = "onemap"
    tile_cache_mb: int = Field(default=256, ge=0, le=65536, description="in-process vector tile cache, MiB")

    def check_deployable(self) -> None:
        """Refuse production settings that rely on generated development defaults.

        Raises ``ValueError`` naming the setting: production needs ``DATABASE_URL``
        (an operated PostGIS) and an explicit app-role credential.
        """
        if self.env != "production":
            return
        if self.database_url is None:
            raise ValueError("DATABASE_URL: required when ONEMAP_ENV=production (no local cluster in production)")
        if not (self.app_database_url or self.app_password):
            raise ValueError("ONEMAP_APP_PASSWORD: required when ONEMAP_ENV=production")
        if not self.jwt_secret:
            raise ValueError("ONEMAP_JWT_SECRET: required when ONEMAP_ENV=production (32+ characters)")

    @property
    def uses_local_cluster(self) -> bool:
        """True when OneMap manages its own PostgreSQL under ``state_dir``."""
        return self.database_url is None

    @property
    def state_path(self) -> Path:
        """Absolute path of the state directory."""
        return self.state_dir.expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (env vars, then ``ONEMAP_SETTINGS_FILE`` if given)."""
    env_file = os.environ.get("ONEMAP_SETTINGS_FILE")
    return Settings(_env_file=env_file) if env_file else Settings()
