"""Building blocks for the ImportPurchase tests (no tests here): inputs, cases driven to a state, registry reads."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from domain.calendar import add_working_hours, closed_days
from domain.display import TEHRAN
from registry.db import session_scope
from registry.models import OutboxMessage
from tests.helpers import actor, new_national_id, start, update

SCHEME = "import-cars-1401"
IMPORTER = "importer-kerman-motor"
BASE_PRICE = 12_000_000_000
PRE_CUSTOMS = 800_000_000
FINAL_COSTS = 3_100_000_000
_vins = itertools.count(1)
_open_cases: list[WorkflowHandle] = []


@pytest.fixture(scope="module")
async def env(database: str) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the module's own, overriding the session's.

    These tests skip months (delay periods, the reinstatement window); on the shared server
    that would move every later test's clock too. ``client`` and ``worker`` follow this one.
    Import this fixture into every ImportPurchase test module.
    """
    import tests.helpers
    from security.codec import data_converter
    from settings import find_binary
    from worker import ensure_search_attributes

    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"), data_converter=data_converter()
    ) as environment:
        await ensure_search_attributes(environment.client, "default")
        session_server, tests.helpers.SERVER = tests.helpers.SERVER, environment  # tokens by this server's clock
        try:
            yield environment
        finally:
            tests.helpers.SERVER = session_server


@pytest.fixture(scope="module")
async def worker(env: WorkflowEnvironment) -> AsyncIterator[Worker]:
    """The module's worker on the module's own server (see ``env``)."""
    from worker import build_worker

    async with build_worker(env.client, f"tq-{uuid.uuid4()}") as w:
        yield w


@pytest.fixture(autouse=True)
async def close_cases() -> AsyncIterator[None]:
    """Terminate the cases a test leaves running.

    The time-skipping server is shared by the session: a leftover case's timers (a delay period
    every 30 days, a reinstatement window) would let time race ahead in later tests.
    Import this fixture into every ImportPurchase test module.
    """
    yield
    while _open_cases:
        handle = _open_cases.pop()
        with contextlib.suppress(Exception):  # already completed: nothing to terminate
            await _settled(handle)
            await handle.terminate("test over")


async def _settled(handle: WorkflowHandle) -> None:
    """Wait until the case has no workflow task or activity under way (seen twice in a row): the
    test server keeps time skipping locked for work whose workflow was terminated under it."""
    quiet = 0
    for _ in range(50):
        raw = (await handle.describe()).raw_description
        busy = bool(raw.pending_activities) or raw.HasField("pending_workflow_task")
        quiet = 0 if busy else quiet + 1
        if quiet == 2:
            return
        await asyncio.sleep(0.1)


def purchase_input(national_id: str, **overrides: Any) -> dict[str, Any]:
    applicant = {"national_id": national_id, "full_name": "سارا رحیمی", "has_driving_license": True}
    applicant.update(overrides.pop("applicant", {}))
    deposit = {"bank": "mellat", "account": f"ESC-{national_id}", "amount_rial": policy.ESCROW_DEPOSIT_RIAL}
    deposit.update(overrides.pop("deposit", {}))
    return {"scheme_id": SCHEME, "applicant": applicant, "deposit": deposit, **overrides}


def new_vin() -> str:
    return f"NAAM01CA{next(_vins):09d}"


def release_deadline(left: datetime, closures: tuple[date, ...] = ()) -> datetime:
    """72 working hours after ``left`` (seed 000): Fridays, official holidays and ``closures`` skipped."""
    first = left.astimezone(TEHRAN).date()
    shut = closed_days(first, first + timedelta(days=policy.WORKING_DEADLINE_HORIZON_DAYS), closures)
    return add_working_hours(left, policy.DEPOSIT_RELEASE_WORKING_HOURS, shut)


async def wait_for(handle: WorkflowHandle, check: Any, timeout: float = 20) -> dict[str, Any]:
    """Poll ``status`` (real time, no skipping) until ``check(status)`` holds."""
    status: dict[str, Any] = {}
    for _ in range(int(timeout / 0.1)):
        status = await handle.query("status")
        if check(status):
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id}: condition not met; last status state={status.get('state')}")


