"""Activities of an import scheme: its window, registrations, the eligibility batch and the draw.

Work over a round's registrations is set-based: the batch judges a chunk of registrations with
one ``UPDATE`` whose correlated subqueries read the registry (people, new-car purchases, plates,
other schemes, escrow banks and deposits), and the draw writes every rank with multi-row
``INSERT``s and one ``UPDATE`` in a single transaction. No activity or workflow runs per applicant.

The functions marked *for ImportPurchase* are what a purchase case calls: ``register_in_scheme``
at its start (the window, one registration per person per round), ``scheme_standing`` for its
rank, ``withdraw_from_scheme`` when it leaves, ``recheck_in_scheme`` before money moves, and
``import_rank_holder`` for a domestic-car registration to refuse a rank holder.

``CaseWakeup`` signals cases a page at a time with the worker's client: a drawn round's purchase
cases (``wake_scheme_cases``) and, through ``signal_cases`` over the pages of :data:`PAGES`, an
offering's audience and its buyers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, not_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from temporalio import activity
from temporalio.client import Client

from activities.errors import refused
from activities.import_purchase import ANOTHER_CASES_REGISTRATION
from activities.telling import signal_each
from domain import policy
from domain.calendar import add_months_at
from domain.display import iso
from lifecycles import lottery
from lifecycles.import_scheme import RANK_HOLDER_REFUSAL, REASONS, reasons_of, window_refusal
from registry.db import session_scope
from registry.models import EscrowBank, EscrowDeposit, NewCarPurchase, Person, PlateRecord, SchemeRegistration
from registry.scheme_models import LIVE_APPLICANT, ImportScheme, OfferingApplication, OfferingSeat, SchemeApplicant, SchemeRank

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base 32: no I, L, O or U, so a code read aloud or typed is not mistaken."""

LIVE = ("registered", "eligible", "ineligible")
"""Statuses the batch judges (a withdrawn registration is out of the round)."""


def _utc(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(policy.REGISTRATION_CODE_LENGTH))


def _scheme(session: Session, scheme_id: str, *, lock: bool = False, share: bool = False) -> ImportScheme:
    scheme = session.get(ImportScheme, scheme_id, with_for_update={"read": True} if share else lock or None)
    if scheme is None:
        raise refused(f"no import scheme {scheme_id!r} in the reference data (import_schemes)")
    return scheme


# --- the scheme's case ---


@dataclass
class SchemeOpening:
    workflow_id: str
    scheme_id: str
    seed_commitment: str
    at: datetime


@activity.defn
def scheme_opening_refusal(opening: SchemeOpening) -> str | None:
    """Why this case may not run the scheme (read-only, before the case claims its id), or ``None``."""
    with session_scope() as session:
        scheme = session.get(ImportScheme, opening.scheme_id)
        if scheme is None:
            return f"no import scheme {opening.scheme_id!r} in the reference data (import_schemes)"
        if opening.at >= _utc(scheme.registration_closes):
            return "the scheme's registration window has closed: a seed committed now would be committed too late"
        if scheme.workflow_id not in (None, opening.workflow_id):
            return "another case runs this scheme"
        if scheme.seed_commitment not in (None, opening.seed_commitment):
            return "another seed commitment was published for this scheme"
    return None


@activity.defn
def commit_seed(opening: SchemeOpening) -> dict[str, Any]:
    """Publish the lottery's commitment with the scheme (once); returns the scheme's window."""
    with session_scope() as session:
        scheme = _scheme(session, opening.scheme_id, lock=True)
        if scheme.workflow_id not in (None, opening.workflow_id) or scheme.seed_commitment not in (None, opening.seed_commitment):
            raise refused("another case runs this scheme, with another seed commitment")
        if scheme.seed_commitment is None:
            scheme.seed_commitment, scheme.committed_at, scheme.workflow_id = (
                opening.seed_commitment,
                opening.at,
                opening.workflow_id,
            )
        return {
            "registration_opens": iso(_utc(scheme.registration_opens)),
            "registration_closes": iso(_utc(scheme.registration_closes)),
            "deposit_rial": scheme.deposit_rial,
        }


@dataclass
class BatchStart:
    scheme_id: str
    at: datetime


@activity.defn
def close_registration_book(start: BatchStart) -> int:
    """Registration is over for good: the batch begins (registrations still writing finish first,
    they hold the scheme's row shared). Returns how many registrations the round has."""
    with session_scope() as session:
        scheme = _scheme(session, start.scheme_id, lock=True)
        if scheme.checked_at is None:
            scheme.checked_at = start.at
        return int(
            session.scalar(
                select(func.count()).where(SchemeApplicant.scheme_id == start.scheme_id, SchemeApplicant.status.in_(LIVE))
            )
            or 0
        )


