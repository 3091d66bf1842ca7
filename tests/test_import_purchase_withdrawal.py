"""ImportPurchase withdrawal (seed 000): SMS code, attempts, expiry, penalties, reinstatement."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from registry.db import session_scope
from registry.models import Allocation, EscrowDeposit, SchemeRegistration
from tests.helpers import actor, rejected, update
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    BASE_PRICE,
    PRE_CUSTOMS,
    allocate,
    begin,
    close_cases,
    env,
    worker,
    last_code,
    outbox,
    to_state,
    wait_for,
)


async def wrong_code(handle, nid: str, code: str) -> str:
    try:
        await handle.execute_update("withdraw", {"actor": actor("applicant", nid), "code": code})
    except WorkflowUpdateFailedError as err:
        assert err.cause is not None
        return err.cause.message
    raise AssertionError("a wrong code was accepted")


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_withdrawal_before_the_contract_is_free_and_can_be_reinstated(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    assert "request a withdrawal code first" in await rejected(handle, "withdraw", actor=me, code="123456")

    status = await update(handle, "request_withdrawal_code", actor=me)
    code = last_code(handle.id)
    assert len(code) == policy.WITHDRAWAL_CODE_DIGITS and code.isdigit()
    sms = outbox(handle.id, "sms_code")[-1]
    assert sms.to == nid and code in sms.text
    # The workflow keeps only a digest: the code is in neither the status nor the event history.
    assert code not in json.dumps(status, ensure_ascii=False)
    history = await handle.fetch_history()
    assert code not in json.dumps(history.to_json_dict())
    assert status["withdrawal_code_attempts_left"] == policy.WITHDRAWAL_CODE_MAX_ATTEMPTS

    message = await wrong_code(handle, nid, other_than(code))
    assert "wrong code" in message and f"{policy.WITHDRAWAL_CODE_MAX_ATTEMPTS - 1} attempt" in message
    status = await handle.query("status")
    assert status["state"] == "Eligible" and status["withdrawal_code_attempts_left"] == policy.WITHDRAWAL_CODE_MAX_ATTEMPTS - 1

    status = await update(handle, "withdraw", actor=me, code=code)
    assert status["state"] == "Withdrawn"
    assert status["withdrawal_penalty_rial"] == 0 and status["refund_rial"] == 0
    assert status["deposit_release_deadline"] and status["reinstatement_until"]
    status = await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    assert status["allowed"] == ["reinstate"]
    with session_scope() as session:
        assert session.get(EscrowDeposit, handle.id).status == "released"
        assert not session.get(SchemeRegistration, handle.id).open

    assert "role 'applicant' may not" in await rejected(handle, "reinstate", actor=me)
    status = await update(handle, "reinstate", actor=actor("operator", "op-1"))
    assert status["state"] == "Eligible"
    assert status["deposit_released_at"] is None and status["deposit_release_deadline"] is None
    with session_scope() as session:
        assert session.get(EscrowDeposit, handle.id).status == "blocked"
        assert session.get(SchemeRegistration, handle.id).open

    # Withdraw again and let the reinstatement window pass: the case ends.
    await update(handle, "request_withdrawal_code", actor=me)
    await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    await env.sleep(policy.REINSTATEMENT_WINDOW + timedelta(hours=1))
    final = await handle.result()
    assert final["state"] == "Withdrawn" and final["deposit_released_at"]
    events = [h["event"] for h in final["history"]]
    assert events[-2:] == ["deposit_released", "reinstatement_expired"] or events[-2:] == ["reinstatement_expired", "deposit_released"]
    assert events.count("withdraw") == 2 and events.count("reinstate") == 1


async def test_withdrawal_after_the_contract_costs_five_percent(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    offering = f"offer-{uuid.uuid4().hex[:8]}"
    await to_state(handle, env, nid, "Contracted", offering=offering)
    await update(handle, "request_withdrawal_code", actor=me)
    status = await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    penalty = BASE_PRICE * 5 // 100
    assert status["state"] == "Withdrawn"
    assert status["withdrawal_penalty_rial"] == penalty
    assert status["refund_rial"] == BASE_PRICE + PRE_CUSTOMS - penalty
    with session_scope() as session:
        assert not session.get(Allocation, handle.id).active
    await wait_for(handle, lambda s: s["deposit_released_at"] is not None)

    # The freed car goes to someone else: the mistaken withdrawal can no longer be undone.
    other, _ = await begin(client, worker)
    await allocate(other, env, offering=offering)
    message = await rejected(handle, "reinstate", actor=actor("operator", "op-1"))
    assert "given to another buyer" in message


async def test_reinstatement_returns_to_the_state_withdrawn_from(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    await to_state(handle, env, nid, "AtCustoms")
    await update(handle, "request_withdrawal_code", actor=me)
    await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    status = await update(handle, "reinstate", actor=actor("operator", "op-1"))
    assert status["state"] == "AtCustoms"
    assert status["withdrawal_penalty_rial"] == 0 and status["refund_rial"] == 0
    assert status["paid_rial"]["2"] == BASE_PRICE + PRE_CUSTOMS
    with session_scope() as session:
        assert session.get(Allocation, handle.id).active
        assert session.get(EscrowDeposit, handle.id).status == "blocked"


async def test_a_code_expires_and_is_burnt_after_too_many_wrong_attempts(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    await update(handle, "request_withdrawal_code", actor=me)
    code = last_code(handle.id)
    await env.sleep(policy.WITHDRAWAL_CODE_TTL + timedelta(seconds=5))
    status = await handle.query("status")
    assert status["history"][-1]["event"] == "withdrawal_code_expired"
    assert "withdraw" not in status["allowed"]
    assert "request a withdrawal code first" in await rejected(handle, "withdraw", actor=me, code=code)

    await update(handle, "request_withdrawal_code", actor=me)
    fresh = last_code(handle.id)
    assert len(outbox(handle.id, "sms_code")) == 2
    for attempt in range(policy.WITHDRAWAL_CODE_MAX_ATTEMPTS):
        message = await wrong_code(handle, nid, other_than(fresh))
    assert "no attempts left" in message
    assert "request a withdrawal code first" in await rejected(handle, "withdraw", actor=me, code=fresh)
    assert (await handle.query("status"))["state"] == "Eligible"
