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

import asyncio
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

import settings
from activities.trust import UNAUTHENTICATED, StartToken
from activities.trust import spend as trust_spend
from domain import policy
from domain.calendar import tehran_today
from domain.display import iso, jalali_date
from lifecycles import fuel_card as card_rules
from lifecycles import fuel_cards as rules
from registry.db import session_scope
from registry.fuel_models import (
    FuelBalance,
    FuelCardGrant,
    FuelCardPin,
    FuelCardRequest,
    FuelCharge,
    FuelChargeRun,
    FuelPeriodQuota,
    FuelPrice,
    FuelPurchase,
    FuelQuota,
)
from registry.models import FuelCard, Instant, PlateRecord, Vehicle
from security import tokens


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
    """Record an issued card with an empty balance (the ``FuelCard`` case issues through
    :func:`issue_requested_card`; the CLI, tests and benchmark may use this directly)."""
    with session_scope() as session:
        _add_card(session, card_number, vin, owner_national_id, use, at)


def _add_card(session: Session, card_number: str, vin: str, owner_national_id: str, use: str, at: datetime) -> None:
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
    with session_scope() as session:
        return _duplicate(session, old_card, new_card, reason, at)


def _duplicate(session: Session, old_card: str, new_card: str, reason: str, at: datetime) -> dict[str, Any]:
    if reason not in rules.DUPLICATE_REASONS:
        raise PurchaseRefused(f"a duplicate is for a card lost, damaged or not handed over, not {reason!r}")
    if not 0 < len(new_card) <= 20:
        raise PurchaseRefused("the new card number is 1 to 20 characters")
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
    _add_card(session, new_card, old.vin, old.owner_national_id, old.use, at)
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


# --- issuance (the FuelCard case, issue 12) ---


@dataclass
class RequestCheck:
    """A ``FuelCard`` case's start, as the registry judges it (no PIN, nothing the case does not hold)."""

    workflow_id: str
    vin: str
    plate: str
    kind: str
    channel: str
    delivery: str
    applicant_national_id: str
    legal_entity: bool
    at: datetime
    reason: str | None = None
    reasons: list[str] = field(default_factory=list)
    """Reasons the case found in its own input (channel rules): recorded with the registry's."""


@activity.defn
def open_fuel_card_request(check: RequestCheck) -> dict[str, Any]:
    """Judge a request against the registry and record it, in ONE transaction: ``{"reasons", "use"}``.

    The request row is inserted open only when nothing refuses it; the partial unique index on open
    requests by VIN refuses a second open request for the vehicle, whatever raced it (the insert
    fails inside the transaction that read the registry, and the request is recorded refused).
    A retry finds its row and answers what it decided."""
    with session_scope() as session:
        done = session.get(FuelCardRequest, check.workflow_id)
        if done is not None:
            return {"reasons": list(done.reasons), "use": done.use}
        reasons = list(check.reasons) + _registry_reasons(session, check)
        vehicle = session.get(Vehicle, check.vin)
        use = card_rules.use_for(vehicle.kind, vehicle.fuel) if vehicle is not None else None
        row = FuelCardRequest(
            workflow_id=check.workflow_id,
            vin=check.vin,
            plate=check.plate,
            kind=check.kind,
            reason=check.reason,
            channel=check.channel,
            delivery=check.delivery,
            state="Issuing" if not reasons else "Rejected",
            open=not reasons,
            requested_at=check.at,
            updated_at=check.at,
            use=use,
            reasons=reasons,
        )
        if not reasons:
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:
                reasons = [
                    "another fuel card request for this vehicle is open (one application per vehicle at a time); "
                    "follow that one up, or wait for it to end"
                ]
                row = FuelCardRequest(**{**_columns(row), "state": "Rejected", "open": False, "reasons": reasons})
                session.add(row)
        else:
            session.add(row)
        return {"reasons": reasons, "use": use}


def _columns(row: FuelCardRequest) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in FuelCardRequest.__table__.columns}


