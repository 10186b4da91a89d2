"""Double-random inspections (双随机、一公开) and their findings.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23

``workflows/inspections.py`` holds the rule table and the moves,
``workflows/random_draw.py`` the draw itself (a pure function of the inputs
stored here). This migration freezes what the database repeats:

``inspectors`` — the inspector roster (执法检查人员名录库): ``name``, ``adcode``
(the region whose roster the inspector is on: a county, city or province
code), optional ``unit``, ``badge_no`` (执法证号) and ``username`` (the OneMap
login, when the inspector has one: then only the team's own members record
its findings), ``active``. Never deleted (``active = false``).

``inspector_conflicts`` — declared conflicts of interest (回避): inspector,
enterprise, ``kind`` (relative 近亲属, former_employee 曾任职, interest 利害关系,
other), ``reason``; append-only. The draw excludes these pairs.

``inspection_draws`` — one draw (抽查计划): ``adcode`` (the region drawn
from), ``period`` ('2026', '2026-11', '2026-Q4', '2026-H2'), ``title``, and the
inputs, frozen at insert (no role may change them afterwards, not even the
owner): ``filters``, ``strata``, ``team_size``, ``avoid_repeat_days``,
``seed`` (0 ≤ seed < 2^63) and ``seed_source`` (given | generated),
``algorithm`` ('onemap-draw/1'), ``pool`` (the enterprise pool as
``[[id, risk colour or 'unrated'], ...]`` by id), ``roster`` (inspector ids,
ascending), ``exclusions`` (``[[inspector, enterprise, 'declared'|'recent'],
...]``) and ``result_sha256`` (of the canonical result). Status
``drawn → published → in_progress → completed`` (or ``drawn → cancelled``,
which sets ``valid_to``); ``is_public`` only once published.

``inspection_tasks`` — one drawn enterprise (抽中企业): ``seq`` in the draw,
``enterprise_id``, ``stratum``, ``risk_colour`` at the draw, ``inspector_ids``
(the team, 2..10, leader first) and ``team_names``; ``geom``, ``adcode``
(the enterprise's county) and ``name`` are copied from the enterprise and
``team_names`` from the roster by a trigger. Status ``planned → inspected →
closed`` (or ``planned → cancelled`` with its draw); ``result`` (compliant,
findings, not_operating, not_located), ``result_summary``, ``inspected_on``,
``closed_on``. The map layer ``inspection_tasks`` draws them.

``inspection_findings`` — one problem found on a task (检查发现问题):
``title``, ``description``, ``legal_basis``, the ``hidden_danger_id`` it
created (in ``reported``, through the closed loop's own insert path) and the
optional ``record_id`` of the enforcement record (``enterprise_records``
kind ``enforcement``, severity = penalty, ``amount_yuan`` for a fine).
Nothing but ``is_public`` (false → true, when the task's result is
published) ever changes.

``inspection_transitions`` — the history of draws and tasks, append-only
(like ``hidden_danger_transitions``): a BEFORE INSERT trigger fills
``actor``/``actor_role`` from the request context, ``at``, ``adcode``,
``enterprise_id`` and ``txid``; a CHECK allows only the edges of the two
state machines (:data:`DRAW_EDGES` for rows without ``task_id``,
:data:`TASK_EDGES` for rows with one). The guard triggers refuse, for every
role but the table owner, a new draw or task in any status but the first and
a status change without a transition row recorded in the same transaction.

``enterprise_records`` gains ``amount_yuan`` (numeric(16, 2), only on an
enforcement record of severity ``fine``, > 0).

Row-level security: inspectors and draws by their ``adcode``
(``onemap_visible(adcode, NULL, is_public)``; written by regulators of that
region: ``onemap_may_write(adcode, NULL)``); tasks and findings by the
enterprise's county (``onemap_visible(adcode, enterprise_id, is_public)``, an
enterprise user sees its own once published), written by whoever may write
their draw; conflicts and history follow their inspector, draw or task,
never readable by the public. Publication sets ``is_public`` on the draw and
its tasks; the ``inspected`` move on the task's findings and enforcement
records. Audited, announced on /events (``inspector``, ``inspection_draw``,
``inspection_task``, ``inspection_finding``).
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ALGORITHMS = ("onemap-draw/1",)
DRAW_STATUSES = ("drawn", "published", "in_progress", "completed", "cancelled")
TASK_STATUSES = ("planned", "inspected", "closed", "cancelled")
RESULTS = ("compliant", "findings", "not_operating", "not_located")
CONFLICT_KINDS = ("relative", "former_employee", "interest", "other")
# action -> (from_status, to_status); frozen copies of workflows.inspections.DRAW_RULES / TASK_RULES
DRAW_EDGES = {
    "drawn": (None, "drawn"),
    "published": ("drawn", "published"),
    "started": ("published", "in_progress"),
    "completed": ("in_progress", "completed"),
    "cancelled": ("drawn", "cancelled"),
}
TASK_EDGES = {
    "planned": (None, "planned"),
    "inspected": ("planned", "inspected"),
    "closed": ("inspected", "closed"),
    "cancelled": ("planned", "cancelled"),
}
PEOPLE_ACTIONS = ("published", "started", "completed", "cancelled", "inspected", "closed")  # by the app role
MIN_TEAM, MAX_TEAM = 2, 10
TABLES = ("inspectors", "inspector_conflicts", "inspection_draws", "inspection_tasks", "inspection_findings",
          "inspection_transitions")
# table -> entity name of its events (geo/events.py ENTITIES)
EVENTS = {"inspectors": "inspector", "inspection_draws": "inspection_draw", "inspection_tasks": "inspection_task",
          "inspection_findings": "inspection_finding"}


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _edge_check() -> str:
    parts = []
    for task_sql, edges in (("task_id IS NULL", DRAW_EDGES), ("task_id IS NOT NULL", TASK_EDGES)):
        for action, (src, dst) in edges.items():
            src_sql = "from_status IS NULL" if src is None else f"from_status = '{src}'"
            parts.append(f"({task_sql} AND action = '{action}' AND {src_sql} AND to_status = '{dst}')")
    parts.append("action = 'maintenance'")
    return " OR ".join(parts)


_ROLE = "NULLIF(current_setting('onemap.role', true), '')"
_ACTOR = "coalesce(NULLIF(current_setting('onemap.actor', true), ''), session_user::text)"
_REGULATORS = "('county', 'city', 'province', 'admin')"
# the adcode prefix of a region (330211 → '330211', 330200 → '3302', 330000 → '33')
_PREFIX = ("(SELECT CASE r.level WHEN 'province' THEN left(r.adcode, 2) WHEN 'city' THEN left(r.adcode, 4) "
           "ELSE r.adcode END FROM regions r WHERE r.adcode = {})")
_DRAW_INPUTS = ("adcode", "period", "filters", "strata", "team_size", "avoid_repeat_days", "seed", "seed_source",
                "algorithm", "pool", "roster", "exclusions", "result_sha256", "drawn_by", "drawn_at")
_TASK_FIXED = ("draw_id", "seq", "enterprise_id", "name", "stratum", "risk_colour", "inspector_ids", "team_names",
               "geom", "adcode")
_FINDING_FIXED = ("task_id", "draw_id", "title", "description", "legal_basis", "hidden_danger_id", "record_id",
                  "recorded_by", "recorded_at", "adcode", "enterprise_id")


def _changed(cols) -> str:
    return " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in cols)


SCHEMA = rf"""
ALTER TABLE enterprise_records ADD COLUMN IF NOT EXISTS amount_yuan numeric(16, 2)
  CONSTRAINT enterprise_records_amount_check
  CHECK (amount_yuan IS NULL OR (kind = 'enforcement' AND severity = 'fine' AND amount_yuan > 0));

