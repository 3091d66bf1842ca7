"""ImportPurchase money as seed 001 says (issue 10 item 5), on the time-skipping server.

The seed's example figures: base price 12,000,000,000, pre-customs costs 800,000,000, stage 3
2,500,000,000, deposit 5,000,000,000 (stage 1, on account of the price). Stage 2 is then
7,800,000,000, a started month of the importer's delay 684,000,000 (5.7%), the 5% penalties
600,000,000.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from persiantools.jdatetime import JalaliDate
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from domain.calendar import add_months_at
from domain.display import TEHRAN
from registry.db import session_scope
from registry.models import Allocation, EscrowDeposit
from tests.helpers import actor, rejected, update
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    BANK,
    IMPORTER,
    begin,
    close_cases,
    env,
    instant,
    last_code,
    new_vin,
    outbox,
    today,
    wait_for,
    wait_state,
    worker,
)

BASE = 12_000_000_000
PRE_CUSTOMS = 800_000_000
STAGE3 = 2_500_000_000
DEPOSIT = 5_000_000_000
STAGE2 = 7_800_000_000
MONTH_OF_DELAY = 684_000_000
FIVE_PERCENT = 600_000_000


def test_the_seed_figures() -> None:
    assert DEPOSIT == policy.ESCROW_DEPOSIT_RIAL
    assert STAGE2 == BASE + PRE_CUSTOMS - DEPOSIT
    assert MONTH_OF_DELAY == BASE * 57 // 1000 and FIVE_PERCENT == BASE * 5 // 100


async def contracted(handle: WorkflowHandle, env: WorkflowEnvironment, nid: str, due: date) -> dict[str, Any]:
    """Allocated with the seed's figures and contractual date ``due``, signed, stage 2 paid."""
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
        estimated_final_costs_rial=STAGE3,
    )
    status = await update(handle, "sign_contract", actor=actor("applicant", nid))
    assert status["state"] == "Signed" and status["due_rial"] == {"1": DEPOSIT, "2": STAGE2, "3": None}
    # The bank reports stage 2 as the rest of the price up to customs: the deposit counts toward it.
    assert "less the stage-1 deposit" in await rejected(
        handle, "pay_stage", actor=BANK, stage="2", payment_ref=f"S2x-{handle.id}", amount_rial=BASE + PRE_CUSTOMS
    )
    status = await update(handle, "pay_stage", actor=BANK, stage="2", payment_ref=f"S2-{handle.id}", amount_rial=STAGE2)
    assert status["state"] == "Contracted" and status["paid_rial"] == {"1": DEPOSIT, "2": STAGE2, "3": 0}
    return status


async def arrive(handle: WorkflowHandle) -> dict[str, Any]:
    return await update(handle, "customs_arrival", actor=actor("importer", IMPORTER), final_costs_rial=STAGE3)


async def pay_stage3(handle: WorkflowHandle) -> dict[str, Any]:
    return await update(handle, "pay_stage", actor=BANK, stage="3", payment_ref=f"S3-{handle.id}", amount_rial=STAGE3)


async def sleep_until(env: WorkflowEnvironment, at: datetime) -> None:
    await env.sleep(at - await env.get_current_time())


async def settled(handle: WorkflowHandle) -> dict[str, Any]:
    """The case's end: the bank paid what it owed; returns the final status."""
    final = await handle.result()
    assert final["refunded_at"] is not None
    assert instant(final["refunded_at"]) <= instant(final["refund_deadline"])
    assert final["history"][-1]["event"] in ("settled", "reinstatement_expired")
    return final


def ledger(workflow_id: str) -> tuple[str, int | None, int | None, int | None]:
    with session_scope() as session:
        row = session.get(EscrowDeposit, workflow_id)
        return row.status, row.refund_rial, row.delay_penalty_paid_rial, row.penalty_to_importer_rial


def tehran_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=TEHRAN)


def next_jalali(after: date, month: int, day: int) -> date:
    """The first Gregorian date after ``after`` that is Jalali ``month``/``day``."""
    year = JalaliDate.to_jalali(after).year
    while (candidate := JalaliDate(year, month, day).to_gregorian()) <= after:
        year += 1
    return candidate


