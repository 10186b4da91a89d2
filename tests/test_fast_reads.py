"""The one-round-trip read paths: tiles on the ASGI fast path, /nearest, and the users they trust.

Against the real database of the HTTP-test world: the fast path answers
well-formed tile requests itself with the same bytes the database makes
under the caller's row-level security, hands everything else to the route;
a signed-in user is checked in the database once per version of the users
table, and a user disabled or moved loses access as soon as the change feed
says so, cached tiles included; the pool survives its connections being
killed.
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from sqlalchemy import text

from api.auth import TokenCache, VerifiedUsers, issue_token
from api.tile_answers import TileFastPath
from geo.context import RequestContext, apply_context
from geo.db import libpq_dsn
from geo.users import UserRecord, create_user
from layers.catalogue import get_layer
from layers.tiles import render_tile
from tests.conftest import WORLD_PASSWORD, ZH
from tests.telemetry_helpers import wait_for
from tests.test_tiles_api import tile_of

WAIT_S = 10.0


def _asgi(client, scope_path: str, headers: dict[str, str]):
    """Run TileFastPath over a recording downstream app in the app's own event loop."""
    calls: list[str] = []
    sent: list[dict] = []

    async def downstream(scope, receive, send):
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": scope_path, "query_string": b"", "app": client.app,
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "state": {"request_id": "fast-test"}}
    client.portal.call(TileFastPath(downstream), scope, receive, send)
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return calls, status, dict(sent[0]["headers"]), body


def test_fast_path_answers_a_tile_with_the_bytes_the_database_makes(wclient, world_app_engine):
    z, x, y = tile_of(*ZH, 14)
    calls, status, headers, body = _asgi(wclient, f"/tiles/enterprises/{z}/{x}/{y}.mvt", wclient.as_["zhenhai"])
    assert calls == [] and status == 200
    assert headers[b"content-type"] == b"application/vnd.mapbox-vector-tile"
    assert headers[b"etag"].startswith(b'"') and headers[b"cache-control"] == b"private, no-cache"
    user = wclient.app.state.tokens.user(wclient.as_["zhenhai"]["Authorization"].split()[1])
    with world_app_engine.connect() as conn, conn.begin():
        apply_context(conn, user.context())
        expected = render_tile(conn, layer=get_layer("enterprises"), z=z, x=x, y=y)
    assert body == expected and len(body) > 0


@pytest.mark.parametrize("path", [
    "/tiles/nosuchlayer/14/0/0.mvt",  # unknown layer: the route's 404 names the known ones
    "/tiles/enterprises/23/0/0.mvt",  # outside the matrix
    "/tiles/enterprises/3/8/0.mvt",
])
def test_fast_path_hands_what_it_cannot_answer_to_the_route(wclient, path):
    calls, status, _, _ = _asgi(wclient, path, wclient.as_["province"])
    assert calls == [path] and status == 599


