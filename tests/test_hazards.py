"""GB 18218-2018 identification and grading (layers.hazards); no database.

Expected numbers are those of /work/shared/reference/gb18218_2018.md and
gb18218_critical_quantities.csv (the verified transcription of the standard);
clause numbers are GB 18218-2018's.
"""

from __future__ import annotations

import dataclasses
import doctest
import math
from decimal import Decimal

import numpy as np
import pytest

from layers import hazards
from layers.hazards import (
    AmbiguousChemical,
    HazardError,
    InvalidInput,
    InvalidQuantity,
    UnknownCategory,
    UnknownChemical,
    assess_unit,
    critical_quantity,
    exposure_alpha,
    grade_for_r,
    hazard_category,
    lookup_chemical,
)


def one(chemical: str, q: float, people: int = 0, **extra: object) -> hazards.UnitAssessment:
    return assess_unit(
        [{"chemical": chemical, "quantity_t": q, **extra}], exposed_people_500m=people
    )


def test_doctests():
    result = doctest.testmod(hazards, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# --------------------------------------------------------------------------- the tables


def test_table1_has_85_rows_with_valid_cas():
    """Table 1 lists 85 chemicals; every CAS printed there has a valid check digit."""
    rows = hazards._tables().rows
    assert sorted(rows) == list(range(1, 86))
    assert all(hazards._cas_ok(c) for row in rows.values() for c in row.cas)
    assert {s for s, row in rows.items() if not row.cas} == {13, 45, 74}


# Reference gb18218_2018.md §5 "Table 1 highlights" (Q in tonnes).
TABLE1_Q = [
    ("氨", 10), ("二氟化氧", 1), ("二氧化氮", 1), ("二氧化硫", 20), ("氟", 1), ("光气", 0.3),
    ("环氧乙烷", 10), ("甲醛(含量>90%)", 5), ("磷化氢", 1), ("硫化氢", 5), ("氯化氢(无水)", 20),
    ("氯", 5), ("煤气", 20), ("砷化氢", 1), ("溴甲烷", 10), ("丙烯醛", 20), ("氟化氢", 1),
    ("氰化氢", 1), ("溴", 20), ("异氰酸甲酯", 0.75), ("TNT", 5),
    ("硝酸铵(含可燃物>0.2%,包括以碳计算的任何有机物,但不包括任何其他添加剂)", 5),
    ("硝酸铵(含可燃物≤0.2%)", 50), ("1,3-丁二烯", 5), ("甲烷", 50), ("天然气", 50),
    ("氯乙烯", 50), ("氢", 5), ("液化石油气", 50), ("乙炔", 1), ("乙烯", 50), ("苯", 50),
    ("苯乙烯", 500), ("丙烯腈", 50), ("二硫化碳", 50), ("甲苯", 500), ("甲醇", 500),
    ("汽油", 200), ("乙醚", 10), ("电石", 100), ("钠", 10),
]  # fmt: skip


@pytest.mark.parametrize(("name", "q_t"), TABLE1_Q)
def test_table1_critical_quantities(name, q_t):
    """§4.1 a): a chemical named in Table 1 takes Q from Table 1."""
    assert lookup_chemical(name).critical_quantity_t == q_t
    assert critical_quantity(name) == q_t


TABLE3_BETA = [
    ("一氧化碳", 2), ("二氧化硫", 2), ("氨", 2), ("环氧乙烷", 2), ("氯化氢", 3), ("溴甲烷", 3),
    ("氯", 4), ("硫化氢", 5), ("氟化氢", 5), ("二氧化氮", 10), ("氰化氢", 10), ("碳酰氯", 20),
    ("磷化氢", 20), ("异氰酸甲酯", 20),
]  # fmt: skip


@pytest.mark.parametrize(("name", "beta"), TABLE3_BETA)
def test_table3_beta(name, beta):
    """§4.3 Table 3: β of the 14 named toxic gases."""
    chem = lookup_chemical(name)
    assert chem.beta == beta
    assert chem.table3_name == name


def test_table3_has_14_gases_and_other_rows_have_no_table3_beta():
    rows = hazards._tables().rows
    with_beta = {s for s in rows if lookup_chemical(rows[s].name_zh).beta is not None}
    assert with_beta == {1, 3, 4, 6, 7, 9, 10, 11, 12, 17, 20, 25, 30}
    assert len(hazards._tables().gas_beta) == 14


TABLE2_4 = [
    ("J1", 5, 4), ("J2", 50, 1), ("J3", 50, 2), ("J4", 50, 2), ("J5", 500, 1),
    ("W1.1", 1, 2), ("W1.2", 10, 2), ("W1.3", 50, 2), ("W2", 10, 1.5), ("W3", 150, 1),
    ("W4", 50, 1), ("W5.1", 10, 1.5), ("W5.2", 50, 1), ("W5.3", 1000, 1), ("W5.4", 5000, 1),
    ("W6.1", 10, 1.5), ("W6.2", 50, 1), ("W7.1", 10, 1.5), ("W7.2", 50, 1), ("W8", 50, 1),
    ("W9.1", 50, 1), ("W9.2", 200, 1), ("W10", 200, 1), ("W11", 200, 1),
]  # fmt: skip


@pytest.mark.parametrize(("symbol", "q_t", "beta"), TABLE2_4)
def test_table2_q_and_table4_beta(symbol, q_t, beta):
    """§4.1 b Table 2 (Q by hazard category) and §4.3 Table 4 (β by category)."""
    cat = hazard_category(symbol)
    assert (cat.critical_quantity_t, cat.beta) == (q_t, beta)
    assert critical_quantity(category=symbol) == q_t


def test_table2_has_24_categories():
    assert len(hazards._tables().categories) == 24


# --------------------------------------------------------------------------- lookups


@pytest.mark.parametrize(
    ("text", "seq"),
    [
        ("氯", 12),  # Chinese name
        ("液氯", 12),  # alias
        ("氯气", 12),
        ("7782-50-5", 12),  # CAS
        ("chlorine", 12),  # OneMap English name
        ("Chlorine ", 12),
        ("Cl2", 12),  # Table 3 formula
        ("光气", 6),
        ("碳酰氯", 6),
        ("75-44-5", 6),
        ("液氨", 1),
        ("NH3", 1),
        ("氯化氢", 11),  # Table 3 name of row 11 氯化氢(无水)
        ("TDI", 23),
        ("tnt", 35),
        ("环氧氯丙烷", 21),  # alias split from "环氧氯丙烷(3-氯-1,2-环氧丙烷)"
        ("3-氯-1,2-环氧丙烷", 21),
        ("胂", 14),  # alias split from "砷化三氢、胂"
        ("甲烷", 49),  # row 49 "甲烷,天然气" names two substances
        ("8006-14-2", 49),
        ("丙烷", 52),  # row 52 LPG "含丙烷、丁烷及其混合物"
        ("106-97-8", 52),
        ("汽油", 66),
        ("乙醇汽油", 66),
        ("86290-81-5", 66),
        ("煤气", 13),
        ("甲醛（含量＞90%）", 8),  # full-width brackets and signs: the full row name
        ("硝酸铵(含可燃物<=0.2%)", 44),
        ("硝化纤维素［干的或含水(或乙醇)<25%］", 37),  # the standard prints ［ ］
    ],
)
def test_lookup(text, seq):
    assert lookup_chemical(text).seq == seq


def test_carbon_monoxide_takes_q_from_row_13_and_beta_from_table3():
    """Table 3 names 一氧化碳 (β 2); Table 1 row 13 "煤气(CO,CO和H₂、CH₄的混合物等)" names CO (Q 20 t)."""
    for text in ("一氧化碳", "CO", "630-08-0"):
        co = lookup_chemical(text)
        assert (co.seq, co.critical_quantity_t, co.beta, co.table3_name) == (13, 20, 2, "一氧化碳")
    assert lookup_chemical("煤气").beta is None


@pytest.mark.parametrize("text", ["Co", "hcl", "氯化钾", "benzol", "xyz"])
def test_unknown_chemical(text):
    with pytest.raises(UnknownChemical) as info:
        lookup_chemical(text)
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, HazardError)
    assert err.field == "chemical"
    assert str(err).startswith(f"chemical: {text!r} is not in GB 18218-2018 Table 1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("氯化钾", "氯酸钾"),
        ("hcl", "HCl"),
        ("Co", "CO"),
        ("液化气", "液化石油气"),
        ("氯汽", "氯气"),
    ],
)
def test_unknown_chemical_suggests_close_matches(text, expected):
    with pytest.raises(UnknownChemical) as info:
        lookup_chemical(text)
    assert expected in info.value.suggestions
    assert expected in str(info.value)


