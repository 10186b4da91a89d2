"""``onemap hazards``: GB 18218-2018 identification and grading stored in the database.

Mounted by ``api/cli.py`` as ``app.add_typer(hazards_app, name="hazards")``.
Runs as the owner role (the maintenance view: every protection target counts
towards the people within 500 m).

Examples::

    onemap hazards assess            # drain the queue of units whose inputs changed
    onemap hazards assess --all      # recompute every active unit (progress bar)
    onemap hazards assess --json     # the summary as one JSON object

Bad options exit with code 2 and one line on stderr naming the option.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.cli_common import fail as _fail
from api.cli_common import owner_engine as _owner_engine

__all__ = ["hazards_app"]

hazards_app = typer.Typer(help="GB 18218-2018 major-hazard identification and grading (stored, with history).",
                          no_args_is_help=True, add_completion=False)


@hazards_app.callback()
def _group() -> None:
    """GB 18218-2018 major-hazard identification and grading."""






@hazards_app.command("assess")
def assess(
    all_units: Annotated[bool, typer.Option("--all", help="recompute every active unit, not only queued ones")]
    = False,
    limit: Annotated[str | None, typer.Option(help="at most this many queued units (oldest first)")] = None,
    batch: Annotated[str, typer.Option(help="units per transaction with --all (100-50000)")] = "2000",
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
) -> None:
    """Assess hazard units and store S, R, grade and a history row each; print a summary."""
    from layers.hazard_records import assess_all, assess_pending

    try:
        size = int(batch)
    except ValueError:
        raise _fail(f"batch: must be a whole number, got {batch!r}") from None
    if not 100 <= size <= 50_000:
        raise _fail(f"batch: must be between 100 and 50000, got {size}")
    n: int | None = None
    if limit is not None:
        if all_units:
            raise _fail("limit: only applies to the queue; leave it out with --all")
        try:
            n = int(limit)
        except ValueError:
            raise _fail(f"limit: must be a whole number, got {limit!r}") from None
        if n < 1:
            raise _fail(f"limit: must be at least 1, got {n}")
    engine = _owner_engine()
    try:
        if all_units:
            summary = assess_all(engine, batch=size, progress=not as_json)
        else:
            with engine.begin() as conn:
                summary = assess_pending(conn, limit=n, batch=size)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps({"scope": "all" if all_units else "queue", **summary.as_dict()}, ensure_ascii=False))
    else:
        typer.echo(summary.as_text())
