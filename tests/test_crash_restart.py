"""Faults mid-case, several times: the worker killed with SIGKILL, the dev server restarted.

A dev server on its own persistent SQLite file and a worker process, as operators run them.
Three trade orders and a plate numbering are driven step by step; between steps (and once while
a payment is being applied) the worker is killed and a new one started, or the server is stopped
and started again on the same file while the worker keeps running and reconnects. Every case
completes, with one order number, plate and payment each and one audit row per transition.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateStage

import tests.helpers
from demo.samples import trade_order_sections
from lifecycles.plates import RESIDENCE_KINDS
from registry.db import session_scope
from registry.models import AuditEntry, OrderNumber, Payment, PlateRecord
from security.codec import data_converter
from settings import find_binary
from tests.dev_server import WorkerProcess
from tests.helpers import actor, new_national_id, signed, signed_start, update
from tests.plate_support import BANK, OFFICER, QUALIFYING_RESIDENCE, numbering_input, settled
from workflows.common import SEARCH_ATTRIBUTES


class WallClock:
    """What the tokens are minted by on a dev server: the wall clock (as its workflows see it)."""

    async def get_current_time(self) -> datetime:
        return datetime.now(UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevServer:
    """``temporal server start-dev`` on a database file that survives its restarts."""

    def __init__(self, folder: Path) -> None:
        self.port, self.ui_port = free_port(), free_port()
        self.db = folder / "temporal.sqlite"
        self.log = folder / "temporal.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        attributes = [arg for name, kind in SEARCH_ATTRIBUTES.items() for arg in ("--search-attribute", f"{name}={kind}")]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    find_binary("temporal"),
                    "server",
                    "start-dev",
                    "--ip",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--ui-port",
                    str(self.ui_port),
                    "--headless",
                    "--db-filename",
                    str(self.db),
                    "--log-level",
                    "error",
                    *attributes,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        for _ in range(200):
            try:
                client = await Client.connect(self.address, data_converter=data_converter())
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                return
            except Exception:  # noqa: BLE001 - not up yet
                await asyncio.sleep(0.1)
        raise AssertionError(f"the dev server did not come up; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    async def restart(self) -> None:
        self.stop()
        await self.start()


@pytest.fixture
async def server(tmp_path: Path, database: str) -> AsyncIterator[DevServer]:
    dev = DevServer(tmp_path)
    await dev.start()
    session_clock, tests.helpers.SERVER = tests.helpers.SERVER, WallClock()  # type: ignore[assignment]
    try:
        yield dev
    finally:
        tests.helpers.SERVER = session_clock
        dev.stop()


async def retrying(step: Callable[[], Awaitable[Any]]) -> Any:
    """A client call across a server restart: the server may still be coming back."""
    for attempt in range(100):
        try:
            return await step()
        except Exception:  # noqa: BLE001 - unavailable while restarting
            if attempt == 99:
                raise
            await asyncio.sleep(0.2)


async def test_kills_and_server_restarts_mid_case_every_case_completes_once(
    server: DevServer, database: str, tmp_path: Path
) -> None:
    task_queue = f"faults-{uuid.uuid4()}"
    workers = [WorkerProcess(server.address, task_queue, database, tmp_path / "worker.log")]
    client = await Client.connect(server.address, data_converter=data_converter())

    async def start(workflow: str, input: dict[str, Any], by: dict[str, str] | None = None) -> WorkflowHandle:
        workflow_id = f"faults-{workflow.lower()}-{uuid.uuid4()}"
        return await client.start_workflow(
            workflow, await signed_start(workflow_id, workflow, input, by), id=workflow_id, task_queue=task_queue
        )

    def kill_worker() -> None:
        workers[-1].kill()
        workers.append(WorkerProcess(server.address, task_queue, database, tmp_path / "worker.log"))

    try:
        orders = []
        for _ in range(3):
            nid = new_national_id()
            orders.append(
                (await start("TradeOrder", {"applicant": {"national_id": nid, "full_name": "کاوه"}}), actor("applicant", nid))
            )
        plate_input = numbering_input(year=date.today().year)
        plate = await start("VehicleNumbering", plate_input)
        owner = actor("applicant", plate_input["owner"]["national_id"])

        for handle, me in orders:
            for name, fields in trade_order_sections(date.today()).items():
                await update(handle, name, actor=me, **fields)
        kill_worker()  # 1: between steps
        for handle, me in orders:
            # A query first goes to the killed worker's sticky queue and may time out: wait until
            # the new worker answers (read-only), then send the command once.
            await retrying(lambda h=handle: h.query("status"))
            await update(handle, "submit", actor=me)
        await server.restart()  # 2: the server goes away under a running worker
        for handle, me in orders:
            await retrying(lambda h=handle, m=me: update(h, "inquire_rules", actor=m))
        status = await retrying(lambda: settled(plate))
        for kind in [k for k in status["missing"] if k in status["checklist"]]:
            proof: dict[str, Any] = {"residence": QUALIFYING_RESIDENCE} if kind in RESIDENCE_KINDS else {}
            by = OFFICER if kind in RESIDENCE_KINDS else owner  # the officer files a proof of residence
            await update(plate, "submit_document", actor=by, kind=kind, reference=f"doc-{kind}", **proof)
        kill_worker()  # 3
        await server.restart()  # 4: both at once
        for handle, me in orders:
            status = await retrying(lambda h=handle, m=me: update(h, "request_permits", actor=m))
            for org in status["permits"]:
                await update(handle, "decide_permit", actor=actor("licensing_org", org), approve=True)
            status = await update(handle, "request_registration", actor=me)
            assert status["state"] == "AwaitingFee", status
        status = await update(plate, "inspect", actor=OFFICER, passed=True)

        # 5: the worker dies while payments are being applied (accepted, activities under way).
        payments = [
            await handle.start_update(
                "pay_fee",
                await signed(
                    handle,
                    "pay_fee",
                    {
                        "actor": actor("bank", "mellat"),
                        "payment_ref": f"P-{handle.id}",
                        "amount_rial": (await handle.query("status"))["fee_rial"],
                    },
                ),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
            for handle, _ in orders
        ]
        paying_plate = await plate.start_update(
            "pay_plate_fee",
            await signed(
                plate, "pay_plate_fee", {"actor": BANK, "payment_ref": f"PLT-{plate.id}", "amount_rial": status["fee_rial"]}
            ),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        kill_worker()
        await server.restart()  # 6
        for pending in [*payments, paying_plate]:
            await retrying(pending.result)

        for handle, _ in [*orders, (plate, owner)]:
            result = await retrying(handle.result)
            assert result["state"] in ("Registered", "Numbered"), result
            with session_scope() as session:
                seqs = session.scalars(
                    select(AuditEntry.seq).where(AuditEntry.workflow_id == handle.id).order_by(AuditEntry.seq)
                ).all()
                assert seqs == list(range(1, len(result["history"]) + 1))
                assert session.scalar(select(func.count()).select_from(Payment).where(Payment.workflow_id == handle.id)) == 1
                if result["state"] == "Registered":
                    numbers = session.scalars(select(OrderNumber.order_number).where(OrderNumber.workflow_id == handle.id)).all()
                    assert numbers == [result["order_number"]]
                else:
                    plates = session.scalars(select(PlateRecord).where(PlateRecord.vin == plate_input["vin"])).all()
                    assert len(plates) == 1
    finally:
        for w in workers:
            w.stop()
