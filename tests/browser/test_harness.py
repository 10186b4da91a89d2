"""The browser-test harness itself: WebGL headless, the request guard, the restartable server, login."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from api.routes import events as events_route
from tests.browser.harness import (
    SCREENSHOTS,
    TOKEN_EXPIRES_KEY,
    TOKEN_KEY,
    PageGuard,
    api_token,
    assert_canvas_not_blank,
    canvas_stats,
    element_box,
    is_loopback_url,
    login,
    save_screenshot,
)

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 15.0

WEBGL_PAGE = """<!doctype html><html><body style="margin:0;background:#fff">
<canvas id="map" width="600" height="400" style="position:absolute;left:100px;top:80px"></canvas>
<script>
const gl = document.getElementById("map").getContext("webgl2", {preserveDrawingBuffer: true});
window.webgl = null;
if (gl) {
  const shader = (type, src) => { const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s); return s; };
  const prog = gl.createProgram();
  gl.attachShader(prog, shader(gl.VERTEX_SHADER, `#version 300 es
    in vec2 pos; in vec3 col; out vec3 v;
    void main() { v = col; gl_Position = vec4(pos, 0.0, 1.0); }`));
  gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, `#version 300 es
    precision mediump float; in vec3 v; out vec4 o;
    void main() { o = vec4(v, 1.0); }`));
  gl.linkProgram(prog);
  gl.useProgram(prog);
  const data = new Float32Array([-0.9,-0.9, 1,0,0,  0.9,-0.9, 0,1,0,  0.0,0.9, 0,0,1]);
  gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
  gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
  const pos = gl.getAttribLocation(prog, "pos"), col = gl.getAttribLocation(prog, "col");
  gl.enableVertexAttribArray(pos); gl.vertexAttribPointer(pos, 2, gl.FLOAT, false, 20, 0);
  gl.enableVertexAttribArray(col); gl.vertexAttribPointer(col, 3, gl.FLOAT, false, 20, 8);
  gl.clearColor(0.93, 0.95, 0.97, 1); gl.clear(gl.COLOR_BUFFER_BIT);
  gl.drawArrays(gl.TRIANGLES, 0, 3);
  const px = new Uint8Array(4); gl.readPixels(300, 150, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
  const dbg = gl.getExtension("WEBGL_debug_renderer_info");
  window.webgl = {version: gl.getParameter(gl.VERSION), linked: gl.getProgramParameter(prog, gl.LINK_STATUS),
                  renderer: dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER),
                  centre: Array.from(px)};
}
</script></body></html>"""


# --- (a) WebGL renders headless; the pixel checks ----------------------------------------

def test_webgl2_draws_in_headless_chromium(page):
    page.set_content(WEBGL_PAGE)
    info = page.evaluate("window.webgl")
    assert info is not None, "no WebGL2 context (MapLibre GL needs one)"
    assert info["linked"] and info["version"].startswith("WebGL 2.0"), info
    assert info["centre"][3] == 255 and max(info["centre"][:3]) > 0, info  # the triangle, read back from GL
    path = save_screenshot(page, "harness-webgl")
    assert path == SCREENSHOTS / "harness-webgl.png" and path.is_file()
    box = element_box(page, "#map")
    assert box == (100, 80, 700, 480)
    stats = assert_canvas_not_blank(path, region=box)
    assert stats["colours"] > 100, stats  # a colour gradient, not a few flat fills
    with pytest.raises(AssertionError, match="blank"):  # the page background next to it is uniform
        assert_canvas_not_blank(path, region=(800, 100, 1500, 900))


def test_canvas_checks_on_made_images():
    flat = Image.new("RGB", (400, 300), (236, 241, 247))
    for image in (flat, flat.copy()):
        with pytest.raises(AssertionError, match="blank"):
            assert_canvas_not_blank(image)
    noise_free_logo = flat.copy()  # a tiny attribution in a corner of an empty map is still blank
    ImageDraw.Draw(noise_free_logo).rectangle((380, 290, 399, 299), fill=(0, 0, 0))
    with pytest.raises(AssertionError, match="blank"):
        assert_canvas_not_blank(noise_free_logo)
    drawn = flat.copy()
    draw = ImageDraw.Draw(drawn)
    for i, colour in enumerate([(215, 48, 39), (252, 141, 89), (254, 224, 139), (145, 191, 219), (69, 117, 180)]):
        draw.polygon([(20 + 70 * i, 250), (60 + 70 * i, 40), (100 + 70 * i, 250)], fill=colour, outline=(40, 40, 40))
    draw.line([(0, 0), (400, 300)], fill=(20, 20, 20), width=3)
    stats = assert_canvas_not_blank(drawn)
    assert stats["size"] == (400, 300) and stats["dominant"] < 0.97
    # a region picks the part looked at: the empty top band of the drawn image is blank
    with pytest.raises(AssertionError, match="blank"):
        assert_canvas_not_blank(drawn, region=(200, 0, 400, 30), min_stddev=4.0)
    with pytest.raises(AssertionError, match="not inside"):
        canvas_stats(drawn, region=(0, 0, 401, 10))


# --- (b) requests off loopback are blocked, recorded, and fail the test ------------------

@pytest.mark.parametrize(("url", "ok"), [
    ("http://127.0.0.1:8000/tiles/x.json", True), ("http://localhost/a", True), ("ws://127.0.0.1:1/x", True),
    ("http://[::1]:8080/", True), ("data:image/png;base64,AAAA", True), ("blob:http://127.0.0.1/uuid", True),
    ("about:blank", True), ("https://unpkg.com/maplibre-gl", False), ("http://127.0.0.2/", False),
    ("http://localhost.example.com/", False), ("http://10.0.0.1/", False), ("file:///etc/passwd", False),
    ("wss://tiles.example.org/", False), ("https://webapi.amap.com/maps", False),
])
def test_is_loopback_url(url, ok):
    assert is_loopback_url(url) is ok


def test_off_loopback_requests_are_blocked_and_recorded(page, page_guard):
    page.set_content("""<!doctype html><title>t</title>
      <img id="img" src="http://tiles.example.com/0/0/0.png">
      <script>
        window.results = {};
        document.getElementById("img").onerror = () => { window.results.img = "error"; };
        fetch("https://cdn.example.org/maplibre-gl.js").then(() => { window.results.fetch = "loaded"; },
                                                          e => { window.results.fetch = String(e); });
        fetch("data:text/plain,hello").then(r => r.text()).then(t => { window.results.data = t; });
        const ws = new WebSocket("wss://push.example.net/socket");
        ws.onclose = () => { window.results.ws = "closed"; };
      </script>""")
    page.wait_for_function("['img', 'fetch', 'data', 'ws'].every(k => k in window.results)", timeout=WAIT_S * 1000)
    results = page.evaluate("window.results")
    assert results["img"] == "error" and results["fetch"].startswith("TypeError") and results["ws"] == "closed"
    assert results["data"] == "hello"  # data: URLs are not blocked
    assert set(page_guard.blocked) == {"http://tiles.example.com/0/0/0.png", "https://cdn.example.org/maplibre-gl.js",
                                       "wss://push.example.net/socket"}
    kinds = {p.kind for p in page_guard.problems}
    assert {"blocked", "requestfailed"} <= kinds, page_guard.summary()
    with pytest.raises(AssertionError, match=r"tiles\.example\.com") as info:
        page_guard.check()  # what the fixture does after the test: this test would fail
    assert "cdn.example.org" in str(info.value)
    page_guard.allow(r"example\.(com|org|net)")  # further ones (late console lines) are expected
    page_guard.check()


def test_guard_logic():
    guard = PageGuard()
    guard.check()  # nothing recorded
    guard.record("console", "Uncaught (in promise) Error: style failed (at http://127.0.0.1:1/app.js:3)")
    guard.record("response", "404 GET http://127.0.0.1:1/tiles/nope.json")
    guard.record("requestfailed", "GET http://127.0.0.1:1/events net::ERR_CONNECTION_REFUSED")
    with pytest.raises(AssertionError, match="3 unexpected") as info:
        guard.check()
    assert "style failed" in str(info.value) and "404 GET" in str(info.value)
    guard.check()  # reported once

    guard = PageGuard(problems=list(guard.problems))
    guard.allow("ERR_CONNECTION_REFUSED", kinds="requestfailed")
    guard.allow(r"/tiles/nope\.json", kinds=["response"], times=1)
    assert [p.kind for p in guard.unexpected()] == ["console"]
    guard.allow("style failed", kinds="pageerror")  # the wrong kind does not allow a console line
    assert [p.kind for p in guard.unexpected()] == ["console"]
    guard.allow("style failed")
    assert guard.unexpected() == []
    guard.record("response", "404 GET http://127.0.0.1:1/tiles/nope.json")  # allowed once only
    assert [str(p) for p in guard.unexpected()] == ["[response] 404 GET http://127.0.0.1:1/tiles/nope.json"]
    with pytest.raises(AssertionError, match="unknown problem kinds"):
        guard.allow("x", kinds="warning")

    guard = PageGuard()
    with guard.expect_errors("ERR_CONNECTION_REFUSED", kinds="requestfailed", at_least=1):
        guard.record("requestfailed", "GET http://127.0.0.1:1/events net::ERR_CONNECTION_REFUSED")
    guard.check()
    with pytest.raises(AssertionError, match="expected at least 1"), guard.expect_errors("never happens"):
        pass


INNER_TESTS = '''
def test_console_error_fails(page):
    page.set_content("<script>console.error('tile layer exploded')</script>")

def test_uncaught_error_fails(page):
    page.set_content("<script>setTimeout(() => { throw new Error('boom in a callback'); }, 0)</script>")
    page.wait_for_timeout(100)

def test_allowed_console_error_passes(page, page_guard):
    page_guard.allow("tile layer exploded", kinds="console")
    page.set_content("<script>console.error('tile layer exploded')</script>")

def test_blocked_request_fails(page):
    page.set_content('<img src="https://example.com/a.png">')
    page.wait_for_load_state("load")

def test_clean_page_passes(page):
    page.set_content("<p>nothing wrong</p><script>console.log('fine'); console.warn('fine too')</script>")
'''


def test_guard_fails_tests_end_to_end(tmp_path):
    """A separate pytest run with these fixtures: unexpected problems fail the test in its call phase."""
    (tmp_path / "conftest.py").write_text(
        "from tests.browser.conftest import (browser, page, page_guard, pytest_runtest_call,  # noqa: F401\n"
        "                                    pytest_runtest_makereport)\n")
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    xml = tmp_path / "report.xml"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ONEMAP_SCREENSHOTS": str(tmp_path / "shots")}
    proc = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider",
                           f"--junitxml={xml}", "--rootdir", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    outcomes = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error"):  # junit: "error" is a failure outside the test's call
            element = case.find(kind)
            if element is not None:
                outcome, message = kind, (element.get("message") or "") + (element.text or "")
                break
        outcomes[case.get("name")] = (outcome, message)
    assert {k: v[0] for k, v in outcomes.items()} == {
        "test_console_error_fails": "failure", "test_uncaught_error_fails": "failure",
        "test_allowed_console_error_passes": "passed", "test_blocked_request_fails": "failure",
        "test_clean_page_passes": "passed"}, proc.stdout[-3000:]
    assert "tile layer exploded" in outcomes["test_console_error_fails"][1]
    assert "boom in a callback" in outcomes["test_uncaught_error_fails"][1]
    assert "example.com/a.png" in outcomes["test_blocked_request_fails"][1]
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == [  # a failing test leaves a screenshot
        "FAILED-test_blocked_request_fails.png", "FAILED-test_console_error_fails.png",
        "FAILED-test_uncaught_error_fails.png"]


# --- (c) the restartable server ------------------------------------------------------------

class Stream:
    """GET /events read in a thread until it ends; ``clean`` when the response ended complete."""

    def __init__(self, base: str, token: str) -> None:
        self.lines: list[str] = []
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, args=(base, token), daemon=True)
        self._thread.start()
        assert self.opened.wait(WAIT_S), f"the stream did not open: {self.error!r}"

    def _run(self, base: str, token: str) -> None:
        try:
            with httpx.Client(base_url=base, timeout=httpx.Timeout(WAIT_S, read=None)) as client, \
                    client.stream("GET", "/events", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status_code == 200, r.status_code
                for line in r.iter_lines():
                    self.lines.append(line)
                    if line.startswith("retry:"):
                        self.opened.set()
        except Exception as exc:
            self.error = exc
        finally:
            self.ended.set()

    @property
    def clean(self) -> bool:
        return self.ended.is_set() and self.error is None


def _health(url: str) -> int:
    return httpx.get(f"{url}/health", timeout=WAIT_S).status_code


def test_restartable_server_stops_and_comes_back_on_its_port(web):
    url, port, starts = web.url, web.port, web.starts
    assert url == f"http://127.0.0.1:{port}" and web.running
    assert _health(url) == 200
    token = api_token(url)["access_token"]
    streams = [Stream(url, token), Stream(url, token)]
    live = web.app.state.live
    assert live.subscriber_count >= 2

    web.stop()  # returns although two event streams were open
    assert not web.running
    for stream in streams:
        assert stream.ended.wait(WAIT_S)
        assert stream.clean, f"the stream was cut, not ended: {stream.error!r}"  # ended by the server
        assert stream.lines[0].startswith("retry: ")
    assert not live.connected  # the lifespan shutdown ran (the listener stopped)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=WAIT_S)  # refused, not hanging
    web.stop()  # idempotent

    web.start()
    assert (web.url, web.port, web.starts) == (url, port, starts + 1)
    assert _health(url) == 200
    assert web.app.state.live is not live and web.app.state.live.wait_ready(WAIT_S)
    again = Stream(url, token)  # events work after the restart

    web.restart()
    assert again.ended.wait(WAIT_S) and again.clean
    assert _health(url) == 200 and web.starts == starts + 2
    with web.stopped(), pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=WAIT_S)
    assert _health(url) == 200


def test_event_source_in_the_browser_reconnects_after_a_restart(web, page, page_guard, monkeypatch):
    """The wall page's situation: the server goes away under an open EventSource and comes back."""
    monkeypatch.setattr(events_route, "RETRY_MS", 300)  # the stream's reconnection delay (3 s in service)
    token = api_token(web.url)["access_token"]
    page.goto(f"{web.url}/health")
    page.evaluate("""token => {
      window.es = {opens: 0, errors: 0};
      const source = new EventSource("/events?access_token=" + encodeURIComponent(token));
      source.onopen = () => { window.es.opens += 1; };
      source.onerror = () => { window.es.errors += 1; window.es.state = source.readyState; };
    }""", token)
    page.wait_for_function("window.es.opens === 1", timeout=WAIT_S * 1000)
    # down for longer than the retry delay: a reconnection attempt is refused
    with web.stopped(), page_guard.expect_errors("ERR_CONNECTION_REFUSED", kinds=["requestfailed", "console"]):
        page.wait_for_function("window.es.errors >= 2", timeout=WAIT_S * 1000)
        assert page.evaluate("window.es.state") == 0  # CONNECTING: the browser keeps retrying
    page.wait_for_function("window.es.opens === 2", timeout=WAIT_S * 1000)
    assert page_guard.problems and all(f"{web.url}/events?" in p.text for p in page_guard.problems)


