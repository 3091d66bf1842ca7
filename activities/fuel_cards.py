"""Fuel cards in the registry (seed 002): the charge cycle's set-based chunks, station purchases,
balances.

The charge cycle (``charge_fuel_cards``) is ONE long activity per period. It walks every card in
keyset order of ``card_number``, ``policy.FUEL_CHARGE_CHUNK_CARDS`` at a time; each chunk is one
transaction of a few set-based statements over that key range:

1. worn-out cards cancelled (seed 002's table, by the card's use and the vehicle's model year);
2. a balance row for any card that lacks one (from its ``balance_litres``);
3. one ``fuel_charges`` row per due card (``INSERT ... SELECT ... ON CONFLICT DO NOTHING``: the
   primary key (card, period) lets no card be charged twice), tagged with the chunk's batch id;
4. the balances of exactly the rows step 3 inserted credited (``UPDATE ... FROM`` by batch id);
5. the run's cursor (last card) and counters, in the same transaction.

After each commit it heartbeats the last card; a retried attempt resumes after the later of its
heartbeat and the committed cursor, so a crash loses at most an uncommitted chunk and nothing is
charged twice (a chunk redone finds its rows and charges nothing).

A station purchase (``purchase``) is idempotent by (station, transaction id) and debits the quota
in ONE statement that reads and writes the balance (``UPDATE ... SET quota_ml = CASE ...
RETURNING``), inside the transaction that records the purchase: two purchases on one card take
turns on its row (PostgreSQL's row lock, SQLite's ``BEGIN IMMEDIATE``), and a check constraint
keeps the balance from ever going negative.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio import activity

from domain import policy
from lifecycles import fuel_cards as rules
from registry.db import session_scope
from registry.fuel_models import FuelBalance, FuelCharge, FuelChargeRun, FuelPeriodQuota, FuelPrice, FuelPurchase, FuelQuota
from registry.models import FuelCard, Instant


class PurchaseRefused(ValueError):
    """A purchase the registry will not record (unknown or inactive card, reused transaction id)."""


# --- reference data ---


def quotas_at(session: Session, at: datetime) -> list[rules.QuotaRule]:
    """Each use's quota in force at ``at`` (the latest row effective by then)."""
    latest = (
        select(FuelQuota.use, func.max(FuelQuota.effective_from).label("since"))
        .where(FuelQuota.effective_from <= at)
        .group_by(FuelQuota.use)
        .subquery()
    )
    rows = session.scalars(
        select(FuelQuota).join(latest, (FuelQuota.use == latest.c.use) & (FuelQuota.effective_from == latest.c.since))
    ).all()
    return [rules.QuotaRule(r.use, r.litres_per_charge, r.charges_per_month, r.worn_out_class) for r in rows]


def prices_at(session: Session, at: datetime) -> dict[str, int]:
    """Rials per litre of each price kind in force at ``at``."""
    latest = (
        select(FuelPrice.kind, func.max(FuelPrice.effective_from).label("since"))
        .where(FuelPrice.effective_from <= at)
        .group_by(FuelPrice.kind)
        .subquery()
    )
    rows = session.execute(
        select(FuelPrice.kind, FuelPrice.rial_per_litre).join(
            latest, (FuelPrice.kind == latest.c.kind) & (FuelPrice.effective_from == latest.c.since)
        )
    ).all()
    return {kind: rial for kind, rial in rows}


def set_quota(use: str, litres_per_charge: int, charges_per_month: int, worn_out_class: str, effective_from: datetime) -> None:
    """A dated quota (reference data): in force from ``effective_from`` until a later row."""
    if litres_per_charge < 0 or charges_per_month not in (1, 2):
        raise ValueError("a quota is zero or more litres, charged once or twice a month")
    with session_scope() as session:
        session.merge(
            FuelQuota(
                use=use,
                effective_from=effective_from,
                litres_per_charge=litres_per_charge,
                charges_per_month=charges_per_month,
                worn_out_class=worn_out_class,
            )
        )


def set_price(kind: str, rial_per_litre: int, effective_from: datetime) -> None:
    """A dated price in rials per litre (reference data)."""
    if kind not in ("quota", "free", "super") or not 0 < rial_per_litre <= policy.MAX_RIAL:
        raise ValueError("a price is of kind quota, free or super, more than zero rials a litre")
    with session_scope() as session:
        session.merge(FuelPrice(kind=kind, effective_from=effective_from, rial_per_litre=rial_per_litre))


