"""Rule tables kept as CSV files (the four-colour risk rules, the credit rules): reading them, and refusals
that name ``file:line.column``.

Blank lines and lines starting with ``#`` are skipped; the first other line is
the header and must be exactly the table's columns; every row has as many
fields. Cells are stripped.

>>> read_rows("# note\\na,b\\n1, 2\\n", "t.csv", ("a", "b"))
[(3, {'a': '1', 'b': '2'})]
>>> read_rows("a,c\\n", "t.csv", ("a", "b"))
Traceback (most recent call last):
...
geo.errors.InvalidInput: t.csv:1.header: columns must be a,b; got 'a,c'
>>> json_number(3.0), json_number(0.1 + 0.2), json_number(None)
(3, 0.3, None)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from geo.errors import InvalidInput

__all__ = ["fail", "read_rows", "require_empty", "row_labels", "read_file", "json_number"]

T = TypeVar("T")


def fail(source: str, line: int, col: str, reason: str) -> InvalidInput:
    """The refusal of one cell: ``InvalidInput("source:line.col", reason)``."""
    return InvalidInput(f"{source}:{line}.{col}", reason)


def read_rows(text: str, source: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """The data rows as (line number, {column: cell}), after checking the header and the field counts."""
    header = None
    rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in next(csv.reader(io.StringIO(line)))]
        if header is None:
            if tuple(cells) != columns:
                raise fail(source, line_no, "header", f"columns must be {','.join(columns)}; got {line.strip()!r}")
            header = cells
            continue
        if len(cells) != len(columns):
            raise fail(source, line_no, "row", f"has {len(cells)} fields, expected {len(columns)}")
        rows.append((line_no, dict(zip(columns, cells, strict=True))))
    if header is None:
        raise fail(source, 1, "header", "no header row: the file is empty")
    return rows


def require_empty(row: dict, cols: Iterable[str], why: str, source: str, line: int) -> None:
    """Refuse a row that fills any of ``cols`` (they mean nothing ``why``)."""
    for col in cols:
        if row[col]:
            raise fail(source, line, col, f"must be empty {why}")


def row_labels(row: dict, source: str, line: int) -> tuple[str, str]:
    """The row's (label_zh, label_en), both required."""
    for col in ("label_zh", "label_en"):
        if not row[col]:
            raise fail(source, line, col, "required: what the row means, shown in explanations")
    return row["label_zh"], row["label_en"]


def read_file(path: str | Path, parse: Callable[..., T]) -> T:
    """``parse(text, source=file name)`` of a UTF-8 file; an unreadable file is refused as ``rules``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("rules", f"cannot read {p.name}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse(text, source=p.name)


def json_number(x: float | None) -> int | float | None:
    """A number for JSON: whole numbers as int (stable, readable), others to 6 decimals."""
    if x is None:
        return None
    return int(x) if float(x).is_integer() else round(float(x), 6)
