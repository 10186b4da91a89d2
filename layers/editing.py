"""Create, update and soft-delete features of the writable catalogue layers.

Payloads are validated by one pydantic model per layer and operation
(``Create``/``Update``), geometry by :mod:`geo.validate` (GeoJSON, in China,
OGC-valid; GCJ-02 accepted when declared with ``crs``). Writes run in the
caller's session under row-level security: a row that would land outside
the caller's jurisdiction is refused by PostgreSQL (403), a stale
``If-Match`` version is a :class:`StaleVersion` (409). Nothing is ever
deleted: soft deletion sets ``valid_to`` (and the layer's "gone" status).
The caller commits.

A change to a hazard unit (or its inventory) or to a protection target queues
the affected units (database triggers); the same transaction then reassesses
those the caller may write (:func:`layers.hazard_records.assess_pending`), so
the response already carries the new S, R and grade. Under the caller's
row-level security the count of people within 500 m is provisional and the
units stay queued for the maintenance job's full recount.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from geoalchemy2.shape import from_shape
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo import vocab
from geo.bodies import parse_body
from geo.errors import GeoError, InvalidInput, NotFound, NotPermitted
from geo.models import DepotStock, Enterprise, InventoryRow
from geo.registry import db_errors
from geo.uscc import validate_uscc
from geo.validate import parse_geojson_geometry
from layers.catalogue import Layer
from layers.hazard_records import assess_pending
from layers.hazards import HazardError, hazard_category

__all__ = ["StaleVersion", "VersionRequired", "create_feature", "update_feature", "delete_feature", "payload_schema",
           "CREATE_MODELS", "UPDATE_MODELS", "WORKFLOW_FIELDS"]


class VersionRequired(InvalidInput):
    """A change without the version it was made against (HTTP 428)."""


class StaleVersion(GeoError):
    """The row changed since the version the client read (HTTP 409)."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the row is at version {current}; reload it and apply your change again")
        self.current = current


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=4000)]


def _literal(choices: dict):
    return Literal[tuple(choices)]  # type: ignore[valid-type]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    geometry: dict | None = Field(None, description="GeoJSON geometry (RFC 7946, WGS84 unless crs is given)")
    crs: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        None, description="CRS of the geometry when not WGS84: EPSG:4326, EPSG:4490 or GCJ-02 (AMap/Tencent)")
    is_public: bool | None = None


class InventoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chemical: Name
    cas: Annotated[str, StringConstraints(pattern=r"^[0-9]{2,7}-[0-9]{2}-[0-9]$")] | None = None
    max_quantity_t: float = Field(ge=0, allow_inf_nan=False, le=1e7)
    category: Annotated[str, StringConstraints(max_length=60)] | None = Field(
        None, description="GB 18218-2018 Table 2 hazard category symbol(s), comma-separated: 'W5.3', 'J3,W2'. "
                          "Needed to grade a unit holding a Table 1 chemical that is not a Table 3 toxic gas, "
                          "and to assess a chemical not named in Table 1")

    @field_validator("category")
    @classmethod
    def _category(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        symbols: list[str] = []
        for part in v.split(","):
            try:
                symbol = hazard_category(part).symbol
            except HazardError as exc:
                raise ValueError(exc.reason) from None
            if symbol not in symbols:
                symbols.append(symbol)
        return ",".join(symbols)


class StockItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    quantity: float = Field(ge=0, allow_inf_nan=False, le=1e12)


class EnterpriseCreate(_Body):
    uscc: Annotated[str, StringConstraints(min_length=18, max_length=18)]
    name: Name
    industry: _literal(vocab.INDUSTRIES)
    scale: _literal(vocab.SCALES)
    address: Annotated[str, StringConstraints(max_length=300)] | None = None

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, v: str) -> str:
        return validate_uscc(v)