def test_bad_cas_check_digit():
    with pytest.raises(UnknownChemical, match="check digit"):
        lookup_chemical("7782-50-4")


def test_cas_not_in_table1():
    with pytest.raises(UnknownChemical, match="not in GB 18218-2018 Table 1"):
        lookup_chemical("64-19-7")  # acetic acid: valid CAS, not in Table 1


@pytest.mark.parametrize(
    ("text", "n_rows"),
    [
        ("硝化棉", 5),  # alias shared by rows 37-41
        ("9004-70-0", 6),  # CAS shared by rows 37-42
        ("硝酸铵", 2),
        ("6484-52-2", 2),
        ("甲醛", 1),  # only 甲醛(含量>90%) is listed: 37 % formalin is not
        ("蚁醛", 1),
        ("50-00-0", 1),
        ("硝酸", 1),  # 硝酸(发红烟的除外,含硝酸>70%)
        ("7697-37-2", 1),
    ],
)
def test_conditional_or_shared_rows_need_the_full_name(text, n_rows):
    """Rows whose name carries a condition match only by that full name."""
    with pytest.raises(AmbiguousChemical) as info:
        lookup_chemical(text)
    assert isinstance(info.value, UnknownChemical)
    assert len(info.value.suggestions) == n_rows
    for full_name in info.value.suggestions:
        assert lookup_chemical(full_name).name_zh == full_name


