"""Live change events (LISTEN/NOTIFY on ``onemap_events``) and per-table data versions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Every INSERT or UPDATE statement on a tracked table bumps that table's row in
``data_versions`` (visible at commit, like the data: a cache keyed on the
version never holds rows older than its key) and sends notifications that
``geo/events.py`` fans out to Server-Sent Events subscribers.

Statement-level AFTER triggers with transition tables (like the audit
triggers), named ``<table>_events_insert|update`` so that they fire after the
``<table>_audit_*`` triggers: the audit advisory lock is always taken before the
``data_versions`` row lock, so concurrent writers cannot deadlock on the two.

Payload (compact JSON, always well under NOTIFY's 8000 bytes):

* up to 50 rows: one notification per row
  ``{"t", "op", "id", "a", "e", "p", "k", "v", "d"}`` — table, INSERT|UPDATE,
  row key, county adcode, enterprise id (or null), public flag (the three
  arguments ``onemap_visible`` takes for that row), kind, the table's new
  version, display fields (name/title truncated to 120 characters, status,
  risk_colour, level where the table has them);
* more rows: one summary ``{"t", "op", "n", "v", "k": "<entity>.bulk", "p",
  "a": [distinct county adcodes]}``; over 300 counties the list is coarsened
  to 4-digit city prefixes (then 2-digit province prefixes).

Kinds use the singular entity name: ``hidden_danger.created``,
``hidden_danger.status_changed``, ``enterprise.risk_colour_changed``,
``<entity>.deleted`` (``valid_to`` set from NULL), else ``<entity>.created`` /
``<entity>.updated``; ``<entity>.bulk`` for summaries.
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# table -> (singular entity name used in kinds, key column)
TRACKED = {
    "enterprises": ("enterprise", "id"),
    "hazard_units": ("hazard_unit", "id"),
    "hazard_unit_inventory": ("hazard_unit_inventory", "id"),
    "hidden_dangers": ("hidden_danger", "id"),
    "protection_targets": ("protection_target", "id"),
    "rescue_teams": ("rescue_team", "id"),
    "supply_depots": ("supply_depot", "id"),
    "depot_stock": ("depot_stock", "id"),
    "sensors": ("sensor", "id"),
    "scenarios": ("scenario", "id"),
    "regions": ("region", "adcode"),
}
ROW_LIMIT = 50  # statements touching more rows send one summary
ADCODE_LIMIT = 300

FUNCTIONS = r"""
CREATE TABLE data_versions (
  table_name text PRIMARY KEY,
  version bigint NOT NULL DEFAULT 0,
  changed_at timestamptz
);

-- Where a row lies and who may see it: the arguments onemap_visible() takes for it.
-- Children without a place take it from their parent (inventory -> hazard unit,
-- stock -> depot); sensors take their enterprise from their hazard unit; regions are public.
CREATE FUNCTION onemap_events_place(p_table text, j jsonb, OUT adcode text, OUT enterprise_id bigint,
    OUT is_public boolean)
LANGUAGE plpgsql STABLE SET search_path = public, pg_temp AS $$
BEGIN
  CASE p_table
  WHEN 'hazard_unit_inventory' THEN
    SELECT h.adcode, h.enterprise_id, h.is_public INTO adcode, enterprise_id, is_public
      FROM hazard_units h WHERE h.id = (j->>'hazard_unit_id')::bigint;
  WHEN 'depot_stock' THEN
    SELECT d.adcode, NULL, d.is_public INTO adcode, enterprise_id, is_public
      FROM supply_depots d WHERE d.id = (j->>'depot_id')::bigint;
  WHEN 'sensors' THEN
    adcode := j->>'adcode';
    is_public := (j->>'is_public')::boolean;
    SELECT h.enterprise_id INTO enterprise_id FROM hazard_units h WHERE h.id = (j->>'hazard_unit_id')::bigint;
  WHEN 'enterprises' THEN
    adcode := j->>'adcode';
    enterprise_id := (j->>'id')::bigint;
    is_public := (j->>'is_public')::boolean;
  WHEN 'regions' THEN
    adcode := j->>'adcode';
    is_public := true;
  ELSE
    adcode := j->>'adcode';
    enterprise_id := (j->>'enterprise_id')::bigint;
    is_public := (j->>'is_public')::boolean;
  END CASE;
  is_public := coalesce(is_public, false);
END $$;

-- The notification text for one row (n: new row, o: old row or NULL on INSERT).
CREATE FUNCTION onemap_events_row_payload(p_table text, p_entity text, p_key text, p_op text,
    p_version bigint, n jsonb, o jsonb) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = public, pg_temp AS $$
DECLARE
  place record;
  kind text;
  display jsonb;
  payload jsonb;
BEGIN
  SELECT * INTO place FROM onemap_events_place(p_table, n);
  IF p_op = 'INSERT' THEN
    kind := p_entity || '.created';
  ELSIF o IS NOT NULL AND o->>'valid_to' IS NULL AND n->>'valid_to' IS NOT NULL THEN
    kind := p_entity || '.deleted';
  ELSIF p_table = 'hidden_dangers' AND o IS NOT NULL AND o->>'status' IS DISTINCT FROM n->>'status' THEN
    kind := 'hidden_danger.status_changed';
  ELSIF p_table = 'enterprises' AND o IS NOT NULL AND o->>'risk_colour' IS DISTINCT FROM n->>'risk_colour' THEN
    kind := 'enterprise.risk_colour_changed';
  ELSE
    kind := p_entity || '.updated';
  END IF;
  display := jsonb_strip_nulls(jsonb_build_object(
    'name', left(coalesce(n->>'name', n->>'code', n->>'chemical', n->>'item'), 120),
    'title', left(n->>'title', 120),
    'status', left(n->>'status', 40),
    'risk_colour', left(n->>'risk_colour', 40),
    'level', left(n->>'level', 40)));
  payload := jsonb_build_object('t', p_table, 'op', p_op, 'id', n->p_key, 'a', place.adcode,
    'e', place.enterprise_id, 'p', place.is_public, 'k', kind, 'v', p_version, 'd', display);
  IF octet_length(payload::text) > 7000 THEN  -- cannot happen with the limits above; never fail a write
    payload := payload - 'd';
  END IF;
  RETURN payload::text;
