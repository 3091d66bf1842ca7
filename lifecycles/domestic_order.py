"""The domestic integrated sales order (سامانه یکپارچه عرضه خودروهای داخلی), seed 000_a1c0c16ba933df50.

Two lifecycles:
- ``DomesticScheme``: one stage (مرحله) of the integrated sales scheme, run by an operator: its
  offerings (model and delivery year), its change windows (opened and closed as data, Tehran time
  edges), the withdrawal switch («گزینه انصراف ... به طور موقت حذف شده است»), the registration's
  close and the stage's end.
- ``DomesticOrder``: one applicant's order in a stage: registration with the escrow deposit, the
  priority (a chosen car and delivery year, 1403 by default), cancel-and-choose-again during a
  change window with the turn kept, withdrawal from the scheme by SMS code (the priority list left,
  the deposit released within 72 working hours, no new order this stage), and the operator's
  restoration of a mistaken withdrawal with the same turn.

Seed 000's words for the two commands the applicants confused: «متقاضیانی که تنها قصد دارند نوع
خودروی انتخابی خود را تغییر دهند باید ... گزینه لغو سفارش را انتخاب کرده و خودروی جدید را انتخاب
نمایند» (cancel: the turn is kept) and «انتخاب گزینه انصراف از طرح ... باعث می شود نوبت شما حذف
شود» (withdraw: the priority list is left).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Literal

from persiantools.jdatetime import JalaliDate
from pydantic import Field, model_validator
from statemachine import State, StateMachine

from domain import policy
from domain.commands import (
    ABORT_ROLES,
    Abort,
    Code,
    Command,
    Flag,
    Instant,
    ModelName,
    NationalId,
    PersonName,
    PositiveRials,
    Strict,
    Text,
)
from domain.display import TEHRAN, parse_instant
from lifecycles.import_purchase import Deposit, Vin, WithdrawalCode
from lifecycles.withdrawal import has_code

# --- the scheme (one stage of the integrated sales scheme) ---


class DomesticSchemeMachine(StateMachine):
    """A stage of the scheme; labels are what operators read."""

    Registering = State("ثبت‌نام باز", initial=True)
    Ordering = State("ثبت‌نام بسته؛ سفارش‌ها در نوبت")
    Reviewing = State("بسته برای بررسی نوبت‌ها و اولویت‌ها")
    Finished = State("پایان مرحله", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    open_change_window = Registering.to.itself(internal=True) | Ordering.to.itself(internal=True)
    close_change_window = Registering.to.itself(internal=True) | Ordering.to.itself(internal=True)
    switch_withdrawal = (
        Registering.to.itself(internal=True) | Ordering.to.itself(internal=True) | Reviewing.to.itself(internal=True)
    )
    close_registration = Registering.to(Ordering)
    # «پس از تغییر اولویت ها ... سایت به مدت چند روز بسته می شود تا بررسی نوبت ها و اولویت ها صورت بگیرد».
    freeze = Ordering.to(Reviewing)
    recompute_turns = Reviewing.to.itself(internal=True)
    reopen = Reviewing.to(Ordering)
    finish = Ordering.to(Finished)
    abort = Aborted.from_(Registering, Ordering, Reviewing)


SCHEME_UPDATE_ROLES: dict[str, frozenset[str]] = {
    "open_change_window": frozenset({"operator"}),
    "close_change_window": frozenset({"operator"}),
    "switch_withdrawal": frozenset({"operator"}),
    "close_registration": frozenset({"operator"}),
    "freeze": frozenset({"operator"}),
    "recompute_turns": frozenset({"operator"}),
    "reopen": frozenset({"operator"}),
    "finish": frozenset({"operator"}),
    "abort": ABORT_ROLES,
}
"""Who may give each update of a scheme: the ministry's operators alone."""

DeliveryYear = Literal[1402, 1403]
"""``policy.DOMESTIC_DELIVERY_YEARS``: the Jalali years an order's priority names."""


class Offering(Strict):
    """A model the stage offers and the Jalali year it is delivered in. The 1402 offerings are the
    low-demand models a change may switch to (seed 000: «خودروهایی که از تقاضای کمتری ... برخوردار
    بوده اند، مانند تارا و رانا، امکان تخصیص آنها در سال 1402 نیز وجود دارد»)."""

    model: ModelName
    delivery_year: DeliveryYear


