"""The import scheme's tables (seed 001): the scheme's window, every registration, the published ranking.

A scheme (``import_schemes``) is reference data: its registration window and deposit. Its
``ImportScheme`` workflow adds the lottery's commitment at opening and the revealed seed after the
draw. ``scheme_applicants`` holds every registration of a round (one per person per round, ever:
a withdrawn applicant registers again only in a later round), judged together by the eligibility
batch at the window's close. ``scheme_ranks`` is what is published: rank and registration code,
never a person's data.

Offerings (``ImportOffering`` cases): ``import_offerings`` holds each importer's offering and its
terms, ``offering_applications`` the ranked cases that applied (one live application per case: a
partial unique index), ``offering_seats`` the cars given at the close (one buyer per seat, one seat
per case).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.models import Base, Instant, only_where


class ImportScheme(Base):
    """An import scheme's round (reference data ``import_schemes``) and its lottery's public record."""

    __tablename__ = "import_schemes"
    scheme_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    registration_opens: Mapped[datetime] = mapped_column(Instant)
    registration_closes: Mapped[datetime] = mapped_column(Instant)
    """The first instant at which registration is refused again (the window is ``[opens, closes)``)."""
    deposit_rial: Mapped[int] = mapped_column(BigInteger)
    seed_commitment: Mapped[str | None] = mapped_column(String(64), default=None)
    """SHA-256 (hex) of the lottery seed, published when the scheme opens (``lifecycles.lottery``)."""
    committed_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    workflow_id: Mapped[str | None] = mapped_column(String(200), default=None)
    """The scheme's ``ImportScheme`` workflow (one per scheme: it committed the seed)."""
    seed: Mapped[str | None] = mapped_column(String(64), default=None)
    """The seed itself (64 hex digits), revealed by the operator after the eligibility batch."""
    list_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    """SHA-256 of the sorted eligible registration codes the draw ranked."""
    eligible_count: Mapped[int | None] = mapped_column(Integer, default=None)
    checked_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    """When the eligibility batch began: registration is closed for good from here."""
    drawn_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    algorithm: Mapped[str | None] = mapped_column(String(32), default=None)


LIVE_APPLICANT = ("registered", "eligible")
"""``scheme_applicants.status`` of a registration still in its round's running (a rank holder's included)."""


