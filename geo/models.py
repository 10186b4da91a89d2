"""ORM tables (SQLAlchemy 2 + GeoAlchemy2), mirroring the Alembic migrations.

The migrations are the source of truth for the schema (constraints, triggers,
grants); these classes are how code reads and writes it.
``tests/test_schema.py`` checks that both agree column by column.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base", "Region", "RegionPart", "Enterprise", "HazardUnit", "InventoryRow", "HiddenDanger",
    "ProtectionTarget", "RescueTeam", "SupplyDepot", "DepotStock", "Sensor", "User", "Scenario", "AuditLog",
    "PLACED_MODELS", "Alarm",
]


class Base(DeclarativeBase):
    """Declarative base of all OneMap tables."""


def _point() -> Mapped:
    return mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)


class _Stamped:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    version: Mapped[int] = mapped_column(Integer, server_default="1")


class _Placed(_Stamped):
    """Rows with a place: ``adcode`` is set by the database from ``geom``."""

    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"), nullable=False)
    data_source: Mapped[str] = mapped_column(Text, server_default="registry")
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")


class Region(_Stamped, Base):
    __tablename__ = "regions"
    adcode: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    parent_adcode: Mapped[str | None] = mapped_column(Text, ForeignKey("regions.adcode"))
    population: Mapped[int | None] = mapped_column(BigInteger)
    population_note: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)


class RegionPart(Base):
    __tablename__ = "region_parts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    geom = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False)


class Enterprise(_Placed, Base):
    __tablename__ = "enterprises"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uscc: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    industry: Mapped[str] = mapped_column(Text)
    scale: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="active")
    risk_colour: Mapped[str | None] = mapped_column(Text)
    risk_score: Mapped[float | None] = mapped_column(Float)
    risk_factors: Mapped[dict | None] = mapped_column(JSONB)
    risk_assessed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    geom = _point()


class HazardUnit(_Placed, Base):
    __tablename__ = "hazard_units"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    s: Mapped[float | None] = mapped_column(Float)
    r: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[int | None] = mapped_column(SmallInteger)
    is_major: Mapped[bool | None] = mapped_column(Boolean)
    exposed_people_500m: Mapped[int | None] = mapped_column(Integer)
    alpha: Mapped[float | None] = mapped_column(Float)
    assessment_note: Mapped[str | None] = mapped_column(Text)
    assessed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text, server_default="active")
    geom = _point()


class InventoryRow(_Stamped, Base):
    __tablename__ = "hazard_unit_inventory"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hazard_unit_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("hazard_units.id"))
    chemical: Mapped[str] = mapped_column(Text)
    cas: Mapped[str | None] = mapped_column(Text)
    max_quantity_t: Mapped[float] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(Text)  # GB 18218 Table 2/4 symbols, "J3,W2"


class HiddenDanger(_Placed, Base):
    __tablename__ = "hidden_dangers"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    hazard_unit_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("hazard_units.id"))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="reported")
    found_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    supervising_level: Mapped[str | None] = mapped_column(Text)
    # the closed loop (migration 0009): written only through workflows.hidden_dangers
    rectification_plan: Mapped[str | None] = mapped_column(Text)
    responsible_person: Mapped[str | None] = mapped_column(Text)
    funds_yuan: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    geom = _point()


class ProtectionTarget(_Placed, Base):
    __tablename__ = "protection_targets"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    population: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, server_default="active")
    geom = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False)


class RescueTeam(_Placed, Base):
    __tablename__ = "rescue_teams"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    headcount: Mapped[int] = mapped_column(Integer)
    capabilities: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    phone: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="active")
    geom = _point()


class SupplyDepot(_Placed, Base):
    __tablename__ = "supply_depots"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="active")
    geom = _point()


class DepotStock(_Stamped, Base):
    __tablename__ = "depot_stock"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    depot_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("supply_depots.id"))
    item: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    quantity: Mapped[float] = mapped_column(Float)


class Sensor(_Placed, Base):
    __tablename__ = "sensors"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    hazard_unit_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("hazard_units.id"))
    kind: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    chemical: Mapped[str | None] = mapped_column(Text)
    threshold_low: Mapped[float | None] = mapped_column(Float)
    threshold_high: Mapped[float | None] = mapped_column(Float)
    threshold_high_high: Mapped[float | None] = mapped_column(Float)
    deadband: Mapped[float] = mapped_column(Float, server_default="0")
    min_duration_s: Mapped[int] = mapped_column(Integer, server_default="0")
    interval_s: Mapped[int] = mapped_column(Integer, server_default="60")
    range_min: Mapped[float | None] = mapped_column(Float)  # measuring range, the sensor's unit (0013)
    range_max: Mapped[float | None] = mapped_column(Float)
    rate_limit: Mapped[float | None] = mapped_column(Float)  # largest normal rate of change, unit per second (0014)
    status: Mapped[str] = mapped_column(Text, server_default="active")
    geom = _point()


class User(_Stamped, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    jurisdiction: Mapped[str] = mapped_column(Text)
    enterprise_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    password_hash: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="active")
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Scenario(_Stamped, Base):
    """A saved release scenario: parameters, plume result (GeoJSON) and impact."""

    __tablename__ = "scenarios"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"), nullable=False)
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    title: Mapped[str | None] = mapped_column(Text)
    chemical: Mapped[str] = mapped_column(Text)
    params: Mapped[dict] = mapped_column(JSONB)
    result: Mapped[dict] = mapped_column(JSONB)
    impact: Mapped[dict] = mapped_column(JSONB)
    warnings: Mapped[list] = mapped_column(JSONB, server_default="[]")
    created_by: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="active")
    geom = _point()


class RiskCell(Base):
    """One H3 cell of the individual-risk surface (migration 0006; written by layers/risk.py)."""

    __tablename__ = "risk_cells"
    res: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    h3: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ir_fe15: Mapped[int] = mapped_column(BigInteger)
    individual_risk: Mapped[float] = mapped_column(Float)  # generated: ir_fe15 * 1e-15, per year
    population: Mapped[float] = mapped_column(Float)
    hazard_units: Mapped[int] = mapped_column(Integer)
    open_dangers: Mapped[int] = mapped_column(Integer)
    active_alarms: Mapped[int] = mapped_column(Integer)
    adcode: Mapped[str | None] = mapped_column(Text, ForeignKey("regions.adcode"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    geom = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False)


class AuditLog(Base):
    """Append-only, hash-chained; written only by database triggers (migration 0002)."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    table_name: Mapped[str] = mapped_column(Text)
    row_key: Mapped[str | None] = mapped_column(Text)
    op: Mapped[str] = mapped_column(Text)
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


