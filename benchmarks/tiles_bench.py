"""Map services benchmark (issue 5): vector tiles, 10,000-feature GeoJSON and KNN over HTTP, next to tipg.

Prints ONE JSON object on stdout (progress on stderr). Everything is measured in
the same run, on the same databases, with the same HTTP client:

* two throwaway databases on the local cluster (or ``DATABASE_URL``), migrated
  with Alembic: ``demo`` (``onemap demo load``'s 20,000 enterprises, through
  the audited path) and ``p200k`` (regions + 200,000 synthetic enterprises and
  their rescue teams, COPYed as the owner with the audit/event triggers
  disabled for the load — the adcode trigger stays on);
* our app: ``uvicorn --factory api.app:create_app``, one worker, as the app
  role under row-level security, requests signed in as a province user
  (created for the run) and, for tiles, anonymous too;
* tipg 1.x in its own environment (``.bench-venv/tipg``, created on first use),
  one uvicorn worker, connected as the owner role (tipg has no notion of RLS;
  the owner sees every row), ``TIPG_CATALOG_TTL=0``;
* both servers on the same stack (``SERVER_STACK``: uvloop and httptools);
* the load client (``benchmarks/httpload.py``): asyncio keep-alive HTTP/1.1,
  one connection per concurrent client.

Measured per database
---------------------
1. SQL floor per light tile: the statements our tile route runs (captured from
   ``layers.tiles.render_tile``), replayed with psycopg as the app role in one
   transaction with the same ``set_config`` context; the floor is the tile
   query's own time. tipg's tile SQL (from tipg's own code, ``_tipg_sql.py``)
   timed the same way as the owner.
2. Light tiles (3–150 points, nearest to Hangzhou and Ningbo) at z11 and z14,
   one client: cold (each tile once) and warm (the same tiles again: our tile
   cache answers) p50/p95, for us (province; anonymous) and tipg.
3. 8 concurrent clients on light tiles: tiles/s, ours cold on tiles never
   requested before (disjoint lists per run) and warm (tiles already cached);
   tipg on the same lists.
4. The densest tile at z12, z13 and z14 as bare SQL (PREPARE/EXECUTE with
   custom plans, as a fresh pooled connection runs it) with parallel query on
   (PostgreSQL's default) and off (what our tile route sets), with the plans'
   scan nodes; tipg's tile SQL for the same tiles; both servers over HTTP on
   the five densest tiles of each zoom.
5. A bbox holding ≥ 10,000 enterprises: ``/enterprises?bbox=…&limit=10000&f=geojson``
   and ``/ogc/collections/enterprises/items`` vs tipg's items (default
   properties and the same properties as ours), plus both SQL floors.
6. ``/nearest?kind=rescue_teams&n=10`` at enterprise locations, with its SQL floor.
7. In process (no HTTP), to show where our time goes: the pipelined read a
   tile or ``/nearest`` costs on a cache miss (``geo.aiodb``, with the user
   checked in the same round trip or already trusted), and what a new
   database connection costs (connect, first tile on the new backend).
   New PostgreSQL sessions opened during each 8-client run are counted.

Run::

    .venv/bin/python benchmarks/tiles_bench.py            # ~4-5 min on 2 cores (set-up ~75 s)
    .venv/bin/python benchmarks/tiles_bench.py --quick    # smoke check, ~3 min
    options: --keep (keep the databases; --reuse picks them up again), --skip-tipg
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import http.client
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpload  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql as psql  # noqa: E402
from rich.console import Console  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import URL  # noqa: E402

from geo.databases import create_database, drop_database  # noqa: E402
from geo.db import admin_url, app_url, libpq_dsn, make_engine, owner_url, with_database  # noqa: E402
from geo.pgcluster import LocalCluster  # noqa: E402
from geo.settings import Settings  # noqa: E402

console = Console(stderr=True, highlight=False)

TIPG_VENV = ROOT / ".bench-venv" / "tipg"
TIPG_SPEC = "tipg>=1.0,<2"
# both servers on the same stack: uvloop's event loop and httptools' HTTP parser (what `onemap serve` uses)
SERVER_STACK = ["--loop", "uvloop", "--http", "httptools"]
HOST = "127.0.0.1"
CENTRES = {"Hangzhou": (120.2, 30.25), "Ningbo": (121.55, 29.87)}
LIGHT = (3, 150)  # points per tile that make a "light" tile
DENSE_ZOOMS = (12, 13, 14)
BENCH_USER = "bench.province"
BENCH_PASSWORD = "bench-" + "province-pw"
READY_MARK = "onemap tiles bench: loaded"
SEED = 20261123
TODAY = date(2026, 11, 23)
# the properties our enterprise tiles carry (layers.tiles skips the rest): tipg gets the same
TILE_PROPERTIES = ["id", "name", "industry", "scale", "status", "risk_colour", "adcode"]


@dataclass
class Config:
    quick: bool
    seq_tiles: int  # distinct light tiles per zoom, one client
    warm_repeats: int  # passes over the cached tiles, one client
    load_requests: int  # requests per 8-client run
    load_runs: int
    floor_repeats: int
    items_runs: int
    knn_queries: int
    concurrency: int = 8


# ----------------------------------------------------------------------------- statistics


def pct(values: list[float], q: float) -> float:
    """Percentile by linear interpolation (q in 0..100)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1e3 for s in seconds]
    return {"n": len(ms), "p50": round(pct(ms, 50), 3), "p95": round(pct(ms, 95), 3),
            "min": round(min(ms), 3) if ms else None}


def r3(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, 3)


# ----------------------------------------------------------------------------- databases


def database_ready(settings: Settings, name: str) -> bool:
    with psycopg.connect(libpq_dsn(admin_url(settings)), autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (name,)).fetchone()
    return row is not None and row[0] == READY_MARK


def mark_ready(owner: URL, name: str) -> None:
    with psycopg.connect(libpq_dsn(owner), autocommit=True) as conn:
        conn.execute(psql.SQL("COMMENT ON DATABASE {} IS {}").format(psql.Identifier(name),
                                                                    psql.Literal(READY_MARK)))


