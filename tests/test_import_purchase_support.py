"""Building blocks for the ImportPurchase tests (no tests here): inputs, cases driven to a state, registry reads."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from domain.calendar import add_working_hours, closed_days
from domain.display import TEHRAN
from lifecycles import lottery
from registry.db import session_scope
from registry.models import OutboxMessage
from registry.refdata import load_refdata
from tests.helpers import actor, new_national_id, server_now, signed, start, update

SCHEME = "import-cars"
"""The default scheme of `purchase_input` (reference data, window 2025-2030: a start stays Registered,
its round never drawn); `begin` and `register` give each case a round of its own instead."""
IMPORTER = "importer-kerman-motor"
BASE_PRICE = 12_000_000_000
PRE_CUSTOMS = 800_000_000
FINAL_COSTS = 3_100_000_000
DEPOSIT = policy.ESCROW_DEPOSIT_RIAL
STAGE2 = BASE_PRICE + PRE_CUSTOMS - DEPOSIT
"""Stage 2: the base price plus pre-customs costs less the stage-1 deposit on account (seed 001)."""
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
    return f"NAAM01PU{next(_vins):09d}"  # no VIN the other modules write (e.g. NAAM01CA000000003)


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


# --- a scheme's round (SCHEME_ROUNDS): the window, the batch and the draw that make cases Eligible ---

ROUND_SEED = "5e" * 32
"""The lottery seed of every test round (its SHA-256 is committed when the round's case starts)."""

ROUND_WINDOW = timedelta(seconds=30)
"""A test round's registration window, from the server's now: long enough in real time for the
cases to register, short in skipped time."""

REAL_TIME_WINDOW = timedelta(seconds=5)
"""The window of a round on a real (dev) server, whose clock cannot be skipped."""

OPERATOR = actor("operator", "op-1")


@dataclass
class Round:
    """A scheme of one test (reference data ``import_schemes``) and its ``ImportScheme`` case."""

    scheme_id: str
    scheme: WorkflowHandle
    opens: datetime
    closes: datetime
    skipping: bool
    """The round runs on the time-skipping server (else on a real server's clock)."""
    cases: list[WorkflowHandle] = field(default_factory=list)


async def open_round(client: Client, worker: Worker, window: timedelta | None = None) -> Round:
    """A fresh scheme whose window opens at the server's now, its case started by an operator
    with the seed's commitment, waited for until registration is open."""
    import tests.helpers

    server = tests.helpers.SERVER
    skipping = server is not None and server.supports_time_skipping and client is server.client
    if skipping:
        opens, window = await server_now(), window or ROUND_WINDOW
    else:  # a dev server: the wall clock, and a window short enough to wait for
        opens, window = datetime.now(UTC), window or REAL_TIME_WINDOW
    scheme_id = f"scheme-{uuid.uuid4().hex[:10]}"
    load_refdata(
        {
            "import_schemes": [
                {
                    "scheme_id": scheme_id,
                    "registration_opens": opens.isoformat(),
                    "registration_closes": (opens + window).isoformat(),
                    "deposit_rial": DEPOSIT,
                }
            ]
        }
    )
    payload = {"scheme_id": scheme_id, "seed_commitment": lottery.commitment(ROUND_SEED)}
    scheme = await start(client, worker, "ImportScheme", payload, "import-scheme", by=OPERATOR)
    _open_cases.append(scheme)
    await wait_state(scheme, "Open")
    return Round(scheme_id, scheme, opens, opens + window, skipping)


async def register(
    client: Client, worker: Worker, round: Round, national_id: str | None = None, **overrides: Any
) -> tuple[WorkflowHandle, str]:
    """A purchase case registered in ``round`` (its code given), or refused / Ineligible at its start."""
    nid = national_id or new_national_id()
    handle = await start(
        client, worker, "ImportPurchase", purchase_input(nid, scheme_id=round.scheme_id, **overrides), "purchase"
    )
    _open_cases.append(handle)
    await wait_for(handle, lambda s: s.get("registration_code") is not None or s["state"] != "Registered")
    round.cases.append(handle)
    return handle, nid


async def close_round(round: Round, *, finish: bool = True) -> dict[str, Any]:
    """Skip past the window's close, let the batch run, draw with the committed seed and wait until
    every registered case has its verdict (Eligible with a rank, or Ineligible); then ``finish`` the
    scheme's case. Returns the scheme's status after the draw."""
    import tests.helpers

    env = tests.helpers.SERVER
    if round.skipping:
        assert env is not None
        await env.sleep(round.closes - await env.get_current_time() + timedelta(seconds=1))
    else:
        await asyncio.sleep((round.closes - datetime.now(UTC)).total_seconds() + 1)
    await wait_state(round.scheme, "AwaitingDraw")
    # The scheme's case goes on at once to tell its cases (busy): its status moves past the draw's result.
    await round.scheme.execute_update("draw", await signed(round.scheme, "draw", {"actor": OPERATOR, "seed": ROUND_SEED}))
    for handle in round.cases:
        await wait_for(handle, lambda s: s["state"] != "Registered")
    status = await wait_for(round.scheme, lambda s: any(h["event"] == "cases_told" for h in s["history"]))
    if finish:
        await update(round.scheme, "finish", actor=OPERATOR)
    return status


async def begin(client: Client, worker: Worker, national_id: str | None = None, **overrides: Any) -> tuple[WorkflowHandle, str]:
    """A case past its eligibility check (Eligible with a rank, or Ineligible), through a round of
    its own: a fresh scheme, the case's registration, the window's close, the batch and the draw."""
    round = await open_round(client, worker)
    handle, nid = await register(client, worker, round, national_id, **overrides)
    await close_round(round)
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
    return await pay_stage(handle, "2", ref or f"S2-{handle.id}", STAGE2)


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
