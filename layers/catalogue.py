"""The layer catalogue: the one place a map layer is defined.

A :class:`Layer` names its table, the properties it exposes (with labels and
types), which of them can be filtered, searched and sorted, its zoom range,
tile limits, MapLibre style and legend. Resource lists, vector tiles, OGC API
collections and the web map's legends all read from here; nothing else
spells out a layer's columns.

Columns are SQLAlchemy column objects of the ORM tables, never strings, so
queries built from the catalogue bind every value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, true

from geo import vocab
from geo.errors import NotFound
from geo.models import (
    AccidentReport,
    Alarm,
    CreditMapRow,
    Enterprise,
    HazardUnit,
    HiddenDanger,
    InspectionTask,
    ProtectionTarget,
    Region,
    RescueTeam,
    RiskCell,
    SensorMapRow,
    SupplyDepot,
)

__all__ = ["Field", "Layer", "LAYERS", "RESOURCES", "get_layer", "style_json"]


@dataclass(frozen=True)
class Field:
    """One exposed property: output ``name``, the column, JSON type, labels.

    ``choices`` (a :mod:`geo.vocab` table) makes the field filterable by
    value and gives the legend its labels.
    """

    name: str
    column: Any
    type: str  # JSON Schema type: string, integer, number, boolean, array
    zh: str
    en: str
    choices: dict | None = None
    filterable: bool = False
    sortable: bool = False
    fmt: str | None = None  # JSON Schema format: date, date-time


@dataclass(frozen=True)
class Layer:
    """A map layer (and, when ``path`` is set, an HTTP resource)."""

    name: str
    zh: str
    en: str
    model: Any
    geometry: str  # GeoJSON type family: Point, Polygon (any (Multi)Polygon), Geometry (mixed)
    fields: tuple[Field, ...]
    path: str | None = None  # resource path ("/enterprises"); None for map-only layers
    search: tuple = ()  # columns matched by q (ILIKE contains, or USCC prefix)
    base_filter: Any = None  # rows that belong on the layer (active, level ...)
    minzoom: int = 0
    maxzoom: int = 22
    thin_below: int | None = None  # points below this zoom are aggregated on a grid
    max_features: int = 20000  # per tile
    severity: tuple[str, tuple[str, ...]] | None = None  # style key, values most severe first (thinned tiles)
    deleted_status: str | None = None  # soft delete sets status to this (and valid_to)
    style: dict = field(default_factory=dict)
    legend: tuple = ()
    version_tables: tuple[str, ...] = ()
    temporal: Any = None  # column for OGC ``datetime``

    @property
    def table(self):
        return self.model.__table__

    @property
    def id_column(self):
        if self.model is Region:
            return self.model.__table__.c.adcode
        if self.model is RiskCell:
            return self.model.__table__.c.h3
        return self.model.__table__.c.id

    @property
    def geom_column(self):
        return self.model.__table__.c.geom

    def field(self, name: str) -> Field | None:
        """The field called ``name``, or None."""
        return next((f for f in self.fields if f.name == name), None)

    def where(self) -> ColumnElement[bool]:
        """The base filter (rows on the layer), or TRUE."""
        return true() if self.base_filter is None else self.base_filter

    def tables_for_version(self) -> tuple[str, ...]:
        """Tables whose change alters this layer's tiles (keys of the tile cache)."""
        return self.version_tables or (self.table.name,)


def _f(model, name, type_, zh, en, **kw) -> Field:
    return Field(name, getattr(model, name), type_, zh, en, **kw)


def _stamps(model) -> tuple[Field, ...]:
    return (
        _f(model, "adcode", "string", "行政区划代码", "region code", sortable=True),
        _f(model, "version", "integer", "版本", "version"),
        _f(model, "updated_at", "string", "更新时间", "updated", sortable=True, fmt="date-time"),
        _f(model, "is_public", "boolean", "公开", "public"),
    )


def _legend(choices: dict, colours: dict) -> tuple:
    return tuple({"value": k, "zh": choices[k][0], "en": choices[k][1], "color": c} for k, c in colours.items())


def _match(prop: str, colours: dict, default: str) -> list:
    expr: list = ["match", ["get", prop]]
    for k, c in colours.items():
        expr += [k, c]
    return expr + [default]


