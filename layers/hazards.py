"""GB 18218-2018 major hazard installations: identification (辨识) and grading (分级).

Pure functions over the standard's tables, no database. The tables ship in
``data/gb18218_table{1,2,3,4}.csv`` (derived from the verified reference
``gb18218_critical_quantities.csv`` / ``gb18218_2018.md``; each file's header
says what was changed). Clause numbers below are those of GB 18218-2018.

* §4.1 critical quantity Q: a chemical named in Table 1 takes Q from Table 1;
  any other takes Q from Table 2 by hazard category, and when it has several
  hazards the **lowest** Q.
* §4.2 identification: S = q1/Q1 + … + qn/Qn (q = design maximum inventory,
  tonnes); the unit is a major hazard installation when S ≥ 1 (a single
  chemical: q ≥ Q).
* §4.3 grading: R = α·(β1·q1/Q1 + … + βn·qn/Qn); β from Table 3 for the named
  toxic gases, from Table 4 by hazard category for everything else; α from
  Table 5 by the people normally present within 500 m outside the plant
  boundary; grade from Table 6 (R ≥ 100 → 1, 100 > R ≥ 50 → 2, 50 > R ≥ 10 → 3,
  R < 10 → 4; grade 1 is the most severe).

S and R are computed in exact rational arithmetic on the decimal values given
(``1.5`` is 3/2, not the nearest binary float), so the standard's boundaries
(S = 1, R = 100, 50, 10) are decided as written; the results are returned as
floats.

Interpretations the standard leaves open (documented, flagged in the reference):

* β of a Table 1 chemical that is not in Table 3 (e.g. 苯) depends on its
  hazard category, which Table 1 does not give. Such an inventory row must
  carry ``category`` (Table 2/4 symbol) when the unit has to be graded; it is
  not needed for identification alone (Q still comes from Table 1).
* When several categories are given, Q is the lowest (§4.1 b). The standard
  does not say which β goes with several hazards; OneMap takes the β of the
  category that sets Q (the controlling hazard), and the largest of those
  when categories tie on Q.
* 一氧化碳 is named in Table 3 (β = 2) but not in Table 1 by name; Table 1 row 13
  "煤气(CO,CO和H₂、CH₄的混合物等)" names CO, so CO takes Q = 20 t from row 13 and
  β = 2. A chemical named 煤气 does not take Table 3's β (see
  ``data/gb18218_table3.csv``).
* Rows that apply only under a condition in their name (甲醛(含量>90%),
  硝酸铵(含可燃物≤0.2%), 硝化纤维素(…), 硝酸(…>70%) …) match only by their
  full name; a short name, alias or CAS of such a row is refused with the list
  of candidate rows, because e.g. 37 % formalin is not in Table 1.
"""

from __future__ import annotations

import csv
import difflib
import math
import numbers
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from geo.errors import InvalidInput as GeoInvalidInput

__all__ = [
    "STANDARD",
    "HazardError",
    "InvalidInput",
    "InvalidQuantity",
    "UnknownChemical",
    "AmbiguousChemical",
    "UnknownCategory",
    "CategoryNeeded",
    "Chemical",
    "HazardCategory",
    "Contribution",
    "UnitAssessment",
    "lookup_chemical",
    "hazard_category",
    "critical_quantity",
    "exposure_alpha",
    "grade_for_r",
    "assess_unit",
]

STANDARD = "GB 18218-2018"

# Table 5 (§4.3): α by people outside the plant within 500 m of its boundary.
# "100人以上" includes exactly 100 (the next band is 50~99). Source: gb18218_2018.md §3.
_ALPHA_BANDS: tuple[tuple[int, Fraction], ...] = (
    (100, Fraction("2.0")),  # 100人以上
    (50, Fraction("1.5")),  # 50~99人
    (30, Fraction("1.2")),  # 30~49人
    (1, Fraction("1.0")),  # 1~29人
    (0, Fraction("0.5")),  # 0人
)
# Table 6 (§4.3): grade by R, lower bounds inclusive. Source: gb18218_2018.md §3.
_GRADE_BANDS: tuple[tuple[Fraction, int], ...] = (
    (Fraction(100), 1),  # R ≥ 100
    (Fraction(50), 2),  # 100 > R ≥ 50
    (Fraction(10), 3),  # 50 > R ≥ 10
)
_LOWEST_GRADE = 4  # R < 10

