"""OAuth2 password flow, JWT checks, throttling, disabled users, and `onemap user add`."""

import os
import subprocess
import sys
import time

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.auth import issue_token, signing_key
from geo.db import make_engine
from geo.errors import InvalidInput
from geo.regions import store_regions
from geo.users import UserRecord, create_user
from tests.conftest import zhejiang_regions

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def adb(throwaway, settings):
    db = throwaway()
    owner = make_engine(db.owner_url)
    with owner.begin() as conn:
        store_regions(conn, zhejiang_regions()[:20])
        create_user(conn, username="zh.county", password=PASSWORD, role="county", adcode="330211")
        create_user(conn, username="nb.city", password=PASSWORD, role="city", adcode="330200")
        create_user(conn, username="locked.out", password=PASSWORD, role="county", adcode="330211")
        create_user(conn, username="to.disable", password=PASSWORD, role="county", adcode="330211")
    app_engine = make_engine(db.app_url)
    with TestClient(create_app(settings, engine=app_engine)) as client:
        yield db, owner, client
    app_engine.dispose()
    owner.dispose()


def _login(client, username, password=PASSWORD):
    return client.post("/auth/token", data={"username": username, "password": password})


def test_login_and_me(adb):
    _, _, client = adb
    r = _login(client, "nb.city")
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
    assert me["role"] == "city" and me["jurisdiction"] == "3302"


@pytest.mark.parametrize(("user", "pw"), [("zh.county", "wrong password"), ("nobody.here", PASSWORD)])
def test_bad_credentials_get_the_same_401(adb, user, pw):
    _, _, client = adb
    r = _login(client, user, pw)
    assert r.status_code == 401 and r.json()["detail"] == "incorrect username or password"


def test_five_failures_lock_the_account(adb):
    _, owner, client = adb
    for _ in range(5):
        assert _login(client, "locked.out", "nope nope nope").status_code == 401
    r = _login(client, "locked.out")
    assert r.status_code == 401 and "too many" in r.json()["detail"]
    with owner.begin() as conn:
        conn.execute(text("UPDATE users SET locked_until = now() - interval '1 second' WHERE username = 'locked.out'"))
    assert _login(client, "locked.out").status_code == 200


def test_missing_form_fields_are_422(adb):
    _, _, client = adb
    assert client.post("/auth/token", data={"username": "x"}).status_code == 422


def _user():
    return UserRecord(1, "zh.county", "county", "330211", None)


def test_tokens_that_must_fail(adb, settings):
    _, _, client = adb
    key = signing_key(settings)
    now = int(time.time())
    base = {"sub": "zh.county", "aud": settings.jwt_audience, "iss": "onemap", "iat": now, "exp": now + 60}
    bad = {
        "alg none": jwt.encode(base, None, algorithm="none"),
        "expired": issue_token(_user(), settings, now=time.time() - 3600),
        "wrong audience": jwt.encode({**base, "aud": "someone-else"}, key, algorithm="HS256"),
        "wrong key": jwt.encode(base, "x" * 48, algorithm="HS256"),
        "no exp": jwt.encode({k: v for k, v in base.items() if k != "exp"}, key, algorithm="HS256"),
        "garbage": "not.a.token",
    }
    for name, token in bad.items():
        r = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name


def test_disabled_users_token_is_rejected(adb):
    _, owner, client = adb
    token = _login(client, "to.disable").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/auth/me", headers=headers).status_code == 200
    with owner.begin() as conn:
        conn.execute(text("UPDATE users SET status = 'disabled', valid_to = now() WHERE username = 'to.disable'"))
    assert client.get("/auth/me", headers=headers).status_code == 401


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"role": "king"}, "role"), ({"adcode": "3302"}, "adcode"), ({"username": "X"}, "username"),
    ({"password": "short"}, "password"), ({"role": "enterprise"}, "enterprise"),
])
def test_create_user_bad_input(adb, kwargs, field):
    _, owner, _ = adb
    args = {"username": "new.user", "password": PASSWORD, "role": "county", "adcode": "330211", **kwargs}
    with owner.connect() as conn, pytest.raises(InvalidInput) as err:
        create_user(conn, **args)
    assert err.value.field == field


def test_cli_user_add(adb, settings):
    db, owner, client = adb
    env = {**os.environ, "ONEMAP_DB_NAME": db.name}
    cmd = [sys.executable, "-m", "api.cli", "user", "add"]
    ok = subprocess.run([*cmd, "cli.user", "--password", PASSWORD, "--role", "city", "--adcode", "330200"],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert _login(client, "cli.user").status_code == 200
    bad = subprocess.run([*cmd, "cli.user2", "--password", PASSWORD, "--role", "mayor", "--adcode", "330200"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: role:")
    assert len(bad.stderr.strip().splitlines()) == 1