@dataclass
class EligibilityChunk:
    scheme_id: str
    after_id: int
    at: datetime
    """The instant the rules are judged at: the window's close (48 calendar months back from it)."""
    limit: int = policy.SCHEME_ELIGIBILITY_CHUNK
    recheck: bool = False
    """Judge the ranked (eligible) registrations again instead of every live one."""


def ineligible_mask(at: datetime, deposit_rial: int) -> Any:
    """The batch's rules as one SQL expression over a ``scheme_applicants`` row: the sum of the
    bits of ``lifecycles.import_scheme.REASONS`` that hold (0: eligible)."""
    a = SchemeApplicant
    other = aliased(SchemeApplicant)
    cutoff = add_months_at(at, -policy.NO_NEW_CAR_LOOKBACK_MONTHS).astimezone(UTC)
    licence_on_file = select(Person.has_driving_license).where(Person.national_id == a.national_id).scalar_subquery()
    licence = func.coalesce(licence_on_file, a.declared_driving_license)
    rules = [
        a.is_legal_entity.is_(True),
        not_(licence),
        exists().where(
            NewCarPurchase.national_id == a.national_id, NewCarPurchase.purchased_at > cutoff, NewCarPurchase.purchased_at <= at
        ),
        exists().where(PlateRecord.owner_national_id == a.national_id, PlateRecord.active.is_(True)),
        exists().where(
            SchemeRegistration.national_id == a.national_id,
            SchemeRegistration.open.is_(True),
            SchemeRegistration.workflow_id != a.workflow_id,
        )
        | exists().where(other.national_id == a.national_id, other.scheme_id != a.scheme_id, other.status.in_(LIVE_APPLICANT)),
        not_(exists().where(func.lower(EscrowBank.bank_id) == func.lower(a.bank))),
        not_(
            exists().where(
                EscrowDeposit.workflow_id == a.workflow_id,
                EscrowDeposit.status == "blocked",
                EscrowDeposit.amount_rial >= deposit_rial,
            )
        ),
    ]
    assert len(rules) == len(REASONS)
    terms = [case((rule, bit), else_=0) for bit, rule in zip(REASONS, rules, strict=True)]
    total: Any = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _chunk_end(session: Session, scheme_id: str, after_id: int, limit: int, statuses: tuple[str, ...]) -> int | None:
    ids = (
        select(SchemeApplicant.id)
        .where(SchemeApplicant.scheme_id == scheme_id, SchemeApplicant.id > after_id, SchemeApplicant.status.in_(statuses))
        .order_by(SchemeApplicant.id)
        .limit(limit)
    )
    sub = ids.subquery()
    return session.scalar(select(func.max(sub.c.id)))


def judge_chunk(session: Session, chunk: EligibilityChunk, deposit_rial: int) -> dict[str, Any]:
    """Judge one chunk of registrations with two statements; counts what it found."""
    statuses = ("eligible",) if chunk.recheck else LIVE
    last = _chunk_end(session, chunk.scheme_id, chunk.after_id, chunk.limit, statuses)
    if last is None:
        return {"last_id": None, "eligible": 0, "ineligible": 0}
    at = _utc(chunk.at)
    in_chunk = and_(
        SchemeApplicant.scheme_id == chunk.scheme_id,
        SchemeApplicant.id > chunk.after_id,
        SchemeApplicant.id <= last,
        SchemeApplicant.status.in_(statuses),
    )
    # One UPDATE per chunk, joined to the verdicts computed once per row (UPDATE ... FROM).
    verdicts = select(SchemeApplicant.id.label("id"), ineligible_mask(at, deposit_rial).label("mask")).where(in_chunk).subquery()
    session.execute(
        update(SchemeApplicant)
        .where(SchemeApplicant.id == verdicts.c.id)
        .values(
            ineligible_mask=verdicts.c.mask,
            status=case((verdicts.c.mask == 0, "eligible"), else_="ineligible"),
            checked_at=at,
        ),
        execution_options={"synchronize_session": False},
    )
    counts = dict(
        session.execute(
            select(SchemeApplicant.status, func.count())
            .where(SchemeApplicant.scheme_id == chunk.scheme_id, SchemeApplicant.id > chunk.after_id, SchemeApplicant.id <= last)
            .group_by(SchemeApplicant.status)
        ).all()
    )
    return {"last_id": last, "eligible": int(counts.get("eligible", 0)), "ineligible": int(counts.get("ineligible", 0))}