CREATE TABLE inspectors (
  id bigserial PRIMARY KEY,
  name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
  adcode text NOT NULL REFERENCES regions (adcode),
  unit text CHECK (length(btrim(unit)) BETWEEN 1 AND 200),
  badge_no text CHECK (badge_no ~ '^[0-9A-Za-z-]{{4,30}}$'),
  username text CHECK (length(btrim(username)) BETWEEN 1 AND 100),
  active boolean NOT NULL DEFAULT true,
  is_public boolean NOT NULL DEFAULT false,
  created_by text NOT NULL DEFAULT session_user,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX inspectors_badge_no_key ON inspectors (badge_no) WHERE badge_no IS NOT NULL;
CREATE UNIQUE INDEX inspectors_username_key ON inspectors (username) WHERE username IS NOT NULL;
CREATE INDEX inspectors_adcode_idx ON inspectors (adcode text_pattern_ops);

CREATE TABLE inspector_conflicts (
  id bigserial PRIMARY KEY,
  inspector_id bigint NOT NULL REFERENCES inspectors (id),
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  kind text NOT NULL CHECK (kind IN {_in(CONFLICT_KINDS)}),
  reason text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 400),
  declared_by text NOT NULL,
  declared_at timestamptz NOT NULL DEFAULT now(),
  adcode text NOT NULL REFERENCES regions (adcode),
  CONSTRAINT inspector_conflicts_pair_key UNIQUE (inspector_id, enterprise_id)
);
CREATE INDEX inspector_conflicts_enterprise_idx ON inspector_conflicts (enterprise_id);

