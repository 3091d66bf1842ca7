"""The ``FuelCharge`` workflow: one charge cycle of every fuel card for one period (seed 002).

The Temporal Schedule ``fuel-charge`` (created by ``python worker.py --setup``) starts it every
``policy.FUEL_CHARGE_SCHEDULE_EVERY``; a run without input charges the period (half of a Jalali
month, Tehran) it starts in. The first run of a period opens its run row and charges; later runs
of the same period find it done and return its report at once. Monthly uses are charged in the
first half of the month, heavy vehicles in both halves.

The work is ONE long activity (``charge_fuel_cards``) that charges every card in set-based
chunks, heartbeating the last card; a retry resumes after it. While it runs, the workflow reads
the run's committed progress every ``policy.FUEL_CHARGE_PROGRESS_EVERY`` into its current details
(the UI's progress line); it returns the report (cards charged, litres, capped, cancelled as worn
out, skipped with reasons). Deterministic: all I/O is in activities.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporalio.client import (
        Client,
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleSpec,
        ScheduleUpdate,
    )

    from activities.fuel_cards import (
        ChargeRequest,
        RunOpen,
        charge_fuel_cards,
        open_fuel_charge_run,
        read_fuel_charge_progress,
        report,
    )
    from domain import policy
    from lifecycles import fuel_cards as rules

from workflows.common import ACTIVITY_RETRY, ACTIVITY_TIMEOUT

SCHEDULE_ID = "fuel-charge"


@dataclass
class FuelChargeInput:
    period: str | None = None
    """``1404-09-1`` (Jalali year, month, half); ``None``: the period the run starts in."""
    chunk_cards: int = policy.FUEL_CHARGE_CHUNK_CARDS


def progress_line(run: str, totals: dict[str, Any], after_card: str, done: bool) -> str:
    litres = totals.get("millilitres", 0) // rules.ML_PER_LITRE
    head = f"شارژ کارت سوخت دوره {run}" + (" — پایان یافت" if done else " — در حال اجرا")
    lines = [
        head,
        f"کارت شارژشده: {totals.get('cards_charged', 0):,} — لیتر: {litres:,} — سقف ۹ ماه: {totals.get('capped', 0):,}",
        f"ابطال (فرسوده): {totals.get('cancelled_worn_out', 0):,} — قطعه‌ها: {totals.get('chunks', 0):,}",
    ]
    skipped = totals.get("skipped") or {}
    if skipped:
        lines.append("رد شده: " + "، ".join(f"{reason}: {count:,}" for reason, count in sorted(skipped.items())))
    if not done and after_card:
        lines.append(f"آخرین کارت: {after_card}")
    return "\n\n".join(lines)


@workflow.defn(name="FuelCharge")
class FuelChargeWorkflow:
    def __init__(self) -> None:
        self._progress: dict[str, Any] = {}

    @workflow.query
    def progress(self) -> dict[str, Any]:
        return self._progress

    @workflow.run
    async def run(self, params: FuelChargeInput | None = None) -> dict[str, Any]:
        p = params or FuelChargeInput()
        period = rules.parse_period(p.period) if p.period else rules.period_at(workflow.now())
        opened = await workflow.execute_activity(
            open_fuel_charge_run,
            RunOpen(period.key, workflow.info().workflow_id, workflow.now()),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            summary="open the period's charge run",
        )
        self._show(period.key, opened, done=opened["status"] == "done")
        if opened["status"] == "done":
            return report(period.key, opened["totals"])
        charging = workflow.start_activity(
            charge_fuel_cards,
            ChargeRequest(period.key, p.chunk_cards),
            start_to_close_timeout=policy.FUEL_CHARGE_ACTIVITY_TIMEOUT,
            heartbeat_timeout=policy.FUEL_CHARGE_HEARTBEAT_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            summary="charge every card, chunk by chunk",
        )
        while not charging.done():
            try:
                await workflow.wait_condition(charging.done, timeout=policy.FUEL_CHARGE_PROGRESS_EVERY)
            except TimeoutError:
                progress = await workflow.execute_activity(
                    read_fuel_charge_progress,
                    period.key,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                    summary="read the charge run's progress",
                )
                if not charging.done():
                    self._show(period.key, progress, done=False)
        result: dict[str, Any] = await charging
        final = await workflow.execute_activity(
            read_fuel_charge_progress,
            period.key,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            summary="read the charge run's report",
        )
        self._show(period.key, final, done=True)
        return result

    def _show(self, run: str, progress: dict[str, Any], done: bool) -> None:
        self._progress = {"run": run, "done": done, **progress}
        workflow.set_current_details(progress_line(run, progress["totals"], progress["after_card"], done))


def schedule(task_queue: str) -> Schedule:
    """Every ``FUEL_CHARGE_SCHEDULE_EVERY``; a run still going when the next is due makes it skip."""
    return Schedule(
        action=ScheduleActionStartWorkflow(FuelChargeWorkflow.run, id=SCHEDULE_ID, task_queue=task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=policy.FUEL_CHARGE_SCHEDULE_EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedule(client: Client, task_queue: str) -> None:
    """Create the schedule, or bring an existing one to this code's interval and task queue
    (keeping its state: a schedule an operator paused stays paused across deploys)."""
    wanted = schedule(task_queue)
    try:
        await client.create_schedule(SCHEDULE_ID, wanted)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(SCHEDULE_ID).update(
            lambda current: ScheduleUpdate(schedule=dataclasses.replace(wanted, state=current.description.schedule.state))
        )