# Legend colours, most severe first: the order also ranks thinned tile cells (Layer.severity).
RISK_COLOURS = {"red": "#e02020", "orange": "#fa8c16", "yellow": "#fadb14", "blue": "#1677ff"}
GRADE_COLOURS = {"1": "#a8071a", "2": "#f5222d", "3": "#fa8c16", "4": "#fadb14"}
DANGER_COLOURS = {"major": "#cf1322", "general": "#faad14"}
SUPERVISED_COLOUR = "#262626"  # 挂牌督办: outline of open dangers listed for supervision
TARGET_COLOURS = {"high_sensitivity": "#722ed1", "important": "#eb2f96", "general_1": "#13c2c2",
                  "general_2": "#36cfc9", "general_3": "#87e8de"}
TEAM_COLOUR = "#389e0d"
DEPOT_COLOUR = "#0958d9"
_GRADES = {"1": ("一级", "grade 1"), "2": ("二级", "grade 2"), "3": ("三级", "grade 3"), "4": ("四级", "grade 4")}

_E, _H, _D, _T, _R, _S = Enterprise, HazardUnit, HiddenDanger, ProtectionTarget, RescueTeam, SupplyDepot


ENTERPRISES = Layer(
    name="enterprises", zh="企业", en="Enterprises", model=_E, geometry="Point", path="/enterprises",
    fields=(
        _f(_E, "uscc", "string", "统一社会信用代码", "USCC"),
        _f(_E, "name", "string", "名称", "name", sortable=True),
        _f(_E, "industry", "string", "行业", "industry", choices=vocab.INDUSTRIES, filterable=True),
        _f(_E, "scale", "string", "规模", "scale", choices=vocab.SCALES, filterable=True),
        _f(_E, "address", "string", "地址", "address"),
        _f(_E, "status", "string", "状态", "status", choices=vocab.ENTERPRISE_STATUSES, filterable=True),
        _f(_E, "risk_colour", "string", "风险等级", "risk colour", choices=vocab.RISK_COLOURS, filterable=True,
           sortable=True),
        # read-only (written by layers.enterprise_risk); risk_factors, a JSON list of
        # {factor, label_zh, label_en, points, detail}, is left out of tiles (layers.tiles._SKIP_IN_TILES)
        _f(_E, "risk_score", "number", "风险分值", "risk score", sortable=True),
        _f(_E, "risk_factors", "object", "主要风险因素", "main risk factors"),
        _f(_E, "data_source", "string", "数据来源", "data source", choices=vocab.DATA_SOURCES, filterable=True),
        *_stamps(_E),
    ),
    search=(_E.name, _E.uscc), base_filter=_E.valid_to.is_(None), minzoom=5, maxzoom=22, thin_below=10,
    severity=("risk_colour", tuple(RISK_COLOURS)),
    deleted_status="deregistered", temporal=_E.valid_from,
    style={"type": "circle", "paint": {
        "circle-color": _match("risk_colour", RISK_COLOURS, "#8c8c8c"),
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 5, 2, 10, 3, 14, 6],
        "circle-stroke-color": "#ffffff", "circle-stroke-width": 0.5}},
    legend=_legend(vocab.RISK_COLOURS, RISK_COLOURS) + ({"value": None, "zh": "未评定", "en": "not rated",
                                                         "color": "#8c8c8c"},),
)

