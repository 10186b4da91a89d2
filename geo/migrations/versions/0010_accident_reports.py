"""Accident quick reports (事故快报): the first report, follow-up reports, verification, closure.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23

The Regulation on the Reporting, Investigation and Handling of Production
Safety Accidents (State Council Decree No. 493, 2007) asks for a report to the
county work-safety department within an hour (Art. 9), follow-up reports when
the casualties change (Art. 13: 补报, within 30 days), and grades accidents by
deaths, serious injuries (acute industrial poisoning included) and direct
economic loss (Art. 3; "以上" includes the figure, "以下" excludes it):

* ``extraordinary`` 特别重大: ≥ 30 deaths, or ≥ 100 serious injuries, or ≥ 100 million yuan;
* ``major`` 重大: 10–29 deaths, or 50–99 serious injuries, or 50–100 million yuan;
* ``larger`` 较大: 3–9 deaths, or 10–49 serious injuries, or 10–50 million yuan;
* ``ordinary`` 一般: anything less.

``accident_reports`` — one row per accident, placed (``geom`` point; ``adcode``
from the location by the trigger every placed table has). ``accident_class``
is a generated column (the rule above, on the figures known now: the missing
are not counted as dead until a follow-up report says so). ``status``:
``reported`` → ``verified`` (a regulator confirmed it; an enterprise's
accident also becomes an ``enterprise_records`` row, ``record_id``) →
``closed`` (结案); ``withdrawn`` (误报, from ``reported``: ``valid_to`` set, it
leaves the map). ``reported_at`` is the database's clock, never the input's.

``accident_report_updates`` — the history, append-only (like
``hidden_danger_transitions``): ``action`` ``reported`` (首报), ``follow_up``
(续报: new figures or description), ``verified``, ``closed``, ``withdrawn``,
``maintenance`` (the owner role outside the workflow); the figures after the
move, ``note``; ``actor``/``actor_role``/``at``/``adcode``/``enterprise_id``/
``txid`` filled by a trigger. A guard refuses, for every role but the table
owner, a new report in a status other than ``reported`` and any change of the
status or the figures without a history row in the same transaction.

Row-level security: read ``onemap_visible(adcode, enterprise_id, is_public)``
(a county sees its county, an enterprise its own reports); write
``onemap_may_write(adcode, enterprise_id)``; history rows: the app role may
record only the actions of people, an enterprise user only ``reported`` and
``follow_up``. Audited; announced on ``/events`` as ``accident_report.*``
(``created``, ``updated`` for a follow-up, ``status_changed``, ``closed``,
``deleted`` when withdrawn).
"""

from __future__ import annotations

import importlib

from alembic import op

from geo.migrations import roles

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATUSES = ("reported", "verified", "closed", "withdrawn")
# action -> (from_status, to_status); frozen copy of workflows.accident_reports.RULES (a test compares them)
EDGES = {
    "reported": (None, "reported"),
    "verified": ("reported", "verified"),
    "closed": ("verified", "closed"),
    "withdrawn": ("reported", "withdrawn"),
}
OPEN_STATUSES = ("reported", "verified")  # a follow-up keeps the status
ACTIONS = (*EDGES, "follow_up", "maintenance")
PEOPLE_ACTIONS = (*EDGES, "follow_up")
ENTERPRISE_ACTIONS = ("reported", "follow_up")
ACCIDENT_TYPES = ("fire", "explosion", "leak", "poisoning", "burn", "collapse", "fall", "mechanical", "lifting",
                  "electrocution", "vehicle", "struck", "drowning", "other")
CLASSES = ("ordinary", "larger", "major", "extraordinary")
FIGURES = ("deaths", "serious_injuries", "minor_injuries", "missing", "direct_loss_yuan")


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _edge_check() -> str:
    parts = []
    for action, (src, dst) in EDGES.items():
        src_sql = "from_status IS NULL" if src is None else f"from_status = '{src}'"
        parts.append(f"(action = '{action}' AND {src_sql} AND to_status = '{dst}')")
    parts.append(f"(action = 'follow_up' AND from_status = to_status AND to_status IN {_in(OPEN_STATUSES)})")
    parts.append("action = 'maintenance'")
    return " OR ".join(parts)


_ROLE = "NULLIF(current_setting('onemap.role', true), '')"
_CHANGED = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in (*FIGURES, "status", "record_id", "valid_to"))

