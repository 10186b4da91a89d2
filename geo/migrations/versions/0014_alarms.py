"""Alarms from telemetry (报警): raised by the ingest worker, acknowledged, handled, cleared, escalated.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23

``sensors`` gains ``rate_limit`` (the largest normal rate of change, in the
sensor's unit per second; NULL: no rate-of-change alarm).

``alarms`` — one row per alarm. The sensor, its hazard unit, the unit's
enterprise, the county ``adcode`` and the point ``geom`` are copied from the
sensor when the alarm is raised (a later move of the sensor does not move an
alarm already raised). ``kind`` ``process`` (the plant) or ``health`` (the
instrument) — kept apart, as ISA-18.2 asks; ``rule``:

=============  =======  ======  ====================================================
rule           kind     level   condition (units: the sensor's unit, seconds)
=============  =======  ======  ====================================================
high_high      process  red     value ≥ threshold_high_high for min_duration_s
high           process  orange  value ≥ threshold_high for min_duration_s
low            process  yellow  value ≤ threshold_low for min_duration_s
rate           process  yellow  |Δvalue/Δt| ≥ rate_limit (unit per second)
flatline       health   blue    N identical values in a row (stuck transmitter)
out_of_range   health   blue    a reading outside range_min..range_max (refused)
offline        health   blue    no reading for interval_s × k
=============  =======  ======  ====================================================

``level`` is the four-colour warning grade (red > orange > yellow > blue);
the grade of an enterprise is that of its worst open alarm.

``state``: ``raised → acknowledged → handled → cleared`` (acknowledged may be
skipped: raised → handled; cleared from acknowledged or handled). ``value``
is the reading that raised it, ``peak_value`` the worst seen while open,
``returned_at`` the return to normal (ISA-18.2 "RTN"; an unacknowledged alarm
that returned to normal stays raised until someone acknowledges it; the
worker then clears it). ``reason`` (process | sensor_fault | maintenance |
false_alarm) is given when handled. ``escalation_level`` enterprise → county
→ city when not acknowledged in time. ``scenario_id``: the release scenario
started by a toxic-gas alarm (``scenario_note``: the assumptions, or why
none could be run). At most one open (not cleared) alarm per
(sensor, rule): a partial unique index.

``alarm_transitions`` — the history, append-only (like
``hidden_danger_transitions``): ``action`` raised | acknowledged | handled |
cleared | escalated | returned | maintenance; actor, role, time, place and
txid filled by a trigger. Rows for the worker's own changes (raised, cleared
by return to normal, escalated, returned) are written by triggers; people's
moves are written by :mod:`workflows.alarms`, and a guard refuses, for every
role but the table owner, any change of the state without a history row of
the same transaction.

Row-level security: read ``onemap_visible(adcode, enterprise_id, is_public)``
(``is_public`` is always false: alarms are not public); update
``onemap_may_write(adcode, enterprise_id)`` (the enterprise's users and the
regulators of the place); only the owner role (the ingest worker) inserts.
Audited; announced on ``/events`` as ``alarm.raised`` (insert),
``alarm.acknowledged``, ``alarm.handled``, ``alarm.cleared`` (state changes),
``alarm.escalated``, else ``alarm.updated``.
"""

from __future__ import annotations

import importlib

from alembic import op

from geo.migrations import roles

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

KINDS = ("process", "health")
RULES = ("high_high", "high", "low", "rate", "flatline", "out_of_range", "offline")
LEVELS = ("red", "orange", "yellow", "blue")
STATES = ("raised", "acknowledged", "handled", "cleared")
REASONS = ("process", "sensor_fault", "maintenance", "false_alarm")
ESCALATION = ("enterprise", "county", "city")
ACTIONS = ("raised", "acknowledged", "handled", "cleared", "escalated", "returned", "maintenance")
PEOPLE_ACTIONS = ("acknowledged", "handled", "cleared")


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_ROLE = "NULLIF(current_setting('onemap.role', true), '')"
_FINITE = "CHECK ({c} = {c} AND abs({c}) < 'Infinity'::float8)"

