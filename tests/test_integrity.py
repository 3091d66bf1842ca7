"""Registry integrity beyond races: one spelling per VIN, numbering never changes an owner, a
deposit is blocked once for one case, and the 0006 migration's handling of existing duplicates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.escrow import EscrowHold, escrow_adapter
from activities.import_purchase import Registration, record_registration
from activities.plates import VEHICLE_CHANGED, NumberingRequest, number_vehicle
from domain import policy
from domain.identifiers import normalize_vin
from registry.db import _alembic_config, engine_for, migrate, session_scope
from registry.models import EscrowDeposit, PlateRecord, SchemeRegistration, Vehicle
from tests.helpers import actor, new_national_id, signed_start, start, update
from tests.plate_support import BANK, OFFICER, complete_checklist, new_vin, numbered, numbering_input, settled
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    IMPORTER,
    SCHEME,
    _open_cases,
    begin,
    close_cases,
    env,
    open_round,
    purchase_input,
    to_state,
    worker,
)
from tests.test_plate_registry_refusals import _refused

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def registry(database: str) -> str:
    """The session's registry (it sets ``DATABASE_URL``), also for the tests that use no server."""
    return database


def active_plates(vin: str) -> list[PlateRecord]:
    with session_scope() as session:
        return list(session.scalars(select(PlateRecord).where(PlateRecord.vin == vin, PlateRecord.active.is_(True))))


# --- one spelling per VIN ---

FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "NAAM01CA000000001")
"""The same VIN in full-width forms (Ｎ, ０...), as East Asian keyboards type it."""


@pytest.mark.parametrize("given", ["NAAM01CA000000001\n", " NAAM01CA000000001\t", "naam01ca000000001", FULL_WIDTH])
def test_a_vin_has_one_spelling(given: str) -> None:
    assert normalize_vin(given) == "NAAM01CA000000001"


@pytest.mark.parametrize(
    "given",
    [
        "NAAM01CA000000001\nX",
        "NAAM01CA00000000",
        "NAAM01CA0000000011",
        "NAAM01CA 00000001",
        "NAAM01CA00000000I",
        "NAAM01CA00000000\u200b1",
        17,
    ],
)
def test_anything_else_is_no_vin(given: object) -> None:
    with pytest.raises(ValueError, match="a VIN is 17 characters"):
        normalize_vin(given)