def _build_big_registry(n: int) -> dict:
    """In a worker process: the synthetic registry's enterprises and rescue teams for ``n`` enterprises."""
    from data.synthetic import build_registry
    from geo.regions import read_province

    reg = build_registry(read_province(), n_enterprises=n, seed=SEED, today=TODAY)
    return {t: reg.tables[t] for t in ("enterprises", "rescue_teams")}


def load_big(owner: URL, tables: dict) -> dict:
    """Regions + enterprises + rescue teams as the owner, audit and event triggers off during the load."""
    from sqlalchemy import text

    from geo.bulk import copy_rows, reset_sequence
    from geo.regions import read_province, store_regions

    engine = make_engine(owner)
    counts = {}
    try:
        with engine.begin() as conn:
            store_regions(conn, read_province())
            raw = conn.connection.driver_connection
            for table, (cols, rows) in tables.items():
                triggers = [f"{table}_audit_insert", f"{table}_events_insert"]
                for trg in triggers:
                    conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trg}"))
                copy_rows(raw, table, cols, rows)
                reset_sequence(raw, table)
                for trg in triggers:
                    conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {trg}"))
                counts[table] = len(rows)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("regions", "region_parts", *tables):
                conn.execute(text(f"ANALYZE {table}"))
    finally:
        engine.dispose()
    return counts


def create_bench_user(owner: URL) -> None:
    from geo.users import create_user

    engine = make_engine(owner)
    try:
        with engine.begin() as conn:
            create_user(conn, username=BENCH_USER, password=BENCH_PASSWORD, role="province", adcode="330000",
                        display_name="benchmark (province)")
    finally:
        engine.dispose()


@dataclass
class BenchDB:
    key: str
    name: str
    owner: URL
    app: URL
    enterprises: int


def setup_databases(settings: Settings, args, timings: dict) -> list[BenchDB]:
    """The demo database and the 200,000-enterprise database (reused when --reuse finds them ready)."""
    from data.demo import load_demo

    sizes = {"demo": 20_000, "p200k": 200_000}
    fixed = args.keep or args.reuse
    names = {k: (f"onemap_bench_tiles_{k}" if fixed else f"onemap_bench_tiles_{k}_{secrets.token_hex(3)}")
             for k in sizes}
    dbs = []
    todo = []
    for key, n in sizes.items():
        name = names[key]
        owner, app = with_database(owner_url(settings), name), with_database(app_url(settings), name)
        dbs.append(BenchDB(key, name, owner, app, n))
        if args.reuse and database_ready(settings, name):
            console.print(f"[green]reusing database {name}")
            continue
        todo.append(dbs[-1])
    if not todo:
        return dbs
    t0 = time.perf_counter()
    big = next((d for d in todo if d.key == "p200k"), None)
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_build_big_registry, big.enterprises) if big else None
        for db in todo:
            t = time.perf_counter()
            create_database(settings, db.name, replace=True)
            timings[f"create_and_migrate_{db.key}_s"] = round(time.perf_counter() - t, 1)
        demo = next((d for d in todo if d.key == "demo"), None)
        if demo:
            console.print(f"loading the demo (20,000 enterprises, audited) into {demo.name} …")
            t = time.perf_counter()
            engine = make_engine(demo.owner)
            try:
                load_demo(engine, n_enterprises=demo.enterprises, seed=SEED, today=TODAY)
            finally:
                engine.dispose()
            timings["demo_load_s"] = round(time.perf_counter() - t, 1)
        if big:
            console.print("building the 200,000-enterprise registry (worker process) …")
            t = time.perf_counter()
            tables = future.result()
            timings["registry_200k_wait_s"] = round(time.perf_counter() - t, 1)
            console.print(f"loading 200,000 enterprises into {big.name} …")
            t = time.perf_counter()
            timings["counts_200k"] = load_big(big.owner, tables)
            timings["load_200k_s"] = round(time.perf_counter() - t, 1)
            del tables
    for db in todo:
        create_bench_user(db.owner)
        mark_ready(db.owner, db.name)
    timings["setup_total_s"] = round(time.perf_counter() - t0, 1)
    return dbs


# ----------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """A uvicorn subprocess (its own session), stopped by its pid."""

    def __init__(self, name: str, argv: list[str], env: dict, cwd: Path, port: int, health: str,
                 logdir: Path) -> None:
        self.name, self.port, self.health = name, port, health
        self.log_path = logdir / f"{name}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                c = http.client.HTTPConnection(HOST, self.port, timeout=5)
                c.request("GET", self.health)
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout_s} s: {self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-1500:]
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(("ONEMAP_", "TIPG_", "POSTGRES_")) or k in ("DATABASE_URL", "PYTHONPATH"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_onemap(db: BenchDB, settings: Settings, logdir: Path) -> Server:
    env = _clean_env()
    env.update({
        "ONEMAP_DATABASE_URL": db.owner.render_as_string(hide_password=False),
        "ONEMAP_APP_DATABASE_URL": db.app.render_as_string(hide_password=False),
        "ONEMAP_STATE_DIR": str(settings.state_path),
        "ONEMAP_JWT_TTL_S": "3600",
    })
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", HOST, "--port", str(port),
            "--workers", "1", *SERVER_STACK, "--no-access-log", "--log-level", "warning"]
    return Server(f"onemap-{db.key}", argv, env, ROOT, port, "/health", logdir)


def tipg_python() -> Path:
    return TIPG_VENV / "bin" / "python"


def ensure_tipg() -> str:
    """Create the tipg environment once (``.bench-venv/tipg``); its tipg version."""
    py = tipg_python()
    if not py.exists():
        console.print(f"creating {TIPG_VENV} with {TIPG_SPEC} …")
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True, stdout=sys.stderr)
    probe = subprocess.run([str(py), "-c", "import tipg, uvicorn, uvloop, httptools; "
                            "print(tipg.__version__, uvicorn.__version__)"], capture_output=True, text=True)
    if probe.returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", TIPG_SPEC, "uvicorn", "uvloop", "httptools"],
                       check=True, stdout=sys.stderr)
        probe = subprocess.run([str(py), "-c", "import tipg, uvicorn; print(tipg.__version__, uvicorn.__version__)"],
                               capture_output=True, text=True, check=True)
    return probe.stdout.strip()


