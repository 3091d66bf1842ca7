"""Releasing what a case holds in the registry once it can no longer release it itself, audited.

While an ``ImportPurchase`` runs it holds three rows: an open scheme registration (the person may
register in no other scheme), an active allocation (a car of an offering) and a blocked escrow
deposit. Every normal end releases them, except that a ``Delivered`` case keeps its allocation
(the car is the buyer's; a ``new_car_purchases`` row says so). Order numbers, file numbers and
plate allocations are written only by the step that completes a case: they are results, not holds.
The newer lifecycles hold rows of the same kinds: a place in an import round (``scheme_applicants``)
and a domestic order on its stage's list are part of the registration; a ``FuelCard`` case holds
its vehicle's one open request (``request``), which bars any other request for that vehicle.

A case that is terminated, times out or fails keeps its holds. ``release_case_holds`` releases
them for one case (an operator's ``abort``); the reconciliation workflow finds closed cases still
holding rows (``read_held_cases``, ``CaseLookup.case_verdicts``) and releases theirs
(``repair_closed_cases``), set-based, in one transaction per chunk. Every release writes one audit
row (event ``reconciled``) naming who and why, the applicant's refund notice when a deposit was
released and, for the reconciliation, one alert to operators (no personal data). A closed case's
live SMS withdrawal code is erased with its holds. A retried activity finds its own audit row
(same case, actor and ``at``) and writes nothing twice.

Audit ``seq``: a case numbers its own transitions 1, 2, 3 ... (``len(history)``) and writes them
from its main loop, possibly after an abort's release; repairs count down from -1 (the lowest
``seq`` of the case, read in the writing transaction, minus one), so the two can never collide.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Executable, Select, func, literal_column, select, union, union_all, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.domestic_order import ON_THE_LIST
from activities.import_purchase import erase_code
from activities.registry import AuditRecord, record_transitions
from domain.display import parse_instant, rials
from registry.db import session_scope
from registry.domestic_models import DomesticOrder
from registry.fuel_models import FuelCardRequest
from registry.models import (
    Allocation,
    AuditEntry,
    CaseClaim,
    EscrowDeposit,
    NewCarPurchase,
    OutboxMessage,
    Payment,
    SchemeRegistration,
)
from registry.scheme_models import LIVE_APPLICANT, ImportOffering, OfferingApplication, OfferingSeat, SchemeApplicant

REPAIR_EVENT = "reconciled"
SYSTEM_ACTOR = "system:reconciliation"
"""The audit log's actor id of a repair nobody asked for."""

HOLD_KINDS = ("registration", "allocation", "deposit", "request")
"""What a case may hold, in the order an audit row's ``from_state`` lists them (``+``-joined)."""

KIND_FA = {
    "registration": "ثبت‌نام باز",
    "allocation": "تخصیص خودرو",
    "deposit": "سپرده مسدود",
    "request": "درخواست باز کارت سوخت",
}

CLOSED = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
}
"""Statuses after which no run of the case will release anything (continued-as-new is not one)."""

CLOSED_FA = {
    "completed": "پایان یافته",
    "failed": "شکست خورده",
    "canceled": "لغو شده",
    "terminated": "متوقف شده (terminate)",
    "timed_out": "منقضی شده",
}


@dataclass
class CaseRelease:
    workflow_id: str
    reason: str
    """Why, as a short code (the audit row keeps its first 32 characters), e.g. ``operator_abort``."""
    at: datetime
    """The caller's clock (``workflow.now()``): stamps the release and keys the activity's retries."""
    actor_role: str
    actor_id: str | None


# --- the one place holds are released ---


def _returned(session: Session, statement: Executable) -> list[str]:
    """The workflow ids an ``UPDATE ... RETURNING`` changed (no ORM objects to keep in step)."""
    return list(session.scalars(statement.execution_options(synchronize_session=False)))


