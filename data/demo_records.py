"""Synthetic enterprise records for the demo: accidents, enforcement actions, credit ratings.

:func:`add_demo_records` gives a fraction of the current synthetic demo
enterprises one to three records of ``enterprise_records`` (migration 0007),
the same ones for the same seed, registry and ``today``. Every row is marked
``data_source = 'synthetic'`` and its source says 合成演示数据: none of it is a
real enterprise's history. Call it after the registry is loaded; a demo
reload must ``TRUNCATE`` ``enterprise_records`` together with ``enterprises``
(it references them).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import numpy as np
from sqlalchemy import Connection, Engine, text

from geo.errors import InvalidInput

__all__ = ["add_demo_records", "DEMO_SOURCE"]

DEMO_SOURCE = "合成演示数据 (synthetic demo)"

# kind -> (share of records, severities, their probabilities, how far back in days)
_KINDS = {
    "enforcement": (0.50, ("warning", "fine", "confiscation", "suspension", "licence_suspended", "licence_revoked"),
                    (0.30, 0.50, 0.05, 0.10, 0.03, 0.02), 3 * 365),
    "credit": (0.35, ("A", "B", "C", "D", "dishonest"), (0.30, 0.40, 0.18, 0.08, 0.04), 3 * 365),
    "accident": (0.15, ("ordinary", "larger", "major"), (0.86, 0.12, 0.02), 5 * 365),
}
_TEXT = {
    "enforcement": "演示：安全生产行政处罚（{sev}）",
    "credit": "演示：安全生产信用评价结果（{sev}）",
    "accident": "演示：生产安全事故记录（{sev}）",
}


def _insert(conn: Connection, *, fraction: float, seed: int, today: date) -> dict[str, int]:
    if conn.execute(text("SELECT EXISTS (SELECT 1 FROM enterprise_records WHERE data_source = 'synthetic')")).scalar():
        return {}
    ids = np.array(conn.execute(text(
        "SELECT id FROM enterprises WHERE data_source = 'synthetic' AND valid_to IS NULL ORDER BY id")).scalars().all(),
        dtype=np.int64)
    if ids.size == 0:
        return {}
    rng = np.random.default_rng(seed)
    chosen = ids[rng.random(ids.size) < fraction]
    per = rng.integers(1, 4, chosen.size)  # 1-3 records each
    owners = np.repeat(chosen, per)
    kinds = list(_KINDS)
    kind_idx = rng.choice(len(kinds), owners.size, p=[_KINDS[k][0] for k in kinds])
    rows: dict[str, list] = {"e": [], "k": [], "s": [], "d": [], "t": [], "p": []}
    for owner, ki in zip(owners.tolist(), kind_idx.tolist(), strict=True):
        kind = kinds[ki]
        _, severities, probs, back = _KINDS[kind]
        sev = severities[int(rng.choice(len(severities), p=probs))]
        rows["e"].append(owner)
        rows["k"].append(kind)
        rows["s"].append(sev)
        rows["d"].append(today - timedelta(days=int(rng.integers(0, back))))
        rows["t"].append(_TEXT[kind].format(sev=sev))
        rows["p"].append(kind == "enforcement")  # administrative penalties are published
    conn.execute(text(
        "INSERT INTO enterprise_records (enterprise_id, kind, severity, occurred_on, description, source, "
        "is_public, data_source) "
        "SELECT e, k, s, d, t, :src, p, 'synthetic' FROM unnest(CAST(:e AS bigint[]), CAST(:k AS text[]), "
        "CAST(:s AS text[]), CAST(:d AS date[]), CAST(:t AS text[]), CAST(:p AS boolean[])) AS x(e, k, s, d, t, p)"),
        {**rows, "src": DEMO_SOURCE})
    return dict(sorted(Counter(rows["k"]).items()))


def add_demo_records(bind: Engine | Connection, *, fraction: float = 0.06, seed: int = 20261123,
                     today: date | None = None) -> dict[str, int]:
    """Add deterministic synthetic records for about ``fraction`` of the current synthetic enterprises.

    ``bind``: an Engine (its own transaction) or a Connection (the caller's
    transaction, e.g. the demo loader's). Dates fall within the last three
    years (accidents five) before ``today`` (default: the local date).
    Returns the rows added per kind; adds nothing (``{}``) when synthetic
    records already exist or there is no synthetic enterprise.
    """
    if not 0.0 <= fraction <= 1.0:
        raise InvalidInput("fraction", f"must be between 0 and 1, got {fraction!r}")
    today = today or date.today()
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return _insert(conn, fraction=fraction, seed=seed, today=today)
    return _insert(bind, fraction=fraction, seed=seed, today=today)
