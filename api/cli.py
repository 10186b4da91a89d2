"""The ``onemap`` command line (typer).

Bad input exits with code 2 and one line on stderr naming the field and the
reason; nothing is changed.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from api.cli_common import ensure_database as _ensure_database
from api.cli_common import fail as _fail

app = typer.Typer(help="OneMap: one map for work-safety and emergency-management regulators.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database: local PostGIS cluster and migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data (Zhejiang, synthetic registry).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
user_app = typer.Typer(help="Users and their jurisdictions.", no_args_is_help=True)
app.add_typer(user_app, name="user")

try:  # the plume command group lives in its own module
    from api.plume_cli import plume_app
except ImportError:  # pragma: no cover - while plume is being built
    plume_app = None
if plume_app is not None:
    app.add_typer(plume_app, name="plume", help="Chemical release scenarios (Gaussian plume/puff).")

from api.credit_cli import credit_app  # noqa: E402
from api.dangers_cli import dangers_app  # noqa: E402
from api.hazards_cli import hazards_app  # noqa: E402  (command groups in their own modules)
from api.inspections_cli import inspections_app  # noqa: E402
from api.risk_cli import risk_app  # noqa: E402
from api.telemetry_cli import telemetry_app  # noqa: E402

app.add_typer(hazards_app, name="hazards", help="GB 18218 major-hazard identification and grading.")
app.add_typer(risk_app, name="risk")
app.add_typer(dangers_app, name="dangers", help="Hidden dangers (隐患): escalation of overdue dangers.")
app.add_typer(credit_app, name="credit", help="Enterprise credit (诚信管理) and the blacklist (严重失信主体名单).")
app.add_typer(inspections_app, name="inspections", help="Double-random inspections (双随机): re-run a recorded draw.")
app.add_typer(telemetry_app, name="telemetry", help="Telemetry: MQTT broker, ingest worker, simulator.")




def _settings():
    from geo.settings import get_settings

    return get_settings()


@db_app.command("up")
def db_up() -> None:
    """Initialise and start the local PostgreSQL + PostGIS on 127.0.0.1 (idempotent)."""
    settings = _settings()
    if not settings.uses_local_cluster:
        typer.echo("DATABASE_URL is set: using that PostGIS, no local cluster started.")
        return
    _ensure_database()
    typer.echo(f"PostGIS running on 127.0.0.1:{settings.pg_port} (data: {settings.state_path / 'pg'})")


@db_app.command("down")
def db_down() -> None:
    """Stop the local cluster."""
    from geo.pgcluster import LocalCluster

    settings = _settings()
    if not settings.uses_local_cluster:
        typer.echo("DATABASE_URL is set: no local cluster to stop.")
        return
    stopped = LocalCluster(settings).down()
    typer.echo("stopped" if stopped else "not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the database in use is reachable (exit 1 when not)."""
    from geo.pgcluster import LocalCluster

    settings = _settings()
    if settings.uses_local_cluster:
        state = LocalCluster(settings).status()
        typer.echo(f"local cluster: {state} (127.0.0.1:{settings.pg_port})")
        if state != "running":
            raise typer.Exit(1)
    else:
        from sqlalchemy import text

        from geo.db import make_engine, owner_url

        engine = make_engine(owner_url(settings))
        try:
            with engine.connect() as conn:
                version = conn.execute(text("SELECT postgis_full_version()")).scalar()
            typer.echo(f"external database reachable: {version.split(' ')[0:2]}")
        except Exception as exc:
            raise _fail(f"database: not reachable ({exc.__class__.__name__})", 1) from None
        finally:
            engine.dispose()


@db_app.command("url")
def db_url() -> None:
    """Print the SQLAlchemy URL of the database in use (owner role), nothing else."""
    from geo.db import owner_url

    typer.echo(owner_url(_settings()).render_as_string(hide_password=False))


@db_app.command("migrate")
def db_migrate(revision: Annotated[str, typer.Option(help="target revision")] = "head") -> None:
    """Apply the Alembic migrations (as the owner role)."""
    from geo.db import owner_url
    from geo.migrate import upgrade

    settings = _ensure_database()
    upgrade(owner_url(settings), revision=revision, app_role=settings.app_role)
    typer.echo(f"database at revision {revision}")


