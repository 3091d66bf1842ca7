"""ImportPurchase settlement (``PURCHASE_MONEY``): the money as it leaves escrow, flow by flow.

Mostly pure: :func:`lifecycles.import_purchase.settlement` and the escrow adapter on the registry;
a few cases end to end on the time-skipping server.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.escrow import EscrowHold, EscrowSettlement, RegistryEscrowAdapter
from domain.display import TEHRAN
from lifecycles.import_purchase import PurchaseCase, Settlement, settlement
from registry.db import session_scope
from registry.models import EscrowDeposit, OutboxMessage
from tests.helpers import actor, new_national_id, rejected, update
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    BANK,
    IMPORTER,
    begin,
    close_cases,
    env,
    last_code,
    new_vin,
    today,
    wait_for,
    worker,
)

DEPOSIT = 5_000_000_000
BASE = 12_000_000_000
PRE_CUSTOMS = 800_000_000
FIVE_PERCENT = 600_000_000
MONTH_OF_DELAY = 684_000_000
# The reviewer's small car: a deposit above the price up to customs.
SMALL_BASE, SMALL_PRE, SMALL_STAGE3 = 4_000_000_000, 500_000_000, 2_500_000_000


def case(base: int = BASE, pre: int = PRE_CUSTOMS, *, signed: bool = True, **paid: int) -> PurchaseCase:
    """A ``PURCHASE_MONEY`` case with the seed's deposit, allocated at ``base``/``pre``; ``paid``:
    stage ("s2", "s3") → amount paid."""
    c = PurchaseCase("s", "0012345679", "n", True, False, "mellat", "a", DEPOSIT, purchase_money=True)
    c.base_price_rial, c.pre_customs_costs_rial = base, pre
    if signed:
        c.contract_signed_at = "2026-01-01T00:00:00+00:00"
    for stage, amount in paid.items():
        c.payments[stage[1]] = {"payment_ref": f"ref-{stage}", "amount_rial": amount, "at": "2026-01-02T00:00:00+00:00"}
    return c


def flows_add_up(s: Settlement, deposit: int) -> None:
    assert s.refund_rial == s.deposit_to_holder_rial + s.cash_to_holder_rial
    assert s.penalty_to_importer_rial == s.deposit_to_importer_rial + s.cash_to_importer_rial
    if s.deposit == "release":
        assert s.deposit_to_holder_rial + s.deposit_to_importer_rial == deposit
    if s.deposit == "keep":
        assert s.deposit_to_holder_rial == s.deposit_to_importer_rial == 0
    assert EscrowSettlement("k", s.refund_rial, 0, s.penalty_to_importer_rial, s.deposit, **flows(s)).problem(deposit) is None


def flows(s: Settlement) -> dict[str, int]:
    return {
        "deposit_to_holder_rial": s.deposit_to_holder_rial,
        "deposit_to_importer_rial": s.deposit_to_importer_rial,
        "cash_to_holder_rial": s.cash_to_holder_rial,
        "cash_to_importer_rial": s.cash_to_importer_rial,
        "penalty_unpaid_rial": s.penalty_unpaid_rial,
    }


# --- 1. the deposit above the price to customs ---


def test_a_deposit_above_the_price_to_customs_comes_back_at_delivery() -> None:
    """Base 4.0bn, pre-customs 0.5bn, deposit 5.0bn: stage 2 is 0 and 0.5bn of the deposit is the
    buyer's; with stage 3 of 2.5bn the car costs 7.0bn and the buyer pays exactly that."""
    c = case(SMALL_BASE, SMALL_PRE, s2=0, s3=SMALL_STAGE3)
    c.final_costs_rial = SMALL_STAGE3
    assert c.stage2_due_rial() == 0
    s = settlement(c, "Delivered")
    assert (s.deposit, s.deposit_to_holder_rial, s.refund_rial) == ("apply", 500_000_000, 500_000_000)
    paid = sum(c.paid_rial().values())
    price = SMALL_BASE + SMALL_PRE + SMALL_STAGE3
    assert paid - s.refund_rial == price == 7_000_000_000
    flows_add_up(s, DEPOSIT)

    # With delay penalties the buyer also receives them; the price paid stays the price.
    c.delay_penalty_rial = 2 * 228_000_000
    s = settlement(c, "Delivered")
    assert paid - (s.refund_rial - c.delay_penalty_rial) == price
    assert s.cash_to_holder_rial == c.delay_penalty_rial
    flows_add_up(s, DEPOSIT)


