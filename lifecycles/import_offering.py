"""An importer's offering to a scheme's ranked applicants (عرضه خودروهای وارداتی), seed 001_f8898b590ca0d58d.

Seed 001 «نحوه عرضه خودروهای وارداتی»: «هر یک از واردکنندگان، تعداد مشخصی از خودروها را با موعد
تحویل معین، عرضه خواهند کرد»; «تمام متقاضیان حائز شرایط، طی مدت معینی که اعلام میشود، میتوانند ...
اقدام به ثبتنام کنند»; «پس از پایان مهلت مذکور، اسامی خریداران قطعی خودروهای عرضهشده (به ترتیب نوبت
متقاضیان) اعلام خواهد شد»; those not chosen «میتوانند منتظر بمانند و در عرضههای بعدی شرکت کنند؛
بنابراین نوبت آنها حفظ میشود». So one ``ImportOffering`` case per offering:

    Proposed ─approve→ Approved ─(opens)→ Open ─(closes)→ Closing ─(buyers named)→ Allocating ─(reassignment ends)→ Finished

The importer proposes (model, specifications, seats, contractual delivery date, base price, estimated
costs, the application window); an operator approves or rejects it. Once approved, the ranked
eligible cases of the scheme are told its public terms (a signal each, in pages). While the window
is open each of them may ``apply_offering`` (ImportPurchase). At the close one activity names the
``seats`` best ranks among the applicants still eligible as buyers, a seat each, and their cases
allocate themselves; everyone else keeps the rank. A seat declined or not signed within
``policy.OFFERING_SIGN_DAYS`` passes to the next applicant by rank while the offering is Allocating
(``policy.OFFERING_REASSIGN_MONTHS`` after the close).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pydantic import Field
from statemachine import State, StateMachine

from domain import policy
from domain.calendar import add_months_at, tehran_today
from domain.commands import ABORT_ROLES, Abort, Code, Command, Day, Instant, ModelName, Note, PositiveRials, Rials, Strict
from domain.display import iso


class ImportOfferingMachine(StateMachine):
    """States and transitions of one offering; labels are what operators read."""

    Proposed = State("پیشنهاد واردکننده", initial=True)
    Approved = State("تأیید شده، پیش از آغاز مهلت")
    Open = State("مهلت درخواست باز")
    Closing = State("انتخاب خریداران به ترتیب نوبت")
    Allocating = State("خریداران قطعی اعلام شده")
    Finished = State("پایان عرضه", final=True)
    Rejected = State("رد شده", final=True)
    Expired = State("تأیید نشد تا پایان مهلت", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    approve = Proposed.to(Approved)
    reject = Proposed.to(Rejected)
    # A proposal nobody approved before its window's close can no longer be approved: it ends (ours).
    approval_lapsed = Proposed.to(Expired)
    window_opened = Approved.to(Open)
    window_closed = Open.to(Closing)
    buyers_named = Closing.to(Allocating)
    reassignment_ended = Allocating.to(Finished)
    abort = Aborted.from_(Proposed, Approved, Open)


UPDATE_ROLES: dict[str, frozenset[str]] = {
    "approve": frozenset({"operator"}),
    "reject": frozenset({"operator"}),
    "abort": ABORT_ROLES,
}
"""Who may give each update; every update is an event of the machine with the same name."""


class Start(Strict):
    """The workflow's input, given by the importer (token role ``importer``, ``sub`` = ``importer_id``)."""

    offering_id: Code
    """The offering's public id (the purchase cases' ``offering_id``), unique across offerings."""
    scheme_id: Code
    importer_id: Code
    model: ModelName
    specs: list[Note] = Field(default_factory=list, max_length=policy.SPECS_MAX_ITEMS)
    """The car's full specification, a line each («با ذکر مشخصات کامل خودروها»)."""
    seats: int = Field(ge=1, le=policy.OFFERING_SEATS_MAX)
    delivery_due: Day
    """The contractual delivery date (Gregorian; «موعد تحویل معین»)."""
    base_price_rial: PositiveRials
    pre_customs_costs_rial: Rials
    """Transport and costs up to arrival at customs: with the base price, stage 2 of the price."""
    estimated_final_costs_rial: Rials
    """The estimate of stage 3 (taxes, duties, customs, numbering) told to the buyers."""
    opens: Instant
    closes: Instant
    """Applications are taken in ``[opens, closes)``."""

    def problem(self, now: datetime) -> str | None:
        """What makes this proposal unusable at ``now`` (the workflow's clock), or ``None``."""
        if self.closes <= self.opens:
            return "closes must be after opens"
        if self.closes - self.opens > timedelta(days=policy.OFFERING_WINDOW_MAX_DAYS):
            return f"the application window may last at most {policy.OFFERING_WINDOW_MAX_DAYS} days"
        if self.closes <= now:
            return "the application window is already over"
        if self.delivery_due <= tehran_today(self.closes):
            return "delivery_due must fall after the application window closes"
        return None


