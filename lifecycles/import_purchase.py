"""Imported-car purchase (خرید خودروی وارداتی), seed 001_f8898b590ca0d58d; withdrawal seed 000.

The statechart, the commands with their field rules, who may give each, and the pure rules
(eligibility, payments, lateness, delay and withdrawal penalties, refunds).
Activities gather the registry's facts; everything decided from them is decided here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, StringConstraints
from statemachine import State, StateMachine

from domain import policy
from domain.calendar import add_months_at, months_started
from domain.commands import (
    ABORT_ROLES,
    Abort,
    Code,
    Command,
    Day,
    ModelName,
    NationalId,
    PaymentRef,
    PersonName,
    PositiveRials,
    Rials,
    Strict,
)
from domain.display import TEHRAN, iso, parse_instant
from domain.identifiers import normalize_vin
from domain.money import percent_of
from lifecycles.withdrawal import has_code


class ImportPurchaseMachine(StateMachine):
    """States and transitions of one purchase case; labels are what operators read.

    Final states take no command. Ineligible, CancelledForDelay and Delivered are final for the
    buyer, yet the workflow stays open after them until the escrow deposit is released (see
    ``PurchaseCase.is_over``); Withdrawn is not final: the operator may reinstate a mistaken
    withdrawal for ``policy.REINSTATEMENT_WINDOW``.
    """

    Registered = State("ثبت‌نام شده", initial=True)
    Eligible = State("حائز شرایط")
    Ineligible = State("فاقد شرایط", final=True)
    Allocated = State("تخصیص یافته")
    Signed = State("قرارداد امضا شده")
    Contracted = State("قرارداد منعقد شده")
    AtCustoms = State("رسیده به گمرک")
    AwaitingDelivery = State("در انتظار تحویل")
    Delivered = State("تحویل شده", final=True)
    Withdrawn = State("انصراف")
    CancelledForDelay = State("فسخ به علت تأخیر", final=True)
    Voided = State("ابطال ثبت‌نام", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    # Eligibility runs by itself right after registration.
    found_eligible = Registered.to(Eligible)
    found_ineligible = Registered.to(Ineligible)

    allocate = Eligible.to(Allocated)
    # ``SCHEME_ROUNDS``: the buyer turns the allocated car down and keeps the rank (seed 001
    # «نوبت آنها حفظ میشود»), no penalty.
    decline_allocation = Allocated.to(Eligible, cond="scheme_rounds")
    # ``IMPORT_OFFERINGS``: a ranked buyer applies to an offering it was told of (one live application
    # at a time, ``policy.OFFERING_ONE_APPLICATION_AT_A_TIME``) and may take it back while the window
    # is open; the offering's close allocates the seat (``allocate``, by the system). A buyer who does
    # not sign within ``policy.OFFERING_SIGN_DAYS`` loses the seat as a decline would, the rank kept.
    apply_offering = Eligible.to.itself(internal=True, cond="import_offerings")
    withdraw_application = Eligible.to.itself(internal=True, cond="has_open_application")
    signing_lapsed = Allocated.to(Eligible, cond="import_offerings")
    sign_contract = Allocated.to(Signed)
    # Money is reported by the bank alone: stage 2 after signing, stage 3 once at customs.
    pay_stage = Signed.to(Contracted) | AtCustoms.to(AwaitingDelivery)
    customs_arrival = Contracted.to(AtCustoms)
    deliver = AwaitingDelivery.to(Delivered)
    # The no-active-plate rule is re-checked at delivery; failing it ends the purchase.
    # ``SCHEME_ROUNDS``: the round's rules are re-checked before money moves (allocate, stage 2, deliver).
    eligibility_lost = AwaitingDelivery.to(Ineligible) | Eligible.to(Ineligible) | Signed.to(Ineligible)

    # The importer is late: one event per started delay month (30-day period in the earliest builds;
    # with PURCHASE_MONEY only while the importer is at fault, see ``delay_spans``).
    delay_period_started = (
        Contracted.to.itself(internal=True) | AtCustoms.to.itself(internal=True) | AwaitingDelivery.to.itself(internal=True)
    )
    cancel_for_delay = CancelledForDelay.from_(Contracted, AtCustoms, AwaitingDelivery, cond="delay_over_three_months")

    request_withdrawal_code = (
        Eligible.to.itself(internal=True)
        | Allocated.to.itself(internal=True)
        | Signed.to.itself(internal=True)
        | Contracted.to.itself(internal=True)
        | AtCustoms.to.itself(internal=True)
        | AwaitingDelivery.to.itself(internal=True)
    )
    withdrawal_code_expired = (
        Eligible.to.itself(internal=True)
        | Allocated.to.itself(internal=True)
        | Signed.to.itself(internal=True)
        | Contracted.to.itself(internal=True)
        | AtCustoms.to.itself(internal=True)
        | AwaitingDelivery.to.itself(internal=True)
    )
    withdraw = Withdrawn.from_(Eligible, Allocated, Signed, Contracted, AtCustoms, AwaitingDelivery, cond="has_withdrawal_code")
    # The buyer let the stage-3 deadline pass (``policy.STAGE3_PAYMENT_MONTHS``): a withdrawal after the contract.
    stage3_expired = AtCustoms.to(Withdrawn)
    reinstate = (
        Withdrawn.to(Eligible, cond=["may_reinstate", "withdrew_from_eligible"])
        | Withdrawn.to(Allocated, cond=["may_reinstate", "withdrew_from_allocated"])
        | Withdrawn.to(Signed, cond=["may_reinstate", "withdrew_from_signed"])
        | Withdrawn.to(Contracted, cond=["may_reinstate", "withdrew_from_contracted"])
        | Withdrawn.to(AtCustoms, cond=["may_reinstate", "withdrew_from_at_customs"])
        | Withdrawn.to(AwaitingDelivery, cond=["may_reinstate", "withdrew_from_awaiting_delivery"])
    )
    reinstatement_expired = Withdrawn.to.itself(internal=True)

    # «در صورت برداشت، ثبت‌نام فرد ابطال خواهد شد»: the bank reports the deposit withdrawn.
    deposit_unblocked = Voided.from_(Eligible, Allocated, Signed, Contracted, AtCustoms, AwaitingDelivery)

    # An operator may end any open case, giving a reason (Case.abort releases what it holds).
    abort = Aborted.from_.any()


UPDATE_ROLES: dict[str, frozenset[str]] = {
    "allocate": frozenset({"operator"}),
    "decline_allocation": frozenset({"applicant"}),
    "apply_offering": frozenset({"applicant"}),
    "withdraw_application": frozenset({"applicant"}),
    "sign_contract": frozenset({"applicant"}),
    "pay_stage": frozenset({"bank"}),
    "customs_arrival": frozenset({"importer", "customs"}),
    "deliver": frozenset({"importer"}),
    "request_withdrawal_code": frozenset({"applicant"}),
    "withdraw": frozenset({"applicant"}),
    "cancel_for_delay": frozenset({"applicant"}),
    "deposit_unblocked": frozenset({"bank"}),
    "reinstate": frozenset({"operator"}),
    "abort": ABORT_ROLES,
}
"""Who may give each update; every update is an event of the machine with the same name."""

LEAVING_WITH_RELEASE = frozenset({"Withdrawn", "Ineligible", "CancelledForDelay", "Delivered"})
"""States whose entry starts the 72-hour release of the escrow deposit (seed 000)."""

DELIVERY_PENDING = frozenset({"Contracted", "AtCustoms", "AwaitingDelivery"})
"""States in which the importer owes the car, so the delivery deadline runs."""

DELAY_RUNS_IN = {"Contracted": "customs", "AwaitingDelivery": "delivery"}
"""``PURCHASE_MONEY``: the state in which each stretch of the importer's delay runs (the car not at
customs after the contractual date; not delivered one month after stage 3). A car waiting at customs
for the buyer's own stage 3 (AtCustoms) makes nobody late."""