HAZARD_UNITS = Layer(
    name="hazard_units", zh="重大危险源", en="Hazard units", model=_H, geometry="Point", path="/hazard-units",
    fields=(
        _f(_H, "enterprise_id", "integer", "企业", "enterprise", filterable=True),
        _f(_H, "name", "string", "名称", "name", sortable=True),
        _f(_H, "kind", "string", "单元类型", "kind", choices=vocab.HAZARD_UNIT_KINDS, filterable=True),
        _f(_H, "s", "number", "S值", "S (Σq/Q)", sortable=True),
        _f(_H, "r", "number", "R值", "R", sortable=True),
        _f(_H, "grade", "integer", "危险源等级", "grade", filterable=True, sortable=True),
        _f(_H, "is_major", "boolean", "重大危险源", "major hazard", filterable=True),
        _f(_H, "exposed_people_500m", "integer", "500米内人数", "people within 500 m"),
        _f(_H, "alpha", "number", "暴露人员校正系数α", "α (people within 500 m)"),
        _f(_H, "assessment_note", "string", "辨识分级说明", "assessment note"),
        _f(_H, "status", "string", "状态", "status", filterable=True),
        *_stamps(_H),
    ),
    search=(_H.name,), base_filter=_H.valid_to.is_(None), minzoom=5, thin_below=9,
    severity=("grade", tuple(GRADE_COLOURS)),
    deleted_status="decommissioned", version_tables=("hazard_units", "hazard_unit_inventory"),
    style={"type": "circle", "paint": {
        "circle-color": ["match", ["to-string", ["get", "grade"]], *[x for k, c in GRADE_COLOURS.items()
                                                                     for x in (k, c)], "#bfbfbf"],
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 5, 3, 14, 8],
        "circle-stroke-color": "#000000", "circle-stroke-width": 1}},
    legend=_legend(_GRADES, GRADE_COLOURS) + ({"value": None, "zh": "非重大/未评", "en": "not major / unassessed",
                                               "color": "#bfbfbf"},),
)

HIDDEN_DANGERS = Layer(
    name="hidden_dangers", zh="隐患", en="Hidden dangers", model=_D, geometry="Point", path="/hidden-dangers",
    fields=(
        _f(_D, "enterprise_id", "integer", "企业", "enterprise", filterable=True),
        _f(_D, "hazard_unit_id", "integer", "危险源", "hazard unit", filterable=True),
        _f(_D, "title", "string", "标题", "title", sortable=True),
        _f(_D, "category", "string", "类别", "category", choices=vocab.DANGER_CATEGORIES, filterable=True),
        _f(_D, "level", "string", "等级", "level", choices=vocab.DANGER_LEVELS, filterable=True),
        _f(_D, "status", "string", "状态", "status", choices=vocab.DANGER_STATUSES, filterable=True),
        _f(_D, "found_on", "string", "发现日期", "found on", sortable=True, fmt="date"),
        _f(_D, "deadline", "string", "整改期限", "deadline", sortable=True, fmt="date"),
        _f(_D, "closed_on", "string", "销号日期", "closed on", fmt="date"),
        _f(_D, "supervising_level", "string", "督办层级", "supervised by", choices=vocab.REGION_LEVELS,
           filterable=True),
        # written only by the closed loop (workflows.hidden_dangers): the plan and the escalation
        _f(_D, "rectification_plan", "string", "整改方案", "rectification plan"),
        _f(_D, "responsible_person", "string", "整改责任人", "responsible person"),
        _f(_D, "funds_yuan", "number", "整改资金（元）", "rectification funds (yuan)", sortable=True),
        _f(_D, "escalated_at", "string", "升级督办时间", "escalated", sortable=True, fmt="date-time"),
        *_stamps(_D),
    ),
    search=(_D.title,), base_filter=_D.valid_to.is_(None), minzoom=5, thin_below=10, temporal=_D.found_on,
    severity=("level", tuple(DANGER_COLOURS)),
    style={"type": "circle", "paint": {
        "circle-color": _match("level", DANGER_COLOURS, "#faad14"),
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 5, 2, 14, 6],
        "circle-opacity": ["case", ["==", ["get", "status"], "closed"], 0.35, 0.95],
        # listed for supervision (挂牌督办) and not yet closed: a dark outline
        "circle-stroke-color": SUPERVISED_COLOUR,
        "circle-stroke-width": ["case", ["all", ["has", "supervising_level"],
                                         ["!=", ["get", "status"], "closed"]], 1.5, 0]}},
    legend=_legend(vocab.DANGER_LEVELS, DANGER_COLOURS) + (
        {"value": None, "zh": "挂牌督办（深色描边）", "en": "listed for supervision (dark outline)",
         "color": SUPERVISED_COLOUR},),
)

