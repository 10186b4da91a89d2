"""``onemap dangers``: the hidden-danger closed loop from the command line (escalation).

Mounted by ``api/cli.py`` as ``app.add_typer(dangers_app, name="dangers")``.
Runs as the owner role (the maintenance path); history rows and audit rows
name the actor ``system``.

Examples::

    onemap dangers escalate                      # today, schedule from ONEMAP_ESCALATION_*
    onemap dangers escalate --today 2026-12-31 --json
    onemap dangers watch --interval 3600         # a service: escalate every hour

Bad options exit with code 2 and one line on stderr naming the option; nothing is written.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date
from typing import Annotated

import typer

from api.cli_common import fail as _fail
from api.cli_common import owner_engine as _engine

__all__ = ["dangers_app"]

dangers_app = typer.Typer(help="Hidden dangers (隐患): escalation of overdue dangers.", no_args_is_help=True,
                          add_completion=False)


@dangers_app.callback()
def _group() -> None:
    """Hidden dangers (隐患排查治理)."""


def _schedule(city_after: int | None, province_after: int | None):
    from pydantic import ValidationError

    from workflows.hidden_dangers import EscalationSchedule

    given = {k: v for k, v in (("city_after_days", city_after), ("province_after_days", province_after))
             if v is not None}
    try:
        return EscalationSchedule(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).replace("_", "-") if err["loc"] else "schedule"
        raise _fail(f"{name}: {err['msg']}") from None


@dangers_app.command("escalate")
def escalate(
    today: Annotated[str | None, typer.Option(metavar="YYYY-MM-DD", help="the day deadlines are judged by "
                                                                          "(default: the database's today)")] = None,
    city_after: Annotated[int | None, typer.Option(help="days past the deadline before the city supervises "
                                                        "(default ONEMAP_ESCALATION_CITY_AFTER_DAYS or 1)")] = None,
    province_after: Annotated[int | None, typer.Option(
        help="days past the deadline before the province supervises "
             "(default ONEMAP_ESCALATION_PROVINCE_AFTER_DAYS or 30)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
) -> None:
    """Raise the supervising level of overdue open dangers (county → city → province); idempotent."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workflows.maintenance import escalation_pass

    try:
        day = None if today is None else date.fromisoformat(today)
    except ValueError:
        raise _fail(f"today: not a date YYYY-MM-DD: {today!r}") from None
    schedule = _schedule(city_after, province_after)
    engine = _engine()
    try:
        with Progress(TextColumn("[bold]escalating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), disable=as_json, transient=True) as bar:
            task = bar.add_task("escalate", total=None)
            summary = escalation_pass(engine, today=day, schedule=schedule,
                                      progress=lambda done, total: bar.update(task, completed=done, total=total))
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps({**summary.as_dict(), "city_after_days": schedule.city_after_days,
                               "province_after_days": schedule.province_after_days}))
        return
    typer.echo(summary.as_text())
    typer.echo(f"schedule: city after {schedule.city_after_days} day(s) overdue, "
               f"province after {schedule.province_after_days}")


@dangers_app.command("watch")
def watch(interval: Annotated[float, typer.Option(min=60, max=86_400, help="seconds between passes")] = 3600.0
          ) -> None:
    """Escalate overdue dangers now and every INTERVAL seconds (a service)."""
    import logging

    from workflows.maintenance import run_forever

    engine = _engine()
    try:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        with contextlib.suppress(KeyboardInterrupt):
            run_forever(engine, interval_s=interval)
    finally:
        engine.dispose()
