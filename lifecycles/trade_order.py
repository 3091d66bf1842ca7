"""Trade-order registration (ثبت سفارش خودروی جانبازان), seed 003_e31f3f46ba2dcbd4.

The statechart, the commands with their field rules, who may give each, and the pure rules
(completeness, proforma total, fee). The rules inquiry over reference data lives in
:func:`inquiry_reasons`; the activity that runs it only loads the data.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import reduce
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator
from statemachine import State, StateMachine
from statemachine.transition_list import TransitionList

from domain import policy
from domain.commands import (
    ABORT_ROLES,
    Abort,
    Code,
    Command,
    Day,
    Eur,
    Flag,
    NationalId,
    Note,
    PaymentRef,
    PersonName,
    PositiveRials,
    Rejected,
    Sha256,
    ShortCode,
    Strict,
    TariffCode,
    Text,
    WorkflowId,
    describe_errors,
    parse,
)
from domain.money import to_rials


def stays_in(*states: State) -> TransitionList:
    """An event allowed in each of ``states`` that leaves the file where it is."""
    return reduce(operator.or_, [state.to.itself(internal=True) for state in states])


class TradeOrderMachine(StateMachine):
    """States and transitions of a trade-order file; labels are what operators read."""

    Draft = State("پیش‌نویس", initial=True)
    New = State("جدید")
    InquiringRules = State("در حال استعلام ضوابط")
    ProformaRejected = State("رد پیش‌فاکتور")
    Inquired = State("استعلام شده")
    AwaitingPermit = State("منتظر مجوز")
    PermitRejected = State("رد درخواست مجوز")
    ReadyForOrder = State("آماده ثبت سفارش")
    RegisteringOrder = State("در حال ثبت سفارش")
    ExpertReview = State("کارشناسی")
    AwaitingFee = State("آماده پرداخت کارمزد")
    AwaitingAllocation = State("ثبت سفارش؛ منتظر تخصیص ارز بانک مرکزی")
    Registered = State("ثبت سفارش", final=True)
    AllocationRefused = State("رد تخصیص ارز", final=True)
    Voided = State("ابطال", final=True)
    Aborted = State("لغو به دستور کارشناس", final=True)

    # Filling the file in. Sections are saved in Draft; once submitted, changes go through
    # `edit` (and goods/documents additions), which bring a rejected file back to New.
    save_main_info = Draft.to.itself(internal=True)
    save_transport = Draft.to.itself(internal=True)
    save_financials = Draft.to.itself(internal=True)
    add_goods = Draft.to.itself(internal=True) | New.to.itself(internal=True) | ProformaRejected.to(New) | PermitRejected.to(New)
    attach_document = (
        Draft.to.itself(internal=True)
        | New.to.itself(internal=True)
        | Inquired.to.itself(internal=True)  # extra documents for the licensing organisations
        | ProformaRejected.to(New)
        | PermitRejected.to(New)
    )
    submit = Draft.to(New, cond="is_complete")
    edit = New.to.itself(internal=True) | ProformaRejected.to(New) | PermitRejected.to(New)
    void = New.to(Voided)

    # From InquiringRules / RegisteringOrder too: re-running a step that hung is the support
    # desk's remedy in the seed («ثبت تیکت پشتیبانی»).
    # After a lapsed fee window the file must be edited again first («باید مجدداً ویرایش شود»).
    inquire_rules = New.to(InquiringRules, unless="must_edit_again") | InquiringRules.to.itself(internal=True)
    rules_failed = InquiringRules.to(ProformaRejected)
    rules_passed = InquiringRules.to(Inquired, cond="needs_permits") | InquiringRules.to(ReadyForOrder)

    request_permits = Inquired.to(AwaitingPermit)
    # A decision is recorded first; the file moves only once every organisation has answered.
    decide_permit = (
        AwaitingPermit.to(PermitRejected, cond="permits_answered_with_rejection")
        | AwaitingPermit.to(ReadyForOrder, cond="permits_all_approved")
        | AwaitingPermit.to.itself(internal=True)
    )
    withdraw_permit_requests = AwaitingPermit.to(PermitRejected, cond="may_withdraw_permits")

    request_registration = ReadyForOrder.to(RegisteringOrder) | RegisteringOrder.to.itself(internal=True)
    order_system_accepted = RegisteringOrder.to(ExpertReview, cond="needs_expert_review") | RegisteringOrder.to(AwaitingFee)
    expert_decide = ExpertReview.to(AwaitingFee, cond="expert_approved") | ExpertReview.to(New)

    # Currency bought from the banking system needs the central bank's allocation («باید توسط بانک
    # مرکزی تخصیص ارز را دریافت کنند», seed 003 §3): the order is registered (its number issued) and
    # the file waits for the allocation before it is done (files started under TRADE_ORDER_MORE).
    pay_fee = AwaitingFee.to(AwaitingAllocation, cond="needs_currency_allocation") | AwaitingFee.to(Registered)
    fee_expired = AwaitingFee.to(New)
    allocate_currency = AwaitingAllocation.to(Registered, cond="allocation_granted") | AwaitingAllocation.to(AllocationRefused)

    # «تغییر سطح دسترسی» (seed 003 §8): wherever the applicant may act on the file (not while it is
    # with the inquiry, the licensing organisations, the order system or the expert).
    grant_access = stays_in(Draft, New, ProformaRejected, Inquired, PermitRejected, ReadyForOrder, AwaitingFee)
    revoke_access = stays_in(Draft, New, ProformaRejected, Inquired, PermitRejected, ReadyForOrder, AwaitingFee)

    # An operator may end any open case, giving a reason (Case.abort releases what it holds).
    abort = Aborted.from_.any()


UPDATE_ROLES: dict[str, frozenset[str]] = {
    "save_main_info": frozenset({"applicant"}),
    "save_transport": frozenset({"applicant"}),
    "save_financials": frozenset({"applicant"}),
    "add_goods": frozenset({"applicant"}),
    "attach_document": frozenset({"applicant"}),
    "submit": frozenset({"applicant"}),
    "edit": frozenset({"applicant"}),
    "void": frozenset({"applicant"}),
    "inquire_rules": frozenset({"applicant"}),
    "request_permits": frozenset({"applicant"}),
    "decide_permit": frozenset({"licensing_org"}),
    "withdraw_permit_requests": frozenset({"applicant"}),
    "request_registration": frozenset({"applicant"}),
    "expert_decide": frozenset({"expert"}),
    "pay_fee": frozenset({"bank"}),
    "allocate_currency": frozenset({"bank"}),
    "grant_access": frozenset({"applicant"}),
    "revoke_access": frozenset({"applicant"}),
    "abort": ABORT_ROLES,
}
"""Who may give each update; every update is an event of the machine with the same name."""

# --- commands and their field rules ---

CurrencySource = Literal["bank_system", "own_exports", "own_currency", "others_currency", "others_exports", "barter"]
ShippingMethod = Code
"""Free text, as earlier files carry it; once the file names its contract type the methods must be
ones the type allows (``policy.INCOTERM_SHIPPING_METHODS``)."""
Incoterm = Literal["EXW", "FCA", "CPT", "CIP", "DAP", "DPU", "DDP", "FAS", "FOB", "CFR", "CIF"]
"""The contract type (نوع قرارداد, seed 003 §2), an Incoterm 2020 rule."""
AccessLevel = Literal["edit", "full"]
"""A level of ``policy.ACCESS_LEVELS`` (ours; the seed names none)."""
DocumentKind = Literal["proforma", "contract", "other"]
Choices = Annotated[list[Code], Field(max_length=policy.MAX_CHOICES)]
"""Several values of one field, for a file with multiple shipments."""


class Seller(Strict):
    type: ShortCode
    id: Code
    name: PersonName
    """A foreign seller as the foreign-seller registry names it (``foreign_sellers``)."""


class MainInfoFields(Strict):
    proforma_number: Code | None = None
    beneficiary_country: Code | None = None
    proforma_date: Day | None = None
    proforma_valid_until: Day | None = None
    seller: Seller | None = None


class TransportFields(Strict):
    contract_type: Incoterm | None = None
    shipping_method: ShippingMethod | Choices | None = None
    entry_border: Code | Choices | None = None
    destination_customs: Code | Choices | None = None
    origin_country: Code | Choices | None = None
    loading_place: Text | None = None
    fleet: Code | None = None
    multiple_shipments: Flag | None = None
    through_transport: Flag | None = None


class FinancialFields(Strict):
    bank: Code | None = None
    branch: Code | None = None
    currency_source: CurrencySource | None = None
    freight_eur: Eur | None = None
    other_costs_eur: Eur | None = None
    discount_eur: Eur | None = None


Quantity = Annotated[int, Field(gt=0, le=policy.MAX_QUANTITY, strict=True)]


class GoodsItem(Strict):
    tariff_code: TariffCode
    goods_id: ShortCode
    fob_eur: Eur
    """The line's FOB value in EUR (the seed sums these into the proforma total)."""
    quantity: Quantity = 1
    manufacturer: Text | None = None
    technical_specs: Note | None = None
    standard: Text | None = None


