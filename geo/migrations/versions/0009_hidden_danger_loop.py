"""The hidden-danger closed loop (隐患排查治理): transitions, evidence, workflow-only columns.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

States stay the six of ``hidden_dangers.status`` (reported → accepted →
rectifying → submitted → verified → closed). ``workflows/hidden_dangers.py``
holds the rule table (who may do what); this migration freezes the part the
database repeats:

``hidden_danger_transitions`` — the history, append-only (no UPDATE, no
DELETE, even for the owner; audited). One row per move: ``from_status``,
``to_status``, ``action`` (``reported``, ``accepted``, ``rectifying``,
``submitted``, ``rejected`` = submitted → rectifying, ``verified``,
``closed``, ``escalated`` = the supervising level raised, status unchanged,
``maintenance`` = written by the owner role outside the workflow: demo loads,
repairs), ``note``, ``details`` (jsonb: the fields the move set). A BEFORE
INSERT trigger fills ``actor``/``actor_role`` (from the request context, never
from input), ``at`` (now()), ``adcode``/``enterprise_id`` (copied from the
danger) and ``txid`` (the top-level transaction, so the guard below can tell
"recorded in this transaction"). A CHECK allows only the edges of the state
machine (:data:`EDGES`).

``hidden_danger_evidence`` — files (photo, PDF, text) with their metadata:
``filename``, ``media_type`` (five types; a CHECK repeats the magic-byte
test), ``size_bytes`` and ``sha256`` (computed by the database from
``content``), ``content`` bytea of at most :data:`MAX_EVIDENCE_BYTES` (4 MiB:
the API refuses request bodies over 5 MiB, so a file at the cap still fits
with its multipart framing), ``uploaded_by``/``uploaded_at`` (from the
context), ``note``, ``transition_id`` (NULL until the next transition of the
danger takes it; then set once, never changed). Audited without ``content``
(``sha256`` stands for it). Nothing else is ever updated or deleted.

``hidden_dangers`` gains ``rectification_plan``, ``responsible_person``,
``funds_yuan`` (set by the ``rectifying`` move) and ``escalated_at`` (last
raise of ``supervising_level`` by the escalation job). A guard trigger
refuses, for every role but the table owner:

* a new danger in any status but ``reported`` (or with workflow columns set);
* a change of ``status`` without a transition row from the old to the new
  status recorded in the same transaction (so the history can never miss a
  move, and the generic PATCH cannot move a danger);
* a change of ``closed_on``, the plan columns or ``escalated_at`` outside a
  transaction that recorded a transition of that danger;
* an enterprise user changing ``level``, ``deadline`` or
  ``supervising_level`` once the danger has been accepted (the regulator's
  decision).

The owner role (migrations, demo loads, the escalation job, repairs) is not
held back; a status change it makes without a transition gets one written
for it (action ``maintenance``), and every new danger gets its first history
row (``reported``, or ``maintenance`` for a danger loaded in another status).
Errors carry SQLSTATE ``OMW01`` and the message ``field: reason``
(``geo.registry.db_errors`` turns them into ``InvalidInput``).

Row-level security: both tables follow their danger. Read: any role but
``public`` that sees the danger; insert: whoever may write the danger
(``onemap_may_write``); transitions by the app role only with the actions of
people (never ``escalated``/``maintenance``), and an enterprise user only
``reported``, ``rectifying``, ``submitted``. Evidence: the app role may
update only ``transition_id`` (column privilege).
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

STATUSES = ("reported", "accepted", "rectifying", "submitted", "verified", "closed")
# action -> (from_status, to_status); frozen copy of workflows.hidden_dangers.RULES (a test compares them)
EDGES = {
    "reported": (None, "reported"),
    "accepted": ("reported", "accepted"),
    "rectifying": ("accepted", "rectifying"),
    "submitted": ("rectifying", "submitted"),
    "rejected": ("submitted", "rectifying"),
    "verified": ("submitted", "verified"),
    "closed": ("verified", "closed"),
}
OPEN_STATUSES = ("reported", "accepted", "rectifying", "submitted")  # escalation keeps the status
ACTIONS = (*EDGES, "escalated", "maintenance")
PEOPLE_ACTIONS = tuple(EDGES)  # what the app role may record
ENTERPRISE_ACTIONS = ("reported", "rectifying", "submitted")
MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp", "application/pdf", "text/plain")
MAX_EVIDENCE_BYTES = 4 * 2**20


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _edge_check() -> str:
    parts = []
    for action, (src, dst) in EDGES.items():
        src_sql = "from_status IS NULL" if src is None else f"from_status = '{src}'"
        parts.append(f"(action = '{action}' AND {src_sql} AND to_status = '{dst}')")
    parts.append(f"(action = 'escalated' AND from_status = to_status AND to_status IN {_in(OPEN_STATUSES)})")
    parts.append("action = 'maintenance'")
    return " OR ".join(parts)


_ROLE = "NULLIF(current_setting('onemap.role', true), '')"

SCHEMA = rf"""
ALTER TABLE hidden_dangers
  ADD COLUMN rectification_plan text CONSTRAINT hidden_dangers_plan_check CHECK (length(rectification_plan) <= 4000),
  ADD COLUMN responsible_person text
    CONSTRAINT hidden_dangers_responsible_check CHECK (length(btrim(responsible_person)) BETWEEN 1 AND 100),
  ADD COLUMN funds_yuan numeric(16, 2) CONSTRAINT hidden_dangers_funds_check CHECK (funds_yuan >= 0),
  ADD COLUMN escalated_at timestamptz;

