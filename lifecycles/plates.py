"""Plate numbering and transfer (شماره‌گذاری و تعویض پلاک), seed 004_deeca06ae7fe51fe.

The statecharts of ``VehicleNumbering`` and ``PlateTransfer``, each category's document
checklist as data (every entry cites the seed's numbered item), the commands with their field
rules, the plate number's canonical form, and the pure eligibility rules. Registry-dependent
checks (a VIN already numbered, the registry's owner, a title lock) run in activities.

Where each rule rejects:
- malformed input (VIN, national id, unknown category or kind) refuses the workflow's start;
- a policy rule about the case (import ban, worn-out age, historic class, veteran/disabled
  conditions, registry checks) moves the case to ``Rejected`` with ``rejection_reasons``;
- a command the case cannot take (state, role, identity, a document outside the checklist,
  a wrong fee amount) is refused by the update's validator; the case does not change.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator
from statemachine import State, StateMachine

from domain import policy
from domain.calendar import add_jalali_years
from domain.commands import (
    ABORT_ROLES,
    Abort,
    Code,
    Command,
    Day,
    NationalId,
    Note,
    PaymentRef,
    PersonName,
    PositiveRials,
    Strict,
)
from domain.identifiers import normalize_vin
from lifecycles.residence import ResidenceProof, residence_problems

# --- shared vocabulary ---

Vin = Annotated[str, AfterValidator(normalize_vin)]
"""17 characters, digits and capital letters except I, O and Q (ISO 3779), in its one spelling
(:func:`domain.identifiers.normalize_vin`): "VIN\\n" and "vin" are the same car, never a second one."""
RegionCode = Annotated[str, Field(pattern=r"^[1-9][0-9]$")]
"""The plate's two-digit region code (10–99)."""

Category = Literal["imported", "auction", "temporary_transit", "historic", "veteran"]
VehicleKind = Literal[
    "passenger_car",
    "taxi",
    "government_car",
    "pickup",
    "light_truck",
    "truck",
    "tractor_unit",
    "minibus",
    "city_bus",
    "intercity_bus",
    "motorcycle",
    "chassis",
]
Fuel = Literal["petrol", "diesel", "dual_fuel", "cng", "lpg", "hybrid", "electric"]
Origin = Literal["domestic", "imported"]
DisabilityDegree = Literal["mild", "medium", "severe", "very_severe"]
HistoricClass = Literal["precious", "unique", "special"]

CATEGORY_LABELS: dict[str, str] = {
    "imported": "وارداتی",
    "auction": "مزایده‌ای",
    "temporary_transit": "گذر موقت",
    "historic": "تاریخی",
    "veteran": "جانبازان و معلولین",
}

IMPORT_BAN_CLASS: dict[str, str] = {
    "passenger_car": "passenger_car",
    "taxi": "passenger_car",
    "government_car": "passenger_car",
    "truck": "truck",
    "light_truck": "truck",
    "tractor_unit": "truck",
    "minibus": "bus",
    "city_bus": "bus",
    "intercity_bus": "bus",
    "chassis": "chassis",
}
"""Which of seed 004's import bans («سواری»; «کامیون و اتوبوس و شاسی») a kind falls under."""

WORN_OUT_AGE_YEARS = {**policy.WORN_OUT_AGE_YEARS_PLATES, **policy.WORN_OUT_AGE_YEARS_PLATES_EXTRA}


# --- the plate number ---

PLATE_FORM = "NN{letter}NNN-RR"
"""Canonical plate string: two digits (10–99), one Persian letter, three digits (100–999), a
hyphen, the two-digit region code; ASCII digits, e.g. ``12ب345-67`` (the plate reads
«۱۲ ب ۳۴۵ ایران ۶۷»)."""

PLATE_PATTERN = re.compile(r"^[1-9][0-9][\u0600-\u06FF][1-9][0-9]{2}-[1-9][0-9]$")


def plate_letters(category: str) -> str:
    """The letter series a category's plates are drawn from."""
    return policy.PLATE_LETTERS_VETERAN if category == "veteran" else policy.PLATE_LETTERS_PRIVATE


def plate_candidate(workflow_id: str, attempt: int, category: str, region_code: str) -> str:
    """The ``attempt``-th candidate plate of a case: the same on every retry, scattered over the
    series; the registry's primary key on the plate makes the one issued unique."""
    h = int.from_bytes(hashlib.sha256(f"{workflow_id}:{attempt}".encode()).digest()[:8], "big")
    letters = plate_letters(category)
    first, h = 10 + h % 90, h // 90
    letter, h = letters[h % len(letters)], h // len(letters)
    last = 100 + h % 900
    return f"{first}{letter}{last}-{region_code}"


def plate_region(plate: str) -> str:
    return plate.rsplit("-", 1)[1]


# --- checklists (seed 004, item numbers as printed there) ---


