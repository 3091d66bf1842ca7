"""Domestic integrated sales demo (seed 000): a stage with its change window, an order cancelled and
chosen again with its turn kept (a low-demand 1402 model), a mistaken withdrawal and its restoration,
withdrawal switched off by the operator, and an applicant who chose nothing holding the 1403 priority."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from cli.common import start_case
from demo.common import actor, link, person_id, send, wait_for_state
from demo.import_purchase import _sms_code, _vin
from domain.display import iso

OPERATOR = actor("operator", "demo-operator")
DEPOSIT = 1_000_000_000
OFFERINGS = [
    {"model": "Dena Plus", "delivery_year": 1403},
    {"model": "Peugeot 207", "delivery_year": 1403},
    {"model": "Tara", "delivery_year": 1402},
    {"model": "Rana", "delivery_year": 1402},
]


async def _until(handle: WorkflowHandle, check: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
    for _ in range(int(timeout / 0.5)):
        status = await handle.query("status")
        if check(status):
            return status
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{handle.id}: the condition was not met")


async def _order(client: Client, scheme_id: str, full_name: str, choice: dict | None) -> tuple[WorkflowHandle, dict]:
    nid = person_id()
    payload: dict = {
        "scheme_id": scheme_id,
        "applicant": {"national_id": nid, "full_name": full_name},
        "deposit": {"bank": "mellat", "account": f"ESC-{nid}", "amount_rial": DEPOSIT},
    }
    if choice is not None:
        payload["choice"] = choice
    workflow_id = await start_case(
        client,
        "DomesticOrder",
        payload,
        f"domestic-order-{uuid.uuid4().hex[:12]}",
        "Registered",
        "سفارش خودروی داخلی",
        by=("applicant", nid),
    )
    handle = client.get_workflow_handle(workflow_id)
    await wait_for_state(handle, "Ordered", "Ineligible")
    return handle, actor("applicant", nid)


async def run(client: Client) -> list[str]:
    lines = []
    scheme_id = f"domestic-demo-{uuid.uuid4().hex[:8]}"
    scheme_wid = await start_case(
        client,
        "DomesticScheme",
        {"scheme_id": scheme_id, "deposit_rial": DEPOSIT, "offerings": OFFERINGS},
        f"domestic-scheme-{scheme_id}",
        "Registering",
        "مرحله طرح یکپارچه عرضه خودروهای داخلی",
        by=("operator", OPERATOR["id"]),
    )
    scheme = client.get_workflow_handle(scheme_wid)
    await _until(scheme, lambda s: bool(s.get("recorded")))

    # A change window open now for six days (the seed's 5 to 10 Ordibehesht, moved to today).
    now = datetime.now(UTC)
    await send(
        scheme,
        "open_change_window",
        actor=OPERATOR,
        window_id="change-1",
        opens=iso(now - timedelta(minutes=1)),
        closes=iso(now + timedelta(days=6)),
    )

    handle, me = await _order(client, scheme_id, "فاطمه رستمی", {"model": "Dena Plus", "delivery_year": 1403})
    turn = (await handle.query("status"))["turn"]
    await send(handle, "cancel_order", actor=me)
    status = await send(handle, "choose", actor=me, model="Tara", delivery_year=1402)
    vin = _vin()
    delivered = await send(handle, "deliver", actor=OPERATOR, vin=vin, model="Tara")
    lines.append(
        f"DomesticOrder {delivered['state']} (VIN {vin}; try: python starter.py vehicle {vin}) after it "
        f"{status['state']}: cancelled and chose {status['priority']['model']} "
        f"for {status['priority']['delivery_year']}, turn {turn} kept ({status['turn']}): {link(handle.id)}"
    )

    handle, me = await _order(client, scheme_id, "علی پاکزاد", {"model": "Peugeot 207", "delivery_year": 1403})
    await send(handle, "request_withdrawal_code", actor=me)
    status = await send(handle, "withdraw", actor=me, code=_sms_code(handle.id))
    withdrawn = status["state"]
    await _until(handle, lambda s: s["deposit_released_at"] is not None)  # the release must end before a restore
    status = await send(handle, "restore", actor=OPERATOR, reason="انصراف اشتباهی به قصد تغییر خودرو")
    lines.append(
        f"DomesticOrder {withdrawn} by mistake, restored by the operator → {status['state']} with turn "
        f"{status['turn']}: {link(handle.id)}"
    )

    await send(scheme, "switch_withdrawal", actor=OPERATOR, enabled=False, reason="انصراف‌های اشتباهی")
    handle, me = await _order(client, scheme_id, "رضا امینی", None)
    status = await handle.query("status")
    try:
        await send(handle, "request_withdrawal_code", actor=me)
        refusal = "accepted"
    except WorkflowUpdateFailedError as err:
        refusal = str(getattr(err.cause, "message", err))
    lines.append(
        f"DomesticOrder {status['state']} with no car chosen: the {status['priority']['delivery_year']} priority; "
        f"withdrawal while switched off: {refusal}: {link(handle.id)}"
    )
    # After the window: registration closed, the stage frozen for review, turns recomputed per year.
    await send(scheme, "close_registration", actor=OPERATOR)
    await send(scheme, "freeze", actor=OPERATOR)
    status = await send(scheme, "recompute_turns", actor=OPERATOR)
    years = ", ".join(f"{year}: {n}" for year, n in sorted(status["year_turns"].items()))
    status = await send(scheme, "reopen", actor=OPERATOR)
    lines.append(f"DomesticScheme {status['state']} after its review (turns per year {years}): {link(scheme_wid)}")
    return lines
