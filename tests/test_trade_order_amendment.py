"""Edits and renewals of a registered order: the seed's fee rules and the 15-day window."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from registry.db import session_scope
from registry.models import Payment, RegisteredOrder
from tests.conftest import EUR_RATE
from tests.helpers import actor, new_national_id, rejected, start, update
from tests.trade_order_support import TradeCase, awaiting_fee

MINIMUM_FEE = int(100 * EUR_RATE)
BIG = {"add_goods": {"fob_eur": "399000.00"}}  # total 400,000 EUR: the full fee is 200 EUR


async def registered(client: Client, worker: Worker, **kwargs: object) -> tuple[TradeCase, dict]:
    case, status = await awaiting_fee(client, worker, **kwargs)
    status = await update(
        case.handle, "pay_fee", actor=actor("bank", "b"), payment_ref=f"P-{case.handle.id}", amount_rial=status["fee_rial"]
    )
    return case, status


async def amendment(client: Client, worker: Worker, order: TradeCase, kind: str) -> WorkflowHandle:
    """Start an amendment and wait until it has loaded the registered order (commands are refused before)."""
    handle = await start(
        client, worker, "TradeOrderAmendment", {"order_workflow_id": order.handle.id, "kind": kind}, "amend", by=order.me
    )
    for _ in range(100):
        if (await handle.query("status"))["order_number"]:
            return handle
        await asyncio.sleep(0.05)
    raise AssertionError("the amendment never loaded its order")


def registered_row(order_number: str) -> RegisteredOrder:
    with session_scope() as session:
        row = session.scalar(select(RegisteredOrder).where(RegisteredOrder.order_number == order_number))
        assert row is not None
        return row


async def test_renewal_pays_the_full_formula(client: Client, worker: Worker) -> None:
    order, done = await registered(client, worker, overrides=BIG)
    handle = await amendment(client, worker, order, "renewal")
    status = await update(handle, "submit", actor=order.me)
    assert status["state"] == "AwaitingFee"
    assert status["fee_rial"] == status["full_fee_rial"] == 200 * int(EUR_RATE)
    status = await update(
        handle, "pay_fee", actor=actor("bank", "b"), payment_ref=f"R-{handle.id}", amount_rial=status["fee_rial"]
    )
    assert status["state"] == "Amended"
    assert registered_row(done["order_number"]).renewals == 1


async def test_edit_pays_the_difference_to_the_last_computed_fee(client: Client, worker: Worker) -> None:
    order, done = await registered(client, worker, overrides=BIG)
    assert registered_row(done["order_number"]).last_fee_rial == 200 * int(EUR_RATE)
    handle = await amendment(client, worker, order, "edit")
    goods = (await handle.query("status"))["goods"]
    goods[0]["fob_eur"] = "599000.00"  # total 600,000 EUR: full fee 300 EUR, difference 100 EUR
    status = await update(handle, "edit", actor=order.me, goods=goods)
    assert status["proforma_total_eur"] == "600000.00"
    status = await update(handle, "submit", actor=order.me)
    assert status["state"] == "AwaitingFee"
    assert status["full_fee_rial"] == 300 * int(EUR_RATE)
    assert status["fee_rial"] == 100 * int(EUR_RATE)
    await update(handle, "pay_fee", actor=actor("bank", "b"), payment_ref=f"E-{handle.id}", amount_rial=status["fee_rial"])
    row = registered_row(done["order_number"])
    assert row.last_fee_rial == 300 * int(EUR_RATE)
    assert str(row.total_eur) == "600000.00"


async def test_an_edit_that_lowers_the_fee_still_pays_the_minimum(client: Client, worker: Worker) -> None:
    order, _ = await registered(client, worker, overrides=BIG)
    handle = await amendment(client, worker, order, "edit")
    await update(handle, "edit", actor=order.me, discount_eur="100000.00")
    status = await update(handle, "submit", actor=order.me)
    assert status["fee_rial"] == MINIMUM_FEE


async def test_an_edit_breaking_a_rule_returns_to_draft_with_reasons(client: Client, worker: Worker) -> None:
    order, _ = await registered(client, worker)
    handle = await amendment(client, worker, order, "edit")
    status = await update(handle, "edit", actor=order.me, through_transport=True)
    status = await update(handle, "submit", actor=order.me)
    assert status["state"] == "Draft"
    assert any("through transport" in r for r in status["rejection_reasons"])


async def test_unpaid_amendment_lapses_after_15_days(env: WorkflowEnvironment, client: Client, worker: Worker) -> None:
    order, done = await registered(client, worker)
    handle = await amendment(client, worker, order, "renewal")
    await update(handle, "submit", actor=order.me)
    await env.sleep(timedelta(days=15, minutes=1))
    result = await handle.result()
    assert result["state"] == "Lapsed" and result["fee_expired"] is True
    assert registered_row(done["order_number"]).renewals == 0


async def test_amendment_rejections(client: Client, worker: Worker) -> None:
    order, _ = await registered(client, worker)
    handle = await amendment(client, worker, order, "renewal")
    assert "owner" in await rejected(handle, "submit", actor=actor("applicant", new_national_id()))
    assert "not allowed in state Draft" in await rejected(handle, "edit", actor=order.me, fleet="x")  # renewals change nothing
    status = await update(handle, "submit", actor=order.me)
    assert "must equal fee_rial" in await rejected(
        handle, "pay_fee", actor=actor("bank", "b"), payment_ref="x", amount_rial=status["fee_rial"] - 1
    )
    status = await update(handle, "cancel", actor=order.me)
    assert status["state"] == "Cancelled"


async def test_amending_a_file_that_is_not_registered_fails(client: Client, worker: Worker) -> None:
    case, _ = await awaiting_fee(client, worker)
    handle = await start(
        client, worker, "TradeOrderAmendment", {"order_workflow_id": case.handle.id, "kind": "renewal"}, "amend", by=case.me
    )
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert "no registered order" in str(info.value.cause)
    assert info.value.cause.type == "InvalidInput"
    assert (await handle.query("status"))["state"] == "Refused"


async def test_of_two_open_amendments_the_first_paid_wins(client: Client, worker: Worker) -> None:
    order, done = await registered(client, worker)
    first = await amendment(client, worker, order, "renewal")
    second = await amendment(client, worker, order, "renewal")
    s1 = await update(first, "submit", actor=order.me)
    s2 = await update(second, "submit", actor=order.me)
    await update(first, "pay_fee", actor=actor("bank", "b"), payment_ref=f"R-{first.id}", amount_rial=s1["fee_rial"])
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await update(second, "pay_fee", actor=actor("bank", "b"), payment_ref=f"R-{second.id}", amount_rial=s2["fee_rial"])
    assert "was amended by" in str(info.value.cause)
    status = await second.query("status")
    assert status["state"] == "AwaitingFee" and status["payment_ref"] is None
    with session_scope() as session:
        assert session.scalar(select(Payment).where(Payment.payment_ref == f"R-{second.id}")) is None
    assert registered_row(done["order_number"]).renewals == 1


async def test_an_edit_asks_the_permits_its_new_goods_need_before_the_fee(client: Client, worker: Worker) -> None:
    """Seed 003 «درخواست مجوز»: switching G-1003 (no permit) to G-1004 asks MIMT, DOE and ISIRI
    before any fee; one refusal sends the amendment back to be edited, then all three approve."""
    order, _ = await registered(client, worker, tariff_code="87038010", goods_id="G-1003")
    handle = await amendment(client, worker, order, "edit")
    goods = (await handle.query("status"))["goods"]
    goods[0].update(tariff_code="87032491", goods_id="G-1004")
    await update(handle, "edit", actor=order.me, goods=goods)
    status = await update(handle, "submit", actor=order.me)
    assert status["state"] == "AwaitingPermit"
    assert status["permits"] == {"DOE": "pending", "ISIRI": "pending", "MIMT": "pending"}
    assert "fee_rial" not in status or status["fee_rial"] is None
    assert "pay_fee" not in (await handle.query("status"))["allowed"]
    assert "was not asked" in await rejected(handle, "decide_permit", actor=actor("licensing_org", "IRICA"), approve=True)

    await update(handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    await update(handle, "decide_permit", actor=actor("licensing_org", "DOE"), approve=True)
    status = await update(
        handle, "decide_permit", actor=actor("licensing_org", "ISIRI"), approve=False, reason="no standard mark"
    )
    assert status["state"] == "PermitRejected"  # «رد درخواست مجوز», to be edited («ویرایش پرونده»)
    assert status["rejection_reasons"] == ["ISIRI: no standard mark"]
    assert "submit" not in status["allowed"]

    status = await update(handle, "edit", actor=order.me, loading_place="Hamburg")
    assert status["state"] == "Draft"
    status = await update(handle, "submit", actor=order.me)
    assert status["state"] == "AwaitingPermit"
    for org in ("DOE", "ISIRI", "MIMT"):
        status = await update(handle, "decide_permit", actor=actor("licensing_org", org), approve=True)
    assert status["state"] == "AwaitingFee" and status["fee_rial"] >= MINIMUM_FEE
    status = await update(
        handle, "pay_fee", actor=actor("bank", "b"), payment_ref=f"E-{handle.id}", amount_rial=status["fee_rial"]
    )
    assert status["state"] == "Amended"


async def test_an_edit_whose_content_needs_review_goes_to_the_expert(client: Client, worker: Worker) -> None:
    """«طی کردن مراحل کارشناسی (در صورت نیاز پرونده به کارشناسی)»: G-1002's tariff needs MIMT and
    an expert's review; a refusal returns the amendment to the draft with the reason."""
    order, _ = await registered(client, worker, tariff_code="87038010", goods_id="G-1003")
    handle = await amendment(client, worker, order, "edit")
    goods = (await handle.query("status"))["goods"]
    goods[0].update(tariff_code="87032392", goods_id="G-1002")
    await update(handle, "edit", actor=order.me, goods=goods)
    status = await update(handle, "submit", actor=order.me)
    assert status["state"] == "AwaitingPermit" and status["permits"] == {"MIMT": "pending"}
    status = await update(handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    assert status["state"] == "ExpertReview"
    status = await update(handle, "expert_decide", actor=actor("expert", "expert-7"), approve=False, reason="specs unclear")
    assert status["state"] == "Draft" and status["rejection_reasons"] == ["specs unclear"]
    await update(handle, "edit", actor=order.me, loading_place="Antwerp")
    status = await update(handle, "submit", actor=order.me)
    status = await update(handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    status = await update(handle, "expert_decide", actor=actor("expert", "expert-7"), approve=True)
    assert status["state"] == "AwaitingFee"


async def test_an_edit_keeping_the_registered_permits_asks_none(client: Client, worker: Worker) -> None:
    """Permits the registered content already needed stand (ours): a price edit goes to the fee."""
    order, _ = await registered(client, worker)  # tariff 87032391: MIMT and DOE, obtained
    handle = await amendment(client, worker, order, "edit")
    await update(handle, "edit", actor=order.me, loading_place="Rotterdam")
    status = await update(handle, "submit", actor=order.me)
    assert status["state"] == "AwaitingFee"


async def test_an_edit_may_withdraw_its_permit_requests_once_per_wait(client: Client, worker: Worker) -> None:
    """«ارسال رد درخواست مجوزها» (seed 003 §11) as for a file: the pending organisations are marked
    rejected, the amendment stops in PermitRejected; once per wait."""
    order, _ = await registered(client, worker, tariff_code="87038010", goods_id="G-1003")
    handle = await amendment(client, worker, order, "edit")
    goods = (await handle.query("status"))["goods"]
    goods[0].update(tariff_code="87032491", goods_id="G-1004")
    await update(handle, "edit", actor=order.me, goods=goods)
    await update(handle, "submit", actor=order.me)
    await update(handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    status = await update(handle, "withdraw_permit_requests", actor=order.me)
    assert status["state"] == "PermitRejected"
    assert status["permits"] == {"DOE": "rejected", "ISIRI": "rejected", "MIMT": "approved"}
    assert [r.split(":")[0] for r in status["rejection_reasons"]] == ["DOE", "ISIRI"]
    await update(handle, "edit", actor=order.me, loading_place="Hamburg")
    status = await update(handle, "submit", actor=order.me)
    assert status["state"] == "AwaitingPermit"
    status = await update(handle, "withdraw_permit_requests", actor=order.me)  # a new wait: once again
    assert status["state"] == "PermitRejected"
    assert "not allowed in state PermitRejected" in await rejected(handle, "withdraw_permit_requests", actor=order.me)