class EnterpriseUpdate(_Body):
    name: Name | None = None
    industry: _literal(vocab.INDUSTRIES) | None = None
    scale: _literal(vocab.SCALES) | None = None
    address: Annotated[str, StringConstraints(max_length=300)] | None = None
    status: Literal["active", "suspended"] | None = None


class HazardUnitCreate(_Body):
    enterprise_id: int = Field(ge=1, lt=2**63)
    name: Name
    kind: _literal(vocab.HAZARD_UNIT_KINDS)
    inventory: list[InventoryItem] = Field(default_factory=list, max_length=200)


class HazardUnitUpdate(_Body):
    name: Name | None = None
    kind: _literal(vocab.HAZARD_UNIT_KINDS) | None = None
    inventory: list[InventoryItem] | None = Field(None, max_length=200,
                                                  description="replaces the inventory (absent chemicals go to 0 t)")


class HiddenDangerCreate(_Body):
    enterprise_id: int = Field(ge=1, lt=2**63)
    hazard_unit_id: int | None = Field(None, ge=1, lt=2**63)
    title: Name
    description: LongText | None = None
    category: _literal(vocab.DANGER_CATEGORIES)
    level: _literal(vocab.DANGER_LEVELS)
    found_on: dt.date
    deadline: dt.date | None = None
    supervising_level: _literal(vocab.REGION_LEVELS) | None = None


class HiddenDangerUpdate(_Body):
    title: Name | None = None
    description: LongText | None = None
    category: _literal(vocab.DANGER_CATEGORIES) | None = None
    level: _literal(vocab.DANGER_LEVELS) | None = None
    deadline: dt.date | None = None
    supervising_level: _literal(vocab.REGION_LEVELS) | None = None


class ProtectionTargetCreate(_Body):
    name: Name
    kind: _literal(vocab.TARGET_KINDS)
    category: _literal(vocab.TARGET_CATEGORIES)
    population: int = Field(ge=0, le=10_000_000)


class ProtectionTargetUpdate(_Body):
    name: Name | None = None
    kind: _literal(vocab.TARGET_KINDS) | None = None
    category: _literal(vocab.TARGET_CATEGORIES) | None = None
    population: int | None = Field(None, ge=0, le=10_000_000)


class RescueTeamCreate(_Body):
    name: Name
    kind: _literal(vocab.TEAM_KINDS)
    headcount: int = Field(ge=0, le=100_000)
    capabilities: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=50)
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{3,30}$")] | None = None


class RescueTeamUpdate(_Body):
    name: Name | None = None
    kind: _literal(vocab.TEAM_KINDS) | None = None
    headcount: int | None = Field(None, ge=0, le=100_000)
    capabilities: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] | None = Field(
        None, max_length=50)
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{3,30}$")] | None = None


class SupplyDepotCreate(_Body):
    name: Name
    level: _literal(vocab.DEPOT_LEVELS)
    stock: list[StockItem] = Field(default_factory=list, max_length=500)


class SupplyDepotUpdate(_Body):
    name: Name | None = None
    level: _literal(vocab.DEPOT_LEVELS) | None = None
    stock: list[StockItem] | None = Field(None, max_length=500,
                                          description="upserts these items (others keep their quantity)")


CREATE_MODELS: dict[str, type[_Body]] = {
    "enterprises": EnterpriseCreate, "hazard_units": HazardUnitCreate, "hidden_dangers": HiddenDangerCreate,
    "protection_targets": ProtectionTargetCreate, "rescue_teams": RescueTeamCreate,
    "supply_depots": SupplyDepotCreate,
}
UPDATE_MODELS: dict[str, type[_Body]] = {
    "enterprises": EnterpriseUpdate, "hazard_units": HazardUnitUpdate, "hidden_dangers": HiddenDangerUpdate,
    "protection_targets": ProtectionTargetUpdate, "rescue_teams": RescueTeamUpdate,
    "supply_depots": SupplyDepotUpdate,
}
_GEOMETRY_TYPES = {"protection_targets": ("Point", "Polygon", "MultiPolygon")}
# columns only the hidden-danger workflow writes (workflows.hidden_dangers; the database guards them too)
WORKFLOW_FIELDS = {"hidden_dangers": ("status", "closed_on", "rectification_plan", "responsible_person",
                                      "funds_yuan", "escalated_at")}
