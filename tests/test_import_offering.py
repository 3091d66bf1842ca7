"""ImportOffering and the purchase cases that apply to it (IMPORT_OFFERINGS, seed 001 «نحوه عرضه»):
the proposal and its approval, the announcement to the ranked cases, applications judged by the
validator and again by the registry, the close naming the best ranks as buyers, a declined seat
and an unsigned one passing to the next rank."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.errors import REJECTED
from activities.import_offering import ONE_AT_A_TIME, ApplicationRecord, apply_to_offering
from domain import policy
from lifecycles.import_offering import OFFERING_ANNOUNCED_SIGNAL, OFFERING_SEAT_SIGNAL
from registry.db import session_scope
from registry.models import Allocation
from registry.scheme_models import ImportOffering, OfferingApplication, OfferingSeat, SchemeApplicant
from tests.helpers import actor, rejected, server_now, start, update
from tests.recorded import replays_now
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    BASE_PRICE,
    IMPORTER,
    OPERATOR,
    PRE_CUSTOMS,
    Round,
    _open_cases,
    close_cases,
    close_round,
    env,
    last_code,
    open_round,
    register,
    wait_for,
    wait_state,
    worker,
)
from workflows.import_offering import ImportOfferingWorkflow
from workflows.import_purchase import ImportPurchaseWorkflow

SEATS = 2
MODEL = "Changan CS55 Plus"


def proposal(round: Round, opens: datetime, closes: datetime, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "offering_id": f"offer-{uuid.uuid4().hex[:10]}",
        "scheme_id": round.scheme_id,
        "importer_id": IMPORTER,
        "model": MODEL,
        "specs": ["موتور ۱.۵ لیتری توربو", "گیربکس ۷ سرعته دوکلاچه"],
        "seats": SEATS,
        "delivery_due": (closes + timedelta(days=120)).date().isoformat(),
        "base_price_rial": BASE_PRICE,
        "pre_customs_costs_rial": PRE_CUSTOMS,
        "estimated_final_costs_rial": 3_000_000_000,
        "opens": opens.astimezone(UTC).isoformat(),
        "closes": closes.astimezone(UTC).isoformat(),
    }
    fields.update(overrides)
    return fields


async def propose(client: Client, worker: Worker, payload: dict[str, Any], by: dict[str, str] | None = None) -> WorkflowHandle:
    """An offering's case, waited for until it is recorded (Proposed) or refused."""
    handle = await start(client, worker, "ImportOffering", payload, "offering", by=by or actor("importer", IMPORTER))
    _open_cases.append(handle)
    await wait_for(handle, lambda s: s["state"] == "Refused" or bool(s["history"]))
    return handle


async def ranked_round(client: Client, worker: Worker, count: int) -> list[tuple[WorkflowHandle, str, int]]:
    """``count`` Eligible purchase cases of a fresh drawn round, as (handle, national id, rank) by rank."""
    round = await open_round(client, worker)
    cases = [await register(client, worker, round) for _ in range(count)]
    await close_round(round)
    ranked = []
    for handle, nid in cases:
        status = await wait_state(handle, "Eligible")
        ranked.append((handle, nid, status["rank"]))
    ranked.sort(key=lambda c: c[2])
    assert [r for _, _, r in ranked] == list(range(1, count + 1))
    return ranked


def seats_of(offering_id: str) -> dict[int, str | None]:
    with session_scope() as session:
        rows = session.execute(
            select(OfferingSeat.seat, OfferingSeat.workflow_id).where(OfferingSeat.offering_id == offering_id)
        ).all()
    return {seat: wid for seat, wid in rows}


def application_status(offering_id: str, workflow_id: str) -> str | None:
    with session_scope() as session:
        return session.scalar(
            select(OfferingApplication.status).where(
                OfferingApplication.offering_id == offering_id, OfferingApplication.workflow_id == workflow_id
            )
        )


