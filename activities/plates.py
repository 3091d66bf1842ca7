"""Activities of the plate lifecycles (seed 004): registry checks, plates, ownership, services.

Each is idempotent per workflow id: a plate is allocated once per case (``plate_allocations``),
a transfer or a service's effect is written once with its result (``vehicle_services``), and a
retry returns what the first run wrote. Arguments are one dataclass with ISO strings, never
``date`` objects (the Temporal JSON converter cannot encode them).

Every completion judges its preconditions again inside the transaction that writes, after
locking the vehicle's row (``FOR UPDATE`` on PostgreSQL; SQLite transactions take the write lock
at ``BEGIN IMMEDIATE``), and the database's unique indexes (one active plate per VIN) decide
what a lock cannot cover: the loser of a race is refused with the rule it broke, never written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import refused
from domain import policy
from domain.identifiers import VIN_PROBLEM, normalize_vin
from lifecycles.plates import plate_candidate, plate_region, transfer_series
from registry.db import session_scope
from registry.models import (
    FuelCard,
    NumberingCentre,
    Person,
    PlateAllocation,
    PlateRecord,
    Vehicle,
    VehicleServiceRecord,
)

MAX_PLATE_ATTEMPTS = 64
"""Candidates tried before giving up (a series this full needs a new letter, not retries)."""


VEHICLE_CHANGED = "VehicleChanged"
"""Error type of a refusal that ends the case: the vehicle changed in the registry since the
case's check (another owner, scrapped, numbered meanwhile), so the case can never complete."""


def _vehicle_changed(message: str) -> ApplicationError:
    return ApplicationError(message, type=VEHICLE_CHANGED, non_retryable=True)


def _vin(value: str) -> str:
    """The VIN's one spelling, whatever a case's input carried (histories from before inputs
    were normalised may hold e.g. a trailing newline): one car, one registry key."""
    try:
        return normalize_vin(value)
    except ValueError:
        raise refused(VIN_PROBLEM) from None


def _active_plate(session: Session, vin: str) -> PlateRecord | None:
    """The VIN's active plate, locked for the rest of the transaction where the database can."""
    return session.scalar(select(PlateRecord).where(PlateRecord.vin == vin, PlateRecord.active.is_(True)).with_for_update())


def _locked_vehicle(session: Session, vin: str) -> Vehicle | None:
    """The vehicle's row, locked first thing in a completion: two completions on one car take
    turns, and the second reads what the first wrote."""
    return session.get(Vehicle, vin, with_for_update=True)


def _upsert_person(session: Session, national_id: str, full_name: str | None) -> None:
    # Locked: a delivery to this person re-checks "no active plate" under the same row lock.
    person = session.get(Person, national_id, with_for_update=True)
    if person is None:
        session.add(Person(national_id=national_id, full_name=full_name or ""))
    elif full_name:
        person.full_name = full_name


def _allocate(session: Session, workflow_id: str, vin: str, owner: str, category: str, region: str, at: datetime) -> str:
    """Issue a new active plate to ``vin`` for this case, or return the one it already issued."""
    known = session.get(PlateAllocation, workflow_id)
    if known is not None:
        return known.plate
    for attempt in range(MAX_PLATE_ATTEMPTS):
        candidate = plate_candidate(workflow_id, attempt, category, region)
        if (
            session.get(PlateRecord, candidate) is None
            and session.scalar(select(PlateAllocation).where(PlateAllocation.plate == candidate)) is None
        ):
            break
    else:
        raise refused(f"no free plate found in region {region} after {MAX_PLATE_ATTEMPTS} candidates")
    # Both primary keys (plate, workflow id) make a concurrent duplicate fail and retry.
    session.add(PlateAllocation(workflow_id=workflow_id, plate=candidate, vin=vin, allocated_at=at))
    session.add(
        PlateRecord(
            plate=candidate,
            vin=vin,
            owner_national_id=owner,
            category=category,
            active=True,
            issued_at=at,
            workflow_id=workflow_id,
        )
    )
    session.flush()
    return candidate


def _end_plate(plate: PlateRecord, reason: str, at: datetime) -> None:
    plate.active = False
    plate.ended_at = at
    plate.end_reason = reason


def _done(session: Session, workflow_id: str) -> dict[str, Any] | None:
    row = session.get(VehicleServiceRecord, workflow_id)
    return dict(row.detail) if row is not None else None


# --- numbering ---


@dataclass
class NumberingCheck:
    workflow_id: str
    vin: str
    owner_national_id: str


