"""Verify the hash-chained audit log (``onemap audit verify``).

The chain is written by the database (migration 0002, ``onemap_audit_append``):
``hash = sha256(prev_hash || payload)`` where ``payload`` joins, with the unit
separator U+001F, ``seq``, the time as epoch microseconds, actor, request id,
table, row key, operation and the JSON text of the row before and after.

Verification recomputes every hash here, in Python, from the stored columns —
not with the database's own functions, which a superuser could replace — and
checks that each row's ``prev_hash`` is the previous row's hash and that
``seq`` has no gaps. It streams the log (server-side cursor) and is
independent of the session TimeZone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

__all__ = ["ChainReport", "verify_chain", "payload_bytes"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEP = "\x1f"


@dataclass(frozen=True)
class ChainReport:
    """Outcome of a verification: rows checked, the head, and the first break if any."""

    rows: int
    head_seq: int | None
    head_hash: str | None
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def payload_bytes(seq: int, at: datetime, actor: str, request_id: str | None, table: str,
                  row_key: str | None, op: str, before_text: str | None, after_text: str | None) -> bytes:
    """The bytes a row's hash covers (mirrors ``onemap_audit_payload`` in SQL)."""
    at_us = (at - _EPOCH) // timedelta(microseconds=1)
    parts = [str(seq), str(at_us), actor, request_id or "", table, row_key or "", op,
             before_text or "", after_text or ""]
    return _SEP.join(parts).encode("utf-8")


def verify_chain(conninfo: str) -> ChainReport:
    """Recompute the whole chain of the database at ``conninfo`` (libpq string)."""
    prev_hash: bytes | None = None
    prev_seq = 0
    rows = 0
    with psycopg.connect(conninfo) as conn, conn.cursor(name="audit_verify") as cur:
        cur.itersize = 5000
        cur.execute(
            "SELECT seq, at, actor, request_id, table_name, row_key, op, before::text, after::text, "
            "prev_hash, hash FROM audit_log ORDER BY seq"
        )
        for seq, at, actor, req, table, key, op, before, after, stored_prev, stored in cur:
            rows += 1
            if seq != prev_seq + 1:
                return ChainReport(rows, prev_seq, _hex(prev_hash), seq, f"sequence gap after {prev_seq}")
            stored_prev = bytes(stored_prev) if stored_prev is not None else None
            if stored_prev != prev_hash:
                return ChainReport(rows, prev_seq, _hex(prev_hash), seq, "prev_hash does not match the previous row")
            expect = hashlib.sha256((prev_hash or b"") + payload_bytes(
                seq, at, actor, req, table, key, op, before, after)).digest()
            if bytes(stored) != expect:
                return ChainReport(rows, prev_seq, _hex(prev_hash), seq, "row content does not match its hash")
            prev_hash, prev_seq = expect, seq
    return ChainReport(rows, prev_seq or None, _hex(prev_hash))


def _hex(b: bytes | None) -> str | None:
    return b.hex() if b is not None else None
