"""The workflow's scheduled work: escalate overdue hidden dangers.

:func:`escalation_pass` runs :func:`workflows.hidden_dangers.escalate_overdue`
once in a transaction of its own (owner-role engine); :func:`run_forever`
repeats it every ``interval_s`` seconds (default one hour: the schedule
counts whole days past a deadline, so an hourly pass is at most an hour late
after midnight). ``onemap serve`` runs it in a thread next to the risk
maintenance loop (``layers.risk_maintenance``, which must not import
``workflows``); ``onemap dangers watch`` runs it as a service and
``onemap dangers escalate`` once.

Each pass then recomputes enterprise credit (:func:`credit_pass`:
:func:`workflows.credit.recompute` over every current enterprise; only changed
scores, new listings and credit records are written), so overdue dangers and
expiring windows move scores and the blacklist without anyone asking;
``onemap credit recompute`` runs it once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import Engine

from workflows.credit import RecomputeSummary, recompute
from workflows.credit_rules import Rules
from workflows.hidden_dangers import EscalationSchedule, EscalationSummary, escalate_overdue

__all__ = ["escalation_pass", "credit_pass", "run_forever"]

log = logging.getLogger("onemap.workflows")


def escalation_pass(engine: Engine, *, today: dt.date | None = None,
                    schedule: EscalationSchedule | None = None, progress=None) -> EscalationSummary:
    """One escalation pass, committed (owner-role ``engine``)."""
    with engine.begin() as conn:
        return escalate_overdue(conn, today, schedule=schedule, progress=progress)


def credit_pass(engine: Engine, *, rules: Rules | None = None, as_of: dt.date | None = None,
                dry_run: bool = False, progress=None) -> RecomputeSummary:
    """One credit recompute of every current enterprise, committed (owner-role ``engine``, actor ``system``)."""
    with engine.begin() as conn:
        return recompute(conn, rules=rules, as_of=as_of, dry_run=dry_run, progress=progress)


def run_forever(engine: Engine, *, interval_s: float = 3600.0, stop: threading.Event | None = None,
                schedule: EscalationSchedule | None = None) -> None:
    """Escalate (then recompute credit) now and every ``interval_s`` seconds until ``stop`` is set; failures
    are logged."""
    stop = stop or threading.Event()
    schedule = schedule or EscalationSchedule()
    while not stop.is_set():
        try:
            summary = escalation_pass(engine, schedule=schedule)
            if summary.escalated:
                log.info("%s", summary.as_text())
        except Exception:  # keep the service alive; the next pass retries
            log.exception("escalation pass failed")
        try:
            credit = credit_pass(engine)
            if credit.changed or credit.listed or credit.removed:
                log.info("%s", credit.as_text())
        except Exception:  # the credit pass fails alone (e.g. a rule table edited into an invalid state)
            log.exception("credit pass failed")
        stop.wait(interval_s)