def release_holds(
    session: Session,
    reasons: dict[str, str],
    *,
    at: datetime,
    actor_role: str,
    actor_id: str | None,
    audit_always: bool,
    alert: bool,
) -> dict[str, list[str]]:
    """Release every hold of the cases ``reasons`` names (workflow id → why), in ``session``.

    Set-based: one statement per kind for all the cases. Returns, per case, the kinds released
    under this actor and ``at`` (by this call or an earlier attempt of it). ``audit_always``
    audits a case that held nothing too (an operator's explicit act); ``alert`` writes an
    operator alert per case released (the reconciliation's).
    """
    ids = list(reasons)
    if not ids:
        return {}
    released: dict[str, list[str]] = defaultdict(list)
    for wid in _returned(
        session,
        update(SchemeRegistration)
        .where(SchemeRegistration.workflow_id.in_(ids), SchemeRegistration.open.is_(True))
        .values(open=False)
        .returning(SchemeRegistration.workflow_id),
    ):
        released[wid].append("registration")
    # The case's place in its scheme's round (ImportPurchase ``scheme-rounds``) is part of its
    # registration: out of the round, no longer a rank holder (as ``withdraw_from_scheme``).
    for wid in _returned(
        session,
        update(SchemeApplicant)
        .where(SchemeApplicant.workflow_id.in_(ids), SchemeApplicant.status.in_(LIVE_APPLICANT))
        .values(status="withdrawn", withdrawn_at=at)
        .returning(SchemeApplicant.workflow_id),
    ):
        if "registration" not in released[wid]:
            released[wid].append("registration")
    # A domestic order (DomesticOrder) leaves its stage's list as an operator's abort takes it off;
    # its turn stays its own, never given to another (seed 000).
    for wid in _returned(
        session,
        update(DomesticOrder)
        .where(DomesticOrder.workflow_id.in_(ids), DomesticOrder.status.in_(ON_THE_LIST))
        .values(status="aborted", withdrawn_at=at)
        .returning(DomesticOrder.workflow_id),
    ):
        if "registration" not in released[wid]:
            released[wid].append("registration")
    for wid in _returned(
        session,
        update(OfferingApplication)
        .where(OfferingApplication.workflow_id.in_(ids), OfferingApplication.status == "applied")
        .values(status="withdrawn", changed_at=at)
        .returning(OfferingApplication.workflow_id),
    ):
        if "registration" not in released[wid]:
            released[wid].append("registration")
    # A seat not delivered goes back to its offering, free for the next applicant by rank (the
    # reconciliation then nudges the offerings that still pass seats on: ``offerings_to_refill``).
    undelivered = OfferingSeat.workflow_id.not_in(select(NewCarPurchase.workflow_id).where(NewCarPurchase.workflow_id.in_(ids)))
    holding = (OfferingSeat.workflow_id.in_(ids), undelivered)
    # The offerings first, as give_up_seat and the fills lock them: then the seats, set-based.
    session.execute(
        select(ImportOffering.offering_id)
        .where(ImportOffering.offering_id.in_(select(OfferingSeat.offering_id).where(*holding)))
        .with_for_update()
    ).all()
    seat_holders = [str(w) for w in session.scalars(select(OfferingSeat.workflow_id).where(*holding))]
    if seat_holders:
        session.execute(
            update(OfferingSeat)
            .where(OfferingSeat.workflow_id.in_(seat_holders))
            .values(workflow_id=None, rank=None, given_at=None, sign_by=None)
            .execution_options(synchronize_session=False)
        )
        # One live application per case: a seat holder's ``won`` application is its seat's.
        session.execute(
            update(OfferingApplication)
            .where(OfferingApplication.workflow_id.in_(seat_holders), OfferingApplication.status == "won")
            .values(status="withdrawn", changed_at=at)
            .execution_options(synchronize_session=False)
        )
    for wid in seat_holders:
        if "allocation" not in released[wid]:
            released[wid].append("allocation")
    for wid in _returned(
        session,
        update(FuelCardRequest)
        .where(FuelCardRequest.workflow_id.in_(ids), FuelCardRequest.open.is_(True))
        .values(open=False, state="Aborted", updated_at=at)
        .returning(FuelCardRequest.workflow_id),
    ):
        released[wid].append("request")
    delivered = select(NewCarPurchase.workflow_id).where(NewCarPurchase.workflow_id.in_(ids))
    for wid in _returned(
        session,
        update(Allocation)
        .where(Allocation.workflow_id.in_(ids), Allocation.active.is_(True), Allocation.workflow_id.not_in(delivered))
        .values(active=False, released_at=at)
        .returning(Allocation.workflow_id),
    ):
        if "allocation" not in released[wid]:
            released[wid].append("allocation")
    # The escrow ledger's release rule as RegistryEscrowAdapter.release applies it (blocked →
    # released, stamped), here inside this transaction and for many holds at once: the adapter
    # opens a transaction of its own per hold. One shared rule needs a session-taking, set-based
    # release in activities/escrow.py.
    deposits = session.execute(
        update(EscrowDeposit)
        .where(EscrowDeposit.workflow_id.in_(ids), EscrowDeposit.status == "blocked")
        .values(status="released", released_at=at)
        .returning(EscrowDeposit.workflow_id, EscrowDeposit.national_id, EscrowDeposit.bank, EscrowDeposit.amount_rial)
        .execution_options(synchronize_session=False)
    ).all()
    deposit_of = {row.workflow_id: (row.national_id, row.bank, row.amount_rial) for row in deposits}
    for wid in deposit_of:
        released[wid].append("deposit")
    # A closed case's live withdrawal code can never be used: erase it (README, "Trust").
    for message in session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.workflow_id.in_(ids), OutboxMessage.kind == "sms_code", OutboxMessage.code.is_not(None)
        )
    ):
        erase_code(message)

    earlier = {
        (wid, held)
        for wid, held in session.execute(
            select(AuditEntry.workflow_id, AuditEntry.from_state).where(
                AuditEntry.workflow_id.in_(ids),
                AuditEntry.event == REPAIR_EVENT,
                AuditEntry.at == at,
                AuditEntry.actor_id == (actor_id or SYSTEM_ACTOR),
            )
        )
    }
    audited = {wid for wid, _ in earlier}
    to_audit = [wid for wid in ids if released.get(wid) or (audit_always and wid not in audited)]
    if to_audit:
        _audit(session, to_audit, released, reasons, deposit_of, at=at, actor_role=actor_role, actor_id=actor_id, alert=alert)
    out: dict[str, list[str]] = {}
    for wid in ids:
        kinds = set(released.get(wid, []))
        for _, held in (e for e in earlier if e[0] == wid):
            kinds.update(k for k in held.split("+") if k in HOLD_KINDS)
        out[wid] = [k for k in HOLD_KINDS if k in kinds]
    return out


