"""Activities of the imported-car purchase: the escrow ledger, eligibility, allocation, delivery.

Each takes one dataclass, is keyed by the workflow id (and a step where a case does a thing more
than once), and finds its own earlier write on a retry. Instants travel as ``datetime`` (UTC),
never ``date``.

A rule across cases (one open registration per person, one vehicle per VIN) is judged inside the
transaction that writes, after locking the row it hangs on (the person, the vehicle: ``FOR
UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), and a unique index decides the rest.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio import activity

from activities.errors import refused
from activities.escrow import EscrowHold, EscrowSettlement, escrow_adapter
from domain import policy
from domain.calendar import add_months_at, add_working_hours, closed_days
from domain.display import TEHRAN, iso
from domain.identifiers import VIN_PROBLEM, normalize_vin
from lifecycles.import_purchase import EligibilityFacts, active_plate_reasons, eligibility_reasons
from registry.db import session_scope
from registry.models import (
    Allocation,
    Closure,
    EscrowBank,
    EscrowDeposit,
    NewCarPurchase,
    OutboxMessage,
    Person,
    PlateRecord,
    SchemeRegistration,
    Vehicle,
)


def _utc(instant: datetime) -> datetime:
    """SQLite hands instants back without a zone; the registry stores them in UTC."""
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _server_time() -> datetime:
    """The Temporal server's clock at this attempt (skipped time in tests), as the bank's timestamp."""
    return _utc(activity.info().current_attempt_scheduled_time)


# --- registration and eligibility ---


@dataclass
class Registration:
    workflow_id: str
    scheme_id: str
    national_id: str
    full_name: str
    bank: str
    account: str
    amount_rial: int
    at: datetime


@activity.defn
def record_registration(r: Registration) -> None:
    """The applicant in the people registry and the deposit in the escrow ledger (blocked).

    The deposit is blocked first, so a case whose id names another case's deposit (a closed
    case's, released) is refused before it writes anything."""
    escrow_adapter().block(EscrowHold(r.workflow_id, r.national_id, r.bank, r.account, r.amount_rial), r.at)
    try:
        with session_scope() as session:
            if session.get(Person, r.national_id) is None:
                session.add(Person(national_id=r.national_id, full_name=r.full_name))
    except IntegrityError:
        pass  # another case of the same person added them at the same instant: they are there


@dataclass
class EligibilityRequest:
    workflow_id: str
    scheme_id: str
    national_id: str
    declared_driving_license: bool
    is_legal_entity: bool
    bank: str
    amount_rial: int
    at: datetime
    """The workflow's clock: the 48-month look-back ends here."""


def open_schemes_elsewhere(session: Session, national_id: str, workflow_id: str) -> list[str]:
    return list(
        session.scalars(
            select(SchemeRegistration.scheme_id).where(
                SchemeRegistration.national_id == national_id,
                SchemeRegistration.open.is_(True),
                SchemeRegistration.workflow_id != workflow_id,
            )
        )
    )


ANOTHER_CASES_REGISTRATION = "this workflow id's scheme registration belongs to another case; every case needs an id of its own"


def open_registration(session: Session, workflow_id: str, scheme_id: str, national_id: str, at: datetime) -> None:
    """The person's open registration in a scheme, written in the transaction that judged it: one
    per person across schemes (``ONE_OPEN_REGISTRATION_PER_PERSON`` decides a race)."""
    session.add(
        SchemeRegistration(workflow_id=workflow_id, scheme_id=scheme_id, national_id=national_id, open=True, registered_at=at)
    )


def _lock_person(session: Session, national_id: str) -> None:
    """Take the person's row first: two registrations of one person take turns (PostgreSQL;
    SQLite's transactions already do), so the second sees the first's open case."""
    session.get(Person, national_id, with_for_update=True)


OPEN_ELSEWHERE = "already registered in another sale scheme (one open case per person)"
"""The reason a registration that lost a race to another case of the same person gets."""


def _active_plates(session: Session, national_id: str) -> list[str]:
    return list(
        session.scalars(
            select(PlateRecord.plate).where(PlateRecord.owner_national_id == national_id, PlateRecord.active.is_(True))
        )
    )


