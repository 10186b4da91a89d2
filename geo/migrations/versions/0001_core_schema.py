"""Core schema: regions, registry entities, adcode trigger, USCC check, soft deletion.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Frozen: vocabularies are written out here on purpose (``geo/vocab.py`` may
grow; a later migration changes the CHECKs).
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Tables that carry a place: adcode derived by trigger, never trusted from input.
PLACED = ["enterprises", "hazard_units", "hidden_dangers", "protection_targets",
          "rescue_teams", "supply_depots", "sensors"]
# Registry tables in creation order (drop in reverse).
TABLES = ["regions", "region_parts", "enterprises", "hazard_units", "hazard_unit_inventory",
          "hidden_dangers", "protection_targets", "rescue_teams", "supply_depots",
          "depot_stock", "sensors", "users"]
NO_DELETE = [t for t in TABLES if t != "region_parts"]
READ_ONLY_FOR_APP = ["regions", "region_parts"]


def _in(values: str) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values.split()) + ")"


FUNCTIONS = r"""
CREATE FUNCTION onemap_uscc_valid(code text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
-- GB 32100-2015: 18 chars, check char = (31 - sum(Ci * 3^i mod 31) mod 31) mod 31
DECLARE
  chars constant text := '0123456789ABCDEFGHJKLMNPQRTUWXY';
  weights constant int[] := ARRAY[1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28];
  total int := 0;
BEGIN
  IF code !~ '^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$' THEN
    RETURN false;
  END IF;
  FOR i IN 1..17 LOOP
    total := total + (strpos(chars, substr(code, i, 1)) - 1) * weights[i];
  END LOOP;
  RETURN substr(chars, ((31 - total % 31) % 31) + 1, 1) = substr(code, 18, 1);
END $$;

CREATE FUNCTION onemap_in_china(g geometry) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT ST_XMin(g) >= 73.5 AND ST_XMax(g) <= 135.1 AND ST_YMin(g) >= 3.8 AND ST_YMax(g) <= 53.6
$$;

CREATE FUNCTION onemap_forbid_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are never deleted: set status and valid_to instead', TG_TABLE_NAME
    USING ERRCODE = 'OMD01';
END $$;

CREATE FUNCTION onemap_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  NEW.version := OLD.version + 1;
  RETURN NEW;
END $$;
"""

REGIONS = f"""
CREATE TABLE regions (
  adcode text PRIMARY KEY CHECK (adcode ~ '^[1-9][0-9]{{5}}$'),
  name text NOT NULL CHECK (length(btrim(name)) > 0),
  level text NOT NULL CHECK (level IN {_in("province city county")}),
  parent_adcode text REFERENCES regions (adcode),
  population bigint CHECK (population >= 0),
  population_note text,
  geom geometry(MultiPolygon, 4326) NOT NULL
    CONSTRAINT regions_geom_valid CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT regions_parent_level CHECK ((level = 'province') = (parent_adcode IS NULL))
);
CREATE INDEX regions_geom_gist ON regions USING gist (geom);
CREATE INDEX regions_parent_idx ON regions (parent_adcode);

-- County polygons cut into small pieces (ST_Subdivide) so that point-in-polygon
-- lookups touch a few hundred vertices instead of tens of thousands.
CREATE TABLE region_parts (
  id bigserial PRIMARY KEY,
  adcode text NOT NULL REFERENCES regions (adcode),
  geom geometry(Geometry, 4326) NOT NULL
);
CREATE INDEX region_parts_geom_gist ON region_parts USING gist (geom);
CREATE INDEX region_parts_adcode_idx ON region_parts (adcode);

CREATE FUNCTION onemap_region_parts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM region_parts WHERE adcode = NEW.adcode;
  IF NEW.level = 'county' THEN
    INSERT INTO region_parts (adcode, geom)
    SELECT NEW.adcode, part FROM ST_Subdivide(NEW.geom, 128) AS part;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER regions_parts_sync AFTER INSERT OR UPDATE OF geom, level ON regions
  FOR EACH ROW EXECUTE FUNCTION onemap_region_parts_sync();

CREATE FUNCTION onemap_county_of(g geometry) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
  SELECT p.adcode FROM region_parts p
  WHERE ST_Intersects(p.geom, CASE WHEN GeometryType(g) = 'POINT' THEN g ELSE ST_PointOnSurface(g) END)
  ORDER BY p.adcode LIMIT 1
$$;

CREATE FUNCTION onemap_set_adcode() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  code text;
BEGIN
  IF NEW.geom IS NULL THEN
    RETURN NEW;  -- NOT NULL on geom reports it
  END IF;
  code := onemap_county_of(NEW.geom);
  IF code IS NULL THEN
    RAISE EXCEPTION 'geom: location % lies outside every loaded county region',
      ST_AsText(ST_PointOnSurface(NEW.geom), 6)
      USING ERRCODE = 'OMJ01', HINT = 'check the coordinates, their order (lon, lat) and the declared CRS';
  END IF;
  NEW.adcode := code;
  RETURN NEW;
END $$;
"""

POINT = "geom geometry(Point, 4326) NOT NULL CHECK (onemap_in_china(geom))"
PLACE = "adcode text NOT NULL REFERENCES regions (adcode)"
STAMPS = """created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1"""
SOURCE = f"data_source text NOT NULL DEFAULT 'registry' CHECK (data_source IN {_in('registry import synthetic')})"
FINITE = "CHECK ({c} >= 0 AND {c} < 'Infinity'::float8)"  # rejects NaN too: NaN sorts above Infinity

ENTITIES = f"""
CREATE TABLE enterprises (
  id bigserial PRIMARY KEY,
  uscc text NOT NULL CONSTRAINT enterprises_uscc_key UNIQUE
    CONSTRAINT enterprises_uscc_check CHECK (onemap_uscc_valid(uscc)),
  name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  industry text NOT NULL CHECK (industry IN {_in("hazchem_production hazchem_storage hazchem_trading hazchem_use pharmaceutical metallurgy fireworks non_coal_mining gas industry_trade")}),
  scale text NOT NULL CHECK (scale IN {_in("large medium small micro")}),
  address text,
  {PLACE},
  status text NOT NULL DEFAULT 'active' CHECK (status IN {_in("active suspended deregistered")}),
  risk_colour text CONSTRAINT enterprises_risk_colour_check CHECK (risk_colour IN {_in("red orange yellow blue")}),
  {SOURCE},
  valid_from timestamptz NOT NULL DEFAULT now(),
  valid_to timestamptz,
  {POINT},
  {STAMPS},
  CONSTRAINT enterprises_deregistered_valid_to CHECK ((status = 'deregistered') = (valid_to IS NOT NULL)),
  CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

CREATE TABLE hazard_units (
  id bigserial PRIMARY KEY,
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  name text NOT NULL CHECK (length(btrim(name)) > 0),
  kind text NOT NULL CHECK (kind IN {_in("production storage")}),
  {PLACE},
  s double precision {FINITE.format(c="s")},
  r double precision {FINITE.format(c="r")},
  grade smallint CHECK (grade BETWEEN 1 AND 4),
  is_major boolean,
  exposed_people_500m integer CHECK (exposed_people_500m >= 0),
  assessed_at timestamptz,
  status text NOT NULL DEFAULT 'active' CHECK (status IN {_in("active decommissioned")}),
  valid_to timestamptz,
  {SOURCE},
  {POINT},
  {STAMPS},
  CONSTRAINT hazard_units_grade_needs_major CHECK (grade IS NULL OR is_major),
  CHECK ((status = 'decommissioned') = (valid_to IS NOT NULL))
);

CREATE TABLE hazard_unit_inventory (
  id bigserial PRIMARY KEY,
  hazard_unit_id bigint NOT NULL REFERENCES hazard_units (id),
  chemical text NOT NULL CHECK (length(btrim(chemical)) > 0),
  cas text CHECK (cas ~ '^[0-9]{{2,7}}-[0-9]{{2}}-[0-9]$'),
  max_quantity_t double precision NOT NULL
    CONSTRAINT hazard_unit_inventory_quantity_check {FINITE.format(c="max_quantity_t")},
  {STAMPS},
  CONSTRAINT hazard_unit_inventory_unit_chemical_key UNIQUE (hazard_unit_id, chemical)
);

CREATE TABLE hidden_dangers (
  id bigserial PRIMARY KEY,
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  hazard_unit_id bigint REFERENCES hazard_units (id),
  title text NOT NULL CHECK (length(btrim(title)) > 0),
  description text,
  category text NOT NULL CHECK (category IN {_in("equipment process management electrical fire storage personnel other")}),
  level text NOT NULL CHECK (level IN {_in("general major")}),
  status text NOT NULL DEFAULT 'reported' CHECK (status IN {_in("reported accepted rectifying submitted verified closed")}),
  found_on date NOT NULL,
  deadline date,
  closed_on date,
  supervising_level text CHECK (supervising_level IN {_in("province city county")}),
  {PLACE},
  {SOURCE},
  valid_to timestamptz,
  {POINT},
  {STAMPS},
  CHECK (deadline IS NULL OR deadline >= found_on),
  CHECK ((status = 'closed') = (closed_on IS NOT NULL))
);

CREATE TABLE protection_targets (
  id bigserial PRIMARY KEY,
  name text NOT NULL CHECK (length(btrim(name)) > 0),
  kind text NOT NULL CHECK (kind IN {_in("school kindergarten hospital nursing_home residential office market stadium transport_hub hotel cultural_relic military prison other")}),
  category text NOT NULL CHECK (category IN {_in("high_sensitivity important general_1 general_2 general_3")}),
  population integer NOT NULL CHECK (population >= 0),
  {PLACE},
  status text NOT NULL DEFAULT 'active' CHECK (status IN {_in("active removed")}),
  valid_to timestamptz,
  {SOURCE},
  geom geometry(Geometry, 4326) NOT NULL
    CONSTRAINT protection_targets_geom_type CHECK (GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON'))
    CONSTRAINT protection_targets_geom_valid CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom))
    CHECK (onemap_in_china(geom)),
  {STAMPS},
  CHECK ((status = 'removed') = (valid_to IS NOT NULL))
);

CREATE TABLE rescue_teams (
  id bigserial PRIMARY KEY,
  name text NOT NULL CHECK (length(btrim(name)) > 0),
  kind text NOT NULL CHECK (kind IN {_in("fire hazmat medical mine_rescue enterprise other")}),
  headcount integer NOT NULL CHECK (headcount >= 0),
  capabilities text[] NOT NULL DEFAULT '{{}}',
  phone text,
  {PLACE},
  status text NOT NULL DEFAULT 'active' CHECK (status IN {_in("active disbanded")}),
  valid_to timestamptz,
  {SOURCE},
  {POINT},
  {STAMPS},
  CHECK ((status = 'disbanded') = (valid_to IS NOT NULL))
);

CREATE TABLE supply_depots (
  id bigserial PRIMARY KEY,
  name text NOT NULL CHECK (length(btrim(name)) > 0),
  level text NOT NULL CHECK (level IN {_in("province city county enterprise")}),
  {PLACE},
  status text NOT NULL DEFAULT 'active' CHECK (status IN {_in("active closed")}),
  valid_to timestamptz,
  {SOURCE},
  {POINT},
  {STAMPS},
  CHECK ((status = 'closed') = (valid_to IS NOT NULL))
);

CREATE TABLE depot_stock (
  id bigserial PRIMARY KEY,
  depot_id bigint NOT NULL REFERENCES supply_depots (id),
  item text NOT NULL CHECK (length(btrim(item)) > 0),
  unit text NOT NULL CHECK (length(btrim(unit)) > 0),
  quantity double precision NOT NULL CONSTRAINT depot_stock_quantity_check {FINITE.format(c="quantity")},
  {STAMPS},
  CONSTRAINT depot_stock_depot_item_key UNIQUE (depot_id, item)
);

CREATE TABLE sensors (
  id bigserial PRIMARY KEY,
  code text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.:-]{{1,64}}$'),
  hazard_unit_id bigint REFERENCES hazard_units (id),
  kind text NOT NULL CHECK (kind IN {_in("tank_level temperature pressure combustible_gas toxic_gas")}),
  unit text NOT NULL CHECK (length(btrim(unit)) > 0),
  chemical text,
  threshold_low double precision CHECK (threshold_low = threshold_low AND abs(threshold_low) < 'Infinity'::float8),
  threshold_high double precision CHECK (threshold_high = threshold_high AND abs(threshold_high) < 'Infinity'::float8),
  threshold_high_high double precision CHECK (threshold_high_high = threshold_high_high AND abs(threshold_high_high) < 'Infinity'::float8),
  deadband double precision NOT NULL DEFAULT 0 {FINITE.format(c="deadband")},
  min_duration_s integer NOT NULL DEFAULT 0 CHECK (min_duration_s >= 0),
  interval_s integer NOT NULL DEFAULT 60 CHECK (interval_s > 0),
  {PLACE},
  status text NOT NULL DEFAULT 'active' CHECK (status IN {_in("active retired")}),
  valid_to timestamptz,
  {SOURCE},
  {POINT},
  {STAMPS},
  CHECK (threshold_high IS NULL OR threshold_high_high IS NULL OR threshold_high_high >= threshold_high),
  CHECK (threshold_low IS NULL OR threshold_high IS NULL OR threshold_high >= threshold_low),
  CHECK ((status = 'retired') = (valid_to IS NOT NULL))
);