class Reject(Command):
    reason: Note


COMMANDS: dict[str, type[Command]] = {"approve": Command, "reject": Reject, "abort": Abort}


@dataclass
class OfferingCase:
    """Everything an offering's case holds; the machine keeps its state in ``state``."""

    offering_id: str
    scheme_id: str
    importer_id: str
    model: str
    specs: list[str] = field(default_factory=list)
    seats: int = 0
    delivery_due: str = ""
    base_price_rial: int = 0
    pre_customs_costs_rial: int = 0
    estimated_final_costs_rial: int = 0
    opens: str = ""
    closes: str = ""
    state: str | None = None
    rejection_reason: str | None = None
    told_after_id: int = 0
    """Ranked cases up to this registration id were told the offering's terms."""
    cases_told: int = 0
    cases_gone: int = 0
    told_done: bool = False
    applicants: int = 0
    """Applications still live at the close."""
    buyers: int = 0
    """Seats given at the close."""
    reassign_until: str | None = None
    fill_rounds: int = 0
    """Fills of freed seats done (each one's new buyers were told)."""
    seats_given_again: int = 0
    fills: int = 0
    """Times the offering looked for free seats to give again (told by a buyer's case that gave its
    seat up, or by the reconciliation); ``seats_given_again`` counts the seats it gave."""
    fill_wanted: bool = False
    """A buyer's case said it gave its seat up: the free seats are to be filled again."""
    buyers_told_round: int = -1
    """The last fill round whose buyers were told (-1: none; 0: the close's)."""
    buyers_told_after: int = 0
    """Seats up to this number of the round being told were told."""

    def terms(self) -> dict[str, object]:
        """The public terms announced to the ranked cases (no personal data)."""
        return {
            "offering_id": self.offering_id,
            "scheme_id": self.scheme_id,
            "importer_id": self.importer_id,
            "model": self.model,
            "seats": self.seats,
            "delivery_due": self.delivery_due,
            "base_price_rial": self.base_price_rial,
            "pre_customs_costs_rial": self.pre_customs_costs_rial,
            "estimated_final_costs_rial": self.estimated_final_costs_rial,
            "opens": self.opens,
            "closes": self.closes,
        }


def reassign_until(closed_at: datetime) -> datetime:
    """Until when a freed seat passes to the next applicant by rank (``policy.OFFERING_REASSIGN_MONTHS``,
    calendar months in Tehran)."""
    return add_months_at(closed_at, policy.OFFERING_REASSIGN_MONTHS)


def window_refusal(opens: datetime, closes: datetime, at: datetime) -> str | None:
    """Why an application at ``at`` is outside the offering's window ``[opens, closes)``, or ``None``."""
    if at < opens:
        return f"applications to this offering open at {iso(opens)}"
    if at >= closes:
        return f"applications to this offering closed at {iso(closes)}"
    return None


def delivery_day(text: str) -> date:
    return date.fromisoformat(text)


# --- what a purchase case is told ---

OFFERING_ANNOUNCED_SIGNAL = "offering_announced"
"""Tells a ranked purchase case an approved offering's public terms (:class:`Terms`). Anyone may send
a signal: the case uses what it was told only to refuse early in its validator; the application
itself is judged by the registry (``activities.import_offering.apply_to_offering``)."""

OFFERING_SEAT_SIGNAL = "offering_seat_ready"
"""Tells a purchase case it may hold a seat: it carries nothing, the case reads its seat in the registry."""

OFFERING_WITHDRAWN_SIGNAL = "offering_withdrawn"
"""Tells a purchase case that applied that its offering was aborted: it carries nothing, the case
reads its application in the registry and, no longer live, is free to apply elsewhere."""

OFFERING_SEAT_FREED_SIGNAL = "offering_seat_freed"
"""Tells the offering a buyer gave a seat up: it carries nothing, the offering fills its free seats
from the registry (a repeated or forged signal finds nothing more to do)."""


class Terms(Strict):
    """An offering's public terms as announced (``OfferingCase.terms``)."""

    offering_id: Code
    scheme_id: Code
    importer_id: Code
    model: ModelName
    seats: int = Field(ge=1, le=policy.OFFERING_SEATS_MAX)
    delivery_due: Day
    base_price_rial: PositiveRials
    pre_customs_costs_rial: Rials
    estimated_final_costs_rial: Rials
    opens: Instant
    closes: Instant