class Document(Strict):
    kind: DocumentKind
    name: Text
    sha256: Sha256


def _check_main_info(fields: MainInfoFields) -> None:
    if fields.proforma_date and fields.proforma_valid_until and fields.proforma_valid_until < fields.proforma_date:
        raise ValueError("proforma_valid_until is before proforma_date")


def _check_transport(fields: TransportFields) -> None:
    if (problem := shipping_problem(fields.contract_type, fields.shipping_method)) is not None:
        raise ValueError(problem)
    if fields.multiple_shipments:
        return
    for name in ("shipping_method", "entry_border", "destination_customs", "origin_country"):
        value = getattr(fields, name)
        if isinstance(value, list) and len(value) > 1:
            raise ValueError(f"{name}: several values need multiple_shipments (حمل به دفعات)")


def shipping_problem(contract_type: str | None, shipping_method: str | list[str] | None) -> str | None:
    """«روش حمل را باتوجه به نوع قرارداد از لیست انتخاب» (seed 003 §2): each shipping method must be
    one the contract type allows; nothing to judge until the file names both."""
    if contract_type is None or shipping_method is None:
        return None
    allowed = policy.INCOTERM_SHIPPING_METHODS[contract_type]
    methods = shipping_method if isinstance(shipping_method, list) else [shipping_method]
    for method in methods:
        if method not in allowed:
            return f"shipping_method {method!r} is not one contract type {contract_type} allows ({', '.join(sorted(allowed))})"
    return None


