"""Test fixtures on a real PostGIS.

The session brings the local cluster up (or uses ``DATABASE_URL``), creates a
throwaway database ``onemap_test_<random>``, migrates it with Alembic as the
owner role and drops it at the end. Tests that write run inside a transaction
that is rolled back. A skipped test fails the run: database tests must run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from functools import lru_cache

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Connection, Engine

from geo.db import admin_url, app_url, libpq_dsn, make_engine, owner_url, with_database
from geo.migrate import upgrade
from geo.pgcluster import LocalCluster, bootstrap_database, ensure_roles
from geo.regions import read_province
from geo.settings import Settings

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and exitstatus == 0:
        print(f"\nFAILED: {len(_skipped)} test(s) were skipped; every test must run: {_skipped[:5]}")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def settings() -> Settings:
    s = Settings()
    if s.uses_local_cluster:
        LocalCluster(s).up()
    return s



class ThrowawayDB:
    """A database created for the tests and dropped afterwards."""

    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        self.name = f"onemap_test_{secrets.token_hex(4)}"
        admin = admin_url(settings)
        owner = owner_url(settings)
        with psycopg.connect(libpq_dsn(admin), autocommit=True) as conn:
            if settings.uses_local_cluster:
                creds = LocalCluster(settings).credentials()
                ensure_roles(conn, settings, owner_password=creds.owner, app_password=creds.app)
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(self.name), sql.Identifier(owner.username)))
        with psycopg.connect(libpq_dsn(with_database(admin, self.name)), autocommit=True) as conn:
            bootstrap_database(conn, settings)
        self.owner_url = with_database(owner, self.name)
        self.app_url = with_database(app_url(settings), self.name)
        self.admin_url = with_database(admin, self.name)
        if migrate:
            upgrade(self.owner_url, app_role=settings.app_role)

    def drop(self) -> None:
        with psycopg.connect(libpq_dsn(admin_url(self.settings)), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


@pytest.fixture(scope="session")
def throwaway(settings) -> Iterator:
    """Factory of extra throwaway databases (dropped at the end of the session)."""
    made: list[ThrowawayDB] = []

    def make(**kwargs) -> ThrowawayDB:
        db = ThrowawayDB(settings, **kwargs)
        made.append(db)
        return db

    yield make
    for db in made:
        db.drop()


@lru_cache(maxsize=1)
def zhejiang_regions():
    return read_province()


@pytest.fixture(scope="session")
def db(throwaway) -> ThrowawayDB:
    """The main test database: migrated, with the 102 Zhejiang regions stored."""
    from geo.regions import store_regions

    database = throwaway()
    engine = make_engine(database.owner_url)
    with engine.begin() as conn:
        store_regions(conn, zhejiang_regions())
    engine.dispose()
    return database


@pytest.fixture(scope="session")
def owner_engine(db) -> Iterator[Engine]:
    engine = make_engine(db.owner_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app_engine(db) -> Iterator[Engine]:
    engine = make_engine(db.app_url)
    yield engine
    engine.dispose()


@pytest.fixture
def conn(owner_engine) -> Iterator[Connection]:
    """An owner connection in a transaction that is rolled back after the test."""
    with owner_engine.connect() as connection:
        trans = connection.begin()
        yield connection
        trans.rollback()


@pytest.fixture
def app_conn(app_engine) -> Iterator[Connection]:
    """An app-role connection in a transaction that is rolled back after the test."""
    with app_engine.connect() as connection:
        trans = connection.begin()
        yield connection
        trans.rollback()
