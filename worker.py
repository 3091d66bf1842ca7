"""Runs a worker for every lifecycle: ``python worker.py``.

It migrates the registry schema, registers the search attributes the lifecycles use when the
server lacks them, and polls ``TEMPORAL_TASK_QUEUE``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

import settings
from activities import import_purchase as import_purchase_activities
from activities import registry as registry_activities
from activities import plates as plate_activities
from activities import trade_order as trade_order_activities
from registry.db import migrate
from workflows.common import SEARCH_ATTRIBUTES
from workflows.import_purchase import ImportPurchaseWorkflow
from workflows.plate_services import PlateServiceWorkflow
from workflows.plate_transfer import PlateTransferWorkflow, VehicleNumberingWorkflow
from workflows.trade_order import TradeOrderWorkflow
from workflows.trade_order_amendment import TradeOrderAmendmentWorkflow

WORKFLOWS: list[type] = [TradeOrderWorkflow, TradeOrderAmendmentWorkflow, ImportPurchaseWorkflow, VehicleNumberingWorkflow, PlateTransferWorkflow, PlateServiceWorkflow]
ACTIVITIES: list[Callable[..., Any]] = [
    registry_activities.claim_case_id,
    registry_activities.record_transition,
    registry_activities.send_notification,
    registry_activities.record_payment,
    *trade_order_activities.ACTIVITIES,
    *import_purchase_activities.ACTIVITIES,
    *plate_activities.ACTIVITIES,
]


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register every custom search attribute the lifecycles use that the server lacks.

    The time-skipping test server has no ListSearchAttributes; there we add them all and take
    "already exists" as success.
    """
    wanted = {
        name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}") for name, kind in SEARCH_ATTRIBUTES.items()
    }
    try:
        known = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        wanted = {name: kind for name, kind in wanted.items() if name not in known.custom_attributes}
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
    if not wanted:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=wanted)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise


def build_worker(
    client: Client,
    task_queue: str,
    *,
    workflows: Sequence[type] = WORKFLOWS,
    activities: Sequence[Callable[..., Any]] = ACTIVITIES,
    **options: Any,
) -> Worker:
    # Activities are synchronous (SQLAlchemy sessions), so they run on a thread pool; on shutdown
    # they get a few seconds to finish before they are cancelled (and retried elsewhere).
    options.setdefault("graceful_shutdown_timeout", timedelta(seconds=10))
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=list(activities),
        activity_executor=ThreadPoolExecutor(max_workers=16),
        **options,
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    migrate()
    client = await Client.connect(settings.TEMPORAL_ADDRESS, namespace=settings.TEMPORAL_NAMESPACE)
    await ensure_search_attributes(client, settings.TEMPORAL_NAMESPACE)
    worker = build_worker(client, settings.TEMPORAL_TASK_QUEUE)
    # SIGTERM (./dev stop, a process manager) drains in-flight tasks instead of abandoning them.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logging.info("worker polling %s on %s/%s", settings.TEMPORAL_TASK_QUEUE, settings.TEMPORAL_ADDRESS, settings.TEMPORAL_NAMESPACE)
    async with worker:
        await stop.wait()
    logging.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
