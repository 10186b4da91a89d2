"""Enterprise credit and blacklist (诚信管理 / 黑名单): manual credit events, scores, the blacklist.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23

``workflows/credit_rules.py`` reads the rule table (``data/credit_rules.csv``)
and ``workflows/credit.py`` computes scores and listings; this migration
stores what they need and freezes what the database repeats.

``credit_events`` — credit events a regulator records by hand (the others are
derived: accidents and enforcement actions from ``enterprise_records``,
overdue and on-time hidden dangers from ``hidden_dangers``). ``kind`` one of
:data:`MANUAL_KINDS`; ``occurred_on`` (not in the future); ``points`` an
optional override of the rule's points (same sign, checked by the service);
``description`` (what happened) and ``source`` (document number, who found
it) required; ``recorded_by``/``recorded_role`` from the request context;
``adcode`` copied from the enterprise. Withdrawn, never deleted: ``valid_to``
with ``withdraw_reason`` (set once, together; every other column is frozen).

``credit_scores`` — the latest computed score of each enterprise (one row,
key ``enterprise_id``): ``score`` (clipped), ``raw_score``, ``grade`` A–D,
``blacklisted``, ``breakdown`` (jsonb: every rule that counted, with its
events), ``events_counted``, ``as_of`` (the day it was computed for),
``rules_source``/``rules_sha256`` (which rule table), ``computed_at``.
Rewritten only when the result changes.

``blacklist_entries`` — the blacklist (严重失信主体名单) and its history:
one row per listing, never deleted, never changed except the removal, which
is set once (``removed_on``, ``removal_via`` regulator|auto,
``removal_reason``; ``removed_by``/``removed_role``/``removed_at`` from the
context). ``via`` rule|manual, ``rule_ids``, ``reasons`` (jsonb array, never
empty), ``note`` (a manual listing's reason, required), ``listed_by``/
``listed_role``/``listed_at`` from the context (``system`` for the maintenance
path), ``enterprise_name``/``uscc`` copied from the enterprise when listed (the
public list shows them), ``status`` generated (listed | removed). At most one
open entry per enterprise (partial unique index). A guard refuses, for every
role including the owner, any other change and any DELETE.

``credit_map`` — a view (``security_invoker``: the caller's row-level
security applies to each table) of current enterprises with a score: the
map layer ``credit_grades`` (grade colours, black outline when listed).

Row-level security: ``credit_events`` and ``credit_scores`` are read like
``enterprise_records`` (``onemap_visible(adcode, enterprise_id, is_public)``:
a county sees its county, an enterprise user its own) and written by
regulators only (``onemap_may_write(adcode, NULL)``). ``blacklist_entries`` is
a public list: every caller with a context (the anonymous ``public`` role
included) reads every entry; regulators of the enterprise's county or above
insert and remove. Audited; announced on ``/events`` as ``credit_event.*``,
``credit_score.*`` and ``blacklist_entry.*`` (``blacklist_entry.created`` when
listed, ``.updated`` with status ``removed`` when removed).
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# frozen copies of workflows.credit_rules (a test compares them)
MANUAL_KINDS = ("violation", "obstruction", "concealed_accident", "commitment_signed", "commitment_kept",
                "commitment_broken", "honour")
GRADES = ("A", "B", "C", "D")
TRACKED = {"credit_events": ("credit_event", "id"), "credit_scores": ("credit_score", "enterprise_id"),
           "blacklist_entries": ("blacklist_entry", "id")}
TRIGGER_PREFIX = {"credit_events": "credit_event"}


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_ROLE = "NULLIF(current_setting('onemap.role', true), '')"
_ACTOR = "coalesce(NULLIF(current_setting('onemap.actor', true), ''), session_user::text)"

SCHEMA = rf"""
CREATE TABLE credit_events (
  id bigserial PRIMARY KEY,
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  kind text NOT NULL CONSTRAINT credit_events_kind_check CHECK (kind IN {_in(MANUAL_KINDS)}),
  occurred_on date NOT NULL CHECK (occurred_on >= DATE '2000-01-01'),
  points numeric(6, 2) CONSTRAINT credit_events_points_check CHECK (points BETWEEN -100 AND 100 AND points <> 0),
  description text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 4000),
  source text NOT NULL CHECK (length(btrim(source)) BETWEEN 1 AND 200),
  recorded_by text NOT NULL,
  recorded_role text NOT NULL,
  adcode text NOT NULL REFERENCES regions (adcode),
  is_public boolean NOT NULL DEFAULT false,
  valid_to timestamptz,
  withdraw_reason text CHECK (length(btrim(withdraw_reason)) BETWEEN 1 AND 4000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT credit_events_withdrawal_check CHECK ((valid_to IS NULL) = (withdraw_reason IS NULL))
);
CREATE INDEX credit_events_enterprise_idx ON credit_events (enterprise_id, occurred_on DESC);
CREATE INDEX credit_events_adcode_idx ON credit_events (adcode text_pattern_ops);
CREATE INDEX credit_events_occurred_idx ON credit_events (occurred_on);