@demo_app.command("load")
def demo_load(
    enterprises: Annotated[int, typer.Option(min=0, max=500_000, help="number of enterprises")] = 20_000,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same data)")] = 20261123,
    keep_existing: Annotated[bool, typer.Option(
        help="do nothing when a synthetic registry of this size is already loaded")] = False,
) -> None:
    """Load Zhejiang regions and a synthetic registry (replaces earlier synthetic data)."""
    from data.demo import DemoRefused, demo_present, load_demo
    from geo.db import make_engine, owner_url
    from geo.migrate import upgrade

    settings = _ensure_database()
    url = owner_url(settings)
    upgrade(url, app_role=settings.app_role)
    engine = make_engine(url)
    try:
        if keep_existing and demo_present(engine, n_enterprises=enterprises):
            typer.echo(f"demo already loaded ({enterprises:,} synthetic enterprises): kept")
            if not _demo_derived(engine):
                _derive_demo(engine)
            else:
                _complete_workflow_demo(engine, seed)
            return
        summary = load_demo(engine, n_enterprises=enterprises, seed=seed, progress=True)
        typer.echo(summary.as_text())
        _derive_demo(engine)
    except DemoRefused as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()


def _demo_derived(engine) -> bool:
    """Whether the demo's assessments, risk surface and colours have been computed."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM risk_surface) AND "
                                      "EXISTS (SELECT 1 FROM enterprises WHERE risk_colour IS NOT NULL)")).scalar())


def _complete_workflow_demo(engine, seed: int) -> None:
    """A demo loaded before the workflows existed (migrations 0010–0012) gets their demo rows once."""
    from sqlalchemy import text

    from data.demo import add_demo_accident_reports
    from data.demo_inspections import add_demo_inspections
    from workflows.maintenance import credit_pass

    with engine.connect() as conn:
        accidents, inspectors, scores = conn.execute(text(
            "SELECT EXISTS (SELECT 1 FROM accident_reports), EXISTS (SELECT 1 FROM inspectors), "
            "EXISTS (SELECT 1 FROM credit_scores)")).one()
    if not accidents:
        with engine.begin() as conn:
            typer.echo(f"accident quick reports: {add_demo_accident_reports(conn, seed)} added")
    if not scores:
        typer.echo(credit_pass(engine).as_text())
    if not inspectors:
        ins = add_demo_inspections(engine)
        typer.echo(f"double-random inspections: {ins['inspectors']:,} inspectors, {ins['tasks']} tasks")


def _derive_demo(engine) -> None:
    """What regulators see derived from the registry: GB 18218 grades, enterprise records,
    the individual-risk surface and the four-colour risk, in that order (each reads the last)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from data.demo_records import add_demo_records
    from layers import risk
    from layers.enterprise_risk import score_enterprises
    from layers.hazard_records import assess_all

    typer.echo(assess_all(engine, progress=True).as_text())
    records = add_demo_records(engine)
    typer.echo(f"enterprise records (accidents, enforcement, credit): {sum(records.values()):,}")
    from workflows.maintenance import credit_pass

    credit = credit_pass(engine)  # grades and the blacklist; writes the credit records the colours read
    typer.echo(credit.as_text())
    with Progress(TextColumn("[bold]risk surface"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task("risk", total=None)
        s = risk.rebuild(engine, progress=lambda _stage, done, total: bar.update(task, completed=done, total=total))
    typer.echo(f"individual-risk surface: {s.units} toxic major hazard units, {s.cells_base:,} cells at res 9 "
               f"({s.cells:,} with roll-ups) in {s.seconds:.1f} s; {len(s.skipped)} toxic inventories without "
               "a verified probit skipped")
    with engine.begin() as conn:
        c = score_enterprises(conn)
    typer.echo("four-colour risk: " + ", ".join(f"{k} {v:,}" for k, v in sorted(c.colours.items())))
    from data.demo_inspections import add_demo_inspections

    ins = add_demo_inspections(engine)
    typer.echo(f"double-random inspections: {ins['inspectors']:,} inspectors on county rosters, "
               f"{ins['draws']} running draw of {ins['tasks']} tasks")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit chain; exit 1 and name the first broken row if it was changed."""
    from geo.audit import verify_chain
    from geo.db import libpq_dsn, owner_url

    settings = _ensure_database()
    report = verify_chain(libpq_dsn(owner_url(settings)))
    if report.ok:
        typer.echo(f"audit chain intact: {report.rows:,} rows; head seq {report.head_seq} hash {report.head_hash}")
        return
    typer.echo(f"audit chain BROKEN at seq {report.broken_seq}: {report.reason} "
               f"(last good seq {report.head_seq})", err=True)
    raise typer.Exit(1)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="login name: 3-64 of a-z 0-9 _ . -")],
    password: Annotated[str, typer.Option(help="8-256 characters")],
    role: Annotated[str, typer.Option(help="admin, province, city, county, enterprise or public")],
    adcode: Annotated[str, typer.Option(help="6-digit region code: 330000, 330200, 330106")],
    enterprise: Annotated[str | None, typer.Option(help="USCC of the enterprise (enterprise users)")] = None,
    display_name: Annotated[str | None, typer.Option(help="name shown in the UI")] = None,
) -> None:
    """Create a user (as the owner role); the jurisdiction is derived from ADCODE and ROLE."""
    from geo.db import make_engine, owner_url
    from geo.errors import InvalidInput
    from geo.users import create_user

    settings = _ensure_database()
    engine = make_engine(owner_url(settings))
    try:
        with engine.begin() as conn:
            uid = create_user(conn, username=username, password=password, role=role, adcode=adcode,
                              enterprise_uscc=enterprise, display_name=display_name)
    except InvalidInput as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()
    typer.echo(f"user {username} (id {uid}) created")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    maintain: Annotated[bool | None, typer.Option(
        help="also run the maintenance loops (assessments, risk surface, colours; escalation of overdue "
             "hidden dangers) in threads; default: on with the local development cluster, off otherwise "
             "(run `onemap risk watch` and `onemap dangers watch`)")] = None,
) -> None:
    """Run the HTTP API (and, later, the web map)."""
    import threading

    import uvicorn

    from api.app import create_app

    try:
        _settings().check_deployable()
    except ValueError as exc:
        raise _fail(str(exc)) from None
    settings = _ensure_database()
    stop = threading.Event()
    if maintain if maintain is not None else settings.uses_local_cluster:
        from geo.db import libpq_dsn, make_engine, owner_url
        from layers.risk_maintenance import run_forever
        from workflows.maintenance import run_forever as escalate_forever

        url = owner_url(settings)
        threading.Thread(target=run_forever, args=(make_engine(url),),
                         kwargs={"stop": stop, "dsn": libpq_dsn(url)}, name="onemap-maintenance",
                         daemon=True).start()
        threading.Thread(target=escalate_forever, args=(make_engine(url),), kwargs={"stop": stop},
                         name="onemap-escalation", daemon=True).start()
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info", loop="uvloop", http="httptools")
    finally:
        stop.set()


@app.command("bench")
def bench(
    name: Annotated[str, typer.Argument(help="benchmark: demo-load, plume, tiles or risk")] = "demo-load",
) -> None:
    """Run a benchmark script from benchmarks/ (prints one JSON object)."""
    import runpy
    from pathlib import Path

    scripts = {"demo-load": "demo_load_bench.py", "plume": "plume_bench.py", "tiles": "tiles_bench.py",
               "risk": "risk_bench.py"}
    if name not in scripts:
        raise _fail(f"name: unknown benchmark {name!r}; choose one of {', '.join(scripts)}")
    path = Path(__file__).resolve().parent.parent / "benchmarks" / scripts[name]
    if not path.exists():
        raise _fail(f"name: {path} is not in this installation (run from a source checkout)")
    sys.argv = [str(path)]
    runpy.run_path(str(path), run_name="__main__")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