@activity.defn
def check_numbering_registry(request: NumberingCheck) -> list[str]:
    """Registry reasons to refuse a numbering: the VIN already numbered, another owner, scrapped."""
    vin = _vin(request.vin)
    with session_scope() as session:
        reasons: list[str] = []
        vehicle = session.get(Vehicle, vin)
        active = _active_plate(session, vin)
        own = session.get(PlateAllocation, request.workflow_id)
        if active is not None and (own is None or own.plate != active.plate):
            reasons.append(f"VIN {vin} is already numbered (plate {active.plate})")
        elif vehicle is not None and vehicle.plate and own is None:
            reasons.append(f"VIN {vin} is already numbered (plate {vehicle.plate})")
        if vehicle is not None and vehicle.owner_national_id != request.owner_national_id:
            reasons.append("the registry records another owner for this VIN")
        if vehicle is not None and vehicle.scrapped_at is not None:
            reasons.append("the vehicle was scrapped")
        return reasons


@dataclass
class NumberingFacts:
    reasons: list[str] = field(default_factory=list)
    numbered_before: bool = False
    """The VIN had a plate (active or ended) issued by another case: seed 004's auction item 8
    («در صورت نداشتن سابقه شماره گذاری») asks its factory or customs documents only of VINs without."""
    origin: str | None = None
    """The registry's origin of the VIN (``domestic``, ``imported``; a car an imported purchase
    delivered is imported), ``None`` when the registry does not know the VIN or its origin."""
    imported_purchase: bool = False
    """An imported-car purchase (seed 001, an authorised importer's sale) delivered this VIN."""


@activity.defn
def check_numbering_facts(request: NumberingCheck) -> NumberingFacts:
    """The registry's reasons to refuse a numbering (as :func:`check_numbering_registry`) and
    whether the VIN was ever numbered."""
    reasons = check_numbering_registry(request)
    vin = _vin(request.vin)
    with session_scope() as session:
        earlier = session.scalar(
            select(PlateRecord.plate).where(PlateRecord.vin == vin, PlateRecord.workflow_id != request.workflow_id).limit(1)
        )
        vehicle = session.get(Vehicle, vin)
        own = session.get(PlateAllocation, request.workflow_id)
        numbered_before = earlier is not None or (vehicle is not None and bool(vehicle.plate) and own is None)
        # A delivery is an ImportPurchase's unless the vehicle is recorded as made in Iran (a
        # DomesticOrder delivers too, writing origin "domestic").
        delivered = vehicle is not None and vehicle.delivered_at is not None and vehicle.origin != "domestic"
        origin = (vehicle.origin if vehicle is not None else None) or ("imported" if delivered else None)
    return NumberingFacts(reasons=reasons, numbered_before=numbered_before, origin=origin, imported_purchase=delivered)


@dataclass
class NumberingRequest:
    workflow_id: str
    vin: str
    category: str
    region_code: str
    owner_national_id: str
    owner_full_name: str
    kind: str
    production_year: int
    fuel: str
    at: datetime
    origin: str | None = None
    """``domestic`` or ``imported``: recorded on the vehicle (``None`` in cases from before)."""


@activity.defn
def number_vehicle(request: NumberingRequest) -> str:
    """Issue the case's plate and record the vehicle with its owner; the same plate on retries.

    A vehicle the registry already knows (e.g. an imported car delivered while this case ran)
    keeps its owner and title lock: numbering never changes owners, so a case naming another
    owner is refused, as is a VIN numbered or scrapped meanwhile."""
    vin = _vin(request.vin)
    try:
        with session_scope() as session:
            vehicle = _locked_vehicle(session, vin)
            known = session.get(PlateAllocation, request.workflow_id)
            if known is not None:
                return known.plate
            refusal = _numbering_refusal(session, vin, vehicle, request.owner_national_id)
            if refusal is not None:
                raise refusal
            _upsert_person(session, request.owner_national_id, request.owner_full_name)
            plate = _allocate(
                session, request.workflow_id, vin, request.owner_national_id, request.category, request.region_code, request.at
            )
            if vehicle is None:
                vehicle = Vehicle(vin=vin, owner_national_id=request.owner_national_id, source_workflow_id=request.workflow_id)
                session.add(vehicle)
            vehicle.kind = vehicle.kind or request.kind
            vehicle.production_year = vehicle.production_year or request.production_year
            vehicle.fuel = vehicle.fuel or request.fuel
            vehicle.origin = vehicle.origin or request.origin
            vehicle.plate = plate
            session.flush()
            return plate
    except IntegrityError:
        # Another case's write won a unique key (the VIN's one active plate, the vehicle row):
        # judged again after it, this case's own earlier write is found or the case refused.
        with session_scope() as session:
            known = session.get(PlateAllocation, request.workflow_id)
            if known is not None:
                return known.plate
            refusal = _numbering_refusal(session, vin, session.get(Vehicle, vin), request.owner_national_id)
        if refusal is not None:
            raise refusal from None
        raise  # a plate number taken by another case at the same instant: the retry draws another


