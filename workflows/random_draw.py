"""The double-random draw (双随机) as a pure function: same inputs, same seed → same result, anywhere.

No database, no clock, no global random state: :func:`draw` reads only its
arguments, so anyone holding the recorded inputs of a draw (published with
it: ``GET /inspections/draws/{id}``) can re-run it — with this module, or with
any implementation of PCG64 and the steps below (algorithm ``onemap-draw/1``).

Inputs
------
* ``pool``: the enterprises that may be drawn, as ``(enterprise id, stratum
  key)`` pairs in ascending id order; the key is the enterprise's risk colour
  (``red``, ``orange``, ``yellow``, ``blue``) or ``unrated``.
* ``roster``: inspector ids, ascending.
* ``exclusions``: ``(inspector id, enterprise id)`` pairs that may not meet
  (a declared conflict of interest, or the inspector inspected that
  enterprise recently).
* ``strata``: in the order given, each with the keys it takes, a size
  (``count``, or ``proportion`` of its members) and optional weights per key.
* ``team_size`` (≥ 2) and ``seed`` (0 ≤ seed < 2^63).

Algorithm ``onemap-draw/1``
---------------------------
One generator for the whole draw: ``numpy.random.Generator(PCG64(seed))``;
``u`` below are its doubles in [0, 1) (``Generator.random``: the top 53 bits of
each 64-bit output × 2^-53), taken in exactly this order:

1. For each stratum in order: its members are the pool entries whose key it
   takes, by ascending id (``n`` of them). Its size is ``count``, or
   ``ceil(proportion × n)`` computed exactly in decimal. Draw one ``u`` per
   member, in member order (always ``n`` of them, even when the size is 0).
   Each member gets the key ``ln(1 − u) / w`` (``w``: its weight, default 1);
   the ``size`` members with the largest keys are drawn (ties: smaller id
   first). This is weighted sampling without replacement (Efraimidis and
   Spirakis, 2006): with all weights 1, every subset of that size is equally
   likely; a member of weight 3 is about three times as likely to be drawn as
   one of weight 1 when the size is small against ``n``.
2. The tasks are the drawn members, stratum by stratum, each stratum's by
   ascending id; ``seq`` counts them from 1.
3. For each task in order: its eligible inspectors are the roster minus those
   excluded with its enterprise, by ascending id (``m`` of them; fewer than
   ``team_size`` is an error naming the enterprise). Draw one ``u`` per
   eligible inspector, in that order. The team is the first ``team_size``
   inspectors ordered by (tasks already assigned to them in this draw, ``u``,
   id): random, but the work is spread evenly. The first is the team leader
   (组长).

The result digest is the SHA-256 of the canonical JSON of
``[[seq, enterprise id, stratum name, [inspector ids]], ...]`` (no spaces,
ASCII only): :func:`result_digest`.

>>> pool = ((1, "red"), (2, "blue"), (3, "blue"), (4, "red"), (5, "yellow"))
>>> strata = (Stratum("high", ("red",), count=1), Stratum("rest", ("yellow", "blue"), proportion=Decimal("0.5")))
>>> tasks = draw(pool=pool, roster=(10, 11, 12), exclusions=frozenset(), strata=strata, team_size=2, seed=7)
>>> [(t.seq, t.stratum) for t in tasks]
[(1, 'high'), (2, 'rest'), (3, 'rest')]
>>> tasks == draw(pool=pool, roster=(10, 11, 12), exclusions=frozenset(), strata=strata, team_size=2, seed=7)
True
>>> draw(pool=pool, roster=(10, 11), exclusions=frozenset({(10, 1), (10, 4)}), strata=strata[:1], team_size=2,
...      seed=7)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
workflows.random_draw.TooFewInspectors: inspectors: enterprise ... has 1 eligible inspector(s) ...
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

import numpy as np

from geo.errors import InvalidInput

__all__ = ["ALGORITHM", "STRATUM_KEYS", "Stratum", "Task", "TooFewInspectors", "draw", "stratum_size",
           "result_digest", "canonical_result"]

ALGORITHM = "onemap-draw/1"
STRATUM_KEYS = ("red", "orange", "yellow", "blue", "unrated")
"""What an enterprise's stratum key can be: its four-colour risk, or ``unrated``."""


@dataclass(frozen=True)
class Stratum:
    """One stratum: a name, the keys it takes, ``count`` or ``proportion`` (0..1], weights per key."""

    name: str
    keys: tuple[str, ...]
    count: int | None = None
    proportion: Decimal | None = None
    weights: dict[str, float] = field(default_factory=dict)

    def weight(self, key: str) -> float:
        return float(self.weights.get(key, 1.0))


