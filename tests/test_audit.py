"""The hash-chained audit log: written by the database, append-only, verifiable, tamper-evident."""

import threading

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from geo.audit import verify_chain
from geo.context import RequestContext, apply_context
from geo.db import libpq_dsn, make_engine
from geo.regions import store_regions
from geo.uscc import uscc_check_char
from tests.conftest import zhejiang_regions

ADMIN = RequestContext(role="admin", jurisdiction="33", actor="audit.tester", request_id="req-1")



def _uscc(n):
    body = f"91330211{n:09d}"
    return body + uscc_check_char(body)


@pytest.fixture(scope="module")
def adb(throwaway):
    db = throwaway()
    owner = make_engine(db.owner_url)
    with owner.begin() as conn:
        store_regions(conn, zhejiang_regions())
    app = make_engine(db.app_url, pool_size=25, max_overflow=25, pool_timeout=120)
    yield db, owner, app
    owner.dispose()
    app.dispose()


def _insert(app, n, tz=None):
    with app.begin() as conn:
        if tz:
            conn.execute(text("SELECT set_config('TimeZone', :tz, true)"), {"tz": tz})
        apply_context(conn, ADMIN)
        return conn.execute(text(
            "INSERT INTO enterprises (uscc, name, industry, scale, geom) VALUES "
            "(:u, :n, 'gas', 'small', ST_SetSRID(ST_MakePoint(121.64, 29.99), 4326)) RETURNING id"),
            {"u": _uscc(n), "n": f"审计{n}"}).scalar()


def test_insert_and_update_are_recorded_with_actor_and_request(adb):
    db, owner, app = adb
    eid = _insert(app, 1)
    with app.begin() as conn:
        apply_context(conn, ADMIN)
        conn.execute(text("UPDATE enterprises SET name = '改名' WHERE id = :i"), {"i": eid})
    with owner.connect() as conn:
        rows = conn.execute(text(
            "SELECT op, actor, request_id, before->>'name', after->>'name', after->>'adcode' FROM audit_log "
            "WHERE table_name = 'enterprises' AND row_key = :k ORDER BY seq"), {"k": str(eid)}).all()
    assert [r[0] for r in rows] == ["INSERT", "UPDATE"]
    assert rows[0][1] == "audit.tester" and rows[0][2] == "req-1"
    assert rows[0][3] is None and rows[0][4] == "审计1" and rows[0][5] == "330211"
    assert rows[1][3] == "审计1" and rows[1][4] == "改名"


def test_regions_load_is_audited(adb):
    _, owner, _ = adb
    with owner.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM audit_log WHERE table_name = 'regions'")).scalar()
    assert n == 102


def test_app_role_cannot_read_or_change_the_log(adb):
    _, _, app = adb
    for stmt in ("SELECT count(*) FROM audit_log", "UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with app.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text(stmt))


@pytest.mark.parametrize("stmt", ["UPDATE audit_log SET actor = 'x' WHERE seq = 1",
                                  "DELETE FROM audit_log WHERE seq = 1", "TRUNCATE audit_log"])
def test_even_the_owner_cannot_change_the_log(adb, stmt):
    _, owner, _ = adb
    with owner.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text(stmt))


def test_hundred_concurrent_writers_make_one_linear_chain(adb):
    db, owner, app = adb
    with owner.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM audit_log")).scalar()
    errors = []

    def write(n):
        try:
            _insert(app, 1000 + n)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with owner.connect() as conn:
        seqs = conn.execute(text("SELECT seq FROM audit_log ORDER BY seq")).scalars().all()
    assert len(seqs) == before + 100
    assert seqs == list(range(1, len(seqs) + 1))
    report = verify_chain(libpq_dsn(db.owner_url))
    assert report.ok and report.rows == len(seqs)


def test_verify_does_not_depend_on_the_session_timezone(adb):
    db, _, app = adb
    _insert(app, 2, tz="Asia/Shanghai")
    _insert(app, 3, tz="America/New_York")
    assert verify_chain(libpq_dsn(db.owner_url)).ok
    conninfo = libpq_dsn(db.owner_url) + "?options=-c%20TimeZone%3DPacific/Auckland"
    assert verify_chain(conninfo).ok


def test_tampering_by_a_superuser_is_detected(throwaway):
    db = throwaway()
    owner = make_engine(db.owner_url)
    app = make_engine(db.app_url)
    try:
        with owner.begin() as conn:
            store_regions(conn, zhejiang_regions())
        for n in range(5):
            _insert(app, 500 + n)
        assert verify_chain(libpq_dsn(db.owner_url)).ok
        with psycopg.connect(libpq_dsn(db.admin_url), autocommit=True) as su:
            target = su.execute("SELECT seq FROM audit_log WHERE table_name = 'enterprises' "
                                "ORDER BY seq LIMIT 1 OFFSET 2").fetchone()[0]
            su.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
            su.execute("UPDATE audit_log SET after = jsonb_set(after, '{name}', '\"伪造\"') WHERE seq = %s",
                       (target,))
            su.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
        report = verify_chain(libpq_dsn(db.owner_url))
        assert not report.ok
        assert report.broken_seq == target and "content" in report.reason
    finally:
        owner.dispose()
        app.dispose()


def test_deleting_a_row_is_detected(throwaway):
    db = throwaway()
    owner = make_engine(db.owner_url)
    try:
        with owner.begin() as conn:
            store_regions(conn, zhejiang_regions()[:3])
        with psycopg.connect(libpq_dsn(db.admin_url), autocommit=True) as su:
            su.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
            su.execute("DELETE FROM audit_log WHERE seq = 2")
        report = verify_chain(libpq_dsn(db.owner_url))
        assert report.broken_seq == 3 and "gap" in report.reason
    finally:
        owner.dispose()
