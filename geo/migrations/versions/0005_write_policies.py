"""Separate read and write policies: public users read public rows but never write.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Migration 0002 gave the app role one policy per table for every command,
``onemap_visible(...)`` in both USING and WITH CHECK. That let a ``public``
context insert a row marked ``is_public`` (visible to it, hence allowed), and
an enterprise user write public rows of tables with no enterprise. Here each
table gets:

* ``<table>_read``   FOR SELECT  USING (onemap_visible(...))       — as before
* ``<table>_insert`` FOR INSERT  WITH CHECK (onemap_may_write(...))
* ``<table>_update`` FOR UPDATE  USING / WITH CHECK (onemap_may_write(...))

``onemap_may_write(adcode, enterprise)``: never for ``public`` or a missing
context; an enterprise user only for rows of its own enterprise; regulators and
admins for rows whose county code starts with their jurisdiction.
Child tables (inventory, depot stock) follow whether their parent may be written.
"""

from __future__ import annotations

import re

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

READ = {
    "enterprises": "onemap_visible(adcode, id, is_public)",
    "hazard_units": "onemap_visible(adcode, enterprise_id, is_public)",
    "hidden_dangers": "onemap_visible(adcode, enterprise_id, is_public)",
    "protection_targets": "onemap_visible(adcode, NULL, is_public)",
    "rescue_teams": "onemap_visible(adcode, NULL, is_public)",
    "supply_depots": "onemap_visible(adcode, NULL, is_public)",
    "sensors": ("onemap_visible(adcode, (SELECT h.enterprise_id FROM hazard_units h "
                "WHERE h.id = sensors.hazard_unit_id), is_public)"),
    "hazard_unit_inventory": "EXISTS (SELECT 1 FROM hazard_units h WHERE h.id = hazard_unit_inventory.hazard_unit_id)",
    "depot_stock": "EXISTS (SELECT 1 FROM supply_depots d WHERE d.id = depot_stock.depot_id)",
    "scenarios": "onemap_visible(adcode, NULL, is_public)",
}
WRITE = {
    "enterprises": "onemap_may_write(adcode, id)",
    "hazard_units": "onemap_may_write(adcode, enterprise_id)",
    "hidden_dangers": "onemap_may_write(adcode, enterprise_id)",
    "protection_targets": "onemap_may_write(adcode, NULL)",
    "rescue_teams": "onemap_may_write(adcode, NULL)",
    "supply_depots": "onemap_may_write(adcode, NULL)",
    "sensors": ("onemap_may_write(adcode, (SELECT h.enterprise_id FROM hazard_units h "
                "WHERE h.id = sensors.hazard_unit_id))"),
    "hazard_unit_inventory": ("EXISTS (SELECT 1 FROM hazard_units h WHERE h.id = hazard_unit_inventory.hazard_unit_id "
                              "AND onemap_may_write(h.adcode, h.enterprise_id))"),
    "depot_stock": ("EXISTS (SELECT 1 FROM supply_depots d WHERE d.id = depot_stock.depot_id "
                    "AND onemap_may_write(d.adcode, NULL))"),
    "scenarios": "onemap_may_write(adcode, NULL)",
}

FUNCTION = r"""
CREATE FUNCTION onemap_may_write(p_adcode text, p_enterprise bigint) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE NULLIF(current_setting('onemap.role', true), '')
    WHEN 'public' THEN false
    WHEN 'enterprise' THEN coalesce(p_enterprise = NULLIF(current_setting('onemap.enterprise_id', true), '')::bigint,
                                    false)
    ELSE coalesce(starts_with(p_adcode, NULLIF(current_setting('onemap.jurisdiction', true), '')), false)
  END
$$;
"""


def _quote(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"unsafe role name {name!r}")
    return name


def upgrade() -> None:
    app_role = _quote(op.get_context().config.attributes.get("app_role", "onemap_app"))
    op.execute(FUNCTION)
    op.execute("REVOKE EXECUTE ON FUNCTION onemap_may_write(text, bigint) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION onemap_may_write(text, bigint) TO {app_role}")
    for table, read in READ.items():
        write = WRITE[table]
        op.execute(f"DROP POLICY IF EXISTS {table}_jurisdiction ON {table}")
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT TO {app_role} USING ({read})")
        op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT TO {app_role} WITH CHECK ({write})")
        op.execute(f"CREATE POLICY {table}_update ON {table} FOR UPDATE TO {app_role} "
                   f"USING ({write}) WITH CHECK ({write})")


def downgrade() -> None:
    app_role = _quote(op.get_context().config.attributes.get("app_role", "onemap_app"))
    for table, read in READ.items():
        for suffix in ("read", "insert", "update"):
            op.execute(f"DROP POLICY IF EXISTS {table}_{suffix} ON {table}")
        op.execute(f"CREATE POLICY {table}_jurisdiction ON {table} TO {app_role} USING ({read}) WITH CHECK ({read})")
    op.execute("DROP FUNCTION IF EXISTS onemap_may_write(text, bigint)")