def _registry_reasons(session: Session, check: RequestCheck) -> list[str]:
    """Why the registry refuses the request (seed 002), read in the transaction that records it."""
    vehicle = session.get(Vehicle, check.vin)
    if vehicle is None:
        return ["the registry has no vehicle with this VIN"]
    reasons: list[str] = []
    if vehicle.scrapped_at is not None:
        reasons.append("the vehicle was scrapped")
    if vehicle.plate != check.plate:
        reasons.append("the plate given is not the vehicle's plate in the registry")
    if not check.legal_entity and vehicle.owner_national_id != check.applicant_national_id:
        reasons.append(
            "the applicant is not the vehicle's registered owner"
            + (
                " (a USSD or app request is only the owner's own; register at a Police+10 office)"
                if check.channel in card_rules.SELF_SERVICE
                else ""
            )
        )
    worn = card_rules.worn_out_reason(vehicle.kind, vehicle.production_year, tehran_today(check.at).year)
    if worn:
        reasons.append(worn)
    if card_rules.use_for(vehicle.kind, vehicle.fuel) is None:
        reasons.append(
            f"a {vehicle.kind or 'vehicle of unknown kind'} running on {vehicle.fuel or 'unknown fuel'} takes no petrol card (ours)"
        )
    active = session.scalars(select(FuelCard.card_number).where(FuelCard.vin == check.vin, FuelCard.status == "active")).all()
    if check.kind == "new" and active:
        reasons.append("the vehicle has an active fuel card: ask for a duplicate (کارت المثنی) instead")
    if check.kind == "duplicate":
        plated = session.scalar(select(PlateRecord.plate).where(PlateRecord.vin == check.vin, PlateRecord.active.is_(True)))
        if plated is None:
            reasons.append(
                "an old-plate car gets a duplicate fuel card only after a plate change (seed 002 «خودروهای پلاک قدیمی، فقط در "
                "صورت تعویض پلاک می توانند کارت سوخت المثنی دریافت کنند»)"
            )
    return reasons


@dataclass
class CardIssue:
    workflow_id: str
    card_number: str
    at: datetime


class IssueRefused(ValueError):
    """The issuer's report cannot be recorded (the card number is taken, the vehicle changed)."""


@activity.defn
def issue_requested_card(issue: CardIssue) -> dict[str, Any]:
    """Record the card a request asked for, in ONE transaction: a duplicate expires the vehicle's
    active card first and zeroes its balance (:func:`issue_duplicate`'s rule); the PIN is set to
    the last four digits of the registered owner's national id, stored only as a salted scrypt hash.
    Returns the card's number, the old card and the litres zeroed (never the PIN); a retry finds
    the card it recorded."""
    with session_scope() as session:
        request = session.get(FuelCardRequest, issue.workflow_id, with_for_update=True)
        if request is None or not request.open:
            raise IssueRefused("no open fuel card request for this case")
        if request.card_number is not None:
            if request.card_number != issue.card_number:
                raise IssueRefused("this request's card was recorded with another number")
            return {"card_number": request.card_number, "old_card_number": request.old_card_number, "zeroed_litres": None}
        vehicle = session.get(Vehicle, request.vin)
        if vehicle is None or vehicle.scrapped_at is not None:
            raise IssueRefused("the vehicle is no longer in the registry or was scrapped")
        if session.get(FuelCard, issue.card_number) is not None:
            raise IssueRefused("the card number is taken")
        use = request.use or card_rules.use_for(vehicle.kind, vehicle.fuel)
        if use is None:
            raise IssueRefused("the vehicle takes no petrol card")
        old = session.scalars(
            select(FuelCard).where(FuelCard.vin == request.vin, FuelCard.status == "active").order_by(FuelCard.issued_at.desc())
        ).first()
        zeroed: str | None = None
        if old is not None:
            if request.kind != "duplicate":
                raise IssueRefused("the vehicle has an active card: only a duplicate replaces it")
            done = _duplicate(session, old.card_number, issue.card_number, request.reason or "lost", issue.at)
            zeroed = done["zeroed_litres"]
            request.old_card_number = old.card_number
        else:
            _add_card(session, issue.card_number, request.vin, vehicle.owner_national_id, use, issue.at)
        _store_pin(session, issue.card_number, card_rules.pin_of(vehicle.owner_national_id), "issue", issue.at)
        request.card_number, request.use = issue.card_number, use
        request.state = "Issued" if request.delivery == "post" else "AwaitingCollection"
        request.updated_at = issue.at
        return {"card_number": issue.card_number, "old_card_number": request.old_card_number, "zeroed_litres": zeroed}


@dataclass
class RequestState:
    workflow_id: str
    state: str
    at: datetime
    closed: bool = False
    tracking_number: str | None = None


@activity.defn
def record_fuel_card_request(change: RequestState) -> None:
    """Keep the request's row in step with its case (tracking reads it); a final state closes it,
    so the vehicle may be asked for again."""
    with session_scope() as session:
        row = session.get(FuelCardRequest, change.workflow_id, with_for_update=True)
        if row is None:
            return
        row.state, row.updated_at = change.state, change.at
        if change.tracking_number is not None:
            row.tracking_number = change.tracking_number
        if change.closed:
            row.open = False


