"""Fixtures for browser tests of the web map pages (Debian's Chromium through Playwright, loopback only).

- ``browser_db`` (session): a throwaway database with a small demo (300 enterprises, seed 7,
  today 2026-11-23) and what ``onemap demo load`` derives from it; a :class:`DemoDatabase`.
- ``web`` (session): a started :class:`~tests.browser.harness.RestartableServer` on it
  (``.url``, ``.stop()``, ``.start()``, ``.restart()``, ``.stopped()``); a test that leaves it
  stopped gets it started again after the test.
- ``browser`` (session): Playwright's Chromium at ``/usr/bin/chromium``, headless, WebGL on SwiftShader.
- ``page_guard`` / ``page`` (function): a page in a fresh context (1600x1000, zh-CN, Asia/Shanghai)
  whose non-loopback requests are blocked; the test fails on any blocked request, console error,
  uncaught page error, failed request or response >= 400 it did not ``page_guard.allow(pattern)``.
  A failing test leaves ``artifacts/screenshots/FAILED-<test>.png``.

Log in with ``tests.browser.harness.login(page, web.url, "demo.admin")`` before ``page.goto``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlalchemy import URL, Engine

from tests.browser.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PageGuard,
    RestartableServer,
    save_screenshot,
)

DEMO_ENTERPRISES = 300
DEMO_SEED = 7
DEMO_TODAY = date(2026, 11, 23)
VIEWPORT = {"width": 1600, "height": 1000}

_timings: dict[str, float] = {}


@dataclass
class DemoDatabase:
    """The browser tests' database: ``db`` is the :class:`tests.conftest.ThrowawayDB`."""

    db: object
    counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.db.name

    @property
    def owner_url(self) -> URL:
        return self.db.owner_url

    @property
    def app_url(self) -> URL:
        return self.db.app_url


@pytest.fixture(scope="session")
def browser_db(throwaway) -> DemoDatabase:
    """The small demo and its derived data (GB 18218 assessments, records, risk surface, colours),
    loaded exactly as ``onemap demo load`` does it."""
    from api.cli import _derive_demo
    from data.demo import load_demo
    from geo.db import make_engine

    t0 = time.perf_counter()
    database = throwaway()
    engine = make_engine(database.owner_url)
    try:
        t1 = time.perf_counter()
        summary = load_demo(engine, n_enterprises=DEMO_ENTERPRISES, seed=DEMO_SEED, today=DEMO_TODAY)
        t2 = time.perf_counter()
        _derive_demo(engine)
        t3 = time.perf_counter()
    finally:
        engine.dispose()
    seconds = {"create": t1 - t0, "load": t2 - t1, "derive": t3 - t2, "total": t3 - t0}
    _timings.update({f"browser_db {k}": v for k, v in seconds.items()})
    return DemoDatabase(database, dict(summary.counts), seconds)


@pytest.fixture(scope="session")
def browser_app_engine(browser_db) -> Iterator[Engine]:
    from geo.db import make_engine

    engine = make_engine(browser_db.app_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def web(settings, browser_app_engine) -> Iterator[RestartableServer]:
    """The app (``api.app.create_app``) served on 127.0.0.1 at a fixed port, started."""
    from api.app import create_app

    t0 = time.perf_counter()
    server = RestartableServer(create_app(settings, engine=browser_app_engine))
    try:
        server.start()
        _timings["web start"] = time.perf_counter() - t0
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def _web_serving_again(request) -> Iterator[None]:
    """A test that stopped ``web`` and failed before starting it does not break the next ones."""
    yield
    if "web" in request.fixturenames:
        server = request.getfixturevalue("web")
        if not server.running:
            server.start()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Chromium, one per test module.

    Not per session: the sync Playwright API keeps an asyncio loop running in
    the main thread while it is open, and later tests that call asyncio.run()
    (tests/test_events.py) or start their own Playwright (tests/test_exports.py)
    would fail behind it.
    """
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        _timings["browser launch"] = time.perf_counter() - t0
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page_guard() -> PageGuard:
    """What the page did wrong; ``page_guard.allow(pattern, kinds=..., times=...)`` lets expected ones pass."""
    return PageGuard()


@pytest.fixture
def page(browser, page_guard, request) -> Iterator:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", service_workers="block")
    page_guard.attach(context)
    pg = context.new_page()
    try:
        yield pg
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            try:
                save_screenshot(pg, f"FAILED-{request.node.name}")
            except Exception as exc:  # a screenshot must not hide the failure
                print(f"no failure screenshot: {exc}")
        else:
            page_guard.check()  # anything recorded after the test body (an error at teardown)
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Fail the test itself (not its teardown) when its page had unexpected problems."""
    result = yield
    guard = item.funcargs.get("page_guard") if hasattr(item, "funcargs") else None
    if isinstance(guard, PageGuard):
        page = item.funcargs.get("page")
        if page is not None and not page.is_closed():
            with contextlib.suppress(Exception):
                page.evaluate("0")  # one round trip: events the browser already sent are delivered
        guard.check()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
        guard = item.funcargs.get("page_guard") if hasattr(item, "funcargs") else None
        if isinstance(guard, PageGuard) and guard.problems:
            report.sections.append(("page guard", guard.summary()))
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    if _timings:
        terminalreporter.write_line("browser harness set-up: " + ", ".join(
            f"{k} {v:.1f} s" for k, v in _timings.items()))