class MainInfoSection(MainInfoFields):
    """A whole main-info section, its cross-field rules checked (a save, a copy, an edit's merge)."""

    @model_validator(mode="after")
    def _rules(self) -> MainInfoSection:
        _check_main_info(self)
        return self


class TransportSection(TransportFields):
    @model_validator(mode="after")
    def _rules(self) -> TransportSection:
        _check_transport(self)
        return self


class SaveMainInfo(Command, MainInfoSection):
    pass


class SaveTransport(Command, TransportSection):
    pass


class SaveFinancials(Command, FinancialFields):
    pass


def goods_line_problem(goods: GoodsItem) -> str | None:
    """«حداقل باید یکی از دو فیلد مشخصات فنی یا استاندارد را تکمیل کنید» (seed 003): a goods line
    carries technical specifications, a standard, or both."""
    if not goods.technical_specs and not goods.standard:
        return "a goods line needs at least one of technical_specs or standard"
    return None


@dataclass
class GoodsCatalogue:
    """The reference data a case carries so its validators can refuse goods lines (they cannot
    read the database): loaded by an activity at the start, refreshed at submit and inquiry."""

    tariffs: list[str] = field(default_factory=list)
    """The veterans'-car tariff codes («فهرست شماره تعرفه های خودروی جانبازان»)."""
    goods: dict[str, str] = field(default_factory=dict)
    """Each goods id with a registered agency or after-sales service → its tariff code."""