@activity.defn
def check_eligibility(request: EligibilityRequest) -> list[str]:
    """Every reason the applicant is not eligible; when there is none, the registration opens."""
    try:
        return _check_and_open(request)
    except IntegrityError:
        # Another case of this person opened at the same instant and the unique index chose it.
        with session_scope() as session:
            if session.get(SchemeRegistration, request.workflow_id) is not None:
                return []  # this case's own registration, written by an earlier attempt
            if open_schemes_elsewhere(session, request.national_id, request.workflow_id):
                return [OPEN_ELSEWHERE]
        raise


def _check_and_open(request: EligibilityRequest) -> list[str]:
    with session_scope() as session:
        _lock_person(session, request.national_id)
        person = session.get(Person, request.national_id)
        licence = request.declared_driving_license
        if person is not None and person.has_driving_license is not None:
            licence = person.has_driving_license  # the licence registry's answer beats the declaration
        last_purchase = session.scalar(
            select(func.max(NewCarPurchase.purchased_at)).where(
                NewCarPurchase.national_id == request.national_id,
                NewCarPurchase.purchased_at > add_months_at(request.at, -policy.NO_NEW_CAR_LOOKBACK_MONTHS).astimezone(UTC),
            )
        )
        facts = EligibilityFacts(
            has_driving_license=licence,
            is_legal_entity=request.is_legal_entity,
            last_new_car_purchase=iso(_utc(last_purchase)) if last_purchase else None,
            active_plates=_active_plates(session, request.national_id),
            other_open_schemes=open_schemes_elsewhere(session, request.national_id, request.workflow_id),
            bank_approved=session.scalar(select(EscrowBank.bank_id).where(func.lower(EscrowBank.bank_id) == request.bank.lower()))
            is not None,
            deposit_rial=request.amount_rial,
        )
        reasons = eligibility_reasons(facts)
        own = session.get(SchemeRegistration, request.workflow_id)
        if own is not None and own.national_id != request.national_id:
            raise refused(ANOTHER_CASES_REGISTRATION)
        if not reasons and own is None:
            # In the same transaction as the check, so one person holds one open case.
            open_registration(session, request.workflow_id, request.scheme_id, request.national_id, request.at)
            session.flush()
        return reasons


@dataclass
class PlateCheck:
    workflow_id: str
    national_id: str


@activity.defn
def recheck_active_plate(check: PlateCheck) -> list[str]:
    """The no-active-plate rule again, just before delivery (seed 001: checked up to delivery)."""
    with session_scope() as session:
        return active_plate_reasons(_active_plates(session, check.national_id))


# --- allocation and delivery ---


@dataclass
class AllocationRecord:
    workflow_id: str
    offering_id: str
    importer_id: str
    model: str
    at: datetime


@activity.defn
def record_allocation(record: AllocationRecord) -> None:
    with session_scope() as session:
        row = session.get(Allocation, record.workflow_id)
        if row is None:
            session.add(
                Allocation(
                    workflow_id=record.workflow_id,
                    offering_id=record.offering_id,
                    importer_id=record.importer_id,
                    model=record.model,
                    active=True,
                    allocated_at=record.at,
                )
            )
        elif not row.active or (row.offering_id, row.importer_id, row.model) != (
            record.offering_id,
            record.importer_id,
            record.model,
        ):
            # A case allocated again (after a reinstatement from Eligible, or a declined car): the new car replaces the freed one.
            row.offering_id, row.importer_id, row.model = record.offering_id, record.importer_id, record.model
            row.active, row.allocated_at, row.released_at = True, record.at, None


@dataclass
class AllocationRelease:
    workflow_id: str
    at: datetime


@activity.defn
def release_allocation(release: AllocationRelease) -> None:
    """The buyer declined the allocated car (``SCHEME_ROUNDS``): the car is freed for the offering,
    the registration stays open (the rank is kept). Idempotent."""
    with session_scope() as session:
        allocation = session.get(Allocation, release.workflow_id)
        if allocation is not None and allocation.active:
            allocation.active, allocation.released_at = False, release.at


@dataclass
class DeliveryRecord:
    workflow_id: str
    national_id: str
    vin: str
    model: str
    at: datetime
    title_transfer_locked_until: datetime


@activity.defn
def record_delivery(record: DeliveryRecord) -> list[str]:
    """The car in the vehicle registry (title locked a year), the purchase for the 48-month rule.

    The no-active-plate rule is checked again in the writing transaction, under the person's row
    lock that numbering and transfer take too: a plate the buyer got since ``recheck_active_plate``
    stops the delivery. Returns why it was not recorded (empty when it was, or was already).
    """
    try:
        vin = normalize_vin(record.vin)
    except ValueError:
        raise refused(f"deliver: {VIN_PROBLEM}") from None
    try:
        return _deliver(record, vin)
    except IntegrityError:
        # A numbering of the same VIN wrote its vehicle row at the same instant.
        with session_scope() as session:
            vehicle = session.get(Vehicle, vin)
            if vehicle is None or vehicle.source_workflow_id == record.workflow_id:
                raise
        raise refused(VIN_TAKEN) from None


