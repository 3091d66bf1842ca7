"""The after-numbering services (``PlateService``) on the time-skipping server (seed 004)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from lifecycles.plate_services import notice_wait_ends
from lifecycles.plates import PLATE_PATTERN
from registry.db import session_scope
from registry.models import FuelCard, PlateRecord, Vehicle, VehicleServiceRecord
from tests.helpers import actor, new_national_id, rejected, start, update
from tests.plate_support import BANK, OFFICER, complete_checklist, seed_vehicle, settled


async def _service(
    client: Client, worker: Worker, service: str, *, category: str = "imported", fuel_card: bool = False, **extra: Any
) -> tuple[WorkflowHandle, str, dict[str, str]]:
    vin, owner, _ = seed_vehicle(category=category, fuel_card=fuel_card)
    data = {"service": service, "vin": vin, "owner": {"national_id": owner, "full_name": "علی رضایی"}, **extra}
    handle = await start(client, worker, "PlateService", data, f"service-{service}")
    # Every service but a part change completes only with the owner's own consent.
    if service != "part_change" and (await settled(handle))["state"] == "Open":
        await update(handle, "consent", actor=actor("owner", owner))
    return handle, vin, actor("applicant", owner)


def test_notice_wait_ends_after_more_than_ten_days() -> None:
    ends = notice_wait_ends(date(2026, 3, 1))
    # 00:00 Tehran on 12 March = 20:30 UTC on 11 March: ten whole days after 1 March have passed.
    assert ends == datetime(2026, 3, 11, 20, 30, tzinfo=UTC)


async def test_duplicate_ownership_document_waits_more_than_ten_days_after_the_notice(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, _, owner = await _service(client, worker, "duplicate_ownership_document")
    await update(handle, "inspect", actor=OFFICER, passed=True)
    status = await complete_checklist(handle, owner)
    assert status["state"] == "NoticePeriod"
    assert status["notice_wait_ends"] is not None
    assert "pay_fee" not in status["allowed"] and "cancel" in status["allowed"]
    await env.sleep(timedelta(days=9))
    assert (await handle.query("status"))["state"] == "NoticePeriod"
    await env.sleep(timedelta(days=3))
    status = await handle.query("status")
    assert status["state"] == "AwaitingFee" and status["history"][-1]["event"] == "notice_period_over"
    fee = policy.PLATE_SERVICE_FEE_RIAL["duplicate_ownership_document"]
    status = await update(handle, "pay_fee", actor=BANK, payment_ref=f"DUP-{handle.id[-36:]}", amount_rial=fee)
    assert status["state"] == "Completed"
    with session_scope() as session:
        assert session.get(VehicleServiceRecord, handle.id) is not None


async def test_notice_published_long_ago_needs_no_further_wait(client: Client, worker: Worker) -> None:
    handle, _, owner = await _service(client, worker, "duplicate_ownership_document")
    await settled(handle)
    long_ago = (date.today() - timedelta(days=30)).isoformat()
    assert "future" in await rejected(handle, "submit_document", actor=owner, kind="newspaper_notice", published_on="2999-01-01")
    await update(handle, "submit_document", actor=owner, kind="newspaper_notice", published_on=long_ago)
    await complete_checklist(handle, owner)
    await update(handle, "inspect", actor=OFFICER, passed=True)
    for _ in range(100):
        status = await handle.query("status")
        if status["state"] == "AwaitingFee":
            break
        await asyncio.sleep(0.05)
    assert status["state"] == "AwaitingFee"


async def test_engine_change_permit_invoice_and_reinspection(client: Client, worker: Worker) -> None:
    change = {"part": "engine", "cylinders": 4, "fuel": "petrol"}
    handle, vin, owner = await _service(client, worker, "part_change", change=change)
    status = await complete_checklist(handle, owner)
    assert "part_invoice" in status["checklist"] and status["checklist"]["part_invoice"] is False
    assert "not on this case's checklist" in await rejected(
        handle,
        "submit_document",
        actor=owner,
        kind="part_invoice",
        part={"invoice_number": "F1", "new": True, "cylinders": 4, "fuel": "petrol"},
    )
    status = await update(handle, "inspect", actor=OFFICER, passed=True)
    assert status["state"] == "Permitted"
    bad = [
        ({"invoice_number": "F1", "new": False, "cylinders": 4, "fuel": "petrol"}, "must be new"),
        ({"invoice_number": "F1", "new": True, "cylinders": 6, "fuel": "petrol"}, "4 cylinders"),
        ({"invoice_number": "F1", "new": True, "cylinders": 4, "fuel": "diesel"}, "same fuel"),
        ({"invoice_number": "F1", "new": True, "cylinders": 4, "fuel": "petrol", "engraving_intact": False}, "ground"),
    ]
    for part, message in bad:
        assert message in await rejected(handle, "submit_document", actor=owner, kind="part_invoice", part=part)
    await update(
        handle,
        "submit_document",
        actor=owner,
        kind="part_invoice",
        part={"invoice_number": "F1", "new": True, "cylinders": 4, "fuel": "petrol"},
    )
    status = await update(handle, "inspect", actor=OFFICER, passed=True)
    assert status["state"] == "Completed"
    assert status["result"]["new_part"]["invoice_number"] == "F1"


async def test_failed_reinspection_rejects(client: Client, worker: Worker) -> None:
    handle, _, owner = await _service(client, worker, "part_change", change={"part": "body", "body_type": "sedan-4d"})
    await complete_checklist(handle, owner)
    await update(handle, "inspect", actor=OFFICER, passed=True)
    assert "same system and type" in await rejected(
        handle,
        "submit_document",
        actor=owner,
        kind="part_invoice",
        part={"invoice_number": "B1", "new": True, "body_type": "hatchback"},
    )
    await update(
        handle,
        "submit_document",
        actor=owner,
        kind="part_invoice",
        part={"invoice_number": "B1", "new": True, "body_type": "sedan-4d"},
    )
    status = await update(handle, "inspect", actor=OFFICER, passed=False, notes="welded halves")
    assert status["state"] == "Rejected" and "re-inspection failed" in status["rejection_reasons"][0]


async def test_colour_change_records_the_colour_and_refuses_taxi_colours(client: Client, worker: Worker) -> None:
    handle, vin, owner = await _service(client, worker, "part_change", change={"part": "colour", "colour": "dark_blue"})
    await complete_checklist(handle, owner)
    assert (await update(handle, "inspect", actor=OFFICER, passed=True))["state"] == "Permitted"
    assert (await update(handle, "inspect", actor=OFFICER, passed=True))["state"] == "Completed"
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.colour == "dark_blue"

    handle, _, _ = await _service(client, worker, "part_change", change={"part": "colour", "colour": "taxi_yellow"})
    status = await settled(handle)
    assert status["state"] == "Rejected" and "taxi" in status["rejection_reasons"][0]


async def test_scrapping_ends_plate_and_fuel_card(client: Client, worker: Worker) -> None:
    handle, vin, owner = await _service(client, worker, "scrapping", fuel_card=True)
    status = await complete_checklist(handle, owner)
    assert "fuel_hq_registration" not in status["checklist"]
    status = await update(handle, "inspect", actor=OFFICER, passed=True)
    assert status["state"] == "Completed"
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.scrapped_at is not None and vehicle.plate is None
        assert not session.scalars(select(PlateRecord).where(PlateRecord.vin == vin, PlateRecord.active.is_(True))).all()
        assert session.scalars(select(FuelCard).where(FuelCard.vin == vin)).one().status == "cancelled"


async def test_a_historic_car_is_never_scrapped(client: Client, worker: Worker) -> None:
    handle, _, _ = await _service(client, worker, "scrapping", category="historic")
    status = await settled(handle)
    assert status["state"] == "Rejected" and "historic" in status["rejection_reasons"][0]


async def test_scrapping_with_government_incentive_needs_the_fuel_hq_registration(client: Client, worker: Worker) -> None:
    handle, _, _ = await _service(client, worker, "scrapping", with_government_incentive=True)
    assert "fuel_hq_registration" in (await settled(handle))["checklist"]


async def test_lost_plates_get_a_new_number_and_the_old_one_is_blocked(client: Client, worker: Worker) -> None:
    handle, vin, owner = await _service(client, worker, "lost_or_stolen_plates")
    await complete_checklist(handle, owner)
    status = await update(handle, "inspect", actor=OFFICER, passed=True)
    assert status["state"] == "AwaitingFee"
    status = await update(handle, "pay_fee", actor=BANK, payment_ref=f"LOST-{handle.id[-36:]}", amount_rial=status["fee_rial"])
    new, old = status["result"]["plate"], status["result"]["previous_plate"]
    assert status["state"] == "Completed" and PLATE_PATTERN.match(new) and new != old
    with session_scope() as session:
        record = session.get(PlateRecord, old)
        assert record is not None and not record.active and record.end_reason == "lost_or_stolen"


async def test_damaged_plates_need_the_damaged_plate_and_keep_the_number(client: Client, worker: Worker) -> None:
    handle, vin, owner = await _service(client, worker, "damaged_plates")
    status = await complete_checklist(handle, owner)
    assert "damaged_plate" in status["checklist"]
    status = await update(handle, "inspect", actor=OFFICER, passed=True)
    status = await update(handle, "pay_fee", actor=BANK, payment_ref=f"DMG-{handle.id[-36:]}", amount_rial=status["fee_rial"])
    assert status["state"] == "Completed" and status["result"]["remade"] is True


async def test_duplicate_card_can_be_cancelled_by_the_owner_only(client: Client, worker: Worker) -> None:
    handle, _, owner = await _service(client, worker, "duplicate_vehicle_card")
    await settled(handle)
    assert "owner" in await rejected(handle, "cancel", actor=actor("applicant", new_national_id()))
    assert (await update(handle, "cancel", actor=owner))["state"] == "Cancelled"


async def test_services_need_the_registry_owner(client: Client, worker: Worker) -> None:
    vin, _, _ = seed_vehicle()
    data = {"service": "duplicate_vehicle_card", "vin": vin, "owner": {"national_id": new_national_id(), "full_name": "x"}}
    handle = await start(client, worker, "PlateService", data, "service")
    status = await settled(handle)
    assert status["state"] == "Rejected" and "another owner" in status["rejection_reasons"][0]
