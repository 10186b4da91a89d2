"""``colours``: recompute the four-colour risk of every enterprise from the command line.

A typer app for ``api/cli.py`` to mount (e.g. ``app.add_typer(enterprise_risk_app, name="risk")``
gives ``onemap risk colours``). Runs as the owner role in one transaction;
only enterprises whose assessment changed are written (audited, announced on
``/events``). Bad input (an unreadable or invalid rule table, a bad date)
exits with code 2 and one line on stderr naming the field and the reason;
nothing is written.

Example::

    onemap risk colours                       # default rule table, today
    onemap risk colours --rules my_rules.csv --today 2026-12-31 --dry-run
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from api.cli_common import fail as _fail
from api.cli_common import owner_engine as _engine

__all__ = ["enterprise_risk_app"]

enterprise_risk_app = typer.Typer(help="Four-colour enterprise risk (红橙黄蓝).", no_args_is_help=True,
                                  add_completion=False)

_ACTOR = "onemap risk colours"
_STYLE = {"red": "bold red", "orange": "bold dark_orange", "yellow": "bold yellow", "blue": "bold blue"}


@enterprise_risk_app.callback()
def _group() -> None:
    """Four-colour enterprise risk."""






@enterprise_risk_app.command("colours")
def colours(
    rules: Annotated[Path | None, typer.Option(help="rule table CSV (default: data/enterprise_risk_rules.csv)")]
    = None,
    today: Annotated[str | None, typer.Option(metavar="YYYY-MM-DD",
                                              help="the day to judge deadlines and record windows by")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="compute and report, write nothing")] = False,
) -> None:
    """Recompute every current enterprise's colour, score and factors; store the ones that changed."""
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import text

    from geo.errors import InvalidInput
    from layers.enterprise_risk import COLOURS, load_rules, score_enterprises

    try:
        day = None if today is None else date.fromisoformat(today)
    except ValueError:
        raise _fail(f"today: not a date YYYY-MM-DD: {today!r}") from None
    try:
        rule_table = load_rules(rules)
    except InvalidInput as exc:
        raise _fail(str(exc)) from None

    err = Console(stderr=True)
    engine = _engine()
    try:
        with err.status("gathering factors …") as status, engine.begin() as conn:
            conn.execute(text("SELECT set_config('onemap.actor', :a, true)"), {"a": _ACTOR})
            steps = {"gather": "gathering factors …", "score": "scoring …", "write": "writing changes …"}
            summary = score_enterprises(conn, rules=rule_table, today=day, dry_run=dry_run,
                                        progress=lambda phase: status.update(steps[phase]))
    finally:
        engine.dispose()

    out = Console()
    verb = "would change" if dry_run else "changed"
    grid = Table(title="Enterprise risk colours")
    grid.add_column("colour")
    grid.add_column("enterprises", justify="right")
    for c in COLOURS:
        grid.add_row(f"[{_STYLE[c]}]{c}[/]", f"{summary.colours.get(c, 0):,}")
    out.print(grid)
    out.print(f"rules: {summary.rules}")
    out.print(f"assessed {summary.assessed:,}; {verb} {summary.changed:,} "
              f"({summary.colour_changes:,} colour changes) in {summary.seconds['total']:.1f} s")
    for move, n in summary.transitions.items():
        out.print(f"  {move}: {n:,}")
    for note in summary.notes:
        out.print(f"note: {note}")
