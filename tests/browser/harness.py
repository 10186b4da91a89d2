"""Helpers for browser tests of the web map pages: a restartable server, a page guard, login, pixels.

Everything here talks to 127.0.0.1 only. The browser is Debian's Chromium
(``/usr/bin/chromium``) driven by Playwright's sync API; no browser is ever
downloaded.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jwt
from PIL import Image

from tests.live_server import loopback_socket, serve_in_thread, stop_serving

__all__ = [
    "CHROMIUM", "CHROMIUM_ARGS", "SCREENSHOTS", "TOKEN_KEY", "TOKEN_EXPIRES_KEY",
    "RestartableServer", "PageGuard", "Problem", "is_loopback_url",
    "api_token", "login", "save_screenshot", "element_box", "canvas_stats", "assert_canvas_not_blank",
]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("ONEMAP_SCREENSHOTS") or ROOT / "artifacts" / "screenshots")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # belt and braces under the request guard: no host name but loopback resolves
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    # WebGL on the CPU: ANGLE on SwiftShader, whatever GPU the machine has (or not)
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
TOKEN_KEY = "onemap.token"  # localStorage keys the pages read (the storage contract)
TOKEN_EXPIRES_KEY = "onemap.token_expires"  # epoch milliseconds
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about"}


def is_loopback_url(url: str) -> bool:
    """Whether the browser may fetch ``url``: loopback http(s)/ws(s), or data:/blob:/about:."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in LOCAL_SCHEMES:
        return True
    return scheme in ("http", "https", "ws", "wss") and (parts.hostname or "").lower() in LOOPBACK_HOSTS


# ---------------------------------------------------------------------------- the server

class RestartableServer:
    """uvicorn serving ``app`` on 127.0.0.1 at a port chosen once, that can stop and come back on it.

    While stopped the port stays bound but not listening: connections are
    refused and no other process can take it. ``stop`` ends open event streams
    (see ``tests.live_server.stop_serving``) instead of waiting for them.
    The same app object serves every run; its lifespan runs on each start.
    """

    def __init__(self, app, *, start_timeout_s: float = 30.0) -> None:
        self.app = app
        self.start_timeout_s = start_timeout_s
        self._sock = loopback_socket()
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = None
        self._thread = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> RestartableServer:
        """Start serving (no-op when running); returns once the port accepts."""
        if self.running:
            return self
        if self._sock is None:
            self._sock = loopback_socket(self.port)
        sock, self._sock = self._sock, None  # uvicorn closes it at shutdown
        try:
            self._server, self._thread = serve_in_thread(self.app, sock, start_timeout_s=self.start_timeout_s)
        except BaseException:
            sock.close()
            self._sock = loopback_socket(self.port)
            raise
        self.starts += 1
        return self

    def stop(self) -> None:
        """Stop serving (idempotent); afterwards connections to the port are refused."""
        if self._thread is not None:
            server, thread, self._server, self._thread = self._server, self._thread, None, None
            stop_serving(server, thread, self.app)
        if self._sock is None:
            self._sock = loopback_socket(self.port)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down ``down_s`` seconds, start again on the same port."""
        self.stop()
        if down_s > 0:
            time.sleep(down_s)
        self.start()

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """``with server.stopped(): ...``: down inside the block, serving again after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def close(self) -> None:
        """Stop and release the port."""
        self.stop()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> RestartableServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RestartableServer({self.url}, running={self.running}, starts={self.starts})"


# ---------------------------------------------------------------------------- the page guard

KINDS = ("blocked", "console", "pageerror", "requestfailed", "response")


@dataclass(frozen=True)
class Problem:
    """One thing that went wrong in the page; ``text`` is what ``PageGuard.allow`` patterns search."""

    kind: str  # one of KINDS
    text: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.text}"


@dataclass
class _Allowance:
    pattern: re.Pattern
    kinds: frozenset[str]
    times: int | None  # None: any number
    used: int = 0

    def matches(self, problem: Problem) -> bool:
        return (problem.kind in self.kinds and (self.times is None or self.used < self.times)
                and self.pattern.search(problem.text) is not None)


