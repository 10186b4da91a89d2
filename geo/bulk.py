"""Bulk writes through PostgreSQL ``COPY`` (psycopg 3), with an optional progress callback.

Geometry values are hex EWKB strings (``shapely.to_wkb(..., hex=True,
include_srid=True)``), which PostGIS parses on input. Triggers (the adcode
lookup) and CHECK constraints run for every row, as for any INSERT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from psycopg import sql

__all__ = ["copy_rows", "reset_sequence"]


def copy_rows(dbapi_conn, table: str, columns: Sequence[str], rows: Sequence[tuple],
              *, on_rows: Callable[[int], None] | None = None, batch: int = 5000) -> int:
    """COPY ``rows`` into ``table``; ``on_rows(n)`` is called every ``batch`` rows.

    PostgreSQL refuses ``COPY FROM`` into a table under row-level security, so
    the rows are copied into a temporary staging table of the same shape and
    moved with one ``INSERT … SELECT``: policies, triggers (adcode, audit) and
    CHECKs apply to every row as for any INSERT.
    """
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    stage = sql.Identifier(f"_stage_{table}")
    with dbapi_conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            stage, cols, sql.Identifier(table)))
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
            done = 0
            for row in rows:
                copy.write_row(row)
                done += 1
                if on_rows and done % batch == 0:
                    on_rows(batch)
            if on_rows and done % batch:
                on_rows(done % batch)
        cur.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            sql.Identifier(table), cols, cols, stage))
        cur.execute(sql.SQL("DROP TABLE {}").format(stage))
    return len(rows)


def reset_sequence(dbapi_conn, table: str, column: str = "id") -> None:
    """Move ``table``'s serial sequence past the largest id (after COPY with explicit ids)."""
    with dbapi_conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence({t}, {c}), COALESCE(max({ci}), 0) + 1, false) FROM {ti}")
            .format(t=sql.Literal(table), c=sql.Literal(column), ci=sql.Identifier(column),
                    ti=sql.Identifier(table))
        )
