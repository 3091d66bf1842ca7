"""The import scheme's round (seed 001): the window, the eligibility batch, the verifiable draw."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from activities.errors import REJECTED
from activities.import_scheme import (
    ALREADY_IN_ROUND,
    SCHEME_VERDICT_SIGNAL,
    ApplicantRecheck,
    BatchStart,
    DrawRequest,
    EligibilityChunk,
    RankHolderCheck,
    SchemeEntry,
    SchemeExit,
    StandingRequest,
    close_registration_book,
    draw_lottery,
    import_rank_holder,
    judge_registrations,
    new_code,
    recheck_in_scheme,
    register_in_scheme,
    scheme_registration_refusal,
    scheme_standing,
    withdraw_from_scheme,
)
from domain import policy
from domain.calendar import add_months_at
from lifecycles import lottery
from lifecycles.import_scheme import REASONS
from registry.db import session_scope
from registry.models import EscrowDeposit, NewCarPurchase, Person, PlateRecord, SchemeRegistration
from registry.refdata import load_refdata
from registry.scheme_models import ImportScheme, SchemeApplicant, SchemeRank
from tests.helpers import new_national_id, rejected, signed_start
from tests.recorded import replays_now
from workflows.import_scheme import ImportSchemeWorkflow

SEED = "c0" * 32
DEPOSIT = policy.ESCROW_DEPOSIT_RIAL
EPSILON = timedelta(microseconds=1)


def new_scheme(opens: datetime, closes: datetime) -> str:
    scheme_id = f"scheme-{uuid.uuid4().hex[:10]}"
    load_refdata(
        {
            "import_schemes": [
                {
                    "scheme_id": scheme_id,
                    "registration_opens": opens.isoformat(),
                    "registration_closes": closes.isoformat(),
                    "deposit_rial": DEPOSIT,
                }
            ]
        }
    )
    return scheme_id


def entry(scheme_id: str, at: datetime, national_id: str | None = None, **overrides: Any) -> SchemeEntry:
    fields: dict[str, Any] = {
        "workflow_id": f"purchase-{uuid.uuid4().hex}",
        "scheme_id": scheme_id,
        "national_id": national_id or new_national_id(),
        "has_driving_license": True,
        "is_legal_entity": False,
        "bank": "mellat",
        "at": at,
    }
    fields.update(overrides)
    return SchemeEntry(**fields)


def block_deposit(e: SchemeEntry, amount: int = DEPOSIT, status: str = "blocked") -> None:
    with session_scope() as session:
        session.add(
            EscrowDeposit(
                workflow_id=e.workflow_id,
                national_id=e.national_id,
                bank=e.bank,
                account=f"ESC-{e.national_id}",
                amount_rial=amount,
                status=status,
                blocked_at=e.at,
            )
        )


def refusal(e: SchemeEntry) -> str:
    from temporalio.exceptions import ApplicationError

    with pytest.raises(ApplicationError) as caught:
        register_in_scheme(e)
    assert caught.value.type == REJECTED
    return caught.value.message


def judge_all(scheme_id: str, at: datetime) -> tuple[int, int]:
    close_registration_book(BatchStart(scheme_id, at))
    after, eligible, ineligible = 0, 0, 0
    while (done := judge_registrations(EligibilityChunk(scheme_id, after, at)))["last_id"] is not None:
        after, eligible, ineligible = done["last_id"], eligible + done["eligible"], ineligible + done["ineligible"]
    return eligible, ineligible


def commit(scheme_id: str, seed: str = SEED) -> None:
    with session_scope() as session:
        scheme = session.get(ImportScheme, scheme_id)
        assert scheme is not None
        scheme.seed_commitment = lottery.commitment(seed)


# --- the window ---


def test_registration_is_refused_outside_the_window_and_accepted_at_its_edges(database: str) -> None:
    opens = datetime(2030, 2, 25, 8, 30, tzinfo=UTC)
    closes = datetime(2030, 3, 2, 20, 30, tzinfo=UTC)
    scheme_id = new_scheme(opens, closes)
    early, late = entry(scheme_id, opens - EPSILON), entry(scheme_id, closes)
    first_entry, last_entry = entry(scheme_id, opens), entry(scheme_id, closes - EPSILON)
    # The read-only check a start makes agrees with the registration itself, at every edge.
    assert [scheme_registration_refusal(e) is None for e in (early, first_entry, last_entry, late)] == [False, True, True, False]
    assert "opens at" in refusal(early)
    first = register_in_scheme(first_entry)
    last = register_in_scheme(last_entry)
    assert "closed at" in refusal(late)
    assert scheme_registration_refusal(entry(scheme_id, opens, national_id=first_entry.national_id)) == ALREADY_IN_ROUND
    assert first["code"] != last["code"] and all(len(r["code"]) == policy.REGISTRATION_CODE_LENGTH for r in (first, last))
    assert "no import scheme" in refusal(entry("no-such-scheme", opens))
    with session_scope() as session:
        rows = session.scalars(select(SchemeApplicant).where(SchemeApplicant.scheme_id == scheme_id)).all()
    assert sorted(r.code for r in rows) == sorted([first["code"], last["code"]])


def test_a_retry_finds_its_registration_and_a_person_registers_once_per_round(database: str) -> None:
    opens = datetime(2030, 1, 1, tzinfo=UTC)
    round_one = new_scheme(opens, opens + timedelta(days=5))
    round_two = new_scheme(opens + timedelta(days=30), opens + timedelta(days=35))
    e = entry(round_one, opens + timedelta(days=1))
    assert register_in_scheme(e) == register_in_scheme(e)
    assert refusal(entry(round_one, opens + timedelta(days=2), national_id=e.national_id)) == ALREADY_IN_ROUND
    withdraw_from_scheme(SchemeExit(e.workflow_id, opens + timedelta(days=3)))
    # Seed 000 «در مرحله دوم ثبت نام»: after withdrawing, only a later round takes them again.
    assert refusal(entry(round_one, opens + timedelta(days=4), national_id=e.national_id)) == ALREADY_IN_ROUND
    again = register_in_scheme(entry(round_two, opens + timedelta(days=31), national_id=e.national_id))
    assert again["code"]


def test_registration_closes_for_good_once_the_batch_begins(database: str) -> None:
    opens = datetime(2031, 1, 1, tzinfo=UTC)
    scheme_id = new_scheme(opens, opens + timedelta(days=5))
    close_registration_book(BatchStart(scheme_id, opens + timedelta(days=1)))
    assert "eligibility batch has begun" in refusal(entry(scheme_id, opens + timedelta(days=2)))


# --- eligibility ---


def test_eligibility_counts_48_calendar_months_back_from_the_close(database: str) -> None:
    """«طی ۴۸ ماه گذشته» in Jalali calendar months (Tehran), ± one day around the boundary; a
    purchase 1,450 days back is inside 48 calendar months though outside 48 blocks of 30 days."""
    opens = datetime(2032, 2, 1, tzinfo=UTC)
    closes = datetime(2032, 2, 26, 20, 30, tzinfo=UTC)  # 1410-12-08 00:00 in Tehran
    scheme_id = new_scheme(opens, closes)
    boundary = add_months_at(closes, -policy.NO_NEW_CAR_LOOKBACK_MONTHS)
    purchases = {
        "day_inside": boundary + timedelta(days=1),
        "day_outside": boundary - timedelta(days=1),
        "1450_days": closes - timedelta(days=1450),
    }
    entries = {name: entry(scheme_id, opens) for name in purchases}
    for name, e in entries.items():
        register_in_scheme(e)
        block_deposit(e)
        with session_scope() as session:
            session.add(
                NewCarPurchase(
                    national_id=e.national_id,
                    vin="NAAM01CA000000001",
                    workflow_id=f"nc-{e.workflow_id}",
                    purchased_at=purchases[name],
                )
            )
    assert judge_all(scheme_id, closes) == (1, 2)
    standing = {name: scheme_standing(StandingRequest(e.workflow_id)) for name, e in entries.items()}
    assert standing["day_outside"]["status"] == "eligible"  # type: ignore[index]
    for name in ("day_inside", "1450_days"):
        assert standing[name]["ineligible_reasons"] == [REASONS[4]]  # type: ignore[index]


def test_every_rule_of_the_batch_gives_its_own_reason(database: str) -> None:
    opens = datetime(2033, 1, 1, tzinfo=UTC)
    closes = opens + timedelta(days=5)
    scheme_id = new_scheme(opens, closes)
    other_round = new_scheme(opens, closes)
    at = opens + timedelta(hours=1)
    cases: dict[int, SchemeEntry] = {
        0: entry(scheme_id, at),
        1: entry(scheme_id, at, is_legal_entity=True),
        2: entry(scheme_id, at),  # the licence registry says none, whatever was declared
        8: entry(scheme_id, at),
        16: entry(scheme_id, at),
        32: entry(scheme_id, at, bank="no-such-bank"),
        64: entry(scheme_id, at),
    }
    for bit, e in cases.items():
        register_in_scheme(e)
        if bit != 64:
            block_deposit(e)
    block_deposit(cases[64], status="released")
    with session_scope() as session:
        session.add(Person(national_id=cases[2].national_id, full_name="—", has_driving_license=False))
        session.add(
            PlateRecord(
                plate=f"P-{uuid.uuid4().hex[:8]}",
                vin="NAAM01CA000000002",
                owner_national_id=cases[8].national_id,
                category="private",
                active=True,
                issued_at=at,
                workflow_id="w",
            )
        )
        session.add(
            SchemeRegistration(
                workflow_id=f"domestic-{uuid.uuid4().hex}",
                scheme_id="domestic-saipa",
                national_id=cases[16].national_id,
                open=True,
                registered_at=at,
            )
        )
    # Registered in another import round too: ineligible for that reason alone.
    twice = entry(scheme_id, at)
    register_in_scheme(twice)
    block_deposit(twice)
    register_in_scheme(entry(other_round, at, national_id=twice.national_id))
    assert judge_all(scheme_id, closes) == (1, 7)
    for bit, e in cases.items():
        standing = scheme_standing(StandingRequest(e.workflow_id))
        assert standing is not None
        assert standing["ineligible_reasons"] == ([REASONS[bit]] if bit else []), bit
    assert scheme_standing(StandingRequest(twice.workflow_id))["ineligible_reasons"] == [REASONS[16]]  # type: ignore[index]
    # Judging again (a retried chunk) gives the same verdicts.
    assert judge_all(scheme_id, closes) == (1, 7)


# --- the draw ---


def test_a_lottery_of_10000_is_reproduced_bit_for_bit_and_tampering_is_detected(database: str, tmp_path: Path) -> None:
    import starter

    opens = datetime(2034, 1, 1, tzinfo=UTC)
    closes = opens + timedelta(days=5)
    scheme_id = new_scheme(opens, closes)
    commit(scheme_id)
    rows, deposits = [], []
    for i in range(10_000):
        workflow_id = f"bulk-{scheme_id}-{i}"
        national_id = f"{i:010d}"
        rows.append(
            {
                "scheme_id": scheme_id,
                "workflow_id": workflow_id,
                "code": new_code(),
                "national_id": national_id,
                "declared_driving_license": True,
                "is_legal_entity": False,
                "bank": "mellat",
                "status": "registered",
                "ineligible_mask": 0,
                "registered_at": opens + timedelta(seconds=i),
            }
        )
        deposits.append(
            {
                "workflow_id": workflow_id,
                "national_id": national_id,
                "bank": "mellat",
                "account": "x",
                "amount_rial": DEPOSIT,
                "status": "blocked",
                "blocked_at": opens,
            }
        )
    with session_scope() as session:
        session.execute(insert(SchemeApplicant), rows)
        session.execute(insert(EscrowDeposit), deposits)
    assert judge_all(scheme_id, closes) == (10_000, 0)
    result = draw_lottery(DrawRequest(scheme_id, SEED, closes + timedelta(hours=1)))
    assert result["eligible_count"] == 10_000
    assert draw_lottery(DrawRequest(scheme_id, SEED, closes + timedelta(hours=2))) == result  # a retry writes nothing new
    with session_scope() as session:
        ranks = dict(session.execute(select(SchemeRank.code, SchemeRank.rank).where(SchemeRank.scheme_id == scheme_id)).all())
        codes = set(session.scalars(select(SchemeApplicant.code).where(SchemeApplicant.scheme_id == scheme_id)))
    assert set(ranks) == codes
    assert sorted(ranks.values()) == list(range(1, 10_001))

    runner = CliRunner()
    out = tmp_path / "ranks.json"
    assert runner.invoke(starter.app, ["scheme", "ranks", scheme_id, "--out", str(out), "--top", "1"]).exit_code == 0
    published = json.loads(out.read_text(encoding="utf-8"))
    assert set(published) >= {"seed", "seed_commitment", "eligible", "list_digest", "ranks"}
    assert not any(str(i).zfill(10) in out.read_text() for i in (0, 1, 9_999))  # no national id published
    assert [ranks[c] for c in published["ranks"]] == list(range(1, 10_001))
    recomputed, digest = lottery.ranking(published["seed"], scheme_id, published["eligible"])
    assert "\n".join(recomputed).encode() == "\n".join(published["ranks"]).encode() and digest == result["list_digest"]
    first = runner.invoke(starter.app, ["scheme", "rank", scheme_id, published["ranks"][0].lower()])
    assert first.exit_code == 0 and first.output.strip().endswith(": rank 1")
    verified = runner.invoke(starter.app, ["scheme", "verify", str(out)])
    assert verified.exit_code == 0, verified.output
    assert runner.invoke(starter.app, ["scheme", "verify", "--scheme", scheme_id]).exit_code == 0

    def tampered(**changes: Any) -> str:
        path = tmp_path / f"t-{uuid.uuid4().hex}.json"
        path.write_text(json.dumps({**published, **changes}), encoding="utf-8")
        outcome = runner.invoke(starter.app, ["scheme", "verify", str(path)])
        assert outcome.exit_code == 1
        return outcome.output

    assert "commitment" in tampered(seed="c1" * 32)
    listed = [c for c in published["eligible"] if c != published["ranks"][0]]
    assert "differ" in tampered(eligible=listed, list_digest=lottery.list_digest(listed), ranks=published["ranks"][1:])
    assert "digest" in tampered(eligible=sorted([*listed, "ZZZZZZZZZZ"]))


def test_a_draw_needs_the_committed_seed_and_the_batch(database: str) -> None:
    from temporalio.exceptions import ApplicationError

    opens = datetime(2035, 1, 1, tzinfo=UTC)
    scheme_id = new_scheme(opens, opens + timedelta(days=1))
    commit(scheme_id)
    with pytest.raises(ApplicationError, match="eligibility batch has not run"):
        draw_lottery(DrawRequest(scheme_id, SEED, opens))
    with pytest.raises(ApplicationError, match="commitment"):
        draw_lottery(DrawRequest(scheme_id, "c1" * 32, opens))


# --- the ImportScheme case on a time-skipping server ---


@pytest.fixture(scope="module")
async def env(database: str) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the module's own: these tests skip to a window's close."""
    import tests.helpers
    from security.codec import data_converter
    from settings import find_binary
    from worker import ensure_search_attributes

    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"), data_converter=data_converter()
    ) as environment:
        await ensure_search_attributes(environment.client, "default")
        session_server, tests.helpers.SERVER = tests.helpers.SERVER, environment
        try:
            yield environment
        finally:
            tests.helpers.SERVER = session_server


