"""Enterprise credit and blacklist (诚信管理 / 黑名单).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23

Placeholder in the chain while the workflow is built; filled in by its change.
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
