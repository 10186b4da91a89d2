"""Controlled vocabularies of the schema, with Chinese and English labels.

The database enforces the same lists with CHECK constraints (written into the
migrations, which are frozen); ``tests/test_schema.py`` checks they agree.
"""

from __future__ import annotations

__all__ = [
    "REGION_LEVELS", "RISK_COLOURS", "INDUSTRIES", "SCALES", "ENTERPRISE_STATUSES",
    "DATA_SOURCES", "HAZARD_UNIT_KINDS", "DANGER_LEVELS", "DANGER_STATUSES",
    "DANGER_CATEGORIES", "TARGET_KINDS", "TARGET_CATEGORIES", "TEAM_KINDS",
    "DEPOT_LEVELS", "SENSOR_KINDS", "USER_ROLES",
]

REGION_LEVELS = {"province": ("省", "province"), "city": ("市", "city"), "county": ("区县", "county")}

RISK_COLOURS = {
    "red": ("红色（重大风险）", "red (major)"),
    "orange": ("橙色（较大风险）", "orange (considerable)"),
    "yellow": ("黄色（一般风险）", "yellow (moderate)"),
    "blue": ("蓝色（低风险）", "blue (low)"),
}

INDUSTRIES = {
    "hazchem_production": ("危险化学品生产", "hazardous chemicals production"),
    "hazchem_storage": ("危险化学品储存", "hazardous chemicals storage"),
    "hazchem_trading": ("危险化学品经营", "hazardous chemicals trading"),
    "hazchem_use": ("危险化学品使用", "hazardous chemicals use"),
    "pharmaceutical": ("医药化工", "pharmaceutical chemicals"),
    "metallurgy": ("冶金", "metallurgy"),
    "fireworks": ("烟花爆竹", "fireworks"),
    "non_coal_mining": ("非煤矿山", "non-coal mining"),
    "gas": ("燃气", "gas supply"),
    "industry_trade": ("工贸", "industry and trade"),
}

SCALES = {"large": ("大型", "large"), "medium": ("中型", "medium"), "small": ("小型", "small"),
          "micro": ("微型", "micro")}

ENTERPRISE_STATUSES = {"active": ("在营", "active"), "suspended": ("停产", "suspended"),
                       "deregistered": ("注销", "deregistered")}

DATA_SOURCES = {"registry": ("登记", "registry"), "import": ("导入", "import"),
                "synthetic": ("合成演示数据", "synthetic demo data")}

HAZARD_UNIT_KINDS = {"production": ("生产单元", "production unit"), "storage": ("储存单元", "storage unit")}

DANGER_LEVELS = {"general": ("一般隐患", "general"), "major": ("重大隐患", "major")}

DANGER_STATUSES = {
    "reported": ("已上报", "reported"), "accepted": ("已确认", "accepted"),
    "rectifying": ("整改中", "rectifying"), "submitted": ("已提交整改", "submitted"),
    "verified": ("已验收", "verified"), "closed": ("已销号", "closed"),
}

DANGER_CATEGORIES = {
    "equipment": ("设备设施", "equipment"), "process": ("工艺", "process"),
    "management": ("安全管理", "management"), "electrical": ("电气", "electrical"),
    "fire": ("消防", "fire protection"), "storage": ("储存", "storage"),
    "personnel": ("人员", "personnel"), "other": ("其他", "other"),
}

TARGET_KINDS = {
    "school": ("学校", "school"), "kindergarten": ("幼儿园", "kindergarten"),
    "hospital": ("医院", "hospital"), "nursing_home": ("养老院", "nursing home"),
    "residential": ("居住区", "residential area"), "office": ("办公场所", "offices"),
    "market": ("商场市场", "market"), "stadium": ("体育场馆", "stadium"),
    "transport_hub": ("交通枢纽", "transport hub"), "hotel": ("宾馆", "hotel"),
    "cultural_relic": ("文物保护单位", "cultural relic"), "military": ("军事禁区", "military zone"),
    "prison": ("监所", "prison"), "other": ("其他", "other"),
}

