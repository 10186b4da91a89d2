"""Database URLs, engines and sessions.

Three connections, three roles:

* :func:`owner_url` — migrations and bulk loads (the owner role);
* :func:`app_url` — requests (the app role: owns nothing, no BYPASSRLS);
* :func:`admin_url` — creating databases and extensions (local superuser, or
  ``DATABASE_URL`` itself when OneMap is pointed at an existing PostGIS).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import URL, Engine, Executable, create_engine, make_url, text
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.orm import Session, sessionmaker

from geo.pgcluster import SUPERUSER, LocalCluster
from geo.settings import Settings

__all__ = ["postgis_version", "owner_url", "app_url", "admin_url", "make_engine", "session_factory", "with_database", "libpq_dsn",
           "psycopg_sql"]

_DRIVER = "postgresql+psycopg"


def _local(settings: Settings, user: str, password: str, database: str) -> URL:
    return URL.create(
        _DRIVER, username=user, password=password, host="127.0.0.1",
        port=settings.pg_port, database=database,
    )


def _normalise(url: str | URL) -> URL:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername=_DRIVER)
    return u


def owner_url(settings: Settings) -> URL:
    """URL of the owner role (``DATABASE_URL`` when set, else the local cluster)."""
    if settings.database_url:
        return _normalise(settings.database_url)
    creds = LocalCluster(settings).credentials()
    return _local(settings, settings.owner_role, creds.owner, settings.db_name)


def app_url(settings: Settings) -> URL:
    """URL of the app role."""
    if settings.app_database_url:
        return _normalise(settings.app_database_url)
    if settings.database_url:
        base = _normalise(settings.database_url)
        return base.set(username=settings.app_role, password=settings.app_password)
    creds = LocalCluster(settings).credentials()
    return _local(settings, settings.app_role, creds.app, settings.db_name)


def admin_url(settings: Settings, database: str = "postgres") -> URL:
    """URL allowed to create databases (and, locally, extensions and roles)."""
    if settings.database_url:
        return _normalise(settings.database_url).set(database=database)
    creds = LocalCluster(settings).credentials()
    return _local(settings, SUPERUSER, creds.superuser, database)


def with_database(url: URL, database: str) -> URL:
    """The same URL pointing at another database."""
    return url.set(database=database)


def libpq_dsn(url: URL) -> str:
    """The URL as a plain libpq connection string (for psycopg directly, psql, pg_dump)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def make_engine(url: URL | str, **kwargs) -> Engine:
    """An engine with ``pool_pre_ping`` (survives a database restart)."""
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never commit on their own (the caller owns the transaction)."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def postgis_version(engine: Engine) -> str:
    """The PostGIS library version the database reports (raises if the database is unreachable)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT postgis_lib_version()")).scalar_one()


_PSYCOPG = psycopg_dialect()
_COMPILED: dict[Hashable, tuple[str, dict[str, Any]]] = {}


def psycopg_sql(key: Hashable, build: Callable[[], Executable]) -> tuple[str, dict[str, Any]]:
    """A SQLAlchemy statement as psycopg runs it: SQL with ``%(name)s`` placeholders and its constant parameters.

    ``build()`` makes the statement the first time ``key`` is asked for; the
    compiled form is kept (compiling costs ~1-2 ms, a lookup nothing). Bind the
    statement's own parameters on top of the constants.
    """
    compiled = _COMPILED.get(key)
    if compiled is None:
        c = build().compile(dialect=_PSYCOPG, compile_kwargs={"render_postcompile": True})
        compiled = _COMPILED[key] = (str(c), dict(c.params))
    return compiled
