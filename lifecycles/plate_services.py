"""After-numbering services (خدمات بعد از شماره گذاری), seed 004_deeca06ae7fe51fe.

One statechart and one workflow type (``PlateService``) serve every service; what differs is
data in :data:`SERVICES`: the checklist (each entry citing the seed's item), whether an
officer's permit comes first (part change: permit → new part with invoice → re-inspection),
whether a newspaper notice starts a durable wait (duplicate ownership document: more than 10
days), the fee, and the registry effect the completing activity applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator
from statemachine import State, StateMachine

from domain import policy
from domain.commands import ABORT_ROLES, Abort, Code, Command, Day, ShortCode, Strict
from domain.display import TEHRAN
from lifecycles.plates import (
    IDENTITY,
    NO_VIOLATIONS,
    RESIDENCE,
    Fuel,
    Inspect,
    PayPlateFee,
    Person,
    Requirement,
    SubmitDocument,
    Vin,
    checklist_kinds,
)

ServiceName = Literal[
    "duplicate_vehicle_card",
    "duplicate_ownership_document",
    "lost_or_stolen_plates",
    "damaged_plates",
    "part_change",
    "scrapping",
]


@dataclass(frozen=True)
class ServiceDefinition:
    """Everything that makes one after-numbering service differ from another."""

    label_fa: str
    documents: tuple[Requirement, ...]
    """The checklist; entries with ``only_for="permit"`` are due after the permit."""
    permit_first: bool = False
    """An inspection issues a permit, then the work is done and inspected again (part change)."""
    owner_consent: bool = True
    """Completes only with the registered owner's own authenticated consent (CONTRACT.md: transfer,
    scrapping, lost or damaged plates, duplicate documents); a part change is the officer's."""
    notice_wait: bool = False
    """A newspaper notice opens a wait of more than ``policy.DUPLICATE_OWNERSHIP_DOC_NOTICE_WAIT``
    (it needs a fee after the wait: the timer's transition runs no activity)."""


UNDERTAKING = "undertaking_form"

SERVICES: dict[str, ServiceDefinition] = {
    "duplicate_vehicle_card": ServiceDefinition(
        "اخذ کارت المثنی",
        (
            Requirement("ownership_document", "سند خودرو صادره ناجا", "duplicate card 1"),  # 1 presence → inspect
            Requirement(IDENTITY, "شناسنامه جدید یا کارت ملی", "duplicate card 2"),
            Requirement(NO_VIOLATIONS, "برگ عدم خلافی", "duplicate card 3"),
            Requirement(UNDERTAKING, "فرم اطلاع از عواقب کشف فساد", "duplicate card 4"),
        ),  # 5 fee → pay_fee
    ),
    "duplicate_ownership_document": ServiceDefinition(
        "اخذ سند مالکیت المثنی",
        (
            Requirement("newspaper_notice", "آگهی مفقودی در روزنامه کثیرالانتشار", "duplicate document 1"),
            Requirement(UNDERTAKING, "فرم اطلاع از عواقب کشف فساد", "duplicate document 2"),
            Requirement(NO_VIOLATIONS, "برگ عدم خلافی", "duplicate document 4"),
            Requirement(IDENTITY, "شناسنامه جدید یا کارت ملی", "duplicate document 5"),
        ),  # 3 presence with the car → inspect
        notice_wait=True,
    ),
    "lost_or_stolen_plates": ServiceDefinition(
        "پلاک مفقودی یا سرقت‌شده",
        (
            Requirement("vehicle_documents", "اصل اسناد خودرو", "lost plates 2"),  # 1 presence → inspect
            Requirement(IDENTITY, "شناسنامه جدید یا کارت ملی", "lost plates 3"),
            Requirement(RESIDENCE, "مدرک احراز محل سکونت", "lost plates 4"),
            Requirement(NO_VIOLATIONS, "برگ عدم خلافی", "lost plates 5"),
        ),  # 6 fee → pay_fee
    ),
    "damaged_plates": ServiceDefinition(
        "پلاک آسیب‌دیده",
        (
            Requirement("vehicle_documents", "اصل اسناد خودرو (کارت، سند مالکیت)", "damaged plates 2"),
            Requirement("damaged_plate", "پلاک آسیب‌دیده", "damaged plates 3"),
            Requirement(IDENTITY, "شناسنامه جدید یا کارت ملی", "damaged plates 4"),
            Requirement(RESIDENCE, "مدرک احراز محل سکونت", "damaged plates 5"),
            Requirement(NO_VIOLATIONS, "برگ عدم خلافی", "damaged plates 7"),
        ),  # 1 presence → inspect, 6 fee → pay_fee
    ),
    "part_change": ServiceDefinition(
        "تغییر رنگ یا تعویض قطعات اصلی",
        (
            Requirement("vehicle_documents", "مدارک وسیله نقلیه", "part change 1"),
            Requirement(IDENTITY, "شناسنامه جدید یا کارت ملی", "part change 2"),
            Requirement(RESIDENCE, "مدرک احراز محل سکونت", "part change 3"),
            Requirement("part_invoice", "فاکتور معتبر کارخانه با پروانه گمرکی", "part change 5", "permit"),
        ),  # 4 inspection + permit → inspect in Open; 6 re-inspection → inspect in Permitted
        permit_first=True,
        owner_consent=False,
    ),
    "scrapping": ServiceDefinition(
        "اسقاط خودرو",
        (
            Requirement("vehicle_documents", "اصل اسناد خودرو (کارت، سند مالکیت)", "scrapping 3"),
            Requirement(IDENTITY, "شناسنامه جدید یا کارت ملی", "scrapping 4"),
            Requirement(NO_VIOLATIONS, "برگ عدم خلافی", "scrapping 5"),
            Requirement("fuel_hq_registration", "ثبت‌نام در سایت ستاد حمل و نقل و سوخت", "scrapping 7", "incentive"),
        ),  # 2 the owner's request is the case itself; the officer inspects the car handed in
    ),
}
"""Every after-numbering service of seed 004 («خدمات بعد از شماره گذاری»), as data."""