def test_http_errors_are_recorded(web, page, page_guard):
    page.goto(f"{web.url}/health")
    assert page.evaluate("fetch('/no/such/thing').then(r => r.status)") == 404
    with pytest.raises(AssertionError, match=r"404 GET http://127\.0\.0\.1:\d+/no/such/thing"):
        page_guard.check()
    page_guard.allow("/no/such/thing")


# --- (d) login -------------------------------------------------------------------------------

def test_login_puts_a_token_the_api_accepts_into_local_storage(web, page):
    before_ms = time.time() * 1000
    token = login(page, web.url, "demo.admin")
    me = httpx.get(f"{web.url}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=WAIT_S)
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "demo.admin" and me.json()["role"] == "admin"
    page.goto(f"{web.url}/health")
    stored = page.evaluate("keys => keys.map(k => localStorage.getItem(k))", [TOKEN_KEY, TOKEN_EXPIRES_KEY])
    assert stored[0] == token
    assert before_ms < int(stored[1]) < before_ms + 7 * 86400 * 1000
    # once per tab: a page that logs out stays logged out after a reload
    page.evaluate("key => localStorage.removeItem(key)", TOKEN_KEY)
    page.reload()
    assert page.evaluate("key => localStorage.getItem(key)", TOKEN_KEY) is None
    # another user, in the same way
    county = api_token(web.url, "demo.330211")
    me = httpx.get(f"{web.url}/auth/me", headers=county["headers"], timeout=WAIT_S).json()
    assert (me["username"], me["role"]) == ("demo.330211", "county") and county["expires_ms"] > before_ms


def test_wrong_password_is_refused(web):
    with pytest.raises(AssertionError, match="login as demo.admin failed: 401"):
        api_token(web.url, "demo.admin", "not the password")


def test_page_is_a_fresh_zh_cn_context(page, browser):
    got = page.evaluate("""() => [navigator.language, Intl.DateTimeFormat().resolvedOptions().timeZone,
                                  innerWidth, innerHeight]""")
    assert got == ["zh-CN", "Asia/Shanghai", 1600, 1000]
    assert len(browser.contexts) == 1  # this test's own
