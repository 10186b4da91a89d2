"""``/events``: live changes as Server-Sent Events, only those the caller may see.

One :class:`geo.events.Listener` per app (``app.state.live``, started and
stopped by the app's lifespan through :func:`start_live` / :func:`stop_live`)
listens to the database; every open stream is a subscription filtered by
the caller's context exactly like row-level security (``visible_to``).

EventSource cannot send headers, so the bearer token may also come as
``?access_token=``; the header is preferred (URLs end up in logs). A stream
opened with a token ends when the token expires; reconnect with a fresh one.
Nothing is replayed: after a ``resync`` event, or any reconnect, refetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import current_user, oauth2_scheme, request_context, token_user
from geo.context import RequestContext
from geo.db import libpq_dsn
from geo.events import Listener, parse_kinds

__all__ = ["router", "start_live", "stop_live", "KEEPALIVE_S", "RETRY_MS"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["events"])

KEEPALIVE_S = 15.0  # a comment line after this long without events (proxies close idle streams)
RETRY_MS = 3000  # the client's reconnection delay
READY_WAIT_S = 3.0  # how long app start waits for the listener's first LISTEN
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class Caller:
    """The stream's context, and when its token expires (epoch seconds; None when anonymous)."""

    ctx: RequestContext
    expires_at: float | None


def events_caller(
    request: Request,
    header_token: Annotated[str | None, Depends(oauth2_scheme)],
    access_token: Annotated[str | None, Query(
        description="bearer token for clients that cannot send headers (EventSource); "
                    "prefer the Authorization header: URLs are logged")] = None,
) -> Caller:
    """``ContextDep`` with one more place for the token: the header, else ``?access_token=``."""
    token = header_token or access_token or None
    ctx = request_context(request, current_user(request, token_user(request, token)))
    expires_at = None
    if token is not None:  # current_user has verified it
        expires_at = float(jwt.decode(token, options={"verify_signature": False})["exp"])
    return Caller(ctx, expires_at)


CallerDep = Annotated[Caller, Depends(events_caller)]


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "an endless stream: `retry:`, then `id:`/`event:`/`data:` blocks "
                                    "and `: keep-alive` comments"}},
)
async def events(
    request: Request,
    caller: CallerDep,
    kinds: Annotated[str | None, Query(
        description="comma-separated kind prefixes, e.g. `hidden_danger.,enterprise.risk_colour_changed`")] = None,
) -> StreamingResponse:
    """Changes visible to the caller as Server-Sent Events (anonymous callers: public rows only)."""
    prefixes = parse_kinds(kinds)
    live: Listener = request.app.state.live
    return StreamingResponse(_stream(live, caller, prefixes), media_type="text/event-stream", headers=HEADERS)


async def _stream(live: Listener, caller: Caller, kinds: tuple[str, ...]) -> AsyncIterator[str]:
    # subscribed on the first read, inside the event loop; the finally runs on
    # disconnect (Starlette cancels the stream), on server shutdown and at token expiry
    sub = live.subscribe(caller.ctx, kinds=kinds)
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while not sub.closed:
            wait = KEEPALIVE_S
            if caller.expires_at is not None:
                wait = min(wait, caller.expires_at - time.time())
                if wait <= 0:
                    return
            event = await sub.next(timeout=wait)
            if event is not None:
                yield event.to_sse()
            elif not sub.closed and (caller.expires_at is None or time.time() < caller.expires_at):
                yield ": keep-alive\n\n"
    finally:
        live.unsubscribe(sub)


async def start_live(app: FastAPI) -> Listener:
    """Start ``app.state.live`` on the DSN of ``app.state.engine`` (call from the lifespan)."""
    live = Listener(libpq_dsn(app.state.engine.url))
    app.state.live = live
    if not await asyncio.to_thread(live.start, wait_s=READY_WAIT_S):
        log.warning("events: the listener is not connected yet; it keeps retrying")
    app.state.live_restore_signals = _on_exit_signals(asyncio.get_running_loop(), live.close_subscriptions)
    return live


def stop_live(app: FastAPI) -> None:
    """Stop ``app.state.live`` (idempotent; call from the lifespan)."""
    restore = getattr(app.state, "live_restore_signals", None)
    if restore is not None:
        restore()
        app.state.live_restore_signals = None
    live: Listener | None = getattr(app.state, "live", None)
    if live is not None:
        live.stop()


def _on_exit_signals(loop: asyncio.AbstractEventLoop, on_exit: Callable[[], None]) -> Callable[[], None]:
    """Run ``on_exit`` in ``loop`` when SIGINT/SIGTERM arrive, then the previous handler.

    uvicorn's graceful shutdown waits for every open response before the
    lifespan ends, and an event stream never ends by itself: closing the
    subscriptions at the signal lets the streams finish. Only the main
    thread can set handlers (under TestClient or a threaded server this does
    nothing); only Python-level handlers (a server's) are chained. Returns a
    function that puts the previous handlers back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    installed = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum, frame, previous=previous):
            with contextlib.suppress(RuntimeError):  # a closed loop
                loop.call_soon_threadsafe(on_exit)  # never take locks inside a signal handler
            previous(signum, frame)

        signal.signal(sig, handler)
        installed[sig] = (handler, previous)

    def restore() -> None:
        for sig, (handler, previous) in installed.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)

    return restore
