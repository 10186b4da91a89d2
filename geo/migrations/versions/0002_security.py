"""Security: row-level security by jurisdiction, hash-chained audit log, public flag.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Request context (set per transaction with ``set_config(name, value, true)``,
see ``geo/context.py``):

``onemap.role``          admin | province | city | county | enterprise | public
``onemap.jurisdiction``  adcode prefix: '33', '3302', '330211'
``onemap.enterprise_id`` the enterprise of an enterprise user
``onemap.actor``         who is acting (user name), for the audit log
``onemap.request_id``    the HTTP request id, for the audit log

A transaction without context sees nothing: ``starts_with(x, NULL)`` is NULL.
After an earlier ``SET LOCAL`` the setting reads back as '' (not NULL) on the
same connection, hence ``NULLIF(…, '')`` everywhere (RELIABILITY.md).

Every table with a policy has ``FORCE ROW LEVEL SECURITY``; the owner role gets
an explicit permissive maintenance policy (migrations, bulk loads), the app
role only the jurisdiction policy.
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PLACED = ["enterprises", "hazard_units", "hidden_dangers", "protection_targets",
          "rescue_teams", "supply_depots", "sensors"]
AUDITED = {  # table -> key column
    "regions": "adcode", "enterprises": "id", "hazard_units": "id", "hazard_unit_inventory": "id",
    "hidden_dangers": "id", "protection_targets": "id", "rescue_teams": "id", "supply_depots": "id",
    "depot_stock": "id", "sensors": "id", "users": "id",
}
# table -> the visibility expression of a row (columns of that table)
VISIBLE = {
    "enterprises": "onemap_visible(adcode, id, is_public)",
    "hazard_units": "onemap_visible(adcode, enterprise_id, is_public)",
    "hidden_dangers": "onemap_visible(adcode, enterprise_id, is_public)",
    "protection_targets": "onemap_visible(adcode, NULL, is_public)",
    "rescue_teams": "onemap_visible(adcode, NULL, is_public)",
    "supply_depots": "onemap_visible(adcode, NULL, is_public)",
    "sensors": ("onemap_visible(adcode, (SELECT h.enterprise_id FROM hazard_units h "
                "WHERE h.id = sensors.hazard_unit_id), is_public)"),
    # children follow their parent (whose own policy applies inside the subquery)
    "hazard_unit_inventory": "EXISTS (SELECT 1 FROM hazard_units h WHERE h.id = hazard_unit_inventory.hazard_unit_id)",
    "depot_stock": "EXISTS (SELECT 1 FROM supply_depots d WHERE d.id = depot_stock.depot_id)",
    "users": ("id = NULLIF(current_setting('onemap.user_id', true), '')::bigint OR "
              "(NULLIF(current_setting('onemap.role', true), '') = 'admin' AND "
              "starts_with(jurisdiction, NULLIF(current_setting('onemap.jurisdiction', true), '')))"),
}

FUNCTIONS = r"""
CREATE FUNCTION onemap_visible(p_adcode text, p_enterprise bigint, p_public boolean) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE NULLIF(current_setting('onemap.role', true), '')
    WHEN 'public' THEN coalesce(p_public, false)
    -- an enterprise user: its own rows on enterprise-linked tables, public rows elsewhere
    WHEN 'enterprise' THEN CASE WHEN p_enterprise IS NULL THEN coalesce(p_public, false)
         ELSE coalesce(p_enterprise = NULLIF(current_setting('onemap.enterprise_id', true), '')::bigint, false) END
    ELSE coalesce(starts_with(p_adcode, NULLIF(current_setting('onemap.jurisdiction', true), '')), false)
  END
$$;

CREATE TABLE audit_log (
  seq bigint PRIMARY KEY,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  request_id text,
  table_name text NOT NULL,
  row_key text,
  op text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'TRUNCATE')),
  before jsonb,
  after jsonb,
  prev_hash bytea,
  hash bytea NOT NULL
);
CREATE INDEX audit_log_row_idx ON audit_log (table_name, row_key);

