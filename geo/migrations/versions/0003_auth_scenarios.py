"""Login throttling and saved release scenarios.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQL = r"""
ALTER TABLE users ADD COLUMN failed_logins integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0);
ALTER TABLE users ADD COLUMN locked_until timestamptz;

-- Count a login attempt for an existing user (SECURITY DEFINER: no context exists yet).
-- Five failures in a row lock the account for 15 minutes; a success resets the count.
CREATE FUNCTION onemap_login_attempt(p_username text, p_success boolean) RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  until timestamptz;
BEGIN
  PERFORM set_config('onemap.actor', 'login:' || p_username, true);
  IF p_success THEN
    UPDATE users SET failed_logins = 0, locked_until = NULL
     WHERE username = p_username AND (failed_logins <> 0 OR locked_until IS NOT NULL);
    RETURN NULL;
  END IF;
  UPDATE users SET failed_logins = failed_logins + 1,
                   locked_until = CASE WHEN failed_logins + 1 >= 5 THEN now() + interval '15 minutes'
                                       ELSE locked_until END
   WHERE username = p_username RETURNING locked_until INTO until;
  RETURN until;
END $$;

DROP FUNCTION onemap_login_lookup(text);
CREATE FUNCTION onemap_login_lookup(p_username text)
RETURNS TABLE (id bigint, username text, password_hash text, role text, jurisdiction text,
               enterprise_id bigint, status text, locked_until timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT u.id, u.username, u.password_hash, u.role, u.jurisdiction, u.enterprise_id, u.status, u.locked_until
  FROM users u WHERE u.username = p_username
$$;

CREATE TABLE scenarios (
  id bigserial PRIMARY KEY,
  title text,
  chemical text NOT NULL,
  params jsonb NOT NULL,
  result jsonb NOT NULL,
  impact jsonb NOT NULL,
  warnings jsonb NOT NULL DEFAULT '[]',
  created_by text NOT NULL,
  adcode text NOT NULL REFERENCES regions (adcode),
  is_public boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
  valid_to timestamptz,
  geom geometry(Point, 4326) NOT NULL CHECK (onemap_in_china(geom)),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CHECK ((status = 'archived') = (valid_to IS NOT NULL))
);
CREATE INDEX scenarios_geom_gist ON scenarios USING gist (geom);
CREATE INDEX scenarios_adcode_idx ON scenarios (adcode text_pattern_ops);
CREATE TRIGGER scenarios_adcode BEFORE INSERT OR UPDATE OF geom, adcode ON scenarios
  FOR EACH ROW EXECUTE FUNCTION onemap_set_adcode();
CREATE TRIGGER scenarios_touch BEFORE UPDATE ON scenarios FOR EACH ROW EXECUTE FUNCTION onemap_touch();
CREATE TRIGGER scenarios_no_delete BEFORE DELETE ON scenarios FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete();
CREATE TRIGGER scenarios_audit_insert AFTER INSERT ON scenarios REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_insert('id');
CREATE TRIGGER scenarios_audit_update AFTER UPDATE ON scenarios REFERENCING OLD TABLE AS old_rows
  NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_update('id');
CREATE TRIGGER scenarios_audit_truncate AFTER TRUNCATE ON scenarios
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate();
ALTER TABLE scenarios ENABLE ROW LEVEL SECURITY;
ALTER TABLE scenarios FORCE ROW LEVEL SECURITY;
"""


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    op.execute(SQL)
    op.execute(f"CREATE POLICY scenarios_owner_maintenance ON scenarios TO {owner} USING (true) WITH CHECK (true)")
    expr = "onemap_visible(adcode, NULL, is_public)"
    op.execute(f"CREATE POLICY scenarios_jurisdiction ON scenarios TO {app_role} USING ({expr}) WITH CHECK ({expr})")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON scenarios TO {app_role}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE scenarios_id_seq TO {app_role}")
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_login_lookup(text) TO {app_role}")
    op.execute("REVOKE EXECUTE ON FUNCTION onemap_login_attempt(text, boolean) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_login_attempt(text, boolean) TO {app_role}")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS scenarios")
    op.execute("DROP FUNCTION IF EXISTS onemap_login_attempt(text, boolean)")
    op.execute("DROP FUNCTION IF EXISTS onemap_login_lookup(text)")
    op.execute("""
CREATE FUNCTION onemap_login_lookup(p_username text)
RETURNS TABLE (id bigint, username text, password_hash text, role text, jurisdiction text,
               enterprise_id bigint, status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT u.id, u.username, u.password_hash, u.role, u.jurisdiction, u.enterprise_id, u.status
  FROM users u WHERE u.username = p_username
$$""")
    app_role = roles.app()
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_login_lookup(text) TO {app_role}")
    op.execute("ALTER TABLE users DROP COLUMN IF EXISTS locked_until")
    op.execute("ALTER TABLE users DROP COLUMN IF EXISTS failed_logins")