def service_fee_rial(service: str) -> int | None:
    return policy.PLATE_SERVICE_FEE_RIAL.get(service)


# --- commands ---

Part = Literal["engine", "chassis", "body", "colour"]


class PartChange(Strict):
    """What a part-change case changes, and the current part's facts the new one must match."""

    part: Part
    colour: ShortCode | None = None
    """Colour change: the new colour's code (not an armed-forces or taxi colour)."""
    cylinders: int | None = Field(default=None, ge=1, le=16, strict=True)
    """Engine: the current engine's cylinder count (the new one must have the same)."""
    fuel: Fuel | None = None
    """Engine: the current engine's fuel (the new one must use the same)."""
    body_type: Code | None = None
    """Body: the current body's system and type (the new one must be the same)."""

    @model_validator(mode="after")
    def _facts_for_the_part(self) -> PartChange:
        needed = {"colour": ("colour",), "engine": ("cylinders", "fuel"), "body": ("body_type",), "chassis": ()}[self.part]
        absent = [name for name in needed if getattr(self, name) is None]
        if absent:
            raise ValueError(f"a {self.part} change needs {', '.join(absent)}")
        return self


class NewPart(Strict):
    """The replacement part as its invoice describes it."""

    invoice_number: Code
    new: bool
    cylinders: int | None = Field(default=None, ge=1, le=16, strict=True)
    fuel: Fuel | None = None
    body_type: Code | None = None
    engraving_intact: bool = True
    """The engraving place of the number is not ground (seed 004 «نبایستی سنگ خورده باشد»)."""
    joined_halves: bool = False
    """A body joined from two halves (forbidden, seed 004)."""


class ServiceStart(Strict):
    """``PlateService`` input."""

    service: ServiceName
    vin: Vin
    owner: Person
    change: PartChange | None = None
    """``part_change`` only: the part or the colour being changed."""
    with_government_incentive: bool = False
    """``scrapping`` only: scrapped for the government's incentive (needs the fuel HQ registration)."""

    @model_validator(mode="after")
    def _change_only_for_part_change(self) -> ServiceStart:
        if (self.service == "part_change") != (self.change is not None):
            raise ValueError("change is required for part_change and only for it")
        if self.with_government_incentive and self.service != "scrapping":
            raise ValueError("with_government_incentive is only for scrapping")
        return self