PAYMENT_STAGES = {"2": "Signed", "3": "AtCustoms"}
"""The state in which ``pay_stage`` takes each stage (stage 1 is the blocked deposit)."""

# --- commands and their field rules ---

Vin = Annotated[str, AfterValidator(normalize_vin)]
"""17 characters, no I, O or Q (ISO 3779), in its one spelling (:func:`domain.identifiers.normalize_vin`)."""

WithdrawalCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=rf"^[0-9]{{{policy.WITHDRAWAL_CODE_DIGITS}}}$")]


class Applicant(Strict):
    national_id: NationalId
    """A natural person's 10-digit national id (کد ملی)."""
    full_name: PersonName
    has_driving_license: bool
    is_legal_entity: bool = False
    """Set when a company applies through a representative: legal entities may not buy (seed 001)."""


class Deposit(Strict):
    bank: Code
    """The escrow bank's id as in the reference data's ``escrow_banks``."""
    account: Code
    amount_rial: PositiveRials


class Start(Strict):
    """The workflow's input."""

    scheme_id: Code
    applicant: Applicant
    deposit: Deposit


class Allocate(Command):
    offering_id: Code
    importer_id: Code
    model: ModelName
    base_price_rial: PositiveRials
    """Fixed at the contract: it never changes afterwards (seed 001)."""
    pre_customs_costs_rial: Rials
    delivery_due: Day
    """The contractual delivery date (Gregorian)."""
    estimated_final_costs_rial: Rials
    """The estimate of stage 3 (taxes, duties, customs, numbering) told to the buyer."""


