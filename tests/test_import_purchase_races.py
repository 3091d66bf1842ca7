"""ImportPurchase: a deadline and a command in one workflow activation, and the 90-day boundary."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from persiantools.jdatetime import JalaliDate
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain import policy
from domain.display import TEHRAN
from lifecycles import import_purchase as rules
from lifecycles.import_purchase import PurchaseCase
from tests.helpers import actor, rejected, signed, update
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    BASE_PRICE,
    FINAL_COSTS,
    IMPORTER,
    PRE_CUSTOMS,
    begin,
    close_cases,
    env,
    instant,
    new_vin,
    to_state,
    wait_for,
    worker,
)

PER_PERIOD = BASE_PRICE * 57 // 1000


async def stalled_update(env: WorkflowEnvironment, handle: WorkflowHandle, task_queue: str, name: str, fields: dict) -> dict:
    """Send ``name`` while no worker polls ``task_queue``, then start one: the timer that fired in
    the meantime and the update reach the workflow in the same activation. The worker stays
    until the case ends (its deposit released), so nothing is left locking the server's clock."""
    from worker import build_worker

    pending = asyncio.create_task(handle.execute_update(name, await signed(handle, name, fields)))
    await asyncio.sleep(1.0)  # real time: the server holds the update with the fired timer
    async with build_worker(env.client, task_queue):
        try:
            result = await asyncio.wait_for(pending, 30)
            await asyncio.wait_for(handle.result(), 60)
            status = await handle.query("status")
            assert result["events"][0] in status["history"]
        except BaseException:
            with contextlib.suppress(Exception):  # end it while served: a case left mid-task locks the clock
                await handle.terminate("test failed")
            raise
    return status


async def test_deliver_in_the_activation_a_delay_period_starts_counts_that_period(env: WorkflowEnvironment) -> None:
    from worker import build_worker

    queue = f"tq-{uuid.uuid4()}"
    async with build_worker(env.client, queue, max_cached_workflows=0) as w:  # no sticky queue to come back to
        handle, nid = await begin(env.client, w)
        status = await to_state(handle, env, nid, "AwaitingDelivery", due_in_days=365)
        deadline = instant(status["delivery_deadline"])
        await env.sleep(deadline - await env.get_current_time() - timedelta(minutes=30))
        assert (await handle.query("status"))["delay_penalty_rial"] == 0
    # The first period starts while nobody serves the case (the server skips time up to the
    # timer it fires, then its clock runs in real time while the workflow task waits).
    await env.sleep(deadline - await env.get_current_time() + timedelta(seconds=1))
    status = await stalled_update(env, handle, queue, "deliver", {"actor": actor("importer", IMPORTER), "vin": new_vin()})
    assert status["state"] == "Delivered"
    assert status["delay_penalty_rial"] == PER_PERIOD
    delivered = next(entry for entry in status["history"] if entry["event"] == "deliver")
    assert delivered["delay_penalty_rial"] == PER_PERIOD


async def test_cancel_in_the_activation_the_fourth_period_starts_is_allowed(env: WorkflowEnvironment) -> None:
    from worker import build_worker

    queue = f"tq-{uuid.uuid4()}"
    async with build_worker(env.client, queue, max_cached_workflows=0) as w:
        handle, nid = await begin(env.client, w)
        status = await to_state(handle, env, nid, "AwaitingDelivery", due_in_days=365)
        deadline = instant(status["delivery_deadline"])
        await env.sleep(
            rules.cancellable_after(deadline, calendar_months=True) - await env.get_current_time() - timedelta(hours=1)
        )
        status = await handle.query("status")
        assert status["delay_periods"] == 3 and "cancel_for_delay" not in status["allowed"]
    # More than three calendar months late while nobody serves the case: the fourth period's timer and the
    # command reach the workflow together.
    await env.sleep(rules.cancellable_after(deadline, calendar_months=True) - await env.get_current_time() + timedelta(seconds=1))
    status = await stalled_update(env, handle, queue, "cancel_for_delay", {"actor": actor("applicant", nid)})
    assert status["state"] == "CancelledForDelay"
    assert status["delay_periods"] == 4 and status["delay_penalty_rial"] == 4 * PER_PERIOD
    cancellation = BASE_PRICE * 5 // 100
    assert status["refund_rial"] == BASE_PRICE + PRE_CUSTOMS + FINAL_COSTS + 4 * PER_PERIOD + cancellation
    cancelled = next(entry for entry in status["history"] if entry["event"] == "cancel_for_delay")
    assert cancelled["delay_penalty_rial"] == 4 * PER_PERIOD