SCHEMA = rf"""
CREATE TABLE accident_reports (
  id bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL CHECK (occurred_at >= TIMESTAMPTZ '2000-01-01 00:00+08'),
  reported_at timestamptz NOT NULL DEFAULT now(),
  accident_type text NOT NULL CHECK (accident_type IN {_in(ACCIDENT_TYPES)}),
  enterprise_id bigint REFERENCES enterprises (id),
  hazard_unit_id bigint REFERENCES hazard_units (id),
  title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
  description text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 4000),
  chemical text CHECK (length(btrim(chemical)) BETWEEN 1 AND 100),
  cas text CHECK (cas ~ '^[0-9]{{2,7}}-[0-9]{{2}}-[0-9]$'),
  deaths integer NOT NULL DEFAULT 0 CHECK (deaths BETWEEN 0 AND 100000),
  serious_injuries integer NOT NULL DEFAULT 0 CHECK (serious_injuries BETWEEN 0 AND 100000),
  minor_injuries integer NOT NULL DEFAULT 0 CHECK (minor_injuries BETWEEN 0 AND 100000),
  missing integer NOT NULL DEFAULT 0 CHECK (missing BETWEEN 0 AND 100000),
  direct_loss_yuan numeric(16, 2) CHECK (direct_loss_yuan >= 0),
  accident_class text GENERATED ALWAYS AS (CASE
    WHEN deaths >= 30 OR serious_injuries >= 100 OR direct_loss_yuan >= 100000000 THEN 'extraordinary'
    WHEN deaths >= 10 OR serious_injuries >= 50 OR direct_loss_yuan >= 50000000 THEN 'major'
    WHEN deaths >= 3 OR serious_injuries >= 10 OR direct_loss_yuan >= 10000000 THEN 'larger'
    ELSE 'ordinary' END) STORED,
  status text NOT NULL DEFAULT 'reported' CHECK (status IN {_in(STATUSES)}),
  record_id bigint REFERENCES enterprise_records (id),
  contact text CHECK (length(btrim(contact)) BETWEEN 1 AND 100),
  geom geometry(Point, 4326) NOT NULL CHECK (onemap_in_china(geom)),
  adcode text NOT NULL REFERENCES regions (adcode),
  is_public boolean NOT NULL DEFAULT false,
  data_source text NOT NULL DEFAULT 'registry' CHECK (data_source IN ('registry', 'import', 'synthetic')),
  valid_to timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT accident_reports_withdrawn_check CHECK ((status = 'withdrawn') = (valid_to IS NOT NULL)),
  CONSTRAINT accident_reports_unit_check CHECK (hazard_unit_id IS NULL OR enterprise_id IS NOT NULL)
);
CREATE INDEX accident_reports_geom_gist ON accident_reports USING gist (geom);
CREATE INDEX accident_reports_adcode_idx ON accident_reports (adcode text_pattern_ops);
CREATE INDEX accident_reports_occurred_idx ON accident_reports (occurred_at);
CREATE INDEX accident_reports_enterprise_idx ON accident_reports (enterprise_id) WHERE enterprise_id IS NOT NULL;

CREATE TABLE accident_report_updates (
  id bigserial PRIMARY KEY,
  accident_report_id bigint NOT NULL REFERENCES accident_reports (id),
  from_status text CHECK (from_status IN {_in(STATUSES)}),
  to_status text NOT NULL CHECK (to_status IN {_in(STATUSES)}),
  action text NOT NULL CHECK (action IN {_in(ACTIONS)}),
  deaths integer NOT NULL,
  serious_injuries integer NOT NULL,
  minor_injuries integer NOT NULL,
  missing integer NOT NULL,
  direct_loss_yuan numeric(16, 2),
  note text CHECK (length(note) <= 4000),
  actor text NOT NULL,
  actor_role text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  adcode text NOT NULL REFERENCES regions (adcode),
  enterprise_id bigint REFERENCES enterprises (id),
  txid bigint NOT NULL DEFAULT txid_current(),
  CONSTRAINT accident_report_updates_edge_check CHECK ({_edge_check()})
);
CREATE INDEX accident_report_updates_report_idx ON accident_report_updates (accident_report_id, id);
CREATE INDEX accident_report_updates_adcode_idx ON accident_report_updates (adcode text_pattern_ops);

-- The hazard unit belongs to the enterprise (SECURITY DEFINER: checked even when the writer cannot see it).
CREATE FUNCTION onemap_ar_check_unit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF NEW.hazard_unit_id IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM hazard_units h WHERE h.id = NEW.hazard_unit_id AND h.enterprise_id = NEW.enterprise_id) THEN
    RAISE EXCEPTION 'hazard_unit_id: hazard unit % is not a unit of enterprise %', NEW.hazard_unit_id,
      NEW.enterprise_id USING ERRCODE = 'OMW01';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_ar_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF onemap_is_table_owner(TG_RELID) THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status IS DISTINCT FROM 'reported' OR NEW.record_id IS NOT NULL OR NEW.valid_to IS NOT NULL THEN
      RAISE EXCEPTION 'status: a new accident report starts as reported' USING ERRCODE = 'OMW01';
    END IF;
    NEW.reported_at := now();
    RETURN NEW;
  END IF;
  NEW.reported_at := OLD.reported_at;
  IF ({_CHANGED}) AND NOT EXISTS (
      SELECT 1 FROM accident_report_updates u
      WHERE u.accident_report_id = NEW.id AND u.txid = txid_current()
        AND u.from_status = OLD.status AND u.to_status = NEW.status) THEN
    RAISE EXCEPTION 'status: the status and the figures change only through POST /accident-reports/%/transitions',
      NEW.id USING ERRCODE = 'OMW01';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_ar_update_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT r.adcode, r.enterprise_id INTO NEW.adcode, NEW.enterprise_id
    FROM accident_reports r WHERE r.id = NEW.accident_report_id;
  IF NEW.adcode IS NULL THEN
    RAISE EXCEPTION 'accident_report_id: no accident report %', NEW.accident_report_id USING ERRCODE = 'OMW02';
  END IF;
  NEW.actor := coalesce(NULLIF(current_setting('onemap.actor', true), ''), session_user::text);
  NEW.actor_role := coalesce({_ROLE}, 'system');
  NEW.at := now();
  NEW.txid := txid_current();
  RETURN NEW;
END $$;

-- Every new report gets its first history row (首报); the owner's changes outside the workflow are recorded.
CREATE FUNCTION onemap_ar_history_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO accident_report_updates (accident_report_id, from_status, to_status, action, deaths, serious_injuries,
                                       minor_injuries, missing, direct_loss_yuan, note)
  SELECT n.id, NULL, n.status, CASE WHEN n.status = 'reported' THEN 'reported' ELSE 'maintenance' END, n.deaths,
         n.serious_injuries, n.minor_injuries, n.missing, n.direct_loss_yuan, NULL
  FROM new_rows n ORDER BY n.id;
  RETURN NULL;
END $$;

CREATE FUNCTION onemap_ar_history_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO accident_report_updates (accident_report_id, from_status, to_status, action, deaths, serious_injuries,
                                       minor_injuries, missing, direct_loss_yuan)
  SELECT n.id, o.status, n.status, 'maintenance', n.deaths, n.serious_injuries, n.minor_injuries, n.missing,
         n.direct_loss_yuan
  FROM new_rows n JOIN old_rows o ON o.id = n.id
  WHERE (n.status, n.deaths, n.serious_injuries, n.minor_injuries, n.missing, n.direct_loss_yuan)
        IS DISTINCT FROM (o.status, o.deaths, o.serious_injuries, o.minor_injuries, o.missing, o.direct_loss_yuan)
    AND NOT EXISTS (SELECT 1 FROM accident_report_updates u
                    WHERE u.accident_report_id = n.id AND u.txid = txid_current())
  ORDER BY n.id;
  RETURN NULL;
END $$;

CREATE TRIGGER accident_reports_adcode BEFORE INSERT OR UPDATE OF geom, adcode ON accident_reports
  FOR EACH ROW EXECUTE FUNCTION onemap_set_adcode();
CREATE TRIGGER accident_reports_touch BEFORE UPDATE ON accident_reports
  FOR EACH ROW EXECUTE FUNCTION onemap_touch();
CREATE TRIGGER accident_reports_no_delete BEFORE DELETE ON accident_reports
  FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete();
CREATE TRIGGER accident_reports_unit BEFORE INSERT OR UPDATE OF hazard_unit_id, enterprise_id ON accident_reports
  FOR EACH ROW EXECUTE FUNCTION onemap_ar_check_unit();
CREATE TRIGGER accident_reports_workflow_guard BEFORE INSERT OR UPDATE ON accident_reports
  FOR EACH ROW EXECUTE FUNCTION onemap_ar_guard();
CREATE TRIGGER accident_reports_audit_insert AFTER INSERT ON accident_reports
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_insert('id');
CREATE TRIGGER accident_reports_audit_update AFTER UPDATE ON accident_reports
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_audit_update('id');
CREATE TRIGGER accident_reports_audit_truncate AFTER TRUNCATE ON accident_reports
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate();
CREATE TRIGGER accident_reports_history_insert AFTER INSERT ON accident_reports
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_ar_history_insert();
CREATE TRIGGER accident_reports_history_update AFTER UPDATE ON accident_reports
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_ar_history_update();
CREATE TRIGGER accident_reports_events_insert AFTER INSERT ON accident_reports
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_events_emit('accident_report', 'id');
CREATE TRIGGER accident_reports_events_update AFTER UPDATE ON accident_reports
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_events_emit('accident_report', 'id');

CREATE TRIGGER accident_report_updates_fill BEFORE INSERT ON accident_report_updates
  FOR EACH ROW EXECUTE FUNCTION onemap_ar_update_fill();
CREATE TRIGGER accident_report_updates_append_only BEFORE UPDATE OR DELETE ON accident_report_updates
  FOR EACH ROW EXECUTE FUNCTION onemap_append_only();
CREATE TRIGGER accident_report_updates_audit_insert AFTER INSERT ON accident_report_updates
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_insert('id');
CREATE TRIGGER accident_report_updates_audit_truncate AFTER TRUNCATE ON accident_report_updates
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate();

INSERT INTO data_versions (table_name) VALUES ('accident_reports');

ALTER TABLE accident_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE accident_reports FORCE ROW LEVEL SECURITY;
ALTER TABLE accident_report_updates ENABLE ROW LEVEL SECURITY;
ALTER TABLE accident_report_updates FORCE ROW LEVEL SECURITY;
"""

