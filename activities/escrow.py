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
class EscrowSettlement:
    """What the bank pays out as a case ends (``workflows.common.PURCHASE_MONEY``), flow by flow.

    Two sources: the blocked deposit and cash (everything else the holder is owed: stages paid
    back, the importer's penalties). Each flow is spelt out, and the totals are their sums:
    ``refund_rial = deposit_to_holder_rial + cash_to_holder_rial`` and ``penalty_to_importer_rial
    = deposit_to_importer_rial + cash_to_importer_rial`` (:meth:`problem` checks them)."""

    key: str
    """The idempotency key (workflow id and step): the bank pays under one key once."""
    refund_rial: int
    """Paid to the holder, the deposit included when it is released (delay penalties among it)."""
    delay_penalty_rial: int
    """Of ``refund_rial``, the importer's delay penalties paid to the holder."""
    penalty_to_importer_rial: int
    """The holder's withdrawal penalty, paid to the importer out of what the holder paid."""
    deposit: str
    """The blocked deposit: ``release`` it (to the holder and, for a penalty, the importer),
    ``apply`` it to the price (delivery; any part above the price goes to the holder) or ``keep`` it
    as it is (not in escrow any more: the holder took it out, or an abort released it)."""
    deposit_to_holder_rial: int = 0
    deposit_to_importer_rial: int = 0
    cash_to_holder_rial: int = 0
    cash_to_importer_rial: int = 0
    penalty_unpaid_rial: int = 0
    """The importer's claim nothing covers: recorded as owed, no money behind it."""

    def problem(self, deposit_rial: int) -> str | None:
        """Why the bank cannot pay this settlement of a ``deposit_rial`` hold (``None``: it can)."""
        flows = (
            self.deposit_to_holder_rial,
            self.deposit_to_importer_rial,
            self.cash_to_holder_rial,
            self.cash_to_importer_rial,
            self.penalty_unpaid_rial,
            self.delay_penalty_rial,
        )
        if min(flows) < 0:
            return "a settlement's flows are never negative"
        if self.refund_rial != self.deposit_to_holder_rial + self.cash_to_holder_rial:
            return "refund_rial must be the deposit released to the holder plus the cash paid to the holder"
        if self.penalty_to_importer_rial != self.deposit_to_importer_rial + self.cash_to_importer_rial:
            return "penalty_to_importer_rial must be the deposit plus the cash paid to the importer"
        from_deposit = self.deposit_to_holder_rial + self.deposit_to_importer_rial
        if self.deposit == "release" and from_deposit != deposit_rial:
            return f"a release pays out the whole deposit ({deposit_rial} rial), not {from_deposit}"
        if self.deposit == "apply" and (from_deposit > deposit_rial or self.deposit_to_importer_rial):
            return "an applied deposit pays the holder at most what is above the price, the importer nothing"
        if self.deposit == "keep" and from_deposit:
            return "a deposit kept as it is pays nothing out of it"
        if self.deposit not in ("release", "apply", "keep"):
            return f"unknown deposit disposition {self.deposit!r}"
        return None


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

    def settle(self, hold: EscrowHold, settlement: EscrowSettlement, at: datetime) -> datetime:
        """Pay out ``settlement`` and do with the deposit what it says; returns when it was paid
        (the first payment's time on a retry under the same key: nothing is paid twice)."""
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
                # A reinstated case settles anew, under a key of its own.
                row.settlement_key = row.settled_at = None
                row.refund_rial = row.delay_penalty_paid_rial = row.penalty_to_importer_rial = None
                row.deposit_to_holder_rial = row.deposit_to_importer_rial = None
                row.cash_to_holder_rial = row.cash_to_importer_rial = row.penalty_unpaid_rial = None

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

    def settle(self, hold: EscrowHold, settlement: EscrowSettlement, at: datetime) -> datetime:
        with session_scope() as session:
            row = session.get(EscrowDeposit, hold.workflow_id, with_for_update=True)
            if row is None:
                raise refused("no escrow deposit is recorded for this case")
            if not _holds(row, hold):
                raise refused(ANOTHER_CASE)
            if row.settlement_key == settlement.key and row.settled_at is not None:
                return row.settled_at  # a retry: paid under this key already
            if (why := settlement.problem(row.amount_rial)) is not None:
                raise refused(f"settlement {settlement.key}: {why}")
            if settlement.deposit in ("release", "apply"):
                if row.status != "blocked":
                    # Released, applied or taken out already: paying it out again would pay it twice.
                    raise refused(f"the deposit is {row.status}, not blocked: a settlement cannot {settlement.deposit} it again")
                row.status = "released" if settlement.deposit == "release" else "applied"
                row.released_at = at
            row.settlement_key, row.settled_at = settlement.key, at
            row.refund_rial = settlement.refund_rial
            row.delay_penalty_paid_rial = settlement.delay_penalty_rial
            row.penalty_to_importer_rial = settlement.penalty_to_importer_rial
            row.deposit_to_holder_rial = settlement.deposit_to_holder_rial
            row.deposit_to_importer_rial = settlement.deposit_to_importer_rial
            row.cash_to_holder_rial = settlement.cash_to_holder_rial
            row.cash_to_importer_rial = settlement.cash_to_importer_rial
            row.penalty_unpaid_rial = settlement.penalty_unpaid_rial
            return at


def escrow_adapter() -> EscrowBankAdapter:
    """The adapter in use; the place to plug a bank's own interface in."""
    return RegistryEscrowAdapter()
