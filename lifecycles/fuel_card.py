"""A fuel card's issuance as a case (``FuelCard``), seed 002_5f5d7fd182bbe256.

A request for one vehicle (VIN and plate, its owner) of kind ``new`` (a new or plate-changed
vehicle: «نیاز به ثبت نام در سایت نیست. کافی است برای دریافت این کارت به دفاتر پستی مراجعه کنید.
این امکان شامل حال ماشین های تعویض پلاکی نیز می شود») or ``duplicate`` (کارت سوخت المثنی: «مفقود شدن و
صدمه دیدن کارت سوخت همچنین عدم تحویل کارت به خریدار در زمان معامله»).

- Channels: ``post_office`` (a new card), ``police10`` (either kind), ``ussd`` / ``app`` (a
  duplicate, «کد دستوری موبایل» / «اپلیکیشن دولت همراه») only when the applicant owns the car, owns
  the SIM and the national ids match («شخص اقدام کننده باید صاحب خودرو باشد ... مالک سیم کارت باشد
  ... کد ملی حتما با مشخصات مالک و دارنده سیم کارت یکسان باشد»), otherwise refused naming Police+10
  («برای ثبت نام باید به دفاتر پلیس۱۰+ مراجعه کنید»); ``numbering`` (a new card requested by the
  vehicle's numbering itself, a child case). The SIM's holder is not the applicant's word: the
  USSD/app gateway puts the mobile operator's SIM inquiry into the request (``sim_owner_national_id``).
  Legal entities only with an official letter («معرفی نامه رسمی ... با مهر و امضای رسمی»), in person.
- Eligibility at the start, judged by an activity over the registry: no card for a worn-out vehicle
  by seed 002's own table (``policy.WORN_OUT_AGE_YEARS_FUEL``) nor a motorcycle ten years old
  («اگر موتورسیکلتی از تاریخ ساختش ۱۰ سال گذشته باشد»); an old-plate car gets a duplicate only
  after a plate change («فقط در صورت تعویض پلاک»); one open request per vehicle (the database).
- The issuer (role ``fuel_office``, the national oil products distribution company) reports the
  card made (``issued``): the card is recorded (a duplicate expires the old card first and zeroes
  its balance) and its PIN set to the last four digits of the owner's national id, as a salted
  hash in the registry only.
- Delivery: by post to the exact address with its 10-digit postcode, postage paid (a bank reports
  it), dispatched and delivered by the post office; or collected at the post office with the
  listed documents («کارت، شناسنامه مالکیت خودرو، سند خودرو و همچنین کارت شناسایی معتبر صاحب خودرو»;
  the owner's presence is not required).
- Timers (calendar days in Tehran): a follow-up notice to the applicant when the card has not
  arrived 20 days after a new card's request (45 for a duplicate), an operator alert at 60 days
  (two Jalali months for a duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator
from statemachine import State, StateMachine

from domain import policy
from domain.calendar import add_months_at
from domain.commands import (
    ABORT_ROLES,
    Abort,
    Code,
    Command,
    Day,
    NationalId,
    PaymentRef,
    PersonName,
    PositiveRials,
    Strict,
    Text,
)
from domain.display import TEHRAN
from lifecycles.fuel_cards import DuplicateReason, is_worn_out, worn_out_age_years
from lifecycles.plates import Vin

RequestKind = Literal["new", "duplicate"]
Channel = Literal["post_office", "police10", "ussd", "app", "numbering"]
DeliveryMethod = Literal["post", "collect"]
PlateText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
"""A plate as the registry spells it (``vehicles.plate``)."""
Postcode = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")]
"""«کدپستی»: ten digits (``policy.FUEL_CARD_POSTCODE_DIGITS``)."""
EntityId = Annotated[str, StringConstraints(pattern=r"^[0-9]{11}$")]
"""A legal entity's national id (شناسه ملی): eleven digits."""
CardNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{8,20}$")]
"""A fuel card's number (``fuel_cards.card_number``): 8 to 20 digits (ours)."""
VehicleDocument = Literal["vehicle_card", "ownership_certificate", "title_deed"]
"""«مدارک شناسایی ماشین از جمله کارت، شناسنامه مالکیت خودرو، سند خودرو» (seed 002)."""

