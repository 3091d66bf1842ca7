"""Activities of the domestic integrated sales scheme (seed 000): stages, windows, orders.

Each takes one dataclass, is keyed by the workflow id (the scheme id for a stage's rows), and
finds its own earlier write on a retry. The escrow deposit goes through the import purchase's
activities (``record_registration`` blocks it, ``release_deposit`` and ``reblock_deposit``), which
use the escrow bank adapter (``activities.escrow``); the SMS code is checked by
``check_withdrawal_code``. Rules across cases are the database's: one open registration per person
across schemes (``scheme_registrations``), one order per person per stage and one turn per order
(``domestic_orders``), judged inside the writing transaction under the person's row lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.client import Client

from activities.errors import refused
from activities.import_purchase import open_registration, open_schemes_elsewhere, queue_sms_code
from activities.telling import signal_each
from domain import policy
from domain.display import iso
from domain.identifiers import VIN_PROBLEM, normalize_vin
from lifecycles.domestic_order import CONTROLS_SIGNAL
from registry.db import session_scope
from registry.domestic_models import DomesticChangeWindow, DomesticOrder, DomesticScheme, DomesticYearTurn
from registry.models import EscrowBank, NewCarPurchase, Person, SchemeRegistration, Vehicle
from registry.scheme_models import LIVE_APPLICANT, SchemeApplicant

# --- the stage ---


@dataclass
class SchemeRecord:
    workflow_id: str
    scheme_id: str
    deposit_rial: int
    offerings: list[dict[str, Any]]
    withdrawal_enabled: bool
    at: datetime


@activity.defn
def record_domestic_scheme(record: SchemeRecord) -> None:
    """The stage in the registry; a scheme id already run by another workflow is refused."""
    try:
        with session_scope() as session:
            row = session.get(DomesticScheme, record.scheme_id, with_for_update=True)
            if row is None:
                session.add(
                    DomesticScheme(
                        scheme_id=record.scheme_id,
                        workflow_id=record.workflow_id,
                        deposit_rial=record.deposit_rial,
                        offerings=record.offerings,
                        registration_open=True,
                        withdrawal_enabled=record.withdrawal_enabled,
                        frozen=False,
                        created_at=record.at,
                    )
                )
                session.flush()
            elif row.workflow_id != record.workflow_id:
                raise refused(f"scheme {record.scheme_id} is already run by another case")
    except IntegrityError:
        raise refused(f"scheme {record.scheme_id} is already run by another case") from None


@dataclass
class WindowRecord:
    scheme_id: str
    window_id: str
    opens: datetime
    closes: datetime
    restored_only: bool
    version: int | None = None
    """The stage's controls version this change makes (``None``: a stage of an earlier build)."""


def _bump(session: Session, scheme_id: str, version: int | None) -> DomesticScheme:
    """The stage's row, locked; its controls version raised to ``version`` (a retry raises nothing)."""
    row = session.get(DomesticScheme, scheme_id, with_for_update=True)
    if row is None:
        raise refused(f"no domestic scheme {scheme_id} is recorded")
    if version is not None and version > row.controls_version:
        row.controls_version = version
    return row


@activity.defn
def record_change_window(record: WindowRecord) -> None:
    """Open (or replace: an extension) a change window of the stage."""
    with session_scope() as session:
        _bump(session, record.scheme_id, record.version)
        row = session.scalar(
            select(DomesticChangeWindow).where(
                DomesticChangeWindow.scheme_id == record.scheme_id, DomesticChangeWindow.window_id == record.window_id
            )
        )
        if row is None:
            session.add(
                DomesticChangeWindow(
                    scheme_id=record.scheme_id,
                    window_id=record.window_id,
                    opens=record.opens,
                    closes=record.closes,
                    restored_only=record.restored_only,
                )
            )
        else:
            row.opens, row.closes, row.restored_only = record.opens, record.closes, record.restored_only


@dataclass
class SchemeSwitch:
    scheme_id: str
    at: datetime
    withdrawal_enabled: bool | None = None
    registration_open: bool | None = None
    frozen: bool | None = None
    finished: bool = False
    version: int | None = None
    """The stage's controls version this change makes (``None``: a stage of an earlier build)."""


@activity.defn
def switch_domestic_scheme(switch: SchemeSwitch) -> None:
    """The operator's switches of a stage: withdrawal on/off, registration closed, the stage over."""
    with session_scope() as session:
        row = _bump(session, switch.scheme_id, switch.version)
        if switch.withdrawal_enabled is not None:
            row.withdrawal_enabled = switch.withdrawal_enabled
        if switch.registration_open is not None:
            row.registration_open = switch.registration_open
        if switch.frozen is not None:
            row.frozen = switch.frozen
        if switch.finished and row.finished_at is None:
            row.finished_at = switch.at


