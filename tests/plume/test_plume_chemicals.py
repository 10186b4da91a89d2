import csv

import pytest

import plume
from plume import _reference_data
from plume.chemicals import default_levels_of_concern, get, names
from plume.errors import MissingProperty, PlumeError, UnknownChemical

REFERENCE = "/work/shared/reference/toxic_thresholds.csv"


@pytest.mark.parametrize("key", ["chlorine", "Chlorine", " 氯 ", "液氯", "氯气", "7782-50-5", "CL2"])
def test_lookup_by_english_chinese_alias_and_cas(key):
    assert get(key).cas == "7782-50-5"


@pytest.mark.parametrize("key, cas", [("光气", "75-44-5"), ("碳酰氯", "75-44-5"),
                                      ("联氨", "302-01-2"), ("液氨", "7664-41-7"),
                                      ("hydrogen sulfide", "7783-06-4")])
def test_chinese_names_with_parenthesised_synonyms(key, cas):
    assert get(key).cas == cas


def test_unknown_chemical_lists_close_matches_and_is_a_keyerror():
    with pytest.raises(UnknownChemical) as info:
        get("ammonai")
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, PlumeError)
    assert "ammonia (7664-41-7)" in str(err) and err.field == "chemical"


def test_unknown_chemical_without_matches():
    with pytest.raises(UnknownChemical) as info:
        get("unobtainium-42")
    assert "did you mean" not in str(info.value)


def test_shipped_table_is_the_reference_table():
    try:
        with open(REFERENCE, encoding="utf-8") as fh:
            ref = fh.read()
    except FileNotFoundError:
        pytest.skip("shared reference folder not mounted")
    assert ref == _reference_data.TOXIC_THRESHOLDS_CSV


def test_thresholds_match_csv_row_by_row():
    rows = list(csv.DictReader(_reference_data.TOXIC_THRESHOLDS_CSV.splitlines()))
    assert len(rows) == len(names()) == 24
    for row in rows:
        chem = get(row["cas"])
        for col, attr in [("aegl1_60min_ppm", "aegl1_ppm"), ("aegl2_60min_ppm", "aegl2_ppm"),
                          ("aegl3_60min_ppm", "aegl3_ppm"), ("erpg1_ppm", "erpg1_ppm"),
                          ("erpg2_ppm", "erpg2_ppm"), ("erpg3_ppm", "erpg3_ppm"),
                          ("idlh_ppm", "idlh_ppm")]:
            expected = float(row[col]) if row[col] else None
            assert getattr(chem, attr) == expected, (row["name_en"], col)
        assert chem.mw_g_mol == float(row["mw_g_mol"])


def test_chlorine_values():
    c = get("chlorine")
    assert (c.aegl1_ppm, c.aegl2_ppm, c.aegl3_ppm) == (0.5, 2.0, 20.0)
    assert (c.erpg1_ppm, c.erpg2_ppm, c.erpg3_ppm, c.idlh_ppm) == (1.0, 3.0, 20.0, 10.0)


def test_levels_fall_back_per_tier():
    assert [lc.name for lc in default_levels_of_concern(get("phosgene"))] == [
        "AEGL-3 (60 min)", "AEGL-2 (60 min)"]
    assert [lc.name for lc in default_levels_of_concern(get("benzene"))] == [
        "ERPG-3", "ERPG-2", "ERPG-1"]
    assert [(lc.name, lc.threshold_ppm) for lc in default_levels_of_concern(get("methanol"))][0] == (
        "ERPG-3", 5000.0)


@pytest.mark.parametrize("name, tb_k", [("chlorine", 239.1), ("ammonia", 239.8),
                                        ("benzene", 353.2), ("hydrogen sulfide", 212.9)])
def test_physical_properties_from_the_chemicals_package(name, tb_k):
    c = get(name)
    assert c.boiling_point_k == pytest.approx(tb_k, abs=0.3)
    # vapour pressure at the normal boiling point is one atmosphere
    assert c.vapour_pressure_pa(c.boiling_point_k) == pytest.approx(101325, rel=0.03)
    assert c.liquid_density_kg_m3(c.boiling_point_k - 1) > 500
    assert 1.0 < c.heat_capacity_ratio(298.15) < 1.67
    assert c.heat_of_vaporisation_j_kg() > 1e5


def test_supercritical_liquid_properties_are_refused():
    with pytest.raises(MissingProperty, match="critical temperature"):
        get("carbon monoxide").liquid_density_kg_m3(298.15)


def test_module_is_reachable_as_plume_chemicals():
    assert plume.chemicals.get("氨").name_en == "ammonia"
