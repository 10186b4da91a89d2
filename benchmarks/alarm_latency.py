"""Benchmark: MQTT publish of an alarming reading → ``alarm.raised`` notification, under ingest load.

In a throwaway database with ``--sensors`` load sensors (threshold 100, never
reached: their values are 0–89) and ``--probes`` probe sensors (threshold 50),
with a mosquitto of its own on a free loopback port, it runs the real worker
(``python -m api.cli telemetry ingest``, a subprocess) and ``--publishers``
load publisher processes aiming at ``--rate`` readings/s in total (batches of
``--per-message`` readings per QoS 1 message, as in
``benchmarks/telemetry_ingest.py``). Meanwhile the main process publishes one
alarming reading (value 99) for a fresh probe sensor every ``--probe-every``
seconds and listens for ``alarm.raised`` twice: on ``onemap_events``, the
PostgreSQL channel every API worker relays, and on ``GET /events`` itself — the
real app served by uvicorn on a loopback port (in this process, as an admin
user), read as Server-Sent Events. Latency = event received − just before the
publish (both ``time.time()`` on this machine). Each probe sensor alarms once (at
most one open alarm per sensor and rule), so there are as many samples as probes.

Prints one JSON object: p50, p90, p99, max in ms (channel and SSE), probes sent and seen.

    .venv/bin/python benchmarks/alarm_latency.py [--rate 5000] [--duration 60] [--per-message 10]
        [--publishers 1] [--sensors 500] [--probes 200]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import secrets
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import psycopg
from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.databases import create_database, drop_database  # noqa: E402
from geo.db import libpq_dsn  # noqa: E402
from geo.pgcluster import LocalCluster  # noqa: E402
from geo.settings import Settings  # noqa: E402
from geo.users import create_user  # noqa: E402
from telemetry.broker import LocalBroker  # noqa: E402
from telemetry.health import read_status  # noqa: E402
from telemetry.payloads import topic_for  # noqa: E402
from telemetry.settings import TelemetrySettings  # noqa: E402
from telemetry.simulate import publisher  # noqa: E402

_BENCH_PASSWORD = secrets.token_urlsafe(16)
_spec = importlib.util.spec_from_file_location("telemetry_ingest_bench", Path(__file__).with_name(
    "telemetry_ingest.py"))
_ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ingest)


def _listen(dsn: str, seen: dict[int, float], stop: threading.Event) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("LISTEN onemap_events")
        while not stop.is_set():
            for n in conn.notifies(timeout=0.2):
                now = time.time()
                p = json.loads(n.payload)
                if p.get("k") == "alarm.raised":
                    seen.setdefault(int(p["id"]), now)


def _serve(app_url, settings: Settings):
    """The app on a free loopback port in a thread: (server, base URL)."""
    import socket

    import uvicorn

    from api.app import create_app
    from geo.db import make_engine

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    app = create_app(settings, engine=make_engine(app_url))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the app did not start")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _stop_serving(server) -> None:
    """Stop the app: open event streams never end by themselves, so close its live subscriptions first."""
    server.should_exit = True
    live = getattr(server.config.app.state, "live", None)
    if live is not None:
        live.close_subscriptions()


def _sse(base: str, token: str, seen: dict[int, float], ready: threading.Event, stop: threading.Event) -> None:
    """Read ``GET /events?kinds=alarm.raised`` until ``stop``; first arrival per alarm id into ``seen``."""
    import httpx

    with httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=None)) as client, \
            client.stream("GET", "/events", params={"kinds": "alarm.raised"},
                          headers={"Authorization": f"Bearer {token}"}) as resp:
        ready.set()
        try:
            for line in resp.iter_lines():
                if stop.is_set():
                    break
                if line.startswith("data:"):
                    now = time.time()
                    p = json.loads(line[5:])
                    if p.get("k") == "alarm.raised":
                        seen.setdefault(int(p["id"]), now)
        except httpx.HTTPError:
            pass  # the app stopped


def _quantiles(values: list[float]) -> dict:
    lat = np.array(values)
    if not lat.size:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    return {k: round(float(np.percentile(lat, q)), 1) for k, q in (("p50", 50), ("p90", 90), ("p99", 99),
                                                                   ("max", 100))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=5000, help="load readings per second, all publishers")
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--per-message", type=int, default=10)
    ap.add_argument("--publishers", type=int, default=1)
    ap.add_argument("--sensors", type=int, default=500)
    ap.add_argument("--probes", type=int, default=200)
    args = ap.parse_args()
    settings = Settings()
    if settings.uses_local_cluster:
        LocalCluster(settings).up()
    name = f"onemap_bench_{secrets.token_hex(4)}"
    owner_url, app_url = create_database(settings, name)
    dsn = libpq_dsn(owner_url)
    home = Path(tempfile.mkdtemp(prefix="onemap-mqtt-bench-"))
    home.chmod(0o755)
    broker = LocalBroker(TelemetrySettings(state_dir=home), home=home, port=_ingest._free_port())
    worker = server = None
    stop = threading.Event()
    try:
        codes = _ingest._seed(owner_url, args.sensors + args.probes)
        load, probes = codes[:args.sensors], codes[args.sensors:]
        with psycopg.connect(dsn) as conn:
            conn.execute("UPDATE sensors SET threshold_high = 100")  # the rules run for every load reading
            conn.execute("UPDATE sensors SET threshold_high = 50 WHERE code = ANY(%s)", (probes,))
        broker.start()
        status = home / "ingest.json"
        worker = _ingest.start_worker(owner_url, broker.port, status)
        seen: dict[int, float] = {}
        listener = threading.Thread(target=_listen, args=(dsn, seen, stop), daemon=True)
        listener.start()
        owner = create_engine(owner_url)
        with owner.begin() as conn:
            create_user(conn, username="bench.admin", password=_BENCH_PASSWORD, role="admin", adcode="330000")
        owner.dispose()
        server, base = _serve(app_url, settings)
        token = httpx.post(f"{base}/auth/token", data={"username": "bench.admin", "password": _BENCH_PASSWORD}
                           ).json()["access_token"]
        seen_sse: dict[int, float] = {}
        sse_ready = threading.Event()
        threading.Thread(target=_sse, args=(base, token, seen_sse, sse_ready, stop), daemon=True).start()
        if not sse_ready.wait(10):
            raise SystemExit("GET /events did not answer")
        time.sleep(0.5)
        counters = [mp.Value("q", 0) for _ in range(args.publishers)]
        share = [load[i::args.publishers] for i in range(args.publishers)]
        procs = [mp.Process(target=_ingest._publish, args=(broker.port, share[i], args.rate / args.publishers,
                                                           args.duration, args.per_message, i * 3, counters[i], None))
                 for i in range(args.publishers)]
        for p in procs:
            p.start()
        pub = publisher("127.0.0.1", broker.port, "bench-probe")
        sent: dict[str, float] = {}
        every = args.duration / (args.probes + 1)
        t0 = time.monotonic()
        for i, code in enumerate(probes):
            pause = t0 + (i + 1) * every - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            body = json.dumps({"seq": 1, "ts": datetime.now(UTC).isoformat(), "value": 99.0})
            sent[code] = time.time()
            pub.publish(topic_for(code), body, qos=1)
        for p in procs:
            p.join()
        published = sum(c.value for c in counters)
        time.sleep(5)  # the last alarms
        stop.set()
        listener.join(5)
        pub.disconnect()
        pub.loop_stop()
        final = read_status(status)
        with psycopg.connect(dsn) as conn:
            by_id = dict(conn.execute("SELECT a.id, s.code FROM alarms a JOIN sensors s ON s.id = a.sensor_id "
                                      "WHERE a.rule = 'high'").fetchall())
            stored = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        lat = [(t - sent[by_id[i]]) * 1000.0 for i, t in seen.items() if by_id.get(i) in sent]
        lat_sse = [(t - sent[by_id[i]]) * 1000.0 for i, t in seen_sse.items() if by_id.get(i) in sent]
        print(json.dumps({
            "benchmark": "alarm_latency", "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average": [round(x, 2) for x in os.getloadavg()]},
            "load_target_readings_per_s": args.rate, "load_published": published,
            "load_published_per_s": round(published / args.duration, 1), "readings_per_message": args.per_message,
            "stored": stored, "committed": final.get("committed"), "duration_s": args.duration,
            "probes_sent": len(sent), "alarms_seen": len(lat), "alarms_seen_on_events": len(lat_sse),
            "false_alarms": len([i for i in by_id if by_id[i] not in sent]),
            "latency_ms": _quantiles(lat), "latency_events_sse_ms": _quantiles(lat_sse),
        }))
    finally:
        stop.set()
        if server is not None:
            _stop_serving(server)
        _ingest.stop_worker(worker)
        broker.stop()
        shutil.rmtree(home, ignore_errors=True)
        drop_database(settings, name)


if __name__ == "__main__":
    main()