def _tipg_env(db: BenchDB) -> dict:
    env = _clean_env()
    env.update({
        "DATABASE_URL": libpq_dsn(db.owner),
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.enterprises", "public.rescue_teams"]',
        "TIPG_CATALOG_TTL": "0",
    })
    return env


def start_tipg(db: BenchDB, logdir: Path) -> Server:
    port = free_port()
    argv = [str(tipg_python()), "-m", "uvicorn", "tipg.main:app", "--host", HOST, "--port", str(port),
            "--workers", "1", *SERVER_STACK, "--no-access-log", "--log-level", "warning"]
    return Server(f"tipg-{db.key}", argv, _tipg_env(db), logdir, port, "/healthz", logdir)


def tipg_statements(db: BenchDB, request: dict, logdir: Path) -> dict:
    """tipg's SQL for tiles / items, from tipg's own code (``_tipg_sql.py`` in the tipg environment)."""
    req = dict(request, dsn=libpq_dsn(db.owner))
    proc = subprocess.run([str(tipg_python()), str(Path(__file__).with_name("_tipg_sql.py"))],
                          input=json.dumps(req), capture_output=True, text=True, env=_tipg_env(db), cwd=logdir)
    if proc.returncode != 0:
        raise RuntimeError(f"_tipg_sql.py failed: {proc.stderr[-1500:]}")
    return json.loads(proc.stdout)


def asyncpg_to_psycopg(sql_text: str, params: list) -> tuple[str, dict]:
    """``$1`` placeholders → psycopg named placeholders (literal % doubled)."""
    q = sql_text.replace("%", "%%")
    q = re.sub(r"\$(\d+)", lambda m: f"%(p{m.group(1)})s", q)
    return q, {f"p{i + 1}": v for i, v in enumerate(params)}


# ----------------------------------------------------------------------------- HTTP helpers


