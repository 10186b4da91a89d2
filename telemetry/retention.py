"""Retention of readings: old days archived to gzip CSV, then dropped, each step recorded.

Readings are partitioned by China-time day (``readings_pYYYYMMDD``, migration
0013); a day older than the kept window is removed whole, which is cheap
(``DROP TABLE`` of one partition) and leaves no bloat. Rows that landed in
``readings_default`` (a site replaying a buffer older than the partitions)
are removed by time.

For each day, in one transaction, as the owner role (the maintenance path):

1. ``LOCK`` the partition ``IN SHARE MODE``: late readings for that day wait,
   so the archive holds every row the drop removes;
2. ``COPY`` its rows (``sensor_id, ts, seq, value, quality, received_at,
   source``, ordered by sensor and time) into ``<dir>/readings_pYYYYMMDD.csv.gz``
   (written to a temporary name, flushed to disk, then renamed), counting
   rows and hashing the file (SHA-256);
3. check the count against ``count(*)`` under the lock;
4. insert a ``reading_archives`` row (migration 0017: append-only, audited)
   with the path, size and hash, or none with ``archive_dir=None``;
5. ``DROP TABLE`` the partition; ``COMMIT``.

A failure at any step rolls the day back: the partition stays, and a
leftover archive file is overwritten by the next run.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from geo.errors import InvalidInput
from telemetry.store import PARTITION_DAYS_BEHIND, PARTITION_TZ

__all__ = ["Removal", "plan_removals", "prune", "MIN_KEEP_DAYS", "COLUMNS"]

CST = PARTITION_TZ  # the partitions' day boundaries
MIN_KEEP_DAYS = PARTITION_DAYS_BEHIND + 1  # today and the days the ingest worker keeps partitions for
COLUMNS = ("sensor_id", "ts", "seq", "value", "quality", "received_at", "source")
_PARTITION = re.compile(r"^readings_p(\d{8})$")
_DEFAULT = "readings_default"


@dataclass(frozen=True)
class Removal:
    """One step of a prune: a day partition, or the default partition's rows before ``before``."""

    partition: str
    day: date | None  # None: readings_default
    before: datetime  # rows with ts < before go (the day's end for a partition)
    rows: int = 0
    archive: Path | None = None
    archive_bytes: int | None = None
    archive_sha256: str | None = None


def _cutoff(today: date, keep_days: int) -> date:
    if not isinstance(keep_days, int) or isinstance(keep_days, bool) or keep_days < MIN_KEEP_DAYS:
        raise InvalidInput("keep_days", f"must be a whole number of days, at least {MIN_KEEP_DAYS} "
                                        f"(today and the days the ingest worker writes)")
    return today - timedelta(days=keep_days - 1)  # keep today and keep_days - 1 days before it


def plan_removals(conn: psycopg.Connection, *, keep_days: int, today: date) -> list[Removal]:
    """What a prune would remove: day partitions before the kept window (oldest first), then old default rows."""
    first_kept = _cutoff(today, keep_days)
    before = datetime.combine(first_kept, time(), CST)
    names = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'readings'::regclass ORDER BY c.relname")]
    out = []
    for name in names:
        m = _PARTITION.match(name)
        if m is None:
            continue
        day = datetime.strptime(m.group(1), "%Y%m%d").date()
        if day < first_kept:
            out.append(Removal(name, day, datetime.combine(day + timedelta(days=1), time(), CST)))
    if _DEFAULT in names and conn.execute(f"SELECT EXISTS (SELECT 1 FROM {_DEFAULT} WHERE ts < %s)",
                                          (before,)).fetchone()[0]:
        out.append(Removal(_DEFAULT, None, before))
    return out


def _check_dir(archive_dir: Path) -> Path:
    archive_dir = Path(archive_dir)
    try:
        archive_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput("archive_dir", f"cannot create {archive_dir}: {exc.strerror}") from None
    if not os.access(archive_dir, os.W_OK | os.X_OK):
        raise InvalidInput("archive_dir", f"{archive_dir} is not writable")
    return archive_dir


def _copy_to_file(cur: psycopg.Cursor, query: sql.Composable, path: Path) -> tuple[int, int, str]:
    """COPY ``query`` as CSV with a header into gzip ``path``: data rows, file bytes, SHA-256 of the file."""
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(filename=path.name.removesuffix(".gz"), mode="wb", fileobj=raw, mtime=0) as gz, \
                    cur.copy(sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(query)) as copy:
                for chunk in copy:
                    gz.write(chunk)
            rows = cur.rowcount  # from the COPY command tag
            raw.flush()
            os.fsync(raw.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    digest = hashlib.sha256()
    with open(tmp, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    size = tmp.stat().st_size
    os.replace(tmp, path)
    return rows, size, digest.hexdigest()


def _remove(conn: psycopg.Connection, step: Removal, archive_dir: Path | None) -> Removal:
    cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    table = sql.Identifier(step.partition)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT set_config('onemap.actor', %s, true)", ("onemap telemetry prune",))
        if step.day is not None:
            cur.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(table))
            expected = cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
            query = sql.SQL("SELECT {} FROM {} ORDER BY sensor_id, ts").format(cols, table)
        else:  # the default partition: the old rows go in the same statement that archives them
            expected = None
            query = sql.SQL("DELETE FROM {} WHERE ts < {} RETURNING {}").format(table, sql.Literal(step.before), cols)
        archive = size = sha = None
        if archive_dir is not None:
            stem = step.partition if step.day is not None else f"{_DEFAULT}_before_{step.before:%Y%m%d}"
            archive = archive_dir / f"{stem}.csv.gz"
            rows, size, sha = _copy_to_file(cur, query, archive)
        elif step.day is not None:
            rows = expected
        else:
            rows = cur.execute(sql.SQL("DELETE FROM {} WHERE ts < %s").format(table), (step.before,)).rowcount
        if expected is not None and rows != expected:
            raise RuntimeError(f"{step.partition}: archived {rows} rows of {expected}; nothing dropped")
        cur.execute("INSERT INTO reading_archives (partition_name, day, before, rows, archive_path, archive_bytes, "
                    "archive_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (step.partition, step.day, step.before, rows, None if archive is None else str(archive.resolve()),
                     size, sha))
        if step.day is not None:
            cur.execute(sql.SQL("DROP TABLE {}").format(table))
    return Removal(step.partition, step.day, step.before, rows, archive, size, sha)


def prune(dsn: str, *, keep_days: int, archive_dir: Path | None, today: date | None = None,
          dry_run: bool = False, progress: Callable[[Removal, int, int], None] | None = None) -> list[Removal]:
    """Remove readings older than ``keep_days`` (today, China time, counts as one), archiving them first.

    ``archive_dir=None`` drops without an archive (the record says so).
    ``dry_run`` only lists what would go. ``progress(step, i, n)`` after each
    step. Returns the steps done (or planned), with row counts and archives.
    """
    today = today or datetime.now(CST).date()
    _cutoff(today, keep_days)
    if archive_dir is not None and not dry_run:
        archive_dir = _check_dir(archive_dir)
    with psycopg.connect(dsn, autocommit=True, application_name="onemap-prune") as conn:
        steps = plan_removals(conn, keep_days=keep_days, today=today)
        if dry_run:
            return steps
        done = []
        for i, step in enumerate(steps, 1):
            done.append(_remove(conn, step, archive_dir))
            if progress is not None:
                progress(done[-1], i, len(steps))
        return done
