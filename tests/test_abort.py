"""An operator aborts a case: the registry holds are released, audited, and the case ends."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.helpers import actor, audit_rows, rejected, update
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    begin,
    close_cases,
    env,
    outbox,
    to_state,
    worker,
)
from tests.test_reconciliation import holds
from tests.trade_order_support import open_file

OPERATOR = actor("operator", "op-42")


async def ended(handle: WorkflowHandle) -> dict:
    await handle.result()
    return await handle.query("status")


async def test_aborting_a_purchase_awaiting_delivery_releases_everything_it_holds(
    env: WorkflowEnvironment, worker: Worker
) -> None:
    handle, nid = await begin(env.client, worker)
    await to_state(handle, env, nid, "AwaitingDelivery")
    assert holds(handle.id) == (True, True, "blocked")

    assert "role 'applicant' may not" in await rejected(handle, "abort", actor=actor("applicant", nid), reason="changed my mind")
    assert "reason" in await rejected(handle, "abort", actor=OPERATOR)
    assert "reason" in await rejected(handle, "abort", actor=OPERATOR, reason="   ")

    status = await update(handle, "abort", actor=OPERATOR, reason="importer went bankrupt; case closed by ruling 1405/118")
    assert status["state"] == "Aborted" and status["allowed"] == []
    last = status["history"][-1]
    assert (last["event"], last["to"], last["actor"]["role"], last["actor"]["id"]) == ("abort", "Aborted", "operator", "op-42")
    assert last["reason"].startswith("importer went bankrupt") and last["released"] == ["registration", "allocation", "deposit"]
    await ended(handle)

    assert holds(handle.id) == (False, False, "released")
    rows = audit_rows(handle.id)
    repair = [r for r in rows if r.event == "reconciled"]
    assert len(repair) == 1 and repair[0].actor_id == "op-42" and repair[0].from_state == "registration+allocation+deposit"
    aborted = [r for r in rows if r.event == "abort"]
    assert len(aborted) == 1 and (aborted[0].actor_role, aborted[0].actor_id, aborted[0].to_state) == (
        "operator",
        "op-42",
        "Aborted",
    )
    assert any(m.kind == "notice" and m.to == nid for m in outbox(handle.id))  # the refund notice

    # The person is free to register again.
    again, _ = await begin(env.client, worker, nid)
    assert (await again.query("status"))["state"] in ("Registered", "Eligible")


async def test_a_trade_order_draft_can_be_aborted_and_its_case_closes(client: Client, worker: Worker) -> None:
    case = await open_file(client, worker)
    status = await update(case.handle, "abort", actor=OPERATOR, reason="duplicate file opened by mistake")
    assert status["state"] == "Aborted" and status["history"][-1]["released"] == []
    assert (await ended(case.handle))["state"] == "Aborted"  # the workflow is closed: no command reaches it
    assert [r.event for r in audit_rows(case.handle.id)] == [
        "reconciled",
        "abort",
    ]  # the operator's release row (seq -1), then the transition
