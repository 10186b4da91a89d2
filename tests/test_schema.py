"""The schema as the database holds it: models, vocabularies, indexes, roles, soft deletion."""

import re

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from geo import vocab
from geo.models import PLACED_MODELS, Base

CHECKED_VOCABULARIES = [
    ("enterprises", "industry", vocab.INDUSTRIES), ("enterprises", "scale", vocab.SCALES),
    ("enterprises", "status", vocab.ENTERPRISE_STATUSES), ("enterprises", "risk_colour", vocab.RISK_COLOURS),
    ("enterprises", "data_source", vocab.DATA_SOURCES), ("hazard_units", "kind", vocab.HAZARD_UNIT_KINDS),
    ("hidden_dangers", "level", vocab.DANGER_LEVELS), ("hidden_dangers", "status", vocab.DANGER_STATUSES),
    ("hidden_dangers", "category", vocab.DANGER_CATEGORIES), ("protection_targets", "kind", vocab.TARGET_KINDS),
    ("protection_targets", "category", vocab.TARGET_CATEGORIES), ("rescue_teams", "kind", vocab.TEAM_KINDS),
    ("supply_depots", "level", vocab.DEPOT_LEVELS), ("sensors", "kind", vocab.SENSOR_KINDS),
    ("users", "role", vocab.USER_ROLES), ("regions", "level", vocab.REGION_LEVELS),
]


def test_models_match_the_migrated_tables(owner_engine):
    insp = inspect(owner_engine)
    for table in Base.metadata.sorted_tables:
        db_cols = {c["name"] for c in insp.get_columns(table.name)}
        assert db_cols == set(table.columns.keys()), table.name


@pytest.mark.parametrize(("table", "column", "values"), CHECKED_VOCABULARIES)
def test_check_constraints_match_vocabularies(conn, table, column, values):
    defs = conn.execute(text(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) AND contype = 'c'"
    ), {"t": table}).scalars().all()
    mine = [d for d in defs if re.search(rf"\b{column}\b = ANY", d)]
    assert len(mine) == 1, defs
    assert set(re.findall(r"'([a-z_0-9]+)'::text", mine[0])) == set(values)


@pytest.mark.parametrize("model", PLACED_MODELS, ids=lambda m: m.__tablename__)
def test_placed_tables_have_gist_index_and_adcode_trigger(conn, model):
    table = model.__tablename__
    idx = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"), {"t": table}).scalars().all()
    assert any("USING gist (geom)" in d for d in idx)
    trig = conn.execute(text(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) AND NOT tgisinternal"
    ), {"t": table}).scalars().all()
    assert f"{table}_adcode" in trig and f"{table}_no_delete" in trig


def test_geometry_columns_are_srid_4326(conn):
    rows = conn.execute(text("SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema = 'public'")).all()
    assert rows and all(srid == 4326 for _, srid in rows)


def test_app_role_owns_nothing_and_cannot_bypass_rls(conn, settings):
    role = conn.execute(text("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
                             "WHERE rolname = :r"), {"r": settings.app_role}).one()
    assert tuple(role) == (False, False, False, False)
    owned = conn.execute(text("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                              "WHERE r.rolname = :r"), {"r": settings.app_role}).scalar()
    assert owned == 0


def test_owner_role_is_not_superuser(conn, settings):
    row = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
    assert tuple(row) == (False, False)


def test_app_role_cannot_delete(app_conn):
    with pytest.raises(ProgrammingError, match="permission denied"):
        app_conn.execute(text("DELETE FROM enterprises"))


def test_app_role_cannot_write_regions(app_conn):
    with pytest.raises(ProgrammingError, match="permission denied"):
        app_conn.execute(text("UPDATE regions SET name = 'x' WHERE adcode = '330000'"))


def test_even_the_owner_cannot_delete_rows(conn):
    with pytest.raises(DBAPIError, match="never deleted"):
        conn.execute(text("DELETE FROM regions WHERE adcode = '330000'"))


def test_regions_have_102_rows_in_three_levels(conn):
    rows = dict(conn.execute(text("SELECT level, count(*) FROM regions GROUP BY level")).all())
    assert rows == {"province": 1, "city": 11, "county": 90}


def test_region_tree_is_consistent(conn):
    bad = conn.execute(text(
        "SELECT count(*) FROM regions c JOIN regions p ON p.adcode = c.parent_adcode "
        "WHERE (c.level = 'city' AND p.level <> 'province') OR (c.level = 'county' AND p.level <> 'city')"
    )).scalar()
    assert bad == 0


def test_county_parts_cover_each_county(conn):
    diff = conn.execute(text(
        "SELECT max(abs(ST_Area(r.geom) - s.a)) FROM regions r JOIN "
        "(SELECT adcode, sum(ST_Area(geom)) a FROM region_parts GROUP BY adcode) s USING (adcode)"
    )).scalar()
    assert diff < 1e-9
    counties = conn.execute(text("SELECT count(DISTINCT adcode) FROM region_parts")).scalar()
    assert counties == 90
