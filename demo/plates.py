"""Plates demo: a car numbered then sold (Transferred), a refused veteran numbering, a duplicate
ownership document waiting out its notice period, and an engine change completed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle

from cli.plates import start_plate_case
from demo.common import actor, link, person_id, send, wait_for_state
from domain.display import TEHRAN
from lifecycles.plates import RESIDENCE_KINDS

NEW_YEAR = datetime.now(TEHRAN).date().replace(month=1, day=1)
"""The demo's imported car is made and cleared on the first day of this (Gregorian) year."""

OFFICER = {**actor("officer", "plate-centre-meysam"), "centre": "meysam"}
"""An officer of the Meysam centre (token claim ``ctr``): imported cars are numbered only at
Meysam or provincial-capital centres (seed 004)."""
BANK = actor("bank", "mellat")
RESIDENCE = {"type": "owned_home_deed", "holder": "owner", "utility_bill": "electricity"}
"""A proof of residence that qualifies: a home deed in the owner's name with a power bill (seed 004)."""


def _vin() -> str:
    return "NAA" + uuid.uuid4().hex[:14].upper()


async def _checked(handle: WorkflowHandle) -> dict[str, Any]:
    """The case once its start checks ran: the registry's facts may have changed its checklist."""
    for _ in range(120):
        status = await wait_for_state(handle, "Open", "Rejected")
        if status["eligibility_checked"] or status["state"] != "Open":
            return status
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{handle.id}: the start checks did not finish")


async def _documents(handle: WorkflowHandle, by: dict[str, str], officer: dict[str, str] = OFFICER) -> dict[str, Any]:
    """File what the case lacks; a proof of residence the officer files, having read the papers."""
    status = await _checked(handle)
    for kind in [k for k in status["missing"] if k in status["checklist"]]:
        proof = {"residence": RESIDENCE} if kind in RESIDENCE_KINDS else {}
        who = officer if kind in RESIDENCE_KINDS else by
        status = await send(handle, "submit_document", actor=who, kind=kind, reference=f"{kind}-0001", **proof)
    return status


async def _numbered(client: Client, owner: str) -> tuple[WorkflowHandle, dict[str, Any]]:
    data = {
        "vin": _vin(),
        "category": "imported",
        # The import ban counts from production to customs clearance (seed 004): both on 1 January.
        "vehicle": {
            "kind": "passenger_car",
            "production_year": NEW_YEAR.year,
            "fuel": "petrol",
            "production_date": NEW_YEAR.isoformat(),
            "customs_cleared_on": NEW_YEAR.isoformat(),
        },
        "owner": {"national_id": owner, "full_name": "مریم احمدی"},
    }
    handle = client.get_workflow_handle(
        await start_plate_case("VehicleNumbering", data, "numbering", "شماره‌گذاری وارداتی", ("owner", owner))
    )
    await _documents(handle, actor("applicant", owner))
    status = await send(handle, "inspect", actor=OFFICER, passed=True, notes="اصالت خودرو تأیید شد")
    status = await send(
        handle, "pay_plate_fee", actor=BANK, payment_ref=f"PLT-{uuid.uuid4().hex[:10]}", amount_rial=status["fee_rial"]
    )
    return handle, status


async def run(client: Client) -> list[str]:
    lines = []
    seller, buyer = person_id(), person_id()
    handle, status = await _numbered(client, seller)
    vin = status["vin"]
    lines.append(f"VehicleNumbering {status['state']} (plate {status['plate']}): {link(handle.id)}")

    data = {"vin": vin, "seller": {"national_id": seller}, "buyer": {"national_id": buyer, "full_name": "رضا کریمی"}}
    handle = client.get_workflow_handle(
        await start_plate_case("PlateTransfer", data, "transfer", "نقل و انتقال", ("seller", seller))
    )
    status = await _documents(handle, actor("seller", seller))
    # An imported car: the registry's origin waives the factory sale document («تولید داخل»).
    assert "factory_sale_document" not in status["checklist"], status["checklist"]
    await send(handle, "confirm_presence", actor=OFFICER, party="seller")
    await send(handle, "confirm_presence", actor=OFFICER, party="buyer")
    status = await send(handle, "consent", actor=actor("seller", seller))  # the owner's own token
    status = await send(
        handle, "pay_plate_fee", actor=BANK, payment_ref=f"TRF-{uuid.uuid4().hex[:10]}", amount_rial=status["fee_rial"]
    )
    lines.append(
        f"PlateTransfer {status['state']} ({status['previous_plate']} kept by the seller, new plate {status['plate']}): {link(handle.id)}"
    )
    lines.append(f"  registry record: python starter.py vehicle {vin}")

    refused = {
        "vin": _vin(),
        "category": "veteran",
        "vehicle": {"kind": "pickup", "production_year": date.today().year, "fuel": "petrol"},
        "owner": {"national_id": person_id(), "full_name": "حسین رحیمی"},
        "veteran_card_percent": 40,
    }
    handle = client.get_workflow_handle(
        await start_plate_case("VehicleNumbering", refused, "numbering", "شماره‌گذاری جانبازان", ("officer", OFFICER["id"]))
    )
    status = await wait_for_state(handle, "Rejected")
    lines.append(f"VehicleNumbering {status['state']} ({'; '.join(status['rejection_reasons'])}): {link(handle.id)}")

    owner = actor("applicant", buyer)
    service = {"service": "duplicate_ownership_document", "vin": vin, "owner": {"national_id": buyer, "full_name": "رضا کریمی"}}
    handle = client.get_workflow_handle(
        await start_plate_case("PlateService", service, "plate-service", "سند مالکیت المثنی", ("owner", buyer))
    )
    await _documents(handle, owner)
    await send(handle, "inspect", actor=OFFICER, passed=True)
    status = await send(handle, "consent", actor=actor("owner", buyer))
    lines.append(
        f"PlateService duplicate_ownership_document {status['state']} (issue from {status['notice_wait_ends']}): {link(handle.id)}"
    )

    change = {
        "service": "part_change",
        "vin": vin,
        "owner": {"national_id": buyer, "full_name": "رضا کریمی"},
        "change": {"part": "engine", "cylinders": 4, "fuel": "petrol"},
    }
    handle = client.get_workflow_handle(
        await start_plate_case("PlateService", change, "plate-service", "تعویض موتور", ("owner", buyer))
    )
    await _documents(handle, owner)
    await send(handle, "inspect", actor=OFFICER, passed=True, notes="مجوز تعویض موتور صادر شد")
    await send(
        handle,
        "submit_document",
        actor=owner,
        kind="part_invoice",
        part={"invoice_number": "INV-5521", "new": True, "cylinders": 4, "fuel": "petrol"},
    )
    status = await send(handle, "inspect", actor=OFFICER, passed=True, notes="حک موتور انجام شد")
    lines.append(f"PlateService part_change {status['state']}: {link(handle.id)}")
    return lines
