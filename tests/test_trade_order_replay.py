"""Replay: the workflow code reproduces the histories of the main paths.

Two kinds of history are replayed:
- fresh ones, run in this test against the current code;
- recorded ones in ``tests/histories/``, written by an earlier version of the code. A change that
  would break cases already running in production (a new activity in an old path, a reordered
  command) fails here. Re-record only for a deliberate, versioned change:
  ``python -m tests.test_trade_order_replay``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, timedelta

from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from security.codec import data_converter
from tests.helpers import actor, new_national_id, signed_start, update
from tests.recorded import recorded, save
from tests.trade_order_support import awaiting_fee, submitted
from worker import build_replayer
from workflows.trade_order import TradeOrderWorkflow
from workflows.trade_order_amendment import TradeOrderAmendmentWorkflow


async def run_main_paths(env: WorkflowEnvironment, client: Client, worker: Worker) -> dict[str, WorkflowHistory]:
    """Registered, fee expired, permits withdrawn, voided, a renewal, an edit asking new permits, and
    a file worked on by a broker whose currency the central bank allocates; their histories by name."""
    registered, status = await awaiting_fee(client, worker)
    await update(
        registered.handle,
        "pay_fee",
        actor=actor("bank", "b"),
        payment_ref=f"P-{registered.handle.id}",
        amount_rial=status["fee_rial"],
    )
    await registered.handle.result()

    expired, _ = await awaiting_fee(client, worker)
    withdrawn = await submitted(client, worker)
    await withdrawn.send("inquire_rules")
    await withdrawn.send("request_permits")
    await withdrawn.send("withdraw_permit_requests")
    await env.sleep(timedelta(days=16))
    assert (await expired.status())["state"] == "New"

    voided = await submitted(client, worker)
    await voided.send("void")
    await voided.handle.result()

    renewal_id = f"amend-{registered.handle.id}"
    renewal = await client.start_workflow(
        "TradeOrderAmendment",
        await signed_start(
            renewal_id, "TradeOrderAmendment", {"order_workflow_id": registered.handle.id, "kind": "renewal"}, registered.me
        ),
        id=renewal_id,
        task_queue=worker.task_queue,
    )
    while not (await renewal.query("status"))["order_number"]:
        await asyncio.sleep(0.05)
    status = await update(renewal, "submit", actor=registered.me)
    await update(renewal, "pay_fee", actor=actor("bank", "b"), payment_ref=f"R-{renewal.id}", amount_rial=status["fee_rial"])
    await renewal.result()

    # An edit whose new goods need permits the registered order did not (G-1003 → G-1004).
    plain, status = await awaiting_fee(client, worker, tariff_code="87038010", goods_id="G-1003")
    await update(
        plain.handle, "pay_fee", actor=actor("bank", "b"), payment_ref=f"P-{plain.handle.id}", amount_rial=status["fee_rial"]
    )
    edit_id = f"amend-{plain.handle.id}"
    edit = await client.start_workflow(
        "TradeOrderAmendment",
        await signed_start(edit_id, "TradeOrderAmendment", {"order_workflow_id": plain.handle.id, "kind": "edit"}, plain.me),
        id=edit_id,
        task_queue=worker.task_queue,
    )
    while not (await edit.query("status"))["order_number"]:
        await asyncio.sleep(0.05)
    goods = (await edit.query("status"))["goods"]
    goods[0].update(tariff_code="87032491", goods_id="G-1004")
    await update(edit, "edit", actor=plain.me, goods=goods)
    status = await update(edit, "submit", actor=plain.me)
    for org in list(status["permits"]):
        status = await update(edit, "decide_permit", actor=actor("licensing_org", org), approve=True)
    await update(edit, "pay_fee", actor=actor("bank", "b"), payment_ref=f"E-{edit.id}", amount_rial=status["fee_rial"])
    await edit.result()

    # A customs broker given access takes the file through (then loses it); the central bank allocates.
    allocated = await submitted(client, worker, overrides={"save_financials": {"currency_source": "bank_system"}})
    broker = actor("applicant", new_national_id())
    await allocated.send("grant_access", grantee_national_id=broker["id"], level="full")
    await update(allocated.handle, "inquire_rules", actor=broker)
    status = await update(allocated.handle, "request_permits", actor=broker)
    for org in list(status["permits"]):
        await update(allocated.handle, "decide_permit", actor=actor("licensing_org", org), approve=True)
    status = await update(allocated.handle, "request_registration", actor=broker)
    await allocated.send("revoke_access", grantee_national_id=broker["id"])
    await update(
        allocated.handle,
        "pay_fee",
        actor=actor("bank", "b"),
        payment_ref=f"P-{allocated.handle.id}",
        amount_rial=status["fee_rial"],
    )
    await update(allocated.handle, "allocate_currency", actor=actor("bank", "CBI"), approve=True, allocation_ref="CBI-1")
    await allocated.handle.result()

    cases = {
        "registered": registered.handle,
        "fee_expired": expired.handle,
        "permits_withdrawn": withdrawn.handle,
        "voided": voided.handle,
        "renewal": renewal,
        "edit_with_permits": edit,
        "broker_and_allocation": allocated.handle,
    }
    return {name: await handle.fetch_history() for name, handle in cases.items()}


async def replay(histories: Iterable[WorkflowHistory]) -> dict[str, BaseException]:
    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    replayer = build_replayer([TradeOrderWorkflow, TradeOrderAmendmentWorkflow])
    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    return results.replay_failures


async def test_main_paths_replay_deterministically(env: WorkflowEnvironment, client: Client, worker: Worker) -> None:
    histories = await run_main_paths(env, client, worker)
    assert all(len(h.events) > 20 for h in histories.values())
    assert await replay(histories.values()) == {}


async def test_recorded_histories_still_replay() -> None:
    assert await replay(recorded("trade_order", expected=7)) == {}


async def _record() -> None:
    import os
    import tempfile
    import uuid
    from datetime import datetime

    from settings import find_binary
    from tests.conftest import EUR_RATE

    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/registry.sqlite3"
    from tests import trust_material

    trust_material.install()
    import tests.helpers
    from registry.db import migrate
    from registry.refdata import DEFAULT_REFDATA, load_refdata_file, set_rate
    from worker import build_worker, ensure_search_attributes

    migrate()
    load_refdata_file(DEFAULT_REFDATA)
    set_rate("EUR", EUR_RATE, datetime(2020, 1, 1, tzinfo=UTC))
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"), data_converter=data_converter()
    ) as env:
        await ensure_search_attributes(env.client, "default")
        tests.helpers.SERVER = env
        async with build_worker(env.client, f"record-{uuid.uuid4()}") as worker:
            histories = await run_main_paths(env, env.client, worker)
    save("trade_order", histories)


if __name__ == "__main__":
    asyncio.run(_record())
