"""The audit rows a case's activities carry (the worker side of ``workflows.audit_rides``).

A case's transitions not yet in the audit log ride in the ``audit-rows`` header of its next
activity (encrypted like every payload). Here, on the worker, they are written in the activity's
first transaction that commits, so they commit with its effect (or before it, when the activity
commits more than once); an activity that opens no transaction, or whose transaction rolled back (a
refusal), writes them in a transaction of their own before it ends.
``(workflow_id, seq)`` is unique: a retry, or the same rows carried twice, writes nothing more.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

from activities.registry import AuditRecord, record_transitions, write_audit_rows
from registry.db import RIDER, Rider

AUDIT_HEADER = "audit-rows"
"""The activity header the case's unwritten audit rows ride in."""


class CarriedAuditWriter(ActivityInboundInterceptor):
    """Writes the audit rows an activity carries, with its own writes when it has any."""

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        payload = input.headers.get(AUDIT_HEADER)
        if payload is None:
            return await self.next.execute_activity(input)
        try:
            records = activity.payload_converter().from_payload(payload, list[AuditRecord])
        except Exception as err:  # noqa: BLE001 - e.g. rows of another build's shape: retried (and alerted), never dropped
            raise ApplicationError(
                f"{activity.info().activity_type}: cannot read the audit rows it carries ({type(err).__name__}); "
                "is a worker of another build running?",
                type="AuditRowsUnreadable",
            ) from None
        rider = Rider(lambda session: write_audit_rows(session, records))
        token = RIDER.set(rider)
        try:
            return await self.next.execute_activity(input)
        finally:
            RIDER.reset(token)
            if not rider.written:
                # The rows are of transitions already in the case's history: they are written even
                # when the activity itself failed or was refused.
                await asyncio.to_thread(record_transitions, records)
