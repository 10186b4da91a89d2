"""Keeping derived risk in step with edits: the maintenance loop.

Edits queue their consequences in the database (triggers of migration 0006):
``hazard_assessment_queue`` (GB 18218 assessment) and ``risk_queue`` (the
unit's contribution to the individual-risk surface). An edit made through the
API reassesses the units its writer may see in the same transaction; the rest,
and every risk-surface update, is done here, as the owner role:

1. drain ``hazard_assessment_queue`` (:func:`layers.hazard_records.assess_pending`);
2. drain ``risk_queue`` (:func:`layers.risk.update_pending`), which rewrites only
   the cells the changed units reach;
3. rescore the four-colour risk of the enterprises concerned
   (:func:`layers.enterprise_risk.score_enterprises`; only changed colours are
   written, audited and announced on ``/events``).

:func:`run_once` does one pass; :func:`run_forever` repeats it every
``interval_s`` seconds and sooner when a change notification arrives
(``LISTEN onemap_events``). ``onemap risk watch`` runs it as a service;
``onemap serve`` runs it in a thread for the local development cluster.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, text

from layers import enterprise_risk, hazard_records, risk

__all__ = ["PassSummary", "run_once", "run_forever"]

log = logging.getLogger("onemap.maintenance")

# tables whose change may leave work in the queues (or change an enterprise's colour)
_WATCHED = ("hazard_units", "hazard_unit_inventory", "protection_targets", "hidden_dangers",
            "enterprise_records", "risk_cells")


@dataclass
class PassSummary:
    assessed: int
    risk_units: int
    cells_changed: int
    enterprises_rescored: int
    colours_changed: int
    seconds: float

    @property
    def did_work(self) -> bool:
        return bool(self.assessed or self.risk_units or self.colours_changed)


def _pending_enterprises(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT DISTINCT h.enterprise_id FROM risk_queue q JOIN hazard_units h ON h.id = q.hazard_unit_id
            UNION SELECT DISTINCT h.enterprise_id FROM hazard_assessment_queue q
                  JOIN hazard_units h ON h.id = q.hazard_unit_id""")).scalars().all()


def run_once(engine: Engine, *, rescore_all: bool = False) -> PassSummary:
    """One maintenance pass (owner-role engine). ``rescore_all`` rescoring every enterprise."""
    t0 = time.perf_counter()
    enterprises = _pending_enterprises(engine)
    with engine.begin() as conn:
        assessed = hazard_records.assess_pending(conn)
    upd = risk.update_pending(engine)
    colours = 0
    rescored = 0
    if rescore_all or enterprises:
        with engine.begin() as conn:
            s = enterprise_risk.score_enterprises(conn, None if rescore_all else enterprises)
        rescored, colours = s.assessed, s.colour_changes
    return PassSummary(assessed=assessed.units, risk_units=upd.units, cells_changed=upd.cells_changed,
                       enterprises_rescored=rescored, colours_changed=colours, seconds=time.perf_counter() - t0)


def run_forever(engine: Engine, *, interval_s: float = 30.0, stop: threading.Event | None = None,
                dsn: str | None = None, rescore_every_s: float = 300.0) -> None:
    """Repeat :func:`run_once` every ``interval_s`` and when a watched table changes.

    Hidden dangers and records change colours without queueing units, so a pass
    woken by a notification (and one every ``rescore_every_s``) rescores every
    enterprise (a second or two on the demo; only changed colours are written).
    ``dsn`` (libpq) enables the wake-up on ``NOTIFY onemap_events``.
    """
    stop = stop or threading.Event()
    listener = None
    if dsn is not None:
        import psycopg

        listener = psycopg.connect(dsn, autocommit=True)
        listener.execute("LISTEN onemap_events")
    woken, last_rescore = True, 0.0
    try:
        while not stop.is_set():
            rescore = woken or time.monotonic() - last_rescore >= rescore_every_s
            try:
                s = run_once(engine, rescore_all=rescore)
                if rescore:
                    last_rescore = time.monotonic()
                if s.did_work:
                    log.info("maintenance: %s", s)
            except Exception:  # keep the service alive; the next pass retries
                log.exception("maintenance pass failed")
            woken = False
            deadline = time.monotonic() + interval_s
            while not stop.is_set() and time.monotonic() < deadline:
                if listener is None:
                    stop.wait(min(1.0, deadline - time.monotonic()))
                    continue
                ready, _, _ = select.select([listener.fileno()], [], [], min(1.0, max(0.0, deadline - time.monotonic())))
                if ready and any(_watched(n.payload) for n in listener.notifies(timeout=0, stop_after=100)):
                    stop.wait(0.5)  # let the writer's burst finish
                    woken = True
                    break
    finally:
        if listener is not None:
            listener.close()


def _watched(payload: str) -> bool:
    return any(f'"t": "{t}"' in payload or f'"t":"{t}"' in payload for t in _WATCHED if t != "risk_cells")
