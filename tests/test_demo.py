"""The Zhejiang demo: a small load into its own database, then counts and invariants."""

from datetime import date

import pytest
from sqlalchemy import text

from data.demo import DemoRefused, demo_present, load_demo
from data.synthetic import build_registry
from data.zhejiang import CITY_POPULATION_2020
from geo.db import make_engine
from geo.registry import create_enterprise
from geo.uscc import is_valid_uscc, uscc_check_char
from tests.conftest import zhejiang_regions

N = 1500
TODAY = date(2026, 11, 23)
PLACED = ["enterprises", "hazard_units", "hidden_dangers", "protection_targets", "rescue_teams",
          "supply_depots", "sensors"]


@pytest.fixture(scope="module")
def demo(throwaway):
    db = throwaway()
    engine = make_engine(db.owner_url)
    summary = load_demo(engine, n_enterprises=N, seed=11, today=TODAY)
    yield engine, summary
    engine.dispose()


def _scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def test_regions_are_the_real_102(demo):
    engine, summary = demo
    assert summary.counts["regions"] == 102
    with engine.connect() as conn:
        levels = dict(conn.execute(text("SELECT level, count(*) FROM regions GROUP BY level")).all())
        names = dict(conn.execute(text("SELECT adcode, name FROM regions WHERE adcode IN ('330000', '330100', '330211')")).all())
    assert levels == {"province": 1, "city": 11, "county": 90}
    assert names == {"330000": "浙江省", "330100": "杭州市", "330211": "镇海区"}


def test_counts(demo):
    engine, summary = demo
    assert summary.counts["enterprises"] == N == _scalar(engine, "SELECT count(*) FROM enterprises")
    dangers = _scalar(engine, "SELECT count(*) FROM hidden_dangers")
    assert 0.08 * N < dangers < 0.17 * N
    assert _scalar(engine, "SELECT count(*) FROM hidden_dangers WHERE level = 'major'") > 0
    overdue = _scalar(engine, "SELECT count(*) FROM hidden_dangers WHERE deadline < :d "
                              "AND status NOT IN ('verified', 'closed')", d=TODAY)
    assert 0 < overdue < dangers / 2
    assert _scalar(engine, "SELECT count(*) FROM hazard_units") > N / 2
    for table in ("rescue_teams", "supply_depots", "depot_stock", "sensors", "users"):
        assert _scalar(engine, f"SELECT count(*) FROM {table}") > 0, table
    kinds = _scalar(engine, "SELECT array_agg(DISTINCT kind) FROM rescue_teams")
    assert {"fire", "hazmat", "medical"} <= set(kinds)


@pytest.mark.parametrize("table", PLACED)
def test_every_row_lies_in_the_county_its_adcode_names(demo, table):
    engine, _ = demo
    bad = _scalar(engine, f"SELECT count(*) FROM {table} t JOIN regions r ON r.adcode = t.adcode "
                          f"WHERE r.level <> 'county' OR NOT ST_Covers(r.geom, t.geom)")
    assert bad == 0
    assert _scalar(engine, f"SELECT count(*) FROM {table} WHERE data_source <> 'synthetic'") == 0


def test_protection_target_population_sums_to_each_county(demo):
    engine, _ = demo
    bad = _scalar(engine, "SELECT count(*) FROM regions r LEFT JOIN (SELECT adcode, sum(population) s "
                          "FROM protection_targets GROUP BY adcode) t USING (adcode) "
                          "WHERE r.level = 'county' AND r.population IS DISTINCT FROM t.s")
    assert bad == 0
    total = _scalar(engine, "SELECT sum(population) FROM protection_targets")
    assert total == sum(CITY_POPULATION_2020.values())


def test_city_populations_are_census_totals(demo):
    engine, _ = demo
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT adcode, population FROM regions WHERE level = 'city'")).all())
    assert rows == CITY_POPULATION_2020


def test_enterprises_cluster_in_chemical_parks(demo):
    engine, _ = demo
    near = _scalar(engine, "SELECT count(*) FROM enterprises WHERE ST_DWithin(geom::geography, "
                           "ST_SetSRID(ST_MakePoint(121.64, 29.99), 4326)::geography, 10000)")
    assert near > 0.03 * N  # Zhenhai alone: a county of 0.7% of the population


def test_usccs_are_valid_and_unique(demo):
    engine, _ = demo
    with engine.connect() as conn:
        codes = conn.execute(text("SELECT uscc FROM enterprises")).scalars().all()
    assert len(set(codes)) == N and all(is_valid_uscc(c) for c in codes)


def test_builder_is_deterministic_for_a_seed():
    regions = zhejiang_regions()
    a = build_registry(regions, n_enterprises=300, seed=5, today=TODAY)
    b = build_registry(regions, n_enterprises=300, seed=5, today=TODAY)
    c = build_registry(regions, n_enterprises=300, seed=6, today=TODAY)
    assert a.tables == b.tables
    assert a.tables["enterprises"] != c.tables["enterprises"]


def test_demo_present_and_reload_replaces(demo, throwaway):
    engine, _ = demo
    assert demo_present(engine, n_enterprises=N)
    assert not demo_present(engine, n_enterprises=N + 1)


def test_reload_replaces_and_refuses_real_data(throwaway):
    db = throwaway()
    engine = make_engine(db.owner_url)
    try:
        load_demo(engine, n_enterprises=200, seed=1, today=TODAY)
        load_demo(engine, n_enterprises=250, seed=2, today=TODAY)
        assert _scalar(engine, "SELECT count(*) FROM enterprises") == 250
        assert _scalar(engine, "SELECT count(*) FROM regions") == 102
        with engine.begin() as conn:
            body = "91330211" + "123456789"
            create_enterprise(conn, uscc=body + uscc_check_char(body), name="真实企业", industry="gas",
                              scale="small", lon=121.64, lat=29.99)
        with pytest.raises(DemoRefused, match="non-synthetic"):
            load_demo(engine, n_enterprises=100, seed=3, today=TODAY)
        assert _scalar(engine, "SELECT count(*) FROM enterprises") == 251
    finally:
        engine.dispose()