END $$;

-- The trigger: TG_ARGV[0] entity name for kinds, TG_ARGV[1] key column.
CREATE FUNCTION onemap_events_emit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  entity text := TG_ARGV[0];
  keycol text := TG_ARGV[1];
  n bigint;
  ver bigint;
  codes text[];
  pub boolean;
  r record;
BEGIN
  SELECT count(*) INTO n FROM new_rows;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  INSERT INTO data_versions AS dv (table_name, version, changed_at) VALUES (TG_TABLE_NAME, 1, now())
    ON CONFLICT (table_name) DO UPDATE SET version = dv.version + 1, changed_at = now()
    RETURNING dv.version INTO ver;

  IF n > ROW_LIMIT THEN
    -- one summary; static column references per table keep this cheap on 100k-row loads
    IF TG_TABLE_NAME = 'hazard_unit_inventory' THEN
      SELECT array_agg(DISTINCT h.adcode), bool_or(h.is_public) INTO codes, pub
        FROM new_rows x JOIN hazard_units h ON h.id = x.hazard_unit_id;
    ELSIF TG_TABLE_NAME = 'depot_stock' THEN
      SELECT array_agg(DISTINCT d.adcode), bool_or(d.is_public) INTO codes, pub
        FROM new_rows x JOIN supply_depots d ON d.id = x.depot_id;
    ELSIF TG_TABLE_NAME = 'regions' THEN
      SELECT array_agg(DISTINCT x.adcode), true INTO codes, pub FROM new_rows x;
    ELSE
      SELECT array_agg(DISTINCT x.adcode), bool_or(x.is_public) INTO codes, pub FROM new_rows x;
    END IF;
    codes := coalesce(codes, '{}');
    IF cardinality(codes) > ADCODE_LIMIT THEN
      codes := ARRAY(SELECT DISTINCT left(c, 4) FROM unnest(codes) c ORDER BY 1);
    END IF;
    IF cardinality(codes) > ADCODE_LIMIT THEN
      codes := ARRAY(SELECT DISTINCT left(c, 2) FROM unnest(codes) c ORDER BY 1);
    END IF;
    PERFORM pg_notify('onemap_events', jsonb_build_object('t', TG_TABLE_NAME, 'op', TG_OP, 'n', n,
      'v', ver, 'k', entity || '.bulk', 'p', coalesce(pub, false), 'a', to_jsonb(codes))::text);
    RETURN NULL;
  END IF;

  IF TG_OP = 'INSERT' THEN
    FOR r IN SELECT s.j FROM (SELECT to_jsonb(x) AS j FROM new_rows x) s ORDER BY s.j->keycol LOOP
      PERFORM pg_notify('onemap_events',
        onemap_events_row_payload(TG_TABLE_NAME, entity, keycol, TG_OP, ver, r.j, NULL));
    END LOOP;
  ELSE
    FOR r IN
      SELECT nr.j, orow.j AS oj
      FROM (SELECT to_jsonb(x) AS j FROM new_rows x) nr
      LEFT JOIN (SELECT to_jsonb(x) AS j FROM old_rows x) orow ON orow.j->keycol = nr.j->keycol
      ORDER BY nr.j->keycol
    LOOP
      PERFORM pg_notify('onemap_events',
        onemap_events_row_payload(TG_TABLE_NAME, entity, keycol, TG_OP, ver, r.j, r.oj));
    END LOOP;
  END IF;
  RETURN NULL;
END $$;
""".replace("ROW_LIMIT", str(ROW_LIMIT)).replace("ADCODE_LIMIT", str(ADCODE_LIMIT))

HELPERS = ["onemap_events_place(text, jsonb)",
           "onemap_events_row_payload(text, text, text, text, bigint, jsonb, jsonb)"]


def upgrade() -> None:
    app_role = roles.app()
    op.execute(FUNCTIONS)
    values = ", ".join(f"('{table}')" for table in TRACKED)
    op.execute(f"INSERT INTO data_versions (table_name) VALUES {values}")
    for table, (entity, key) in TRACKED.items():
        op.execute(f"CREATE TRIGGER {table}_events_insert AFTER INSERT ON {table} "
                   f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION onemap_events_emit('{entity}', '{key}')")
        op.execute(f"CREATE TRIGGER {table}_events_update AFTER UPDATE ON {table} "
                   f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION onemap_events_emit('{entity}', '{key}')")
    op.execute("REVOKE ALL ON data_versions FROM PUBLIC")
    op.execute(f"GRANT SELECT ON data_versions TO {app_role}")
    # the helpers run inside the definer function only
    for fn in HELPERS:
        op.execute(f"REVOKE EXECUTE ON FUNCTION {fn} FROM PUBLIC")
    op.execute("REVOKE EXECUTE ON FUNCTION onemap_events_emit() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_events_emit() TO {app_role}")


def downgrade() -> None:
    for table in TRACKED:
        for suffix in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_events_{suffix} ON {table}")
    for fn in ("onemap_events_emit()", *reversed(HELPERS)):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("DROP TABLE IF EXISTS data_versions")