@activity.defn
def judge_registrations(chunk: EligibilityChunk) -> dict[str, Any]:
    """One chunk of the eligibility batch (or of a re-check): ``last_id`` is where the next starts,
    ``None`` when no registration is left. Judging a chunk again gives the same verdicts."""
    with session_scope() as session:
        scheme = _scheme(session, chunk.scheme_id)
        return judge_chunk(session, chunk, scheme.deposit_rial)


@dataclass
class DrawRequest:
    scheme_id: str
    seed: str
    at: datetime


RANKS_FROM_ARRAY = text(
    "INSERT INTO scheme_ranks (scheme_id, rank, code) "
    "SELECT :scheme_id, :first + r.ord - 1, r.code FROM unnest(CAST(:codes AS text[])) WITH ORDINALITY AS r(code, ord)"
)
"""PostgreSQL: a chunk of ranks in one INSERT ... SELECT over one array parameter."""


def write_ranks(session: Session, scheme_id: str, ranked: list[str]) -> None:
    """Rank ``i + 1`` to ``ranked[i]``, a chunk per statement: one ``INSERT ... SELECT`` over an
    array on PostgreSQL, one ``executemany`` of the driver elsewhere (SQLite)."""
    connection = session.connection()
    step = policy.SCHEME_RANK_WRITE_CHUNK
    for start in range(0, len(ranked), step):
        chunk = ranked[start : start + step]
        if connection.dialect.name == "postgresql":
            connection.execute(RANKS_FROM_ARRAY, {"scheme_id": scheme_id, "first": start + 1, "codes": chunk})
        else:
            connection.exec_driver_sql(
                "INSERT INTO scheme_ranks (scheme_id, rank, code) VALUES (?, ?, ?)",
                [(scheme_id, start + i + 1, code) for i, code in enumerate(chunk)],
            )


def draw_ranks(session: Session, request: DrawRequest) -> dict[str, Any]:
    scheme = _scheme(session, request.scheme_id, lock=True)
    if scheme.drawn_at is not None:
        if scheme.seed != request.seed:
            raise refused("the scheme was drawn already, with another seed")
        return _draw_result(scheme)
    if scheme.seed_commitment is None or lottery.commitment(request.seed) != scheme.seed_commitment:
        raise refused("the seed does not match the commitment published at opening")
    if scheme.checked_at is None:
        raise refused("the eligibility batch has not run")
    codes = session.scalars(
        select(SchemeApplicant.code).where(SchemeApplicant.scheme_id == request.scheme_id, SchemeApplicant.status == "eligible")
    ).all()
    ranked, digest = lottery.ranking(request.seed, request.scheme_id, codes)
    write_ranks(session, request.scheme_id, ranked)
    scheme.seed, scheme.list_digest, scheme.eligible_count = request.seed, digest, len(ranked)
    scheme.drawn_at, scheme.algorithm = _utc(request.at), lottery.ALGORITHM
    session.flush()
    return _draw_result(scheme)


def _draw_result(scheme: ImportScheme) -> dict[str, Any]:
    return {
        "eligible_count": scheme.eligible_count,
        "list_digest": scheme.list_digest,
        "drawn_at": iso(_utc(scheme.drawn_at)) if scheme.drawn_at else None,
        "algorithm": scheme.algorithm,
    }


@activity.defn
def draw_lottery(request: DrawRequest) -> dict[str, Any]:
    """Rank every eligible registration from the revealed seed, in one transaction (all or none);
    drawing again with the same seed finds the ranks already written."""
    with session_scope() as session:
        return draw_ranks(session, request)


def published_draw(session: Session, scheme_id: str) -> dict[str, Any]:
    """The scheme's publication (``lifecycles.lottery.publication``): codes and ranks only."""
    scheme = _scheme(session, scheme_id)
    if scheme.drawn_at is None or scheme.seed is None or scheme.seed_commitment is None:
        raise refused(f"scheme {scheme_id!r} has not been drawn")
    ranked = list(session.scalars(select(SchemeRank.code).where(SchemeRank.scheme_id == scheme_id).order_by(SchemeRank.rank)))
    return lottery.publication(
        scheme_id,
        scheme.seed_commitment,
        scheme.seed,
        ranked,
        ranked,
        committed_at=iso(_utc(scheme.committed_at)) if scheme.committed_at else None,
        registration_closes=iso(_utc(scheme.registration_closes)),
        drawn_at=iso(_utc(scheme.drawn_at)),
    )


