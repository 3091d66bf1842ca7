"""Replay: the current workflow code reproduces the recorded histories of the main paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from tests.helpers import actor, update
from tests.trade_order_support import awaiting_fee, submitted
from workflows.trade_order import TradeOrderWorkflow
from workflows.trade_order_amendment import TradeOrderAmendmentWorkflow


async def test_main_paths_replay_deterministically(env: WorkflowEnvironment, client: Client, worker: Worker) -> None:
    registered, status = await awaiting_fee(client, worker)
    await update(registered.handle, "pay_fee", actor=actor("bank", "b"), payment_ref=f"P-{registered.handle.id}", amount_rial=status["fee_rial"])
    await registered.handle.result()

    expired, _ = await awaiting_fee(client, worker)
    rejected_permits = await submitted(client, worker)
    await rejected_permits.send("inquire_rules")
    await rejected_permits.send("request_permits")
    await rejected_permits.send("withdraw_permit_requests")
    await env.sleep(timedelta(days=16))
    assert (await expired.status())["state"] == "New"

    voided = await submitted(client, worker)
    await voided.send("void")
    await voided.handle.result()

    renewal = await client.start_workflow(
        "TradeOrderAmendment", {"order_workflow_id": registered.handle.id, "kind": "renewal"}, id=f"amend-{registered.handle.id}",
        task_queue=worker.task_queue,
    )
    while not (await renewal.query("status"))["order_number"]:
        await asyncio.sleep(0.05)
    status = await update(renewal, "submit", actor=registered.me)
    await update(renewal, "pay_fee", actor=actor("bank", "b"), payment_ref=f"R-{renewal.id}", amount_rial=status["fee_rial"])
    await renewal.result()

    histories = [await case.handle.fetch_history() for case in (registered, expired, rejected_permits, voided)]
    histories.append(await renewal.fetch_history())
    assert all(len(h.events) > 20 for h in histories[:3])
    replayer = Replayer(workflows=[TradeOrderWorkflow, TradeOrderAmendmentWorkflow])
    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    assert results.replay_failures == {}
