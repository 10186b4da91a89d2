"""Stored GB 18218-2018 assessments: who is exposed, what the inventory makes of a unit, and the record.

:func:`layers.hazards.assess_unit` is the standard (pure, no database). This
module feeds it from the database and keeps the result:

* :func:`exposed_people_500m` — people normally present within 500 m of a unit
  (protection targets, plus an imported H3 population surface when one is loaded);
* :func:`assess_units` — assess units and store S, R, grade, α and a note on
  ``hazard_units``, appending every assessment to ``hazard_assessments``
  (append-only, audited) with the inputs it used;
* :func:`assess_pending` — drain ``hazard_assessment_queue`` (filled by triggers
  when an inventory, a unit or a protection target within 500 m changes);
* :func:`assess_all` — every active unit, in batches (``onemap hazards assess --all``);
* :func:`assessment_history` — a unit's assessments, newest first.

The 500 m rule. GB 18218-2018 §4.3 takes α (Table 5) from the people normally
present *outside the plant boundary within 500 m of it*. OneMap holds no
plant-boundary polygons, so the distance is measured from the unit's point:
the sum of ``population`` of active protection targets whose geometry lies
within 500 m (geodesic, WGS84), plus the population of the res-9 H3 cells of
``population_cells`` whose centre lies within 500 m (that surface holds
residents not already counted as targets). People inside the plant are not
protection targets, so they are not counted.

Whose view counts. A complete count needs every protection target, which only
the owner role (maintenance jobs, the CLI) sees. A user's edit runs under
row-level security: it sees the targets of its own jurisdiction (an
enterprise user: only public ones) and cannot read ``population_cells``. So
:func:`assess_pending` called inside a user's edit stores a *provisional*
assessment (people: the count last stored for an inventory-only change, else
what the user sees; the history row says which) and leaves the units queued;
the maintenance job (``onemap hazards assess``) recounts with the full view and
empties the queue. Units the user may not write are not touched at all.

Writes are few statements per batch: one read of the units, one of their
inventories, one exposure query, one ``UPDATE … FROM jsonb_to_recordset`` and
one ``INSERT … SELECT`` into the history. ``hazard_units`` rows are only
rewritten when a stored value changes (their ``version`` moves with every
write), so ``hazard_units.assessed_at`` is when the stored values were last
established; every assessment, changed or not, is a history row. The caller
owns the transaction (except :func:`assess_all`, which commits per batch).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    and_,
    any_,
    bindparam,
    cast,
    column,
    func,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from geo import h3grid
from geo.errors import NotFound
from geo.models import HazardUnit, InventoryRow, ProtectionTarget
from layers.hazards import (
    STANDARD,
    AmbiguousChemical,
    CategoryNeeded,
    Contribution,
    HazardError,
    UnitAssessment,
    UnknownChemical,
    assess_unit,
    exposure_alpha,
    hazard_category,
    lookup_chemical,
)

__all__ = [
    "RADIUS_M",
    "POPULATION_RES",
    "AssessmentSummary",
    "exposed_people_500m",
    "assess_units",
    "assess_pending",
    "assess_all",
    "assessment_history",
]

#: GB 18218-2018 Table 5: people within this distance (metres) set α.
RADIUS_M = 500.0
#: H3 resolution of ``population_cells``.
POPULATION_RES = 9
#: Degrees that surely exceed 500 m anywhere in China (0.01° of longitude ≥ 660 m up to 53.6° N):
#: the planar prefilter that lets the GiST index work before the geodesic test.
_PREFILTER_DEG = 0.01

_queue = table("hazard_assessment_queue", column("hazard_unit_id"), column("reason"), column("queued_at"))
_population = table("population_cells", column("h3"), column("population"))
_history = table("hazard_assessments", column("id"), column("hazard_unit_id"), column("assessed_at"),
                 column("standard"), column("s"), column("r"), column("grade"), column("is_major"),
                 column("alpha"), column("exposed_people_500m"), column("contributions"), column("inputs"),
                 column("note"), column("reason"), column("actor"))

#: Kinds of assessment notes (keys of :attr:`AssessmentSummary.notes`).
NOTE_KINDS = ("category_needed", "unknown_chemical", "invalid_inventory")


def _ids_param(name: str, ids: Iterable[int]):
    return bindparam(name, [int(i) for i in ids], type_=ARRAY(BigInteger))


# --------------------------------------------------------------------------- summary


@dataclass
class AssessmentSummary:
    """What a run did.

    Attributes
    ----------
    units : int
        Units assessed (one history row each).
    major : int
        Of those, major hazard installations (S ≥ 1).
    graded : int
        Of those, with a grade (R computed).
    updated : int
        ``hazard_units`` rows whose stored values changed (rewritten).
    skipped : int
        Asked for but not assessed: decommissioned, unknown, or not writable by the caller.
    provisional : int
        Assessed with a partial view of the people within 500 m (left queued for a recount).
    notes : dict of str to int
        Units with a note, by kind (:data:`NOTE_KINDS`).
    seconds : float
        Wall time.
    updated_ids : set of int
        The units counted in ``updated``.
    """

    units: int = 0
    major: int = 0
    graded: int = 0
    updated: int = 0
    skipped: int = 0
    provisional: int = 0
    notes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    updated_ids: set[int] = field(default_factory=set, repr=False)

    def add(self, other: AssessmentSummary) -> None:
        """Add another run's counts to this one (not ``seconds``)."""
        for name in ("units", "major", "graded", "updated", "skipped", "provisional"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.notes = dict(Counter(self.notes) + Counter(other.notes))
        self.updated_ids |= other.updated_ids

    def as_dict(self) -> dict[str, Any]:
        """The counts as a JSON-ready dict."""
        out = dataclasses.asdict(self)
        out.pop("updated_ids")
        out["seconds"] = round(self.seconds, 3)
        return out

    def as_text(self) -> str:
        """Lines for a terminal."""
        notes = ", ".join(f"{k} {v:,}" for k, v in sorted(self.notes.items())) or "none"
        lines = [f"assessed {self.units:,} units ({STANDARD}) in {self.seconds:.1f} s",
                 f"  major {self.major:,}, graded {self.graded:,}, stored values changed {self.updated:,}",
                 f"  notes: {notes}"]
        if self.skipped:
            lines.append(f"  skipped {self.skipped:,} (decommissioned, gone or not yours to write)")
        if self.provisional:
            lines.append(f"  provisional {self.provisional:,} (people counted from a partial view; left queued)")
        return "\n".join(lines)


# --------------------------------------------------------------------------- exposure


def _full_view(conn: Connection) -> bool:
    """True when the connection sees every row: the tables' owner (or a superuser), not a request under RLS."""
    return bool(conn.execute(text(
        "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c "
        "WHERE c.oid = 'protection_targets'::regclass")).scalar())


def _population_cells_usable(conn: Connection) -> bool:
    """``population_cells`` is readable by this role and holds rows."""
    if not conn.execute(text("SELECT has_table_privilege('population_cells', 'SELECT')")).scalar():
        return False
    return bool(conn.execute(select(select(_population.c.h3).limit(1).exists())).scalar())


def _target_people(conn: Connection, ids: Sequence[int]) -> dict[int, int]:
    h, t = HazardUnit.__table__, ProtectionTarget.__table__
    near = and_(t.c.valid_to.is_(None),
                func.ST_DWithin(h.c.geom, t.c.geom, _PREFILTER_DEG),
                func.ST_DWithin(cast(h.c.geom, Geography), cast(t.c.geom, Geography), RADIUS_M))
    stmt = (select(h.c.id, func.coalesce(func.sum(t.c.population), 0))
            .select_from(h.outerjoin(t, near))
            .where(h.c.id == any_(_ids_param("ids", ids)))
            .group_by(h.c.id))
    return {int(i): int(n) for i, n in conn.execute(stmt)}


def _cell_people(conn: Connection, ids: Sequence[int]) -> dict[int, float]:
    h = HazardUnit.__table__
    where = conn.execute(select(h.c.id, func.ST_X(h.c.geom), func.ST_Y(h.c.geom))
                         .where(h.c.id == any_(_ids_param("ids", ids)))).all()
    disks = {int(i): h3grid.cells_in_disk(float(x), float(y), RADIUS_M, POPULATION_RES).astype(np.int64)
             for i, x, y in where}
    wanted = np.unique(np.concatenate(list(disks.values()))) if disks else np.zeros(0, np.int64)
    if not wanted.size:
        return dict.fromkeys(disks, 0.0)
    found = dict(conn.execute(select(_population.c.h3, _population.c.population)
                              .where(_population.c.h3 == any_(_ids_param("cells", wanted.tolist())))).all())
    return {i: float(sum(found.get(int(c), 0.0) for c in cells)) for i, cells in disks.items()}


def exposed_people_500m(conn: Connection, unit_ids: Iterable[int]) -> dict[int, int]:
    """People normally present within 500 m of each unit (GB 18218-2018 Table 5 input).

    Parameters
    ----------
    conn : Connection
        Counts what this connection sees: the owner role sees every protection
        target; a request under row-level security only its own (see the module
        docstring). ``population_cells`` is added when it is readable and not empty.
    unit_ids : iterable of int
        Hazard units; ids the connection cannot see are left out of the answer.

    Returns
    -------
    dict of int to int
        Unit id → people, rounded to the nearest whole person. Decommissioned
        units are counted too (their place still has neighbours).

    Notes
    -----
    Distance is geodesic from the unit's point (no plant boundaries are held).
    A target counts with its whole ``population`` when any part of its
    geometry is within 500 m; a population cell when its centre is.
    """
    ids = sorted({int(i) for i in unit_ids})
    if not ids:
        return {}
    people: dict[int, float] = {i: float(n) for i, n in _target_people(conn, ids).items()}
    if people and _population_cells_usable(conn):
        for i, n in _cell_people(conn, list(people)).items():
            people[i] = people.get(i, 0.0) + n
    return {i: int(math.floor(n + 0.5)) for i, n in people.items()}


# --------------------------------------------------------------------------- one unit


@dataclass
class _Outcome:
    assessment: UnitAssessment | None  # None: nothing could be computed (see note)
    note: str | None
    kind: str | None  # NOTE_KINDS entry


class _Names:
    """Per-batch cache of chemical-name and category checks (the same few names recur)."""

    def __init__(self) -> None:
        self.chemicals: dict[str, HazardError | None] = {}
        self.categories: dict[str, HazardError | list[str]] = {}

    def chemical(self, name: str) -> HazardError | None:
        if name not in self.chemicals:
            try:
                lookup_chemical(name)
                self.chemicals[name] = None
            except UnknownChemical as exc:  # also AmbiguousChemical
                self.chemicals[name] = exc
        return self.chemicals[name]

    def category(self, value: str) -> HazardError | list[str]:
        if value not in self.categories:
            symbols = [s.strip() for s in value.split(",") if s.strip()]
            try:
                self.categories[value] = [hazard_category(s).symbol for s in symbols]
            except HazardError as exc:
                self.categories[value] = exc
        return self.categories[value]


def _evaluate(rows: Sequence[Mapping[str, Any]], people: int, names: _Names) -> _Outcome:
    """Assess one unit's stored inventory rows (those with a quantity above 0 t)."""
    items: list[dict[str, Any]] = []
    for row in rows:
        chem, q, category = row["chemical"], row["max_quantity_t"], row["category"]
        cats: list[str] | None = None
        if category:
            parsed = names.category(category)
            if isinstance(parsed, HazardError):
                return _Outcome(None, f"{chem}: category {category!r}: {parsed.reason}", "invalid_inventory")
            cats = parsed
        problem = names.chemical(chem)
        if problem is None:
            items.append({"chemical": chem, "quantity_t": q, **({"category": cats} if cats else {})})
        elif cats:  # §4.1 b): not a Table 1 row (as named): Q and β by its hazard category
            items.append({"category": cats, "label": chem, "quantity_t": q})
        else:
            what = ("matches a Table 1 row only under a condition" if isinstance(problem, AmbiguousChemical)
                    else "is not in Table 1")
            hint = f" (close: {', '.join(problem.suggestions[:3])})" if problem.suggestions else ""
            return _Outcome(None, f"{chem!r} {what}{hint}: use the full Table 1 name, or give the row's "
                                  f"Table 2 hazard category (e.g. 'W5.3') so that Q and β come from Tables 2 and 4",
                            "unknown_chemical")
    if not items:  # nothing stored above 0 t: S = 0
        return _Outcome(UnitAssessment(s=0.0, is_major=False, r=None, grade=None,
                                       alpha=exposure_alpha(people), exposed_people_500m=people,
                                       contributions=()), None, None)
    try:
        return _Outcome(assess_unit(items, exposed_people_500m=people), None, None)
    except CategoryNeeded:
        a = assess_unit(items, exposed_people_500m=people, grade=False)
        missing = [c.chemical or c.given or "?" for c in a.contributions if c.beta is None]
        return _Outcome(a, f"major (S = {a.s:.4g}) but not graded: {STANDARD} §4.3 takes β of "
                           f"{', '.join(missing)} from Table 4 by hazard category; set 'category' on "
                           f"{'that inventory row' if len(missing) == 1 else 'those inventory rows'} "
                           "(e.g. 'W5.3', 'J3,W2')", "category_needed")
    except HazardError as exc:
        return _Outcome(None, str(exc), "invalid_inventory")


# --------------------------------------------------------------------------- batches

_UNITS = text("""
SELECT h.id, h.valid_to IS NULL AS active, h.exposed_people_500m AS stored_people
FROM hazard_units h
WHERE h.id = ANY(:ids) AND (:full OR onemap_may_write(h.adcode, h.enterprise_id))
""").bindparams(_ids_param("ids", []))

_UPDATE = text("""
UPDATE hazard_units h
SET s = v.s, r = v.r, grade = v.grade, is_major = v.is_major, alpha = v.alpha,
    exposed_people_500m = v.exposed_people_500m, assessment_note = v.note, assessed_at = now()
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id bigint, s float8, r float8, grade smallint,
     is_major boolean, alpha float8, exposed_people_500m integer, note text)
WHERE h.id = v.id
  AND (h.s, h.r, h.grade, h.is_major, h.alpha, h.exposed_people_500m, h.assessment_note)
      IS DISTINCT FROM (v.s, v.r, v.grade, v.is_major, v.alpha, v.exposed_people_500m, v.note)
RETURNING h.id
""")

_UPDATE_NOTE = text("""
UPDATE hazard_units h SET assessment_note = v.note
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id bigint, note text)
WHERE h.id = v.id AND h.assessment_note IS DISTINCT FROM v.note
RETURNING h.id
""")

_APPEND = text("""
INSERT INTO hazard_assessments (hazard_unit_id, standard, s, r, grade, is_major, alpha, exposed_people_500m,
                                contributions, inputs, note, reason)
SELECT v.id, :standard, v.s, v.r, v.grade, v.is_major, v.alpha, v.exposed_people_500m,
       v.contributions, v.inputs, v.note, v.reason
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id bigint, s float8, r float8, grade smallint,
     is_major boolean, alpha float8, exposed_people_500m integer, contributions jsonb, inputs jsonb,
     note text, reason text)
ORDER BY v.id
""")

_BASIS_FULL = "all active protection targets within 500 m{cells}"
_BASIS_STORED = "as last stored (inventory change under a user's view; recounted by the maintenance job)"
_BASIS_VISIBLE = ("protection targets visible to the editing user within 500 m "
                  "(provisional: recounted by the maintenance job)")


_CONTRIBUTION_FIELDS = tuple(f.name for f in dataclasses.fields(Contribution))


def _contribution(c: Contribution) -> dict[str, Any]:
    """A contribution as JSON-ready dict (``dataclasses.asdict`` without its deep copies: 5x faster)."""
    out = {name: getattr(c, name) for name in _CONTRIBUTION_FIELDS}
    out["categories"] = list(c.categories)
    return out


def _inventories(conn: Connection, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    inv = InventoryRow.__table__
    stmt = (select(inv.c.hazard_unit_id, inv.c.chemical, inv.c.cas, inv.c.max_quantity_t, inv.c.category)
            .where(inv.c.hazard_unit_id == any_(_ids_param("ids", ids)), inv.c.max_quantity_t > 0)
            .order_by(inv.c.hazard_unit_id, inv.c.id))
    out: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(stmt).mappings():
        out.setdefault(int(row["hazard_unit_id"]), []).append(dict(row))
    return out


def _assess(conn: Connection, reasons: Mapping[int, str], *, full: bool) -> AssessmentSummary:
    """Assess the units in ``reasons`` (id → reason) in one batch; see :func:`assess_units`."""
    summary = AssessmentSummary()
    units = conn.execute(_UNITS, {"ids": list(reasons), "full": full}).mappings().all()
    active = [int(u["id"]) for u in units if u["active"]]
    summary.skipped = len(reasons) - len(active)
    if not active:
        return summary
    inventories = _inventories(conn, active)
    counted = exposed_people_500m(conn, active)
    stored = {int(u["id"]): u["stored_people"] for u in units}
    cells = " and population cells whose centre is within 500 m" if full and _population_cells_usable(conn) else ""
    names = _Names()
    full_rows: list[dict[str, Any]] = []
    note_rows: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for uid in active:
        reason = reasons[uid]
        if full:
            people, basis = counted.get(uid, 0), _BASIS_FULL.format(cells=cells)
        elif reason == "inventory" and stored.get(uid) is not None:
            people, basis = int(stored[uid]), _BASIS_STORED
        else:
            people, basis = counted.get(uid, 0), _BASIS_VISIBLE
        if not full:
            summary.provisional += 1
        rows = inventories.get(uid, [])
        outcome = _evaluate(rows, people, names)
        a = outcome.assessment
        inputs = {"inventory": [{k: r[k] for k in ("chemical", "cas", "max_quantity_t", "category")} for r in rows],
                  "exposed_people_500m": people, "people_basis": basis, "radius_m": RADIUS_M}
        values = {"id": uid, "note": outcome.note}
        if a is not None:
            values |= {"s": a.s, "r": a.r, "grade": a.grade, "is_major": a.is_major, "alpha": a.alpha,
                       "exposed_people_500m": a.exposed_people_500m}
            full_rows.append(values)
            summary.major += a.is_major
            summary.graded += a.grade is not None
        else:
            note_rows.append(values)
        if outcome.kind:
            summary.notes[outcome.kind] = summary.notes.get(outcome.kind, 0) + 1
        contributions = [] if a is None else [_contribution(c) for c in a.contributions]
        history.append({**values, "alpha": None if a is None else a.alpha,
                        "exposed_people_500m": people, "contributions": contributions,
                        "inputs": inputs, "reason": reason})
    for stmt, rows in ((_UPDATE, full_rows), (_UPDATE_NOTE, note_rows)):
        if rows:
            summary.updated_ids |= set(conn.execute(stmt, {"rows": json.dumps(rows, ensure_ascii=False)}).scalars())
    conn.execute(_APPEND, {"rows": json.dumps(history, ensure_ascii=False), "standard": STANDARD})
    summary.units = len(history)
    summary.updated = len(summary.updated_ids)
    return summary


def assess_units(conn: Connection, unit_ids: Iterable[int], *, reason: str) -> AssessmentSummary:
    """Assess units now and store the result (GB 18218-2018 §4); the caller commits.

    For each active unit: read its inventory (rows above 0 t), count the people
    within 500 m, run :func:`layers.hazards.assess_unit`, store ``s``, ``r``,
    ``grade``, ``is_major``, ``alpha``, ``exposed_people_500m``,
    ``assessment_note`` (and ``assessed_at``) on ``hazard_units`` when any of
    them changed, and append a ``hazard_assessments`` row either way.

    * empty inventory: S = 0, not major;
    * a major unit whose β needs a category that is missing: S and ``is_major``
      stored, R and grade NULL, the note names the chemicals;
    * an unknown chemical (not in Table 1 and no category) or a bad category:
      only the note changes (the previous values stay); the history row holds
      the note with S, R and grade empty;
    * decommissioned units (``valid_to`` set), ids that do not exist, and — on a
      connection under row-level security — units the caller may not write:
      nothing is written (``skipped``).

    Parameters
    ----------
    conn : Connection
        The owner role for a complete count of people; a user's session gives a
        provisional one (module docstring).
    unit_ids : iterable of int
        Any number; processed in one batch (split large sets, see :func:`assess_all`).
    reason : str
        Stored with each history row (``inventory``, ``unit``, ``protection_target``, ``full``, …).
    """
    t0 = time.perf_counter()
    ids = sorted({int(i) for i in unit_ids})
    summary = _assess(conn, dict.fromkeys(ids, reason), full=_full_view(conn)) if ids else AssessmentSummary()
    summary.seconds = time.perf_counter() - t0
    return summary


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def assess_pending(conn: Connection, *, limit: int | None = None, this_transaction: bool = False,
                   batch: int = 2000) -> AssessmentSummary:
    """Assess the units waiting in ``hazard_assessment_queue``; the caller commits.

    With the full view (owner role) the queue rows are locked
    (``FOR UPDATE SKIP LOCKED``: concurrent drains share the work, a unit being
    re-queued by an open edit is left for the next run), assessed and deleted.
    Under a user's row-level security (inside an edit) the units the caller may
    write are assessed provisionally and stay queued for the maintenance
    recount; the others are not touched. ``risk_queue`` is never touched.

    Parameters
    ----------
    limit : int, optional
        At most this many queue rows (oldest first).
    this_transaction : bool
        Only units queued by the current transaction (what an edit just changed).
    batch : int
        Units per assessment batch.
    """
    t0 = time.perf_counter()
    full = _full_view(conn)
    q = _queue.c
    stmt = select(q.hazard_unit_id, q.reason).order_by(q.queued_at, q.hazard_unit_id)
    if this_transaction:
        stmt = stmt.where(q.queued_at == func.now())
    if limit is not None:
        stmt = stmt.limit(limit)
    if full:
        stmt = stmt.with_for_update(skip_locked=True)
    else:  # the app role may read and delete queue rows, not lock them; only units it may write
        h = HazardUnit.__table__
        stmt = stmt.join_from(_queue, h, h.c.id == q.hazard_unit_id).where(
            func.onemap_may_write(h.c.adcode, h.c.enterprise_id))
    queued = [(int(i), r) for i, r in conn.execute(stmt)]
    summary = AssessmentSummary()
    for part in _chunks(queued, batch):
        summary.add(_assess(conn, dict(part), full=full))
        if full:
            conn.execute(_queue.delete().where(q.hazard_unit_id == any_(_ids_param("ids", [i for i, _ in part]))))
    summary.seconds = time.perf_counter() - t0
    return summary


def assess_all(engine: Engine, *, batch: int = 2000, progress: bool = False,
               reason: str = "full") -> AssessmentSummary:
    """Recompute every active unit, committing per batch (the owner's engine: a complete count).

    Queue rows of the units of a batch are taken (locked, then deleted) in the
    same transaction, so a unit re-queued meanwhile by an open edit stays queued.
    ``progress`` shows a rich progress bar on the terminal.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    t0 = time.perf_counter()
    h = HazardUnit.__table__
    with engine.connect() as conn:
        ids = list(conn.execute(select(h.c.id).where(h.c.valid_to.is_(None)).order_by(h.c.id)).scalars())
    summary = AssessmentSummary()
    q = _queue.c
    columns = [TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("GB 18218", total=len(ids))
        for part in _chunks(ids, batch):
            with engine.begin() as conn:
                full = _full_view(conn)
                taken = list(conn.execute(select(q.hazard_unit_id).where(
                    q.hazard_unit_id == any_(_ids_param("ids", part))).with_for_update(skip_locked=True)
                ).scalars()) if full else []
                summary.add(_assess(conn, dict.fromkeys(part, reason), full=full))
                if taken:
                    conn.execute(_queue.delete().where(q.hazard_unit_id == any_(_ids_param("ids", taken))))
            bar.advance(task, len(part))
    summary.seconds = time.perf_counter() - t0
    return summary


def assessment_history(conn: Connection, unit_id: int) -> list[dict[str, Any]]:
    """The stored assessments of a unit, newest first (row-level security applies).

    Raises
    ------
    NotFound
        The unit does not exist or the caller may not see it.
    """
    h = HazardUnit.__table__
    if conn.execute(select(h.c.id).where(h.c.id == unit_id)).first() is None:
        raise NotFound(f"hazard_units {unit_id} not found")
    c = _history.c
    stmt = (select(c.id, c.assessed_at, c.standard, c.s, c.r, c.grade, c.is_major, c.alpha,
                   c.exposed_people_500m, c.contributions, c.inputs, c.note, c.reason, c.actor)
            .where(c.hazard_unit_id == unit_id).order_by(c.assessed_at.desc(), c.id.desc()))
    return [dict(row) for row in conn.execute(stmt).mappings()]
