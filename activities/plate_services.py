"""Registry reads and effects of the after-numbering services issue 9 added (seed 004).

- :func:`check_service_vehicle`: the start's registry check of the new services (and of a
  historic car's scrapping after an accident): :func:`activities.plates.check_vehicle`'s facts and
  reasons, plus the truck's registered body.
- :data:`EFFECTS`: what :func:`activities.plates.complete_service` writes when one of them
  completes, inside its transaction (the vehicle's row locked): the title corrected after the
  ماده ۳۰ fine, the historic traffic permit, the truck's new body. Each re-judges the registry's
  facts it depends on; a vehicle that changed meanwhile ends the case (``VehicleChanged``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.plates import VEHICLE_CHANGED, ServiceCompletion, VehicleCheck, check_vehicle
from domain import policy
from domain.identifiers import normalize_vin
from registry.db import session_scope
from registry.models import HistoricTrafficPermit, PlateRecord, Vehicle


@dataclass
class ServiceVehicleCheck:
    workflow_id: str
    vin: str
    owner_national_id: str
    at: datetime
    service: str
    after_accident: bool = False
    """Scrapping: the case names an accident, so a historic car is not refused outright (seed 004
    «لکن چنانچه در صورت بروز هرگونه حادثه غیرمترقبه ...»); its agreements are then asked."""


@dataclass
class ServiceVehicleFacts:
    reasons: list[str] = field(default_factory=list)
    plate: str | None = None
    plate_category: str | None = None
    kind: str | None = None
    fuel: str | None = None
    body: str | None = None
    """A truck's body as last registered by a change of use; ``None``: never registered."""


@activity.defn
def check_service_vehicle(request: ServiceVehicleCheck) -> ServiceVehicleFacts:
    """What the registry says about the vehicle of a new service, and its general reasons to refuse
    (another owner, scrapped, not numbered; a historic car's scrapping without an accident)."""
    purpose = (
        "historic_scrapping_after_accident" if request.service == "scrapping" and request.after_accident else request.service
    )
    facts = check_vehicle(VehicleCheck(request.workflow_id, request.vin, request.owner_national_id, request.at, purpose))
    with session_scope() as session:
        vehicle = session.get(Vehicle, normalize_vin(request.vin))  # check_vehicle refused a malformed VIN
        body = vehicle.body if vehicle is not None else None
    return ServiceVehicleFacts(
        reasons=list(facts.reasons),
        plate=facts.plate,
        plate_category=facts.plate_category,
        kind=facts.kind,
        fuel=facts.fuel,
        body=body,
    )


def _vehicle_changed(message: str) -> ApplicationError:
    return ApplicationError(message, type=VEHICLE_CHANGED, non_retryable=True)


def record_title_change(vehicle: Vehicle, change: dict[str, Any], request: ServiceCompletion) -> dict[str, Any]:
    """The vehicle's title takes a new colour or a replaced main part (seed 004 «اصلاح سند»)."""
    part = change.get("part")
    if part == "colour":
        previous = vehicle.colour
        vehicle.colour = change.get("colour")
        return {"colour": vehicle.colour, "previous_colour": previous}
    if part:
        entry = {"at": request.at.isoformat(), "workflow_id": request.workflow_id, "service": request.service}
        vehicle.replaced_parts = {**(vehicle.replaced_parts or {}), part: entry}  # a new dict: the JSON column sees the change
        return {"replaced_part": part}
    return {}


def _title_correction(session: Session, vin: str, request: ServiceCompletion, vehicle: Vehicle) -> dict[str, Any]:
    """ماده ۳۰: the fine paid and no corruption found, the title shows what was changed."""
    return {"title_corrected": True, **record_title_change(vehicle, request.detail.get("change") or {}, request)}


def _active_category(session: Session, vin: str) -> str | None:
    plate = session.scalar(select(PlateRecord).where(PlateRecord.vin == vin, PlateRecord.active.is_(True)))
    return plate.category if plate is not None else None


def _traffic_permit(session: Session, vin: str, request: ServiceCompletion, vehicle: Vehicle) -> dict[str, Any]:
    """The written permit of a historic car, for its event, route and days (seed 004)."""
    if _active_category(session, vin) != "historic":
        raise _vehicle_changed("the vehicle no longer carries a historic plate")
    trip = request.detail["trip"]
    session.add(
        HistoricTrafficPermit(
            workflow_id=request.workflow_id,
            vin=vin,
            event=trip["event"],
            event_name=trip["event_name"],
            route=trip["route"],
            starts_on=date.fromisoformat(trip["starts_on"]),
            ends_on=date.fromisoformat(trip["ends_on"]),
            issued_at=request.at,
        )
    )
    return {"permit": {"permit_id": request.workflow_id, **trip}}


def _change_of_use(session: Session, vin: str, request: ServiceCompletion, vehicle: Vehicle) -> dict[str, Any]:
    """The truck's title takes its new body; its kind and registered body are judged again here."""
    use = request.detail["use_change"]
    if vehicle.kind not in policy.CHANGE_OF_USE_KINDS:
        raise _vehicle_changed(f"the registry records a {vehicle.kind}, not a truck")
    if vehicle.body is not None and vehicle.body != use["from_body"]:
        raise _vehicle_changed(f"the registry's body of the truck changed meanwhile (now {vehicle.body})")
    vehicle.body = use["to_body"]
    return {"body": use["to_body"], "previous_body": use["from_body"]}


EFFECTS: dict[str, Callable[[Session, str, ServiceCompletion, Vehicle], dict[str, Any]]] = {
    "unpermitted_change": _title_correction,
    "historic_traffic_permit": _traffic_permit,
    "change_of_use": _change_of_use,
}
"""The registry effects of the services issue 9 added, looked up by ``complete_service``."""

ACTIVITIES: list[Callable[..., Any]] = [check_service_vehicle]
