"""The ``TradeOrderAmendment`` workflow: an edit or a renewal of a registered order (seed 003 §13).

Started for a Registered TradeOrder case (``python starter.py trade-order amend``); it loads the
registered order from the registry, lets the applicant edit it (edits are inquired again), charges
the seed's fee for the kind within a 15-day window, and on payment makes the amended order the
registry's current one.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.registry import PaymentRecord
    from activities.trade_order import (
        AmendmentSettlement,
        InquiryRequest,
        OrderLookup,
        RegisteredOrderView,
        load_registered_order,
        run_rules_inquiry,
        settle_amendment,
    )
    from domain.commands import ENVELOPE, Abort, Actor, Command, Rejected, parse_start
    from domain.display import jalali_datetime, parse_instant, rials
    from lifecycles import trade_order as rules
    from lifecycles import trade_order_amendment as amend
    from lifecycles.trade_order import TradeFile
    from lifecycles.trade_order_amendment import Amendment, AmendmentMachine

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
from workflows.trade_order import (
    check_fee_payment,
    fee_deadline_from_now,
    goods_refusal,
    load_catalogue,
    quote_fee,
    rules_date,
)

COMMANDS: dict[str, type[Command]] = {
    "edit": rules.Edit,
    "submit": Command,
    "cancel": Command,
    "decide_permit": rules.Decision,
    "withdraw_permit_requests": Command,
    "expert_decide": rules.Decision,
    "pay_fee": rules.PayFee,
    "abort": Abort,
}
KIND_FA = {"edit": "ویرایش", "renewal": "تمدید"}


@workflow.defn(name="TradeOrderAmendment")
class TradeOrderAmendmentWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        try:
            begin = parse_start(amend.Start, start)
            self.data = Amendment(kind=begin.kind, order_workflow_id=begin.order_workflow_id)
        except Rejected as err:
            self._start_error = str(err)
            self.data = Amendment(kind="renewal", order_workflow_id="")
        self.machine = AmendmentMachine(self.data)
        self.case = Case(self.machine, amend.UPDATE_ROLES, self._describe, self._why_disabled)
        self.case.busy = "loading the registered order"
        self._order: RegisteredOrderView | None = None
        self._more = False
        """Cases started under ``TRADE_ORDER_MORE`` carry the goods catalogue."""

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        self._more = workflow.patched(TRADE_ORDER_MORE)
        if self.case.resume(start):
            await self.case.run(self._next_deadline)
            return self.status()
        await self.case.open(start, self._start_error, self._may_start)
        order = self._order
        assert order is not None
        d = self.data
        d.order_number = order.order_number
        d.applicant_national_id = order.applicant_national_id
        d.last_fee_rial = order.last_fee_rial
        d.order_version = order.version
        d.file = TradeFile(order.applicant_national_id, "")
        rules.fill_from_sections(d.file, order.sections)
        d.registered_sections = order.sections
        if self._more:
            d.permit_rejection_is_a_state = True
            d.catalogue = await load_catalogue()
        self.case.busy = None
        await self.case.run(self._next_deadline)
        return self.status()

    def _check_subject(self, update: str, actor: Actor) -> None:
        d = self.data
        if actor.role == "applicant" and actor.id != d.applicant_national_id:
            raise rejection(f"{update}: only the order's owner may do this")
        if update == "decide_permit":
            if actor.id not in d.permits:
                raise rejection(f"decide_permit: organisation {actor.id!r} was not asked for a permit on this amendment")
            if d.permits[actor.id] != "pending":
                raise rejection(f"decide_permit: organisation {actor.id!r} already answered ({d.permits[actor.id]})")

    async def _may_start(self, actor: Actor) -> str | None:
        """Only the registered order's applicant amends it: read the order (no write) to know who."""
        if actor.role != "applicant":
            return may_start_as(actor, {"applicant": None})
        try:
            self._order = await run_activity(load_registered_order, OrderLookup(self.data.order_workflow_id))
        except ActivityError as err:
            raise invalid_input(f"TradeOrderAmendment: {getattr(err.cause, 'message', err)}") from None
        return may_start_as(actor, {"applicant": self._order.applicant_national_id})

    @workflow.query
    def status(self) -> dict[str, Any]:
        if (refused := self.case.refusal()) is not None:
            return refused
        d = self.data
        out = self.case.status()
        out.update(
            kind=d.kind,
            order_workflow_id=d.order_workflow_id,
            order_number=d.order_number,
            proforma_total_eur=str(rules.proforma_total_eur(d.file)) if d.file else None,
            **(d.file.sections() if d.file else {}),
            last_fee_rial=d.last_fee_rial,
            full_fee_rial=d.full_fee_rial,
            fee_rial=d.fee_rial,
            fee_rate_rial_per_eur=d.fee_rate_rial_per_eur,
            fee_deadline=d.fee_deadline,
            fee_expired=d.fee_expired,
            payment_ref=d.payment_ref,
            rejection_reasons=list(d.rejection_reasons),
            permits=dict(d.permits),
            needs_expert_review=d.needs_expert_review,
        )
        return out

    @command
    async def edit(self, c: Any) -> None:
        assert self.data.file is not None
        rules.apply_edit(self.data.file, c)
        self.case.fire("edit", c.actor)

    @command
    async def submit(self, c: Any) -> None:
        d = self.data
        assert d.file is not None
        d.rejection_reasons = []
        if d.kind == "edit":
            self.case.fire("submit", c.actor)
            async with self.case.working("submit"):
                if self._more:
                    d.catalogue = await load_catalogue()
                outcome = await run_activity(
                    run_rules_inquiry,
                    InquiryRequest(workflow.info().workflow_id, d.file.sections(), rules_date()),
                    summary="rules inquiry of the edited order",
                )
            if outcome.reasons:
                d.rejection_reasons = list(outcome.reasons)
                self.case.fire("rules_failed", None, reasons=list(outcome.reasons))
                return
            if workflow.patched(TRADE_ORDER_FIDELITY) and await self._needs_permits_or_review(outcome):
                self.case.fire("rules_passed", None, permits=dict(d.permits), needs_expert_review=d.needs_expert_review)
                await self._ask_for_permits()
                return
            async with self.case.working("submit"):
                await self._quote()
            self.case.fire("rules_passed", None, fee_rial=d.fee_rial)
        else:
            async with self.case.working("submit"):
                await self._quote()
            self.case.fire("submit", c.actor, fee_rial=d.fee_rial)

    @command
    async def decide_permit(self, c: Any) -> None:
        """A licensing organisation answers for the edited content (its token's id is the organisation)."""
        d = self.data
        org = c.actor.id
        d.permits[org] = "approved" if c.approve else "rejected"
        if c.reason:
            d.permit_reasons[org] = c.reason
        extra: dict[str, Any] = {"organisation": org, "approve": c.approve}
        if c.reason:
            extra["reason"] = c.reason
        if d.permits_answered_with_rejection:
            d.rejection_reasons = [f"{o}: {d.permit_reasons.get(o, 'rejected')}" for o, v in d.permits.items() if v == "rejected"]
            extra["reasons"] = list(d.rejection_reasons)
        elif d.permits_all_approved and not d.needs_expert_review:
            async with self.case.working("decide_permit"):
                await self._quote()
            extra["fee_rial"] = d.fee_rial
        self.case.fire("decide_permit", c.actor, **extra)

    @command
    async def withdraw_permit_requests(self, c: Any) -> None:
        """«ارسال رد درخواست مجوزها» (seed 003 §11), once per wait: the organisations that have not
        acted are marked rejected and the amendment stops in PermitRejected, to be edited."""
        d = self.data
        marked = [org for org, v in d.permits.items() if v == "pending"]
        reasons = dict(d.permit_reasons)
        reasons.update({org: "withdrawn by the applicant before the organisation acted" for org in marked})
        rejected = [org for org, v in d.permits.items() if v == "rejected" or org in marked]
        d.rejection_reasons = [f"{org}: {reasons.get(org, 'rejected')}" for org in rejected]
        # Fired while the requests are still pending (the guard reads them), then marked.
        self.case.fire("withdraw_permit_requests", c.actor, marked_rejected=marked, reasons=list(d.rejection_reasons))
        d.permit_withdrawal_used = True
        d.permit_reasons = reasons
        for org in marked:
            d.permits[org] = "rejected"
        self.case.refresh_details()

    @command
    async def expert_decide(self, c: Any) -> None:
        d = self.data
        d.expert_approved = c.approve
        if c.approve:
            async with self.case.working("expert_decide"):
                await self._quote()
            self.case.fire("expert_decide", c.actor, approve=True, fee_rial=d.fee_rial)
        else:
            d.rejection_reasons = [c.reason or ""]
            self.case.fire("expert_decide", c.actor, approve=False, reasons=list(d.rejection_reasons))

    @command
    async def cancel(self, c: Any) -> None:
        self.case.fire("cancel", c.actor)

    @command
    async def pay_fee(self, c: Any) -> None:
        d = self.data
        assert d.file is not None and d.order_number and d.full_fee_rial is not None
        wf_id = workflow.info().workflow_id
        assert d.order_version is not None
        async with self.case.working("pay_fee"):
            await run_activity(
                settle_amendment,
                AmendmentSettlement(
                    wf_id,
                    d.order_number,
                    d.order_version,
                    d.kind,
                    d.file.sections(),
                    str(rules.proforma_total_eur(d.file)),
                    d.full_fee_rial,
                    PaymentRecord(
                        wf_id, f"trade_order_{d.kind}_fee", c.payment_ref, c.amount_rial, workflow.now(), bank_id=c.actor.id
                    ),
                ),
                summary="take the fee and apply the amendment",
            )
        d.payment_ref = c.payment_ref
        self.case.fire("pay_fee", c.actor, payment_ref=c.payment_ref)

    @command
    async def abort(self, c: Any) -> None:
        """An operator ends the case, giving a reason (see ``Case.abort``)."""
        await self.case.abort(c)

    # --- helpers ---

    async def _needs_permits_or_review(self, edited: Any) -> bool:
        """Set the permits the edited content newly needs and whether it needs the expert's review;
        the registered content's permits come from the same inquiry over its sections."""
        d = self.data
        registered: list[str] = []
        if d.registered_sections is not None:
            async with self.case.working("submit"):
                before = await run_activity(
                    run_rules_inquiry,
                    InquiryRequest(workflow.info().workflow_id, d.registered_sections, rules_date()),
                    summary="permits the registered order needed",
                )
            registered = list(before.required_permits)
        d.permits = {org: "pending" for org in amend.permits_newly_needed(list(edited.required_permits), registered)}
        d.permit_reasons = {}
        d.permit_withdrawal_used = False
        d.needs_expert_review = bool(edited.needs_expert_review)
        d.expert_approved = False
        return bool(d.permits) or d.needs_expert_review

    async def _ask_for_permits(self) -> None:
        d = self.data
        round_no = sum(1 for h in self.case.history if h["event"] == "rules_passed")
        async with self.case.working("submit"):
            await self.case.notify_each(
                "permit_request",
                f"درخواست مجوز برای ویرایش ثبت سفارش {d.order_number}",
                {f"permit-request-{round_no}-{org}": org for org in d.permits},
            )

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        c: Any = self.case.check(update, cmd, COMMANDS[update], subject=self._check_subject)
        d = self.data
        if update == "pay_fee":
            check_fee_payment(c.amount_rial, d.fee_rial, d.fee_deadline)
        if update == "edit":
            if c.model_dump(exclude=ENVELOPE, exclude_none=True) == {}:
                raise rejection("edit: carries no field to change")
            assert d.file is not None
            if c.goods is not None:
                goods_refusal(update, list(c.goods), d.catalogue)  # only goods the catalogue offers (seed 003 §4)
            try:
                rules.check_edit(d.file, c)
            except Rejected as err:
                raise rejection(f"edit: {err}") from None
        return c

    def _why_disabled(self, update: str) -> str | None:
        if update == "withdraw_permit_requests":
            return "permit requests can be withdrawn only once per wait"
        return None

    async def _quote(self) -> None:
        d = self.data
        assert d.file is not None and d.last_fee_rial is not None
        quote = await quote_fee(rules.proforma_total_eur(d.file))
        d.full_fee_rial = quote.fee_rial
        d.fee_rate_rial_per_eur = quote.rial_per_eur
        d.fee_rial = amend.amendment_charge_rial(d.kind, quote.fee_rial, d.last_fee_rial, Decimal(quote.rial_per_eur))
        d.fee_deadline = fee_deadline_from_now()
        d.fee_expired = False

    def _next_deadline(self) -> tuple[datetime, Any] | None:
        if self.case.state == "AwaitingFee" and self.data.fee_deadline:
            deadline = parse_instant(self.data.fee_deadline)
            assert deadline is not None
            return deadline, self._fee_window_ran_out

        return None

    def _fee_window_ran_out(self) -> None:
        self.data.fee_expired = True
        self.case.fire("fee_expired", None)

    def _describe(self) -> list[str]:
        d = self.data
        lines = [f"**{KIND_FA[d.kind]} ثبت سفارش:** {d.order_number or '—'}"]
        if d.fee_rial is not None:
            lines.append(f"**کارمزد:** {rials(d.fee_rial)} (آخرین کارمزد محاسبه‌شده: {rials(d.last_fee_rial)})")
        if self.case.state == "AwaitingFee":
            lines.append(f"**مهلت پرداخت کارمزد:** {jalali_datetime(parse_instant(d.fee_deadline))}")
        if d.permits:
            verdicts = {"pending": "در انتظار", "approved": "تأیید", "rejected": "رد"}
            lines.append("**مجوزها:** " + "، ".join(f"{org}: {verdicts[v]}" for org, v in d.permits.items()))
        if d.rejection_reasons:
            lines.append("**علت رد:** " + "؛ ".join(d.rejection_reasons))
        return lines