def track(vin: str | None = None, plate: str | None = None) -> dict[str, Any] | None:
    """A vehicle's fuel card request by VIN or plate (seed 002 «رهگیری ... با وارد کردن کد ... VIN»):
    the open one, else the latest; states and Jalali dates. ``None`` when there is none."""
    if (vin is None) == (plate is None):
        raise ValueError("track by VIN or by plate")
    with session_scope() as session:
        where = FuelCardRequest.vin == vin if vin is not None else FuelCardRequest.plate == plate
        row = session.scalars(
            select(FuelCardRequest).where(where).order_by(FuelCardRequest.open.desc(), FuelCardRequest.requested_at.desc())
        ).first()
        if row is None:
            return None
        return {
            "workflow_id": row.workflow_id,
            "vin": row.vin,
            "plate": row.plate,
            "kind": row.kind,
            "channel": row.channel,
            "delivery": row.delivery,
            "state": row.state,
            "open": row.open,
            "requested_at": iso(row.requested_at),
            "requested_on_jalali": jalali_date(tehran_today(row.requested_at)),
            "updated_at": iso(row.updated_at),
            "updated_on_jalali": jalali_date(tehran_today(row.updated_at)),
            "card_number": row.card_number,
            "tracking_number": row.tracking_number,
            "reasons": list(row.reasons),
        }


# --- PINs (never in a workflow: hashed here, in the registry only) ---


class PinRefused(ValueError):
    """A PIN change or reset the registry will not make (the message never holds a PIN)."""


def _hash_pin(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, **policy.FUEL_CARD_PIN_SCRYPT)


def _store_pin(session: Session, card_number: str, pin: str, by: str, at: datetime) -> None:
    if not (len(pin) == policy.FUEL_CARD_PIN_DIGITS and pin.isascii() and pin.isdigit()):
        raise PinRefused(f"a PIN is {policy.FUEL_CARD_PIN_DIGITS} digits")
    salt = secrets.token_bytes(16)
    row = session.get(FuelCardPin, card_number, with_for_update=True)
    if row is None:
        session.add(FuelCardPin(card_number=card_number, salt=salt, pin_hash=_hash_pin(pin, salt), set_by=by, set_at=at))
    else:
        row.salt, row.pin_hash, row.set_by, row.set_at = salt, _hash_pin(pin, salt), by, at


def pin_matches(card_number: str, pin: str) -> bool:
    """Whether ``pin`` is the card's PIN (a station's check; constant-time comparison)."""
    with session_scope() as session:
        row = session.get(FuelCardPin, card_number)
        if row is None:
            return False
        return hmac.compare_digest(_hash_pin(pin, row.salt), row.pin_hash)


def pin_target(card_number: str) -> str:
    """The ``wid`` claim of a token that changes or resets a card's PIN (no personal data)."""
    return f"fuel-card-pin-{card_number}"


@dataclass
class PinChange:
    """``change_pin`` at a station (role ``station``: «به جایگاه سوخت بروید ... گزینه تغییر رمز»): the
    card's current PIN and the new one; ``reset_pin`` at a regional office (role ``fuel_office``:
    «اگر رمز را فراموش کرده باشید، تنها راه بازیابی آن مراجعه به نواحی شرکت ملی پخش»), new PIN only."""

    actor_token: str
    card_number: str
    new_pin: str
    current_pin: str | None = None
    namespace: str = "default"
    at: datetime | None = None


def _verify_pin_actor(change: PinChange, update: str, role: str, at: datetime) -> str:
    keys = tokens.installed()
    if keys is None:  # outside a worker (the CLI, a station's gateway): the deployment's key set
        try:
            keys = tokens.TrustedKeys.load(settings.actor_jwks_file())
        except (OSError, ValueError):
            raise PinRefused("this process trusts no actor keys (ACTOR_JWKS_FILE)") from None
    try:
        actor = keys.verify(
            change.actor_token, namespace=change.namespace, workflow_id=pin_target(change.card_number), update=update, now=at
        )
    except tokens.TokenRejected as err:
        raise PinRefused(f"{update}: {err}") from None
    if actor.role != role:
        raise PinRefused(f"{update}: only role {role!r} may do this, not {actor.role!r}")
    spent = StartToken(change.actor_token, pin_target(change.card_number), change.namespace, at, update, uuid.uuid4().hex)
    try:  # each token acts once: its ``jti`` is spent like a start token's
        trust_spend(actor.jti, spent)
    except ApplicationError:
        raise PinRefused(f"{update}: actor_token was already used (claim 'jti'); mint a new one") from None
    return actor.id