async def test_the_best_ranks_among_the_applicants_buy_and_freed_seats_go_down_the_ranks(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    cases = await ranked_round(client, worker, 3 * SEATS + 1)
    handles = {rank: handle for handle, _, rank in cases}
    people = {rank: nid for _, nid, rank in cases}
    round_id = (await handles[1].query("status"))["scheme_id"]
    now = await server_now()
    opens, closes = now + timedelta(minutes=10), now + timedelta(hours=2)
    payload = proposal(Round(round_id, handles[1], opens, closes, True), opens, closes)
    offering_id = payload["offering_id"]

    # Only the importer named in it proposes; only an operator approves.
    stranger = await propose(
        client, worker, dict(payload, offering_id=f"x-{uuid.uuid4().hex[:8]}"), by=actor("importer", "another-importer")
    )
    assert (await wait_for(stranger, lambda s: s["state"] == "Refused"))["reason"]
    offering = await propose(client, worker, payload)
    await wait_state(offering, "Proposed")
    assert "role 'importer' may not" in await rejected(offering, "approve", actor=actor("importer", IMPORTER))
    assert "role 'applicant' may not" in await rejected(offering, "approve", actor=actor("applicant", people[1]))
    # Not announced yet: the case knows of no such offering, its validator refuses.
    assert "no open offering" in await rejected(
        handles[1], "apply_offering", actor=actor("applicant", people[1]), offering_id=offering_id
    )
    status = await update(offering, "approve", actor=OPERATOR)
    assert status["state"] == "Approved"
    told = await wait_for(offering, lambda s: any(h["event"] == "announced" for h in s["history"]))
    assert told["cases_told"] == 3 * SEATS + 1
    for handle in handles.values():
        await wait_for(handle, lambda s: [o["offering_id"] for o in s["offerings"]] == [offering_id])

    # Before the window opens: refused by the validator, nothing in history.
    assert "open at" in await rejected(handles[1], "apply_offering", actor=actor("applicant", people[1]), offering_id=offering_id)
    await env.sleep(opens - await env.get_current_time() + timedelta(seconds=1))
    await wait_state(offering, "Open")

    # 3N applicants (ranks 1..6), applying worst rank first: time of application gives no priority.
    applicants = list(range(3 * SEATS, 0, -1))
    for rank in applicants:
        status = await update(handles[rank], "apply_offering", actor=actor("applicant", people[rank]), offering_id=offering_id)
        assert status["state"] == "Eligible" and status["applied_offering"] == offering_id
        assert status["history"][-1]["event"] == "apply_offering" and status["history"][-1]["rank"] == rank
    assert "already applied to this offering" in await rejected(
        handles[1], "apply_offering", actor=actor("applicant", people[1]), offering_id=offering_id
    )
    # One live application per case, decided by the registry too (policy.OFFERING_ONE_APPLICATION_AT_A_TIME).
    assert policy.OFFERING_ONE_APPLICATION_AT_A_TIME
    other = proposal(Round(round_id, handles[1], opens, closes, True), opens, closes)
    second = await propose(client, worker, other)
    await update(second, "approve", actor=OPERATOR)
    await wait_for(handles[1], lambda s: len(s["offerings"]) == 2)
    assert "one application at a time" in await rejected(
        handles[1], "apply_offering", actor=actor("applicant", people[1]), offering_id=other["offering_id"]
    )
    with pytest.raises(Exception) as refusal:
        apply_to_offering(ApplicationRecord(handles[1].id, other["offering_id"], await env.get_current_time()))
    assert getattr(refusal.value, "type", None) == REJECTED and ONE_AT_A_TIME in str(refusal.value)
    await update(second, "abort", actor=OPERATOR, reason="آزمون")
    # The worst applicant takes the application back; the rank never applied (7) is not an applicant.
    status = await update(handles[3 * SEATS], "withdraw_application", actor=actor("applicant", people[3 * SEATS]))
    assert status["applied_offering"] is None
    assert application_status(offering_id, handles[3 * SEATS].id) == "withdrawn"

    # The close: the N best ranks among the applicants still in become buyers, a seat each, by rank.
    await env.sleep(closes - await env.get_current_time() + timedelta(seconds=1))
    closed = await wait_state(offering, "Allocating")
    assert (closed["applicants"], closed["buyers"]) == (3 * SEATS - 1, SEATS)
    for rank in (1, 2):
        status = await wait_state(handles[rank], "Allocated")
        assert status["rank"] == rank and status["offering_id"] == offering_id and status["seat"] == rank
        assert status["base_price_rial"] == BASE_PRICE and status["model"] == MODEL
        assert status["delivery_due"] == payload["delivery_due"] and status["sign_by"] is not None
        assert status["history"][-1]["event"] == "allocate" and status["history"][-1]["actor"]["role"] == "system"
    for rank in range(3, 3 * SEATS + 2):
        status = await handles[rank].query("status")
        assert status["state"] == "Eligible" and status["rank"] == rank and status["seat"] is None
    assert seats_of(offering_id) == {1: handles[1].id, 2: handles[2].id}
    assert application_status(offering_id, handles[3].id) == "waiting"
    # After the close: refused by the validator, nothing in history.
    assert "closed at" in await rejected(
        handles[3], "apply_offering", actor=actor("applicant", people[3]), offering_id=offering_id
    )

    # Rank 1 declines: the seat goes to rank N+1, the decliner keeps the rank.
    status = await update(handles[1], "decline_allocation", actor=actor("applicant", people[1]))
    assert status["state"] == "Eligible" and status["rank"] == 1 and status["seat"] is None
    taken = await wait_state(handles[SEATS + 1], "Allocated")
    assert taken["seat"] == 1 and taken["rank"] == SEATS + 1 and taken["offering_id"] == offering_id
    assert seats_of(offering_id) == {1: handles[SEATS + 1].id, 2: handles[2].id}
    assert application_status(offering_id, handles[1].id) == "declined"
    with session_scope() as session:
        assert not session.get(Allocation, handles[1].id).active  # type: ignore[union-attr]
    await update(handles[SEATS + 1], "sign_contract", actor=actor("applicant", people[SEATS + 1]))
    # Signals prove nothing: a repeated seat signal leaves a signed buyer's seat as it is, and terms
    # that are no offering's are ignored.
    await handles[SEATS + 1].signal(OFFERING_SEAT_SIGNAL)
    await handles[SEATS + 1].signal(OFFERING_ANNOUNCED_SIGNAL, {"offering_id": "forged"})

    # Rank 2 never signs: at the deadline the seat is lost as a decline would lose it, the rank kept,
    # and it goes to the next applicant by rank (4; 6 took its application back, 7 never applied).
    sign_by = datetime.fromisoformat(str((await handles[2].query("status"))["sign_by"]).replace("Z", "+00:00"))
    await env.sleep(sign_by - await env.get_current_time() + timedelta(seconds=1))
    lapsed = await wait_for(handles[2], lambda s: s["state"] == "Eligible")
    assert lapsed["rank"] == 2 and lapsed["history"][-1]["event"] == "signing_lapsed"
    assert application_status(offering_id, handles[2].id) == "lapsed"
    taken = await wait_state(handles[SEATS + 2], "Allocated")
    assert taken["seat"] == 2 and taken["rank"] == SEATS + 2
    assert seats_of(offering_id) == {1: handles[SEATS + 1].id, 2: handles[SEATS + 2].id}
    assert (await handles[3 * SEATS].query("status"))["state"] == "Eligible"
    signed = await handles[SEATS + 1].query("status")
    assert signed["state"] == "Signed" and signed["seat"] == 1 and signed["offerings"] == []  # both windows closed
    with session_scope() as session:
        assert session.get(ImportOffering, offering_id).status == "closed"  # type: ignore[union-attr]
    await wait_for(offering, lambda s: s["seats_given_again"] == 2)

    # Rank 4 leaves the scheme before signing: its seat passes on too (to 5).
    me = actor("applicant", people[SEATS + 2])
    await update(handles[SEATS + 2], "request_withdrawal_code", actor=me)
    status = await update(handles[SEATS + 2], "withdraw", actor=me, code=last_code(handles[SEATS + 2].id))
    assert status["state"] == "Withdrawn"
    assert application_status(offering_id, handles[SEATS + 2].id) == "withdrawn"
    taken = await wait_state(handles[SEATS + 3], "Allocated")
    assert taken["seat"] == 2 and taken["rank"] == SEATS + 3
    await wait_for(offering, lambda s: s["seats_given_again"] == 3)
    await wait_for(handles[SEATS + 2], lambda s: s["deposit_released_at"] is not None)
    assert "seat went back to the offering" in await rejected(handles[SEATS + 2], "reinstate", actor=OPERATOR)

    await replays_now([ImportOfferingWorkflow], offering, second)
    await replays_now([ImportPurchaseWorkflow], *handles.values())


async def test_a_proposal_is_refused_before_the_draw_or_with_a_broken_window(client: Client, worker: Worker) -> None:
    round = await open_round(client, worker)
    now = await server_now()
    early = await propose(client, worker, proposal(round, now, now + timedelta(hours=1)))
    reason = (await wait_for(early, lambda s: s["state"] == "Refused"))["reason"]
    assert "not drawn" in reason
    assert (await early.describe()).status == WorkflowExecutionStatus.FAILED
    backwards = await propose(client, worker, proposal(round, now + timedelta(hours=1), now))
    assert "closes must be after opens" in (await wait_for(backwards, lambda s: s["state"] == "Refused"))["reason"]
    with session_scope() as session:  # refused before anything was written
        assert session.scalar(select(ImportOffering).where(ImportOffering.workflow_id.in_([early.id, backwards.id]))) is None
    too_many = await propose(client, worker, proposal(round, now, now + timedelta(hours=1), seats=policy.OFFERING_SEATS_MAX + 1))
    assert "seats" in (await wait_for(too_many, lambda s: s["state"] == "Refused"))["reason"]


async def test_an_operator_rejects_a_proposal_with_a_reason(client: Client, worker: Worker) -> None:
    cases = await ranked_round(client, worker, 1)
    handle, nid, _ = cases[0]
    scheme_id = (await handle.query("status"))["scheme_id"]
    now = await server_now()
    payload = proposal(Round(scheme_id, handle, now, now, True), now, now + timedelta(hours=1))
    offering = await propose(client, worker, payload)
    await wait_state(offering, "Proposed")
    status = await update(offering, "reject", actor=OPERATOR, reason="قیمت پایه بیش از سقف مصوب")
    assert status["state"] == "Rejected" and status["rejection_reason"] == "قیمت پایه بیش از سقف مصوب"
    with session_scope() as session:
        assert session.get(ImportOffering, payload["offering_id"]).status == "rejected"  # type: ignore[union-attr]
    # Never announced: the case cannot apply.
    assert "no open offering" in await rejected(
        handle, "apply_offering", actor=actor("applicant", nid), offering_id=payload["offering_id"]
    )


async def test_the_close_passes_over_an_applicant_no_longer_eligible(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    cases = await ranked_round(client, worker, 3)
    scheme_id = (await cases[0][0].query("status"))["scheme_id"]
    now = await server_now()
    payload = proposal(Round(scheme_id, cases[0][0], now, now, True), now, now + timedelta(hours=1), seats=1)
    offering = await propose(client, worker, payload)
    await update(offering, "approve", actor=OPERATOR)
    for handle, nid, _ in cases:
        await wait_for(handle, lambda s: bool(s["offerings"]))
        await update(handle, "apply_offering", actor=actor("applicant", nid), offering_id=payload["offering_id"])
    # Rank 1 lost eligibility after applying (as the scheme's re-check marks it): the close passes it over.
    with session_scope() as session:
        row = session.scalar(select(SchemeApplicant).where(SchemeApplicant.workflow_id == cases[0][0].id))
        assert row is not None
        row.status = "ineligible"
    await env.sleep(timedelta(hours=1, seconds=1))
    closed = await wait_state(offering, "Allocating")
    assert (closed["applicants"], closed["buyers"]) == (3, 1)
    status = await wait_state(cases[1][0], "Allocated")
    assert status["rank"] == 2 and status["seat"] == 1
    assert seats_of(payload["offering_id"]) == {1: cases[1][0].id}
    assert application_status(payload["offering_id"], cases[0][0].id) == "waiting"
    assert (await cases[2][0].query("status"))["state"] == "Eligible"
    await replays_now([ImportOfferingWorkflow], offering)


async def test_a_terminated_buyers_seat_is_freed_by_the_reconciliation_and_goes_on_by_rank(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    from tests.test_reconciliation import reconcile, repairs, terminate

    cases = await ranked_round(client, worker, 3)
    handles = {rank: handle for handle, _, rank in cases}
    people = {rank: nid for _, nid, rank in cases}
    round_id = (await handles[1].query("status"))["scheme_id"]
    now = await server_now()
    opens, closes = now + timedelta(minutes=10), now + timedelta(hours=2)
    payload = proposal(Round(round_id, handles[1], opens, closes, True), opens, closes, seats=1)
    offering = await propose(client, worker, payload)
    await update(offering, "approve", actor=OPERATOR)
    for rank in (1, 2):
        await wait_for(handles[rank], lambda s: len(s["offerings"]) == 1)
    await env.sleep(opens - await env.get_current_time() + timedelta(seconds=1))
    await wait_state(offering, "Open")
    for rank in (1, 2):
        await update(handles[rank], "apply_offering", actor=actor("applicant", people[rank]), offering_id=payload["offering_id"])
    await env.sleep(closes - await env.get_current_time() + timedelta(seconds=1))
    await wait_state(handles[1], "Allocated")

    await terminate(handles[1])  # stuck with the seat: nothing gives it back but the reconciliation
    assert seats_of(payload["offering_id"]) == {1: handles[1].id}
    totals = await reconcile(client, worker.task_queue)
    assert totals["offerings_nudged"] >= 1
    assert "allocation" in repairs(handles[1].id)[0].from_state
    assert application_status(payload["offering_id"], handles[1].id) == "withdrawn"
    taken = await wait_state(handles[2], "Allocated")
    assert taken["seat"] == 1 and taken["rank"] == 2
    assert seats_of(payload["offering_id"]) == {1: handles[2].id}


async def test_an_aborted_offerings_applicants_may_apply_elsewhere_at_once(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    """One live application at a time: an offering aborted while open tells its applicants, whose
    cases read their applications' end from the registry and may apply to another offering at once."""
    [(handle, nid, _)] = await ranked_round(client, worker, 1)
    me = actor("applicant", nid)
    round_id = (await handle.query("status"))["scheme_id"]
    now = await server_now()
    opens, closes = now + timedelta(minutes=10), now + timedelta(days=30)
    first, second = (proposal(Round(round_id, handle, opens, closes, True), opens, closes) for _ in range(2))
    offerings = [await propose(client, worker, payload) for payload in (first, second)]
    for offering in offerings:
        await update(offering, "approve", actor=OPERATOR)
    await wait_for(handle, lambda s: len(s["offerings"]) == 2)
    await env.sleep(opens - await env.get_current_time() + timedelta(seconds=1))
    await update(handle, "apply_offering", actor=me, offering_id=first["offering_id"])
    assert "one application at a time" in await rejected(handle, "apply_offering", actor=me, offering_id=second["offering_id"])

    await update(offerings[0], "abort", actor=OPERATOR, reason="واردکننده انصراف داد")
    status = await wait_for(handle, lambda s: s["applied_offering"] is None)
    assert [o["offering_id"] for o in status["offerings"]] == [second["offering_id"]]
    assert status["history"][-1]["event"] == "application_ended"
    status = await update(handle, "apply_offering", actor=me, offering_id=second["offering_id"])
    assert status["applied_offering"] == second["offering_id"]
    await replays_now([ImportOfferingWorkflow, ImportPurchaseWorkflow], offerings[0], handle)


async def test_an_offering_finishes_a_calendar_month_after_its_close(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    """After the reassignment month (policy.OFFERING_REASSIGN_MONTHS, Jalali, Tehran) the offering is
    Finished in the registry and its case ends."""
    [(handle, _, _)] = await ranked_round(client, worker, 1)
    round_id = (await handle.query("status"))["scheme_id"]
    now = await server_now()
    opens, closes = now + timedelta(minutes=10), now + timedelta(hours=1)
    payload = proposal(Round(round_id, handle, opens, closes, True), opens, closes)
    offering = await propose(client, worker, payload)
    await update(offering, "approve", actor=OPERATOR)
    await env.sleep(closes - await env.get_current_time() + timedelta(seconds=1))
    status = await wait_state(offering, "Allocating")
    assert (status["applicants"], status["buyers"]) == (0, 0)
    until = datetime.fromisoformat(str(status["reassign_until"]).replace("Z", "+00:00"))
    await env.sleep(until - await env.get_current_time() + timedelta(seconds=1))
    result = await offering.result()
    assert result["state"] == "Finished"
    with session_scope() as session:
        assert session.get(ImportOffering, payload["offering_id"]).status == "finished"  # type: ignore[union-attr]


async def test_a_proposal_not_approved_before_its_close_expires(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    [(handle, _, _)] = await ranked_round(client, worker, 1)
    round_id = (await handle.query("status"))["scheme_id"]
    now = await server_now()
    opens, closes = now + timedelta(minutes=10), now + timedelta(hours=1)
    payload = proposal(Round(round_id, handle, opens, closes, True), opens, closes)
    offering = await propose(client, worker, payload)
    await wait_state(offering, "Proposed")
    await env.sleep(closes - await env.get_current_time() - timedelta(seconds=1))
    assert (await offering.query("status"))["state"] == "Proposed"  # one second before its close
    await env.sleep(timedelta(seconds=2))
    result = await offering.result()
    assert result["state"] == "Expired" and result["history"][-1]["event"] == "end_recorded"
    with session_scope() as session:
        assert session.get(ImportOffering, payload["offering_id"]).status == "expired"  # type: ignore[union-attr]
    assert (await handle.query("status"))["offerings"] == []  # never announced
