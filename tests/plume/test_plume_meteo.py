"""Pasquill stability table (Turner 1970), with OneMap's documented rules."""

import pytest

from plume.errors import InvalidParameter
from plume.meteo import stability_class

DAY = [  # wind, strong, moderate, slight (split classes -> more stable)
    (1.0, "A", "B", "B"), (2.5, "B", "B", "C"), (4.0, "B", "C", "C"),
    (5.5, "C", "D", "D"), (8.0, "C", "D", "D"),
]
NIGHT = [  # wind, >= 4/8 cloud, <= 3/8 cloud
    (2.5, "E", "F"), (4.0, "D", "E"), (5.5, "D", "D"), (8.0, "D", "D"),
]


@pytest.mark.parametrize("u, strong, moderate, slight", DAY)
def test_day_rows(u, strong, moderate, slight):
    assert stability_class(u, daytime=True, insolation="strong") == strong
    assert stability_class(u, daytime=True, insolation="moderate") == moderate
    assert stability_class(u, daytime=True, insolation="slight") == slight


@pytest.mark.parametrize("u, cloudy, clear", NIGHT)
def test_night_rows(u, cloudy, clear):
    assert stability_class(u, daytime=False, cloud_cover_oktas=5) == cloudy
    assert stability_class(u, daytime=False, cloud_cover_oktas=4) == cloudy
    assert stability_class(u, daytime=False, cloud_cover_oktas=3) == clear
    assert stability_class(u, daytime=False, cloud_cover_oktas=0) == clear


@pytest.mark.parametrize("oktas", [0, 3, 4, 7])
def test_calm_night_rule_is_f(oktas):
    assert stability_class(1.2, daytime=False, cloud_cover_oktas=oktas) == "F"


@pytest.mark.parametrize("daytime, u", [(True, 1.0), (True, 9.0), (False, 0.5), (False, 4.0)])
def test_overcast_is_d_day_or_night(daytime, u):
    assert stability_class(u, daytime=daytime, cloud_cover_oktas=8) == "D"


def test_boundaries_belong_to_the_higher_row():
    assert stability_class(2.0, daytime=True, insolation="strong") == "B"   # 2-3 row
    assert stability_class(1.999, daytime=True, insolation="strong") == "A"
    assert stability_class(6.0, daytime=True, insolation="strong") == "C"


@pytest.mark.parametrize("kwargs, field", [
    (dict(wind_speed_m_s=0.0, daytime=True, insolation="strong"), "wind_speed_m_s"),
    (dict(wind_speed_m_s=-1.0, daytime=True, insolation="strong"), "wind_speed_m_s"),
    (dict(wind_speed_m_s=float("nan"), daytime=False, cloud_cover_oktas=2), "wind_speed_m_s"),
    (dict(wind_speed_m_s=3.0, daytime=True), "insolation"),
    (dict(wind_speed_m_s=3.0, daytime=True, insolation="blazing"), "insolation"),
    (dict(wind_speed_m_s=3.0, daytime=False), "cloud_cover_oktas"),
    (dict(wind_speed_m_s=3.0, daytime=False, cloud_cover_oktas=9), "cloud_cover_oktas"),
    (dict(wind_speed_m_s=3.0, daytime=False, cloud_cover_oktas=2.5), "cloud_cover_oktas"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(InvalidParameter) as info:
        stability_class(**kwargs)
    assert info.value.field == field