# --- the order ---


@dataclass
class SchemeQuery:
    scheme_id: str
    at: datetime
    restored: bool = False
    workflow_id: str | None = None
    """The asking order: its turn within its delivery year comes back too."""


@activity.defn
def load_domestic_scheme(query: SchemeQuery) -> dict[str, Any] | None:
    """What an order needs of its stage when it opens (``None``: no such stage)."""
    with session_scope() as session:
        row = session.get(DomesticScheme, query.scheme_id)
        if row is None:
            return None
        return {
            "offerings": list(row.offerings),
            "deposit_rial": row.deposit_rial,
            "registration_open": row.registration_open and row.finished_at is None,
        }


@activity.defn
def domestic_scheme_controls(query: SchemeQuery) -> dict[str, Any]:
    """The stage's controls as they stand at ``query.at``: the change windows (open or not, the
    pure rule in ``lifecycles.domestic_order.window_open`` decides) and the withdrawal switch."""
    with session_scope() as session:
        row = session.get(DomesticScheme, query.scheme_id)
        if row is None:
            raise refused(f"no domestic scheme {query.scheme_id} is recorded")
        controls = _controls_of(session, row)
        if query.workflow_id is not None:
            controls["year_turn"] = session.scalar(
                select(DomesticYearTurn.year_turn).where(
                    DomesticYearTurn.scheme_id == query.scheme_id, DomesticYearTurn.workflow_id == query.workflow_id
                )
            )
        return controls


def _scheme_controls(session: Session, scheme_id: str) -> dict[str, Any] | None:
    row = session.get(DomesticScheme, scheme_id)
    return None if row is None else _controls_of(session, row)


def _controls_of(session: Session, row: DomesticScheme) -> dict[str, Any]:
    windows = session.scalars(
        select(DomesticChangeWindow).where(DomesticChangeWindow.scheme_id == row.scheme_id).order_by(DomesticChangeWindow.id)
    ).all()
    return {
        "version": row.controls_version,
        "withdrawal_enabled": row.withdrawal_enabled,
        "finished": row.finished_at is not None,
        "frozen": row.frozen,
        "windows": [{"opens": iso(w.opens), "closes": iso(w.closes), "restored_only": w.restored_only} for w in windows],
    }


@dataclass
class OrderOpening:
    workflow_id: str
    scheme_id: str
    national_id: str
    bank: str
    amount_rial: int
    model: str | None
    delivery_year: int
    at: datetime


OPEN_ELSEWHERE = "already registered in another sale scheme (one open registration per person across schemes)"
ALREADY_ORDERED = "already holds an order in this stage, withdrawn or not: no new order until the next stage (seed 000)"
IMPORT_RANK = "holds an import scheme registration or rank («متقاضیان دارای نوبت خرید خودرو» may not register)"


def _holds_import_rank(session: Session, national_id: str) -> bool:
    """A registration of an import scheme's round still in the running (registered or ranked)."""
    return (
        session.scalar(
            select(SchemeApplicant.id)
            .where(SchemeApplicant.national_id == national_id, SchemeApplicant.status.in_(LIVE_APPLICANT))
            .limit(1)
        )
        is not None
    )


@activity.defn
def open_domestic_order(opening: OrderOpening) -> dict[str, Any]:
    """Judge the registration and, when nothing stands against it, open it with the next turn:
    ``{"reasons": [...], "turn": int | None}``. A retry finds its own order."""
    for _ in range(5):  # two registrations may take the same next turn at once: the unique index decides
        try:
            return _open_order(opening)
        except IntegrityError:
            with session_scope() as session:
                own = session.get(DomesticOrder, opening.workflow_id)
                if own is not None:
                    return {"reasons": [], "turn": own.turn, "controls": _scheme_controls(session, opening.scheme_id)}
                if open_schemes_elsewhere(session, opening.national_id, opening.workflow_id):
                    return {"reasons": [OPEN_ELSEWHERE], "turn": None}
                taken = session.scalar(
                    select(DomesticOrder.workflow_id).where(
                        DomesticOrder.scheme_id == opening.scheme_id, DomesticOrder.national_id == opening.national_id
                    )
                )
                if taken is not None:
                    return {"reasons": [ALREADY_ORDERED], "turn": None}
    raise RuntimeError("could not take a turn after five tries; retrying")


