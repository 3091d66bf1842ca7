"""The registry's tables, as typed SQLAlchemy 2 declarative models.

Every table a lifecycle writes has a natural idempotency key (workflow id + step, a payment
reference, a VIN) so a retried activity finds its own earlier write instead of adding a second.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class UtcDateTime(TypeDecorator[datetime]):
    """Instants in UTC, aware on the way out whatever the database: SQLite keeps no zone and
    hands back naive datetimes, which would not compare with the workflows' aware ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Instant = UtcDateTime()


def only_where(condition: ColumnElement[bool]) -> dict[str, Any]:
    """The options of a partial index, for both databases the registry runs on."""
    return {"sqlite_where": condition, "postgresql_where": condition}


# --- reference data (loaded with `starter.py refdata load`) ---


class VeteranCarTariff(Base):
    """A tariff code on the veterans'-car list and what its files need (seed 003 §4)."""

    __tablename__ = "veteran_car_tariffs"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    permits: Mapped[list[Any]] = mapped_column(default=list)
    """Ids of the licensing organisations whose permit a file with this tariff needs."""
    expert_review: Mapped[bool] = mapped_column(Boolean, default=False)
    priority_group: Mapped[int | None] = mapped_column(Integer, default=None)
    """Goods priority group; currency from the banking system only for groups 21–27."""
    ministry_priced: Mapped[bool] = mapped_column(Boolean, default=False)
    """Priced by the Health, Industry or Agriculture ministry: no currency from own exports."""
    currency_sources: Mapped[list[Any]] = mapped_column(default=list)
    """Which of ``own_currency``, ``others_currency``, ``others_exports`` this tariff allows: seed 003
    opens them «تنها برای تعرفه های مشخصی»; none unless the reference data names them."""


class Goods(Base):
    """A goods id with its agency status (only goods with a registered agency may be ordered)."""

    __tablename__ = "goods"
    goods_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tariff_code: Mapped[str] = mapped_column(String(16))
    has_agency: Mapped[bool] = mapped_column(Boolean)


class ForeignSeller(Base):
    __tablename__ = "foreign_sellers"
    type: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class NumberingCentre(Base):
    """A plate centre that numbers vehicles (مرکز شماره‌گذاری, seed 004): which numbering
    categories it may take and which customs offices it is the nearest centre to."""

    __tablename__ = "numbering_centres"
    centre_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_fa: Mapped[str] = mapped_column(String(200))
    province: Mapped[str] = mapped_column(String(64))
    provincial_capital: Mapped[bool] = mapped_column(Boolean, default=False)
    """At a provincial capital («مرکز استان»)."""
    kinds: Mapped[list[Any]] = mapped_column(default=list)
    """The numbering categories it may number (``imported``, ``historic``, ``temporary_transit``...)."""
    customs_offices: Mapped[list[Any]] = mapped_column(default=list)
    """Customs offices it is the nearest numbering centre to (transit vehicles cleared there)."""


class EscrowBank(Base):
    """A bank approved for escrow (حساب وکالتی) deposits (seed 001)."""

    __tablename__ = "escrow_banks"
    bank_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Closure(Base):
    """A day banks and offices are shut that the official calendar does not know (e.g. a closure
    for heat or air pollution), declared by operators: working-hour deadlines skip it."""

    __tablename__ = "closures"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))


class ExchangeRate(Base):
    """A central-bank rate, in force from ``effective_at`` until the next one."""

    __tablename__ = "exchange_rates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    currency: Mapped[str] = mapped_column(String(3))
    rial_per_unit: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    effective_at: Mapped[datetime] = mapped_column(Instant)


# --- trade-order files ---


class TradeFile(Base):
    """A trade-order file; its id is the file-number sequence."""

    __tablename__ = "trade_files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(String(200), unique=True)
    file_number: Mapped[str | None] = mapped_column(String(16), unique=True, default=None)
    applicant_national_id: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(Instant)