def _audit(
    session: Session,
    ids: list[str],
    released: dict[str, list[str]],
    reasons: dict[str, str],
    deposit_of: dict[str, tuple[str, str, int]],
    *,
    at: datetime,
    actor_role: str,
    actor_id: str | None,
    alert: bool,
) -> None:
    """One audit row per case (seq below the case's lowest), its refund notice and alert."""
    lowest: dict[str, int] = {
        wid: seq
        for wid, seq in session.execute(
            select(AuditEntry.workflow_id, func.min(AuditEntry.seq))
            .where(AuditEntry.workflow_id.in_(ids))
            .group_by(AuditEntry.workflow_id)
        )
    }
    claims = select(CaseClaim.workflow_id, CaseClaim.workflow_type).where(CaseClaim.workflow_id.in_(ids))
    types = {wid: kind for wid, kind in session.execute(claims)}
    payments: dict[str, int] = {
        wid: n
        for wid, n in session.execute(
            select(Payment.workflow_id, func.count()).where(Payment.workflow_id.in_(ids)).group_by(Payment.workflow_id)
        )
    }
    sent = select(OutboxMessage.workflow_id, OutboxMessage.step).where(OutboxMessage.workflow_id.in_(ids))
    steps = {(wid, step) for wid, step in session.execute(sent)}
    for wid in ids:
        seq = min(lowest.get(wid) or 0, 0) - 1
        kinds = released.get(wid, [])
        session.add(
            AuditEntry(
                workflow_id=wid,
                workflow_type=types.get(wid, "unknown"),
                seq=seq,
                event=REPAIR_EVENT,
                from_state="+".join(kinds) or "nothing",
                to_state=reasons[wid][:32],
                actor_role=actor_role,
                actor_id=actor_id or SYSTEM_ACTOR,
                at=at,
            )
        )
        messages: list[tuple[str, str, str, str]] = []  # (step, to, kind, text)
        if wid in deposit_of:
            national_id, bank, amount = deposit_of[wid]
            messages.append(
                (
                    f"holds-released{seq}",
                    national_id,
                    "notice",
                    f"سپرده مسدود شما ({rials(amount)}، بانک {bank}) آزاد شد: پرونده خرید خودروی وارداتی بسته شده است.",
                )
            )
        if alert:
            what = "، ".join(KIND_FA[k] for k in kinds) or "هیچ"
            paid = payments.get(wid, 0)
            messages.append(
                (
                    f"reconciliation-repaired{seq}",
                    "operator",
                    "alert",
                    f"پرونده {wid} در Temporal {CLOSED_FA.get(reasons[wid], reasons[wid])} است "
                    f"و این‌ها را نگه داشته بود؛ آزاد شد: {what}."
                    + (f" {paid} پرداخت ثبت‌شده این پرونده را بررسی و تسویه کنید." if paid else ""),
                )
            )
        for step, to, kind, text in messages:
            if (wid, step) not in steps:  # the outbox's key: a step is sent once
                session.add(OutboxMessage(workflow_id=wid, step=step, to=to, kind=kind, text=text, created_at=at))


