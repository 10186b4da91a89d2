"""Alembic migrations up, down and up again on a database of their own."""

from sqlalchemy import inspect

from geo.db import make_engine
from geo.migrate import current_revision, downgrade, head_revision, upgrade

TABLES = {"regions", "region_parts", "enterprises", "hazard_units", "hazard_unit_inventory",
          "hidden_dangers", "protection_targets", "rescue_teams", "supply_depots", "depot_stock",
          "sensors", "users", "enterprise_records"}


def _tables(url):
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_up_down_up(throwaway, settings):
    db = throwaway(migrate=False)
    assert current_revision(db.owner_url) is None
    upgrade(db.owner_url, app_role=settings.app_role)
    assert current_revision(db.owner_url) == head_revision()
    assert _tables(db.owner_url) >= TABLES
    downgrade(db.owner_url, app_role=settings.app_role)
    assert current_revision(db.owner_url) is None
    assert not (TABLES & _tables(db.owner_url))
    upgrade(db.owner_url, app_role=settings.app_role)
    assert _tables(db.owner_url) >= TABLES
