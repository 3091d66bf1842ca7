"""After-numbering services (خدمات بعد از شماره گذاری), seed 004_deeca06ae7fe51fe.

One statechart and one workflow type (``PlateService``) serve every service; what differs is
data in :data:`SERVICES`: the checklist (each entry citing the seed's item), whether an
officer's permit comes first (part change: permit → new part with invoice → re-inspection;
change of use: permit → conversion to the standard → re-inspection), whether a newspaper notice
starts a durable wait (duplicate ownership document: more than 10 days), whether a ماده ۳۰ fine
comes first (unpermitted part or colour change: the officer's finding → the appeal unit's fine →
the bank's payment → the title corrected), the fee, and the registry effect the completing
activity applies.

Services issue 9 added (seed 004 «دانستنی های شماره گذاری»):
- ``unpermitted_change``: «تعویض قطعات اصلی ... و نیز رنگ، بدون مجوز ... ممنوع است»; the fine
  «یک چهارک تا یک هشتم» of the part's or paint's price, set by «واحد رسیدگی به اعتراضات», then
  «در صورت عدم کشف فساد قطعه تعویض شده ... اصلاح سند».
- ``historic_traffic_permit``: «مجوز کتبی ... برای شرکت در مراسم خاص ... با قید تاریخ و مسیر
  تردد»; never a wedding or ceremonial car.
- ``change_of_use``: a truck's body within its group, nothing of its chassis, axles, wheels or
  capacity changed, «صرفا در مراکز شماره گذاری مرکز استان ها».
- ``scrapping`` of a historic car: only after an accident, with the written agreement of the
  traffic police and the working group («با موافقت نامه کتبی از پلیس راهور ناجا و دبیرخانه کارگروه»).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from statemachine import State, StateMachine

from domain import policy
from domain.calendar import add_jalali_months
from domain.commands import ABORT_ROLES, Abort, Code, Command, Day, Note, PositiveRials, ShortCode, Strict, Text
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
    "unpermitted_change",
    "historic_traffic_permit",
    "change_of_use",
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
    fine_first: bool = False
    """ماده ۳۰: the officer records a change made without a permit, the appeal unit sets the fine,
    a bank reports it paid, and only then is the title corrected (its documents are tagged ``title``)."""
    capital_centres_only: bool = False
    """Officers act on it only at a numbering centre of a provincial capital (the token's ``ctr``)."""


UNDERTAKING = "undertaking_form"
HISTORIC_ACCIDENT = "historic_accident"
"""Tag of a historic car's scrapping after an accident: the written agreements are due."""

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
            # «اسقاط نمودن خودروهای تاریخی ممنوع می باشد. لکن چنانچه در صورت بروز هرگونه حادثه
            # غیرمترقبه ... با موافقت نامه کتبی از پلیس راهور ناجا و دبیرخانه کارگروه انجام می گردد»
            Requirement("traffic_police_agreement", "موافقت‌نامه کتبی پلیس راهور ناجا", "historic scrapping", HISTORIC_ACCIDENT),
            Requirement("working_group_agreement", "موافقت‌نامه کتبی دبیرخانه کارگروه", "historic scrapping", HISTORIC_ACCIDENT),
        ),  # 2 the owner's request is the case itself; the officer inspects the car handed in
    ),
    # «ماده ۳۰»: the finding is the officer's record_finding, the fine set_fine (the appeal unit)
    # and pay_fine (a bank); the title is corrected at the centre («اصلاح سند در مراکز تعویض
    # پلاک») with the owner's documents as for a permitted change (ours: part change items 1–2)
    # after a re-inspection finding no corruption («عدم کشف فساد»).
    "unpermitted_change": ServiceDefinition(
        "تعویض قطعه یا تغییر رنگ بدون مجوز (ماده ۳۰)",
        (
            Requirement("vehicle_documents", "مدارک وسیله نقلیه", "part change 1 (ours, for the title)", "title"),
            Requirement(IDENTITY, "شناسنامه جدید یا کارت ملی", "part change 2 (ours, for the title)", "title"),
        ),
        owner_consent=False,
        fine_first=True,
    ),
    # «مجوز کتبی که از طرف پلیس راهور ناجا ... با قید تاریخ و مسیر تردد»: the officer's inspection
    # issues it. The seed lists no documents: these are ours.
    "historic_traffic_permit": ServiceDefinition(
        "مجوز تردد خودروی تاریخی",
        (
            Requirement("event_invitation", "دعوت‌نامه یا مدرک شرکت در مراسم", "historic traffic permit (ours)"),
            Requirement("ownership_document", "اصل سند مالکیت صادره ناجا", "historic traffic permit (ours)"),
            Requirement("third_party_insurance", "بیمه شخص ثالث", "historic traffic permit (ours)"),
            Requirement(IDENTITY, "شناسنامه جدید یا کارت ملی", "historic traffic permit (ours)"),
        ),
        owner_consent=False,
    ),
    # «تبدیل یا تغییر نوع کاربری ... با رعایت ضوابط فنی و استانداردهای ملی»: the officer inspects
    # the truck (its chassis, axles, wheels, capacity) and permits the conversion; after it, the
    # standard's certificate and a re-inspection that finds nothing but the body changed.
    "change_of_use": ServiceDefinition(
        "تغییر کاربری کامیون",
        (
            Requirement("vehicle_documents", "مدارک وسیله نقلیه", "change of use (ours)"),
            Requirement(IDENTITY, "شناسنامه جدید یا کارت ملی", "change of use (ours)"),
            Requirement(
                "standard_certificate",
                "گواهی رعایت ضوابط فنی و استانداردهای ملی",
                "change of use «با رعایت ضوابط فنی و استانداردهای ملی»",
                "permit",
            ),
        ),
        permit_first=True,
        owner_consent=False,
        capital_centres_only=True,
    ),
}
"""Every after-numbering service of seed 004 («خدمات بعد از شماره گذاری»), as data."""