#: Protection-target classes of GB 36894-2018 (see shared reference gb36894_2018.md).
TARGET_CATEGORIES = {
    "high_sensitivity": ("高敏感防护目标", "highly sensitive"),
    "important": ("重要防护目标", "important"),
    "general_1": ("一般防护目标（一类）", "general, class 1"),
    "general_2": ("一般防护目标（二类）", "general, class 2"),
    "general_3": ("一般防护目标（三类）", "general, class 3"),
}

TEAM_KINDS = {
    "fire": ("消防救援", "fire and rescue"), "hazmat": ("危化品救援", "hazmat"),
    "medical": ("医疗救护", "medical"), "mine_rescue": ("矿山救护", "mine rescue"),
    "enterprise": ("企业专职队", "enterprise team"), "other": ("其他", "other"),
}

DEPOT_LEVELS = {"province": ("省级", "province"), "city": ("市级", "city"),
                "county": ("县级", "county"), "enterprise": ("企业", "enterprise")}

SENSOR_KINDS = {
    "tank_level": ("液位", "tank level"), "temperature": ("温度", "temperature"),
    "pressure": ("压力", "pressure"), "combustible_gas": ("可燃气体", "combustible gas"),
    "toxic_gas": ("有毒气体", "toxic gas"),
}

USER_ROLES = {"admin": ("管理员", "administrator"), "province": ("省级监管", "province regulator"),
              "city": ("市级监管", "city regulator"), "county": ("县级监管", "county regulator"),
              "enterprise": ("企业用户", "enterprise"), "public": ("公众", "public")}

#: Kinds of accident in a quick report: the injury categories of GB 6441-1986 (企业职工伤亡事故分类) that
#: occur at hazardous-chemical sites, plus a release without injury (泄漏). Frozen in migration 0010.
ACCIDENT_TYPES = {
    "fire": ("火灾", "fire"), "explosion": ("爆炸", "explosion"), "leak": ("泄漏", "release / leak"),
    "poisoning": ("中毒和窒息", "poisoning and asphyxiation"), "burn": ("灼烫", "burns"),
    "collapse": ("坍塌", "collapse"), "fall": ("高处坠落", "fall from height"),
    "mechanical": ("机械伤害", "machinery"), "lifting": ("起重伤害", "lifting"),
    "electrocution": ("触电", "electrocution"), "vehicle": ("车辆伤害", "vehicle"),
    "struck": ("物体打击", "struck by object"), "drowning": ("淹溺", "drowning"), "other": ("其他伤害", "other"),
}

#: Accident grades of State Council Decree No. 493 (2007), Art. 3, most severe last.
ACCIDENT_CLASSES = {
    "ordinary": ("一般事故", "ordinary"), "larger": ("较大事故", "larger"),
    "major": ("重大事故", "major"), "extraordinary": ("特别重大事故", "extraordinary"),
}

ACCIDENT_STATUSES = {
    "reported": ("已快报", "reported"), "verified": ("已核实", "verified"),
    "closed": ("已结案", "closed"), "withdrawn": ("已撤销（误报）", "withdrawn (false report)"),
}

__all__ += ["ACCIDENT_TYPES", "ACCIDENT_CLASSES", "ACCIDENT_STATUSES"]

#: Double-random inspections (双随机、一公开, migration 0011).
INSPECTION_DRAW_STATUSES = {
    "drawn": ("已抽取", "drawn"), "published": ("已公示", "published"), "in_progress": ("检查中", "in progress"),
    "completed": ("已完成", "completed"), "cancelled": ("已作废", "cancelled"),
}
INSPECTION_TASK_STATUSES = {
    "planned": ("待检查", "planned"), "inspected": ("已检查", "inspected"), "closed": ("已办结", "closed"),
    "cancelled": ("已作废", "cancelled"),
}
#: The result of one inspection, as published (抽查结果).
INSPECTION_RESULTS = {
    "compliant": ("未发现问题", "no findings"), "findings": ("发现问题", "findings"),
    "not_operating": ("未开展相关经营活动", "not operating"), "not_located": ("查无下落", "not located"),
}
#: Declared conflicts of interest of an inspector with an enterprise (回避事由).
CONFLICT_KINDS = {
    "relative": ("近亲属关系", "relative"), "former_employee": ("曾在该企业任职", "former employee"),
    "interest": ("其他利害关系", "financial or other interest"), "other": ("其他", "other"),
}