CREATE TABLE inspection_draws (
  id bigserial PRIMARY KEY,
  adcode text NOT NULL REFERENCES regions (adcode),
  period text NOT NULL CHECK (period ~ '^[0-9]{{4}}(-(0[1-9]|1[0-2])|-Q[1-4]|-H[12])?$'),
  title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
  filters jsonb NOT NULL DEFAULT '{{}}' CHECK (jsonb_typeof(filters) = 'object'),
  strata jsonb NOT NULL CHECK (jsonb_typeof(strata) = 'array' AND jsonb_array_length(strata) BETWEEN 1 AND 20),
  team_size smallint NOT NULL DEFAULT 2 CHECK (team_size BETWEEN {MIN_TEAM} AND {MAX_TEAM}),
  avoid_repeat_days integer NOT NULL DEFAULT 365 CHECK (avoid_repeat_days BETWEEN 0 AND 3650),
  seed bigint NOT NULL CHECK (seed >= 0),
  seed_source text NOT NULL CHECK (seed_source IN ('given', 'generated')),
  algorithm text NOT NULL CHECK (algorithm IN {_in(ALGORITHMS)}),
  pool jsonb NOT NULL CHECK (jsonb_typeof(pool) = 'array' AND jsonb_array_length(pool) >= 1),
  roster bigint[] NOT NULL CHECK (cardinality(roster) >= {MIN_TEAM}),
  exclusions jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(exclusions) = 'array'),
  result_sha256 text NOT NULL CHECK (result_sha256 ~ '^[0-9a-f]{{64}}$'),
  task_count integer NOT NULL CHECK (task_count >= 1),
  status text NOT NULL DEFAULT 'drawn' CHECK (status IN {_in(DRAW_STATUSES)}),
  drawn_by text NOT NULL DEFAULT session_user,
  drawn_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  completed_at timestamptz,
  is_public boolean NOT NULL DEFAULT false,
  valid_to timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT inspection_draws_cancelled_check CHECK ((status = 'cancelled') = (valid_to IS NOT NULL)),
  CONSTRAINT inspection_draws_public_check
    CHECK (NOT is_public OR status IN ('published', 'in_progress', 'completed'))
);
CREATE INDEX inspection_draws_adcode_idx ON inspection_draws (adcode text_pattern_ops);
CREATE INDEX inspection_draws_drawn_at_idx ON inspection_draws (drawn_at);

CREATE TABLE inspection_tasks (
  id bigserial PRIMARY KEY,
  draw_id bigint NOT NULL REFERENCES inspection_draws (id),
  seq integer NOT NULL CHECK (seq >= 1),
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  name text NOT NULL,
  stratum text NOT NULL CHECK (length(stratum) BETWEEN 1 AND 40),
  risk_colour text CHECK (risk_colour IN ('red', 'orange', 'yellow', 'blue')),
  inspector_ids bigint[] NOT NULL CHECK (cardinality(inspector_ids) BETWEEN {MIN_TEAM} AND {MAX_TEAM}),
  team_names text[] NOT NULL DEFAULT '{{}}',
  status text NOT NULL DEFAULT 'planned' CHECK (status IN {_in(TASK_STATUSES)}),
  result text CHECK (result IN {_in(RESULTS)}),
  result_summary text CHECK (length(btrim(result_summary)) BETWEEN 1 AND 4000),
  inspected_on date,
  closed_on date,
  geom geometry(Point, 4326) NOT NULL,
  adcode text NOT NULL REFERENCES regions (adcode),
  is_public boolean NOT NULL DEFAULT false,
  valid_to timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT inspection_tasks_enterprise_key UNIQUE (draw_id, enterprise_id),
  CONSTRAINT inspection_tasks_seq_key UNIQUE (draw_id, seq),
  CONSTRAINT inspection_tasks_inspected_check
    CHECK ((status IN ('inspected', 'closed')) = (result IS NOT NULL AND inspected_on IS NOT NULL)),
  CONSTRAINT inspection_tasks_closed_check CHECK ((status = 'closed') = (closed_on IS NOT NULL)),
  CONSTRAINT inspection_tasks_cancelled_check CHECK ((status = 'cancelled') = (valid_to IS NOT NULL))
);
CREATE INDEX inspection_tasks_geom_gist ON inspection_tasks USING gist (geom);
CREATE INDEX inspection_tasks_adcode_idx ON inspection_tasks (adcode text_pattern_ops);
CREATE INDEX inspection_tasks_enterprise_idx ON inspection_tasks (enterprise_id);
CREATE INDEX inspection_tasks_inspectors_idx ON inspection_tasks USING gin (inspector_ids);