def _open_order(opening: OrderOpening) -> dict[str, Any]:
    with session_scope() as session:
        session.get(Person, opening.national_id, with_for_update=True)  # two cases of one person take turns
        own = session.get(DomesticOrder, opening.workflow_id)
        if own is not None:
            if own.national_id != opening.national_id:
                raise refused("this workflow id's order belongs to another case; every case needs an id of its own")
            return {"reasons": [], "turn": own.turn, "controls": _scheme_controls(session, opening.scheme_id)}
        # Shared lock: a change of the controls waits for this order to be on the stage's list (so the
        # stage's telling finds it), or this order reads the changed controls.
        scheme = session.get(DomesticScheme, opening.scheme_id, with_for_update={"read": True})
        reasons: list[str] = []
        if scheme is None or not scheme.registration_open or scheme.finished_at is not None:
            reasons.append(f"registration in scheme {opening.scheme_id} is closed")
        approved = session.scalar(select(EscrowBank.bank_id).where(func.lower(EscrowBank.bank_id) == opening.bank.lower()))
        if approved is None:
            reasons.append("the deposit is not at an approved escrow bank")
        if scheme is not None and opening.amount_rial < scheme.deposit_rial:
            reasons.append(f"the blocked deposit must be at least {scheme.deposit_rial} rial, not {opening.amount_rial}")
        if _holds_import_rank(session, opening.national_id):
            reasons.append(IMPORT_RANK)
        others = open_schemes_elsewhere(session, opening.national_id, opening.workflow_id)
        if others:
            reasons.append("already registered in another sale scheme: " + ", ".join(sorted(set(others))))
        if (
            session.scalar(
                select(DomesticOrder.workflow_id).where(
                    DomesticOrder.scheme_id == opening.scheme_id, DomesticOrder.national_id == opening.national_id
                )
            )
            is not None
        ):
            reasons.append(ALREADY_ORDERED)
        if reasons:
            return {"reasons": reasons, "turn": None}
        turn = (session.scalar(select(func.max(DomesticOrder.turn)).where(DomesticOrder.scheme_id == opening.scheme_id)) or 0) + 1
        session.add(
            DomesticOrder(
                workflow_id=opening.workflow_id,
                scheme_id=opening.scheme_id,
                national_id=opening.national_id,
                turn=turn,
                status="ordered",
                model=opening.model,
                delivery_year=opening.delivery_year,
                restored=False,
                registered_at=opening.at,
            )
        )
        if session.get(SchemeRegistration, opening.workflow_id) is None:
            open_registration(session, opening.workflow_id, opening.scheme_id, opening.national_id, opening.at)
        session.flush()
        assert scheme is not None
        return {"reasons": [], "turn": turn, "controls": _controls_of(session, scheme)}


@dataclass
class OrderChange:
    workflow_id: str
    status: str
    model: str | None
    delivery_year: int
    at: datetime


@activity.defn
def record_order_change(change: OrderChange) -> None:
    """A cancellation or a new choice: the order's priority in the registry (its turn unchanged)."""
    with session_scope() as session:
        row = session.get(DomesticOrder, change.workflow_id, with_for_update=True)
        if row is None:
            raise refused("no domestic order is recorded for this case")
        row.status, row.model, row.delivery_year, row.changed_at = change.status, change.model, change.delivery_year, change.at


@dataclass
class OrderLeaving:
    workflow_id: str
    status: str
    """``withdrawn`` or ``aborted``."""
    at: datetime


@activity.defn
def leave_domestic_order(leaving: OrderLeaving) -> None:
    """The order leaves the priority list; its registration closes (the row and turn stay)."""
    with session_scope() as session:
        row = session.get(DomesticOrder, leaving.workflow_id, with_for_update=True)
        if row is not None:
            row.status = leaving.status
            row.withdrawn_at = row.withdrawn_at or leaving.at
        registration = session.get(SchemeRegistration, leaving.workflow_id)
        if registration is not None:
            registration.open = False


@dataclass
class OrderRestoring:
    workflow_id: str
    national_id: str
    status: str
    """What the order was before the withdrawal: ``ordered`` or ``cancelled``."""
    at: datetime