READ = "onemap_visible(adcode, enterprise_id, is_public)"
WRITE = "onemap_may_write(adcode, enterprise_id)"
UPDATES_READ = (f"{_ROLE} <> 'public' AND EXISTS (SELECT 1 FROM accident_reports r "
                f"WHERE r.id = accident_report_updates.accident_report_id)")
UPDATES_INSERT = (f"EXISTS (SELECT 1 FROM accident_reports r WHERE r.id = accident_report_updates.accident_report_id "
                  f"AND onemap_may_write(r.adcode, r.enterprise_id)) AND action IN {_in(PEOPLE_ACTIONS)} "
                  f"AND ({_ROLE} <> 'enterprise' OR action IN {_in(ENTERPRISE_ACTIONS)})")

FUNCTIONS = ["onemap_ar_history_update()", "onemap_ar_history_insert()", "onemap_ar_update_fill()",
             "onemap_ar_guard()", "onemap_ar_check_unit()"]

# Event kinds: a status change of a report is "accident_report.status_changed", its closure
# "accident_report.closed" (the wall ends an incident on it). Same function as 0004 with one more branch.
_EVENTS = importlib.import_module("geo.migrations.versions.0004_events").FUNCTIONS
_PAYLOAD_START = _EVENTS.index("CREATE FUNCTION onemap_events_row_payload")
_PAYLOAD = _EVENTS[_PAYLOAD_START:_EVENTS.index("END $$;", _PAYLOAD_START) + len("END $$;")]
_ANCHOR = "  ELSIF p_table = 'enterprises' AND o IS NOT NULL"
_BRANCH = ("  ELSIF p_table = 'accident_reports' AND o IS NOT NULL AND o->>'status' IS DISTINCT FROM n->>'status' THEN\n"
           "    kind := CASE WHEN n->>'status' = 'closed' THEN 'accident_report.closed'\n"
           "                 ELSE 'accident_report.status_changed' END;\n")