CREATE TABLE inspection_findings (
  id bigserial PRIMARY KEY,
  task_id bigint NOT NULL REFERENCES inspection_tasks (id),
  draw_id bigint NOT NULL REFERENCES inspection_draws (id),
  title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
  description text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 4000),
  legal_basis text CHECK (length(btrim(legal_basis)) BETWEEN 1 AND 400),
  hidden_danger_id bigint NOT NULL REFERENCES hidden_dangers (id),
  record_id bigint REFERENCES enterprise_records (id),
  recorded_by text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  adcode text NOT NULL REFERENCES regions (adcode),
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  is_public boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT inspection_findings_danger_key UNIQUE (hidden_danger_id)
);
CREATE INDEX inspection_findings_task_idx ON inspection_findings (task_id, id);
CREATE INDEX inspection_findings_adcode_idx ON inspection_findings (adcode text_pattern_ops);

CREATE TABLE inspection_transitions (
  id bigserial PRIMARY KEY,
  draw_id bigint NOT NULL REFERENCES inspection_draws (id),
  task_id bigint REFERENCES inspection_tasks (id),
  from_status text,
  to_status text NOT NULL,
  action text NOT NULL,
  note text CHECK (length(note) <= 4000),
  details jsonb NOT NULL DEFAULT '{{}}' CHECK (jsonb_typeof(details) = 'object'),
  actor text NOT NULL,
  actor_role text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  adcode text NOT NULL REFERENCES regions (adcode),
  enterprise_id bigint REFERENCES enterprises (id),
  txid bigint NOT NULL DEFAULT txid_current(),
  CONSTRAINT inspection_transitions_edge_check CHECK ({_edge_check()})
);
CREATE INDEX inspection_transitions_draw_idx ON inspection_transitions (draw_id, id);
CREATE INDEX inspection_transitions_task_idx ON inspection_transitions (task_id, id) WHERE task_id IS NOT NULL;
CREATE INDEX inspection_transitions_adcode_idx ON inspection_transitions (adcode text_pattern_ops);

-- Who declared, and the inspector's region: never from input.
CREATE FUNCTION onemap_insp_conflict_fill() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  SELECT i.adcode INTO NEW.adcode FROM inspectors i WHERE i.id = NEW.inspector_id;
  IF NEW.adcode IS NULL THEN
    RAISE EXCEPTION 'inspector_id: no inspector %', NEW.inspector_id USING ERRCODE = 'OMW02';
  END IF;
  NEW.declared_by := {_ACTOR};
  NEW.declared_at := now();
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_insp_inspector_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.created_by := {_ACTOR};
  ELSE
    NEW.created_by := OLD.created_by;
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_insp_draw_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND ({_changed(_DRAW_INPUTS)}) THEN
    RAISE EXCEPTION 'draw: the inputs and the result of a draw are recorded once and never changed'
      USING ERRCODE = 'OMW01';
  END IF;
  IF onemap_is_table_owner(TG_RELID) THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status IS DISTINCT FROM 'drawn' OR NEW.is_public OR NEW.published_at IS NOT NULL
       OR NEW.completed_at IS NOT NULL THEN
      RAISE EXCEPTION 'status: a new draw starts as drawn, not public' USING ERRCODE = 'OMW01';
    END IF;
    NEW.drawn_by := {_ACTOR};
    NEW.drawn_at := now();
    RETURN NEW;
  END IF;
  IF (NEW.status IS DISTINCT FROM OLD.status OR NEW.is_public IS DISTINCT FROM OLD.is_public
      OR NEW.published_at IS DISTINCT FROM OLD.published_at OR NEW.completed_at IS DISTINCT FROM OLD.completed_at
      OR NEW.valid_to IS DISTINCT FROM OLD.valid_to) AND NOT EXISTS (
      SELECT 1 FROM inspection_transitions t
      WHERE t.draw_id = NEW.id AND t.task_id IS NULL AND t.txid = txid_current()
        AND t.from_status = OLD.status AND t.to_status = NEW.status) THEN
    RAISE EXCEPTION 'status: changes only through POST /inspections/draws/%/transitions', NEW.id
      USING ERRCODE = 'OMW01';
  END IF;
  RETURN NEW;
END $$;

