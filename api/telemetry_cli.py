"""``onemap telemetry``: the MQTT broker, the ingest worker and the simulator from the command line.

Mounted by ``api/cli.py`` as ``app.add_typer(telemetry_app, name="telemetry")``.

Examples::

    onemap telemetry broker start              # mosquitto on 127.0.0.1:ONEMAP_MQTT_PORT (18830)
    onemap telemetry ingest                    # a service: MQTT -> readings (Ctrl-C / SIGTERM to stop)
    onemap telemetry simulate --sensors 100 --rate 1 --duration 60
    onemap telemetry health                    # the worker's status file (exit 1 when unhealthy)
    onemap telemetry prune --keep-days 400 --archive-dir /srv/onemap/readings-archive
    onemap telemetry broker stop

Bad options exit with code 2 and one line on stderr naming the option.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from api.cli_common import fail as _fail

__all__ = ["telemetry_app"]

telemetry_app = typer.Typer(help="Telemetry: MQTT broker, ingest worker, simulator.", no_args_is_help=True,
                            add_completion=False)
broker_app = typer.Typer(help="The project-managed mosquitto on 127.0.0.1.", no_args_is_help=True,
                         add_completion=False)
telemetry_app.add_typer(broker_app, name="broker")


@telemetry_app.callback()
def _group() -> None:
    """Telemetry from hazard sites (在线监测)."""


def _tsettings():
    from pydantic import ValidationError

    from telemetry.settings import get_telemetry_settings

    try:
        return get_telemetry_settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err['msg']).removeprefix('Value error, ')
        raise _fail(f"{'ONEMAP_' + str(err['loc'][0]).upper() if err['loc'] else 'settings'}: {msg}") from None


def _broker():
    from telemetry.broker import LocalBroker

    return LocalBroker(_tsettings())


@broker_app.command("start")
def broker_start() -> None:
    """Start mosquitto on 127.0.0.1:ONEMAP_MQTT_PORT with persistence (idempotent)."""
    from telemetry.errors import BrokerError

    s = _tsettings()
    if not s.uses_local_broker:
        typer.echo(f"ONEMAP_MQTT_URL is set: using {s.mqtt_url}, no local broker started.")
        return
    b = _broker()
    try:
        started = b.start()
    except BrokerError as exc:
        raise _fail(str(exc), 1) from None
    typer.echo(f"mosquitto {'started' if started else 'already running'} on 127.0.0.1:{b.port} "
               f"(pid {b.pid()}, config {b.conf_file})")


@broker_app.command("stop")
def broker_stop() -> None:
    """Stop the local mosquitto (it saves its queues first)."""
    if not _tsettings().uses_local_broker:
        typer.echo("ONEMAP_MQTT_URL is set: no local broker to stop.")
        return
    typer.echo("stopped" if _broker().stop() else "not running")


@broker_app.command("status")
def broker_status() -> None:
    """Say whether the broker in use accepts connections (exit 1 when not)."""
    from telemetry.broker import port_open

    s = _tsettings()
    host, port = s.broker_address
    if s.uses_local_broker:
        b = _broker()
        state = b.status()
        typer.echo(f"local broker: {state} (127.0.0.1:{port}{f', pid {b.pid()}' if state == 'running' else ''})")
        if state != "running":
            raise typer.Exit(1)
    elif port_open(host, port, 2.0):
        typer.echo(f"external broker {host}:{port}: reachable")
    else:
        raise _fail(f"external broker {host}:{port}: not reachable", 1)


@telemetry_app.command("ingest")
def ingest(
    status_file: Annotated[Path | None, typer.Option(
        help="where to write the worker's status every second "
             "(default <ONEMAP_STATE_DIR>/telemetry/ingest-<client id>.json)")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress lines")] = False,
) -> None:
    """Consume readings from MQTT into the database until Ctrl-C or SIGTERM (a service)."""
    import logging

    from rich.console import Console

    from api.cli_common import ensure_database
    from geo.db import libpq_dsn, owner_url
    from telemetry.health import status_path
    from telemetry.ingest import IngestWorker

    s = _tsettings()
    settings = ensure_database()
    console = Console(stderr=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    path = status_file or status_path(s.state_path, s.ingest_client_id)
    host, port = s.broker_address
    started = __import__("time").monotonic()

    def progress(c, backlog: int) -> None:
        if quiet:
            return
        secs = __import__("time").monotonic() - started
        console.print(f"[bold]ingest[/] {c.committed:,} stored ({c.committed / max(secs, 1e-9):,.0f}/s), "
                      f"{c.duplicates:,} duplicates, {c.rejected:,} rejected, backlog {backlog:,}")

    worker = IngestWorker(s, libpq_dsn(owner_url(settings)), status_file=path, progress=progress)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"ingest: {host}:{port} -> database, client id {s.ingest_client_id}, status {path}")
    c = worker.run(stop)
    console.print(f"ingest stopped: {c.committed:,} stored, {c.duplicates:,} duplicates, {c.rejected:,} rejected")


@telemetry_app.command("simulate")
def simulate_cmd(
    sensors: Annotated[int, typer.Option(min=1, max=100_000, help="how many demo sensors (first N by id)")] = 50,
    rate: Annotated[float, typer.Option(min=0.01, max=100.0, help="readings per second per sensor")] = 1.0,
    duration: Annotated[float, typer.Option(min=0.1, max=86_400.0, help="seconds")] = 60.0,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same values)")] = 0,
    seq_start: Annotated[int, typer.Option(min=0, help="first seq of every sensor")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
) -> None:
    """Publish realistic readings for the demo sensors over MQTT (QoS 1), with excursions, stuck sensors and
    dropouts."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from api.cli_common import owner_engine
    from telemetry.simulate import demo_sensors, simulate

    s = _tsettings()
    engine = owner_engine()
    try:
        with engine.connect() as conn:
            chosen = demo_sensors(conn, sensors)
    finally:
        engine.dispose()
    if not chosen:
        raise _fail("sensors: the database has no active sensors (run `onemap demo load` first)", 1)
    host, port = s.broker_address
    with Progress(TextColumn("[bold]simulate"), BarColumn(), TextColumn("{task.fields[n]:,} readings"),
                  TimeElapsedColumn(), console=Console(stderr=True), disable=as_json, transient=True) as bar:
        task = bar.add_task("sim", total=duration, n=0)
        try:
            summary = simulate(chosen, host=host, port=port, rate_hz=rate, duration_s=duration, seed=seed,
                               seq_start=seq_start,
                               progress=lambda n, t: bar.update(task, completed=min(t, duration), n=n))
        except ConnectionError as exc:
            raise _fail(f"broker: {exc} (start it with `onemap telemetry broker start`)", 1) from None
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    else:
        typer.echo(f"published {summary.published:,} readings from {summary.sensors:,} sensors in "
                   f"{summary.seconds:.1f} s ({summary.rate:,.0f}/s); {summary.dropped:,} withheld as dropouts")


