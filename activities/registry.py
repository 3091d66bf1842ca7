"""Activities every lifecycle shares: the audit log, the notification outbox, payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.money import payment_key
from registry.db import session_scope
from registry.models import AuditEntry, CaseClaim, OutboxMessage, Payment


@dataclass
class CaseIdClaim:
    workflow_id: str
    first_run_id: str
    """``workflow.info().first_execution_run_id``: the same across retries and continue-as-new."""
    workflow_type: str
    at: datetime


@activity.defn
def claim_case_id(claim: CaseIdClaim) -> None:
    """Record that this case owns its workflow id; refuse a new case reusing a closed case's id.

    Audit rows, outbox messages, file and order numbers, plates and deposits are all keyed by
    workflow id: a reused id would silently find the old case's rows and skip its own writes.
    """
    with session_scope() as session:
        owner = session.get(CaseClaim, claim.workflow_id)
        if owner is None:
            session.add(
                CaseClaim(
                    workflow_id=claim.workflow_id,
                    first_run_id=claim.first_run_id,
                    workflow_type=claim.workflow_type,
                    claimed_at=claim.at,
                )
            )
        elif owner.first_run_id != claim.first_run_id:
            raise ApplicationError(
                f"workflow id {claim.workflow_id} belonged to an earlier {owner.workflow_type} case (run {owner.first_run_id}); "
                "every case needs an id of its own",
                type="Rejected",
                non_retryable=True,
            )


@dataclass
class AuditRecord:
    workflow_id: str
    workflow_type: str
    seq: int
    """Position of the transition in the case's history: with the workflow id, the key."""
    event: str
    from_state: str
    to_state: str
    at: datetime
    actor_role: str | None = None
    actor_id: str | None = None
    actor_jti: str | None = None

    @classmethod
    def of_entry(cls, workflow_id: str, workflow_type: str, seq: int, entry: dict[str, Any], at: datetime) -> AuditRecord:
        """The row of one entry of a case's ``history`` (the case writes it from the entry it just
        recorded; the reconciliation rebuilds a closed case's rows from its history). The system's
        own steps (actor role ``system``) keep no actor id."""
        actor = entry.get("actor") or {}
        role = actor.get("role", "system")
        by_system = role == "system"
        return cls(
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            seq=seq,
            event=entry["event"],
            from_state=entry["from"],
            to_state=entry["to"],
            at=at,
            actor_role=role,
            actor_id=None if by_system else actor.get("id"),
            actor_jti=None if by_system else actor.get("jti"),
        )


@activity.defn
def record_transition(record: AuditRecord) -> None:
    """One transition's audit row (cases started before audit batches replay through this)."""
    record_transitions([record])


@activity.defn
def record_transitions(records: list[AuditRecord]) -> None:
    """The audit rows of every transition not yet written, in one statement.

    Run from the case's main loop. A retry (a crash, a lost
    connection) runs it again: ``(workflow_id, seq)`` is unique and a row already there is
    skipped, so exactly one row per transition survives.
    """
    if not records:
        return
    with session_scope() as session:
        write_audit_rows(session, records)


def write_audit_rows(session: Session, records: list[AuditRecord]) -> None:
    """Insert audit rows, skipping any already there (``(workflow_id, seq)`` is unique)."""
    if not records:
        return
    rows = [vars(record) for record in records]
    dialect = session.get_bind().dialect.name
    statement: Executable
    if dialect == "postgresql":
        statement = postgresql_insert(AuditEntry).values(rows).on_conflict_do_nothing(index_elements=["workflow_id", "seq"])
    elif dialect == "sqlite":
        statement = sqlite_insert(AuditEntry).values(rows).on_conflict_do_nothing(index_elements=["workflow_id", "seq"])
    else:  # pragma: no cover - the registry runs on PostgreSQL or SQLite
        raise RuntimeError(f"no idempotent insert for {dialect}")
    session.execute(statement)


@dataclass
class Notification:
    workflow_id: str
    step: str
    """Unique within the case: a retry of the same step sends nothing new."""
    to: str
    kind: str
    text: str
    at: datetime
    code: str | None = None


@activity.defn
def send_notification(note: Notification) -> None:
    """Queue an SMS / invitation / alert in the outbox (the SMS gateway reads it from there)."""
    send_notifications([note])


@activity.defn
def send_notifications(notes: list[Notification]) -> None:
    """Queue several messages in the outbox in one transaction (e.g. a permit request to each
    organisation); a step already queued is skipped, so a retry queues nothing twice."""
    with session_scope() as session:
        for note in notes:
            exists = session.scalar(
                select(OutboxMessage.id).where(OutboxMessage.workflow_id == note.workflow_id, OutboxMessage.step == note.step)
            )
            if exists is None:
                session.add(
                    OutboxMessage(
                        workflow_id=note.workflow_id,
                        step=note.step,
                        to=note.to,
                        kind=note.kind,
                        text=note.text,
                        code=note.code,
                        created_at=note.at,
                    )
                )
                session.flush()  # two notes of one step in one list: the second finds the first


@dataclass
class PaymentRecord:
    workflow_id: str
    purpose: str
    payment_ref: str
    amount_rial: int
    at: datetime
    bank_id: str
    """The bank whose verified token reported the payment."""


def add_payment(session: Session, payment: PaymentRecord) -> None:
    """Record a payment in ``session`` once; a reference of this bank already used for another
    purpose or case is refused. The unique ``(bank_id, ref_key)`` decides between two cases
    paying with one reference at the same instant: the loser's insert fails and is refused."""
    key = payment_key(payment.payment_ref)
    lookup = select(Payment).where(Payment.bank_id == payment.bank_id, Payment.ref_key == key)
    known = session.scalar(lookup)
    if known is None:
        try:
            with session.begin_nested():
                session.add(
                    Payment(
                        bank_id=payment.bank_id,
                        payment_ref=payment.payment_ref,
                        ref_key=key,
                        workflow_id=payment.workflow_id,
                        purpose=payment.purpose,
                        amount_rial=payment.amount_rial,
                        paid_at=payment.at,
                    )
                )
            return
        except IntegrityError:
            known = session.scalar(lookup)
    if known is None or (known.workflow_id, known.purpose, known.amount_rial) != (
        payment.workflow_id,
        payment.purpose,
        payment.amount_rial,
    ):
        raise ApplicationError(
            f"payment_ref {payment.payment_ref!r} of bank {payment.bank_id} was already used for another payment",
            type="Rejected",
            non_retryable=True,
        )


@activity.defn
def record_payment(payment: PaymentRecord) -> None:
    with session_scope() as session:
        add_payment(session, payment)