async def test_a_vin_with_a_trailing_newline_is_the_same_car(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    year = (await env.get_current_time()).year
    _, data, status = await numbered(client, worker, year=year)
    vin = data["vin"]
    for spelling in (vin + "\n", vin.lower()):
        again = numbering_input(year=year)
        handle = await start(client, worker, "VehicleNumbering", {**again, "vin": spelling}, "numbering")
        refused = await settled(handle)
        assert refused["vin"] == vin
        assert (
            refused["state"] == "Rejected"
            and refused["rejection_reasons"][0] == f"VIN {vin} is already numbered (plate {status['plate']})"
        )
    # A case whose history holds the raw spelling (started before inputs were normalised) is
    # refused by the completing activity all the same.
    late = NumberingRequest(
        f"numbering-{uuid.uuid4()}", vin + "\n", "imported", "10", new_national_id(), "مالک", "passenger_car", year, "petrol", NOW
    )
    with pytest.raises(ApplicationError) as info:
        number_vehicle(late)
    assert info.value.type == VEHICLE_CHANGED and "numbered meanwhile" in info.value.message
    assert [p.plate for p in active_plates(vin)] == [status["plate"]]
    with session_scope() as session:
        assert session.get(Vehicle, vin + "\n") is None


# --- numbering never changes the owner of a car the registry knows ---


async def _delivered(client: Client, worker: Worker, env: WorkflowEnvironment, vin: str) -> tuple[str, datetime]:
    """An imported car delivered through an ImportPurchase case: (its owner, its title lock)."""
    handle, nid = await begin(client, worker)
    await to_state(handle, env, nid, "AwaitingDelivery")
    status = await update(handle, "deliver", actor=actor("importer", IMPORTER), vin=vin)
    assert status["state"] == "Delivered"
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.owner_national_id == nid and vehicle.title_transfer_locked_until is not None
        return nid, vehicle.title_transfer_locked_until


async def _awaiting_fee(client: Client, worker: Worker, data: dict) -> tuple[object, dict]:
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    await complete_checklist(handle, actor("applicant", data["owner"]["national_id"]))
    status = await update(handle, "inspect", actor=OFFICER, passed=True)
    assert status["state"] == "AwaitingFee" and status["rejection_reasons"] == []
    return handle, status


async def test_a_numbering_opened_before_a_delivery_cannot_take_the_delivered_car(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    vin = new_vin()
    data = {**numbering_input(year=(await env.get_current_time()).year), "vin": vin}
    handle, status = await _awaiting_fee(client, worker, data)  # checked while the VIN was unknown
    buyer, locked_until = await _delivered(client, worker, env, vin)

    message = await _refused(handle, "pay_plate_fee", actor=BANK, payment_ref=f"PLT-{handle.id}", amount_rial=status["fee_rial"])
    assert "another owner" in message and "title is locked" in message
    status = await handle.query("status")
    assert (
        status["state"] == "Rejected"
        and status["plate"] is None
        and "numbering never changes the owner" in status["rejection_reasons"][0]
    )
    assert data["owner"]["national_id"] not in status["rejection_reasons"][0] and buyer not in status["rejection_reasons"][0]
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.owner_national_id == buyer and vehicle.plate is None
        assert vehicle.title_transfer_locked_until == locked_until
    assert active_plates(vin) == []


async def test_the_delivered_owner_numbers_the_car_and_the_title_lock_stays(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    vin = new_vin()
    buyer, locked_until = await _delivered(client, worker, env, vin)
    owner = {"national_id": buyer, "full_name": "سارا رحیمی"}
    _, _, status = await numbered(client, worker, year=(await env.get_current_time()).year, vin=vin, owner=owner)
    assert status["state"] == "Numbered"
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and (vehicle.owner_national_id, vehicle.plate) == (buyer, status["plate"])
        assert vehicle.title_transfer_locked_until == locked_until
    [plate] = active_plates(vin)
    assert plate.owner_national_id == buyer


# --- a deposit is blocked once, for one case ---


def _registration(wid: str, nid: str) -> Registration:
    return Registration(wid, SCHEME, nid, "سارا رحیمی", "mellat", f"ESC-{nid}", policy.ESCROW_DEPOSIT_RIAL, NOW)


def _deposit(wid: str) -> EscrowDeposit:
    with session_scope() as session:
        row = session.get(EscrowDeposit, wid)
        assert row is not None
        return row


def test_a_released_deposit_is_never_blocked_again_by_a_new_registration() -> None:
    wid, nid = f"purchase-{uuid.uuid4()}", new_national_id()
    record_registration(_registration(wid, nid))
    record_registration(_registration(wid, nid))  # a retry finds its own blocked hold
    hold = EscrowHold(wid, nid, "mellat", f"ESC-{nid}", policy.ESCROW_DEPOSIT_RIAL)
    released_at = escrow_adapter().release(hold, NOW)
    for someone in (nid, new_national_id()):  # the closed case's applicant or anyone else, under its id
        with pytest.raises(ApplicationError) as info:
            record_registration(_registration(wid, someone))
        assert info.value.type == "Rejected" and info.value.non_retryable and "belongs to another case" in info.value.message
        assert someone not in info.value.message
    row = _deposit(wid)
    assert (row.status, row.released_at, row.national_id) == ("released", released_at, nid)
    stranger = EscrowHold(wid, new_national_id(), "mellat", "ESC-x", policy.ESCROW_DEPOSIT_RIAL)
    for write in (escrow_adapter().reblock, escrow_adapter().release):
        with pytest.raises(ApplicationError, match="belongs to another case"):
            write(stranger, NOW)
    assert _deposit(wid).status == "released"
    escrow_adapter().reblock(hold, NOW + timedelta(days=1))  # the case's own reinstatement still can
    assert _deposit(wid).status == "blocked"


async def test_a_purchase_reusing_a_closed_cases_id_leaves_its_released_deposit_alone(client: Client, worker: Worker) -> None:
    nid = new_national_id()
    handle, _ = await begin(client, worker, nid, applicant={"has_driving_license": False})  # through a scheme round
    final = await handle.result()
    assert final["state"] == "Ineligible" and final["deposit_released_at"]
    before = _deposit(handle.id)
    assert before.status == "released"

    # In a round open now (the server's clock may be past the default scheme's window), so the
    # start reaches the workflow id's check.
    fresh = await open_round(client, worker)
    reused = await client.start_workflow(
        "ImportPurchase",
        await signed_start(handle.id, "ImportPurchase", purchase_input(nid, scheme_id=fresh.scheme_id)),
        id=handle.id,
        task_queue=worker.task_queue,
    )
    _open_cases.append(reused)
    with pytest.raises(WorkflowFailureError) as info:
        await reused.result()
    assert "belonged to an earlier ImportPurchase case" in str(info.value.cause)
    after = _deposit(handle.id)
    assert (after.status, after.released_at, after.blocked_at) == ("released", before.released_at, before.blocked_at)
    with session_scope() as session:
        registration = session.get(SchemeRegistration, handle.id)
        assert registration is None or not registration.open


# --- the migration and the rows it finds ---


def _at_0005(url: str) -> sessionmaker:
    from alembic import command

    command.upgrade(_alembic_config(url), "0005")
    return sessionmaker(engine_for(url))


VEHICLES_AT_0005 = sa.table(
    "vehicles", sa.column("vin"), sa.column("owner_national_id"), sa.column("plate"), sa.column("source_workflow_id")
)
"""The vehicles table as it was at 0005 (the model has columns later revisions added)."""


def _plate(plate: str, vin: str, owner: str, wid: str) -> PlateRecord:
    return PlateRecord(
        plate=plate, vin=vin, owner_national_id=owner, category="imported", active=True, issued_at=NOW, workflow_id=wid
    )


def test_the_migration_ends_a_duplicate_plate_the_vehicle_row_does_not_name(empty_database: str) -> None:
    sessions = _at_0005(empty_database)
    vin, owner, loser = new_vin(), new_national_id(), new_national_id()
    with sessions.begin() as session:
        session.execute(sa.insert(VEHICLES_AT_0005).values(vin=vin, owner_national_id=owner, plate="11ب111-11"))
        session.add_all([_plate("11ب111-11", vin, owner, "won"), _plate("22ب222-22", vin, loser, "lost")])
    migrate(empty_database)
    with sessions.begin() as session:
        kept, ended = session.get(PlateRecord, "11ب111-11"), session.get(PlateRecord, "22ب222-22")
        assert kept is not None and kept.active
        assert ended is not None and not ended.active and ended.end_reason == "superseded" and ended.ended_at is not None


def test_the_migration_refuses_what_only_a_person_can_settle(empty_database: str) -> None:
    sessions = _at_0005(empty_database)
    nid, vin = new_national_id(), new_vin()
    with sessions.begin() as session:
        session.add_all(
            [
                SchemeRegistration(workflow_id="purchase-a", scheme_id=SCHEME, national_id=nid, open=True, registered_at=NOW),
                SchemeRegistration(workflow_id="purchase-b", scheme_id=SCHEME, national_id=nid, open=True, registered_at=NOW),
                _plate("33ب333-33", vin, nid, "numbering-x"),  # the vehicle row names neither plate
                _plate("44ب444-44", vin, new_national_id(), "numbering-y"),
            ]
        )
        session.execute(  # 17 characters: PostgreSQL stores it
            sa.insert(VEHICLES_AT_0005).values(vin=vin.lower(), owner_national_id=nid, source_workflow_id="numbering-n")
        )
    with pytest.raises(RuntimeError) as info:
        migrate(empty_database)
    message = str(info.value)
    for named in ("purchase-a, purchase-b", "numbering-x, numbering-y", "case numbering-n has a VIN in a non-canonical spelling"):
        assert named in message
    assert nid not in message and vin not in message and vin.lower() not in message
    with sessions.begin() as session:
        assert session.get(PlateRecord, "33ب333-33").active and session.get(PlateRecord, "44ب444-44").active  # nothing half done
        session.get(SchemeRegistration, "purchase-b").open = False
        session.get(PlateRecord, "44ب444-44").active = False
        session.execute(sa.delete(VEHICLES_AT_0005).where(VEHICLES_AT_0005.c.vin == vin.lower()))
    migrate(empty_database)  # settled by a person: the upgrade goes through