class SchemeStart(Strict):
    """The ``DomesticScheme`` workflow's input (an operator starts it)."""

    scheme_id: Code
    deposit_rial: PositiveRials
    """The escrow deposit an order blocks at an approved bank."""
    offerings: list[Offering] = Field(min_length=1, max_length=policy.DOMESTIC_OFFERINGS_MAX)
    withdrawal_enabled: Flag = True

    @model_validator(mode="after")
    def _distinct(self) -> SchemeStart:
        pairs = [(o.model, o.delivery_year) for o in self.offerings]
        if len(set(pairs)) != len(pairs):
            raise ValueError("offerings: each (model, delivery_year) once")
        return self


class OpenChangeWindow(Command):
    """A change window ``[opens, closes)`` (instants; Tehran midnights for the seed's days): «از روز 5
    اردیبهشت امکان تغییر خودرو در سامانه وجود دارد» ... «تا روز یکشنبه، دهم اردیبهشت ماه ساعت 24».
    Opening a window of the same ``window_id`` again replaces it (an extension, «این مهلت تمدید نیز
    شد»). ``restored_only``: a window only for applicants restored after a mistaken withdrawal
    («این افراد تا روز جمعه مصادف هشتم اردیبهشت می توانستند خودروی خود را تغییر دهند»)."""

    window_id: Code
    opens: Instant
    closes: Instant
    restored_only: Flag = False

    @model_validator(mode="after")
    def _ordered(self) -> OpenChangeWindow:
        if self.closes <= self.opens:
            raise ValueError("closes must be after opens")
        return self


class CloseChangeWindow(Command):
    """Close a window now (it ends at the command's instant if it was still open)."""

    window_id: Code


class SwitchWithdrawal(Command):
    enabled: Flag
    reason: Text | None = None


SCHEME_COMMANDS: dict[str, type[Command]] = {
    "open_change_window": OpenChangeWindow,
    "close_change_window": CloseChangeWindow,
    "switch_withdrawal": SwitchWithdrawal,
    "close_registration": Command,
    "freeze": Command,
    "recompute_turns": Command,
    "reopen": Command,
    "finish": Command,
    "abort": Abort,
}


@dataclass
class SchemeCase:
    scheme_id: str
    deposit_rial: int
    offerings: list[dict[str, Any]]
    withdrawal_enabled: bool
    state: str | None = None
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``window_id`` → ``{"opens", "closes", "restored_only"}`` (ISO instants), as recorded."""
    year_turns: dict[str, int] = field(default_factory=dict)
    """The last recomputation: orders holding a turn per delivery year (``{"1402": n, "1403": m}``)."""
    recomputed_at: str | None = None
    # ``DOMESTIC_CONTROLS``: every change the orders must read again bumps the version; the stage
    # then tells its orders, a page at a time (a newer change starts the telling over).
    controls_version: int = 0
    told_version: int = 0
    """The version every order has been told of (the telling in progress is at ``told_after_id``)."""
    told_after_id: int = 0
    orders_told: int = 0


# --- the order ---


class DomesticOrderMachine(StateMachine):
    """One applicant's order in a stage; labels are what operators read.

    Withdrawn is not final: the operator may restore a mistaken withdrawal, with the same turn,
    for ``policy.DOMESTIC_RESTORE_WINDOW``.
    """

    Registered = State("ثبت‌نام شده", initial=True)
    Ordered = State("سفارش فعال")
    Cancelled = State("سفارش لغو شده؛ نوبت محفوظ")
    Ineligible = State("فاقد شرایط", final=True)
    Withdrawn = State("انصراف از طرح")
    Delivered = State("تحویل شده", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    found_eligible = Registered.to(Ordered)
    found_ineligible = Registered.to(Ineligible)

    # «لغو سفارش»: only an order due in 1403 may change (seed 000); the window is checked at the command.
    cancel_order = Ordered.to(Cancelled, cond="may_change")
    choose = Cancelled.to(Ordered)

    # «انصراف از طرح»: SMS code, then the code; the turn is left.
    request_withdrawal_code = Ordered.to.itself(internal=True) | Cancelled.to.itself(internal=True)
    withdrawal_code_expired = Ordered.to.itself(internal=True) | Cancelled.to.itself(internal=True)
    withdraw = Withdrawn.from_(Ordered, Cancelled, cond="has_withdrawal_code")
    restore = Withdrawn.to(Ordered, cond=["may_restore", "withdrew_from_ordered"]) | Withdrawn.to(
        Cancelled, cond=["may_restore", "withdrew_from_cancelled"]
    )
    restore_window_closed = Withdrawn.to.itself(internal=True)

    # «عدم استعلام گواهینامه و عدم ثبت درخواست در طرح جوانی جمعیت»: the profile's edits.
    edit_profile = Ordered.to.itself(internal=True) | Cancelled.to.itself(internal=True)
    # The maker hands the car over; the registry records the new car (the 48-month rule reads it).
    deliver = Ordered.to(Delivered)

    abort = Aborted.from_(Registered, Ordered, Cancelled, Withdrawn)


UPDATE_ROLES: dict[str, frozenset[str]] = {
    "cancel_order": frozenset({"applicant"}),
    "choose": frozenset({"applicant"}),
    "request_withdrawal_code": frozenset({"applicant"}),
    "withdraw": frozenset({"applicant"}),
    "restore": frozenset({"operator"}),
    "edit_profile": frozenset({"applicant"}),
    "deliver": frozenset({"operator"}),
    "abort": ABORT_ROLES,
}
"""Who may give each update of an order; every update is an event of the machine with the same name."""


class Applicant(Strict):
    national_id: NationalId
    full_name: PersonName


class Choice(Strict):
    """The priority an applicant chooses: a car the stage offers and its delivery year."""

    model: ModelName
    delivery_year: DeliveryYear


class Start(Strict):
    """The ``DomesticOrder`` workflow's input; ``choice`` absent or null: the 1403 priority."""

    scheme_id: Code
    applicant: Applicant
    deposit: Deposit
    choice: Choice | None = None