_CHILDREN = {"inventory", "stock"}


def payload_schema(layer: Layer, *, create: bool) -> dict:
    """JSON Schema of the body (for OpenAPI)."""
    return (CREATE_MODELS if create else UPDATE_MODELS)[layer.name].model_json_schema()


def _validate(layer: Layer, payload: Any, *, create: bool, feature_id: int | None = None) -> _Body:
    models = CREATE_MODELS if create else UPDATE_MODELS
    if layer.name not in models:
        raise NotPermitted(f"{layer.name} is read-only")
    if not isinstance(payload, dict):
        raise InvalidInput("body", "must be a JSON object (a GeoJSON Feature or the fields themselves)")
    if payload.get("type") == "Feature":  # a GeoJSON Feature: properties + geometry
        props = payload.get("properties") or {}
        if not isinstance(props, dict):
            raise InvalidInput("properties", "must be an object")
        payload = {**props, **({"geometry": payload["geometry"]} if "geometry" in payload else {})}
    for name in WORKFLOW_FIELDS.get(layer.name, ()):
        if name in payload:
            where = "{id}" if feature_id is None else str(feature_id)
            start = "a new hidden danger starts as reported; " if create else ""
            raise InvalidInput(name, f"{start}set only by the workflow: POST /hidden-dangers/{where}/transitions "
                                     f"(GET /hidden-dangers/{where}/transitions lists the moves allowed now)")
    return parse_body(models[layer.name], payload)


def _geometry(layer: Layer, body: _Body):
    allowed = _GEOMETRY_TYPES.get(layer.name, ("Point",))
    geom = parse_geojson_geometry(body.geometry, crs=body.crs, allowed=allowed)
    return from_shape(geom, srid=4326)


def _columns(body: _Body, *, create: bool) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=not create, exclude={"geometry", "crs", *_CHILDREN})
    if not create:
        values = {k: v for k, v in values.items() if v is not None or k in ("address", "description", "deadline",
                                                                              "phone", "supervising_level")}
    if create and values.get("is_public") is None:
        values.pop("is_public", None)
    return values


def _write_children(session: Session, layer: Layer, row_id: int, body: _Body, *, replace: bool) -> None:
    if layer.name == "hazard_units" and getattr(body, "inventory", None) is not None:
        items = {i.chemical: i for i in body.inventory}
        if len(items) != len(body.inventory):
            raise InvalidInput("inventory", "a chemical is listed twice")
        if replace:
            session.execute(update(InventoryRow).where(InventoryRow.hazard_unit_id == row_id,
                                                       InventoryRow.chemical.not_in(list(items)))
                            .values(max_quantity_t=0))
        for i in items.values():
            stmt = pg_insert(InventoryRow).values(hazard_unit_id=row_id, chemical=i.chemical, cas=i.cas,
                                                  max_quantity_t=i.max_quantity_t, category=i.category)
            session.execute(stmt.on_conflict_do_update(
                constraint="hazard_unit_inventory_unit_chemical_key",
                set_={"cas": stmt.excluded.cas, "max_quantity_t": stmt.excluded.max_quantity_t,
                      "category": stmt.excluded.category}))
    if layer.name == "supply_depots" and getattr(body, "stock", None) is not None:
        seen = {s.item for s in body.stock}
        if len(seen) != len(body.stock):
            raise InvalidInput("stock", "an item is listed twice")
        for s in body.stock:
            stmt = pg_insert(DepotStock).values(depot_id=row_id, item=s.item, unit=s.unit, quantity=s.quantity)
            session.execute(stmt.on_conflict_do_update(
                constraint="depot_stock_depot_item_key",
                set_={"unit": stmt.excluded.unit, "quantity": stmt.excluded.quantity}))