CREATE TABLE users (
  id bigserial PRIMARY KEY,
  username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.-]{{3,64}}$'),
  display_name text NOT NULL CHECK (length(btrim(display_name)) > 0),
  role text NOT NULL CHECK (role IN {_in("admin province city county enterprise public")}),
  jurisdiction text NOT NULL CHECK (jurisdiction ~ '^([0-9]{{2}}|[0-9]{{4}}|[0-9]{{6}})$'),
  enterprise_id bigint REFERENCES enterprises (id),
  password_hash text,
  status text NOT NULL DEFAULT 'active' CHECK (status IN {_in("active disabled")}),
  valid_to timestamptz,
  {STAMPS},
  CHECK (role <> 'enterprise' OR enterprise_id IS NOT NULL),
  CHECK ((status = 'disabled') = (valid_to IS NOT NULL))
);
"""

INDEXES = """
CREATE INDEX hazard_units_enterprise_idx ON hazard_units (enterprise_id);
CREATE INDEX hazard_unit_inventory_unit_idx ON hazard_unit_inventory (hazard_unit_id);
CREATE INDEX hidden_dangers_enterprise_idx ON hidden_dangers (enterprise_id);
CREATE INDEX hidden_dangers_status_idx ON hidden_dangers (status, level);
CREATE INDEX depot_stock_depot_idx ON depot_stock (depot_id);
CREATE INDEX sensors_unit_idx ON sensors (hazard_unit_id);
CREATE INDEX enterprises_name_idx ON enterprises (name);
"""


def upgrade() -> None:
    app_role = roles.app()
    op.execute(FUNCTIONS)
    op.execute(REGIONS)
    op.execute(ENTITIES)
    op.execute(INDEXES)
    for table in PLACED:
        op.execute(f"CREATE INDEX {table}_geom_gist ON {table} USING gist (geom)")
        op.execute(f"CREATE INDEX {table}_adcode_idx ON {table} (adcode text_pattern_ops)")
        op.execute(
            f"CREATE TRIGGER {table}_adcode BEFORE INSERT OR UPDATE OF geom, adcode ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION onemap_set_adcode()"
        )
    for table in TABLES:
        if table != "region_parts":
            op.execute(
                f"CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION onemap_touch()"
            )
    for table in NO_DELETE:
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete()"
        )
    # The app role reads and writes, never deletes, never owns.
    role_exists = op.get_bind().exec_driver_sql(
        "SELECT 1 FROM pg_roles WHERE rolname = %(r)s", {"r": app_role.strip('"')}
    ).first()
    if role_exists:
        for table in TABLES:
            privs = "SELECT" if table in READ_ONLY_FOR_APP else "SELECT, INSERT, UPDATE"
            op.execute(f"GRANT {privs} ON {table} TO {app_role}")
            if table not in READ_ONLY_FOR_APP:
                op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {app_role}")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    for fn in ("onemap_set_adcode()", "onemap_county_of(geometry)", "onemap_region_parts_sync()",
               "onemap_touch()", "onemap_forbid_delete()", "onemap_in_china(geometry)",
               "onemap_uscc_valid(text)"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
