"""Hidden-danger statistics by region and period (隐患排查治理统计), under row-level security.

For the dangers *found* in the period (``found_on`` between ``date_from`` and
``date_to``, both inclusive, either open-ended), per region of the chosen
level:

``found``
    dangers found (not soft-deleted);
``major``
    of them, major (重大事故隐患);
``rectified``
    verified or closed (整改完成并验收);
``closed``
    closed (销号);
``open``
    not closed;
``overdue``
    deadline before ``as_of`` and not yet verified or closed
    (:func:`workflows.hidden_dangers.is_overdue`);
``supervised``
    listed for supervision (``supervising_level`` set, 挂牌督办), any status;
``rectification_rate``
    ``rectified / found`` (None when nothing was found), four decimals;
``repeats``
    dangers found at an enterprise in a category in which the same enterprise
    already had a danger found earlier in the period (a group of *n* dangers
    adds *n − 1*);
``repeat_groups``
    (enterprise, category) pairs with two or more dangers in the period.

A danger counts in the region of its own ``adcode``. The caller sees only
what row-level security lets it see; regions listed are those of the level
inside (or containing) the asked region, or the caller's jurisdiction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Text, and_, func, literal, select
from sqlalchemy.orm import Session

from geo.context import RequestContext
from geo.models import HiddenDanger, Region
from layers.features import InvalidQuery, region_prefix
from workflows.hidden_dangers import OPEN_STATUSES

__all__ = ["danger_stats", "METRICS"]

METRICS = ("found", "major", "rectified", "closed", "open", "overdue", "supervised", "repeats", "repeat_groups")
_LEVELS = ("province", "city", "county")
_PREFIX_LEN = {"province": 2, "city": 4, "county": 6}


def _key(column, level: str):
    if level == "county":
        return column
    return func.left(column, _PREFIX_LEN[level]) + literal("0" * (6 - _PREFIX_LEN[level]), Text)


def _rate(rectified: int, found: int) -> float | None:
    return round(rectified / found, 4) if found else None


def danger_stats(session: Session, *, ctx: RequestContext, adcode: str | None = None, level: str = "county",
                 date_from: dt.date | None = None, date_to: dt.date | None = None,
                 as_of: dt.date | None = None) -> dict[str, Any]:
    """Per region of ``level``: the :data:`METRICS` and the rate; plus ``total`` over all regions.

    ``{"level", "adcode", "from", "to", "as_of", "data": [{adcode, name, level, parent_adcode,
    found, …, rectification_rate}], "count", "total": {…}}``. A bad ``level``,
    ``adcode`` or an empty period is :class:`~layers.features.InvalidQuery` (400).
    """
    if level not in _LEVELS:
        raise InvalidQuery("level", f"must be one of {', '.join(_LEVELS)}")
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidQuery("from", f"must be on or before to ({date_to.isoformat()})")
    prefix = region_prefix(session, adcode)
    scope = prefix if prefix is not None else (None if ctx.role == "public" else ctx.jurisdiction)
    day = as_of or session.execute(select(func.current_date())).scalar_one()

    regions = []
    for r in session.execute(select(Region.adcode, Region.name, Region.level, Region.parent_adcode)
                             .where(Region.level == level).order_by(Region.adcode)):
        own = r.adcode[:_PREFIX_LEN[level]]
        if scope is None or own.startswith(scope) or scope.startswith(own):
            regions.append(r)

    d = HiddenDanger
    key = _key(d.adcode, level).label("key")
    where = [d.valid_to.is_(None)]
    if scope is not None:
        where.append(d.adcode.startswith(scope, autoescape=True))
    if date_from is not None:
        where.append(d.found_on >= date_from)
    if date_to is not None:
        where.append(d.found_on <= date_to)
    ranked = select(key, d.level, d.status, d.deadline, d.supervising_level,
                    func.row_number().over(partition_by=(key, d.enterprise_id, d.category),
                                           order_by=(d.found_on, d.id)).label("rn")).where(*where).subquery()
    s = ranked.c
    done = s.status.in_(("verified", "closed"))
    stmt = select(
        s.key, func.count(), func.count().filter(s.level == "major"), func.count().filter(done),
        func.count().filter(s.status == "closed"), func.count().filter(s.status != "closed"),
        func.count().filter(and_(s.deadline < day, s.status.in_(OPEN_STATUSES))),
        func.count().filter(s.supervising_level.is_not(None)),
        func.count().filter(s.rn > 1), func.count().filter(s.rn == 2),
    ).group_by(s.key)
    counted = {row[0]: dict(zip(METRICS, row[1:], strict=True)) for row in session.execute(stmt)}

    data = []
    total = dict.fromkeys(METRICS, 0)
    for r in regions:
        metrics = counted.get(r.adcode, dict.fromkeys(METRICS, 0))
        for k in METRICS:
            total[k] += metrics[k]
        data.append({"adcode": r.adcode, "name": r.name, "level": r.level, "parent_adcode": r.parent_adcode,
                     **metrics, "rectification_rate": _rate(metrics["rectified"], metrics["found"])})
    total["rectification_rate"] = _rate(total["rectified"], total["found"])
    return {"level": level, "adcode": adcode, "from": date_from and date_from.isoformat(),
            "to": date_to and date_to.isoformat(), "as_of": day.isoformat(), "data": data, "count": len(data),
            "total": total}