@workflow.defn(name="SchemeVerdictProbe", sandboxed=False)
class SchemeVerdictProbe:
    """Stands in for a purchase case: ends when told its round's verdict is in."""

    def __init__(self) -> None:
        self.told = 0

    @workflow.signal(name=SCHEME_VERDICT_SIGNAL)
    def verdict_ready(self) -> None:
        self.told += 1

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.told > 0)
        return self.told


@pytest.fixture(scope="module")
async def worker(env: WorkflowEnvironment) -> AsyncIterator[Worker]:
    from worker import WORKFLOWS, build_worker

    async with build_worker(env.client, f"tq-{uuid.uuid4()}", workflows=[*WORKFLOWS, SchemeVerdictProbe]) as w:
        yield w


async def wait_for(handle: WorkflowHandle, check: Any) -> dict[str, Any]:
    status: dict[str, Any] = {}
    for _ in range(300):
        status = await handle.query("status")
        if check(status):
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id}: condition not met in state {status.get('state')}")


async def wait_state(handle: WorkflowHandle, *states: str) -> dict[str, Any]:
    return await wait_for(handle, lambda s: s["state"] in states)


async def start_scheme(client: Client, worker: Worker, scheme_id: str, by: dict[str, str] | None = None) -> WorkflowHandle:
    workflow_id = f"import-scheme-{scheme_id}-{uuid.uuid4().hex[:6]}"
    payload = {"scheme_id": scheme_id, "seed_commitment": lottery.commitment(SEED)}
    started = await signed_start(workflow_id, "ImportScheme", payload, by or {"role": "operator", "id": "op-1"})
    return await client.start_workflow("ImportScheme", started, id=workflow_id, task_queue=worker.task_queue)