_ITEM_FIELDS = ("chemical", "category", "quantity_t", "label")
# The shipped tables: data/ is a sibling package in the source tree and when installed
# (package-data "*.csv"); located by path so that layers/ does not import data/.
_DATA_DIR = Path(__file__).resolve().parents[1] / "data"
_CAS_RE = re.compile(r"^(\d{2,7})-(\d{2})-(\d)$")


# --------------------------------------------------------------------------- errors


class HazardError(GeoInvalidInput):
    """Base class of the errors of :mod:`layers.hazards`; names the field and the reason.

    A :class:`geo.errors.InvalidInput` (hence a ``ValueError``), so every face
    maps it like any other bad input.

    Parameters
    ----------
    field : str
        The input at fault, e.g. ``inventory[2].quantity_t``.
    reason : str
        Why it was refused, in words a user can act on.
    """

    def __str__(self) -> str:
        """Return ``field: reason`` (KeyError subclasses would otherwise quote it)."""
        return f"{self.field}: {self.reason}"


class InvalidInput(HazardError, ValueError):
    """An input of the wrong shape or type, or a missing field."""


class InvalidQuantity(InvalidInput):
    """A quantity (tonnes) or a count of people that is not a finite number ≥ 0."""


class UnknownChemical(HazardError, KeyError):
    """A chemical name, alias or CAS number that is not in Table 1.

    ``suggestions`` holds close matches (Table 1 names, aliases, CAS numbers).
    """

    def __init__(self, field: str, reason: str, suggestions: Sequence[str] = ()) -> None:
        self.suggestions = tuple(suggestions)
        super().__init__(field, reason)


class AmbiguousChemical(UnknownChemical):
    """A name or CAS number that matches several Table 1 rows, or a conditional row.

    ``suggestions`` holds the full Table 1 names to choose from.
    """


class UnknownCategory(HazardError, KeyError):
    """A hazard category that is not a Table 2 symbol (``J1`` … ``J5``, ``W1.1`` … ``W11``)."""


class CategoryNeeded(InvalidInput):
    """A major unit cannot be graded: a Table 1 chemical outside Table 3 has no ``category``.

    Its β comes from Table 4 by hazard category (§4.3). Identification does not
    need it: ``assess_unit(..., grade=False)`` still gives S and ``is_major``.
    """


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Chemical:
    """A Table 1 row as matched by :func:`lookup_chemical`.

    Attributes
    ----------
    seq : int
        The row number (序号) in Table 1.
    name_zh : str
        The name as printed in Table 1 (with its condition, if any).
    aliases_zh, cas, names_en : tuple of str
        Other names and CAS numbers of the row (``names_en`` are OneMap's).
    critical_quantity_t : float
        Q in tonnes.
    qualified : bool
        True when the row applies only under the condition in its name.
    beta : float or None
        β from Table 3 when the matched substance is one of its toxic gases.
    table3_name : str or None
        The Table 3 name that gave ``beta``.
    source_page : int
        Page of the standard the row was transcribed from.
    """

    seq: int
    name_zh: str
    aliases_zh: tuple[str, ...]
    cas: tuple[str, ...]
    names_en: tuple[str, ...]
    critical_quantity_t: float
    qualified: bool
    beta: float | None
    table3_name: str | None
    source_page: int


@dataclass(frozen=True)
class HazardCategory:
    """A Table 2 hazard category with its Q (Table 2) and β (Table 4)."""

    symbol: str
    category_zh: str
    description_zh: str
    critical_quantity_t: float
    beta: float