class FileDocument(Base):
    __tablename__ = "file_documents"
    __table_args__ = (UniqueConstraint("workflow_id", "sha256", "kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))


class OrderNumber(Base):
    """The order-registration number sequence: one number per file, ever."""

    __tablename__ = "order_numbers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(String(200), unique=True)
    order_number: Mapped[str | None] = mapped_column(String(8), unique=True, default=None)
    issued_at: Mapped[datetime] = mapped_column(Instant)


class RegisteredOrder(Base):
    """A registered order as it stands now: what its edits and renewals are charged against."""

    __tablename__ = "registered_orders"
    order_number: Mapped[str] = mapped_column(String(8), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), unique=True)
    """The TradeOrder case that registered it."""
    applicant_national_id: Mapped[str] = mapped_column(String(10), index=True)
    sections: Mapped[dict[str, Any]] = mapped_column()
    total_eur: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    last_fee_rial: Mapped[int] = mapped_column(BigInteger)
    """The last computed fee (not what was last paid): an edit pays the difference to it."""
    registered_at: Mapped[datetime] = mapped_column(Instant)
    amended_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    last_amendment_workflow_id: Mapped[str | None] = mapped_column(String(200), default=None)
    """The amendment applied last: a retried apply finds it and changes nothing twice."""
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """Bumped by each applied amendment: one opened on an older version is refused at payment."""


# --- money that moved, messages that went out, what happened ---


class Payment(Base):
    """A payment reported by a bank. A bank's reference pays for one thing, once, across all
    cases: ``(bank_id, ref_key)`` is unique (``ref_key`` = :func:`domain.money.payment_key`), so
    a re-report of the same payment is a no-op and any other use of the reference is refused."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("bank_id", "ref_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bank_id: Mapped[str] = mapped_column(String(100))
    """The bank that reported it: the verified subject of its token."""
    payment_ref: Mapped[str] = mapped_column(String(100))
    """The reference as the bank wrote it."""
    ref_key: Mapped[str] = mapped_column(String(100))
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    amount_rial: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[datetime] = mapped_column(Instant)


class OutboxMessage(Base):
    """A notification a lifecycle sent (SMS, invitation, alert), newest last."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("workflow_id", "step"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
    step: Mapped[str] = mapped_column(String(100))
    to: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(16), default=None)
    """An SMS code, in clear only while it may still be sent and used (then erased, text masked)."""
    code_expires_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    code_used: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Instant)


class CaseClaim(Base):
    """Which run owns a workflow id. Every registry key built on a workflow id relies on the id
    naming one case forever; a new case reusing a closed case's id is refused here."""

    __tablename__ = "case_claims"
    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_run_id: Mapped[str] = mapped_column(String(64))
    workflow_type: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(Instant)


class SpentStartToken(Base):
    """A start token that opened a run (refused or not): each opens one run, ever."""

    __tablename__ = "spent_start_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str] = mapped_column(String(64))
    spent_at: Mapped[datetime] = mapped_column(Instant)