CHANNEL_ROLES: dict[str, str] = {"post_office": "post_office", "police10": "police10", "ussd": "owner", "app": "owner"}
"""Who may start a request given through each channel (``numbering``: only a parent workflow)."""

CHANNELS_BY_KIND: dict[str, frozenset[str]] = {
    "new": frozenset({"post_office", "police10", "numbering"}),
    "duplicate": frozenset({"ussd", "app", "police10"}),
}
"""Seed 002: a new car's card at the post office («به دفاتر پستی مراجعه کنید»); a duplicate by the
app, USSD or Police+10 («استفاده از اپلیکیشن دولت همراه، استفاده از کد دستوری موبایل ... ثبت نام حضوری
در دفاتر پلیس+۱۰»). Police+10 for a new card is ours (the seed sends follow-ups there)."""

SELF_SERVICE = frozenset({"ussd", "app"})


class Applicant(Strict):
    national_id: NationalId
    full_name: PersonName
    sim_owner_national_id: NationalId | None = None
    """``ussd``/``app``: the holder of the applicant's SIM as the mobile operator's inquiry says (the
    gateway fills it in; the applicant does not). Required for those channels."""


class LegalEntity(Strict):
    """A car owned by an organisation: requested by its representative (the applicant) with the
    organisation's official letter («معرفی نامه رسمی از سازمان یا شرکت مربوطه با مهر و امضای رسمی»)."""

    entity_id: EntityId
    name: PersonName
    letter_number: Code
    letter_date: Day


class Delivery(Strict):
    method: DeliveryMethod
    address: Text | None = None
    postcode: Postcode | None = None

    @model_validator(mode="after")
    def _address_for_post(self) -> Delivery:
        if self.method == "post" and (self.address is None or self.postcode is None):
            raise ValueError("a card sent by post needs the exact address and its 10-digit postcode (seed 002)")
        if self.method == "collect" and (self.address is not None or self.postcode is not None):
            raise ValueError("a card collected at the post office takes no address")
        return self


class FuelCardStart(Strict):
    """``FuelCard`` input."""

    vin: Vin
    plate: PlateText
    kind: RequestKind
    reason: DuplicateReason | None = None
    channel: Channel
    applicant: Applicant
    legal_entity: LegalEntity | None = None
    delivery: Delivery

    @model_validator(mode="after")
    def _consistent(self) -> FuelCardStart:
        if (self.kind == "duplicate") != (self.reason is not None):
            raise ValueError("reason (lost, damaged, not_handed_over) is required for a duplicate and only for it")
        if self.channel not in CHANNELS_BY_KIND[self.kind]:
            raise ValueError(
                f"a {self.kind} card is not requested through {self.channel} "
                f"(only {', '.join(sorted(CHANNELS_BY_KIND[self.kind]))}; seed 002)"
            )
        if self.channel in SELF_SERVICE and self.applicant.sim_owner_national_id is None:
            raise ValueError(f"a {self.channel} request carries the SIM inquiry's sim_owner_national_id")
        if self.legal_entity is not None and self.channel not in ("post_office", "police10"):
            raise ValueError("a legal entity applies in person with its official letter (post_office or police10)")
        if self.channel == "numbering" and self.delivery.method != "collect":
            # Its grant names only the case's id: whoever spends it, the card waits at the post office
            # for the registered owner's documents, so a start racing the numbering's gains nothing.
            raise ValueError("a request through numbering is collected at the post office")
        return self


class PayPostage(Command):
    payment_ref: PaymentRef
    amount_rial: PositiveRials


class Issued(Command):
    """The issuer reports the card made: its number (never its PIN)."""

    card_number: CardNumber


class Dispatch(Command):
    tracking_number: Code
    """The post's parcel number («شماره مرسوله»)."""


class Undeliverable(Command):
    notes: Text


class Collect(Command):
    """Collection at the post office with the listed documents; the owner need not come."""

    collector_national_id: NationalId
    vehicle_documents: list[VehicleDocument] = Field(min_length=1, max_length=3)
    owner_id_document: bool = Field(strict=True)
    """«کارت شناسایی معتبر صاحب خودرو»: the owner's valid identity document was shown."""

    @model_validator(mode="after")
    def _owner_id(self) -> Collect:
        if not self.owner_id_document:
            raise ValueError("the owner's valid identity document is required (seed 002 «کارت شناسایی معتبر صاحب خودرو»)")
        if len(set(self.vehicle_documents)) != len(self.vehicle_documents):
            raise ValueError("vehicle_documents lists each document once")
        return self


