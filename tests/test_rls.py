"""Row-level security by jurisdiction, on the app role (owns nothing, no BYPASSRLS)."""

import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from geo.context import RequestContext, apply_context
from geo.errors import InvalidInput
from geo.uscc import uscc_check_char

PLACED = ["enterprises", "hazard_units", "hidden_dangers", "protection_targets",
          "rescue_teams", "supply_depots", "sensors"]
PLACES = {"330211": (121.64, 29.99), "330206": (121.83, 29.90), "330106": (120.13, 30.27)}

ADMIN = RequestContext(role="admin", jurisdiction="33", actor="t.admin")
ZHENHAI = RequestContext(role="county", jurisdiction="330211", actor="t.zh")
NINGBO = RequestContext(role="city", jurisdiction="3302", actor="t.nb")
XIHU = RequestContext(role="county", jurisdiction="330106", actor="t.xh")
PUBLIC = RequestContext(role="public", jurisdiction="33", actor="t.pub")


def _uscc(n):
    body = f"91330000{n:09d}"
    return body + uscc_check_char(body)


@pytest.fixture
def seeded(app_conn):
    """Three enterprises (Zhenhai, Beilun, Xihu) with a unit and inventory each, written as admin."""
    apply_context(app_conn, ADMIN)
    ids = {}
    for n, (ad, (lon, lat)) in enumerate(PLACES.items(), start=1):
        eid = app_conn.execute(text(
            "INSERT INTO enterprises (uscc, name, industry, scale, geom, is_public) VALUES "
            "(:u, :n, 'hazchem_storage', 'small', ST_SetSRID(ST_MakePoint(:x, :y), 4326), :p) RETURNING id"),
            {"u": _uscc(n), "n": f"企业{ad}", "x": lon, "y": lat, "p": ad == "330106"}).scalar()
        uid = app_conn.execute(text(
            "INSERT INTO hazard_units (enterprise_id, name, kind, geom) VALUES "
            "(:e, '罐区', 'storage', ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"),
            {"e": eid, "x": lon, "y": lat}).scalar()
        app_conn.execute(text("INSERT INTO hazard_unit_inventory (hazard_unit_id, chemical, max_quantity_t) "
                              "VALUES (:u, '氯', 3)"), {"u": uid})
        ids[ad] = eid
    return app_conn, ids


def _adcodes(conn, table="enterprises"):
    return sorted(conn.execute(text(f"SELECT adcode FROM {table}")).scalars())


def test_county_sees_only_its_county(seeded):
    conn, _ = seeded
    apply_context(conn, ZHENHAI)
    assert _adcodes(conn) == ["330211"]
    assert _adcodes(conn, "hazard_units") == ["330211"]
    assert conn.execute(text("SELECT count(*) FROM hazard_unit_inventory")).scalar() == 1


def test_city_sees_its_counties(seeded):
    conn, _ = seeded
    apply_context(conn, NINGBO)
    assert _adcodes(conn) == ["330206", "330211"]


def test_province_sees_all(seeded):
    conn, _ = seeded
    apply_context(conn, RequestContext(role="province", jurisdiction="33", actor="p"))
    assert _adcodes(conn) == ["330106", "330206", "330211"]


def test_enterprise_user_sees_only_its_enterprise(seeded):
    conn, ids = seeded
    apply_context(conn, RequestContext(role="enterprise", jurisdiction="330206", actor="e",
                                       enterprise_id=ids["330206"]))
    assert _adcodes(conn) == ["330206"]
    assert _adcodes(conn, "hazard_units") == ["330206"]


def test_public_sees_only_public_rows(seeded):
    conn, _ = seeded
    apply_context(conn, PUBLIC)
    assert _adcodes(conn) == ["330106"]
    assert _adcodes(conn, "hazard_units") == []


