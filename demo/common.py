"""Helpers the demo scripts share."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

from temporalio.client import WorkflowHandle

from domain.identity import with_check_digit
from security.signer import ActorSigner

UI = "http://127.0.0.1:8233"


def person_id() -> str:
    """A valid national id for a demo person (random, so re-runs make new people)."""
    return with_check_digit(f"{random.randrange(10**8, 10**9):09d}")


def actor(role: str, id: str) -> dict[str, str]:
    return {"role": role, "id": id}


async def send(handle: WorkflowHandle, name: str, /, **fields: Any) -> dict[str, Any]:
    """An update signed with the dev identity provider's key for its ``actor``; the case's whole
    status after it (the update itself returns only what changed)."""
    signer = ActorSigner.from_settings(handle._client.namespace)
    await handle.execute_update(name, await signer.command(handle.id, name, fields))
    return await handle.query("status")


async def wait_for_state(handle: WorkflowHandle, *states: str, timeout: float = 60) -> dict[str, Any]:
    for _ in itertools.count():
        status = await handle.query("status")
        if status["state"] in states:
            return status
        timeout -= 0.5
        if timeout <= 0:
            raise TimeoutError(f"{handle.id} stayed in {status['state']}, expected {states}")
        await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


def link(workflow_id: str, namespace: str = "default") -> str:
    return f"{UI}/namespaces/{namespace}/workflows/{workflow_id}"