CREATE TABLE hidden_danger_transitions (
  id bigserial PRIMARY KEY,
  hidden_danger_id bigint NOT NULL REFERENCES hidden_dangers (id),
  from_status text CHECK (from_status IN {_in(STATUSES)}),
  to_status text NOT NULL CHECK (to_status IN {_in(STATUSES)}),
  action text NOT NULL CHECK (action IN {_in(ACTIONS)}),
  actor text NOT NULL,
  actor_role text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  note text CHECK (length(note) <= 4000),
  details jsonb NOT NULL DEFAULT '{{}}' CHECK (jsonb_typeof(details) = 'object'),
  adcode text NOT NULL REFERENCES regions (adcode),
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  txid bigint NOT NULL DEFAULT txid_current(),
  CONSTRAINT hidden_danger_transitions_edge_check CHECK ({_edge_check()})
);
CREATE INDEX hidden_danger_transitions_danger_idx ON hidden_danger_transitions (hidden_danger_id, id);
CREATE INDEX hidden_danger_transitions_adcode_idx ON hidden_danger_transitions (adcode text_pattern_ops);
CREATE INDEX hidden_danger_transitions_at_idx ON hidden_danger_transitions (at);

-- Magic bytes of the accepted types (the API checks the same, and more: UTF-8 text, decodable images).
CREATE FUNCTION onemap_evidence_content_ok(p_type text, p bytea) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE p_type
    WHEN 'image/png' THEN substr(p, 1, 8) = '\x89504e470d0a1a0a'::bytea
    WHEN 'image/jpeg' THEN substr(p, 1, 3) = '\xffd8ff'::bytea
    WHEN 'image/webp' THEN substr(p, 1, 4) = '\x52494646'::bytea AND substr(p, 9, 4) = '\x57454250'::bytea
    WHEN 'application/pdf' THEN substr(p, 1, 5) = '\x255044462d'::bytea
    WHEN 'text/plain' THEN position('\x00'::bytea IN p) = 0
    ELSE false
  END
$$;