class SubmitServiceDocument(SubmitDocument):
    published_on: Day | None = None
    """``newspaper_notice``: the day the notice was printed (default: today, Tehran)."""
    part: NewPart | None = None
    """``part_invoice``: the new part as invoiced."""

    @model_validator(mode="after")
    def _fields_for_the_kind(self) -> SubmitServiceDocument:
        if self.published_on is not None and self.kind != "newspaper_notice":
            raise ValueError("published_on belongs to a newspaper_notice")
        if (self.part is not None) != (self.kind == "part_invoice"):
            raise ValueError("a part_invoice carries part, and only it")
        return self


UPDATE_ROLES: dict[str, frozenset[str]] = {
    "submit_document": frozenset({"applicant", "owner", "officer"}),
    "inspect": frozenset({"officer"}),
    "consent": frozenset({"owner"}),
    "pay_fee": frozenset({"bank"}),
    "cancel": frozenset({"applicant", "owner"}),
    "abort": ABORT_ROLES,
}
COMMANDS: dict[str, type[Command]] = {
    "submit_document": SubmitServiceDocument,
    "inspect": Inspect,
    "consent": Command,
    "pay_fee": PayPlateFee,
    "cancel": Command,
    "abort": Abort,
}


# --- the machine every service shares ---


class PlateServiceMachine(StateMachine):
    """A plate-centre service: documents and inspection, then a permit stage, a notice period or
    the fee as the service's definition says, then done."""

    Open = State("تشکیل پرونده خدمت", initial=True)
    Permitted = State("مجوز صادر شد؛ منتظر تعویض و بازدید مجدد")
    NoticePeriod = State("مهلت پس از آگهی روزنامه")
    AwaitingFee = State("منتظر پرداخت")
    Completed = State("انجام شد", final=True)
    Rejected = State("رد شد", final=True)
    Cancelled = State("انصراف", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    eligibility_failed = Open.to(Rejected)
    submit_document = Open.to.itself(internal=True) | Permitted.to.itself(internal=True)
    consent = Open.to.itself(internal=True)
    inspect = (
        Open.to(Rejected, cond="inspection_failed")
        | Open.to.itself(internal=True)
        | Permitted.to(Rejected, cond="inspection_failed")
        | Permitted.to.itself(internal=True)
    )
    stage_complete = (
        Open.to(Permitted, cond=["stage_ready", "needs_permit"])
        | Open.to(NoticePeriod, cond=["stage_ready", "needs_notice_wait"])
        | Open.to(AwaitingFee, cond=["stage_ready", "has_fee"])
        | Open.to(Completed, cond="stage_ready")
        | Permitted.to(AwaitingFee, cond=["stage_ready", "has_fee"])
        | Permitted.to(Completed, cond="stage_ready")
    )
    notice_period_over = NoticePeriod.to(AwaitingFee)
    pay_fee = AwaitingFee.to(Completed)
    registry_refused = Open.to(Rejected) | Permitted.to(Rejected) | AwaitingFee.to(Rejected)
    """The registry refused the completion: the applicant no longer owns the car, or it was
    scrapped (the case ends; see :func:`workflows.plate_common.end_if_vehicle_changed`)."""
    cancel = Open.to(Cancelled) | Permitted.to(Cancelled) | NoticePeriod.to(Cancelled) | AwaitingFee.to(Cancelled)

    # An operator may end any open case, giving a reason (Case.abort releases what it holds).
    abort = Aborted.from_.any()


@dataclass
class ServiceFile:
    """What a service case holds; the guards read it, the machine keeps ``state``."""

    service: str
    vin: str
    owner_national_id: str
    checklist: dict[str, bool]
    permit_documents: list[str]
    fee_rial: int | None
    change: dict[str, Any] | None = None
    state: str | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)
    inspections: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The last inspection in each stage (``Open``, ``Permitted``)."""
    vehicle_fuel: str | None = None
    notice_published_on: str | None = None
    notice_wait_ends: str | None = None
    rejection_reasons: list[str] = field(default_factory=list)
    eligibility_checked: bool = False
    payment_ref: str | None = None
    result: dict[str, Any] | None = None
    new_part: dict[str, Any] | None = None
    consent: dict[str, Any] | None = None
    """The registered owner's own consent, ``{"by", "jti", "at"}`` once given."""

    @property
    def definition(self) -> ServiceDefinition:
        return SERVICES[self.service]

    @property
    def stage(self) -> str:
        return "Permitted" if self.state == "Permitted" else "Open"

    def stage_documents(self) -> list[str]:
        if self.stage == "Permitted":
            return list(self.permit_documents)
        return [k for k in self.checklist if k not in self.permit_documents]

    # guards
    @property
    def inspection_failed(self) -> bool:
        last = self.inspections.get(self.stage)
        return last is not None and not last["passed"]

    @property
    def stage_ready(self) -> bool:
        return not stage_missing(self)

    @property
    def needs_permit(self) -> bool:
        return self.definition.permit_first and self.stage == "Open"

    @property
    def needs_notice_wait(self) -> bool:
        return self.definition.notice_wait

    @property
    def has_fee(self) -> bool:
        return self.fee_rial is not None

    @property
    def awaits_consent(self) -> bool:
        return self.definition.owner_consent and self.consent is None


