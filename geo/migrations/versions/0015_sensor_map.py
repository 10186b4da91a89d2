"""Sensors on the map (监测点): a view of current sensors with their newest reading and worst open alarm.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23

``sensor_map`` — a view (``security_invoker``: the caller's row-level
security applies to ``sensors``, ``hazard_units``, ``sensor_latest`` and
``alarms`` behind it) of active, current sensors: kind, unit, chemical,
thresholds and reporting interval, the hazard unit and its enterprise, the
newest reading (``latest_value`` in the sensor's unit, ``latest_at``), the
number of open (not cleared) alarms and ``status``:

==========  ==============================================================
status      meaning
==========  ==============================================================
red …       the four-colour level of the worst open alarm (red, orange,
blue        yellow, blue — blue: a sensor-health alarm such as offline)
normal      reporting, no open alarm
no_data     never reported
==========  ==============================================================

``status`` is derived from stored rows only (no clock in the view), so map
tiles cached by the data versions of ``sensors``, ``sensor_latest`` and
``alarms`` stay correct: "offline" reaches the map as the worker's offline
alarm. The map layer ``sensors`` (layers/catalogue.py) draws it.
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

VIEW = """
CREATE VIEW sensor_map WITH (security_invoker = true) AS
SELECT s.id, s.code, s.kind, s.unit, s.chemical, s.hazard_unit_id, h.enterprise_id,
       s.threshold_low, s.threshold_high, s.threshold_high_high, s.interval_s,
       l.value AS latest_value, l.ts AS latest_at,
       coalesce(a.level, CASE WHEN l.sensor_id IS NULL THEN 'no_data' ELSE 'normal' END) AS status,
       coalesce(a.open_alarms, 0) AS open_alarms,
       s.adcode, s.version, s.updated_at, s.is_public, s.geom
FROM sensors s
LEFT JOIN hazard_units h ON h.id = s.hazard_unit_id
LEFT JOIN sensor_latest l ON l.sensor_id = s.id
LEFT JOIN LATERAL (
  SELECT (ARRAY['blue', 'yellow', 'orange', 'red'])[
           max(CASE al.level WHEN 'red' THEN 4 WHEN 'orange' THEN 3 WHEN 'yellow' THEN 2 ELSE 1 END)] AS level,
         count(*)::int AS open_alarms
  FROM alarms al WHERE al.sensor_id = s.id AND al.state <> 'cleared'
  HAVING count(*) > 0
) a ON true
WHERE s.valid_to IS NULL AND s.status = 'active';
"""


def upgrade() -> None:
    app_role = roles.app()
    op.execute(VIEW)
    op.execute(f"GRANT SELECT ON sensor_map TO {app_role}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS sensor_map")
