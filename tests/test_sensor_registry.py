"""The sensor register over HTTP against the real database: register, re-tune, retire, under jurisdiction.

The world (tests/conftest.build_world): hazard unit H1 (Zhenhai, enterprise E1, chlorine) and H3 (Xihu).
"""

from __future__ import annotations

import psycopg
import pytest

from geo.db import libpq_dsn
from tests.conftest import build_world, world_client


@pytest.fixture(scope="module")
def rworld(throwaway):
    return build_world(throwaway)


@pytest.fixture(scope="module")
def rdsn(rworld):
    return libpq_dsn(rworld.db.owner_url)


@pytest.fixture(scope="module")
def rclient(settings, rworld):
    with world_client(settings, rworld) as client:
        yield client


def _body(rworld, code, **kw):
    return {"code": code, "hazard_unit_id": rworld.ids["H1"], "kind": "toxic_gas", "unit": "ppm",
            "chemical": "氯", "threshold_high": 1, "threshold_high_high": 3, "deadband": 0.2, "min_duration_s": 5,
            "interval_s": 10, "range_min": 0, "range_max": 20, **kw}


def _count(dsn) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*), coalesce(max(version), 0) FROM sensors").fetchone()


def test_the_enterprise_registers_retunes_and_retires_a_detector_on_its_own_unit(rclient, rworld, rdsn):
    c, ent = rclient, rclient.as_["ent"]
    r = c.post("/sensors", json=_body(rworld, "REG-CL-1"), headers=ent)
    assert r.status_code == 201, r.text
    s = r.json()
    assert r.headers["ETag"] == f'"{s["version"]}"'
    assert (s["chemical"], s["adcode"], s["enterprise_id"], s["status"]) == ("chlorine", "330211",
                                                                            rworld.ids["E1"], "active")
    with psycopg.connect(rdsn) as conn:  # placed on the unit's point; the write is audited
        same = conn.execute("SELECT ST_Equals(s.geom, h.geom) FROM sensors s JOIN hazard_units h "
                            "ON h.id = s.hazard_unit_id WHERE s.id = %s", (s["id"],)).fetchone()[0]
        audited = conn.execute("SELECT count(*) FROM audit_log WHERE table_name = 'sensors' AND row_key = %s",
                               (str(s["id"]),)).fetchone()[0]
    assert same and audited == 1
    listed = c.get("/sensors", params={"hazard_unit_id": rworld.ids["H1"]}, headers=ent).json()
    assert s["id"] in [x["id"] for x in listed["data"]]
    assert c.get(f"/sensors/{s['id']}", headers=rclient.as_["xihu"]).status_code == 404  # another county

    # re-tuned: needs the version read; a stale one is refused; the thresholds stay in order
    r = c.patch(f"/sensors/{s['id']}", json={"threshold_high": 2}, headers=ent)
    assert r.status_code == 428 and r.json()["detail"][0]["field"] == "If-Match"
    r = c.patch(f"/sensors/{s['id']}", json={"threshold_high": 5}, headers={**ent, "If-Match": f'"{s["version"]}"'})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "threshold_high_high"
    r = c.patch(f"/sensors/{s['id']}", json={"threshold_high": 2, "lon": 121.6, "lat": 29.95},
                headers={**ent, "If-Match": f'"{s["version"]}"'})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["threshold_high"] == 2 and moved["version"] == s["version"] + 1
    assert moved["geometry"]["coordinates"] == pytest.approx([121.6, 29.95])
    r = c.patch(f"/sensors/{s['id']}", json={"threshold_high": 2.5}, headers={**ent, "If-Match": f'"{s["version"]}"'})
    assert r.status_code == 409

    # retired: off the list, kept in the table
    r = c.delete(f"/sensors/{s['id']}", headers={**ent, "If-Match": f'"{moved["version"]}"'})
    assert r.status_code == 200 and r.json()["status"] == "retired"
    assert s["id"] not in [x["id"] for x in c.get("/sensors", headers=ent).json()["data"]]
    assert s["id"] in [x["id"] for x in c.get("/sensors", params={"status": "retired"}, headers=ent).json()["data"]]
    r = c.patch(f"/sensors/{s['id']}", json={"threshold_high": 2}, headers={**ent, "If-Match": f'"{moved["version"] + 1}"'})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "status"


