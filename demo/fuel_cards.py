"""Fuel-card demo (seed 002): the card numbering requested for the car the plates demo just
numbered (a ``FuelCard`` case: issued, collected at the post office), a charge cycle run as the
schedule runs it, a station purchase spanning quota and free litres, and a duplicate asked at a
Police+10 office (its own ``FuelCard`` case: the old card expired and its balance zeroed)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

import settings
from activities.fuel_cards import PurchaseInput, card_balance, numbering_request_id, purchase
from demo.common import actor, link, send, wait_for_state
from domain import policy
from registry.db import session_scope
from registry.models import FuelCard, PlateAllocation, Vehicle
from security.signer import ActorSigner
from workflows.fuel_charge import FuelChargeInput, FuelChargeWorkflow

FUEL_OFFICE = actor("fuel_office", "fuel-office-tehran")
POST_OFFICE = actor("post_office", "post-office-tehran-12")
POLICE10 = actor("police10", "police10-tehran-7")


def _numbered_car_without_card() -> tuple[str, str, str] | None:
    """The most recently numbered vehicle with no fuel card: (vin, owner's national id, plate)."""
    with session_scope() as session:
        carded = select(FuelCard.vin)
        row = session.execute(
            select(PlateAllocation.vin)
            .where(PlateAllocation.vin.not_in(carded))
            .order_by(PlateAllocation.allocated_at.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        vehicle = session.get(Vehicle, row[0])
        if vehicle is None or vehicle.plate is None:
            return None
        return row[0], vehicle.owner_national_id, vehicle.plate


def _card_number() -> str:
    return f"{uuid.uuid4().int % 10**16:016d}"


async def _request(client: Client, input: dict[str, Any], by: dict[str, str]) -> WorkflowHandle:
    workflow_id = f"fuel-card-{uuid.uuid4().hex[:12]}"
    signer = ActorSigner.from_settings(client.namespace)
    return await client.start_workflow(
        "FuelCard",
        await signer.start(workflow_id, input, role=by["role"], sub=by["id"]),
        id=workflow_id,
        task_queue=settings.TEMPORAL_TASK_QUEUE,
        static_summary="درخواست کارت سوخت المثنی" if input["kind"] == "duplicate" else "درخواست کارت سوخت",
    )


async def _issue_and_collect(handle: WorkflowHandle, collector: str) -> dict[str, Any]:
    await wait_for_state(handle, "Issuing")
    await send(handle, "issued", actor=FUEL_OFFICE, card_number=_card_number())
    return await send(
        handle,
        "collect",
        actor=POST_OFFICE,
        collector_national_id=collector,
        vehicle_documents=["vehicle_card"],
        owner_id_document=True,
    )


async def run(client: Client) -> list[str]:
    car = _numbered_car_without_card()
    if car is None:
        return ["FuelCard: no numbered car without a card (run the plates demo first)"]
    vin, owner, plate = car
    handle = client.get_workflow_handle(numbering_request_id(vin))
    try:
        await handle.describe()  # numbering requested it (NUMBERING_FUEL_CARD)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        # a car numbered before numbering requested cards: asked at a post office
        request = {
            "vin": vin,
            "plate": plate,
            "kind": "new",
            "channel": "post_office",
            "applicant": {"national_id": owner, "full_name": "مالک خودرو"},
            "delivery": {"method": "collect"},
        }
        handle = await _request(client, request, POST_OFFICE)
    issued = await _issue_and_collect(handle, owner)
    card = issued["card_number"]

    # One run per period: a period the schedule (or an earlier demo) charged answers its report,
    # and a card issued after its run waits for the next period.
    charge = await client.start_workflow(
        FuelChargeWorkflow.run,
        FuelChargeInput(None, policy.FUEL_CHARGE_CHUNK_CARDS),
        id=f"fuel-charge-demo-{uuid.uuid4().hex[:8]}",
        task_queue=settings.TEMPORAL_TASK_QUEUE,
        static_summary="شارژ کارت سوخت (نمایشی)",
    )
    report = await charge.result()
    quota = card_balance(card)
    assert quota is not None
    sale = purchase(PurchaseInput("station-demo-1", f"txn-{uuid.uuid4().hex[:12]}", card, "70"))

    duplicate_request = {
        "vin": vin,
        "plate": plate,
        "kind": "duplicate",
        "reason": "lost",
        "channel": "police10",
        "applicant": {"national_id": owner, "full_name": "مالک خودرو"},
        "delivery": {"method": "collect"},
    }
    duplicate = await _request(client, duplicate_request, POLICE10)
    replaced = await _issue_and_collect(duplicate, owner)
    return [
        f"FuelCard {issued['state']}: card {card} (PIN: the owner's last four national-id digits, hashed): {link(handle.id)}",
        f"FuelCharge {report['run']}: {report['cards_charged']:,} cards charged "
        f"(this card's quota {quota['quota_litres']} L): {charge.id}",
        f"FuelCard purchase of 70 L: {sale['quota_litres']} L at the quota price, {sale['free_litres']} L free, "
        f"{sale['amount_rial']:,} rials",
        f"FuelCard duplicate {replaced['card_number']} (lost, Police+10): the old card expired, "
        f"{replaced['zeroed_litres']} L zeroed: {link(duplicate.id)}",
    ]