CREATE TABLE credit_scores (
  enterprise_id bigint PRIMARY KEY REFERENCES enterprises (id),
  score numeric(6, 2) NOT NULL,
  raw_score numeric(10, 2) NOT NULL,
  grade text NOT NULL CONSTRAINT credit_scores_grade_check CHECK (grade IN {_in(GRADES)}),
  blacklisted boolean NOT NULL DEFAULT false,
  breakdown jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(breakdown) = 'array'),
  events_counted integer NOT NULL DEFAULT 0 CHECK (events_counted >= 0),
  as_of date NOT NULL,
  rules_source text NOT NULL CHECK (length(rules_source) BETWEEN 1 AND 200),
  rules_sha256 text NOT NULL CHECK (rules_sha256 ~ '^[0-9a-f]{{64}}$'),
  computed_at timestamptz NOT NULL DEFAULT now(),
  adcode text NOT NULL REFERENCES regions (adcode),
  is_public boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1
);
CREATE INDEX credit_scores_adcode_idx ON credit_scores (adcode text_pattern_ops);
CREATE INDEX credit_scores_grade_idx ON credit_scores (grade);

CREATE TABLE blacklist_entries (
  id bigserial PRIMARY KEY,
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  enterprise_name text NOT NULL,
  uscc text NOT NULL,
  listed_on date NOT NULL CHECK (listed_on >= DATE '2000-01-01'),
  listed_at timestamptz NOT NULL DEFAULT now(),
  via text NOT NULL CHECK (via IN ('rule', 'manual')),
  rule_ids text[] NOT NULL DEFAULT '{{}}',
  reasons jsonb NOT NULL CHECK (jsonb_typeof(reasons) = 'array' AND jsonb_array_length(reasons) >= 1),
  note text CHECK (length(btrim(note)) BETWEEN 1 AND 4000),
  rules_sha256 text CHECK (rules_sha256 ~ '^[0-9a-f]{{64}}$'),
  listed_by text NOT NULL,
  listed_role text NOT NULL,
  removed_on date,
  removed_at timestamptz,
  removed_by text,
  removed_role text,
  removal_via text CHECK (removal_via IN ('regulator', 'auto')),
  removal_reason text CHECK (length(btrim(removal_reason)) BETWEEN 1 AND 4000),
  status text GENERATED ALWAYS AS (CASE WHEN removed_on IS NULL THEN 'listed' ELSE 'removed' END) STORED,
  adcode text NOT NULL REFERENCES regions (adcode),
  is_public boolean NOT NULL DEFAULT true CHECK (is_public),
  CONSTRAINT blacklist_entries_rules_check CHECK (via = 'manual' OR (cardinality(rule_ids) >= 1 AND rules_sha256 IS NOT NULL)),
  CONSTRAINT blacklist_entries_manual_note_check CHECK (via = 'rule' OR note IS NOT NULL),
  CONSTRAINT blacklist_entries_removal_check CHECK (
    (removed_on IS NULL AND removal_via IS NULL AND removal_reason IS NULL AND removed_by IS NULL)
    OR (removed_on IS NOT NULL AND removal_via IS NOT NULL AND removal_reason IS NOT NULL AND removed_by IS NOT NULL
        AND removed_on >= listed_on))
);
CREATE UNIQUE INDEX blacklist_entries_one_open_idx ON blacklist_entries (enterprise_id) WHERE removed_on IS NULL;
CREATE INDEX blacklist_entries_enterprise_idx ON blacklist_entries (enterprise_id, id);
CREATE INDEX blacklist_entries_adcode_idx ON blacklist_entries (adcode text_pattern_ops);