class ApplyOffering(Command):
    offering_id: Code
    """An offering the case was told of (``status.offerings``), while its window is open."""


class Payment(Command):
    payment_ref: PaymentRef
    amount_rial: PositiveRials


class StagePayment(Payment):
    stage: Literal["2", "3"]


class CustomsArrival(Command):
    final_costs_rial: PositiveRials


class Deliver(Command):
    vin: Vin


class Withdraw(Command):
    code: WithdrawalCode


COMMANDS: dict[str, type[Command]] = {
    "allocate": Allocate,
    "decline_allocation": Command,
    "apply_offering": ApplyOffering,
    "withdraw_application": Command,
    "sign_contract": Command,
    "pay_stage": StagePayment,
    "customs_arrival": CustomsArrival,
    "deliver": Deliver,
    "request_withdrawal_code": Command,
    "withdraw": Withdraw,
    "cancel_for_delay": Command,
    "deposit_unblocked": Command,
    "reinstate": Command,
    "abort": Abort,
}
"""The argument model of every update."""


# --- the case: the data the machine's guards read ---


@dataclass
class PurchaseCase:
    """Everything a purchase case holds; the machine keeps its state in ``state``."""

    scheme_id: str
    applicant_national_id: str
    applicant_full_name: str
    has_driving_license: bool
    is_legal_entity: bool
    deposit_bank: str
    deposit_account: str
    deposit_rial: int
    state: str | None = None
    ineligible_reasons: list[str] = field(default_factory=list)
    # allocation and contract
    offering_id: str | None = None
    importer_id: str | None = None
    model: str | None = None
    base_price_rial: int | None = None
    pre_customs_costs_rial: int | None = None
    delivery_due: str | None = None
    estimated_final_costs_rial: int | None = None
    final_costs_rial: int | None = None
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Stage ("2", "3") → ``{"payment_ref", "amount_rial", "at"}``."""
    contract_signed_at: str | None = None
    customs_arrived_at: str | None = None
    final_paid_at: str | None = None
    # delivery
    delivery_deadline: str | None = None
    delay_periods: int = 0
    delay_penalty_rial: int = 0
    vin: str | None = None
    delivered_at: str | None = None
    title_transfer_locked_until: str | None = None
    # withdrawal
    code_step: str | None = None
    """The outbox step of the live SMS code. The code itself is only in the outbox row the SMS
    gateway reads; the case keeps neither it nor any digest of it (a 6-digit code's hash is
    brute-forced in milliseconds), and an activity checks a given code against that row."""
    code_expires_at: str | None = None
    code_attempts_left: int = 0
    codes_sent: int = 0
    withdrew_from: str | None = None
    withdrawn_at: str | None = None
    reinstatement_until: str | None = None
    reinstatement_closed: bool = False
    reinstated: int = 0
    # money out
    withdrawal_penalty_rial: int = 0
    cancellation_penalty_rial: int = 0
    refund_rial: int = 0
    # the escrow deposit
    deposit_release_deadline: str | None = None
    deposit_release_from: str | None = None
    """When the case left for the state that releases the deposit: its working hours count from here."""
    deposit_releasing: bool = False
    deposit_released_at: str | None = None
    deposit_release_overdue: bool = False
    deposit_unblocked_at: str | None = None
    calendar_months: bool = False
    """Months and years are Jalali calendar ones and the deposit's 72 hours are working hours
    (``workflows.common.CALENDAR_MONTHS``); cases of earlier builds count 30, 90 and 365 days and
    72 clock hours."""
    purchase_money: bool = False
    """Seed 001's money as issue 10 corrected it (``workflows.common.PURCHASE_MONEY``): the deposit is
    stage 1 on account of the price, stage 2 is the rest of the price up to customs, the importer is
    late only while at fault, a stage-3 deadline binds the buyer, and what the buyer is owed (delay
    penalties included, however the case ends) is paid through the escrow bank adapter."""
    stage3_due: str | None = None
    """The buyer's deadline to pay stage 3 after the invitation (``policy.STAGE3_PAYMENT_MONTHS``)."""
    stage3_defaulted: bool = False
    """The buyer let ``stage3_due`` pass: the case left as a withdrawal after the contract."""
    delay_stopped_at: str | None = None
    """When the case left delivery without the car (withdrawal, cancellation, voiding, a failed
    check, an operator's abort): the importer's delay is counted up to here."""
    settlement_key: str | None = None
    """The idempotency key of the payment the escrow bank makes to settle the case."""
    deposit_disposition: str | None = None
    """What the settlement does with the blocked deposit: ``release`` it to the buyer, ``apply`` it
    to the price (delivery), or ``keep`` as it is (the buyer already took it out)."""
    penalty_to_importer_rial: int = 0
    """The buyer's withdrawal penalty, netted in the settlement and paid to the importer."""
    delay_penalty_paid_rial: int = 0
    """The delay penalties the settlement paid to the buyer."""
    penalty_unpaid_rial: int = 0
    """The importer's claim (the buyer's penalty) that neither the deposit nor the cash owed to the
    buyer covers: recorded as unpaid, never as paid (:class:`Settlement`)."""
    settlement_flows: dict[str, int] | None = None
    """The settlement flow by flow (deposit to holder / to importer, cash to holder / to importer)."""
    deposit_released_by_holds: bool = False
    """The operator's abort released the deposit with the case's other holds (``Case.abort``): the
    settlement then excludes it (``keep``) rather than releasing it a second time."""
    stage3_left_scheme: bool = False
    """After a stage-3 default the case's registration was closed and its car freed (once)."""
    scheme_rounds: bool = False
    """The case is registered in its scheme's round (``workflows.common.SCHEME_ROUNDS``): refused
    outside the window, Eligible or Ineligible by the round's batch and lottery (with a ``rank``),
    re-checked before money moves, and a declined allocation keeps the rank. Cases of earlier
    builds check eligibility alone at their start."""
    registration_code: str | None = None
    """The case's code in its round (``scheme_applicants.code``): the published ranks name it."""
    rank: int | None = None
    """The rank the round's lottery gave (1..N), kept through a declined allocation."""
    verdict_signalled: bool = False
    """``SCHEME_VERDICT_SIGNAL`` arrived and the case has not read its standing since."""
    import_offerings: bool = False
    """The case takes part in its round's offerings (``workflows.common.IMPORT_OFFERINGS``): it keeps the
    open offerings it was told of, applies to one, is allocated by an offering's close, and loses a
    seat it does not sign in time."""
    offerings: list[dict[str, Any]] = field(default_factory=list)
    """Open offerings of the case's round as it last read them from the registry when an offering was
    announced (``lifecycles.import_offering.Terms`` as JSON), at most ``policy.OFFERINGS_KNOWN_MAX``:
    what its validator refuses an application by."""
    applied_offering: str | None = None
    """The offering the case last applied to; live while ``applied_closes`` is ahead."""
    applied_closes: str | None = None
    seat: int | None = None
    """The seat held in ``offering_id`` (given by the offering, not by an operator's ``allocate``)."""
    sign_by: str | None = None
    """The buyer's deadline to sign for the seat (``policy.OFFERING_SIGN_DAYS``)."""
    seat_signalled: bool = False
    """``OFFERING_SEAT_SIGNAL`` arrived and the case has not read its seat since."""
    application_check: bool = False
    offerings_check: bool = False
    """An offering was announced (``OFFERING_ANNOUNCED_SIGNAL``): read the round's open offerings."""
    """An offering said the case's application may have ended (``OFFERING_WITHDRAWN_SIGNAL``)."""
    seat_release: dict[str, Any] | None = None
    """A seat to give back in the registry (``{"offering_id", "status"}``): the signing deadline passed."""
    clock: Callable[[], datetime] | None = field(default=None, repr=False, compare=False)
    """The workflow's clock (``workflow.now``), for guards that depend on the time of a command."""

    def now(self) -> datetime:
        assert self.clock is not None, "PurchaseCase.clock is not set"
        return self.clock()

    # guards
    @property
    def has_withdrawal_code(self) -> bool:
        return has_code(self)

    @property
    def delay_over_three_months(self) -> bool:
        """Delivery is late by strictly more than three months now (from the clock,
        not from the delay timers, which may not have fired yet for this instant)."""
        if self.purchase_money:
            return delay_exceeds_three_months(delay_spans(self, self.now()))
        deadline = instant(self.delivery_deadline)
        return deadline is not None and may_cancel_for_delay(deadline, self.now(), calendar_months=self.calendar_months)

    def periods_late_now(self) -> int:
        """Started delay periods: live while the importer owes the car, as settled after it."""
        if self.purchase_money:
            return max(self.delay_periods, delay_months(delay_spans(self, self.now())))
        deadline = instant(self.delivery_deadline)
        if self.state in DELIVERY_PENDING and deadline is not None:
            return max(self.delay_periods, periods_late(deadline, self.now(), calendar_months=self.calendar_months))
        return self.delay_periods

    @property
    def has_open_application(self) -> bool:
        closes = instant(self.applied_closes)
        return self.import_offerings and self.applied_offering is not None and closes is not None and self.now() < closes

    @property
    def may_reinstate(self) -> bool:
        return not self.reinstatement_closed and not self.deposit_releasing and not self.settled_beyond_deposit

    @property
    def settled_beyond_deposit(self) -> bool:
        """A ``PURCHASE_MONEY`` settlement moved more than the deposit back (stages 2–3, penalties):
        a reinstatement cannot take that back, so the buyer registers again instead."""
        if not self.purchase_money or self.deposit_released_at is None:
            return False
        return self.paid("2") + self.paid("3") + self.penalty_to_importer_rial + self.delay_penalty_paid_rial > 0

    @property
    def withdrew_from_eligible(self) -> bool:
        return self.withdrew_from == "Eligible"

    @property
    def withdrew_from_allocated(self) -> bool:
        return self.withdrew_from == "Allocated"

    @property
    def withdrew_from_signed(self) -> bool:
        return self.withdrew_from == "Signed"

    @property
    def withdrew_from_contracted(self) -> bool:
        return self.withdrew_from == "Contracted"

    @property
    def withdrew_from_at_customs(self) -> bool:
        return self.withdrew_from == "AtCustoms"

    @property
    def withdrew_from_awaiting_delivery(self) -> bool:
        return self.withdrew_from == "AwaitingDelivery"

    # derived figures
    @property
    def contracted(self) -> bool:
        """The final contract is concluded (signed): the withdrawal penalty applies from here."""
        return self.contract_signed_at is not None

    def paid(self, stage: str) -> int:
        return int(self.payments.get(stage, {}).get("amount_rial", 0))

    def paid_rial(self) -> dict[str, int]:
        """What the buyer paid by stage; stage 1 is the deposit blocked on account."""
        return {"1": self.deposit_rial, "2": self.paid("2"), "3": self.paid("3")}

    def due_rial(self) -> dict[str, int | None]:
        """What each stage costs (``None`` while not yet known): stage 1 the deposit, stage 2 what
        :meth:`stage2_due_rial` says, stage 3 the final costs the importer declared at customs."""
        return {"1": self.deposit_rial, "2": self.stage2_due_rial(), "3": self.final_costs_rial}

    def stage2_due_rial(self) -> int | None:
        """Stage 2: the base price plus the costs up to customs, less the stage-1 deposit on account
        («مبلغ اولیه را تکمیل وجه», seed 001), never below 0; earlier builds: without the deposit."""
        total = self.contract_amount_rial
        if total is None or not self.purchase_money:
            return total
        return max(total - self.deposit_rial, 0)

    @property
    def contract_amount_rial(self) -> int | None:
        """Stage 2: the base price plus the costs up to arrival at customs."""
        if self.base_price_rial is None or self.pre_customs_costs_rial is None:
            return None
        return self.base_price_rial + self.pre_customs_costs_rial

    def is_over(self) -> bool:
        """The workflow may end: a final outcome with no deposit left blocked or being released."""
        if self.state in ("Voided", "Aborted"):
            # A ``PURCHASE_MONEY`` case that started a settlement waits for the bank to pay it.
            return not self.purchase_money or self.settlement_key is None or self.deposit_released_at is not None
        if self.state == "Withdrawn":
            return self.deposit_released_at is not None and self.reinstatement_closed
        return self.state in LEAVING_WITH_RELEASE and self.deposit_released_at is not None