SCHEMA = rf"""
ALTER TABLE sensors ADD COLUMN rate_limit double precision CHECK (rate_limit > 0 AND rate_limit < 'Infinity'::float8);

CREATE TABLE alarms (
  id bigserial PRIMARY KEY,
  sensor_id bigint NOT NULL REFERENCES sensors (id),
  hazard_unit_id bigint REFERENCES hazard_units (id),
  enterprise_id bigint REFERENCES enterprises (id),
  adcode text NOT NULL REFERENCES regions (adcode),
  geom geometry(Point, 4326) NOT NULL,
  kind text NOT NULL CHECK (kind IN {_in(KINDS)}),
  rule text NOT NULL CHECK (rule IN {_in(RULES)}),
  level text NOT NULL CHECK (level IN {_in(LEVELS)}),
  state text NOT NULL DEFAULT 'raised' CHECK (state IN {_in(STATES)}),
  raised_at timestamptz NOT NULL,
  value double precision {_FINITE.format(c="value")},
  threshold double precision {_FINITE.format(c="threshold")},
  peak_value double precision {_FINITE.format(c="peak_value")},
  returned_at timestamptz,
  acknowledged_at timestamptz,
  acknowledged_by text,
  handled_at timestamptz,
  reason text CHECK (reason IN {_in(REASONS)}),
  note text CHECK (length(note) <= 4000),
  cleared_at timestamptz,
  escalation_level text NOT NULL DEFAULT 'enterprise' CHECK (escalation_level IN {_in(ESCALATION)}),
  escalated_at timestamptz,
  scenario_id bigint REFERENCES scenarios (id),
  scenario_note text CHECK (length(scenario_note) <= 500),
  is_public boolean NOT NULL DEFAULT false CHECK (NOT is_public),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT alarms_kind_rule_check CHECK ((kind = 'health') = (rule IN ('flatline', 'out_of_range', 'offline'))),
  CONSTRAINT alarms_cleared_check CHECK ((state = 'cleared') = (cleared_at IS NOT NULL)),
  CONSTRAINT alarms_handled_check CHECK (state NOT IN ('handled') OR reason IS NOT NULL)
);
CREATE UNIQUE INDEX alarms_open_uniq ON alarms (sensor_id, rule) WHERE state <> 'cleared';
CREATE INDEX alarms_state_idx ON alarms (state, raised_at);
CREATE INDEX alarms_adcode_idx ON alarms (adcode text_pattern_ops);
CREATE INDEX alarms_enterprise_idx ON alarms (enterprise_id) WHERE enterprise_id IS NOT NULL;
CREATE INDEX alarms_raised_idx ON alarms (raised_at);
CREATE INDEX alarms_geom_gist ON alarms USING gist (geom);

CREATE TABLE alarm_transitions (
  id bigserial PRIMARY KEY,
  alarm_id bigint NOT NULL REFERENCES alarms (id),
  from_state text CHECK (from_state IN {_in(STATES)}),
  to_state text NOT NULL CHECK (to_state IN {_in(STATES)}),
  action text NOT NULL CHECK (action IN {_in(ACTIONS)}),
  reason text CHECK (reason IN {_in(REASONS)}),
  note text CHECK (length(note) <= 4000),
  escalation_level text CHECK (escalation_level IN {_in(ESCALATION)}),
  actor text NOT NULL,
  actor_role text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  adcode text NOT NULL REFERENCES regions (adcode),
  enterprise_id bigint REFERENCES enterprises (id),
  txid bigint NOT NULL DEFAULT txid_current()
);
CREATE INDEX alarm_transitions_alarm_idx ON alarm_transitions (alarm_id, id);
CREATE INDEX alarm_transitions_adcode_idx ON alarm_transitions (adcode text_pattern_ops);

CREATE FUNCTION onemap_alarm_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF onemap_is_table_owner(TG_RELID) THEN
    RETURN NEW;
  END IF;
  IF (NEW.state, NEW.escalation_level, NEW.reason) IS DISTINCT FROM (OLD.state, OLD.escalation_level, OLD.reason)
     AND NOT EXISTS (SELECT 1 FROM alarm_transitions t WHERE t.alarm_id = NEW.id AND t.txid = txid_current()
                     AND t.from_state = OLD.state AND t.to_state = NEW.state) THEN
    RAISE EXCEPTION 'to: an alarm moves only through POST /alarms/%/transitions', NEW.id USING ERRCODE = 'OMW01';
  END IF;
  IF (NEW.sensor_id, NEW.rule, NEW.kind, NEW.level, NEW.raised_at, NEW.value, NEW.adcode, NEW.enterprise_id)
     IS DISTINCT FROM (OLD.sensor_id, OLD.rule, OLD.kind, OLD.level, OLD.raised_at, OLD.value, OLD.adcode,
                       OLD.enterprise_id) THEN
    RAISE EXCEPTION 'alarm: what raised an alarm is not edited' USING ERRCODE = 'OMW01';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_alarm_transition_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT a.adcode, a.enterprise_id INTO NEW.adcode, NEW.enterprise_id FROM alarms a WHERE a.id = NEW.alarm_id;
  IF NEW.adcode IS NULL THEN
    RAISE EXCEPTION 'alarm_id: no alarm %', NEW.alarm_id USING ERRCODE = 'OMW02';
  END IF;
  NEW.actor := coalesce(NULLIF(current_setting('onemap.actor', true), ''), session_user::text);
  NEW.actor_role := coalesce({_ROLE}, 'system');
  NEW.at := now();
  NEW.txid := txid_current();
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_alarm_history_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO alarm_transitions (alarm_id, from_state, to_state, action, escalation_level)
  SELECT n.id, NULL, n.state, CASE WHEN n.state = 'raised' THEN 'raised' ELSE 'maintenance' END, n.escalation_level
  FROM new_rows n ORDER BY n.id;
  RETURN NULL;
END $$;

-- The worker's changes (no person's row in this transaction): clearing, escalation, return to normal.
CREATE FUNCTION onemap_alarm_history_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO alarm_transitions (alarm_id, from_state, to_state, action, reason, escalation_level)
  SELECT n.id, o.state, n.state,
         CASE WHEN n.escalation_level IS DISTINCT FROM o.escalation_level THEN 'escalated'
              WHEN n.state IS DISTINCT FROM o.state AND n.state = 'cleared' THEN 'cleared'
              WHEN n.state IS DISTINCT FROM o.state THEN 'maintenance'
              ELSE 'returned' END,
         n.reason, n.escalation_level
  FROM new_rows n JOIN old_rows o ON o.id = n.id
  WHERE ((n.state, n.escalation_level) IS DISTINCT FROM (o.state, o.escalation_level)
         OR (o.returned_at IS NULL AND n.returned_at IS NOT NULL))
    AND NOT EXISTS (SELECT 1 FROM alarm_transitions t WHERE t.alarm_id = n.id AND t.txid = txid_current())
  ORDER BY n.id;
  RETURN NULL;
END $$;

CREATE TRIGGER alarms_touch BEFORE UPDATE ON alarms FOR EACH ROW EXECUTE FUNCTION onemap_touch();
CREATE TRIGGER alarms_no_delete BEFORE DELETE ON alarms FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete();
CREATE TRIGGER alarms_workflow_guard BEFORE UPDATE ON alarms FOR EACH ROW EXECUTE FUNCTION onemap_alarm_guard();
CREATE TRIGGER alarms_audit_insert AFTER INSERT ON alarms
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_insert('id');
CREATE TRIGGER alarms_audit_update AFTER UPDATE ON alarms
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_update('id');
CREATE TRIGGER alarms_audit_truncate AFTER TRUNCATE ON alarms FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate();
CREATE TRIGGER alarms_history_insert AFTER INSERT ON alarms
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_alarm_history_insert();
CREATE TRIGGER alarms_history_update AFTER UPDATE ON alarms
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_alarm_history_update();
CREATE TRIGGER alarms_events_insert AFTER INSERT ON alarms
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_events_emit('alarm', 'id');
CREATE TRIGGER alarms_events_update AFTER UPDATE ON alarms
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_events_emit('alarm', 'id');

CREATE TRIGGER alarm_transitions_fill BEFORE INSERT ON alarm_transitions
  FOR EACH ROW EXECUTE FUNCTION onemap_alarm_transition_fill();
CREATE TRIGGER alarm_transitions_append_only BEFORE UPDATE OR DELETE ON alarm_transitions
  FOR EACH ROW EXECUTE FUNCTION onemap_append_only();
CREATE TRIGGER alarm_transitions_audit_insert AFTER INSERT ON alarm_transitions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_insert('id');
CREATE TRIGGER alarm_transitions_audit_truncate AFTER TRUNCATE ON alarm_transitions
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate();

INSERT INTO data_versions (table_name) VALUES ('alarms') ON CONFLICT DO NOTHING;

ALTER TABLE alarms ENABLE ROW LEVEL SECURITY;
ALTER TABLE alarms FORCE ROW LEVEL SECURITY;
ALTER TABLE alarm_transitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE alarm_transitions FORCE ROW LEVEL SECURITY;
"""

