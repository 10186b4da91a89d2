"""Zhejiang reference figures used by the demo.

City populations are the 7th national census (2020-11-01) resident counts
published in 浙江省第七次人口普查主要数据公报 (Zhejiang Provincial Bureau of
Statistics, 2021-05-13). Hangzhou, Ningbo, Wenzhou, Jinhua and the province
total were checked against press reproductions of that bulletin; the seven
other cities sum exactly to the published remainder (26,603,709).

County populations are NOT published figures: the demo splits each city's
total over its counties in proportion to land area weighted by kind
(districts 区 ×4, county-level cities ×1.6, counties ×1), a rough stand-in
that keeps every city total right. Labelled "rough" wherever it is stored.
"""

from __future__ import annotations

__all__ = ["PROVINCE_POPULATION_2020", "CITY_POPULATION_2020", "county_weight"]

PROVINCE_POPULATION_2020 = 64_567_588

CITY_POPULATION_2020 = {
    "330100": 11_936_010,  # 杭州市
    "330200": 9_404_283,  # 宁波市
    "330300": 9_572_903,  # 温州市
    "330400": 5_400_868,  # 嘉兴市
    "330500": 3_367_579,  # 湖州市
    "330600": 5_270_977,  # 绍兴市
    "330700": 7_050_683,  # 金华市
    "330800": 2_276_184,  # 衢州市
    "330900": 1_157_817,  # 舟山市
    "331000": 6_622_888,  # 台州市
    "331100": 2_507_396,  # 丽水市
}

assert sum(CITY_POPULATION_2020.values()) == PROVINCE_POPULATION_2020


def county_weight(name: str) -> float:
    """Density weight of a county-level unit by the kind in its name."""
    if name.endswith("区"):
        return 4.0
    if name.endswith("市"):
        return 1.6
    return 1.0
