"""Telemetry: readings partitioned by day, the latest value per sensor, rejected readings.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23

``sensors`` gains ``range_min``/``range_max``: the instrument's measuring
range in the sensor's unit; a reading outside it is refused (a broken
transmitter, not a process value).

``readings`` — one row per (sensor, time): ``seq`` (the sensor's own counter),
``value`` (finite, in the sensor's unit), ``quality`` good|uncertain|bad,
``received_at`` (our clock), ``source`` mqtt|http. Declaratively partitioned
by RANGE (ts), one partition per day of China Standard Time
(``readings_pYYYYMMDD``, UTC+8 midnight to midnight) plus ``readings_default``
so that no write ever fails for want of a partition. The primary key
(sensor_id, ts) includes the partition key, as PostgreSQL requires; writers
use ``INSERT … ON CONFLICT DO NOTHING``, so a redelivered reading is absorbed.
``onemap_readings_ensure_partitions(from, to)`` creates the missing daily
partitions (moving any rows the default partition already holds for those
days); the ingest worker calls it at start and hourly, this migration once.
No audit or event triggers on readings: 5,000 rows/s would flood both.

``sensor_latest`` — one row per sensor, the newest reading (by ``ts``) for the
map; writers call ``onemap_sensor_latest_bump()`` once per batch, which bumps
``data_versions['sensor_latest']`` so that cached map tiles refresh.

``reading_rejects`` — every reading refused, with the field and the reason,
the topic, the sensor code as given (and its id when known), the payload size
and an excerpt of at most 512 characters (never the 10 MB).

Row-level security: readings and the latest value follow their sensor (whose
own policy — jurisdiction, the enterprise through the hazard unit, the public
flag — applies inside the subquery); the app role may insert them (HTTP
ingest, ``source = 'http'``) for sensors it may write. Rejects: admin and
province users read all of their province's and those of unknown sensors;
city and county regulators those of the known sensors they can see. The ingest
worker writes as the owner role (the maintenance path, like the escalation
job): it has to record readings of every jurisdiction and the rejects of
unknown sensors, which no request context may.
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

QUALITIES = ("good", "uncertain", "bad")
SOURCES = ("mqtt", "http")
PARTITION_ZONE = "Asia/Shanghai"


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_FINITE = "CHECK ({c} = {c} AND abs({c}) < 'Infinity'::float8)"
_ROLE = "NULLIF(current_setting('onemap.role', true), '')"

SCHEMA = rf"""
ALTER TABLE sensors
  ADD COLUMN range_min double precision {_FINITE.format(c="range_min")},
  ADD COLUMN range_max double precision {_FINITE.format(c="range_max")},
  ADD CONSTRAINT sensors_range_check CHECK (range_min IS NULL OR range_max IS NULL OR range_max > range_min);

CREATE TABLE readings (
  sensor_id bigint NOT NULL REFERENCES sensors (id),
  ts timestamptz NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 0),
  value double precision NOT NULL {_FINITE.format(c="value")},
  quality text NOT NULL DEFAULT 'good' CHECK (quality IN {_in(QUALITIES)}),
  received_at timestamptz NOT NULL DEFAULT now(),
  source text NOT NULL CHECK (source IN {_in(SOURCES)}),
  CONSTRAINT readings_pkey PRIMARY KEY (sensor_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE readings_default PARTITION OF readings DEFAULT;

CREATE TABLE sensor_latest (
  sensor_id bigint PRIMARY KEY REFERENCES sensors (id),
  ts timestamptz NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 0),
  value double precision NOT NULL {_FINITE.format(c="value")},
  quality text NOT NULL CHECK (quality IN {_in(QUALITIES)}),
  received_at timestamptz NOT NULL
);

CREATE TABLE reading_rejects (
  id bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  source text NOT NULL CHECK (source IN {_in(SOURCES)}),
  topic text CHECK (length(topic) <= 300),
  sensor_code text CHECK (length(sensor_code) <= 100),
  sensor_id bigint REFERENCES sensors (id),
  field text NOT NULL CHECK (length(field) BETWEEN 1 AND 100),
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  payload_bytes integer NOT NULL CHECK (payload_bytes >= 0),
  payload_excerpt text CHECK (length(payload_excerpt) <= 512),
  actor text DEFAULT NULLIF(current_setting('onemap.actor', true), '')
);
CREATE INDEX reading_rejects_received_idx ON reading_rejects (received_at);
CREATE INDEX reading_rejects_sensor_idx ON reading_rejects (sensor_id) WHERE sensor_id IS NOT NULL;

-- Daily partitions [from, to] (days of China Standard Time); returns how many were made.
CREATE FUNCTION onemap_readings_ensure_partitions(p_from date, p_to date) RETURNS integer
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  d date;
  lo timestamptz;
  hi timestamptz;
  part text;
  made integer := 0;
