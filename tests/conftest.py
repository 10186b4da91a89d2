"""Test fixtures on a real PostGIS.

The session brings the local cluster up (or uses ``DATABASE_URL``), creates a
throwaway database ``onemap_test_<random>``, migrates it with Alembic as the
owner role and drops it at the end. Tests that write run inside a transaction
that is rolled back. A skipped test fails the run: database tests must run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import pytest
from sqlalchemy import Connection, Engine

from geo.databases import create_database, drop_database
from geo.db import admin_url, make_engine, with_database
from geo.pgcluster import LocalCluster
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
        self.owner_url, self.app_url = create_database(settings, self.name, migrate=migrate)
        self.admin_url = with_database(admin_url(settings), self.name)

    def drop(self) -> None:
        drop_database(self.settings, self.name)


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


def regions_database(throwaway) -> ThrowawayDB:
    """A new throwaway database, migrated, with the 102 Zhejiang regions stored."""
    from geo.regions import store_regions

    database = throwaway()
    engine = make_engine(database.owner_url)
    with engine.begin() as conn:
        store_regions(conn, zhejiang_regions())
    engine.dispose()
    return database


@pytest.fixture(scope="session")
def db(throwaway) -> ThrowawayDB:
    """The main test database: migrated, with the 102 Zhejiang regions stored."""
    return regions_database(throwaway)


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


# ---------------------------------------------------------------------------- a small world for the HTTP tests

WORLD_PASSWORD = "correct horse battery"
ZH = (121.64, 29.99)  # Zhenhai, county 330211 (Ningbo 3302)
XH = (120.13, 30.25)  # Xihu, county 330106 (Hangzhou 3301)
BL = (121.85, 29.90)  # Beilun, county 330206 (Ningbo 3302)


def world_uscc(n: int, county: str = "330211") -> str:
    from geo.uscc import uscc_check_char

    body = f"91{county}{n:09d}"[:17]
    return body + uscc_check_char(body)


def _at(point, metres: float = 0.0, bearing_deg: float = 0.0) -> str:
    """SQL for a point ``metres`` from ``point`` on ``bearing_deg`` (geodesic)."""
    x, y = point
    return (f"ST_Project(ST_SetSRID(ST_MakePoint({x}, {y}), 4326)::geography, {metres}, "
            f"radians({bearing_deg}))::geometry")


class World:
    """Ids of the rows of the HTTP-test world, and helpers."""

    def __init__(self, db: ThrowawayDB, ids: dict) -> None:
        self.db = db
        self.ids = ids


@pytest.fixture(scope="session")
def world(throwaway) -> World:
    """A migrated database with rows in three counties (two cities) and one user per role.

    Users (password ``WORLD_PASSWORD``): w.province (330000), w.ningbo (city 330200),
    w.zhenhai (county 330211), w.xihu (county 330106), w.ent (enterprise E1 in Zhenhai).
    """
    return build_world(throwaway)


def build_world(throwaway) -> World:
    """A new database holding the HTTP-test world (see :func:`world`); modules that add rows build their own."""
    from sqlalchemy import text

    from geo.regions import store_regions
    from geo.users import create_user

    database = throwaway()
    engine = make_engine(database.owner_url)
    ids: dict = {}
    with engine.begin() as conn:
        store_regions(conn, zhejiang_regions())

        def insert(sql: str, **params) -> int:
            return conn.execute(text(sql + " RETURNING id"), params).scalar_one()

        ent = ("INSERT INTO enterprises (uscc, name, industry, scale, is_public, risk_colour, geom) "
               "VALUES (:u, :n, :i, 'small', :p, :c, {g})")
        ids["E1"] = insert(ent.format(g=_at(ZH)), u=world_uscc(1), n="镇海一号化工有限公司", i="hazchem_production",
                           p=False, c="red")
        ids["E2"] = insert(ent.format(g=_at(ZH, 300, 90)), u=world_uscc(2), n="镇海公开储运有限公司",
                           i="hazchem_storage", p=True, c="yellow")
        ids["E3"] = insert(ent.format(g=_at(XH)), u=world_uscc(3, "330106"), n="西湖精细化工有限公司",
                           i="hazchem_use", p=False, c="orange")
        ids["E4"] = insert(ent.format(g=_at(BL)), u=world_uscc(4, "330206"), n="北仑港务化工有限公司",
                           i="hazchem_trading", p=False, c=None)
        hu = ("INSERT INTO hazard_units (enterprise_id, name, kind, s, r, is_major, grade, geom) "
              "VALUES (:e, :n, 'storage', :s, :r, :m, :g, {g})")
        ids["H1"] = insert(hu.format(g=_at(ZH, 50, 0)), e=ids["E1"], n="液氯储罐区", s=2.0, r=120.0, m=True, g=1)
        ids["H3"] = insert(hu.format(g=_at(XH, 50, 0)), e=ids["E3"], n="甲苯储罐", s=0.5, r=None, m=False, g=None)
        conn.execute(text("INSERT INTO hazard_unit_inventory (hazard_unit_id, chemical, cas, max_quantity_t) "
                          "VALUES (:h, '氯', '7782-50-5', 20)"), {"h": ids["H1"]})
        hd = ("INSERT INTO hidden_dangers (enterprise_id, title, category, level, status, found_on, deadline, "
              "is_public, geom) VALUES (:e, :t, 'storage', :l, 'reported', DATE '2026-01-10', :d, false, {g})")
        ids["D1"] = insert(hd.format(g=_at(ZH, 20, 180)), e=ids["E1"], t="液氯钢瓶露天存放", l="major",
                           d=__import__("datetime").date(2026, 2, 1))
        ids["D3"] = insert(hd.format(g=_at(XH, 20, 180)), e=ids["E3"], t="消防通道堵塞", l="general", d=None)
        pt = ("INSERT INTO protection_targets (name, kind, category, population, is_public, geom) "
              "VALUES (:n, :k, :c, :pop, :p, {g})")
        ids["T1"] = insert(pt.format(g=_at(ZH, 600, 225)), n="下风向小学", k="school", c="high_sensitivity",
                           pop=900, p=True)
        ids["T2"] = insert(pt.format(g=_at(ZH, 2500, 45)), n="远处小区", k="residential", c="general_1",
                           pop=5000, p=False)
        ids["T3"] = insert(pt.format(g="ST_Buffer(" + _at(XH, 800, 90) + "::geography, 100)::geometry"),
                           n="西湖医院", k="hospital", c="high_sensitivity", pop=1200, p=False)
        rt = ("INSERT INTO rescue_teams (name, kind, headcount, capabilities, is_public, geom) "
              "VALUES (:n, :k, :h, ARRAY['firefighting'], true, {g})")
        ids["R1"] = insert(rt.format(g=_at(ZH, 400, 225)), n="镇海危化救援队", k="hazmat", h=20)
        ids["R2"] = insert(rt.format(g=_at(ZH, 1500, 45)), n="镇海消防站", k="fire", h=30)
        ids["R3"] = insert(rt.format(g=_at(XH, 1000, 0)), n="西湖消防站", k="fire", h=25)
        sd = "INSERT INTO supply_depots (name, level, is_public, geom) VALUES (:n, :l, false, {g})"
        ids["S1"] = insert(sd.format(g=_at(ZH, 3000, 180)), n="镇海物资库", l="county")
        ids["S2"] = insert(sd.format(g=_at(ZH, 1000, 270)), n="镇海小仓库", l="enterprise")
        ids["S3"] = insert(sd.format(g=_at(XH, 500, 0)), n="西湖物资库", l="county")
        conn.execute(text("INSERT INTO depot_stock (depot_id, item, unit, quantity) VALUES "
                          "(:a, '堵漏器材', '套', 12), (:a, '吸附棉', 'kg', 500), (:b, '吸附棉', 'kg', 5),"
                          "(:c, '堵漏器材', '套', 3)"), {"a": ids["S1"], "b": ids["S2"], "c": ids["S3"]})
        for name, role, adcode, uscc in (("w.province", "province", "330000", None), ("w.ningbo", "city", "330200", None),
                                         ("w.zhenhai", "county", "330211", None), ("w.xihu", "county", "330106", None),
                                         ("w.ent", "enterprise", "330211", world_uscc(1))):
            create_user(conn, username=name, password=WORLD_PASSWORD, role=role, adcode=adcode,
                        enterprise_uscc=uscc)
    engine.dispose()
    return World(database, ids)


@pytest.fixture(scope="session")
def world_app_engine(world) -> Iterator[Engine]:
    engine = make_engine(world.db.app_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def world_owner_engine(world) -> Iterator[Engine]:
    engine = make_engine(world.db.owner_url)
    yield engine
    engine.dispose()


@contextmanager
def world_client(settings, world, engine: Engine | None = None) -> Iterator:
    """A TestClient on ``world``'s database (as the app role, or on ``engine``), with ``.as_[user]`` headers
    for each world user (province, ningbo, zhenhai, xihu, ent; ``public``: none) and ``.world``."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    own = make_engine(world.db.app_url) if engine is None else None
    try:
        with TestClient(create_app(settings, engine=engine or own)) as client:
            tokens = {}
            for user in ("province", "ningbo", "zhenhai", "xihu", "ent"):
                r = client.post("/auth/token", data={"username": f"w.{user}", "password": WORLD_PASSWORD})
                assert r.status_code == 200, r.text
                tokens[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            tokens["public"] = {}
            client.as_ = tokens  # type: ignore[attr-defined]
            client.world = world  # type: ignore[attr-defined]
            yield client
    finally:
        if own is not None:
            own.dispose()


@pytest.fixture(scope="session")
def wclient(settings, world, world_app_engine):
    """A TestClient on the world database, with ``.as_[user]`` headers for each world user."""
    with world_client(settings, world, world_app_engine) as client:
        yield client


# ---------------------------------------------------------------------------- a real MQTT broker


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mqtt_broker():
    """A real mosquitto on 127.0.0.1 and a free port, in a temp dir, stopped and removed at the end.

    The dir is world-traversable (mode 755; pytest's own tmp dirs are 700), so that mosquitto, which
    drops to its own user when started as root, can write its persistence file.
    """
    import shutil
    import tempfile
    from pathlib import Path

    from telemetry.broker import LocalBroker
    from telemetry.settings import TelemetrySettings

    home = Path(tempfile.mkdtemp(prefix="onemap-mqtt-"))
    home.chmod(0o755)
    broker = LocalBroker(TelemetrySettings(state_dir=home), home=home, port=free_port())
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(home, ignore_errors=True)