-- A task's place, name and team names come from the enterprise and the roster (SECURITY DEFINER:
-- found even when the writer cannot see them; the write policy then decides).
CREATE FUNCTION onemap_insp_task_fill() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  e record;
  names text[];
  found_ids int;
  prefix text;
BEGIN
  SELECT en.geom, en.adcode, en.name INTO e FROM enterprises en WHERE en.id = NEW.enterprise_id;
  IF e.adcode IS NULL THEN
    RAISE EXCEPTION 'enterprise_id: no enterprise %', NEW.enterprise_id USING ERRCODE = 'OMW02';
  END IF;
  SELECT {_PREFIX.format('d.adcode')} INTO prefix FROM inspection_draws d WHERE d.id = NEW.draw_id;
  IF prefix IS NULL OR NOT starts_with(e.adcode, prefix) THEN
    RAISE EXCEPTION 'enterprise_id: enterprise % lies outside the region of draw %', NEW.enterprise_id, NEW.draw_id
      USING ERRCODE = 'OMW01';
  END IF;
  IF (SELECT count(DISTINCT x) FROM unnest(NEW.inspector_ids) x) <> cardinality(NEW.inspector_ids) THEN
    RAISE EXCEPTION 'inspector_ids: an inspector is listed twice' USING ERRCODE = 'OMW01';
  END IF;
  SELECT count(*), array_agg(i.name ORDER BY u.ord) INTO found_ids, names
    FROM unnest(NEW.inspector_ids) WITH ORDINALITY u(id, ord) JOIN inspectors i ON i.id = u.id;
  IF found_ids <> cardinality(NEW.inspector_ids) THEN
    RAISE EXCEPTION 'inspector_ids: no such inspector' USING ERRCODE = 'OMW02';
  END IF;
  NEW.geom := e.geom;
  NEW.adcode := e.adcode;
  NEW.name := e.name;
  NEW.team_names := names;
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_insp_task_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND ({_changed(_TASK_FIXED)}) THEN
    RAISE EXCEPTION 'task: the enterprise and the team of a drawn task never change' USING ERRCODE = 'OMW01';
  END IF;
  IF onemap_is_table_owner(TG_RELID) THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status IS DISTINCT FROM 'planned' OR NEW.is_public OR NEW.result IS NOT NULL THEN
      RAISE EXCEPTION 'status: a new task starts as planned, not public' USING ERRCODE = 'OMW01';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM inspection_draws d WHERE d.id = NEW.draw_id AND d.status = 'drawn'
                   AND d.drawn_at = now()) THEN
      RAISE EXCEPTION 'draw_id: tasks are written by the draw itself (POST /inspections/draws)'
        USING ERRCODE = 'OMW01';
    END IF;
    RETURN NEW;
  END IF;
  IF ({_changed(("status", "result", "result_summary", "inspected_on", "closed_on", "valid_to"))}) AND NOT EXISTS (
      SELECT 1 FROM inspection_transitions t
      WHERE t.task_id = NEW.id AND t.txid = txid_current() AND t.from_status = OLD.status
        AND t.to_status = NEW.status) THEN
    RAISE EXCEPTION 'status: changes only through POST /inspections/tasks/%/transitions', NEW.id
      USING ERRCODE = 'OMW01';
  END IF;
  IF NEW.is_public IS DISTINCT FROM OLD.is_public AND NOT EXISTS (
      SELECT 1 FROM inspection_transitions t
      WHERE t.draw_id = NEW.draw_id AND t.task_id IS NULL AND t.txid = txid_current()
        AND t.action = 'published') THEN
    RAISE EXCEPTION 'is_public: a task is published with its draw (POST /inspections/draws/%/transitions)',
      NEW.draw_id USING ERRCODE = 'OMW01';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_insp_finding_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT t.draw_id, t.adcode, t.enterprise_id INTO NEW.draw_id, NEW.adcode, NEW.enterprise_id
    FROM inspection_tasks t WHERE t.id = NEW.task_id;
  IF NEW.adcode IS NULL THEN
    RAISE EXCEPTION 'task_id: no inspection task %', NEW.task_id USING ERRCODE = 'OMW02';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM hidden_dangers d WHERE d.id = NEW.hidden_danger_id
                 AND d.enterprise_id = NEW.enterprise_id) THEN
    RAISE EXCEPTION 'hidden_danger_id: the hidden danger of a finding belongs to the inspected enterprise'
      USING ERRCODE = 'OMW01';
  END IF;
  IF NEW.record_id IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM enterprise_records r WHERE r.id = NEW.record_id AND r.enterprise_id = NEW.enterprise_id
        AND r.kind = 'enforcement') THEN
    RAISE EXCEPTION 'record_id: the enforcement record of a finding belongs to the inspected enterprise'
      USING ERRCODE = 'OMW01';
  END IF;
  NEW.recorded_by := {_ACTOR};
  NEW.recorded_at := now();
  IF NOT onemap_is_table_owner(TG_RELID) THEN
    NEW.is_public := false;
  END IF;
  RETURN NEW;