def test_the_seed_figures_at_delivery_apply_the_whole_deposit() -> None:
    c = case(s2=BASE + PRE_CUSTOMS - DEPOSIT, s3=2_500_000_000)
    s = settlement(c, "Delivered")
    assert (s.refund_rial, s.deposit_to_holder_rial, s.deposit) == (0, 0, "apply")
    assert sum(c.paid_rial().values()) - s.refund_rial == BASE + PRE_CUSTOMS + 2_500_000_000


# --- 2. every flow spelt out; the importer gets what exists, the rest is an unpaid claim ---


def test_a_withdrawal_from_signed_pays_the_importer_out_of_the_deposit() -> None:
    s = settlement(case(), "Withdrawn")
    assert s.deposit == "release"
    assert (s.deposit_to_holder_rial, s.deposit_to_importer_rial) == (DEPOSIT - FIVE_PERCENT, FIVE_PERCENT)
    assert (s.cash_to_holder_rial, s.cash_to_importer_rial, s.penalty_unpaid_rial) == (0, 0, 0)
    assert (s.refund_rial, s.penalty_to_importer_rial) == (4_400_000_000, FIVE_PERCENT)
    flows_add_up(s, DEPOSIT)


def test_a_voided_case_from_signed_records_the_penalty_as_unpaid() -> None:
    """The deposit was taken out of escrow and nothing else was paid: nothing funds the 5%."""
    s = settlement(case(), "Voided")
    assert (s.deposit, s.refund_rial, s.penalty_to_importer_rial, s.penalty_unpaid_rial) == ("keep", 0, 0, FIVE_PERCENT)
    flows_add_up(s, DEPOSIT)

    # With stage 2 paid the penalty is netted out of it; a partial cover leaves the rest unpaid.
    s = settlement(case(s2=7_800_000_000), "Voided")
    assert (s.cash_to_importer_rial, s.cash_to_holder_rial, s.penalty_unpaid_rial) == (FIVE_PERCENT, 7_200_000_000, 0)
    c = case()
    c.delay_penalty_rial = 228_000_000
    s = settlement(c, "Voided")
    assert (s.cash_to_importer_rial, s.refund_rial, s.penalty_unpaid_rial) == (228_000_000, 0, FIVE_PERCENT - 228_000_000)
    flows_add_up(s, DEPOSIT)


def test_withdrawal_before_the_contract_moves_only_the_deposit_back() -> None:
    s = settlement(case(signed=False), "Withdrawn")
    assert (s.deposit_to_holder_rial, s.refund_rial, s.penalty_to_importer_rial) == (DEPOSIT, DEPOSIT, 0)
    assert not s.beyond_deposit
    assert settlement(case(), "Withdrawn").beyond_deposit  # 5% of it goes to the importer


def test_cancellation_for_delay_pays_everything_back_with_the_penalties() -> None:
    c = case(s2=7_800_000_000)
    c.delay_penalty_rial = 4 * MONTH_OF_DELAY
    s = settlement(c, "CancelledForDelay")
    assert s.refund_rial == DEPOSIT + 7_800_000_000 + 4 * MONTH_OF_DELAY + FIVE_PERCENT == 16_136_000_000
    assert (s.deposit_to_holder_rial, s.cash_to_holder_rial) == (DEPOSIT, 7_800_000_000 + 4 * MONTH_OF_DELAY + FIVE_PERCENT)
    flows_add_up(s, DEPOSIT)


# --- 3. an abort releases the deposit once ---


def test_an_abort_whose_holds_released_the_deposit_keeps_it_out_of_the_settlement() -> None:
    c = case(s2=7_800_000_000)
    c.delay_penalty_rial = MONTH_OF_DELAY
    assert settlement(c, "Aborted").deposit == "release"
    c.deposit_released_by_holds = True
    s = settlement(c, "Aborted")
    assert (s.deposit, s.refund_rial, s.deposit_to_holder_rial) == ("keep", 7_800_000_000 + MONTH_OF_DELAY, 0)
    flows_add_up(s, DEPOSIT)


# --- the escrow adapter on the registry ---


def blocked_hold() -> EscrowHold:
    hold = EscrowHold(f"settle-{uuid.uuid4().hex[:12]}", new_national_id(), "mellat", "0101", DEPOSIT)
    RegistryEscrowAdapter().block(hold, datetime.now(UTC))
    return hold


