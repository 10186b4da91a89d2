"""Leave room on risk_cells pages so incremental risk updates are HOT updates.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

An incremental update of the risk surface (layers/risk.py) rewrites the risk of
tens of thousands of cells in place; only ``ir_fe15`` and ``updated_at``
change, neither indexed. With full pages every new row version lands on
another page and must be added to all three indexes (the GiST one is the
costly one); with 30 % free space PostgreSQL keeps it on the same page as a
heap-only tuple and leaves the indexes alone. Applies to pages written after
this (the next rebuild rewrites them all).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE risk_cells SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE risk_cells RESET (fillfactor)")
