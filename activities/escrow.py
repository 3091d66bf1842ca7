"""The escrow banks (حساب وکالتی) behind a small adapter, so a real bank link can replace the ledger.

Lifecycles never talk to a bank directly: their activities ask :func:`escrow_adapter` to block or
release a deposit. The shipped :class:`RegistryEscrowAdapter` keeps the state in the registry's
escrow ledger (``escrow_deposits``), which is what the approved banks report into today.

A hold is keyed by its case's workflow id and belongs to one holder (national id, bank, account,
amount): a write naming a hold on record for another holder is refused, and the first block of
a case never touches a hold already on record unless it is that same hold still blocked (its
own retry), so a case reusing a closed case's id cannot block that case's released deposit again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import IntegrityError

from activities.errors import refused
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
        """Block the deposit of a new case's ``hold``; a retry finds it blocked and changes nothing.
        Refused when the hold's key is on record for anything else (another case's deposit)."""
        ...

    def reblock(self, hold: EscrowHold, at: datetime) -> None:
        """Block again the released deposit of a reinstated case; a hold blocked stays as it is."""
        ...

    def release(self, hold: EscrowHold, at: datetime) -> datetime:
        """Release the deposit; returns when it was released (the first release's time on a retry)."""
        ...


ANOTHER_CASE = "the escrow hold of this workflow id belongs to another case (a hold is blocked once, for one case)"


def _holds(row: EscrowDeposit, hold: EscrowHold) -> bool:
    """Whether the ledger's row is this hold (the same holder, bank, account and amount)."""
    return (row.national_id, row.bank, row.account, row.amount_rial) == (
        hold.national_id,
        hold.bank,
        hold.account,
        hold.amount_rial,
    )


class RegistryEscrowAdapter:
    """The escrow ledger in the registry as the bank's record of holds."""

    def block(self, hold: EscrowHold, at: datetime) -> None:
        try:
            with session_scope() as session:
                row = session.get(EscrowDeposit, hold.workflow_id, with_for_update=True)
                if row is None:
                    session.add(
                        EscrowDeposit(
                            workflow_id=hold.workflow_id,
                            national_id=hold.national_id,
                            bank=hold.bank,
                            account=hold.account,
                            amount_rial=hold.amount_rial,
                            status="blocked",
                            blocked_at=at,
                        )
                    )
                    session.flush()
                elif row.status != "blocked" or not _holds(row, hold):
                    raise refused(ANOTHER_CASE)  # a released or unblocked hold is never blocked again here
        except IntegrityError:
            with session_scope() as session:  # two first blocks under one key at the same instant
                row = session.get(EscrowDeposit, hold.workflow_id)
                if row is None or row.status != "blocked" or not _holds(row, hold):
                    raise refused(ANOTHER_CASE) from None

    def reblock(self, hold: EscrowHold, at: datetime) -> None:
        with session_scope() as session:
            row = session.get(EscrowDeposit, hold.workflow_id, with_for_update=True)
            if row is None:
                raise refused("no escrow deposit is recorded for this case")
            if not _holds(row, hold):
                raise refused(ANOTHER_CASE)
            if row.status != "blocked":
                row.status, row.blocked_at, row.released_at = "blocked", at, None

    def release(self, hold: EscrowHold, at: datetime) -> datetime:
        with session_scope() as session:
            row = session.get(EscrowDeposit, hold.workflow_id, with_for_update=True)
            if row is None:
                raise refused("no escrow deposit is recorded for this case")
            if not _holds(row, hold):
                raise refused(ANOTHER_CASE)
            if row.status == "blocked":
                row.status, row.released_at = "released", at
            return row.released_at or at


def escrow_adapter() -> EscrowBankAdapter:
    """The adapter in use; the place to plug a bank's own interface in."""
    return RegistryEscrowAdapter()