@dataclass(frozen=True)
class Requirement:
    """A document of a checklist, with the seed item it comes from and when it applies."""

    kind: str
    label_fa: str
    seed_item: str
    only_for: str | None = None
    """A tag of the case the document depends on (``imported``, ``domestic``, ``disabled``,
    ``part`` ...); ``None``: always required."""
    unless: str | None = None
    """A tag that waives the document (``numbered_before``: the registry says the VIN had a plate)."""


IDENTITY = "identity_document"
RESIDENCE = "residence_proof"
NO_VIOLATIONS = "no_violations_certificate"
BUYER_RESIDENCE = "buyer_residence_proof"
RESIDENCE_KINDS = frozenset({RESIDENCE, BUYER_RESIDENCE})
"""Documents that prove residence: each names which of seed 004's proofs it is and qualifies
(:mod:`lifecycles.residence`), wherever a checklist asks one (numbering, transfer, services)."""
AUTHORISED_IMPORT = "authorised_import"
"""Tag of an imported car brought in by an authorised company (it has a kardex)."""
NUMBERED_BEFORE = "numbered_before"
"""Tag of a VIN the registry says had a plate (active or ended): a registry fact, known after the start's check."""
VEHICLE_ORIGIN = "vehicle_origin"
"""``PLATE_REVIEW`` transfers of a vehicle whose registry origin is unknown (recorded before the
registry kept origins): the officer states the origin (``origin``) from the papers seen; the
transfer then asks the factory sale document only of a domestic car and records the origin."""
OFFICER_ONLY_KINDS = RESIDENCE_KINDS | {VEHICLE_ORIGIN}
"""``PLATE_REVIEW``: documents only the officer files. A proof of residence's conditions are what
the officer reads off the paper; an applicant ticking them would certify their own residence."""
IMPORTED_CATEGORIES = frozenset({"imported", "temporary_transit"})
"""Categories whose vehicles are imported by definition (seed 004 «وارداتی», «گذر موقت»)."""
CENTRE_RESTRICTED_CATEGORIES = frozenset({"imported", "historic", "temporary_transit"})
"""The categories seed 004 numbers only at certain centres («مرکز تعویض پلاک میثم در تهران و
شماره گذاری مرکز استان ها», «مرکز شماره گذاری واقع در شهرک آزمایش», «نزدیک ترین محل شماره
گذاری به گمرک ترخیص کننده»); the others any centre numbers (``PLATE_REVIEW`` cases carry no list)."""

NUMBERING_CHECKLISTS: dict[str, tuple[Requirement, ...]] = {
    # «شماره گذاری وسایل نقلیه وارداتی»: 1 presence → inspect, 6 plate fee → pay_plate_fee.
    "imported": (
        # «ارائه کاردکس برای خودروهایی که توسط شرکت های مجاز وارد شده اند»: not for a private import.
        Requirement("kardex", "کاردکس", "imported 2", AUTHORISED_IMPORT),
        Requirement("customs_documents", "اسناد گمرکی (پروانه یا گواهینامه گمرکی)", "imported 3"),
        Requirement("government_dues_receipt", "پرداخت دیون دولتی (گمرک، شهرداری، دارایی)", "imported 4"),
        Requirement("third_party_insurance", "بیمه شخص ثالث", "imported 5"),
        Requirement(IDENTITY, "شناسنامه جدید و کارت ملی", "imported 7"),
        Requirement(RESIDENCE, "مدرک احراز محل سکونت", "imported 8"),
    ),
    # «... مزایده ای»: 1 worn-out age → eligibility, 4 plate fee → pay_plate_fee.
    "auction": (
        Requirement("auction_kardex", "کاردکس مرجع مزایده‌گذار", "auction 2"),
        Requirement("third_party_insurance", "بیمه شخص ثالث", "auction 3"),
        Requirement("government_dues_receipt", "پرداخت دیون دولتی", "auction 5"),
        Requirement(IDENTITY, "شناسنامه جدید و کارت ملی", "auction 6"),
        Requirement(RESIDENCE, "مدرک احراز محل سکونت", "auction 7"),
        # «... در صورت نداشتن سابقه شماره گذاری»: only of a VIN that never had a plate.
        Requirement("factory_sale_document", "سند فروش کارخانه (تولید داخل)", "auction 8", "domestic", NUMBERED_BEFORE),
        Requirement("customs_documents", "اسناد گمرکی (وارداتی)", "auction 8", "imported", NUMBERED_BEFORE),
    ),
    # «... گذر موقت»: 1 presence with the car → inspect, 5 plate fee → pay_plate_fee.
    "temporary_transit": (
        Requirement("customs_introduction_letter", "معرفی‌نامه گمرک ترخیص‌کننده با مهر برجسته", "transit 2"),
        Requirement("green_customs_licence_or_carnet", "پروانه سبز گمرکی یا کارنه دو پاساژ", "transit 3"),
        Requirement(IDENTITY, "مدرک هویت (کارت ملی یا گذرنامه معتبر)", "transit 4"),
        Requirement("tax_receipt", "پرداخت مالیات", "transit 6"),
    ),
    # «... تاریخی»: 1 presence → inspect; 3 imported cars need only the system entry; 5 (a lost
    # ownership document) is the duplicate-ownership-document service.
    "historic": (
        Requirement("factory_sale_document", "اصل سند فروش کارخانه (تولید داخل)", "historic 2", "domestic"),
        Requirement("ownership_document", "اصل سند مالکیت صادره ناجا", "historic 4"),
        Requirement(IDENTITY, "شناسنامه جدید و کارت ملی", "historic 5"),
        Requirement(RESIDENCE, "مدرک احراز محل سکونت", "historic 6"),
        Requirement(NO_VIOLATIONS, "برگ عدم خلافی", "historic 7"),
        Requirement("technical_inspection_certificate", "برگ معاینه فنی معتبر", "historic 8"),
        Requirement("third_party_insurance", "بیمه شخص ثالث", "historic 9"),
        Requirement("touring_club_form", "فرم شناسایی خودروی تاریخی تأییدشده کانون جهانگردی", "historic 10"),
    ),
    # «... جانبازان و معلولین»: 6 plate fee → pay_plate_fee; the card's degree → eligibility.
    "veteran": (
        Requirement("veteran_or_disability_card", "کارت جانبازی یا کارت معلولیت", "veteran 1"),
        Requirement(IDENTITY, "شناسنامه جدید یا کارت ملی", "veteran 2"),
        Requirement("welfare_introduction_letter", "معرفی‌نامه و فرم تعهد بهزیستی", "veteran 3", "disabled"),
        Requirement("ownership_document", "سند مالکیت به نام جانباز یا معلول", "veteran 4"),
        Requirement("government_dues_clearance", "مفاصاحساب دیون دولتی (وارداتی)", "veteran 5", "imported"),
        Requirement("customs_documents", "سند و پروانه گمرکی (وارداتی)", "veteran 7", "imported"),
        Requirement("foundation_registration", "ثبت مشخصات در سامانه برابر اعلام بنیاد یا بهزیستی", "veteran 8"),
    ),
}
"""Each numbering category's documents (seed 004, «شماره گذاری ...» sections)."""