# --- eligibility (seed 001 «شرایط ثبت‌نام») ---


@dataclass(frozen=True)
class EligibilityFacts:
    """What the registry knows about an applicant, gathered by an activity."""

    has_driving_license: bool
    is_legal_entity: bool
    last_new_car_purchase: str | None
    """ISO instant of the newest new-car purchase within the look-back, if any."""
    active_plates: list[str]
    other_open_schemes: list[str]
    bank_approved: bool
    deposit_rial: int


def eligibility_reasons(facts: EligibilityFacts) -> list[str]:
    """Why an applicant may not register; empty when eligible."""
    reasons: list[str] = []
    if facts.is_legal_entity:
        reasons.append("legal entities may not register or buy (individuals only)")
    if not facts.has_driving_license:
        reasons.append("the applicant has no driving licence")
    if facts.last_new_car_purchase:
        months = policy.NO_NEW_CAR_LOOKBACK_MONTHS
        reasons.append(f"a new car was bought within the last {months} months (on {facts.last_new_car_purchase[:10]})")
    reasons.extend(active_plate_reasons(facts.active_plates))
    if facts.other_open_schemes:
        reasons.append("already registered in another sale scheme: " + ", ".join(sorted(set(facts.other_open_schemes))))
    if not facts.bank_approved:
        reasons.append("the deposit is not at an approved escrow bank")
    if facts.deposit_rial < policy.ESCROW_DEPOSIT_RIAL:
        reasons.append(f"the blocked deposit must be at least {policy.ESCROW_DEPOSIT_RIAL} rial, not {facts.deposit_rial}")
    return reasons


