"""Retention of readings on the real database: old days archived to gzip CSV and dropped, each step recorded.

A world database of its own, with readings spread over days: two old day
partitions, old rows in the default partition, and the kept days. The prune
archives exactly the rows it drops (checked by reading the archives back),
records each step in the append-only, audited ``reading_archives`` with the
file's SHA-256, leaves the kept days alone, refuses bad options without
touching anything, and a dry run changes nothing.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from time import sleep

import psycopg
import pytest
from sqlalchemy import text

from geo.db import libpq_dsn, make_engine
from geo.errors import InvalidInput
from telemetry.retention import CST, MIN_KEEP_DAYS, prune
from tests.conftest import build_world
from tests.telemetry_helpers import ThreadWorker, make_sensor, wait_for

TODAY = datetime.now(CST).date()  # the ingest partitions (migration 0013) follow the real clock
DAYS_AGO = (45, 40, 3, 1, 0)  # 45, 40: partitions made here; 3 and 60: in the default partition; 1, 0: the worker's
PER_DAY = 50


def part(ago: int) -> str:
    return f"readings_p{TODAY - timedelta(days=ago):%Y%m%d}"


@pytest.fixture(scope="module")
def rworld(throwaway):
    world = build_world(throwaway)
    engine = make_engine(world.db.owner_url)
    sid, _ = make_sensor(engine, "H1", world)
    dsn = libpq_dsn(world.db.owner_url)
    with psycopg.connect(dsn) as conn:
        for ago in (45, 40):
            day = TODAY - timedelta(days=ago)
            conn.execute("SELECT onemap_readings_ensure_partitions(%s, %s)", (day, day))
        for ago in (*DAYS_AGO, 60):
            start = datetime.combine(TODAY - timedelta(days=ago), time(8), CST)
            conn.cursor().executemany(  # (COPY FROM is refused under row-level security)
                "INSERT INTO readings (sensor_id, ts, seq, value, source) VALUES (%s, %s, %s, %s, 'mqtt')",
                [(sid, start + timedelta(minutes=i), i, 0.5 * i) for i in range(PER_DAY)])
    yield world, engine, dsn, sid
    engine.dispose()


def _partitions(dsn) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                           "WHERE i.inhparent = 'readings'::regclass")}


def _count(dsn, sid) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM readings WHERE sensor_id = %s", (sid,)).fetchone()[0]


def test_bad_options_are_refused_and_change_nothing(rworld, tmp_path):
    _, _, dsn, sid = rworld
    before = (_partitions(dsn), _count(dsn, sid))
    for bad in (0, 1, MIN_KEEP_DAYS - 1, -5, True, 2.5):
        with pytest.raises(InvalidInput) as err:
            prune(dsn, keep_days=bad, archive_dir=tmp_path, today=TODAY)
        assert err.value.field == "keep_days"
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(InvalidInput) as err:
        prune(dsn, keep_days=30, archive_dir=blocked / "sub", today=TODAY)
    assert err.value.field == "archive_dir"
    assert (_partitions(dsn), _count(dsn, sid)) == before


def test_cli_refuses_a_prune_without_an_archive_choice(rworld):
    r = subprocess.run([sys.executable, "-m", "api.cli", "telemetry", "prune", "--keep-days", "30"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--archive-dir" in r.stderr


def test_dry_run_lists_and_changes_nothing(rworld, tmp_path):
    _, _, dsn, sid = rworld
    before = (_partitions(dsn), _count(dsn, sid))
    steps = prune(dsn, keep_days=30, archive_dir=tmp_path, today=TODAY, dry_run=True)
    assert [s.partition for s in steps] == [part(45), part(40), "readings_default"]
    assert (_partitions(dsn), _count(dsn, sid)) == before and not list(tmp_path.iterdir())


def test_prune_archives_exactly_what_it_drops_and_records_each_step(rworld, tmp_path):
    world, engine, dsn, sid = rworld
    with psycopg.connect(dsn) as conn:
        audit_before = conn.execute("SELECT count(*) FROM audit_log WHERE table_name = 'reading_archives'"
                                    ).fetchone()[0]
    seen = []
    steps = prune(dsn, keep_days=30, archive_dir=tmp_path / "archive", today=TODAY,
                  progress=lambda step, i, n: seen.append((step.partition, i, n)))
    assert seen == [(part(45), 1, 3), (part(40), 2, 3), ("readings_default", 3, 3)]
    assert [s.rows for s in steps] == [PER_DAY, PER_DAY, PER_DAY]

    # the old days are gone, the kept ones are whole
    parts = _partitions(dsn)
    assert part(45) not in parts and part(40) not in parts
    assert {part(1), part(0), "readings_default"} <= parts
    assert _count(dsn, sid) == PER_DAY * 3  # 3 (in the default partition, newer than the cut), 1 and 0 days ago

    # each archive holds exactly the removed rows, and its recorded hash is the file's
    for step, ago in zip(steps, (45, 40, 60), strict=True):
        data = step.archive.read_bytes()
        assert hashlib.sha256(data).hexdigest() == step.archive_sha256 and len(data) == step.archive_bytes
        rows = list(csv.DictReader(io.StringIO(gzip.decompress(data).decode())))
        assert len(rows) == PER_DAY and {int(r["sensor_id"]) for r in rows} == {sid}
        assert [int(r["seq"]) for r in rows] == list(range(PER_DAY))
        day = datetime.fromisoformat(rows[0]["ts"]).astimezone(CST).date()
        assert day == TODAY - timedelta(days=ago)
    assert steps[2].archive.name == f"readings_default_before_{TODAY - timedelta(days=29):%Y%m%d}.csv.gz"

    with psycopg.connect(dsn) as conn:
        recorded = conn.execute("SELECT partition_name, day, rows, archive_path, archive_bytes, archive_sha256, actor "
                                "FROM reading_archives ORDER BY id").fetchall()
        audit_after = conn.execute("SELECT count(*) FROM audit_log WHERE table_name = 'reading_archives'"
                                   ).fetchone()[0]
        with pytest.raises(psycopg.DatabaseError, match="append-only"):
            conn.execute("UPDATE reading_archives SET rows = 0")
    assert [(r[0], r[1], r[2]) for r in recorded] == [
        (part(45), TODAY - timedelta(days=45), PER_DAY), (part(40), TODAY - timedelta(days=40), PER_DAY),
        ("readings_default", None, PER_DAY)]
    assert [(Path(r[3]), r[4], r[5]) for r in recorded] == [(s.archive.resolve(), s.archive_bytes, s.archive_sha256)
                                                            for s in steps]
    assert {r[6] for r in recorded} == {"onemap telemetry prune"}
    assert audit_after == audit_before + 3

    # a second run finds nothing more to do
    assert prune(dsn, keep_days=30, archive_dir=tmp_path / "archive", today=TODAY) == []


def test_archives_are_for_admin_and_province_only(rworld):
    world, engine, dsn, _ = rworld
    app = make_engine(world.db.app_url)
    try:
        seen = {}
        for role, jur in (("province", "33"), ("county", "330211"), ("public", "00")):
            with app.connect() as conn, conn.begin():
                conn.execute(text("SELECT set_config('onemap.role', :r, true), "
                                  "set_config('onemap.jurisdiction', :j, true)"), {"r": role, "j": jur})
                seen[role] = conn.execute(text("SELECT count(*) FROM reading_archives")).scalar_one()
        with psycopg.connect(dsn) as conn:
            total = conn.execute("SELECT count(*) FROM reading_archives").fetchone()[0]
        assert seen == {"province": total, "county": 0, "public": 0}
    finally:
        app.dispose()


def _one_reading_20_days_ago(throwaway) -> str:
    """A world database of its own whose only old day (20 days ago) holds one reading; its owner DSN."""
    world = build_world(throwaway)
    engine = make_engine(world.db.owner_url)
    sid, _ = make_sensor(engine, "H1", world)
    engine.dispose()
    dsn = libpq_dsn(world.db.owner_url)
    old = TODAY - timedelta(days=20)
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT onemap_readings_ensure_partitions(%s, %s)", (old, old))
        conn.execute("INSERT INTO readings (sensor_id, ts, seq, value, source) VALUES (%s, %s, 1, 1.0, 'http')",
                     (sid, datetime.combine(old, time(12), CST)))
    return dsn


def test_drop_without_archive_is_recorded_as_such(throwaway):
    dsn = _one_reading_20_days_ago(throwaway)
    steps = prune(dsn, keep_days=10, archive_dir=None, today=TODAY)
    assert [(s.partition, s.rows, s.archive) for s in steps] == [(part(20), 1, None)]
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT archive_path, archive_bytes, archive_sha256 FROM reading_archives").fetchone()
    assert row == (None, None, None)


def test_the_ingest_worker_prunes_on_its_own_when_told_to(mqtt_broker, throwaway, tmp_path):
    """ONEMAP_READINGS_KEEP_DAYS (+ an archive directory): the worker prunes in a thread of its own at start
    and every hour; unset, nothing is pruned."""
    dsn = _one_reading_20_days_ago(throwaway)
    with ThreadWorker(mqtt_broker, dsn, "r-keep-all"):
        sleep(1.0)
    assert part(20) in _partitions(dsn)  # not configured: kept
    with ThreadWorker(mqtt_broker, dsn, "r-prune", readings_keep_days=10, readings_archive_dir=str(tmp_path)):
        wait_for(lambda: part(20) not in _partitions(dsn), 30, "the worker's prune")
    assert (tmp_path / f"{part(20)}.csv.gz").exists()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT partition_name, rows FROM reading_archives").fetchall() == [(part(20), 1)]