async def test_cancel_for_delay_needs_strictly_more_than_three_months(client, worker, env: WorkflowEnvironment) -> None:
    """On the server: refused just before the three calendar months are up, allowed a moment after. The server's
    clock runs in real time between skips (a timer's activation lands milliseconds after it), so
    the exact instant is checked on the rule and the case's guard in the next test."""
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    status = await to_state(handle, env, nid, "AwaitingDelivery", due_in_days=365)
    deadline = instant(status["delivery_deadline"])
    await env.sleep(rules.cancellable_after(deadline, calendar_months=True) - await env.get_current_time() - timedelta(seconds=5))
    assert "more than 3 calendar months late" in await rejected(handle, "cancel_for_delay", actor=me)
    await env.sleep(rules.cancellable_after(deadline, calendar_months=True) - await env.get_current_time())
    status = await wait_for(handle, lambda s: s["history"][-1].get("delay_periods") == 4)
    fourth = status["history"][-1]
    assert fourth["event"] == "delay_period_started" and fourth["delay_periods"] == 4
    assert (
        timedelta(0) <= instant(fourth["at"]) - (rules.cancellable_after(deadline, calendar_months=True)) < timedelta(seconds=5)
    )
    assert "cancel_for_delay" in status["allowed"]  # a moment after
    status = await update(handle, "cancel_for_delay", actor=me)
    assert status["state"] == "CancelledForDelay" and status["delay_penalty_rial"] == 4 * PER_PERIOD


def tehran_midnight(year: int, month: int, day: int) -> datetime:
    """The start of a Jalali day in Tehran: where a delivery deadline falls (the end of the due day)."""
    return datetime.combine(JalaliDate(year, month, day).to_gregorian(), time(0), tzinfo=TEHRAN)


@pytest.mark.parametrize(
    ("deadline", "three_months_on", "days"),
    [
        (tehran_midnight(1405, 1, 31), tehran_midnight(1405, 4, 31), 93),  # Farvardin: three 31-day months
        (tehran_midnight(1404, 10, 30), tehran_midnight(1405, 1, 30), 89),  # Dey, across a 29-day Esfand
        (tehran_midnight(1404, 12, 29), tehran_midnight(1405, 3, 29), 91),  # the last day of Esfand
    ],
)
def test_the_cancel_guard_at_exactly_three_calendar_months(deadline: datetime, three_months_on: datetime, days: int) -> None:
    exactly = rules.cancellable_after(deadline, calendar_months=True)
    assert exactly == three_months_on and (exactly - deadline).days == days
    assert not rules.may_cancel_for_delay(deadline, exactly, calendar_months=True)
    assert rules.may_cancel_for_delay(deadline, exactly + timedelta(microseconds=1), calendar_months=True)
    # The case as the workflow holds it when the fourth period's timer fires at that instant.
    clock = [exactly]
    case = PurchaseCase("s", "n", "f", True, False, "b", "a", 1, state="AwaitingDelivery", clock=lambda: clock[0])
    case.calendar_months = True
    case.delivery_deadline = deadline.isoformat()
    case.delay_periods = rules.periods_late(deadline, exactly, calendar_months=True)
    assert case.delay_periods == 4
    assert not case.delay_over_three_months
    clock[0] = exactly + timedelta(milliseconds=1)
    assert case.delay_over_three_months
    # Lateness is read from the clock, not from the timers' count.
    case.delay_periods = 0
    assert case.periods_late_now() == 4


def test_cases_of_earlier_builds_keep_their_90_days() -> None:
    deadline = datetime(2026, 1, 1, 20, 30, tzinfo=UTC)
    exactly = deadline + policy.CANCEL_FOR_DELAY_AFTER
    assert rules.cancellable_after(deadline, calendar_months=False) == exactly
    assert not rules.may_cancel_for_delay(deadline, exactly, calendar_months=False)
    assert rules.may_cancel_for_delay(deadline, exactly + timedelta(microseconds=1), calendar_months=False)
    assert rules.periods_late(deadline, exactly, calendar_months=False) == 4