def catalogue_problem(tariff_code: str, goods_id: str, catalogue: GoodsCatalogue) -> str | None:
    """Why a goods line is not offered (seed 003 §4), or ``None``: its tariff must be on the
    veterans'-car list («شماره تعرفه خودرو موردنظر باید موجود در فهرست تعرفه های تعیین شده باشد»)
    and only goods ids with an agency are shown («تنها شناسه کالاهایی نمایش داده میشود که نمایندگی
    یا خدمات پس از فروش آنها ... دریافت شده باشد»)."""
    if tariff_code not in catalogue.tariffs:
        return f"tariff code {tariff_code} is not on the veterans'-car tariff list"
    owner = catalogue.goods.get(goods_id)
    if owner is None:
        return f"goods id {goods_id} is not offered: it has no registered agency or after-sales service"
    if owner != tariff_code:
        return f"goods id {goods_id} belongs to tariff {owner}, not {tariff_code}"
    return None


def goods_lines_problem(lines: list[GoodsItem], catalogue: GoodsCatalogue | None) -> str | None:
    """The first goods line (of an edit or a copied file) that may not be given, and why."""
    for index, line in enumerate(lines):
        problem = goods_line_problem(line)
        if problem is None and catalogue is not None:
            problem = catalogue_problem(line.tariff_code, line.goods_id, catalogue)
        if problem is not None:
            return f"goods {index + 1}: {problem}"
    return None


class AddGoods(Command, GoodsItem):
    # Checked by the validator only (Command.refusal): orders registered before the rule keep
    # loading and replaying with the lines they were accepted with.
    def refusal(self, today: date) -> str | None:
        return goods_line_problem(self)


class AttachDocument(Command, Document):
    pass


class Edit(Command, MainInfoFields, TransportFields, FinancialFields):
    """Any section's fields; ``goods`` (when given) replaces the goods list."""

    goods: Annotated[list[GoodsItem], Field(max_length=policy.MAX_GOODS_LINES)] | None = None

    def refusal(self, today: date) -> str | None:
        return goods_lines_problem(list(self.goods or []), None)

    @model_validator(mode="after")
    def _rules(self) -> Edit:
        _check_main_info(self)
        _check_transport(self)
        return self


class Decision(Command):
    approve: Flag
    reason: Note | None = None

    @model_validator(mode="after")
    def _reason_when_rejecting(self) -> Decision:
        if not self.approve and not self.reason:
            raise ValueError("a rejection needs a reason")
        return self


class AllocateCurrency(Command):
    """The central bank's answer to a ``bank_system`` file's currency allocation."""

    approve: Flag
    allocation_ref: Code | None = None
    reason: Note | None = None

    @model_validator(mode="after")
    def _what_each_answer_carries(self) -> AllocateCurrency:
        if self.approve and not self.allocation_ref:
            raise ValueError("an allocation needs allocation_ref")
        if not self.approve and not self.reason:
            raise ValueError("a refusal needs a reason")
        return self


class GrantAccess(Command):
    """«تغییر سطح دسترسی»: let another user act on the file at a level (``policy.ACCESS_LEVELS``)."""

    grantee_national_id: NationalId
    level: AccessLevel


class RevokeAccess(Command):
    grantee_national_id: NationalId


class PayFee(Command):
    payment_ref: PaymentRef
    amount_rial: PositiveRials


class Sections(Strict):
    """A file's content as `copy` carries it (:meth:`TradeFile.sections`), every part bounded."""

    main_info: MainInfoSection = MainInfoSection()
    transport: TransportSection = TransportSection()
    financials: FinancialFields = FinancialFields()
    goods: Annotated[list[GoodsItem], Field(max_length=policy.MAX_GOODS_LINES)] = []
    documents: Annotated[list[Document], Field(max_length=policy.MAX_DOCUMENTS)] = []


def _bounded_sections(sections: dict[str, Any]) -> dict[str, Any]:
    # Kept as the dict the workflow fills the file from; only checked here, in the start's parse.
    try:
        Sections.model_validate(sections)
    except ValidationError as err:
        raise ValueError(describe_errors(err)) from None
    return sections


