"""Activities of an import offering (seed 001 «نحوه عرضه خودروهای وارداتی»): the proposal, the
applications by rank, the close that names the buyers and the seats given again.

Work over an offering's applicants is set-based: the close names every buyer with one
``INSERT ... SELECT`` ranked by a window function and settles every other application with one
``UPDATE``, in one transaction; a fill of freed seats pairs the free seats with the next ranks in
one statement pair. No activity or workflow runs per applicant. The rules that span cases are the
database's: one live application per case (a partial unique index), one seat per case and one
buyer per seat (unique keys), each read and written in the transaction that decides.

The functions marked *for ImportPurchase* are what a purchase case calls: ``apply_to_offering``,
``withdraw_offering_application``, ``offering_seat`` (its seat and the offering's terms) and
``give_up_seat`` (a decline, or the signing deadline passed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, insert, literal, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from temporalio import activity

from activities.errors import refused
from domain import policy
from domain.display import iso
from lifecycles.import_offering import window_refusal
from registry.db import session_scope
from registry.models import Allocation, Instant
from registry.scheme_models import (
    LIVE_APPLICATION,
    ImportOffering,
    ImportScheme,
    OfferingApplication,
    OfferingSeat,
    SchemeApplicant,
    SchemeRank,
)


def _utc(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


assert policy.OFFERING_ONE_APPLICATION_AT_A_TIME, "uq_offering_applications_live enforces it: several at once needs a migration"

ONE_AT_A_TIME = (
    "already applied to another offering, or holding a seat not yet signed or given up "
    "(one live application at a time: policy.OFFERING_ONE_APPLICATION_AT_A_TIME)"
)


# --- the offering's case ---


@dataclass
class OfferingProposal:
    workflow_id: str
    offering_id: str
    scheme_id: str
    importer_id: str
    model: str
    seats: int
    delivery_due: str
    """ISO date."""
    base_price_rial: int
    pre_customs_costs_rial: int
    estimated_final_costs_rial: int
    opens: datetime
    closes: datetime
    at: datetime


@activity.defn
def offering_proposal_refusal(proposal: OfferingProposal) -> str | None:
    """Why this offering may not be proposed (read-only, before the case claims its id), or ``None``:
    the scheme must be drawn (seed 001: the offerings start «با اعلام نوبت متقاضیان») and the
    offering's id free."""
    with session_scope() as session:
        scheme = session.get(ImportScheme, proposal.scheme_id)
        if scheme is None:
            return f"no import scheme {proposal.scheme_id!r} in the reference data (import_schemes)"
        if scheme.drawn_at is None:
            return "the scheme's ranks are not drawn yet: offerings follow the ranking"
        taken = session.get(ImportOffering, proposal.offering_id)
        if taken is not None and taken.workflow_id != proposal.workflow_id:
            return f"offering id {proposal.offering_id!r} is taken by another offering"
    return None


@activity.defn
def record_offering(proposal: OfferingProposal) -> None:
    """The proposal in the registry (status ``proposed``); a retry finds it."""
    try:
        with session_scope() as session:
            own = session.get(ImportOffering, proposal.offering_id)
            if own is not None:
                if own.workflow_id != proposal.workflow_id:
                    raise refused(f"offering id {proposal.offering_id!r} is taken by another offering")
                return
            session.add(
                ImportOffering(
                    offering_id=proposal.offering_id,
                    workflow_id=proposal.workflow_id,
                    scheme_id=proposal.scheme_id,
                    importer_id=proposal.importer_id,
                    model=proposal.model,
                    seats=proposal.seats,
                    delivery_due=date.fromisoformat(proposal.delivery_due),
                    base_price_rial=proposal.base_price_rial,
                    pre_customs_costs_rial=proposal.pre_customs_costs_rial,
                    estimated_final_costs_rial=proposal.estimated_final_costs_rial,
                    opens=_utc(proposal.opens),
                    closes=_utc(proposal.closes),
                    status="proposed",
                    proposed_at=_utc(proposal.at),
                    fill_rounds=0,
                )
            )
            session.flush()
    except IntegrityError:
        raise refused(f"offering id {proposal.offering_id!r} is taken by another offering") from None


@dataclass
class OfferingDecision:
    offering_id: str
    status: str
    """``approved``, ``rejected``, ``aborted`` or ``finished``."""
    at: datetime