PROTECTION_TARGETS = Layer(
    name="protection_targets", zh="防护目标", en="Protection targets", model=_T, geometry="Geometry",
    path="/protection-targets",
    fields=(
        _f(_T, "name", "string", "名称", "name", sortable=True),
        _f(_T, "kind", "string", "类型", "kind", choices=vocab.TARGET_KINDS, filterable=True),
        _f(_T, "category", "string", "防护类别", "category", choices=vocab.TARGET_CATEGORIES, filterable=True),
        _f(_T, "population", "integer", "人数", "population", sortable=True),
        _f(_T, "status", "string", "状态", "status", filterable=True),
        *_stamps(_T),
    ),
    search=(_T.name,), base_filter=_T.valid_to.is_(None), minzoom=8, thin_below=11,
    severity=("category", tuple(TARGET_COLOURS)),
    deleted_status="removed",
    style={"type": "circle", "paint": {
        "circle-color": _match("category", TARGET_COLOURS, "#13c2c2"),
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 8, 2, 14, 6]}},
    legend=_legend(vocab.TARGET_CATEGORIES, TARGET_COLOURS),
)

RESCUE_TEAMS = Layer(
    name="rescue_teams", zh="救援队伍", en="Rescue teams", model=_R, geometry="Point", path="/rescue-teams",
    fields=(
        _f(_R, "name", "string", "名称", "name", sortable=True),
        _f(_R, "kind", "string", "类型", "kind", choices=vocab.TEAM_KINDS, filterable=True),
        _f(_R, "headcount", "integer", "人数", "headcount", sortable=True),
        _f(_R, "capabilities", "array", "能力", "capabilities"),
        _f(_R, "phone", "string", "电话", "phone"),
        _f(_R, "status", "string", "状态", "status", filterable=True),
        *_stamps(_R),
    ),
    search=(_R.name,), base_filter=_R.valid_to.is_(None), minzoom=5, deleted_status="disbanded",
    style={"type": "circle", "paint": {"circle-color": TEAM_COLOUR, "circle-radius": 5,
                                       "circle-stroke-color": "#ffffff", "circle-stroke-width": 1}},
    legend=({"value": None, "zh": "救援队伍", "en": "rescue team", "color": TEAM_COLOUR},),
)

SUPPLY_DEPOTS = Layer(
    name="supply_depots", zh="物资储备库", en="Supply depots", model=_S, geometry="Point", path="/supply-depots",
    fields=(
        _f(_S, "name", "string", "名称", "name", sortable=True),
        _f(_S, "level", "string", "级别", "level", choices=vocab.DEPOT_LEVELS, filterable=True),
        _f(_S, "status", "string", "状态", "status", filterable=True),
        *_stamps(_S),
    ),
    search=(_S.name,), base_filter=_S.valid_to.is_(None), minzoom=5, deleted_status="closed",
    version_tables=("supply_depots", "depot_stock"),
    style={"type": "circle", "paint": {"circle-color": DEPOT_COLOUR, "circle-radius": 5,
                                       "circle-stroke-color": "#ffffff", "circle-stroke-width": 1}},
    legend=({"value": None, "zh": "物资储备库", "en": "supply depot", "color": DEPOT_COLOUR},),
)


def _region_layer(level: str, minzoom: int, maxzoom: int, width: float) -> Layer:
    zh = vocab.REGION_LEVELS[level][0]
    return Layer(
        name=f"regions_{level}", zh=f"行政区划（{zh}）", en=f"Regions ({level})", model=Region, geometry="Polygon",
        fields=(
            Field("adcode", Region.adcode, "string", "行政区划代码", "region code", sortable=True),
            Field("name", Region.name, "string", "名称", "name", sortable=True),
            Field("level", Region.level, "string", "级别", "level"),
            Field("parent_adcode", Region.parent_adcode, "string", "上级", "parent"),
            Field("population", Region.population, "integer", "人口", "population", sortable=True),
        ),
        search=(Region.name,), base_filter=Region.level == level,
        minzoom=minzoom, maxzoom=maxzoom, version_tables=("regions",),
        style={"type": "line", "paint": {"line-color": "#595959", "line-width": width}},
        legend=({"value": None, "zh": f"{zh}界", "en": f"{level} boundary", "color": "#595959"},),
    )


# Individual risk per year: GB 36894 limits (3e-7 … 3e-5) fall on the class breaks.
RISK_STEPS = ((0.0, "#fff7bc"), (1e-7, "#fee391"), (3e-7, "#fec44f"), (1e-6, "#fe9929"), (3e-6, "#ec7014"),
              (1e-5, "#cc4c02"), (3e-5, "#8c2d04"))


