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
    Float,
    FetchedValue,
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
    "PLACED_MODELS",
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
