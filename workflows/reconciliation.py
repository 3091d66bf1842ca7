"""The ``Reconciliation`` workflow: release what closed cases still hold in the registry.

Run every ``policy.RECONCILIATION_INTERVAL`` by the Temporal Schedule ``registry-reconciliation``
(created by ``python worker.py --setup``). Chunk by chunk (keyset order of workflow ids): the
registry's ids holding a row → which of them Temporal says are closed or does not know → the
closed ones' holds released, audited, one alert each; the unknown ones alerted only. A case
Temporal does not know is not released automatically: a reconciliation pointed at the wrong
namespace (or a visibility store that lost data) would otherwise release every live deposit of
the registry. Running cases are never touched. Deterministic: all I/O is in activities.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

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

    from activities.repair import (
        AuditSweep,
        CaseLookup,
        ClosedCases,
        HeldPage,
        MissingCases,
        RefillQuery,
        alert_missing_cases,
        offerings_to_refill,
        read_held_cases,
        repair_closed_cases,
    )
    from domain import policy
    from lifecycles.import_offering import OFFERING_SEAT_FREED_SIGNAL

from workflows.common import ACTIVITY_RETRY, AUDIT_SWEEP, RECONCILE_OFFERINGS

SCHEDULE_ID = "registry-reconciliation"
CHUNK_ROWS = 500
"""Workflow ids per chunk: one SQL statement and one visibility query each (our choice)."""

LOOKUP_TIMEOUT = timedelta(minutes=2)
"""A chunk's visibility query plus the describes it leaves open."""


@dataclass
class ReconciliationInput:
    chunk_rows: int = CHUNK_ROWS
    after: str = ""
    """Where a continued run resumes (the last workflow id its predecessor read)."""
    totals: dict[str, int] = field(default_factory=dict)


@workflow.defn(name="Reconciliation")
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, params: ReconciliationInput | None = None) -> dict[str, Any]:
        p = params or ReconciliationInput()
        totals = {"scanned": 0, "running": 0, "repaired": 0, "missing_alerted": 0, **p.totals}
        after = p.after
        while True:
            ids = await workflow.execute_activity(
                read_held_cases,
                HeldPage(after, p.chunk_rows),
                start_to_close_timeout=LOOKUP_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                summary="workflow ids holding registry rows",
            )
            if not ids:
                break
            verdicts = await workflow.execute_activity_method(
                CaseLookup.case_verdicts,
                ids,
                start_to_close_timeout=LOOKUP_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                summary="which cases are closed",
            )
            totals["scanned"] += len(ids)
            totals["running"] += len(verdicts.running)
            if verdicts.closed:
                repaired = await workflow.execute_activity(
                    repair_closed_cases,
                    ClosedCases(verdicts.closed, workflow.now()),
                    start_to_close_timeout=LOOKUP_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                    summary="release the closed cases' holds",
                )
                totals["repaired"] += len(repaired)
                for kinds in repaired.values():
                    for kind in kinds:
                        totals[kind] = totals.get(kind, 0) + 1
            if verdicts.missing:
                totals["missing_alerted"] += await workflow.execute_activity(
                    alert_missing_cases,
                    MissingCases(verdicts.missing, workflow.now()),
                    start_to_close_timeout=LOOKUP_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                    summary="alert cases Temporal does not know",
                )
            after = ids[-1]
            if len(ids) < p.chunk_rows:
                break
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(ReconciliationInput(p.chunk_rows, after, totals))
        if workflow.patched(RECONCILE_OFFERINGS):
            totals["offerings_nudged"] = await self._nudge_offerings()
        if workflow.patched(AUDIT_SWEEP):
            totals["audit_swept"] = await workflow.execute_activity_method(
                CaseLookup.sweep_hand_closed_audit,
                AuditSweep(workflow.now() - policy.AUDIT_SWEEP_LOOKBACK, workflow.now()),
                start_to_close_timeout=LOOKUP_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                summary="audit rows of cases closed by hand",
            )
        return totals

    async def _nudge_offerings(self) -> int:
        """Seats the repairs freed (or a buyer's lost signal left free) go on by rank: every offering
        still passing seats on with a free seat and an applicant waiting is told to fill them."""
        offerings = await workflow.execute_activity(
            offerings_to_refill,
            RefillQuery(workflow.now()),
            start_to_close_timeout=LOOKUP_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            summary="offerings with free seats",
        )
        nudged = 0
        for workflow_id in offerings:
            try:
                await workflow.get_external_workflow_handle(workflow_id).signal(OFFERING_SEAT_FREED_SIGNAL)
                nudged += 1
            except ApplicationError:  # the offering's case has closed meanwhile: nothing passes on
                pass
        return nudged


def schedule(task_queue: str) -> Schedule:
    """Every ``RECONCILIATION_INTERVAL``; a run still going when the next is due makes it skip."""
    return Schedule(
        action=ScheduleActionStartWorkflow(ReconciliationWorkflow.run, id=SCHEDULE_ID, task_queue=task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=policy.RECONCILIATION_INTERVAL)]),
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