def stage_missing(file: ServiceFile) -> list[str]:
    """What the current stage still lacks: its documents and its inspection."""
    out = [k for k in file.stage_documents() if not file.checklist[k]]
    last = file.inspections.get(file.stage)
    if not (last and last["passed"]):
        out.append("the officer's re-inspection" if file.stage == "Permitted" else "the officer's inspection")
    if file.awaits_consent:
        out.append("the owner's consent (update consent, with the owner's own token)")
    return out


def service_file(start: ServiceStart) -> ServiceFile:
    definition = SERVICES[start.service]
    tags = {"permit"} if definition.permit_first and start.change and start.change.part != "colour" else set()
    if start.with_government_incentive:
        tags.add("incentive")
    kinds = checklist_kinds(definition.documents, tags)
    permit_docs = [r.kind for r in definition.documents if r.only_for == "permit" and r.kind in kinds]
    return ServiceFile(
        service=start.service,
        vin=start.vin,
        owner_national_id=start.owner.national_id,
        checklist={k: False for k in kinds},
        permit_documents=permit_docs,
        fee_rial=service_fee_rial(start.service),
        change=start.change.model_dump(mode="json", exclude_none=True) if start.change else None,
    )


# --- rules ---


def start_reasons(start: ServiceStart) -> list[str]:
    """Why the case is refused from its own input (the registry's reasons come from an activity)."""
    change = start.change
    if change is not None and change.part == "colour" and change.colour in policy.FORBIDDEN_COLOURS:
        return [f"colour {change.colour} is an armed-forces or taxi colour, which no private car may take (seed 004)"]
    return []


def part_problems(change: dict[str, Any], part: NewPart, registry_fuel: str | None) -> list[str]:
    """Why an invoiced part may not replace the old one (seed 004 «دانستنی های شماره گذاری»)."""
    problems: list[str] = []
    kind = change["part"]
    if not part.new:
        problems.append(f"the new {kind} must be new («نو»)")
    if not part.engraving_intact:
        problems.append("the engraving place of the new part's number must not be ground")
    if kind == "engine":
        if part.cylinders != change["cylinders"]:
            problems.append(f"the new engine must have {change['cylinders']} cylinders like the old one (got {part.cylinders})")
        fuel = registry_fuel or change["fuel"]
        if part.fuel != fuel:
            problems.append(f"the new engine must use the same fuel ({fuel}), got {part.fuel}")
    if kind == "body":
        if part.body_type != change["body_type"]:
            problems.append(f"the new body must be of the same system and type ({change['body_type']}), got {part.body_type}")
        if part.joined_halves:
            problems.append("a body joined from two halves is forbidden")
    return problems


def notice_wait_ends(published_on: date) -> datetime:
    """The first instant at which more than ten days have passed since the publication day:
    midnight (Tehran) at the start of the eleventh day after it, in UTC."""
    day = published_on + policy.DUPLICATE_OWNERSHIP_DOC_NOTICE_WAIT + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=TEHRAN).astimezone(UTC)
