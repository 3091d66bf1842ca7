"""The ``TradeOrder`` workflow: one trade-order file from Draft to Registered (seed 003).

Deterministic code only: the states live in :class:`lifecycles.trade_order.TradeOrderMachine`,
every I/O is an activity, the 15-day fee window is a durable timer in :meth:`Case.run`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.registry import PaymentRecord, record_payment
    from activities.trade_order import (
        CatalogueRequest,
        DocumentRecord,
        FeeQuote,
        FeeQuoteRequest,
        FileNumberRequest,
        InquiryRequest,
        OrderNumberRequest,
        assign_file_number,
        issue_order_number,
        load_goods_catalogue,
        quote_order_fee,
        record_document,
        run_rules_inquiry,
    )
    from domain import policy
    from domain.calendar import tehran_today
    from domain.commands import ENVELOPE, Actor, Command, Rejected, parse_start
    from domain.display import euros, iso, jalali_datetime, parse_instant, rials
    from lifecycles import trade_order as rules
    from lifecycles.trade_order import GoodsCatalogue, TradeFile, TradeOrderMachine

from workflows.common import (
    TRADE_ORDER_FIDELITY,
    TRADE_ORDER_MORE,
    Case,
    command,
    invalid_input,
    may_start_as,
    rejection,
    run_activity,
    start_input,
)


async def quote_fee(total_eur: Decimal) -> FeeQuote:
    """The full formula's fee for a total, at the EUR rate in force now."""
    return await run_activity(
        quote_order_fee,
        FeeQuoteRequest(workflow.info().workflow_id, str(total_eur), workflow.now()),
        summary="order fee at the EUR rate in force",
    )


def check_fee_payment(amount_rial: int, fee_rial: int | None, fee_deadline: str | None) -> None:
    """A fee payment must be the exact fee, inside its window.

    The window's timer and a payment can reach the workflow in the same activation, the payment
    first: the clock, not the timer having fired, decides.
    """
    if amount_rial != fee_rial:
        raise rejection(f"pay_fee: amount_rial must equal fee_rial ({fee_rial}), got {amount_rial}")
    deadline = parse_instant(fee_deadline)
    if deadline is not None and workflow.now() >= deadline:
        raise rejection(f"pay_fee: the fee window closed at {fee_deadline}")


async def load_catalogue() -> GoodsCatalogue | None:
    """The goods catalogue the case's validators check goods lines against (``None`` when the
    reference data is past ``policy.MAX_CATALOGUE_ENTRIES``: the inquiry alone checks then)."""
    answer = await run_activity(
        load_goods_catalogue, CatalogueRequest(workflow.info().workflow_id), summary="reference data: goods catalogue"
    )
    return answer.catalogue if answer.complete else None


def goods_refusal(update: str, lines: list[Any], catalogue: GoodsCatalogue | None) -> None:
    """Refuse goods lines the catalogue does not offer (read-only: validator and handler alike)."""
    if catalogue is not None and (problem := rules.goods_lines_problem(lines, catalogue)) is not None:
        raise rejection(f"{update}: {problem}")


def rules_date() -> str:
    """Today in Tehran, as the rules inquiry judges validity dates (ISO)."""
    return tehran_today(workflow.now()).isoformat()


def fee_deadline_from_now() -> str:
    """The end of a 15-day fee window opening now (seed 003 §13)."""
    return iso(workflow.now() + policy.FEE_WINDOW)  # type: ignore[return-value]