PLACED_MODELS = (Enterprise, HazardUnit, HiddenDanger, ProtectionTarget, RescueTeam, SupplyDepot, Sensor)


class EnterpriseRecord(_Stamped, Base):
    """An accident, enforcement action or credit rating of an enterprise (migration 0007).

    ``severity`` depends on ``kind`` (see the migration); ``adcode`` is copied from
    the enterprise by the database; a withdrawn record gets ``valid_to``.
    """

    __tablename__ = "enterprise_records"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    kind: Mapped[str] = mapped_column(Text)
    occurred_on: Mapped[date] = mapped_column(Date)
    severity: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"), nullable=False)
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")
    data_source: Mapped[str] = mapped_column(Text, server_default="registry")
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    amount_yuan: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))  # a fine's amount (migration 0011)


__all__ += ["EnterpriseRecord"]


class HiddenDangerTransition(Base):
    """One move of a hidden danger through the closed loop (migration 0009); append-only.

    ``actor``, ``actor_role``, ``at``, ``adcode``, ``enterprise_id`` and ``txid``
    are filled by the database, never taken from the writer.
    """

    __tablename__ = "hidden_danger_transitions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hidden_danger_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("hidden_dangers.id"))
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    actor_role: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    txid: Mapped[int] = mapped_column(BigInteger, server_default="txid_current()")


class HiddenDangerEvidence(Base):
    """An evidence file of a hidden danger (migration 0009): photo, PDF or text, at most 4 MiB.

    ``size_bytes``, ``sha256``, ``uploaded_by``, ``uploaded_at``, ``adcode`` and
    ``enterprise_id`` are filled by the database; ``transition_id`` is set once,
    by the next transition of the danger.
    """

    __tablename__ = "hidden_danger_evidence"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hidden_danger_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("hidden_dangers.id"))
    transition_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("hidden_danger_transitions.id"))
    filename: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[bytes] = mapped_column(LargeBinary)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    note: Mapped[str | None] = mapped_column(Text)
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"))


__all__ += ["HiddenDangerTransition", "HiddenDangerEvidence"]


class AccidentReport(_Placed, Base):
    """An accident quick report (事故快报, migration 0010); figures and status change only by the workflow.

    ``accident_class`` is generated by the database (Decree No. 493, Art. 3), ``reported_at`` is its clock.
    """

    __tablename__ = "accident_reports"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    accident_type: Mapped[str] = mapped_column(Text)
    enterprise_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    hazard_unit_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("hazard_units.id"))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    chemical: Mapped[str | None] = mapped_column(Text)
    cas: Mapped[str | None] = mapped_column(Text)
    deaths: Mapped[int] = mapped_column(Integer, server_default="0")
    serious_injuries: Mapped[int] = mapped_column(Integer, server_default="0")
    minor_injuries: Mapped[int] = mapped_column(Integer, server_default="0")
    missing: Mapped[int] = mapped_column(Integer, server_default="0")
    direct_loss_yuan: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    accident_class: Mapped[str] = mapped_column(Text, FetchedValue())  # generated column
    status: Mapped[str] = mapped_column(Text, server_default="reported")
    record_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enterprise_records.id"))
    contact: Mapped[str | None] = mapped_column(Text)
    geom = _point()


