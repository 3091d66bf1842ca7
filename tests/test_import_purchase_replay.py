"""ImportPurchase histories replay against today's code (determinism of every main path)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from tests.helpers import actor, update
from tests.recorded import recording, replay_recorded, save
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    IMPORTER,
    begin,
    close_cases,
    env,
    last_code,
    new_vin,
    to_state,
    wait_for,
    worker,
)
from worker import build_replayer
from workflows.import_purchase import ImportPurchaseWorkflow


async def test_main_paths_replay(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    histories: list[WorkflowHistory] = []

    delivered, nid = await begin(client, worker)
    await to_state(delivered, env, nid, "AwaitingDelivery", due_in_days=400)
    await env.sleep(timedelta(days=31))  # one delay period
    await update(delivered, "deliver", actor=actor("importer", IMPORTER), vin=new_vin())
    await delivered.result()

    withdrawn, nid2 = await begin(client, worker)
    me = actor("applicant", nid2)
    await to_state(withdrawn, env, nid2, "Allocated")  # a reinstatement gives back no more than the deposit
    await update(withdrawn, "request_withdrawal_code", actor=me)
    await update(withdrawn, "withdraw", actor=me, code=last_code(withdrawn.id))
    await wait_for(withdrawn, lambda s: s["deposit_released_at"] is not None)
    await update(withdrawn, "reinstate", actor=actor("operator", "op"))
    await update(withdrawn, "request_withdrawal_code", actor=me)
    await update(withdrawn, "withdraw", actor=me, code=last_code(withdrawn.id))
    await env.sleep(policy.REINSTATEMENT_WINDOW + timedelta(hours=1))
    await withdrawn.result()

    cancelled, nid3 = await begin(client, worker)
    await to_state(cancelled, env, nid3, "AwaitingDelivery", due_in_days=400)
    await env.sleep(timedelta(days=31 + 93))  # the deadline is a calendar month after stage 3
    await update(cancelled, "cancel_for_delay", actor=actor("applicant", nid3))
    await cancelled.result()

    ineligible, _ = await begin(client, worker, applicant={"has_driving_license": False})
    await ineligible.result()

    # A car declined (the rank kept), then the case aborted by an operator (the settlement).
    declined, nid4 = await begin(client, worker)
    await to_state(declined, env, nid4, "Allocated")
    await update(declined, "decline_allocation", actor=actor("applicant", nid4))
    await update(declined, "abort", actor=actor("operator", "op"), reason="duplicate file")
    await declined.result()

    cases = {
        "delivered": delivered,
        "withdrawn_twice": withdrawn,
        "cancelled_for_delay": cancelled,
        "ineligible": ineligible,
        "declined_then_aborted": declined,
    }
    for handle in cases.values():
        histories.append(await handle.fetch_history())
    replayer = build_replayer([ImportPurchaseWorkflow])
    for history in histories:
        await replayer.replay_workflow(history)
    if recording():
        save("import_purchase", {name: h for name, h in zip(cases, histories, strict=True)})


async def test_recorded_histories_still_replay() -> None:
    await replay_recorded("import_purchase", [ImportPurchaseWorkflow], expected=5)