def active_plate_reasons(plates: list[str]) -> list[str]:
    if not plates:
        return []
    return [f"the applicant holds an active plate ({', '.join(sorted(plates))})"]


# --- money ---


def delivery_deadline_now(case: PurchaseCase, final_paid_at: datetime | None) -> datetime:
    """The delivery deadline the case shows: ``PURCHASE_MONEY`` cases owe the car by the contractual
    date until stage 3 is paid, then one calendar month after it («در صورت تکمیل وجه خریداران ظرف
    مدت حداکثر یک ماه», seed 001); earlier builds: the earlier of the two."""
    assert case.delivery_due is not None
    if case.purchase_money and final_paid_at is not None:
        return add_months_at(final_paid_at, policy.DELIVERY_MONTHS_AFTER_FINAL_PAYMENT)
    return delivery_deadline(case.delivery_due, final_paid_at, calendar_months=case.calendar_months)


def delivery_deadline(delivery_due: str, final_paid_at: datetime | None, *, calendar_months: bool) -> datetime:
    """The contractual date (to the end of that day in Tehran), or one calendar month after stage 3
    if earlier (``calendar_months=False``: 30 days, as cases of earlier builds count)."""
    contractual = end_of_day(date.fromisoformat(delivery_due))
    if final_paid_at is None:
        return contractual
    if calendar_months:
        return min(contractual, add_months_at(final_paid_at, policy.DELIVERY_MONTHS_AFTER_FINAL_PAYMENT))
    return min(contractual, final_paid_at + policy.DELIVERY_WINDOW_AFTER_FINAL_PAYMENT)


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` in Tehran: a due date includes its whole day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=TEHRAN)


def periods_late(deadline: datetime, now: datetime, *, calendar_months: bool) -> int:
    """Started delay periods since the deadline (the first starts at the deadline itself): calendar
    months, or 30-day periods for cases of earlier builds."""
    if calendar_months:
        return months_started(deadline, now) // policy.DELAY_PENALTY_PERIOD_MONTHS
    if now < deadline:
        return 0
    return (now - deadline) // policy.DELAY_PENALTY_PERIOD + 1


def cancellable_after(deadline: datetime, *, calendar_months: bool) -> datetime:
    """«تاخیر بیش از سه ماه» (seed 001): the last instant that is not yet more than three calendar
    months late (90 days for cases of earlier builds)."""
    if calendar_months:
        return add_months_at(deadline, policy.CANCEL_FOR_DELAY_AFTER_MONTHS)
    return deadline + policy.CANCEL_FOR_DELAY_AFTER


def may_cancel_for_delay(deadline: datetime, now: datetime, *, calendar_months: bool) -> bool:
    """«تاخیر بیش از سه ماه» (seed 001): strictly later than :func:`cancellable_after`."""
    return now > cancellable_after(deadline, calendar_months=calendar_months)


def next_period_start(deadline: datetime, periods: int, *, calendar_months: bool) -> datetime:
    if calendar_months:
        return add_months_at(deadline, periods * policy.DELAY_PENALTY_PERIOD_MONTHS)
    return deadline + periods * policy.DELAY_PENALTY_PERIOD


def title_lock_until(delivered_at: datetime, *, calendar_months: bool) -> datetime:
    """«به مدت یک سال از زمان خرید» (seed 001): one calendar year (365 days in earlier builds)."""
    if calendar_months:
        return add_months_at(delivered_at, 12 * policy.TITLE_TRANSFER_LOCK_YEARS)
    return delivered_at + policy.TITLE_TRANSFER_LOCK


def delay_penalty_rial(base_price_rial: int, periods: int) -> int:
    """5.7% of the base price for each started period (seed 001)."""
    return periods * percent_of(base_price_rial, policy.DELAY_PENALTY_RATE)


def withdrawal_penalty_rial(case: PurchaseCase) -> int:
    """Free until the final contract; 5% of the base price after it (seed 001)."""
    if not case.contracted or case.base_price_rial is None:
        return 0
    return percent_of(case.base_price_rial, policy.WITHDRAWAL_PENALTY_RATE)


def cancellation_penalty_rial(base_price_rial: int) -> int:
    """What the importer pays the buyer on top when the contract is cancelled for delay."""
    return percent_of(base_price_rial, policy.CANCELLATION_PENALTY_RATE)


def refund_after_withdrawal(case: PurchaseCase, penalty: int) -> int:
    """Stages 2 and 3 back, minus the penalty (the deposit is released separately)."""
    return max(case.paid("2") + case.paid("3") - penalty, 0)


def refund_after_cancel(case: PurchaseCase, cancellation_penalty: int) -> int:
    """Stages 2 and 3 back, plus the delay penalty and the 5% cancellation penalty."""
    return case.paid("2") + case.paid("3") + case.delay_penalty_rial + cancellation_penalty


# --- the importer's delay and the settlement (``PURCHASE_MONEY``) ---


@dataclass(frozen=True)
class DelaySpan:
    """One stretch of time in which the importer is at fault."""

    start: datetime
    end: datetime
    live: bool
    """Still running (``end`` is now)."""

    @property
    def counts(self) -> bool:
        """A closed stretch counts when it lasted; a live one from its first instant."""
        return self.end > self.start or (self.live and self.end >= self.start)


def delay_spans(case: PurchaseCase, now: datetime) -> list[DelaySpan]:
    """When the importer was or is late (seed 001, as the contract reads it): the car not at customs
    after the contractual date (from stage 2 on: before it, the buyer has not paid), and the car
    not delivered one calendar month after the buyer paid stage 3. A car waiting at customs for
    the buyer's own stage 3 is nobody's delay. A stretch ends at arrival or delivery, or when the
    case left delivery without the car (``delay_stopped_at``)."""
    spans: list[DelaySpan] = []
    stopped = instant(case.delay_stopped_at)
    paid2 = instant(case.payments.get("2", {}).get("at"))
    if case.delivery_due is None or paid2 is None:
        return spans
    arrived = instant(case.customs_arrived_at)
    start = max(end_of_day(date.fromisoformat(case.delivery_due)), paid2)
    end = arrived or stopped
    spans.append(DelaySpan(start, end or now, end is None and case.state == "Contracted"))
    final_paid = instant(case.final_paid_at)
    if final_paid is not None:
        start = add_months_at(final_paid, policy.DELIVERY_MONTHS_AFTER_FINAL_PAYMENT)
        end = instant(case.delivered_at) or stopped
        spans.append(DelaySpan(start, end or now, end is None and case.state == "AwaitingDelivery"))
    return [s for s in spans if s.counts]


def delay_reach(spans: list[DelaySpan]) -> tuple[datetime, datetime] | None:
    """The stretches laid end to end from the first one's start: (origin, where the delay reaches).

    «جریمه ماهانه» and «تاخیر بیش از سه ماه» (seed 001) are counted in calendar months of this
    one line, so a delay before arrival and one after stage 3 add up (our reading)."""
    if not spans:
        return None
    origin = spans[0].start
    return origin, origin + sum((s.end - s.start for s in spans), timedelta(0))


def delay_months(spans: list[DelaySpan]) -> int:
    """Started calendar months of the importer's delay (5.7% of the base price each, seed 001)."""
    reach = delay_reach(spans)
    return 0 if reach is None else months_started(*reach) // policy.DELAY_PENALTY_PERIOD_MONTHS


def delay_exceeds_three_months(spans: list[DelaySpan]) -> bool:
    """«تاخیر بیش از سه ماه» (seed 001): the delay reaches strictly past three calendar months."""
    reach = delay_reach(spans)
    return reach is not None and reach[1] > add_months_at(reach[0], policy.CANCEL_FOR_DELAY_AFTER_MONTHS)


def next_delay_month_at(spans: list[DelaySpan], now: datetime, *, pending_start: datetime | None) -> datetime | None:
    """When the next delay month starts (a timer), while a stretch runs or is about to start."""
    live = next((s for s in spans if s.live), None)
    if live is None:
        return pending_start if pending_start is not None and pending_start > now else None
    reach = delay_reach(spans)
    assert reach is not None
    origin, reached = reach
    upcoming = add_months_at(origin, months_started(origin, reached) * policy.DELAY_PENALTY_PERIOD_MONTHS)
    return now + (upcoming - reached)


def pending_delay_start(case: PurchaseCase) -> datetime | None:
    """Where the delay stretch of the case's state starts, when the case is in it."""
    if case.state == "Contracted" and case.delivery_due is not None:
        paid2 = instant(case.payments.get("2", {}).get("at"))
        contractual = end_of_day(date.fromisoformat(case.delivery_due))
        return contractual if paid2 is None else max(contractual, paid2)
    final_paid = instant(case.final_paid_at)
    if case.state == "AwaitingDelivery" and final_paid is not None:
        return add_months_at(final_paid, policy.DELIVERY_MONTHS_AFTER_FINAL_PAYMENT)
    return None


def stage3_due(invited_at: datetime) -> datetime:
    """The buyer's deadline to pay stage 3 after the customs invitation (our policy)."""
    return add_months_at(invited_at, policy.STAGE3_PAYMENT_MONTHS)


@dataclass(frozen=True)
class Settlement:
    """What the escrow bank pays out when a ``PURCHASE_MONEY`` case ends, flow by flow.

    Two sources: the blocked deposit (stage 1) and cash (stages 2–3 paid back, the importer's delay
    and cancellation penalties). The importer's claim (the buyer's 5% once signed) is paid from the
    deposit first, then netted out of the cash the buyer is owed; what neither covers is an unpaid
    claim (``penalty_unpaid_rial``), never money recorded as paid with nothing behind it."""

    refund_rial: int
    """Everything the buyer gets back, deposit included (the contract's ``refund_rial``):
    ``deposit_to_holder_rial + cash_to_holder_rial``."""
    penalty_to_importer_rial: int
    """What the importer actually receives: ``deposit_to_importer_rial + cash_to_importer_rial``."""
    deposit: Literal["release", "apply", "keep"]
    deposit_to_holder_rial: int = 0
    """Of the blocked deposit, released to the buyer (delivery: the part above the price to customs)."""
    deposit_to_importer_rial: int = 0
    """Of the blocked deposit, paid to the importer (the buyer's penalty)."""
    cash_to_holder_rial: int = 0
    """Paid to the buyer beyond the deposit: stages 2–3 back, delay and cancellation penalties."""
    cash_to_importer_rial: int = 0
    """Netted out of that cash for the importer (the penalty the deposit did not cover)."""
    penalty_unpaid_rial: int = 0
    """The importer's claim nothing in the settlement covers (e.g. the deposit taken out of escrow)."""

    @property
    def beyond_deposit(self) -> bool:
        """Anything but the whole deposit going back to the buyer: a reinstatement, which blocks the
        same deposit again, cannot undo it."""
        moved = (self.deposit_to_importer_rial, self.cash_to_holder_rial, self.cash_to_importer_rial, self.penalty_unpaid_rial)
        return self.deposit != "release" or moved != (0, 0, 0, 0)


def settlement(case: PurchaseCase, ending: str) -> Settlement:
    """What the buyer is owed as the case ends by ``ending`` (the contract's ``refund_rial``).

    The delay penalties accrued are paid «به طور قطعی» (seed 001) whatever ends the case; the
    buyer's own penalty (5% of the base price once the contract is concluded) goes to the importer
    out of the deposit, then out of the cash owed to the buyer, and is an unpaid claim beyond both.
    - ``Withdrawn`` (also a stage-3 default), ``Ineligible`` (a check failed at delivery: the
      contract's penalty as for a withdrawal), ``Voided`` (the deposit taken out of escrow: it
      is the buyer's already, ``keep``): all stages paid − the withdrawal penalty + the delay penalty;
    - ``CancelledForDelay``: all stages paid + the delay penalty + 5% of the base price;
    - ``Delivered``: the delay penalty, and the part of the deposit above the price to customs
      (stage 2 never goes below 0, so that part is the buyer's); the rest of the deposit is applied
      to the price;
    - ``Aborted`` by an operator: all stages paid + the delay penalty; the deposit is excluded
      (``keep``) when the abort's release of the case's holds released it already.
    """
    cash = case.paid("2") + case.paid("3") + case.delay_penalty_rial
    deposit = case.deposit_rial
    if ending == "Delivered":
        over = max(deposit - (case.contract_amount_rial or 0), 0)
        delay = case.delay_penalty_rial
        return Settlement(over + delay, 0, "apply", deposit_to_holder_rial=over, cash_to_holder_rial=delay)
    if ending == "CancelledForDelay":
        assert case.base_price_rial is not None
        cash += cancellation_penalty_rial(case.base_price_rial)
        return Settlement(deposit + cash, 0, "release", deposit_to_holder_rial=deposit, cash_to_holder_rial=cash)
    if ending == "Aborted":
        if case.deposit_released_by_holds:
            return Settlement(cash, 0, "keep", cash_to_holder_rial=cash)
        return Settlement(deposit + cash, 0, "release", deposit_to_holder_rial=deposit, cash_to_holder_rial=cash)
    penalty = withdrawal_penalty_rial(case)
    in_escrow = 0 if ending == "Voided" else deposit
    from_deposit = min(penalty, in_escrow)
    from_cash = min(penalty - from_deposit, cash)
    return Settlement(
        in_escrow - from_deposit + cash - from_cash,
        from_deposit + from_cash,
        "keep" if ending == "Voided" else "release",
        deposit_to_holder_rial=in_escrow - from_deposit,
        deposit_to_importer_rial=from_deposit,
        cash_to_holder_rial=cash - from_cash,
        cash_to_importer_rial=from_cash,
        penalty_unpaid_rial=penalty - from_deposit - from_cash,
    )


# --- instants ---


def instant(text: str | None) -> datetime | None:
    """An ISO instant of the case, parsed (``None`` stays ``None``)."""
    return parse_instant(text)


def later(at: datetime, delta: timedelta) -> str:
    """``at + delta`` as the contract's ISO instant."""
    stamp = iso(at + delta)
    assert stamp is not None
    return stamp
