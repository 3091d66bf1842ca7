"""The audit rows of a case's transitions ride with its next activity (issue 8 item 5).

A TradeOrder from Draft to Registered runs one audit activity of its own (at its end) instead of
one per command; each business activity writes, in its own transaction, the rows of every
transition before it; rows carried by an activity the registry refuses are written all the same;
rows no activity carries are written once ``policy.AUDIT_ROWS_WAITING_MAX`` wait; the rows travel
encrypted.
"""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.audit import AUDIT_HEADER
from domain import policy
from security.codec import ENCODING
from tests.helpers import actor, audit_rows, rejected, update
from tests.trade_order_support import awaiting_fee, filled_file, open_file


def audited(workflow_id: str) -> list[str]:
    return [row.event for row in audit_rows(workflow_id)]


async def events(handle: WorkflowHandle) -> list[str]:
    return [h["event"] for h in (await handle.query("status"))["history"]]


async def scheduled(handle: WorkflowHandle) -> list[tuple[str, bytes | None]]:
    """Each activity the case ran: its type and its audit header's encoding (``None``: no rows)."""
    found = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            header = attributes.header.fields.get(AUDIT_HEADER)
            found.append((attributes.activity_type.name, header.metadata["encoding"] if header is not None else None))
    return found


async def test_a_trade_order_audits_with_its_business_activities_and_one_audit_at_its_end(client: Client, worker: Worker) -> None:
    case = await filled_file(client, worker)
    drafted = await events(case.handle)
    assert "attach_document" in drafted
    # The sections saved before the document rode with record_document; what came after waits.
    status = await case.send("submit")
    assert [h["event"] for h in status["history"]] == drafted + ["submit"]
    assert audited(case.handle.id) == drafted, "the file number's activity wrote every transition before it"

    case, status = await awaiting_fee(client, worker)
    before_fee = await events(case.handle)
    status = await update(
        case.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=f"P-{case.handle.id}", amount_rial=status["fee_rial"]
    )
    assert status["state"] == "Registered"
    await case.handle.result()
    assert audited(case.handle.id) == before_fee + ["pay_fee"] == await events(case.handle)

    ran = await scheduled(case.handle)
    assert [name for name, _ in ran].count("record_transitions") == 1, ran
    carrying = [encoding for _, encoding in ran if encoding is not None]
    assert carrying and set(carrying) == {ENCODING}, "the rows ride encrypted, like every payload"


async def test_rows_carried_by_a_refused_activity_are_written_all_the_same(client: Client, worker: Worker) -> None:
    paid, status = await awaiting_fee(client, worker)
    reference = f"P-{uuid.uuid4().hex[:10]}"
    await update(paid.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=reference, amount_rial=status["fee_rial"])

    case, status = await awaiting_fee(client, worker)
    waiting = await events(case.handle)
    assert audited(case.handle.id) != waiting, "the fee's acceptance waits for the next activity"
    message = await rejected(
        case.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=reference, amount_rial=status["fee_rial"]
    )
    assert "payment" in message.lower() or "reference" in message.lower(), message
    assert audited(case.handle.id) == waiting, "the refused payment's activity still wrote the rows it carried"


async def test_rows_no_activity_carries_are_written_once_enough_wait(client: Client, worker: Worker) -> None:
    case = await open_file(client, worker)
    for n in range(policy.AUDIT_ROWS_WAITING_MAX - 1):
        await case.send("save_transport", fleet=f"road-{n}")
    assert audited(case.handle.id) == []
    await case.send("save_transport", fleet="sea")
    for _ in range(100):
        if len(audited(case.handle.id)) == policy.AUDIT_ROWS_WAITING_MAX:
            break
        await asyncio.sleep(0.05)
    assert audited(case.handle.id) == ["save_transport"] * policy.AUDIT_ROWS_WAITING_MAX