def test_fast_path_hands_a_bad_token_to_the_route(wclient):
    z, x, y = tile_of(*ZH, 14)
    path = f"/tiles/enterprises/{z}/{x}/{y}.mvt"
    calls, status, _, _ = _asgi(wclient, path, {"Authorization": "Bearer not-a-jwt"})
    assert calls == [path]
    r = wclient.get(path, headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status_code == 401 and r.json() == {"detail": "invalid token"}
    assert r.headers["www-authenticate"] == "Bearer"


def test_fast_path_keeps_request_ids_and_conditional_requests(wclient):
    z, x, y = tile_of(*ZH, 13)
    path = f"/tiles/enterprises/{z}/{x}/{y}.mvt"
    r = wclient.get(path, headers={**wclient.as_["ningbo"], "X-Request-ID": "tile-req-1"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "tile-req-1"
    again = wclient.get(path, headers={**wclient.as_["ningbo"], "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == r.headers["etag"]
    assert "content-length" not in again.headers or again.headers["content-length"] == "0"


def _new_user(world_owner_engine, prefix: str, role: str = "county", adcode: str = "330211") -> str:
    """A new user (users are never deleted: each test makes its own); its username."""
    username = f"{prefix}.{uuid.uuid4().hex[:8]}"
    with world_owner_engine.begin() as conn:
        create_user(conn, username=username, password=WORLD_PASSWORD, role=role, adcode=adcode)
    return username


def _login(client, username: str) -> dict[str, str]:
    r = client.post("/auth/token", data={"username": username, "password": WORLD_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.mark.parametrize("change", [
    "UPDATE users SET status = 'disabled', valid_to = now() WHERE username = :u",
    "UPDATE users SET jurisdiction = '330106' WHERE username = :u",  # moved to another county
])
def test_a_changed_user_loses_cached_tiles_and_nearest_as_soon_as_the_feed_says_so(
        wclient, world_owner_engine, change):
    username = _new_user(world_owner_engine, "w.fast.changed")
    auth = _login(wclient, username)
    live = wclient.app.state.live
    z, x, y = tile_of(*ZH, 15)
    path = f"/tiles/enterprises/{z}/{x}/{y}.mvt"
    first = wclient.get(path, headers=auth)
    assert first.status_code == 200
    user = wclient.app.state.tokens.user(auth["Authorization"].split()[1])
    verified = wclient.app.state.verified_users
    assert verified.holds(user, verified.version())  # confirmed once: later tiles need no database
    assert wclient.get(path, headers=auth).status_code == 200
    assert wclient.get("/nearest", params={"lon": ZH[0], "lat": ZH[1]}, headers=auth).status_code == 200

    before = live.version("users")
    with world_owner_engine.begin() as conn:
        conn.execute(text(change), {"u": username})
    wait_for(lambda: live.version("users") > before, WAIT_S, "the users' version on the change feed")
    assert not verified.holds(user, verified.version())
    r = wclient.get(path, headers=auth)  # the tile is still in the cache: refused all the same
    assert r.status_code == 401 and "log in again" in r.json()["detail"]
    r = wclient.get("/nearest", params={"lon": ZH[0], "lat": ZH[1]}, headers=auth)
    assert r.status_code == 401


def test_login_bookkeeping_does_not_bump_the_users_version(wclient, world_owner_engine):
    live = wclient.app.state.live
    username = _new_user(world_owner_engine, "w.fast.quiet")
    wait_for(lambda: live.version("users") > 0, WAIT_S, "a users' version")
    time.sleep(0.3)
    before = live.version("users")
    bad = wclient.post("/auth/token", data={"username": username, "password": "wrong-password-1"})
    assert bad.status_code == 401
    _login(wclient, username)  # resets failed_logins
    time.sleep(0.3)
    assert live.version("users") == before


def test_the_users_change_never_reaches_an_event_stream():
    from geo.events import parse, visible_to

    event = parse('{"t":"users","op":"UPDATE","n":0,"v":7,"k":"user.bulk","p":false,"a":[]}')
    for role, jur, ent in (("province", "33", None), ("county", "330211", None), ("public", "00", None),
                           ("enterprise", "330211", 1), ("admin", "33", None)):
        assert not visible_to(RequestContext(role=role, jurisdiction=jur, actor="t", enterprise_id=ent), event)


def test_verified_users_trust_only_the_current_version():
    version = {"v": 3}
    users = VerifiedUsers(lambda: version["v"])
    u = UserRecord(1, "a.b", "county", "330211", None)
    assert not users.holds(u, users.version())
    users.remember(u, 3)
    assert users.holds(u, users.version())
    version["v"] = 4
    assert not users.holds(u, users.version())
    down = VerifiedUsers(lambda: None)  # change feed down: nobody is trusted, nothing remembered
    down.remember(u, down.version())
    assert not down.holds(u, down.version())


def test_token_cache_rechecks_expiry_and_never_keeps_a_forged_token(settings):
    tokens = TokenCache(settings)
    u = UserRecord(5, "c.d", "city", "3302", None)
    short = issue_token(u, settings, now=time.time() - settings.jwt_ttl_s + 1)  # valid for about one more second
    assert tokens.user(short) == u
    time.sleep(1.2)
    with pytest.raises(Exception) as err:
        tokens.user(short)
    assert getattr(err.value, "status_code", None) == 401 and err.value.detail == "token expired"
    forged = issue_token(u, settings)[:-2] + "xx"
    for _ in range(2):
        with pytest.raises(Exception) as err:
            tokens.user(forged)
        assert err.value.detail == "invalid token"


def test_reads_survive_their_connections_being_killed(wclient, world):
    z, x, y = tile_of(*ZH, 12)
    auth = wclient.as_["province"]
    assert wclient.get("/nearest", params={"lon": ZH[0], "lat": ZH[1]}, headers=auth).status_code == 200
    with psycopg.connect(libpq_dsn(world.db.admin_url), autocommit=True) as admin:
        killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE application_name = 'onemap-reads' AND datname = current_database()"
                               ).fetchone()[0]
    assert killed >= 1
    r = wclient.get("/nearest", params={"lon": ZH[0], "lat": ZH[1]}, headers=auth)
    assert r.status_code == 200 and r.json()["count"] >= 1
    r = wclient.get(f"/tiles/rescue_teams/{z}/{x}/{y}.mvt", headers=auth)
    assert r.status_code == 200


def test_the_context_lives_exactly_as_long_as_one_read(wclient):
    """One pipelined read is one transaction: its settings hold for the query and are gone after it."""
    reads = wclient.app.state.reads
    ctx = RequestContext(role="county", jurisdiction="330211", actor="w.test")
    probe = ("SELECT current_setting('onemap.role', true), current_setting('onemap.jurisdiction', true), "
             "current_setting('max_parallel_workers_per_gather')")

    async def go():
        inside = await reads.read(ctx, probe, {})
        with pytest.raises(psycopg.errors.DivisionByZero):
            await reads.read(ctx, "SELECT 1 / 0", {})
        after = []
        for _ in range(4):  # the pool hands its connections out in turn: every one of them
            async with reads.pool.connection() as conn:
                after.append(await (await conn.execute(probe)).fetchone())
        return inside, after

    inside, after = wclient.portal.call(go)
    assert inside == [("county", "330211", "0")]
    assert all(row[0] in ("", None) and row[1] in ("", None) and row[2] != "0" for row in after), after