# --- cards ---


def issue_card(card_number: str, vin: str, owner_national_id: str, use: str, at: datetime) -> None:
    """Record an issued card with an empty balance (the issuance case is not built yet: the CLI,
    tests and benchmark use this)."""
    with session_scope() as session:
        session.add(
            FuelCard(
                card_number=card_number,
                vin=vin,
                owner_national_id=owner_national_id,
                use=use,
                balance_litres=0,
                status="active",
                issued_at=at,
            )
        )
        session.flush()
        session.add(FuelBalance(card_number=card_number, quota_ml=0, last_debit_ml=0))


def issue_duplicate(old_card: str, new_card: str, reason: str, at: datetime) -> dict[str, Any]:
    """A duplicate card (کارت سوخت المثنی, seed 002): the old card is expired first and its balance
    zeroed («لازم است ابتدا کارت سوخت قبلی خود را منقضی کند»; «بعد از صدور کارت المثنی، موجودی کارت قبلی
    صفر می شود»), then the new card is recorded for the same vehicle and use with an empty balance
    (ours: the seed zeroes the old balance and carries none over). One transaction, the old card's
    row locked; asked again with the same cards it answers what it did."""
    if reason not in rules.DUPLICATE_REASONS:
        raise PurchaseRefused(f"a duplicate is for a card lost, damaged or not handed over, not {reason!r}")
    if not 0 < len(new_card) <= 20:
        raise PurchaseRefused("the new card number is 1 to 20 characters")
    with session_scope() as session:
        old = session.get(FuelCard, old_card, with_for_update=True)
        if old is None:
            raise PurchaseRefused("no fuel card with this number")
        done = session.get(FuelCard, new_card)
        if done is not None:
            if old.status == "expired" and done.vin == old.vin:
                return {"old_card": old_card, "new_card": new_card, "zeroed_litres": None, "replayed": True}
            raise PurchaseRefused("the new card number is taken")
        if old.status != "active":
            raise PurchaseRefused(f"only an active card is replaced by a duplicate (this one is {old.status})")
        balance = session.get(FuelBalance, old_card, with_for_update=True)
        zeroed = balance.quota_ml if balance is not None else old.balance_litres * rules.ML_PER_LITRE
        old.status, old.balance_litres = "expired", 0
        if balance is not None:
            balance.quota_ml = 0
        session.flush()
        session.add(
            FuelCard(
                card_number=new_card,
                vin=old.vin,
                owner_national_id=old.owner_national_id,
                use=old.use,
                balance_litres=0,
                status="active",
                issued_at=at,
            )
        )
        session.flush()
        session.add(FuelBalance(card_number=new_card, quota_ml=0, last_debit_ml=0))
        return {
            "old_card": old_card,
            "new_card": new_card,
            "zeroed_litres": str(Decimal(zeroed) / rules.ML_PER_LITRE),
            "replayed": False,
        }


def card_balance(card_number: str) -> dict[str, Any] | None:
    """A card's standing: status, use, quota balance and cap, its last charges."""
    with session_scope() as session:
        card = session.get(FuelCard, card_number)
        if card is None:
            return None
        balance = session.get(FuelBalance, card_number)
        quota = {r.use: r for r in quotas_at(session, datetime.now(UTC))}.get(card.use)
        charges = session.scalars(
            select(FuelCharge).where(FuelCharge.card_number == card_number).order_by(FuelCharge.period.desc()).limit(12)
        ).all()
        return {
            "card_number": card.card_number,
            "status": card.status,
            "use": card.use,
            "quota_litres": str(Decimal(balance.quota_ml if balance else card.balance_litres * 1000) / rules.ML_PER_LITRE),
            "cap_litres": quota.cap_litres if quota else None,
            "charges": [
                {"period": c.period, "litres": str(Decimal(c.credited_ml) / rules.ML_PER_LITRE), "capped": c.capped}
                for c in charges
            ],
        }


# --- the charge cycle ---


@dataclass
class RunOpen:
    run: str
    workflow_id: str
    at: datetime