class AccidentReportUpdate(Base):
    """One step of an accident report (首报, 续报, verified, closed, withdrawn; migration 0010); append-only."""

    __tablename__ = "accident_report_updates"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    accident_report_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("accident_reports.id"))
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    deaths: Mapped[int] = mapped_column(Integer)
    serious_injuries: Mapped[int] = mapped_column(Integer)
    minor_injuries: Mapped[int] = mapped_column(Integer)
    missing: Mapped[int] = mapped_column(Integer)
    direct_loss_yuan: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    actor_role: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    enterprise_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    txid: Mapped[int] = mapped_column(BigInteger, server_default="txid_current()")


__all__ += ["AccidentReport", "AccidentReportUpdate"]


class Inspector(_Stamped, Base):
    """One inspector of the roster (执法检查人员名录库, migration 0011); ``adcode``: the region's roster."""

    __tablename__ = "inspectors"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    unit: Mapped[str | None] = mapped_column(Text)
    badge_no: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_by: Mapped[str] = mapped_column(Text, server_default="session_user")


class InspectorConflict(Base):
    """A declared conflict of interest (回避) of an inspector with an enterprise (migration 0011); append-only."""

    __tablename__ = "inspector_conflicts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    inspector_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("inspectors.id"))
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    kind: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    declared_by: Mapped[str] = mapped_column(Text)
    declared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))


class InspectionDraw(_Stamped, Base):
    """One double-random draw (双随机抽查, migration 0011): its inputs, frozen at insert, and its status."""

    __tablename__ = "inspection_draws"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    period: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    filters: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    strata: Mapped[list] = mapped_column(JSONB)
    team_size: Mapped[int] = mapped_column(SmallInteger, server_default="2")
    avoid_repeat_days: Mapped[int] = mapped_column(Integer, server_default="365")
    seed: Mapped[int] = mapped_column(BigInteger)
    seed_source: Mapped[str] = mapped_column(Text)
    algorithm: Mapped[str] = mapped_column(Text)
    pool: Mapped[list] = mapped_column(JSONB)
    roster: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    exclusions: Mapped[list] = mapped_column(JSONB, server_default="[]")
    result_sha256: Mapped[str] = mapped_column(Text)
    task_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, server_default="drawn")
    drawn_by: Mapped[str] = mapped_column(Text, server_default="session_user")
    drawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InspectionTask(_Stamped, Base):
    """One drawn enterprise and its team (migration 0011); place, name and team names copied by the database."""

    __tablename__ = "inspection_tasks"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    draw_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("inspection_draws.id"))
    seq: Mapped[int] = mapped_column(Integer)
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    name: Mapped[str] = mapped_column(Text)
    stratum: Mapped[str] = mapped_column(Text)
    risk_colour: Mapped[str | None] = mapped_column(Text)
    inspector_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    team_names: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    status: Mapped[str] = mapped_column(Text, server_default="planned")
    result: Mapped[str | None] = mapped_column(Text)
    result_summary: Mapped[str | None] = mapped_column(Text)
    inspected_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    geom = _point()


class InspectionFinding(_Stamped, Base):
    """A problem found on an inspection task (migration 0011): the hidden danger and enforcement record it made."""

    __tablename__ = "inspection_findings"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    task_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("inspection_tasks.id"))
    draw_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("inspection_draws.id"))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    hidden_danger_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("hidden_dangers.id"))
    record_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enterprise_records.id"))
    recorded_by: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")


class InspectionTransition(Base):
    """One move of a draw (``task_id`` NULL) or of a task (migration 0011); append-only."""

    __tablename__ = "inspection_transitions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    draw_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("inspection_draws.id"))
    task_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("inspection_tasks.id"))
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    actor: Mapped[str] = mapped_column(Text)
    actor_role: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    enterprise_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    txid: Mapped[int] = mapped_column(BigInteger, server_default="txid_current()")


__all__ += ["Inspector", "InspectorConflict", "InspectionDraw", "InspectionTask", "InspectionFinding",
            "InspectionTransition"]


class CreditEvent(_Stamped, Base):
    """A credit event a regulator recorded by hand (migration 0012); withdrawn with ``valid_to``, never changed.

    ``recorded_by``, ``recorded_role`` and ``adcode`` are filled by the database.
    """

    __tablename__ = "credit_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    kind: Mapped[str] = mapped_column(Text)
    occurred_on: Mapped[date] = mapped_column(Date)
    points: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(Text, FetchedValue())
    recorded_role: Mapped[str] = mapped_column(Text, FetchedValue())
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdraw_reason: Mapped[str | None] = mapped_column(Text)