END $$;

-- Findings never change, except that they are published (false → true).
CREATE FUNCTION onemap_insp_finding_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF ({_changed(_FINDING_FIXED)}) OR (OLD.is_public AND NOT NEW.is_public) THEN
    RAISE EXCEPTION 'finding: a recorded finding never changes (it is only published)' USING ERRCODE = 'OMW01';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_insp_transition_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.task_id IS NULL THEN
    SELECT d.adcode, NULL INTO NEW.adcode, NEW.enterprise_id FROM inspection_draws d WHERE d.id = NEW.draw_id;
  ELSE
    SELECT t.adcode, t.enterprise_id, t.draw_id INTO NEW.adcode, NEW.enterprise_id, NEW.draw_id
      FROM inspection_tasks t WHERE t.id = NEW.task_id;
  END IF;
  IF NEW.adcode IS NULL THEN
    RAISE EXCEPTION 'draw_id: no inspection draw %', NEW.draw_id USING ERRCODE = 'OMW02';
  END IF;
  NEW.actor := {_ACTOR};
  NEW.actor_role := coalesce({_ROLE}, 'system');
  NEW.at := now();
  NEW.txid := txid_current();
  RETURN NEW;
END $$;

-- Every new draw and task gets its first history row (SECURITY DEFINER: the app role itself may record
-- only the moves of people); the owner's status changes outside the workflow are recorded as maintenance.
CREATE FUNCTION onemap_insp_draw_history_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO inspection_transitions (draw_id, task_id, from_status, to_status, action, details)
  SELECT n.id, NULL, NULL, n.status, CASE WHEN n.status = 'drawn' THEN 'drawn' ELSE 'maintenance' END,
         jsonb_build_object('seed', n.seed::text, 'algorithm', n.algorithm, 'task_count', n.task_count,
                            'result_sha256', n.result_sha256)
  FROM new_rows n ORDER BY n.id;
  RETURN NULL;
END $$;

CREATE FUNCTION onemap_insp_draw_history_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO inspection_transitions (draw_id, task_id, from_status, to_status, action)
  SELECT n.id, NULL, o.status, n.status, 'maintenance'
  FROM new_rows n JOIN old_rows o ON o.id = n.id
  WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS (
      SELECT 1 FROM inspection_transitions t
      WHERE t.draw_id = n.id AND t.task_id IS NULL AND t.txid = txid_current()
        AND t.from_status = o.status AND t.to_status = n.status)
  ORDER BY n.id;
  RETURN NULL;
END $$;

CREATE FUNCTION onemap_insp_task_history_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO inspection_transitions (draw_id, task_id, from_status, to_status, action, details)
  SELECT n.draw_id, n.id, NULL, n.status, CASE WHEN n.status = 'planned' THEN 'planned' ELSE 'maintenance' END,
         jsonb_build_object('seq', n.seq, 'inspector_ids', to_jsonb(n.inspector_ids))
  FROM new_rows n ORDER BY n.id;
  RETURN NULL;
END $$;

CREATE FUNCTION onemap_insp_task_history_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO inspection_transitions (draw_id, task_id, from_status, to_status, action)
  SELECT n.draw_id, n.id, o.status, n.status, 'maintenance'
  FROM new_rows n JOIN old_rows o ON o.id = n.id
  WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS (
      SELECT 1 FROM inspection_transitions t
      WHERE t.task_id = n.id AND t.txid = txid_current() AND t.from_status = o.status AND t.to_status = n.status)
  ORDER BY n.id;
  RETURN NULL;
END $$;

CREATE TRIGGER inspectors_fill BEFORE INSERT OR UPDATE ON inspectors
  FOR EACH ROW EXECUTE FUNCTION onemap_insp_inspector_fill();
CREATE TRIGGER inspectors_touch BEFORE UPDATE ON inspectors FOR EACH ROW EXECUTE FUNCTION onemap_touch();
CREATE TRIGGER inspectors_no_delete BEFORE DELETE ON inspectors FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete();

