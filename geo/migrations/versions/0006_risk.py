"""Risk: stored GB 18218 assessments with history, the H3 individual-risk surface,
societal risk, and the four-colour enterprise risk.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

* ``hazard_unit_inventory.category``: the GB 18218 Table 2/4 hazard-category
  symbols of a chemical (``W5.3`` or ``J3,W2``), needed to grade Table 1
  chemicals that are not Table 3 toxic gases and to identify unlisted ones.
* ``hazard_units.alpha`` / ``assessment_note``: α used and why a unit could not
  be fully graded (e.g. a category is missing).
* ``hazard_assessments``: every stored assessment (append-only, audited), with
  the inputs it used and the per-chemical contributions.
* ``hazard_assessment_queue`` / ``risk_queue``: units whose assessment or risk
  contribution is stale. Filled by triggers (inventory changed, unit moved or
  changed, a protection target within 500 m changed), drained by
  ``layers.hazard_records`` / ``layers.risk`` (``onemap hazards assess``,
  ``onemap risk update``).
* ``risk_cells``: the individual-risk surface, one row per H3 cell and
  resolution. Risk is kept as an integer count of 1e-15 per year
  (``ir_fe15``) so that sums over units are exact and independent of order:
  an incremental update equals a full rebuild bit for bit.
* ``risk_units``: the inputs each unit's stored contribution was computed
  from (to subtract it exactly later), and its reach.
* ``risk_surface``: one row describing the surface (resolution, weather,
  wind rose, configuration hash, when built).
* ``societal_risk``: F–N curve per enterprise with the GB 36894 verdict.
* ``population_cells``: an optional imported population surface (H3 res 9);
  residents not already counted as protection targets.
* ``enterprises.risk_score`` / ``risk_factors`` / ``risk_assessed_at``:
  the four-colour score and its top contributing factors.
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = r"""
ALTER TABLE hazard_unit_inventory ADD COLUMN category text
  CHECK (category IS NULL OR category ~ '^[JW][0-9]+(\.[0-9]+)?(,[JW][0-9]+(\.[0-9]+)?)*$');
ALTER TABLE hazard_units ADD COLUMN alpha double precision CHECK (alpha IN (0.5, 1.0, 1.2, 1.5, 2.0));
ALTER TABLE hazard_units ADD COLUMN assessment_note text;

ALTER TABLE enterprises ADD COLUMN risk_score double precision CHECK (risk_score = risk_score);
ALTER TABLE enterprises ADD COLUMN risk_factors jsonb;
ALTER TABLE enterprises ADD COLUMN risk_assessed_at timestamptz;

CREATE TABLE hazard_assessments (
  id bigserial PRIMARY KEY,
  hazard_unit_id bigint NOT NULL REFERENCES hazard_units (id),
  assessed_at timestamptz NOT NULL DEFAULT now(),
  standard text NOT NULL,
  s double precision CHECK (s >= 0),
  r double precision CHECK (r >= 0),
  grade smallint CHECK (grade BETWEEN 1 AND 4),
  is_major boolean,
  alpha double precision,
  exposed_people_500m integer CHECK (exposed_people_500m >= 0),
  contributions jsonb NOT NULL DEFAULT '[]',
  inputs jsonb NOT NULL,
  note text,
  reason text NOT NULL,
  actor text NOT NULL DEFAULT coalesce(NULLIF(current_setting('onemap.actor', true), ''), current_user)
);
CREATE INDEX hazard_assessments_unit_idx ON hazard_assessments (hazard_unit_id, assessed_at DESC);