def test_no_context_sees_nothing(app_engine, seeded):
    conn, _ = seeded
    with app_engine.connect() as other:
        for table in PLACED + ["hazard_unit_inventory", "depot_stock", "users"]:
            assert other.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def test_empty_setting_after_an_earlier_transaction_sees_nothing(db):
    """The '' trap: after set_config(..., true) the setting reads '' on that connection, not NULL."""
    engine = create_engine(db.app_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            with conn.begin():
                apply_context(conn, ADMIN)
            with conn.begin():
                assert conn.execute(text("SELECT current_setting('onemap.jurisdiction', true)")).scalar() == ""
                assert conn.execute(text("SELECT count(*) FROM regions")).scalar() == 102  # reference data
                assert conn.execute(text("SELECT count(*) FROM enterprises")).scalar() == 0
    finally:
        engine.dispose()


def test_county_cannot_write_into_another_county(seeded):
    conn, _ = seeded
    apply_context(conn, ZHENHAI)
    with pytest.raises(DBAPIError, match="row-level security"), conn.begin_nested():
        conn.execute(text(
            "INSERT INTO enterprises (uscc, name, industry, scale, geom) VALUES "
            "(:u, 'x', 'gas', 'small', ST_SetSRID(ST_MakePoint(120.13, 30.27), 4326))"), {"u": _uscc(50)})


def test_county_cannot_update_or_move_out_rows_of_others(seeded):
    conn, ids = seeded
    apply_context(conn, ZHENHAI)
    assert conn.execute(text("UPDATE enterprises SET name = 'hijack' WHERE id = :i"),
                        {"i": ids["330106"]}).rowcount == 0
    with pytest.raises(DBAPIError, match="row-level security"), conn.begin_nested():
        conn.execute(text("UPDATE enterprises SET geom = ST_SetSRID(ST_MakePoint(120.13, 30.27), 4326) "
                          "WHERE id = :i"), {"i": ids["330211"]})


def test_every_policy_table_forces_rls(conn):
    rows = conn.execute(text(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(:t)"),
        {"t": PLACED + ["hazard_unit_inventory", "depot_stock", "users"]}).all()
    assert len(rows) == 10 and all(r and f for _, r, f in rows)


def test_two_counties_alternating_on_a_two_connection_pool_never_leak(db):
    """Commit rows as admin, then hammer two contexts over a 2-connection pool from 4 threads.

    (No open write transaction may be held meanwhile: every write takes the audit chain's lock.)
    """
    engine = create_engine(db.app_url, pool_size=2, max_overflow=0)
    errors: list[str] = []
    # make the seeded rows visible to other connections: copy them in a committed transaction
    with engine.begin() as w:
        apply_context(w, ADMIN)
        for n, (ad, (lon, lat)) in enumerate(PLACES.items(), start=100):
            w.execute(text("INSERT INTO enterprises (uscc, name, industry, scale, geom, data_source) VALUES "
                           "(:u, :n, 'gas', 'small', ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'import')"),
                      {"u": _uscc(n), "n": f"pool{ad}", "x": lon, "y": lat})

    def worker(ctx, expect):
        for _ in range(40):
            with engine.begin() as c:
                apply_context(c, ctx)
                got = sorted(c.execute(text("SELECT adcode FROM enterprises WHERE data_source = 'import'")).scalars())
                if got != expect:
                    errors.append(f"{ctx.jurisdiction}: {got}")
            with engine.connect() as c:  # a transaction without context on a reused connection
                if c.execute(text("SELECT count(*) FROM enterprises")).scalar() != 0:
                    errors.append("no-context transaction saw rows")

    threads = [threading.Thread(target=worker, args=(ZHENHAI, ["330211"])),
               threading.Thread(target=worker, args=(XIHU, ["330106"])),
               threading.Thread(target=worker, args=(ZHENHAI, ["330211"])),
               threading.Thread(target=worker, args=(XIHU, ["330106"]))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        with engine.begin() as w:  # leave the shared database as found (owner-only cleanup is impossible:
            apply_context(w, ADMIN)  # no deletes) — mark them deregistered instead
            w.execute(text("UPDATE enterprises SET status = 'deregistered', valid_to = now() "
                           "WHERE data_source = 'import' AND name LIKE 'pool%'"))
        engine.dispose()
    assert errors == []


def test_context_validation():
    with pytest.raises(InvalidInput):
        RequestContext(role="king", jurisdiction="33", actor="x")
    with pytest.raises(InvalidInput):
        RequestContext(role="county", jurisdiction="3302011", actor="x")
    with pytest.raises(InvalidInput):
        RequestContext(role="enterprise", jurisdiction="330211", actor="x")
    assert RequestContext.prefix_of("330200", "city") == "3302"
    assert RequestContext.prefix_of("330106", "county") == "330106"


def test_spatial_filters_use_the_gist_index_under_rls(app_conn):
    """Needs `&&` LEAKPROOF (bootstrap) and the explicit `&&` of layers.spatial.intersects."""
    from sqlalchemy import func, select

    from geo.models import Enterprise
    from layers.spatial import intersects

    apply_context(app_conn, ZHENHAI)
    app_conn.execute(text("SET LOCAL enable_seqscan = off"))  # tiny test table: make the choice visible
    zone = func.ST_Buffer(func.ST_SetSRID(func.ST_MakePoint(121.64, 29.99), 4326), 0.01)
    stmt = select(func.count()).select_from(Enterprise).where(intersects(Enterprise.geom, zone))
    compiled = stmt.compile(app_conn, compile_kwargs={"literal_binds": True})
    plan = "\n".join(r[0] for r in app_conn.execute(text(f"EXPLAIN {compiled}")))
    assert "enterprises_geom_gist" in plan


def test_app_role_runs_without_jit(app_conn):
    assert app_conn.execute(text("SHOW jit")).scalar() == "off"