class Start(Strict):
    """The workflow's input; ``sections`` (from `copy`) pre-fills a new Draft."""

    class Applicant(Strict):
        national_id: NationalId
        full_name: PersonName

    applicant: Applicant
    sections: Annotated[dict[str, Any], AfterValidator(_bounded_sections)] | None = None
    copied_from: WorkflowId | None = None


COMMANDS: dict[str, type[Command]] = {
    "save_main_info": SaveMainInfo,
    "save_transport": SaveTransport,
    "save_financials": SaveFinancials,
    "add_goods": AddGoods,
    "attach_document": AttachDocument,
    "submit": Command,
    "edit": Edit,
    "void": Command,
    "inquire_rules": Command,
    "request_permits": Command,
    "decide_permit": Decision,
    "withdraw_permit_requests": Command,
    "request_registration": Command,
    "expert_decide": Decision,
    "pay_fee": PayFee,
    "allocate_currency": AllocateCurrency,
    "grant_access": GrantAccess,
    "revoke_access": RevokeAccess,
    "abort": Abort,
}
"""The argument model of every update."""

MAIN_INFO_FIELDS = tuple(MainInfoFields.model_fields)
TRANSPORT_FIELDS = tuple(TransportFields.model_fields)
FINANCIAL_FIELDS = tuple(FinancialFields.model_fields)
REQUIRED = {
    "main_info": MAIN_INFO_FIELDS,
    "transport": ("shipping_method", "entry_border", "destination_customs", "origin_country", "loading_place", "fleet"),
    "financials": ("bank", "branch", "currency_source"),
}
"""Fields a file must have before submit; the flags and cost lines default to false / zero."""


# --- the file: the data the machine's guards read ---


@dataclass
class TradeFile:
    """Everything a file holds; the machine keeps its state in ``state``."""

    applicant_national_id: str
    applicant_full_name: str
    state: str | None = None
    main_info: dict[str, Any] = field(default_factory=dict)
    transport: dict[str, Any] = field(default_factory=dict)
    financials: dict[str, Any] = field(default_factory=dict)
    goods: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    file_number: str | None = None
    rejection_reasons: list[str] = field(default_factory=list)
    required_permits: list[str] = field(default_factory=list)
    needs_expert_review: bool = False
    permits: dict[str, str] = field(default_factory=dict)
    permit_reasons: dict[str, str] = field(default_factory=dict)
    permit_withdrawal_used: bool = False
    expert_approved: bool = False
    fee_rial: int | None = None
    fee_rate_rial_per_eur: str | None = None
    fee_deadline: str | None = None
    fee_expired: bool = False
    must_edit_again: bool = False
    """The fee window lapsed: seed 003 «درصورتیکه در مدت ۱۵ روز کارمزد پرداخت نشود، پرونده باید
    مجدداً ویرایش شود»; an edit, a goods line or a document clears it."""
    payment_ref: str | None = None
    order_number: str | None = None
    catalogue: GoodsCatalogue | None = None
    """What the validators check goods lines against; ``None`` in cases started before it was
    carried (or past ``policy.MAX_CATALOGUE_ENTRIES``): the inquiry alone checks them."""
    contract_type_required: bool = False
    """Files started under ``TRADE_ORDER_MORE`` name their contract type before submit."""
    allocation_step: bool = False
    """Files started under ``TRADE_ORDER_MORE`` wait for the central bank's allocation when their
    currency comes from the banking system."""
    allocation_ref: str | None = None
    access: dict[str, str] = field(default_factory=dict)
    """Other users the applicant let act on the file: national id → level (``policy.ACCESS_LEVELS``)."""

    # guards
    @property
    def is_complete(self) -> bool:
        return not missing_for_submit(self)

    @property
    def needs_currency_allocation(self) -> bool:
        return self.allocation_step and self.financials.get("currency_source") == "bank_system"

    @property
    def allocation_granted(self) -> bool:
        return self.allocation_ref is not None

    @property
    def needs_permits(self) -> bool:
        return bool(self.required_permits)

    @property
    def permits_answered_with_rejection(self) -> bool:
        return "pending" not in self.permits.values() and "rejected" in self.permits.values()

    @property
    def permits_all_approved(self) -> bool:
        return bool(self.permits) and all(v == "approved" for v in self.permits.values())

    @property
    def may_withdraw_permits(self) -> bool:
        return not self.permit_withdrawal_used and "pending" in self.permits.values()

    def sections(self) -> dict[str, Any]:
        """The file's content, as `copy` carries it to a new file."""
        return {
            "main_info": dict(self.main_info),
            "transport": dict(self.transport),
            "financials": dict(self.financials),
            "goods": [dict(g) for g in self.goods],
            "documents": [dict(d) for d in self.documents],
        }