async def test_the_scheme_opens_closes_judges_and_draws_by_its_own_clock(env: WorkflowEnvironment, worker: Worker) -> None:
    now = await env.get_current_time()
    opens, closes = now + timedelta(hours=1), now + timedelta(hours=3)
    scheme_id = new_scheme(opens, closes)
    handle = await start_scheme(env.client, worker, scheme_id)
    status = await wait_for(handle, lambda s: s["registration_closes"] is not None)  # the commitment is published
    assert status["state"] == "Scheduled"
    assert status["seed_commitment"] == lottery.commitment(SEED)
    with session_scope() as session:
        published = session.get(ImportScheme, scheme_id)
        assert published is not None and published.seed_commitment == lottery.commitment(SEED)
    assert "opens at" in refusal(entry(scheme_id, await env.get_current_time()))

    await env.sleep(timedelta(hours=1, minutes=30))
    await wait_state(handle, "Open")
    entries = [entry(scheme_id, await env.get_current_time()) for _ in range(5)]
    probe = await env.client.start_workflow(SchemeVerdictProbe.run, id=entries[0].workflow_id, task_queue=worker.task_queue)
    for i, e in enumerate(entries):
        register_in_scheme(e)
        if i < 3:
            block_deposit(e)

    await env.sleep(closes - await env.get_current_time() + timedelta(minutes=1))
    status = await wait_state(handle, "AwaitingDraw")
    assert (status["registered"], status["eligible"], status["ineligible"]) == (5, 3, 2)
    assert "closed" in refusal(entry(scheme_id, closes - EPSILON))  # the book is closed once judged

    assert "commitment" in await rejected(handle, "draw", actor={"role": "operator", "id": "op-1"}, seed="c1" * 32)
    assert "role" in await rejected(handle, "draw", actor={"role": "applicant", "id": entries[0].national_id}, seed=SEED)
    await handle.execute_update("draw", await _signed(handle, "draw", seed=SEED))
    status = await wait_for(handle, lambda s: any(h["event"] == "cases_told" for h in s["history"]))
    assert status["state"] == "Ranked" and status["seed"] == SEED and status["list_digest"]
    # Every judged registration's case is signalled to read its verdict (four ran no workflow).
    assert (status["cases_told"], status["cases_gone"]) == (1, 4)
    for _ in range(100):  # polled: awaiting a result would let the test server skip time
        if (await probe.describe()).status == WorkflowExecutionStatus.COMPLETED:
            break
        await asyncio.sleep(0.1)
    assert (await probe.describe()).status == WorkflowExecutionStatus.COMPLETED
    standings = [scheme_standing(StandingRequest(e.workflow_id)) for e in entries]
    assert sorted(s["rank"] for s in standings[:3]) == [1, 2, 3]  # type: ignore[index]
    assert [s["rank"] for s in standings[3:]] == [None, None]  # type: ignore[index]
    assert import_rank_holder(RankHolderCheck(entries[0].national_id)) is not None
    assert import_rank_holder(RankHolderCheck(entries[4].national_id)) is None

    # Until delivery: a plate the ranked applicant took since makes them ineligible on a re-check.
    with session_scope() as session:
        session.add(
            PlateRecord(
                plate=f"P-{uuid.uuid4().hex[:8]}",
                vin="NAAM01CA000000003",
                owner_national_id=entries[1].national_id,
                category="private",
                active=True,
                issued_at=closes,
                workflow_id="w",
            )
        )
    await handle.execute_update("recheck", await _signed(handle, "recheck"))
    status = await handle.query("status")
    assert status["lost_eligibility"] == 1
    assert scheme_standing(StandingRequest(entries[1].workflow_id))["status"] == "ineligible"  # type: ignore[index]
    assert recheck_in_scheme(ApplicantRecheck(entries[0].workflow_id, await env.get_current_time())) == []

    await handle.execute_update("finish", await _signed(handle, "finish"))
    assert (await handle.result())["state"] == "Finished"
    await replays_now([ImportSchemeWorkflow], handle)


async def _signed(handle: WorkflowHandle, name: str, **fields: Any) -> dict[str, Any]:
    from tests.helpers import signed

    return await signed(handle, name, {"actor": {"role": "operator", "id": "op-1"}, **fields})


async def test_only_an_operator_starts_a_known_scheme_before_its_close(env: WorkflowEnvironment, worker: Worker) -> None:
    now = await env.get_current_time()
    scheme_id = new_scheme(now + timedelta(hours=1), now + timedelta(hours=2))
    stranger = await start_scheme(env.client, worker, scheme_id, by={"role": "applicant", "id": new_national_id()})
    with pytest.raises(WorkflowFailureError):
        await stranger.result()
    assert (await stranger.query("status"))["state"] == "Refused"
    unknown = await start_scheme(env.client, worker, "no-such-scheme")
    with pytest.raises(WorkflowFailureError):
        await unknown.result()
    assert "no import scheme" in (await unknown.query("status"))["reason"]
    with session_scope() as session:
        assert session.get(ImportScheme, scheme_id).seed_commitment is None  # type: ignore[union-attr]
