"""Live change events: triggers and data versions in the database, the listener, ``GET /events``.

A real uvicorn serves the app on a free loopback port in a thread; writes go
through another connection (the owner engine), as any other process would
write. Every wait has a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import doctest
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, text

import geo.events
from api.app import create_app
from api.routes import events as events_route
from geo.context import RequestContext, apply_context
from geo.db import libpq_dsn, make_engine
from geo.errors import InvalidInput
from geo.events import ENTITIES, KINDS, Event, Listener, parse, parse_kinds, visible_to
from geo.regions import store_regions
from geo.uscc import uscc_check_char
from geo.users import create_user
from tests.conftest import zhejiang_regions
from tests.fixtures_geo import ZHENHAI_POINT
from tests.live_server import live_server

PASSWORD = "correct horse battery"
WAIT_S = 10.0  # deadline for anything to arrive; normally it takes milliseconds
ROOT = Path(__file__).resolve().parents[1]


def _uscc(n: int) -> str:
    body = f"91330211{n:09d}"
    return body + uscc_check_char(body)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class SSE:
    """A Server-Sent Events client reading in a thread; events land in a queue."""

    def __init__(self, base: str, *, token: str | None = None, params: dict | None = None,
                 via_query: bool = False) -> None:
        params = dict(params or {})
        headers = {}
        if token and via_query:
            params["access_token"] = token
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.seen: list[dict] = []
        self.ended = threading.Event()
        self._client = httpx.Client(base_url=base, timeout=httpx.Timeout(WAIT_S, read=None))
        self._cm = self._client.stream("GET", "/events", headers=headers, params=params)
        self.response = self._cm.__enter__()
        if self.response.status_code != 200:
            self.response.read()
            self._cm.__exit__(None, None, None)
            self._client.close()
            self.ended.set()
            return
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        first = self._next(WAIT_S)  # the retry block comes after the subscription exists
        assert first == {"retry": "3000"}, first

    def _read(self) -> None:
        block: dict = {}
        try:
            for line in self.response.iter_lines():
                if self._stop.is_set():
                    break
                if line.startswith(":"):
                    self._queue.put({"comment": line[1:].strip()})
                elif line == "":
                    if block:
                        if "data" in block:
                            block["json"] = json.loads(block["data"])
                        self._queue.put(block)
                    block = {}
                else:
                    name, _, value = line.partition(":")
                    block[name] = value[1:] if value.startswith(" ") else value
        except httpx.HTTPError:
            pass
        finally:
            self._queue.put(None)
            self.ended.set()
            self._cm.__exit__(None, None, None)
            self._client.close()

    def _next(self, timeout: float) -> dict | None:
        try:
            return self._queue.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float = WAIT_S) -> dict:
        """The first event (not comment) matching ``predicate``; all events read are kept in ``seen``."""
        deadline = time.monotonic() + timeout
        while True:
            item = self._next(deadline - time.monotonic())
            if item is None:
                raise AssertionError(f"no matching event (stream ended: {self.ended.is_set()}); "
                                     f"seen: {self.seen}")
            if "comment" in item:
                continue
            self.seen.append(item)
            if predicate(item):
                return item

    def wait_comment(self, timeout: float = WAIT_S) -> str:
        deadline = time.monotonic() + timeout
        while True:
            item = self._next(deadline - time.monotonic())
            assert item is not None, "no comment line arrived"
            if "comment" in item:
                return item["comment"]
            self.seen.append(item)

    def close(self) -> None:
        self._stop.set()
        self.ended.wait(WAIT_S)


def kind_id(kind: str, row_id) -> Callable[[dict], bool]:
    return lambda ev: ev.get("event") == kind and ev["json"].get("id") == row_id


@dataclass
class Env:
    base: str
    app: object
    owner: Engine
    db: object
    tokens: dict[str, str]
    ent: dict[str, int]
    xihu: tuple[float, float]

    @property
    def live(self) -> Listener:
        return self.app.state.live


@pytest.fixture(scope="module")
def env(throwaway, settings):
    db = throwaway()
    owner = make_engine(db.owner_url)
    with owner.begin() as conn:
        store_regions(conn, zhejiang_regions())
        xihu = tuple(conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM regions "
            "WHERE adcode = '330106') s")).one())
        ent = {}
        for n, (key, (lon, lat)) in enumerate(
                {"zh": ZHENHAI_POINT, "zh2": ZHENHAI_POINT, "xh": xihu}.items(), start=1):
            ent[key] = conn.execute(text(
                "INSERT INTO enterprises (uscc, name, industry, scale, geom) VALUES "
                "(:u, :n, 'hazchem_storage', 'small', ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"),
                {"u": _uscc(n), "n": f"测试企业{n}", "x": lon, "y": lat}).scalar_one()
        for name, role, ad in (("zh", "county", "330211"), ("xh", "county", "330106"),
                               ("nb", "city", "330200"), ("pub", "public", "330000")):
            create_user(conn, username=f"u.{name}", password=PASSWORD, role=role, adcode=ad)
        create_user(conn, username="u.ent", password=PASSWORD, role="enterprise", adcode="330211",
                    enterprise_uscc=_uscc(1))
    app_engine = make_engine(db.app_url)
    app = create_app(settings, engine=app_engine)
    with pytest.MonkeyPatch.context() as mp, live_server(app) as base:
        mp.setattr(events_route, "KEEPALIVE_S", 0.1)
        assert app.state.live.wait_ready(WAIT_S)
        tokens = {}
        for name in ("zh", "xh", "nb", "pub", "ent"):
            r = httpx.post(f"{base}/auth/token", data={"username": f"u.{name}", "password": PASSWORD})
            tokens[name] = r.json()["access_token"]
        yield Env(base, app, owner, db, tokens, ent, xihu)
    app_engine.dispose()
    owner.dispose()


@pytest.fixture
def sse(env):
    """Open streams (closed at the end of the test): ``sse("zh")``, ``sse(None)`` for anonymous."""
    opened: list[SSE] = []

    def open_(who: str | None, **kwargs) -> SSE:
        client = SSE(env.base, token=env.tokens[who] if who else None, **kwargs)
        opened.append(client)
        return client

    yield open_
    for client in opened:
        client.close()


def add_danger(env: Env, enterprise: str = "zh", *, title: str = "储罐区消防通道堵塞", public: bool = False,
               level: str = "general") -> int:
    lon, lat = env.xihu if enterprise == "xh" else ZHENHAI_POINT
    with env.owner.begin() as conn:
        return conn.execute(text(
            "INSERT INTO hidden_dangers (enterprise_id, title, category, level, found_on, is_public, geom) "
            "VALUES (:e, :t, 'fire', :l, DATE '2026-11-01', :p, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) "
            "RETURNING id"), {"e": env.ent[enterprise], "t": title, "l": level, "p": public, "x": lon, "y": lat},
        ).scalar_one()


def execute(env: Env, sql: str, **params) -> None:
    with env.owner.begin() as conn:
        conn.execute(text(sql), params)


# tables with row triggers, plus the derived layers whose writers bump their version themselves
# (migration 0006: the risk surface and societal risk; 0013: latest sensor values; 0016: the users' rights)
VERSIONED = set(ENTITIES) | {"risk_cells", "societal_risk", "sensor_latest", "users"}


# --- the migration ------------------------------------------------------------------------

def test_migration_creates_versions_and_triggers(env, settings):
    with env.owner.connect() as conn:
        tables = set(conn.execute(text("SELECT table_name FROM data_versions")).scalars())
        assert tables == VERSIONED
        triggers = set(conn.execute(text(
            "SELECT tgrelid::regclass::text || ':' || tgname FROM pg_trigger WHERE tgname LIKE '%\\_events\\_%'"
        )).scalars())
        assert triggers == {f"{t}:{t}_events_{op}" for t in ENTITIES for op in ("insert", "update")}
        definer, config = conn.execute(text(
            "SELECT prosecdef, proconfig FROM pg_proc WHERE proname = 'onemap_events_emit'")).one()
        assert definer and any(c.startswith("search_path=") for c in config)
        grants = conn.execute(text(
            "SELECT has_function_privilege('public', 'onemap_events_emit()', 'EXECUTE'), "
            "has_function_privilege(:r, 'onemap_events_emit()', 'EXECUTE'), "
            "has_table_privilege(:r, 'data_versions', 'SELECT'), "
            "has_table_privilege(:r, 'data_versions', 'INSERT, UPDATE, DELETE, TRUNCATE')"),
            {"r": settings.app_role}).one()
        assert tuple(grants) == (False, True, True, False)


def test_app_role_cannot_write_versions(env):
    with psycopg.connect(libpq_dsn(env.db.app_url)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE data_versions SET version = 0")


# --- delivery and jurisdiction ------------------------------------------------------------

def test_county_user_gets_its_hidden_danger_and_another_county_does_not(env, sse):
    zh, xh, nb = sse("zh"), sse("xh"), sse("nb")
    hid = add_danger(env, "zh", level="major")
    ev = zh.wait_for(kind_id("hidden_danger.created", hid))
    body = ev["json"]
    assert (body["t"], body["op"], body["a"], body["e"], body["p"]) == (
        "hidden_dangers", "INSERT", "330211", env.ent["zh"], False)
    assert body["d"] == {"title": "储罐区消防通道堵塞", "status": "reported", "level": "major"}
    assert body["v"] >= 1 and int(ev["id"]) > 0
    nb.wait_for(kind_id("hidden_danger.created", hid))  # the city above sees it
    later = add_danger(env, "xh")
    xh.wait_for(kind_id("hidden_danger.created", later))
    assert all(e["json"].get("id") != hid for e in xh.seen)


def test_public_sees_only_public_rows(env, sse):
    anonymous, pub = sse(None), sse("pub")
    hidden = add_danger(env, "zh", public=False)
    shown = add_danger(env, "xh", public=True)
    for client in (anonymous, pub):
        client.wait_for(kind_id("hidden_danger.created", shown))
        assert all(e["json"].get("id") != hidden for e in client.seen)


def test_enterprise_user_sees_only_its_enterprise(env, sse):
    ent = sse("ent")
    other = add_danger(env, "zh2")
    own = add_danger(env, "zh")
    ent.wait_for(kind_id("hidden_danger.created", own))
    assert all(e["json"].get("id") != other for e in ent.seen)


def test_a_write_by_the_app_role_is_announced(env, sse):
    """Requests write as the app role, which may not touch data_versions: the definer function does."""
    zh = sse("zh")
    ctx = RequestContext(role="county", jurisdiction="330211", actor="u.zh")
    app_engine = make_engine(env.db.app_url)
    try:
        with app_engine.begin() as conn:
            apply_context(conn, ctx)
            hid = conn.execute(text(
                "INSERT INTO hidden_dangers (enterprise_id, title, category, level, found_on, geom) VALUES "
                "(:e, '应用写入', 'electrical', 'general', DATE '2026-11-02', "
                "ST_SetSRID(ST_MakePoint(121.64, 29.99), 4326)) RETURNING id"), {"e": env.ent["zh"]}).scalar_one()
    finally:
        app_engine.dispose()
    zh.wait_for(kind_id("hidden_danger.created", hid))


def test_status_change_kind(env, sse):
    hid = add_danger(env, "zh")
    zh = sse("zh")
    execute(env, "UPDATE hidden_dangers SET status = 'accepted' WHERE id = :i", i=hid)
    ev = zh.wait_for(kind_id("hidden_danger.status_changed", hid))
    assert ev["json"]["op"] == "UPDATE" and ev["json"]["d"]["status"] == "accepted"
    execute(env, "UPDATE hidden_dangers SET description = 'x' WHERE id = :i", i=hid)
    zh.wait_for(kind_id("hidden_danger.updated", hid))
    execute(env, "UPDATE hidden_dangers SET valid_to = now() WHERE id = :i", i=hid)
    zh.wait_for(kind_id("hidden_danger.deleted", hid))


def test_risk_colour_change_kind(env, sse):
    zh, nb, xh = sse("zh"), sse("nb"), sse("xh")
    execute(env, "UPDATE enterprises SET risk_colour = 'red' WHERE id = :i", i=env.ent["zh"])
    for client in (zh, nb):
        ev = client.wait_for(kind_id("enterprise.risk_colour_changed", env.ent["zh"]))
        assert ev["json"]["d"]["risk_colour"] == "red" and ev["json"]["t"] == "enterprises"
    execute(env, "UPDATE enterprises SET risk_colour = 'blue' WHERE id = :i", i=env.ent["xh"])
    xh.wait_for(kind_id("enterprise.risk_colour_changed", env.ent["xh"]))
    assert all(e["json"].get("id") != env.ent["zh"] for e in xh.seen)


def test_children_take_their_parents_place(env, sse):
    ent = sse("ent")
    with env.owner.begin() as conn:
        unit = conn.execute(text(
            "INSERT INTO hazard_units (enterprise_id, name, kind, geom) VALUES "
            "(:e, '液氯储罐', 'storage', ST_SetSRID(ST_MakePoint(121.64, 29.99), 4326)) RETURNING id"),
            {"e": env.ent["zh"]}).scalar_one()
        row = conn.execute(text(
            "INSERT INTO hazard_unit_inventory (hazard_unit_id, chemical, max_quantity_t) "
            "VALUES (:u, 'chlorine', 20) RETURNING id"), {"u": unit}).scalar_one()
    ev = ent.wait_for(kind_id("hazard_unit_inventory.created", row))
    assert (ev["json"]["a"], ev["json"]["e"], ev["json"]["d"]) == ("330211", env.ent["zh"], {"name": "chlorine"})


def test_versions_bump(env, sse):
    zh = sse("zh")
    before = env.live.version("hidden_dangers")
    hid = add_danger(env, "zh")
    ev = zh.wait_for(kind_id("hidden_danger.created", hid))
    with env.owner.connect() as conn:
        stored = conn.execute(text("SELECT version FROM data_versions WHERE table_name = 'hidden_dangers'")).scalar()
    assert ev["json"]["v"] == stored > before
    _wait_until(lambda: env.live.version("hidden_dangers") == stored, what="the listener's version")
    assert env.live.versions_snapshot()["hidden_dangers"] == stored


def test_empty_statement_bumps_nothing(env):
    with env.owner.begin() as conn:
        before = conn.execute(text("SELECT version FROM data_versions WHERE table_name = 'rescue_teams'")).scalar()
        conn.execute(text("UPDATE rescue_teams SET headcount = 1 WHERE false"))
        after = conn.execute(text("SELECT version FROM data_versions WHERE table_name = 'rescue_teams'")).scalar()
    assert after == before


def test_big_statement_sends_one_summary(env, sse):
    zh, xh = sse("zh", params={"kinds": "hidden_danger."}), sse("xh")
    execute(env, "INSERT INTO hidden_dangers (enterprise_id, title, category, level, found_on, geom) "
                 "SELECT :e, '批量' || g, 'fire', 'general', DATE '2026-11-01', "
                 "ST_SetSRID(ST_MakePoint(121.64, 29.99), 4326) FROM generate_series(1, 200) g", e=env.ent["zh"])
    marker = add_danger(env, "zh")
    zh.wait_for(kind_id("hidden_danger.created", marker))
    bulk = [e for e in zh.seen if e["event"] == "hidden_danger.bulk"]
    assert len(bulk) == 1 and len(zh.seen) == 2, zh.seen
    assert {k: bulk[0]["json"][k] for k in ("t", "op", "n", "a", "p")} == {
        "t": "hidden_dangers", "op": "INSERT", "n": 200, "a": ["330211"], "p": False}
    xh_marker = add_danger(env, "xh")
    xh.wait_for(kind_id("hidden_danger.created", xh_marker))
    assert not any(e["event"] == "hidden_danger.bulk" for e in xh.seen)


def test_long_text_is_truncated(env, sse):
    zh = sse("zh")
    hid = add_danger(env, "zh", title="超长" * 5000)
    ev = zh.wait_for(kind_id("hidden_danger.created", hid))
    assert len(ev["json"]["d"]["title"]) == 120 and len(ev["data"].encode()) < 8000


# --- the HTTP side ----------------------------------------------------------------------------

def test_stream_headers_ids_and_keepalive(env, sse):
    zh = sse("zh")
    headers = zh.response.headers
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache" and headers["x-accel-buffering"] == "no"
    assert zh.wait_comment() == "keep-alive"
    first, second = add_danger(env, "zh"), add_danger(env, "zh")
    a = zh.wait_for(kind_id("hidden_danger.created", first))
    b = zh.wait_for(kind_id("hidden_danger.created", second))
    assert 0 < int(a["id"]) < int(b["id"])


def test_kinds_filter(env, sse):
    only = sse("zh", params={"kinds": "enterprise.risk_colour_changed"})
    add_danger(env, "zh")
    execute(env, "UPDATE enterprises SET risk_colour = 'orange' WHERE id = :i", i=env.ent["zh"])
    only.wait_for(lambda e: e["event"] == "enterprise.risk_colour_changed")
    assert [e["event"] for e in only.seen] == ["enterprise.risk_colour_changed"]


@pytest.mark.parametrize("value", ["hidden_dangers.", "nonsense", "hidden_danger.,x"])
def test_unknown_kinds_are_422(env, value):
    r = httpx.get(f"{env.base}/events", params={"kinds": value})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "kinds" and "unknown kind prefix" in r.json()["detail"][0]["reason"]


def test_access_token_in_the_query(env, sse):
    zh = sse("zh", via_query=True)
    hid = add_danger(env, "zh")
    zh.wait_for(kind_id("hidden_danger.created", hid))


@pytest.mark.parametrize("via_query", [False, True])
def test_bad_token_is_401(env, via_query):
    params = {"access_token": "not-a-jwt"} if via_query else {}
    headers = {} if via_query else {"Authorization": "Bearer not-a-jwt"}
    r = httpx.get(f"{env.base}/events", params=params, headers=headers)
    assert r.status_code == 401


def test_client_disconnect_ends_the_subscription(env, sse):
    before = env.live.subscriber_count
    client = sse("zh")
    assert env.live.subscriber_count == before + 1
    client.close()
    _wait_until(lambda: env.live.subscriber_count == before, what="the stream to unsubscribe")


def test_listener_reconnects_and_says_resync(env, sse):
    zh = sse("zh")
    pid = env.live.backend_pid
    with psycopg.connect(libpq_dsn(env.db.admin_url), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    ev = zh.wait_for(lambda e: e["event"] == "resync")
    assert ev["json"] == {"k": "resync", "reason": "reconnected"}
    assert env.live.connected and env.live.backend_pid not in (None, pid)
    hid = add_danger(env, "zh")
    zh.wait_for(kind_id("hidden_danger.created", hid))


def test_server_shutdown_ends_open_streams(env):
    """SIGTERM to a real ``uvicorn.run`` with an open stream: the process exits (it waits forever otherwise)."""
    sock = _free_socket()
    port = sock.getsockname()[1]
    sock.close()
    environ = {**os.environ,
               "DATABASE_URL": env.db.owner_url.render_as_string(hide_password=False),
               "ONEMAP_APP_DATABASE_URL": env.db.app_url.render_as_string(hide_password=False)}
    code = ("import uvicorn; from api.app import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=environ)
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert proc.poll() is None, "the server died"
            try:
                return httpx.get(f"{base}/health").status_code == 200
            except httpx.HTTPError:
                return False

        _wait_until(healthy, timeout=30, what="the server")
        stream = SSE(base)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT_S) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
        assert stream.ended.wait(WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- geo.events without HTTP --------------------------------------------------------------

CONTEXTS = [
    RequestContext(role="admin", jurisdiction="33", actor="a"),
    RequestContext(role="province", jurisdiction="33", actor="p"),
    RequestContext(role="city", jurisdiction="3302", actor="c"),
    RequestContext(role="county", jurisdiction="330211", actor="zh"),
    RequestContext(role="county", jurisdiction="330106", actor="xh"),
    RequestContext(role="enterprise", jurisdiction="330211", actor="e", enterprise_id=5),
    RequestContext(role="public", jurisdiction="00", actor="anonymous"),
    RequestContext(role="public", jurisdiction="33", actor="pub"),
]
ROWS = [(adcode, enterprise, public) for adcode in ("330211", "330106", "330102", "320106", None)
        for enterprise in (None, 5, 6) for public in (False, True)]


@pytest.mark.parametrize("ctx", CONTEXTS, ids=lambda c: f"{c.role}-{c.jurisdiction}")
def test_visible_to_agrees_with_sql(conn, ctx):
    apply_context(conn, ctx)
    for adcode, enterprise, public in ROWS:
        expected = conn.execute(text("SELECT onemap_visible(:a, :e, :p)"),
                                {"a": adcode, "e": enterprise, "p": public}).scalar()
        event = Event("hidden_dangers", "INSERT", "hidden_danger.created", 1, 1, adcode, enterprise, public)
        assert visible_to(ctx, event) is expected, (adcode, enterprise, public)


@pytest.mark.parametrize(("ctx", "table", "adcodes", "public", "expected"), [
    (CONTEXTS[3], "hidden_dangers", ("330106", "330211"), False, True),
    (CONTEXTS[4], "hidden_dangers", ("330211",), False, False),
    (CONTEXTS[2], "hidden_dangers", ("330211",), False, True),
    (CONTEXTS[3], "hidden_dangers", ("3302",), False, True),  # coarsened to a city prefix
    (CONTEXTS[4], "hidden_dangers", ("3302",), False, False),
    (CONTEXTS[6], "hidden_dangers", ("330211",), False, False),
    (CONTEXTS[6], "rescue_teams", ("330211",), True, True),
    (CONTEXTS[5], "rescue_teams", ("330211",), False, False),
    (CONTEXTS[5], "hazard_units", ("330211",), False, True),
    (CONTEXTS[4], "regions", ("330211",), False, True),
])
def test_visible_to_summaries(ctx, table, adcodes, public, expected):
    event = Event(table, "INSERT", f"{ENTITIES[table]}.bulk", 3, is_public=public, bulk=True, count=99,
                  adcodes=adcodes)
    assert visible_to(ctx, event) is expected


def test_regions_and_resync_are_visible_to_all():
    region = Event("regions", "UPDATE", "region.updated", 1, "330211", "330211", None, True)
    for ctx in CONTEXTS:
        assert visible_to(ctx, region) and visible_to(ctx, Event.resync("reconnected"))


@pytest.mark.parametrize("payload", [
    "", "not json", "[1]", '{"t":"x"}',
    '{"t":"hidden_dangers","op":"DELETE","k":"hidden_danger.created","v":1}',
    '{"t":"hidden_dangers","op":"INSERT","k":"bad kind","v":1}',
    '{"t":"hidden_dangers","op":"INSERT","k":"hidden_danger.created","v":NaN}',
    '{"t":"hidden_dangers","op":"INSERT","k":"hidden_danger.created","v":1,"a":"x1"}',
    '{"t":"hidden_dangers","op":"INSERT","k":"hidden_danger.created","v":1,"p":"yes"}',
    '{"t":"hidden_dangers","op":"INSERT","k":"hidden_danger.bulk","v":1,"n":3,"a":"330211"}',
    '{"t":"Robert\'); DROP","op":"INSERT","k":"hidden_danger.created","v":1}',
])
def test_parse_rejects_malformed_payloads(payload):
    with pytest.raises(InvalidInput) as info:
        parse(payload)
    assert info.value.field == "payload"


def test_parse_round_trip():
    event = Event("hidden_dangers", "UPDATE", "hidden_danger.status_changed", 9, 4, "330211", 2, False,
                  {"title": "标题\n第二行", "status": "accepted"})
    again = parse(event.to_json())
    assert again == event
    block = event.to_sse()
    assert block.startswith("event: hidden_danger.status_changed\ndata: {") and block.endswith("}\n\n")
    assert block.count("\n") == 3  # newlines inside values stay escaped: one data line


def test_kinds_are_known_and_prefixes_validated():
    assert {"hidden_danger.created", "hidden_danger.status_changed", "enterprise.risk_colour_changed",
            "scenario.created", "enterprise.deleted", "sensor.bulk", "region.updated"} <= KINDS
    assert "region.deleted" not in KINDS  # regions have no valid_to
    assert parse_kinds(None) == () and parse_kinds(" , ") == ()
    assert parse_kinds("hidden_danger.,hidden_danger.") == ("hidden_danger.",)
    with pytest.raises(InvalidInput, match="kinds"):
        parse_kinds("x" * 1001)


def test_doctests_of_geo_events():
    result = doctest.testmod(geo.events, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def _event(i: int) -> Event:
    return Event("rescue_teams", "INSERT", "rescue_team.created", i, i, "330211", None, True)


def test_full_queue_drops_the_oldest_and_says_resync():
    live = Listener("postgresql://unused")
    sub = live.subscribe(CONTEXTS[3], maxsize=3)
    for i in range(1, 6):
        live.dispatch(_event(i))
    first = sub.get(timeout=1)
    assert first.is_resync and first.display["reason"] == "overflow"
    assert [sub.get(timeout=1).id for _ in range(3)] == [3, 4, 5]
    assert sub.get(timeout=0.01) is None and sub.dropped == 2
    assert live.version("rescue_teams") == 5


def test_filters_apply_before_the_queue():
    live = Listener("postgresql://unused")
    seen: list[Event] = []
    live.add_callback(seen.append)
    live.add_callback(lambda e: 1 / 0)  # a failing callback does not stop the others
    xh = live.subscribe(CONTEXTS[4])
    danger_only = live.subscribe(CONTEXTS[3], kinds=("hidden_danger.",))
    live.dispatch(_event(1))
    assert len(seen) == 1 and xh.get(timeout=0.01) is None and danger_only.get(timeout=0.01) is None
    live.unsubscribe(xh)
    assert xh.closed and live.subscriber_count == 1


def test_async_subscription_is_woken_from_another_thread():
    live = Listener("postgresql://unused")

    async def main():
        sub = live.subscribe(CONTEXTS[3])
        assert await sub.next(timeout=0.01) is None
        threading.Timer(0.05, live.dispatch, args=(_event(7),)).start()
        got = await sub.next(timeout=WAIT_S)
        threading.Timer(0.05, live.close_subscriptions).start()
        ended = await sub.next(timeout=WAIT_S)
        return got, ended, sub.closed

    got, ended, closed = asyncio.run(main())
    assert got.id == 7 and got.seq > 0 and ended is None and closed
    assert live.subscribe(CONTEXTS[3]).closed  # draining: no new subscriptions until start()


def test_listener_start_and_stop_are_idempotent(env):
    name = "onemap-events-idempotent"
    live = Listener(libpq_dsn(env.db.app_url), application_name=name)

    def backends() -> int:
        with env.owner.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
                                {"n": name}).scalar()

    try:
        assert live.start(wait_s=WAIT_S) and live.start(wait_s=WAIT_S)
        assert backends() == 1
        assert live.versions_snapshot().keys() == VERSIONED
    finally:
        live.stop()
        live.stop()
    assert not live.connected
    _wait_until(lambda: backends() == 0, what="the listener's connection to close")


def test_listener_keeps_retrying_without_a_database():
    live = Listener("postgresql://nobody@127.0.0.1:1/none", backoff_s=(0.01, 0.05), connect_timeout_s=1)
    assert live.start(wait_s=0.2) is False
    live.stop()
    assert not live.connected
