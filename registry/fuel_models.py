"""Fuel card tables (seed 002): dated quotas and prices, balances, one charge per card and period,
the charge cycle's runs, and station purchases. The cards themselves are ``registry.models.FuelCard``.

Quantities are integers: millilitres of petrol and rials (a toman is ten rials).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.models import Base, Instant, only_where


class FuelQuota(Base):
    """A use's quota from ``effective_from`` on (reference data; seed 002's table and our heavy uses)."""

    __tablename__ = "fuel_quotas"
    use: Mapped[str] = mapped_column(String(48), primary_key=True)
    effective_from: Mapped[datetime] = mapped_column(Instant, primary_key=True)
    litres_per_charge: Mapped[int] = mapped_column(Integer)
    charges_per_month: Mapped[int] = mapped_column(Integer)
    """1, or 2 for heavy vehicles («هر دو هفته یکبار»)."""
    worn_out_class: Mapped[str] = mapped_column(String(32))


class FuelPrice(Base):
    """Rials per litre of a price kind (``quota``, ``free``, ``super``) from ``effective_from`` on."""

    __tablename__ = "fuel_prices"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    effective_from: Mapped[datetime] = mapped_column(Instant, primary_key=True)
    rial_per_litre: Mapped[int] = mapped_column(BigInteger)


class FuelBalance(Base):
    """A card's quota balance. The check constraint makes a negative balance impossible."""

    __tablename__ = "fuel_balances"
    __table_args__ = (CheckConstraint("quota_ml >= 0", name="not_negative"),)
    card_number: Mapped[str] = mapped_column(String(20), ForeignKey("fuel_cards.card_number"), primary_key=True)
    quota_ml: Mapped[int] = mapped_column(BigInteger, default=0)
    last_debit_ml: Mapped[int] = mapped_column(BigInteger, default=0)
    """What the card's last purchase took from the quota (written by the debiting statement itself)."""


class FuelCharge(Base):
    """One charge of one card for one period: the primary key lets no card be charged twice."""

    __tablename__ = "fuel_charges"
    card_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    """``1404-09`` for a monthly use, ``1404-09-1`` / ``1404-09-2`` for a heavy vehicle."""
    credited_ml: Mapped[int] = mapped_column(BigInteger)
    capped: Mapped[bool] = mapped_column(Boolean)
    """The nine-month cap kept some of the quota out."""
    batch: Mapped[str] = mapped_column(String(16))
    """The chunk transaction that wrote it (what it credited to the balance in the same transaction)."""
    charged_at: Mapped[datetime] = mapped_column(Instant)


class FuelPeriodQuota(Base):
    """The quotas a charge run applies, fixed at its start (a retry applies the same ones)."""

    __tablename__ = "fuel_period_quotas"
    run: Mapped[str] = mapped_column(String(16), primary_key=True)
    use: Mapped[str] = mapped_column(String(48), primary_key=True)
    quota_ml: Mapped[int] = mapped_column(BigInteger)
    cap_ml: Mapped[int] = mapped_column(BigInteger)
    heavy: Mapped[bool] = mapped_column(Boolean)
    last_worn_out_model_year: Mapped[int] = mapped_column(Integer)


class FuelChargeRun(Base):
    """One charge run per period (``1404-09-1``): where it is, what it has done, its report."""

    __tablename__ = "fuel_charge_runs"
    run: Mapped[str] = mapped_column(String(16), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    """``running`` or ``done``."""
    after_card: Mapped[str] = mapped_column(String(20), default="")
    """The last card of the last committed chunk (the next chunk starts after it)."""
    totals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(Instant)
    finished_at: Mapped[datetime | None] = mapped_column(Instant, default=None)


class FuelPurchase(Base):
    """A station's sale on a card, once per (station, transaction id)."""

    __tablename__ = "fuel_purchases"
    __table_args__ = (UniqueConstraint("station_id", "station_txn_id", name="uq_fuel_purchases_station_txn"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(32))
    station_txn_id: Mapped[str] = mapped_column(String(64))
    card_number: Mapped[str] = mapped_column(String(20), index=True)
    grade: Mapped[str] = mapped_column(String(16))
    litres_ml: Mapped[int] = mapped_column(BigInteger)
    quota_ml: Mapped[int] = mapped_column(BigInteger)
    free_ml: Mapped[int] = mapped_column(BigInteger)
    quota_rial_per_litre: Mapped[int] = mapped_column(BigInteger)
    free_rial_per_litre: Mapped[int] = mapped_column(BigInteger)
    amount_rial: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(Instant)


# --- issuance (issue 12): a card's request as a case, and its PIN ---


class FuelCardRequest(Base):
    """A fuel card request (a ``FuelCard`` case): what tracking by VIN or plate reads. At most one
    request per vehicle is open at a time: the partial unique index below decides two requests
    racing for one VIN (the loser's insert fails, inside the transaction that read the registry)."""

    __tablename__ = "fuel_card_requests"
    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    vin: Mapped[str] = mapped_column(String(17), index=True)
    plate: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``new`` or ``duplicate``."""
    reason: Mapped[str | None] = mapped_column(String(16), default=None)
    """A duplicate's reason: ``lost``, ``damaged``, ``not_handed_over``."""
    channel: Mapped[str] = mapped_column(String(16))
    delivery: Mapped[str] = mapped_column(String(16))
    """``post`` (to the applicant's address) or ``collect`` (at the post office)."""
    state: Mapped[str] = mapped_column(String(32))
    open: Mapped[bool] = mapped_column(Boolean)
    requested_at: Mapped[datetime] = mapped_column(Instant)
    updated_at: Mapped[datetime] = mapped_column(Instant)
    use: Mapped[str | None] = mapped_column(String(48), default=None)
    card_number: Mapped[str | None] = mapped_column(String(20), default=None)
    old_card_number: Mapped[str | None] = mapped_column(String(20), default=None)
    tracking_number: Mapped[str | None] = mapped_column(String(64), default=None)
    """The post's parcel number («شماره مرسوله»), once dispatched."""
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    """Why the request was refused (none when it was not)."""


ONE_OPEN_FUEL_CARD_REQUEST_PER_VIN = "uq_fuel_card_requests_vin_open"
"""One application per vehicle at a time (seed 002 via issue 12): the database decides."""
Index(ONE_OPEN_FUEL_CARD_REQUEST_PER_VIN, FuelCardRequest.vin, unique=True, **only_where(FuelCardRequest.open.is_(True)))


class FuelCardPin(Base):
    """A card's PIN as a salted scrypt hash (never the PIN): set at issue to the last four digits of
    the owner's national id (seed 002), changed at a station, reset at a regional office."""

    __tablename__ = "fuel_card_pins"
    card_number: Mapped[str] = mapped_column(String(20), ForeignKey("fuel_cards.card_number"), primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    pin_hash: Mapped[bytes] = mapped_column(LargeBinary(64))
    set_by: Mapped[str] = mapped_column(String(16))
    """``issue``, ``station`` or ``fuel_office``."""
    set_at: Mapped[datetime] = mapped_column(Instant)


class FuelCardGrant(Base):
    """A numbering case's leave to start its vehicle's fuel card request without an actor token
    (``NUMBERING_FUEL_CARD``): written only by the numbering's activity (workers write the registry,
    clients never do), spent once by the request it names."""

    __tablename__ = "fuel_card_grants"
    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    """The ``FuelCard`` case the grant lets start (``fuel-card-numbering-{vin}``)."""
    vin: Mapped[str] = mapped_column(String(17))
    numbering_workflow_id: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(Instant)
    used_run_id: Mapped[str | None] = mapped_column(String(64), default=None)