CREATE TABLE hidden_danger_evidence (
  id bigserial PRIMARY KEY,
  hidden_danger_id bigint NOT NULL REFERENCES hidden_dangers (id),
  transition_id bigint REFERENCES hidden_danger_transitions (id),
  filename text NOT NULL CHECK (length(btrim(filename)) BETWEEN 1 AND 200),
  media_type text NOT NULL CHECK (media_type IN {_in(MEDIA_TYPES)}),
  size_bytes integer NOT NULL CONSTRAINT hidden_danger_evidence_size_check
    CHECK (size_bytes BETWEEN 1 AND {MAX_EVIDENCE_BYTES}),
  sha256 bytea NOT NULL CHECK (octet_length(sha256) = 32),
  content bytea NOT NULL,
  uploaded_by text NOT NULL,
  uploaded_at timestamptz NOT NULL DEFAULT now(),
  note text CHECK (length(note) <= 4000),
  adcode text NOT NULL REFERENCES regions (adcode),
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  CONSTRAINT hidden_danger_evidence_content_check
    CHECK (octet_length(content) = size_bytes AND onemap_evidence_content_ok(media_type, content))
);
ALTER TABLE hidden_danger_evidence ALTER COLUMN content SET STORAGE EXTERNAL;  -- photos do not compress
CREATE INDEX hidden_danger_evidence_danger_idx ON hidden_danger_evidence (hidden_danger_id, id);
CREATE INDEX hidden_danger_evidence_adcode_idx ON hidden_danger_evidence (adcode text_pattern_ops);

CREATE FUNCTION onemap_is_table_owner(p_table oid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_class c WHERE c.oid = p_table),
                  false)
$$;

CREATE FUNCTION onemap_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are never changed or deleted (append-only)', TG_TABLE_NAME USING ERRCODE = 'OMD02';
END $$;

-- Who, when, where: never from input.
CREATE FUNCTION onemap_hd_transition_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT d.adcode, d.enterprise_id INTO NEW.adcode, NEW.enterprise_id
    FROM hidden_dangers d WHERE d.id = NEW.hidden_danger_id;
  IF NEW.adcode IS NULL THEN
    RAISE EXCEPTION 'hidden_danger_id: no hidden danger %', NEW.hidden_danger_id USING ERRCODE = 'OMW02';
  END IF;
  NEW.actor := coalesce(NULLIF(current_setting('onemap.actor', true), ''), session_user::text);
  NEW.actor_role := coalesce({_ROLE}, 'system');
  NEW.at := now();
  NEW.txid := txid_current();
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_hd_evidence_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT d.adcode, d.enterprise_id INTO NEW.adcode, NEW.enterprise_id
    FROM hidden_dangers d WHERE d.id = NEW.hidden_danger_id;
  IF NEW.adcode IS NULL THEN
    RAISE EXCEPTION 'hidden_danger_id: no hidden danger %', NEW.hidden_danger_id USING ERRCODE = 'OMW02';
  END IF;
  IF NEW.transition_id IS NOT NULL AND NOT onemap_is_table_owner(TG_RELID) THEN
    RAISE EXCEPTION 'transition_id: evidence is attached to the next transition by the workflow'
      USING ERRCODE = 'OMW01';
  END IF;
  NEW.uploaded_by := coalesce(NULLIF(current_setting('onemap.actor', true), ''), session_user::text);
  NEW.uploaded_at := now();
  NEW.size_bytes := octet_length(NEW.content);
  NEW.sha256 := sha256(NEW.content);
  RETURN NEW;
END $$;

-- transition_id: set once, to a transition of the same danger.
CREATE FUNCTION onemap_hd_evidence_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.transition_id IS NOT DISTINCT FROM OLD.transition_id THEN
    RETURN NEW;
  END IF;
  IF OLD.transition_id IS NOT NULL OR NEW.transition_id IS NULL OR NOT EXISTS (
      SELECT 1 FROM hidden_danger_transitions t
      WHERE t.id = NEW.transition_id AND t.hidden_danger_id = NEW.hidden_danger_id) THEN
    RAISE EXCEPTION 'transition_id: evidence is attached once, to a transition of its own hidden danger'
      USING ERRCODE = 'OMW01';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION onemap_hd_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  who text := {_ROLE};
  in_flow boolean;
  col text;