class Choose(Command):
    model: ModelName
    delivery_year: DeliveryYear


class Withdraw(Command):
    code: WithdrawalCode


class Restore(Command):
    reason: Text


class EditProfile(Command):
    """The profile edits seed 000 names: the driving-licence inquiry runs at every edit (over the
    registry's licence record), and the youth-population scheme («طرح جوانی جمعیت») flag."""

    youth_population: Flag | None = None


class Deliver(Command):
    """The car handed over: its VIN and model (the chosen one, or one the 1403 priorities gave)."""

    vin: Vin
    model: ModelName


COMMANDS: dict[str, type[Command]] = {
    "cancel_order": Command,
    "choose": Choose,
    "request_withdrawal_code": Command,
    "withdraw": Withdraw,
    "restore": Restore,
    "edit_profile": EditProfile,
    "deliver": Deliver,
    "abort": Abort,
}


@dataclass
class OrderCase:
    """Everything an order holds; the machine keeps its state in ``state``."""

    scheme_id: str
    applicant_national_id: str
    applicant_full_name: str
    deposit_bank: str
    deposit_account: str
    deposit_rial: int
    state: str | None = None
    offerings: list[dict[str, Any]] = field(default_factory=list)
    """The stage's offerings, as loaded when the case opened (the validators check choices with them)."""
    model: str | None = None
    """The chosen car; ``None``: none chosen, the delivery year's priorities decide the car."""
    delivery_year: int = policy.DOMESTIC_DEFAULT_PRIORITY_YEAR
    chosen: bool = False
    turn: int | None = None
    """The order's turn (نوبت) in the stage: kept by a cancellation and by a restoration."""
    ineligible_reasons: list[str] = field(default_factory=list)
    changes: int = 0
    restored: int = 0
    youth_population: bool = False
    has_driving_license: bool | None = None
    """The licence registry's answer at the last profile edit (``None``: not inquired, or not on record)."""
    license_inquired_at: str | None = None
    controls: dict[str, Any] | None = None
    """The stage's controls as the order last read them from the registry (``version``, ``windows``,
    ``withdrawal_enabled``, ``frozen``, ``finished``): its validators judge changes and withdrawals
    with them. ``None``: a case of an earlier build, judged in its handler only."""
    year_turn: int | None = None
    """The order's turn within its delivery year, as the stage's last recomputation numbered it."""
    vin: str | None = None
    delivered_at: str | None = None
    # withdrawal (lifecycles.withdrawal)
    code_step: str | None = None
    code_expires_at: str | None = None
    code_attempts_left: int = 0
    codes_sent: int = 0
    withdrew_from: str | None = None
    withdrawn_at: str | None = None
    restore_until: str | None = None
    restore_closed: bool = False
    # the escrow deposit
    deposit_release_from: str | None = None
    deposit_release_deadline: str | None = None
    deposit_releasing: bool = False
    deposit_released_at: str | None = None
    deposit_release_overdue: bool = False

    # guards
    @property
    def may_change(self) -> bool:
        return self.delivery_year == policy.DOMESTIC_CHANGE_OPEN_FOR_YEAR

    @property
    def has_withdrawal_code(self) -> bool:
        return has_code(self)

    @property
    def may_restore(self) -> bool:
        return not self.restore_closed and not self.deposit_releasing

    @property
    def withdrew_from_ordered(self) -> bool:
        return self.withdrew_from == "Ordered"

    @property
    def withdrew_from_cancelled(self) -> bool:
        return self.withdrew_from == "Cancelled"

    def is_over(self) -> bool:
        """The workflow may end: no deposit left blocked or being released, no restoration pending."""
        if self.state == "Aborted":
            return True
        if self.state in ("Ineligible", "Delivered"):
            return self.deposit_released_at is not None
        if self.state == "Withdrawn":
            return self.deposit_released_at is not None and self.restore_closed
        return False