def fields_of(command: BaseModel, names: tuple[str, ...]) -> dict[str, Any]:
    """The given fields the command carries, JSON-ready (dates ISO, EUR as strings)."""
    data = command.model_dump(mode="json", include=set(names), exclude_unset=True)
    return {k: v for k, v in data.items() if v is not None}


def check_edit(file: TradeFile, edit: Edit) -> None:
    """An edit merges into the sections: raise :class:`Rejected` if the merge breaks a field rule
    or leaves a file with goods at a total of zero or less."""
    for model, current, names in (
        (MainInfoSection, file.main_info, MAIN_INFO_FIELDS),
        (TransportSection, file.transport, TRANSPORT_FIELDS),
    ):
        parse(model, {**current, **fields_of(edit, names)})
    merged = TradeFile(
        file.applicant_national_id,
        file.applicant_full_name,
        main_info=dict(file.main_info),
        transport=dict(file.transport),
        financials=dict(file.financials),
        goods=list(file.goods),
    )
    apply_edit(merged, edit)
    if merged.goods and proforma_total_eur(merged) <= 0:
        raise Rejected(f"the proforma total would be {proforma_total_eur(merged)} EUR; it must stay above zero")


def apply_edit(file: TradeFile, edit: Edit) -> None:
    file.main_info.update(fields_of(edit, MAIN_INFO_FIELDS))
    file.transport.update(fields_of(edit, TRANSPORT_FIELDS))
    file.financials.update(fields_of(edit, FINANCIAL_FIELDS))
    if edit.goods is not None:
        file.goods = [g.model_dump(mode="json", exclude_none=True) for g in edit.goods]


def fill_from_sections(file: TradeFile, sections: dict[str, Any]) -> None:
    """Fill a file from another file's sections (copy, amendments), each part validated again."""
    main = parse(MainInfoSection, sections.get("main_info", {}))
    transport = parse(TransportSection, sections.get("transport", {}))
    financials = parse(FinancialFields, sections.get("financials", {}))
    file.main_info = fields_of(main, MAIN_INFO_FIELDS)
    file.transport = fields_of(transport, TRANSPORT_FIELDS)
    file.financials = fields_of(financials, FINANCIAL_FIELDS)
    file.goods = [parse(GoodsItem, g).model_dump(mode="json", exclude_none=True) for g in sections.get("goods", [])]
    file.documents = [parse(Document, d).model_dump(mode="json") for d in sections.get("documents", [])]


def missing_for_submit(file: TradeFile) -> list[str]:
    """What a Draft still lacks, each as ``section.field``; empty when it may be submitted."""
    missing = [
        f"{section}.{name}"
        for section, names in REQUIRED.items()
        for name in names
        if getattr(file, section).get(name) in (None, "", [])
    ]
    if file.contract_type_required and not file.transport.get("contract_type"):
        missing.insert(len(REQUIRED["main_info"]), "transport.contract_type")
    if not file.goods:
        missing.append("goods (at least one)")
    if not any(d["kind"] == "proforma" for d in file.documents):
        missing.append("documents.proforma")
    if file.goods and proforma_total_eur(file) <= 0:
        missing.append("financials: a proforma total above zero")
    return missing


def proforma_total_eur(file: TradeFile) -> Decimal:
    """Sum of goods FOB + freight + other costs − discount (seed 003 §3)."""
    fob = sum((Decimal(g["fob_eur"]) for g in file.goods), Decimal(0))
    fin = file.financials
    return (
        fob
        + Decimal(fin.get("freight_eur", "0"))
        + Decimal(fin.get("other_costs_eur", "0"))
        - Decimal(fin.get("discount_eur", "0"))
    )


