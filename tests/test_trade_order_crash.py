"""Crash and restart on the dev server: kill -9 the worker process mid-case, start another.

The case completes on the new worker with exactly one order number, one payment and one audit
row per transition, because every activity is keyed by workflow id and step.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from demo.samples import trade_order_sections
from registry.db import session_scope
from registry.models import AuditEntry, OrderNumber, Payment
from tests.dev_server import WorkerProcess, dev_server  # noqa: F401 - dev_server is a fixture
from tests.helpers import actor, new_national_id, signed, signed_start, update
from tests.trade_order_support import TradeCase


@pytest.fixture
def workers(dev_server: WorkflowEnvironment, database: str, tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.stop()


async def test_worker_killed_mid_case_the_case_completes_once(
    dev_server: WorkflowEnvironment, database: str, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    client: Client = dev_server.client
    address = client.service_client.config.target_host
    task_queue = f"crash-{uuid.uuid4()}"
    spawn = lambda: WorkerProcess(address, task_queue, database, tmp_path / "worker.log")  # noqa: E731

    workers.append(spawn())
    nid = new_national_id()
    workflow_id = f"crash-{uuid.uuid4()}"
    handle = await client.start_workflow(
        "TradeOrder",
        await signed_start(workflow_id, "TradeOrder", {"applicant": {"national_id": nid, "full_name": "کاوه"}}),
        id=workflow_id,
        task_queue=task_queue,
    )
    case = TradeCase(handle, nid)
    for name, fields in trade_order_sections(date.today()).items():
        await case.send(name, **fields)
    await case.send("submit")
    await case.send("inquire_rules")

    # First crash: between two steps of the case.
    workers[-1].kill()
    workers.append(spawn())
    status = await case.send("request_permits")
    for org in status["permits"]:
        await update(handle, "decide_permit", actor=actor("licensing_org", org), approve=True)
    status = await case.send("request_registration")
    assert status["state"] == "AwaitingFee"

    # Second crash: while the fee payment is being applied (update accepted, activities under way).
    pay = await handle.start_update(
        "pay_fee",
        await signed(
            handle,
            "pay_fee",
            {"actor": actor("bank", "mellat"), "payment_ref": f"P-{handle.id}", "amount_rial": status["fee_rial"]},
        ),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    workers[-1].kill()
    workers.append(spawn())
    status = await pay.result()
    assert status["state"] == "Registered"
    result = await handle.result()

    with session_scope() as session:
        numbers = session.scalars(select(OrderNumber.order_number).where(OrderNumber.workflow_id == handle.id)).all()
        assert numbers == [result["order_number"]]
        assert session.scalar(select(func.count()).select_from(Payment).where(Payment.workflow_id == handle.id)) == 1
        seqs = session.scalars(select(AuditEntry.seq).where(AuditEntry.workflow_id == handle.id).order_by(AuditEntry.seq)).all()
        assert seqs == list(range(1, len(result["history"]) + 1))
    described = await handle.describe()
    assert described.search_attributes["CaseState"] == ["Registered"]
