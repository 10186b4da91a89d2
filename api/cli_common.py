"""What every ``onemap`` command group shares: the one-line failure and the owner engine."""

from __future__ import annotations

import typer

__all__ = ["fail", "ensure_database", "owner_engine"]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; the caller raises the returned Exit (2: bad input)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def ensure_database():
    """The settings, after starting the local cluster when it is the one in use (exit 1 with its
    error when it cannot)."""
    from geo.errors import ClusterError
    from geo.pgcluster import LocalCluster
    from geo.settings import get_settings

    settings = get_settings()
    if settings.uses_local_cluster:
        try:
            LocalCluster(settings).up()
        except ClusterError as exc:
            raise fail(str(exc), 1) from None
    return settings


def owner_engine():
    """An engine on the database in use, as the owner role (see :func:`ensure_database`)."""
    from geo.db import make_engine, owner_url

    return make_engine(owner_url(ensure_database()))
