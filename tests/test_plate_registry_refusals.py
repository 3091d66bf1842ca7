"""A completing activity the registry refuses leaves a plate case consistent (audit finding MED).

The vehicle changes in the registry after the case's check (sold elsewhere, scrapped, numbered
by another case); the command that would complete the case then fails with the registry's
reason, its own change (inspection, document, payment) is not recorded on the case, and the
case ends ``Rejected`` through the ``registry_refused`` transition, with the reason.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.worker import Worker

from domain import policy
from registry.db import session_scope
from registry.models import Person, PlateRecord, Vehicle, VehicleServiceRecord
from tests.helpers import actor, new_national_id, signed, start, update
from tests.plate_support import BANK, OFFICER, closed, complete_checklist, numbering_input, seed_vehicle, settled
from worker import build_replayer
from workflows.plate_services import PlateServiceWorkflow
from workflows.plate_transfer import PlateTransferWorkflow, VehicleNumberingWorkflow


def _sell_elsewhere(vin: str) -> str:
    """The registry now records another owner (as if a transfer elsewhere happened meanwhile)."""
    other = new_national_id()
    with session_scope() as session:
        session.add(Person(national_id=other, full_name="مالک دیگر"))
        session.flush()
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None
        vehicle.owner_national_id = other
    return other


async def _refused(handle: WorkflowHandle, name: str, /, **fields: Any) -> str:
    """The failure message of an update that the registry refuses (and that ends the case).

    The time-skipping test server can lose the outcome of an update whose workflow closes right
    after it ("update ... not found"); the outcome is then read from the workflow's history.
    """
    update_id = f"refused-{uuid.uuid4()}"
    try:
        await handle.execute_update(name, await signed(handle, name, fields), id=update_id)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        return str(getattr(cause, "message", None) or err)
    except RPCError as err:
        if "not found" not in err.message:
            raise
        await closed(handle)
        for event in (await handle.fetch_history()).events:
            done = event.workflow_execution_update_completed_event_attributes
            if event.HasField("workflow_execution_update_completed_event_attributes") and done.meta.update_id == update_id:
                assert done.outcome.HasField("failure"), f"{name} succeeded"
                # Failure messages are encrypted in history: decode as the client would.
                failure = await handle._client.data_converter.decode_failure(done.outcome.failure)
                return str(getattr(failure, "message", failure))
        # Never admitted: the case had closed before the update reached it (the server refused it).
        assert (await handle.describe()).status != WorkflowExecutionStatus.RUNNING
        return f"{name}: refused by the server, the case is closed"
    raise AssertionError(f"{name} was accepted")


def _assert_ended(status: dict[str, Any], fragment: str, refused: str) -> dict[str, Any]:
    assert status["state"] == "Rejected", status
    assert status["allowed"] == []
    assert len(status["rejection_reasons"]) == 1 and fragment in status["rejection_reasons"][0]
    last = status["history"][-1]
    assert last["event"] == "registry_refused" and last["to"] == "Rejected" and last["refused"] == refused
    assert last["actor"]["role"] == "system" and fragment in last["reasons"][0]
    return last


async def _replays(handle: WorkflowHandle) -> None:
    await closed(handle)
    replayer = build_replayer([VehicleNumberingWorkflow, PlateTransferWorkflow, PlateServiceWorkflow])
    await replayer.replay_workflow(await handle.fetch_history())


async def test_service_inspection_refused_by_the_registry_ends_the_case_without_recording_it(
    client: Client, worker: Worker
) -> None:
    vin, owner, plate = seed_vehicle()
    data = {"service": "scrapping", "vin": vin, "owner": {"national_id": owner, "full_name": "علی رضایی"}}
    handle = await start(client, worker, "PlateService", data, "service-scrapping")
    await settled(handle)
    await update(handle, "consent", actor=actor("owner", owner))
    before = await complete_checklist(handle, actor("applicant", owner))
    assert before["state"] == "Open" and all(before["checklist"].values())
    _sell_elsewhere(vin)

    message = await _refused(handle, "inspect", actor=OFFICER, passed=True)
    assert "no longer owns this vehicle" in message and "the case is rejected" in message

    status = await handle.query("status")
    _assert_ended(status, "no longer owns this vehicle", "inspect")
    assert status["history"][:-1] == before["history"]  # no inspect event: the command was not applied
    assert status["inspections"] == {} and status["result"] is None
    assert status["checklist"] == before["checklist"] and status["documents"] == before["documents"]
    assert "inspect" in await _refused(handle, "inspect", actor=OFFICER, passed=True)  # not "already passed"
    with session_scope() as session:
        assert session.get(VehicleServiceRecord, handle.id) is None
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.scrapped_at is None and vehicle.plate == plate
    await _replays(handle)


async def test_service_fee_for_a_vehicle_scrapped_meanwhile_ends_the_case_and_names_the_payment(
    client: Client, worker: Worker
) -> None:
    vin, owner, plate = seed_vehicle()
    data = {"service": "lost_or_stolen_plates", "vin": vin, "owner": {"national_id": owner, "full_name": "علی رضایی"}}
    handle = await start(client, worker, "PlateService", data, "service-lost")
    await settled(handle)
    await update(handle, "consent", actor=actor("owner", owner))
    await complete_checklist(handle, actor("applicant", owner))
    status = await update(handle, "inspect", actor=OFFICER, passed=True)
    assert status["state"] == "AwaitingFee"
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None
        vehicle.scrapped_at = datetime.now(UTC)

    ref = f"LOST-{handle.id[-36:]}"
    assert "scrapped" in await _refused(handle, "pay_fee", actor=BANK, payment_ref=ref, amount_rial=status["fee_rial"])
    status = await handle.query("status")
    last = _assert_ended(status, "scrapped", "pay_fee")
    assert last["from"] == "AwaitingFee" and last["payment_ref"] == ref
    assert status["payment_ref"] is None and status["result"] is None
    with session_scope() as session:
        assert session.get(VehicleServiceRecord, handle.id) is None
        assert [
            r.plate for r in session.scalars(select(PlateRecord).where(PlateRecord.vin == vin, PlateRecord.active.is_(True)))
        ] == [plate]
    await _replays(handle)


async def test_transfer_fee_after_the_seller_sold_elsewhere_ends_the_case(client: Client, worker: Worker) -> None:
    vin, seller, _ = seed_vehicle()
    buyer = new_national_id()
    data = {"vin": vin, "seller": {"national_id": seller}, "buyer": {"national_id": buyer, "full_name": "سارا محمدی"}}
    handle = await start(client, worker, "PlateTransfer", data, "transfer")
    await complete_checklist(handle, actor("seller", seller))
    await update(handle, "confirm_presence", actor=OFFICER, party="seller")
    await update(handle, "confirm_presence", actor=OFFICER, party="buyer")
    status = await update(handle, "consent", actor=actor("seller", seller))
    assert status["state"] == "AwaitingFee"
    other = _sell_elsewhere(vin)

    ref = f"TR-{handle.id}"
    message = await _refused(handle, "pay_plate_fee", actor=BANK, payment_ref=ref, amount_rial=policy.PLATE_TRANSFER_FEE_RIAL)
    assert "seller no longer owns" in message
    status = await handle.query("status")
    last = _assert_ended(status, "seller no longer owns", "pay_plate_fee")
    assert last["payment_ref"] == ref and status["payment_ref"] is None and status["plate"] is None
    assert "cancel" in (await _refused(handle, "cancel", actor=actor("seller", seller)))
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.owner_national_id == other
    await _replays(handle)


async def test_numbering_fee_for_a_vin_numbered_meanwhile_ends_the_case(client: Client, worker: Worker, env: Any) -> None:
    data = numbering_input(year=(await env.get_current_time()).year)
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    await complete_checklist(handle, actor("applicant", data["owner"]["national_id"]))
    status = await update(handle, "inspect", actor=OFFICER, passed=True)
    assert status["state"] == "AwaitingFee"
    other, now = new_national_id(), datetime.now(UTC)
    with session_scope() as session:  # another case numbered the same VIN meanwhile
        session.add(Person(national_id=other, full_name="دیگری"))
        session.add(
            Vehicle(
                vin=data["vin"],
                owner_national_id=other,
                kind="passenger_car",
                production_year=2020,
                fuel="petrol",
                plate="11ب111-11",
            )
        )
        session.flush()
        session.add(
            PlateRecord(
                plate="11ب111-11",
                vin=data["vin"],
                owner_national_id=other,
                category="imported",
                active=True,
                issued_at=now,
                workflow_id=f"other-{handle.id}",
            )
        )

    message = await _refused(handle, "pay_plate_fee", actor=BANK, payment_ref=f"PLT-{handle.id}", amount_rial=status["fee_rial"])
    assert "numbered meanwhile" in message
    status = await handle.query("status")
    _assert_ended(status, "numbered meanwhile", "pay_plate_fee")
    assert status["plate"] is None
    await _replays(handle)
