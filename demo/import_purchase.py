"""Imported-car purchase demo: one car delivered, one withdrawal by SMS code, one ineligible applicant."""

from __future__ import annotations

import random
import string
from datetime import date, timedelta

from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle

from cli.import_purchase import start_purchase
from demo.common import actor, link, person_id, send, wait_for_state
from registry.db import session_scope
from registry.models import OutboxMessage

IMPORTER = "kerman-motor"
BANK = actor("bank", "mellat")
"""The escrow bank holding the deposits; it reports the stage payments too."""
BASE_PRICE = 12_000_000_000
PRE_CUSTOMS = 800_000_000
FINAL_COSTS = 3_100_000_000


def _vin() -> str:
    alphabet = "".join(c for c in string.ascii_uppercase + string.digits if c not in "IOQ")
    return "NAAM01CA" + "".join(random.choices(alphabet, k=9))


def _sms_code(workflow_id: str) -> str:
    """The code the SMS gateway would deliver to the applicant's phone."""
    with session_scope() as session:
        code = session.scalar(
            select(OutboxMessage.code)
            .where(OutboxMessage.workflow_id == workflow_id, OutboxMessage.kind == "sms_code")
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
    assert code is not None
    return code


async def _registered(client: Client, full_name: str, *, has_driving_license: bool = True) -> tuple[WorkflowHandle, str, dict]:
    nid = person_id()
    workflow_id = await start_purchase(
        nid, full_name, bank="mellat", account=f"ESC-{nid}", has_driving_license=has_driving_license
    )
    handle = client.get_workflow_handle(workflow_id)
    status = await wait_for_state(handle, "Eligible", "Ineligible")
    return handle, nid, status


async def _allocate(handle: WorkflowHandle, offering: str) -> None:
    await send(
        handle,
        "allocate",
        actor=actor("operator", "demo-operator"),
        offering_id=offering,
        importer_id=IMPORTER,
        model="Changan CS55 Plus",
        base_price_rial=BASE_PRICE,
        pre_customs_costs_rial=PRE_CUSTOMS,
        delivery_due=(date.today() + timedelta(days=120)).isoformat(),
        estimated_final_costs_rial=3_000_000_000,
    )


async def run(client: Client) -> list[str]:
    lines = []
    offering = f"demo-offer-{random.randrange(10**6)}"

    handle, nid, _ = await _registered(client, "نرگس صالحی")
    me = actor("applicant", nid)
    await _allocate(handle, offering)
    await send(handle, "sign_contract", actor=me)
    await send(handle, "pay_stage", actor=BANK, stage="2", payment_ref=f"S2-{handle.id}", amount_rial=BASE_PRICE + PRE_CUSTOMS)
    await send(handle, "customs_arrival", actor=actor("importer", IMPORTER), final_costs_rial=FINAL_COSTS)
    await send(handle, "pay_stage", actor=BANK, stage="3", payment_ref=f"S3-{handle.id}", amount_rial=FINAL_COSTS)
    vin = _vin()
    status = await send(handle, "deliver", actor=actor("importer", IMPORTER), vin=vin)
    lines.append(f"ImportPurchase {status['state']} (VIN {vin}, try: python starter.py vehicle {vin}): {link(handle.id)}")

    handle, nid, _ = await _registered(client, "امیر حسینی")
    me = actor("applicant", nid)
    await _allocate(handle, offering)
    await send(handle, "sign_contract", actor=me)
    await send(handle, "pay_stage", actor=BANK, stage="2", payment_ref=f"S2-{handle.id}", amount_rial=BASE_PRICE + PRE_CUSTOMS)
    await send(handle, "request_withdrawal_code", actor=me)
    status = await send(handle, "withdraw", actor=me, code=_sms_code(handle.id))
    lines.append(
        f"ImportPurchase {status['state']} after the contract (penalty {status['withdrawal_penalty_rial']} rial, "
        f"deposit released by {status['deposit_release_deadline']}): {link(handle.id)}"
    )

    handle, _, status = await _registered(client, "کاوه نادری", has_driving_license=False)
    lines.append(f"ImportPurchase {status['state']} ({'; '.join(status['ineligible_reasons'])}): {link(handle.id)}")
    return lines
