"""The escrow banks (حساب وکالتی) behind a small adapter, so a real bank link can replace the ledger.

Lifecycles never talk to a bank directly: their activities ask :func:`escrow_adapter` to block or
release a deposit. The shipped :class:`RegistryEscrowAdapter` keeps the state in the registry's
escrow ledger (``escrow_deposits``), which is what the approved banks report into today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from temporalio.exceptions import ApplicationError

from registry.db import session_scope
from registry.models import EscrowDeposit


@dataclass(frozen=True)
class EscrowHold:
    """One deposit blocked for one case (the workflow id is the hold's key at the bank)."""

    workflow_id: str
    national_id: str
    bank: str
    account: str
    amount_rial: int


class EscrowBankAdapter(Protocol):
    """What a lifecycle needs from an escrow bank. Every call is idempotent per hold."""

    def block(self, hold: EscrowHold, at: datetime) -> None:
        """Block (again) the deposit of ``hold``; a hold already blocked stays as it is."""
        ...

    def release(self, hold: EscrowHold, at: datetime) -> datetime:
        """Release the deposit; returns when it was released (the first release's time on a retry)."""
        ...


class RegistryEscrowAdapter:
    """The escrow ledger in the registry as the bank's record of holds."""

    def block(self, hold: EscrowHold, at: datetime) -> None:
        with session_scope() as session:
            row = session.get(EscrowDeposit, hold.workflow_id)
            if row is None:
                session.add(
                    EscrowDeposit(
                        workflow_id=hold.workflow_id, national_id=hold.national_id, bank=hold.bank, account=hold.account,
                        amount_rial=hold.amount_rial, status="blocked", blocked_at=at,
                    )
                )
            elif row.status != "blocked":
                row.status, row.blocked_at, row.released_at = "blocked", at, None

    def release(self, hold: EscrowHold, at: datetime) -> datetime:
        with session_scope() as session:
            row = session.get(EscrowDeposit, hold.workflow_id)
            if row is None:
                raise ApplicationError(f"no escrow deposit is recorded for {hold.workflow_id}", type="Rejected", non_retryable=True)
            if row.status == "blocked":
                row.status, row.released_at = "released", at
            return row.released_at or at


def escrow_adapter() -> EscrowBankAdapter:
    """The adapter in use; the place to plug a bank's own interface in."""
    return RegistryEscrowAdapter()
