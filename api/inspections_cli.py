"""``onemap inspections``: double-random inspections (双随机) from the command line.

Mounted by ``api/cli.py`` as ``app.add_typer(inspections_app, name="inspections")``.
Runs as the owner role (reads every draw); it writes nothing.

Examples::

    onemap inspections redraw --id 12          # re-run draw 12 from its recorded inputs
    onemap inspections redraw --id 12 --json

``redraw`` prints the recorded and the recomputed result (``[[seq, enterprise,
stratum, [inspectors]], ...]``) with their SHA-256 and exits 0 when they are
identical, 1 with the differences otherwise; 2 for bad options or an unknown draw.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.cli_common import fail as _fail
from api.cli_common import owner_engine as _engine

__all__ = ["inspections_app"]

inspections_app = typer.Typer(help="Double-random inspections (双随机): re-run a recorded draw.",
                              no_args_is_help=True, add_completion=False)


@inspections_app.callback()
def _group() -> None:
    """Double-random inspections (双随机、一公开)."""


@inspections_app.command("redraw")
def redraw(
    draw_id: Annotated[int, typer.Option("--id", min=1, max=2**63 - 1, help="the draw to re-run")],
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as one JSON object")] = False,
) -> None:
    """Re-run draw ID from its recorded inputs; exit 0 when it gives the recorded result, 1 otherwise."""
    from geo.errors import NotFound
    from workflows.inspections import verify_draw

    engine = _engine()
    try:
        with engine.connect() as conn:
            try:
                report = verify_draw(conn, draw_id=draw_id)
            except NotFound:
                raise _fail(f"id: no inspection draw {draw_id}") from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        typer.echo(f"draw {draw_id}: algorithm {report['algorithm']}, seed {report['seed']}")
        typer.echo(f"recorded   {report['result_sha256']}  {report['stored']}")
        typer.echo(f"recomputed {report['recomputed_sha256']}  {report['recomputed']}")
        if report["error"]:
            typer.echo(f"error: {report['error']}")
        for d in report["differences"]:
            where = "task count" if d["seq"] is None else f"seq {d['seq']}"
            typer.echo(f"differs at {where}: recorded {d['stored']}, recomputed {d['recomputed']}")
        typer.echo("identical: the draw is reproduced" if report["matches"] else "DIFFERENT: the draw is not "
                                                                                  "reproduced")
    if not report["matches"]:
        raise typer.Exit(1)