def _risk_layer(res: int, minzoom: int, maxzoom: int) -> Layer:
    step: list = ["step", ["get", "individual_risk"], RISK_STEPS[0][1]]
    for value, colour in RISK_STEPS[1:]:
        step += [value, colour]
    legend = tuple({"value": v, "zh": f"≥ {v:g} /年", "en": f"≥ {v:g} per year", "color": c}
                   for v, c in reversed(RISK_STEPS))
    return Layer(
        name=f"risk_cells_r{res}", zh=f"个人风险（H3 {res}级）", en=f"Individual risk (H3 res {res})",
        model=RiskCell, geometry="Polygon",
        fields=(
            Field("individual_risk", RiskCell.individual_risk, "number", "个人风险（次/年）",
                  "individual risk (per year)", sortable=True),
            Field("population", RiskCell.population, "number", "人口", "population", sortable=True),
            Field("hazard_units", RiskCell.hazard_units, "integer", "危险源单元数", "hazard units"),
            Field("open_dangers", RiskCell.open_dangers, "integer", "未销号隐患数", "open hidden dangers"),
            Field("active_alarms", RiskCell.active_alarms, "integer", "报警数", "active alarms"),
            Field("adcode", RiskCell.adcode, "string", "行政区划代码", "region code", sortable=True),
        ),
        base_filter=RiskCell.res == res, minzoom=minzoom, maxzoom=maxzoom, version_tables=("risk_cells",),
        style={"type": "fill", "paint": {"fill-color": step, "fill-opacity": 0.55,
                                         "fill-outline-color": "rgba(0,0,0,0.15)"}},
        legend=legend,
    )


_AR = AccidentReport
ACCIDENT_CLASS_COLOURS = {"extraordinary": "#5c0011", "major": "#a8071a", "larger": "#f5222d", "ordinary": "#ff7a45"}
UNVERIFIED_COLOUR = "#ffffff"  # 快报 not yet verified: a white ring

ACCIDENT_REPORTS = Layer(
    name="accident_reports", zh="事故快报", en="Accident reports", model=_AR, geometry="Point",
    path="/accident-reports",
    fields=(
        _f(_AR, "title", "string", "标题", "title", sortable=True),
        _f(_AR, "accident_type", "string", "事故类型", "type", choices=vocab.ACCIDENT_TYPES, filterable=True),
        _f(_AR, "accident_class", "string", "事故等级", "grade", choices=vocab.ACCIDENT_CLASSES, filterable=True),
        _f(_AR, "status", "string", "状态", "status", choices=vocab.ACCIDENT_STATUSES, filterable=True),
        _f(_AR, "occurred_at", "string", "发生时间", "occurred", sortable=True, fmt="date-time"),
        _f(_AR, "reported_at", "string", "报告时间", "reported", sortable=True, fmt="date-time"),
        _f(_AR, "enterprise_id", "integer", "企业", "enterprise", filterable=True),
        _f(_AR, "hazard_unit_id", "integer", "危险源", "hazard unit", filterable=True),
        _f(_AR, "description", "string", "简要经过", "what happened"),
        _f(_AR, "chemical", "string", "涉及物质", "chemical"),
        _f(_AR, "cas", "string", "CAS号", "CAS number"),
        _f(_AR, "deaths", "integer", "死亡", "deaths", sortable=True),
        _f(_AR, "serious_injuries", "integer", "重伤", "serious injuries", sortable=True),
        _f(_AR, "minor_injuries", "integer", "轻伤", "minor injuries"),
        _f(_AR, "missing", "integer", "失踪", "missing"),
        _f(_AR, "direct_loss_yuan", "number", "直接经济损失（元）", "direct loss (yuan)", sortable=True),
        _f(_AR, "record_id", "integer", "企业记录", "enterprise record"),
        *_stamps(_AR),
    ),
    search=(_AR.title,), base_filter=_AR.valid_to.is_(None), minzoom=4, thin_below=9, temporal=_AR.occurred_at,
    severity=("accident_class", tuple(ACCIDENT_CLASS_COLOURS)),
    style={"type": "circle", "paint": {
        "circle-color": _match("accident_class", ACCIDENT_CLASS_COLOURS, "#ff7a45"),
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 4, 4, 14, 10],
        "circle-opacity": ["case", ["==", ["get", "status"], "closed"], 0.45, 1.0],
        # a quick report not yet verified by a regulator: a white ring
        "circle-stroke-color": ["case", ["==", ["get", "status"], "reported"], UNVERIFIED_COLOUR, "#262626"],
        "circle-stroke-width": ["case", ["==", ["get", "status"], "reported"], 3, 1]}},
    legend=_legend(vocab.ACCIDENT_CLASSES, {k: ACCIDENT_CLASS_COLOURS[k] for k in
                                            ("ordinary", "larger", "major", "extraordinary")}) + (
        {"value": None, "zh": "未核实快报（白色外圈）", "en": "not yet verified (white ring)",
         "color": UNVERIFIED_COLOUR},),
)