@activity.defn
def restore_domestic_order(restoring: OrderRestoring) -> list[str]:
    """Put a withdrawn order back with its turn (never given to another); why not, when it cannot."""
    try:
        with session_scope() as session:
            session.get(Person, restoring.national_id, with_for_update=True)
            row = session.get(DomesticOrder, restoring.workflow_id, with_for_update=True)
            if row is None:
                raise refused("no domestic order is recorded for this case")
            others = open_schemes_elsewhere(session, restoring.national_id, restoring.workflow_id)
            if others:
                return ["the applicant has registered in another sale scheme since: " + ", ".join(sorted(set(others)))]
            row.status, row.restored, row.withdrawn_at = restoring.status, True, None
            registration = session.get(SchemeRegistration, restoring.workflow_id)
            if registration is not None:
                registration.open = True
            session.flush()
            return []
    except IntegrityError:
        return [OPEN_ELSEWHERE]


@dataclass
class ProfileEdit:
    workflow_id: str
    national_id: str
    youth_population: bool | None
    at: datetime


@activity.defn
def edit_domestic_profile(edit: ProfileEdit) -> dict[str, Any]:
    """The driving-licence inquiry (the registry's licence record of the person: ``None`` when it has
    none) and the youth-population flag, both kept on the order; returns what the inquiry found."""
    with session_scope() as session:
        person = session.get(Person, edit.national_id)
        licence = person.has_driving_license if person is not None else None
        row = session.get(DomesticOrder, edit.workflow_id, with_for_update=True)
        if row is None:
            raise refused("no domestic order is recorded for this case")
        row.has_driving_license, row.license_inquired_at = licence, edit.at
        if edit.youth_population is not None:
            row.youth_population = edit.youth_population
        return {"has_driving_license": licence, "youth_population": row.youth_population}


@dataclass
class DomesticDelivery:
    workflow_id: str
    national_id: str
    vin: str
    model: str
    at: datetime


VIN_TAKEN = "deliver: the VIN is already registered to another vehicle record (one vehicle per VIN)"


@activity.defn
def record_domestic_delivery(delivery: DomesticDelivery) -> None:
    """The new domestic car in the vehicle registry (origin ``domestic``), the purchase the import
    scheme's 48-month rule reads (``new_car_purchases``), the order delivered and its registration
    closed: one transaction under the person's lock. A retry finds its own rows."""
    try:
        vin = normalize_vin(delivery.vin)
    except ValueError:
        raise refused(f"deliver: {VIN_PROBLEM}") from None
    try:
        with session_scope() as session:
            session.get(Person, delivery.national_id, with_for_update=True)
            vehicle = session.get(Vehicle, vin, with_for_update=True)
            if vehicle is not None and vehicle.source_workflow_id != delivery.workflow_id:
                raise refused(VIN_TAKEN)
            if vehicle is None:
                session.add(
                    Vehicle(
                        vin=vin,
                        owner_national_id=delivery.national_id,
                        kind="passenger_car",
                        model=delivery.model,
                        delivered_at=delivery.at,
                        source_workflow_id=delivery.workflow_id,
                        origin="domestic",  # «تولید داخل» (seed 004 asks its factory sale document at transfer)
                    )
                )
            purchase = select(NewCarPurchase.id).where(NewCarPurchase.workflow_id == delivery.workflow_id)
            if session.scalar(purchase) is None:
                session.add(
                    NewCarPurchase(
                        national_id=delivery.national_id, vin=vin, workflow_id=delivery.workflow_id, purchased_at=delivery.at
                    )
                )
            row = session.get(DomesticOrder, delivery.workflow_id, with_for_update=True)
            if row is not None:
                row.status, row.vin, row.delivered_at, row.model = "delivered", vin, delivery.at, delivery.model
            registration = session.get(SchemeRegistration, delivery.workflow_id)
            if registration is not None:
                registration.open = False
            session.flush()
    except IntegrityError:
        with session_scope() as session:  # a numbering of the same VIN wrote its row at the same instant
            vehicle = session.get(Vehicle, vin)
            if vehicle is None or vehicle.source_workflow_id == delivery.workflow_id:
                raise
        raise refused(VIN_TAKEN) from None


ON_THE_LIST = ("ordered", "cancelled")
"""Order statuses that hold a turn on the priority list (a cancelled order holds the 1403 priority)."""


@dataclass
class Recompute:
    scheme_id: str
    version: int | None = None
    """The stage's controls version the recomputation makes: its orders read their year's turn again."""


@activity.defn
def recompute_domestic_turns(request: Recompute) -> dict[str, int]:
    """Every order's turn within its delivery year, for the whole stage in one set-based step
    (seed 000: after the window «بررسی نوبت ها و اولویت ها صورت بگیرد و افرادی که اولویت های خود را به
    خودروهای کم تقاضا تغییر داده باشند و نوبت تحویل 1402 قرار می گیرند»): the stage's turn order,
    numbered again per year; orders off the list hold none. Returns the orders per year."""
    return recompute_turns(request.scheme_id, request.version)


