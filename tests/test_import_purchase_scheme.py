"""ImportPurchase in its scheme's round (SCHEME_ROUNDS): the window, ranks from the lottery, a
declined car keeping the rank, leaving the round, and the round's rules again before money moves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.import_scheme import (
    ALREADY_IN_ROUND,
    SCHEME_VERDICT_SIGNAL,
    RankHolderCheck,
    StandingRequest,
    import_rank_holder,
    scheme_standing,
)
from lifecycles import lottery
from registry.db import session_scope
from registry.models import Allocation, EscrowDeposit, PlateRecord, SchemeRegistration
from registry.refdata import load_refdata
from registry.scheme_models import SchemeApplicant, SchemeRank
from tests.helpers import actor, new_national_id, rejected, server_now, start, update
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    BASE_PRICE,
    DEPOSIT,
    IMPORTER,
    ROUND_SEED,
    STAGE2,
    _open_cases,
    allocate,
    begin,
    close_cases,
    close_round,
    env,
    last_code,
    new_vin,
    open_round,
    pay_stage,
    purchase_input,
    register,
    to_state,
    wait_for,
    wait_state,
    worker,
)

PENALTY = BASE_PRICE * 5 // 100


def plate_for(national_id: str) -> None:
    """The applicant gets an active plate (after the round ranked them)."""
    with session_scope() as session:
        session.add(
            PlateRecord(
                plate=f"P-{uuid.uuid4().hex[:8]}",
                vin=f"NAAM01CP{uuid.uuid4().hex[:9].upper()}",  # a car of its own, no VIN other tests use
                owner_national_id=national_id,
                category="private",
                active=True,
                issued_at=datetime.now(UTC),
                workflow_id="seed",
            )
        )


def round_status(workflow_id: str) -> str:
    with session_scope() as session:
        row = session.scalar(select(SchemeApplicant).where(SchemeApplicant.workflow_id == workflow_id))
        assert row is not None
        return row.status


async def refused_start(client: Client, worker: Worker, scheme_id: str) -> str:
    handle = await start(client, worker, "ImportPurchase", purchase_input(new_national_id(), scheme_id=scheme_id), "purchase")
    _open_cases.append(handle)
    # Polled: awaiting the result would let the test server skip time (years, with nothing else due).
    status = await wait_for(handle, lambda s: s["state"] == "Refused")
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    with session_scope() as session:  # refused before anything was written
        assert session.get(EscrowDeposit, handle.id) is None
        assert session.scalar(select(SchemeApplicant).where(SchemeApplicant.workflow_id == handle.id)) is None
    return str(status["reason"])


async def test_a_start_for_an_unknown_scheme_or_outside_its_window_is_refused(client: Client, worker: Worker) -> None:
    now = await server_now()
    later = f"scheme-{uuid.uuid4().hex[:10]}"
    past = f"scheme-{uuid.uuid4().hex[:10]}"
    load_refdata(
        {
            "import_schemes": [
                {
                    "scheme_id": later,
                    "registration_opens": (now + timedelta(days=2)).isoformat(),
                    "registration_closes": (now + timedelta(days=3)).isoformat(),
                    "deposit_rial": DEPOSIT,
                },
                {
                    "scheme_id": past,
                    "registration_opens": (now - timedelta(days=3)).isoformat(),
                    "registration_closes": (now - timedelta(seconds=1)).isoformat(),
                    "deposit_rial": DEPOSIT,
                },
            ]
        }
    )
    assert "no import scheme" in await refused_start(client, worker, f"scheme-{uuid.uuid4().hex[:10]}")
    assert "opens at" in await refused_start(client, worker, later)
    assert "closed at" in await refused_start(client, worker, past)


async def test_every_registration_gets_a_unique_rank_by_the_committed_seed(client: Client, worker: Worker) -> None:
    round = await open_round(client, worker)
    cases = [await register(client, worker, round) for _ in range(4)]
    barred, _ = await register(client, worker, round, applicant={"has_driving_license": False})
    # One registration per person per round.
    again = await start(client, worker, "ImportPurchase", purchase_input(cases[0][1], scheme_id=round.scheme_id), "purchase")
    _open_cases.append(again)
    assert ALREADY_IN_ROUND in (await wait_for(again, lambda s: s["state"] == "Refused"))["reason"]

    waiting = await cases[0][0].query("status")
    assert waiting["state"] == "Registered" and waiting["rank"] is None and waiting["history"] == []
    assert waiting["allowed"] == ["abort"]
    # The signal proves nothing: before the draw it leaves the case as it was.
    await cases[0][0].signal(SCHEME_VERDICT_SIGNAL)
    await wait_for(cases[0][0], lambda s: s["state"] == "Registered")

    await close_round(round)
    statuses = [await wait_state(handle, "Eligible") for handle, _ in cases]
    assert sorted(s["rank"] for s in statuses) == [1, 2, 3, 4]
    for status in statuses:
        assert status["history"][0]["event"] == "found_eligible" and status["history"][0]["rank"] == status["rank"]
    ineligible = await wait_state(barred, "Ineligible")
    assert ineligible["rank"] is None and ineligible["ineligible_reasons"] == ["the applicant has no driving licence"]

    # The ranks are the published draw: anyone recomputes them from the seed and the eligible codes.
    by_rank = [s["registration_code"] for s in sorted(statuses, key=lambda s: s["rank"])]
    with session_scope() as session:
        published = list(
            session.scalars(select(SchemeRank.code).where(SchemeRank.scheme_id == round.scheme_id).order_by(SchemeRank.rank))
        )
    assert published == by_rank
    assert lottery.ranking(ROUND_SEED, round.scheme_id, by_rank)[0] == by_rank

    # A second signal (anyone may send one) changes nothing.
    await cases[0][0].signal(SCHEME_VERDICT_SIGNAL)
    await wait_for(cases[0][0], lambda s: s["history"] == statuses[0]["history"])
    assert (await cases[0][0].query("status"))["history"] == statuses[0]["history"]


async def test_a_declined_car_keeps_the_rank(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    handle, nid = await begin(client, worker)
    rank = (await handle.query("status"))["rank"]
    assert rank == 1
    me = actor("applicant", nid)
    assert "not allowed in state Eligible" in await rejected(handle, "decline_allocation", actor=me)
    offering = f"offer-{uuid.uuid4().hex[:8]}"
    await allocate(handle, env, offering=offering)
    assert "only the registered applicant" in await rejected(
        handle, "decline_allocation", actor=actor("applicant", new_national_id())
    )
    status = await update(handle, "decline_allocation", actor=me)
    assert status["state"] == "Eligible" and status["rank"] == rank
    assert status["offering_id"] is None and status["withdrawal_penalty_rial"] == 0 and status["refund_rial"] == 0
    assert status["history"][-1]["event"] == "decline_allocation" and status["history"][-1]["rank"] == rank
    with session_scope() as session:
        assert not session.get(Allocation, handle.id).active  # the car is free for the offering
        assert session.get(SchemeRegistration, handle.id).open
        assert session.get(EscrowDeposit, handle.id).status == "blocked"
    assert scheme_standing(StandingRequest(handle.id))["rank"] == rank  # type: ignore[index]

    # Still ranked: the same offering may allocate the case again.
    status = await allocate(handle, env, offering=offering)
    assert status["state"] == "Allocated" and status["rank"] == rank
    with session_scope() as session:
        assert session.get(Allocation, handle.id).active


async def test_withdrawal_leaves_the_round_and_a_reinstatement_brings_the_rank_back(client: Client, worker: Worker) -> None:
    handle, nid = await begin(client, worker)
    me = actor("applicant", nid)
    assert import_rank_holder(RankHolderCheck(nid)) is not None
    await update(handle, "request_withdrawal_code", actor=me)
    status = await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    assert status["state"] == "Withdrawn"
    assert round_status(handle.id) == "withdrawn"
    standing = scheme_standing(StandingRequest(handle.id))
    assert standing is not None and standing["rank"] is None and standing["drawn_rank"] == status["rank"]
    assert import_rank_holder(RankHolderCheck(nid)) is None  # no rank held: domestic cars are open again

    await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    status = await update(handle, "reinstate", actor=actor("operator", "op-1"))
    assert status["state"] == "Eligible"
    assert round_status(handle.id) == "eligible"
    assert scheme_standing(StandingRequest(handle.id))["rank"] == status["rank"]  # type: ignore[index]


async def test_an_abort_before_the_draw_takes_the_case_out_of_the_round(client: Client, worker: Worker) -> None:
    round = await open_round(client, worker)
    handle, _ = await register(client, worker, round)
    kept, _ = await register(client, worker, round)
    status = await update(handle, "abort", actor=actor("operator", "op-1"), reason="ثبت‌نام تکراری")
    assert status["state"] == "Aborted"
    assert round_status(handle.id) == "withdrawn"
    scheme = await close_round(round)
    assert (scheme["registered"], scheme["eligible"]) == (1, 1)  # the aborted case was not judged
    assert (await wait_state(kept, "Eligible"))["rank"] == 1


async def test_the_rounds_rules_are_checked_again_before_money_moves(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    round = await open_round(client, worker)
    at_allocation = await register(client, worker, round)
    at_stage_2 = await register(client, worker, round)
    at_delivery = await register(client, worker, round)
    await close_round(round)
    for handle, _ in (at_allocation, at_stage_2, at_delivery):
        await wait_state(handle, "Eligible")

    # A plate acquired after the ranking: the operator's allocation finds the case no longer eligible.
    handle, nid = at_allocation
    plate_for(nid)
    status = await allocate(handle, env)
    assert status["state"] == "Ineligible" and status["history"][-1]["event"] == "eligibility_lost"
    assert any("active plate" in r for r in status["ineligible_reasons"])
    assert status["refund_rial"] == DEPOSIT and status["withdrawal_penalty_rial"] == 0
    assert round_status(handle.id) == "ineligible"
    with session_scope() as session:
        assert session.get(Allocation, handle.id) is None
        assert not session.get(SchemeRegistration, handle.id).open
    final = await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    assert final["state"] == "Ineligible"

    # Signed, then a plate: the bank's stage-2 report finds it; the contract's penalty applies.
    handle, nid = at_stage_2
    await to_state(handle, env, nid, "Allocated")
    status = await update(handle, "sign_contract", actor=actor("applicant", nid))
    assert status["state"] == "Signed"
    plate_for(nid)
    status = await pay_stage(handle, "2", f"S2-{handle.id}", STAGE2)
    assert status["state"] == "Ineligible" and status["history"][-1]["event"] == "eligibility_lost"
    assert status["paid_rial"]["2"] == STAGE2
    assert status["refund_rial"] == DEPOSIT + STAGE2 - PENALTY
    assert round_status(handle.id) == "ineligible"
    with session_scope() as session:
        assert not session.get(Allocation, handle.id).active

    # Awaiting delivery, then a plate: the delivery is refused by the round's rules.
    handle, nid = at_delivery
    await to_state(handle, env, nid, "AwaitingDelivery")
    plate_for(nid)
    status = await update(handle, "deliver", actor=actor("importer", IMPORTER), vin=new_vin())
    assert status["state"] == "Ineligible" and status["history"][-1]["event"] == "eligibility_lost"
    assert round_status(handle.id) == "ineligible"


async def test_a_delivery_leaves_the_round(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    handle, nid = await begin(client, worker)
    await to_state(handle, env, nid, "AwaitingDelivery")
    status = await update(handle, "deliver", actor=actor("importer", IMPORTER), vin=new_vin())
    assert status["state"] == "Delivered" and status["rank"] == 1
    assert round_status(handle.id) == "withdrawn"
    assert import_rank_holder(RankHolderCheck(nid)) is None