@activity.defn
def release_case_holds(release: CaseRelease) -> dict:
    """Release one case's holds in one transaction, audited; what was released (no personal data).

    For an operator's ``abort`` of a running case: the audit row is written even if the case
    held nothing. A retry with the same ``at`` and actor writes nothing again and answers the same.
    """
    with session_scope() as session:
        kinds = release_holds(
            session,
            {release.workflow_id: release.reason},
            at=release.at,
            actor_role=release.actor_role,
            actor_id=release.actor_id,
            audit_always=True,
            alert=False,
        )[release.workflow_id]
    return {"released": kinds, **{kind: int(kind in kinds) for kind in HOLD_KINDS}}


# --- the reconciliation's activities ---


@dataclass
class HeldPage:
    after: str
    """Keyset: only workflow ids after this one (``""`` for the first page)."""
    limit: int


def _kind(kind: str) -> ColumnElement[str]:
    """A constant column (SQL text, not a bound parameter PostgreSQL would have to type in a UNION)."""
    assert kind in HOLD_KINDS
    return literal_column(f"'{kind}'")


def _holders(after: str = "", ids: list[str] | None = None) -> list[Select[str, str]]:
    """One select per hold kind of (workflow id, kind): the ids after ``after`` (or among ``ids``)
    holding it; a Delivered case's car is no hold."""

    def among(column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
        return column.in_(ids) if ids is not None else column > after

    return [
        select(SchemeRegistration.workflow_id.label("workflow_id"), _kind("registration").label("kind")).where(
            SchemeRegistration.open.is_(True), among(SchemeRegistration.workflow_id)
        ),
        select(Allocation.workflow_id, _kind("allocation")).where(
            Allocation.active.is_(True),
            among(Allocation.workflow_id),
            Allocation.workflow_id.not_in(select(NewCarPurchase.workflow_id).where(among(NewCarPurchase.workflow_id))),
        ),
        select(EscrowDeposit.workflow_id, _kind("deposit")).where(
            EscrowDeposit.status == "blocked", among(EscrowDeposit.workflow_id)
        ),
        # A place in an import round, or a domestic order on its stage's list, is part of the
        # registration even when the scheme-wide row is already closed.
        select(SchemeApplicant.workflow_id, _kind("registration")).where(
            SchemeApplicant.status.in_(LIVE_APPLICANT), among(SchemeApplicant.workflow_id)
        ),
        select(DomesticOrder.workflow_id, _kind("registration")).where(
            DomesticOrder.status.in_(ON_THE_LIST), among(DomesticOrder.workflow_id)
        ),
        # An import offering's live application (applied), or a seat a buyer holds and has not yet
        # been delivered a car by, is part of the registration and the allocation.
        select(OfferingApplication.workflow_id, _kind("registration")).where(
            OfferingApplication.status == "applied", among(OfferingApplication.workflow_id)
        ),
        select(func.coalesce(OfferingSeat.workflow_id, ""), _kind("allocation")).where(
            OfferingSeat.workflow_id.is_not(None),
            among(OfferingSeat.workflow_id),  # type: ignore[arg-type]
            OfferingSeat.workflow_id.not_in(select(NewCarPurchase.workflow_id).where(among(NewCarPurchase.workflow_id))),
        ),
        # A FuelCard's open request: while open, no other request for the vehicle may be made.
        select(FuelCardRequest.workflow_id, _kind("request")).where(
            FuelCardRequest.open.is_(True), among(FuelCardRequest.workflow_id)
        ),
    ]


@activity.defn
def read_held_cases(page: HeldPage) -> list[str]:
    """The next ``page.limit`` workflow ids (in order) that hold any registry row: one statement."""
    holders = union(*(s.with_only_columns(s.selected_columns[0]) for s in _holders(after=page.after))).subquery()
    with session_scope() as session:
        return list(session.scalars(select(holders.c.workflow_id).order_by(holders.c.workflow_id).limit(page.limit)))


SWEEP_SEQ = 0
"""The ``seq`` of the audit row that says a case closed by hand (terminated, timed out) was swept:
between the case's own transitions (1, 2, ...) and the repairs (-1, -2, ...)."""

SWEEP_EVENT = "closed"
"""The event of that row; its ``to_state`` says how the case closed."""

HAND_CLOSED = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.FAILED: "failed",
}
"""How a case can close without its own code reaching its end, where it writes the audit rows still
waiting (terminated or cancelled by hand, a run timeout, a failure)."""