def service_fee_rial(service: str) -> int | None:
    return policy.PLATE_SERVICE_FEE_RIAL.get(service)


# --- commands ---

Part = Literal["engine", "chassis", "body", "colour"]
PART_LABELS = {"engine": "موتور", "chassis": "شاسی", "body": "اتاق", "colour": "رنگ"}
"""Seed 004's «قطعات اصلی وسیله نقلیه (موتور، شاسی، اطاق)» and the colour, in Persian."""


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


TruckBody = Literal[
    "box", "dropside", "side_blade", "flatbed", "roofed", "refrigerated", "cargo_tank", "mixer", "bunker", "tipper"
]
"""A truck's body (its use), as seed 004 names them; :data:`domain.policy.TRUCK_BODY_GROUPS` groups them."""

TRUCK_BODY_LABELS: dict[str, str] = {
    "box": "اتاق دار",
    "dropside": "لبه دار",
    "side_blade": "تیغه دار",
    "flatbed": "کفی",
    "roofed": "سقف دار",
    "refrigerated": "یخچال دار",
    "cargo_tank": "تانکر باری مخزنی",
    "mixer": "میکسر",
    "bunker": "بونکر",
    "tipper": "کمپرسی",
}

TripEvent = Literal["exhibition", "parade", "competition", "international_conference", "special_event", "wedding", "ceremonial"]
"""What a historic car's trip is for; ``wedding`` and ``ceremonial`` are named only to be refused."""

TRIP_EVENT_LABELS: dict[str, str] = {
    "exhibition": "نمایشگاه",
    "parade": "رژه ویژه و ملی",
    "competition": "مسابقه",
    "international_conference": "همایش بین‌المللی",
    "special_event": "مراسم خاص",
    "wedding": "ماشین عروس",
    "ceremonial": "ماشین تشریفات",
}


def body_group(body: str) -> str | None:
    """The group of seed 004 a truck body belongs to (``policy.TRUCK_BODY_GROUPS``)."""
    return next((name for name, bodies in policy.TRUCK_BODY_GROUPS.items() if body in bodies), None)


