"""Fuel cards (seed 002): quotas, carry-over, prices, purchases and the charge cycle, at their
boundaries, on the session's database (SQLite, or PostgreSQL with ``--db postgres``) and the
time-skipping Temporal server.

Every charge run here uses its own period, so runs of different tests never meet; assertions are
about the cards a test made (the registry may hold other tests' cards).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities import fuel_cards as fuel
from domain import policy
from lifecycles import fuel_cards as rules
from registry.db import session_scope
from registry.fuel_models import FuelBalance, FuelCharge, FuelChargeRun, FuelPurchase
from registry.models import FuelCard, Vehicle
from tests.dev_server import dev_server  # noqa: F401 - a fixture
from tests.recorded import replays_now
from workflows.fuel_charge import FuelChargeInput, FuelChargeWorkflow

# --- pure rules ---


def test_carry_over_cap_is_nine_months_of_quota_as_the_seed_counts_it() -> None:
    for use, cap in policy.FUEL_CARRY_OVER_CAP_LITRES_EXAMPLES.items():
        assert rules.carry_over_cap_litres(policy.FUEL_QUOTA_LITRES_PER_MONTH[use]) == cap
    assert rules.carry_over_cap_litres(60) == 540 and rules.carry_over_cap_litres(25) == 225


def test_quota_cap_at_exactly_nine_months() -> None:
    quota, cap, balance = 60_000, 540_000, 0
    for month in range(1, 10):
        step = rules.charged(balance, quota, cap)
        balance = step.balance_ml
        assert (balance, step.credited_ml, step.capped) == (60_000 * month, 60_000, False)
    tenth = rules.charged(balance, quota, cap)
    assert (tenth.balance_ml, tenth.credited_ml, tenth.capped) == (540_000, 0, True)
    partly = rules.charged(500_000, quota, cap)  # 40 L of room: 40 credited, the rest kept out
    assert (partly.balance_ml, partly.credited_ml, partly.capped) == (540_000, 40_000, True)


def test_charge_periods_are_halves_of_a_jalali_month_in_tehran() -> None:
    first = rules.jalali_day_start(1403, 7, 1)
    assert rules.period_at(first).key == "1403-07-1"
    assert rules.period_at(first - timedelta(microseconds=1)).key == "1403-06-2"
    second = rules.jalali_day_start(1403, 7, 16)
    assert rules.period_at(second - timedelta(microseconds=1)).key == "1403-07-1"
    assert rules.period_at(second).key == "1403-07-2"
    assert rules.parse_period("1403-12-2").following().key == "1404-01-1"
    p = rules.parse_period("1403-07-2")
    assert (p.month_key, p.key_for(True), p.key_for(False), p.charges_monthly_uses) == ("1403-07", "1403-07-2", "1403-07", False)
    for bad in ("1403-13-1", "1403-07-3", "1403-7-1", "x"):
        with pytest.raises(ValueError):
            rules.parse_period(bad)


def test_a_purchase_spans_quota_then_free_litres_and_super_never_takes_quota() -> None:
    prices = rules.default_prices_rial()
    assert prices == {"quota": 15_000, "free": 30_000, "super": 35_000}  # rials: 1,500 / 3,000 / 3,500 toman
    split = rules.split_purchase(25_000, 10_000, "regular", prices)
    assert (split.quota_ml, split.free_ml, split.amount_rial) == (10_000, 15_000, 10 * 15_000 + 15 * 30_000)
    assert rules.split_purchase(25_000, 40_000, "regular", prices).free_ml == 0
    assert rules.split_purchase(1, 0, "regular", prices).amount_rial == 30  # 1 ml at 30,000 rials a litre
    sup = rules.split_purchase(20_000, 60_000, "super", prices)
    assert (sup.quota_ml, sup.amount_rial) == (0, 20 * 35_000)
    assert rules.litres_to_ml("12.345") == 12_345
    with pytest.raises(ValueError):
        rules.litres_to_ml("1.2345")


def test_worn_out_ages_by_seed_002s_table() -> None:
    assert rules.is_worn_out("taxi", 2015, 2025) and not rules.is_worn_out("taxi", 2016, 2025)
    assert rules.is_worn_out("private_car", 2000, 2025) and not rules.is_worn_out("private_car", 2001, 2025)
    assert rules.is_worn_out("motorcycle", 2015, 2025) and not rules.is_worn_out("motorcycle", 2016, 2025)
    assert rules.worn_out_age_years("city_bus") == 10 and rules.worn_out_age_years("tractor_unit") == 15
    assert rules.worn_out_age_years("unknown") == 25  # «سایر وسائل نقلیه با عمر ۲۵ سال»
    assert set(policy.FUEL_WORN_OUT_CLASS_BY_USE) == set(policy.FUEL_QUOTA_LITRES_PER_MONTH) | set(
        policy.FUEL_HEAVY_QUOTA_LITRES_PER_CHARGE
    )


# --- the registry ---


def new_card(use: str = "private_petrol", production_year: int = 2020, balance_litres: int = 0) -> str:
    vin = uuid.uuid4().hex[:17].upper()
    card = f"T{uuid.uuid4().hex[:15].upper()}"
    with session_scope() as session:
        session.add(Vehicle(vin=vin, owner_national_id="0000000000", kind="passenger_car", production_year=production_year))
    fuel.issue_card(card, vin, "0000000000", use, datetime.now(UTC))
    if balance_litres:
        with session_scope() as session:
            balance = session.get(FuelBalance, card)
            assert balance is not None
            balance.quota_ml = balance_litres * 1000
    return card


def quota_ml(card: str) -> int:
    with session_scope() as session:
        balance = session.get(FuelBalance, card)
        assert balance is not None
        return balance.quota_ml


def charges(card: str) -> list[tuple[str, int, bool]]:
    with session_scope() as session:
        rows = session.scalars(select(FuelCharge).where(FuelCharge.card_number == card).order_by(FuelCharge.period))
        return [(r.period, r.credited_ml, r.capped) for r in rows]


def buy(card: str, litres: str, txn: str | None = None, at: datetime | None = None, grade: Any = "regular") -> dict[str, Any]:
    return fuel.purchase(fuel.PurchaseInput("ST-1", txn or uuid.uuid4().hex, card, litres, grade, at))


def open_run(run: str) -> None:
    fuel.open_fuel_charge_run(fuel.RunOpen(run, f"test-{run}", datetime.now(UTC)))


def charge(run: str, chunk_cards: int = 50) -> dict[str, Any]:
    open_run(run)
    return fuel.run_charge(fuel.ChargeRequest(run, chunk_cards))


def test_a_purchase_debits_quota_then_free_and_never_drives_the_balance_negative(database: str) -> None:
    card = new_card(balance_litres=10)
    first = buy(card, "25")
    assert (first["quota_litres"], first["free_litres"], first["amount_rial"]) == ("10", "15", 10 * 15_000 + 15 * 30_000)
    assert first["quota_left_litres"] == "0" and quota_ml(card) == 0
    second = buy(card, "5.5")
    assert (second["quota_litres"], second["free_litres"], second["amount_rial"]) == ("0", "5.5", 165_000)
    assert quota_ml(card) == 0


def test_a_station_purchase_is_idempotent_by_its_transaction_id(database: str) -> None:
    card = new_card(balance_litres=60)
    once = buy(card, "20", txn="TX-1-" + card)
    again = buy(card, "20", txn="TX-1-" + card)
    assert not once["replayed"] and again["replayed"]
    assert again["amount_rial"] == once["amount_rial"] == 20 * 15_000
    assert quota_ml(card) == 40_000
    with session_scope() as session:
        assert session.scalar(select(func.count()).where(FuelPurchase.card_number == card)) == 1
    with pytest.raises(fuel.PurchaseRefused, match="another sale"):
        buy(card, "21", txn="TX-1-" + card)
    with pytest.raises(fuel.PurchaseRefused, match="no active fuel card"):
        buy("NO-SUCH-CARD", "1")


def test_concurrent_purchases_on_one_card_take_the_quota_exactly_once(database: str) -> None:
    card = new_card(balance_litres=60)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results.append(buy(card, "7", txn=f"C-{card}-{i}"))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(rules.litres_to_ml(r["quota_litres"]) for r in results) == 60_000  # 8 × 7 L + 4 L, then free
    assert sum(rules.litres_to_ml(r["free_litres"]) for r in results) == 12 * 7_000 - 60_000
    assert quota_ml(card) == 0


def test_prices_switch_at_their_effective_date(database: str) -> None:
    since = rules.seed_figures_effective_from()  # the migration's rows, from domain/policy.py
    with session_scope() as session:
        assert fuel.prices_at(session, since - timedelta(microseconds=1)) == {}
        assert fuel.prices_at(session, since) == rules.default_prices_rial()
        assert {q.use: q.litres_per_charge for q in fuel.quotas_at(session, since)}["private_petrol"] == 60
    switch = rules.jalali_day_start(1420, 1, 1)  # far from every other test's purchases
    fuel.set_price("free", 50_000, switch)
    fuel.set_price("quota", 15_000, switch)
    fuel.set_price("super", 60_000, switch)
    card = new_card()
    before = buy(card, "2", at=switch - timedelta(microseconds=1))
    at = buy(card, "2", at=switch)
    assert before["amount_rial"] == 2 * 30_000 and at["amount_rial"] == 2 * 50_000
    assert buy(card, "1", at=switch, grade="super")["amount_rial"] == 60_000


def test_charges_at_the_cap_of_exactly_nine_months(database: str) -> None:
    car, bike = new_card("private_petrol"), new_card("motorcycle")
    period = rules.parse_period("1402-01-1")
    for _ in range(10):
        charge(period.key)
        period = period.following().following()
    assert [c[1] for c in charges(car)] == [60_000] * 9 + [0]
    assert [c[2] for c in charges(car)] == [False] * 9 + [True]
    assert quota_ml(car) == 540_000 and quota_ml(bike) == 225_000
    buy(car, "10")
    charge(period.key)  # the eleventh month refills to the cap, no further
    assert charges(car)[-1][1:] == (10_000, True) and quota_ml(car) == 540_000


def test_a_heavy_vehicle_is_charged_twice_a_month(database: str) -> None:
    truck, car = new_card("truck"), new_card("private_petrol")
    first = charge("1403-03-1")
    second = charge("1403-03-2")
    per_charge = policy.FUEL_HEAVY_QUOTA_LITRES_PER_CHARGE["truck"] * 1000
    assert charges(truck) == [("1403-03-1", per_charge, False), ("1403-03-2", per_charge, False)]
    assert charges(car) == [("1403-03", 60_000, False)]
    assert quota_ml(truck) == 2 * per_charge
    assert first["cards_charged"] >= 2 and second["skipped"]["monthly_use_not_due_this_half"] >= 1


def test_quotas_are_dated_and_worn_out_cards_are_cancelled_by_the_cycle(database: str) -> None:
    use = f"test_{uuid.uuid4().hex[:8]}"
    fuel.set_quota(use, 70, 1, "taxi", rules.jalali_day_start(1403, 4, 1))
    fuel.set_quota(use, 80, 1, "taxi", rules.jalali_day_start(1403, 5, 1))
    card = new_card(use)
    old_taxi = new_card(use, production_year=2010)  # 10 years make a taxi worn out (seed 002)
    unknown = new_card(f"nouse_{uuid.uuid4().hex[:6]}")
    charge("1403-04-1")
    charge("1403-05-1")
    assert [c[1] for c in charges(card)] == [70_000, 80_000]
    with session_scope() as session:
        assert session.get(FuelCard, old_taxi).status == "cancelled"  # type: ignore[union-attr]
    assert charges(old_taxi) == [] and charges(unknown) == []
    with pytest.raises(fuel.PurchaseRefused, match="no active fuel card"):
        buy(old_taxi, "1")


def test_a_chunk_charged_again_charges_nothing(database: str) -> None:
    cards = sorted(new_card() for _ in range(3))
    period = rules.parse_period("1404-02-1")
    charge(period.key)
    before = [quota_ml(c) for c in cards]
    with session_scope() as session:
        again = fuel.charge_chunk(session, period, "", cards[-1], datetime.now(UTC))
    assert again["cards_charged"] == 0 and again["skipped"]["already_charged"] >= 3
    assert [quota_ml(c) for c in cards] == before
    assert charge(period.key)["cards_charged"] >= 3  # the done run answers its report, charging nothing
    assert [quota_ml(c) for c in cards] == before


# --- the charge cycle on Temporal ---


async def test_the_charge_workflow_reports_and_a_rerun_charges_nothing(client: Client, worker: Worker) -> None:
    cards = [new_card("private_petrol"), new_card("taxi_petrol"), new_card("city_bus")]
    run = "1405-01-1"
    result = await client.execute_workflow(
        FuelChargeWorkflow.run, FuelChargeInput(run, chunk_cards=4), id=f"fuel-charge-{run}", task_queue=worker.task_queue
    )
    assert result["run"] == run and result["cards_charged"] >= 3
    assert [quota_ml(c) for c in cards] == [60_000, 400_000, policy.FUEL_HEAVY_QUOTA_LITRES_PER_CHARGE["city_bus"] * 1000]
    again = await client.execute_workflow(
        FuelChargeWorkflow.run, FuelChargeInput(run, chunk_cards=4), id=f"fuel-charge-{run}-again", task_queue=worker.task_queue
    )
    assert again == {k: v for k, v in result.items() if k != "resumed_after"}
    assert [quota_ml(c) for c in cards] == [60_000, 400_000, policy.FUEL_HEAVY_QUOTA_LITRES_PER_CHARGE["city_bus"] * 1000]
    progress = await client.get_workflow_handle(f"fuel-charge-{run}-again").query(FuelChargeWorkflow.progress)
    assert progress["done"] and progress["totals"]["cards_charged"] == result["cards_charged"]
    details = (
        await client.get_workflow_handle(f"fuel-charge-{run}").query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    ).current_details
    assert f"دوره {run} — پایان یافت" in details and f"کارت شارژشده: {result['cards_charged']:,}" in details
    await replays_now(
        [FuelChargeWorkflow],
        client.get_workflow_handle(f"fuel-charge-{run}"),
        client.get_workflow_handle(f"fuel-charge-{run}-again"),
    )


CRASH_AFTER_CHUNKS = 2
SEEN_HEARTBEATS: list[tuple[int, tuple[Any, ...]]] = []


@activity.defn(name="charge_fuel_cards")
def crashing_charge(request: fuel.ChargeRequest) -> dict[str, Any]:
    """The real activity, which fails on its first attempt once two chunks are committed."""
    info = activity.info()
    SEEN_HEARTBEATS.append((info.attempt, tuple(info.heartbeat_details)))

    def after_chunk(done: int) -> None:
        if info.attempt == 1 and done == CRASH_AFTER_CHUNKS:
            raise ApplicationError("crash in the middle of the charge run")

    return fuel.run_charge(request, after_chunk)


async def test_the_charge_cycle_killed_mid_way_resumes_without_charging_any_card_twice(client: Client, worker: Worker) -> None:
    from worker import ACTIVITIES, build_worker

    cards = sorted(new_card() for _ in range(12))
    run, chunk = "1405-02-1", 4
    with session_scope() as session:  # where the crash falls: after the second chunk of all cards
        numbers = list(session.scalars(select(FuelCard.card_number).order_by(FuelCard.card_number)))
    crash_point = numbers[CRASH_AFTER_CHUNKS * chunk - 1]
    activities = [a for a in ACTIVITIES if a is not fuel.charge_fuel_cards] + [crashing_charge]
    SEEN_HEARTBEATS.clear()
    async with build_worker(client, f"tq-{uuid.uuid4()}", activities=activities) as crashing:
        result = await client.execute_workflow(
            FuelChargeWorkflow.run,
            FuelChargeInput(run, chunk_cards=chunk),
            id=f"fuel-charge-{run}",
            task_queue=crashing.task_queue,
        )
    assert [attempt for attempt, _ in SEEN_HEARTBEATS] == [1, 2]
    assert SEEN_HEARTBEATS[1][1] == (crash_point,)  # the retry was told where the first attempt got to
    assert result["resumed_after"] == crash_point
    assert "already_charged" not in result["skipped"]  # no chunk was charged again
    assert result["chunks"] == -(-len(numbers) // chunk)
    for card in cards:
        assert charges(card) == [("1405-02", 60_000, False)] and quota_ml(card) == 60_000
    with session_scope() as session:
        row = session.get(FuelChargeRun, run)
        assert row is not None and row.status == "done" and row.totals["cards_charged"] == result["cards_charged"]


# --- the schedule, on a real dev server (the time-skipping server has no schedules) ---


async def test_the_schedule_starts_the_charge_of_the_current_period(dev_server: Any, database: str) -> None:  # noqa: F811
    import asyncio

    from worker import build_worker
    from workflows.fuel_charge import SCHEDULE_ID, ensure_schedule

    card = new_card("motorcycle")
    dev_client: Client = dev_server.client
    async with build_worker(dev_client, f"tq-{uuid.uuid4()}") as w:
        await ensure_schedule(dev_client, w.task_queue)
        await ensure_schedule(dev_client, w.task_queue)  # a second deploy updates it in place
        schedule = dev_client.get_schedule_handle(SCHEDULE_ID)
        described = await schedule.describe()
        assert [i.every for i in described.schedule.spec.intervals] == [policy.FUEL_CHARGE_SCHEDULE_EVERY]
        await schedule.trigger()
        started: list[str] = []
        for _ in range(600):  # the schedule starts the run within moments
            started = [a.action.workflow_id for a in (await schedule.describe()).info.recent_actions]  # type: ignore[attr-defined]
            if started:
                break
            await asyncio.sleep(0.1)
        result = await dev_client.get_workflow_handle(started[0]).result()
        await schedule.delete()
    period = rules.period_at(datetime.now(UTC))
    assert result["run"] == period.key
    if period.charges_monthly_uses:  # a monthly use is charged in the first half of a month only
        assert charges(card) == [(period.month_key, 25_000, False)]
    else:
        assert charges(card) == []


def test_a_duplicate_expires_the_old_card_and_zeroes_its_balance(database: str) -> None:
    old = new_card("private_petrol", balance_litres=100)
    new = f"D{uuid.uuid4().hex[:15].upper()}"
    done = fuel.issue_duplicate(old, new, "lost", datetime.now(UTC))
    assert done["zeroed_litres"] == "100" and not done["replayed"]
    assert fuel.issue_duplicate(old, new, "lost", datetime.now(UTC))["replayed"]
    assert quota_ml(old) == 0 and quota_ml(new) == 0
    with session_scope() as session:
        assert [session.get(FuelCard, c).status for c in (old, new)] == ["expired", "active"]  # type: ignore[union-attr]
    with pytest.raises(fuel.PurchaseRefused, match="no active fuel card"):
        buy(old, "1")
    with pytest.raises(fuel.PurchaseRefused, match="only an active card"):
        fuel.issue_duplicate(old, f"E{uuid.uuid4().hex[:15].upper()}", "damaged", datetime.now(UTC))
    with pytest.raises(fuel.PurchaseRefused, match="lost, damaged or not handed over"):
        fuel.issue_duplicate(new, f"E{uuid.uuid4().hex[:15].upper()}", "stolen", datetime.now(UTC))
    charge("1404-06-1")
    assert charges(old) == [] and charges(new) == [("1404-06", 60_000, False)]
