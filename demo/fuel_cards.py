"""Fuel-card demo (seed 002): a card for the car the plates demo just numbered, a charge cycle run
as the schedule runs it, a station purchase spanning quota and free litres, and a duplicate.

Issuance as a case is not built yet: the card is recorded in the registry as a post office's
issue would record it (``activities.fuel_cards.issue_card``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from temporalio.client import Client

import settings
from activities.fuel_cards import PurchaseInput, card_balance, issue_card, issue_duplicate, purchase
from domain import policy
from registry.db import session_scope
from registry.models import FuelCard, PlateAllocation
from workflows.fuel_charge import FuelChargeInput, FuelChargeWorkflow


def _numbered_car_without_card() -> tuple[str, str] | None:
    """The most recently numbered vehicle with no fuel card: (vin, owner's national id)."""
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
        from registry.models import Vehicle

        vehicle = session.get(Vehicle, row[0])
        return (row[0], vehicle.owner_national_id) if vehicle is not None else None


async def run(client: Client) -> list[str]:
    car = _numbered_car_without_card()
    if car is None:
        return ["FuelCard: no numbered car without a card (run the plates demo first)"]
    vin, owner = car
    card = f"FC{uuid.uuid4().int % 10**12:012d}"
    issue_card(card, vin, owner, "private_petrol", datetime.now(UTC))

    # One run per period: a period the schedule (or an earlier demo) charged answers its report,
    # and a card issued after its run waits for the next period.
    handle = await client.start_workflow(
        FuelChargeWorkflow.run,
        FuelChargeInput(None, policy.FUEL_CHARGE_CHUNK_CARDS),
        id=f"fuel-charge-demo-{uuid.uuid4().hex[:8]}",
        task_queue=settings.TEMPORAL_TASK_QUEUE,
        static_summary="شارژ کارت سوخت (نمایشی)",
    )
    report = await handle.result()
    quota = card_balance(card)
    assert quota is not None
    sale = purchase(PurchaseInput("station-demo-1", f"txn-{uuid.uuid4().hex[:12]}", card, "70"))
    duplicate = issue_duplicate(card, f"{card}D", "lost", datetime.now(UTC))
    return [
        f"FuelCharge {report['run']}: {report['cards_charged']:,} cards charged "
        f"(this card's quota {quota['quota_litres']} L): {handle.id}",
        f"FuelCard purchase of 70 L: {sale['quota_litres']} L at the quota price, {sale['free_litres']} L free, "
        f"{sale['amount_rial']:,} rials",
        f"FuelCard duplicate {duplicate['new_card']} (lost): the old card expired, {duplicate['zeroed_litres']} L zeroed",
    ]
