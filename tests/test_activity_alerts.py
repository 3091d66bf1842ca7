"""A registry that keeps failing is shown to operators, and the case goes on when it recovers.

The worker here runs the real ``assign_file_number`` behind a fault: the first attempts find the
database locked (SQLAlchemy's ``OperationalError``, as SQLite raises it), as a registry under a long
migration or a lost connection would. Past ``policy.ACTIVITY_ALERT_AFTER_ATTEMPTS`` attempts the
case names the activity in its ``CaseAlert`` search attribute and its details, an alert waits in
the outbox, and the submit completes once the database answers again.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities import trade_order as trade_order_activities
from activities.trade_order import FileNumberRequest
from domain import policy
from registry.db import session_scope
from registry.models import OutboxMessage
from tests.helpers import update
from tests.trade_order_support import TradeCase, filled_file
from workflows.common import CASE_ALERT

FAILURES = policy.ACTIVITY_ALERT_AFTER_ATTEMPTS + 2
calls: dict[str, int] = {}
recovered = asyncio.Event()


@activity.defn(name="assign_file_number")
def flaky_assign_file_number(request: FileNumberRequest) -> str:
    calls[request.workflow_id] = calls.get(request.workflow_id, 0) + 1
    if calls[request.workflow_id] <= FAILURES:
        raise OperationalError("UPDATE trade_files ...", {}, Exception("database is locked"))
    return trade_order_activities.assign_file_number(request)


async def alert_shown(client: Client, case: TradeCase) -> str | None:
    description = await case.handle.describe()
    return description.typed_search_attributes.get(CASE_ALERT)  # type: ignore[return-value]


async def test_a_lasting_failure_alerts_operators_and_the_case_goes_on(env: WorkflowEnvironment) -> None:
    from worker import ACTIVITIES, build_worker

    activities = [flaky_assign_file_number if getattr(a, "__name__", "") == "assign_file_number" else a for a in ACTIVITIES]
    async with build_worker(env.client, f"tq-{uuid.uuid4()}", activities=activities) as worker:
        case = await filled_file(env.client, worker)
        submitting = asyncio.create_task(update(case.handle, "submit", actor=case.me))
        for _ in range(600):
            if await alert_shown(env.client, case):
                break
            await asyncio.sleep(0.1)
        assert await alert_shown(env.client, case) == "assign_file_number"
        status = await case.status()
        assert status["state"] == "Draft" and status["allowed"] == []  # busy with submit
        metadata = await case.handle.query("__temporal_workflow_metadata")
        assert "⚠️" in metadata.current_details and "`assign_file_number`" in metadata.current_details

        status = await asyncio.wait_for(submitting, 120)
        assert status["state"] == "New" and status["file_number"]
        assert await alert_shown(env.client, case) is None
        assert calls[case.handle.id] == FAILURES + 1
        with session_scope() as session:
            alerts = session.scalars(
                select(OutboxMessage).where(OutboxMessage.workflow_id == case.handle.id, OutboxMessage.kind == "alert")
            ).all()
        assert alerts and all("assign_file_number" in a.text and "OperationalError" in a.text for a in alerts)
        assert all(case.national_id not in a.text for a in alerts)