VIN_TAKEN = "deliver: the VIN is already registered to another vehicle record (one vehicle per VIN)"


def _deliver(record: DeliveryRecord, vin: str) -> list[str]:
    with session_scope() as session:
        _lock_person(session, record.national_id)
        vehicle = session.get(Vehicle, vin, with_for_update=True)
        if vehicle is not None and vehicle.source_workflow_id != record.workflow_id:
            raise refused(VIN_TAKEN)
        if vehicle is None:
            reasons = active_plate_reasons(_active_plates(session, record.national_id))
            if reasons:
                return reasons
            session.add(
                Vehicle(
                    vin=vin,
                    owner_national_id=record.national_id,
                    kind="passenger_car",
                    model=record.model,
                    title_transfer_locked_until=record.title_transfer_locked_until,
                    delivered_at=record.at,
                    source_workflow_id=record.workflow_id,
                    origin="imported",  # an imported-car purchase (seed 001): the registry knows its origin
                )
            )
        if session.scalar(select(NewCarPurchase.id).where(NewCarPurchase.workflow_id == record.workflow_id)) is None:
            session.add(
                NewCarPurchase(national_id=record.national_id, vin=vin, workflow_id=record.workflow_id, purchased_at=record.at)
            )
        registration = session.get(SchemeRegistration, record.workflow_id)
        if registration is not None:
            registration.open = False
        session.flush()
    return []


@dataclass
class Closing:
    workflow_id: str
    at: datetime
    release_allocation: bool
    """Free the case's car for the offering (withdrawal, cancellation, lost eligibility, void)."""


@activity.defn
def close_registration(closing: Closing) -> None:
    """The case leaves the scheme: its registration closes and, if asked, its car is freed."""
    with session_scope() as session:
        registration = session.get(SchemeRegistration, closing.workflow_id)
        if registration is not None:
            registration.open = False
        allocation = session.get(Allocation, closing.workflow_id)
        if closing.release_allocation and allocation is not None and allocation.active:
            allocation.active, allocation.released_at = False, closing.at


@dataclass
class Reinstatement:
    workflow_id: str
    national_id: str
    at: datetime
    keep_allocation: bool = True
    """The case withdrew holding a car (``False``: from Eligible, whose freed car, e.g. a declined
    one, is not the case's to take back)."""


@activity.defn
def reinstate_registration(request: Reinstatement) -> list[str]:
    """Reopen a withdrawn case unless its car went to someone else; the reasons when it cannot.

    A freed car counts as given away once any newer allocation of the same offering exists: the
    ledger knows no offering's capacity, so any later sale may have used the freed slot.
    """
    try:
        return _reinstate(request)
    except IntegrityError:
        # Another case of this person opened at the same instant and the unique index chose it.
        with session_scope() as session:
            if open_schemes_elsewhere(session, request.national_id, request.workflow_id):
                return [OPEN_ELSEWHERE]
        raise


def _reinstate(request: Reinstatement) -> list[str]:
    with session_scope() as session:
        _lock_person(session, request.national_id)
        reasons: list[str] = []
        allocation = session.get(Allocation, request.workflow_id)
        if not request.keep_allocation:
            allocation = None
        if allocation is not None and not allocation.active:
            newer = select(Allocation.workflow_id).where(
                Allocation.offering_id == allocation.offering_id,
                Allocation.workflow_id != request.workflow_id,
                Allocation.active.is_(True),
            )
            if allocation.released_at is not None:
                newer = newer.where(Allocation.allocated_at > allocation.released_at)
            if session.scalar(newer.limit(1)) is not None:
                reasons.append(f"the car of offering {allocation.offering_id} was given to another buyer after the withdrawal")
        others = open_schemes_elsewhere(session, request.national_id, request.workflow_id)
        if others:
            reasons.append("the applicant has registered in another sale scheme since: " + ", ".join(sorted(set(others))))
        if reasons:
            return reasons
        registration = session.get(SchemeRegistration, request.workflow_id)
        if registration is not None:
            registration.open = True
        if allocation is not None:
            allocation.active, allocation.released_at = True, None
        session.flush()
        return []