class UseChange(Strict):
    """``change_of_use``: the truck's body now and the body it is to take."""

    from_body: TruckBody
    to_body: TruckBody

    @model_validator(mode="after")
    def _a_change_within_a_group(self) -> UseChange:
        if self.from_body == self.to_body:
            raise ValueError("to_body is the body the truck has: nothing to change")
        if body_group(self.from_body) != body_group(self.to_body):
            raise ValueError(
                f"a {self.from_body} truck may not become a {self.to_body}: a change of use stays within its group "
                "(seed 004 «در داخل هر گروه به یکدیگر»: "
                + "; ".join(", ".join(sorted(g)) for g in policy.TRUCK_BODY_GROUPS.values())
                + ")"
            )
        return self


class Trip(Strict):
    """``historic_traffic_permit``: the event, the route and the days the permit is for (seed 004
    «با قید تاریخ و مسیر تردد»)."""

    event: TripEvent
    event_name: Text
    route: Note
    """The route, as the permit will state it (from, through, to)."""
    starts_on: Day
    ends_on: Day

    @model_validator(mode="after")
    def _an_event_the_seed_allows(self) -> Trip:
        if self.event in policy.HISTORIC_PERMIT_REFUSED_EVENTS:
            raise ValueError(
                f"a historic car is never permitted on the roads as a {self.event} car (seed 004 «بکارگیری و تردد "
                "خودروها با پلاک تاریخی تحت عنوان ماشین عروس، ماشین تشریفات و ... ممنوع می باشد»)"
            )
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        days = (self.ends_on - self.starts_on).days + 1
        if days > policy.HISTORIC_PERMIT_MAX_DAYS:
            raise ValueError(f"a permit covers at most {policy.HISTORIC_PERMIT_MAX_DAYS} days (asked: {days})")
        return self


class Accident(Strict):
    """``scrapping`` of a historic car: the unforeseen accident that put it out of use (seed 004
    «در صورت بروز هرگونه حادثه غیرمترقبه، از حیث انتفاع (استفاده) خارج گردد»)."""

    occurred_on: Day
    description: Note


class ServiceStart(Strict):
    """``PlateService`` input."""

    service: ServiceName
    vin: Vin
    owner: Person
    change: PartChange | None = None
    """``part_change`` only: the part or the colour being changed."""
    with_government_incentive: bool = False
    """``scrapping`` only: scrapped for the government's incentive (needs the fuel HQ registration)."""
    accident: Accident | None = None
    """``scrapping`` only: the accident after which a historic car may be scrapped (with the
    traffic police's and the working group's written agreements); ignored for other cars."""
    trip: Trip | None = None
    """``historic_traffic_permit`` only: what the permit is for."""
    use_change: UseChange | None = None
    """``change_of_use`` only: the truck's body now and the one it is to take."""

    @model_validator(mode="after")
    def _change_only_for_part_change(self) -> ServiceStart:
        if (self.service == "part_change") != (self.change is not None):
            raise ValueError("change is required for part_change and only for it")
        if self.with_government_incentive and self.service != "scrapping":
            raise ValueError("with_government_incentive is only for scrapping")
        if self.accident is not None and self.service != "scrapping":
            raise ValueError("accident is only for scrapping")
        if (self.service == "historic_traffic_permit") != (self.trip is not None):
            raise ValueError("trip is required for historic_traffic_permit and only for it")
        if (self.service == "change_of_use") != (self.use_change is not None):
            raise ValueError("use_change is required for change_of_use and only for it")
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


class TruckFacts(Strict):
    """What the officer measures on a truck whose use changes: before the permit and after the
    conversion everything but the body must be the same (seed 004, ``policy.CHANGE_OF_USE_FIXED``)."""

    body: TruckBody
    chassis_length_mm: int = Field(ge=1_000, le=30_000, strict=True)
    axles: int = Field(ge=2, le=10, strict=True)
    axle_positions_mm: list[Annotated[int, Field(ge=0, le=30_000, strict=True)]] = Field(min_length=2, max_length=10)
    """Each axle's distance from the front of the chassis, front to back."""
    wheels: int = Field(ge=4, le=40, strict=True)
    capacity_kg: int = Field(ge=100, le=100_000, strict=True)

    @model_validator(mode="after")
    def _one_position_per_axle(self) -> TruckFacts:
        if len(self.axle_positions_mm) != self.axles:
            raise ValueError(f"axle_positions_mm names {len(self.axle_positions_mm)} positions for {self.axles} axles")
        if any(not 0 <= p <= self.chassis_length_mm for p in self.axle_positions_mm):
            raise ValueError("every axle position lies on the chassis (0 to chassis_length_mm)")
        return self