@activity.defn
def decide_offering(decision: OfferingDecision) -> int:
    """Record the operator's decision (or the offering's end). An abort withdraws the applications
    still waiting for the close, so their cases may apply elsewhere; returns how many."""
    assert decision.status in ("approved", "rejected", "aborted", "finished", "expired")
    with session_scope() as session:
        offering = session.get(ImportOffering, decision.offering_id, with_for_update=True)
        if offering is None:
            raise refused(f"no offering {decision.offering_id!r}")
        if offering.status != decision.status:
            offering.status = decision.status
            if decision.status != "finished":
                offering.decided_at = _utc(decision.at)
        if decision.status != "aborted":
            return 0
        result = session.execute(
            update(OfferingApplication)
            .where(OfferingApplication.offering_id == decision.offering_id, OfferingApplication.status == "applied")
            .values(status="withdrawn", changed_at=_utc(decision.at)),
            execution_options={"synchronize_session": False},
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass
class OfferingClose:
    offering_id: str
    at: datetime
    sign_by: datetime
    reassign_until: datetime


def close_applications(session: Session, close: OfferingClose) -> dict[str, int]:
    """Name the buyers: the ``seats`` best ranks among the applications still ``applied`` whose
    registration is still eligible get a seat each (seat 1 to the best rank), their applications
    ``won``; every other application ``waiting`` (the rank kept). Three statements, one transaction;
    closing again finds the seats written and answers the same."""
    offering = session.get(ImportOffering, close.offering_id, with_for_update=True)
    if offering is None:
        raise refused(f"no offering {close.offering_id!r}")
    given = select(func.count()).where(OfferingSeat.offering_id == close.offering_id, OfferingSeat.given_round == 0)
    if offering.closed_at is not None:
        return {"applicants": offering.applicants or 0, "buyers": int(session.scalar(given) or 0)}
    if offering.status != "approved":
        raise refused(f"the offering is {offering.status}, not open for applications")
    a, s = OfferingApplication, SchemeApplicant
    applicants = int(session.scalar(select(func.count()).where(a.offering_id == close.offering_id, a.status == "applied")) or 0)
    mine = aliased(OfferingApplication)
    best = (
        select(mine.workflow_id.label("workflow_id"), mine.rank.label("rank"))
        .join(s, s.workflow_id == mine.workflow_id)
        .where(mine.offering_id == close.offering_id, mine.status == "applied", s.status == "eligible")
        .order_by(mine.rank)
        .limit(offering.seats)
        .subquery()
    )
    buyers = list(
        session.scalars(
            insert(OfferingSeat)
            .from_select(
                ["offering_id", "seat", "workflow_id", "rank", "given_at", "sign_by", "given_round"],
                select(
                    literal(close.offering_id),
                    func.row_number().over(order_by=best.c.rank),
                    best.c.workflow_id,
                    best.c.rank,
                    literal(_utc(close.at), Instant),
                    literal(_utc(close.sign_by), Instant),
                    literal(0),
                ),
            )
            .returning(OfferingSeat.workflow_id)
        )
    )
    # The buyers' applications by their key (offering, case), a chunk of ids per statement: a plan
    # that does not depend on the statistics of rows written a moment ago.
    at = _utc(close.at)
    step = policy.OFFERING_CLOSE_KEYS_PER_STATEMENT
    for start in range(0, len(buyers), step):
        session.execute(
            update(a)
            .where(a.offering_id == close.offering_id, a.workflow_id.in_(buyers[start : start + step]))
            .values(status="won", changed_at=at),
            execution_options={"synchronize_session": False},
        )
    session.execute(
        update(a).where(a.offering_id == close.offering_id, a.status == "applied").values(status="waiting", changed_at=at),
        execution_options={"synchronize_session": False},
    )
    offering.status, offering.closed_at = "closed", at
    offering.applicants, offering.reassign_until = applicants, _utc(close.reassign_until)
    session.flush()
    return {"applicants": applicants, "buyers": int(session.scalar(given) or 0)}


@activity.defn
def close_offering(close: OfferingClose) -> dict[str, int]:
    """The offering's close (``applicants``, ``buyers``), in one transaction: the buyers are named
    whole or not at all."""
    with session_scope() as session:
        return close_applications(session, close)


@dataclass
class SeatFill:
    offering_id: str
    round: int
    """The fill's number: the offering's ``fill_rounds`` + 1 (a retry of a done fill answers it)."""
    at: datetime
    sign_by: datetime


def fill_seats(session: Session, fill: SeatFill) -> dict[str, int]:
    """Give the offering's free seats to the next applicants by rank (``waiting``, still eligible,
    holding no live application elsewhere, no seat and no car): the best rank takes the lowest
    free seat. ``given``: seats given in this round (0: none free, nobody left, or past
    ``reassign_until``)."""
    offering = session.get(ImportOffering, fill.offering_id, with_for_update=True)
    if offering is None:
        raise refused(f"no offering {fill.offering_id!r}")
    if offering.fill_rounds >= fill.round:  # done already (a retry)
        given = select(func.count()).where(OfferingSeat.offering_id == fill.offering_id, OfferingSeat.given_round == fill.round)
        return {"round": fill.round, "given": int(session.scalar(given) or 0)}
    at = _utc(fill.at)
    if offering.reassign_until is None or at >= _utc(offering.reassign_until) or offering.status != "closed":
        return {"round": fill.round, "given": 0}
    free = list(
        session.scalars(
            select(OfferingSeat.seat)
            .where(OfferingSeat.offering_id == fill.offering_id, OfferingSeat.workflow_id.is_(None))
            .order_by(OfferingSeat.seat)
        )
    )
    if not free:
        return {"round": fill.round, "given": 0}
    next_ranks = next_in_line(session, fill.offering_id, len(free))
    if not next_ranks:
        return {"round": fill.round, "given": 0}
    sign_by = _utc(fill.sign_by)
    # One UPDATE of the free seats by their keys (executemany), the best rank to the lowest seat.
    session.execute(
        update(OfferingSeat),
        [
            {
                "offering_id": fill.offering_id,
                "seat": seat,
                "workflow_id": wid,
                "rank": rank,
                "given_at": at,
                "sign_by": sign_by,
                "given_round": fill.round,
            }
            for seat, (wid, rank) in zip(free, next_ranks, strict=False)
        ],
    )
    session.execute(
        update(OfferingApplication)
        .where(
            OfferingApplication.offering_id == fill.offering_id,
            OfferingApplication.workflow_id.in_([wid for wid, _ in next_ranks]),
        )
        .values(status="won", changed_at=at),
        execution_options={"synchronize_session": False},
    )
    offering.fill_rounds = fill.round
    session.flush()
    return {"round": fill.round, "given": len(next_ranks)}


def next_in_line(session: Session, offering_id: str, wanted: int) -> list[tuple[str, int]]:
    """The next ``wanted`` applicants of the offering by rank who may take a freed seat: ``waiting``,
    still eligible, with no live application elsewhere, no seat and no car. Walks the waiting
    applications in rank order a page at a time (the offering's rank index), judging each page with
    one statement, so the cost follows the seats freed, not the applicants."""
    a, s = OfferingApplication, SchemeApplicant
    other = aliased(OfferingApplication)
    page = max(4 * wanted, 100)
    found: list[tuple[str, int]] = []
    after = 0
    while len(found) < wanted:
        ranks = session.execute(
            select(a.workflow_id, a.rank)
            .where(a.offering_id == offering_id, a.status == "waiting", a.rank > after)
            .order_by(a.rank)
            .limit(page)
        ).all()
        if not ranks:
            break
        after = ranks[-1][1]
        ids = [wid for wid, _ in ranks]
        blocked = set(
            session.scalars(
                union(
                    select(s.workflow_id).where(s.workflow_id.in_(ids), s.status != "eligible"),
                    select(other.workflow_id).where(other.workflow_id.in_(ids), other.status.in_(LIVE_APPLICATION)),
                    select(OfferingSeat.workflow_id).where(OfferingSeat.workflow_id.in_(ids)),
                    select(Allocation.workflow_id).where(Allocation.workflow_id.in_(ids), Allocation.active.is_(True)),
                )
            )
        )
        registered = set(session.scalars(select(s.workflow_id).where(s.workflow_id.in_(ids))))
        found += [(wid, rank) for wid, rank in ranks if wid in registered and wid not in blocked][: wanted - len(found)]
    return found


@activity.defn
def fill_offering_seats(fill: SeatFill) -> dict[str, int]:
    """One fill of the offering's freed seats, in one transaction (see :func:`fill_seats`)."""
    with session_scope() as session:
        return fill_seats(session, fill)


# --- for ImportPurchase ---


@dataclass
class ApplicationRecord:
    workflow_id: str
    offering_id: str
    at: datetime
    """The case's clock when it applied: the window is judged at this instant."""


@activity.defn
def apply_to_offering(record: ApplicationRecord) -> dict[str, Any]:
    """Record a ranked case's application (for ImportPurchase ``apply_offering``), re-checked here in
        the writing transaction: the offering approved and not closed, the window at the case's clock,
        the registration eligible in the offering's scheme with a rank, and one live application per
        case (the partial unique index decides a race). Returns ``{"rank", "closes"}`` (the registry's
    window, not what a signal told the case); a retry finds its own row."""
    try:
        with session_scope() as session:
            offering = session.get(ImportOffering, record.offering_id, with_for_update={"read": True})
            if offering is None:
                raise refused(f"no offering {record.offering_id!r}")
            own = session.scalar(
                select(OfferingApplication).where(
                    OfferingApplication.offering_id == record.offering_id, OfferingApplication.workflow_id == record.workflow_id
                )
            )
            if own is not None and own.status == "applied":
                return {"rank": own.rank, "closes": iso(_utc(offering.closes))}
            if offering.status != "approved" or offering.closed_at is not None:
                raise refused(f"the offering is {offering.status}: it takes no applications")
            why = window_refusal(_utc(offering.opens), _utc(offering.closes), _utc(record.at))
            if why:
                raise refused(why)
            if own is not None:
                raise refused(f"this case applied to this offering before ({own.status}): once per offering")
            registration = session.scalar(select(SchemeApplicant).where(SchemeApplicant.workflow_id == record.workflow_id))
            if registration is None or registration.scheme_id != offering.scheme_id:
                raise refused("the case is not registered in the offering's scheme")
            if registration.status != "eligible":
                raise refused(f"the case's registration is {registration.status}, not eligible")
            rank = session.scalar(
                select(SchemeRank.rank).where(
                    SchemeRank.scheme_id == registration.scheme_id, SchemeRank.code == registration.code
                )
            )
            if rank is None:
                raise refused("the case has no rank in its scheme's round")
            session.add(
                OfferingApplication(
                    offering_id=record.offering_id,
                    workflow_id=record.workflow_id,
                    rank=rank,
                    status="applied",
                    applied_at=_utc(record.at),
                )
            )
            session.flush()
            return {"rank": rank, "closes": iso(_utc(offering.closes))}
    except IntegrityError:
        raise refused(ONE_AT_A_TIME) from None


@activity.defn
def withdraw_offering_application(record: ApplicationRecord) -> bool:
    """The case takes its application back while the window is open (before the close, which holds
    the offering's row); ``False`` when there was none to take back."""
    with session_scope() as session:
        offering = session.get(ImportOffering, record.offering_id, with_for_update={"read": True})
        if offering is None:
            raise refused(f"no offering {record.offering_id!r}")
        own = session.scalar(
            select(OfferingApplication).where(
                OfferingApplication.offering_id == record.offering_id, OfferingApplication.workflow_id == record.workflow_id
            )
        )
        if own is None or own.status not in ("applied", "withdrawn"):
            return False
        if own.status == "withdrawn":
            return True
        if offering.closed_at is not None or _utc(record.at) >= _utc(offering.closes):
            raise refused(f"applications to this offering closed at {iso(_utc(offering.closes))}")
        own.status, own.changed_at = "withdrawn", _utc(record.at)
        return True


@dataclass
class SeatRequest:
    workflow_id: str


@activity.defn
def offering_seat(request: SeatRequest) -> dict[str, Any] | None:
    """The seat a case holds, with its offering's terms and the signing deadline; ``None`` when it
    holds none (the signal that woke it proves nothing: this is the registry's word)."""
    with session_scope() as session:
        row = session.execute(
            select(OfferingSeat, ImportOffering)
            .join(ImportOffering, ImportOffering.offering_id == OfferingSeat.offering_id)
            .where(OfferingSeat.workflow_id == request.workflow_id)
        ).first()
        if row is None:
            return None
        seat, offering = row
        return {
            "offering_id": offering.offering_id,
            "offering_workflow_id": offering.workflow_id,
            "seat": seat.seat,
            "rank": seat.rank,
            "sign_by": iso(_utc(seat.sign_by)) if seat.sign_by else None,
            "importer_id": offering.importer_id,
            "model": offering.model,
            "base_price_rial": offering.base_price_rial,
            "pre_customs_costs_rial": offering.pre_customs_costs_rial,
            "estimated_final_costs_rial": offering.estimated_final_costs_rial,
            "delivery_due": offering.delivery_due.isoformat(),
        }


@dataclass
class SeatRelease:
    workflow_id: str
    offering_id: str
    status: str
    """What the application becomes: ``declined``, ``lapsed`` (the signing deadline passed) or
    ``withdrawn`` (the buyer left the scheme, or an operator aborted the case)."""
    at: datetime


@activity.defn
def give_up_seat(release: SeatRelease) -> str | None:
    """The case's seat in the offering is free again (the application ``declined`` or ``lapsed``, the
    rank kept): the offering's workflow id to tell, while it still passes seats on (else ``None``).
    Idempotent."""
    assert release.status in ("declined", "lapsed", "withdrawn")
    with session_scope() as session:
        offering = session.get(ImportOffering, release.offering_id, with_for_update=True)
        if offering is None:
            return None
        at = _utc(release.at)
        session.execute(
            update(OfferingSeat)
            .where(OfferingSeat.offering_id == release.offering_id, OfferingSeat.workflow_id == release.workflow_id)
            .values(workflow_id=None, rank=None, given_at=None, sign_by=None),
            execution_options={"synchronize_session": False},
        )
        session.execute(
            update(OfferingApplication)
            .where(
                OfferingApplication.offering_id == release.offering_id,
                OfferingApplication.workflow_id == release.workflow_id,
                OfferingApplication.status == "won",
            )
            .values(status=release.status, changed_at=at),
            execution_options={"synchronize_session": False},
        )
        passing_on = offering.reassign_until is not None and at < _utc(offering.reassign_until) and offering.status == "closed"
        return offering.workflow_id if passing_on else None


@dataclass
class ApplicationQuery:
    workflow_id: str
    offering_id: str


@activity.defn
def application_standing(query: ApplicationQuery) -> str | None:
    """The status of the case's application to the offering (``None``: it never applied)."""
    with session_scope() as session:
        return session.scalar(
            select(OfferingApplication.status).where(
                OfferingApplication.offering_id == query.offering_id, OfferingApplication.workflow_id == query.workflow_id
            )
        )


@dataclass
class OfferingsQuery:
    scheme_id: str
    at: datetime


@activity.defn
def announced_offerings(query: OfferingsQuery) -> list[dict[str, Any]]:
    """The round's approved offerings whose window has not closed at ``query.at``, as their public
    terms (``lifecycles.import_offering.Terms``), the ``policy.OFFERINGS_KNOWN_MAX`` closing soonest."""
    with session_scope() as session:
        rows = session.scalars(
            select(ImportOffering)
            .where(
                ImportOffering.scheme_id == query.scheme_id,
                ImportOffering.status == "approved",
                ImportOffering.closes > _utc(query.at),
            )
            .order_by(ImportOffering.closes, ImportOffering.offering_id)
            .limit(policy.OFFERINGS_KNOWN_MAX)
        ).all()
        return [
            {
                "offering_id": o.offering_id,
                "scheme_id": o.scheme_id,
                "importer_id": o.importer_id,
                "model": o.model,
                "seats": o.seats,
                "delivery_due": o.delivery_due.isoformat(),
                "base_price_rial": o.base_price_rial,
                "pre_customs_costs_rial": o.pre_customs_costs_rial,
                "estimated_final_costs_rial": o.estimated_final_costs_rial,
                "opens": iso(_utc(o.opens)),
                "closes": iso(_utc(o.closes)),
            }
            for o in rows
        ]


ACTIVITIES: list[Callable[..., Any]] = [
    announced_offerings,
    application_standing,
    offering_proposal_refusal,
    record_offering,
    decide_offering,
    close_offering,
    fill_offering_seats,
    apply_to_offering,
    withdraw_offering_application,
    offering_seat,
    give_up_seat,
]