def _numbering_refusal(session: Session, vin: str, vehicle: Vehicle | None, owner: str) -> ApplicationError | None:
    if _active_plate(session, vin) is not None or (vehicle is not None and vehicle.plate):
        return _vehicle_changed("the VIN was numbered meanwhile by another case (a vehicle carries one active plate)")
    if vehicle is None:
        return None
    if vehicle.scrapped_at is not None:
        return _vehicle_changed("the vehicle was scrapped")
    if vehicle.owner_national_id != owner:
        locked = " and its title is locked against transfer" if vehicle.title_transfer_locked_until is not None else ""
        return _vehicle_changed(
            f"the registry records another owner for this VIN{locked} (e.g. an imported car delivered meanwhile): numbering never changes the owner"
        )
    return None


# --- numbering centres (reference data) ---


@dataclass
class CentreQuery:
    """Which numbering centres to list; every filter given must hold (``None``: any)."""

    category: str | None = None
    """A numbering category the centre may number (its ``kinds``)."""
    provincial_capital: bool | None = None
    """``True``: only centres at a provincial capital («مرکز استان»)."""
    customs_office: str | None = None
    """Only the centres nearest this customs office (its ``customs_offices``)."""


REFERENCE_DATA_MISSING = "ReferenceDataMissing"
"""Error type of a lookup whose reference data is not loaded (or breaks its bound): retried, and
after ``policy.ACTIVITY_ALERT_AFTER_ATTEMPTS`` attempts shown to operators (``activities.errors``),
so a case waits for ``refdata load`` instead of being rejected by a deployment's gap."""


@activity.defn
def find_numbering_centres(query: CentreQuery) -> list[str]:
    """The ``centre_id``s of the reference data's ``numbering_centres`` that match ``query``,
    sorted (a case carries the list in its state).

    No centre loaded at all (a fresh migration before ``refdata load``), or more matches than
    ``policy.MAX_CENTRES_CARRIED``: a retryable ``ReferenceDataMissing`` failure, which alerts the
    operators and lets the case go on once the reference data is fixed; never a silent cut."""
    with session_scope() as session:
        if session.scalar(select(NumberingCentre.centre_id).limit(1)) is None:
            raise ApplicationError(
                "reference data: no numbering centres are loaded (numbering_centres is empty; run refdata load)",
                type=REFERENCE_DATA_MISSING,
            )
        found = [
            c.centre_id
            for c in session.scalars(select(NumberingCentre).order_by(NumberingCentre.centre_id))
            if (query.category is None or query.category in c.kinds)
            and (query.provincial_capital is None or c.provincial_capital == query.provincial_capital)
            and (query.customs_office is None or query.customs_office in c.customs_offices)
        ]
    if len(found) > policy.MAX_CENTRES_CARRIED:
        raise ApplicationError(
            f"reference data: {len(found)} numbering centres match, more than a case carries "
            f"({policy.MAX_CENTRES_CARRIED}); fix numbering_centres",
            type=REFERENCE_DATA_MISSING,
        )
    return found


# --- facts every after-numbering case starts from ---


@dataclass
class VehicleCheck:
    workflow_id: str
    vin: str
    owner_national_id: str
    """The person who says they own the vehicle (the seller of a transfer)."""
    at: datetime
    purpose: str
    """``transfer`` or a service name: picks the purpose-specific rules."""


@dataclass
class VehicleFacts:
    reasons: list[str] = field(default_factory=list)
    plate: str | None = None
    plate_category: str | None = None
    kind: str | None = None
    fuel: str | None = None
    production_year: int | None = None
    title_transfer_locked_until: datetime | None = None
    origin: str | None = None
    """``domestic``, ``imported`` or ``None`` (recorded before the registry kept origins)."""


