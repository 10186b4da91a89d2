"""The hidden-danger closed loop (隐患排查治理), end to end over HTTP on a throwaway PostGIS.

One module database (regions, a few enterprises in Zhenhai 330211, Beilun
330206 and Xihu 330106, one user per role) and one app (TestClient, app
role). Every refusal is checked to leave the danger, its history and its
evidence exactly as they were.
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from geo.audit import verify_chain
from geo.context import RequestContext, apply_context
from geo.db import libpq_dsn, make_engine
from tests.conftest import BL, XH, ZH, _at, world_uscc
from tests.lock_race import race_for_a_lock
from tests.workflow_app import workflow_app
from workflows.errors import IllegalTransition
from workflows.evidence import MAX_EVIDENCE_BYTES, MEDIA_TYPES
from workflows.hidden_dangers import (
    RULES,
    TARGETS,
    EscalationSchedule,
    escalate_overdue,
    rules_markdown,
    transition,
)

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[1]
USERS = {  # name -> (role, adcode, enterprise key)
    "province": ("province", "330000", None), "ningbo": ("city", "330200", None),
    "zhenhai": ("county", "330211", None), "zhenhai2": ("county", "330211", None),
    "xihu": ("county", "330106", None), "ent": ("enterprise", "330211", "E1"), "ent2": ("enterprise", "330211", "E2"),
}
ENTERPRISES = {  # key -> (serial, county, point)
    "E1": (101, "330211", ZH), "E2": (102, "330211", ZH), "E5": (105, "330211", ZH),
    "SB1": (201, "330206", BL), "SB2": (202, "330206", BL), "SX1": (301, "330106", XH),
}


class Loop:
    def __init__(self, db, owner, app_engine, client, ids, auth, today):
        self.db, self.owner, self.app_engine, self.client = db, owner, app_engine, client
        self.ids, self.auth, self.today = ids, auth, today

    # ---- helpers used by the tests
    def ctx(self, user: str) -> RequestContext:
        role, adcode, ent = USERS[user]
        return RequestContext(role=role, jurisdiction=RequestContext.prefix_of(adcode, role), actor=f"l.{user}",
                              enterprise_id=self.ids[ent] if ent else None)

    def report(self, who: str = "ent", *, enterprise: str = "E1", level: str = "general", category: str = "fire",
               title: str = "消防通道堵塞") -> int:
        r = self.client.post("/hidden-dangers", headers=self.auth[who], json={
            "enterprise_id": self.ids[enterprise], "title": title, "category": category, "level": level,
            "found_on": (self.today - dt.timedelta(days=3)).isoformat()})
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "reported"
        return r.json()["id"]

    def move(self, who: str, hid: int, **body):
        return self.client.post(f"/hidden-dangers/{hid}/transitions", headers=self.auth[who], json=body)

    def ok(self, who: str, hid: int, **body) -> dict:
        r = self.move(who, hid, **body)
        assert r.status_code == 201, r.text
        return r.json()

    def upload(self, who: str, hid: int, data: bytes, *, name: str = "现场照片.png", content_type: str = "image/png",
               note: str | None = None):
        form = {"note": note} if note is not None else {}
        return self.client.post(f"/hidden-dangers/{hid}/evidence", headers=self.auth[who], data=form,
                                files={"file": (name, data, content_type)})

    def accept(self, hid: int, *, who: str = "zhenhai", level: str = "general", supervising: str | None = None,
               days: int = 30) -> dict:
        body = {"to": "accepted", "level": level, "deadline": (self.today + dt.timedelta(days=days)).isoformat()}
        if supervising:
            body["supervising_level"] = supervising
        return self.ok(who, hid, **body)

    def advance(self, hid: int, to: str) -> None:
        """Move a freshly reported danger of E1 forward to status ``to`` through HTTP."""
        steps = ["accepted", "rectifying", "submitted", "verified", "closed"]
        for step in steps[: steps.index(to) + 1]:
            if step == "accepted":
                self.accept(hid)
            elif step == "rectifying":
                self.ok("ent", hid, to="rectifying", rectification_plan="清理通道", responsible_person="张三")
            elif step == "submitted":
                assert self.upload("ent", hid, png()).status_code == 201
                self.ok("ent", hid, to="submitted", note="已清理")
            else:
                self.ok("zhenhai", hid, to=step)

    def state(self, hid: int) -> dict:
        """Everything a refusal must leave as it was: the row, the history, the evidence."""
        with self.owner.connect() as c:
            row = c.execute(text("SELECT status, level, deadline, supervising_level, closed_on, version, "
                                 "rectification_plan, escalated_at FROM hidden_dangers WHERE id = :i"),
                            {"i": hid}).mappings().one()
            moves = c.execute(text("SELECT count(*) FROM hidden_danger_transitions WHERE hidden_danger_id = :i"),
                              {"i": hid}).scalar()
            files = c.execute(text("SELECT count(*), count(transition_id) FROM hidden_danger_evidence "
                                   "WHERE hidden_danger_id = :i"), {"i": hid}).one()
        return {**row, "moves": moves, "files": tuple(files)}

    def owner_danger(self, *, enterprise: str = "E1", status: str = "reported", level: str = "general",
                     category: str = "fire", found_on: dt.date | None = None, deadline: dt.date | None = None,
                     supervising: str | None = None, closed_on: dt.date | None = None, deleted: bool = False) -> int:
        """A danger written by the owner role (the maintenance path: demo loads, repairs)."""
        point = ENTERPRISES[enterprise][2]
        found_on = found_on or self.today - dt.timedelta(days=10)
        if status == "closed" and closed_on is None:
            closed_on = found_on
        with self.owner.begin() as c:
            return c.execute(text(
                "INSERT INTO hidden_dangers (enterprise_id, title, category, level, status, found_on, deadline, "
                f"closed_on, supervising_level, valid_to, geom) VALUES (:e, '测试隐患', :c, :l, :s, :f, :d, :cl, :sv, "
                f"CASE WHEN :del THEN now() END, {_at(point, 15, 180)}) RETURNING id"),
                {"e": self.ids[enterprise], "c": category, "l": level, "s": status, "f": found_on, "d": deadline,
                 "cl": closed_on, "sv": supervising, "del": deleted}).scalar_one()


def png(size: int = 8, colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def loop(throwaway, settings):
    def populate(c) -> dict[str, int]:
        return {key: c.execute(text(
            "INSERT INTO enterprises (uscc, name, industry, scale, geom) "
            f"VALUES (:u, :n, 'hazchem_storage', 'small', {_at(point, n, 45)}) RETURNING id"),
            {"u": world_uscc(n, county), "n": f"闭环测试企业{key}"}).scalar_one()
            for key, (n, county, point) in ENTERPRISES.items()}

    with workflow_app(throwaway, settings, users=USERS, enterprises=ENTERPRISES, prefix="l", password=PASSWORD,
                      populate=populate) as app:
        with app.owner.connect() as c:
            today = c.execute(text("SELECT current_date")).scalar_one()
        yield Loop(app.db, app.owner, app.app_engine, app.client, app.ids, app.auth, today)


def _events(sub, hid: int, n: int, timeout_s: float = 10.0) -> list[dict]:
    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        ev = sub.get(timeout=0.2)
        if ev is not None and ev.id == hid:
            got.append({"kind": ev.kind, **dict(ev.display)})
    return got


# ------------------------------------------------------------------------------------------ the loop

def test_full_loop_with_rejection_history_events_and_audit(loop):
    live = loop.client.app.state.live
    zh_sub = live.subscribe(loop.ctx("zhenhai"), kinds=("hidden_danger.",))
    xh_sub = live.subscribe(loop.ctx("xihu"), kinds=("hidden_danger.",))
    try:
        hid = loop.report("ent", level="major", title="液氯储罐区安全阀失效")
        accepted = loop.accept(hid, level="major", supervising="city")
        assert accepted["transition"]["action"] == "accepted"
        assert accepted["hidden_danger"]["status"] == "accepted"
        assert accepted["hidden_danger"]["supervising_level"] == "city"
        loop.ok("ent", hid, to="rectifying", rectification_plan="更换安全阀并校验", responsible_person="李四",
                funds_yuan=12000.5)
        photo = png()
        up = loop.upload("ent", hid, photo, note="更换后照片")
        assert up.status_code == 201, up.text
        first = up.json()
        assert first["media_type"] == "image/png" and first["size_bytes"] == len(photo)
        assert first["uploaded_by"] == "l.ent" and first["transition_id"] is None
        sub1 = loop.ok("ent", hid, to="submitted", note="已更换安全阀")
        assert sub1["transition"]["evidence"] == [first["id"]]
        rej = loop.ok("zhenhai", hid, to="rejected", note="未提供校验报告")
        assert rej["transition"]["to_status"] == "rectifying" and rej["hidden_danger"]["status"] == "rectifying"
        report = "校验报告：安全阀整定压力 1.6 MPa，合格。".encode()
        second = loop.upload("ent", hid, report, name="校验报告.txt", content_type="text/plain").json()
        assert second["media_type"] == "text/plain"
        loop.ok("ent", hid, to="submitted", note="补充校验报告")
        loop.ok("zhenhai", hid, to="verified", note="现场复核合格")
        refused = loop.move("zhenhai", hid, to="closed")  # supervised by the city: the county may not close it
        assert refused.status_code == 403 and "city" in refused.json()["detail"]
        closed = loop.ok("ningbo", hid, to="closed", note="销号")
        assert closed["hidden_danger"]["status"] == "closed"
        assert closed["hidden_danger"]["closed_on"] == loop.today.isoformat()
        events = _events(zh_sub, hid, 8)
        assert _events(xh_sub, hid, 1, timeout_s=0.5) == []
    finally:
        zh_sub.close()
        xh_sub.close()

    h = loop.client.get(f"/hidden-dangers/{hid}/history", headers=loop.auth["zhenhai"]).json()
    assert h["status"] == "closed" and h["count"] == 8
    assert [(m["action"], m["actor"]) for m in h["data"]] == [
        ("reported", "l.ent"), ("accepted", "l.zhenhai"), ("rectifying", "l.ent"), ("submitted", "l.ent"),
        ("rejected", "l.zhenhai"), ("submitted", "l.ent"), ("verified", "l.zhenhai"), ("closed", "l.ningbo")]
    assert [m["from_status"] for m in h["data"]] == [None, "reported", "accepted", "rectifying", "submitted",
                                                      "rectifying", "submitted", "verified"]
    assert [m["actor_role"] for m in h["data"][:2]] == ["enterprise", "county"]
    assert h["data"][1]["details"]["deadline"] == (loop.today + dt.timedelta(days=30)).isoformat()
    assert h["data"][2]["details"] == {"rectification_plan": "更换安全阀并校验", "responsible_person": "李四",
                                       "funds_yuan": "12000.50"}
    assert h["data"][4]["note"] == "未提供校验报告"
    assert [f["id"] for f in h["data"][3]["evidence"]] == [first["id"]]
    assert [f["id"] for f in h["data"][5]["evidence"]] == [second["id"]]
    ats = [m["at"] for m in h["data"]]
    assert ats == sorted(ats)

    f = loop.client.get(first["href"], headers=loop.auth["ningbo"])
    assert f.status_code == 200 and f.content == photo and f.headers["content-type"] == "image/png"
    assert f.headers["x-content-type-options"] == "nosniff"
    t = loop.client.get(second["href"], headers=loop.auth["ent"])
    assert t.content == report and t.headers["content-type"].startswith("text/plain")
    listed = loop.client.get(f"/hidden-dangers/{hid}/evidence", headers=loop.auth["ent"]).json()
    assert listed["count"] == 2 and all("content" not in e for e in listed["data"])

    # /events: every move announced to the county (and never to another county)
    assert [e["status"] for e in events if e["kind"] == "hidden_danger.status_changed"] == [
        "accepted", "rectifying", "submitted", "rectifying", "submitted", "verified", "closed"]
    assert events[0]["kind"] == "hidden_danger.created"

    with loop.owner.connect() as c:
        audited = c.execute(text(
            "SELECT actor, after->>'action', request_id FROM audit_log WHERE table_name = 'hidden_danger_transitions' "
            "AND after->>'hidden_danger_id' = :i ORDER BY seq"), {"i": str(hid)}).all()
        evidence_audit = c.execute(text(
            "SELECT op, after FROM audit_log WHERE table_name = 'hidden_danger_evidence' "
            "AND after->>'hidden_danger_id' = :i ORDER BY seq"), {"i": str(hid)}).all()
        danger_audit = c.execute(text(
            "SELECT count(*) FROM audit_log WHERE table_name = 'hidden_dangers' AND row_key = :i AND op = 'UPDATE'"),
            {"i": str(hid)}).scalar()
    assert [(a, act) for a, act, _ in audited] == [(m["actor"], m["action"]) for m in h["data"]]
    assert all(req for _, _, req in audited)  # each carries the HTTP request id
    assert [op for op, _ in evidence_audit] == ["INSERT", "UPDATE", "INSERT", "UPDATE"]
    assert all("content" not in after and len(after["sha256"]) == 2 + 64 for _, after in evidence_audit)
    assert danger_audit == 7
    assert verify_chain(libpq_dsn(loop.db.owner_url)).ok


def test_next_moves_say_what_the_caller_may_do(loop):
    hid = loop.report("ent")
    mine = loop.client.get(f"/hidden-dangers/{hid}/transitions", headers=loop.auth["ent"]).json()
    assert mine["status"] == "reported" and [(m["to"], m["you_may"]) for m in mine["moves"]] == [("accepted", False)]
    officer = loop.client.get(f"/hidden-dangers/{hid}/transitions", headers=loop.auth["zhenhai"]).json()
    assert officer["moves"][0]["you_may"] and officer["moves"][0]["requires"] == ["level", "deadline"]


# ------------------------------------------------------------------------------------------ who may do what

@pytest.mark.parametrize(("stage", "to"), [
    (None, "accepted"), ("submitted", "verified"), ("submitted", "rejected"), ("verified", "closed")])
def test_enterprise_cannot_accept_verify_reject_or_close(loop, stage, to):
    hid = loop.report("ent")
    if stage:
        loop.advance(hid, stage)
    before = loop.state(hid)
    body = {"to": to, "note": "企业自行处理"}
    if to == "accepted":
        body |= {"level": "general", "deadline": (loop.today + dt.timedelta(days=5)).isoformat()}
    r = loop.move("ent", hid, **body)
    assert r.status_code == 403, r.text
    assert "enterprise" in r.json()["detail"]
    assert loop.state(hid) == before


@pytest.mark.parametrize("who", ["xihu", "ent2"])
def test_another_jurisdiction_or_enterprise_gets_404_everywhere(loop, who):
    hid = loop.report("ent")
    loop.accept(hid)
    before = loop.state(hid)
    c, h = loop.client, loop.auth[who]
    assert loop.move(who, hid, to="rectifying", rectification_plan="x", responsible_person="y").status_code == 404
    assert c.get(f"/hidden-dangers/{hid}/history", headers=h).status_code == 404
    assert c.get(f"/hidden-dangers/{hid}/transitions", headers=h).status_code == 404
    assert c.get(f"/hidden-dangers/{hid}/evidence", headers=h).status_code == 404
    assert loop.upload(who, hid, png()).status_code == 404
    assert loop.state(hid) == before


def test_another_jurisdictions_evidence_file_is_404(loop):
    hid = loop.report("ent")
    eid = loop.upload("ent", hid, png()).json()["id"]
    assert loop.client.get(f"/hidden-dangers/{hid}/evidence/{eid}", headers=loop.auth["xihu"]).status_code == 404
    other = loop.report("ent")  # the file through a danger it does not belong to
    assert loop.client.get(f"/hidden-dangers/{other}/evidence/{eid}", headers=loop.auth["ent"]).status_code == 404


def test_public_may_not_move_or_read_the_history(loop):
    hid = loop.report("ent")
    before = loop.state(hid)
    assert loop.move("public", hid, to="accepted", level="general",
                     deadline=loop.today.isoformat()).status_code == 403
    assert loop.client.get(f"/hidden-dangers/{hid}/history").status_code == 403
    assert loop.state(hid) == before


def test_the_officer_who_submitted_for_the_enterprise_cannot_verify(loop):
    hid = loop.report("zhenhai")  # an inspector's finding
    loop.accept(hid)
    loop.ok("zhenhai", hid, to="rectifying", rectification_plan="代录方案", responsible_person="王五")
    loop.upload("zhenhai", hid, png())
    loop.ok("zhenhai", hid, to="submitted", note="代企业提交")
    before = loop.state(hid)
    r = loop.move("zhenhai", hid, to="verified")
    assert r.status_code == 403 and "another officer" in r.json()["detail"]
    assert loop.state(hid) == before
    loop.ok("zhenhai2", hid, to="verified")


# ------------------------------------------------------------------------------------------ illegal moves

@pytest.mark.parametrize(("status", "to", "allowed"), [
    ("reported", "closed", ["accepted"]),
    ("reported", "verified", ["accepted"]),
    ("accepted", "submitted", ["rectifying"]),
    ("rectifying", "verified", ["submitted"]),
    ("submitted", "rectifying", ["rejected", "verified"]),
    ("verified", "rejected", ["closed"]),
    ("closed", "rejected", []),
])
def test_illegal_transition_is_409_listing_the_allowed_ones(loop, status, to, allowed):
    hid = loop.owner_danger(status=status, deadline=loop.today + dt.timedelta(days=9))
    before = loop.state(hid)
    r = loop.move("province", hid, to=to, note="x")
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["status"] == status and body["allowed"] == allowed
    assert body["detail"][0]["field"] == "to" and f"allowed from {status}" in body["detail"][0]["reason"]
    assert loop.state(hid) == before


@pytest.mark.parametrize(("body", "field"), [
    ({"to": "accepted", "level": "general", "deadline": "YESTERDAY"}, "deadline"),
    ({"to": "accepted", "level": "general"}, "deadline"),
    ({"to": "accepted", "deadline": "+30"}, "level"),
    ({"to": "accepted", "level": "major", "deadline": "+30"}, "supervising_level"),
    ({"to": "accepted", "level": "major", "deadline": "+30", "supervising_level": "county"}, "supervising_level"),
    ({"to": "accepted", "level": "general", "deadline": "+3000"}, "deadline"),
    ({"to": "accepted", "level": "urgent", "deadline": "+30"}, "level"),
    ({"to": "accepted", "level": "general", "deadline": "+30", "funds_yuan": 5}, "funds_yuan"),
    ({"to": "accepted", "level": "general", "deadline": "+30", "colour": "red"}, "colour"),
    ({"to": "accepted", "level": "general", "deadline": "+30", "note": "x" * 4001}, "note"),
    ({"to": "fixed"}, "to"),
    ({"level": "general"}, "to"),
])
def test_bad_accept_is_422_naming_the_field(loop, body, field):
    hid = loop.report("ent")
    before = loop.state(hid)
    body = dict(body)
    for k, v in list(body.items()):
        if k == "deadline" and v == "YESTERDAY":
            body[k] = (loop.today - dt.timedelta(days=1)).isoformat()
        elif k == "deadline" and v.startswith("+"):
            body[k] = (loop.today + dt.timedelta(days=int(v[1:]))).isoformat()
    r = loop.client.post(f"/hidden-dangers/{hid}/transitions", headers=loop.auth["zhenhai"], json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field
    assert loop.state(hid) == before


def test_deadline_today_is_accepted_and_in_the_past_is_not(loop):
    hid = loop.report("ent")
    r = loop.move("zhenhai", hid, to="accepted", level="general",
                  deadline=(loop.today - dt.timedelta(days=1)).isoformat())
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "deadline"
    assert "today" in r.json()["detail"][0]["reason"]
    assert loop.move("zhenhai", hid, to="accepted", level="general", deadline=loop.today.isoformat()).status_code == 201


@pytest.mark.parametrize(("body", "field"), [
    ({"to": "rectifying", "responsible_person": "张三"}, "rectification_plan"),
    ({"to": "rectifying", "rectification_plan": "方案"}, "responsible_person"),
    ({"to": "rectifying", "rectification_plan": "方案", "responsible_person": "张三", "funds_yuan": -1}, "funds_yuan"),
    ({"to": "rectifying", "rectification_plan": "方案", "responsible_person": "张三", "funds_yuan": 1.234},
     "funds_yuan"),
    ({"to": "rectifying", "rectification_plan": "方案", "responsible_person": "张三", "deadline": "2030-01-01"},
     "deadline"),
    ({"to": "rectifying", "rectification_plan": "  ", "responsible_person": "张三"}, "rectification_plan"),
])
def test_bad_plan_is_422_naming_the_field(loop, body, field):
    hid = loop.report("ent")
    loop.accept(hid)
    before = loop.state(hid)
    r = loop.client.post(f"/hidden-dangers/{hid}/transitions", headers=loop.auth["ent"], json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field
    assert loop.state(hid) == before


def test_submitting_needs_a_note_and_new_evidence(loop):
    hid = loop.report("ent")
    loop.advance(hid, "rectifying")
    before = loop.state(hid)
    r = loop.move("ent", hid, to="submitted", note="已整改")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "evidence"
    loop.upload("ent", hid, png())
    r = loop.move("ent", hid, to="submitted")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "note"
    assert loop.state(hid)["moves"] == before["moves"] and loop.state(hid)["status"] == "rectifying"
    assert loop.move("ent", hid, to="submitted", note="已整改").status_code == 201
    assert loop.move("zhenhai", hid, to="rejected").json()["detail"][0]["field"] == "note"  # a reason is required
    loop.ok("zhenhai", hid, to="rejected", note="照片不清晰")
    # the evidence went with the first submission: a new one is needed
    assert loop.move("ent", hid, to="submitted", note="重新提交").json()["detail"][0]["field"] == "evidence"


def test_soft_deleted_danger_cannot_move_but_keeps_its_history(loop):
    hid = loop.owner_danger(deleted=True)
    assert loop.move("province", hid, to="accepted", level="general",
                     deadline=loop.today.isoformat()).status_code == 404
    h = loop.client.get(f"/hidden-dangers/{hid}/history", headers=loop.auth["province"]).json()
    assert [m["action"] for m in h["data"]] == ["reported"]


# ------------------------------------------------------------------------------------------ evidence

def _files(loop) -> int:
    with loop.owner.connect() as c:
        return c.execute(text("SELECT count(*) FROM hidden_danger_evidence")).scalar()


@pytest.mark.parametrize(("data", "name", "ctype", "status", "words"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(MAX_EVIDENCE_BYTES - 7), "big.png", "image/png", 413, "4 MiB"),
    (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(64), "photo.png", "image/png", 415, "first bytes"),
    (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(64), "tool.exe", "application/octet-stream", 415, "none of"),
    (b"%PDF-1.7\n%%EOF\n", "photo.png", "image/png", 415, "declared as image/png but the content is a PDF"),
    (b"\x89PNG\r\n\x1a\n" + b"not really a png", "fake.png", "image/png", 415, "not a readable PNG"),
    ("纯文本".encode("gbk"), "gbk.txt", "text/plain", 415, "none of"),
    (b"\xff\xd8\xff\xe0" + bytes(20), "fake.jpg", "image/jpeg", 415, "not a readable JPEG"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg", "image/svg+xml", 415, "not accepted"),
    (b"", "empty.png", "image/png", 422, "empty"),
])
def test_bad_evidence_is_refused_and_nothing_is_stored(loop, data, name, ctype, status, words):
    hid = loop.report("ent")
    before, files = loop.state(hid), _files(loop)
    r = loop.upload("ent", hid, data, name=name, content_type=ctype)
    assert r.status_code == status, r.text
    detail = r.json()["detail"][0]
    assert detail["field"] == "file" and words in detail["reason"]
    assert loop.state(hid) == before and _files(loop) == files


def test_a_body_over_five_mib_is_413_before_the_app(loop):
    hid = loop.report("ent")
    files = _files(loop)
    r = loop.upload("ent", hid, b"\x89PNG\r\n\x1a\n" + bytes(5 * 2**20))
    assert r.status_code == 413 and r.json()["detail"][0]["field"] == "body"
    assert _files(loop) == files


def test_missing_file_is_422_naming_file(loop):
    hid = loop.report("ent")
    r = loop.client.post(f"/hidden-dangers/{hid}/evidence", headers=loop.auth["ent"], data={"note": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "file"


@pytest.mark.parametrize("kind", ["image/png", "image/jpeg", "image/webp", "application/pdf", "text/plain"])
def test_each_accepted_type_round_trips(loop, kind):
    if kind in ("image/jpeg", "image/webp"):
        buf = io.BytesIO()
        Image.new("RGB", (4, 4), (0, 90, 200)).save(buf, kind.split("/")[1].upper())
        data = buf.getvalue()
    else:
        data = {"image/png": png(), "application/pdf": b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n",
                "text/plain": "整改完成".encode()}[kind]
    hid = loop.report("ent")
    # undeclared (octet-stream) is fine: the content decides
    meta = loop.upload("ent", hid, data, name="f" + MEDIA_TYPES[kind][1], content_type="application/octet-stream")
    assert meta.status_code == 201, meta.text
    assert meta.json()["media_type"] == kind
    got = loop.client.get(meta.json()["href"], headers=loop.auth["zhenhai"])
    assert got.content == data and got.headers["content-type"].split(";")[0] == kind


def test_no_evidence_on_a_closed_danger(loop):
    hid = loop.owner_danger(status="closed", deadline=loop.today)
    files = _files(loop)
    r = loop.upload("zhenhai", hid, png())
    assert r.status_code == 409 and r.json()["status"] == "closed"
    assert _files(loop) == files


# ------------------------------------------------------------------------------------------ concurrency

def test_two_officers_accepting_at_once_on_two_connections_one_wins(loop):
    """Officer A holds the row lock; officer B's accept waits for it, then finds the danger accepted."""
    hid = loop.report("ent")
    body = {"to": "accepted", "level": "general", "deadline": (loop.today + dt.timedelta(days=7)).isoformat()}
    a, b = race_for_a_lock(loop.app_engine, loop.ctx("zhenhai"), loop.ctx("zhenhai2"),
                           lambda conn, ctx: transition(conn, danger_id=hid, payload=body, ctx=ctx))
    assert not isinstance(a, Exception), a
    assert isinstance(b, IllegalTransition) and b.status == "accepted"
    with loop.owner.connect() as c:
        assert c.execute(text("SELECT count(*) FROM hidden_danger_transitions WHERE hidden_danger_id = :i "
                              "AND action = 'accepted'"), {"i": hid}).scalar() == 1


