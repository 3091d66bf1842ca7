"""Long cases stay inside Temporal's limits: a run continues as new, carrying the whole case.

1,500 small commands on one Draft would pass the server's 2,000-updates-per-run cap soon after
and, with a full status per result, its 50 MB history limit long before; here the case continues
as new (policy.CONTINUE_AS_NEW_AFTER_UPDATES) and every run stays small.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.worker import Worker

from domain import policy
from registry.db import session_scope
from registry.models import AuditEntry
from tests.helpers import actor, rejected, signed, update
from tests.trade_order_support import open_file

COMMANDS = 1_500


async def runs_of(client: Client, workflow_id: str) -> list[str]:
    """Run ids of one case, oldest first (each run's first event names the one it continued)."""
    runs = []
    run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
    while run_id:
        runs.append(run_id)
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    return runs[::-1]


async def test_a_case_of_1500_commands_continues_as_new_and_keeps_everything(client: Client, worker: Worker) -> None:
    case = await open_file(client, worker)
    handle = case.handle
    semaphore = asyncio.Semaphore(16)
    first_token = await signed(handle, "save_main_info", {"actor": case.me, "proforma_number": "PF-0"})

    moved: list[int] = []

    async def save(n: int) -> None:
        async with semaphore:
            for _ in range(100):
                fields = {"actor": case.me, "proforma_number": f"PF-{n}"}
                command = first_token if n == 0 else await signed(handle, "save_main_info", fields)
                try:
                    result = await handle.execute_update("save_main_info", command)
                    break
                except WorkflowUpdateFailedError as err:  # as a client does: try again once the run moved on
                    assert "moving to a new run" in str(err.cause), err.cause
                    moved.append(n)
                    await asyncio.sleep(0.05)
            assert "history" not in result and len(result["events"]) == 1

    await asyncio.gather(*(save(n) for n in range(COMMANDS)))
    status = await case.status()
    assert status["state"] == "Draft"
    assert len(status["history"]) == COMMANDS
    assert [e["event"] for e in status["history"]] == ["save_main_info"] * COMMANDS

    runs = await runs_of(client, handle.id)
    assert moved, "no command met the run moving on: the test did not exercise it"
    assert len(runs) >= COMMANDS // policy.CONTINUE_AS_NEW_AFTER_UPDATES + 1
    for run_id in runs:
        events = (await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()).events
        assert len(events) < policy.CONTINUE_AS_NEW_AFTER_EVENTS + 500
        # Commands already in flight when the bound is reached finish in this run: a few more.
        accepted = sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in events)
        assert accepted <= policy.CONTINUE_AS_NEW_AFTER_UPDATES + 100 < 2_000
        assert sum(e.ByteSize() for e in events) < 10 * 1024 * 1024

    # The spent tokens crossed over: the first command's token is still refused.
    assert "already used" in await rejected(handle, "save_main_info", actor_token=first_token["actor_token"])
    # The case goes on in the new run and ends; the audit log has each transition exactly once.
    await update(handle, "save_transport", actor=case.me, fleet="road")
    await update(handle, "abort", actor=actor("operator", "op-1"), reason="test over")
    await handle.result()
    with session_scope() as session:
        seqs = sorted(session.scalars(select(AuditEntry.seq).where(AuditEntry.workflow_id == handle.id, AuditEntry.seq > 0)))
    assert seqs == list(range(1, COMMANDS + 3))


async def test_a_client_cannot_start_a_case_as_a_continued_run(client: Client, worker: Worker) -> None:
    """Only the server continues a run: a "continued" input from a client is a start, refused."""
    forged = {
        "continued": {
            "start": {"applicant": {"national_id": "0010350829", "full_name": "x"}},
            "model": {"state": "Registered"},
            "history": [],
            "used_jtis": [],
        }
    }
    handle = await client.start_workflow("TradeOrder", forged, id=f"forged-continue-{uuid.uuid4()}", task_queue=worker.task_queue)
    try:
        await handle.result()
        raise AssertionError("a forged continued run was accepted")
    except WorkflowFailureError as err:
        assert "Unauthenticated" in str(getattr(err.cause, "type", "")) or "actor_token" in str(err.cause)
    assert (await handle.query("status"))["state"] == "Refused"