class CreditScore(_Stamped, Base):
    """The latest computed credit score and grade of an enterprise, with its per-rule breakdown (migration 0012)."""

    __tablename__ = "credit_scores"
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"), primary_key=True)
    score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    raw_score: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    grade: Mapped[str] = mapped_column(Text)
    blacklisted: Mapped[bool] = mapped_column(Boolean, server_default="false")
    breakdown: Mapped[list] = mapped_column(JSONB, server_default="[]")
    events_counted: Mapped[int] = mapped_column(Integer, server_default="0")
    as_of: Mapped[date] = mapped_column(Date)
    rules_source: Mapped[str] = mapped_column(Text)
    rules_sha256: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"))
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")


class BlacklistEntry(Base):
    """One listing on the blacklist (严重失信主体名单, migration 0012): append-only but for its removal, set once.

    ``enterprise_name``, ``uscc``, ``adcode``, ``listed_by``/``listed_role``/``listed_at`` and
    ``removed_by``/``removed_role``/``removed_at`` are filled by the database; ``status`` is generated.
    """

    __tablename__ = "blacklist_entries"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    enterprise_name: Mapped[str] = mapped_column(Text, FetchedValue())
    uscc: Mapped[str] = mapped_column(Text, FetchedValue())
    listed_on: Mapped[date] = mapped_column(Date)
    listed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    via: Mapped[str] = mapped_column(Text)
    rule_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    reasons: Mapped[list] = mapped_column(JSONB)
    note: Mapped[str | None] = mapped_column(Text)
    rules_sha256: Mapped[str | None] = mapped_column(Text)
    listed_by: Mapped[str] = mapped_column(Text, FetchedValue())
    listed_role: Mapped[str] = mapped_column(Text, FetchedValue())
    removed_on: Mapped[date | None] = mapped_column(Date)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[str | None] = mapped_column(Text)
    removed_role: Mapped[str | None] = mapped_column(Text)
    removal_via: Mapped[str | None] = mapped_column(Text)
    removal_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, FetchedValue())  # generated: listed | removed
    adcode: Mapped[str] = mapped_column(Text, ForeignKey("regions.adcode"), FetchedValue())
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="true")


class CreditMapRow(Base):
    """A read-only view (``credit_map``, migration 0012): current enterprises with a credit score, for the map.

    ``security_invoker``: the caller's row-level security applies to the tables behind it.
    """

    __tablename__ = "credit_map"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    grade: Mapped[str] = mapped_column(Text)
    score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    blacklisted: Mapped[bool] = mapped_column(Boolean)
    listed_on: Mapped[date | None] = mapped_column(Date)
    as_of: Mapped[date] = mapped_column(Date)
    adcode: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    is_public: Mapped[bool] = mapped_column(Boolean)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))


__all__ += ["CreditEvent", "CreditScore", "BlacklistEntry", "CreditMapRow"]


class Alarm(Base):
    """A telemetry alarm (migration 0014); raised by the ingest worker, moved by workflows/alarms.py."""

    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sensor_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sensors.id"))
    hazard_unit_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("hazard_units.id"))
    enterprise_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enterprises.id"))
    adcode: Mapped[str] = mapped_column(Text)
    geom = _point()
    kind: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, server_default="raised")
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    value: Mapped[float | None] = mapped_column(Float)  # the sensor's unit (offline: seconds since the last reading)
    threshold: Mapped[float | None] = mapped_column(Float)
    peak_value: Mapped[float | None] = mapped_column(Float)
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation_level: Mapped[str] = mapped_column(Text, server_default="enterprise")
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scenario_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("scenarios.id"))
    scenario_note: Mapped[str | None] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    version: Mapped[int] = mapped_column(Integer, server_default="1")


class SensorMapRow(Base):
    """A read-only view (``sensor_map``, migration 0015): current sensors with their newest reading and the
    worst open alarm's level as ``status``. ``security_invoker``: the caller's row-level security applies."""

    __tablename__ = "sensor_map"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    chemical: Mapped[str | None] = mapped_column(Text)
    hazard_unit_id: Mapped[int | None] = mapped_column(BigInteger)
    enterprise_id: Mapped[int | None] = mapped_column(BigInteger)
    threshold_low: Mapped[float | None] = mapped_column(Float)
    threshold_high: Mapped[float | None] = mapped_column(Float)
    threshold_high_high: Mapped[float | None] = mapped_column(Float)
    interval_s: Mapped[int] = mapped_column(Integer)
    latest_value: Mapped[float | None] = mapped_column(Float)  # the sensor's unit
    latest_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text)
    open_alarms: Mapped[int] = mapped_column(Integer)
    adcode: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    is_public: Mapped[bool] = mapped_column(Boolean)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))


__all__ += ["SensorMapRow"]