@activity.defn
def check_vehicle(request: VehicleCheck) -> VehicleFacts:
    """What the registry says about a numbered vehicle, and why a transfer or service is refused."""
    vin = _vin(request.vin)
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        if vehicle is None:
            return VehicleFacts(reasons=[f"VIN {vin} is not in the registry"])
        done = _done(session, request.workflow_id)
        active = _active_plate(session, vin)
        facts = VehicleFacts(
            plate=active.plate if active else None,
            plate_category=active.category if active else None,
            kind=vehicle.kind,
            fuel=vehicle.fuel,
            production_year=vehicle.production_year,
            title_transfer_locked_until=vehicle.title_transfer_locked_until,
            # A car an imported purchase delivered is imported, whether or not its row says so.
            origin=vehicle.origin or ("imported" if vehicle.delivered_at is not None else None),
        )
        if done is not None:  # this case already changed the registry: its checks passed before
            return facts
        if vehicle.owner_national_id != request.owner_national_id:
            facts.reasons.append("the registry records another owner for this vehicle")
        if vehicle.scrapped_at is not None:
            facts.reasons.append("the vehicle was scrapped")
        elif active is None:
            facts.reasons.append(f"VIN {vin} has no active plate (not numbered)")
        if request.purpose == "transfer":
            facts.reasons += _transfer_reasons(vehicle, active, request.at)
        if request.purpose == "scrapping" and active is not None and active.category == "historic":
            facts.reasons.append("a historic car may not be scrapped (seed 004: «اسقاط نمودن خودروهای تاریخی ممنوع می باشد»)")
        return facts


def _transfer_reasons(vehicle: Vehicle, active: PlateRecord | None, at: datetime) -> list[str]:
    reasons = []
    locked = vehicle.title_transfer_locked_until
    if locked is not None:
        if locked > at:
            reasons.append(
                f"the title is locked until {locked.date().isoformat()}: an imported purchase may not be transferred within a year of delivery"
            )
    if active is not None and active.category == "temporary_transit":
        reasons.append("a temporary-transit vehicle may not be handed over to anyone else (seed 004)")
    return reasons


# --- transfer ---


@dataclass
class TransferRequest:
    workflow_id: str
    vin: str
    seller_national_id: str
    buyer_national_id: str
    buyer_full_name: str
    region_code: str | None
    at: datetime
    origin: str | None = None
    """The origin the officer stated for a vehicle the registry knew none of (``PLATE_REVIEW``):
    recorded on the vehicle unless the registry has one meanwhile."""


@dataclass
class TransferResult:
    plate: str
    previous_plate: str | None
    fuel_card_moved: bool


@activity.defn
def transfer_vehicle(request: TransferRequest) -> TransferResult:
    """The buyer becomes the owner: the seller's plate is detached and stays in the seller's name
    («پلاک به نام مالک»), the buyer gets a new plate, the fuel card follows the car (seed 002)."""
    vin = _vin(request.vin)
    try:
        with session_scope() as session:
            # Owner, scrapping and title lock are judged again here, in the transaction that
            # moves the car, after its row is locked: of two sales of one car, the second sees
            # the first's buyer as the owner and is refused.
            vehicle = _locked_vehicle(session, vin)
            done = _done(session, request.workflow_id)  # after the lock: an earlier attempt's write is visible
            if done is not None:
                return TransferResult(**done)
            refusal = _transfer_refusal(vehicle, request)
            if refusal is not None:
                raise refusal
            assert vehicle is not None
            old = _active_plate(session, vin)
            region = request.region_code or (plate_region(old.plate) if old else policy.PLATE_DEFAULT_REGION_CODE)
            if old is not None:
                _end_plate(old, "kept_by_owner", request.at)
                session.flush()
            _upsert_person(session, request.buyer_national_id, request.buyer_full_name)
            plate = _allocate(
                session,
                request.workflow_id,
                vin,
                request.buyer_national_id,
                transfer_series(old.category if old else None),
                region,
                request.at,
            )
            vehicle.owner_national_id = request.buyer_national_id
            vehicle.plate = plate
            vehicle.origin = vehicle.origin or request.origin
            cards = session.scalars(select(FuelCard).where(FuelCard.vin == vin)).all()
            for card in cards:
                card.owner_national_id = request.buyer_national_id
            result = TransferResult(plate=plate, previous_plate=old.plate if old else None, fuel_card_moved=bool(cards))
            session.add(
                VehicleServiceRecord(
                    workflow_id=request.workflow_id, vin=vin, service="transfer", detail=vars(result), completed_at=request.at
                )
            )
            session.flush()
            return result
    except IntegrityError:
        with session_scope() as session:
            done = _done(session, request.workflow_id)
            refusal = None if done is not None else _transfer_refusal(session.get(Vehicle, vin), request)
        if done is not None:
            return TransferResult(**done)
        if refusal is not None:
            raise refusal from None
        raise