CREATE TRIGGER inspector_conflicts_fill BEFORE INSERT ON inspector_conflicts
  FOR EACH ROW EXECUTE FUNCTION onemap_insp_conflict_fill();
CREATE TRIGGER inspector_conflicts_append_only BEFORE UPDATE OR DELETE ON inspector_conflicts
  FOR EACH ROW EXECUTE FUNCTION onemap_append_only();

CREATE TRIGGER inspection_draws_guard BEFORE INSERT OR UPDATE ON inspection_draws
  FOR EACH ROW EXECUTE FUNCTION onemap_insp_draw_guard();
CREATE TRIGGER inspection_draws_touch BEFORE UPDATE ON inspection_draws
  FOR EACH ROW EXECUTE FUNCTION onemap_touch();
CREATE TRIGGER inspection_draws_no_delete BEFORE DELETE ON inspection_draws
  FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete();
CREATE TRIGGER inspection_draws_history_insert AFTER INSERT ON inspection_draws
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_insp_draw_history_insert();
CREATE TRIGGER inspection_draws_history_update AFTER UPDATE ON inspection_draws
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_insp_draw_history_update();

CREATE TRIGGER inspection_tasks_fill BEFORE INSERT ON inspection_tasks
  FOR EACH ROW EXECUTE FUNCTION onemap_insp_task_fill();
CREATE TRIGGER inspection_tasks_guard BEFORE INSERT OR UPDATE ON inspection_tasks
  FOR EACH ROW EXECUTE FUNCTION onemap_insp_task_guard();
CREATE TRIGGER inspection_tasks_touch BEFORE UPDATE ON inspection_tasks
  FOR EACH ROW EXECUTE FUNCTION onemap_touch();
CREATE TRIGGER inspection_tasks_no_delete BEFORE DELETE ON inspection_tasks
  FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete();
CREATE TRIGGER inspection_tasks_history_insert AFTER INSERT ON inspection_tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_insp_task_history_insert();
CREATE TRIGGER inspection_tasks_history_update AFTER UPDATE ON inspection_tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_insp_task_history_update();

CREATE TRIGGER inspection_findings_fill BEFORE INSERT ON inspection_findings
  FOR EACH ROW EXECUTE FUNCTION onemap_insp_finding_fill();
CREATE TRIGGER inspection_findings_guard BEFORE UPDATE ON inspection_findings
  FOR EACH ROW EXECUTE FUNCTION onemap_insp_finding_guard();
CREATE TRIGGER inspection_findings_touch BEFORE UPDATE ON inspection_findings
  FOR EACH ROW EXECUTE FUNCTION onemap_touch();
CREATE TRIGGER inspection_findings_no_delete BEFORE DELETE ON inspection_findings
  FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete();

CREATE TRIGGER inspection_transitions_fill BEFORE INSERT ON inspection_transitions
  FOR EACH ROW EXECUTE FUNCTION onemap_insp_transition_fill();
CREATE TRIGGER inspection_transitions_append_only BEFORE UPDATE OR DELETE ON inspection_transitions
  FOR EACH ROW EXECUTE FUNCTION onemap_append_only();
