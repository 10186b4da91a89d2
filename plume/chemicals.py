"""Chemical lookup: identity, toxic thresholds and the physical properties
that source terms and dense-gas checks need.

* Identity and thresholds (MW, AEGL-1/2/3 60 min, ERPG-1/2/3, IDLH, in ppm at
  25 °C, 1 atm) come from ``reference/toxic_thresholds.csv`` (shipped verbatim
  in :mod:`plume._reference_data`; sources in toxic_thresholds_sources.md).
* Physical properties come from the ``chemicals`` package (Caleb Bell,
  Chemical Engineering Design Library, MIT licence) looked up by CAS number:
  Tb, Tc, Pc, acentric factor, critical volume, and temperature-dependent
  correlations with published coefficients —
  vapour pressure: Perry's 8th ed. Table 2-8 (DIPPR eq. 101), else the
  Lee–Kesler correlation; heat of vaporisation: Perry's Table 2-150 (DIPPR eq.
  106), else Pitzer's correlation; saturated liquid density: Perry's Table
  2-32/2-105 (DIPPR eq. 105), else COSTALD; ideal-gas heat capacity: TRC
  coefficients, else Poling et al.; liquid heat capacity: Rowlinson–Poling
  corresponding-states estimate from the ideal-gas value.

Names may be English, Chinese or CAS numbers; an unknown name raises
:class:`~plume.errors.UnknownChemical` listing close matches.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from . import _reference_data
from .errors import MissingProperty, UnknownChemical
from .units import R_J_MOL_K

__all__ = ["Chemical", "LevelOfConcernSpec", "get", "as_chemical", "names",
           "default_levels_of_concern"]

# A few everyday synonyms used in Chinese registries and English reports.
_ALIASES: dict[str, str] = {
    "氯气": "7782-50-5", "液氯": "7782-50-5", "cl2": "7782-50-5",
    "氨气": "7664-41-7", "液氨": "7664-41-7", "anhydrous ammonia": "7664-41-7",
    "nh3": "7664-41-7",
    "h2s": "7783-06-4", "hcl": "7647-01-0", "氯化氢气体": "7647-01-0",
    "hf": "7664-39-3", "无水氟化氢": "7664-39-3",
    "so2": "7446-09-5", "cocl2": "75-44-5", "hcn": "74-90-8", "co": "630-08-0",
    "no2": "10102-44-0", "mic": "624-83-9", "cs2": "75-15-0",
}


@dataclass(frozen=True)
class LevelOfConcernSpec:
    """A named toxic level of concern (threshold) in ppm."""

    name: str
    threshold_ppm: float
    tier: int  # 3 = life-threatening (red), 2 = serious (orange), 1 = mild (yellow)


def _num(text: str) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


@dataclass(frozen=True)
class Chemical:
    """One chemical of the reference table, with property correlations.

    Attributes are in the units their names say; thresholds are ppm (v/v)
    at 25 °C and 1 atm, ``None`` where no source confirmed a value.
    """

    name_en: str
    name_zh: str
    cas: str
    mw_g_mol: float
    aegl1_ppm: float | None
    aegl2_ppm: float | None
    aegl3_ppm: float | None
    erpg1_ppm: float | None
    erpg2_ppm: float | None
    erpg3_ppm: float | None
    idlh_ppm: float | None
    threshold_source: str = field(repr=False)

    # ---- constants from `chemicals` -------------------------------------------------
    @cached_property
    def _props(self) -> dict:
        import chemicals as lib  # the external package, not this module

        return {"Tb": lib.Tb(self.cas), "Tc": lib.Tc(self.cas), "Pc": lib.Pc(self.cas),
                "omega": lib.omega(self.cas), "Vc": lib.Vc(self.cas)}

    def _subcritical(self, temperature_k: float, what: str) -> float:
        t = float(temperature_k)
        if not math.isfinite(t) or t <= 0:
            raise MissingProperty(self.name_en, what, f"temperature {t!r} K is not valid")
        if t >= self.critical_temperature_k:
            raise MissingProperty(self.name_en, what, f"{t:g} K is above the critical "
                                  f"temperature {self.critical_temperature_k:g} K: no liquid")
        return t

    def _need(self, key: str, what: str) -> float:
        value = self._props.get(key)
        if value is None or not math.isfinite(value):
            raise MissingProperty(self.name_en, what, "not in the chemicals package")
        return float(value)

    @property
    def boiling_point_k(self) -> float:
        """Normal boiling point, K."""
        return self._need("Tb", "normal boiling point")

    @property
    def critical_temperature_k(self) -> float:
        """Critical temperature, K."""
        return self._need("Tc", "critical temperature")

    @property
    def critical_pressure_pa(self) -> float:
        """Critical pressure, Pa."""
        return self._need("Pc", "critical pressure")

    @property
    def acentric_factor(self) -> float:
        """Pitzer acentric factor ω (dimensionless)."""
        return self._need("omega", "acentric factor")

    @property
    def kg_mol(self) -> float:
        return self.mw_g_mol * 1e-3

    # ---- temperature-dependent correlations -----------------------------------------
    def vapour_pressure_pa(self, temperature_k: float) -> float:
        """Saturation vapour pressure, Pa (Perry's DIPPR-101, else Lee–Kesler).

        Examples
        --------
        >>> round(get("chlorine").vapour_pressure_pa(298.15) / 1e5, 2)  # about 7.8 bar
        7.81
        """
        from chemicals import vapor_pressure as vp
        from chemicals.dippr import EQ101

        temperature_k = self._subcritical(temperature_k, "vapour pressure")
        table = vp.Psat_data_Perrys2_8
        if self.cas in table.index:
            r = table.loc[self.cas]
            return float(EQ101(temperature_k, r["C1"], r["C2"], r["C3"], r["C4"], r["C5"]))
        return float(vp.Lee_Kesler(temperature_k, self.critical_temperature_k,
                                   self.critical_pressure_pa, self.acentric_factor))

    def heat_of_vaporisation_j_kg(self, temperature_k: float | None = None) -> float:
        """Latent heat of vaporisation, J/kg, at ``temperature_k`` (default Tb).

        Examples
        --------
        >>> round(get("chlorine").heat_of_vaporisation_j_kg() / 1e3)  # at Tb, kJ/kg
        288
        """
        from chemicals import phase_change as pc
        from chemicals.dippr import EQ106

        t = self._subcritical(self.boiling_point_k if temperature_k is None else temperature_k,
                              "heat of vaporisation")
        table = pc.phase_change_data_Perrys2_150
        if self.cas in table.index:
            r = table.loc[self.cas]
            h_j_mol = EQ106(t, r["Tc"], r["C1"], r["C2"], r["C3"], r["C4"])
        else:
            h_j_mol = pc.Pitzer(t, self.critical_temperature_k, self.acentric_factor)
        return float(h_j_mol) / self.kg_mol

    def liquid_density_kg_m3(self, temperature_k: float) -> float:
        """Saturated liquid density, kg/m³ (Perry's DIPPR-105, else COSTALD).

        Examples
        --------
        >>> round(get("chlorine").liquid_density_kg_m3(298.15))
        1394
        """
        from chemicals import volume as vol
        from chemicals.dippr import EQ105

        temperature_k = self._subcritical(temperature_k, "liquid density")
        table = vol.rho_data_Perry_8E_105_l  # loaded on first access, once
        if self.cas in table.index:
            r = table.loc[self.cas]
            mol_m3 = EQ105(temperature_k, r["C1"], r["C2"], r["C3"], r["C4"])
            return float(mol_m3) * self.kg_mol
        vc = self._need("Vc", "critical volume (for COSTALD liquid density)")
        v_m3_mol = vol.COSTALD(temperature_k, self.critical_temperature_k, vc,
                               self.acentric_factor)
        return self.kg_mol / float(v_m3_mol)

    def gas_cp_j_kg_k(self, temperature_k: float) -> float:
        """Ideal-gas heat capacity at constant pressure, J/(kg·K)."""
        return self._gas_cp_j_mol_k(temperature_k) / self.kg_mol

    def _gas_cp_j_mol_k(self, temperature_k: float) -> float:
        from chemicals import heat_capacity as hc

        # `chemicals` loads its tables on first attribute access, once per process
        # (its _load_Cp_data() re-parses them all, ~70 ms, so it is not called here)
        if self.cas in hc.TRC_gas_data.index:
            r = hc.TRC_gas_data.loc[self.cas]
            return float(hc.TRCCp(temperature_k, *(r[f"a{i}"] for i in range(8))))
        if self.cas in hc.Cp_data_Poling.index:
            r = hc.Cp_data_Poling.loc[self.cas]
            if all(math.isfinite(r[k]) for k in ("a0", "a1", "a2", "a3", "a4")):
                return float(hc.Poling(temperature_k, r["a0"], r["a1"], r["a2"],
                                       r["a3"], r["a4"]))
        raise MissingProperty(self.name_en, "ideal-gas heat capacity")

    def heat_capacity_ratio(self, temperature_k: float) -> float:
        """Cp/Cv of the ideal gas, ``Cp / (Cp − R)``.

        Examples
        --------
        >>> round(get("chlorine").heat_capacity_ratio(298.15), 3)
        1.324
        """
        cp = self._gas_cp_j_mol_k(temperature_k)
        return cp / (cp - R_J_MOL_K)

    def liquid_cp_j_kg_k(self, temperature_k: float) -> float:
        """Liquid heat capacity, J/(kg·K), Rowlinson–Poling estimate.

        Examples
        --------
        >>> round(get("ammonia").liquid_cp_j_kg_k(298.15))  # measured ~4.7 kJ/(kg K)
        5199
        """
        from chemicals import heat_capacity as hc

        temperature_k = self._subcritical(temperature_k, "liquid heat capacity")
        cpl = hc.Rowlinson_Poling(temperature_k, self.critical_temperature_k,
                                  self.acentric_factor, self._gas_cp_j_mol_k(temperature_k))
        return float(cpl) / self.kg_mol

    def gas_density_kg_m3(self, temperature_k: float, pressure_pa: float = 101325.0) -> float:
        """Ideal-gas density of the pure vapour, kg/m³."""
        return pressure_pa * self.kg_mol / (R_J_MOL_K * temperature_k)


def _split_names(text: str) -> list[str]:
    parts = [text]
    parts += [p for p in re.split(r"[()（）]", text) if p]
    return [p.strip() for p in parts if p.strip()]


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, Chemical], dict[str, str]]:
    by_cas: dict[str, Chemical] = {}
    index: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(_reference_data.TOXIC_THRESHOLDS_CSV)):
        chem = Chemical(
            name_en=row["name_en"], name_zh=row["name_zh"], cas=row["cas"],
            mw_g_mol=float(row["mw_g_mol"]),
            aegl1_ppm=_num(row["aegl1_60min_ppm"]), aegl2_ppm=_num(row["aegl2_60min_ppm"]),
            aegl3_ppm=_num(row["aegl3_60min_ppm"]),
            erpg1_ppm=_num(row["erpg1_ppm"]), erpg2_ppm=_num(row["erpg2_ppm"]),
            erpg3_ppm=_num(row["erpg3_ppm"]), idlh_ppm=_num(row["idlh_ppm"]),
            threshold_source=row["source"])
        by_cas[chem.cas] = chem
        for key in [chem.cas, chem.name_en, *_split_names(chem.name_zh)]:
            index[key.lower()] = chem.cas
    for alias, cas in _ALIASES.items():
        index.setdefault(alias.lower(), cas)
    return by_cas, index


def names() -> list[str]:
    """English names of every chemical in the table.

    Examples
    --------
    >>> names()[:3]
    ['chlorine', 'ammonia', 'hydrogen sulfide']
    """
    return [c.name_en for c in _table()[0].values()]


def get(name_or_cas: str) -> Chemical:
    """Look a chemical up by English or Chinese name, common synonym, or CAS number.

    Parameters
    ----------
    name_or_cas : str
        e.g. ``"chlorine"``, ``"氯"``, ``"液氯"``, ``"7782-50-5"``. Case and
        surrounding spaces are ignored.

    Returns
    -------
    Chemical

    Raises
    ------
    UnknownChemical
        The name is not in the table; the message lists close matches.

    Examples
    --------
    >>> get("液氯").name_en
    'chlorine'
    >>> get(" 7664-41-7 ").aegl3_ppm
    1100.0
    >>> get("chlorin")
    Traceback (most recent call last):
    ...
    plume.errors.UnknownChemical: chemical: unknown chemical 'chlorin'; did you mean: chlorine (7782-50-5)?
    """
    by_cas, index = _table()
    key = str(name_or_cas).strip().lower()
    cas = index.get(key)
    if cas is None:
        close = difflib.get_close_matches(key, list(index), n=5, cutoff=0.6)
        shown: list[str] = []
        for c in close:
            chem = by_cas[index[c]]
            label = f"{chem.name_en} ({chem.cas})"
            if label not in shown:
                shown.append(label)
        raise UnknownChemical(str(name_or_cas), shown[:3])
    return by_cas[cas]


def as_chemical(chemical: str | Chemical) -> Chemical:
    """A :class:`Chemical` as is, or a name or CAS number looked up with :func:`get`.

    Examples
    --------
    >>> chlorine = get("chlorine")
    >>> as_chemical(chlorine) is chlorine, as_chemical("氯") is chlorine
    (True, True)
    """
    return chemical if isinstance(chemical, Chemical) else get(chemical)


def default_levels_of_concern(chem: Chemical) -> list[LevelOfConcernSpec]:
    """Toxic levels of concern, most severe first, following ALOHA's hierarchy.

    Per tier (3, 2, 1): the 60-min AEGL if a value is on file, else the
    ERPG of the same tier, else — tier 3 only — the IDLH. Tiers with no
    value are left out (e.g. phosgene has no AEGL-1 or ERPG-1).

    Examples
    --------
    >>> [(lc.name, lc.threshold_ppm) for lc in default_levels_of_concern(get("chlorine"))]
    [('AEGL-3 (60 min)', 20.0), ('AEGL-2 (60 min)', 2.0), ('AEGL-1 (60 min)', 0.5)]
    >>> [lc.name for lc in default_levels_of_concern(get("sulfur dioxide"))]
    ['ERPG-3', 'AEGL-2 (60 min)', 'AEGL-1 (60 min)']
    """
    levels = []
    for tier in (3, 2, 1):
        aegl = getattr(chem, f"aegl{tier}_ppm")
        erpg = getattr(chem, f"erpg{tier}_ppm")
        if aegl is not None:
            levels.append(LevelOfConcernSpec(f"AEGL-{tier} (60 min)", aegl, tier))
        elif erpg is not None:
            levels.append(LevelOfConcernSpec(f"ERPG-{tier}", erpg, tier))
        elif tier == 3 and chem.idlh_ppm is not None:
            levels.append(LevelOfConcernSpec("IDLH", chem.idlh_ppm, tier))
    return levels