def as_escrow(s: Settlement, key: str, delay: int = 0) -> EscrowSettlement:
    return EscrowSettlement(key, s.refund_rial, delay, s.penalty_to_importer_rial, s.deposit, **flows(s))


def ledger_row(workflow_id: str) -> dict[str, Any]:
    with session_scope() as session:
        row = session.get(EscrowDeposit, workflow_id)
        assert row is not None
        return {
            "status": row.status,
            "refund_rial": row.refund_rial,
            "penalty_to_importer_rial": row.penalty_to_importer_rial,
            "deposit_to_holder_rial": row.deposit_to_holder_rial,
            "deposit_to_importer_rial": row.deposit_to_importer_rial,
            "cash_to_holder_rial": row.cash_to_holder_rial,
            "cash_to_importer_rial": row.cash_to_importer_rial,
            "penalty_unpaid_rial": row.penalty_unpaid_rial,
        }


def test_the_ledger_keeps_each_flow_and_the_unpaid_claim(database: str) -> None:
    bank = RegistryEscrowAdapter()
    hold = blocked_hold()
    bank.settle(hold, as_escrow(settlement(case(), "Withdrawn"), f"{hold.workflow_id}:settle-0"), datetime.now(UTC))
    assert ledger_row(hold.workflow_id) == {
        "status": "released",
        "refund_rial": DEPOSIT - FIVE_PERCENT,
        "penalty_to_importer_rial": FIVE_PERCENT,
        "deposit_to_holder_rial": DEPOSIT - FIVE_PERCENT,
        "deposit_to_importer_rial": FIVE_PERCENT,
        "cash_to_holder_rial": 0,
        "cash_to_importer_rial": 0,
        "penalty_unpaid_rial": 0,
    }

    voided = blocked_hold()
    with session_scope() as session:
        session.get(EscrowDeposit, voided.workflow_id).status = "unblocked"  # the holder took it out
    bank.settle(voided, as_escrow(settlement(case(), "Voided"), f"{voided.workflow_id}:settle-0"), datetime.now(UTC))
    row = ledger_row(voided.workflow_id)
    assert (row["status"], row["refund_rial"], row["penalty_to_importer_rial"], row["penalty_unpaid_rial"]) == (
        "unblocked",
        0,
        0,
        FIVE_PERCENT,
    )


def test_the_bank_refuses_a_release_not_covering_the_deposit_or_releasing_it_twice(database: str) -> None:
    bank = RegistryEscrowAdapter()
    hold = blocked_hold()
    # The earlier shape: "release" with 4.4bn to the holder and 0.6bn to the importer out of nothing.
    short = EscrowSettlement(f"{hold.workflow_id}:settle-0", DEPOSIT - FIVE_PERCENT, 0, FIVE_PERCENT, "release")
    with pytest.raises(ApplicationError, match="refund_rial must be"):
        bank.settle(hold, short, datetime.now(UTC))
    part = EscrowSettlement(f"{hold.workflow_id}:settle-0", 4_000_000_000, 0, 0, "release", deposit_to_holder_rial=4_000_000_000)
    with pytest.raises(ApplicationError, match="whole deposit"):
        bank.settle(hold, part, datetime.now(UTC))
    assert ledger_row(hold.workflow_id)["status"] == "blocked"

    bank.release(hold, datetime.now(UTC))  # e.g. released with the case's holds
    again = as_escrow(settlement(case(signed=False), "Withdrawn"), f"{hold.workflow_id}:settle-0")
    with pytest.raises(ApplicationError, match="not blocked"):
        bank.settle(hold, again, datetime.now(UTC))


# --- end to end ---