def test_who_may_register_where(rclient, rworld, rdsn):
    c = rclient
    before = _count(rdsn)
    r = c.post("/sensors", json=_body(rworld, "REG-X-1"), headers=c.as_["xihu"])  # Zhenhai's unit, Xihu's county
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "hazard_unit_id"
    assert c.post("/sensors", json=_body(rworld, "REG-X-2"), headers=c.as_["public"]).status_code in (401, 403)
    r = c.post("/sensors", json=_body(rworld, "REG-X-3", hazard_unit_id=rworld.ids["H3"]), headers=c.as_["ent"])
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "hazard_unit_id"  # not E1's unit
    # placed by lon/lat outside the county it belongs to: refused by the database's jurisdiction check
    r = c.post("/sensors", json=_body(rworld, "REG-X-4", lon=120.15, lat=30.25), headers=c.as_["zhenhai"])
    assert r.status_code in (403, 422), r.text
    assert _count(rdsn) == before
    r = c.post("/sensors", json=_body(rworld, "REG-Z-1"), headers=c.as_["zhenhai"])
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(("change", "field"), [
    ({"code": None}, "code"),
    ({"code": "bad code; DROP TABLE sensors"}, "code"),
    ({"kind": "radiation"}, "kind"),
    ({"unit": "  "}, "unit"),
    ({"threshold_high_high": 0.5}, "threshold_high_high"),
    ({"threshold_low": 2, "threshold_high": 1, "threshold_high_high": None}, "threshold_high"),
    ({"range_min": 20, "range_max": 0}, "range_max"),
    ({"threshold_high_high": 30}, "threshold_high_high"),  # beyond the measuring range
    ({"chemical": None}, "chemical"),  # a toxic-gas detector names its gas
    ({"chemical": "unobtainium"}, "chemical"),
    ({"lon": 121.6}, "lat"),
    ({"interval_s": 0}, "interval_s"),
    ({"deadband": -1}, "deadband"),
    ({"rate_limit": 0}, "rate_limit"),
    ({"threshold_high": "high"}, "threshold_high"),
    ({"colour": "red"}, "colour"),
    ({"hazard_unit_id": 999_999}, "hazard_unit_id"),
])
def test_bad_registrations_name_the_field_and_change_nothing(rclient, rworld, rdsn, change, field):
    before = _count(rdsn)
    body = {k: v for k, v in {**_body(rworld, "REG-BAD-1"), **change}.items() if v is not None}  # None: left out
    r = rclient.post("/sensors", json=body, headers=rclient.as_["ent"])
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field, r.json()
    assert _count(rdsn) == before


def test_a_code_is_registered_once_and_a_patch_must_change_something(rclient, rworld, rdsn):
    c, ent = rclient, rclient.as_["ent"]
    r = c.post("/sensors", json=_body(rworld, "REG-DUP-1", kind="temperature", unit="°C", chemical=None,
                                      threshold_high=40, threshold_high_high=50, range_max=150), headers=ent)
    assert r.status_code == 201, r.text
    s = r.json()
    r = c.post("/sensors", json=_body(rworld, "REG-DUP-1"), headers=ent)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "code"
    for body, field in (({}, "body"), ({"unit": None}, "unit"), ({"kind": "pressure"}, "kind")):
        r = c.patch(f"/sensors/{s['id']}", json=body, headers={**ent, "If-Match": f'"{s["version"]}"'})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, r.text
    r = c.patch(f"/sensors/{s['id']}", json={"threshold_high": None, "threshold_high_high": None},
                headers={**ent, "If-Match": f'"{s["version"]}"'})
    assert r.status_code == 200 and r.json()["threshold_high"] is None  # cleared: no high alarm
