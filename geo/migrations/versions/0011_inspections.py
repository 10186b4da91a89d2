"""Double-random inspections (双随机一公开) and their findings.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23

Placeholder in the chain while the workflow is built; filled in by its change.
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