async def test_a_small_car_on_account_then_delivered_gives_the_deposit_above_its_price_back(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    """Items 1 and 8: stage 2 on account (nothing due, no bank payment), and the 0.5bn of the deposit
    above the price to customs back at delivery."""
    handle, nid = await begin(client, worker)
    await update(
        handle,
        "allocate",
        actor=actor("operator", "op-1"),
        offering_id=f"offer-{handle.id[-8:]}",
        importer_id=IMPORTER,
        model="Changan Alsvin",
        base_price_rial=SMALL_BASE,
        pre_customs_costs_rial=SMALL_PRE,
        delivery_due=(await today(env) + timedelta(days=60)).isoformat(),
        estimated_final_costs_rial=SMALL_STAGE3,
    )
    status = await update(handle, "sign_contract", actor=actor("applicant", nid))
    assert status["state"] == "Contracted"
    stage2 = status["payments"]["2"]
    assert stage2["on_account"] is True and stage2["amount_rial"] == 0
    assert stage2["payment_ref"] == f"{handle.id}:stage-2-on-account"
    assert status["history"][-1]["on_account"] is True
    message = await rejected(handle, "pay_stage", actor=BANK, stage="2", payment_ref=f"S2-{handle.id}", amount_rial=1)
    assert "settled on account" in message and "None" not in message

    await update(handle, "customs_arrival", actor=actor("importer", IMPORTER), final_costs_rial=SMALL_STAGE3)
    await update(handle, "pay_stage", actor=BANK, stage="3", payment_ref=f"S3-{handle.id}", amount_rial=SMALL_STAGE3)
    status = await update(handle, "deliver", actor=actor("importer", IMPORTER), vin=new_vin())
    assert status["state"] == "Delivered" and status["refund_rial"] == 500_000_000
    final = await handle.result()
    assert sum(final["paid_rial"].values()) - final["refund_rial"] == SMALL_BASE + SMALL_PRE + SMALL_STAGE3
    assert final["settlement"]["deposit_to_holder_rial"] == 500_000_000
    row = ledger_row(handle.id)
    assert (row["status"], row["refund_rial"], row["deposit_to_holder_rial"]) == ("applied", 500_000_000, 500_000_000)


async def test_a_withdrawal_after_signing_offers_no_reinstatement_and_pays_the_importer_from_the_deposit(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    """Items 2 and 6: the 5% comes out of the deposit, spelt out in the ledger; no window is offered
    for a reinstatement that could never happen, and the case ends once settled."""
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    await update(
        handle,
        "allocate",
        actor=actor("operator", "op-1"),
        offering_id=f"offer-{handle.id[-8:]}",
        importer_id=IMPORTER,
        model="Changan CS55 Plus",
        base_price_rial=BASE,
        pre_customs_costs_rial=PRE_CUSTOMS,
        delivery_due=(await today(env) + timedelta(days=60)).isoformat(),
        estimated_final_costs_rial=2_500_000_000,
    )
    await update(handle, "sign_contract", actor=me)
    await update(handle, "request_withdrawal_code", actor=me)
    status = await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    assert status["state"] == "Withdrawn" and status["refund_rial"] == DEPOSIT - FIVE_PERCENT
    assert status["reinstatement_until"] is None
    details = (await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)).current_details
    assert "`Withdrawn`" in details and "امکان بازگرداندن تا" not in details
    assert "reinstate" not in status["allowed"]
    final = await handle.result()  # no 30-day window to wait for
    assert final["penalty_to_importer_rial"] == FIVE_PERCENT and final["penalty_unpaid_rial"] == 0
    assert final["settlement"] == {
        "deposit_to_holder_rial": DEPOSIT - FIVE_PERCENT,
        "deposit_to_importer_rial": FIVE_PERCENT,
        "cash_to_holder_rial": 0,
        "cash_to_importer_rial": 0,
        "penalty_unpaid_rial": 0,
    }
    row = ledger_row(handle.id)
    assert (row["status"], row["deposit_to_importer_rial"]) == ("released", FIVE_PERCENT)


async def test_an_abort_releases_the_deposit_once_and_settles_the_rest(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    """Item 3: the abort's release of the holds releases the deposit (one notice); the settlement
    leaves it as it is and pays stage 2 back."""
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    await update(
        handle,
        "allocate",
        actor=actor("operator", "op-1"),
        offering_id=f"offer-{handle.id[-8:]}",
        importer_id=IMPORTER,
        model="Changan CS55 Plus",
        base_price_rial=BASE,
        pre_customs_costs_rial=PRE_CUSTOMS,
        delivery_due=(await today(env) + timedelta(days=60)).isoformat(),
        estimated_final_costs_rial=2_500_000_000,
    )
    await update(handle, "sign_contract", actor=me)
    stage2 = BASE + PRE_CUSTOMS - DEPOSIT
    await update(handle, "pay_stage", actor=BANK, stage="2", payment_ref=f"S2-{handle.id}", amount_rial=stage2)
    status = await update(handle, "abort", actor=actor("operator", "op-1"), reason="پرونده تکراری")
    assert status["state"] == "Aborted" and "deposit" in status["history"][-1]["released"]
    assert status["refund_rial"] == stage2 and status["deposit_disposition"] == "keep"
    final = await wait_for(handle, lambda s: s["refunded_at"] is not None)
    assert final["settlement"]["deposit_to_holder_rial"] == 0 and final["settlement"]["cash_to_holder_rial"] == stage2
    row = ledger_row(handle.id)
    assert (row["status"], row["refund_rial"], row["deposit_to_holder_rial"]) == ("released", stage2, 0)
    with session_scope() as session:
        notices = session.query(OutboxMessage).filter(
            OutboxMessage.workflow_id == handle.id, OutboxMessage.step.like("holds-released%")
        )
        assert notices.count() == 1


async def contracted_late(handle: Any, env: WorkflowEnvironment, nid: str, *, late: bool) -> None:
    """Allocated with the seed's figures, signed and stage 2 paid; ``late``: the contractual date
    passed three days ago (one started month of the importer's delay)."""
    due = await today(env) + timedelta(days=2)
    await update(
        handle,
        "allocate",
        actor=actor("operator", "op-1"),
        offering_id=f"offer-{handle.id[-8:]}",
        importer_id=IMPORTER,
        model="Changan CS55 Plus",
        base_price_rial=BASE,
        pre_customs_costs_rial=PRE_CUSTOMS,
        delivery_due=due.isoformat(),
        estimated_final_costs_rial=2_500_000_000,
    )
    await update(handle, "sign_contract", actor=actor("applicant", nid))
    stage2 = BASE + PRE_CUSTOMS - DEPOSIT
    await update(handle, "pay_stage", actor=BANK, stage="2", payment_ref=f"S2-{handle.id}", amount_rial=stage2)
    if late:
        deadline = datetime.combine(due + timedelta(days=1), datetime.min.time(), tzinfo=TEHRAN)
        await env.sleep(deadline + timedelta(days=3) - await env.get_current_time())


@activity.defn(name="release_case_holds")
def refusing_release_case_holds(release: Any) -> dict[str, Any]:
    raise ApplicationError("the registry refused the release", type="Rejected", non_retryable=True)


async def test_an_abort_that_fails_leaves_the_importers_delay_running(client: Client, env: WorkflowEnvironment) -> None:
    """Item 7: the abort's activity fails, so the case stays open, and its delay must go on growing
    (it is stopped only once the abort is done)."""
    from worker import ACTIVITIES, build_worker

    def name(fn: Any) -> str:
        return getattr(fn, "__temporal_activity_definition").name

    activities = [fn for fn in ACTIVITIES if name(fn) != "release_case_holds"] + [refusing_release_case_holds]
    async with build_worker(env.client, f"tq-{uuid.uuid4()}", activities=activities) as refusing:
        handle, nid = await begin(client, refusing)
        await contracted_late(handle, env, nid, late=True)
        assert (await handle.query("status"))["delay_periods"] == 1
        assert "refused the release" in await rejected(handle, "abort", actor=actor("operator", "op-1"), reason="تکراری")
        status = await handle.query("status")
        assert status["state"] == "Contracted" and status["refund_rial"] == 0
        await env.sleep(timedelta(days=35))  # a second month of delay starts
        status = await handle.query("status")
        assert (status["delay_periods"], status["delay_penalty_rial"]) == (2, 2 * MONTH_OF_DELAY)


async def activity_count(client: Client, workflow_id: str, first_run: str, activity_name: str) -> tuple[int, int]:
    """How many times ``activity_name`` was scheduled over all runs of the case; and how many runs."""
    count, runs, run_id = 0, 0, first_run
    while run_id:
        runs += 1
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        run_id = ""
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                count += event.activity_task_scheduled_event_attributes.activity_type.name == activity_name
            if event.HasField("workflow_execution_continued_as_new_event_attributes"):
                run_id = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return count, runs


async def test_a_stage_3_default_leaves_the_scheme_once_across_runs(
    client: Client, worker: Worker, env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 9: the case continues as new right after the buyer's stage-3 deadline passed; the
    registration is closed once, not again by the continued run."""
    from domain import policy

    handle, nid = await begin(client, worker)
    await contracted_late(handle, env, nid, late=False)
    await update(handle, "customs_arrival", actor=actor("importer", IMPORTER), final_costs_rial=2_500_000_000)
    monkeypatch.setattr(policy, "CONTINUE_AS_NEW_AFTER_UPDATES", 1)  # the next wake-up continues as new
    # The time-skipping server moves to the deadline while the result is awaited.
    final = await handle.result()
    assert final["state"] == "Withdrawn" and final["refunded_at"] is not None
    closes, runs = await activity_count(client, handle.id, handle.first_execution_run_id or "", "close_registration")
    assert runs >= 2 and closes == 1