"""

_READ_PLACE = "onemap_visible(adcode, NULL, is_public)"
_WRITE_PLACE = "onemap_may_write(adcode, NULL)"
# tasks: the enterprise's county; an enterprise user sees its own only once published (unannounced visits)
_TASK_READ = (f"onemap_visible(adcode, enterprise_id, is_public) "
              f"AND (is_public OR {_ROLE} NOT IN ('enterprise', 'public'))")
_FINDING_READ = "onemap_visible(adcode, enterprise_id, is_public)"


def _draw_writable(column: str) -> str:
    return (f"EXISTS (SELECT 1 FROM inspection_draws d WHERE d.id = {column} "
            f"AND onemap_may_write(d.adcode, NULL))")


_TASK_WRITE = _draw_writable("inspection_tasks.draw_id")
_FINDING_WRITE = (f"{_ROLE} IN {_REGULATORS} AND EXISTS (SELECT 1 FROM inspection_tasks t "
                  f"WHERE t.id = inspection_findings.task_id AND {_draw_writable('t.draw_id')})")
_CONFLICT_READ = (f"{_ROLE} IN {_REGULATORS} AND EXISTS (SELECT 1 FROM inspectors i "
                  f"WHERE i.id = inspector_conflicts.inspector_id)")
_CONFLICT_WRITE = (f"{_ROLE} IN {_REGULATORS} AND EXISTS (SELECT 1 FROM inspectors i "
                   f"WHERE i.id = inspector_conflicts.inspector_id AND onemap_may_write(i.adcode, NULL))")
_HISTORY_READ = (f"{_ROLE} <> 'public' AND EXISTS (SELECT 1 FROM inspection_draws d "
                 f"WHERE d.id = inspection_transitions.draw_id) AND (inspection_transitions.task_id IS NULL "
                 f"OR EXISTS (SELECT 1 FROM inspection_tasks t WHERE t.id = inspection_transitions.task_id))")
_HISTORY_WRITE = (f"{_ROLE} IN {_REGULATORS} AND action IN {_in(PEOPLE_ACTIONS)} "
                  f"AND {_draw_writable('inspection_transitions.draw_id')}")

# table -> (read, insert, update or None)
POLICIES = {
    "inspectors": (_READ_PLACE, f"{_ROLE} IN {_REGULATORS} AND {_WRITE_PLACE}",
                   f"{_ROLE} IN {_REGULATORS} AND {_WRITE_PLACE}"),
    "inspector_conflicts": (_CONFLICT_READ, _CONFLICT_WRITE, None),
    "inspection_draws": (_READ_PLACE, f"{_ROLE} IN {_REGULATORS} AND {_WRITE_PLACE}",
                         f"{_ROLE} IN {_REGULATORS} AND {_WRITE_PLACE}"),
    "inspection_tasks": (_TASK_READ, f"{_ROLE} IN {_REGULATORS} AND {_TASK_WRITE}",
                         f"{_ROLE} IN {_REGULATORS} AND {_TASK_WRITE}"),
    "inspection_findings": (_FINDING_READ, _FINDING_WRITE, _FINDING_WRITE),
    "inspection_transitions": (_HISTORY_READ, _HISTORY_WRITE, None),
}
DEFINERS = ("onemap_insp_conflict_fill()", "onemap_insp_task_fill()", "onemap_insp_draw_history_insert()",
            "onemap_insp_task_history_insert()")
FUNCTIONS = ["onemap_insp_task_history_update()", "onemap_insp_task_history_insert()",
             "onemap_insp_draw_history_update()", "onemap_insp_draw_history_insert()",
             "onemap_insp_transition_fill()", "onemap_insp_finding_guard()", "onemap_insp_finding_fill()",
             "onemap_insp_task_guard()", "onemap_insp_task_fill()", "onemap_insp_draw_guard()",
             "onemap_insp_inspector_fill()", "onemap_insp_conflict_fill()"]


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    op.execute(SCHEMA)
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_owner_maintenance ON {table} TO {owner} USING (true) WITH CHECK (true)")
        read, write, change = POLICIES[table]
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT TO {app_role} USING ({read})")
        op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT TO {app_role} WITH CHECK ({write})")
        privileges = "SELECT, INSERT"
        if change is not None:
            op.execute(f"CREATE POLICY {table}_update ON {table} FOR UPDATE TO {app_role} "
                       f"USING ({change}) WITH CHECK ({change})")
            privileges += ", UPDATE"
        if table == "inspection_findings":
            privileges = "SELECT, INSERT"  # and UPDATE of is_public only (below)
        op.execute(f"GRANT {privileges} ON {table} TO {app_role}")
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {app_role}")
        # audit: history and conflicts are append-only, the rest is updated in place
        op.execute(f"CREATE TRIGGER {table}_audit_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_insert('id')")
        if change is not None:
            op.execute(f"CREATE TRIGGER {table}_audit_update AFTER UPDATE ON {table} REFERENCING OLD TABLE AS "
                       f"old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_update('id')")
        op.execute(f"CREATE TRIGGER {table}_audit_truncate AFTER TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate()")
    op.execute(f"GRANT UPDATE (is_public) ON inspection_findings TO {app_role}")
    for table, entity in EVENTS.items():  # after the audit triggers (names sort later): see 0004
        op.execute(f"INSERT INTO data_versions (table_name) VALUES ('{table}')")
        op.execute(f"CREATE TRIGGER {table}_events_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION onemap_events_emit('{entity}', 'id')")
        op.execute(f"CREATE TRIGGER {table}_events_update AFTER UPDATE ON {table} REFERENCING OLD TABLE AS "
                   f"old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION onemap_events_emit('{entity}', 'id')")
    for fn in DEFINERS:
        op.execute(f"REVOKE EXECUTE ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {app_role}")


def downgrade() -> None:
    op.execute("DELETE FROM data_versions WHERE table_name IN ("
               + ", ".join(f"'{t}'" for t in EVENTS) + ")")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    for fn in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("ALTER TABLE enterprise_records DROP COLUMN IF EXISTS amount_yuan")
