"""A real uvicorn serving an app on a loopback port, in a thread, for the tests that need a socket.

``live_server(app)`` is the one-shot form. ``loopback_socket``, ``serve_in_thread``
and ``stop_serving`` are its parts, shared with ``tests.browser.harness.RestartableServer``
(which stops and starts a server on the same port).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

GRACEFUL_S = 5.0  # uvicorn's own backstop: cancel responses still running this long after shutdown began


def loopback_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound to 127.0.0.1:``port`` (0: a free one), not yet listening.

    Bound but not listening holds the port while connections to it are refused.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def serve_in_thread(app, sock: socket.socket, *, start_timeout_s: float = 30.0
                    ) -> tuple[uvicorn.Server, threading.Thread]:
    """Start uvicorn (with the app's lifespan) on ``sock`` in a daemon thread; return once it accepts."""
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=GRACEFUL_S)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"uvicorn-{sock.getsockname()[1]}")
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=10)
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread


def stop_serving(server: uvicorn.Server, thread: threading.Thread, app=None, *, timeout_s: float = 30.0) -> None:
    """Stop a server started by :func:`serve_in_thread`; open event streams do not hold it up.

    uvicorn's graceful shutdown stops accepting, then waits for every open
    response, and a Server-Sent Events stream never ends by itself. So once
    the listening socket is closed (no client can reconnect in between) the
    app's live subscriptions are closed (``app.state.live``, see
    ``api.routes.events``): the streams end and the lifespan shutdown runs as
    usual. ``force_exit`` is the last resort (it skips the lifespan shutdown).
    """
    server.should_exit = True
    deadline = time.monotonic() + timeout_s
    while thread.is_alive() and any(s.is_serving() for s in list(getattr(server, "servers", []))):
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    live = getattr(getattr(app, "state", None), "live", None)
    if live is not None:
        live.close_subscriptions()
    thread.join(timeout=max(deadline - time.monotonic(), 1.0))
    if thread.is_alive():
        server.force_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive(), "uvicorn did not stop"


@contextmanager
def live_server(app, *, start_timeout_s: float = 30.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) with its lifespan; yields the base URL; stops it on exit."""
    sock = loopback_socket()
    port = sock.getsockname()[1]
    try:
        server, thread = serve_in_thread(app, sock, start_timeout_s=start_timeout_s)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_serving(server, thread, app)
    finally:
        sock.close()
