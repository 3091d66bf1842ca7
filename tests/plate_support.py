"""Building blocks for the plate tests: VINs, registry rows, complete checklists."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.worker import Worker

from tests.helpers import actor, new_national_id, start, update

BANK = actor("bank", "mellat")

CENTRE_OF_CATEGORY = {
    "imported": "meysam",
    "auction": "meysam",
    "temporary_transit": "meysam",
    "historic": "shahrak_azmayesh",
    "veteran": "meysam",
}
"""A shipped numbering centre (registry/refdata_default.json) that may number each category."""

TRANSIT_CUSTOMS = "tehran_west"
"""A customs office the shipped centre ``meysam`` is the nearest centre to."""

QUALIFYING_RESIDENCE = {
    "type": "registered_lease",
    "holder": "owner",
    "tracking_code": "TRK-12345",
    "real_estate_system_confirmed": True,
}
"""A proof of residence that qualifies (seed 004: a lease in the owner's name with its tracking
code, confirmed by the real-estate system)."""

REVIEWED_TYPES = ("VehicleNumbering", "PlateTransfer", "PlateService")
"""The workflow types whose proofs of residence only the officer files (``PLATE_REVIEW``)."""


def officer_at(centre: str | None, id: str = "officer-7") -> dict[str, str]:
    """An officer whose token names ``centre`` (claim ``ctr``)."""
    who = actor("officer", id)
    return who if centre is None else {**who, "centre": centre}


OFFICER = officer_at("meysam")
"""An officer of the Meysam centre (Tehran, claim ``ctr``), which numbers every category but
historic cars (seed 004); transfers and services take any officer."""


def numbering_officer(category: str) -> dict[str, str]:
    """An officer at a centre that may number ``category``."""
    return officer_at(CENTRE_OF_CATEGORY[category])


def new_vin() -> str:
    """A fresh valid VIN (hex digits only, so never I, O or Q)."""
    return "NAA" + uuid.uuid4().hex[:14].upper()


def numbering_input(
    category: str = "imported",
    *,
    year: int,
    kind: str = "passenger_car",
    made: str | None = None,
    cleared: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A numbering input; ``year`` is the production year (take it from the test server's clock,
    which other tests move years ahead of the wall clock). An imported car is made and cleared on
    1 January of ``year`` unless ``made`` / ``cleared`` say otherwise (ISO dates)."""
    vehicle: dict[str, Any] = {"kind": kind, "production_year": year, "fuel": "petrol"}
    if category == "imported":
        vehicle |= {"production_date": made or f"{year}-01-01", "customs_cleared_on": cleared or made or f"{year}-01-01"}
    elif made or cleared:
        vehicle |= {key: value for key, value in (("production_date", made), ("customs_cleared_on", cleared)) if value}
    if category == "temporary_transit":
        extra.setdefault("clearing_customs", TRANSIT_CUSTOMS)
    return {
        "vin": new_vin(),
        "category": category,
        "vehicle": vehicle,
        "owner": {"national_id": new_national_id(), "full_name": "علی رضایی"},
        **extra,
    }


async def settled(handle: WorkflowHandle) -> dict[str, Any]:
    """The status once the case's registry check is done."""
    for _ in range(200):
        status = await handle.query("status")
        if status.get("eligibility_checked"):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id}: the registry check never finished")


async def closed(handle: WorkflowHandle) -> None:
    """Wait for the workflow to close by polling, not ``result()``: on the time-skipping server,
    ``result()`` after ``env.sleep`` left later tests' updates failing with "update not found"."""
    for _ in range(200):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} did not close")


async def complete_checklist(handle: WorkflowHandle, by: dict[str, str]) -> dict[str, Any]:
    """Submit every document the case's current stage still lacks (a qualifying proof for a
    proof of residence). Numbering and transfer take a proof of residence from the officer only
    (``PLATE_REVIEW``): an officer of a centre that may number the case files it."""
    from lifecycles.plates import RESIDENCE_KINDS, VEHICLE_ORIGIN

    status = await settled(handle)
    reviewed = (await handle.describe()).workflow_type in REVIEWED_TYPES
    for kind in [k for k in status["missing"] if k in status["checklist"]]:
        extra: dict[str, Any] = {"residence": QUALIFYING_RESIDENCE} if kind in RESIDENCE_KINDS else {}
        if kind == VEHICLE_ORIGIN:  # a vehicle the registry knows no origin of: the officer says domestic
            extra = {"origin": "domestic"}
        who = by
        if reviewed and kind in (*RESIDENCE_KINDS, VEHICLE_ORIGIN) and by.get("role") != "officer":
            who = numbering_officer(status["category"]) if status.get("category") else OFFICER
        status = await update(handle, "submit_document", actor=who, kind=kind, reference=f"doc-{kind}", **extra)
    return status


async def numbered(client: Client, worker: Worker, **input_extra: Any) -> tuple[WorkflowHandle, dict[str, Any], dict[str, Any]]:
    """A vehicle numbered end to end; returns the handle, the input and the final status."""
    data = numbering_input(**input_extra)
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    owner = actor("applicant", data["owner"]["national_id"])
    await complete_checklist(handle, owner)
    status = await update(handle, "inspect", actor=numbering_officer(data["category"]), passed=True)
    assert status["state"] == "AwaitingFee", status
    status = await update(handle, "pay_plate_fee", actor=BANK, payment_ref=f"PLT-{handle.id}", amount_rial=status["fee_rial"])
    return handle, data, status


def seed_vehicle(
    *,
    owner: str | None = None,
    category: str = "imported",
    locked_until: datetime | None = None,
    fuel_card: bool = False,
    fuel: str = "petrol",
    origin: str | None = None,
) -> tuple[str, str, str]:
    """A numbered vehicle written straight into the registry: (vin, owner id, plate); ``origin``
    ``None`` is a vehicle recorded before the registry kept origins."""
    from registry.db import session_scope
    from registry.models import FuelCard, Person, PlateRecord, Vehicle

    owner = owner or new_national_id()
    now = datetime.now(UTC)
    with session_scope() as session:
        while True:  # a plate from the VIN's digits; another VIN when a seeded or issued plate has it
            vin = new_vin()
            plate = f"{10 + int(vin[-2:], 16) % 90}ل{100 + int(vin[-5:-2], 16) % 900}-{20 + int(vin[-6], 16)}"
            if session.get(PlateRecord, plate) is None:
                break
        session.add(Person(national_id=owner, full_name="فروشنده آزمایشی"))
        session.add(
            Vehicle(
                vin=vin,
                owner_national_id=owner,
                kind="passenger_car",
                production_year=2020,
                fuel=fuel,
                plate=plate,
                title_transfer_locked_until=locked_until,
                origin=origin,
            )
        )
        session.add(
            PlateRecord(
                plate=plate,
                vin=vin,
                owner_national_id=owner,
                category=category,
                active=True,
                issued_at=now,
                workflow_id=f"seed-{vin}",
            )
        )
        session.flush()
        if fuel_card:
            session.add(
                FuelCard(
                    card_number=f"FC{vin[-10:]}",
                    vin=vin,
                    owner_national_id=owner,
                    use="private_petrol",
                    balance_litres=40,
                    status="active",
                    issued_at=now,
                )
            )
    return vin, owner, plate