@dataclass
class AuditSweep:
    since: datetime
    """Cases closed at or after this are looked at (``policy.AUDIT_SWEEP_LOOKBACK`` before now)."""
    at: datetime


def _unswept(candidates: list[str]) -> list[str]:
    """The cases among ``candidates`` (claimed in the registry: real cases) not yet swept."""
    with session_scope() as session:
        claimed = set(session.scalars(select(CaseClaim.workflow_id).where(CaseClaim.workflow_id.in_(candidates))))
        swept = select(AuditEntry.workflow_id).where(AuditEntry.workflow_id.in_(candidates), AuditEntry.seq == SWEEP_SEQ)
        return sorted(claimed - set(session.scalars(swept)))


@dataclass
class CaseVerdicts:
    closed: dict[str, str] = field(default_factory=dict)
    """Workflow id → how its last run closed (``terminated``, ``timed_out``, ...)."""
    missing: list[str] = field(default_factory=list)
    """Ids Temporal does not know (history retention passed, another namespace, ...)."""
    running: list[str] = field(default_factory=list)
    """Still running or not certainly closed: left alone."""


DESCRIBE_CONCURRENCY = 16
"""Describes in flight at once for the ids a list query leaves open (our choice)."""


class CaseLookup:
    """Asks Temporal which cases are closed, with the worker's client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="case_verdicts")
    async def case_verdicts(self, workflow_ids: list[str]) -> CaseVerdicts:
        """One visibility list query for the chunk (``WorkflowId IN (...)``); ids it cannot settle
        (not listed, a continued-as-new run last, an id a query cannot quote, or a server with no
        visibility list such as the time-skipping test server) are described one by one, which
        also reads past visibility's lag. An id with a running run is running."""
        runs: dict[str, list[tuple[datetime, WorkflowExecutionStatus | None]]] = defaultdict(list)
        quotable = [wid for wid in workflow_ids if "'" not in wid and "\\" not in wid]
        if quotable:
            query = "WorkflowId IN (" + ", ".join(f"'{wid}'" for wid in quotable) + ")"
            try:
                async for execution in self._client.list_workflows(query, page_size=1000):
                    runs[execution.id].append((execution.start_time, execution.status))
            except RPCError as err:
                if err.status != RPCStatusCode.UNIMPLEMENTED:
                    raise
        verdicts = CaseVerdicts()
        unsettled = []
        for wid in workflow_ids:
            known = sorted(runs.get(wid, []), key=lambda run: run[0])
            if any(status == WorkflowExecutionStatus.RUNNING for _, status in known):
                verdicts.running.append(wid)
            elif known and known[-1][1] in CLOSED:
                verdicts.closed[wid] = CLOSED[known[-1][1]]  # type: ignore[index]
            else:
                unsettled.append(wid)
        gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

        async def describe(wid: str) -> None:
            async with gate:
                try:
                    status = (await self._client.get_workflow_handle(wid).describe()).status
                except RPCError as err:
                    if err.status != RPCStatusCode.NOT_FOUND:
                        raise
                    verdicts.missing.append(wid)
                    return
            if status in CLOSED:
                verdicts.closed[wid] = CLOSED[status]  # type: ignore[index]
            else:
                verdicts.running.append(wid)

        await asyncio.gather(*(describe(wid) for wid in unsettled))
        verdicts.missing.sort()
        return verdicts

    @activity.defn(name="sweep_hand_closed_audit")
    async def sweep_hand_closed_audit(self, sweep: AuditSweep) -> int:
        """Write the audit rows a case closed without reaching its end never wrote (those waiting for
        an activity to carry them, ``workflows.audit_rides``), read from its ``status`` history, then
        one row (``SWEEP_SEQ``, event ``closed``) saying how it closed; a case with that row is done.
        Cases closed so (``HAND_CLOSED``) since ``sweep.since`` are found by one visibility list
        query (none on a server without one, such as the time-skipping test server); rows already
        written are skipped. Returns how many cases were swept."""
        closed = " OR ".join(f"ExecutionStatus = '{status.name.title().replace('_', '')}'" for status in HAND_CLOSED)
        query = f"({closed}) AND CloseTime >= '{sweep.since.isoformat()}'"
        found: dict[str, tuple[str | None, str, str]] = {}
        try:
            async for execution in self._client.list_workflows(query, page_size=1000):
                if execution.status in HAND_CLOSED:
                    found[execution.id] = (execution.run_id, execution.workflow_type, HAND_CLOSED[execution.status])
        except RPCError as err:
            if err.status != RPCStatusCode.UNIMPLEMENTED:
                raise
            return 0
        swept = 0
        for wid in await asyncio.to_thread(_unswept, sorted(found)):
            run_id, workflow_type, how = found[wid]
            try:
                status = await self._client.get_workflow_handle(wid, run_id=run_id).query("status")
            except (WorkflowQueryFailedError, RPCError) as err:  # tried again by the next run
                activity.logger.warning("no status from %s to sweep its audit: %s", wid, type(err).__name__)
                continue
            history = list(status.get("history") or [])
            rows = [
                AuditRecord.of_entry(wid, workflow_type, seq, entry, parse_instant(entry["at"]))  # type: ignore[arg-type]
                for seq, entry in enumerate(history, start=1)
            ]
            rows.append(
                AuditRecord(
                    wid, workflow_type, SWEEP_SEQ, SWEEP_EVENT, status.get("state", "?"), how, sweep.at, "system", SYSTEM_ACTOR
                )
            )
            await asyncio.to_thread(record_transitions, rows)
            swept += 1
        return swept


