"""Imported-car purchase demo: a small scheme round (window, eligibility batch, verifiable lottery),
then an importer's offering of one car (approved, applied for by two ranks, its close allocating
the best rank, who declines: the seat passes to the next rank, who buys it and takes delivery), one
withdrawal by SMS code, and one ineligible applicant."""

from __future__ import annotations

import asyncio
import random
import secrets
import string
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle

from cli.common import start_case
from cli.import_purchase import start_purchase
from cli.scheme import offering_workflow_id, publication_of
from demo.common import actor, link, person_id, send, wait_for_state
from domain import policy
from lifecycles import lottery
from registry.db import session_scope
from registry.models import OutboxMessage
from registry.refdata import load_refdata

IMPORTER = "kerman-motor"
BANK = actor("bank", "mellat")
"""The escrow bank holding the deposits; it reports the stage payments too."""
BASE_PRICE = 12_000_000_000
PRE_CUSTOMS = 800_000_000
FINAL_COSTS = 3_100_000_000
OPERATOR = actor("operator", "demo-operator")
WINDOW = timedelta(seconds=20)
"""The demo round's registration window, in real time: long enough for its applicants to register."""


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


async def _open_round(client: Client) -> tuple[str, str, WorkflowHandle, datetime]:
    """A scheme of the demo's own (reference data ``import_schemes``) whose window opens now, and its
    ``ImportScheme`` case started with the lottery seed's commitment (the seed stays secret until the draw)."""
    opens = datetime.now(UTC)
    closes = opens + WINDOW
    scheme_id = f"demo-scheme-{random.randrange(10**6)}"
    window = {"registration_opens": opens.isoformat(), "registration_closes": closes.isoformat()}
    load_refdata({"import_schemes": [{"scheme_id": scheme_id, **window, "deposit_rial": policy.ESCROW_DEPOSIT_RIAL}]})
    seed = secrets.token_hex(32)
    payload = {"scheme_id": scheme_id, "seed_commitment": lottery.commitment(seed)}
    workflow_id = await start_case(
        client,
        "ImportScheme",
        payload,
        f"import-scheme-{scheme_id}",
        "Scheduled",
        "طرح واردات خودرو",
        by=("operator", OPERATOR["id"]),
    )
    scheme = client.get_workflow_handle(workflow_id)
    await wait_for_state(scheme, "Open")
    return scheme_id, seed, scheme, closes


async def _registered(
    client: Client, scheme_id: str, full_name: str, *, has_driving_license: bool = True
) -> tuple[WorkflowHandle, str]:
    nid = person_id()
    workflow_id = await start_purchase(
        nid, full_name, bank="mellat", account=f"ESC-{nid}", scheme_id=scheme_id, has_driving_license=has_driving_license
    )
    handle = client.get_workflow_handle(workflow_id)
    await wait_for_state(handle, "Registered")
    return handle, nid


async def _draw(scheme: WorkflowHandle, seed: str, closes: datetime) -> dict:
    """After the window: the scheme's batch judges every registration, the operator reveals the seed."""
    await asyncio.sleep(max((closes - datetime.now(UTC)).total_seconds(), 0) + 1)
    await wait_for_state(scheme, "AwaitingDraw")
    return await send(scheme, "draw", actor=OPERATOR, seed=seed)


async def _allocate(handle: WorkflowHandle, offering: str) -> None:
    await send(
        handle,
        "allocate",
        actor=OPERATOR,
        offering_id=offering,
        importer_id=IMPORTER,
        model="Changan CS55 Plus",
        base_price_rial=BASE_PRICE,
        pre_customs_costs_rial=PRE_CUSTOMS,
        delivery_due=(date.today() + timedelta(days=120)).isoformat(),
        estimated_final_costs_rial=3_000_000_000,
    )


async def _offering(client: Client, scheme_id: str) -> tuple[WorkflowHandle, str, datetime]:
    """An importer's offering of one car to the round, its window open now for ``WINDOW``, approved."""
    opens = datetime.now(UTC)
    closes = opens + WINDOW
    offering_id = f"demo-offer-{random.randrange(10**6)}"
    payload = {
        "offering_id": offering_id,
        "scheme_id": scheme_id,
        "importer_id": IMPORTER,
        "model": "Changan CS55 Plus",
        "specs": ["موتور ۱.۵ لیتری توربو", "گیربکس ۷ سرعته دوکلاچه"],
        "seats": 1,
        "delivery_due": (date.today() + timedelta(days=120)).isoformat(),
        "base_price_rial": BASE_PRICE,
        "pre_customs_costs_rial": PRE_CUSTOMS,
        "estimated_final_costs_rial": 3_000_000_000,
        "opens": opens.isoformat(),
        "closes": closes.isoformat(),
    }
    workflow_id = await start_case(
        client,
        "ImportOffering",
        payload,
        offering_workflow_id(offering_id),
        "Proposed",
        "عرضه خودروی وارداتی",
        by=("importer", IMPORTER),
    )
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(120):  # recorded (the proposal in its history) before the operator decides
        if (await handle.query("status"))["history"]:
            break
        await asyncio.sleep(0.5)
    await send(handle, "approve", actor=OPERATOR)
    return handle, offering_id, closes