class ServiceInspect(Inspect):
    truck: TruckFacts | None = None
    """``change_of_use``: what the officer measured (required for a passing inspection)."""


class RecordFinding(Command):
    """ماده ۳۰: what the officer found changed without a permit, and the price of the part or paint."""

    part: Part
    colour: ShortCode | None = None
    """A colour change: the colour the car now has."""
    price_rial: PositiveRials
    """The price of the changed part or of the paint, as the officer recorded it: the fine's base."""
    notes: Note | None = None

    @model_validator(mode="after")
    def _colour_for_a_colour(self) -> RecordFinding:
        if (self.part == "colour") != (self.colour is not None):
            raise ValueError("colour names the colour found, for a colour change and only for it")
        return self


class SetFine(Command):
    """ماده ۳۰: the appeal unit's fine (rials)."""

    fine_rial: PositiveRials
    notes: Note | None = None


UPDATE_ROLES: dict[str, frozenset[str]] = {
    "submit_document": frozenset({"applicant", "owner", "officer"}),
    "inspect": frozenset({"officer"}),
    "record_finding": frozenset({"officer"}),
    "set_fine": frozenset({policy.ARTICLE_30_APPEAL_UNIT_ROLE}),
    "pay_fine": frozenset({"bank"}),
    "consent": frozenset({"owner"}),
    "pay_fee": frozenset({"bank"}),
    "cancel": frozenset({"applicant", "owner"}),
    "abort": ABORT_ROLES,
}
COMMANDS: dict[str, type[Command]] = {
    "submit_document": SubmitServiceDocument,
    "inspect": ServiceInspect,
    "record_finding": RecordFinding,
    "set_fine": SetFine,
    "pay_fine": PayPlateFee,
    "consent": Command,
    "pay_fee": PayPlateFee,
    "cancel": Command,
    "abort": Abort,
}


# --- the machine every service shares ---