# --- telling the purchase cases that their verdict is in ---

SCHEME_VERDICT_SIGNAL = "scheme_verdict_ready"
"""The signal a purchase case gets when its round is drawn. It carries nothing: the case reads its
verdict and rank from the registry itself (``scheme_standing``), so the signal proves nothing and
needs no token; sending it twice does no harm."""


@dataclass
class WakeChunk:
    scheme_id: str
    after_id: int
    limit: int = policy.SCHEME_WAKE_CHUNK


def judged_page(chunk: WakeChunk) -> list[tuple[int, str]]:
    """The next page of a round's judged registrations: ``(id, workflow id)`` in id order."""
    return case_page(CasePage("judged", chunk.scheme_id, chunk.after_id, limit=chunk.limit))


@dataclass
class CasePage:
    """A page of cases to signal: ``source`` names the query (:data:`PAGES`), ``key`` its scheme or
    offering, ``after`` the keyset (a registration id, or a seat number), ``round`` a fill's number."""

    source: str
    key: str
    after: int
    round: int = 0
    limit: int = policy.SCHEME_WAKE_CHUNK


def _judged(session: Session, page: CasePage) -> Any:
    a = SchemeApplicant
    return (
        select(a.id, a.workflow_id)
        .where(a.scheme_id == page.key, a.id > page.after, a.status.in_(("eligible", "ineligible")))
        .order_by(a.id)
    )


def _ranked(session: Session, page: CasePage) -> Any:
    """A drawn round's ranked registrations still eligible (an offering's audience)."""
    a = SchemeApplicant
    return (
        select(a.id, a.workflow_id)
        .join(SchemeRank, (SchemeRank.scheme_id == a.scheme_id) & (SchemeRank.code == a.code))
        .where(a.scheme_id == page.key, a.id > page.after, a.status == "eligible")
        .order_by(a.id)
    )


def _buyers(session: Session, page: CasePage) -> Any:
    """An offering's seats given in one round (0: at the close), by seat number."""
    seat = OfferingSeat
    return (
        select(seat.seat, seat.workflow_id)
        .where(
            seat.offering_id == page.key,
            seat.given_round == page.round,
            seat.seat > page.after,
            seat.workflow_id.is_not(None),
        )
        .order_by(seat.seat)
    )


def _applicants(session: Session, page: CasePage) -> Any:
    """An offering's applications, whatever their status, by application id."""
    a = OfferingApplication
    return select(a.id, a.workflow_id).where(a.offering_id == page.key, a.id > page.after).order_by(a.id)


PAGES: dict[str, Callable[[Session, CasePage], Any]] = {
    "judged": _judged,
    "ranked": _ranked,
    "buyers": _buyers,
    "applicants": _applicants,
}
"""The queries a fan-out pages through: each ``(keyset, workflow id)`` in keyset order."""


def case_page(page: CasePage) -> list[tuple[int, str]]:
    with session_scope() as session:
        rows = session.execute(PAGES[page.source](session, page).limit(page.limit)).all()
    return [(int(i), str(w)) for i, w in rows]


@dataclass
class CaseSignals:
    """Signal every case of one page: ``signal`` with ``arg`` (``None``: no argument)."""

    page: CasePage
    signal: str
    arg: dict[str, Any] | None = None


class CaseWakeup:
    """Signals the cases of a page at a time, with the worker's client: a drawn round's purchase
    cases, an offering's audience and its buyers."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def _signal_all(self, page: list[tuple[int, str]], signal: str, arg: dict[str, Any] | None) -> dict[str, Any]:
        woken, gone = await signal_each(
            self._client, (w for _, w in page), signal, arg, concurrency=policy.SCHEME_WAKE_CONCURRENCY
        )
        return {"last_id": page[-1][0] if page else None, "woken": woken, "gone": gone}

    @activity.defn(name="wake_scheme_cases")
    async def wake_scheme_cases(self, chunk: WakeChunk) -> dict[str, Any]:
        """``last_id`` of the page (``None``: no case left), how many were ``woken`` and how many are
        ``gone`` (closed, or no such workflow)."""
        page = await asyncio.to_thread(judged_page, chunk)
        return await self._signal_all(page, SCHEME_VERDICT_SIGNAL, None)

    @activity.defn(name="signal_cases")
    async def signal_cases(self, order: CaseSignals) -> dict[str, Any]:
        """One page of any fan-out (:data:`PAGES`): ``last_id`` (the keyset; ``None``: no case left),
        ``woken`` and ``gone`` as :meth:`wake_scheme_cases`."""
        page = await asyncio.to_thread(case_page, order.page)
        return await self._signal_all(page, order.signal, order.arg)


# --- for ImportPurchase: registration, standing, withdrawal, re-check, rank holders ---


@dataclass
class SchemeEntry:
    workflow_id: str
    scheme_id: str
    national_id: str
    has_driving_license: bool
    is_legal_entity: bool
    bank: str
    at: datetime
    """The case's clock at its start: the window is judged at this instant."""


