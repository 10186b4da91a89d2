"""A data version for the rights of users, announced on the change feed.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23

Every statement that adds or removes a user, or changes a user's username,
role, jurisdiction, enterprise or status, bumps ``data_versions['users']``
and sends one summary notification ``{"t": "users", "k": "user.bulk", "n",
"v", "p": false, "a": []}`` on ``onemap_events``. The app caches "this token's
user still holds these rights" per version (``api.auth``): a disabled or
re-scoped user's token stops working as soon as the notification arrives,
without a database round trip on every request. The summary names no place
and is not public, so no Server-Sent Events subscriber ever receives it.

Login bookkeeping (``failed_logins``, ``locked_until``) and password changes
do not touch the version: they do not change what a token may see.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION onemap_users_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  ver bigint;
BEGIN
  INSERT INTO data_versions AS dv (table_name, version, changed_at) VALUES ('users', 1, now())
    ON CONFLICT (table_name) DO UPDATE SET version = dv.version + 1, changed_at = now()
    RETURNING dv.version INTO ver;
  -- the feed knows INSERT and UPDATE; a removed user is a change of rights like any other
  PERFORM pg_notify('onemap_events', jsonb_build_object('t', 'users',
    'op', CASE TG_OP WHEN 'INSERT' THEN 'INSERT' ELSE 'UPDATE' END,
    'n', 0, 'v', ver, 'k', 'user.bulk', 'p', false, 'a', '[]'::jsonb)::text);
  RETURN NULL;
END $$;
REVOKE EXECUTE ON FUNCTION onemap_users_changed() FROM PUBLIC;
INSERT INTO data_versions (table_name) VALUES ('users') ON CONFLICT DO NOTHING;
CREATE TRIGGER users_rights_changed
  AFTER INSERT OR DELETE OR UPDATE OF username, role, jurisdiction, enterprise_id, status ON users
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_users_changed();
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS users_rights_changed ON users")
    op.execute("DROP FUNCTION IF EXISTS onemap_users_changed()")
    op.execute("DELETE FROM data_versions WHERE table_name = 'users'")