TRANSFER_CHECKLIST: tuple[Requirement, ...] = (
    # «اصل سند فروش کارخانه سازنده (تولید داخل)»: domestic cars only, by the registry's origin.
    Requirement("factory_sale_document", "اصل سند فروش کارخانه (تولید داخل)", "transfer 1", "domestic"),
    Requirement("vehicle_card", "اصل کارت شناسایی وسیله نقلیه", "transfer 2"),
    Requirement("ownership_document", "اصل سند مالکیت صادره ناجا", "transfer 3"),
    Requirement(NO_VIOLATIONS, "برگ عدم خلافی", "transfer 6"),
    Requirement(BUYER_RESIDENCE, "مدارک احراز محل سکونت خریدار", "transfer 8"),
)
"""«تعویض پلاک و نقل و انتقال»: items 4 (both parties' identity) and 5 (their presence) are the
officer's ``confirm_presence``; item 7 (the fee receipt) is ``pay_plate_fee``."""


def checklist_kinds(requirements: tuple[Requirement, ...], tags: set[str]) -> list[str]:
    """The document kinds that apply to a case with ``tags``, in checklist order, once each."""
    kinds: list[str] = []
    for r in requirements:
        if (r.only_for is None or r.only_for in tags) and (r.unless is None or r.unless not in tags) and r.kind not in kinds:
            kinds.append(r.kind)
    return kinds


def drop_waived(checklist: dict[str, bool], requirements: tuple[Requirement, ...], tags: set[str]) -> list[str]:
    """Remove from ``checklist`` the documents not yet given that do not apply to a case with
    ``tags`` (known once the registry's facts arrive); returns the kinds removed."""
    applies = set(checklist_kinds(requirements, tags))
    dropped = [kind for kind, done in checklist.items() if kind not in applies and not done]
    for kind in dropped:
        del checklist[kind]
    return dropped


def transfer_tags(origin: str | None) -> set[str]:
    """The transfer checklist's tags from the registry's ``vehicles.origin``. Our choice: a
    vehicle recorded before the registry kept origins (``None``) is asked the factory sale
    document, as every transfer was before: the seed names it, and nothing says the car is imported.
    (``PLATE_REVIEW`` cases ask the officer to state it first: :data:`VEHICLE_ORIGIN`.)"""
    return {"imported"} if origin == "imported" else {"domestic"}