@telemetry_app.command("health")
def health(status_file: Annotated[Path | None, typer.Option(help="the worker's status file")] = None) -> None:
    """Print the ingest worker's status (JSON); exit 1 when it is not healthy."""
    from telemetry.health import read_status, status_path

    s = _tsettings()
    st = read_status(status_file or status_path(s.state_path, s.ingest_client_id))
    typer.echo(json.dumps(st, ensure_ascii=False, default=str))
    if not st["healthy"]:
        raise typer.Exit(1)


@telemetry_app.command("prune")
def prune_cmd(
    keep_days: Annotated[int, typer.Option(help="days of readings to keep, today (China time) included")],
    archive_dir: Annotated[Path | None, typer.Option(
        help="where each removed day goes first, as gzip CSV (its SHA-256 is recorded)")] = None,
    no_archive: Annotated[bool, typer.Option("--no-archive", help="drop old days without an archive")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what would be removed")] = False,
) -> None:
    """Archive and drop readings older than --keep-days (whole day partitions), each step recorded."""
    from rich.console import Console

    from api.cli_common import ensure_database
    from geo.db import libpq_dsn, owner_url
    from geo.errors import InvalidInput
    from telemetry.retention import prune

    if not dry_run and (archive_dir is None) == (not no_archive):
        raise _fail("--archive-dir: give an archive directory, or --no-archive to drop without one")
    if archive_dir is not None and no_archive:
        raise _fail("--no-archive: not with --archive-dir")
    settings = ensure_database()
    console = Console(stderr=True)

    def progress(step, i: int, n: int) -> None:
        where = f" -> {step.archive} ({step.archive_bytes:,} bytes, sha256 {step.archive_sha256[:16]}…)" \
            if step.archive is not None else " (no archive)"
        console.print(f"[{i}/{n}] {step.partition}: {step.rows:,} readings removed{where}")

    try:
        steps = prune(libpq_dsn(owner_url(settings)), keep_days=keep_days,
                      archive_dir=None if no_archive else archive_dir, dry_run=dry_run, progress=progress)
    except InvalidInput as exc:
        raise _fail(f"--{exc.field.replace('_', '-')}: {exc.reason}") from None
    if dry_run:
        for step in steps:
            console.print(f"would remove {step.partition} (readings before {step.before:%Y-%m-%d %H:%M %Z})")
    console.print(f"{'would remove' if dry_run else 'removed'} {len(steps)} step(s); "
                  f"{sum(s.rows for s in steps):,} readings" + ("" if dry_run else " (recorded in reading_archives)"))