_IT = InspectionTask
# 双随机抽查: planned, then the published result (closed tasks fade)
INSPECTION_COLOURS = {"planned": "#1677ff", "compliant": "#52c41a", "findings": "#f5222d", "not_found": "#8c8c8c"}

INSPECTION_TASKS = Layer(
    name="inspection_tasks", zh="双随机抽查", en="Random inspections", model=_IT, geometry="Point",
    path="/inspections/tasks",
    fields=(
        _f(_IT, "draw_id", "integer", "抽查批次", "draw", filterable=True),
        _f(_IT, "enterprise_id", "integer", "企业", "enterprise", filterable=True),
        _f(_IT, "name", "string", "企业名称", "enterprise name", sortable=True),
        _f(_IT, "stratum", "string", "抽取分层", "stratum"),
        _f(_IT, "risk_colour", "string", "抽取时风险等级", "risk colour when drawn", choices=vocab.RISK_COLOURS,
           filterable=True),
        _f(_IT, "team_names", "array", "检查人员", "inspectors"),
        _f(_IT, "status", "string", "状态", "status", choices=vocab.INSPECTION_TASK_STATUSES, filterable=True),
        _f(_IT, "result", "string", "检查结果", "result", choices=vocab.INSPECTION_RESULTS, filterable=True),
        _f(_IT, "result_summary", "string", "结果说明", "result summary"),
        _f(_IT, "inspected_on", "string", "检查日期", "inspected on", sortable=True, fmt="date"),
        _f(_IT, "closed_on", "string", "办结日期", "closed on", fmt="date"),
        *_stamps(_IT),
    ),
    search=(_IT.name,), base_filter=_IT.valid_to.is_(None), minzoom=5,
    severity=("result", ("findings", "not_located", "not_operating", "compliant")),
    style={"type": "circle", "paint": {
        "circle-color": ["case", ["==", ["get", "status"], "planned"], INSPECTION_COLOURS["planned"],
                         ["==", ["get", "result"], "findings"], INSPECTION_COLOURS["findings"],
                         ["==", ["get", "result"], "compliant"], INSPECTION_COLOURS["compliant"],
                         INSPECTION_COLOURS["not_found"]],
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 5, 3, 14, 8],
        "circle-opacity": ["case", ["==", ["get", "status"], "closed"], 0.45, 0.95],
        "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5}},
    legend=(
        {"value": "planned", "zh": "待检查", "en": "planned", "color": INSPECTION_COLOURS["planned"]},
        {"value": "compliant", "zh": "已检查，未发现问题", "en": "inspected, no findings",
         "color": INSPECTION_COLOURS["compliant"]},
        {"value": "findings", "zh": "已检查，发现问题", "en": "inspected, findings", "color": INSPECTION_COLOURS["findings"]},
        {"value": "not_found", "zh": "未开展经营或查无下落", "en": "not operating or not located",
         "color": INSPECTION_COLOURS["not_found"]},
        {"value": None, "zh": "已办结（浅色）", "en": "closed (faded)", "color": "#bfbfbf"},
    ),
)


_CG = CreditMapRow
# Credit grades (诚信等级), best last: the order ranks thinned tile cells (Layer.severity, most severe first)
CREDIT_GRADE_COLOURS = {"D": "#262626", "C": "#f5222d", "B": "#faad14", "A": "#52c41a"}
BLACKLIST_COLOUR = "#000000"  # 严重失信主体名单: a thick black outline

CREDIT_GRADES = Layer(
    name="credit_grades", zh="企业诚信等级", en="Enterprise credit grades", model=_CG, geometry="Point",
    fields=(
        _f(_CG, "name", "string", "名称", "name", sortable=True),
        _f(_CG, "grade", "string", "诚信等级", "credit grade", choices=vocab.CREDIT_GRADES, filterable=True,
           sortable=True),
        _f(_CG, "score", "number", "信用分", "credit score", sortable=True),
        _f(_CG, "blacklisted", "boolean", "列入严重失信主体名单", "on the blacklist", filterable=True),
        _f(_CG, "listed_on", "string", "列入日期", "listed on", fmt="date"),
        _f(_CG, "as_of", "string", "评定日期", "assessed as of", fmt="date"),
        *_stamps(_CG),
    ),
    # map-only (no path): read through GET /enterprises/{id}/credit; a view over credit_scores (migration 0012)
    search=(_CG.name,), minzoom=5, thin_below=10, severity=("grade", tuple(CREDIT_GRADE_COLOURS)),
    version_tables=("credit_scores", "blacklist_entries", "enterprises"),
    style={"type": "circle", "paint": {
        "circle-color": _match("grade", CREDIT_GRADE_COLOURS, "#8c8c8c"),
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 5, 2, 10, 3.5, 14, 7],
        "circle-stroke-color": ["case", ["==", ["get", "blacklisted"], True], BLACKLIST_COLOUR, "#ffffff"],
        "circle-stroke-width": ["case", ["==", ["get", "blacklisted"], True], 2.5, 0.5]}},
    legend=_legend(vocab.CREDIT_GRADES, {k: CREDIT_GRADE_COLOURS[k] for k in ("A", "B", "C", "D")}) + (
        {"value": None, "zh": "列入严重失信主体名单（黑色粗描边）", "en": "on the blacklist (thick black outline)",
         "color": BLACKLIST_COLOUR},),
)