def readjust(checklist: dict[str, bool], requirements: tuple[Requirement, ...], tags: set[str]) -> tuple[list[str], list[str]]:
    """Make ``checklist`` ask what applies to a case with ``tags``: documents not yet given that
    no longer apply are removed, the ones that now apply added; returns (added, removed)."""
    applies = checklist_kinds(requirements, tags)
    removed = drop_waived(checklist, requirements, tags)
    added = [kind for kind in applies if kind not in checklist]
    for kind in added:
        checklist[kind] = False
    return added, removed


# --- commands ---


class Person(Strict):
    national_id: NationalId
    full_name: PersonName


class PartyId(Strict):
    national_id: NationalId


class Importer(Strict):
    """Who imported a car (seed 004 «شرکت های مجاز»: only an authorised company's import has a kardex)."""

    type: Literal["authorised_company", "private"]
    """``authorised_company``: imported by an authorised company; ``private``: by a private person."""
    company_id: Code | None = None
    """The authorised company's id (for ``authorised_company``)."""

    @model_validator(mode="after")
    def _company_named(self) -> Importer:
        if (self.type == "authorised_company") != (self.company_id is not None):
            raise ValueError("company_id names the authorised company, and only for type authorised_company")
        return self


class VehicleSpec(Strict):
    kind: VehicleKind
    production_year: int = Field(ge=1886, le=2100, strict=True)
    fuel: Fuel
    origin: Origin | None = None
    """Made in Iran or imported; defaults to imported for the imported and temporary-transit
    categories, domestic otherwise. Picks the documents that depend on it."""
    production_date: Day | None = None
    """The day the vehicle was made (in ``production_year``): import bans and historic ages count
    from it (seed 004). Without it a historic age counts from the year's last day."""
    customs_cleared_on: Day | None = None
    """An imported vehicle's customs clearance: the import ban counts up to it (seed 004)."""

    @model_validator(mode="after")
    def _dates_agree(self) -> VehicleSpec:
        if self.production_date is not None and self.production_date.year != self.production_year:
            raise ValueError(f"production_date {self.production_date} is not in production_year {self.production_year}")
        if self.production_date and self.customs_cleared_on and self.customs_cleared_on < self.production_date:
            raise ValueError("customs_cleared_on is before production_date")
        return self


class NumberingStart(Strict):
    """``VehicleNumbering`` input; the optional fields feed the category's rules."""

    vin: Vin
    category: Category
    vehicle: VehicleSpec
    owner: Person
    region_code: RegionCode | None = None
    """Region code of the numbering centre (default Tehran, ``policy.PLATE_DEFAULT_REGION_CODE``)."""
    veteran_card_percent: int | None = Field(default=None, ge=0, le=100, strict=True)
    """Veteran category: the veteran card's percentage (50 or more earns the plate)."""
    disability_degree: DisabilityDegree | None = None
    """Veteran category: the disability card's degree (medium, severe or very severe qualify)."""
    mental_disability: bool = False
    """Veteran category: the disability is mental; then the owner must be a parent introduced by
    the welfare organisation, and ``disabled_person`` names the disabled child."""
    disabled_person: Person | None = None
    historic_class: HistoricClass | None = None
    """Historic category: ``precious`` (> 50 years), ``unique`` (> 25 years and unique), ``special``."""
    importer: Importer | None = None
    """An imported vehicle's importer: ``{"type": "private"}`` needs no kardex; absent, the
    vehicle counts as an authorised company's import (the kardex is asked, as before)."""
    clearing_customs: Code | None = None
    """Temporary transit: the customs office that cleared the vehicle; it is numbered only at the
    centre nearest it («نزدیک ترین محل شماره گذاری به گمرک ترخیص کننده»)."""

    @model_validator(mode="after")
    def _fields_of_the_category(self) -> NumberingStart:
        if self.importer is not None and self.origin != "imported":
            raise ValueError("importer is only for imported vehicles")
        if self.clearing_customs is not None and self.category != "temporary_transit":
            raise ValueError("clearing_customs is only for temporary_transit")
        return self

    @property
    def origin(self) -> str:
        if self.vehicle.origin:
            return self.vehicle.origin
        return "imported" if self.category in ("imported", "temporary_transit") else "domestic"


class TransferStart(Strict):
    """``PlateTransfer`` input."""

    vin: Vin
    seller: PartyId
    buyer: Person
    region_code: RegionCode | None = None
    """Region code of the buyer's new plate (default: the seller's plate's region)."""

    @model_validator(mode="after")
    def _two_people(self) -> TransferStart:
        if self.seller.national_id == self.buyer.national_id:
            raise ValueError("the buyer and the seller are the same person")
        return self