@dataclass
class ChargeRequest:
    run: str
    """The period's key, ``1404-09-1``."""
    chunk_cards: int = policy.FUEL_CHARGE_CHUNK_CARDS


def _totals() -> dict[str, Any]:
    return {"cards_charged": 0, "millilitres": 0, "capped": 0, "cancelled_worn_out": 0, "chunks": 0, "skipped": {}}


@activity.defn
def open_fuel_charge_run(request: RunOpen) -> dict[str, Any]:
    """The period's run row, created once: ``{"status", "totals", "after_card"}``."""
    rules.parse_period(request.run)
    try:
        with session_scope() as session:
            if session.get(FuelChargeRun, request.run) is None:
                session.add(
                    FuelChargeRun(
                        run=request.run,
                        workflow_id=request.workflow_id,
                        status="running",
                        after_card="",
                        totals=_totals(),
                        started_at=request.at,
                    )
                )
    except IntegrityError:
        pass  # another run of the same period wrote it first
    return read_fuel_charge_progress(request.run)


@activity.defn
def read_fuel_charge_progress(run: str) -> dict[str, Any]:
    with session_scope() as session:
        row = session.get(FuelChargeRun, run)
        if row is None:
            return {"status": "absent", "totals": _totals(), "after_card": ""}
        return {"status": row.status, "totals": dict(row.totals), "after_card": row.after_card}


def _snapshot_quotas(session: Session, period: rules.ChargePeriod) -> None:
    """Fix the run's quotas (in force at the period's start) once; a retry keeps the same."""
    if session.scalar(select(func.count()).select_from(FuelPeriodQuota).where(FuelPeriodQuota.run == period.key)):
        return
    year = period.gregorian_year
    for rule in quotas_at(session, period.starts_at):
        session.add(
            FuelPeriodQuota(
                run=period.key,
                use=rule.use,
                quota_ml=rule.litres_per_charge * rules.ML_PER_LITRE,
                cap_ml=rule.cap_litres * rules.ML_PER_LITRE,
                heavy=rule.heavy,
                last_worn_out_model_year=rules.last_worn_out_model_year(rule.worn_out_class, year),
            )
        )


_CHUNK_END = text(
    "SELECT MAX(card_number) FROM (SELECT card_number FROM fuel_cards WHERE card_number > :after "
    "ORDER BY card_number LIMIT :n) AS chunk"
)

_CANCEL_WORN_OUT = text(
    "UPDATE fuel_cards SET status = 'cancelled' "
    "WHERE card_number > :after AND card_number <= :last AND status = 'active' AND EXISTS ("
    " SELECT 1 FROM vehicles v JOIN fuel_period_quotas q ON q.run = :run AND q.use = fuel_cards.use"
    " WHERE v.vin = fuel_cards.vin AND v.production_year <= q.last_worn_out_model_year)"
)

_ENSURE_BALANCES = text(
    "INSERT INTO fuel_balances (card_number, quota_ml, last_debit_ml) "
    "SELECT c.card_number, c.balance_litres * 1000, 0 FROM fuel_cards c "
    "WHERE c.card_number > :after AND c.card_number <= :last AND c.status = 'active' "
    "AND NOT EXISTS (SELECT 1 FROM fuel_balances b WHERE b.card_number = c.card_number "
    "AND b.card_number > :after AND b.card_number <= :last) "
    "ON CONFLICT (card_number) DO NOTHING"
)

_CHARGE = text(
    "INSERT INTO fuel_charges (card_number, period, credited_ml, capped, batch, charged_at) "
    "SELECT c.card_number, CASE WHEN q.heavy THEN :half_key ELSE :month_key END, "
    " CASE WHEN b.quota_ml + q.quota_ml <= q.cap_ml THEN q.quota_ml"
    "      WHEN b.quota_ml >= q.cap_ml THEN 0 ELSE q.cap_ml - b.quota_ml END, "
    " b.quota_ml + q.quota_ml > q.cap_ml, :batch, :at "
    "FROM fuel_cards c JOIN fuel_balances b ON b.card_number = c.card_number "
    "JOIN fuel_period_quotas q ON q.run = :run AND q.use = c.use "
    "WHERE c.card_number > :after AND c.card_number <= :last AND c.status = 'active' AND (q.heavy OR :monthly) "
    "AND b.card_number > :after AND b.card_number <= :last "
    "ON CONFLICT (card_number, period) DO NOTHING"
).bindparams(bindparam("at", type_=Instant))