class SchemeApplicant(Base):
    """One registration in a scheme's round; its public ``code`` is all the ranking shows of it."""

    __tablename__ = "scheme_applicants"
    __table_args__ = (
        # One registration per person per round, withdrawn or not (seed 000 «در مرحله دوم ثبت نام»).
        UniqueConstraint("scheme_id", "national_id", name="uq_scheme_applicants_scheme_person"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scheme_id: Mapped[str] = mapped_column(String(64), ForeignKey("import_schemes.scheme_id"))
    workflow_id: Mapped[str] = mapped_column(String(200), unique=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    """The registration's public code (کد رهگیری), random: the published ranking names only this."""
    national_id: Mapped[str] = mapped_column(String(10), index=True)
    declared_driving_license: Mapped[bool] = mapped_column(Boolean)
    is_legal_entity: Mapped[bool] = mapped_column(Boolean, default=False)
    bank: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    """``registered`` (not yet judged), ``eligible``, ``ineligible``, ``withdrawn``."""
    ineligible_mask: Mapped[int] = mapped_column(Integer, default=0)
    """The reasons found, as bits of ``lifecycles.import_scheme.REASONS``; 0 when eligible."""
    registered_at: Mapped[datetime] = mapped_column(Instant)
    checked_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(Instant, default=None)


Index("ix_scheme_applicants_scheme_id_id", SchemeApplicant.scheme_id, SchemeApplicant.id)
"""The batch walks a round in id order, a chunk at a time (the status is not indexed: the batch
rewrites it on every row)."""


class SchemeRank(Base):
    """The published ranking: rank and registration code (no personal data). A case finds its
    rank here by its registration's code; the key makes every rank unique, the constraint every code."""

    __tablename__ = "scheme_ranks"
    __table_args__ = (UniqueConstraint("scheme_id", "code", name="uq_scheme_ranks_scheme_code"),)
    scheme_id: Mapped[str] = mapped_column(String(64), ForeignKey("import_schemes.scheme_id"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16))


# --- offerings (seed 001 «نحوه عرضه خودروهای وارداتی»): an importer's cars, applications by rank, seats ---


class ImportOffering(Base):
    """An importer's offering of ``seats`` cars to a drawn scheme's ranked applicants; its public
    terms are what the ``ImportOffering`` case announces to them."""

    __tablename__ = "import_offerings"
    offering_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), unique=True)
    scheme_id: Mapped[str] = mapped_column(String(64), ForeignKey("import_schemes.scheme_id"), index=True)
    importer_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(100))
    seats: Mapped[int] = mapped_column(Integer)
    delivery_due: Mapped[date] = mapped_column(Date)
    base_price_rial: Mapped[int] = mapped_column(BigInteger)
    pre_customs_costs_rial: Mapped[int] = mapped_column(BigInteger)
    estimated_final_costs_rial: Mapped[int] = mapped_column(BigInteger)
    opens: Mapped[datetime] = mapped_column(Instant)
    closes: Mapped[datetime] = mapped_column(Instant)
    """Applications are taken in ``[opens, closes)`` (workflow time of the applying case)."""
    status: Mapped[str] = mapped_column(String(16))
    """``proposed``, ``approved``, ``rejected``, ``expired`` (not approved before its close), ``closed``,
    ``finished``, ``aborted``."""
    proposed_at: Mapped[datetime] = mapped_column(Instant)
    decided_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    reassign_until: Mapped[datetime | None] = mapped_column(Instant, default=None)
    """Freed seats pass to the next applicant by rank until this instant (``policy.OFFERING_REASSIGN_MONTHS``)."""
    applicants: Mapped[int | None] = mapped_column(Integer, default=None)
    """Applications still live at the close."""
    fill_rounds: Mapped[int] = mapped_column(Integer, default=0)
    """How many times freed seats were given again (``offering_seats.given_round`` of the last)."""


LIVE_APPLICATION = ("applied", "won")
"""Application statuses that count against ``policy.OFFERING_ONE_APPLICATION_AT_A_TIME``."""


class OfferingApplication(Base):
    """A ranked case's application to one offering (``status``: ``applied`` while the window is
    open; at the close ``won`` (a seat) or ``waiting`` (the rank kept, next in line for a freed
    seat); ``withdrawn``, ``declined``, ``lapsed`` (not signed in time))."""

    __tablename__ = "offering_applications"
    __table_args__ = (UniqueConstraint("offering_id", "workflow_id", name="uq_offering_applications_offering_case"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offering_id: Mapped[str] = mapped_column(String(64), ForeignKey("import_offerings.offering_id"))
    workflow_id: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    applied_at: Mapped[datetime] = mapped_column(Instant)
    changed_at: Mapped[datetime | None] = mapped_column(Instant, default=None)


ONE_LIVE_APPLICATION = "uq_offering_applications_live"
"""``policy.OFFERING_ONE_APPLICATION_AT_A_TIME``, decided by the database under a race."""
Index(
    ONE_LIVE_APPLICATION,
    OfferingApplication.workflow_id,
    unique=True,
    **only_where(OfferingApplication.status.in_(LIVE_APPLICATION)),
)
Index("ix_offering_applications_offering_rank", OfferingApplication.offering_id, OfferingApplication.rank)
"""The close picks the best ranks of one offering."""


class OfferingSeat(Base):
    """One car of an offering, given to one buyer at a time: the key makes a seat one allocation,
    the unique ``workflow_id`` one seat per case anywhere. A seat given up keeps its row, free
    (``workflow_id`` NULL) until the next applicant by rank takes it."""

    __tablename__ = "offering_seats"
    offering_id: Mapped[str] = mapped_column(String(64), ForeignKey("import_offerings.offering_id"), primary_key=True)
    seat: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    rank: Mapped[int | None] = mapped_column(Integer, default=None)
    given_at: Mapped[datetime | None] = mapped_column(Instant, default=None)
    sign_by: Mapped[datetime | None] = mapped_column(Instant, default=None)
    given_round: Mapped[int] = mapped_column(Integer, default=0)
    """0: named at the close; k: given again by the k-th fill of freed seats."""
