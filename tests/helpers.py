"""Building blocks for lifecycle tests: valid people, complete files, update shortcuts.

Commands are written as before, with ``actor={"role", "id"}``; :func:`update`, :func:`rejected`
and :func:`start` sign them with the session's identity provider (tokens minted by the
time-skipping server's clock, which the workflows judge them by).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.identity import with_check_digit
from security.signer import ActorSigner
from tests.trust_material import SIGNING_KEY

_serial = itertools.count(100_000_001)

SERVER: WorkflowEnvironment | None = None
"""The session's time-skipping server (set by conftest): its clock runs ahead of the wall clock."""


async def server_now() -> datetime:
    """The server's current time: what ``workflow.now()`` says, so dates in inputs agree with it."""
    assert SERVER is not None, "the env fixture sets tests.helpers.SERVER"
    return await SERVER.get_current_time()


SIGNER = ActorSigner(SIGNING_KEY, "default", clock=server_now)


def new_national_id() -> str:
    """A fresh valid national id (unique within a test run)."""
    return with_check_digit(f"{next(_serial):09d}")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def actor(role: str, id: str) -> dict[str, str]:
    return {"role": role, "id": id}


async def signed(handle: WorkflowHandle, name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The command with a token for its ``actor`` (unless it carries ``actor_token`` already)."""
    return await SIGNER.command(handle.id, name, fields)


async def update(handle: WorkflowHandle, name: str, /, **fields: Any) -> dict[str, Any]:
    """Send a signed command; check its compact result against the case; return the whole status."""
    before = await handle.query("status")
    result = await handle.execute_update(name, await signed(handle, name, fields))
    status = await handle.query("status")
    assert_outcome(result, before, status)
    return status


def assert_outcome(result: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> None:
    """An update's result is the case after it, in small: state, allowed, the transitions it made
    and the ``status`` fields it changed (never the history). The main loop may move the case on
    between the queries (a start's checks, a deadline), so only what the result says is compared."""
    assert "history" not in result, "an update returns what changed, not the whole status"
    events, history = result["events"], after["history"]
    assert events, "a command that is accepted records at least one transition"
    first = history.index(events[0])
    assert first >= len(before["history"]) and history[first : first + len(events)] == events
    for key in set(result) - {"state", "state_fa", "allowed", "events"}:
        assert before.get(key) != result[key], f"{key} is in the result but did not change"
    if len(history) == first + len(events):  # nothing happened since: the result is the case now
        assert (result["state"], result["allowed"]) == (after["state"], after["allowed"])
        assert all(result[k] == after[k] for k in result if k != "events")


async def rejected(handle: WorkflowHandle, name: str, /, **fields: Any) -> str:
    """Send an update that must be rejected; return the message and check nothing changed."""
    before = await handle.query("status")
    try:
        await handle.execute_update(name, await signed(handle, name, fields))
    except WorkflowUpdateFailedError as err:
        after = await handle.query("status")
        assert after["state"] == before["state"]
        assert after["history"] == before["history"]
        return str(err.cause.message if err.cause else err)
    raise AssertionError(f"{name} was accepted")


def default_starter(workflow: str, input: dict[str, Any]) -> dict[str, str]:
    """Who starts a case in the tests unless told: the applicant, the seller, the owner."""
    try:
        if workflow in ("TradeOrder", "ImportPurchase"):
            return actor("applicant", input["applicant"]["national_id"])
        if workflow == "PlateTransfer":
            return actor("seller", input["seller"]["national_id"])
        if workflow in ("VehicleNumbering", "PlateService"):
            return actor("owner", input["owner"]["national_id"])
    except (KeyError, TypeError):
        pass
    return actor("officer", "officer-7")


async def signed_start(
    workflow_id: str, workflow: str, input: dict[str, Any], by: dict[str, str] | None = None
) -> dict[str, Any]:
    if "actor_token" in input:
        return input
    who = by or default_starter(workflow, input)
    return await SIGNER.start(workflow_id, input, role=who["role"], sub=who["id"])


async def start(
    client: Client, worker: Worker, workflow: str, input: dict[str, Any], prefix: str, *, by: dict[str, str] | None = None
) -> WorkflowHandle:
    workflow_id = f"{prefix}-{uuid.uuid4()}"
    return await client.start_workflow(
        workflow, await signed_start(workflow_id, workflow, input, by), id=workflow_id, task_queue=worker.task_queue
    )


def audit_rows(workflow_id: str) -> list[Any]:
    """A case's rows in the registry's audit log, by ``seq`` (repairs, the sweep, transitions)."""
    from sqlalchemy import select

    from registry.db import session_scope
    from registry.models import AuditEntry

    with session_scope() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.workflow_id == workflow_id).order_by(AuditEntry.seq)))