assert _PAYLOAD.count(_ANCHOR) == 1
PAYLOAD_0004 = _PAYLOAD.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
PAYLOAD_0010 = PAYLOAD_0004.replace(_ANCHOR, _BRANCH + _ANCHOR)


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    op.execute(SCHEMA)
    op.execute(PAYLOAD_0010)
    for table in ("accident_reports", "accident_report_updates"):
        op.execute(f"CREATE POLICY {table}_owner_maintenance ON {table} TO {owner} USING (true) WITH CHECK (true)")
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {app_role}")
    op.execute(f"CREATE POLICY accident_reports_read ON accident_reports FOR SELECT TO {app_role} USING ({READ})")
    op.execute(f"CREATE POLICY accident_reports_insert ON accident_reports FOR INSERT TO {app_role} "
               f"WITH CHECK ({WRITE})")
    op.execute(f"CREATE POLICY accident_reports_update ON accident_reports FOR UPDATE TO {app_role} "
               f"USING ({WRITE}) WITH CHECK ({WRITE})")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON accident_reports TO {app_role}")
    op.execute(f"CREATE POLICY accident_report_updates_read ON accident_report_updates FOR SELECT TO {app_role} "
               f"USING ({UPDATES_READ})")
    op.execute(f"CREATE POLICY accident_report_updates_insert ON accident_report_updates FOR INSERT TO {app_role} "
               f"WITH CHECK ({UPDATES_INSERT})")
    op.execute(f"GRANT SELECT, INSERT ON accident_report_updates TO {app_role}")
    op.execute("REVOKE EXECUTE ON FUNCTION onemap_ar_check_unit() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_ar_check_unit() TO {app_role}")


def downgrade() -> None:
    op.execute(PAYLOAD_0004)
    op.execute("DELETE FROM data_versions WHERE table_name = 'accident_reports'")
    op.execute("DROP TABLE IF EXISTS accident_report_updates")
    op.execute("DROP TABLE IF EXISTS accident_reports")
    for fn in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