@dataclass
class PageGuard:
    """What a page did wrong: requests off loopback (blocked), console errors, uncaught errors,
    failed requests and HTTP responses >= 400. The test fails on any of them unless allowed.

    Texts: ``blocked``: ``GET <url>``; ``console``: ``<message> (at <url>:<line>)``;
    ``pageerror``: ``<error message> <stack>``; ``requestfailed``: ``GET <url> <failure>``
    (e.g. ``net::ERR_CONNECTION_REFUSED``); ``response``: ``<status> GET <url>``.
    """

    problems: list[Problem] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # URLs refused by the route
    _allowed: list[_Allowance] = field(default_factory=list)
    _reported: int = 0

    def allow(self, pattern: str | re.Pattern, *, kinds: Iterable[str] | str = KINDS,
              times: int | None = None) -> None:
        """Let problems whose text matches ``pattern`` (``re.search``) pass, for the given kinds
        (default: all), at most ``times`` of them (default: any number)."""
        kinds = frozenset([kinds] if isinstance(kinds, str) else kinds)
        unknown = kinds - set(KINDS)
        assert not unknown, f"unknown problem kinds {sorted(unknown)}; known: {KINDS}"
        self._allowed.append(_Allowance(re.compile(pattern), kinds, times))

    @contextmanager
    def expect_errors(self, pattern: str | re.Pattern, *, kinds: Iterable[str] | str = KINDS,
                      at_least: int = 1) -> Iterator[None]:
        """Allow ``pattern`` and require at least ``at_least`` matching problems by the end of the block."""
        self.allow(pattern, kinds=kinds)
        allowance = self._allowed[-1]
        start = len(self.problems)
        yield
        seen = sum(1 for p in self.problems[start:] if allowance.pattern.search(p.text) and p.kind in allowance.kinds)
        assert seen >= at_least, (f"expected at least {at_least} problem(s) matching {allowance.pattern.pattern!r}, "
                                  f"saw {seen}: {[str(p) for p in self.problems[start:]]}")

    def record(self, kind: str, text: str) -> None:
        assert kind in KINDS, kind
        self.problems.append(Problem(kind, text))

    def unexpected(self) -> list[Problem]:
        """The problems no allowance matches."""
        out = []
        for problem in self.problems:
            allowance = next((a for a in self._allowed if a.matches(problem)), None)
            if allowance is None:
                out.append(problem)
            elif allowance.times is not None:
                allowance.used += 1
        for allowance in self._allowed:
            allowance.used = 0
        return out

    def check(self) -> None:
        """Raise ``AssertionError`` naming the unexpected problems not reported by an earlier ``check``."""
        bad = self.unexpected()
        new, self._reported = bad[self._reported:], len(bad)
        if new:
            lines = "\n  ".join(str(p)[:500] for p in new)
            raise AssertionError(f"the page had {len(new)} unexpected problem(s) "
                                 f"(allow expected ones with page_guard.allow(pattern)):\n  {lines}")

    def summary(self) -> str:
        return "\n".join(str(p) for p in self.problems) or "(nothing recorded)"

    # --- wiring --------------------------------------------------------------------------

    def attach(self, context) -> None:
        """Route and listen on a Playwright ``BrowserContext`` (before any page opens)."""
        context.route("**/*", self._route)
        if hasattr(context, "route_web_socket"):
            context.route_web_socket(re.compile(r".*"), self._route_ws)
        context.on("console", self._on_console)
        context.on("weberror", self._on_weberror)
        context.on("requestfailed", self._on_requestfailed)
        context.on("response", self._on_response)

    def _route(self, route) -> None:
        request = route.request
        if is_loopback_url(request.url):
            route.fallback()
            return
        self.blocked.append(request.url)
        self.record("blocked", f"{request.method} {request.url}")
        route.abort("blockedbyclient")

    def _route_ws(self, ws) -> None:
        if is_loopback_url(ws.url):
            ws.connect_to_server()
            return
        self.blocked.append(ws.url)
        self.record("blocked", f"WEBSOCKET {ws.url}")
        ws.close(code=1008, reason="blocked by the test harness")

    def _on_console(self, msg) -> None:
        if msg.type != "error":
            return
        loc = msg.location or {}
        where = f" (at {loc.get('url', '')}:{loc.get('lineNumber', '')})" if loc.get("url") else ""
        self.record("console", f"{msg.text}{where}")

    def _on_weberror(self, web_error) -> None:
        error = web_error.error
        self.record("pageerror", f"{error.message} {error.stack or ''}".strip())

    def _on_requestfailed(self, request) -> None:
        self.record("requestfailed", f"{request.method} {request.url} {request.failure or ''}".strip())

    def _on_response(self, response) -> None:
        if response.status >= 400:
            self.record("response", f"{response.status} {response.request.method} {response.url}")


# ---------------------------------------------------------------------------- login

def api_token(base_url: str, username: str = "demo.admin", password: str | None = None) -> dict:
    """POST /auth/token; returns ``{"access_token", "expires_ms", "headers"}``."""
    if password is None:
        from data.synthetic import DEMO_PASSWORD as password
    r = httpx.post(f"{base_url}/auth/token", data={"username": username, "password": password}, timeout=30)
    assert r.status_code == 200, f"login as {username} failed: {r.status_code} {r.text}"
    token = r.json()["access_token"]
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    expires_ms = int(exp * 1000) if exp else int((time.time() + r.json()["expires_in"]) * 1000)
    return {"access_token": token, "expires_ms": expires_ms, "headers": {"Authorization": f"Bearer {token}"}}


