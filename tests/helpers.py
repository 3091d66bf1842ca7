"""Building blocks for lifecycle tests: valid people, complete files, update shortcuts."""

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

_serial = itertools.count(100_000_001)

SERVER: WorkflowEnvironment | None = None
"""The session's time-skipping server (set by conftest): its clock runs ahead of the wall clock."""


async def server_now() -> datetime:
    """The server's current time: what ``workflow.now()`` says, so dates in inputs agree with it."""
    assert SERVER is not None, "the env fixture sets tests.helpers.SERVER"
    return await SERVER.get_current_time()


def new_national_id() -> str:
    """A fresh valid national id (unique within a test run)."""
    return with_check_digit(f"{next(_serial):09d}")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def actor(role: str, id: str) -> dict[str, str]:
    return {"role": role, "id": id}


async def update(handle: WorkflowHandle, name: str, /, **fields: Any) -> dict[str, Any]:
    return await handle.execute_update(name, fields)


async def rejected(handle: WorkflowHandle, name: str, /, **fields: Any) -> str:
    """Send an update that must be rejected; return the message and check nothing changed."""
    before = await handle.query("status")
    try:
        await handle.execute_update(name, fields)
    except WorkflowUpdateFailedError as err:
        after = await handle.query("status")
        assert after["state"] == before["state"]
        assert after["history"] == before["history"]
        return str(err.cause.message if err.cause else err)
    raise AssertionError(f"{name} was accepted")


async def start(client: Client, worker: Worker, workflow: str, input: dict[str, Any], prefix: str) -> WorkflowHandle:
    return await client.start_workflow(
        workflow, input, id=f"{prefix}-{uuid.uuid4()}", task_queue=worker.task_queue
    )