class SubmitDocument(Command):
    kind: Code
    """A document kind from the case's checklist."""
    reference: Note | None = None
    """The document's number or a note (e.g. insurance policy number)."""
    residence: ResidenceProof | None = None
    """A proof of residence (``residence_proof``, ``buyer_residence_proof``): which of seed 004's
    proofs it is and what its conditions need; required for those kinds, refused for others."""
    origin: Origin | None = None
    """``vehicle_origin``: the origin the officer states from the papers seen; only for that kind."""

    @model_validator(mode="after")
    def _residence_only_for_its_kinds(self) -> SubmitDocument:
        if self.residence is not None and self.kind not in RESIDENCE_KINDS:
            raise ValueError(f"residence belongs to a proof of residence ({', '.join(sorted(RESIDENCE_KINDS))})")
        if (self.origin is not None) != (self.kind == VEHICLE_ORIGIN):
            raise ValueError(f"origin (domestic or imported) is given with a {VEHICLE_ORIGIN} document, and only with it")
        return self

    def review_details(self) -> dict[str, Any]:
        """What a ``PLATE_REVIEW`` case keeps of the document beyond its kind and reference (its
        documents and history): the proof of residence as given, the stated origin."""
        out: dict[str, Any] = {}
        if self.residence is not None:
            out["residence"] = self.residence.model_dump(mode="json", exclude_defaults=True)
        if self.origin is not None:
            out["origin"] = self.origin
        return out

    def refusal(self, today: date) -> str | None:
        """A proof of residence that does not qualify (seed 004 «شرایط و مدارک احراز محل سکونت»)."""
        if self.kind not in RESIDENCE_KINDS:
            return None
        problems = residence_problems(self.residence, today)
        return "the proof of residence does not qualify: " + "; ".join(problems) if problems else None


class Inspect(Command):
    passed: bool
    notes: Note | None = None

    @model_validator(mode="after")
    def _notes_when_failing(self) -> Inspect:
        if not self.passed and not self.notes:
            raise ValueError("a failed inspection needs notes saying why")
        return self


class ConfirmPresence(Command):
    party: Literal["seller", "buyer"]


class PayPlateFee(Command):
    payment_ref: PaymentRef
    amount_rial: PositiveRials


NUMBERING_UPDATE_ROLES: dict[str, frozenset[str]] = {
    "submit_document": frozenset({"applicant", "officer"}),
    "inspect": frozenset({"officer"}),
    "pay_plate_fee": frozenset({"bank"}),
    "abort": ABORT_ROLES,
}
NUMBERING_COMMANDS: dict[str, type[Command]] = {
    "submit_document": SubmitDocument,
    "inspect": Inspect,
    "pay_plate_fee": PayPlateFee,
    "abort": Abort,
}

TRANSFER_UPDATE_ROLES: dict[str, frozenset[str]] = {
    # "applicant" too, as in numbering: a party of the sale (by national id) filing at the centre.
    "submit_document": frozenset({"seller", "buyer", "applicant", "officer"}),
    "confirm_presence": frozenset({"officer"}),
    "consent": frozenset({"seller"}),  # the registered owner's own consent to the sale, with the owner's token
    "pay_plate_fee": frozenset({"bank"}),
    "cancel": frozenset({"seller", "buyer"}),
    "abort": ABORT_ROLES,
}
TRANSFER_COMMANDS: dict[str, type[Command]] = {
    "submit_document": SubmitDocument,
    "confirm_presence": ConfirmPresence,
    "consent": Command,
    "pay_plate_fee": PayPlateFee,
    "cancel": Command,
    "abort": Abort,
}


# --- the machines ---