_REASSESSED = ("hazard_units", "protection_targets")


def _reassess(session: Session, layer: Layer) -> set[int]:
    """Assess the hazard units this transaction queued (GB 18218); the ids whose stored values changed."""
    if layer.name not in _REASSESSED:
        return set()
    return assess_pending(session.connection(), this_transaction=True).updated_ids


def _check_writer(session: Session) -> None:
    ctx = session.info.get("ctx")
    if ctx is None or ctx.role == "public":
        raise NotPermitted("log in to change data")


def create_feature(session: Session, *, layer: Layer, payload: Any) -> int:
    """Validate and insert one feature (with inventory/stock); returns its id."""
    _check_writer(session)
    body = _validate(layer, payload, create=True)
    values = _columns(body, create=True)
    conn = session.connection()
    if body.geometry is None and layer.name in ("hazard_units", "hidden_dangers"):
        # the enterprise's location (only if the caller can see the enterprise)
        geom = session.execute(select(Enterprise.geom).where(Enterprise.id == body.enterprise_id)).scalar()
        if geom is None:
            raise InvalidInput("enterprise_id", "no such enterprise in your jurisdiction")
        values["geom"] = geom
    else:
        values["geom"] = _geometry(layer, body)
    with db_errors(conn):
        row_id = session.execute(insert(layer.table).values(**values).returning(layer.id_column)).scalar_one()
        _write_children(session, layer, row_id, body, replace=False)
        _reassess(session, layer)
    return row_id


def _locked_version(session: Session, layer: Layer, feature_id: int) -> int:
    v = session.execute(select(layer.table.c.version).where(layer.id_column == feature_id,
                                                            layer.table.c.valid_to.is_(None))
                        .with_for_update()).scalar()
    if v is None:
        raise NotFound(f"{layer.name} {feature_id} not found")
    return v


def update_feature(session: Session, *, layer: Layer, feature_id: int, payload: Any, if_match: int) -> int:
    """Apply a partial update if the row is still at version ``if_match``; returns the new version."""
    _check_writer(session)
    body = _validate(layer, payload, create=False, feature_id=feature_id)
    values = _columns(body, create=False)
    if body.geometry is not None:
        values["geom"] = _geometry(layer, body)
    elif body.crs is not None:
        raise InvalidInput("crs", "only meaningful with a geometry")
    current = _locked_version(session, layer, feature_id)
    if current != if_match:
        raise StaleVersion(current)
    with db_errors(session.connection()):
        # children first: a move queues the unit with reason 'unit' last (the reassessment reads it)
        _write_children(session, layer, feature_id, body, replace=True)
        if values:
            session.execute(update(layer.table).where(layer.id_column == feature_id).values(**values))
        reassessed = _reassess(session, layer)
        if not values and not (layer.name == "hazard_units" and feature_id in reassessed):
            # only children changed (and the stored assessment did not): the parent's version still moves
            session.execute(update(layer.table).where(layer.id_column == feature_id)
                            .values(updated_at=func.now()))
    return session.execute(select(layer.table.c.version).where(layer.id_column == feature_id)).scalar_one()


def delete_feature(session: Session, *, layer: Layer, feature_id: int, if_match: int) -> None:
    """Soft delete: ``valid_to = now()`` and the layer's "gone" status; history stays."""
    _check_writer(session)
    if layer.name not in CREATE_MODELS:
        raise NotPermitted(f"{layer.name} is read-only")
    current = _locked_version(session, layer, feature_id)
    if current != if_match:
        raise StaleVersion(current)
    values: dict[str, Any] = {"valid_to": func.now()}
    if layer.deleted_status:
        values["status"] = layer.deleted_status
    with db_errors(session.connection()):
        session.execute(update(layer.table).where(layer.id_column == feature_id).values(**values))
        _reassess(session, layer)
