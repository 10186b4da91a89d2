"""Enterprise records: accidents, enforcement actions and credit ratings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

``enterprise_records`` holds the "record" part of the four-colour enterprise
risk (``layers/enterprise_risk.py``): one row per accident (事故), enforcement
action (行政处罚) or credit rating (信用评价 / 失信名单) of an enterprise.

* ``kind``: ``accident`` | ``enforcement`` | ``credit``.
* ``severity``: a key whose vocabulary depends on the kind (frozen here;
  ``layers.enterprise_risk.RECORD_SEVERITIES`` has the labels):

  - accident: ``ordinary`` 一般事故, ``larger`` 较大事故, ``major`` 重大事故,
    ``extraordinary`` 特别重大事故 (the four classes of the State Council's
    Regulation on the Reporting, Investigation and Handling of Production
    Safety Accidents, Decree No. 493);
  - enforcement: ``warning`` 警告, ``fine`` 罚款, ``confiscation`` 没收违法所得,
    ``suspension`` 责令停产停业整顿, ``licence_suspended`` 暂扣许可证,
    ``licence_revoked`` 吊销许可证, ``closure`` 关闭 (the kinds of penalty of the
    Measures on Administrative Penalties for Work-Safety Violations);
  - credit: ``A`` ``B`` ``C`` ``D`` (a rating, A best) or ``dishonest`` (on the
    list of seriously dishonest entities, 失信联合惩戒名单).

* ``adcode`` is copied from the enterprise by a trigger (never trusted from
  input), so jurisdiction works as on every placed table.
* Nothing is deleted: a withdrawn record (penalty overturned on review, rating
  replaced by error) gets ``valid_to`` and no longer counts.

Row-level security: the owner role's maintenance policy; the app role reads
rows ``onemap_visible(adcode, enterprise_id, is_public)`` (an enterprise user
sees its own records) and inserts/updates rows ``onemap_may_write(adcode,
NULL)``: only regulators of the enterprise's county (or above) write them —
an enterprise user never writes its own accidents, penalties or rating.
Audited like every registry table.
"""

from __future__ import annotations

from alembic import op

from geo.migrations import roles

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEVERITIES = {
    "accident": ("ordinary", "larger", "major", "extraordinary"),
    "enforcement": ("warning", "fine", "confiscation", "suspension", "licence_suspended", "licence_revoked",
                    "closure"),
    "credit": ("A", "B", "C", "D", "dishonest"),
}


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_SEVERITY_CHECK = " OR ".join(f"(kind = '{kind}' AND severity IN {_in(keys)})" for kind, keys in SEVERITIES.items())

SCHEMA = f"""
CREATE TABLE enterprise_records (
  id bigserial PRIMARY KEY,
  enterprise_id bigint NOT NULL REFERENCES enterprises (id),
  kind text NOT NULL CONSTRAINT enterprise_records_kind_check CHECK (kind IN {_in(SEVERITIES)}),
  occurred_on date NOT NULL CHECK (occurred_on >= DATE '1949-10-01'),
  severity text NOT NULL CONSTRAINT enterprise_records_severity_check CHECK ({_SEVERITY_CHECK}),
  description text CHECK (length(description) <= 4000),
  source text NOT NULL CHECK (length(btrim(source)) BETWEEN 1 AND 200),
  adcode text NOT NULL REFERENCES regions (adcode),
  is_public boolean NOT NULL DEFAULT false,
  data_source text NOT NULL DEFAULT 'registry' CHECK (data_source IN ('registry', 'import', 'synthetic')),
  valid_to timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1
);
CREATE INDEX enterprise_records_enterprise_idx ON enterprise_records (enterprise_id, kind, occurred_on DESC);
CREATE INDEX enterprise_records_adcode_idx ON enterprise_records (adcode text_pattern_ops);
CREATE INDEX enterprise_records_occurred_idx ON enterprise_records (occurred_on);

-- The county of a record is its enterprise's (SECURITY DEFINER: found even when the
-- writer may not see the enterprise; the write policy then decides).
CREATE FUNCTION onemap_records_adcode() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  SELECT e.adcode INTO NEW.adcode FROM enterprises e WHERE e.id = NEW.enterprise_id;
  IF NEW.adcode IS NULL THEN
    RAISE EXCEPTION 'enterprise_id: no enterprise %', NEW.enterprise_id USING ERRCODE = 'OMJ02';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER enterprise_records_adcode BEFORE INSERT OR UPDATE OF enterprise_id, adcode ON enterprise_records
  FOR EACH ROW EXECUTE FUNCTION onemap_records_adcode();
CREATE TRIGGER enterprise_records_touch BEFORE UPDATE ON enterprise_records
  FOR EACH ROW EXECUTE FUNCTION onemap_touch();
CREATE TRIGGER enterprise_records_no_delete BEFORE DELETE ON enterprise_records
  FOR EACH ROW EXECUTE FUNCTION onemap_forbid_delete();
CREATE TRIGGER enterprise_records_audit_insert AFTER INSERT ON enterprise_records
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_insert('id');
CREATE TRIGGER enterprise_records_audit_update AFTER UPDATE ON enterprise_records
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION onemap_audit_update('id');
CREATE TRIGGER enterprise_records_audit_truncate AFTER TRUNCATE ON enterprise_records
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_truncate();
ALTER TABLE enterprise_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE enterprise_records FORCE ROW LEVEL SECURITY;
"""

READ = "onemap_visible(adcode, enterprise_id, is_public)"
WRITE = "onemap_may_write(adcode, NULL)"  # NULL enterprise: regulators only, never the enterprise itself


def upgrade() -> None:
    app_role = roles.app()
    owner = roles.owner()
    op.execute(SCHEMA)
    op.execute(f"CREATE POLICY enterprise_records_owner_maintenance ON enterprise_records TO {owner} "
               "USING (true) WITH CHECK (true)")
    op.execute(f"CREATE POLICY enterprise_records_read ON enterprise_records FOR SELECT TO {app_role} USING ({READ})")
    op.execute(f"CREATE POLICY enterprise_records_insert ON enterprise_records FOR INSERT TO {app_role} "
               f"WITH CHECK ({WRITE})")
    op.execute(f"CREATE POLICY enterprise_records_update ON enterprise_records FOR UPDATE TO {app_role} "
               f"USING ({WRITE}) WITH CHECK ({WRITE})")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON enterprise_records TO {app_role}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE enterprise_records_id_seq TO {app_role}")
    op.execute("REVOKE EXECUTE ON FUNCTION onemap_records_adcode() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_records_adcode() TO {app_role}")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS enterprise_records")
    op.execute("DROP FUNCTION IF EXISTS onemap_records_adcode()")