_AL = Alarm
# Open telemetry alarms (报警) by their four-colour warning level; unacknowledged ones get a thick white ring
ALARM_COLOURS = {"red": "#e02020", "orange": "#fa8c16", "yellow": "#fadb14", "blue": "#1677ff"}

ALARMS = Layer(
    name="alarms", zh="实时报警", en="Live alarms", model=_AL, geometry="Point",
    fields=(
        _f(_AL, "sensor_id", "integer", "传感器", "sensor", filterable=True),
        _f(_AL, "enterprise_id", "integer", "企业", "enterprise", filterable=True),
        _f(_AL, "hazard_unit_id", "integer", "危险源", "hazard unit"),
        _f(_AL, "level", "string", "预警等级", "warning level", choices=vocab.ALARM_LEVELS, filterable=True,
           sortable=True),
        _f(_AL, "rule", "string", "报警类型", "rule", choices=vocab.ALARM_RULES, filterable=True),
        _f(_AL, "kind", "string", "类别", "kind", choices=vocab.ALARM_KINDS, filterable=True),
        _f(_AL, "state", "string", "状态", "state", choices=vocab.ALARM_STATES, filterable=True),
        _f(_AL, "value", "number", "报警值", "value at raise"),
        _f(_AL, "peak_value", "number", "峰值", "peak value"),
        _f(_AL, "threshold", "number", "阈值", "threshold"),
        _f(_AL, "raised_at", "string", "报警时间", "raised at", sortable=True, fmt="date-time"),
        _f(_AL, "escalation_level", "string", "升级至", "escalated to", choices=vocab.ESCALATION_LEVELS,
           filterable=True),
        _f(_AL, "scenario_id", "integer", "事故推演", "release scenario"),
        *_stamps(_AL),
    ),
    # map-only (no path): the alarms' own routes are /alarms (api/routes/alarms.py); open alarms only
    base_filter=_AL.state != "cleared", minzoom=0, severity=("level", tuple(ALARM_COLOURS)),
    temporal=_AL.raised_at,
    style={"type": "circle", "paint": {
        "circle-color": _match("level", ALARM_COLOURS, "#8c8c8c"),
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 5, 5, 14, 11],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": ["case", ["==", ["get", "state"], "raised"], 3, 1]}},
    legend=_legend(vocab.ALARM_LEVELS, ALARM_COLOURS) + (
        {"value": None, "zh": "未确认（白色粗描边）", "en": "not yet acknowledged (thick white ring)",
         "color": "#ffffff"},),
)


_SM = SensorMapRow
# Sensors (监测点) by status: the worst open alarm's colour, green while reporting normally, grey without data
SENSOR_COLOURS = {**ALARM_COLOURS, "normal": "#52c41a", "no_data": "#bfbfbf"}

SENSORS = Layer(
    name="sensors", zh="在线监测点", en="Monitoring sensors", model=_SM, geometry="Point",
    fields=(
        _f(_SM, "code", "string", "编号", "code", sortable=True),
        _f(_SM, "kind", "string", "监测类型", "kind", choices=vocab.SENSOR_KINDS, filterable=True),
        _f(_SM, "status", "string", "状态", "status", choices=vocab.SENSOR_STATUSES, filterable=True),
        _f(_SM, "latest_value", "number", "最新值", "latest value"),
        _f(_SM, "unit", "string", "单位", "unit"),
        _f(_SM, "latest_at", "string", "最新时间", "latest reading at", fmt="date-time"),
        _f(_SM, "chemical", "string", "介质", "chemical"),
        _f(_SM, "threshold_high", "number", "高报阈值", "high threshold"),
        _f(_SM, "threshold_high_high", "number", "高高报阈值", "high-high threshold"),
        _f(_SM, "threshold_low", "number", "低报阈值", "low threshold"),
        _f(_SM, "open_alarms", "integer", "未消除报警", "open alarms"),
        _f(_SM, "hazard_unit_id", "integer", "危险源", "hazard unit", filterable=True),
        _f(_SM, "enterprise_id", "integer", "企业", "enterprise", filterable=True),
        *_stamps(_SM),
    ),
    # map-only (no path): readings through /sensors/{id}/latest and /sensors/{id}/readings; a view (migration 0015)
    search=(_SM.code,), minzoom=8, thin_below=11, severity=("status", tuple(SENSOR_COLOURS)),
    version_tables=("sensors", "sensor_latest", "alarms"),
    style={"type": "circle", "paint": {
        "circle-color": _match("status", SENSOR_COLOURS, "#8c8c8c"),
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 8, 2, 14, 5],
        "circle-stroke-color": "#262626", "circle-stroke-width": 0.5}},
    legend=_legend(vocab.SENSOR_STATUSES, SENSOR_COLOURS),
)