def _transfer_refusal(vehicle: Vehicle | None, request: TransferRequest) -> ApplicationError | None:
    if vehicle is None or vehicle.owner_national_id != request.seller_national_id:
        return _vehicle_changed(
            "the seller no longer owns this vehicle in the registry (its owner changed since this case's check)"
        )
    if vehicle.scrapped_at is not None:
        return _vehicle_changed("the vehicle was scrapped")
    if vehicle.title_transfer_locked_until is not None and vehicle.title_transfer_locked_until > request.at:
        return _vehicle_changed("the title is locked against transfer (an imported purchase within a year of delivery)")
    return None


# --- after-numbering services ---


@dataclass
class ServiceCompletion:
    workflow_id: str
    service: str
    vin: str
    owner_national_id: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    """What the case recorded (the new part, the colour); stored with the service record."""


@activity.defn
def complete_service(request: ServiceCompletion) -> dict[str, Any]:
    """Apply a service's effect on the registry once and record it; returns the record's detail."""
    vin = _vin(request.vin)
    try:
        with session_scope() as session:
            vehicle = _locked_vehicle(session, vin)
            done = _done(session, request.workflow_id)  # after the lock: an earlier attempt's write is visible
            if done is not None:
                return done
            refusal = _service_refusal(vehicle, request)
            if refusal is not None:
                raise refusal
            assert vehicle is not None
            detail = dict(request.detail)
            effect = _EFFECTS.get(request.service) or _more_effects().get(request.service)
            if effect is not None:
                detail.update(effect(session, vin, request, vehicle))
            session.add(
                VehicleServiceRecord(
                    workflow_id=request.workflow_id, vin=vin, service=request.service, detail=detail, completed_at=request.at
                )
            )
            session.flush()
            return detail
    except IntegrityError:
        with session_scope() as session:
            done = _done(session, request.workflow_id)
            refusal = None if done is not None else _service_refusal(session.get(Vehicle, vin), request)
        if done is not None:
            return done
        if refusal is not None:
            raise refusal from None
        raise


def _service_refusal(vehicle: Vehicle | None, request: ServiceCompletion) -> ApplicationError | None:
    if vehicle is None or vehicle.owner_national_id != request.owner_national_id:
        return _vehicle_changed("the applicant no longer owns this vehicle in the registry")
    if vehicle.scrapped_at is not None:
        return _vehicle_changed("the vehicle was scrapped")
    return None


def _new_plate(session: Session, vin: str, request: ServiceCompletion, vehicle: Vehicle) -> dict[str, Any]:
    old = _active_plate(session, vin)
    category = old.category if old else "imported"
    region = plate_region(old.plate) if old else policy.PLATE_DEFAULT_REGION_CODE
    if old is not None:
        _end_plate(old, "lost_or_stolen", request.at)
        session.flush()
    plate = _allocate(session, request.workflow_id, vin, request.owner_national_id, category, region, request.at)
    vehicle.plate = plate
    return {"plate": plate, "previous_plate": old.plate if old else None}


def _remade_plate(session: Session, vin: str, request: ServiceCompletion, vehicle: Vehicle) -> dict[str, Any]:
    return {"plate": vehicle.plate, "remade": True}


def _part_change(session: Session, vin: str, request: ServiceCompletion, vehicle: Vehicle) -> dict[str, Any]:
    from activities.plate_services import record_title_change

    # The title shows the new colour or the replaced part; the case's result stays as it was.
    record_title_change(vehicle, request.detail.get("change") or {}, request)
    return {}


def _scrap(session: Session, vin: str, request: ServiceCompletion, vehicle: Vehicle) -> dict[str, Any]:
    old = _active_plate(session, vin)
    if old is not None:
        _end_plate(old, "scrapped", request.at)
    vehicle.scrapped_at = request.at
    vehicle.plate = None
    cards = session.scalars(select(FuelCard).where(FuelCard.vin == vin)).all()
    for card in cards:
        card.status = "cancelled"
    return {"previous_plate": old.plate if old else None, "fuel_cards_cancelled": len(cards)}


_EFFECTS = {
    "lost_or_stolen_plates": _new_plate,
    "damaged_plates": _remade_plate,
    "part_change": _part_change,
    "scrapping": _scrap,
}
"""Services that change the registry beyond their record (the rest issue a paper: card, document)."""


def _more_effects() -> dict[str, Callable[..., dict[str, Any]]]:
    """The effects of the services issue 9 added (``activities.plate_services`` imports this module)."""
    from activities.plate_services import EFFECTS

    return EFFECTS


ACTIVITIES: list[Callable[..., Any]] = [
    check_numbering_registry,
    check_numbering_facts,
    find_numbering_centres,
    number_vehicle,
    check_vehicle,
    transfer_vehicle,
    complete_service,
]