READ = "onemap_visible(adcode, enterprise_id, is_public)"
WRITE = "onemap_may_write(adcode, enterprise_id)"
TRANSITIONS_READ = (f"{_ROLE} <> 'public' AND EXISTS (SELECT 1 FROM alarms a "
                    f"WHERE a.id = alarm_transitions.alarm_id)")
TRANSITIONS_INSERT = (f"EXISTS (SELECT 1 FROM alarms a WHERE a.id = alarm_transitions.alarm_id "
                      f"AND onemap_may_write(a.adcode, a.enterprise_id)) AND action IN {_in(PEOPLE_ACTIONS)}")

FUNCTIONS = ["onemap_alarm_history_update()", "onemap_alarm_history_insert()", "onemap_alarm_transition_fill()",
             "onemap_alarm_guard()"]

# Event kinds of alarms: same function as 0010 with one more branch before the generic INSERT one.
_P10 = importlib.import_module("geo.migrations.versions.0010_accident_reports")
PAYLOAD_0010 = _P10.PAYLOAD_0010
_ANCHOR = "  IF p_op = 'INSERT' THEN\n    kind := p_entity || '.created';\n  ELSIF"
_BRANCH = ("  IF p_table = 'alarms' THEN\n"
           "    kind := CASE WHEN p_op = 'INSERT' THEN 'alarm.raised'\n"
           "                 WHEN o->>'escalation_level' IS DISTINCT FROM n->>'escalation_level' THEN 'alarm.escalated'\n"
           "                 WHEN o->>'state' IS DISTINCT FROM n->>'state' THEN 'alarm.' || (n->>'state')\n"
           "                 ELSE 'alarm.updated' END;\n"
           "  ELSIF p_op = 'INSERT' THEN\n    kind := p_entity || '.created';\n  ELSIF")
