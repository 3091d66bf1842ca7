"""Telling many cases at once: a signal to each workflow of a page, a bounded number in flight.

A signal proves nothing and needs no token: a case reads what changed from the registry itself, or
uses what a signal carries only to refuse early; one sent twice (a retried page) or by anyone else
costs a read at most.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode


async def signal_each(
    client: Client, workflow_ids: Iterable[str], signal: str, arg: Any = None, *, concurrency: int
) -> tuple[int, int]:
    """Signal every workflow (with ``arg``, unless ``None``); how many were told and how many are
    ``gone`` (closed, or no such workflow)."""
    gate = asyncio.Semaphore(concurrency)

    async def tell(workflow_id: str) -> bool:
        async with gate:
            try:
                handle = client.get_workflow_handle(workflow_id)
                await (handle.signal(signal) if arg is None else handle.signal(signal, arg))
                return True
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise

    told = await asyncio.gather(*(tell(workflow_id) for workflow_id in workflow_ids))
    return sum(told), len(told) - sum(told)