_CHARGE_AND_CREDIT_PG = text(
    "WITH ins AS (" + _CHARGE.text + " RETURNING card_number, credited_ml, capped), "
    "upd AS (UPDATE fuel_balances b SET quota_ml = b.quota_ml + ins.credited_ml FROM ins "
    "WHERE b.card_number = ins.card_number AND ins.credited_ml > 0 RETURNING 1) "
    "SELECT COUNT(*), COALESCE(SUM(credited_ml), 0), COALESCE(SUM(CASE WHEN capped THEN 1 ELSE 0 END), 0), "
    "(SELECT COUNT(*) FROM upd) FROM ins"
).bindparams(bindparam("at", type_=Instant))

_CREDIT = text(
    "UPDATE fuel_balances SET quota_ml = fuel_balances.quota_ml + ch.credited_ml "
    "FROM fuel_charges ch WHERE ch.card_number = fuel_balances.card_number AND ch.batch = :batch "
    "AND ch.card_number > :after AND ch.card_number <= :last AND ch.credited_ml > 0 "
    "AND fuel_balances.card_number > :after AND fuel_balances.card_number <= :last"
)

_CHARGED = text(
    "SELECT COUNT(*), COALESCE(SUM(credited_ml), 0), COALESCE(SUM(CASE WHEN capped THEN 1 ELSE 0 END), 0) "
    "FROM fuel_charges WHERE card_number > :after AND card_number <= :last AND batch = :batch"
)

_STANDING = text(
    "SELECT c.status, q.use IS NULL, COALESCE(q.heavy, false), COUNT(*) FROM fuel_cards c "
    "LEFT JOIN fuel_period_quotas q ON q.run = :run AND q.use = c.use "
    "WHERE c.card_number > :after AND c.card_number <= :last GROUP BY 1, 2, 3"
)


def charge_chunk(session: Session, period: rules.ChargePeriod, after: str, last: str, at: datetime) -> dict[str, Any]:
    """Charge the cards after ``after`` up to ``last`` (one transaction, set-based); what it did."""
    batch = uuid.uuid4().hex[:16]
    keys = {"run": period.key, "after": after, "last": last}
    cancelled = cast(CursorResult[Any], session.execute(_CANCEL_WORN_OUT, keys)).rowcount
    session.execute(_ENSURE_BALANCES, {"after": after, "last": last})
    params = {
        **keys,
        "half_key": period.key,
        "month_key": period.month_key,
        "batch": batch,
        "at": at,
        "monthly": period.charges_monthly_uses,
    }
    if session.get_bind().dialect.name == "postgresql":
        # One statement: the charge rows, the balances of exactly those rows, their counts.
        row = session.execute(_CHARGE_AND_CREDIT_PG, params).one()
    else:  # SQLite has no writable CTEs: the same in three statements of this transaction
        session.execute(_CHARGE, params)
        session.execute(_CREDIT, {"after": after, "last": last, "batch": batch})
        row = session.execute(_CHARGED, {"after": after, "last": last, "batch": batch}).one()
    charged, millilitres, capped = int(row[0]), int(row[1]), int(row[2])
    skipped: dict[str, int] = {}
    due = 0
    for status, no_quota, heavy, count in session.execute(_STANDING, keys):
        if status != "active":
            skipped[f"card_{status}"] = skipped.get(f"card_{status}", 0) + int(count)
        elif no_quota:
            skipped["no_quota_for_use"] = skipped.get("no_quota_for_use", 0) + int(count)
        elif heavy or period.charges_monthly_uses:
            due += int(count)
        else:
            skipped["monthly_use_not_due_this_half"] = skipped.get("monthly_use_not_due_this_half", 0) + int(count)
    if cancelled:
        skipped["card_cancelled"] -= cancelled
        if not skipped["card_cancelled"]:
            del skipped["card_cancelled"]
    if due - charged:
        skipped["already_charged"] = due - charged
    return {
        "cards_charged": charged,
        "millilitres": millilitres,
        "capped": capped,
        "cancelled_worn_out": cancelled,
        "skipped": skipped,
    }


