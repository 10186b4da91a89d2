"""Role names for migrations, quoted once here (every migration grants to the app role or the owner).

Kept small and stable: migrations import it, so what it returns must never
change for an existing migration.
"""

from __future__ import annotations

import re

from alembic import op

__all__ = ["quote", "app", "owner"]


def quote(ident: str) -> str:
    """``"ident"`` for a plain lower-case identifier; ValueError for anything else."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", ident):
        raise ValueError(f"role name {ident!r} is not a plain lower-case identifier")
    return f'"{ident}"'


def app() -> str:
    """The app role (``-x app_role=…`` / the migration config; ``onemap_app`` by default), quoted."""
    return quote(op.get_context().config.attributes.get("app_role", "onemap_app"))


def owner() -> str:
    """The role running the migration (it owns what it creates), quoted."""
    return quote(op.get_bind().exec_driver_sql("SELECT current_user").scalar())