-- Manual events: who recorded it (never from input); after that only the withdrawal, once.
CREATE FUNCTION onemap_credit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.recorded_by := {_ACTOR};
    NEW.recorded_role := coalesce({_ROLE}, 'system');
    IF NEW.occurred_on > current_date THEN
      RAISE EXCEPTION 'occurred_on: % is in the future', NEW.occurred_on USING ERRCODE = 'OMW01';
    END IF;
    IF NEW.valid_to IS NOT NULL OR NEW.withdraw_reason IS NOT NULL THEN
      RAISE EXCEPTION 'valid_to: a new credit event is not withdrawn' USING ERRCODE = 'OMW01';
    END IF;
    RETURN NEW;
  END IF;
  IF (NEW.id, NEW.enterprise_id, NEW.kind, NEW.occurred_on, NEW.points, NEW.description, NEW.source,
      NEW.recorded_by, NEW.recorded_role, NEW.is_public, NEW.created_at)
     IS DISTINCT FROM (OLD.id, OLD.enterprise_id, OLD.kind, OLD.occurred_on, OLD.points, OLD.description,
      OLD.source, OLD.recorded_by, OLD.recorded_role, OLD.is_public, OLD.created_at) THEN
    RAISE EXCEPTION 'credit_events: a recorded event is never changed; withdraw it and record a new one'
      USING ERRCODE = 'OMW01';
  END IF;
  IF OLD.valid_to IS NOT NULL AND (NEW.valid_to IS DISTINCT FROM OLD.valid_to
                                   OR NEW.withdraw_reason IS DISTINCT FROM OLD.withdraw_reason) THEN
    RAISE EXCEPTION 'valid_to: credit event % is already withdrawn', OLD.id USING ERRCODE = 'OMW01';
  END IF;
  RETURN NEW;
END $$;

-- The blacklist: who listed and what is shown publicly are taken from the context and the enterprise.
CREATE FUNCTION onemap_blacklist_fill() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  SELECT e.adcode, e.name, e.uscc INTO NEW.adcode, NEW.enterprise_name, NEW.uscc
    FROM enterprises e WHERE e.id = NEW.enterprise_id;
  IF NEW.adcode IS NULL THEN
    RAISE EXCEPTION 'enterprise_id: no enterprise %', NEW.enterprise_id USING ERRCODE = 'OMW02';
  END IF;
  IF NEW.removed_on IS NOT NULL OR NEW.removal_reason IS NOT NULL OR NEW.removal_via IS NOT NULL THEN
    RAISE EXCEPTION 'removed_on: a new entry is listed, not removed' USING ERRCODE = 'OMW01';
  END IF;
  NEW.listed_by := {_ACTOR};
  NEW.listed_role := coalesce({_ROLE}, 'system');
  NEW.listed_at := now();
  NEW.removed_by := NULL;
  NEW.removed_role := NULL;
  NEW.removed_at := NULL;
  RETURN NEW;
END $$;