class VehicleNumberingMachine(StateMachine):
    """A numbering case: documents and inspection, the plate fee, then a plate."""

    Open = State("تشکیل پرونده شماره‌گذاری", initial=True)
    AwaitingFee = State("منتظر پرداخت وجه پلاک")
    Numbered = State("شماره‌گذاری شد", final=True)
    Rejected = State("رد شد", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    eligibility_failed = Open.to(Rejected)
    submit_document = Open.to.itself(internal=True)
    inspect = Open.to(Rejected, cond="inspection_failed") | Open.to.itself(internal=True)
    checklist_complete = Open.to(AwaitingFee, cond="ready_for_fee")
    pay_plate_fee = AwaitingFee.to(Numbered)
    registry_refused = AwaitingFee.to(Rejected)
    """The registry refused the plate because the VIN was numbered meanwhile (the case ends)."""

    # An operator may end any open case, giving a reason (Case.abort releases what it holds).
    abort = Aborted.from_.any()


class PlateTransferMachine(StateMachine):
    """A transfer: documents and both parties present, the fee, then the buyer owns the car."""

    Open = State("تشکیل پرونده نقل و انتقال", initial=True)
    AwaitingFee = State("منتظر پرداخت وجه پلاک")
    Transferred = State("انتقال یافت", final=True)
    Rejected = State("رد شد", final=True)
    Cancelled = State("انصراف", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    eligibility_failed = Open.to(Rejected)
    submit_document = Open.to.itself(internal=True)
    confirm_presence = Open.to.itself(internal=True)
    consent = Open.to.itself(internal=True)
    checklist_complete = Open.to(AwaitingFee, cond="ready_for_fee")
    pay_plate_fee = AwaitingFee.to(Transferred)
    registry_refused = AwaitingFee.to(Rejected)
    """The registry refused the transfer: the seller no longer owns the car, or it was scrapped."""
    cancel = Open.to(Cancelled) | AwaitingFee.to(Cancelled)

    # An operator may end any open case, giving a reason (Case.abort releases what it holds).
    abort = Aborted.from_.any()


# --- the case data the guards read ---


@dataclass
class PlateFile:
    """What a numbering or transfer case holds; the machine keeps its state in ``state``."""

    vin: str
    checklist: dict[str, bool]
    fee_rial: int
    state: str | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)
    inspection: dict[str, Any] | None = None
    presence: dict[str, bool] = field(default_factory=dict)
    """Transfer: who the officer saw at the centre (seed 004 transfer items 4–5)."""
    consent: dict[str, Any] | None = None
    """Transfer: the owner's own consent, ``{"by", "jti", "at"}`` once given; ``None`` while awaited."""
    needs_consent: bool = False
    needs_inspection: bool = True
    """Numbering: the officer inspects the car the owner brings to the centre."""
    rejection_reasons: list[str] = field(default_factory=list)
    eligibility_checked: bool = False
    payment_ref: str | None = None
    plate: str | None = None
    previous_plate: str | None = None
    fuel_card_moved: bool | None = None
    fidelity: bool = False
    """The case runs seed 004's rules as issue 9 corrected them (``PLATE_FIDELITY``): the
    checklist follows the registry's facts, numbering officers work at a centre that may number it."""
    registry_facts: dict[str, Any] | None = None
    """What the start's registry check reported that shapes the checklist (origin, earlier plates)."""
    centres: list[str] | None = None
    """Numbering: the centres whose officers may inspect and file documents (reference data, read
    at the start); ``None``: no centre rule (cases started before it, and ``PLATE_REVIEW`` cases of
    a category any centre numbers)."""
    review: bool = False
    """The case runs the review's corrections (``PLATE_REVIEW``): only the officer files proofs of
    residence (strict conditions) and states an unknown origin, the registry's origin wins, centre
    lists only for the categories seed 004 restricts."""
    stated_origin: str | None = None
    """Transfer (``PLATE_REVIEW``): the origin the officer stated for a vehicle the registry knew
    none of; recorded on the vehicle at the transfer."""

    @property
    def inspection_failed(self) -> bool:
        return self.inspection is not None and not self.inspection["passed"]

    @property
    def ready_for_fee(self) -> bool:
        return not missing(self)

    @property
    def awaits_consent(self) -> bool:
        return self.needs_consent and self.consent is None

    def add_document(self, kind: str, reference: str | None, by: dict[str, str], at: str | None, **details: Any) -> None:
        self.checklist[kind] = True
        self.documents.append({"kind": kind, "reference": reference, "by": by, "at": at, **details})


def missing(file: PlateFile) -> list[str]:
    """What a case still lacks before the fee: documents, the inspection, presences."""
    out = [kind for kind, done in file.checklist.items() if not done]
    out += [f"presence of the {party}" for party, here in file.presence.items() if not here]
    if file.needs_inspection and not (file.inspection and file.inspection["passed"]):
        out.append("the officer's inspection")
    if file.awaits_consent:
        out.append("the owner's consent (update consent, with the seller's own token)")
    return out


def review_refusal(c: SubmitDocument, today: date) -> str | None:
    """Why a ``PLATE_REVIEW`` case refuses a document: one only the officer files, from another
    role, or a proof of residence that fails the strict conditions."""
    if c.kind in OFFICER_ONLY_KINDS and (c.actor is None or c.actor.role != "officer"):
        what = "a proof of residence" if c.kind in RESIDENCE_KINDS else "the vehicle's origin"
        role = c.actor.role if c.actor is not None else None
        return (
            f"{what} ({c.kind}) is filed by the officer, who verifies the papers; "
            f"role {role!r} cannot certify it (bring the papers to the centre)"
        )
    if c.kind in RESIDENCE_KINDS:
        problems = residence_problems(c.residence, today, strict=True)
        if problems:
            return "the proof of residence does not qualify: " + "; ".join(problems)
    return None


def numbering_file(start: NumberingStart) -> PlateFile:
    kinds = checklist_kinds(NUMBERING_CHECKLISTS[start.category], numbering_tags(start))
    return PlateFile(vin=start.vin, checklist={k: False for k in kinds}, fee_rial=policy.PLATE_FEE_RIAL[start.category])


def numbering_tags(start: NumberingStart, numbered_before: bool = False, origin: str | None = None) -> set[str]:
    """The tags a numbering case's checklist depends on (``numbered_before``: the registry's fact;
    ``origin``: the registry's, which wins over the input's)."""
    tags = {origin or start.origin}
    if start.category == "veteran" and start.disability_degree:
        tags.add("disabled")
    if start.importer is None or start.importer.type == "authorised_company":
        tags.add(AUTHORISED_IMPORT)
    if numbered_before:
        tags.add(NUMBERED_BEFORE)
    return tags


def transfer_file(start: TransferStart) -> PlateFile:
    # Every document at first; the registry's facts (origin) then waive what does not apply.
    return PlateFile(
        vin=start.vin,
        checklist={k: False for k in checklist_kinds(TRANSFER_CHECKLIST, transfer_tags(None))},
        fee_rial=policy.PLATE_TRANSFER_FEE_RIAL,
        presence={"seller": False, "buyer": False},
        needs_inspection=False,
        needs_consent=True,
    )


# --- the numbering rules (pure; ``today`` is the workflow clock's day in Tehran) ---


def numbering_reasons(start: NumberingStart, today: date) -> list[str]:
    """Why seed 004 refuses this numbering, or nothing.

    Ages are Jalali calendar years: the import ban from the production date to customs clearance
    («ممنوعیت واردات»: more than one year for passenger cars, two for trucks, buses and chassis),
    the historic thresholds («بیش از ۵۰ سال», «بیش از ۲۵ سال») from the production date to today.
    """
    v = start.vehicle
    if v.production_year > today.year or (v.production_date and v.production_date > today):
        return [f"production_year {v.production_year} is in the future"]
    if v.customs_cleared_on and v.customs_cleared_on > today:
        return [f"customs_cleared_on {v.customs_cleared_on} is in the future"]
    age = today.year - v.production_year  # worn-out ages count model years, as the seed's table does
    rules = {
        "imported": lambda: _import_ban_by_dates(start),
        "auction": lambda: _worn_out(start, age),
        "temporary_transit": lambda: [],
        "historic": lambda: _historic_by_dates(start, today),
        "veteran": lambda: _veteran(start, age),
    }
    reasons = rules[start.category]()
    if start.category == "veteran" and start.origin == "imported":
        reasons += _import_ban_by_dates(start)
    return reasons


def _import_ban_by_dates(start: NumberingStart) -> list[str]:
    v = start.vehicle
    ban_class = IMPORT_BAN_CLASS.get(v.kind)
    if ban_class is None:
        return []
    if v.production_date is None or v.customs_cleared_on is None:
        return [
            "the import ban counts from the production date to customs clearance: give vehicle.production_date and vehicle.customs_cleared_on"
        ]
    limit = policy.IMPORT_BAN_AGE_YEARS[ban_class]
    last_day = add_jalali_years(v.production_date, limit)
    if v.customs_cleared_on > last_day:
        return [
            f"import ban: a {ban_class} cleared more than {limit} year(s) after production may not be imported "
            f"(made {v.production_date}, cleared {v.customs_cleared_on}; the last day was {last_day})"
        ]
    return []


def _historic_by_dates(start: NumberingStart, today: date) -> list[str]:
    cls = start.historic_class
    if cls is None:
        return ["historic plates need historic_class: precious, unique or special"]
    minimum = {"precious": policy.HISTORIC_PRECIOUS_MIN_AGE_YEARS, "unique": policy.HISTORIC_UNIQUE_MIN_AGE_YEARS}.get(cls)
    if minimum is None:
        return []
    made = start.vehicle.production_date or date(start.vehicle.production_year, 12, 31)
    comes_of_age = add_jalali_years(made, minimum)
    if today > comes_of_age:
        return []
    kind = "a precious" if cls == "precious" else "an old unique"
    return [f"{kind} historic car is more than {minimum} years old (made {made}, {minimum} years on {comes_of_age})"]


# --- the rules of cases started before the dates (``workflows.plate_transfer.AGES_FROM_DATES``) ---


def numbering_reasons_by_year(start: NumberingStart, year: int) -> list[str]:
    """The earlier rules, by calendar-year difference at numbering time: only for replaying cases
    started before the import ban and historic ages counted from dates."""
    v = start.vehicle
    age = year - v.production_year
    if age < 0:
        return [f"production_year {v.production_year} is in the future"]
    rules = {
        "imported": _import_ban,
        "auction": _worn_out,
        "temporary_transit": lambda s, a: [],
        "historic": _historic,
        "veteran": _veteran,
    }
    reasons = rules[start.category](start, age)
    if start.category == "veteran" and start.origin == "imported":
        reasons += _import_ban(start, age)
    return reasons


def _import_ban(start: NumberingStart, age: int) -> list[str]:
    ban_class = IMPORT_BAN_CLASS.get(start.vehicle.kind)
    if ban_class is None:
        return []
    limit = policy.IMPORT_BAN_AGE_YEARS[ban_class]
    if age > limit:
        return [
            f"import ban: a {ban_class} more than {limit} year(s) after production may not be imported (produced {start.vehicle.production_year}, {age} years)"
        ]
    return []


def _worn_out(start: NumberingStart, age: int) -> list[str]:
    limit = WORN_OUT_AGE_YEARS.get(start.vehicle.kind)
    if limit is not None and age >= limit:
        return [f"worn out: a {start.vehicle.kind} reaches its worn-out age at {limit} years (this one is {age})"]
    return []


def _historic(start: NumberingStart, age: int) -> list[str]:
    cls = start.historic_class
    if cls is None:
        return ["historic plates need historic_class: precious, unique or special"]
    if cls == "precious" and not age > policy.HISTORIC_PRECIOUS_MIN_AGE_YEARS:
        return [f"a precious historic car is more than {policy.HISTORIC_PRECIOUS_MIN_AGE_YEARS} years old (this one is {age})"]
    if cls == "unique" and not age > policy.HISTORIC_UNIQUE_MIN_AGE_YEARS:
        return [f"an old unique historic car is more than {policy.HISTORIC_UNIQUE_MIN_AGE_YEARS} years old (this one is {age})"]
    return []


def _veteran(start: NumberingStart, age: int) -> list[str]:
    reasons: list[str] = []
    if start.vehicle.kind not in policy.VETERAN_PLATE_VEHICLE_KINDS:
        reasons.append(f"veteran and disabled plates are only for passenger cars, not a {start.vehicle.kind}")
    veteran_ok = (start.veteran_card_percent or 0) >= policy.VETERAN_MIN_DISABILITY_PERCENT
    disabled_ok = start.disability_degree in policy.DISABILITY_DEGREES_QUALIFYING
    if not (veteran_ok or disabled_ok):
        reasons.append(
            f"needs a veteran card of {policy.VETERAN_MIN_DISABILITY_PERCENT}% or more or a disability card of degree "
            f"medium, severe or very severe (got veteran_card_percent={start.veteran_card_percent}, disability_degree={start.disability_degree})"
        )
    if start.mental_disability:
        child = start.disabled_person
        if child is None or child.national_id == start.owner.national_id:
            reasons.append(
                "no plate is issued to a mentally disabled person; a parent introduced by the welfare "
                "organisation is the owner and disabled_person names the child"
            )
    return reasons


# --- numbering centres (seed 004; the centres are reference data) ---


def centre_reasons(start: NumberingStart, centres: list[str]) -> list[str]:
    """Why no centre may number this case: imported cars only at Meysam or provincial-capital
    centres («مرکز تعویض پلاک میثم در تهران و شماره گذاری مرکز استان ها»), historic cars at
    Shahrak-e Azmayesh («مرکز شماره گذاری واقع در شهرک آزمایش»), transit at the centre nearest
    the clearing customs («نزدیک ترین محل شماره گذاری به گمرک ترخیص کننده»), as the reference
    data's ``numbering_centres`` list them (``centres``: those that may number this case)."""
    if start.category == "temporary_transit" and start.clearing_customs is None:
        return ["a temporary-transit vehicle is numbered at the centre nearest its clearing customs: give clearing_customs"]
    if not centres:
        where = f" nearest customs office {start.clearing_customs}" if start.clearing_customs else ""
        return [f"no numbering centre{where} in the reference data numbers {start.category} vehicles"]
    return []


def origin_reasons(start: NumberingStart, registry_origin: str | None, imported_purchase: bool) -> list[str]:
    """``PLATE_REVIEW``: why the vehicle's origin or importer refuses the numbering. The registry's
    origin, when it knows one, wins over the input's; an imported or transit vehicle is imported;
    a VIN an imported-car purchase delivered came through an authorised importer (seed 001), so
    ``importer: private`` contradicts the registry."""
    reasons: list[str] = []
    origin = registry_origin or start.origin
    if start.category in IMPORTED_CATEGORIES and origin != "imported":
        said = "the registry records" if registry_origin else "vehicle.origin says"
        reasons.append(f"{start.category} vehicles are imported, but {said} this one is {origin}")
    if imported_purchase and start.importer is not None and start.importer.type == "private":
        reasons.append(
            "the registry records this VIN as delivered by an imported-car purchase, an authorised importer's: "
            "importer private contradicts it"
        )
    if start.category == "veteran" and origin == "imported" and start.origin != "imported":
        reasons += _import_ban_by_dates(start)  # the input said domestic: the import ban was not judged
    return reasons


def centre_refusal(actor_role: str, centre: str | None, centres: list[str] | None, category: str) -> str | None:
    """Why an officer may not act on this numbering case from their centre (their token's ``ctr``)."""
    if actor_role != "officer" or centres is None or centre in centres:
        return None
    at = "names no centre (claim ctr)" if centre is None else f"is for centre {centre}"
    return f"the officer's token {at}; {category} vehicles are numbered only at: {', '.join(centres)}"


def transfer_series(category: str | None) -> str:
    """The category of the buyer's new plate: historic cars stay historic; a veteran's or a
    transit plate does not pass to a buyer, who gets an ordinary private plate."""
    return "historic" if category == "historic" else "transfer"
