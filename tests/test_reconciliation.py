"""Repairing the registry holds of cases that ended abnormally (time-skipping server, dev server).

A terminated ImportPurchase keeps its open registration (its applicant is locked out of every
scheme), its allocation and its blocked deposit; the reconciliation releases them, audited, once.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.repair import MISSING_STEP, SYSTEM_ACTOR, CaseRelease, release_case_holds
from domain import policy
from registry.db import session_scope
from registry.models import Allocation, AuditEntry, EscrowDeposit, OutboxMessage, SchemeRegistration
from settings import PROJECT_ROOT
from tests.dev_server import dev_server  # noqa: F401 - a fixture
from tests.helpers import actor, audit_rows, new_national_id, update
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    IMPORTER,
    _settled,
    allocate,
    begin,
    close_cases,
    env,
    new_vin,
    to_state,
    worker,
)
from workflows.reconciliation import SCHEDULE_ID, ReconciliationInput, ReconciliationWorkflow

ALL_HOLDS = "registration+allocation+deposit"


async def reconcile(client: Client, task_queue: str, chunk_rows: int = 50) -> dict[str, Any]:
    """One reconciliation run, started directly (the time-skipping server has no schedules). It
    reads every case holding rows in the session's registry, hundreds once the suite's other
    modules ran (each a lookup on this server): chunks of 50 still make several pages then,
    where chunks of 2 took minutes."""
    return await client.execute_workflow(
        ReconciliationWorkflow.run,
        ReconciliationInput(chunk_rows=chunk_rows),
        id=f"reconciliation-{uuid.uuid4()}",
        task_queue=task_queue,
    )


async def terminate(handle: WorkflowHandle) -> None:
    await _settled(handle)  # the test server keeps time locked for work terminated under it
    await handle.terminate("stuck")


def holds(workflow_id: str) -> tuple[bool | None, bool | None, str | None]:
    """(registration open, allocation active, deposit status) of one case."""
    with session_scope() as session:
        registration = session.get(SchemeRegistration, workflow_id)
        allocation = session.get(Allocation, workflow_id)
        deposit = session.get(EscrowDeposit, workflow_id)
        return (
            registration.open if registration else None,
            allocation.active if allocation else None,
            deposit.status if deposit else None,
        )


def repairs(workflow_id: str) -> list[AuditEntry]:
    with session_scope() as session:
        query = select(AuditEntry).where(AuditEntry.workflow_id == workflow_id, AuditEntry.event == "reconciled")
        return list(session.scalars(query))


def messages(workflow_id: str, step_prefix: str) -> list[OutboxMessage]:
    with session_scope() as session:
        query = select(OutboxMessage).where(OutboxMessage.workflow_id == workflow_id, OutboxMessage.step.startswith(step_prefix))
        return list(session.scalars(query))


def repair_footprint() -> tuple[int, int, int, int]:
    """Every row a repair or an alert writes, and the holds left: what a second run must not change."""
    written = OutboxMessage.step.like("reconciliation-%") | OutboxMessage.step.like("holds-released%")
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.event == "reconciled")) or 0,
            session.scalar(select(func.count()).select_from(OutboxMessage).where(written)) or 0,
            session.scalar(select(func.count()).select_from(EscrowDeposit).where(EscrowDeposit.status == "blocked")) or 0,
            session.scalar(select(func.count()).select_from(SchemeRegistration).where(SchemeRegistration.open.is_(True))) or 0,
        )


async def test_terminated_case_is_released_once_and_its_applicant_may_register_again(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    await to_state(handle, env, nid, "AwaitingDelivery")
    await terminate(handle)
    assert holds(handle.id) == (True, True, "blocked")

    # Measured on main: nothing releases them, so the applicant is locked out of every scheme.
    locked_out, _ = await begin(client, worker, nid)
    assert (await locked_out.query("status"))["state"] == "Ineligible"
    await locked_out.result()  # its own deposit released: nothing of it moves under the runs below

    totals = await reconcile(client, worker.task_queue)
    assert totals["repaired"] >= 1 and totals["scanned"] >= 1

    assert holds(handle.id) == (False, False, "released")
    with session_scope() as session:
        deposit = session.get(EscrowDeposit, handle.id)
        allocation = session.get(Allocation, handle.id)
        assert deposit.released_at is not None and allocation.released_at == deposit.released_at
    [audit] = repairs(handle.id)
    assert (audit.seq, audit.workflow_type, audit.actor_role, audit.actor_id) == (-1, "ImportPurchase", "system", SYSTEM_ACTOR)
    assert (audit.from_state, audit.to_state) == (ALL_HOLDS, "terminated")
    [alert] = messages(handle.id, "reconciliation-repaired")
    assert (alert.to, alert.kind) == ("operator", "alert")
    assert nid not in alert.text and handle.id in alert.text
    [notice] = messages(handle.id, "holds-released")
    assert (notice.to, notice.kind) == (nid, "notice")

    # A second run finds nothing to release and writes nothing.
    before = repair_footprint()
    again = await reconcile(client, worker.task_queue)
    assert again["repaired"] == 0
    assert repair_footprint() == before
    assert len(repairs(handle.id)) == 1

    # The same person passes registration again.
    fresh, _ = await begin(client, worker, nid)
    assert (await fresh.query("status"))["state"] == "Eligible"


async def test_running_case_is_never_touched(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    handle, _ = await begin(client, worker)
    await allocate(handle, env)
    await reconcile(client, worker.task_queue)
    assert holds(handle.id) == (True, True, "blocked")
    assert repairs(handle.id) == [] and messages(handle.id, "reconciliation-") == []


async def test_delivered_case_keeps_its_car(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    """A Delivered case's allocation is the buyer's car: only its deposit is a hold. (Its run ends
    once the deposit is released; the ledger is put back to "blocked" to stand for a case
    terminated between delivery and release.)"""
    handle, nid = await begin(client, worker)
    await to_state(handle, env, nid, "AwaitingDelivery")
    await update(handle, "deliver", actor=actor("importer", IMPORTER), vin=new_vin())
    await handle.result()
    with session_scope() as session:
        deposit = session.get(EscrowDeposit, handle.id)
        deposit.status, deposit.released_at = "blocked", None
    assert holds(handle.id) == (False, True, "blocked")

    await reconcile(client, worker.task_queue)
    assert holds(handle.id) == (False, True, "released")
    [audit] = repairs(handle.id)
    assert (audit.from_state, audit.to_state) == ("deposit", "completed")


async def test_case_temporal_does_not_know_is_alerted_not_released(client: Client, worker: Worker) -> None:
    workflow_id, nid = f"purchase-{uuid.uuid4()}", new_national_id()
    at = datetime.now(UTC)
    with session_scope() as session:
        session.add(
            SchemeRegistration(
                workflow_id=workflow_id, scheme_id="import-cars-1401", national_id=nid, open=True, registered_at=at
            )
        )
        session.add(
            EscrowDeposit(
                workflow_id=workflow_id,
                national_id=nid,
                bank="mellat",
                account="ESC-1",
                amount_rial=policy.ESCROW_DEPOSIT_RIAL,
                status="blocked",
                blocked_at=at,
            )
        )
    for _ in range(2):
        await reconcile(client, worker.task_queue)
        assert holds(workflow_id) == (True, None, "blocked")
        assert repairs(workflow_id) == []
        [alert] = messages(workflow_id, MISSING_STEP)
        assert (alert.to, alert.kind) == ("operator", "alert")


async def test_operator_release_is_audited_once_across_retries(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    """``release_case_holds`` (an operator's abort): a retry with the same ``at`` writes nothing again
    and answers the same; its seq never meets the case's own transitions (1, 2, ...)."""
    handle, nid = await begin(client, worker)
    await allocate(handle, env)
    await terminate(handle)
    release = CaseRelease(handle.id, "operator_abort", await env.get_current_time(), "operator", "op-9")

    first = release_case_holds(release)
    assert first == {
        "released": ["registration", "allocation", "deposit"],
        "registration": 1,
        "allocation": 1,
        "deposit": 1,
        "request": 0,
    }
    assert release_case_holds(release) == first
    [audit] = repairs(handle.id)
    assert (audit.seq, audit.actor_role, audit.actor_id, audit.to_state) == (-1, "operator", "op-9", "operator_abort")
    assert len(messages(handle.id, "holds-released")) == 1
    assert messages(handle.id, "reconciliation-") == []  # the operator knows: no alert

    # Another abort later holds nothing but is still the operator's act on record, below the last.
    later = release_case_holds(CaseRelease(handle.id, "operator_abort", release.at + timedelta(minutes=1), "operator", "op-9"))
    assert later["released"] == []
    assert sorted(a.seq for a in repairs(handle.id)) == [-2, -1]
    with session_scope() as session:
        query = select(AuditEntry.seq).where(AuditEntry.workflow_id == handle.id, AuditEntry.event != "reconciled")
        own = session.scalars(query).all()
    assert sorted(own) == list(range(1, len(own) + 1))


async def test_a_terminated_domestic_order_leaves_its_stages_list(client: Client, worker: Worker) -> None:
    """The scan finds a closed DomesticOrder's order on the list and its blocked deposit: the
    order is taken off the list (its turn given to no one), the registration closed, the deposit freed."""
    from registry.domestic_models import DomesticOrder
    from tests.test_domestic_order import new_order, new_scheme

    _, scheme_id = await new_scheme(client, worker)
    handle, _, status = await new_order(client, worker, scheme_id)
    assert status["state"] == "Ordered"
    await terminate(handle)
    assert holds(handle.id) == (True, None, "blocked")

    await reconcile(client, worker.task_queue)
    assert holds(handle.id) == (False, None, "released")
    with session_scope() as session:
        order = session.get(DomesticOrder, handle.id)
        assert order is not None and (order.status, order.turn) == ("aborted", status["turn"])
    [audit] = repairs(handle.id)
    assert (audit.workflow_type, audit.from_state) == ("DomesticOrder", "registration+deposit")


async def test_a_place_in_an_import_round_alone_is_found_and_released(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    """A closed purchase whose scheme-wide registration is already closed still holds its place in
    the round (a rank holder may not register for domestic cars): the scan finds that row too."""
    from registry.scheme_models import SchemeApplicant

    handle, _ = await begin(client, worker)
    await terminate(handle)
    with session_scope() as session:
        registration = session.get(SchemeRegistration, handle.id)
        assert registration is not None
        registration.open = False
        deposit = session.get(EscrowDeposit, handle.id)
        assert deposit is not None
        deposit.status = "released"

    await reconcile(client, worker.task_queue)
    with session_scope() as session:
        place = session.scalar(select(SchemeApplicant).where(SchemeApplicant.workflow_id == handle.id))
        assert place is not None and place.status == "withdrawn"
    [audit] = repairs(handle.id)
    assert audit.from_state == "registration"


async def test_a_terminated_fuel_card_request_no_longer_bars_its_vehicle(client: Client, worker: Worker) -> None:
    """A FuelCard case holds its vehicle's one open request; terminated, it would bar every later
    request for the car. The reconciliation closes the request, and a new one is accepted."""
    from registry.fuel_models import FuelCardRequest
    from tests.test_fuel_card import request, request_input, settled, this_year, vehicle

    vin, owner, plate, _ = vehicle(year=await this_year())
    stuck = await request(client, worker, request_input(vin, owner, plate))
    assert (await settled(stuck))["state"] == "Issuing"
    await terminate(stuck)
    barred = await request(client, worker, request_input(vin, owner, plate))
    assert (await settled(barred))["state"] == "Rejected"

    await reconcile(client, worker.task_queue)
    with session_scope() as session:
        row = session.get(FuelCardRequest, stuck.id)
        assert row is not None and (row.open, row.state) == (False, "Aborted")
    [audit] = repairs(stuck.id)
    assert (audit.workflow_type, audit.from_state) == ("FuelCard", "request")
    again = await request(client, worker, request_input(vin, owner, plate))
    assert (await settled(again))["state"] == "Issuing"


async def _wait_closed(client: Client, workflow_id: str) -> None:
    """Until the dev server's visibility lists the case as closed."""
    for _ in range(100):
        runs = [w.status async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        if runs and WorkflowExecutionStatus.RUNNING not in runs:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} is not listed as closed")


async def test_dev_server_list_query_and_setup_schedule(dev_server: WorkflowEnvironment, database: str) -> None:  # noqa: F811
    """On a real dev server: the visibility list query decides, and ``worker.py --setup`` creates the
    schedule (a second run does not fail and keeps an operator's pause)."""
    from worker import build_worker

    client = dev_server.client
    async with build_worker(client, f"tq-{uuid.uuid4()}") as w:
        stopped, _ = await begin(client, w)
        running, _ = await begin(client, w)
        await stopped.terminate("stuck")
        await _wait_closed(client, stopped.id)
        await reconcile(client, w.task_queue, chunk_rows=500)
        assert holds(stopped.id) == (False, None, "released")
        assert holds(running.id) == (True, None, "blocked")
        assert [a.to_state for a in repairs(stopped.id)] == ["terminated"]
        await running.terminate("test over")

    address = client.service_client.config.target_host
    for paused in (False, True):
        if paused:  # an operator paused it: a later deploy keeps it paused
            await client.get_schedule_handle(SCHEDULE_ID).pause()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "worker.py",
            "--setup",
            cwd=PROJECT_ROOT,
            env={**os.environ, "TEMPORAL_ADDRESS": address},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, output.decode()
    described = await client.get_schedule_handle(SCHEDULE_ID).describe()
    assert described.schedule.state.paused
    assert [i.every for i in described.schedule.spec.intervals] == [policy.RECONCILIATION_INTERVAL]
    assert described.schedule.action.workflow == "Reconciliation"  # type: ignore[union-attr]
    await client.get_schedule_handle(SCHEDULE_ID).delete()


async def test_dev_server_writes_the_audit_rows_a_terminated_case_left_waiting(
    dev_server: WorkflowEnvironment,  # noqa: F811
) -> None:
    """A case's draft edits wait to ride with its next activity; terminated by hand, it never had
    one. The reconciliation writes them from the case's history, with a row saying how it closed,
    once."""
    from tests.trade_order_support import open_file
    from worker import build_worker

    client = dev_server.client
    async with build_worker(client, f"tq-{uuid.uuid4()}") as w:
        case = await open_file(client, w)
        for fleet in ("road", "rail", "sea"):
            await case.send("save_transport", fleet=fleet)
        assert [a.seq for a in audit_rows(case.handle.id)] == []
        await case.handle.terminate("stuck")
        await _wait_closed(client, case.handle.id)
        for _ in range(2):  # the second run finds it swept
            totals = await reconcile(client, w.task_queue, chunk_rows=500)
            rows = [(a.seq, a.event, a.to_state, a.actor_role, a.actor_id) for a in audit_rows(case.handle.id)]
            assert rows == [
                (0, "closed", "terminated", "system", SYSTEM_ACTOR),
                *((seq, "save_transport", "Draft", "applicant", case.national_id) for seq in (1, 2, 3)),
            ]
        assert totals["audit_swept"] == 0