-- Append-only but for the removal, set once (for every role, the owner included).
CREATE FUNCTION onemap_blacklist_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'rows of blacklist_entries are never deleted: remove the entry instead'
      USING ERRCODE = 'OMD02';
  END IF;
  IF (NEW.id, NEW.enterprise_id, NEW.enterprise_name, NEW.uscc, NEW.listed_on, NEW.listed_at, NEW.via,
      NEW.rule_ids, NEW.reasons, NEW.note, NEW.rules_sha256, NEW.listed_by, NEW.listed_role, NEW.adcode,
      NEW.is_public)
     IS DISTINCT FROM (OLD.id, OLD.enterprise_id, OLD.enterprise_name, OLD.uscc, OLD.listed_on, OLD.listed_at,
      OLD.via, OLD.rule_ids, OLD.reasons, OLD.note, OLD.rules_sha256, OLD.listed_by, OLD.listed_role, OLD.adcode,
      OLD.is_public) THEN
    RAISE EXCEPTION 'blacklist_entries: a listing is never changed (append-only); only its removal is recorded'
      USING ERRCODE = 'OMD02';
  END IF;
  IF OLD.removed_on IS NOT NULL THEN
    RAISE EXCEPTION 'removed_on: blacklist entry % was already removed on %', OLD.id, OLD.removed_on
      USING ERRCODE = 'OMD02';
  END IF;
  IF NEW.removed_on IS NULL OR NEW.removal_reason IS NULL OR NEW.removal_via IS NULL THEN
    RAISE EXCEPTION 'removal_reason: a removal sets removed_on, removal_via and removal_reason together'
      USING ERRCODE = 'OMW01';
  END IF;
  IF NEW.removed_on < OLD.listed_on THEN
    RAISE EXCEPTION 'removed_on: % is before the listing (%)', NEW.removed_on, OLD.listed_on USING ERRCODE = 'OMW01';
  END IF;
  NEW.removed_by := {_ACTOR};
  NEW.removed_role := coalesce({_ROLE}, 'system');
  NEW.removed_at := now();
  RETURN NEW;
END $$;

CREATE TRIGGER credit_event_adcode BEFORE INSERT OR UPDATE OF enterprise_id, adcode ON credit_events
  FOR EACH ROW EXECUTE FUNCTION onemap_records_adcode();
CREATE TRIGGER credit_event_guard BEFORE INSERT OR UPDATE ON credit_events
  FOR EACH ROW EXECUTE FUNCTION onemap_credit_event_guard();
CREATE TRIGGER credit_event_touch BEFORE UPDATE ON credit_events
  FOR EACH ROW EXECUTE FUNCTION onemap_touch();
CREATE TRIGGER credit_event_no_delete BEFORE DELETE ON credit_events
  FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete();

CREATE TRIGGER credit_scores_adcode BEFORE INSERT OR UPDATE OF enterprise_id, adcode ON credit_scores
  FOR EACH ROW EXECUTE FUNCTION onemap_records_adcode();
CREATE TRIGGER credit_scores_touch BEFORE UPDATE ON credit_scores
  FOR EACH ROW EXECUTE FUNCTION onemap_touch();
CREATE TRIGGER credit_scores_no_delete BEFORE DELETE ON credit_scores
  FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete();

CREATE TRIGGER blacklist_entries_fill BEFORE INSERT ON blacklist_entries
  FOR EACH ROW EXECUTE FUNCTION onemap_blacklist_fill();
CREATE TRIGGER blacklist_entries_guard BEFORE UPDATE OR DELETE ON blacklist_entries
  FOR EACH ROW EXECUTE FUNCTION onemap_blacklist_guard();

CREATE VIEW credit_map WITH (security_invoker = true) AS
SELECT e.id, e.name, s.grade, s.score, s.blacklisted, b.listed_on, s.as_of, s.adcode, s.version, s.updated_at,
       s.is_public, e.geom
