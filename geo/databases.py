"""Whole databases on the server: create one migrated and ready for the app, drop it.

For throwaway databases (tests, benchmarks); the main database is made by
``onemap db up`` (:class:`geo.pgcluster.LocalCluster`).
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy import URL

from geo.db import admin_url, app_url, libpq_dsn, owner_url, with_database
from geo.migrate import upgrade
from geo.pgcluster import LocalCluster, bootstrap_database, ensure_roles
from geo.settings import Settings

__all__ = ["create_database", "drop_database"]


def create_database(settings: Settings, name: str, *, migrate: bool = True, replace: bool = False
                    ) -> tuple[URL, URL]:
    """Create ``name`` owned by the owner role, with PostGIS and grants, migrated to head unless told not to.

    Makes sure the roles exist first (local cluster). ``replace`` drops an
    existing database of that name. Returns (owner URL, app URL) of the new database.
    """
    with psycopg.connect(libpq_dsn(admin_url(settings)), autocommit=True) as conn:
        if settings.uses_local_cluster:
            creds = LocalCluster(settings).credentials()
            ensure_roles(conn, settings, owner_password=creds.owner, app_password=creds.app)
        if replace:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(owner_url(settings).username)))
    with psycopg.connect(libpq_dsn(with_database(admin_url(settings), name)), autocommit=True) as conn:
        bootstrap_database(conn, settings)
    owner = with_database(owner_url(settings), name)
    if migrate:
        upgrade(owner, app_role=settings.app_role)
    return owner, with_database(app_url(settings), name)


def drop_database(settings: Settings, name: str) -> None:
    """Drop ``name`` if it exists, closing its connections."""
    with psycopg.connect(libpq_dsn(admin_url(settings)), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
