"""Telling many cases at once: a signal to each workflow of a page, a bounded number in flight.

The signals carry nothing: each case reads what changed from the registry itself, so a signal
proves nothing, needs no token, and one sent twice (a retried page) or by anyone else costs a read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode


async def signal_each(client: Client, workflow_ids: Iterable[str], signal: str, *, concurrency: int) -> tuple[int, int]:
    """Signal every workflow; how many were told and how many are ``gone`` (closed, or no such workflow)."""
    gate = asyncio.Semaphore(concurrency)

    async def tell(workflow_id: str) -> bool:
        async with gate:
            try:
                await client.get_workflow_handle(workflow_id).signal(signal)
                return True
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise

    told = await asyncio.gather(*(tell(workflow_id) for workflow_id in workflow_ids))
    return sum(told), len(told) - sum(told)
