"""Activities every lifecycle shares: the audit log, the notification outbox, payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from registry.db import session_scope
from registry.models import AuditEntry, OutboxMessage, Payment


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


@activity.defn
def record_transition(record: AuditRecord) -> None:
    with session_scope() as session:
        exists = session.scalar(
            select(AuditEntry.id).where(AuditEntry.workflow_id == record.workflow_id, AuditEntry.seq == record.seq)
        )
        if exists is None:
            session.add(AuditEntry(**vars(record)))


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
    with session_scope() as session:
        exists = session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.workflow_id == note.workflow_id, OutboxMessage.step == note.step)
        )
        if exists is None:
            session.add(
                OutboxMessage(
                    workflow_id=note.workflow_id, step=note.step, to=note.to, kind=note.kind,
                    text=note.text, code=note.code, created_at=note.at,
                )
            )


@dataclass
class PaymentRecord:
    workflow_id: str
    purpose: str
    payment_ref: str
    amount_rial: int
    at: datetime


@activity.defn
def record_payment(payment: PaymentRecord) -> None:
    """Record a payment once; a reference already used for another purpose or case is refused."""
    with session_scope() as session:
        known = session.get(Payment, payment.payment_ref)
        if known is None:
            session.add(
                Payment(
                    payment_ref=payment.payment_ref, workflow_id=payment.workflow_id, purpose=payment.purpose,
                    amount_rial=payment.amount_rial, paid_at=payment.at,
                )
            )
            return
        if (known.workflow_id, known.purpose, known.amount_rial) != (payment.workflow_id, payment.purpose, payment.amount_rial):
            raise ApplicationError(
                f"payment_ref {payment.payment_ref} was already used for another payment",
                type="Rejected",
                non_retryable=True,
            )