@pytest.mark.parametrize("value", [None, "", "  ", 7782505, ["氯"]])
def test_lookup_refuses_non_strings(value):
    with pytest.raises(InvalidInput, match="^chemical: "):
        lookup_chemical(value)


@pytest.mark.parametrize("symbol", ["W12", "W5", "X1", "", "J 1 "])
def test_unknown_category(symbol):
    with pytest.raises(UnknownCategory) as info:
        hazard_category(symbol)
    assert isinstance(info.value, KeyError)
    assert "W5.1" in str(info.value)  # lists the valid symbols


@pytest.mark.parametrize("symbol", [5, None, {"W2": 1}])
def test_category_must_be_text(symbol):
    with pytest.raises(InvalidInput, match="^category: "):
        hazard_category(symbol)


def test_critical_quantity_needs_an_argument():
    with pytest.raises(InvalidInput):
        critical_quantity()


# --------------------------------------------------------------------------- identification


@pytest.mark.parametrize(
    ("name", "q_crit"), [("氯", 5), ("光气", 0.3), ("异氰酸甲酯", 0.75), ("甲苯", 500)]
)
@pytest.mark.parametrize(
    ("factor", "major"), [(0.5, False), (0.999, False), (1, True), (1.001, True), (3, True)]
)
def test_single_chemical_against_q(name, q_crit, factor, major):
    """§4.2: a single chemical is a major hazard when q ≥ Q (exactly Q counts)."""
    q = float(Decimal(str(q_crit)) * Decimal(str(factor)))
    a = one(name, q, 10, category="W5.3")  # category only matters for β of 甲苯
    assert a.is_major is major
    assert a.s == pytest.approx(factor)
    assert (a.grade is not None) is major
    assert (a.r is not None) is major


def test_exactly_q_is_s_equal_1():
    """§4.2 "equals or exceeds": S = 1 exactly → major hazard (worked check 4)."""
    a = one("氯", 5)
    assert a.s == 1.0
    assert a.is_major


def test_chlorine_below_q_worked_check_1():
    """Reference worked check 1: chlorine 4 t, S = 0.8 → not a major hazard."""
    a = one("液氯", 4, 120)
    assert (a.s, a.is_major, a.r, a.grade) == (0.8, False, None, None)
    assert a.alpha == 2.0  # α is reported even when the unit is not graded