# --- pure rules ---


def delivery_problem(case: OrderCase, model: str) -> str | None:
    """Why ``model`` may not be delivered on the order: the chosen car, or with none chosen one the
    stage offers for the order's year («خودروی تحویلی وی نیز توسط اولویت های سال 1403 تعیین خواهد شد»)."""
    if case.model is not None:
        return None if model == case.model else f"the order is for {case.model}, not {model}"
    if offered(case.offerings, model, case.delivery_year):
        return None
    return f"{model} is not offered for delivery in {case.delivery_year}"


def offered(offerings: list[dict[str, Any]], model: str, year: int) -> bool:
    return any(o["model"] == model and o["delivery_year"] == year for o in offerings)


def choice_problem(offerings: list[dict[str, Any]], model: str, year: int) -> str | None:
    """Why ``(model, year)`` may not be chosen in the stage, or ``None``."""
    if offered(offerings, model, year):
        return None
    years = sorted({o["delivery_year"] for o in offerings if o["model"] == model})
    if years:
        return f"{model} is offered for delivery in {', '.join(map(str, years))}, not {year}"
    return f"{model} is not offered in this stage"


@dataclass(frozen=True)
class Window:
    opens: datetime
    closes: datetime
    restored_only: bool


def window_open(windows: list[Window], at: datetime, *, restored: bool) -> bool:
    """Whether a change window is open at ``at``: ``opens <= at < closes`` (``closes`` is the first
    instant after the window: «ساعت 24» of its last day is 00:00 Tehran of the next); a
    ``restored_only`` window is open only to a restored applicant."""
    return any(w.opens <= at < w.closes and (restored or not w.restored_only) for w in windows)


def controls_refusal(controls: dict[str, Any], update: str, at: datetime, *, restored: bool) -> str | None:
    """Why the stage's ``controls`` refuse ``update`` at ``at``, or ``None``: a change (``cancel_order``,
    ``choose``) needs an open change window and a stage neither frozen nor over; a withdrawal
    (``request_withdrawal_code``, ``withdraw``) needs the operator's switch on. The order's validator
    asks this of the controls it carries, the handler of the registry's (the authority)."""
    if update in ("cancel_order", "choose"):
        if controls["frozen"]:
            return FROZEN
        if controls["finished"] or not window_open(windows_of(controls["windows"]), at, restored=restored):
            return WINDOW_CLOSED
    if update in ("request_withdrawal_code", "withdraw") and not controls["withdrawal_enabled"]:
        return WITHDRAWAL_OFF
    return None


CONTROLS_SIGNAL = "domestic_controls_changed"
"""The stage tells an order that its controls (or its turns) changed: the order reads them again
from the registry. The signal carries nothing, so one sent by anyone else costs a read, no more."""


def tehran_midnight(year: int, month: int, day: int) -> datetime:
    """00:00 in Tehran of a Jalali day (``(1402, 2, 11)``: the end of 10 Ordibehesht's «ساعت 24»)."""
    return datetime.combine(JalaliDate(year, month, day).to_gregorian(), time(0), tzinfo=TEHRAN)


def windows_of(rows: list[dict[str, Any]]) -> list[Window]:
    out = []
    for row in rows:
        opens, closes = parse_instant(row["opens"]), parse_instant(row["closes"])
        assert opens is not None and closes is not None
        out.append(Window(opens, closes, bool(row["restored_only"])))
    return out


WINDOW_CLOSED = (
    "no change window is open now (the operator opens them; seed 000: «مهلت چند روزه به متقاضیان جهت "
    "تعویض و تغییر اولویت های خود»)"
)
FROZEN = "the scheme is closed for the review of turns and priorities (seed 000: «سایت به مدت چند روز بسته می شود»)"
WITHDRAWAL_OFF = (
    "withdrawal from the scheme is switched off for now by the operator (seed 000: «گزینه انصراف ... به طور "
    "موقت حذف شده است»); to change the car, cancel the order (لغو سفارش) during a change window"
)
