"""Plate workflows replay their own histories deterministically (temporalio Replayer)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.helpers import actor, new_national_id, start, update
from tests.plate_support import BANK, OFFICER, closed, complete_checklist, numbered, seed_vehicle
from tests.recorded import recording, replay_recorded, save
from worker import build_replayer
from workflows.plate_services import PlateServiceWorkflow
from workflows.plate_transfer import PlateTransferWorkflow, VehicleNumberingWorkflow

PLATE_WORKFLOWS = [VehicleNumberingWorkflow, PlateTransferWorkflow, PlateServiceWorkflow]


async def test_plate_histories_replay(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    numbering, data, _ = await numbered(client, worker, category="historic", year=1960, historic_class="precious")

    buyer = new_national_id()
    transfer = await start(
        client,
        worker,
        "PlateTransfer",
        {
            "vin": data["vin"],
            "seller": {"national_id": data["owner"]["national_id"]},
            "buyer": {"national_id": buyer, "full_name": "خریدار"},
        },
        "transfer",
    )
    await complete_checklist(transfer, actor("buyer", buyer))
    await update(transfer, "confirm_presence", actor=OFFICER, party="seller")
    await update(transfer, "confirm_presence", actor=OFFICER, party="buyer")
    status = await update(transfer, "consent", actor=actor("seller", data["owner"]["national_id"]))
    await update(transfer, "pay_plate_fee", actor=BANK, payment_ref=f"R-{transfer.id[-30:]}", amount_rial=status["fee_rial"])

    vin, owner, _ = seed_vehicle()
    service = await start(
        client,
        worker,
        "PlateService",
        {"service": "duplicate_ownership_document", "vin": vin, "owner": {"national_id": owner, "full_name": "مالک"}},
        "service",
    )
    await complete_checklist(service, actor("applicant", owner))
    await update(service, "consent", actor=actor("owner", owner))
    await update(service, "inspect", actor=OFFICER, passed=True)
    await env.sleep(timedelta(days=12))
    status = await service.query("status")
    await update(service, "pay_fee", actor=BANK, payment_ref=f"R-{service.id[-30:]}", amount_rial=status["fee_rial"])

    replayer = build_replayer(PLATE_WORKFLOWS)
    cases = {"numbered_historic": numbering, "transferred": transfer, "duplicate_ownership_document": service}
    for handle in cases.values():
        await closed(handle)
        await replayer.replay_workflow(await handle.fetch_history())
    if recording():
        save("plates", {name: await handle.fetch_history() for name, handle in cases.items()})


async def test_recorded_histories_still_replay() -> None:
    await replay_recorded("plates", PLATE_WORKFLOWS, expected=3)