def _add(totals: dict[str, Any], chunk: dict[str, Any]) -> dict[str, Any]:
    out = {**totals, "skipped": dict(totals.get("skipped", {}))}
    for key in ("cards_charged", "millilitres", "capped", "cancelled_worn_out"):
        out[key] = out.get(key, 0) + chunk[key]
    for reason, count in chunk["skipped"].items():
        out["skipped"][reason] = out["skipped"].get(reason, 0) + count
    out["chunks"] = out.get("chunks", 0) + 1
    return out


def report(run: str, totals: dict[str, Any]) -> dict[str, Any]:
    """The run's report: cards charged, litres, capped, cancelled as worn out, skipped with reasons."""
    return {
        "run": run,
        "cards_charged": totals["cards_charged"],
        "litres": str(Decimal(totals["millilitres"]) / rules.ML_PER_LITRE),
        "capped": totals["capped"],
        "cancelled_worn_out": totals["cancelled_worn_out"],
        "skipped": dict(sorted(totals["skipped"].items())),
        "chunks": totals.get("chunks", 0),
    }


def run_charge(request: ChargeRequest, after_chunk: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Charge every card for the run's period, resuming after the last committed chunk."""
    period = rules.parse_period(request.run)
    at = datetime.now(UTC)
    heartbeat = activity.info().heartbeat_details if activity.in_activity() else ()
    with session_scope() as session:
        _snapshot_quotas(session, period)
    with session_scope() as session:
        row = session.get(FuelChargeRun, period.key)
        if row is None:
            raise RuntimeError(f"no charge run {period.key} is open")
        if row.status == "done":
            return report(period.key, row.totals)
        after = max(str(heartbeat[0]) if heartbeat else "", row.after_card)
    resumed_after = after
    done = 0
    while True:
        with session_scope() as session:
            last = session.execute(_CHUNK_END, {"after": after, "n": request.chunk_cards}).scalar()
            if last is None:
                break
            chunk = charge_chunk(session, period, after, last, at)
            run = session.get(FuelChargeRun, period.key, with_for_update=True)
            assert run is not None
            if run.after_card > after:  # another attempt committed this chunk first: undo ours
                raise RuntimeError("a concurrent attempt of the charge run moved past this chunk")
            run.totals = _add(run.totals, chunk)
            run.after_card = last
        after = last
        done += 1
        if activity.in_activity():
            activity.heartbeat(after)
        if after_chunk is not None:
            after_chunk(done)
    with session_scope() as session:
        run = session.get(FuelChargeRun, period.key, with_for_update=True)
        assert run is not None
        if run.status != "done":
            run.status, run.finished_at = "done", datetime.now(UTC)
        result = report(period.key, run.totals)
    result["resumed_after"] = resumed_after or None
    return result


@activity.defn
def charge_fuel_cards(request: ChargeRequest) -> dict[str, Any]:
    """Charge every active card for the period (the charge cycle's one long activity)."""
    return run_charge(request)


# --- station purchases ---


@dataclass
class PurchaseInput:
    station_id: str
    station_txn_id: str
    card_number: str
    litres: str
    """Litres as the pump reports them (at most three decimals)."""
    grade: rules.Grade = "regular"
    at: datetime | None = None


_DEBIT = text(
    "UPDATE fuel_balances SET "
    "quota_ml = CASE WHEN quota_ml >= :ml THEN quota_ml - :ml ELSE 0 END, "
    "last_debit_ml = CASE WHEN quota_ml >= :ml THEN :ml ELSE quota_ml END "
    "WHERE card_number = :card AND EXISTS "
    "(SELECT 1 FROM fuel_cards c WHERE c.card_number = :card AND c.status = 'active') "
    "RETURNING last_debit_ml, quota_ml"
)


def _purchase_view(p: FuelPurchase, balance_ml: int | None, replayed: bool) -> dict[str, Any]:
    return {
        "station_id": p.station_id,
        "station_txn_id": p.station_txn_id,
        "card_number": p.card_number,
        "grade": p.grade,
        "litres": str(Decimal(p.litres_ml) / rules.ML_PER_LITRE),
        "quota_litres": str(Decimal(p.quota_ml) / rules.ML_PER_LITRE),
        "free_litres": str(Decimal(p.free_ml) / rules.ML_PER_LITRE),
        "amount_rial": p.amount_rial,
        "quota_left_litres": None if balance_ml is None else str(Decimal(balance_ml) / rules.ML_PER_LITRE),
        "replayed": replayed,
    }


def _existing(session: Session, request: PurchaseInput, ml: int) -> dict[str, Any] | None:
    p = session.scalars(
        select(FuelPurchase).where(
            FuelPurchase.station_id == request.station_id, FuelPurchase.station_txn_id == request.station_txn_id
        )
    ).one_or_none()
    if p is None:
        return None
    if (p.card_number, p.litres_ml, p.grade) != (request.card_number, ml, request.grade):
        raise PurchaseRefused("this station transaction id was recorded for another sale")
    return _purchase_view(p, None, replayed=True)


def purchase(request: PurchaseInput) -> dict[str, Any]:
    """Record a station's sale once; the quota is debited first, then free litres are charged."""
    if not (0 < len(request.station_id) <= 32 and 0 < len(request.station_txn_id) <= 64 and 0 < len(request.card_number) <= 20):
        raise PurchaseRefused("station_id (≤32), station_txn_id (≤64) and card_number (≤20) are required")
    if request.grade not in ("regular", "super"):
        raise PurchaseRefused("grade is regular or super")
    try:
        ml = rules.litres_to_ml(request.litres)
    except (ArithmeticError, ValueError) as err:
        raise PurchaseRefused(f"litres: {err}") from None
    if not 0 < ml <= policy.FUEL_PURCHASE_MAX_LITRES * rules.ML_PER_LITRE:
        raise PurchaseRefused(f"litres are more than zero and at most {policy.FUEL_PURCHASE_MAX_LITRES}")
    at = request.at or datetime.now(UTC)
    try:
        with session_scope() as session:
            prices = {kind: int(rial) for kind, rial in session.execute(_PRICES, {"at": at})}
            if set(prices) != {"quota", "free", "super"}:
                raise PurchaseRefused("no fuel prices are in force at this time")
            row = session.execute(
                _DEBIT, {"ml": 0 if request.grade == "super" else ml, "card": request.card_number}
            ).one_or_none()
            if row is None:
                raise PurchaseRefused("no active fuel card with this number")
            debited, left = int(row[0]), int(row[1])
            split = rules.split_purchase(ml, debited, request.grade, prices)
            values = {
                "station_id": request.station_id,
                "station_txn_id": request.station_txn_id,
                "card_number": request.card_number,
                "grade": request.grade,
                "litres_ml": ml,
                "quota_ml": split.quota_ml,
                "free_ml": split.free_ml,
                "quota_rial_per_litre": split.quota_rial_per_litre,
                "free_rial_per_litre": split.free_rial_per_litre,
                "amount_rial": split.amount_rial,
                "at": at,
            }
            if session.execute(_RECORD, values).first() is None:
                raise _Recorded  # the transaction id is taken: roll the debit back
            return _purchase_view(FuelPurchase(**values), left, replayed=False)
    except (_Recorded, IntegrityError):
        with session_scope() as session:
            done = _existing(session, request, ml)
        if done is None:
            raise
        return done


class _Recorded(Exception):
    """The station's transaction id is recorded already (by an earlier or a concurrent call)."""


_PRICES = text(
    "SELECT p.kind, p.rial_per_litre FROM fuel_prices p WHERE p.effective_from = "
    "(SELECT MAX(p2.effective_from) FROM fuel_prices p2 WHERE p2.kind = p.kind AND p2.effective_from <= :at)"
).bindparams(bindparam("at", type_=Instant))

_RECORD = text(
    "INSERT INTO fuel_purchases (station_id, station_txn_id, card_number, grade, litres_ml, quota_ml, free_ml, "
    "quota_rial_per_litre, free_rial_per_litre, amount_rial, at) VALUES (:station_id, :station_txn_id, :card_number, "
    ":grade, :litres_ml, :quota_ml, :free_ml, :quota_rial_per_litre, :free_rial_per_litre, :amount_rial, :at) "
    "ON CONFLICT (station_id, station_txn_id) DO NOTHING RETURNING id"
).bindparams(bindparam("at", type_=Instant))


ACTIVITIES: list[Callable[..., Any]] = [open_fuel_charge_run, read_fuel_charge_progress, charge_fuel_cards]