@dataclass(frozen=True)
class Contribution:
    """One inventory row's part in S and R.

    Attributes
    ----------
    index : int
        Position in the ``inventory`` list.
    given : str or None
        What the caller wrote (``chemical`` or ``label``).
    chemical : str or None
        The matched Table 1 (or Table 3) name; None for a category-only row.
    table1_seq : int or None
        Table 1 row number, None when Q came from Table 2.
    categories : tuple of str
        Hazard categories given by the caller (Table 2 symbols).
    quantity_t : float
        q, the design maximum inventory in tonnes.
    critical_quantity_t : float
        Q in tonnes.
    q_source : {"table1", "table2"}
        Where Q came from.
    ratio : float
        q / Q.
    beta : float or None
        β used in R (None when the unit was not graded and no β was available).
    beta_source : {"table3", "table4"} or None
        Table 3 by name, or Table 4 by category.
    beta_key : str or None
        The Table 3 gas name or the Table 4 symbol that gave β.
    """

    index: int
    given: str | None
    chemical: str | None
    table1_seq: int | None
    categories: tuple[str, ...]
    quantity_t: float
    critical_quantity_t: float
    q_source: str
    ratio: float
    beta: float | None
    beta_source: str | None
    beta_key: str | None


@dataclass(frozen=True)
class UnitAssessment:
    """Identification and grading of one production or storage unit (GB 18218-2018 §4).

    Attributes
    ----------
    s : float
        Σ qᵢ/Qᵢ (Eq. 1).
    is_major : bool
        ``s >= 1``: a major hazard installation (重大危险源).
    r : float or None
        α·Σ βᵢ·qᵢ/Qᵢ (Eq. 2); None when not major (or not graded: ``grade=False``).
    grade : int or None
        1 (一级, most severe) … 4 (四级); None when R is None.
    alpha : float
        α of Table 5 for ``exposed_people_500m``.
    exposed_people_500m : int
        People normally present outside the plant within 500 m of its boundary.
    contributions : tuple of Contribution
        One per inventory row, in input order.
    """

    s: float
    is_major: bool
    r: float | None
    grade: int | None
    alpha: float
    exposed_people_500m: int
    contributions: tuple[Contribution, ...]


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class _Target:
    seq: int
    gas: str | None  # Table 3 gas matched by its own name (scope "name"), else None


@dataclass(frozen=True)
class _Tables:
    rows: dict[int, Chemical]  # Table 1 rows without a gas-specific β
    row_beta: dict[int, tuple[Fraction, str]]  # Table 3 β that applies to a whole row
    gas_beta: dict[str, Fraction]  # Table 3 β by gas name
    full_names: dict[str, int]  # normalised full Table 1 name -> seq
    names: dict[str, frozenset[_Target]]  # normalised name / alias / English name
    cas: dict[str, frozenset[_Target]]
    formulas: dict[str, _Target]  # Table 3 formulas, exact (CO is not Co)
    display: dict[str, str]  # normalised key -> text to suggest
    categories: dict[str, HazardCategory]


