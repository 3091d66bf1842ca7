"""Activities of the trade-order lifecycle: file and order numbers, documents, inquiry, fee."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.registry import PaymentRecord, add_payment
from domain import policy
from lifecycles.trade_order import GoodsCatalogue, InquiryOutcome, RefData, inquire, order_fee_rial
from registry.db import session_scope
from registry.models import (
    ExchangeRate,
    FileDocument,
    ForeignSeller,
    Goods,
    OrderNumber,
    RegisteredOrder,
    TradeFile,
    VeteranCarTariff,
)

FILE_NUMBER_BASE = 140_000_000
"""File numbers are nine digits, counted up from here."""

ORDER_NUMBER_BASE = 10 ** (policy.ORDER_NUMBER_DIGITS - 1)
"""Order numbers are eight digits: the sequence starts at 10000001."""


@dataclass
class FileNumberRequest:
    workflow_id: str
    applicant_national_id: str
    at: datetime


@activity.defn
def assign_file_number(request: FileNumberRequest) -> str:
    """The file's number, the same on every retry (one row per workflow id)."""
    with session_scope() as session:
        row = session.scalar(select(TradeFile).where(TradeFile.workflow_id == request.workflow_id))
        if row is None:
            row = TradeFile(
                workflow_id=request.workflow_id, applicant_national_id=request.applicant_national_id, created_at=request.at
            )
            session.add(row)
            session.flush()
        if row.file_number is None:
            row.file_number = str(FILE_NUMBER_BASE + row.id)
        return row.file_number


@dataclass
class DocumentRecord:
    workflow_id: str
    kind: str
    name: str
    sha256: str


@activity.defn
def record_document(document: DocumentRecord) -> None:
    with session_scope() as session:
        exists = session.scalar(
            select(FileDocument.id).where(
                FileDocument.workflow_id == document.workflow_id,
                FileDocument.sha256 == document.sha256,
                FileDocument.kind == document.kind,
            )
        )
        if exists is None:
            session.add(FileDocument(**vars(document)))


@dataclass
class InquiryRequest:
    workflow_id: str
    file: dict[str, Any]
    today: str
    """ISO date the rules are judged at (the workflow's clock, so time-skipping tests agree)."""


@activity.defn
def run_rules_inquiry(request: InquiryRequest) -> InquiryOutcome:
    """The rules inquiry (استعلام ضوابط) against the reference data in force."""
    with session_scope() as session:
        ref = RefData(
            tariffs={
                t.code: {
                    "permits": list(t.permits),
                    "expert_review": t.expert_review,
                    "priority_group": t.priority_group,
                    "ministry_priced": t.ministry_priced,
                    "currency_sources": list(t.currency_sources or []),
                }
                for t in session.scalars(select(VeteranCarTariff))
            },
            goods={
                g.goods_id: {"tariff_code": g.tariff_code, "has_agency": g.has_agency} for g in session.scalars(select(Goods))
            },
            sellers=frozenset((s.type, s.id) for s in session.scalars(select(ForeignSeller))),
        )
    return inquire(request.file, ref, date.fromisoformat(request.today))


@dataclass
class CatalogueRequest:
    workflow_id: str


@dataclass
class CatalogueAnswer:
    catalogue: GoodsCatalogue
    complete: bool
    """False when the reference data holds more than ``policy.MAX_CATALOGUE_ENTRIES``: the case
    then carries no catalogue and leaves goods to the rules inquiry (its history stays small)."""


@activity.defn
def load_goods_catalogue(request: CatalogueRequest) -> CatalogueAnswer:
    """The veterans'-car tariff codes and the goods ids with an agency (seed 003 §4), for a case's
    validators to refuse a goods line when it is given. Read-only."""
    with session_scope() as session:
        tariffs = sorted(session.scalars(select(VeteranCarTariff.code)))
        goods = {
            goods_id: tariff
            for goods_id, tariff in session.execute(select(Goods.goods_id, Goods.tariff_code).where(Goods.has_agency.is_(True)))
        }
    if len(tariffs) + len(goods) > policy.MAX_CATALOGUE_ENTRIES:
        return CatalogueAnswer(GoodsCatalogue(), complete=False)
    return CatalogueAnswer(GoodsCatalogue(tariffs=tariffs, goods=dict(sorted(goods.items()))), complete=True)


@dataclass
class FeeQuoteRequest:
    workflow_id: str
    total_eur: str
    at: datetime


@dataclass
class FeeQuote:
    fee_rial: int
    rial_per_eur: str


def rate_in_force(currency: str, at: datetime) -> Decimal | None:
    with session_scope() as session:
        return session.scalar(
            select(ExchangeRate.rial_per_unit)
            .where(ExchangeRate.currency == currency, ExchangeRate.effective_at <= at)
            .order_by(ExchangeRate.effective_at.desc(), ExchangeRate.id.desc())
            .limit(1)
        )