FROM credit_scores s
JOIN enterprises e ON e.id = s.enterprise_id
LEFT JOIN blacklist_entries b ON b.enterprise_id = s.enterprise_id AND b.removed_on IS NULL
WHERE e.valid_to IS NULL;
"""

READ = "onemap_visible(adcode, enterprise_id, is_public)"
WRITE = "onemap_may_write(adcode, NULL)"  # regulators only, never the enterprise itself
LIST_READ = f"{_ROLE} IS NOT NULL"  # a public list: anyone with a context, the anonymous public role included

FUNCTIONS = ["onemap_blacklist_guard()", "onemap_blacklist_fill()", "onemap_credit_event_guard()"]


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    op.execute(SCHEMA)
    for table, (entity, key) in TRACKED.items():
        # trigger names: only the event triggers may contain "_events_" (tests/test_events.py lists them by
        # that pattern), so credit_events' other triggers are named credit_event_*; audit sorts before events
        prefix = TRIGGER_PREFIX.get(table, table)
        op.execute(f"""
CREATE TRIGGER {prefix}_audit_insert AFTER INSERT ON {table}
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_insert('{key}');
CREATE TRIGGER {prefix}_audit_update AFTER UPDATE ON {table}
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_audit_update('{key}');
CREATE TRIGGER {prefix}_audit_truncate AFTER TRUNCATE ON {table}
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate();
CREATE TRIGGER {table}_events_insert AFTER INSERT ON {table}
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_events_emit('{entity}', '{key}');
CREATE TRIGGER {table}_events_update AFTER UPDATE ON {table}
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_events_emit('{entity}', '{key}');
INSERT INTO data_versions (table_name) VALUES ('{table}');
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY {table}_owner_maintenance ON {table} TO {owner} USING (true) WITH CHECK (true);
""")
    for table in ("credit_events", "credit_scores"):
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT TO {app_role} USING ({READ})")
        op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT TO {app_role} WITH CHECK ({WRITE})")
        op.execute(f"CREATE POLICY {table}_update ON {table} FOR UPDATE TO {app_role} "
                   f"USING ({WRITE}) WITH CHECK ({WRITE})")
    op.execute(f"CREATE POLICY blacklist_entries_read ON blacklist_entries FOR SELECT TO {app_role} "
               f"USING ({LIST_READ})")
    op.execute(f"CREATE POLICY blacklist_entries_insert ON blacklist_entries FOR INSERT TO {app_role} "
               f"WITH CHECK ({WRITE})")
    op.execute(f"CREATE POLICY blacklist_entries_update ON blacklist_entries FOR UPDATE TO {app_role} "
               f"USING ({WRITE}) WITH CHECK ({WRITE})")
    op.execute(f"GRANT SELECT, INSERT ON credit_events TO {app_role}")
    op.execute(f"GRANT UPDATE (valid_to, withdraw_reason) ON credit_events TO {app_role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON credit_scores TO {app_role}")
    op.execute(f"GRANT SELECT, INSERT ON blacklist_entries TO {app_role}")
    op.execute(f"GRANT UPDATE (removed_on, removal_via, removal_reason) ON blacklist_entries TO {app_role}")
    for seq in ("credit_events_id_seq", "blacklist_entries_id_seq"):
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {seq} TO {app_role}")
    op.execute(f"GRANT SELECT ON credit_map TO {app_role}")
    op.execute("REVOKE EXECUTE ON FUNCTION onemap_blacklist_fill() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_blacklist_fill() TO {app_role}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS credit_map")
    for table in TRACKED:
        op.execute(f"DELETE FROM data_versions WHERE table_name = '{table}'")
    op.execute("DROP TABLE IF EXISTS blacklist_entries")
    op.execute("DROP TABLE IF EXISTS credit_scores")
    op.execute("DROP TABLE IF EXISTS credit_events")
    for fn in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