@activity.defn
def scheme_registration_refusal(entry: SchemeEntry) -> str | None:
    """Why ``register_in_scheme`` would refuse this registration now (read-only: for a start's
    checks, before the case claims its id), or ``None``."""
    with session_scope() as session:
        scheme = session.get(ImportScheme, entry.scheme_id)
        if scheme is None:
            return f"no import scheme {entry.scheme_id!r} in the reference data (import_schemes)"
        why = window_refusal(_utc(scheme.registration_opens), _utc(scheme.registration_closes), _utc(entry.at))
        if why is None and scheme.checked_at is not None:
            why = "registration for this scheme has closed: its eligibility batch has begun"
        if why is None:
            earlier = session.scalar(
                select(SchemeApplicant.workflow_id).where(
                    SchemeApplicant.scheme_id == entry.scheme_id, SchemeApplicant.national_id == entry.national_id
                )
            )
            if earlier not in (None, entry.workflow_id):
                why = ALREADY_IN_ROUND
        return why


@activity.defn
def register_in_scheme(entry: SchemeEntry) -> dict[str, Any]:
    """Register a purchase case in its scheme's round (for ImportPurchase, at its start).

    Refused outside the window ``[opens, closes)``, once the batch has begun, and for a person
    already registered in this round (withdrawn or not: seed 000 lets a withdrawn applicant
    register again in a later round only). Returns ``{"code", "registration_closes"}``; a retry
    finds its own registration."""
    for _ in range(5):  # a fresh code that collides with another's is drawn again
        try:
            return _register(entry)
        except IntegrityError:
            with session_scope() as session:
                taken = session.scalar(
                    select(SchemeApplicant.workflow_id).where(
                        SchemeApplicant.scheme_id == entry.scheme_id, SchemeApplicant.national_id == entry.national_id
                    )
                )
            if taken is not None and taken != entry.workflow_id:
                raise refused(ALREADY_IN_ROUND) from None
    raise refused("no free registration code: try again")


ALREADY_IN_ROUND = "already registered in this scheme's round (one registration per person per round; after a withdrawal, register in a later round)"


def _register(entry: SchemeEntry) -> dict[str, Any]:
    with session_scope() as session:
        scheme = _scheme(session, entry.scheme_id, share=True)
        own = session.scalar(select(SchemeApplicant).where(SchemeApplicant.workflow_id == entry.workflow_id))
        if own is not None:
            if (own.scheme_id, own.national_id) != (entry.scheme_id, entry.national_id):
                raise refused(ANOTHER_CASES_REGISTRATION)
            return {"code": own.code, "registration_closes": iso(_utc(scheme.registration_closes))}
        why = window_refusal(_utc(scheme.registration_opens), _utc(scheme.registration_closes), _utc(entry.at))
        if why is None and scheme.checked_at is not None:
            why = "registration for this scheme has closed: its eligibility batch has begun"
        if why:
            raise refused(why)
        earlier = session.scalar(
            select(SchemeApplicant.status).where(
                SchemeApplicant.scheme_id == entry.scheme_id, SchemeApplicant.national_id == entry.national_id
            )
        )
        if earlier is not None:
            raise refused(ALREADY_IN_ROUND)
        code = new_code()
        session.add(
            SchemeApplicant(
                scheme_id=entry.scheme_id,
                workflow_id=entry.workflow_id,
                code=code,
                national_id=entry.national_id,
                declared_driving_license=entry.has_driving_license,
                is_legal_entity=entry.is_legal_entity,
                bank=entry.bank,
                status="registered",
                ineligible_mask=0,
                registered_at=_utc(entry.at),
            )
        )
        session.flush()
        return {"code": code, "registration_closes": iso(_utc(scheme.registration_closes))}


@dataclass
class StandingRequest:
    workflow_id: str