BEGIN
  IF p_from IS NULL OR p_to IS NULL OR p_to < p_from OR p_to - p_from > 400 THEN
    RAISE EXCEPTION 'p_to: between p_from and 400 days after it' USING ERRCODE = '22023';
  END IF;
  PERFORM pg_advisory_xact_lock(7245013);  -- one creator at a time
  d := p_from;
  WHILE d <= p_to LOOP
    part := 'readings_p' || to_char(d, 'YYYYMMDD');
    IF to_regclass(part) IS NULL THEN
      lo := d::timestamp AT TIME ZONE '{PARTITION_ZONE}';
      hi := (d + 1)::timestamp AT TIME ZONE '{PARTITION_ZONE}';
      EXECUTE format('CREATE TABLE %I (LIKE readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
      -- rows that landed in the default partition for this day move to it first
      EXECUTE format('WITH moved AS (DELETE FROM readings_default WHERE ts >= %L AND ts < %L RETURNING *) '
                     'INSERT INTO %I SELECT * FROM moved', lo, hi, part);
      EXECUTE format('ALTER TABLE readings ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
      made := made + 1;
    END IF;
    d := d + 1;
  END LOOP;
  RETURN made;
END $$;

CREATE FUNCTION onemap_sensor_latest_bump() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  INSERT INTO data_versions AS dv (table_name, version, changed_at) VALUES ('sensor_latest', 1, now())
  ON CONFLICT (table_name) DO UPDATE SET version = dv.version + 1, changed_at = now()
  RETURNING dv.version
$$;

INSERT INTO data_versions (table_name) VALUES ('sensor_latest');
SELECT onemap_readings_ensure_partitions((now() AT TIME ZONE '{PARTITION_ZONE}')::date - 1,
                                         (now() AT TIME ZONE '{PARTITION_ZONE}')::date + 7);

ALTER TABLE readings ENABLE ROW LEVEL SECURITY;
ALTER TABLE readings FORCE ROW LEVEL SECURITY;
ALTER TABLE sensor_latest ENABLE ROW LEVEL SECURITY;
ALTER TABLE sensor_latest FORCE ROW LEVEL SECURITY;
ALTER TABLE reading_rejects ENABLE ROW LEVEL SECURITY;
ALTER TABLE reading_rejects FORCE ROW LEVEL SECURITY;
"""

SENSOR_VISIBLE = "EXISTS (SELECT 1 FROM sensors s WHERE s.id = {t}.sensor_id)"
SENSOR_WRITABLE = ("EXISTS (SELECT 1 FROM sensors s WHERE s.id = {t}.sensor_id AND onemap_may_write(s.adcode, "
                   "(SELECT h.enterprise_id FROM hazard_units h WHERE h.id = s.hazard_unit_id)))")
REJECTS_READ = (f"({_ROLE} IN ('admin', 'province') AND (sensor_id IS NULL OR "
                f"{SENSOR_VISIBLE.format(t='reading_rejects')})) OR ({_ROLE} IN ('city', 'county') AND "
                f"sensor_id IS NOT NULL AND {SENSOR_VISIBLE.format(t='reading_rejects')})")
REJECTS_INSERT = f"source = 'http' AND {_ROLE} IN ('admin', 'province', 'city', 'county', 'enterprise')"


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    op.execute(SCHEMA)
    for table in ("readings", "sensor_latest", "reading_rejects"):
        op.execute(f"CREATE POLICY {table}_owner_maintenance ON {table} TO {owner} USING (true) WITH CHECK (true)")
    for table in ("readings", "sensor_latest"):
        read, write = SENSOR_VISIBLE.format(t=table), SENSOR_WRITABLE.format(t=table)
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT TO {app_role} USING ({read})")
        op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT TO {app_role} WITH CHECK ({write})")
    op.execute(f"CREATE POLICY sensor_latest_update ON sensor_latest FOR UPDATE TO {app_role} "
               f"USING ({SENSOR_WRITABLE.format(t='sensor_latest')}) "
               f"WITH CHECK ({SENSOR_WRITABLE.format(t='sensor_latest')})")
    op.execute(f"CREATE POLICY reading_rejects_read ON reading_rejects FOR SELECT TO {app_role} "
               f"USING ({REJECTS_READ})")
    op.execute(f"CREATE POLICY reading_rejects_insert ON reading_rejects FOR INSERT TO {app_role} "
               f"WITH CHECK ({REJECTS_INSERT})")
    op.execute(f"GRANT SELECT, INSERT ON readings, reading_rejects TO {app_role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON sensor_latest TO {app_role}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE reading_rejects_id_seq TO {app_role}")
    op.execute("REVOKE EXECUTE ON FUNCTION onemap_readings_ensure_partitions(date, date) FROM PUBLIC")
    op.execute("REVOKE EXECUTE ON FUNCTION onemap_sensor_latest_bump() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_sensor_latest_bump() TO {app_role}")


def downgrade() -> None:
    op.execute("DELETE FROM data_versions WHERE table_name = 'sensor_latest'")
    op.execute("DROP TABLE IF EXISTS reading_rejects")
    op.execute("DROP TABLE IF EXISTS sensor_latest")
    op.execute("DROP TABLE IF EXISTS readings")  # and its partitions
    op.execute("DROP FUNCTION IF EXISTS onemap_sensor_latest_bump()")
    op.execute("DROP FUNCTION IF EXISTS onemap_readings_ensure_partitions(date, date)")
    op.execute("ALTER TABLE sensors DROP CONSTRAINT IF EXISTS sensors_range_check, "
               "DROP COLUMN IF EXISTS range_max, DROP COLUMN IF EXISTS range_min")