CREATE TABLE hazard_assessment_queue (
  hazard_unit_id bigint PRIMARY KEY REFERENCES hazard_units (id),
  reason text NOT NULL,
  queued_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE risk_queue (
  hazard_unit_id bigint PRIMARY KEY REFERENCES hazard_units (id),
  reason text NOT NULL,
  queued_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE risk_cells (
  res smallint NOT NULL CHECK (res BETWEEN 0 AND 15),
  h3 bigint NOT NULL,
  ir_fe15 bigint NOT NULL CHECK (ir_fe15 >= 0),
  individual_risk double precision GENERATED ALWAYS AS (ir_fe15 * 1e-15) STORED,
  population double precision NOT NULL DEFAULT 0 CHECK (population >= 0),
  hazard_units integer NOT NULL DEFAULT 0,
  open_dangers integer NOT NULL DEFAULT 0,
  active_alarms integer NOT NULL DEFAULT 0,
  adcode text REFERENCES regions (adcode),
  updated_at timestamptz NOT NULL DEFAULT now(),
  geom geometry(Polygon, 4326) NOT NULL,
  PRIMARY KEY (res, h3)
);
CREATE INDEX risk_cells_geom_gist ON risk_cells USING gist (geom);
CREATE INDEX risk_cells_adcode_idx ON risk_cells (adcode text_pattern_ops);

CREATE TABLE risk_units (
  hazard_unit_id bigint PRIMARY KEY REFERENCES hazard_units (id),
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  inputs jsonb NOT NULL,
  reach_m double precision NOT NULL,
  cells integer NOT NULL,
  max_ir double precision NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE risk_surface (
  id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  res smallint NOT NULL,
  config jsonb NOT NULL,
  config_hash text NOT NULL,
  built_at timestamptz NOT NULL DEFAULT now(),
  units integer NOT NULL,
  cells integer NOT NULL,
  seconds double precision NOT NULL,
  skipped jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE societal_risk (
  enterprise_id bigint PRIMARY KEY REFERENCES enterprises (id),
  adcode text NOT NULL REFERENCES regions (adcode),
  fn jsonb NOT NULL,
  max_n double precision NOT NULL,
  verdict text NOT NULL CHECK (verdict IN ('acceptable', 'alarp', 'unacceptable')),
  computed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE population_cells (
  h3 bigint PRIMARY KEY,
  population double precision NOT NULL CHECK (population >= 0),
  source text NOT NULL
);

-- Queue a unit for reassessment and for its risk contribution.
CREATE FUNCTION onemap_queue_units(p_ids bigint[], p_reason text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  INSERT INTO hazard_assessment_queue (hazard_unit_id, reason)
    SELECT DISTINCT unnest(p_ids), p_reason
    ON CONFLICT (hazard_unit_id) DO UPDATE SET reason = EXCLUDED.reason, queued_at = now();
  INSERT INTO risk_queue (hazard_unit_id, reason)
    SELECT DISTINCT unnest(p_ids), p_reason
    ON CONFLICT (hazard_unit_id) DO UPDATE SET reason = EXCLUDED.reason, queued_at = now();
$$;

CREATE FUNCTION onemap_queue_from_inventory() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM onemap_queue_units(ARRAY(SELECT hazard_unit_id FROM new_rows), 'inventory');
  ELSE
    PERFORM onemap_queue_units(ARRAY(SELECT hazard_unit_id FROM new_rows
                                     UNION SELECT hazard_unit_id FROM old_rows), 'inventory');
  END IF;
  RETURN NULL;
END $$;

-- A unit moved, was decommissioned or changed kind: reassess it (not when only its
-- assessment columns changed, which is what the assessment itself writes).
CREATE FUNCTION onemap_queue_from_units() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM onemap_queue_units(ARRAY(SELECT id FROM new_rows), 'unit');
  ELSE
    PERFORM onemap_queue_units(ARRAY(
      SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE NOT ST_Equals(n.geom, o.geom) OR n.status IS DISTINCT FROM o.status
         OR n.valid_to IS DISTINCT FROM o.valid_to OR n.kind IS DISTINCT FROM o.kind
         OR n.enterprise_id IS DISTINCT FROM o.enterprise_id), 'unit');
  END IF;
  RETURN NULL;
END $$;

-- People within 500 m changed: units within 500 m of a changed target's old or new place.
-- (0.01 degrees is more than 500 m anywhere in China: the index prefilter.)
CREATE FUNCTION onemap_queue_from_targets() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM onemap_queue_units(ARRAY(
      SELECT h.id FROM new_rows t JOIN hazard_units h
        ON ST_DWithin(h.geom, t.geom, 0.01) AND ST_DWithin(h.geom::geography, t.geom::geography, 500)
      WHERE h.valid_to IS NULL), 'protection_target');
  ELSE
    PERFORM onemap_queue_units(ARRAY(
      SELECT h.id FROM (
        SELECT n.geom FROM new_rows n JOIN old_rows o ON o.id = n.id
          WHERE NOT ST_Equals(n.geom, o.geom) OR n.population IS DISTINCT FROM o.population
             OR n.valid_to IS DISTINCT FROM o.valid_to OR n.category IS DISTINCT FROM o.category
        UNION ALL
        SELECT o.geom FROM new_rows n JOIN old_rows o ON o.id = n.id
          WHERE NOT ST_Equals(n.geom, o.geom)) t
      JOIN hazard_units h ON ST_DWithin(h.geom, t.geom, 0.01) AND ST_DWithin(h.geom::geography, t.geom::geography, 500)
      WHERE h.valid_to IS NULL), 'protection_target');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER hazard_unit_inventory_queue_insert AFTER INSERT ON hazard_unit_inventory
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_queue_from_inventory();
CREATE TRIGGER hazard_unit_inventory_queue_update AFTER UPDATE ON hazard_unit_inventory
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_queue_from_inventory();
CREATE TRIGGER hazard_units_queue_insert AFTER INSERT ON hazard_units
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_queue_from_units();
CREATE TRIGGER hazard_units_queue_update AFTER UPDATE ON hazard_units
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_queue_from_units();
CREATE TRIGGER protection_targets_queue_insert AFTER INSERT ON protection_targets
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_queue_from_targets();
CREATE TRIGGER protection_targets_queue_update AFTER UPDATE ON protection_targets
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_queue_from_targets();

INSERT INTO data_versions (table_name) VALUES ('risk_cells'), ('societal_risk');
"""

# New tables the app role reads (writes come from maintenance jobs run by the owner,
# except assessments, which a writer's own edit may store in its transaction).
READ = {
    "hazard_assessments": "EXISTS (SELECT 1 FROM hazard_units h WHERE h.id = hazard_assessments.hazard_unit_id)",
    "risk_cells": "adcode IS NOT NULL AND onemap_visible(adcode, NULL, false)",
    "risk_units": "EXISTS (SELECT 1 FROM hazard_units h WHERE h.id = risk_units.hazard_unit_id)",
    "societal_risk": "onemap_visible(adcode, enterprise_id, false)",
}
INSERT = {
    "hazard_assessments": ("EXISTS (SELECT 1 FROM hazard_units h WHERE h.id = hazard_assessments.hazard_unit_id "
                           "AND onemap_may_write(h.adcode, h.enterprise_id))"),
}
AUDITED = {"hazard_assessments": "id", "societal_risk": "enterprise_id"}


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    op.execute(SCHEMA)
    for table, key in AUDITED.items():
        op.execute(f"CREATE TRIGGER {table}_audit_insert AFTER INSERT ON {table} "
                   f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION onemap_audit_insert('{key}')")
        op.execute(f"CREATE TRIGGER {table}_audit_update AFTER UPDATE ON {table} "
                   f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION onemap_audit_update('{key}')")
    op.execute("CREATE TRIGGER hazard_assessments_no_update BEFORE UPDATE OR DELETE ON hazard_assessments "
               "FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete()")
    for table, read in READ.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_owner_maintenance ON {table} TO {owner} USING (true) WITH CHECK (true)")
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT TO {app_role} USING ({read})")
        op.execute(f"GRANT SELECT ON {table} TO {app_role}")
    for table, check in INSERT.items():
        op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT TO {app_role} WITH CHECK ({check})")
        op.execute(f"GRANT INSERT ON {table} TO {app_role}")
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {app_role}")
    op.execute(f"GRANT SELECT ON risk_surface TO {app_role}")
    # the queues are written by definer triggers and read/drained by the writer's edit
    for table in ("hazard_assessment_queue", "risk_queue"):
        op.execute(f"GRANT SELECT, DELETE ON {table} TO {app_role}")
    for fn in ("onemap_queue_units(bigint[], text)", "onemap_queue_from_inventory()",
               "onemap_queue_from_units()", "onemap_queue_from_targets()"):
        op.execute(f"REVOKE EXECUTE ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {app_role}")


def downgrade() -> None:
    for trig, table in (("hazard_unit_inventory_queue_insert", "hazard_unit_inventory"),
                        ("hazard_unit_inventory_queue_update", "hazard_unit_inventory"),
                        ("hazard_units_queue_insert", "hazard_units"),
                        ("hazard_units_queue_update", "hazard_units"),
                        ("protection_targets_queue_insert", "protection_targets"),
                        ("protection_targets_queue_update", "protection_targets")):
        op.execute(f"DROP TRIGGER IF EXISTS {trig} ON {table}")
    for fn in ("onemap_queue_from_targets()", "onemap_queue_from_units()", "onemap_queue_from_inventory()",
               "onemap_queue_units(bigint[], text)"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("DELETE FROM data_versions WHERE table_name IN ('risk_cells', 'societal_risk')")
    for table in ("population_cells", "societal_risk", "risk_surface", "risk_units", "risk_cells",
                  "risk_queue", "hazard_assessment_queue", "hazard_assessments"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    for col in ("risk_assessed_at", "risk_factors", "risk_score"):
        op.execute(f"ALTER TABLE enterprises DROP COLUMN IF EXISTS {col}")
    for col in ("assessment_note", "alpha"):
        op.execute(f"ALTER TABLE hazard_units DROP COLUMN IF EXISTS {col}")
    op.execute("ALTER TABLE hazard_unit_inventory DROP COLUMN IF EXISTS category")