def order_fee_rial(total_eur: Decimal, rial_per_eur: Decimal) -> int:
    """Rial equivalent of the total ÷ 2000, at least the rial equivalent of 100 EUR (seed 003 §13)."""
    formula = total_eur * rial_per_eur / policy.FEE_DIVISOR
    minimum = policy.FEE_MINIMUM_EUR * rial_per_eur
    return to_rials(max(formula, minimum))


# --- the rules inquiry (استعلام ضوابط) over reference data ---


@dataclass(frozen=True)
class RefData:
    """The slice of reference data the inquiry reads."""

    tariffs: dict[str, dict[str, Any]]
    goods: dict[str, dict[str, Any]]
    sellers: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class InquiryOutcome:
    reasons: list[str]
    required_permits: list[str]
    needs_expert_review: bool


def inquire(file: dict[str, Any], ref: RefData, today: date) -> InquiryOutcome:
    """Check a file (its :meth:`TradeFile.sections`) against today's rules."""
    reasons: list[str] = []
    main, transport, fin = file["main_info"], file["transport"], file["financials"]
    if date.fromisoformat(main["proforma_valid_until"]) < today:
        reasons.append(f"the proforma expired on {main['proforma_valid_until']}")
    seller = main.get("seller") or {}
    if (seller.get("type"), seller.get("id")) not in ref.sellers:
        reasons.append(f"foreign seller {seller.get('type')}/{seller.get('id')} is not in the foreign-seller registry")
    if (problem := shipping_problem(transport.get("contract_type"), transport.get("shipping_method"))) is not None:
        reasons.append(problem)  # only files that name their contract type (seed 003 §2)
    if transport.get("through_transport"):
        reasons.append("through transport (حمل یکسره) is only for special goods such as perishables and medicines, never a car")
    source = fin["currency_source"]
    if source == "barter":
        reasons.append("barter (تهاتر) is open only to specific companies, not to an individual veteran")
    permits: set[str] = set()
    review = False
    for index, goods in enumerate(file["goods"]):
        label = f"goods {index + 1} ({goods['tariff_code']})"
        tariff = ref.tariffs.get(goods["tariff_code"])
        if tariff is None:
            reasons.append(f"{label}: the tariff code is not on the veterans'-car tariff list")
        else:
            permits.update(tariff.get("permits", []))
            review = review or bool(tariff.get("expert_review"))
            group = tariff.get("priority_group")
            # A tariff that names no group is not in 21–27: the banking system is not open to it.
            if source == "bank_system" and group not in policy.BANK_SYSTEM_PRIORITY_GROUPS:
                named = f"group {group}" if group is not None else "no priority group"
                reasons.append(
                    f"{label}: currency from the banking system is only for priority groups 21–27 (this tariff has {named})"
                )
            if source == "own_exports" and tariff.get("ministry_priced"):
                reasons.append(f"{label}: goods priced by a ministry cannot use currency from own exports")
            # «تنها برای تعرفه های مشخصی»: only the tariffs reference data names (none by default).
            if source in policy.TARIFF_LISTED_CURRENCY_SOURCES and source not in tariff.get("currency_sources", []):
                reasons.append(f"{label}: this tariff code may not use {source} (open only to the tariffs reference data names)")
        known = ref.goods.get(goods["goods_id"])
        if known is None or not known.get("has_agency"):
            reasons.append(f"{label}: goods id {goods['goods_id']} has no registered agency or after-sales service")
        elif known.get("tariff_code") != goods["tariff_code"]:
            reasons.append(f"{label}: goods id {goods['goods_id']} belongs to tariff {known.get('tariff_code')}")
        if not goods.get("technical_specs") and not goods.get("standard"):
            reasons.append(f"{label}: at least one of technical specification or standard is required")
    return InquiryOutcome(reasons=reasons, required_permits=sorted(permits), needs_expert_review=review)
