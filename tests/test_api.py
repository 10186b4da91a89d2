"""The HTTP app on the test database, connected as the app role."""

import pytest
from fastapi.testclient import TestClient

from api.app import create_app


@pytest.fixture(scope="module")
def client(settings, app_engine):
    with TestClient(create_app(settings, engine=app_engine)) as c:
        yield c


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["database"] is True


def test_regions_list(client):
    body = client.get("/regions").json()
    assert body["count"] == 102 == len(body["data"])
    assert client.get("/regions", params={"level": "county"}).json()["count"] == 90
    kids = client.get("/regions", params={"parent": "330200"}).json()
    assert kids["count"] == 10 and all(r["adcode"].startswith("3302") for r in kids["data"])


def test_regions_geojson(client):
    r = client.get("/regions", params={"level": "city", "f": "geojson"})
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 11
    assert fc["features"][0]["geometry"]["type"] == "MultiPolygon"


def test_region_item(client):
    body = client.get("/regions/330211").json()
    assert body["name"] == "镇海区" and body["level"] == "county" and body["parent_adcode"] == "330200"
    assert body["geometry"]["type"] == "MultiPolygon"
    assert client.get("/regions/330200").json()["children"][0].startswith("3302")


@pytest.mark.parametrize(("path", "status"), [
    ("/regions/999999", 404), ("/regions/abc", 422), ("/regions?level=planet", 400), ("/regions?parent=12", 400),
])
def test_bad_requests_are_4xx_with_a_reason(client, path, status):
    r = client.get(path)
    assert r.status_code == status
    assert r.json()["detail"]


def test_openapi(client):
    assert "/regions" in client.get("/openapi.json").json()["paths"]