def change_pin(change: PinChange) -> dict[str, Any]:
    """A station changes a card's PIN, given the current one (seed 002)."""
    at = change.at or datetime.now(UTC)
    station = _verify_pin_actor(change, "change_pin", "station", at)
    if change.current_pin is None or not pin_matches(change.card_number, change.current_pin):
        raise PinRefused("change_pin: the current PIN is wrong (a forgotten PIN is reset only at a regional office)")
    with session_scope() as session:
        card = session.get(FuelCard, change.card_number)
        if card is None or card.status != "active":
            raise PinRefused("change_pin: no active fuel card with this number")
        _store_pin(session, change.card_number, change.new_pin, "station", at)
    return {"card_number": change.card_number, "changed_by": station, "at": iso(at)}


def reset_pin(change: PinChange) -> dict[str, Any]:
    """A regional office of the national oil products distribution company resets a forgotten PIN
    (seed 002): no current PIN is asked (the office checks the owner in person)."""
    at = change.at or datetime.now(UTC)
    office = _verify_pin_actor(change, "reset_pin", "fuel_office", at)
    with session_scope() as session:
        card = session.get(FuelCard, change.card_number)
        if card is None or card.status != "active":
            raise PinRefused("reset_pin: no active fuel card with this number")
        _store_pin(session, change.card_number, change.new_pin, "fuel_office", at)
    return {"card_number": change.card_number, "reset_by": office, "at": iso(at)}


# --- numbering starts the request (NUMBERING_FUEL_CARD) ---


def numbering_request_id(vin: str) -> str:
    """The ``FuelCard`` case numbering starts for a vehicle: from its VIN, no personal data."""
    return f"fuel-card-numbering-{vin}"


@dataclass
class NumberingFuelCard:
    numbering_workflow_id: str
    request: dict[str, Any]
    """The ``FuelCard`` input (channel ``numbering``, no actor token)."""
    at: datetime


class FuelCardStarter:
    """Starts a numbered vehicle's fuel card request with the worker's own client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="start_numbering_fuel_card")
    async def start_numbering_fuel_card(self, order: NumberingFuelCard) -> str:
        """Write the numbering's grant, then start the request it grants (idempotent: a retry, or a
        request already started, finds it). Returns the request's workflow id.

        Ours: not a child workflow. The request outlives the numbering for months; an abandoned
        child also wedges the time-skipping test server's clock (temporalio/sdk-java#2392)."""
        workflow_id = numbering_request_id(order.request["vin"])
        await asyncio.to_thread(_grant, workflow_id, order)
        try:
            await self._client.start_workflow("FuelCard", order.request, id=workflow_id, task_queue=activity.info().task_queue)
        except WorkflowAlreadyStartedError:
            pass
        return workflow_id


def _grant(workflow_id: str, order: NumberingFuelCard) -> None:
    try:
        with session_scope() as session:
            if session.get(FuelCardGrant, workflow_id) is None:
                session.add(
                    FuelCardGrant(
                        workflow_id=workflow_id,
                        vin=order.request["vin"],
                        numbering_workflow_id=order.numbering_workflow_id,
                        granted_at=order.at,
                    )
                )
    except IntegrityError:
        pass  # a concurrent attempt wrote it


@dataclass
class GrantUse:
    workflow_id: str
    run_id: str
    vin: str


@activity.defn
def use_fuel_card_grant(use: GrantUse) -> None:
    """A request started without a token spends its numbering's grant (once, by one run; a retry of
    the same run finds it spent by itself). Refused ``Unauthenticated`` when there is none."""
    with session_scope() as session:
        grant = session.get(FuelCardGrant, use.workflow_id, with_for_update=True)
        if grant is None or grant.vin != use.vin or grant.used_run_id not in (None, use.run_id):
            raise ApplicationError(
                "start: a request through numbering is started by the vehicle's numbering case only",
                type=UNAUTHENTICATED,
                non_retryable=True,
            )
        grant.used_run_id = use.run_id


ACTIVITIES: list[Callable[..., Any]] = [
    use_fuel_card_grant,
    open_fuel_charge_run,
    read_fuel_charge_progress,
    charge_fuel_cards,
    open_fuel_card_request,
    issue_requested_card,
    record_fuel_card_request,
]