@dataclass
class ClosedCases:
    closed: dict[str, str]
    """Workflow id → how it closed: the audit row's reason."""
    at: datetime


@activity.defn
def repair_closed_cases(cases: ClosedCases) -> dict[str, list[str]]:
    """Release the holds of closed cases in one transaction: per case, the kinds released."""
    with session_scope() as session:
        released = release_holds(
            session, cases.closed, at=cases.at, actor_role="system", actor_id=None, audit_always=False, alert=True
        )
    return {wid: kinds for wid, kinds in released.items() if kinds}


@dataclass
class RefillQuery:
    at: datetime
    limit: int = 1_000


@activity.defn
def offerings_to_refill(query: RefillQuery) -> list[str]:
    """The workflows of offerings that still pass seats on (closed, inside their reassignment month)
    with a free seat and an applicant waiting: the reconciliation tells each to fill its seats."""
    free = select(OfferingSeat.offering_id).where(OfferingSeat.workflow_id.is_(None))
    waiting = select(OfferingApplication.offering_id).where(OfferingApplication.status == "waiting")
    with session_scope() as session:
        return list(
            session.scalars(
                select(ImportOffering.workflow_id)
                .where(
                    ImportOffering.status == "closed",
                    ImportOffering.reassign_until > query.at,
                    ImportOffering.offering_id.in_(free),
                    ImportOffering.offering_id.in_(waiting),
                )
                .order_by(ImportOffering.workflow_id)
                .limit(query.limit)
            )
        )