async def wait_state(handle: WorkflowHandle, *states: str) -> dict[str, Any]:
    return await wait_for(handle, lambda s: s["state"] in states)


async def begin(client: Client, worker: Worker, national_id: str | None = None, **overrides: Any) -> tuple[WorkflowHandle, str]:
    """A case past its eligibility check (Eligible or Ineligible)."""
    nid = national_id or new_national_id()
    handle = await start(client, worker, "ImportPurchase", purchase_input(nid, **overrides), "purchase")
    _open_cases.append(handle)
    await wait_state(handle, "Eligible", "Ineligible")
    return handle, nid


async def today(env: WorkflowEnvironment) -> date:
    return (await env.get_current_time()).astimezone(timezone(timedelta(hours=3, minutes=30))).date()


async def allocate(
    handle: WorkflowHandle, env: WorkflowEnvironment, *, due_in_days: int = 180, offering: str | None = None
) -> dict[str, Any]:
    """Allocate a car; each case gets an offering of its own unless one is named (modules run on
    servers with different clocks, so a shared offering would see "newer" allocations)."""
    offering = offering or f"offer-{uuid.uuid4().hex[:8]}"
    due = (await today(env)) + timedelta(days=due_in_days)
    return await update(
        handle,
        "allocate",
        actor=actor("operator", "op-1"),
        offering_id=offering,
        importer_id=IMPORTER,
        model="Changan CS55 Plus",
        base_price_rial=BASE_PRICE,
        pre_customs_costs_rial=PRE_CUSTOMS,
        delivery_due=due.isoformat(),
        estimated_final_costs_rial=3_000_000_000,
    )


BANK = actor("bank", "mellat")
"""The escrow bank holding every test deposit; it reports the stage payments."""


async def sign(handle: WorkflowHandle, nid: str, ref: str | None = None) -> dict[str, Any]:
    """The buyer signs, then the bank reports stage 2: Allocated → Signed → Contracted."""
    status = await update(handle, "sign_contract", actor=actor("applicant", nid))
    assert status["state"] == "Signed", status
    return await pay_stage(handle, "2", ref or f"S2-{handle.id}", BASE_PRICE + PRE_CUSTOMS)


async def pay_stage(handle: WorkflowHandle, stage: str, ref: str, amount: int) -> dict[str, Any]:
    return await update(handle, "pay_stage", actor=BANK, stage=stage, payment_ref=ref, amount_rial=amount)


async def arrive(handle: WorkflowHandle) -> dict[str, Any]:
    return await update(handle, "customs_arrival", actor=actor("importer", IMPORTER), final_costs_rial=FINAL_COSTS)


async def pay_final(handle: WorkflowHandle, nid: str) -> dict[str, Any]:
    return await pay_stage(handle, "3", f"S3-{handle.id}", FINAL_COSTS)


async def to_state(
    handle: WorkflowHandle, env: WorkflowEnvironment, nid: str, target: str, **allocate_options: Any
) -> dict[str, Any]:
    """Drive an Eligible case forward to ``target`` along the happy path."""
    steps = [
        ("Allocated", lambda: allocate(handle, env, **allocate_options)),
        ("Contracted", lambda: sign(handle, nid)),
        ("AtCustoms", lambda: arrive(handle)),
        ("AwaitingDelivery", lambda: pay_final(handle, nid)),
    ]
    status = await handle.query("status")
    for state, step in steps:
        if status["state"] == target:
            break
        status = await step()
        assert status["state"] == state, status
    assert status["state"] == target
    return status


def outbox(workflow_id: str, kind: str | None = None) -> list[OutboxMessage]:
    with session_scope() as session:
        query = select(OutboxMessage).where(OutboxMessage.workflow_id == workflow_id).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list(session.scalars(query))


def last_code(workflow_id: str) -> str:
    codes = outbox(workflow_id, "sms_code")
    assert codes, "no SMS code in the outbox"
    assert codes[-1].code is not None
    return codes[-1].code


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