class AuditEntry(Base):
    """One transition of one case, in order (``seq``)."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("workflow_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
    workflow_type: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor_role: Mapped[str | None] = mapped_column(String(32), default=None)
    actor_id: Mapped[str | None] = mapped_column(String(100), default=None)
    """The verified subject (``sub``) of the token that gave the command."""
    actor_jti: Mapped[str | None] = mapped_column(String(100), default=None)
    """The id of that token (``jti``)."""
    at: Mapped[datetime] = mapped_column(Instant)


# --- people, vehicles, plates, deposits: what the lifecycles check against each other ---


class Person(Base):
    __tablename__ = "people"
    national_id: Mapped[str] = mapped_column(String(10), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    has_driving_license: Mapped[bool | None] = mapped_column(Boolean, default=None)


class Vehicle(Base):
    """A vehicle and its current owner; ``title_transfer_locked_until`` blocks transfers."""

    __tablename__ = "vehicles"
    vin: Mapped[str] = mapped_column(String(17), primary_key=True)
    owner_national_id: Mapped[str] = mapped_column(String(10), index=True)
    kind: Mapped[str | None] = mapped_column(String(32), default=None)
    model: Mapped[str | None] = mapped_column(String(100), default=None)
    production_year: Mapped[int | None] = mapped_column(Integer, default=None)
    fuel: Mapped[str | None] = mapped_column(String(32), default=None)
    plate: Mapped[str | None] = mapped_column(String(32), default=None)
    title_transfer_locked_until: Mapped[datetime | None] = mapped_column(Instant, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    source_workflow_id: Mapped[str | None] = mapped_column(String(200), default=None)
    colour: Mapped[str | None] = mapped_column(String(32), default=None)
    """Colour code as last registered by a colour change (plates, seed 004)."""
    scrapped_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    """Set when the vehicle is scrapped (اسقاط); a scrapped vehicle takes no more services."""
    origin: Mapped[str | None] = mapped_column(String(16), default=None)
    """``domestic`` («تولید داخل») or ``imported``, recorded at numbering (seed 004: a transfer asks
    the factory sale document of domestic cars only); ``None`` for vehicles recorded before."""
    body: Mapped[str | None] = mapped_column(String(32), default=None)
    """A truck's body (its use, «کاربری»: ``tipper``, ``box`` ...) as last registered by a change
    of use (seed 004); ``None`` until one is registered."""
    replaced_parts: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    """Main parts replaced on the title (``{"engine": {"at", "workflow_id", "service"}}``): a
    permitted part change or a title corrected after the ماده ۳۰ fine (seed 004)."""


class NewCarPurchase(Base):
    """A new car bought (a delivery of a sale scheme): the 48-month rule reads these."""

    __tablename__ = "new_car_purchases"
    __table_args__ = (UniqueConstraint("workflow_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    national_id: Mapped[str] = mapped_column(String(10), index=True)
    vin: Mapped[str] = mapped_column(String(17))
    workflow_id: Mapped[str] = mapped_column(String(200))
    purchased_at: Mapped[datetime] = mapped_column(Instant)


class PlateRecord(Base):
    """A plate issued to a vehicle; an active plate is held by ``owner_national_id``."""

    __tablename__ = "plates"
    plate: Mapped[str] = mapped_column(String(32), primary_key=True)
    vin: Mapped[str] = mapped_column(String(17), index=True)
    owner_national_id: Mapped[str] = mapped_column(String(10), index=True)
    category: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    issued_at: Mapped[datetime] = mapped_column(Instant)
    workflow_id: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    """When the plate left the vehicle (``active`` false)."""
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    """``kept_by_owner`` (detached at a transfer, stays in the seller's name), ``lost_or_stolen``, ``scrapped``."""


ONE_ACTIVE_PLATE_PER_VIN = "uq_plates_vin_active"
"""A vehicle carries one active plate: the database, not a read before the write, decides two
completions racing for one VIN (the loser's insert fails and is refused)."""
Index(ONE_ACTIVE_PLATE_PER_VIN, PlateRecord.vin, unique=True, **only_where(PlateRecord.active.is_(True)))


class EscrowDeposit(Base):
    """The deposit blocked in an applicant's escrow account until delivery (seed 001)."""

    __tablename__ = "escrow_deposits"
    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    national_id: Mapped[str] = mapped_column(String(10), index=True)
    bank: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(64))
    amount_rial: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    """``blocked``, ``released``, ``unblocked`` (the holder took it out) or ``applied`` (to the price at delivery)."""
    blocked_at: Mapped[datetime] = mapped_column(Instant)
    released_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    settlement_key: Mapped[str | None] = mapped_column(String(240), default=None)
    """The idempotency key of the case's settlement: a retry under it pays nothing again."""
    refund_rial: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """Paid back to the holder by the settlement, deposit included (delay penalties among it)."""
    delay_penalty_paid_rial: Mapped[int | None] = mapped_column(BigInteger, default=None)
    penalty_to_importer_rial: Mapped[int | None] = mapped_column(BigInteger, default=None)
    settled_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    # The settlement flow by flow (activities.escrow.EscrowSettlement), migration 0011.
    deposit_to_holder_rial: Mapped[int | None] = mapped_column(BigInteger, default=None)
    deposit_to_importer_rial: Mapped[int | None] = mapped_column(BigInteger, default=None)
    cash_to_holder_rial: Mapped[int | None] = mapped_column(BigInteger, default=None)
    cash_to_importer_rial: Mapped[int | None] = mapped_column(BigInteger, default=None)
    penalty_unpaid_rial: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """The importer's claim the settlement could not cover: owed, not paid."""


