"""Retention of readings: every archived and dropped day recorded, append-only and audited.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23

``onemap telemetry prune`` (``telemetry/retention.py``) archives the daily
``readings`` partitions older than the kept window to gzip CSV files and drops
them, and does the same for old rows that landed in ``readings_default``.
Each step is one row of ``reading_archives``, written in the same transaction
as the drop: which partition (or ``readings_default`` and the cut-off), the
day, how many rows, and the archive's path, size and SHA-256, so an archive
found later can be checked against the record; or no archive at all when the
operator chose ``--no-archive``. Who did it comes from ``onemap.actor`` (the
CLI sets it) or the database user.

Rows are never updated or deleted (triggers refuse), and the hash-chained
audit log records each insert. Row-level security: the owner role (the CLI's
maintenance path, like the ingest worker) writes; admin and province users
read.
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ROLE = "NULLIF(current_setting('onemap.role', true), '')"

SCHEMA = """
CREATE TABLE reading_archives (
  id bigserial PRIMARY KEY,
  partition_name text NOT NULL CHECK (partition_name ~ '^readings_(p[0-9]{8}|default)$'),
  day date,
  before timestamptz NOT NULL,
  rows bigint NOT NULL CHECK (rows >= 0),
  archive_path text CHECK (length(archive_path) BETWEEN 1 AND 4096),
  archive_bytes bigint CHECK (archive_bytes >= 0),
  archive_sha256 text CHECK (archive_sha256 ~ '^[0-9a-f]{64}$'),
  actor text NOT NULL DEFAULT coalesce(NULLIF(current_setting('onemap.actor', true), ''), current_user),
  at timestamptz NOT NULL DEFAULT now(),
  CHECK ((archive_path IS NULL) = (archive_sha256 IS NULL) AND (archive_path IS NULL) = (archive_bytes IS NULL)),
  CHECK ((partition_name = 'readings_default') = (day IS NULL))
);
CREATE INDEX reading_archives_day ON reading_archives (day);
CREATE TRIGGER reading_archives_append_only BEFORE UPDATE OR DELETE ON reading_archives
  FOR EACH ROW EXECUTE FUNCTION onemap_append_only();
CREATE TRIGGER reading_archives_audit_insert AFTER INSERT ON reading_archives
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_insert('id');
CREATE TRIGGER reading_archives_audit_truncate AFTER TRUNCATE ON reading_archives
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate();
ALTER TABLE reading_archives ENABLE ROW LEVEL SECURITY;
ALTER TABLE reading_archives FORCE ROW LEVEL SECURITY;
"""


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    op.execute(SCHEMA)
    op.execute(f"CREATE POLICY reading_archives_owner_maintenance ON reading_archives TO {owner} "
               f"USING (true) WITH CHECK (true)")
    op.execute(f"CREATE POLICY reading_archives_read ON reading_archives FOR SELECT TO {app_role} "
               f"USING ({_ROLE} IN ('admin', 'province'))")
    op.execute(f"GRANT SELECT ON reading_archives TO {app_role}")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS reading_archives")
