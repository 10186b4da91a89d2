"""Two officers (or jobs) on two connections racing for one row lock, for the workflow tests.

A runs ``move`` in its own transaction and keeps that transaction open. B
then runs the same move on a second connection. The race checks that B is
still waiting after half a second, lets A commit, and returns what each side
got: its result, or the exception it raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from geo.context import RequestContext, apply_context

__all__ = ["race_for_a_lock"]


def race_for_a_lock(engine, ctx_a: RequestContext, ctx_b: RequestContext,
                    move: Callable[[object, RequestContext], object], *, what: str = "A's row lock"
                    ) -> tuple[object, object]:
    """(A's outcome, B's outcome); each is ``move``'s return value or the exception it raised."""
    a_holds, a_may_commit = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def side(name: str, ctx: RequestContext, hold: bool) -> None:
        try:
            with engine.connect() as conn, conn.begin():
                apply_context(conn, ctx)
                outcome[name] = move(conn, ctx)
                if hold:
                    a_holds.set()
                    assert a_may_commit.wait(10)
        except Exception as exc:  # shown to the test as the outcome
            outcome[name] = exc
            a_holds.set()

    a = threading.Thread(target=side, args=("a", ctx_a, True))
    a.start()
    assert a_holds.wait(10)
    b = threading.Thread(target=side, args=("b", ctx_b, False))
    b.start()
    b.join(0.5)
    waited = b.is_alive()
    a_may_commit.set()
    a.join(10)
    b.join(10)
    assert waited, f"B must wait for {what}"
    return outcome["a"], outcome["b"]