_STATUS = "'status', left(n->>'status', 40),"
assert PAYLOAD_0010.count(_ANCHOR) == 1 and PAYLOAD_0010.count(_STATUS) == 1
PAYLOAD_0014 = PAYLOAD_0010.replace(_ANCHOR, _BRANCH).replace(
    _STATUS, "'status', left(coalesce(n->>'status', n->>'state'), 40),\n    'rule', left(n->>'rule', 40),")


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    op.execute(SCHEMA)
    op.execute(PAYLOAD_0014)
    for table in ("alarms", "alarm_transitions"):
        op.execute(f"CREATE POLICY {table}_owner_maintenance ON {table} TO {owner} USING (true) WITH CHECK (true)")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE alarm_transitions_id_seq TO {app_role}")
    op.execute(f"CREATE POLICY alarms_read ON alarms FOR SELECT TO {app_role} USING ({READ})")
    op.execute(f"CREATE POLICY alarms_update ON alarms FOR UPDATE TO {app_role} USING ({WRITE}) WITH CHECK ({WRITE})")
    op.execute(f"GRANT SELECT, UPDATE ON alarms TO {app_role}")
    op.execute(f"CREATE POLICY alarm_transitions_read ON alarm_transitions FOR SELECT TO {app_role} "
               f"USING ({TRANSITIONS_READ})")
    op.execute(f"CREATE POLICY alarm_transitions_insert ON alarm_transitions FOR INSERT TO {app_role} "
               f"WITH CHECK ({TRANSITIONS_INSERT})")
    op.execute(f"GRANT SELECT, INSERT ON alarm_transitions TO {app_role}")


def downgrade() -> None:
    op.execute(PAYLOAD_0010)
    op.execute("DELETE FROM data_versions WHERE table_name = 'alarms'")
    op.execute("DROP TABLE IF EXISTS alarm_transitions")
    op.execute("DROP TABLE IF EXISTS alarms")
    for fn in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("ALTER TABLE sensors DROP COLUMN IF EXISTS rate_limit")
