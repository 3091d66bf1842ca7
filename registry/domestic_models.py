"""The domestic integrated sales scheme's tables (seed 000): stages, change windows, orders.

``domestic_schemes`` is one stage (مرحله) with its offerings and the operator's withdrawal switch;
``domestic_change_windows`` the windows its operator opened (data, not code: «مهلت ... تمدید نیز
شد»); ``domestic_orders`` one order per person per stage, ever (a withdrawal leaves the row, so
«دیگر امکان ثبت سفارش جدید وجود نخواهد داشت» in this stage, and its turn is given to no one else:
«سهمیه این افراد به کسی داده نخواهد شد»). The person's open case across schemes is the shared
``scheme_registrations`` row (``registry.models.ONE_OPEN_REGISTRATION_PER_PERSON``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.models import Base, Instant


class DomesticScheme(Base):
    """A stage of the integrated sales scheme, recorded by its ``DomesticScheme`` workflow."""

    __tablename__ = "domestic_schemes"
    scheme_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), unique=True)
    deposit_rial: Mapped[int] = mapped_column(BigInteger)
    offerings: Mapped[list[Any]] = mapped_column(default=list)
    """``[{"model", "delivery_year"}]``: the 1402 ones are the low-demand models (seed 000)."""
    registration_open: Mapped[bool] = mapped_column(Boolean, default=True)
    withdrawal_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    """Closed for the review of turns (seed 000: «سایت به مدت چند روز بسته می شود»): no changes."""
    finished_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    created_at: Mapped[datetime] = mapped_column(Instant)
    controls_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Bumped by every change of the controls; orders keep the newest version they were told."""


class DomesticChangeWindow(Base):
    """A change window ``[opens, closes)`` of a stage; ``restored_only`` for restored applicants."""

    __tablename__ = "domestic_change_windows"
    __table_args__ = (UniqueConstraint("scheme_id", "window_id", name="uq_domestic_change_windows_scheme_window"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scheme_id: Mapped[str] = mapped_column(String(64), ForeignKey("domestic_schemes.scheme_id"))
    window_id: Mapped[str] = mapped_column(String(64))
    opens: Mapped[datetime] = mapped_column(Instant)
    closes: Mapped[datetime] = mapped_column(Instant)
    restored_only: Mapped[bool] = mapped_column(Boolean, default=False)


class DomesticOrder(Base):
    """One person's order in a stage: the priority (model, delivery year) and the turn."""

    __tablename__ = "domestic_orders"
    __table_args__ = (
        # One order per person per stage, withdrawn or not: no new order this stage (seed 000).
        UniqueConstraint("scheme_id", "national_id", name="uq_domestic_orders_scheme_person"),
        # A turn is one order's, for good: a withdrawn turn is never handed to another.
        UniqueConstraint("scheme_id", "turn", name="uq_domestic_orders_scheme_turn"),
    )
    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    scheme_id: Mapped[str] = mapped_column(String(64), ForeignKey("domestic_schemes.scheme_id"))
    national_id: Mapped[str] = mapped_column(String(10), index=True)
    turn: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    """``ordered``, ``cancelled`` (turn kept, no car chosen), ``withdrawn``, ``delivered``, ``aborted``."""
    model: Mapped[str | None] = mapped_column(String(100), default=None)
    delivery_year: Mapped[int] = mapped_column(Integer)
    restored: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[datetime] = mapped_column(Instant)
    changed_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    youth_population: Mapped[bool] = mapped_column(Boolean, default=False)
    """The youth-population scheme flag («طرح جوانی جمعیت») of the applicant's profile."""
    has_driving_license: Mapped[bool | None] = mapped_column(Boolean, default=None)
    license_inquired_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    vin: Mapped[str | None] = mapped_column(String(17), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(Instant, default=None)


Index("ix_domestic_orders_scheme_status_year", DomesticOrder.scheme_id, DomesticOrder.status, DomesticOrder.delivery_year)


class DomesticYearTurn(Base):
    """The turns per delivery year, as the last recomputation after a window published them: the
    stage's turn order numbered again per year (those who switched to 1402 hold 1402 turns, seed
    000). Rewritten whole by one set-based step (a delete and an ``INSERT ... SELECT``), so the
    orders' rows are not touched; an order off the list has no row."""

    __tablename__ = "domestic_year_turns"
    scheme_id: Mapped[str] = mapped_column(String(64), ForeignKey("domestic_schemes.scheme_id"), primary_key=True)
    delivery_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    year_turn: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
