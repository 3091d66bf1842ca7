"""An import scheme's round (طرح واردات خودرو), seed 001_f8898b590ca0d58d; re-registration seed 000.

Seed 001: registration is open for a window («از امروز (شنبه ۶ اسفند ۱۴۰۱) ... تا روز پنجشنبه
(۱۱ اسفندماه)»), the time of registration gives no priority («زمان ثبت‌نام اولویت محسوب
نمی‌شود»), and after the window «متقاضیان حائز شرایط عمومی ... پالایش شده و طبق قرعه، فرآیند
نوبت‌دهی آنها انجام می‌شود». So one ``ImportScheme`` case per scheme:

    Scheduled ─(opens)→ Open ─(closes)→ Checking ─(batch done)→ AwaitingDraw ─draw→ Ranked ─finish→ Finished

The eligibility batch judges every registration of the round together at the close (set-based,
``activities.import_scheme``), the operator then reveals the lottery seed committed at opening
(``lifecycles.lottery``) and every eligible registration gets its unique rank. ``recheck`` runs the
rules again over the ranked applicants (seed 001: the no-active-plate rule «تا زمان تحویل ...
بررسی می‌شود»; the deposit must stay blocked until delivery). Offerings (by rank) are not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints
from statemachine import State, StateMachine

from domain import policy
from domain.commands import ABORT_ROLES, Abort, Code, Command, Strict
from domain.display import iso


class ImportSchemeMachine(StateMachine):
    """States and transitions of one scheme's round; labels are what operators read."""

    Scheduled = State("اعلام شده", initial=True)
    Open = State("ثبت‌نام باز")
    Checking = State("بررسی شرایط")
    AwaitingDraw = State("در انتظار قرعه")
    Ranked = State("نوبت‌دهی شده")
    Finished = State("پایان طرح", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    registration_opened = Scheduled.to(Open)
    registration_closed = Open.to(Checking)
    eligibility_checked = Checking.to(AwaitingDraw)
    draw = AwaitingDraw.to(Ranked)
    recheck = Ranked.to.itself(internal=True)
    finish = Ranked.to(Finished)
    abort = Aborted.from_(Scheduled, Open, AwaitingDraw, Ranked)


UPDATE_ROLES: dict[str, frozenset[str]] = {
    "draw": frozenset({"operator"}),
    "recheck": frozenset({"operator"}),
    "finish": frozenset({"operator"}),
    "abort": ABORT_ROLES,
}
"""Who may give each update; every update is an event of the machine with the same name."""


Hex64 = Annotated[str, StringConstraints(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
"""64 lower-case hexadecimal digits: a seed of 32 random bytes, or a SHA-256 digest."""


class Start(Strict):
    """The workflow's input: the scheme (reference data ``import_schemes``) and the lottery's
    commitment, SHA-256 of the seed the operator keeps secret until the draw."""

    scheme_id: Code
    seed_commitment: Hex64


class Draw(Command):
    seed: Hex64
    """The seed committed at opening, revealed: SHA-256 of it must be the commitment."""


COMMANDS: dict[str, type[Command]] = {"draw": Draw, "recheck": Command, "finish": Command, "abort": Abort}


@dataclass
class SchemeCase:
    """Everything a scheme's case holds; the machine keeps its state in ``state``."""

    scheme_id: str
    seed_commitment: str
    registration_opens: str | None = None
    registration_closes: str | None = None
    deposit_rial: int = 0
    state: str | None = None
    checked_after_id: int = 0
    """The eligibility batch's progress: registrations up to this id are judged."""
    registered: int = 0
    eligible: int = 0
    ineligible: int = 0
    checked_at: str | None = None
    seed: str | None = None
    list_digest: str | None = None
    drawn_at: str | None = None
    told_after_id: int = 0
    """Purchase cases up to this registration id were told their verdict is in."""
    cases_told: int = 0
    cases_gone: int = 0
    """Registrations whose purchase case had closed (or never ran) when the round was drawn."""
    cases_told_done: bool = False
    rechecks: int = 0
    lost_eligibility: int = 0


# --- the registration window («زمان ثبت‌نام اولویت محسوب نمی‌شود») ---


def window_refusal(opens: datetime, closes: datetime, at: datetime) -> str | None:
    """Why a registration at ``at`` is outside the window ``[opens, closes)``, or ``None``.

    The seed's window runs «از ساعت ۱۲ ظهر ... شنبه ۶ اسفند» «تا روز پنجشنبه (۱۱ اسفندماه)»: the
    reference data gives its two instants (e.g. the end of that Thursday in Tehran as the close).
    Inside the window every instant is the same: registering early gives no priority."""
    if at < opens:
        return f"registration for this scheme opens at {iso(opens)}"
    if at >= closes:
        return f"registration for this scheme closed at {iso(closes)}"
    return None


# --- eligibility (seed 001 «شرایط ثبت‌نام»), judged by the batch as bits of one mask ---

REASONS: dict[int, str] = {
    1: "legal entities may not register or buy (individuals only)",
    2: "the applicant has no driving licence",
    4: f"a new car was bought from a domestic maker or the commodity exchange within the last {policy.NO_NEW_CAR_LOOKBACK_MONTHS} months",
    8: "the applicant holds an active plate",
    16: "already registered in another sale scheme",
    32: "the deposit is not at an approved escrow bank",
    64: "the deposit of the scheme is not blocked in the applicant's escrow account",
}
"""Every rule of the batch, by its bit in ``scheme_applicants.ineligible_mask`` (seed 001:
«نداشتن سابقه خرید خودروی صفر از خودروسازان داخلی یا از طریق بورس کالا طی ۴۸ ماه گذشته، دارا
بودن گواهینامه رانندگی، عدم پلاک انتظامی فعال ... عدم ثبت‌نام در طرح‌های فروش خودروسازان»,
«امکان ثبت‌نام و خرید برای اشخاص حقوقی وجود ندارد», the 500-million-toman deposit blocked at a
chosen bank «تا زمان تحویل خودرو»)."""

LEGAL_ENTITY, NO_LICENCE, NEW_CAR, ACTIVE_PLATE, OTHER_SCHEME, BANK_NOT_APPROVED, DEPOSIT_NOT_BLOCKED = REASONS


def reasons_of(mask: int) -> list[str]:
    """The reasons a mask of the batch stands for, in the order of ``REASONS``."""
    return [text for bit, text in REASONS.items() if mask & bit]


RANK_HOLDER_REFUSAL = "holders of an import-car queue rank may not register for domestic cars"
"""Seed 001 «متقاضیان دارای "نوبت خرید خودرو"، امکان ثبت‌نام و خرید خودروهای داخلی را ندارند»."""
