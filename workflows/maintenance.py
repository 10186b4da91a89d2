"""The workflow's scheduled work: escalate overdue hidden dangers.

:func:`escalation_pass` runs :func:`workflows.hidden_dangers.escalate_overdue`
once in a transaction of its own (owner-role engine); :func:`run_forever`
repeats it every ``interval_s`` seconds (default one hour: the schedule
counts whole days past a deadline, so an hourly pass is at most an hour late
after midnight). ``onemap serve`` runs it in a thread next to the risk
maintenance loop (``layers.risk_maintenance``, which must not import
``workflows``); ``onemap dangers watch`` runs it as a service and
``onemap dangers escalate`` once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import Engine

from workflows.hidden_dangers import EscalationSchedule, EscalationSummary, escalate_overdue

__all__ = ["escalation_pass", "run_forever"]

log = logging.getLogger("onemap.workflows")


def escalation_pass(engine: Engine, *, today: dt.date | None = None,
                    schedule: EscalationSchedule | None = None, progress=None) -> EscalationSummary:
    """One escalation pass, committed (owner-role ``engine``)."""
    with engine.begin() as conn:
        return escalate_overdue(conn, today, schedule=schedule, progress=progress)


def run_forever(engine: Engine, *, interval_s: float = 3600.0, stop: threading.Event | None = None,
                schedule: EscalationSchedule | None = None) -> None:
    """Escalate now and then every ``interval_s`` seconds until ``stop`` is set; failures are logged."""
    stop = stop or threading.Event()
    schedule = schedule or EscalationSchedule()
    while not stop.is_set():
        try:
            summary = escalation_pass(engine, schedule=schedule)
            if summary.escalated:
                log.info("%s", summary.as_text())
        except Exception:  # keep the service alive; the next pass retries
            log.exception("escalation pass failed")
        stop.wait(interval_s)