def _norm(text: str) -> str:
    """Normalise a name for matching: NFKC, no spaces, one kind of bracket, casefold."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(text.split())
    text = text.translate(str.maketrans("[]【】〔〕", "()()()"))
    text = text.replace("<=", "≤").replace(">=", "≥")
    return text.casefold()


def _split(field: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in field.split(";") if part.strip())


def _cas_ok(cas: str) -> bool:
    """CAS check digit: Σ (position from the right × digit) mod 10."""
    m = _CAS_RE.match(cas)
    if not m:
        return False
    digits = (m.group(1) + m.group(2))[::-1]
    return sum(i * int(d) for i, d in enumerate(digits, start=1)) % 10 == int(m.group(3))


def _read_csv(name: str) -> list[dict[str, str]]:
    text = (_DATA_DIR / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines))


def _exact(value: object) -> Fraction:
    """Return the exact rational value of a decimal number as written (``0.3`` → 3/10)."""
    if isinstance(value, numbers.Rational | Decimal | str):
        return Fraction(value)
    # float and numpy floats: the shortest decimal that round-trips, i.e. what was written
    return Fraction(repr(float(value)))


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    t1 = _read_csv("gb18218_table1.csv")
    t2 = _read_csv("gb18218_table2.csv")
    t3 = _read_csv("gb18218_table3.csv")
    t4 = {r["symbol"]: Fraction(r["beta"]) for r in _read_csv("gb18218_table4.csv")}

    rows: dict[int, Chemical] = {}
    for r in t1:
        seq = int(r["seq"])
        rows[seq] = Chemical(
            seq=seq,
            name_zh=r["name_zh"],
            aliases_zh=_split(r["aliases_zh"]),
            cas=_split(r["cas"]),
            names_en=_split(r["names_en"]),
            critical_quantity_t=float(Fraction(r["critical_quantity_t"])),
            qualified=r["qualified"] == "1",
            beta=None,
            table3_name=None,
            source_page=int(r["source_page"]),
        )
    if sorted(rows) != list(range(1, 86)):
        raise RuntimeError("data/gb18218_table1.csv must hold rows 1..85 of Table 1")
    if set(t4) != {r["symbol"] for r in t2}:
        raise RuntimeError("Tables 2 and 4 of data/gb18218_table*.csv disagree on symbols")

    names: dict[str, set[_Target]] = {}
    cas: dict[str, set[_Target]] = {}
    display: dict[str, str] = {}
    full_names: dict[str, int] = {}

    def add(index: dict[str, set[_Target]], text: str, target: _Target) -> None:
        key = _norm(text)
        index.setdefault(key, set()).add(target)
        display.setdefault(key, text)

    for seq, row in rows.items():
        target = _Target(seq, None)
        full_names[_norm(row.name_zh)] = seq
        display.setdefault(_norm(row.name_zh), row.name_zh)
        texts = list(row.aliases_zh) + list(row.names_en)
        if row.qualified:  # the short name too, so that it meets a clear refusal
            texts.append(re.split(r"[(\[（［]", row.name_zh, maxsplit=1)[0])
        for text in texts:
            add(names, text, target)
        for number in row.cas:
            if not _cas_ok(number):
                raise RuntimeError(f"data/gb18218_table1.csv row {seq}: bad CAS {number!r}")
            add(cas, number, target)

    row_beta: dict[int, tuple[Fraction, str]] = {}
    gas_beta: dict[str, Fraction] = {}
    formulas: dict[str, _Target] = {}
    for r in t3:
        seq, gas, beta = int(r["table1_seq"]), r["name_zh"], Fraction(r["beta"])
        gas_beta[gas] = beta
        if r["cas"]:  # the gas is not itself the row (CO in row 13 煤气): β by its own names
            if not _cas_ok(r["cas"]):
                raise RuntimeError(f"data/gb18218_table3.csv {gas}: bad CAS {r['cas']!r}")
            target = _Target(seq, gas)
            add(cas, r["cas"], target)
        else:
            row_beta[seq] = (beta, gas)
            target = _Target(seq, None)
        add(names, gas, target)
        formulas[unicodedata.normalize("NFKC", r["formula"])] = target
        display.setdefault(_norm(r["formula"]), r["formula"])

    categories = {
        r["symbol"]: HazardCategory(
            symbol=r["symbol"],
            category_zh=r["category_zh"],
            description_zh=r["description_zh"],
            critical_quantity_t=float(Fraction(r["critical_quantity_t"])),
            beta=float(t4[r["symbol"]]),
        )
        for r in t2
    }
    return _Tables(
        rows=rows,
        row_beta=row_beta,
        gas_beta=gas_beta,
        full_names=full_names,
        names={k: frozenset(v) for k, v in names.items()},
        cas={k: frozenset(v) for k, v in cas.items()},
        formulas=formulas,
        display=display,
        categories=categories,
    )


# --------------------------------------------------------------------------- lookups


def _chemical(tables: _Tables, target: _Target) -> Chemical:
    row = tables.rows[target.seq]
    if target.gas is not None:
        beta: Fraction | None = tables.gas_beta[target.gas]
        gas: str | None = target.gas
    else:
        beta, gas = tables.row_beta.get(target.seq, (None, None))
    return Chemical(
        **{
            **row.__dict__,
            "beta": None if beta is None else float(beta),
            "table3_name": gas,
        }
    )


def _suggest(tables: _Tables, key: str) -> list[str]:
    keys = list(tables.display)
    close = difflib.get_close_matches(key, keys, n=5, cutoff=0.5)
    if key:
        close += [k for k in keys if (key in k or k in key) and k not in close][: 5 - len(close)]
    return [tables.display[k] for k in close[:5]]


def _resolve(value: object, field: str) -> Chemical:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            field,
            f"must be a chemical name, alias or CAS number (a non-empty string), got {value!r}",
        )
    tables = _tables()
    text = unicodedata.normalize("NFKC", value).strip()
    key = _norm(value)

    if _CAS_RE.match(text):
        if not _cas_ok(text):
            raise UnknownChemical(field, f"{value!r} is not a valid CAS number (check digit)")
        targets: frozenset[_Target] = tables.cas.get(key, frozenset())
    elif "".join(text.split()) in tables.formulas:
        targets = frozenset({tables.formulas["".join(text.split())]})
    elif key in tables.full_names:
        return _chemical(tables, _Target(tables.full_names[key], None))
    else:
        targets = tables.names.get(key, frozenset())

    if not targets:
        suggestions = _suggest(tables, key)
        hint = f"; close matches: {', '.join(suggestions)}" if suggestions else ""
        raise UnknownChemical(
            field,
            f"{value!r} is not in {STANDARD} Table 1{hint}; for a chemical not listed by "
            "name give its Table 2 hazard 'category' (e.g. 'W5.3') instead of 'chemical'",
            suggestions,
        )
    seqs = sorted({t.seq for t in targets})
    if len(targets) == 1 and not tables.rows[seqs[0]].qualified:
        return _chemical(tables, next(iter(targets)))
    candidates = [tables.rows[s].name_zh for s in seqs]
    raise AmbiguousChemical(
        field,
        f"{value!r} matches Table 1 only under a stated condition; give the full row name "
        f"if the condition holds ({' | '.join(candidates)}), otherwise its Table 2 "
        "hazard 'category'",
        candidates,
    )


def lookup_chemical(name_or_cas: str) -> Chemical:
    """Return the Table 1 row of a chemical given by name, alias, English name or CAS.

    Parameters
    ----------
    name_or_cas : str
        Chinese name as printed in Table 1, one of its aliases, OneMap's English
        name, a Table 3 formula (``Cl2``, ``NH3`` …) or a CAS number.

    Returns
    -------
    Chemical
        The row: Q in tonnes, CAS numbers, names, and β when the substance is a
        Table 3 toxic gas.

    Raises
    ------
    UnknownChemical
        Not in Table 1; ``suggestions`` lists close matches.
    AmbiguousChemical
        Several rows, or a row that applies only under a condition in its name.

    Examples
    --------
    >>> chlorine = lookup_chemical("液氯")
    >>> chlorine.seq, chlorine.name_zh, chlorine.critical_quantity_t, chlorine.beta
    (12, '氯', 5.0, 4.0)
    >>> lookup_chemical("7664-41-7").name_zh
    '氨'
    >>> lookup_chemical("toluene").critical_quantity_t, lookup_chemical("甲苯").beta
    (500.0, None)
    >>> lookup_chemical("氯化钾")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    layers.hazards.UnknownChemical: chemical: '氯化钾' is not in GB 18218-2018 Table 1; close matches: ...
    >>> lookup_chemical("甲醛")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    layers.hazards.AmbiguousChemical: chemical: '甲醛' matches Table 1 only under a stated condition; ...
    """
    return _resolve(name_or_cas, "chemical")


def _parse_categories(value: object, field: str) -> tuple[HazardCategory, ...]:
    items: list[object]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        items = list(value)
    else:
        raise InvalidInput(field, f"must be a Table 2 symbol or a list of them, got {value!r}")
    if not items:
        raise InvalidInput(field, "is an empty list; give at least one Table 2 symbol")
    tables = _tables()
    found: dict[str, HazardCategory] = {}
    for item in items:
        symbol = (
            unicodedata.normalize("NFKC", item).strip().upper() if isinstance(item, str) else None
        )
        if symbol not in tables.categories:
            close = difflib.get_close_matches(
                symbol or "", list(tables.categories), n=3, cutoff=0.5
            )
            hint = f" (close: {', '.join(close)})" if close else ""
            raise UnknownCategory(
                field,
                f"{item!r} is not a {STANDARD} Table 2 hazard category{hint}; valid: "
                + ", ".join(tables.categories),
            )
        found.setdefault(symbol, tables.categories[symbol])
    return tuple(found.values())


def hazard_category(symbol: str) -> HazardCategory:
    """Return a Table 2 category with its Q (Table 2) and β (Table 4).

    Examples
    --------
    >>> c = hazard_category("w5.1")
    >>> c.symbol, c.category_zh, c.critical_quantity_t, c.beta
    ('W5.1', '易燃液体', 10.0, 1.5)
    """
    return _parse_categories(symbol, "category")[0]


def _controlling(categories: Sequence[HazardCategory]) -> HazardCategory:
    """Return the category that sets Q (lowest, §4.1 b); on a tie in Q, the larger β."""
    return min(categories, key=lambda c: (c.critical_quantity_t, -c.beta))


def critical_quantity(chemical: str | None = None, *, category: object = None) -> float:
    """Return the critical quantity Q in tonnes (GB 18218-2018 §4.1).

    Parameters
    ----------
    chemical : str, optional
        Name, alias or CAS of a Table 1 chemical: Q comes from Table 1.
    category : str or list of str, optional
        Table 2 symbol(s) for a chemical not in Table 1: the lowest Q of them.

    Examples
    --------
    >>> critical_quantity("光气")
    0.3
    >>> critical_quantity(category=["W2", "J1"])
    5.0
    """
    if chemical is not None:
        return _resolve(chemical, "chemical").critical_quantity_t
    if category is not None:
        return _controlling(_parse_categories(category, "category")).critical_quantity_t
    raise InvalidInput("chemical", "give a Table 1 chemical or a Table 2 'category'")


def _quantity(value: object, field: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise InvalidQuantity(field, f"must be a number of tonnes, got {value!r}")
    try:
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise InvalidQuantity(field, f"must be finite, got {value!r}")
    exact = _exact(value)
    if exact < 0:
        raise InvalidQuantity(field, f"must be ≥ 0 (design maximum inventory, t), got {value!r}")
    return exact


def _people(value: object) -> int:
    field = "exposed_people_500m"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidQuantity(field, f"must be a whole number of people ≥ 0, got {value!r}")
    if value < 0:
        raise InvalidQuantity(field, f"must be ≥ 0, got {value!r}")
    return int(value)


def _alpha(people: int) -> Fraction:
    for lower, alpha in _ALPHA_BANDS:
        if people >= lower:
            return alpha
    raise AssertionError("unreachable: people >= 0")


def exposure_alpha(exposed_people_500m: int) -> float:
    """Return α of Table 5 for the people outside the plant within 500 m (§4.3).

    Examples
    --------
    >>> [exposure_alpha(n) for n in (0, 1, 29, 30, 49, 50, 99, 100)]
    [0.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 2.0]
    """
    return float(_alpha(_people(exposed_people_500m)))


def _grade(r: Fraction) -> int:
    for lower, grade in _GRADE_BANDS:
        if r >= lower:
            return grade
    return _LOWEST_GRADE


def grade_for_r(r: float) -> int:
    """Return the grade of Table 6 for R (§4.3): 1 (R ≥ 100) … 4 (R < 10).

    Examples
    --------
    >>> [grade_for_r(r) for r in (100, 99.99, 50, 10, 9.99, 0)]
    [1, 2, 2, 3, 4, 4]
    """
    return _grade(_quantity(r, "r"))


def _item_fields(item: object, i: int) -> Mapping[str, object]:
    if not isinstance(item, Mapping):
        raise InvalidInput(
            f"inventory[{i}]", f"must be a mapping with 'quantity_t', got {type(item).__name__}"
        )
    for key in item:
        if key not in _ITEM_FIELDS:
            raise InvalidInput(
                f"inventory[{i}].{key}", f"unknown field; allowed: {', '.join(_ITEM_FIELDS)}"
            )
    if "quantity_t" not in item:
        raise InvalidQuantity(f"inventory[{i}].quantity_t", "is missing")
    if item.get("chemical") is None and item.get("category") is None:
        raise InvalidInput(
            f"inventory[{i}]",
            "give 'chemical' (Table 1 name, alias or CAS) or 'category' (Table 2 symbol, e.g. 'W5.3')",
        )
    label = item.get("label")
    if label is not None and not isinstance(label, str):
        raise InvalidInput(f"inventory[{i}].label", f"must be a string, got {label!r}")
    return item


def assess_unit(
    inventory: Sequence[Mapping[str, object]], *, exposed_people_500m: int, grade: bool = True
) -> UnitAssessment:
    """Identify and grade one production or storage unit (GB 18218-2018 §4.1–4.3).

    Parameters
    ----------
    inventory : sequence of mapping
        One mapping per chemical with ``quantity_t`` (design maximum inventory,
        tonnes, §4.2) and either ``chemical`` (Table 1 name, alias, English name
        or CAS) or ``category`` (Table 2 symbol, or a list of them for a
        chemical with several hazards). A Table 1 chemical that is not a Table 3
        gas also needs ``category`` for its β when the unit turns out major.
        ``label`` (free text) names a category-only row.
    exposed_people_500m : int
        People normally present outside the plant within 500 m of its boundary
        (Table 5).
    grade : bool, default True
        False: identification only (§4.1–4.2). S and ``is_major`` as usual, but
        R and the grade stay None even for a major unit, so a missing β
        (category) is not an error. For storing what can be known while an
        inventory still lacks a category.

    Returns
    -------
    UnitAssessment

    Raises
    ------
    InvalidInput, InvalidQuantity
        ValueError subclasses naming the field (``inventory[2].quantity_t``).
    UnknownChemical, AmbiguousChemical, UnknownCategory
        KeyError subclasses naming the field, with close matches.
    CategoryNeeded
        An InvalidInput: the unit is major and ``grade`` is True, but a row
        lacks the category its β needs.

    Examples
    --------
    Below Q (worked check 1 of the reference):

    >>> a = assess_unit([{"chemical": "液氯", "quantity_t": 4}], exposed_people_500m=120)
    >>> a.s, a.is_major, a.r, a.grade
    (0.8, False, None, None)

    Two chemicals each below Q, together above (worked check 2):

    >>> a = assess_unit(
    ...     [{"chemical": "氯", "quantity_t": 3}, {"chemical": "7664-41-7", "quantity_t": 6}],
    ...     exposed_people_500m=120,
    ... )
    >>> a.s, a.is_major, a.alpha, a.r, a.grade
    (1.2, True, 2.0, 7.2, 4)
    >>> [(c.chemical, c.critical_quantity_t, c.beta, c.beta_source) for c in a.contributions]
    [('氯', 5.0, 4.0, 'table3'), ('氨', 10.0, 2.0, 'table3')]

    A chemical not in Table 1, by hazard category:

    >>> a = assess_unit([{"category": "W5.1", "label": "溶剂A", "quantity_t": 25}],
    ...                 exposed_people_500m=0)
    >>> a.s, a.r, a.grade, a.contributions[0].beta_source
    (2.5, 1.875, 4, 'table4')

    A major unit whose β is unknown (苯 is in Table 1 but not Table 3): grading
    needs its category; identification alone does not:

    >>> assess_unit([{"chemical": "苯", "quantity_t": 60}], exposed_people_500m=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    layers.hazards.CategoryNeeded: inventory[0].category: needed to grade the unit: '苯' is not ...
    >>> a = assess_unit([{"chemical": "苯", "quantity_t": 60}], exposed_people_500m=0, grade=False)
    >>> a.s, a.is_major, a.r, a.grade, a.contributions[0].beta
    (1.2, True, None, None, None)

    Unknown chemical, negative quantity:

    >>> assess_unit([{"chemical": "氯化钾", "quantity_t": 1}], exposed_people_500m=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    layers.hazards.UnknownChemical: inventory[0].chemical: '氯化钾' is not in GB 18218-2018 Table 1; ...
    >>> assess_unit([{"chemical": "氨", "quantity_t": -1}], exposed_people_500m=0)
    Traceback (most recent call last):
    ...
    layers.hazards.InvalidQuantity: inventory[0].quantity_t: must be ≥ 0 (design maximum inventory, t), got -1
    """
    if isinstance(inventory, str | bytes | Mapping) or not isinstance(inventory, Sequence):
        raise InvalidInput(
            "inventory", f"must be a list of mappings, got {type(inventory).__name__}"
        )
    if not inventory:
        raise InvalidInput("inventory", "is empty: list the unit's hazardous chemicals")
    people = _people(exposed_people_500m)
    alpha = _alpha(people)

    rows = []
    for i, raw in enumerate(inventory):
        item = _item_fields(raw, i)
        q = _quantity(item["quantity_t"], f"inventory[{i}].quantity_t")
        cats = (
            _parse_categories(item["category"], f"inventory[{i}].category")
            if item.get("category") is not None
            else ()
        )
        chem = (
            _resolve(item["chemical"], f"inventory[{i}].chemical")
            if item.get("chemical") is not None
            else None
        )
        if chem is not None:  # §4.1 a): a Table 1 chemical takes Q from Table 1
            big_q, q_source = _exact(chem.critical_quantity_t), "table1"
        else:  # §4.1 b): Table 2, the lowest Q of its hazards
            big_q, q_source = _exact(_controlling(cats).critical_quantity_t), "table2"
        beta: Fraction | None = None
        beta_source: str | None = None
        beta_key: str | None = None
        if chem is not None and chem.beta is not None:  # §4.3: Table 3 first
            beta, beta_source, beta_key = _exact(chem.beta), "table3", chem.table3_name
        elif cats:  # §4.3: Table 4 by category
            ruling = _controlling(cats)
            beta, beta_source, beta_key = _exact(ruling.beta), "table4", ruling.symbol
        given = item.get("chemical") or item.get("label")
        rows.append((i, given, chem, cats, q, big_q, q_source, beta, beta_source, beta_key))

    s = sum((row[4] / row[5] for row in rows), Fraction(0))
    is_major = s >= 1  # §4.2, Eq. 1: "equals or exceeds"
    r: Fraction | None = None
    if is_major and grade:
        for i, _, chem, _, _, _, _, beta, _, _ in rows:
            if beta is None:
                name = chem.name_zh if chem is not None else "?"
                raise CategoryNeeded(
                    f"inventory[{i}].category",
                    f"needed to grade the unit: {name!r} is not a Table 3 toxic gas, so its β "
                    f"comes from Table 4 by hazard category ({STANDARD} §4.3); give its "
                    "Table 2 symbol(s), e.g. 'W5.1'",
                )
        r = alpha * sum((row[7] * row[4] / row[5] for row in rows), Fraction(0))  # type: ignore[operator]

    contributions = tuple(
        Contribution(
            index=i,
            given=None if given is None else str(given),
            chemical=None if chem is None else chem.name_zh,
            table1_seq=None if chem is None else chem.seq,
            categories=tuple(c.symbol for c in cats),
            quantity_t=float(q),
            critical_quantity_t=float(big_q),
            q_source=q_source,
            ratio=float(q / big_q),
            beta=None if beta is None else float(beta),
            beta_source=beta_source,
            beta_key=beta_key,
        )
        for i, given, chem, cats, q, big_q, q_source, beta, beta_source, beta_key in rows
    )
    return UnitAssessment(
        s=float(s),
        is_major=is_major,
        r=None if r is None else float(r),
        grade=None if r is None else _grade(r),
        alpha=float(alpha),
        exposed_people_500m=people,
        contributions=contributions,
    )
