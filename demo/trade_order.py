"""Trade-order demo: one file Registered, one buying currency from the banking system through a
customs broker and allocated by the central bank, one waiting for permits, one rejected at inquiry."""

from __future__ import annotations

from datetime import date

from temporalio.client import Client, WorkflowHandle

from cli.trade_order import start_trade_order
from demo.common import actor, link, person_id, send
from demo.samples import trade_order_sections
from domain import policy


async def _filled_and_submitted(client: Client, full_name: str, **overrides: dict) -> tuple[WorkflowHandle, dict]:
    nid = person_id()
    workflow_id = await start_trade_order(nid, full_name)
    handle = client.get_workflow_handle(workflow_id)
    me = actor("applicant", nid)
    for update, fields in trade_order_sections(date.today()).items():
        await send(handle, update, actor=me, **{**fields, **overrides.get(update, {})})
    await send(handle, "submit", actor=me)
    return handle, me


async def _permitted_and_paid(handle: WorkflowHandle, by: dict[str, str]) -> dict:
    """Inquiry, every permit granted, the order requested and its fee paid, acting as ``by``."""
    await send(handle, "inquire_rules", actor=by)
    status = await send(handle, "request_permits", actor=by)
    for org in status["permits"]:
        await send(handle, "decide_permit", actor=actor("licensing_org", org), approve=True)
    status = await send(handle, "request_registration", actor=by)
    return await send(
        handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=f"PAY-{handle.id}", amount_rial=status["fee_rial"]
    )


async def run(client: Client) -> list[str]:
    lines = []

    handle, me = await _filled_and_submitted(client, "مریم احمدی")
    status = await _permitted_and_paid(handle, me)
    lines.append(f"TradeOrder {status['state']} (order {status['order_number']}): {link(handle.id)}")

    # The applicant lets a customs broker act on the file (تغییر سطح دسترسی); the currency comes from
    # the banking system, so the registered order waits for the central bank's allocation (تخصیص ارز).
    handle, me = await _filled_and_submitted(client, "حسین نوری", save_financials={"currency_source": "bank_system"})
    broker = actor("applicant", person_id())
    await send(handle, "grant_access", actor=me, grantee_national_id=broker["id"], level="full")
    status = await _permitted_and_paid(handle, broker)
    waiting = status["state"]
    status = await send(
        handle,
        "allocate_currency",
        actor=actor("bank", policy.CENTRAL_BANK_ID),
        approve=True,
        allocation_ref=f"CBI-{status['order_number']}",
    )
    lines.append(
        f"TradeOrder {status['state']} after {waiting} (through a broker; allocation {status['allocation_ref']}): "
        f"{link(handle.id)}"
    )

    handle, me = await _filled_and_submitted(client, "رضا کریمی")
    await send(handle, "inquire_rules", actor=me)
    status = await send(handle, "request_permits", actor=me)
    await send(handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    lines.append(f"TradeOrder {status['state']} (waiting for DOE): {link(handle.id)}")

    handle, me = await _filled_and_submitted(client, "زهرا موسوی", save_transport={"through_transport": True})
    status = await send(handle, "inquire_rules", actor=me)
    lines.append(f"TradeOrder {status['state']} ({'; '.join(status['rejection_reasons'])}): {link(handle.id)}")
    return lines
