"""ImportPurchase: registration to delivery, payments, eligibility, validators (time-skipping server)."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from persiantools.digits import en_to_fa
from sqlalchemy import select
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from domain.calendar import add_months_at
from registry.db import session_scope
from registry.models import Allocation, EscrowDeposit, NewCarPurchase, Payment, Person, PlateRecord, SchemeRegistration, Vehicle
from tests.helpers import actor, new_national_id, rejected, start, update
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    BANK,
    BASE_PRICE,
    FINAL_COSTS,
    IMPORTER,
    PRE_CUSTOMS,
    STAGE2,
    allocate,
    begin,
    close_cases,
    env,
    instant,
    new_vin,
    outbox,
    pay_stage,
    purchase_input,
    release_deadline,
    sign,
    to_state,
    wait_for,
    worker,
)


async def test_purchase_from_registration_to_delivery(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    handle, nid = await begin(client, worker)
    status = await handle.query("status")
    assert status["state"] == "Eligible"
    assert status["deposit_rial"] == policy.ESCROW_DEPOSIT_RIAL
    assert status["paid_rial"] == {"1": policy.ESCROW_DEPOSIT_RIAL, "2": 0, "3": 0}
    assert status["ineligible_reasons"] == []
    assert [h["event"] for h in status["history"]] == ["found_eligible"]
    with session_scope() as session:
        assert session.get(EscrowDeposit, handle.id).status == "blocked"
        assert session.get(SchemeRegistration, handle.id).open

    status = await allocate(handle, env, due_in_days=120)
    assert status["state"] == "Allocated"
    assert status["contract_amount_rial"] == BASE_PRICE + PRE_CUSTOMS
    assert status["delivery_deadline"]

    status = await sign(handle, nid)
    assert status["state"] == "Contracted"
    assert status["paid_rial"]["2"] == STAGE2
    assert status["due_rial"] == {"1": policy.ESCROW_DEPOSIT_RIAL, "2": STAGE2, "3": None}

    status = await update(handle, "customs_arrival", actor=actor("customs", "customs-bandar-abbas"), final_costs_rial=FINAL_COSTS)
    assert status["state"] == "AtCustoms"
    invitations = outbox(handle.id, "invitation")
    assert len(invitations) == 1 and invitations[0].to == nid
    # The importer's delivery window: one calendar month (seed 001 «ظرف مدت حداکثر یک ماه»).
    assert f"حداکثر {en_to_fa(str(policy.DELIVERY_MONTHS_AFTER_FINAL_PAYMENT))} ماه برای تحویل" in invitations[0].text

    paid_at = await env.get_current_time()
    status = await pay_stage(handle, "3", f"S3-{handle.id}", FINAL_COSTS)
    assert status["state"] == "AwaitingDelivery"
    assert status["paid_rial"] == {"1": policy.ESCROW_DEPOSIT_RIAL, "2": STAGE2, "3": FINAL_COSTS}
    # One calendar month after stage 3 is earlier than the contractual date 120 days out.
    deadline = instant(status["delivery_deadline"])
    assert abs(deadline - add_months_at(paid_at, 1)) < timedelta(minutes=5)

    vin = new_vin()
    status = await update(handle, "deliver", actor=actor("importer", IMPORTER), vin=vin)
    assert status["state"] == "Delivered"
    assert status["delay_penalty_rial"] == 0
    assert status["refund_rial"] == 0
    delivered_at = instant(status["delivered_at"])
    # One calendar year: the same Jalali day and Tehran time a year on.
    assert instant(status["title_transfer_locked_until"]) == add_months_at(delivered_at, 12)
    # 72 working hours (seed 000 «۷۲ ساعت کاری»), computed by an activity once the release begins.
    status = await wait_for(handle, lambda s: s["deposit_release_deadline"] is not None)
    assert instant(status["deposit_release_deadline"]) == release_deadline(delivered_at)

    # A buyer whose car was delivered cannot register again (the 48-month rule).
    again, _ = await begin(client, worker, nid)
    status = await again.query("status")
    assert status["state"] == "Ineligible"
    assert any("48 months" in r for r in status["ineligible_reasons"])

    final = await handle.result()
    assert final["state"] == "Delivered"
    assert final["deposit_released_at"] is not None
    assert instant(final["deposit_released_at"]) <= instant(final["deposit_release_deadline"])
    assert [h["event"] for h in final["history"]] == [
        "found_eligible",
        "allocate",
        "sign_contract",
        "pay_stage",
        "customs_arrival",
        "pay_stage",
        "deliver",
        "settled",
    ]
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle.owner_national_id == nid and vehicle.source_workflow_id == handle.id
        assert vehicle.title_transfer_locked_until is not None
        assert session.scalar(select(NewCarPurchase).where(NewCarPurchase.workflow_id == handle.id)).vin == vin
        # The deposit was stage 1 on account of the price: applied to it, not handed back.
        assert session.get(EscrowDeposit, handle.id).status == "applied"
        assert not session.get(SchemeRegistration, handle.id).open
        assert session.get(Allocation, handle.id).active
        assert {p.purpose for p in session.scalars(select(Payment).where(Payment.workflow_id == handle.id))} == {
            "import_purchase_stage_2",
            "import_purchase_stage_3",
        }


async def test_every_failed_rule_is_a_reason_and_the_deposit_is_released(client: Client, worker: Worker) -> None:
    nid = new_national_id()
    first, _ = await begin(client, worker, nid)  # an open case in the scheme
    assert (await first.query("status"))["state"] == "Eligible"
    with session_scope() as session:
        session.add(
            PlateRecord(
                plate=f"11ب{nid[-5:]}",
                vin=new_vin(),
                owner_national_id=nid,
                category="imported",
                active=True,
                issued_at=datetime.now(UTC),
                workflow_id="seed",
            )
        )
    handle, _ = await begin(
        client,
        worker,
        nid,
        applicant={"has_driving_license": False, "is_legal_entity": True},
        deposit={"bank": "bank-not-approved", "amount_rial": 1_000_000},
    )
    status = await handle.query("status")
    assert status["state"] == "Ineligible"
    reasons = " | ".join(status["ineligible_reasons"])
    assert len(status["ineligible_reasons"]) == 6, reasons
    for words in (
        "legal entities",
        "driving licence",
        "active plate",
        "another sale scheme",
        "approved escrow bank",
        "deposit of the scheme is not blocked",  # 1,000,000 blocked, the scheme's deposit is 5,000,000,000
    ):
        assert words in reasons
    assert status["allowed"] == []

    final = await handle.result()
    assert [h["event"] for h in final["history"]] == ["found_ineligible", "settled"]
    left_at = instant(final["history"][0]["at"])
    assert instant(final["deposit_release_deadline"]) == release_deadline(left_at)
    assert instant(final["deposit_released_at"]) <= instant(final["deposit_release_deadline"])
    with session_scope() as session:
        assert session.get(EscrowDeposit, handle.id).status == "released"
        assert session.get(SchemeRegistration, handle.id) is None


async def test_the_licence_registry_overrides_the_declaration(client: Client, worker: Worker) -> None:
    nid = new_national_id()
    with session_scope() as session:
        session.add(Person(national_id=nid, full_name="بی‌گواهی", has_driving_license=False))
    handle, _ = await begin(client, worker, nid)
    status = await handle.query("status")
    assert status["state"] == "Ineligible"
    assert status["ineligible_reasons"] == ["the applicant has no driving licence"]


async def test_validators_reject_wrong_state_role_identity_and_input(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    assert "not allowed in state Eligible" in await rejected(handle, "sign_contract", actor=me)
    assert "role 'applicant' may not" in await rejected(handle, "pay_stage", actor=me, stage="2", payment_ref="X", amount_rial=1)
    assert "role 'applicant' may not" in await rejected(
        handle,
        "allocate",
        actor=me,
        offering_id="o",
        importer_id=IMPORTER,
        model="m",
        base_price_rial=1,
        pre_customs_costs_rial=0,
        delivery_due="2099-01-01",
        estimated_final_costs_rial=0,
    )
    assert "in the past" in await rejected(
        handle,
        "allocate",
        actor=actor("operator", "op"),
        offering_id="o",
        importer_id=IMPORTER,
        model="m",
        base_price_rial=1,
        pre_customs_costs_rial=0,
        delivery_due="2001-01-01",
        estimated_final_costs_rial=0,
    )
    assert "base_price_rial" in await rejected(
        handle,
        "allocate",
        actor=actor("operator", "op"),
        offering_id="o",
        importer_id=IMPORTER,
        model="m",
        base_price_rial=-5,
        pre_customs_costs_rial=0,
        delivery_due="2099-01-01",
        estimated_final_costs_rial=0,
    )
    assert "invalid input" in await rejected(handle, "request_withdrawal_code", actor=me, extra=1)
    await allocate(handle, env)
    stranger = actor("applicant", new_national_id())
    assert "only the registered applicant" in await rejected(handle, "sign_contract", actor=stranger)
    assert "only the escrow bank" in await rejected(handle, "deposit_unblocked", actor=actor("bank", "tejarat"))
    assert (await update(handle, "sign_contract", actor=me))["state"] == "Signed"
    assert "base price plus pre-customs" in await rejected(
        handle, "pay_stage", actor=BANK, stage="2", payment_ref="S2", amount_rial=BASE_PRICE
    )
    assert "stage 3 is paid in state AtCustoms" in await rejected(
        handle, "pay_stage", actor=BANK, stage="3", payment_ref="S3", amount_rial=FINAL_COSTS
    )
    assert "only the escrow bank" in await rejected(
        handle, "pay_stage", actor=actor("bank", "tejarat"), stage="2", payment_ref="S2", amount_rial=STAGE2
    )

    status = await pay_stage(handle, "2", f"S2-{handle.id}", STAGE2)
    history = status["history"]
    # The same payment reported again is refused, saying it is already recorded.
    assert "already paid" in await rejected(
        handle, "pay_stage", actor=BANK, stage="2", payment_ref=f"S2-{handle.id}", amount_rial=STAGE2
    )
    assert (await handle.query("status"))["history"] == history

    assert "only the allocated importer" in await rejected(
        handle, "customs_arrival", actor=actor("importer", "other-importer"), final_costs_rial=5
    )
    status = await update(handle, "customs_arrival", actor=actor("importer", IMPORTER), final_costs_rial=FINAL_COSTS)
    assert status["allowed"] == ["pay_stage", "request_withdrawal_code", "deposit_unblocked", "abort"]
    assert "must equal final_costs_rial" in await rejected(
        handle, "pay_stage", actor=BANK, stage="3", payment_ref="S3", amount_rial=FINAL_COSTS - 1
    )
    # The stage-2 reference, even in another case and width, pays for nothing else.
    assert "already used for another stage" in await rejected(
        handle, "pay_stage", actor=BANK, stage="3", payment_ref=f"s2-{handle.id}\u200c".upper(), amount_rial=FINAL_COSTS
    )
    await pay_stage(handle, "3", f"S3-{handle.id}", FINAL_COSTS)
    assert "vin" in await rejected(handle, "deliver", actor=actor("importer", IMPORTER), vin="SHORT")
    assert "more than 3 calendar months late" in await rejected(handle, "cancel_for_delay", actor=me)


async def test_invalid_input_fails_the_workflow(client: Client, worker: Worker) -> None:
    handle = await start(client, worker, "ImportPurchase", purchase_input("1234567890"), "purchase")
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert "national id" in str(err.value.cause)


async def test_deposit_taken_out_of_escrow_voids_the_registration(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    await to_state(handle, env, nid, "Contracted")
    status = await update(handle, "deposit_unblocked", actor=actor("bank", "mellat"))
    assert status["state"] == "Voided"
    assert status["withdrawal_penalty_rial"] == BASE_PRICE * 5 // 100
    # The deposit is the buyer's already; stage 2 goes back less the contract's penalty.
    assert status["refund_rial"] == STAGE2 - BASE_PRICE * 5 // 100
    final = await handle.result()
    assert final["deposit_unblocked_at"] and final["refunded_at"]
    with session_scope() as session:
        row = session.get(EscrowDeposit, handle.id)
        assert row.status == "unblocked" and row.refund_rial == STAGE2 - BASE_PRICE * 5 // 100
        assert not session.get(SchemeRegistration, handle.id).open
        assert not session.get(Allocation, handle.id).active


async def test_an_active_plate_at_delivery_ends_the_purchase(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    handle, nid = await begin(client, worker)
    await to_state(handle, env, nid, "AwaitingDelivery")
    with session_scope() as session:
        session.add(
            PlateRecord(
                plate=f"22ج{nid[-5:]}",
                vin=new_vin(),
                owner_national_id=nid,
                category="imported",
                active=True,
                issued_at=datetime.now(UTC),
                workflow_id="seed",
            )
        )
    vin = new_vin()
    status = await update(handle, "deliver", actor=actor("importer", IMPORTER), vin=vin)
    assert status["state"] == "Ineligible"
    assert status["history"][-1]["event"] == "eligibility_lost"
    assert "active plate" in status["ineligible_reasons"][0]
    penalty = BASE_PRICE * 5 // 100
    assert status["refund_rial"] == BASE_PRICE + PRE_CUSTOMS + FINAL_COSTS - penalty
    final = await handle.result()
    assert final["deposit_released_at"]
    with session_scope() as session:
        assert session.get(Vehicle, vin) is None
        assert not session.get(Allocation, handle.id).active


def test_policy_numbers_are_formatted_from_the_policy_not_typed() -> None:
    """No policy number typed into a text of the lifecycle: Persian digits, a month in words or a
    30-day month are all formatted from ``domain/policy.py``."""
    root = Path(__file__).resolve().parent.parent
    workflow = ast.parse((root / "workflows/import_purchase.py").read_text(encoding="utf-8"))
    texts = [n.value for n in ast.walk(workflow) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    typed = [t for t in texts if re.search("[۰-۹]", t) or "یک ماه" in t or "one month" in t]
    assert not typed, typed
    rules = ast.parse((root / "lifecycles/import_purchase.py").read_text(encoding="utf-8"))
    literal_months = [
        ast.unparse(n)
        for n in ast.walk(rules)
        if isinstance(n, ast.BinOp)
        and isinstance(n.op, ast.FloorDiv)
        and isinstance(n.right, ast.Constant)
        and n.right.value == 30
    ]
    assert not literal_months, literal_months


@pytest.mark.parametrize(("days_inside", "barred"), [(1, True), (-1, False)])
def test_the_48_month_rule_counts_calendar_months(database: str, days_inside: int, barred: bool) -> None:
    """«طی ۴۸ ماه گذشته» (seed 001): a purchase a day inside 48 Jalali calendar months bars the
    applicant, a day outside does not (48 × 30 days would be 21–24 days short of it)."""
    from activities.import_purchase import EligibilityRequest, check_eligibility

    nid, at = new_national_id(), datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    with session_scope() as session:
        bought = add_months_at(at, -policy.NO_NEW_CAR_LOOKBACK_MONTHS) + timedelta(days=days_inside)
        session.add(NewCarPurchase(national_id=nid, vin="NAAM01CA9XK123456", workflow_id=f"old-{nid}", purchased_at=bought))
    request = EligibilityRequest(f"calendar-{nid}", "scheme-1", nid, True, False, "mellat", policy.ESCROW_DEPOSIT_RIAL, at)
    reasons = check_eligibility(request)
    assert any("48 months" in r for r in reasons) is barred, reasons