LAYERS: dict[str, Layer] = {layer.name: layer for layer in (
    ENTERPRISES, HAZARD_UNITS, HIDDEN_DANGERS, PROTECTION_TARGETS, RESCUE_TEAMS, SUPPLY_DEPOTS,
    ACCIDENT_REPORTS, INSPECTION_TASKS, CREDIT_GRADES, SENSORS, ALARMS,
    _region_layer("province", 0, 22, 2.5), _region_layer("city", 4, 22, 1.5), _region_layer("county", 6, 22, 0.8),
    _risk_layer(5, 0, 7), _risk_layer(7, 8, 10), _risk_layer(9, 11, 22),
)}
"""Every map layer by name."""

RESOURCES: dict[str, Layer] = {layer.path.strip("/"): layer for layer in LAYERS.values() if layer.path}
"""Layers served as HTTP resources, by path segment ("hazard-units")."""


def get_layer(name: str, *, field_name: str = "layer") -> Layer:
    """The layer called ``name``; :class:`~geo.errors.NotFound` listing the names otherwise."""
    layer = LAYERS.get(name)
    if layer is None:
        raise NotFound(f"unknown {field_name} {name!r}; known: {', '.join(LAYERS)}")
    return layer


def style_json(layer: Layer) -> dict[str, Any]:
    """What the web map needs to draw ``layer``: MapLibre style fragment, legend, labels, zooms."""
    return {"name": layer.name, "title": {"zh": layer.zh, "en": layer.en}, "style": layer.style,
            "legend": list(layer.legend), "minzoom": layer.minzoom, "maxzoom": layer.maxzoom,
            "geometry": layer.geometry, "path": layer.path,
            "fields": [{"name": f.name, "type": f.type, "zh": f.zh, "en": f.en}
                       | ({"format": f.fmt} if f.fmt else {})
                       | ({"choices": {k: {"zh": v[0], "en": v[1]} for k, v in f.choices.items()}} if f.choices else {})
                       for f in layer.fields]}