@dataclass(frozen=True)
class Task:
    """One drawn enterprise: position, enterprise, stratum name, team (leader first)."""

    seq: int
    enterprise_id: int
    stratum: str
    inspectors: tuple[int, ...]

    def as_list(self) -> list:
        return [self.seq, self.enterprise_id, self.stratum, list(self.inspectors)]


class TooFewInspectors(InvalidInput):
    """An enterprise drawn for which fewer than ``team_size`` inspectors are eligible (HTTP 422)."""

    def __init__(self, enterprise_id: int, eligible: int, excluded: int, team_size: int) -> None:
        super().__init__("inspectors", f"enterprise {enterprise_id} has {eligible} eligible inspector(s) "
                                       f"({excluded} excluded by conflicts of interest or recent inspections); "
                                       f"a team needs {team_size}")
        self.enterprise_id, self.eligible, self.excluded, self.team_size = enterprise_id, eligible, excluded, team_size


def stratum_size(stratum: Stratum, n: int) -> int:
    """How many of a stratum's ``n`` members are drawn: ``count``, or ``ceil(proportion × n)`` exactly.

    >>> stratum_size(Stratum("s", ("blue",), proportion=Decimal("0.1")), 30)  # 3, not 4 (no float error)
    3
    >>> stratum_size(Stratum("s", ("blue",), proportion=Decimal("0.1")), 31), stratum_size(Stratum("s", ("red",), count=2), 5)
    (4, 2)
    >>> stratum_size(Stratum("s", ("red",), count=3), 2)
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: count: stratum 's' asks for 3 enterprises but the pool has 2 with key red
    """
    if stratum.count is not None:
        if stratum.count > n:
            raise InvalidInput("count", f"stratum {stratum.name!r} asks for {stratum.count} enterprises but the pool "
                                        f"has {n} with key {', '.join(stratum.keys)}")
        return stratum.count
    assert stratum.proportion is not None
    return int((stratum.proportion * n).to_integral_value(rounding=ROUND_CEILING))


def _uniforms(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.random(n) if n else np.empty(0)


def draw(*, pool: Sequence[tuple[int, str]], roster: Sequence[int], exclusions: Iterable[tuple[int, int]],
         strata: Sequence[Stratum], team_size: int, seed: int) -> tuple[Task, ...]:
    """Run algorithm ``onemap-draw/1`` (module docstring) on these inputs; the tasks in order.

    ``pool`` and ``roster`` must be in ascending id order (they are sorted
    here too, so a caller's order cannot change the result).
    """
    if not 0 <= seed < 2**63:
        raise InvalidInput("seed", "must be an integer, 0 ≤ seed < 2^63")
    members_all = sorted((int(i), str(k)) for i, k in pool)
    inspectors = sorted(int(i) for i in roster)
    excluded = {(int(i), int(e)) for i, e in exclusions}
    rng = np.random.Generator(np.random.PCG64(seed))

    chosen: list[tuple[int, str]] = []
    for s in strata:
        members = [(i, k) for i, k in members_all if k in s.keys]
        size = stratum_size(s, len(members))
        u = _uniforms(rng, len(members))
        keys = [math.log1p(-float(u[j])) / s.weight(k) for j, (_, k) in enumerate(members)]
        order = sorted(range(len(members)), key=lambda j: (-keys[j], members[j][0]))
        chosen.extend((members[j][0], s.name) for j in sorted(order[:size], key=lambda j: members[j][0]))

    load = dict.fromkeys(inspectors, 0)
    tasks: list[Task] = []
    for seq, (enterprise, stratum) in enumerate(chosen, start=1):
        eligible = [i for i in inspectors if (i, enterprise) not in excluded]
        if len(eligible) < team_size:
            raise TooFewInspectors(enterprise, len(eligible), len(inspectors) - len(eligible), team_size)
        u = _uniforms(rng, len(eligible))
        order = sorted(range(len(eligible)), key=lambda j: (load[eligible[j]], float(u[j]), eligible[j]))
        team = tuple(eligible[j] for j in order[:team_size])
        for i in team:
            load[i] += 1
        tasks.append(Task(seq, enterprise, stratum, team))
    return tuple(tasks)


def canonical_result(tasks: Iterable[Task]) -> str:
    """The canonical JSON text of a result (what :func:`result_digest` hashes).

    >>> canonical_result([Task(1, 42, "red", (7, 3))])
    '[[1,42,"red",[7,3]]]'
    """
    return json.dumps([t.as_list() for t in tasks], separators=(",", ":"), ensure_ascii=True)


def result_digest(tasks: Iterable[Task]) -> str:
    """SHA-256 (hex) of :func:`canonical_result`."""
    return hashlib.sha256(canonical_result(tasks).encode("ascii")).hexdigest()
