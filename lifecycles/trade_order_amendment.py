"""Edit (ویرایش) and renewal (تمدید) of a registered order, seed 003 §13.

A registered TradeOrder case is complete; each later edit or renewal is a short case of its
own, charged against the registered order the registry keeps:
- renewal pays the full formula again (total ÷ 2000, at least 100 EUR);
- edit pays only the difference between the newly computed fee and the last computed fee,
  and never less than the 100 EUR minimum the seed sets for opening, renewal and edit alike.

An edit changes the order's content, so it is inquired again and, before its fee, obtains the
permits its new content requires that the registered content did not («درخواست مجوز») and the
expert review its content needs («طی کردن مراحل کارشناسی (در صورت نیاز پرونده به کارشناسی)»); a
rejection returns it to the draft to be edited. A renewal keeps the registered content, its permits
and its review (our reading: the seed renews the order, not its content).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from statemachine import State, StateMachine

from domain import policy
from domain.commands import ABORT_ROLES, Strict, WorkflowId
from domain.money import to_rials
from lifecycles.trade_order import GoodsCatalogue, TradeFile

AmendmentKind = Literal["edit", "renewal"]


class AmendmentMachine(StateMachine):
    Draft = State("پیش‌نویس اصلاحیه", initial=True)
    InquiringRules = State("در حال استعلام ضوابط")
    AwaitingPermit = State("منتظر مجوز")
    PermitRejected = State("رد درخواست مجوز")
    ExpertReview = State("کارشناسی")
    AwaitingFee = State("آماده پرداخت کارمزد")
    Amended = State("اعمال شده", final=True)
    Lapsed = State("منقضی (کارمزد پرداخت نشد)", final=True)
    Cancelled = State("انصراف", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    edit = Draft.to.itself(internal=True, cond="is_edit") | PermitRejected.to(Draft)
    # An edited order is inquired again; a renewal keeps the registered content as it is.
    # From InquiringRules too: an inquiry that failed for good can be sent again, or given up.
    submit = Draft.to(InquiringRules, cond="is_edit") | Draft.to(AwaitingFee) | InquiringRules.to.itself(internal=True)
    rules_failed = InquiringRules.to(Draft)
    rules_passed = (
        InquiringRules.to(AwaitingPermit, cond="awaits_permits")
        | InquiringRules.to(ExpertReview, cond="needs_expert_review")
        | InquiringRules.to(AwaitingFee)
    )
    # A decision is recorded first; the amendment moves once every organisation has answered.
    # «رد درخواست مجوز» then «ویرایش پرونده» (seed 003 §11-1); amendments opened before
    # TRADE_ORDER_MORE went straight back to the draft.
    decide_permit = (
        AwaitingPermit.to(PermitRejected, cond=["permits_answered_with_rejection", "permit_rejection_is_a_state"])
        | AwaitingPermit.to(Draft, cond="permits_answered_with_rejection")
        | AwaitingPermit.to(ExpertReview, cond=["permits_all_approved", "needs_expert_review"])
        | AwaitingPermit.to(AwaitingFee, cond="permits_all_approved")
        | AwaitingPermit.to.itself(internal=True)
    )
    # «ارسال رد درخواست مجوزها», once per wait: organisations that have not acted are marked rejected.
    withdraw_permit_requests = AwaitingPermit.to(PermitRejected, cond="may_withdraw_permits")
    expert_decide = ExpertReview.to(AwaitingFee, cond="expert_approved") | ExpertReview.to(Draft)
    pay_fee = AwaitingFee.to(Amended)
    fee_expired = AwaitingFee.to(Lapsed)
    cancel = (
        Draft.to(Cancelled)
        | InquiringRules.to(Cancelled)
        | AwaitingPermit.to(Cancelled)
        | PermitRejected.to(Cancelled)
        | ExpertReview.to(Cancelled)
        | AwaitingFee.to(Cancelled)
    )

    # An operator may end any open case, giving a reason (Case.abort releases what it holds).
    abort = Aborted.from_.any()


UPDATE_ROLES: dict[str, frozenset[str]] = {
    "edit": frozenset({"applicant"}),
    "submit": frozenset({"applicant"}),
    "cancel": frozenset({"applicant"}),
    "decide_permit": frozenset({"licensing_org"}),
    "withdraw_permit_requests": frozenset({"applicant"}),
    "expert_decide": frozenset({"expert"}),
    "pay_fee": frozenset({"bank"}),
    "abort": ABORT_ROLES,
}


class Start(Strict):
    order_workflow_id: WorkflowId
    """The TradeOrder case whose registered order is edited or renewed."""
    kind: AmendmentKind


def amendment_charge_rial(kind: AmendmentKind, full_fee_rial: int, last_fee_rial: int, rial_per_eur: Decimal) -> int:
    """What an edit or a renewal costs, given the full formula's fee for the order as it now stands."""
    if kind == "renewal":
        return full_fee_rial
    minimum = to_rials(policy.FEE_MINIMUM_EUR * rial_per_eur)
    return max(full_fee_rial - last_fee_rial, minimum)


@dataclass
class Amendment:
    """An amendment case's data; the machine keeps its state in ``state``."""

    kind: AmendmentKind
    order_workflow_id: str
    state: str | None = None
    order_number: str | None = None
    applicant_national_id: str | None = None
    file: TradeFile | None = None
    """The order's content as it will stand once the amendment is paid."""
    last_fee_rial: int | None = None
    order_version: int | None = None
    full_fee_rial: int | None = None
    fee_rial: int | None = None
    fee_rate_rial_per_eur: str | None = None
    fee_deadline: str | None = None
    fee_expired: bool = False
    payment_ref: str | None = None
    rejection_reasons: list[str] = field(default_factory=list)
    registered_sections: dict[str, Any] | None = None
    """The registered order's content as the amendment found it: the permits it needed stay valid."""
    permits: dict[str, str] = field(default_factory=dict)
    """Each organisation whose permit the edited content newly needs → pending, approved, rejected."""
    permit_reasons: dict[str, str] = field(default_factory=dict)
    needs_expert_review: bool = False
    expert_approved: bool = False
    permit_rejection_is_a_state: bool = False
    """Amendments opened under ``TRADE_ORDER_MORE`` stop in ``PermitRejected`` (and may withdraw
    their permit requests) as a file does; earlier ones returned to the draft."""
    permit_withdrawal_used: bool = False
    catalogue: GoodsCatalogue | None = None
    """The goods an edit may name (seed 003 §4), as :class:`lifecycles.trade_order.TradeFile` carries it."""

    @property
    def is_edit(self) -> bool:
        return self.kind == "edit"

    @property
    def awaits_permits(self) -> bool:
        return "pending" in self.permits.values()

    @property
    def permits_answered_with_rejection(self) -> bool:
        return "pending" not in self.permits.values() and "rejected" in self.permits.values()

    @property
    def permits_all_approved(self) -> bool:
        return bool(self.permits) and all(v == "approved" for v in self.permits.values())

    @property
    def may_withdraw_permits(self) -> bool:
        return self.permit_rejection_is_a_state and not self.permit_withdrawal_used and "pending" in self.permits.values()


def permits_newly_needed(edited: list[str], registered: list[str]) -> list[str]:
    """The permits the edited content needs that the registered content did not (seed 003
    «درخواست مجوز»): the organisations asked again for an edit of a registered order (ours:
    permits already granted for the registered content stand)."""
    return sorted(set(edited) - set(registered))