@activity.defn
def scheme_standing(request: StandingRequest) -> dict[str, Any] | None:
    """A purchase case's place in its round: ``status``, ``rank`` (once drawn, while eligible),
    ``drawn_rank`` (the rank the draw gave, kept after a withdrawal or a lost re-check), ``code``
    and the ``ineligible_reasons``; ``None`` when the case is not registered in a scheme's round."""
    with session_scope() as session:
        row = session.scalar(select(SchemeApplicant).where(SchemeApplicant.workflow_id == request.workflow_id))
        if row is None:
            return None
        drawn = session.scalar(select(ImportScheme.drawn_at).where(ImportScheme.scheme_id == row.scheme_id)) is not None
        rank = session.scalar(select(SchemeRank.rank).where(SchemeRank.scheme_id == row.scheme_id, SchemeRank.code == row.code))
        return {
            "scheme_id": row.scheme_id,
            "code": row.code,
            "status": row.status,
            "rank": rank if row.status == "eligible" else None,
            "drawn_rank": rank,
            "drawn": drawn,
            "ineligible_reasons": reasons_of(row.ineligible_mask) if row.status == "ineligible" else [],
        }


@dataclass
class SchemeExit:
    workflow_id: str
    at: datetime


@activity.defn
def withdraw_from_scheme(leaving: SchemeExit) -> None:
    """The case leaves its round (seed 000: «انصراف ... از لیست اولویت حذف»): it is judged and ranked
    no more; its rank, if drawn, stays in the publication. Idempotent."""
    with session_scope() as session:
        session.execute(
            update(SchemeApplicant)
            .where(SchemeApplicant.workflow_id == leaving.workflow_id, SchemeApplicant.status != "withdrawn")
            .values(status="withdrawn", withdrawn_at=_utc(leaving.at)),
            execution_options={"synchronize_session": False},
        )


@activity.defn
def rejoin_scheme(back: SchemeExit) -> None:
    """An operator reinstated a mistaken withdrawal (ImportPurchase ``reinstate``): the case's ranked
    registration is eligible again, its rank as drawn. Idempotent; nothing for a registration
    that was not withdrawn."""
    with session_scope() as session:
        session.execute(
            update(SchemeApplicant)
            .where(SchemeApplicant.workflow_id == back.workflow_id, SchemeApplicant.status == "withdrawn")
            .values(status="eligible", withdrawn_at=None),
            execution_options={"synchronize_session": False},
        )


@dataclass
class ApplicantRecheck:
    workflow_id: str
    at: datetime


@activity.defn
def recheck_in_scheme(check: ApplicantRecheck) -> list[str]:
    """The round's rules for one ranked case now, before money moves (seed 001: «تا زمان تحویل»):
    the reasons it is no longer eligible (then its status becomes ``ineligible``; empty: still eligible)."""
    with session_scope() as session:
        row = session.scalar(select(SchemeApplicant).where(SchemeApplicant.workflow_id == check.workflow_id))
        if row is None:
            raise refused("the case is not registered in an import scheme's round")
        if row.status != "eligible":
            return reasons_of(row.ineligible_mask) or [f"the registration is {row.status}"]
        scheme = _scheme(session, row.scheme_id)
        mask = session.scalar(select(ineligible_mask(_utc(check.at), scheme.deposit_rial)).where(SchemeApplicant.id == row.id))
        if mask:
            row.status, row.ineligible_mask, row.checked_at = "ineligible", int(mask), _utc(check.at)
        return reasons_of(int(mask or 0))


@dataclass
class RankHolderCheck:
    national_id: str


@activity.defn
def import_rank_holder(check: RankHolderCheck) -> str | None:
    """Why this person may not register for a domestic car (seed 001: a holder of an import-car
    queue rank may not), or ``None``."""
    with session_scope() as session:
        held = session.scalar(
            select(SchemeApplicant.id)
            .join(SchemeRank, (SchemeRank.scheme_id == SchemeApplicant.scheme_id) & (SchemeRank.code == SchemeApplicant.code))
            .where(SchemeApplicant.national_id == check.national_id, SchemeApplicant.status == "eligible")
        )
    return RANK_HOLDER_REFUSAL if held is not None else None


ACTIVITIES: list[Callable[..., Any]] = [
    scheme_opening_refusal,
    commit_seed,
    close_registration_book,
    judge_registrations,
    draw_lottery,
    scheme_registration_refusal,
    register_in_scheme,
    scheme_standing,
    withdraw_from_scheme,
    rejoin_scheme,
    recheck_in_scheme,
    import_rank_holder,
]
