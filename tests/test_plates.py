"""VehicleNumbering and PlateTransfer on the time-skipping server (seed 004)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from domain.calendar import add_jalali_years
from domain.display import TEHRAN
from lifecycles.plates import PLATE_PATTERN
from registry.db import session_scope
from registry.models import FuelCard, PlateRecord, Vehicle
from tests.helpers import actor, new_national_id, rejected, start, update
from tests.plate_support import BANK, OFFICER, closed, complete_checklist, numbered, numbering_input, seed_vehicle, settled


@pytest.fixture
async def now(env: WorkflowEnvironment) -> datetime:
    """The test server's clock: the workflows judge ages and locks by it, not the wall clock."""
    return await env.get_current_time()


# --- numbering ---


async def test_imported_car_is_numbered_with_a_unique_plate_in_the_registry(
    client: Client, worker: Worker, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    handle, data, status = await numbered(client, worker, year=now.year)
    assert status["state"] == "Numbered"
    assert PLATE_PATTERN.match(status["plate"]) and status["plate"].endswith("-" + policy.PLATE_DEFAULT_REGION_CODE)
    assert status["fee_rial"] == policy.PLATE_FEE_RIAL["imported"]
    assert set(status["checklist"]) == {
        "kardex",
        "customs_documents",
        "government_dues_receipt",
        "third_party_insurance",
        "identity_document",
        "residence_proof",
    }
    assert [h["event"] for h in status["history"]][-2:] == ["checklist_complete", "pay_plate_fee"]
    with session_scope() as session:
        vehicle = session.get(Vehicle, data["vin"])
        assert vehicle is not None and vehicle.plate == status["plate"]
        assert vehicle.owner_national_id == data["owner"]["national_id"]
        record = session.get(PlateRecord, status["plate"])
        assert record is not None and record.active and record.owner_national_id == data["owner"]["national_id"]

    from cli.registry import vehicle as show_vehicle

    show_vehicle(data["vin"])
    shown = json.loads(capsys.readouterr().out)
    assert shown["vin"] == data["vin"] and shown["plate"] == status["plate"]
    assert shown["owner_national_id"] == data["owner"]["national_id"] and "title_transfer_locked_until" in shown
    await closed(handle)
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_plate_allocation_is_idempotent_per_workflow(now: datetime) -> None:
    from activities.plates import NumberingRequest, number_vehicle
    from tests.plate_support import new_vin

    vin, owner = new_vin(), new_national_id()
    request = NumberingRequest(
        "wf-idem-" + vin, vin, "veteran", "22", owner, "x", "passenger_car", now.year, "petrol", datetime.now(UTC)
    )
    first = number_vehicle(request)
    assert number_vehicle(request) == first
    assert re.fullmatch(r"[1-9]\dژ[1-9]\d{2}-22", first)
    with session_scope() as session:
        assert len(session.scalars(select(PlateRecord).where(PlateRecord.vin == vin)).all()) == 1


async def test_numbering_validators_refuse_without_changing_the_case(client: Client, worker: Worker, now: datetime) -> None:
    data = numbering_input(year=now.year)
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    owner = actor("applicant", data["owner"]["national_id"])
    await settled(handle)
    assert "role 'bank'" in await rejected(handle, "submit_document", actor=BANK, kind="kardex")
    assert "owner" in await rejected(handle, "submit_document", actor=actor("applicant", new_national_id()), kind="kardex")
    assert "not on this case's checklist" in await rejected(handle, "submit_document", actor=owner, kind="touring_club_form")
    assert "role 'applicant'" in await rejected(handle, "inspect", actor=owner, passed=True)
    assert "needs notes" in await rejected(handle, "inspect", actor=OFFICER, passed=False)
    assert "not allowed in state Open" in await rejected(handle, "pay_plate_fee", actor=BANK, payment_ref="P1", amount_rial=1)
    assert "invalid input" in await rejected(handle, "submit_document", actor=owner, kind="kardex", extra=1)
    await complete_checklist(handle, OFFICER)
    status = await update(handle, "inspect", actor=OFFICER, passed=True)
    assert "amount_rial must equal" in await rejected(
        handle, "pay_plate_fee", actor=BANK, payment_ref="P1", amount_rial=status["fee_rial"] - 1
    )


async def test_failed_inspection_rejects_with_the_officers_notes(client: Client, worker: Worker, now: datetime) -> None:
    data = numbering_input(year=now.year)
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    status = await update(handle, "inspect", actor=OFFICER, passed=False, notes="VIN plate tampered")
    assert status["state"] == "Rejected" and status["rejection_reasons"] == [
        "the officer's inspection failed: VIN plate tampered"
    ]


async def test_malformed_input_refuses_the_start(client: Client, worker: Worker, now: datetime) -> None:
    data = numbering_input(year=now.year)
    data["vin"] = "IOQ" + data["vin"][3:]
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert "VIN" in str(err.value.cause)


CASES = [
    # (category, kind, age, extra input, rejected?, reason fragment)
    ("imported", "passenger_car", 1, {}, False, ""),
    ("imported", "truck", 2, {}, False, ""),
    ("auction", "passenger_car", 19, {}, False, ""),
    ("auction", "passenger_car", 20, {}, True, "worn out"),
    ("auction", "taxi", 10, {}, True, "worn out"),
    ("historic", "passenger_car", 51, {"historic_class": "precious"}, False, ""),
    ("historic", "passenger_car", 40, {"historic_class": "precious"}, True, "more than 50"),
    ("historic", "passenger_car", 26, {"historic_class": "unique"}, False, ""),
    ("historic", "passenger_car", 25, {"historic_class": "unique"}, True, "more than 25"),
    ("historic", "passenger_car", 10, {"historic_class": "special"}, False, ""),
    ("historic", "passenger_car", 60, {}, True, "historic_class"),
    ("veteran", "passenger_car", 0, {"veteran_card_percent": 50}, False, ""),
    ("veteran", "passenger_car", 0, {"veteran_card_percent": 40}, True, "veteran card"),
    ("veteran", "pickup", 0, {"veteran_card_percent": 70}, True, "only for passenger cars"),
    ("veteran", "passenger_car", 0, {"disability_degree": "severe"}, False, ""),
    ("veteran", "passenger_car", 0, {"disability_degree": "mild"}, True, "disability card"),
    ("veteran", "passenger_car", 0, {"disability_degree": "very_severe", "mental_disability": True}, True, "mentally disabled"),
    ("temporary_transit", "truck", 30, {}, False, ""),
]


@pytest.mark.parametrize("category,kind,age,extra,is_rejected,fragment", CASES)
async def test_numbering_rules(
    client: Client,
    worker: Worker,
    now: datetime,
    category: str,
    kind: str,
    age: int,
    extra: dict,
    is_rejected: bool,
    fragment: str,
) -> None:
    data = numbering_input(category, kind=kind, year=now.year - age, **extra)
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    status = await settled(handle)
    assert status["state"] == ("Rejected" if is_rejected else "Open"), status["rejection_reasons"]
    if is_rejected:
        assert any(fragment in r for r in status["rejection_reasons"]), status["rejection_reasons"]
        assert status["history"][-1]["event"] == "eligibility_failed"
        assert "submit_document" not in status["allowed"]


async def verdict(client: Client, worker: Worker, data: dict) -> dict:
    return await settled(await start(client, worker, "VehicleNumbering", data, "numbering"))


async def test_the_import_ban_counts_from_production_to_customs_clearance(client: Client, worker: Worker, now: datetime) -> None:
    """Seed 004: passenger cars cleared more than one year after production are banned, trucks and
    buses more than two: Jalali calendar years from the production date to the clearance, however
    old the car is when it comes to be numbered (three years here; the old rule refused it)."""
    made = (now - timedelta(days=3 * 365)).astimezone(TEHRAN).date()
    year_on = add_jalali_years(made, 1)
    cases = [
        ("passenger_car", year_on, "Open"),
        ("passenger_car", year_on + timedelta(days=1), "Rejected"),
        ("truck", add_jalali_years(made, 2), "Open"),
        ("city_bus", add_jalali_years(made, 2) + timedelta(days=1), "Rejected"),
    ]
    for kind, cleared, state in cases:
        status = await verdict(client, worker, numbering_input(year=made.year, kind=kind, made=str(made), cleared=str(cleared)))
        assert status["state"] == state, (kind, cleared, status["rejection_reasons"])
        if state == "Rejected":
            assert any("import ban" in r for r in status["rejection_reasons"]), status["rejection_reasons"]


async def test_an_import_without_its_dates_is_refused_saying_which(client: Client, worker: Worker, now: datetime) -> None:
    data = numbering_input(year=now.year)
    del data["vehicle"]["customs_cleared_on"]
    status = await verdict(client, worker, data)
    assert status["state"] == "Rejected"
    assert any("customs_cleared_on" in r for r in status["rejection_reasons"]), status["rejection_reasons"]


async def test_production_date_must_be_in_production_year(client: Client, worker: Worker, now: datetime) -> None:
    handle = await start(
        client, worker, "VehicleNumbering", numbering_input(year=now.year, made=f"{now.year - 1}-06-01"), "numbering"
    )
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert "production_year" in str(err.value.cause)


async def test_historic_age_counts_from_the_production_date(client: Client, worker: Worker, now: datetime) -> None:
    """«بیش از ۲۵ سال»: exactly 25 Jalali years old today is not more than 25; a day older is."""
    today = now.astimezone(TEHRAN).date()
    on_the_day = add_jalali_years(today, -policy.HISTORIC_UNIQUE_MIN_AGE_YEARS)
    for made, state in [(on_the_day, "Rejected"), (on_the_day - timedelta(days=1), "Open")]:
        data = numbering_input("historic", year=made.year, made=str(made), historic_class="unique")
        status = await verdict(client, worker, data)
        assert status["state"] == state, (made, status["rejection_reasons"])


async def test_mentally_disabled_child_is_numbered_to_a_parent(client: Client, worker: Worker, now: datetime) -> None:
    child = {"national_id": new_national_id(), "full_name": "کودک"}
    data = numbering_input("veteran", year=now.year, disability_degree="severe", mental_disability=True, disabled_person=child)
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    status = await settled(handle)
    assert status["state"] == "Open"
    assert "welfare_introduction_letter" in status["checklist"]


async def test_a_vin_already_numbered_is_rejected(client: Client, worker: Worker, now: datetime) -> None:
    vin, owner, plate = seed_vehicle()
    data = numbering_input(year=now.year)
    data["vin"], data["owner"]["national_id"] = vin, owner
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    status = await settled(handle)
    assert status["state"] == "Rejected"
    assert status["rejection_reasons"] == [f"VIN {vin} is already numbered (plate {plate})"]
    assert status["allowed"] == []


# --- transfer ---


def transfer_input(vin: str, seller: str, buyer: str | None = None) -> dict:
    return {
        "vin": vin,
        "seller": {"national_id": seller},
        "buyer": {"national_id": buyer or new_national_id(), "full_name": "سارا محمدی"},
    }


async def _ready_transfer(client: Client, worker: Worker, data: dict) -> WorkflowHandle:
    handle = await start(client, worker, "PlateTransfer", data, "transfer")
    await complete_checklist(handle, actor("seller", data["seller"]["national_id"]))
    await update(handle, "confirm_presence", actor=OFFICER, party="seller")
    status = await update(handle, "confirm_presence", actor=OFFICER, party="buyer")
    # Documents and both parties present: still Open until the owner consents with their own token.
    assert status["state"] == "Open" and status["missing"] == [
        "the owner's consent (update consent, with the seller's own token)"
    ]
    status = await update(handle, "consent", actor=actor("seller", data["seller"]["national_id"]))
    assert status["state"] == "AwaitingFee" and status["consent"]["by"] == data["seller"]["national_id"]
    return handle


async def test_transfer_moves_owner_plate_and_fuel_card_to_the_buyer(client: Client, worker: Worker) -> None:
    vin, seller, old_plate = seed_vehicle(fuel_card=True)
    data = transfer_input(vin, seller)
    buyer = data["buyer"]["national_id"]
    handle = await _ready_transfer(client, worker, data)
    status = await update(
        handle, "pay_plate_fee", actor=BANK, payment_ref=f"TR-{handle.id}", amount_rial=policy.PLATE_TRANSFER_FEE_RIAL
    )
    assert status["state"] == "Transferred"
    assert status["previous_plate"] == old_plate and status["plate"] != old_plate and PLATE_PATTERN.match(status["plate"])
    assert status["fuel_card_moved"] is True
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.owner_national_id == buyer and vehicle.plate == status["plate"]
        old = session.get(PlateRecord, old_plate)
        assert old is not None and not old.active and old.owner_national_id == seller and old.end_reason == "kept_by_owner"
        new = session.get(PlateRecord, status["plate"])
        assert new is not None and new.active and new.owner_national_id == buyer
        card = session.scalars(select(FuelCard).where(FuelCard.vin == vin)).one()
        assert card.owner_national_id == buyer


async def test_transfer_validators(client: Client, worker: Worker) -> None:
    vin, seller, _ = seed_vehicle()
    data = transfer_input(vin, seller)
    handle = await start(client, worker, "PlateTransfer", data, "transfer")
    await settled(handle)
    assert "role 'seller'" in await rejected(handle, "confirm_presence", actor=actor("seller", seller), party="seller")
    assert "another person" in await rejected(handle, "cancel", actor=actor("buyer", new_national_id()))
    assert "invalid input" in await rejected(handle, "confirm_presence", actor=OFFICER, party="witness")
    await update(handle, "confirm_presence", actor=OFFICER, party="seller")
    assert "already confirmed" in await rejected(handle, "confirm_presence", actor=OFFICER, party="seller")
    assert "not on this case's checklist" in await rejected(handle, "submit_document", actor=OFFICER, kind="kardex")
    assert "seller or the buyer" in await rejected(
        handle, "submit_document", actor=actor("applicant", new_national_id()), kind="vehicle_card"
    )
    status = await update(handle, "submit_document", actor=actor("applicant", seller), kind="vehicle_card")
    assert status["checklist"]["vehicle_card"] is True


@pytest.mark.parametrize("who", ["seller", "buyer"])
async def test_either_party_may_cancel_before_the_fee(client: Client, worker: Worker, who: str) -> None:
    vin, seller, plate = seed_vehicle()
    data = transfer_input(vin, seller)
    handle = await _ready_transfer(client, worker, data)
    status = await update(handle, "cancel", actor=actor(who, data[who]["national_id"]))
    assert status["state"] == "Cancelled"
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.owner_national_id == seller and vehicle.plate == plate


async def test_transfer_of_someone_elses_vehicle_is_rejected(client: Client, worker: Worker) -> None:
    vin, _, _ = seed_vehicle()
    handle = await start(client, worker, "PlateTransfer", transfer_input(vin, new_national_id()), "transfer")
    status = await settled(handle)
    assert status["state"] == "Rejected" and status["rejection_reasons"] == [
        "the registry records another owner for this vehicle"
    ]


async def test_title_lock_rejects_a_transfer_until_it_ends(client: Client, worker: Worker, now: datetime) -> None:
    vin, seller, _ = seed_vehicle(locked_until=now + timedelta(days=200))
    handle = await start(client, worker, "PlateTransfer", transfer_input(vin, seller), "transfer")
    status = await settled(handle)
    assert status["state"] == "Rejected" and "title is locked" in status["rejection_reasons"][0]
    assert status["title_transfer_locked_until"] is not None

    vin, seller, _ = seed_vehicle(locked_until=now - timedelta(days=1))
    handle = await start(client, worker, "PlateTransfer", transfer_input(vin, seller), "transfer")
    assert (await settled(handle))["state"] == "Open"


async def test_temporary_transit_vehicle_may_not_be_transferred(client: Client, worker: Worker) -> None:
    vin, seller, _ = seed_vehicle(category="temporary_transit")
    handle = await start(client, worker, "PlateTransfer", transfer_input(vin, seller), "transfer")
    status = await settled(handle)
    assert status["state"] == "Rejected" and "temporary-transit" in status["rejection_reasons"][0]


async def test_a_numbered_car_can_be_transferred(client: Client, worker: Worker, now: datetime) -> None:
    _, data, status = await numbered(client, worker, year=now.year, category="veteran", veteran_card_percent=70)
    assert "ژ" in status["plate"]
    handle = await _ready_transfer(client, worker, transfer_input(data["vin"], data["owner"]["national_id"]))
    status = await update(
        handle, "pay_plate_fee", actor=BANK, payment_ref=f"TR-{handle.id}", amount_rial=policy.PLATE_TRANSFER_FEE_RIAL
    )
    assert status["state"] == "Transferred" and "ژ" not in status["plate"]  # a veteran's plate does not pass to a buyer


def test_the_service_start_help_names_every_service() -> None:
    from cli.plates import service_start
    from lifecycles.plate_services import SERVICES

    assert service_start.__doc__ is not None
    assert [name for name in SERVICES if name not in service_start.__doc__] == []
