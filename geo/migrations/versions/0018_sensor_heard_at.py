"""When a sensor was last heard from, whatever the age of what it sent.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23

``sensor_latest.received_at`` moves only with a reading newer than the stored
one, so a site replaying its buffer (readings older than its newest) looked
silent and its sensors went offline while data was arriving. ``heard_at`` is
the arrival time of the latest batch holding any reading of the sensor,
newer or older, duplicates included: the link is alive. The offline rule
(``telemetry/alarms.py``) judges by it.
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE sensor_latest ADD COLUMN heard_at timestamptz")
    op.execute("UPDATE sensor_latest SET heard_at = received_at")
    op.execute("ALTER TABLE sensor_latest ALTER COLUMN heard_at SET NOT NULL")
    op.execute("ALTER TABLE sensor_latest ALTER COLUMN heard_at SET DEFAULT now()")  # a row written by hand: heard now


def downgrade() -> None:
    op.execute("ALTER TABLE sensor_latest DROP COLUMN IF EXISTS heard_at")