BEGIN
  IF onemap_is_table_owner(TG_RELID) THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status IS DISTINCT FROM 'reported' THEN
      RAISE EXCEPTION 'status: a new hidden danger starts as reported; move it with POST /hidden-dangers/{{id}}/transitions'
        USING ERRCODE = 'OMW01';
    END IF;
    col := CASE WHEN NEW.closed_on IS NOT NULL THEN 'closed_on'
                WHEN NEW.rectification_plan IS NOT NULL THEN 'rectification_plan'
                WHEN NEW.responsible_person IS NOT NULL THEN 'responsible_person'
                WHEN NEW.funds_yuan IS NOT NULL THEN 'funds_yuan'
                WHEN NEW.escalated_at IS NOT NULL THEN 'escalated_at' END;
    IF col IS NOT NULL THEN
      RAISE EXCEPTION '%: set only by the workflow (POST /hidden-dangers/{{id}}/transitions)', col
        USING ERRCODE = 'OMW01';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT EXISTS (
      SELECT 1 FROM hidden_danger_transitions t
      WHERE t.hidden_danger_id = NEW.id AND t.txid = txid_current()
        AND t.from_status = OLD.status AND t.to_status = NEW.status) THEN
    RAISE EXCEPTION 'status: changes only through POST /hidden-dangers/%/transitions', NEW.id
      USING ERRCODE = 'OMW01';
  END IF;
  in_flow := EXISTS (SELECT 1 FROM hidden_danger_transitions t
                     WHERE t.hidden_danger_id = NEW.id AND t.txid = txid_current());
  IF NOT in_flow THEN
    col := CASE WHEN NEW.closed_on IS DISTINCT FROM OLD.closed_on THEN 'closed_on'
                WHEN NEW.rectification_plan IS DISTINCT FROM OLD.rectification_plan THEN 'rectification_plan'
                WHEN NEW.responsible_person IS DISTINCT FROM OLD.responsible_person THEN 'responsible_person'
                WHEN NEW.funds_yuan IS DISTINCT FROM OLD.funds_yuan THEN 'funds_yuan'
                WHEN NEW.escalated_at IS DISTINCT FROM OLD.escalated_at THEN 'escalated_at' END;
    IF col IS NOT NULL THEN
      RAISE EXCEPTION '%: set only by the workflow (POST /hidden-dangers/%/transitions)', col, NEW.id
        USING ERRCODE = 'OMW01';
    END IF;
    IF who = 'enterprise' AND OLD.status <> 'reported' THEN
      col := CASE WHEN NEW.level IS DISTINCT FROM OLD.level THEN 'level'
                  WHEN NEW.deadline IS DISTINCT FROM OLD.deadline THEN 'deadline'
                  WHEN NEW.supervising_level IS DISTINCT FROM OLD.supervising_level THEN 'supervising_level' END;
      IF col IS NOT NULL THEN
        RAISE EXCEPTION '%: set by the regulator when the danger was accepted; an enterprise cannot change it', col
          USING ERRCODE = 'OMW01';
      END IF;
    END IF;
  END IF;
  RETURN NEW;
END $$;

-- Every new danger gets its first history row.
CREATE FUNCTION onemap_hd_history_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO hidden_danger_transitions (hidden_danger_id, from_status, to_status, action, details)
  SELECT n.id, NULL, n.status, CASE WHEN n.status = 'reported' THEN 'reported' ELSE 'maintenance' END,
         jsonb_strip_nulls(jsonb_build_object('level', n.level, 'found_on', n.found_on, 'deadline', n.deadline,
                                              'supervising_level', n.supervising_level, 'closed_on', n.closed_on,
                                              'data_source', n.data_source))
  FROM new_rows n ORDER BY n.id;
  RETURN NULL;
END $$;