async def test_a_car_waiting_at_customs_for_the_buyer_is_not_late_then_the_month_after_stage_3_is(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    due = await today(env) + timedelta(days=3)
    await contracted(handle, env, nid, due)
    status = await arrive(handle)  # on time, before the contractual date
    stage3_due = instant(status["stage3_due"])
    invited = instant(status["history"][-1]["at"])
    assert stage3_due == add_months_at(invited, policy.STAGE3_PAYMENT_MONTHS)
    assert status["history"][-1]["stage3_due"] == status["stage3_due"]
    assert "مهلت پرداخت مرحله سوم" in outbox(handle.id, "invitation")[-1].text

    # The contractual date passes while the car waits for the buyer's own payment: nobody is late.
    await sleep_until(env, tehran_midnight(due + timedelta(days=1)) + timedelta(days=10))
    status = await handle.query("status")
    assert status["state"] == "AtCustoms" and (status["delay_periods"], status["delay_penalty_rial"]) == (0, 0)
    assert "cancel_for_delay" not in status["allowed"]

    paid_at = await env.get_current_time()
    status = await pay_stage3(handle)
    deadline = instant(status["delivery_deadline"])
    assert abs(deadline - add_months_at(paid_at, 1)) < timedelta(minutes=1)  # the importer's month, from stage 3

    await sleep_until(env, deadline - timedelta(minutes=1))
    status = await handle.query("status")
    assert (status["delay_periods"], status["delay_penalty_rial"]) == (0, 0)
    await sleep_until(env, deadline + timedelta(minutes=1))
    status = await handle.query("status")
    assert (status["delay_periods"], status["delay_penalty_rial"]) == (1, MONTH_OF_DELAY)
    assert status["history"][-1]["event"] == "delay_period_started"
    await sleep_until(env, add_months_at(deadline, 1) - timedelta(minutes=1))
    assert (await handle.query("status"))["delay_periods"] == 1
    await sleep_until(env, add_months_at(deadline, 1) + timedelta(minutes=1))
    assert (await handle.query("status"))["delay_penalty_rial"] == 2 * MONTH_OF_DELAY

    # A late delivery pays the penalties: the buyer receives them, the deposit goes to the price.
    status = await update(handle, "deliver", actor=actor("importer", IMPORTER), vin=new_vin())
    assert status["state"] == "Delivered" and status["refund_rial"] == 2 * MONTH_OF_DELAY
    final = await settled(handle)
    assert final["delay_penalty_paid_rial"] == 2 * MONTH_OF_DELAY and final["deposit_disposition"] == "apply"
    assert ledger(handle.id) == ("applied", 2 * MONTH_OF_DELAY, 2 * MONTH_OF_DELAY, 0)


@pytest.mark.parametrize(("month", "day"), [(1, 11), (12, 20)], ids=["Farvardin", "Esfand"])
async def test_cancellation_after_three_calendar_months_of_the_car_not_at_customs(
    client: Client, worker: Worker, env: WorkflowEnvironment, month: int, day: int
) -> None:
    """The seed's example, with the importer at fault: the car never reaches customs."""
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    late_from = next_jalali(await today(env) + timedelta(days=2), month, day)
    await contracted(handle, env, nid, late_from - timedelta(days=1))
    deadline = tehran_midnight(late_from)  # the end of the contractual day
    assert JalaliDate.to_jalali(late_from).month == month
    three_months = add_months_at(deadline, 3)
    assert (three_months - deadline).days != 90  # calendar months, not 90 days

    await sleep_until(env, three_months - timedelta(seconds=1))
    assert "more than 3 calendar months late" in await rejected(handle, "cancel_for_delay", actor=me)
    status = await handle.query("status")
    assert status["delay_periods"] == 3 and status["delay_penalty_rial"] == 3 * MONTH_OF_DELAY
    await sleep_until(env, three_months + timedelta(seconds=1))
    status = await update(handle, "cancel_for_delay", actor=me)
    assert status["state"] == "CancelledForDelay" and status["delay_periods"] == 4
    # Everything paid back (deposit and stage 2), four started months at 5.7%, and the 5% penalty.
    refund = DEPOSIT + STAGE2 + 4 * MONTH_OF_DELAY + FIVE_PERCENT
    assert refund == 16_136_000_000
    assert status["refund_rial"] == refund and status["cancellation_penalty_rial"] == FIVE_PERCENT
    final = await settled(handle)
    assert final["delay_penalty_paid_rial"] == 4 * MONTH_OF_DELAY
    assert ledger(handle.id) == ("released", refund, 4 * MONTH_OF_DELAY, 0)
    with session_scope() as session:
        assert not session.get(Allocation, handle.id).active


async def test_penalties_accrued_are_paid_on_withdrawal_and_stop_growing(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    due = await today(env) + timedelta(days=2)
    await contracted(handle, env, nid, due)
    deadline = tehran_midnight(due + timedelta(days=1))
    await sleep_until(env, add_months_at(deadline, 1) + timedelta(hours=1))  # two started months
    await update(handle, "request_withdrawal_code", actor=me)
    status = await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    assert status["state"] == "Withdrawn" and status["delay_penalty_rial"] == 2 * MONTH_OF_DELAY
    # Stages 1 and 2 back, less the buyer's 5% to the importer, plus the importer's penalties.
    refund = DEPOSIT + STAGE2 - FIVE_PERCENT + 2 * MONTH_OF_DELAY
    assert status["refund_rial"] == refund and status["withdrawal_penalty_rial"] == FIVE_PERCENT
    status = await wait_for(handle, lambda s: s["refunded_at"] is not None)
    assert status["delay_penalty_paid_rial"] == 2 * MONTH_OF_DELAY
    assert status["penalty_to_importer_rial"] == FIVE_PERCENT
    assert ledger(handle.id) == ("released", refund, 2 * MONTH_OF_DELAY, FIVE_PERCENT)
    # Money beyond the deposit moved: no reinstatement window, the case ends once settled.
    assert status["reinstatement_until"] is None and "reinstate" not in status["allowed"]

    await env.sleep(timedelta(days=40))  # the case left: the delay no longer grows
    status = await handle.query("status")
    assert (status["delay_periods"], status["delay_penalty_rial"]) == (2, 2 * MONTH_OF_DELAY)
    await env.sleep(policy.REINSTATEMENT_WINDOW)
    final = await handle.result()
    assert final["refund_rial"] == refund and final["delay_penalty_rial"] == 2 * MONTH_OF_DELAY


async def test_the_buyer_who_lets_the_stage_3_deadline_pass_leaves_as_after_the_contract(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    """The issue's case: the car waits at customs for the buyer, who never pays stage 3."""
    handle, nid = await begin(client, worker)
    due = await today(env) + timedelta(days=2)
    await contracted(handle, env, nid, due)
    status = await arrive(handle)
    stage3_due = instant(status["stage3_due"])

    await sleep_until(env, stage3_due - timedelta(minutes=1))
    status = await handle.query("status")
    assert status["state"] == "AtCustoms" and status["delay_penalty_rial"] == 0  # past the contractual date, not late
    assert "more than 3 calendar months late" in await rejected(handle, "cancel_for_delay", actor=actor("applicant", nid))
    await sleep_until(env, stage3_due + timedelta(minutes=1))
    status = await wait_for(handle, lambda s: s["state"] == "Withdrawn")
    event = next(h for h in status["history"] if h["event"] == "stage3_expired")
    assert event["actor"]["role"] == "system" and event["withdrawal_penalty_rial"] == FIVE_PERCENT
    # The importer keeps 5% of the base price; the buyer gets the rest of stages 1 and 2 back.
    refund = DEPOSIT + STAGE2 - FIVE_PERCENT
    assert status["refund_rial"] == refund == 12_200_000_000
    await wait_for(handle, lambda s: s["refunded_at"] is not None)
    assert ledger(handle.id) == ("released", refund, 0, FIVE_PERCENT)
    final = await handle.result()  # a withdrawal after the contract: no reinstatement window to wait for
    assert final["reinstatement_until"] is None and "pay_stage" not in final["allowed"]
    with session_scope() as session:
        assert not session.get(Allocation, handle.id).active


async def test_seed_figures_end_to_end_on_time(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    """Delivered on time: the buyer pays 15,300,000,000 in all (5,000,000,000 of it the deposit,
    applied to the price) and receives nothing back; no penalty either way."""
    handle, nid = await begin(client, worker)
    await contracted(handle, env, nid, await today(env) + timedelta(days=60))
    await arrive(handle)
    status = await pay_stage3(handle)
    assert status["paid_rial"] == {"1": DEPOSIT, "2": STAGE2, "3": STAGE3}
    assert sum(status["paid_rial"].values()) == BASE + PRE_CUSTOMS + STAGE3 == 15_300_000_000
    status = await update(handle, "deliver", actor=actor("importer", IMPORTER), vin=new_vin())
    assert status["state"] == "Delivered" and status["refund_rial"] == 0
    final = await settled(handle)
    assert (final["delay_penalty_rial"], final["withdrawal_penalty_rial"], final["penalty_to_importer_rial"]) == (0, 0, 0)
    assert ledger(handle.id) == ("applied", 0, 0, 0)


async def test_a_deposit_covering_the_price_to_customs_leaves_nothing_for_stage_2(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    await update(
        handle,
        "allocate",
        actor=actor("operator", "op-1"),
        offering_id=f"offer-{handle.id[-8:]}",
        importer_id=IMPORTER,
        model="Changan Alsvin",
        base_price_rial=4_000_000_000,
        pre_customs_costs_rial=500_000_000,
        delivery_due=(await today(env) + timedelta(days=60)).isoformat(),
        estimated_final_costs_rial=STAGE3,
    )
    status = await update(handle, "sign_contract", actor=actor("applicant", nid))
    assert status["state"] == "Contracted" and status["paid_rial"]["2"] == 0
    assert [h["event"] for h in status["history"]][-2:] == ["sign_contract", "pay_stage"]
    await wait_state(handle, "Contracted")


async def test_an_operators_abort_pays_back_what_was_paid_and_the_penalties(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    due = await today(env) + timedelta(days=2)
    await contracted(handle, env, nid, due)
    await sleep_until(env, tehran_midnight(due + timedelta(days=1)) + timedelta(days=3))  # one started month
    status = await update(handle, "abort", actor=actor("operator", "op-1"), reason="پرونده تکراری")
    # The abort released the deposit with the case's holds; the settlement pays the rest.
    assert status["state"] == "Aborted" and status["refund_rial"] == STAGE2 + MONTH_OF_DELAY
    final = await settled(handle)
    assert final["delay_penalty_paid_rial"] == MONTH_OF_DELAY and final["deposit_disposition"] == "keep"
    assert ledger(handle.id) == ("released", STAGE2 + MONTH_OF_DELAY, MONTH_OF_DELAY, 0)


def test_a_delay_before_customs_and_one_after_stage_3_add_up() -> None:
    """Two stretches of the importer's fault, laid end to end in calendar months (our reading of
    «جریمه ماهانه» and «تاخیر بیش از سه ماه»); the wait at customs between them is nobody's."""
    from lifecycles.import_purchase import PurchaseCase, delay_exceeds_three_months, delay_months, delay_spans

    due = JalaliDate(1405, 1, 10).to_gregorian()
    contractual = tehran_midnight(due + timedelta(days=1))  # 11 Farvardin 1405
    arrived = contractual + timedelta(days=40)  # a second month of delay had begun
    paid3 = arrived + timedelta(days=20)  # the buyer took 20 days: not the importer's
    owed = add_months_at(paid3, 1)
    case = PurchaseCase("s", "0", "n", True, False, "mellat", "a", DEPOSIT, state="AwaitingDelivery", purchase_money=True)
    case.base_price_rial, case.delivery_due = BASE, due.isoformat()
    case.payments["2"] = {"payment_ref": "S2", "amount_rial": STAGE2, "at": (contractual - timedelta(days=60)).isoformat()}
    case.customs_arrived_at, case.final_paid_at = arrived.isoformat(), paid3.isoformat()

    before = delay_spans(case, owed - timedelta(seconds=1))
    assert [s.live for s in before] == [False] and delay_months(before) == 2
    # The first stretch lasted 40 days; the second takes the line past three months from 11 Farvardin.
    at_three = owed + (add_months_at(contractual, 3) - contractual) - (arrived - contractual)
    assert not delay_exceeds_three_months(delay_spans(case, at_three))
    assert delay_exceeds_three_months(delay_spans(case, at_three + timedelta(seconds=1)))
    assert delay_months(delay_spans(case, at_three + timedelta(seconds=1))) == 4
    case.delivered_at = (owed + timedelta(days=5)).isoformat()  # delivered: the line stops there
    assert delay_months(delay_spans(case, owed + timedelta(days=90))) == 2