def login(port: int) -> str:
    c = http.client.HTTPConnection(HOST, port, timeout=30)
    body = urllib.parse.urlencode({"username": BENCH_USER, "password": BENCH_PASSWORD})
    c.request("POST", "/auth/token", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError(f"login failed: {r.status} {data[:300]!r}")
    return json.loads(data)["access_token"]


def http_run(port: int, paths: list[str], *, headers: dict | None = None, concurrency: int = 1,
             keep_bodies: bool = False, want_headers: bool = False) -> httpload.LoadResult:
    host = f"{HOST}:{port}"
    reqs = [httpload.encode_get(p, host, headers) for p in paths]
    return asyncio.run(httpload.run(HOST, port, reqs, concurrency=concurrency, keep_bodies=keep_bodies,
                                    want_headers=want_headers))


def route_exists(port: int, path_template: str) -> bool:
    c = http.client.HTTPConnection(HOST, port, timeout=30)
    c.request("GET", "/openapi.json")
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status == 200 and path_template in json.loads(data).get("paths", {})


# ----------------------------------------------------------------------------- SQL capture and replay


def capture(engine, fn) -> list[tuple[str, dict]]:
    """The statements (text, parameters) that ``fn()`` sends through ``engine``."""
    calls: list[tuple[str, dict]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        calls.append((statement, dict(parameters or {})))

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return calls


def _is_setup(statement: str) -> bool:
    return "set_config(" in statement and "ST_" not in statement and "json" not in statement


def replay(conn: psycopg.Connection, statements: list[tuple[str, dict]], repeat: int, *,
           extra_setup: list[str] = ()) -> tuple[list[float], list[float], list]:
    """Run ``statements`` in one transaction ``repeat`` times.

    Returns (query seconds per repeat: the non-``set_config`` statements only,
    whole-transaction seconds per repeat from BEGIN to COMMIT, the first value
    of each non-``set_config`` statement of the last repeat).
    """
    q_times, tx_times = [], []
    results: list = []
    for _ in range(repeat):
        t_tx = time.perf_counter()
        q = 0.0
        results = []
        with conn.transaction(), conn.cursor() as cur:
            for s in extra_setup:
                cur.execute(s)
            for statement, params in statements:
                t0 = time.perf_counter()
                cur.execute(statement, params)
                row = cur.fetchone() if cur.description else None
                dt = time.perf_counter() - t0
                if not _is_setup(statement):
                    q += dt
                    results.append(row[0] if row else None)
        tx_times.append(time.perf_counter() - t_tx)
        q_times.append(q)
    return q_times, tx_times, results


def db_sessions(conn: psycopg.Connection, name: str) -> int:
    """Sessions ever opened on database ``name`` (pg_stat_database.sessions), read on an autocommit ``conn``."""
    return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()[0]


def plan_nodes(conn: psycopg.Connection, statements: list[tuple[str, dict]], extra_setup: list[str] = ()) -> dict:
    """Scan/gather node types of the last statement's plan (EXPLAIN ANALYZE), and its execution time."""
    with conn.transaction(), conn.cursor() as cur:
        for s in extra_setup:
            cur.execute(s)
        for statement, params in statements[:-1]:
            cur.execute(statement, params)
        statement, params = statements[-1]
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
        plan = cur.fetchone()[0][0]
    return _plan_summary(plan)


def _dollar(statement: str, params: dict) -> tuple[str, list]:
    """A pyformat statement (``%(name)s``) as ``$n`` text for PREPARE, and its values in order."""
    names: list[str] = []

    def sub(m: re.Match) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", sub, statement).replace("%%", "%"), [params[n] for n in names]


def prepared_run(conn: psycopg.Connection, statements: list[tuple[str, dict]], workers: int, repeat: int) -> dict:
    """The last statement PREPAREd and EXECUTEd with custom plans, ``max_parallel_workers_per_gather = workers``
    (the route's own setting dropped): p50 of ``repeat - 1`` runs after one warm-up, and the plan's scan nodes."""
    setup = [s for s in statements[:-1] if "max_parallel_workers_per_gather" not in s[0]]
    text, values = _dollar(*statements[-1])
    cur = psycopg.ClientCursor(conn)
    args = "(" + ", ".join(["%s"] * len(values)) + ")" if values else ""
    times = []
    with conn.transaction():
        for st, params in setup:
            cur.execute(st, params)
        cur.execute(f"SET LOCAL max_parallel_workers_per_gather = {workers}")
        cur.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        cur.execute("PREPARE bench_tile AS " + text)
        for _ in range(repeat):
            t0 = time.perf_counter()
            cur.execute("EXECUTE bench_tile" + args, values)
            cur.fetchone()
            times.append(time.perf_counter() - t0)
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE bench_tile" + args, values)
        plan = cur.fetchone()[0][0]
        cur.execute("DEALLOCATE bench_tile")
    return {"p50_ms": r3(pct(times[1:], 50) * 1e3), **_plan_summary(plan)}


def _plan_summary(plan: dict) -> dict:
    nodes: list[str] = []

    def walk(p):
        t = p.get("Node Type", "")
        if "Scan" in t or "Gather" in t:
            nodes.append(("Parallel " if p.get("Parallel Aware") else "") + t)
        for c in p.get("Plans", []):
            walk(c)

    walk(plan["Plan"])
    return {"plan": sorted(set(nodes)), "explain_analyze_ms": r3(plan.get("Execution Time"))}


# ----------------------------------------------------------------------------- tile selection


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _tile_centre(z: int, x: int, y: int) -> tuple[float, float]:
    n = 1 << z
    lon = (x + 0.5) / n * 360 - 180
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    return lon, lat


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (a[0] - b[0]) * 111.32 * math.cos(math.radians((a[1] + b[1]) / 2))
    dy = (a[1] - b[1]) * 110.57
    return math.hypot(dx, dy)


def tile_counts(owner_dsn: str, z: int) -> dict[tuple[int, int], int]:
    """Points per tile at zoom ``z`` (tile of each point; the tile buffer is not counted)."""
    n = 1 << z
    q = ("SELECT floor((ST_X(geom) + 180) / 360 * %(n)s)::int AS x, "
         "floor((1 - asinh(tan(radians(ST_Y(geom)))) / pi()) / 2 * %(n)s)::int AS y, count(*) "
         "FROM enterprises WHERE valid_to IS NULL GROUP BY 1, 2")
    with psycopg.connect(owner_dsn) as conn:
        return {(x, y): c for x, y, c in conn.execute(q, {"n": n})}


def light_tiles(counts: dict, z: int) -> list[tuple[int, int, int, int]]:
    """Light tiles (z, x, y, points), nearest to the Hangzhou/Ningbo centres first."""
    out = []
    for (x, y), c in counts.items():
        if LIGHT[0] <= c <= LIGHT[1]:
            d = min(_km(_tile_centre(z, x, y), cen) for cen in CENTRES.values())
            out.append((d, (z, x, y, c)))
    out.sort()
    return [t for _, t in out]


def tile_path(server: str, z: int, x: int, y: int) -> str:
    if server == "onemap":
        return f"/tiles/enterprises/{z}/{x}/{y}.mvt"
    return (f"/collections/public.enterprises/tiles/WebMercatorQuad/{z}/{x}/{y}"
            f"?properties={','.join(TILE_PROPERTIES)}")


# ----------------------------------------------------------------------------- the run


async def _pipelined_reads(app_dsn: str, user, layer, warmup: list, floor_tiles: dict, knn_points: list,
                           cfg: Config) -> dict:
    """Our hot paths' database work in process: one pipelined round trip per read (geo.aiodb)."""
    from geo.aiodb import AsyncDatabase
    from layers.nearby import nearest_query
    from layers.tiles import tile_query

    reads = AsyncDatabase(app_dsn, min_size=1, max_size=2)
    await reads.open()
    await reads.pool.wait()
    ctx = user.context(None, verify=True)
    out: dict = {}
    try:
        for t in warmup[:10]:
            await reads.read(ctx, *tile_query(layer, *t[:3]))
        for z in (11, 14):
            for label, trusted in (("checked", False), ("trusted", True)):
                ts = []
                for t in floor_tiles[z]:
                    sql, params = tile_query(layer, *t)
                    t0 = time.perf_counter()
                    await reads.read(ctx, sql, params, verified=trusted)
                    ts.append(time.perf_counter() - t0)
                out[f"tile_read_z{z}_{label}_ms"] = summary_ms(ts)
        if knn_points:
            for p in knn_points[:10]:
                await reads.read(ctx, *nearest_query(kind="rescue_teams", lon=p[0], lat=p[1], n=10), dicts=True)
            ts = []
            for p in knn_points:
                t0 = time.perf_counter()
                await reads.read(ctx, *nearest_query(kind="rescue_teams", lon=p[0], lat=p[1], n=10), dicts=True,
                                 verified=True)
                ts.append(time.perf_counter() - t0)
            out["knn_read_trusted_ms"] = summary_ms(ts)
    finally:
        await reads.close()
    return out


def measure_database(db: BenchDB, cfg: Config, settings: Settings, args, logdir: Path) -> dict:
    from geo.context import apply_context, context_parameters, context_statement, install
    from geo.db import psycopg_sql, session_factory
    from geo.users import load_active_user
    from layers.catalogue import LAYERS
    from layers.features import ListQuery, count_features, list_features
    from layers.nearby import nearest_query
    from layers.tiles import render_tile

    out: dict = {"database": db.name, "enterprises": db.enterprises,
                 "loadavg_at_start": [round(v, 2) for v in os.getloadavg()]}
    owner_dsn, app_dsn = libpq_dsn(db.owner), libpq_dsn(db.app)
    with psycopg.connect(owner_dsn) as conn:
        out["versions"] = conn.execute("SELECT current_setting('server_version'), postgis_lib_version()").fetchone()
    enterprises = LAYERS["enterprises"]
    rng = random.Random(SEED)

    # ---- tiles to request -------------------------------------------------------------------
    counts = {z: tile_counts(owner_dsn, z) for z in (11, 14)}
    light = {z: light_tiles(counts[z], z) for z in (11, 14)}
    seq = {z: light[z][:cfg.seq_tiles] for z in (11, 14)}
    pool = [t for z in (11, 14) for t in light[z][cfg.seq_tiles:]]
    rng.shuffle(pool)
    per_run = min(cfg.load_requests, len(pool) // (cfg.load_runs + 1))
    load_lists = [pool[i * per_run:(i + 1) * per_run] for i in range(cfg.load_runs + 1)]
    warmup_list, load_lists = load_lists[0][:60], load_lists[1:]
    dense_counts = {z: tile_counts(owner_dsn, z) for z in DENSE_ZOOMS if z not in counts} | counts
    densest = {z: max(dense_counts[z].items(), key=lambda kv: kv[1]) for z in DENSE_ZOOMS}  # ((x, y), points)
    dense_tiles = [(z, *densest[z][0]) for z in DENSE_ZOOMS]
    # for HTTP, the five densest tiles of each zoom (each requested once: our cache stays cold)
    dense_http = {z: [((z, *xy), n) for xy, n in sorted(dense_counts[z].items(), key=lambda kv: -kv[1])[:5]]
                  for z in DENSE_ZOOMS}
    out["tile_selection"] = {
        "light_points_per_tile": list(LIGHT),
        "light_tiles_available": {f"z{z}": len(light[z]) for z in (11, 14)},
        "seq_points_per_tile_median": {f"z{z}": statistics.median(t[3] for t in seq[z]) for z in (11, 14)},
        "seq_max_km_from_centres": {f"z{z}": round(max(min(_km(_tile_centre(*t[:3]), c) for c in CENTRES.values())
                                                       for t in seq[z]), 1) for z in (11, 14)},
        "load_tiles_per_run": per_run,
        "dense": {f"z{z}": {"tile": [z, *densest[z][0]], "points": densest[z][1]} for z in DENSE_ZOOMS},
    }

    # ---- SQL captured from our code and from tipg's ---------------------------------------
    capture_engine = make_engine(db.app, pool_pre_ping=False)
    with capture_engine.connect() as c:
        user = load_active_user(c, username=BENCH_USER)
    ctx = user.context(None)

    def our_tile_sql(z, x, y):
        def go():
            with capture_engine.connect() as conn, conn.begin():
                apply_context(conn, ctx)
                render_tile(conn, layer=enterprises, z=z, x=x, y=y)
        return capture(capture_engine, go)

    floor_tiles = {z: [t[:3] for t in seq[z]] for z in (11, 14)}
    ours_sql = {z: [our_tile_sql(*t) for t in floor_tiles[z]] for z in (11, 14)}
    ours_dense = {t: our_tile_sql(*t) for t in dense_tiles}

    # the 10,000-feature bbox: the smallest square around Hangzhou holding >= 10,000 enterprises
    with psycopg.connect(owner_dsn) as conn:
        lo, hi = 0.01, 3.0
        cx, cy = CENTRES["Hangzhou"]
        for _ in range(30):
            mid = (lo + hi) / 2
            n = conn.execute("SELECT count(*) FROM enterprises WHERE valid_to IS NULL AND "
                             "geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
                             (cx - mid, cy - mid, cx + mid, cy + mid)).fetchone()[0]
            if n >= 10_000:
                hi = mid
            else:
                lo = mid
        d = math.ceil(hi * 1e4) / 1e4
        bbox = [round(cx - d, 4), round(cy - d, 4), round(cx + d, 4), round(cy + d, 4)]
        bbox_n = conn.execute("SELECT count(*) FROM enterprises WHERE valid_to IS NULL AND "
                              "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))", bbox).fetchone()[0]
        knn_points = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM enterprises ORDER BY id").fetchall()
    knn_points = random.Random(SEED + 1).sample(knn_points, cfg.knn_queries)

    def our_session_sql(fn):
        factory = install(session_factory(capture_engine))

        def go():
            with factory() as session:
                session.info["ctx"] = ctx
                fn(session)
                session.rollback()
        return capture(capture_engine, go)

    query = ListQuery(bbox=tuple(bbox), limit=10_000)
    ours_items_sql = our_session_sql(lambda s: (list_features(s, layer=enterprises, query=query, geojson=True),
                                                count_features(s, layer=enterprises, query=query)))
    # /nearest's own statement (what the route pipelines), after the same context statement
    context = (psycopg_sql(("context", False), lambda: context_statement(verify=False))[0], context_parameters(ctx))
    knn_sql = [[context, nearest_query(kind="rescue_teams", lon=p[0], lat=p[1], n=10)] for p in knn_points]
    capture_engine.dispose()

    tipg_sql = None
    if not args.skip_tipg:
        all_tiles = floor_tiles[11] + floor_tiles[14] + dense_tiles
        tipg_sql = tipg_statements(db, {
            "tiles": [list(t) for t in all_tiles], "tile_properties": TILE_PROPERTIES,
            "items": [{"bbox": bbox, "limit": 10_000, "properties": None}],
        }, logdir)
        tipg_tile_sql = {t: asyncpg_to_psycopg(*s) for t, s in zip(all_tiles, tipg_sql["tiles"], strict=True)}
        tipg_items_sql = [asyncpg_to_psycopg(*s) for s in tipg_sql["items"][0]]

    # ---- 1. SQL floors (also warms PostgreSQL's buffers) ------------------------------------
    console.print(f"\\[{db.key}] SQL floors …")
    floors: dict = {}
    tile_bytes: dict = {}
    with psycopg.connect(app_dsn, autocommit=True) as conn:
        for z in (11, 14):
            q_med, tx_med, sizes = [], [], []
            for stmts in ours_sql[z]:
                q, tx, (result,) = replay(conn, stmts, cfg.floor_repeats + 1)
                q_med.append(statistics.median(q[1:]))
                tx_med.append(statistics.median(tx[1:]))
                sizes.append(len(result or b""))
            floors[z] = {"onemap_query": q_med, "onemap_tx": tx_med}
            tile_bytes[z] = sizes
        knn_floor = None
        if knn_sql:
            knn_floor = [statistics.median(replay(conn, s, 3)[0][1:]) for s in knn_sql]
        items_q, items_tx, (items_body, _) = replay(conn, ours_items_sql, cfg.items_runs + 1)
        ctx_stmts = [st for st in ours_items_sql if _is_setup(st[0])]
        items_list_q = replay(conn, ctx_stmts + [ours_items_sql[-2]], cfg.items_runs + 1)[0][1:]
        items_count_q = replay(conn, ctx_stmts + [ours_items_sql[-1]], cfg.items_runs + 1)[0][1:]
        # dense tiles: parallel query on (PostgreSQL's default of 2 workers per gather) and off
        dense: dict = {}
        for t in dense_tiles:
            stmts = ours_dense[t]
            d = {"tile": list(t), "points": densest[t[0]][1]}
            for label, workers in (("parallel_on", 2), ("parallel_off", 0)):
                d[f"onemap_sql_{label}"] = prepared_run(conn, stmts, workers, cfg.floor_repeats + 1)
            d["parallel_on_over_off"] = r3(d["onemap_sql_parallel_on"]["p50_ms"]
                                           / d["onemap_sql_parallel_off"]["p50_ms"])
            dense[f"z{t[0]}"] = d
    if tipg_sql is not None:
        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            for z in (11, 14):
                floors[z]["tipg_query"] = [
                    statistics.median(replay(conn, [tipg_tile_sql[t]], cfg.floor_repeats + 1)[0][1:])
                    for t in floor_tiles[z]]
            for t in dense_tiles:
                d = dense[f"z{t[0]}"]
                for label, workers in (("parallel_on", 2), ("parallel_off", 0)):
                    setup = [f"SET LOCAL max_parallel_workers_per_gather = {workers}"]
                    q = replay(conn, [tipg_tile_sql[t]], cfg.floor_repeats + 1, extra_setup=setup)[0][1:]
                    d[f"tipg_sql_{label}"] = {"p50_ms": r3(pct(q, 50) * 1e3),
                                              **plan_nodes(conn, [tipg_tile_sql[t]], setup)}
            tipg_items_q = replay(conn, tipg_items_sql, cfg.items_runs + 1)[0][1:]

    # ---- in process: our routes' own database work without HTTP ------------------------------
    in_proc = asyncio.run(_pipelined_reads(app_dsn, user, enterprises, warmup_list, floor_tiles, knn_points
                                           if knn_sql else [], cfg))
    # what a pool that opens a connection per request pays: the connection (SCRAM) and the first tile on it
    connect, first, second = [], [], []
    for i in range(5):
        t0 = time.perf_counter()
        with psycopg.connect(app_dsn, autocommit=True) as conn:
            connect.append(time.perf_counter() - t0)
            first.append(replay(conn, ours_sql[14][i], 1)[1][0])
            second.append(replay(conn, ours_sql[14][i + 5], 1)[1][0])
    in_proc["new_connection"] = {"connect_ms": summary_ms(connect), "first_tile_transaction_ms": summary_ms(first),
                                 "second_tile_transaction_ms": summary_ms(second)}
    in_proc["what"] = ("geo.aiodb.AsyncDatabase.read as the tile route and /nearest run it on a cache miss: "
                       "BEGIN, context (+ the user check when not yet trusted), serial plans, the query and "
                       "COMMIT pipelined in one round trip; 'checked' = the user verified in the same statement, "
                       "'trusted' = already verified under the current users' version")
    out["onemap_in_process"] = in_proc

    # ---- servers -----------------------------------------------------------------------------
    servers: dict[str, Server] = {}
    try:
        console.print(f"\\[{db.key}] starting servers …")
        servers["onemap"] = start_onemap(db, settings, logdir)
        if not args.skip_tipg:
            servers["tipg"] = start_tipg(db, logdir)
        for s in servers.values():
            s.wait_ready()
        port = servers["onemap"].port
        token = login(port)
        auth = {"Authorization": f"Bearer {token}"}
        has_tiles = route_exists(port, "/tiles/{layer}/{z}/{x}/{y}.mvt")
        has_ogc = route_exists(port, "/ogc/collections/enterprises/items")
        has_nearest = route_exists(port, "/nearest")
        if not has_tiles:
            raise RuntimeError("our app has no /tiles/{layer}/{z}/{x}/{y}.mvt route")
        clients = {"onemap": auth, "onemap_anonymous": {}, "tipg": {}}
        if args.skip_tipg:
            del clients["tipg"]

        def port_of(client: str) -> int:
            return servers["tipg" if client == "tipg" else "onemap"].port

        def paths(client: str, tiles) -> list[str]:
            return [tile_path("tipg" if client == "tipg" else "onemap", *t[:3]) for t in tiles]

        # warm-up: connections, statement caches, code paths (tiles not used afterwards)
        for client, hdr in clients.items():
            http_run(port_of(client), paths(client, warmup_list), headers=hdr, concurrency=2)

        # per-request floors: an endpoint that does no SQL (ours: TileJSON; tipg: /healthz)
        base = {"onemap_tilejson_ms": summary_ms(http_run(port, ["/tiles/enterprises.json"] * 200,
                                                          headers=auth).latencies),
                "onemap_tilejson_anonymous_ms": summary_ms(http_run(port, ["/tiles/enterprises.json"] * 200)
                                                           .latencies)}
        if "tipg" in servers:
            base["tipg_healthz_ms"] = summary_ms(http_run(servers["tipg"].port, ["/healthz"] * 200).latencies)
        out["http_no_sql_floor"] = base

        # ---- 2. light tiles, one client ------------------------------------------------------
        console.print(f"\\[{db.key}] light tiles, one client …")
        tiles_out: dict = {}
        for z in (11, 14):
            zt = seq[z]
            res: dict = {"tiles": len(zt), "points_per_tile_median": statistics.median(t[3] for t in zt),
                         "onemap_tile_bytes_median": statistics.median(tile_bytes[z])}
            cold, warm = {}, {}
            for client, hdr in clients.items():
                r = http_run(port_of(client), paths(client, zt), headers=hdr, keep_bodies=(client == "onemap"),
                             want_headers=(client == "onemap"))
                if r.errors:
                    raise RuntimeError(f"{client} z{z}: {r.errors} errors, statuses {set(r.statuses)}")
                cold[client] = r
                warm[client] = http_run(port_of(client), paths(client, zt) * cfg.warm_repeats, headers=hdr)
            ours_cold = cold["onemap"]
            same = sum(1 for resp, size in zip(ours_cold.keep, tile_bytes[z], strict=True)
                       if len(resp.body) == size)
            res["onemap_cache_enabled"] = bool(ours_cold.keep[0].headers.get("etag"))
            res["onemap_http_bytes_match_sql"] = f"{same}/{len(zt)}"
            res["sql_floor_ms"] = {"onemap_tile_query": summary_ms(floors[z]["onemap_query"]),
                                   "onemap_whole_transaction": summary_ms(floors[z]["onemap_tx"])}
            if "tipg_query" in floors[z]:
                res["sql_floor_ms"]["tipg_tile_query"] = summary_ms(floors[z]["tipg_query"])
                res["tipg_tile_bytes_median"] = statistics.median(cold["tipg"].sizes)
            res["cold_ms"] = {c: summary_ms(r.latencies) for c, r in cold.items()}
            res["warm_ms"] = {c: summary_ms(r.latencies) for c, r in warm.items()}
            diffs = [h - f for h, f in zip(ours_cold.latencies, floors[z]["onemap_query"], strict=True)]
            res["onemap_cold_minus_floor_ms"] = {"p50_of_pairs": r3(pct(diffs, 50) * 1e3),
                                                 "p50_minus_p50": r3(res["cold_ms"]["onemap"]["p50"]
                                                                     - res["sql_floor_ms"]["onemap_tile_query"]["p50"])}
            tiles_out[f"z{z}"] = res
        out["light_tiles_one_client"] = tiles_out

        # ---- 3. throughput, 8 clients ----------------------------------------------------------
        console.print(f"\\[{db.key}] light tiles, {cfg.concurrency} clients …")
        warm_list = (seq[11] + seq[14]) * (per_run // (len(seq[11]) + len(seq[14])) + 1)
        warm_list = warm_list[:per_run]
        thr: dict = {"concurrency": cfg.concurrency, "requests_per_run": per_run, "runs": cfg.load_runs}
        stat_conn = psycopg.connect(owner_dsn, autocommit=True)
        load_clients = [c for c in clients if c != "onemap_anonymous"]
        for mode in ("cold_distinct", "warm_repeated"):
            for client in load_clients:
                rates, p50s, errors = [], [], 0
                sessions0 = db_sessions(stat_conn, db.name)
                for i in range(cfg.load_runs):
                    tiles = load_lists[i] if mode == "cold_distinct" else warm_list
                    r = http_run(port_of(client), paths(client, tiles), headers=clients[client],
                                 concurrency=cfg.concurrency)
                    rates.append(r.per_s)
                    p50s.append(pct(r.latencies, 50) * 1e3)
                    errors += r.errors
                time.sleep(1.1)  # PostgreSQL flushes session statistics about once a second
                thr[f"{client}_{mode}"] = {"tiles_per_s": round(statistics.median(rates), 1),
                                           "runs_tiles_per_s": [round(x, 1) for x in rates],
                                           "latency_p50_ms": r3(statistics.median(p50s)), "errors": errors,
                                           "new_db_sessions": db_sessions(stat_conn, db.name) - sessions0}
        stat_conn.close()
        if "tipg" in servers:
            for mode in ("cold_distinct", "warm_repeated"):
                thr[f"ratio_{mode}"] = r3(thr[f"onemap_{mode}"]["tiles_per_s"] / thr[f"tipg_{mode}"]["tiles_per_s"])
        out["light_tiles_8_clients"] = thr

        # ---- 4. dense tiles over HTTP ----------------------------------------------------------
        console.print(f"\\[{db.key}] dense tiles …")
        for z in DENSE_ZOOMS:
            d = dense[f"z{z}"]
            tiles = [t for t, _ in dense_http[z]]
            d["http_five_densest"] = {"points": [n for _, n in dense_http[z]]}
            r = http_run(port, paths("onemap", tiles), headers=auth)
            d["http_five_densest"]["onemap_cold_ms"] = summary_ms(r.latencies)
            d["http_five_densest"]["onemap_bytes_median"] = statistics.median(r.sizes)
            if "tipg" in servers:
                r = http_run(servers["tipg"].port, paths("tipg", tiles))
                d["http_five_densest"]["tipg_ms"] = summary_ms(r.latencies)
                d["http_five_densest"]["tipg_bytes_median"] = statistics.median(r.sizes)
        out["dense_tiles"] = dense

        # ---- 5. 10,000-feature GeoJSON -------------------------------------------------------
        console.print(f"\\[{db.key}] 10,000-feature GeoJSON …")
        bb = ",".join(str(v) for v in bbox)
        gj: dict = {"bbox": bbox, "enterprises_in_bbox": bbox_n, "limit": 10_000, "runs": cfg.items_runs}
        n_runs = cfg.items_runs + 1

        def timed(port_, path, hdr):
            r = http_run(port_, [path] * n_runs, headers=hdr, keep_bodies=True)
            if r.errors:
                raise RuntimeError(f"{path}: statuses {set(r.statuses)} {r.keep[0].body[:300]!r}")
            body = r.keep[-1].body
            doc = json.loads(body)
            return {**summary_ms(r.latencies[1:]), "bytes": len(body), "features": len(doc["features"])}

        gj["onemap_http_ms"] = timed(port, f"/enterprises?bbox={bb}&limit=10000&f=geojson", auth)
        gj["onemap_sql_ms"] = {"list_and_count": summary_ms(items_q[1:]),
                               "list_only": summary_ms(items_list_q), "count_only": summary_ms(items_count_q),
                               "whole_transaction": summary_ms(items_tx[1:]),
                               "body_bytes": len(items_body or "")}
        if has_ogc:
            gj["onemap_ogc_http_ms"] = timed(port, f"/ogc/collections/enterprises/items?bbox={bb}&limit=10000",
                                             auth)
        if "tipg" in servers:
            tp = servers["tipg"].port
            gj["tipg_http_ms"] = timed(tp, f"/collections/public.enterprises/items?bbox={bb}&limit=10000", {})
            fields = ",".join(f.name for f in enterprises.fields)
            gj["tipg_same_properties_http_ms"] = timed(
                tp, f"/collections/public.enterprises/items?bbox={bb}&limit=10000&properties={fields}", {})
            gj["tipg_sql_ms"] = {"count_and_select": summary_ms(tipg_items_q)}
            gj["ratio_tipg_over_onemap"] = r3(gj["tipg_http_ms"]["p50"] / gj["onemap_http_ms"]["p50"])
            gj["ratio_tipg_same_properties_over_onemap"] = r3(gj["tipg_same_properties_http_ms"]["p50"]
                                                              / gj["onemap_http_ms"]["p50"])
        out["geojson_10k"] = gj

        # ---- 6. KNN -------------------------------------------------------------------------
        if has_nearest:
            console.print(f"\\[{db.key}] nearest 10 rescue teams …")
            knn_paths = [f"/nearest?lon={x:.6f}&lat={y:.6f}&kind=rescue_teams&n=10" for x, y in knn_points]
            http_run(port, knn_paths[:10], headers=auth)  # warm-up
            r = http_run(port, knn_paths, headers=auth, keep_bodies=True)
            if r.errors:
                raise RuntimeError(f"/nearest: statuses {set(r.statuses)} {r.keep[0].body[:300]!r}")
            out["knn_nearest10"] = {"queries": len(knn_paths), "http_ms": summary_ms(r.latencies),
                                    "sql_ms": summary_ms(knn_floor) if knn_floor else None,
                                    "teams_returned": json.loads(r.keep[0].body)["count"]}
        else:
            out["knn_nearest10"] = None
    finally:
        for s in servers.values():
            s.stop()

    out["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]

    # ---- goals ---------------------------------------------------------------------------------
    goals: dict = {}
    if "tipg" in servers:
        ratio = thr["ratio_cold_distinct"]
        goals["light_tile_throughput_2x_tipg"] = {"ratio_cold_distinct": ratio,
                                                  "ratio_warm_repeated": thr["ratio_warm_repeated"],
                                                  "met": ratio >= 2.0}
    for z in (11, 14):
        t = tiles_out[f"z{z}"]
        cold_p50 = t["cold_ms"]["onemap"]["p50"]
        floor_p50 = t["sql_floor_ms"]["onemap_tile_query"]["p50"]
        goals[f"cold_tile_z{z}_within_floor_plus_1ms"] = {"cold_p50_ms": cold_p50, "floor_p50_ms": floor_p50,
                                                          "limit_ms": r3(floor_p50 + 1.0),
                                                          "met": cold_p50 <= floor_p50 + 1.0}
        goals[f"warm_tile_z{z}_under_1ms"] = {"p50_ms": t["warm_ms"]["onemap"]["p50"],
                                              "met": t["warm_ms"]["onemap"]["p50"] < 1.0}
    if "tipg" in servers:
        goals["geojson_10k_6x_tipg"] = {"ratio": gj["ratio_tipg_over_onemap"],
                                        "ratio_same_properties": gj["ratio_tipg_same_properties_over_onemap"],
                                        "met": gj["ratio_tipg_over_onemap"] >= 6.0}
    if out.get("knn_nearest10"):
        p50 = out["knn_nearest10"]["http_ms"]["p50"]
        goals["knn_nearest10_under_5ms"] = {"p50_ms": p50, "met": p50 < 5.0}
    out["goals"] = goals
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer tiles and runs (smoke check)")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark databases (fixed names)")
    ap.add_argument("--reuse", action="store_true", help="reuse databases kept by an earlier --keep run")
    ap.add_argument("--skip-tipg", action="store_true", help="measure our app only")
    args = ap.parse_args()
    if args.quick:
        cfg = Config(quick=True, seq_tiles=30, warm_repeats=5, load_requests=300, load_runs=2, floor_repeats=3,
                     items_runs=3, knn_queries=30)
    else:
        cfg = Config(quick=False, seq_tiles=100, warm_repeats=10, load_requests=1000, load_runs=3,
                     floor_repeats=5, items_runs=7, knn_queries=200)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    t_start = time.perf_counter()
    settings = Settings()
    if settings.uses_local_cluster:
        LocalCluster(settings).up()
    versions = {"tipg_uvicorn": None}
    if not args.skip_tipg:
        versions["tipg_uvicorn"] = ensure_tipg()
    logdir = Path(tempfile.mkdtemp(prefix="onemap-tiles-bench-"))
    timings: dict = {}
    dbs: list[BenchDB] = []
    results: dict = {}
    try:
        dbs = setup_databases(settings, args, timings)
        for db in dbs:
            results[db.key] = measure_database(db, cfg, settings, args, logdir)
    finally:
        if not args.keep:
            for db in dbs:
                with contextlib.suppress(Exception):
                    drop_database(settings, db.name)
        shutil.rmtree(logdir, ignore_errors=True)

    import uvicorn

    pg, postgis = next(iter(results.values()))["versions"] if results else (None, None)
    tipg_version, tipg_uvicorn = (versions["tipg_uvicorn"] or " ").split(" ", 1)
    out = {
        "benchmark": "tiles",
        "command": "  ".join([".venv/bin/python benchmarks/tiles_bench.py"] + sys.argv[1:]),
        "quick": cfg.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "postgresql": pg,
                    "postgis": postgis, "platform": platform.platform()},
        "servers": {
            "onemap": f"uvicorn {uvicorn.__version__} --factory api.app:create_app, 1 worker, "
                      f"{' '.join(SERVER_STACK)}, app role under RLS, province user's bearer token",
            "tipg": None if args.skip_tipg else f"tipg {tipg_version} (uvicorn {tipg_uvicorn}) tipg.main:app, "
                                                f"1 worker, {' '.join(SERVER_STACK)}, owner role, "
                                                "TIPG_CATALOG_TTL=0",
            "client": "benchmarks/httpload.py: asyncio keep-alive HTTP/1.1, same machine",
        },
        "setup": timings,
        "datasets": results,
        "goals": {k: v["goals"] for k, v in results.items()},
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        console.print("[red]interrupted: servers stopped, databases dropped (unless --keep)")
        sys.exit(130)