async def _told(handle: WorkflowHandle, offering_id: str) -> None:
    """Wait until the case was told of the offering (the offering's announcement)."""
    for _ in range(120):
        if any(o["offering_id"] == offering_id for o in (await handle.query("status"))["offerings"]):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{handle.id} was not told of {offering_id}")


async def run(client: Client) -> list[str]:
    lines = []
    offering = f"demo-offer-{random.randrange(10**6)}"

    scheme_id, seed, scheme, closes = await _open_round(client)
    registered = [await _registered(client, scheme_id, name) for name in ("نرگس صالحی", "امیر حسینی", "مریم کاظمی")]
    barred = await _registered(client, scheme_id, "کاوه نادری", has_driving_license=False)
    drawn = await _draw(scheme, seed, closes)
    ranked = []
    for handle, nid in registered:
        status = await wait_for_state(handle, "Eligible")
        ranked.append((status["rank"], handle, nid))
    ranked.sort()
    problems = lottery.verify(publication_of(scheme_id))
    lines.append(
        f"ImportScheme {drawn['state']}: {drawn['eligible']} of {drawn['registered']} eligible, ranks 1..{len(ranked)} "
        f"{'verified' if not problems else 'NOT verified: ' + '; '.join(problems)} "
        f"(try: python starter.py scheme verify --scheme {scheme_id}): {link(scheme.id)}"
    )

    # An importer offers one car; ranks 2 and 1 apply while its window is open; at the close the
    # better rank is the buyer and is allocated by the offering itself.
    offer, offer_id, offer_closes = await _offering(client, scheme_id)
    for _, handle, nid in (ranked[1], ranked[0]):
        await _told(handle, offer_id)
        await send(handle, "apply_offering", actor=actor("applicant", nid), offering_id=offer_id)
    await asyncio.sleep(max((offer_closes - datetime.now(UTC)).total_seconds(), 0) + 1)
    rank, handle, nid = ranked[0]
    status = await wait_for_state(handle, "Allocated")
    closed = await wait_for_state(offer, "Allocating")
    lines.append(
        f"ImportOffering {closed['state']}: {closed['applicants']} applicants, {closed['buyers']} buyer (rank {status['rank']}, "
        f"seat {status['seat']}, to sign by {status['sign_by']}): {link(offer.id)}"
    )

    # Rank 1 declines the car: back to Eligible, the rank kept, no penalty; the seat passes to rank 2.
    status = await send(handle, "decline_allocation", actor=actor("applicant", nid))
    lines.append(f"ImportPurchase {status['state']} again after declining the car, rank {status['rank']} kept: {link(handle.id)}")

    # The car goes to rank 2 (the offering's next applicant by rank), who buys it.
    _, handle, nid = ranked[1]
    me = actor("applicant", nid)
    await wait_for_state(handle, "Allocated")
    signed = await send(handle, "sign_contract", actor=me)
    # Stage 2 is the price up to customs less the deposit on account (seed 001); the case says how much.
    await send(handle, "pay_stage", actor=BANK, stage="2", payment_ref=f"S2-{handle.id}", amount_rial=signed["due_rial"]["2"])
    await send(handle, "customs_arrival", actor=actor("importer", IMPORTER), final_costs_rial=FINAL_COSTS)
    await send(handle, "pay_stage", actor=BANK, stage="3", payment_ref=f"S3-{handle.id}", amount_rial=FINAL_COSTS)
    vin = _vin()
    status = await send(handle, "deliver", actor=actor("importer", IMPORTER), vin=vin)
    lines.append(
        f"ImportPurchase {status['state']} to rank {status['rank']} (VIN {vin}, try: python starter.py vehicle {vin}): {link(handle.id)}"
    )

    _, handle, nid = ranked[2]
    me = actor("applicant", nid)
    await _allocate(handle, offering)
    signed = await send(handle, "sign_contract", actor=me)
    # Stage 2 is the price up to customs less the deposit on account (seed 001); the case says how much.
    await send(handle, "pay_stage", actor=BANK, stage="2", payment_ref=f"S2-{handle.id}", amount_rial=signed["due_rial"]["2"])
    await send(handle, "request_withdrawal_code", actor=me)
    status = await send(handle, "withdraw", actor=me, code=_sms_code(handle.id))
    lines.append(
        f"ImportPurchase {status['state']} after the contract (penalty {status['withdrawal_penalty_rial']} rial, "
        f"refund {status['refund_rial']} rial within 72 working hours): {link(handle.id)}"
    )

    handle, _ = barred
    status = await wait_for_state(handle, "Ineligible")
    await send(scheme, "finish", actor=OPERATOR)
    lines.append(f"ImportPurchase {status['state']} ({'; '.join(status['ineligible_reasons'])}): {link(handle.id)}")
    return lines