-- A status change made outside the workflow (owner role only: the guard refuses everyone else) is recorded.
CREATE FUNCTION onemap_hd_history_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO hidden_danger_transitions (hidden_danger_id, from_status, to_status, action, details)
  SELECT n.id, o.status, n.status, 'maintenance', jsonb_strip_nulls(jsonb_build_object('closed_on', n.closed_on))
  FROM new_rows n JOIN old_rows o ON o.id = n.id
  WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS (
      SELECT 1 FROM hidden_danger_transitions t
      WHERE t.hidden_danger_id = n.id AND t.txid = txid_current()
        AND t.from_status = o.status AND t.to_status = n.status)
  ORDER BY n.id;
  RETURN NULL;
END $$;

-- Evidence enters the audit chain without its content (sha256 stands for it).
CREATE FUNCTION onemap_audit_evidence_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM onemap_audit_append(TG_TABLE_NAME, 'INSERT', ARRAY(
    SELECT jsonb_build_array(n.id::text, NULL, to_jsonb(n)) FROM (
      SELECT id, hidden_danger_id, transition_id, filename, media_type, size_bytes, sha256, uploaded_by,
             uploaded_at, note, adcode, enterprise_id FROM new_rows) n));
  RETURN NULL;
END $$;

CREATE FUNCTION onemap_audit_evidence_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM onemap_audit_append(TG_TABLE_NAME, 'UPDATE', ARRAY(
    SELECT jsonb_build_array(n.id::text, to_jsonb(o), to_jsonb(n))
    FROM (SELECT id, hidden_danger_id, transition_id, filename, media_type, size_bytes, sha256, uploaded_by,
                 uploaded_at, note, adcode, enterprise_id FROM new_rows) n
    JOIN (SELECT id, hidden_danger_id, transition_id, filename, media_type, size_bytes, sha256, uploaded_by,
                 uploaded_at, note, adcode, enterprise_id FROM old_rows) o ON o.id = n.id
    WHERE to_jsonb(o) IS DISTINCT FROM to_jsonb(n)));
  RETURN NULL;
END $$;

CREATE TRIGGER hidden_danger_transitions_fill BEFORE INSERT ON hidden_danger_transitions
  FOR EACH ROW EXECUTE FUNCTION onemap_hd_transition_fill();
CREATE TRIGGER hidden_danger_transitions_append_only BEFORE UPDATE OR DELETE ON hidden_danger_transitions
  FOR EACH ROW EXECUTE FUNCTION onemap_append_only();
CREATE TRIGGER hidden_danger_transitions_audit_insert AFTER INSERT ON hidden_danger_transitions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_insert('id');
CREATE TRIGGER hidden_danger_transitions_audit_truncate AFTER TRUNCATE ON hidden_danger_transitions
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate();

CREATE TRIGGER hidden_danger_evidence_fill BEFORE INSERT ON hidden_danger_evidence
  FOR EACH ROW EXECUTE FUNCTION onemap_hd_evidence_fill();
CREATE TRIGGER hidden_danger_evidence_immutable BEFORE UPDATE OF hidden_danger_id, filename, media_type,
    size_bytes, sha256, content, uploaded_by, uploaded_at, note, adcode, enterprise_id, id
  ON hidden_danger_evidence FOR EACH ROW EXECUTE FUNCTION onemap_append_only();
CREATE TRIGGER hidden_danger_evidence_link BEFORE UPDATE OF transition_id ON hidden_danger_evidence
  FOR EACH ROW EXECUTE FUNCTION onemap_hd_evidence_link();
CREATE TRIGGER hidden_danger_evidence_no_delete BEFORE DELETE ON hidden_danger_evidence
  FOR EACH ROW EXECUTE FUNCTION onemap_append_only();