UPDATE_ROLES: dict[str, frozenset[str]] = {
    "pay_postage": frozenset({"bank"}),
    "issued": frozenset({"fuel_office"}),
    "dispatch": frozenset({"post_office"}),
    "deliver": frozenset({"post_office"}),
    "undeliverable": frozenset({"post_office"}),
    "collect": frozenset({"post_office"}),
    "abort": ABORT_ROLES,
}
COMMANDS: dict[str, type[Command]] = {
    "pay_postage": PayPostage,
    "issued": Issued,
    "dispatch": Dispatch,
    "deliver": Command,
    "undeliverable": Undeliverable,
    "collect": Collect,
    "abort": Abort,
}


class FuelCardMachine(StateMachine):
    """Request → eligibility → issuing → by post (dispatched, delivered) or at the post office."""

    Requested = State("درخواست ثبت شد؛ بررسی شرایط", initial=True)
    Issuing = State("در حال صدور کارت سوخت")
    Issued = State("کارت صادر شد؛ منتظر ارسال پستی")
    Dispatched = State("کارت با پست ارسال شد")
    AwaitingCollection = State("کارت در اداره پست آماده تحویل است")
    Delivered = State("کارت به نشانی متقاضی تحویل شد", final=True)
    Collected = State("کارت از اداره پست تحویل گرفته شد", final=True)
    Rejected = State("درخواست رد شد", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    eligible = Requested.to(Issuing)
    eligibility_failed = Requested.to(Rejected)
    pay_postage = (
        Requested.to.itself(internal=True, cond="postage_due")
        | Issuing.to.itself(internal=True, cond="postage_due")
        | Issued.to.itself(internal=True, cond="postage_due")
    )
    issued = Issuing.to(Issued, cond="by_post") | Issuing.to(AwaitingCollection)
    dispatch = Issued.to(Dispatched, cond="postage_paid")
    deliver = Dispatched.to(Delivered)
    undeliverable = Dispatched.to(AwaitingCollection)
    """Ours: a parcel the post could not deliver waits at the post office for collection."""
    collect = AwaitingCollection.to(Collected)
    abort = Aborted.from_.any()


@dataclass
class CardRequest:
    """What a request holds; the guards read it, the machine keeps ``state``."""

    vin: str
    plate: str
    kind: str
    channel: str
    delivery: str
    reason: str | None = None
    state: str | None = None
    requested_at: str | None = None
    follow_up_at: str | None = None
    alert_at: str | None = None
    followed_up: bool = False
    alerted: bool = False
    eligibility_checked: bool = False
    rejection_reasons: list[str] = field(default_factory=list)
    use: str | None = None
    postage_rial: int | None = None
    postage_payment_ref: str | None = None
    card_number: str | None = None
    old_card_number: str | None = None
    zeroed_litres: str | None = None
    tracking_number: str | None = None
    delivered: dict[str, Any] | None = None

    @property
    def by_post(self) -> bool:
        return self.delivery == "post"

    @property
    def postage_due(self) -> bool:
        return self.by_post and self.postage_payment_ref is None

    @property
    def postage_paid(self) -> bool:
        return self.postage_payment_ref is not None


OPEN_STATES = ("Requested", "Issuing", "Issued", "Dispatched", "AwaitingCollection")
"""States in which the card has not reached the applicant (the follow-up and alert timers run)."""


def card_request(start: FuelCardStart) -> CardRequest:
    return CardRequest(
        vin=start.vin,
        plate=start.plate,
        kind=start.kind,
        channel=start.channel,
        delivery=start.delivery.method,
        reason=start.reason,
        postage_rial=policy.FUEL_CARD_POSTAGE_RIAL if start.delivery.method == "post" else None,
    )


# --- rules ---


def after_tehran_days(at: datetime, days: int) -> datetime:
    """The instant ``days`` calendar days after ``at`` at the same wall-clock time in Tehran."""
    local = at.astimezone(TEHRAN)
    return datetime.combine(local.date() + timedelta(days=days), local.timetz())


def follow_up_at(kind: str, requested: datetime) -> datetime:
    """When the applicant is told how to follow the card up (seed 002: 20 days; a duplicate 45)."""
    return after_tehran_days(requested, policy.FUEL_CARD_FOLLOW_UP_DAYS[kind])


def alert_at(kind: str, requested: datetime) -> datetime:
    """When operators are alerted that the card has still not arrived (seed 002: 60 days; a
    duplicate two Jalali months)."""
    if kind == "duplicate":
        return add_months_at(requested, policy.FUEL_CARD_DUPLICATE_ALERT_MONTHS)
    return after_tehran_days(requested, policy.FUEL_CARD_ALERT_DAYS)


def channel_reasons(start: FuelCardStart) -> list[str]:
    """Why the request's own input refuses it (the registry's reasons come from an activity)."""
    sim = start.applicant.sim_owner_national_id
    if start.channel in SELF_SERVICE and sim != start.applicant.national_id:
        return [
            f"a {start.channel} request needs the applicant to hold the SIM in their own name with the same national id "
            "(seed 002 «شخص اقدام کننده باید مالک سیم کارت باشد»); register at a Police+10 office instead "
            "(«برای ثبت نام باید به دفاتر پلیس۱۰+ مراجعه کنید»)"
        ]
    return []


WORN_OUT_CLASS_BY_KIND: dict[str, str] = {
    "passenger_car": "private_car",
    "government_car": "government_car",
    "taxi": "taxi",
    "minibus": "minibus",
    "city_bus": "city_bus",
    "intercity_bus": "intercity_bus",
    "tractor_unit": "tractor_unit",
    "pickup": "pickup",
    "motorcycle": "motorcycle",
}
"""Which row of seed 002's worn-out table a vehicle kind falls under («سایر وسائل نقلیه»: ``other``)."""

DUAL_FUELS = frozenset({"dual_fuel", "cng", "lpg"})


def use_for(kind: str | None, fuel: str | None) -> str | None:
    """The quota use of a vehicle (ours: the registry knows kind and fuel, the quota table names
    uses); ``None`` when it takes no petrol card (electric, a bare chassis)."""
    if fuel == "electric" or kind in (None, "chassis"):
        return None
    dual = fuel in DUAL_FUELS
    if kind == "motorcycle":
        return "motorcycle"
    if kind == "taxi":
        return "taxi_dual_fuel" if dual else "taxi_petrol"
    if kind == "pickup":
        return "pickup_low_consumption_dual_fuel" if dual else "pickup_low_consumption_petrol"
    if kind == "light_truck":
        return "pickup_high_consumption_dual_fuel" if dual else "pickup_high_consumption_petrol"
    if kind in ("minibus", "city_bus", "intercity_bus"):
        return kind
    if kind in ("truck", "tractor_unit"):
        return "truck"
    return "private_dual_fuel" if dual else "private_petrol"


def worn_out_reason(kind: str | None, production_year: int | None, year: int) -> str | None:
    """Why seed 002 gives this vehicle no card in calendar year ``year`` (model years)."""
    if production_year is None:
        return None
    age = year - production_year
    if kind == "motorcycle" and age >= policy.FUEL_CARD_MOTORCYCLE_MAX_AGE_YEARS:
        return (
            f"a motorcycle {age} years after its production gets no fuel card (seed 002 «اگر موتورسیکلتی از تاریخ ساختش "
            "۱۰ سال گذشته باشد، دیگر امکان دریافت کارت سوخت ندارد»); ask at a Police+10 office"
        )
    worn_class = WORN_OUT_CLASS_BY_KIND.get(kind or "", "other")
    if is_worn_out(worn_class, production_year, year):
        return (
            f"a worn-out vehicle gets no fuel card (seed 002 «به خودروهای فرسوده، کارت سوخت تعلق نمی گیرد»): "
            f"a {worn_class} is worn out at {worn_out_age_years(worn_class)} years, this one is {age}"
        )
    return None


def pin_of(national_id: str) -> str:
    """«رمز این کارت ۴ رقم آخر کد ملی مالک خودرو است» (seed 002). Used only inside the activity that
    stores the PIN's hash: never in a workflow."""
    return national_id[-policy.FUEL_CARD_PIN_DIGITS :]