def recompute_turns(scheme_id: str, version: int | None = None) -> dict[str, int]:
    """The stage's published turns per year rewritten whole in one transaction: a delete and one
    ``INSERT ... SELECT`` numbering the orders on the list per year (also what
    ``bench/domestic_bench.py`` times)."""
    with session_scope() as session:
        _bump(session, scheme_id, version)
        session.execute(delete(DomesticYearTurn).where(DomesticYearTurn.scheme_id == scheme_id))
        ranked = select(
            DomesticOrder.scheme_id,
            DomesticOrder.delivery_year,
            func.row_number().over(partition_by=DomesticOrder.delivery_year, order_by=DomesticOrder.turn),
            DomesticOrder.workflow_id,
        ).where(DomesticOrder.scheme_id == scheme_id, DomesticOrder.status.in_(ON_THE_LIST))
        session.execute(insert(DomesticYearTurn).from_select(["scheme_id", "delivery_year", "year_turn", "workflow_id"], ranked))
        counts = session.execute(
            select(DomesticYearTurn.delivery_year, func.max(DomesticYearTurn.year_turn))
            .where(DomesticYearTurn.scheme_id == scheme_id)
            .group_by(DomesticYearTurn.delivery_year)
        ).all()
        return {str(year): int(n) for year, n in counts}


@dataclass
class DomesticCodeRequest:
    workflow_id: str
    step: str
    to: str
    expires_at: datetime
    at: datetime


@activity.defn
def issue_domestic_withdrawal_code(request: DomesticCodeRequest) -> None:
    """Queue a fresh SMS code for withdrawing from the domestic scheme; nothing of it goes back.
    Earlier and expired codes are erased, as the import purchase's codes are."""
    with session_scope() as session:
        queue_sms_code(
            session,
            request.workflow_id,
            request.step,
            request.to,
            request.expires_at,
            request.at,
            "کد تأیید انصراف از طرح یکپارچه عرضه خودروهای داخلی: {code} — تا {minutes} دقیقه معتبر است. "
            "با انصراف از لیست اولویت‌بندی خارج می‌شوید؛ برای تغییر خودرو «لغو سفارش» را بزنید.",
        )


# --- the stage tells its orders (``DOMESTIC_CONTROLS``) ---

TOLD = ("ordered", "cancelled", "withdrawn")
"""Order statuses that read the stage's controls again when told (a withdrawn order may be restored)."""


@dataclass
class TellChunk:
    scheme_id: str
    after_turn: int
    limit: int = policy.DOMESTIC_TELL_CHUNK


def orders_page(chunk: TellChunk) -> list[tuple[int, str]]:
    """The next page of the stage's live orders by turn: ``(turn, workflow_id)``."""
    with session_scope() as session:
        rows = session.execute(
            select(DomesticOrder.turn, DomesticOrder.workflow_id)
            .where(
                DomesticOrder.scheme_id == chunk.scheme_id,
                DomesticOrder.status.in_(TOLD),
                DomesticOrder.turn > chunk.after_turn,
            )
            .order_by(DomesticOrder.turn)
            .limit(chunk.limit)
        ).all()
        return [(turn, workflow_id) for turn, workflow_id in rows]


class OrderTelling:
    """Signals a stage's orders (``CONTROLS_SIGNAL``), a page at a time, with the worker's client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="tell_domestic_orders")
    async def tell_domestic_orders(self, chunk: TellChunk) -> dict[str, Any]:
        """``last_turn`` of the page (``None``: no order left), how many were ``told``, how many ``gone``."""
        page = await asyncio.to_thread(orders_page, chunk)
        told, gone = await signal_each(
            self._client, (w for _, w in page), CONTROLS_SIGNAL, concurrency=policy.SCHEME_WAKE_CONCURRENCY
        )
        return {"last_turn": page[-1][0] if page else None, "told": told, "gone": gone}


ACTIVITIES: list[Callable[..., Any]] = [
    record_domestic_scheme,
    record_change_window,
    switch_domestic_scheme,
    load_domestic_scheme,
    domestic_scheme_controls,
    open_domestic_order,
    record_order_change,
    leave_domestic_order,
    restore_domestic_order,
    issue_domestic_withdrawal_code,
    edit_domestic_profile,
    record_domestic_delivery,
    recompute_domestic_turns,
]