class SchemeRegistration(Base):
    """A person's registration in a sale scheme; one open case per person across schemes."""

    __tablename__ = "scheme_registrations"
    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    scheme_id: Mapped[str] = mapped_column(String(64))
    national_id: Mapped[str] = mapped_column(String(10), index=True)
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    registered_at: Mapped[datetime] = mapped_column(Instant)


ONE_OPEN_REGISTRATION_PER_PERSON = "uq_scheme_registrations_national_id_open"
"""One open sale-scheme case per person (seed 001), decided by the database under a race."""
Index(
    ONE_OPEN_REGISTRATION_PER_PERSON, SchemeRegistration.national_id, unique=True, **only_where(SchemeRegistration.open.is_(True))
)


class Allocation(Base):
    """A car of an offering given to a case; freed when the case withdraws.

    An offering has no seats or capacity in the registry (the importer's stock is not known
    here), so no index can say "one case per car"; only one allocation per case (the key)."""

    __tablename__ = "allocations"
    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    offering_id: Mapped[str] = mapped_column(String(64), index=True)
    importer_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    allocated_at: Mapped[datetime] = mapped_column(Instant)
    released_at: Mapped[datetime | None] = mapped_column(Instant, default=None)


class FuelCard(Base):
    """A vehicle's smart fuel card (seed 002): it follows the car to each new owner."""

    __tablename__ = "fuel_cards"
    card_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    vin: Mapped[str] = mapped_column(String(17), ForeignKey("vehicles.vin"), index=True)
    owner_national_id: Mapped[str] = mapped_column(String(10))
    use: Mapped[str] = mapped_column(String(48))
    balance_litres: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(Instant)


# --- plates (seed 004) ---


class PlateAllocation(Base):
    """The plate a case issued: at most one per workflow, each plate once (retries find it)."""

    __tablename__ = "plate_allocations"
    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    plate: Mapped[str] = mapped_column(String(32), unique=True)
    vin: Mapped[str] = mapped_column(String(17), index=True)
    allocated_at: Mapped[datetime] = mapped_column(Instant)


class HistoricTrafficPermit(Base):
    """A written traffic permit for a historic car (مجوز تردد, seed 004 «مجوز کتبی ... با قید تاریخ و
    مسیر تردد»): one per PlateService case, for its event, route and days."""

    __tablename__ = "historic_traffic_permits"
    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    vin: Mapped[str] = mapped_column(String(17), index=True)
    event: Mapped[str] = mapped_column(String(32))
    event_name: Mapped[str] = mapped_column(String(200))
    route: Mapped[str] = mapped_column(Text)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(Instant)


class VehicleServiceRecord(Base):
    """A completed plate-centre service (transfer, duplicate card, part change, scrapping ...);
    written once per workflow with its effect on the registry, so a retry repeats nothing."""

    __tablename__ = "vehicle_services"
    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    vin: Mapped[str] = mapped_column(String(17), index=True)
    service: Mapped[str] = mapped_column(String(48))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    completed_at: Mapped[datetime] = mapped_column(Instant)