_SEED = """(() => {
  const origin = %(origin)s, flag = "onemap.harness.seeded";
  if (location.origin !== origin) return;
  try {
    if (sessionStorage.getItem(flag)) return;  // once per tab: a later logout stays logged out
    sessionStorage.setItem(flag, "1");
    localStorage.setItem(%(key)s, %(token)s);
    localStorage.setItem(%(exp_key)s, %(expires)s);
  } catch (e) {}
})();"""


def login(page, base_url: str, username: str = "demo.admin", password: str | None = None) -> str:
    """Log ``page``'s context in as ``username`` (demo password by default); returns the token.

    The token goes into ``localStorage["onemap.token"]`` and its expiry (epoch
    ms, a decimal string) into ``localStorage["onemap.token_expires"]`` by an
    init script, before any script of a page of ``base_url``'s origin runs.
    Call it before ``page.goto``. It seeds each tab once, so a page that logs
    out stays logged out across reloads.
    """
    got = api_token(base_url, username, password)
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    page.context.add_init_script(_SEED % {
        "origin": json.dumps(origin), "key": json.dumps(TOKEN_KEY), "exp_key": json.dumps(TOKEN_EXPIRES_KEY),
        "token": json.dumps(got["access_token"]), "expires": json.dumps(str(got["expires_ms"]))})
    return got["access_token"]


# ---------------------------------------------------------------------------- pixels

def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    assert slug, f"unusable screenshot name {name!r}"
    return slug[:150]


def save_screenshot(page, name: str, *, full_page: bool = False) -> Path:
    """Write ``artifacts/screenshots/{name}.png`` (repo root; ``$ONEMAP_SCREENSHOTS`` overrides the
    folder) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{_slug(name)}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def element_box(page, selector: str = "canvas") -> tuple[int, int, int, int]:
    """The first visible ``selector``'s box in screenshot pixels: (left, top, right, bottom)."""
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not visible"
    scale = page.evaluate("window.devicePixelRatio") or 1
    return (round(box["x"] * scale), round(box["y"] * scale),
            round((box["x"] + box["width"]) * scale), round((box["y"] + box["height"]) * scale))


def _image(png: bytes | str | Path | Image.Image) -> Image.Image:
    if isinstance(png, Image.Image):
        return png.convert("RGB")
    if isinstance(png, bytes | bytearray):
        return Image.open(BytesIO(png)).convert("RGB")
    return Image.open(png).convert("RGB")


def canvas_stats(png: bytes | str | Path | Image.Image,
                 region: tuple[int, int, int, int] | None = None) -> dict:
    """Pixel statistics of ``png`` (within ``region`` = left, top, right, bottom):
    distinct colours, the share of the most common colour, and the standard deviation
    of luminance and of each channel (0-255)."""
    image = _image(png)
    if region is not None:
        left, top, right, bottom = region
        assert 0 <= left < right <= image.width and 0 <= top < bottom <= image.height, (
            f"region {region} is not inside the {image.width}x{image.height} image")
        image = image.crop(region)
    pixels = image.width * image.height
    colours = image.getcolors(maxcolors=pixels) or []
    dominant = max(count for count, _ in colours) / pixels
    channels = [_stddev(band) for band in image.split()]
    return {"size": image.size, "colours": len(colours), "dominant": round(dominant, 4),
            "stddev": round(_stddev(image.convert("L")), 2),
            "stddev_rgb": tuple(round(c, 2) for c in channels)}


def _stddev(band: Image.Image) -> float:
    """Population standard deviation of one band, from its histogram."""
    histogram = band.histogram()
    n = sum(histogram)
    mean = sum(v * c for v, c in enumerate(histogram)) / n
    return (sum(c * (v - mean) ** 2 for v, c in enumerate(histogram)) / n) ** 0.5


def assert_canvas_not_blank(png: bytes | str | Path | Image.Image,
                            region: tuple[int, int, int, int] | None = None, *,
                            min_colours: int = 8, min_stddev: float = 4.0,
                            max_dominant: float = 0.97) -> dict:
    """Fail unless the image (or ``region`` of it) has something drawn: at least ``min_colours``
    distinct colours, luminance or channel standard deviation of ``min_stddev`` or more, and
    no single colour covering more than ``max_dominant`` of it. Returns :func:`canvas_stats`."""
    stats = canvas_stats(png, region)
    spread = max(stats["stddev"], *stats["stddev_rgb"])
    assert stats["colours"] >= min_colours, f"blank: only {stats['colours']} colour(s): {stats}"
    assert spread >= min_stddev, f"blank: standard deviation {spread} < {min_stddev}: {stats}"
    assert stats["dominant"] <= max_dominant, (
        f"blank: one colour covers {stats['dominant']:.1%} (> {max_dominant:.0%}): {stats}")
    return stats
