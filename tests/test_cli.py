"""The ``onemap`` command line against the local cluster."""

import subprocess
import sys

from sqlalchemy import make_url

ONEMAP = [sys.executable, "-m", "api.cli"]


def run(*args):
    return subprocess.run([*ONEMAP, *args], capture_output=True, text=True, timeout=120)


def test_db_up_is_idempotent_and_status_running(settings):
    assert run("db", "up").returncode == 0
    assert run("db", "up").returncode == 0
    status = run("db", "status")
    assert status.returncode == 0 and "running" in status.stdout


def test_db_url_prints_only_the_url(settings):
    out = run("db", "url")
    assert out.returncode == 0
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    url = make_url(lines[0])
    assert url.drivername == "postgresql+psycopg" and url.host == "127.0.0.1"


def test_bad_option_exits_2():
    out = run("demo", "load", "--enterprises", "-5")
    assert out.returncode == 2


def test_cluster_listens_on_loopback_only(settings, conn):
    from sqlalchemy import text

    listen = conn.execute(text("SELECT current_setting('listen_addresses')")).scalar()
    if settings.uses_local_cluster:
        assert listen == "127.0.0.1"


def test_serve_refuses_production_without_database_url(monkeypatch):
    import os

    env = {**os.environ, "ONEMAP_ENV": "production"}
    env.pop("DATABASE_URL", None)
    out = subprocess.run([*ONEMAP, "serve"], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2
    assert "DATABASE_URL" in out.stderr


def test_unknown_benchmark_exits_2():
    out = run("bench", "nope")
    assert out.returncode == 2 and "unknown benchmark" in out.stderr