# --- the withdrawal code ---


# The code lives only in the outbox row the SMS gateway reads: the workflow gets neither the code
# nor any digest of it back (a 6-digit code's hash is brute-forced in milliseconds from history),
# and a code the applicant gives is checked against that row by ``check_withdrawal_code``.


@dataclass
class CodeRequest:
    workflow_id: str
    step: str
    """Unique per code sent: a retry finds the code it already queued."""
    to: str
    expires_at: datetime
    at: datetime


def _sent_code(session: Session, workflow_id: str, step: str) -> OutboxMessage | None:
    return session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.workflow_id == workflow_id, OutboxMessage.step == step, OutboxMessage.kind == "sms_code"
        )
    )


CODE_MASK = "•" * policy.WITHDRAWAL_CODE_DIGITS


def erase_code(message: OutboxMessage) -> None:
    """Keep no used, replaced or expired code in clear: not in ``code``, not in the SMS text."""
    if message.code is not None:
        message.text = message.text.replace(message.code, CODE_MASK)
        message.code = None


def erase_expired_codes(session: Session, now: datetime) -> int:
    """Erase every code whose time ran out (the SMS gateway has sent it by then); how many."""
    expired = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == "sms_code", OutboxMessage.code.is_not(None), OutboxMessage.code_expires_at <= now
        )
    ).all()
    for message in expired:
        erase_code(message)
    return len(expired)


def erase_replaced_codes(session: Session, workflow_id: str, step: str, at: datetime) -> None:
    """Erase every expired code, and the case's codes other than ``step``'s (a new code replaces them)."""
    erase_expired_codes(session, at)
    earlier = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.workflow_id == workflow_id,
            OutboxMessage.kind == "sms_code",
            OutboxMessage.step != step,
            OutboxMessage.code.is_not(None),
        )
    ).all()
    for message in earlier:
        erase_code(message)