CREATE TRIGGER hidden_danger_evidence_audit_insert AFTER INSERT ON hidden_danger_evidence
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_evidence_insert();
CREATE TRIGGER hidden_danger_evidence_audit_update AFTER UPDATE ON hidden_danger_evidence
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_audit_evidence_update();
CREATE TRIGGER hidden_danger_evidence_audit_truncate AFTER TRUNCATE ON hidden_danger_evidence
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate();

CREATE TRIGGER hidden_dangers_workflow_guard BEFORE INSERT OR UPDATE ON hidden_dangers
  FOR EACH ROW EXECUTE FUNCTION onemap_hd_guard();
CREATE TRIGGER hidden_dangers_history_insert AFTER INSERT ON hidden_dangers
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_hd_history_insert();
CREATE TRIGGER hidden_dangers_history_update AFTER UPDATE ON hidden_dangers
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_hd_history_update();

ALTER TABLE hidden_danger_transitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE hidden_danger_transitions FORCE ROW LEVEL SECURITY;
ALTER TABLE hidden_danger_evidence ENABLE ROW LEVEL SECURITY;
ALTER TABLE hidden_danger_evidence FORCE ROW LEVEL SECURITY;
"""


def _read(table: str) -> str:
    return (f"{_ROLE} <> 'public' AND EXISTS (SELECT 1 FROM hidden_dangers d "
            f"WHERE d.id = {table}.hidden_danger_id)")


def _write(table: str) -> str:
    return (f"EXISTS (SELECT 1 FROM hidden_dangers d WHERE d.id = {table}.hidden_danger_id "
            f"AND onemap_may_write(d.adcode, d.enterprise_id))")


TRANSITION_INSERT = (f"{_write('hidden_danger_transitions')} AND action IN {_in(PEOPLE_ACTIONS)} "
                     f"AND ({_ROLE} <> 'enterprise' OR action IN {_in(ENTERPRISE_ACTIONS)})")

FUNCTIONS = ["onemap_hd_history_update()", "onemap_hd_history_insert()", "onemap_hd_guard()",
             "onemap_hd_evidence_link()", "onemap_hd_evidence_fill()", "onemap_hd_transition_fill()",
             "onemap_audit_evidence_update()", "onemap_audit_evidence_insert()", "onemap_append_only()",
             "onemap_is_table_owner(oid)", "onemap_evidence_content_ok(text, bytea)"]


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    op.execute(SCHEMA)
    for table in ("hidden_danger_transitions", "hidden_danger_evidence"):
        op.execute(f"CREATE POLICY {table}_owner_maintenance ON {table} TO {owner} USING (true) WITH CHECK (true)")
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT TO {app_role} USING ({_read(table)})")
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {app_role}")
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {app_role}")
    op.execute(f"CREATE POLICY hidden_danger_transitions_insert ON hidden_danger_transitions FOR INSERT "
               f"TO {app_role} WITH CHECK ({TRANSITION_INSERT})")
    evidence_write = _write("hidden_danger_evidence")
    op.execute(f"CREATE POLICY hidden_danger_evidence_insert ON hidden_danger_evidence FOR INSERT TO {app_role} "
               f"WITH CHECK ({evidence_write})")
    op.execute(f"CREATE POLICY hidden_danger_evidence_update ON hidden_danger_evidence FOR UPDATE TO {app_role} "
               f"USING ({evidence_write}) WITH CHECK ({evidence_write})")
    op.execute(f"GRANT UPDATE (transition_id) ON hidden_danger_evidence TO {app_role}")


def downgrade() -> None:
    for trigger in ("workflow_guard", "history_insert", "history_update"):
        op.execute(f"DROP TRIGGER IF EXISTS hidden_dangers_{trigger} ON hidden_dangers")
    op.execute("DROP TABLE IF EXISTS hidden_danger_evidence")
    op.execute("DROP TABLE IF EXISTS hidden_danger_transitions")
    for fn in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    for column in ("escalated_at", "funds_yuan", "responsible_person", "rectification_plan"):
        op.execute(f"ALTER TABLE hidden_dangers DROP COLUMN IF EXISTS {column}")