@activity.defn
def quote_order_fee(request: FeeQuoteRequest) -> FeeQuote:
    """The order fee at the central bank's EUR rate in force; waits (retries) while none is recorded."""
    rate = rate_in_force("EUR", request.at)
    if rate is None:
        # Retryable on purpose: the file waits in its state until an operator records a rate.
        raise ApplicationError("no EUR rate is recorded yet: python starter.py rates set EUR <rial_per_eur>", type="NoRate")
    return FeeQuote(fee_rial=order_fee_rial(Decimal(request.total_eur), rate), rial_per_eur=str(rate.normalize()))


@dataclass
class OrderNumberRequest:
    workflow_id: str
    at: datetime
    applicant_national_id: str
    sections: dict[str, Any]
    total_eur: str
    fee_rial: int


@activity.defn
def issue_order_number(request: OrderNumberRequest) -> str:
    """The 8-digit order-registration number, issued once per file, and the registered order
    its later edits and renewals are charged against (one transaction)."""
    with session_scope() as session:
        row = session.scalar(select(OrderNumber).where(OrderNumber.workflow_id == request.workflow_id))
        if row is None:
            row = OrderNumber(workflow_id=request.workflow_id, issued_at=request.at)
            session.add(row)
            session.flush()
        if row.order_number is None:
            number = ORDER_NUMBER_BASE + row.id
            if number >= 10**policy.ORDER_NUMBER_DIGITS:
                raise ApplicationError("the 8-digit order-number space is exhausted", type="Exhausted", non_retryable=True)
            row.order_number = str(number)
        if session.get(RegisteredOrder, row.order_number) is None:
            session.add(
                RegisteredOrder(
                    order_number=row.order_number,
                    workflow_id=request.workflow_id,
                    applicant_national_id=request.applicant_national_id,
                    sections=request.sections,
                    total_eur=Decimal(request.total_eur),
                    last_fee_rial=request.fee_rial,
                    registered_at=request.at,
                    renewals=0,
                    version=1,
                )
            )
        return row.order_number


@dataclass
class RegisteredOrderView:
    order_number: str
    workflow_id: str
    applicant_national_id: str
    sections: dict[str, Any]
    total_eur: str
    last_fee_rial: int
    renewals: int
    version: int


@dataclass
class OrderLookup:
    order_workflow_id: str


@activity.defn
def load_registered_order(lookup: OrderLookup) -> RegisteredOrderView:
    with session_scope() as session:
        row = session.scalar(select(RegisteredOrder).where(RegisteredOrder.workflow_id == lookup.order_workflow_id))
        if row is None:
            raise ApplicationError(f"{lookup.order_workflow_id} has no registered order", type="Rejected", non_retryable=True)
        return RegisteredOrderView(
            order_number=row.order_number,
            workflow_id=row.workflow_id,
            applicant_national_id=row.applicant_national_id,
            sections=row.sections,
            total_eur=str(row.total_eur),
            last_fee_rial=row.last_fee_rial,
            renewals=row.renewals,
            version=row.version,
        )


@dataclass
class AmendmentSettlement:
    amendment_workflow_id: str
    order_number: str
    based_on_version: int
    """The registered order's version the amendment was opened on."""
    kind: str
    sections: dict[str, Any]
    total_eur: str
    computed_fee_rial: int
    """The full formula's fee for the order as amended: the next edit's difference is taken to it."""
    payment: PaymentRecord


@activity.defn
def settle_amendment(settlement: AmendmentSettlement) -> None:
    """Take the fee and make the edit or renewal the order's current state, in one transaction.

    Refused, with nothing recorded, when another amendment of the same order was settled since
    this one was opened: its fee was computed against a last fee that no longer holds.
    """
    with session_scope() as session:
        row = session.get(RegisteredOrder, settlement.order_number, with_for_update=True)
        if row is None:
            raise ApplicationError(f"order {settlement.order_number} is not registered", type="Rejected", non_retryable=True)
        if row.last_amendment_workflow_id == settlement.amendment_workflow_id:
            return  # a retry of a settlement that committed
        if row.version != settlement.based_on_version:
            raise ApplicationError(
                f"order {settlement.order_number} was amended by {row.last_amendment_workflow_id} after this amendment was "
                "opened; cancel this one and open a new one",
                type="Rejected",
                non_retryable=True,
            )
        add_payment(session, settlement.payment)
        row.sections = settlement.sections
        row.total_eur = Decimal(settlement.total_eur)
        row.last_fee_rial = settlement.computed_fee_rial
        row.amended_at = settlement.payment.at
        row.renewals += 1 if settlement.kind == "renewal" else 0
        row.last_amendment_workflow_id = settlement.amendment_workflow_id
        row.version += 1


ACTIVITIES: list[Callable[..., Any]] = [
    assign_file_number,
    record_document,
    run_rules_inquiry,
    load_goods_catalogue,
    quote_order_fee,
    issue_order_number,
    load_registered_order,
    settle_amendment,
]