def test_mixture_each_below_q_sums_over_1_worked_check_2():
    """§4.2 Eq. 1 and §4.3 Eq. 2, reference worked check 2: Cl2 3 t + NH3 6 t, 120 people."""
    a = assess_unit(
        [{"chemical": "氯", "quantity_t": 3}, {"chemical": "氨", "quantity_t": 6}],
        exposed_people_500m=120,
    )
    assert all(c.ratio < 1 for c in a.contributions)
    assert a.s == pytest.approx(1.2)
    assert a.is_major
    assert a.r == pytest.approx(7.2)
    assert a.grade == 4


def test_mixture_summing_to_exactly_1_is_decided_exactly():
    """§4.2: 0.4/5 + 9.2/10 is exactly 1; binary floats give 0.9999999999999999."""
    assert 0.4 / 5 + 9.2 / 10 < 1  # the trap
    a = assess_unit(
        [{"chemical": "氯", "quantity_t": 0.4}, {"chemical": "氨", "quantity_t": 9.2}],
        exposed_people_500m=0,
    )
    assert a.s == 1.0
    assert a.is_major


def test_zero_quantity_is_allowed():
    a = one("氯", 0)
    assert (a.s, a.is_major) == (0.0, False)


def test_same_chemical_twice_adds_up():
    """Two tanks of the same chemical in one unit: their q/Q add (§4.2 Eq. 1)."""
    a = assess_unit(
        [{"chemical": "氯", "quantity_t": 2.5}, {"chemical": "液氯", "quantity_t": 2.5}],
        exposed_people_500m=0,
    )
    assert a.s == 1.0 and a.is_major


# --------------------------------------------------------------------------- α, β, grade


@pytest.mark.parametrize(
    ("people", "alpha"),
    [
        (0, 0.5),
        (1, 1.0),
        (29, 1.0),
        (30, 1.2),
        (49, 1.2),
        (50, 1.5),
        (99, 1.5),
        (100, 2.0),
        (101, 2.0),
        (10**6, 2.0),
    ],
)
def test_alpha_bands(people, alpha):
    """§4.3 Table 5: 0 → 0.5, 1~29 → 1.0, 30~49 → 1.2, 50~99 → 1.5, 100人以上 (≥ 100) → 2.0."""
    assert exposure_alpha(people) == alpha
    a = one("氯", 5, people)  # Σβq/Q = 4 × 1
    assert a.alpha == alpha
    assert a.r == pytest.approx(4 * alpha)


@pytest.mark.parametrize(
    ("q_t", "r", "grade"),
    [
        (250, 100, 1),  # R ≥ 100 → 一级
        (249.975, 99.99, 2),
        (125, 50, 2),  # 100 > R ≥ 50 → 二级
        (124.975, 49.99, 3),
        (25, 10, 3),  # 50 > R ≥ 10 → 三级
        (24.975, 9.99, 4),  # R < 10 → 四级
        (5, 2, 4),
    ],
)
def test_grade_boundaries(q_t, r, grade):
    """§4.3 Table 6 with R exactly at each threshold: chlorine (β 4, Q 5), 0 people (α 0.5)."""
    a = one("氯", q_t, 0)
    assert a.r == pytest.approx(r, abs=1e-12)
    assert a.grade == grade


@pytest.mark.parametrize(
    ("r", "grade"),
    [(1000, 1), (100, 1), (99.999, 2), (50, 2), (49.999, 3), (10, 3), (9.999, 4), (0, 4)],
)
def test_grade_for_r(r, grade):
    """§4.3 Table 6."""
    assert grade_for_r(r) == grade


def test_phosgene_grade_1_worked_check_3():
    """Reference worked check 3: phosgene 1.5 t, 35 people: S = 5, R = 1.2 × 20 × 5 = 120 → 一级."""
    a = one("光气", 1.5, 35)
    assert a.s == pytest.approx(5)
    assert a.r == pytest.approx(120)
    assert a.grade == 1