-- The text every hash covers. Times enter as epoch microseconds (TimeZone-independent);
-- jsonb renders with its keys in a fixed order.
CREATE FUNCTION onemap_audit_payload(p_seq bigint, p_at timestamptz, p_actor text, p_request text,
    p_table text, p_key text, p_op text, p_before jsonb, p_after jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT convert_to(concat_ws(E'\x1f', p_seq::text,
      (extract(epoch FROM p_at) * 1000000)::bigint::text, p_actor, coalesce(p_request, ''), p_table,
      coalesce(p_key, ''), p_op, coalesce(p_before::text, ''), coalesce(p_after::text, '')), 'UTF8')
$$;

CREATE FUNCTION onemap_audit_append(p_table text, p_op text, p_rows jsonb[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
-- p_rows: pairs [key, before, after] flattened as jsonb arrays
DECLARE
  last_seq bigint;
  last_hash bytea;
  now_at timestamptz := now();
  who text := coalesce(NULLIF(current_setting('onemap.actor', true), ''), session_user::text);
  req text := NULLIF(current_setting('onemap.request_id', true), '');
  item jsonb;
  b jsonb;
  a jsonb;
  h bytea;
BEGIN
  -- one writer at a time, so the chain never forks (RELIABILITY.md)
  PERFORM pg_advisory_xact_lock(7245001);
  SELECT seq, hash INTO last_seq, last_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
  last_seq := coalesce(last_seq, 0);
  FOREACH item IN ARRAY p_rows LOOP
    last_seq := last_seq + 1;
    b := NULLIF(item->1, 'null'::jsonb);
    a := NULLIF(item->2, 'null'::jsonb);
    h := sha256(coalesce(last_hash, ''::bytea) || onemap_audit_payload(last_seq, now_at, who, req, p_table,
          item->>0, p_op, b, a));
    INSERT INTO audit_log (seq, at, actor, request_id, table_name, row_key, op, before, after, prev_hash, hash)
    VALUES (last_seq, now_at, who, req, p_table, item->>0, p_op, b, a, last_hash, h);
    last_hash := h;
  END LOOP;
END $$;

CREATE FUNCTION onemap_audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM onemap_audit_append(TG_TABLE_NAME, 'INSERT', ARRAY(
    SELECT jsonb_build_array(to_jsonb(n)->>TG_ARGV[0], NULL, to_jsonb(n)) FROM new_rows n));
  RETURN NULL;
END $$;

CREATE FUNCTION onemap_audit_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM onemap_audit_append(TG_TABLE_NAME, 'UPDATE', ARRAY(
    SELECT jsonb_build_array(n.k, o.j, n.j)
    FROM (SELECT to_jsonb(x) j, to_jsonb(x)->>TG_ARGV[0] k FROM new_rows x) n
    JOIN (SELECT to_jsonb(x) j, to_jsonb(x)->>TG_ARGV[0] k FROM old_rows x) o USING (k)
    WHERE o.j IS DISTINCT FROM n.j));
  RETURN NULL;
END $$;

CREATE FUNCTION onemap_audit_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM onemap_audit_append(TG_TABLE_NAME, 'TRUNCATE', ARRAY[jsonb_build_array(NULL, NULL, NULL)]);
  RETURN NULL;
END $$;

CREATE FUNCTION onemap_audit_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'OMA01';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION onemap_audit_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_immutable();

-- Login needs the user row before any context exists: a narrow definer function.
CREATE FUNCTION onemap_login_lookup(p_username text)
RETURNS TABLE (id bigint, username text, password_hash text, role text, jurisdiction text,
               enterprise_id bigint, status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT u.id, u.username, u.password_hash, u.role, u.jurisdiction, u.enterprise_id, u.status
  FROM users u WHERE u.username = p_username
$$;
"""


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    for table in PLACED:
        op.execute(f"ALTER TABLE {table} ADD COLUMN is_public boolean NOT NULL DEFAULT false")
    op.execute(FUNCTIONS)
    for table, key in AUDITED.items():
        op.execute(f"CREATE TRIGGER {table}_audit_insert AFTER INSERT ON {table} "
                   f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION onemap_audit_insert('{key}')")
        op.execute(f"CREATE TRIGGER {table}_audit_update AFTER UPDATE ON {table} "
                   f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION onemap_audit_update('{key}')")
        op.execute(f"CREATE TRIGGER {table}_audit_truncate AFTER TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate()")
    for table, expr in VISIBLE.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_owner_maintenance ON {table} TO {owner} USING (true) WITH CHECK (true)")
        op.execute(f"CREATE POLICY {table}_jurisdiction ON {table} TO {app_role} USING ({expr}) WITH CHECK ({expr})")
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_login_lookup(text) TO {app_role}")
    op.execute("REVOKE ALL ON audit_log FROM PUBLIC")
    op.execute("REVOKE EXECUTE ON FUNCTION onemap_audit_append(text, text, jsonb[]) FROM PUBLIC")
    # the audit triggers run as the writer; only the definer function touches audit_log
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_audit_append(text, text, jsonb[]) TO {app_role}")


def downgrade() -> None:
    for table in VISIBLE:
        op.execute(f"DROP POLICY IF EXISTS {table}_jurisdiction ON {table}")
        op.execute(f"DROP POLICY IF EXISTS {table}_owner_maintenance ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in AUDITED:
        for suffix in ("insert", "update", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_audit_{suffix} ON {table}")
    op.execute("DROP TABLE IF EXISTS audit_log")
    for fn in ("onemap_login_lookup(text)", "onemap_audit_immutable()", "onemap_audit_truncate()",
               "onemap_audit_update()", "onemap_audit_insert()", "onemap_audit_append(text, text, jsonb[])",
               "onemap_audit_payload(bigint, timestamptz, text, text, text, text, text, jsonb, jsonb)",
               "onemap_visible(text, bigint, boolean)"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    for table in PLACED:
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS is_public")
