"""Run Alembic migrations programmatically (``onemap db migrate``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, create_engine, pool

__all__ = ["alembic_config", "upgrade", "downgrade", "current_revision", "head_revision"]

_SCRIPTS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: URL | str, *, app_role: str = "onemap_app") -> Config:
    """An Alembic config for ``url``; the app role name reaches migrations for GRANTs."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.attributes["url"] = url
    cfg.attributes["app_role"] = app_role
    return cfg


def upgrade(url: URL | str, *, revision: str = "head", app_role: str = "onemap_app") -> None:
    """Upgrade the database at ``url`` (as the owner role) to ``revision``."""
    command.upgrade(alembic_config(url, app_role=app_role), revision)


def downgrade(url: URL | str, *, revision: str = "base", app_role: str = "onemap_app") -> None:
    """Downgrade the database at ``url`` to ``revision``."""
    command.downgrade(alembic_config(url, app_role=app_role), revision)


def current_revision(url: URL | str) -> str | None:
    """The revision the database is at (None before the first migration)."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with the code."""
    script = ScriptDirectory.from_config(alembic_config("postgresql://"))
    return script.get_current_head()