def test_two_officers_accepting_at_once_over_http_one_gets_409(loop):
    for _ in range(3):
        hid = loop.report("ent")
        start = threading.Barrier(2)
        codes: list[int] = []

        def accept(user: str, hid=hid, start=start, codes=codes) -> None:
            start.wait()
            codes.append(loop.move(user, hid, to="accepted", level="general",
                                   deadline=(loop.today + dt.timedelta(days=7)).isoformat()).status_code)

        threads = [threading.Thread(target=accept, args=(u,)) for u in ("zhenhai", "zhenhai2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(codes) == [201, 409]
        assert loop.state(hid)["moves"] == 2


# ------------------------------------------------------------------------------------------ status only by moves

def _etag(loop, hid: int, who: str = "zhenhai") -> str:
    return loop.client.get(f"/hidden-dangers/{hid}", headers=loop.auth[who]).headers["etag"]


@pytest.mark.parametrize(("field", "value"), [("status", "closed"), ("closed_on", "2026-01-01"),
                                              ("rectification_plan", "x"), ("escalated_at", "2026-01-01T00:00:00Z")])
def test_patch_of_workflow_fields_is_refused(loop, field, value):
    hid = loop.report("ent")
    before = loop.state(hid)
    r = loop.client.patch(f"/hidden-dangers/{hid}", headers={**loop.auth["zhenhai"], "If-Match": _etag(loop, hid)},
                          json={field: value, "title": "改名"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["field"] == field and f"/hidden-dangers/{hid}/transitions" in detail["reason"]
    assert loop.state(hid) == before


def test_create_with_a_status_is_refused(loop):
    r = loop.client.post("/hidden-dangers", headers=loop.auth["ent"], json={
        "enterprise_id": loop.ids["E1"], "title": "x", "category": "fire", "level": "general",
        "found_on": loop.today.isoformat(), "status": "closed"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "status"


def test_patch_of_other_fields_still_works(loop):
    hid = loop.report("ent")
    r = loop.client.patch(f"/hidden-dangers/{hid}", headers={**loop.auth["zhenhai"], "If-Match": _etag(loop, hid)},
                          json={"title": "消防通道被货物堵塞"})
    assert r.status_code == 200 and r.json()["title"] == "消防通道被货物堵塞"


def test_enterprise_cannot_move_its_deadline_after_acceptance(loop):
    hid = loop.report("ent")
    loop.accept(hid)
    before = loop.state(hid)
    r = loop.client.patch(f"/hidden-dangers/{hid}", headers={**loop.auth["ent"], "If-Match": _etag(loop, hid, "ent")},
                          json={"deadline": (loop.today + dt.timedelta(days=300)).isoformat()})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "deadline"
    assert loop.state(hid) == before


def test_the_database_refuses_a_status_change_without_a_transition(loop):
    hid = loop.report("ent")
    with loop.app_engine.connect() as conn, conn.begin():
        apply_context(conn, loop.ctx("province"))
        with pytest.raises(DBAPIError, match="changes only through"):
            conn.execute(text("UPDATE hidden_dangers SET status = 'accepted' WHERE id = :i"), {"i": hid})
    with loop.app_engine.connect() as conn, conn.begin():
        apply_context(conn, loop.ctx("province"))
        with pytest.raises(DBAPIError, match="starts as reported"):
            conn.execute(text(f"INSERT INTO hidden_dangers (enterprise_id, title, category, level, status, found_on, "
                              f"closed_on, geom) VALUES (:e, 'x', 'fire', 'general', 'closed', current_date, "
                              f"current_date, {_at(ZH)})"), {"e": loop.ids["E1"]})
    with loop.app_engine.connect() as conn, conn.begin():  # an enterprise may not write a regulator's move
        apply_context(conn, loop.ctx("ent"))
        with pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(text("INSERT INTO hidden_danger_transitions (hidden_danger_id, from_status, to_status, "
                              "action) VALUES (:i, 'reported', 'accepted', 'accepted')"), {"i": hid})
    assert loop.state(hid)["status"] == "reported"


def test_history_and_evidence_are_append_only_even_for_the_owner(loop):
    hid = loop.report("ent")
    loop.upload("ent", hid, png())
    for stmt in ("UPDATE hidden_danger_transitions SET note = 'x' WHERE hidden_danger_id = :i",
                 "DELETE FROM hidden_danger_transitions WHERE hidden_danger_id = :i",
                 "UPDATE hidden_danger_evidence SET content = '\\x00'::bytea WHERE hidden_danger_id = :i",
                 "DELETE FROM hidden_danger_evidence WHERE hidden_danger_id = :i"):
        with loop.owner.connect() as c, c.begin(), pytest.raises(DBAPIError, match="append-only"):
            c.execute(text(stmt), {"i": hid})


def test_the_owner_maintenance_path_still_works_and_is_recorded(loop):
    hid = loop.owner_danger(status="closed", level="major", supervising="city", deadline=loop.today)
    with loop.owner.begin() as c:
        c.execute(text("UPDATE hidden_dangers SET status = 'verified', closed_on = NULL WHERE id = :i"), {"i": hid})
    h = loop.client.get(f"/hidden-dangers/{hid}/history", headers=loop.auth["province"]).json()
    assert [(m["action"], m["from_status"], m["to_status"], m["actor_role"]) for m in h["data"]] == [
        ("maintenance", None, "closed", "system"), ("maintenance", "closed", "verified", "system")]


# ------------------------------------------------------------------------------------------ escalation

ESC_TODAY = dt.date(2024, 3, 1)  # before every other danger's deadline in this module


def test_escalation_raises_supervision_on_schedule_once(loop):
    d = loop.owner_danger
    found = dt.date(2023, 6, 1)
    cases = {
        "gen_1_day": d(status="accepted", found_on=found, deadline=ESC_TODAY - dt.timedelta(days=1)),
        "gen_45_days": d(status="rectifying", found_on=found, deadline=ESC_TODAY - dt.timedelta(days=45)),
        "major_city_40": d(status="submitted", level="major", supervising="city", found_on=found,
                           deadline=ESC_TODAY - dt.timedelta(days=40)),
        "major_city_10": d(status="rectifying", level="major", supervising="city", found_on=found,
                           deadline=ESC_TODAY - dt.timedelta(days=10)),
        "province_already": d(status="rectifying", supervising="province", found_on=found,
                              deadline=ESC_TODAY - dt.timedelta(days=90)),
        "verified": d(status="verified", found_on=found, deadline=ESC_TODAY - dt.timedelta(days=90)),
        "due_today": d(status="accepted", found_on=found, deadline=ESC_TODAY),
        "deleted": d(status="accepted", found_on=found, deadline=ESC_TODAY - dt.timedelta(days=90), deleted=True),
    }
    expected = {"gen_1_day": "city", "gen_45_days": "province", "major_city_40": "province", "major_city_10": "city",
                "province_already": "province", "verified": None, "due_today": None, "deleted": None}
    schedule = EscalationSchedule(city_after_days=1, province_after_days=30)
    with loop.owner.begin() as c:
        first = escalate_overdue(c, ESC_TODAY, schedule=schedule)
    assert sorted(first.ids) == sorted([cases["gen_1_day"], cases["gen_45_days"], cases["major_city_40"]])
    assert (first.to_city, first.to_province) == (1, 2)
    with loop.owner.begin() as c:
        again = escalate_overdue(c, ESC_TODAY, schedule=schedule)
    assert again.escalated == 0
    for key, hid in cases.items():
        s = loop.state(hid)
        assert s["supervising_level"] == expected[key], key
        assert (s["escalated_at"] is not None) == (hid in first.ids), key
    h = loop.client.get(f"/hidden-dangers/{cases['gen_45_days']}/history", headers=loop.auth["ningbo"]).json()
    last = h["data"][-1]
    assert (last["action"], last["actor"], last["from_status"], last["to_status"]) == (
        "escalated", "system", "rectifying", "rectifying")
    assert last["details"]["from_level"] == "county" and last["details"]["to_level"] == "province"
    assert last["details"]["days_overdue"] == 45
    with loop.owner.connect() as c:
        actor = c.execute(text("SELECT actor FROM audit_log WHERE table_name = 'hidden_dangers' AND row_key = :k "
                               "ORDER BY seq DESC LIMIT 1"), {"k": str(cases["gen_45_days"])}).scalar()
    assert actor == "system"


def test_escalation_cli_is_idempotent_and_refuses_bad_options(loop, monkeypatch):
    from api import dangers_cli

    monkeypatch.setattr(dangers_cli, "_engine", lambda: make_engine(loop.db.owner_url))
    hid = loop.owner_danger(status="accepted", found_on=dt.date(2023, 1, 1), deadline=dt.date(2023, 12, 1))
    runner = CliRunner()
    day = (ESC_TODAY + dt.timedelta(days=1)).isoformat()
    out = runner.invoke(dangers_cli.dangers_app, ["escalate", "--today", day, "--json"])
    assert out.exit_code == 0, out.output
    first = json.loads(out.output.strip().splitlines()[-1])
    assert first["escalated"] >= 1 and first["province_after_days"] == 30
    assert loop.state(hid)["supervising_level"] == "province"
    out = runner.invoke(dangers_cli.dangers_app, ["escalate", "--today", day])
    assert out.exit_code == 0 and "0 escalated" in out.output
    for args, word in ((["escalate", "--today", "2024-02-30"], "today:"),
                       (["escalate", "--city-after", "40", "--province-after", "30"], "error:")):
        bad = runner.invoke(dangers_cli.dangers_app, args)
        assert bad.exit_code == 2 and bad.output.strip().startswith("error: ") and word in bad.output


def test_an_app_role_user_cannot_escalate(loop):
    loop_id = loop.report("ent")
    with loop.app_engine.connect() as conn, conn.begin():
        apply_context(conn, loop.ctx("province"))
        with pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(text("INSERT INTO hidden_danger_transitions (hidden_danger_id, from_status, to_status, "
                              "action) VALUES (:i, 'reported', 'reported', 'escalated')"), {"i": loop_id})


# ------------------------------------------------------------------------------------------ statistics

PERIOD = {"from": "2025-01-01", "to": "2025-12-31", "as_of": "2026-01-15"}
BEILUN = {"found": 6, "major": 2, "rectified": 2, "closed": 1, "open": 5, "overdue": 2, "supervised": 2,
          "repeats": 2, "repeat_groups": 1, "rectification_rate": 0.3333}
XIHU = {"found": 2, "major": 0, "rectified": 1, "closed": 1, "open": 1, "overdue": 1, "supervised": 0,
        "repeats": 1, "repeat_groups": 1, "rectification_rate": 0.5}
ZERO = dict.fromkeys(BEILUN, 0) | {"rectification_rate": None}


@pytest.fixture(scope="module")
def stats_world(loop):
    """Hand-counted: see BEILUN and XIHU (dangers found in 2025, judged on 2026-01-15)."""
    d, D = loop.owner_danger, dt.date
    d(enterprise="SB1", category="fire", found_on=D(2025, 2, 1), status="closed", deadline=D(2025, 3, 1),
      closed_on=D(2025, 2, 20))
    d(enterprise="SB1", category="fire", found_on=D(2025, 5, 1), status="rectifying", deadline=D(2025, 6, 1))
    d(enterprise="SB1", category="fire", found_on=D(2025, 9, 1), status="accepted", level="major",
      deadline=D(2026, 3, 1), supervising="city")
    d(enterprise="SB1", category="electrical", found_on=D(2025, 4, 1), status="verified", deadline=D(2025, 4, 30))
    d(enterprise="SB2", category="fire", found_on=D(2025, 7, 1), status="submitted", level="major",
      deadline=D(2025, 12, 31), supervising="province")
    d(enterprise="SB2", category="storage", found_on=D(2024, 12, 31), status="reported")  # before the period
    d(enterprise="SB2", category="storage", found_on=D(2025, 3, 3), status="reported")
    d(enterprise="SB2", category="storage", found_on=D(2025, 5, 5), status="reported", deleted=True)  # deleted
    d(enterprise="SX1", category="process", found_on=D(2025, 6, 6), status="closed", deadline=D(2025, 7, 1),
      closed_on=D(2025, 6, 30))
    d(enterprise="SX1", category="process", found_on=D(2025, 8, 8), status="rectifying", deadline=D(2025, 9, 1))
    d(enterprise="SX1", category="process", found_on=D(2026, 1, 2), status="reported")  # after the period


def _stats(loop, who, **params):
    r = loop.client.get("/stats/hidden-dangers", headers=loop.auth[who], params={**PERIOD, **params})
    assert r.status_code == 200, r.text
    return r.json()


def _metrics(row: dict) -> dict:
    return {k: row[k] for k in BEILUN}


def test_statistics_by_county_match_the_hand_count(loop, stats_world):
    out = _stats(loop, "province", level="county", adcode="330200")
    rows = {r["adcode"]: r for r in out["data"]}
    assert set(rows) == {r for r in rows if r.startswith("3302")} and "330206" in rows and "330211" in rows
    assert _metrics(rows["330206"]) == BEILUN
    assert _metrics(rows["330211"]) == ZERO
    assert rows["330206"]["name"] == "北仑区"
    assert {k: out["total"][k] for k in BEILUN} == BEILUN
    assert out["as_of"] == "2026-01-15" and out["from"] == "2025-01-01"


def test_statistics_by_city_add_up(loop, stats_world):
    rows = {r["adcode"]: r for r in _stats(loop, "province", level="city")["data"]}
    assert len(rows) == 11
    assert _metrics(rows["330200"]) == BEILUN and _metrics(rows["330100"]) == XIHU
    total = _stats(loop, "province", level="province")["data"]
    assert len(total) == 1 and total[0]["found"] == 8 and total[0]["rectification_rate"] == 0.375


def test_statistics_follow_row_level_security(loop, stats_world):
    xihu = _stats(loop, "xihu")
    assert [r["adcode"] for r in xihu["data"]] == ["330106"] and _metrics(xihu["data"][0]) == XIHU
    zh = _stats(loop, "zhenhai", adcode="330206")  # another county's region: listed, nothing counted
    assert _metrics(zh["data"][0]) == ZERO
    city = _stats(loop, "zhenhai", level="city")
    assert [r["adcode"] for r in city["data"]] == ["330200"] and city["data"][0]["found"] == 0
    ent = _stats(loop, "ent", adcode="330206")
    assert ent["total"]["found"] == 0


@pytest.mark.parametrize(("params", "status", "field"), [
    ({"from": "2025-12-31", "to": "2025-01-01"}, 400, "from"),
    ({"adcode": "999999"}, 400, "adcode"),
    ({"adcode": "33"}, 400, "adcode"),
    ({"level": "town"}, 400, "level"),
    ({"from": "2025-13-01"}, 400, "from"),
])
def test_statistics_refuse_bad_queries(loop, params, status, field):
    r = loop.client.get("/stats/hidden-dangers", headers=loop.auth["province"], params=params)
    assert r.status_code == status, r.text
    assert r.json()["detail"][0]["field"] == field


# ------------------------------------------------------------------------------------------ risk colour

def test_closing_a_major_danger_recolours_the_enterprise_through_the_maintenance_loop(loop):
    from layers.risk_maintenance import run_forever

    loop.owner_danger(enterprise="E5", status="rectifying", level="major", supervising="city",
                      deadline=loop.today + dt.timedelta(days=60))
    closing = loop.owner_danger(enterprise="E5", status="verified", level="major", supervising="city",
                                deadline=loop.today + dt.timedelta(days=60))

    def colour():
        with loop.owner.connect() as c:
            return c.execute(text("SELECT risk_colour, risk_score FROM enterprises WHERE id = :e"),
                             {"e": loop.ids["E5"]}).one()

    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(loop.owner,),
                              kwargs={"interval_s": 600, "stop": stop, "dsn": libpq_dsn(loop.db.owner_url)},
                              daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while colour()[0] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tuple(colour()) == ("yellow", 20.0)  # two open major dangers: 2 × 10 points
        loop.ok("ningbo", closing, to="closed")  # the loop sleeps 600 s: only the notification wakes it
        deadline = time.monotonic() + 30
        while colour()[0] == "yellow" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tuple(colour()) == ("blue", 10.0)
    finally:
        stop.set()
        worker.join(15)


# ------------------------------------------------------------------------------------------ one rule table

def test_the_database_freezes_the_same_edges_as_the_rule_table():
    mig = importlib.import_module("geo.migrations.versions.0009_hidden_danger_loop")
    assert set(mig.EDGES) == {*TARGETS, "reported"}
    for action, (src, dst) in mig.EDGES.items():
        assert (RULES[action].from_status, RULES[action].to_status) == (src, dst), action
    assert tuple(t for t, r in RULES.items() if "enterprise" in r.roles) == mig.ENTERPRISE_ACTIONS
    assert mig.MAX_EVIDENCE_BYTES == MAX_EVIDENCE_BYTES and tuple(MEDIA_TYPES) == mig.MEDIA_TYPES
    from api.app import MAX_BODY_BYTES

    assert MAX_EVIDENCE_BYTES + 64 * 1024 < MAX_BODY_BYTES  # a file at the cap fits with its multipart framing


def test_docs_show_the_rule_table():
    assert rules_markdown() in (ROOT / "docs" / "WORKFLOWS.md").read_text(encoding="utf-8")


def test_workflows_never_import_the_api():
    for path in (ROOT / "workflows").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "from api" not in source and "import api" not in source, path.name