__all__ += ["INSPECTION_DRAW_STATUSES", "INSPECTION_TASK_STATUSES", "INSPECTION_RESULTS", "CONFLICT_KINDS"]

#: Credit grades (诚信等级) of workflows/credit.py, best first; D also for every enterprise on the
#: blacklist. Frozen in migration 0012 (credit_scores.grade) and the severities of enterprise_records credit.
CREDIT_GRADES = {
    "A": ("A级（诚信）", "A (trustworthy)"), "B": ("B级（基本诚信）", "B (mostly trustworthy)"),
    "C": ("C级（失信）", "C (untrustworthy)"), "D": ("D级（严重失信）", "D (seriously untrustworthy)"),
}

__all__ += ["CREDIT_GRADES"]

#: Hidden-danger statuses not yet verified as rectified. "Overdue" (逾期未整改) everywhere — the workflow's
#: escalation, statistics, list filter, region figures, the map's ring, the enterprise colour and credit —
#: means a deadline before today in one of these; "open" (未销号) means any status but ``closed``.
DANGER_UNRECTIFIED = ("reported", "accepted", "rectifying", "submitted")

__all__ += ["DANGER_UNRECTIFIED"]

#: Telemetry alarms (报警, migration 0014): the four-colour warning level, worst first, and the rest.
ALARM_LEVELS = {
    "red": ("红色预警", "red"), "orange": ("橙色预警", "orange"), "yellow": ("黄色预警", "yellow"),
    "blue": ("蓝色预警", "blue"),
}
ALARM_RULES = {
    "high_high": ("高高报", "high-high"), "high": ("高报", "high"), "low": ("低报", "low"),
    "rate": ("变化率超限", "rate of change"), "flatline": ("数据僵值", "flatline (stuck value)"),
    "out_of_range": ("超出量程", "out of range"), "offline": ("离线", "offline"),
}
ALARM_STATES = {
    "raised": ("未确认", "raised"), "acknowledged": ("已确认", "acknowledged"), "handled": ("已处置", "handled"),
    "cleared": ("已消除", "cleared"),
}
ALARM_KINDS = {"process": ("工艺报警", "process"), "health": ("设备状态报警", "sensor health")}
ALARM_REASONS = {
    "process": ("真实工艺偏差", "real process deviation"), "sensor_fault": ("传感器故障", "sensor fault"),
    "maintenance": ("检修维护", "maintenance"), "false_alarm": ("误报", "false alarm"),
}
ESCALATION_LEVELS = {"enterprise": ("企业", "enterprise"), "county": ("区县", "county"), "city": ("市", "city")}

__all__ += ["ALARM_LEVELS", "ALARM_RULES", "ALARM_STATES", "ALARM_KINDS", "ALARM_REASONS", "ESCALATION_LEVELS"]

#: What a sensor's dot on the map means (the view ``sensor_map``, migration 0015): the worst open alarm's
#: four-colour level, else reporting normally, else never reported.
SENSOR_STATUSES = {
    "red": ("红色预警", "red alarm"), "orange": ("橙色预警", "orange alarm"), "yellow": ("黄色预警", "yellow alarm"),
    "blue": ("蓝色预警（设备状态）", "blue alarm (sensor health)"), "normal": ("正常", "normal"),
    "no_data": ("无数据", "no data yet"),
}

__all__ += ["SENSOR_STATUSES"]
