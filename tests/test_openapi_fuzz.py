"""Schemathesis over /openapi.json against a live server on the test world: no input may cause a 5xx.

Every operation gets a bounded number of generated requests (ONEMAP_FUZZ_EXAMPLES, default 12),
anonymous and as a county regulator. Writes go to a throwaway world database of its own.
"""

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from geo.db import make_engine
from tests.conftest import WORLD_PASSWORD, build_world
from tests.live_server import live_server

EXAMPLES = int(os.environ.get("ONEMAP_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def fuzz_server(settings, throwaway):
    # a world of its own: the fuzzer's writes (dangers, reports, draws …) must not reach other tests' world
    world = build_world(throwaway)
    engine = make_engine(world.db.app_url)
    app = create_app(settings, engine=engine)
    try:
        with live_server(app) as url:
            yield url
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def fuzz_token(fuzz_server):
    r = requests.post(f"{fuzz_server}/auth/token", data={"username": "w.zhenhai", "password": WORLD_PASSWORD},
                      timeout=10)
    return r.json()["access_token"]


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    return schemathesis.openapi.from_url(f"{fuzz_server}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case, fuzz_server, fuzz_token):
    if case.path == "/events":  # an endless stream: covered by tests/test_events.py
        return
    if case.path == "/telemetry/health":  # 503 is its answer while no ingest worker runs: tests/test_telemetry.py
        return
    for headers in ({}, {"Authorization": f"Bearer {fuzz_token}"}):
        response = case.call(base_url=fuzz_server, headers=headers, timeout=30)
        assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: " \
                                           f"{response.text[:300]}"