def test_three_gases_worked_check_5():
    """Reference worked check 5: (Q 5, β 5) 2 t + (Q 1, β 20) 2 t + (Q 5, β 4) 1 t, 102 people → R 85.6, 二级.

    Played with 硫化氢 (Q 5, β 5), 磷化氢 (Q 1, β 20) and 氯 (Q 5, β 4).
    """
    a = assess_unit(
        [
            {"chemical": "硫化氢", "quantity_t": 2},
            {"chemical": "磷化氢", "quantity_t": 2},
            {"chemical": "氯", "quantity_t": 1},
        ],
        exposed_people_500m=102,
    )
    assert a.alpha == 2.0
    assert a.r == pytest.approx(85.6)
    assert a.grade == 2


def test_contributions_record_q_and_beta_sources():
    a = assess_unit(
        [
            {"chemical": "氯", "quantity_t": 3},
            {"chemical": "苯", "quantity_t": 10, "category": "W5.1"},
            {"category": ["W2", "J3"], "label": "工艺气", "quantity_t": 2},
        ],
        exposed_people_500m=40,
    )
    c0, c1, c2 = a.contributions
    assert (c0.index, c0.given, c0.chemical, c0.table1_seq) == (0, "氯", "氯", 12)
    assert (c0.q_source, c0.critical_quantity_t, c0.beta, c0.beta_source, c0.beta_key) == (
        "table1", 5, 4, "table3", "氯",
    )  # fmt: skip
    # 苯: Q from Table 1 (50 t), not Table 2's W5.1 (10 t); β from Table 4 W5.1.
    assert (c1.q_source, c1.critical_quantity_t, c1.beta, c1.beta_source, c1.beta_key) == (
        "table1", 50, 1.5, "table4", "W5.1",
    )  # fmt: skip
    # Several hazards: the lowest Q (W2 10 t < J3 50 t) and the β of that category.
    assert (c2.given, c2.chemical, c2.table1_seq, c2.categories) == (
        "工艺气",
        None,
        None,
        ("W2", "J3"),
    )
    assert (c2.q_source, c2.critical_quantity_t, c2.beta, c2.beta_key) == ("table2", 10, 1.5, "W2")
    assert a.s == pytest.approx(3 / 5 + 10 / 50 + 2 / 10)
    assert a.r == pytest.approx(1.2 * (4 * 0.6 + 1.5 * 0.2 + 1.5 * 0.2))


# --------------------------------------------------------------------------- by category


@pytest.mark.parametrize(
    ("cats", "q_t", "beta"),
    [
        ("W5.1", 10, 1.5),
        ("w5.3", 1000, 1),
        (["W5.3", "J5"], 500, 1),  # lowest Q: J5 500 t
        (["J1", "W2"], 5, 4),  # J1 sets Q (5 t) and β (4)
        (["W2", "W5.1"], 10, 1.5),  # tie on Q 10: the larger β
        (["W1.3", "J2", "W4"], 50, 2),  # tie on Q 50: W1.3 β 2 is the largest
        (("W11", "W11"), 200, 1),
    ],
)
def test_category_items(cats, q_t, beta):
    """§4.1 b): chemicals not in Table 1 take Q from Table 2, the lowest for several hazards."""
    a = assess_unit([{"category": cats, "quantity_t": q_t}], exposed_people_500m=0)
    c = a.contributions[0]
    assert (c.critical_quantity_t, c.q_source, c.beta, c.beta_source) == (
        q_t,
        "table2",
        beta,
        "table4",
    )
    assert a.s == 1.0 and a.is_major
    assert a.r == pytest.approx(0.5 * beta)


def test_table3_beta_wins_over_a_category():
    """§4.3: chemicals of Table 3 take β from Table 3 even when a category is given."""
    c = one("氨", 10, category="J3").contributions[0]
    assert (c.beta, c.beta_source, c.categories) == (2, "table3", ("J3",))


def test_table1_chemical_outside_table3_needs_a_category_only_to_grade():
    """§4.3: β of a non-Table-3 chemical comes from Table 4 by category, which Table 1 lacks."""
    below = one("苯", 10)
    assert not below.is_major
    assert below.contributions[0].beta is None
    with pytest.raises(InvalidInput) as info:
        one("苯", 60)
    assert info.value.field == "inventory[0].category"
    assert "Table 4" in info.value.reason
    graded = one("苯", 60, category="W5.1")
    assert graded.r == pytest.approx(0.5 * 1.5 * 60 / 50)