@dataclass
class MissingCases:
    workflow_ids: list[str]
    at: datetime


MISSING_STEP = "reconciliation-missing"


@activity.defn
def alert_missing_cases(cases: MissingCases) -> int:
    """One alert per case Temporal does not know that still holds rows (once per case); released
    by nobody: an operator decides. How many alerts were new."""
    ids = cases.workflow_ids
    with session_scope() as session:
        held: dict[str, list[str]] = defaultdict(list)
        holders = union_all(*_holders(ids=ids)).subquery()
        for wid, kind in session.execute(select(holders.c.workflow_id, holders.c.kind)):
            held[wid].append(kind)
        sent = select(OutboxMessage.workflow_id).where(OutboxMessage.workflow_id.in_(ids), OutboxMessage.step == MISSING_STEP)
        alerted = set(session.scalars(sent))
        new = [wid for wid in ids if held.get(wid) and wid not in alerted]
        for wid in new:
            what = "، ".join(KIND_FA[k] for k in HOLD_KINDS if k in held[wid])
            session.add(
                OutboxMessage(
                    workflow_id=wid,
                    step=MISSING_STEP,
                    to="operator",
                    kind="alert",
                    created_at=cases.at,
                    text=(
                        f"پرونده {wid} در Temporal یافت نشد (شاید تاریخچه‌اش پس از مهلت نگهداری پاک شده) "
                        f"ولی در دفتر ثبت این‌ها را نگه داشته است: {what}. خودکار آزاد نشد؛ بررسی کنید."
                    ),
                )
            )
        return len(new)


ACTIVITIES: list[Callable[..., Any]] = [
    release_case_holds,
    read_held_cases,
    repair_closed_cases,
    alert_missing_cases,
    offerings_to_refill,
]
"""Module-level activities; ``CaseLookup(client).case_verdicts`` is added by ``worker.build_worker``."""
