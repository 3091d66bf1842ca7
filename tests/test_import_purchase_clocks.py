"""ImportPurchase clocks on the time-skipping server: delay penalty, cancellation, 72-hour release."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

from sqlalchemy import delete
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.import_purchase import SettlementRequest, settle_purchase
from domain.calendar import add_months_at, closed_days
from domain.display import TEHRAN
from registry.db import session_scope
from registry.models import Closure, EscrowDeposit
from registry.refdata import load_refdata
from tests.helpers import actor, rejected, update
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    BASE_PRICE,
    FINAL_COSTS,
    IMPORTER,
    PRE_CUSTOMS,
    arrive,
    begin,
    close_cases,
    env,
    instant,
    new_vin,
    outbox,
    pay_final,
    release_deadline,
    to_state,
    wait_for,
    worker,
)

PER_PERIOD = BASE_PRICE * 57 // 1000  # 5.7% of the base price


async def test_delay_penalty_grows_per_started_calendar_month_and_cancel_after_three(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    status = await to_state(handle, env, nid, "AwaitingDelivery", due_in_days=365)
    deadline = instant(status["delivery_deadline"])
    assert status["delay_penalty_rial"] == 0

    await env.sleep(deadline - await env.get_current_time() - timedelta(hours=1))
    assert (await handle.query("status"))["delay_penalty_rial"] == 0
    await env.sleep(timedelta(hours=2))  # the first period has started
    status = await handle.query("status")
    assert (status["delay_periods"], status["delay_penalty_rial"]) == (1, PER_PERIOD)
    assert status["history"][-1]["event"] == "delay_period_started"
    assert "more than 3 calendar months late" in await rejected(handle, "cancel_for_delay", actor=me)

    # Periods are Jalali calendar months from the deadline (29, 30 or 31 days), not 30-day blocks.
    await env.sleep(add_months_at(deadline, 1) - await env.get_current_time() - timedelta(hours=1))
    assert (await handle.query("status"))["delay_periods"] == 1
    await env.sleep(timedelta(hours=2))
    status = await handle.query("status")
    assert (status["delay_periods"], status["delay_penalty_rial"]) == (2, 2 * PER_PERIOD)

    three_months = add_months_at(deadline, 3)
    await env.sleep(three_months - await env.get_current_time() - timedelta(hours=1))
    status = await handle.query("status")
    assert status["delay_periods"] == 3 and "cancel_for_delay" not in status["allowed"]
    await env.sleep(timedelta(hours=2))  # more than three calendar months late
    status = await handle.query("status")
    assert status["delay_periods"] == 4 and "cancel_for_delay" in status["allowed"]
    assert status["delay_penalty_rial"] == 4 * PER_PERIOD

    status = await update(handle, "cancel_for_delay", actor=me)
    assert status["state"] == "CancelledForDelay"
    cancellation = BASE_PRICE * 5 // 100
    assert status["cancellation_penalty_rial"] == cancellation
    assert status["refund_rial"] == BASE_PRICE + PRE_CUSTOMS + FINAL_COSTS + 4 * PER_PERIOD + cancellation
    final = await handle.result()
    assert final["deposit_released_at"]
    assert [h["event"] for h in final["history"]].count("delay_period_started") == 4
    assert final["delay_penalty_rial"] == 4 * PER_PERIOD  # frozen once the case left delivery


async def test_lateness_counts_before_arrival_and_the_month_after_stage_3_is_the_importers(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    status = await to_state(handle, env, nid, "Contracted", due_in_days=5)
    due = date.fromisoformat(status["delivery_due"])
    deadline = instant(status["delivery_deadline"])
    assert deadline == datetime.combine(due + timedelta(days=1), datetime.min.time(), tzinfo=TEHRAN)

    await env.sleep(deadline - await env.get_current_time() + timedelta(minutes=1))
    status = await handle.query("status")
    assert status["state"] == "Contracted" and status["delay_penalty_rial"] == PER_PERIOD

    await arrive(handle)  # the car's delay to customs ends here: one started month
    paid_at = await env.get_current_time()
    status = await pay_final(handle, nid)
    # «در صورت تکمیل وجه خریداران ظرف مدت حداکثر یک ماه» (seed 001): a month from stage 3, whatever the date.
    assert abs(instant(status["delivery_deadline"]) - add_months_at(paid_at, 1)) < timedelta(minutes=5)
    status = await update(handle, "deliver", actor=actor("importer", IMPORTER), vin=new_vin())
    assert status["state"] == "Delivered" and status["delay_penalty_rial"] == PER_PERIOD
    assert status["history"][-1]["delay_penalty_rial"] == PER_PERIOD


_bank_up = threading.Event()


@activity.defn(name="settle_purchase")
def settle_while_the_bank_is_up(request: SettlementRequest) -> str:
    """The settlement through a bank link that is down until the test brings it up."""
    if not _bank_up.is_set():
        raise ApplicationError("escrow bank link is down", type="BankUnavailable")
    return settle_purchase(request)


async def test_a_release_past_72_hours_raises_an_alert_and_still_completes(env: WorkflowEnvironment) -> None:
    from activities.import_scheme import CaseWakeup
    from worker import ACTIVITIES
    from workflows.import_purchase import ImportPurchaseWorkflow
    from workflows.import_scheme import ImportSchemeWorkflow

    activities = [a for a in ACTIVITIES if a is not settle_purchase] + [settle_while_the_bank_is_up]
    activities.append(CaseWakeup(env.client).wake_scheme_cases)  # the round tells its cases their verdict
    _bank_up.clear()
    async with Worker(
        env.client,
        task_queue=f"tq-{uuid.uuid4()}",
        workflows=[ImportPurchaseWorkflow, ImportSchemeWorkflow],  # the case's round runs here too
        activities=activities,
        activity_executor=ThreadPoolExecutor(max_workers=4),
    ) as bank_down:
        handle, _ = await begin(env.client, bank_down, applicant={"has_driving_license": False})
        status = await wait_for(handle, lambda s: s["deposit_release_deadline"] is not None)
        assert status["state"] == "Ineligible" and status["deposit_released_at"] is None
        deadline = instant(status["deposit_release_deadline"])

        await env.sleep(deadline - await env.get_current_time() - timedelta(minutes=30))
        assert (await handle.query("status"))["deposit_release_overdue"] is False
        await env.sleep(timedelta(hours=1))
        status = await handle.query("status")
        assert status["deposit_release_overdue"] is True and status["deposit_released_at"] is None
        assert status["history"][-1]["event"] == "deposit_release_overdue"
        alerts = outbox(handle.id, "alert")
        assert len(alerts) == 1 and alerts[0].to == "operator"
        with session_scope() as session:
            assert session.get(EscrowDeposit, handle.id).status == "blocked"

        _bank_up.set()
        final = await handle.result()
        assert instant(final["deposit_released_at"]) > deadline
        assert [h["event"] for h in final["history"]] == ["found_ineligible", "deposit_release_overdue", "settled"]
        with session_scope() as session:
            assert session.get(EscrowDeposit, handle.id).status == "released"


async def test_a_declared_closure_moves_the_release_deadline(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    """Operators declare a closure (reference data ``closures``): the 72 working hours skip it."""
    now = await env.get_current_time()
    first = now.astimezone(TEHRAN).date()
    official = closed_days(first, first + timedelta(days=30))
    declared = tuple(d for d in (first + timedelta(days=n) for n in range(1, 30)) if d not in official)[1:3]
    load_refdata({"closures": [{"date": d.isoformat(), "reason": "تعطیلی به علت آلودگی هوا"} for d in declared]})
    try:
        handle, _ = await begin(client, worker, applicant={"has_driving_license": False})
        status = await wait_for(handle, lambda s: s["deposit_release_deadline"] is not None)
        left = instant(status["history"][0]["at"])
        deadline = instant(status["deposit_release_deadline"])
        assert deadline == release_deadline(left, declared)
        assert deadline > release_deadline(left)  # later than with the official calendar alone
    finally:
        with session_scope() as session:
            session.execute(delete(Closure).where(Closure.day.in_(declared)))