def test_town_gas_is_not_table3_carbon_monoxide():
    """CO takes β 2 (Table 3); 煤气 by that name needs a Table 4 category."""
    assert one("一氧化碳", 20).r == pytest.approx(0.5 * 2)
    with pytest.raises(InvalidInput, match=r"inventory\[0\]\.category"):
        one("煤气", 20)


def test_unknown_category_in_inventory_names_the_field():
    with pytest.raises(UnknownCategory) as info:
        assess_unit(
            [{"chemical": "氯", "quantity_t": 1}, {"category": "W99", "quantity_t": 1}],
            exposed_people_500m=0,
        )
    assert info.value.field == "inventory[1].category"


# --------------------------------------------------------------------------- bad input


def _inventory_with_bad_third(q: object) -> list[dict[str, object]]:
    return [
        {"chemical": "氯", "quantity_t": 1},
        {"chemical": "氨", "quantity_t": 1},
        {"chemical": "光气", "quantity_t": q},
    ]


@pytest.mark.parametrize(
    "q", [-1, -0.001, math.nan, math.inf, -math.inf, "5", None, True, [1], Decimal("NaN"), 10**400]
)
def test_bad_quantity_names_the_index(q):
    with pytest.raises(InvalidQuantity) as info:
        assess_unit(_inventory_with_bad_third(q), exposed_people_500m=0)
    assert isinstance(info.value, ValueError) and isinstance(info.value, HazardError)
    assert info.value.field == "inventory[2].quantity_t"
    assert str(info.value).startswith("inventory[2].quantity_t: ")


def test_negative_quantity_message():
    with pytest.raises(InvalidQuantity, match=r"^inventory\[0\]\.quantity_t: must be ≥ 0"):
        one("氯", -5)


@pytest.mark.parametrize("q", [Decimal("2.5"), np.float64(2.5), np.float32(2.5), np.int64(2), 2])
def test_numeric_types_accepted(q):
    assert one("氯", q).s == pytest.approx(float(q) / 5)


def test_unknown_chemical_in_inventory_names_the_index():
    with pytest.raises(UnknownChemical) as info:
        assess_unit(
            [{"chemical": "氯", "quantity_t": 1}, {"chemical": "氯化钾", "quantity_t": 1}],
            exposed_people_500m=0,
        )
    assert info.value.field == "inventory[1].chemical"
    assert "氯酸钾" in info.value.suggestions


@pytest.mark.parametrize("people", [-1, 1.5, 100.0, True, "100", None, math.nan])
def test_bad_exposed_people(people):
    with pytest.raises(InvalidQuantity) as info:
        one("氯", 1, people)
    assert info.value.field == "exposed_people_500m"


def test_numpy_int_people_accepted():
    assert one("氯", 5, np.int64(100)).alpha == 2.0


@pytest.mark.parametrize(
    ("inventory", "field"),
    [
        ([], "inventory"),
        ({"chemical": "氯", "quantity_t": 1}, "inventory"),
        ("氯", "inventory"),
        (None, "inventory"),
        ([("氯", 1)], "inventory[0]"),
        ([{"chemical": "氯"}], "inventory[0].quantity_t"),
        ([{"quantity_t": 1}], "inventory[0]"),
        ([{"chemical": "氯", "quantity": 1}], "inventory[0].quantity"),
        ([{"chemical": "氯", "quantity_t": 1, "label": 5}], "inventory[0].label"),
        ([{"category": [], "quantity_t": 1}], "inventory[0].category"),
        ([{"chemical": "", "quantity_t": 1}], "inventory[0].chemical"),
    ],
)
def test_bad_inventory_shape(inventory, field):
    with pytest.raises(InvalidInput) as info:
        assess_unit(inventory, exposed_people_500m=0)
    assert info.value.field == field


def test_people_must_be_keyword():
    with pytest.raises(TypeError):
        assess_unit([{"chemical": "氯", "quantity_t": 1}], 10)  # type: ignore[misc]


def test_results_are_frozen():
    a = one("氯", 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.s = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.contributions[0].beta = 0  # type: ignore[misc]
