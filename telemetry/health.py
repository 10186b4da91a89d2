"""The ingest worker's status file: written by the worker every second, read by ``/telemetry/health``.

A file, not a database row, because the worker must report precisely when the
database is down. Fields: ``pid``, ``client_id``, ``broker`` (``connected``,
``host``, ``port``), ``database`` (``ok``, ``error``), ``backlog`` (messages
received and not yet committed and acknowledged), ``committed``,
``duplicates``, ``rejected``, ``last_commit_at``, ``started_at``,
``updated_at``. :func:`read_status` adds ``healthy`` and ``stale``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["status_path", "write_status", "read_status", "STALE_AFTER_S"]

STALE_AFTER_S = 10.0


def status_path(state_dir: Path, client_id: str) -> Path:
    """``<state_dir>/telemetry/ingest-<client_id>.json``."""
    return state_dir / "telemetry" / f"ingest-{client_id}.json"


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the status file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status, default=str))
    tmp.replace(path)


def read_status(path: Path, *, now: datetime | None = None) -> dict[str, Any]:
    """The worker's last status with ``healthy`` (broker and database reachable, fresh) and ``stale``.

    >>> read_status(Path("/nonexistent/ingest.json"))["healthy"]
    False
    """
    now = now or datetime.now(UTC)
    try:
        status = json.loads(path.read_text())
        if not isinstance(status, dict):
            raise ValueError("not an object")
    except (OSError, ValueError):
        return {"running": False, "healthy": False, "stale": True, "reason": "no status file: worker not running"}
    try:
        updated = datetime.fromisoformat(str(status.get("updated_at")))
        age = (now - updated).total_seconds()
    except (TypeError, ValueError):
        age = float("inf")
    stale = age > STALE_AFTER_S
    broker_ok = bool((status.get("broker") or {}).get("connected"))
    db_ok = bool((status.get("database") or {}).get("ok"))
    status.update(running=not stale, stale=stale, healthy=not stale and broker_ok and db_ok)
    if stale:
        status["reason"] = f"status not updated for {age:.0f} s: worker stopped or hung"
    elif not broker_ok:
        status["reason"] = "not connected to the broker (reconnecting)"
    elif not db_ok:
        status["reason"] = "database unavailable: not acknowledging, the broker holds the messages"
    return status
