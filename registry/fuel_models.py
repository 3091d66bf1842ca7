"""Fuel card tables (seed 002): dated quotas and prices, balances, one charge per card and period,
the charge cycle's runs, and station purchases. The cards themselves are ``registry.models.FuelCard``.

Quantities are integers: millilitres of petrol and rials (a toman is ten rials).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.models import Base, Instant


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
