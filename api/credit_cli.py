"""``onemap credit``: enterprise credit and the blacklist from the command line.

Mounted by ``api/cli.py`` as ``app.add_typer(credit_app, name="credit")``.
Runs as the owner role (the maintenance path): listings, removals and audit
rows name the actor ``system``.

Examples::

    onemap credit recompute                          # every current enterprise, today, default rules
    onemap credit recompute --as-of 2026-12-31 --dry-run --json
    onemap credit rules --rules my_rules.csv         # validate a rule table and print it

Bad options (an unreadable or invalid rule table, a bad date) exit with code 2
and one line on stderr naming the field and the reason; nothing is written.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from api.cli_common import fail as _fail
from api.cli_common import owner_engine as _engine

__all__ = ["credit_app"]

credit_app = typer.Typer(help="Enterprise credit (诚信管理) and the blacklist (严重失信主体名单).",
                         no_args_is_help=True, add_completion=False)

_RULES_HELP = "rule table CSV (default: data/credit_rules.csv)"


@credit_app.callback()
def _group() -> None:
    """Enterprise credit and the blacklist."""


def _rules(path: Path | None):
    from geo.errors import InvalidInput
    from workflows.credit_rules import load_rules

    try:
        return load_rules(path)
    except InvalidInput as exc:
        raise _fail(str(exc)) from None


@credit_app.command("recompute")
def recompute_cmd(
    rules: Annotated[Path | None, typer.Option(help=_RULES_HELP)] = None,
    as_of: Annotated[str | None, typer.Option(metavar="YYYY-MM-DD", help="the day to judge windows and deadlines "
                                                                         "by (default: the database's today)")]
    = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="compute and report, write nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
) -> None:
    """Recompute every current enterprise's credit score and grade, list and (removal = auto) remove."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from geo.errors import InvalidInput
    from workflows.maintenance import credit_pass

    try:
        day = None if as_of is None else date.fromisoformat(as_of)
    except ValueError:
        raise _fail(f"as_of: not a date YYYY-MM-DD: {as_of!r}") from None
    table = _rules(rules)
    engine = _engine()
    try:
        with Progress(TextColumn("[bold]{task.description:<8}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=Console(stderr=True), disable=as_json, transient=True) as bar:
            task = bar.add_task("credit", total=None)

            def progress(phase: str, done: int, total: int) -> None:
                bar.update(task, description=phase, completed=done, total=total or None)

            summary = credit_pass(engine, rules=table, as_of=day, dry_run=dry_run, progress=progress)
    except InvalidInput as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
        return
    typer.echo(summary.as_text())


@credit_app.command("rules")
def rules_cmd(rules: Annotated[Path | None, typer.Option(help=_RULES_HELP)] = None) -> None:
    """Validate a rule table and print it (Markdown)."""
    from workflows.credit_rules import rules_markdown

    table = _rules(rules)
    typer.echo(f"{table.version}: valid")
    typer.echo(rules_markdown(table))
