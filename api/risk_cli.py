"""``onemap risk``: the individual-risk surface (rebuild, update, status) and, from
:mod:`api.enterprise_risk_cli`, the four-colour enterprise risk (``colours``).

Bad input exits with code 2 and one line on stderr naming the field and the
reason; nothing is written.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated

import typer

from api.cli_common import fail as _fail
from api.cli_common import owner_engine as _engine

__all__ = ["risk_app"]

risk_app = typer.Typer(help="Risk: H3 individual-risk surface (GB 36894) and four-colour enterprise risk.",
                       no_args_is_help=True, add_completion=False)






def _config(res: int, wind_rose: str | None):
    from geo.errors import InvalidInput
    from layers.risk_model import load_config

    try:
        return load_config(res=res, wind_rose=wind_rose)
    except InvalidInput as exc:
        raise _fail(str(exc)) from None


@risk_app.command("rebuild")
def rebuild(
    res: Annotated[int, typer.Option(min=5, max=11, help="H3 resolution of the surface")] = 9,
    workers: Annotated[int | None, typer.Option(min=1, max=64,
                                                help="run on a Dask LocalCluster of N worker processes")] = None,
    scheduler: Annotated[str | None, typer.Option(help="address of a Dask distributed scheduler, "
                                                       "e.g. tcp://10.0.0.5:8786")] = None,
    wind_rose: Annotated[str | None, typer.Option(help="sector probabilities 'p0,p1,...' (wind FROM, first "
                                                       "centred on north, clockwise); default uniform, or "
                                                       "ONEMAP_RISK_WIND_ROSE")] = None,
) -> None:
    """Recompute the whole individual-risk surface (toxic releases of major hazard units)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from layers import risk

    config = _config(res, wind_rose)
    engine = _engine()
    try:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn()) as bar:
            task = bar.add_task("toxic sources", total=None)

            def progress(stage: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            s = risk.rebuild(engine, config=config, workers=workers, scheduler=scheduler, progress=progress)
    finally:
        engine.dispose()
    typer.echo(json.dumps({"units": s.units, "sources": s.sources, "cells": s.cells, "cells_base": s.cells_base,
                           "enterprises_fn": s.enterprises, "skipped": len(s.skipped),
                           "seconds": round(s.seconds, 2), "cells_per_second": round(s.cells_per_second),
                           "timings": {k: round(v, 3) for k, v in s.timings.items()}}, ensure_ascii=False))


@risk_app.command("update")
def update(limit: Annotated[int, typer.Option(min=1, max=100_000, help="units per run")] = 500) -> None:
    """Update the surface for the hazard units changed since the last rebuild or update."""
    from layers import risk

    engine = _engine()
    try:
        s = risk.update_pending(engine, limit=limit)
    finally:
        engine.dispose()
    typer.echo(json.dumps({"units": s.units, "cells_changed": s.cells_changed, "seconds": round(s.seconds, 3),
                           "rebuilt": s.rebuilt}))


@risk_app.command("status")
def status() -> None:
    """How the surface was built, and how many units wait for an update."""
    from sqlalchemy import text

    engine = _engine()
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT res, config_hash, built_at, units, cells, seconds, "
                                    "jsonb_array_length(skipped) FROM risk_surface WHERE id = 1")).first()
            pending = conn.execute(text("SELECT count(*) FROM risk_queue")).scalar()
    finally:
        engine.dispose()
    if row is None:
        typer.echo(json.dumps({"built": False, "pending_units": pending}))
        return
    typer.echo(json.dumps({"built": True, "res": row[0], "config_hash": row[1], "built_at": row[2].isoformat(),
                           "units": row[3], "cells": row[4], "seconds": round(row[5], 2), "skipped": row[6],
                           "pending_units": pending}))


@risk_app.command("watch")
def watch(interval: Annotated[float, typer.Option(min=1, max=3600, help="seconds between passes")] = 30.0,
          once: Annotated[bool, typer.Option(help="one pass, then exit")] = False) -> None:
    """Keep assessments, the risk surface and the colours in step with edits (a service)."""
    import logging

    from geo.db import libpq_dsn, owner_url
    from geo.settings import get_settings
    from layers.risk_maintenance import run_forever, run_once

    engine = _engine()
    try:
        if once:
            s = run_once(engine, rescore_all=True)
            typer.echo(json.dumps({"assessed": s.assessed, "risk_units": s.risk_units,
                                   "cells_changed": s.cells_changed, "enterprises_rescored": s.enterprises_rescored,
                                   "colours_changed": s.colours_changed, "seconds": round(s.seconds, 3)}))
            return
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        with contextlib.suppress(KeyboardInterrupt):
            run_forever(engine, interval_s=interval, dsn=libpq_dsn(owner_url(get_settings())))
    finally:
        engine.dispose()


try:  # four-colour enterprise risk: `onemap risk colours`
    from api.enterprise_risk_cli import enterprise_risk_app
except ImportError:  # pragma: no cover
    enterprise_risk_app = None
if enterprise_risk_app is not None:
    risk_app.registered_commands.extend(enterprise_risk_app.registered_commands)