def queue_sms_code(session: Session, workflow_id: str, step: str, to: str, expires_at: datetime, at: datetime, text: str) -> None:
    """Queue a fresh SMS code at ``step`` unless one was (a retry); the case's earlier and every
    expired code erased. ``text`` has ``{code}`` and ``{minutes}`` for the code and its lifetime."""
    erase_replaced_codes(session, workflow_id, step, at)
    if _sent_code(session, workflow_id, step) is not None:
        return
    code = f"{secrets.randbelow(10**policy.WITHDRAWAL_CODE_DIGITS):0{policy.WITHDRAWAL_CODE_DIGITS}d}"
    minutes = int(policy.WITHDRAWAL_CODE_TTL.total_seconds() // 60)
    session.add(
        OutboxMessage(
            workflow_id=workflow_id,
            step=step,
            to=to,
            kind="sms_code",
            text=text.format(code=code, minutes=minutes),
            code=code,
            code_expires_at=expires_at,
            created_at=at,
        )
    )


@activity.defn
def issue_withdrawal_code(request: CodeRequest) -> None:
    """Queue a fresh SMS code in the outbox; nothing of the code goes back to the workflow.

    The case's earlier codes are erased (a new code replaces them), as are any expired ones."""
    with session_scope() as session:
        queue_sms_code(
            session,
            request.workflow_id,
            request.step,
            request.to,
            request.expires_at,
            request.at,
            "کد تأیید انصراف از طرح خرید خودروی وارداتی: {code} — تا {minutes} دقیقه معتبر است. آن را به کسی ندهید.",
        )


@dataclass
class CodeCheck:
    workflow_id: str
    step: str
    """The outbox step of the code the case holds live (expiry and attempts are the workflow's)."""
    code: str
    """What the applicant gave in the ``withdraw`` update."""
    last_attempt: bool = False
    """A wrong code now voids it: erase it either way."""


@activity.defn
def check_withdrawal_code(check: CodeCheck) -> bool:
    """Whether ``check.code`` is the code sent at ``check.step`` (constant-time compare).

    A right code is used up and a last wrong one voids it: either way it is erased. A retry of a
    check that already used the code answers from the row's ``used`` mark."""
    with session_scope() as session:
        sent = _sent_code(session, check.workflow_id, check.step)
        if sent is None:
            return False
        if sent.code is None:
            return sent.code_used
        right = hmac.compare_digest(sent.code.encode(), check.code.encode())
        if right or check.last_attempt:
            sent.code_used = right
            erase_code(sent)
        return right


# --- the escrow deposit ---


@dataclass
class DepositRequest:
    workflow_id: str
    national_id: str
    bank: str
    account: str
    amount_rial: int
    at: datetime

    def hold(self) -> EscrowHold:
        return EscrowHold(self.workflow_id, self.national_id, self.bank, self.account, self.amount_rial)


@activity.defn
def release_deposit(request: DepositRequest) -> str:
    """Release the blocked deposit at the bank; returns the ISO instant it was released.

    Stamped with the workflow's time (``request.at``), so the ledger, the status and the case's
    clock agree. A retry (the bank was unreachable at first) is stamped with its own attempt's
    time on the same server clock: a release that happened days later must not be backdated.
    """
    at = request.at if activity.info().attempt <= 1 else max(_utc(request.at), _server_time())
    released = escrow_adapter().release(request.hold(), at)
    stamp = iso(_utc(released))
    assert stamp is not None
    return stamp


@dataclass
class SettlementRequest:
    deposit: DepositRequest
    key: str
    """Idempotency key: the workflow id and the settlement's step (a reinstated case settles anew)."""
    refund_rial: int
    delay_penalty_rial: int
    penalty_to_importer_rial: int
    disposition: str
    """``release``, ``apply`` or ``keep`` (see :class:`activities.escrow.EscrowSettlement`)."""
    flows: dict[str, int] = field(default_factory=dict)
    """The settlement flow by flow: ``deposit_to_holder_rial``, ``deposit_to_importer_rial``,
    ``cash_to_holder_rial``, ``cash_to_importer_rial``, ``penalty_unpaid_rial`` (see
    :class:`activities.escrow.EscrowSettlement`)."""


@activity.defn
def settle_purchase(request: SettlementRequest) -> str:
    """Pay what the buyer is owed as the case ends, through the escrow bank adapter (seed 001: the
    delay penalties «به طور قطعی»; seed 000: within 72 working hours); returns the ISO instant paid.

    Stamped like :func:`release_deposit`: the workflow's time, or a retry's own attempt time."""
    d = request.deposit
    at = d.at if activity.info().attempt <= 1 else max(_utc(d.at), _server_time())
    settlement = EscrowSettlement(
        request.key,
        request.refund_rial,
        request.delay_penalty_rial,
        request.penalty_to_importer_rial,
        request.disposition,
        **request.flows,
    )
    paid = escrow_adapter().settle(d.hold(), settlement, at)
    stamp = iso(_utc(paid))
    assert stamp is not None
    return stamp


@activity.defn
def reblock_deposit(request: DepositRequest) -> None:
    """Block the deposit again for a reinstated case whose deposit was already released."""
    escrow_adapter().reblock(request.hold(), request.at)


@activity.defn
def record_deposit_unblocked(request: DepositRequest) -> None:
    """The bank reports the applicant took the deposit out of escrow: the ledger says so."""
    with session_scope() as session:
        row = session.get(EscrowDeposit, request.workflow_id, with_for_update=True)
        if row is not None and row.status == "blocked" and row.national_id == request.national_id:
            row.status, row.released_at = "unblocked", request.at


@dataclass
class WorkingDeadline:
    workflow_id: str
    start: datetime
    hours: int


@activity.defn
def working_hours_deadline(request: WorkingDeadline) -> str:
    """The ISO instant ``hours`` working hours after ``start`` (seed 000 «۷۲ ساعت کاری»): Fridays,
    Iran's official holidays and the closures operators declared (``closures``) do not count.
    An activity, so the deadline a case keeps is the one in its history whatever the holiday
    calendar says after a later deploy."""
    first = request.start.astimezone(TEHRAN).date()
    last = first + timedelta(days=policy.WORKING_DEADLINE_HORIZON_DAYS)
    with session_scope() as session:
        declared = session.scalars(select(Closure.day).where(Closure.day >= first, Closure.day <= last)).all()
    deadline = iso(add_working_hours(request.start, request.hours, closed_days(first, last, declared)))
    assert deadline is not None
    return deadline


ACTIVITIES: list[Callable[..., Any]] = [
    record_registration,
    check_eligibility,
    recheck_active_plate,
    record_allocation,
    release_allocation,
    record_delivery,
    close_registration,
    reinstate_registration,
    issue_withdrawal_code,
    check_withdrawal_code,
    release_deposit,
    settle_purchase,
    reblock_deposit,
    record_deposit_unblocked,
    working_hours_deadline,
]