class PlateServiceMachine(StateMachine):
    """A plate-centre service: documents and inspection, then a permit stage, a notice period or
    the fee as the service's definition says, then done. A ماده ۳۰ case (``is_violation``) goes
    instead from the officer's finding to the appeal unit's fine, its payment and the title's
    correction after a re-inspection."""

    Open = State("تشکیل پرونده خدمت", initial=True)
    Permitted = State("مجوز صادر شد؛ منتظر تعویض و بازدید مجدد")
    NoticePeriod = State("مهلت پس از آگهی روزنامه")
    AwaitingFee = State("منتظر پرداخت")
    FineDecision = State("تخلف ثبت شد؛ منتظر تعیین جریمه توسط واحد رسیدگی به اعتراضات")
    AwaitingFine = State("منتظر پرداخت جریمه")
    TitleCorrection = State("جریمه پرداخت شد؛ منتظر بازدید مجدد و اصلاح سند")
    Completed = State("انجام شد", final=True)
    Rejected = State("رد شد", final=True)
    Cancelled = State("انصراف", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    eligibility_failed = Open.to(Rejected)
    submit_document = (
        Open.to.itself(internal=True, cond="is_request")
        | Permitted.to.itself(internal=True)
        | TitleCorrection.to.itself(internal=True)
    )
    consent = Open.to.itself(internal=True)
    inspect = (
        Open.to(Rejected, cond=["inspection_failed", "is_request"])
        | Open.to.itself(internal=True, cond="is_request")
        | Permitted.to(Rejected, cond="inspection_failed")
        | Permitted.to.itself(internal=True)
        | TitleCorrection.to(Rejected, cond="inspection_failed")
        | TitleCorrection.to.itself(internal=True)
    )
    record_finding = Open.to(FineDecision, cond="is_violation")
    set_fine = FineDecision.to(AwaitingFine)
    pay_fine = AwaitingFine.to(TitleCorrection)
    stage_complete = (
        Open.to(Permitted, cond=["stage_ready", "needs_permit"])
        | Open.to(NoticePeriod, cond=["stage_ready", "needs_notice_wait"])
        | Open.to(AwaitingFee, cond=["stage_ready", "has_fee"])
        | Open.to(Completed, cond="stage_ready")
        | Permitted.to(AwaitingFee, cond=["stage_ready", "has_fee"])
        | Permitted.to(Completed, cond="stage_ready")
        | TitleCorrection.to(Completed, cond="stage_ready")
    )
    notice_period_over = NoticePeriod.to(AwaitingFee)
    pay_fee = AwaitingFee.to(Completed)
    registry_refused = Open.to(Rejected) | Permitted.to(Rejected) | AwaitingFee.to(Rejected) | TitleCorrection.to(Rejected)
    """The registry refused the completion: the applicant no longer owns the car, or it was
    scrapped (the case ends; see :func:`workflows.plate_common.end_if_vehicle_changed`)."""
    cancel = (
        Open.to(Cancelled, cond="is_request") | Permitted.to(Cancelled) | NoticePeriod.to(Cancelled) | AwaitingFee.to(Cancelled)
    )
    """Our choice: a ماده ۳۰ finding is not the owner's to withdraw (an operator may ``abort``)."""

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
    title_documents: list[str] = field(default_factory=list)
    """ماده ۳۰: the documents due once the fine is paid, for the title's correction."""
    finding: dict[str, Any] | None = None
    """ماده ۳۰: the officer's finding, ``{"part", "colour"?, "price_rial", "notes", "officer", "at"}``."""
    fine: dict[str, Any] | None = None
    """ماده ۳۰: the appeal unit's decision, ``{"fine_rial", "notes", "by", "at"}``."""
    fine_payment_ref: str | None = None
    trip: dict[str, Any] | None = None
    """Historic traffic permit: the event, route and days asked (ISO dates)."""
    accident: dict[str, Any] | None = None
    """Scrapping: the accident the start named (a historic car's scrapping needs one)."""
    use_change: dict[str, Any] | None = None
    """Change of use: ``{"from_body", "to_body"}``."""
    vehicle_kind: str | None = None
    plate_category: str | None = None
    """The registry's facts at the start (read by the new services' rules)."""
    capital_centres: list[str] | None = None
    """Change of use: the provincial-capital centres whose officers may act (reference data read
    at the start); ``None`` until read, and for every other service."""
    review: bool = False
    """``PLATE_REVIEW``: only the officer files a proof of residence, held to seed 004 strictly
    and kept with the document (as numbering and transfer)."""

    @property
    def definition(self) -> ServiceDefinition:
        return SERVICES[self.service]

    @property
    def stage(self) -> str:
        return self.state if self.state in STAGES else "Open"

    def stage_documents(self) -> list[str]:
        if self.stage == "Permitted":
            return list(self.permit_documents)
        if self.stage == "TitleCorrection":
            return list(self.title_documents)
        return [k for k in self.checklist if k not in self.permit_documents and k not in self.title_documents]

    @property
    def is_violation(self) -> bool:
        """A ماده ۳۰ case: it opens with the officer's finding, not with documents."""
        return self.definition.fine_first

    @property
    def is_request(self) -> bool:
        """Every other service: the owner's request, opened with documents and an inspection."""
        return not self.definition.fine_first

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


STAGES = ("Permitted", "TitleCorrection")
"""States with documents and an inspection of their own (beside ``Open``)."""

OPEN_STAGES = ("Open", *STAGES)
"""States in which documents and inspections are taken (and may complete the service)."""

STEP_STATES = (*OPEN_STAGES, "FineDecision", "AwaitingFine")
"""States whose ``status.missing`` names what the case waits for."""

MORE_SERVICES = frozenset({"unpermitted_change", "historic_traffic_permit", "change_of_use"})
"""The services issue 9 added: they start with ``check_service_vehicle`` (no earlier case ran them)."""

INSPECTION_NAMES = {
    "Open": "the officer's inspection",
    "Permitted": "the officer's re-inspection",
    "TitleCorrection": "the officer's re-inspection finding no corruption in the changed part («عدم کشف فساد»)",
}


def stage_missing(file: ServiceFile) -> list[str]:
    """What the current stage still lacks: its documents and its inspection (ماده ۳۰: the step due)."""
    if file.is_violation and file.state in (None, "Open", "FineDecision", "AwaitingFine"):
        return [
            {
                "FineDecision": "the appeal unit's fine (set_fine)",
                "AwaitingFine": "the fine's payment (pay_fine, by a bank)",
            }.get(file.state or "Open", "the officer's finding (record_finding)")
        ]
    out = [k for k in file.stage_documents() if not file.checklist[k]]
    last = file.inspections.get(file.stage)
    if not (last and last["passed"]):
        out.append(INSPECTION_NAMES[file.stage])
    if file.awaits_consent:
        out.append("the owner's consent (update consent, with the owner's own token)")
    return out


def service_file(start: ServiceStart) -> ServiceFile:
    definition = SERVICES[start.service]
    # A colour change has no invoiced part: its permit stage asks no document.
    tags = {"permit"} if definition.permit_first and not (start.change and start.change.part == "colour") else set()
    if start.with_government_incentive:
        tags.add("incentive")
    if definition.fine_first:
        tags.add("title")
    kinds = checklist_kinds(definition.documents, tags)
    permit_docs = [r.kind for r in definition.documents if r.only_for == "permit" and r.kind in kinds]
    title_docs = [r.kind for r in definition.documents if r.only_for == "title" and r.kind in kinds]
    return ServiceFile(
        service=start.service,
        vin=start.vin,
        owner_national_id=start.owner.national_id,
        checklist={k: False for k in kinds},
        permit_documents=permit_docs,
        fee_rial=service_fee_rial(start.service),
        change=start.change.model_dump(mode="json", exclude_none=True) if start.change else None,
        title_documents=title_docs,
        trip=start.trip.model_dump(mode="json") if start.trip else None,
        accident=start.accident.model_dump(mode="json") if start.accident else None,
        use_change=start.use_change.model_dump(mode="json") if start.use_change else None,
    )


def add_historic_accident_documents(file: ServiceFile) -> list[str]:
    """A historic car scrapped after an accident: add the written agreements to the checklist
    (seed 004 «با موافقت نامه کتبی از پلیس راهور ناجا و دبیرخانه کارگروه»); returns the kinds added."""
    added = [k for k in checklist_kinds(file.definition.documents, {HISTORIC_ACCIDENT}) if k not in file.checklist]
    for kind in added:
        file.checklist[kind] = False
    return added


# --- rules ---


def start_reasons(start: ServiceStart, today: date | None = None) -> list[str]:
    """Why the case is refused from its own input and ``today`` (Tehran; the registry's reasons
    come from an activity)."""
    change = start.change
    if change is not None and change.part == "colour" and change.colour in policy.FORBIDDEN_COLOURS:
        return [f"colour {change.colour} is an armed-forces or taxi colour, which no private car may take (seed 004)"]
    reasons: list[str] = []
    if today is not None and start.trip is not None:
        reasons += trip_date_problems(start.trip.starts_on, start.trip.ends_on, today)
        latest = add_jalali_months(today, policy.HISTORIC_PERMIT_MAX_LEAD_MONTHS)
        if start.trip.starts_on > latest:
            reasons.append(
                f"the trip starts on {start.trip.starts_on}, more than {policy.HISTORIC_PERMIT_MAX_LEAD_MONTHS} "
                f"Jalali months ahead (the latest first day now is {latest}; our bound)"
            )
    if today is not None and start.accident is not None and start.accident.occurred_on > today:
        reasons.append("the accident's day is in the future")
    return reasons


def trip_date_problems(starts_on: date, ends_on: date, today: date) -> list[str]:
    """A historic traffic permit is for days to come: asked, or issued, before its first day has
    passed (seed 004 «با قید تاریخ»; that it cannot be for days gone by is ours)."""
    if starts_on < today:
        return [f"the trip's first day ({starts_on}) has passed (today is {today} in Tehran)"]
    return []


def registry_reasons(file: ServiceFile, kind: str | None, plate_category: str | None, body: str | None) -> list[str]:
    """Why the registry's facts about the vehicle refuse the new services (seed 004)."""
    reasons: list[str] = []
    if file.service == "historic_traffic_permit" and plate_category != "historic":
        reasons.append(
            "only a car on historic plates needs a traffic permit (seed 004 «تردد خودروهای دارای پلاک تاریخی در سطح "
            f"معابر عمومی ممنوع می باشد مگر با صدور مجوز کتبی»); this car's plate is {plate_category or 'none'}"
        )
    if file.service == "change_of_use" and file.use_change is not None:
        if kind not in policy.CHANGE_OF_USE_KINDS:
            reasons.append(
                "a change of use is for trucks and light trucks (seed 004 «وسایل نقلیه باربری»: "
                f"{', '.join(sorted(policy.CHANGE_OF_USE_KINDS))}); the registry records a {kind or 'vehicle of unknown kind'}"
            )
        if body is not None and body != file.use_change["from_body"]:
            reasons.append(f"the registry records the truck's body as {body}, not {file.use_change['from_body']}")
    return reasons


def fine_bounds(price_rial: int) -> tuple[int, int]:
    """The ماده ۳۰ fine's bounds in whole rials: «یک چهارک تا یک هشتم» of the price (seed 004)."""
    low = policy.ARTICLE_30_FINE_MIN_SHARE * price_rial
    high = policy.ARTICLE_30_FINE_MAX_SHARE * price_rial
    return math.ceil(low), math.floor(high)


def fine_problem(price_rial: int, fine_rial: int) -> str | None:
    """Why the appeal unit's fine is refused: outside 1/8 to 1/4 of the price the officer recorded."""
    low, high = fine_bounds(price_rial)
    if low <= fine_rial <= high:
        return None
    return (
        f"fine_rial must be between 1/8 and 1/4 of the recorded price of {price_rial} rials, i.e. {low} to {high} "
        f"(seed 004 «یک چهارک تا یک هشتم قیمت قطعه و یا رنگ تغییر یافته»), got {fine_rial}"
    )


def title_problem(change: dict[str, Any] | None) -> str | None:
    """Why a title may not be corrected to the change found: an armed-forces or taxi colour never
    goes on a private car's title (seed 004 «بجز رنگ خودروهای نیروهای مسلح و تاکسی»). Our choice:
    the fine is still due, and the re-inspection can then only fail (the title is not corrected)."""
    if change and change.get("part") == "colour" and change.get("colour") in policy.FORBIDDEN_COLOURS:
        return f"the title cannot take colour {change['colour']}, an armed-forces or taxi colour (seed 004)"
    return None


def truck_problems(use_change: dict[str, Any], before: dict[str, Any] | None, truck: TruckFacts) -> list[str]:
    """Why a truck's measured facts are refused: at the first inspection its body must be the one
    the case changes from; at the re-inspection the new body, and nothing else changed (seed 004
    «هرگونه تغییر مانند افزایش یا کاهش طول شاسی، تعداد محور یا چرخ، تغییر محل محورها و افزایش ظرفیت
    ... اکیدا ممنوع می باشد»)."""
    if before is None:
        if truck.body != use_change["from_body"]:
            return [f"the truck's body is {truck.body}, but the case changes a {use_change['from_body']}"]
        return []
    problems = []
    if truck.body != use_change["to_body"]:
        problems.append(f"the converted truck's body is {truck.body}, but the permit is for a {use_change['to_body']}")
    for name in policy.CHANGE_OF_USE_FIXED:
        was, now = before[name], getattr(truck, name)
        if was != now:
            problems.append(f"{name} changed from {was} to {now}, which a change of use may never change")
    return problems


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
