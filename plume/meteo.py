"""Pasquill stability class from surface wind, day/night, insolation and cloud.

Pasquill (1961), as reproduced by Turner (1970) and verified in
``reference/briggs_sigmas.md`` §2 (Stern et al. Table 19-3; NOAA READY
``READYpgclass.php``):

=====================  ======  ========  ======  ======================  ===========
wind at 10 m (m/s)     strong  moderate  slight  night, thin overcast or  night, ≤ 3/8
                                                 ≥ 4/8 low cloud          cloud
=====================  ======  ========  ======  ======================  ===========
< 2                    A       A–B       B       (blank)                 (blank)
2–3                    A–B     B         C       E                       F
3–5                    B       B–C       C       D                       E
5–6                    C       C–D       D       D                       D
> 6                    C       D         D       D                       D
=====================  ======  ========  ======  ======================  ===========

Note 3 of the table: class D for overcast skies (8/8) by day or night,
whatever the wind.

Rules OneMap had to choose (the table does not define them):

* **Row boundaries**: a speed on a boundary belongs to the higher row
  (``2.0`` is in "2–3", ``6.0`` in "> 6").
* **Split classes** (A–B, B–C, C–D): the *more stable* letter (B, C, D). Our
  sigma curves take one class; the more stable one gives the longer
  ground-level threat zone, the conservative choice for emergency planning.
* **Calm nights** (< 2 m/s at night, blank in Pasquill's table): class **F**
  whatever the cloud cover, the most stable class of the six-class Briggs set.
  (NOAA READY fills the cells with E/F.) :mod:`plume.limits` adds a
  "very stable, low wind" warning for these cases.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .errors import InvalidParameter

__all__ = ["INSOLATION_CLASSES", "stability_class"]

Insolation = Literal["strong", "moderate", "slight"]
INSOLATION_CLASSES: tuple[str, ...] = ("strong", "moderate", "slight")

# rows: <2, 2-3, 3-5, 5-6, >=6 ; split classes already resolved to the more stable
_DAY = {
    "strong": ("A", "B", "B", "C", "C"),
    "moderate": ("B", "B", "C", "D", "D"),
    "slight": ("B", "C", "C", "D", "D"),
}
_NIGHT_CLOUDY = ("F", "E", "D", "D", "D")   # thinly overcast or >= 4/8 low cloud
_NIGHT_CLEAR = ("F", "F", "E", "D", "D")    # <= 3/8 cloud
_ROW_EDGES_M_S = (2.0, 3.0, 5.0, 6.0)


def _row(wind_speed_m_s: float) -> int:
    return int(np.searchsorted(_ROW_EDGES_M_S, wind_speed_m_s, side="right"))


def stability_class(wind_speed_m_s: float, *, daytime: bool,
                    insolation: Insolation | None = None,
                    cloud_cover_oktas: int | None = None) -> str:
    """Pasquill stability class ``"A"`` … ``"F"`` (Pasquill 1961; Turner 1970).

    Parameters
    ----------
    wind_speed_m_s : float
        Surface wind speed at 10 m, m/s; must be finite and > 0.
    daytime : bool
        ``True`` by day; night is 1 h before sunset to 1 h after sunrise.
    insolation : {"strong", "moderate", "slight"}, optional
        Incoming solar radiation by day. Required by day unless the sky is
        overcast (``cloud_cover_oktas == 8``).
    cloud_cover_oktas : int, optional
        Cloud cover in eighths (0–8). Required at night; 8 means overcast,
        which gives class D by day or night.

    Returns
    -------
    str
        One of ``"A"`` … ``"F"``.

    Raises
    ------
    InvalidParameter
        Non-finite or non-positive wind; missing or unknown insolation/cloud.

    Examples
    --------
    >>> stability_class(6.0, daytime=True, cloud_cover_oktas=8)  # overcast morning
    'D'
    >>> stability_class(2.5, daytime=True, insolation="strong")  # A-B -> B
    'B'
    >>> stability_class(3.0, daytime=False, cloud_cover_oktas=2)
    'E'

    Calm night, left blank by Pasquill, is F here:

    >>> stability_class(0.5, daytime=False, cloud_cover_oktas=6)
    'F'

    Zero wind is refused:

    >>> stability_class(0.0, daytime=True, insolation="slight")
    Traceback (most recent call last):
    ...
    plume.errors.InvalidParameter: wind_speed_m_s: must be a finite number > 0, got 0.0
    """
    u = float(wind_speed_m_s)
    if not np.isfinite(u) or u <= 0:
        raise InvalidParameter("wind_speed_m_s", f"must be a finite number > 0, got {u!r}")
    if cloud_cover_oktas is not None:
        if isinstance(cloud_cover_oktas, bool) or int(cloud_cover_oktas) != cloud_cover_oktas \
                or not 0 <= cloud_cover_oktas <= 8:
            raise InvalidParameter("cloud_cover_oktas",
                                   f"must be a whole number of eighths 0..8, got {cloud_cover_oktas!r}")
        if cloud_cover_oktas == 8:
            return "D"
    row = _row(u)
    if daytime:
        if insolation is None:
            raise InvalidParameter("insolation", "needed by day unless overcast "
                                   "(cloud_cover_oktas=8); one of strong, moderate, slight")
        key = str(insolation).strip().lower()
        if key not in _DAY:
            raise InvalidParameter("insolation", f"unknown insolation {insolation!r}; "
                                   "valid: strong, moderate, slight")
        return _DAY[key][row]
    if cloud_cover_oktas is None:
        raise InvalidParameter("cloud_cover_oktas", "needed at night (0..8 eighths)")
    column = _NIGHT_CLOUDY if cloud_cover_oktas >= 4 else _NIGHT_CLEAR
    return column[row]