@workflow.defn(name="TradeOrder")
class TradeOrderWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        try:
            begin = parse_start(rules.Start, start)
            self.file = TradeFile(begin.applicant.national_id, begin.applicant.full_name)
            self._copied_from = begin.copied_from
            if begin.sections:
                rules.fill_from_sections(self.file, begin.sections)
        except Exception as err:  # reported by run(), which may fail the workflow cleanly
            self._start_error = str(err)
            self.file = TradeFile("", "")
            self._copied_from = None
        self.machine = TradeOrderMachine(self.file)
        self.case = Case(self.machine, rules.UPDATE_ROLES, self._describe, self._why_disabled)
        self._more = False
        """Cases started under ``TRADE_ORDER_MORE`` carry the goods catalogue."""

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        self._more = workflow.patched(TRADE_ORDER_MORE)
        if not self.case.resume(start):
            if self._more:
                self.file.contract_type_required = self.file.allocation_step = True
            await self.case.open(start, self._start_error, self._may_start)
        await self.case.run(self._next_deadline)
        return self.status()

    # --- queries ---

    @workflow.query
    def status(self) -> dict[str, Any]:
        if (refused := self.case.refusal()) is not None:
            return refused
        f = self.file
        out = self.case.status()
        out.update(
            applicant={"national_id": f.applicant_national_id, "full_name": f.applicant_full_name},
            file_number=f.file_number,
            **f.sections(),
            proforma_total_eur=str(rules.proforma_total_eur(f)),
            permits=dict(f.permits),
            permit_reasons=dict(f.permit_reasons),
            rejection_reasons=list(f.rejection_reasons),
            fee_rial=f.fee_rial,
            fee_rate_rial_per_eur=f.fee_rate_rial_per_eur,
            fee_deadline=f.fee_deadline,
            fee_expired=f.fee_expired,
            must_edit_again=f.must_edit_again,
            payment_ref=f.payment_ref,
            order_number=f.order_number,
            allocation_ref=f.allocation_ref,
            access=dict(f.access),
            copied_from=self._copied_from,
        )
        return out

    # --- filling the file in ---

    @command
    async def save_main_info(self, c: Any) -> None:
        self.file.main_info.update(rules.fields_of(c, rules.MAIN_INFO_FIELDS))
        self.case.fire("save_main_info", c.actor)

    @command
    async def save_transport(self, c: Any) -> None:
        self.file.transport.update(rules.fields_of(c, rules.TRANSPORT_FIELDS))
        self.case.fire("save_transport", c.actor)

    @command
    async def save_financials(self, c: Any) -> None:
        self.file.financials.update(rules.fields_of(c, rules.FINANCIAL_FIELDS))
        self.case.fire("save_financials", c.actor)

    @command
    async def add_goods(self, c: Any) -> None:
        self.file.goods.append(c.model_dump(mode="json", exclude=ENVELOPE, exclude_none=True))
        self.file.must_edit_again = False
        self.case.fire("add_goods", c.actor)

    @command
    async def attach_document(self, c: Any) -> None:
        doc = c.model_dump(mode="json", exclude=ENVELOPE)
        async with self.case.working("attach_document"):
            await run_activity(record_document, DocumentRecord(workflow_id=workflow.info().workflow_id, **doc))
        self.file.documents.append(doc)
        self.file.must_edit_again = False
        self.case.fire("attach_document", c.actor)

    @command
    async def submit(self, c: Any) -> None:
        async with self.case.working("submit"):
            self.file.file_number = await run_activity(
                assign_file_number,
                FileNumberRequest(workflow.info().workflow_id, self.file.applicant_national_id, workflow.now()),
            )
            if self._more:
                self.file.catalogue = await load_catalogue()
        self.case.fire("submit", c.actor, file_number=self.file.file_number)

    @command
    async def edit(self, c: Any) -> None:
        rules.apply_edit(self.file, c)
        self.file.must_edit_again = False
        self.case.fire("edit", c.actor)

    @command
    async def void(self, c: Any) -> None:
        self.case.fire("void", c.actor)

    @command
    async def abort(self, c: Any) -> None:
        """An operator ends the case, giving a reason (see ``Case.abort``)."""
        await self.case.abort(c)

    # --- rules inquiry and permits ---

    @command
    async def inquire_rules(self, c: Any) -> None:
        f = self.file
        f.rejection_reasons = []
        self.case.fire("inquire_rules", c.actor)
        async with self.case.working("inquire_rules"):
            if self._more:
                f.catalogue = await load_catalogue()
            outcome = await run_activity(
                run_rules_inquiry,
                InquiryRequest(workflow.info().workflow_id, f.sections(), rules_date()),
                summary="rules inquiry",
            )
        if outcome.reasons:
            f.rejection_reasons = list(outcome.reasons)
            self.case.fire("rules_failed", None, reasons=list(outcome.reasons))
        else:
            f.required_permits = list(outcome.required_permits)
            f.needs_expert_review = outcome.needs_expert_review
            f.permits = {}
            f.permit_reasons = {}
            self.case.fire("rules_passed", None, required_permits=list(outcome.required_permits))

    @command
    async def request_permits(self, c: Any) -> None:
        f = self.file
        f.permits = {org: "pending" for org in f.required_permits}
        f.permit_reasons = {}
        f.permit_withdrawal_used = False
        self.case.fire("request_permits", c.actor, permits=dict(f.permits))
        round_no = sum(1 for h in self.case.history if h["event"] == "request_permits")
        async with self.case.working("request_permits"):
            await self.case.notify_each(
                "permit_request",
                f"درخواست مجوز برای پرونده ثبت سفارش {f.file_number}",
                {f"permit-request-{round_no}-{org}": org for org in f.required_permits},
            )

    @command
    async def decide_permit(self, c: Any) -> None:
        f = self.file
        org = c.actor.id
        f.permits[org] = "approved" if c.approve else "rejected"
        if c.reason:
            f.permit_reasons[org] = c.reason
        extra: dict[str, Any] = {"organisation": org, "approve": c.approve}
        if c.reason:
            extra["reason"] = c.reason
        self._record_permit_rejections(extra)
        self.case.fire("decide_permit", c.actor, **extra)

    @command
    async def withdraw_permit_requests(self, c: Any) -> None:
        f = self.file
        marked = [org for org, v in f.permits.items() if v == "pending"]
        self.case.fire("withdraw_permit_requests", c.actor, marked_rejected=marked)
        f.permit_withdrawal_used = True
        for org in marked:
            f.permits[org] = "rejected"
            f.permit_reasons[org] = "withdrawn by the applicant before the organisation acted"
        self._record_permit_rejections({})
        self.case.refresh_details()

    # --- order registration and fee ---

    @command
    async def request_registration(self, c: Any) -> None:
        self.case.fire("request_registration", c.actor)
        if self.file.needs_expert_review:
            self.case.fire("order_system_accepted", None)
        else:
            async with self.case.working("request_registration"):
                await self._quote_fee()
            self._open_fee_window()
            self.case.fire("order_system_accepted", None, fee_rial=self.file.fee_rial)

    @command
    async def expert_decide(self, c: Any) -> None:
        f = self.file
        if c.approve:
            async with self.case.working("expert_decide"):
                await self._quote_fee()
            f.expert_approved = True
            self._open_fee_window()
            self.case.fire("expert_decide", c.actor, approve=True, fee_rial=f.fee_rial)
        else:
            f.expert_approved = False
            f.rejection_reasons = [c.reason or ""]
            self.case.fire("expert_decide", c.actor, approve=False, reasons=list(f.rejection_reasons))

    @command
    async def pay_fee(self, c: Any) -> None:
        f = self.file
        wf_id = workflow.info().workflow_id
        async with self.case.working("pay_fee"):
            await run_activity(
                record_payment,
                PaymentRecord(wf_id, "trade_order_fee", c.payment_ref, c.amount_rial, workflow.now(), bank_id=c.actor.id),
            )
            f.order_number = await run_activity(
                issue_order_number,
                OrderNumberRequest(
                    wf_id, workflow.now(), f.applicant_national_id, f.sections(), str(rules.proforma_total_eur(f)), c.amount_rial
                ),
            )
        f.payment_ref = c.payment_ref
        self.case.fire("pay_fee", c.actor, payment_ref=c.payment_ref, order_number=f.order_number)
        if self.case.state == "AwaitingAllocation":
            async with self.case.working("pay_fee"):
                await self.case.notify(
                    step="currency-allocation-request",
                    to=policy.CENTRAL_BANK_ID,
                    kind="currency_allocation_request",
                    text=f"درخواست تخصیص ارز برای ثبت سفارش {f.order_number}",
                )

    @command
    async def allocate_currency(self, c: Any) -> None:
        """The central bank allocates (or refuses) the currency of a ``bank_system`` file (seed 003 §3)."""
        f = self.file
        if c.approve:
            f.allocation_ref = c.allocation_ref
            self.case.fire("allocate_currency", c.actor, approve=True, allocation_ref=c.allocation_ref)
        else:
            f.rejection_reasons = [c.reason]
            self.case.fire("allocate_currency", c.actor, approve=False, reasons=[c.reason])

    # --- access to the file («تغییر سطح دسترسی») ---

    @command
    async def grant_access(self, c: Any) -> None:
        self.file.access[c.grantee_national_id] = c.level
        self.case.fire("grant_access", c.actor, grantee_national_id=c.grantee_national_id, level=c.level)

    @command
    async def revoke_access(self, c: Any) -> None:
        self.file.access.pop(c.grantee_national_id)
        self.case.fire("revoke_access", c.actor, grantee_national_id=c.grantee_national_id)

    # --- helpers ---

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        """Validate a command read-only: the case's checks, then this lifecycle's identity rules."""
        c: Command = self.case.check(update, cmd, rules.COMMANDS[update], subject=self._check_subject)
        f = self.file
        if update == "pay_fee":
            check_fee_payment(c.amount_rial, f.fee_rial, f.fee_deadline)  # type: ignore[attr-defined]
        # A file grows with its goods lines and documents: both are bounded (domain/policy.py).
        if update == "add_goods" and len(f.goods) >= policy.MAX_GOODS_LINES:
            raise rejection(f"add_goods: the file has {len(f.goods)} goods lines already, the most one file takes")
        # Only goods the catalogue offers (seed 003 §4); cases without one leave it to the inquiry.
        if update == "add_goods" and f.catalogue is not None:
            if (problem := rules.catalogue_problem(c.tariff_code, c.goods_id, f.catalogue)) is not None:  # type: ignore[attr-defined]
                raise rejection(f"add_goods: {problem}")
        if update == "edit" and c.goods is not None:  # type: ignore[attr-defined]
            goods_refusal(update, list(c.goods), f.catalogue)  # type: ignore[attr-defined]
        if update == "save_transport":
            merged = {**f.transport, **rules.fields_of(c, rules.TRANSPORT_FIELDS)}
            if (problem := rules.shipping_problem(merged.get("contract_type"), merged.get("shipping_method"))) is not None:
                raise rejection(f"save_transport: {problem}")
        if update == "grant_access":
            grantee = c.grantee_national_id  # type: ignore[attr-defined]
            if grantee == f.applicant_national_id:
                raise rejection("grant_access: the applicant has every access to the file already")
            if grantee not in f.access and len(f.access) >= policy.MAX_ACCESS_GRANTS:
                raise rejection(f"grant_access: the file is shared with {len(f.access)} users already, the most it takes")
        if update == "revoke_access" and c.grantee_national_id not in f.access:  # type: ignore[attr-defined]
            raise rejection("revoke_access: that user has no access to the file")
        if update == "attach_document" and len(f.documents) >= policy.MAX_DOCUMENTS:
            raise rejection(f"attach_document: the file has {len(f.documents)} documents already, the most one file takes")
        if update == "edit":
            if c.model_dump(exclude=set(ENVELOPE), exclude_none=True) == {}:
                raise rejection("edit: carries no field to change")
            try:
                rules.check_edit(f, c)  # type: ignore[arg-type]  # COMMANDS["edit"] is rules.Edit
            except Rejected as err:
                raise rejection(f"edit: {err}") from None
        return c

    def _check_subject(self, update: str, actor: Actor) -> None:
        f = self.file
        if actor.role == "applicant" and actor.id != f.applicant_national_id:
            # A user the owner granted access to acts for what the level allows («تغییر سطح دسترسی»).
            level = f.access.get(actor.id)
            if level is None or update not in policy.ACCESS_LEVELS[level]:
                raise rejection(f"{update}: only the file's owner (or a user given access to it that allows this) may do this")
        if update == "allocate_currency" and actor.id != policy.CENTRAL_BANK_ID:
            raise rejection(f"allocate_currency: only the central bank ({policy.CENTRAL_BANK_ID}) allocates currency")
        if update == "decide_permit":
            if actor.id not in f.permits:
                raise rejection(f"decide_permit: organisation {actor.id!r} was not asked for a permit on this file")
            if f.permits[actor.id] != "pending":
                raise rejection(f"decide_permit: organisation {actor.id!r} already answered ({f.permits[actor.id]})")

    async def _may_start(self, actor: Actor) -> str | None:
        why_not = may_start_as(actor, {"applicant": self.file.applicant_national_id})
        if why_not is not None or not self._more:
            return why_not
        # Loaded before the case claims its id, so a copy whose goods the catalogue does not offer
        # (or a line with neither specs nor standard) is refused with nothing written.
        self.file.catalogue = await load_catalogue()
        if self.file.goods:
            lines = [rules.GoodsItem.model_validate(g) for g in self.file.goods]
            if (problem := rules.goods_lines_problem(lines, self.file.catalogue)) is not None:
                raise invalid_input(f"TradeOrder input: sections: {problem}")
        return None

    def _record_permit_rejections(self, extra: dict[str, Any]) -> None:
        f = self.file
        if "pending" not in f.permits.values() and "rejected" in f.permits.values():
            f.rejection_reasons = [
                f"{org}: {f.permit_reasons.get(org, 'rejected')}" for org, v in f.permits.items() if v == "rejected"
            ]
            extra["reasons"] = list(f.rejection_reasons)

    def _why_disabled(self, update: str) -> str | None:
        if update == "submit":
            return "the file is incomplete; missing: " + ", ".join(rules.missing_for_submit(self.file))
        if update == "withdraw_permit_requests":
            return "permit requests can be withdrawn only once per wait"
        if update == "inquire_rules" and self.file.must_edit_again:
            return (
                f"the fee was not paid within {policy.FEE_WINDOW.days} days: the file must be edited again "
                "(edit, add_goods or attach_document) before a new inquiry"
            )
        return None

    async def _quote_fee(self) -> None:
        f = self.file
        quote = await quote_fee(rules.proforma_total_eur(f))
        f.fee_rial = quote.fee_rial
        f.fee_rate_rial_per_eur = quote.rial_per_eur

    def _open_fee_window(self) -> None:
        self.file.fee_deadline = fee_deadline_from_now()
        self.file.fee_expired = False

    def _next_deadline(self) -> tuple[datetime, Any] | None:
        if self.case.state == "AwaitingFee" and self.file.fee_deadline:
            deadline = parse_instant(self.file.fee_deadline)
            assert deadline is not None
            return deadline, self._fee_window_ran_out
        return None

    def _fee_window_ran_out(self) -> None:
        f = self.file
        f.fee_expired = True
        f.must_edit_again = workflow.patched(TRADE_ORDER_FIDELITY)  # cases before it may inquire at once
        f.rejection_reasons = [f"the fee was not paid within {policy.FEE_WINDOW.days} days"]
        self.case.fire("fee_expired", None, reasons=list(f.rejection_reasons))

    def _describe(self) -> list[str]:
        f = self.file
        lines = [f"**متقاضی:** {f.applicant_full_name}"]
        if f.file_number:
            lines.append(f"**شماره پرونده:** {f.file_number}")
        if f.goods:
            lines.append(f"**مبلغ کل پیش‌فاکتور:** {euros(rules.proforma_total_eur(f))}")
        if f.permits:
            labels = {"pending": "در انتظار", "approved": "تأیید", "rejected": "رد"}
            lines.append("**مجوزها:** " + "، ".join(f"{org}: {labels[v]}" for org, v in f.permits.items()))
        if f.fee_rial is not None:
            lines.append(f"**کارمزد:** {rials(f.fee_rial)}")
        if self.case.state == "AwaitingFee":
            lines.append(f"**مهلت پرداخت کارمزد:** {jalali_datetime(parse_instant(f.fee_deadline))}")
        if f.order_number:
            lines.append(f"**شماره ثبت سفارش:** {f.order_number}")
        if f.allocation_ref:
            lines.append(f"**شماره تخصیص ارز:** {f.allocation_ref}")
        if f.access:
            lines.append(f"**دسترسی داده‌شده به:** {len(f.access)} کاربر")
        if f.rejection_reasons:
            lines.append("**علت رد:** " + "؛ ".join(f.rejection_reasons))
        return lines
