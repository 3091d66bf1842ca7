"""TradeOrder paths on the time-skipping server, through the contract's names and JSON."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from demo.samples import TRADE_ORDER_TOTAL_EUR
from domain.display import jalali_datetime, parse_instant, rials
from lifecycles.trade_order import order_fee_rial
from registry.db import session_scope
from registry.models import AuditEntry, OrderNumber, OutboxMessage
from tests.conftest import EUR_RATE
from tests.helpers import actor, new_national_id, rejected, signed_start, start, update
from tests.trade_order_support import (
    awaiting_fee,
    filled_file,
    fresh_goods,
    open_file,
    submitted,
    withdraw_from_reference_data,
)

MINIMUM_FEE = int(100 * EUR_RATE)


async def test_full_path_with_permits_to_registered(client: Client, worker: Worker) -> None:
    case = await filled_file(client, worker)
    status = await case.status()
    assert status["state"] == "Draft"
    assert "submit" in status["allowed"]

    status = await case.send("submit")
    assert status["state"] == "New"
    assert status["file_number"] and status["file_number"].isdigit()
    assert set(status["allowed"]) >= {"edit", "void", "inquire_rules"}

    status = await case.send("inquire_rules")
    assert status["state"] == "Inquired"
    assert status["proforma_total_eur"] == TRADE_ORDER_TOTAL_EUR

    status = await case.send("request_permits")
    assert status["state"] == "AwaitingPermit"
    assert status["permits"] == {"DOE": "pending", "MIMT": "pending"}
    assert status["allowed"] == ["decide_permit", "withdraw_permit_requests", "abort"]

    status = await update(case.handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    assert status["state"] == "AwaitingPermit", "moves only once every organisation answered"
    status = await update(case.handle, "decide_permit", actor=actor("licensing_org", "DOE"), approve=True)
    assert status["state"] == "ReadyForOrder"

    status = await case.send("request_registration")
    assert status["state"] == "AwaitingFee"
    # 25,000 EUR / 2000 = 12.5 EUR, below the 100 EUR minimum.
    assert status["fee_rial"] == MINIMUM_FEE
    entered = parse_instant(status["history"][-1]["at"])
    assert parse_instant(status["fee_deadline"]) == entered + timedelta(days=15)
    details = (await case.handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)).current_details
    assert "آماده پرداخت کارمزد" in details  # the state's Persian label
    assert jalali_datetime(parse_instant(status["fee_deadline"])) in details  # the deadline, Jalali
    assert rials(MINIMUM_FEE) in details

    status = await update(
        case.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=f"P-{case.handle.id}", amount_rial=MINIMUM_FEE
    )
    assert status["state"] == "Registered"
    assert len(status["order_number"]) == 8 and status["order_number"].isdigit()
    assert status["allowed"] == []

    result = await case.handle.result()
    assert result["state"] == "Registered"
    events = [h["event"] for h in result["history"]]
    assert events[-5:] == ["decide_permit", "decide_permit", "request_registration", "order_system_accepted", "pay_fee"]
    assert [h["to"] for h in result["history"] if h["from"] != h["to"]] == [
        "New",
        "InquiringRules",
        "Inquired",
        "AwaitingPermit",
        "ReadyForOrder",
        "RegisteringOrder",
        "AwaitingFee",
        "Registered",
    ]
    described = await case.handle.describe()
    assert described.search_attributes["CaseState"] == ["Registered"]

    with session_scope() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.workflow_id == case.handle.id).order_by(AuditEntry.seq)).all()
        assert [a.event for a in audit] == [h["event"] for h in result["history"]]
        assert (
            session.scalar(select(OrderNumber.order_number).where(OrderNumber.workflow_id == case.handle.id))
            == status["order_number"]
        )
        notified = session.scalars(select(OutboxMessage.to).where(OutboxMessage.workflow_id == case.handle.id)).all()
        assert sorted(notified) == ["DOE", "MIMT"]


async def test_fee_is_total_over_2000_above_the_minimum(client: Client, worker: Worker) -> None:
    big = {"add_goods": {"fob_eur": "399000.00"}}  # total 400,000 EUR -> 200 EUR fee
    case, status = await awaiting_fee(client, worker, overrides=big)
    assert status["proforma_total_eur"] == "400000.00"
    assert status["fee_rial"] == order_fee_rial(Decimal("400000"), EUR_RATE) == 200 * int(EUR_RATE)


async def test_no_permits_needed_goes_straight_to_ready_for_order(client: Client, worker: Worker) -> None:
    case = await submitted(client, worker, tariff_code="87038010", goods_id="G-1003")
    status = await case.send("inquire_rules")
    assert status["state"] == "ReadyForOrder"
    assert status["permits"] == {}


async def test_expert_review_approve_and_reject(client: Client, worker: Worker) -> None:
    case = await submitted(client, worker, tariff_code="87032392", goods_id="G-1002")
    await case.send("inquire_rules")
    status = await case.send("request_permits")
    status = await update(case.handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    status = await case.send("request_registration")
    assert status["state"] == "ExpertReview"
    assert status["fee_rial"] is None
    assert await rejected(case.handle, "expert_decide", actor=actor("expert", "e1"), approve=False)  # no reason
    status = await update(
        case.handle, "expert_decide", actor=actor("expert", "e1"), approve=False, reason="specs do not match the proforma"
    )
    assert status["state"] == "New"
    assert status["rejection_reasons"] == ["specs do not match the proforma"]

    await case.send("inquire_rules")
    await case.send("request_permits")
    await update(case.handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    await case.send("request_registration")
    status = await update(case.handle, "expert_decide", actor=actor("expert", "e1"), approve=True)
    assert status["state"] == "AwaitingFee"
    assert status["fee_rial"] == MINIMUM_FEE


async def test_a_permit_rejection_waits_for_every_answer_then_edit_returns_to_new(client: Client, worker: Worker) -> None:
    case = await submitted(client, worker)
    await case.send("inquire_rules")
    await case.send("request_permits")
    status = await update(
        case.handle, "decide_permit", actor=actor("licensing_org", "DOE"), approve=False, reason="emission class"
    )
    assert status["state"] == "AwaitingPermit"
    assert await rejected(case.handle, "edit", actor=case.me, loading_place="Bremen")  # no edits while awaiting permits
    status = await update(case.handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    assert status["state"] == "PermitRejected"
    assert status["permits"] == {"DOE": "rejected", "MIMT": "approved"}
    assert status["rejection_reasons"] == ["DOE: emission class"]
    status = await case.send("edit", loading_place="Bremen")
    assert status["state"] == "New"
    assert status["transport"]["loading_place"] == "Bremen"


async def test_withdraw_permit_requests_marks_pending_rejected_once_per_wait(client: Client, worker: Worker) -> None:
    case = await submitted(client, worker)
    await case.send("inquire_rules")
    await case.send("request_permits")
    await update(case.handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    status = await case.send("withdraw_permit_requests")
    assert status["state"] == "PermitRejected"
    assert status["permits"] == {"DOE": "rejected", "MIMT": "approved"}
    assert await rejected(case.handle, "withdraw_permit_requests", actor=case.me)

    # A new wait allows one withdrawal again.
    await case.send("edit", fleet="domestic")
    await case.send("inquire_rules")
    status = await case.send("request_permits")
    assert status["permits"] == {"DOE": "pending", "MIMT": "pending"}
    status = await case.send("withdraw_permit_requests")
    assert status["permits"] == {"DOE": "rejected", "MIMT": "rejected"}


async def test_fee_window_expires_after_15_days_back_to_new(env: WorkflowEnvironment, client: Client, worker: Worker) -> None:
    case, status = await awaiting_fee(client, worker)
    await env.sleep(timedelta(days=14, hours=23))
    assert (await case.status())["state"] == "AwaitingFee"
    await env.sleep(timedelta(hours=2))
    status = await case.status()
    assert status["state"] == "New"
    assert status["fee_expired"] is True
    assert status["history"][-1]["event"] == "fee_expired"
    assert status["history"][-1]["actor"]["role"] == "system"
    assert await rejected(case.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref="late", amount_rial=MINIMUM_FEE)
    assert (await case.handle.describe()).search_attributes["CaseState"] == ["New"]

    # «پرونده باید مجدداً ویرایش شود» (seed 003): no new inquiry until the file is edited again.
    assert status["must_edit_again"] is True
    assert "must be edited again" in await rejected(case.handle, "inquire_rules", actor=case.me)
    status = await case.send("edit", fleet="domestic")
    assert status["must_edit_again"] is False
    case2_status = await case.send("inquire_rules")
    assert case2_status["state"] == "Inquired"


async def test_fee_paid_on_day_14_registers(env: WorkflowEnvironment, client: Client, worker: Worker) -> None:
    case, status = await awaiting_fee(client, worker)
    await env.sleep(timedelta(days=14))
    status = await update(
        case.handle, "pay_fee", actor=actor("bank", "melli"), payment_ref=f"P-{case.handle.id}", amount_rial=status["fee_rial"]
    )
    assert status["state"] == "Registered"
    assert status["fee_expired"] is False


async def test_void_from_new_ends_the_case(client: Client, worker: Worker) -> None:
    case = await submitted(client, worker)
    status = await case.send("void")
    assert status["state"] == "Voided"
    result = await case.handle.result()
    assert result["state"] == "Voided"


async def test_copy_starts_a_prefilled_draft(client: Client, worker: Worker) -> None:
    original = await filled_file(client, worker)
    sections = {
        k: v for k, v in (await original.status()).items() if k in ("main_info", "transport", "financials", "goods", "documents")
    }
    copy = await start(
        client,
        worker,
        "TradeOrder",
        {
            "applicant": {"national_id": original.national_id, "full_name": "علی رضایی"},
            "sections": sections,
            "copied_from": original.handle.id,
        },
        "trade-order-copy",
    )
    status = await copy.query("status")
    assert status["state"] == "Draft", status
    assert status["copied_from"] == original.handle.id
    assert {k: status[k] for k in sections} == sections
    await update(original.handle, "submit", actor=original.me)
    status = await update(copy, "submit", actor=original.me)
    assert status["state"] == "New"
    assert status["file_number"] != (await original.status())["file_number"]


async def test_rules_inquiry_names_every_broken_rule(client: Client, worker: Worker) -> None:
    overrides = {
        "save_main_info": {
            "proforma_date": "2020-01-01",
            "proforma_valid_until": "2020-02-01",
            "seller": {"type": "company", "id": "XX-0000", "name": "Nobody"},
        },
        "save_transport": {"through_transport": True},
        "save_financials": {"currency_source": "barter"},
    }
    # The inquiry stays the authority: a tariff and goods offered when given (add_goods refuses
    # any other since issue 9 item 3), gone from the reference data by the time of the inquiry.
    tariff, goods = fresh_goods()
    case = await filled_file(client, worker, overrides=overrides, tariff_code=tariff, goods_id=goods)
    await case.send("submit")
    withdraw_from_reference_data(tariff, goods)
    status = await case.send("inquire_rules")
    assert status["state"] == "ProformaRejected"
    reasons = " | ".join(status["rejection_reasons"])
    for expected in (
        "proforma expired",
        "foreign seller",
        "through transport",
        "barter",
        "not on the veterans'-car tariff list",
        "no registered agency",
    ):
        assert expected in reasons, expected
    assert status["history"][-1]["reasons"] == status["rejection_reasons"]
    status = await case.send("edit", proforma_valid_until="2099-01-01")
    assert status["state"] == "New"


async def test_a_goods_line_without_specs_or_standard_is_refused_when_given(client: Client, worker: Worker) -> None:
    """«حداقل باید یکی از دو فیلد» (seed 003): refused at add_goods and edit, not first at the inquiry."""
    case = await open_file(client, worker)
    line = {"tariff_code": "87032391", "goods_id": "G-1001", "fob_eur": "21000.00"}
    before = len((await case.status())["history"])
    assert "at least one of technical_specs or standard" in await rejected(case.handle, "add_goods", actor=case.me, **line)
    await case.send("add_goods", **line, standard="ISIRI 6924")
    status = await case.status()
    assert status["goods"][-1]["standard"] == "ISIRI 6924"
    assert len(status["history"]) == before + 1  # the refusal left nothing

    filed = await submitted(client, worker)
    message = await rejected(filed.handle, "edit", actor=filed.me, goods=[line])
    assert "goods 1: a goods line needs at least one of technical_specs or standard" in message
    await filed.send("edit", goods=[{**line, "technical_specs": "1.5 TSI, automatic"}])


@pytest.mark.parametrize(
    ("source", "tariff", "goods", "fragment"),
    [
        ("bank_system", "87032391", "G-1001", None),  # group 25 is within 21–27
        ("own_exports", "87032391", "G-1001", None),
        ("bank_system", "87032110", "G-1005", "priority groups 21–27"),  # group 12
        ("bank_system", "87032190", "G-1006", "no priority group"),  # naming no group is not being in 21–27
        ("others_exports", "87032391", "G-1001", None),  # the tariff lists it
        ("own_currency", "87032110", "G-1005", "may not use own_currency"),  # «تنها برای تعرفه های مشخصی»
        ("own_currency", "87032190", "G-1006", "may not use own_currency"),  # a tariff listing no source
    ],
)
async def test_currency_source_and_goods_rules(
    client: Client, worker: Worker, source: str, tariff: str, goods: str, fragment: str | None
) -> None:
    case = await submitted(
        client, worker, overrides={"save_financials": {"currency_source": source}}, tariff_code=tariff, goods_id=goods
    )
    status = await case.send("inquire_rules")
    if fragment is None:
        assert status["rejection_reasons"] == []
        assert status["state"] == ("ReadyForOrder" if tariff == "87032110" else "Inquired")  # 87032110 needs no permit
    else:
        assert status["state"] == "ProformaRejected"
        assert any(fragment in r for r in status["rejection_reasons"])


async def test_a_start_with_an_invalid_national_id_fails_the_workflow(client: Client, worker: Worker) -> None:
    handle = await start(
        client, worker, "TradeOrder", {"applicant": {"national_id": "1234567890", "full_name": "x"}}, "trade-order-bad"
    )
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert "check digit" in str(info.value.cause)


async def test_payment_reference_cannot_pay_two_files(client: Client, worker: Worker) -> None:
    first, s1 = await awaiting_fee(client, worker)
    second, s2 = await awaiting_fee(client, worker)
    ref = f"SHARED-{first.handle.id}"
    await update(first.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=ref, amount_rial=s1["fee_rial"])
    before = await second.status()
    with pytest.raises(Exception) as info:
        await update(second.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=ref, amount_rial=s2["fee_rial"])
    assert "already used" in str(getattr(info.value, "cause", info.value))
    after = await second.status()
    assert after["state"] == "AwaitingFee" and after["history"] == before["history"]
    assert "pay_fee" in after["allowed"]


@pytest.mark.parametrize("variant", ["zero-width non-joiner", "other case", "full width", "Persian digits and another dash"])
async def test_a_bank_reference_written_differently_still_pays_once(client: Client, worker: Worker, variant: str) -> None:
    """References compare after NFKC, without invisible characters, trimmed and case-folded."""
    first, s1 = await awaiting_fee(client, worker)
    second, s2 = await awaiting_fee(client, worker)
    ref = f"ref-{first.handle.id[-12:]}"
    await update(first.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=ref, amount_rial=s1["fee_rial"])
    again = {
        "zero-width non-joiner": ref + "\u200c",
        "other case": " " + ref.upper(),
        "full width": ref.translate({ord(c): ord(c) + 0xFEE0 for c in "abcdef0123456789"}),
        "Persian digits and another dash": ref.translate(
            {**{ord(d): chr(0x06F0 + int(d)) for d in "0123456789"}, ord("-"): "\u2010"}
        ),
    }[variant]
    with pytest.raises(Exception) as info:
        await update(second.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=again, amount_rial=s2["fee_rial"])
    assert "already used" in str(getattr(info.value, "cause", info.value))
    assert (await second.status())["state"] == "AwaitingFee"
    # Another bank's reference of the same text is another payment.
    status = await update(second.handle, "pay_fee", actor=actor("bank", "tejarat"), payment_ref=ref, amount_rial=s2["fee_rial"])
    assert status["state"] == "Registered"


async def test_order_numbers_are_unique(client: Client, worker: Worker) -> None:
    numbers = []
    for _ in range(3):
        case, status = await awaiting_fee(client, worker)
        done = await update(
            case.handle, "pay_fee", actor=actor("bank", "b"), payment_ref=f"P-{case.handle.id}", amount_rial=status["fee_rial"]
        )
        numbers.append(done["order_number"])
    assert len(set(numbers)) == 3
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(OrderNumber).where(OrderNumber.order_number.in_(numbers))) == 3


async def test_new_national_ids_are_valid() -> None:
    from domain.identity import is_valid_national_id

    assert is_valid_national_id(new_national_id())


async def test_open_file_starts_in_draft_with_case_state(client: Client, worker: Worker) -> None:
    case = await open_file(client, worker)
    status = await case.status()
    assert status["state"] == "Draft" and status["state_fa"] == "پیش‌نویس"
    assert status["history"] == []
    assert (await case.handle.describe()).search_attributes["CaseState"] == ["Draft"]


async def test_a_closed_cases_workflow_id_cannot_start_a_new_case(client: Client, worker: Worker) -> None:
    case = await submitted(client, worker)
    await case.send("void")
    await case.handle.result()
    reused = await client.start_workflow(
        "TradeOrder",
        await signed_start(case.handle.id, "TradeOrder", {"applicant": {"national_id": case.national_id, "full_name": "x"}}),
        id=case.handle.id,
        task_queue=worker.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as info:
        await reused.result()
    assert "belonged to an earlier TradeOrder case" in str(info.value.cause)
