"""Benchmark: sustained MQTT ingest (publishers → mosquitto → ingest worker → PostgreSQL).

In a throwaway database with ``--sensors`` sensors, with a mosquitto of its
own on a free loopback port, it runs the real worker (``python -m api.cli
telemetry ingest``, a subprocess) and ``--publishers`` publisher processes
that together aim at ``--rate`` readings per second for ``--duration`` seconds,
as one reading per QoS 1 message (``--per-message 1``, the realistic case:
each sensor publishes its own reading) or batches of readings per message.
Every second it samples the worker's status file: rows committed, and the
backlog (published − committed − rejected: what waits in the broker or the
worker). After the publishers stop it waits for the backlog to drain.

Peer, in the same run: the naive writer, one ``INSERT`` per reading, one
transaction each, for ``--naive-s`` seconds.

Prints one JSON object. Medians are over the per-second committed rates of the
steady part (the first 5 s left out).

    .venv/bin/python benchmarks/telemetry_ingest.py [--rate 5000] [--duration 60] [--per-message 1]
        [--publishers 2] [--sensors 500]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.databases import create_database, drop_database  # noqa: E402
from geo.db import libpq_dsn, make_engine  # noqa: E402
from geo.pgcluster import LocalCluster  # noqa: E402
from geo.regions import read_province, store_regions  # noqa: E402
from geo.settings import Settings  # noqa: E402
from telemetry.broker import LocalBroker  # noqa: E402
from telemetry.health import read_status  # noqa: E402
from telemetry.settings import TelemetrySettings  # noqa: E402

CST = timezone(timedelta(hours=8))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_worker(owner_url, broker_port: int, status: Path) -> subprocess.Popen:
    """The real ingest worker (``python -m api.cli telemetry ingest``) as a subprocess, once it has subscribed."""
    env = {**os.environ, "DATABASE_URL": owner_url.render_as_string(hide_password=False),
           "ONEMAP_MQTT_URL": f"mqtt://127.0.0.1:{broker_port}", "ONEMAP_INGEST_CLIENT_ID": "bench-ingest",
           "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-m", "api.cli", "telemetry", "ingest", "--quiet",
                               "--status-file", str(status)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while not (read_status(status).get("broker") or {}).get("subscribed"):
        if time.monotonic() > deadline:
            stop_worker(worker)
            raise SystemExit("the worker did not subscribe")
        time.sleep(0.1)
    return worker


def stop_worker(worker: subprocess.Popen | None) -> None:
    """SIGTERM (a clean drain), then kill after 30 s."""
    if worker is not None and worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


def _seed(owner_url, n: int) -> list[str]:
    from sqlalchemy import text

    engine = make_engine(owner_url)
    with engine.begin() as conn:
        store_regions(conn, read_province())
        conn.execute(text("INSERT INTO enterprises (uscc, name, industry, scale, geom) VALUES "
                          "('91330211000000001F', '基准化工', 'hazchem_storage', 'small', "
                          "ST_SetSRID(ST_MakePoint(121.64, 29.99), 4326))"))
        conn.execute(text("INSERT INTO hazard_units (enterprise_id, name, kind, geom) SELECT id, '罐区', 'storage', "
                          "geom FROM enterprises"))
        conn.execute(text("INSERT INTO sensors (code, hazard_unit_id, kind, unit, geom) SELECT 'B' || g, h.id, "
                          "'combustible_gas', '%LEL', h.geom FROM hazard_units h, generate_series(1, :n) g"), {"n": n})
    engine.dispose()
    return [f"B{i}" for i in range(1, n + 1)]


def _publish(port: int, codes: list[str], rate: float, duration: float, per_message: int, offset_us: int,
             counter, stop_at) -> None:
    import paho.mqtt.client as mqtt

    from telemetry.payloads import topic_for

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    base = datetime.now(CST) - timedelta(minutes=10)
    t0 = time.monotonic()
    sent = seq = 0
    msgs_per_s = rate / per_message
    infos = []
    while time.monotonic() - t0 < duration:
        due = t0 + sent / msgs_per_s
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        code = codes[sent % len(codes)]
        items = []
        for _ in range(per_message):
            ts = base + timedelta(microseconds=offset_us + seq * 10)
            items.append({"seq": seq, "ts": ts.isoformat(), "value": float(seq % 90)})
            seq += 1
        body = json.dumps(items[0] if per_message == 1 else {"readings": items})
        infos.append(c.publish(topic_for(code), body, qos=1))
        sent += 1
        if len(infos) >= 5000:
            for i in infos[:2500]:
                i.wait_for_publish(60)
            del infos[:2500]
        if sent % 100 == 0:
            with counter.get_lock():
                counter.value = seq
    for i in infos:
        i.wait_for_publish(60)
    with counter.get_lock():
        counter.value = seq
    c.disconnect()
    c.loop_stop()


def _naive(dsn: str, seconds: float) -> float:
    with psycopg.connect(dsn) as conn:
        sid = conn.execute("SELECT id FROM sensors ORDER BY id LIMIT 1").fetchone()[0]
        conn.commit()
        base = datetime.now(UTC) - timedelta(days=0, minutes=20)
        n = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            conn.execute("INSERT INTO readings (sensor_id, ts, seq, value, source) VALUES (%s, %s, %s, 1, 'mqtt') "
                         "ON CONFLICT DO NOTHING", (sid, base + timedelta(microseconds=n), n))
            conn.commit()
            n += 1
        return n / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=5000, help="target readings per second, all publishers")
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--per-message", type=int, default=1)
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--sensors", type=int, default=500)
    ap.add_argument("--naive-s", type=float, default=10)
    args = ap.parse_args()
    settings = Settings()
    if settings.uses_local_cluster:
        LocalCluster(settings).up()
    name = f"onemap_bench_{secrets.token_hex(4)}"
    owner_url, _ = create_database(settings, name)
    home = Path(tempfile.mkdtemp(prefix="onemap-mqtt-bench-"))
    home.chmod(0o755)
    broker = LocalBroker(TelemetrySettings(state_dir=home), home=home, port=_free_port())
    worker = None
    try:
        codes = _seed(owner_url, args.sensors)
        broker.start()
        status = home / "ingest.json"
        worker = start_worker(owner_url, broker.port, status)
        counters = [mp.Value("q", 0) for _ in range(args.publishers)]
        share = [codes[i::args.publishers] for i in range(args.publishers)]
        procs = [mp.Process(target=_publish, args=(broker.port, share[i], args.rate / args.publishers, args.duration,
                                                   args.per_message, i * 3, counters[i], None))
                 for i in range(args.publishers)]
        t0 = time.monotonic()
        for p in procs:
            p.start()
        samples = []
        while any(p.is_alive() for p in procs) or time.monotonic() - t0 < args.duration:
            time.sleep(1.0)
            st = read_status(status)
            published = sum(c.value for c in counters)
            samples.append((time.monotonic() - t0, published, st.get("committed", 0), st.get("rejected", 0)))
        for p in procs:
            p.join()
        published = sum(c.value for c in counters)
        drain_t0 = time.monotonic()
        while read_status(status).get("committed", 0) + read_status(status).get("rejected", 0) < published:
            if time.monotonic() - drain_t0 > 300:
                break
            time.sleep(0.5)
        drain_s = time.monotonic() - drain_t0
        final = read_status(status)
        rates = [(b[2] - a[2]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:], strict=False) if b[0] > 5]
        backlog = [(round(t, 1), pub - com - rej) for t, pub, com, rej in samples]
        steady = [b for t, b in backlog if t > 5]
        with psycopg.connect(libpq_dsn(owner_url)) as conn:
            stored = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        naive = _naive(libpq_dsn(owner_url), args.naive_s)
        median_rate = statistics.median(rates) if rates else 0.0
        out = {
            "benchmark": "telemetry_ingest", "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "target_readings_per_s": args.rate, "duration_s": args.duration, "readings_per_message": args.per_message,
            "publishers": args.publishers, "sensors": args.sensors,
            "published": published, "published_per_s": round(published / args.duration, 1),
            "stored": stored, "rejected": final.get("rejected"), "duplicates": final.get("duplicates"),
            "committed_per_s_median": round(median_rate, 1),
            "committed_per_s_overall": round(final.get("committed", 0) / (args.duration + drain_s), 1),
            "backlog_first_steady": steady[0] if steady else None, "backlog_last": steady[-1] if steady else None,
            "backlog_max": max(steady) if steady else None, "drain_after_publishers_s": round(drain_s, 1),
            "backlog_every_10s": backlog[::10],
            "naive_insert_per_transaction_per_s": round(naive, 1),
            "ratio_vs_naive": round(median_rate / naive, 1) if naive else None,
        }
        print(json.dumps(out))
    finally:
        stop_worker(worker)
        broker.stop()
        shutil.rmtree(home, ignore_errors=True)
        drop_database(settings, name)


if __name__ == "__main__":
    main()
