"""ImportPurchase withdrawal (seed 000): SMS code, attempts, expiry, penalties, reinstatement."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import uuid
from datetime import UTC, timedelta

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from registry.db import session_scope
from registry.models import Allocation, EscrowDeposit, SchemeRegistration
from tests.helpers import actor, rejected, signed, update
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    BASE_PRICE,
    DEPOSIT,
    PRE_CUSTOMS,
    STAGE2,
    allocate,
    begin,
    close_cases,
    env,
    instant,
    last_code,
    outbox,
    release_deadline,
    to_state,
    wait_for,
    worker,
)


async def wrong_code(handle, nid: str, code: str) -> str:
    try:
        await handle.execute_update(
            "withdraw", await signed(handle, "withdraw", {"actor": actor("applicant", nid), "code": code})
        )
    except WorkflowUpdateFailedError as err:
        assert err.cause is not None
        return err.cause.message
    raise AssertionError("a wrong code was accepted")


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_withdrawal_before_the_contract_is_free_and_can_be_reinstated(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    assert "request a withdrawal code first" in await rejected(handle, "withdraw", actor=me, code="123456")

    status = await update(handle, "request_withdrawal_code", actor=me)
    code = last_code(handle.id)
    assert len(code) == policy.WITHDRAWAL_CODE_DIGITS and code.isdigit()
    sms = outbox(handle.id, "sms_code")[-1]
    assert sms.to == nid and code in sms.text
    # The code is only in the outbox: neither in the status nor in the event history.
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
    # Free before the contract: the deposit, stage 1, is all there is to give back.
    assert status["withdrawal_penalty_rial"] == 0 and status["refund_rial"] == DEPOSIT
    assert status["reinstatement_until"]
    status = await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    assert status["deposit_release_deadline"]
    assert status["allowed"] == ["reinstate", "abort"]
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
    assert events[-2:] == ["settled", "reinstatement_expired"] or events[-2:] == [
        "reinstatement_expired",
        "settled",
    ]
    assert events.count("withdraw") == 2 and events.count("reinstate") == 1


async def test_withdrawal_after_the_contract_costs_five_percent(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    await to_state(handle, env, nid, "Contracted")
    await update(handle, "request_withdrawal_code", actor=me)
    status = await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    penalty = BASE_PRICE * 5 // 100
    assert status["state"] == "Withdrawn"
    assert status["withdrawal_penalty_rial"] == penalty
    # Stages 1 (the deposit) and 2 back, less the 5% the importer gets.
    assert status["refund_rial"] == DEPOSIT + STAGE2 - penalty == BASE_PRICE + PRE_CUSTOMS - penalty
    with session_scope() as session:
        assert not session.get(Allocation, handle.id).active
    status = await wait_for(handle, lambda s: s["refunded_at"] is not None)
    assert status["penalty_to_importer_rial"] == penalty
    with session_scope() as session:
        row = session.get(EscrowDeposit, handle.id)
        assert (row.status, row.refund_rial, row.penalty_to_importer_rial) == (
            "released",
            BASE_PRICE + PRE_CUSTOMS - penalty,
            penalty,
        )

    # Money beyond the deposit went back: a reinstatement cannot take it back, so none is offered.
    assert status["reinstatement_until"] is None and "reinstate" not in status["allowed"]
    await handle.result()  # the case ends once settled


async def test_reinstatement_returns_to_the_state_withdrawn_from(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    offering = f"offer-{uuid.uuid4().hex[:8]}"
    await to_state(handle, env, nid, "Allocated", offering=offering)
    await update(handle, "request_withdrawal_code", actor=me)
    await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    status = await update(handle, "reinstate", actor=actor("operator", "op-1"))
    assert status["state"] == "Allocated"
    assert status["withdrawal_penalty_rial"] == 0 and status["refund_rial"] == 0
    with session_scope() as session:
        assert session.get(Allocation, handle.id).active
        assert session.get(EscrowDeposit, handle.id).status == "blocked"

    # Withdrawn again, and the freed car goes to someone else: the withdrawal can no longer be undone.
    await update(handle, "request_withdrawal_code", actor=me)
    await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    other, _ = await begin(client, worker)
    await allocate(other, env, offering=offering)
    message = await rejected(handle, "reinstate", actor=actor("operator", "op-1"))
    assert "given to another buyer" in message


async def test_a_code_expires_and_is_burnt_after_too_many_wrong_attempts(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
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
    first, second = outbox(handle.id, "sms_code")
    # The expired code is no longer kept in clear; the fresh one is, while it may be used.
    assert first.code is None and code not in first.text and second.code == fresh
    for _ in range(policy.WITHDRAWAL_CODE_MAX_ATTEMPTS):
        message = await wrong_code(handle, nid, other_than(fresh))
    assert "no attempts left" in message
    assert all(r.code is None and fresh not in r.text for r in outbox(handle.id, "sms_code"))  # voided: erased
    assert "request a withdrawal code first" in await rejected(handle, "withdraw", actor=me, code=fresh)
    assert (await handle.query("status"))["state"] == "Eligible"


def _texts(node: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """Every string in a history's JSON, payloads decoded, with the keys leading to it."""
    found: list[tuple[tuple[str, ...], str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = base64.b64decode(value, validate=True).decode("utf-8", "replace")
            found += _texts(value, path + (key,))
    elif isinstance(node, list):
        for item in node:
            found += _texts(item, path)
    elif isinstance(node, str):
        found.append((path, node))
    return found


def _event_texts(history: dict) -> list[tuple[str, tuple[str, ...], str]]:
    """``(what the event is, keys, string)`` for every string of every event."""
    out = []
    for event in history["events"]:
        attributes = next(k for k in event if k.endswith("EventAttributes"))
        name = attributes
        if attributes == "workflowExecutionUpdateAcceptedEventAttributes":
            name += ":" + event[attributes]["acceptedRequest"]["input"]["name"]
        if attributes == "activityTaskScheduledEventAttributes":
            name += ":" + event[attributes]["activityType"]["name"]
        out += [(name, path, text) for path, text in _texts(event[attributes])]
    return out


SHA256ISH = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


async def test_neither_the_code_nor_any_hash_of_it_is_in_status_or_history(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    status = await update(handle, "request_withdrawal_code", actor=me)
    code = last_code(handle.id)
    before = await handle.query("status")
    message = await wrong_code(handle, nid, other_than(code))
    assert f"{policy.WITHDRAWAL_CODE_MAX_ATTEMPTS - 1} attempt(s) left" in message
    after = await handle.query("status")
    assert (
        after["history"] == before["history"]
        and after["withdrawal_code_attempts_left"] == policy.WITHDRAWAL_CODE_MAX_ATTEMPTS - 1
    )
    digests = {getattr(hashlib, name)(code.encode()).hexdigest() for name in ("md5", "sha1", "sha256", "sha512")}
    for shown in (status, after):
        text = json.dumps(shown, ensure_ascii=False)
        assert code not in text and not SHA256ISH.search(text) and not any(d in text for d in digests)

    # Up to here nobody has sent the right code: it is nowhere in history.
    texts = _event_texts((await handle.fetch_history()).to_json_dict())
    assert not [t for t in texts if code in t[2]]
    # Nor is any digest: no sha256-like value (the old design's digest came back from an activity).
    assert not [t for t in texts if SHA256ISH.search(t[2]) or any(d in t[2] for d in digests)]

    status = await update(handle, "withdraw", actor=me, code=code)
    assert status["state"] == "Withdrawn"
    texts = _event_texts((await handle.fetch_history()).to_json_dict())
    # The code the client sent travels in its update's input and the checking activity's input,
    # both encrypted by the payload codec: the raw history holds it nowhere in clear.
    where = {t[0] for t in texts if code in t[2]}
    assert where == set(), where
    # The used code is kept nowhere in clear in the outbox either (the SMS gateway sent it).
    rows = outbox(handle.id, "sms_code")
    assert rows and all(r.code is None and code not in r.text for r in rows)
    assert not [t for t in texts if SHA256ISH.search(t[2]) or any(d in t[2] for d in digests)]
    assert code not in json.dumps(status, ensure_ascii=False)


async def test_the_deposit_release_is_stamped_with_the_workflow_time(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    await update(handle, "request_withdrawal_code", actor=me)
    await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    status = await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    left = [h for h in status["history"] if h["event"] == "withdraw"][-1]["at"]
    assert status["withdrawn_at"] == left
    # The workflow's clock once its deadline activity answered (the test server's clock runs years
    # ahead of the wall clock: an activity's own clock would show).
    released_at = instant(status["deposit_released_at"])
    assert timedelta(0) <= released_at - instant(left) < timedelta(minutes=1)
    assert instant(status["deposit_release_deadline"]) == release_deadline(instant(left))
    with session_scope() as session:
        released = session.get(EscrowDeposit, handle.id).released_at
    assert released.replace(tzinfo=released.tzinfo or UTC) == released_at
