"""The baselines for bench/lifecycle.py: a hand-written trade order with no lifecycle machinery.

``BenchBare`` takes the TradeOrder's updates (same names, same JSON, same signed tokens, verified
the same way: keys in the validator, claims and ``jti`` in the handler) and runs the business
activities the lifecycle needs, with the same arguments against the same registry:

- start: ``verify_start_token`` (trust, as every case), ``load_goods_catalogue`` (the reference
  data a file's goods are checked against) and ``claim_case_id`` (registry rows are keyed by
  workflow id, so any case writing them claims its id first);
- ``attach_document`` → ``record_document``; ``submit`` → ``assign_file_number`` and
  ``load_goods_catalogue``; ``inquire_rules`` → ``load_goods_catalogue`` and ``run_rules_inquiry``; ``request_registration`` → ``quote_order_fee``;
  ``pay_fee`` → ``record_payment`` then ``issue_order_number``.

What it leaves out is the lifecycle's own cost: state machine, pydantic commands, history,
``CaseState``, UI details, the whole status as every update's result, the audit log and the
notifications. The start input's ``mirror`` adds back the audit and notification calls the
lifecycle made (per update, as counted from a lifecycle's history; run in the update handler after
its business activities, where the lifecycle runs its audit from the main loop in the same workflow
task), so one workflow gives both baselines: "same activities" and "business activities only".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.registry import (
        AuditRecord,
        CaseIdClaim,
        Notification,
        PaymentRecord,
        claim_case_id,
        record_payment,
        record_transition,
        record_transitions,
        send_notification,
        send_notifications,
    )
    from activities.trade_order import (
        CatalogueRequest,
        DocumentRecord,
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
    from activities.trust import UNAUTHENTICATED, StartToken, verify_start_token
    from domain.calendar import tehran_today
    from lifecycles.trade_order import UPDATE_ROLES, TradeFile, proforma_total_eur
    from security import tokens

from workflows.common import ACTIVITY_RETRY, ACTIVITY_TIMEOUT, run_activity

BUSINESS = {
    "attach_document": ("record_document",),
    "submit": ("assign_file_number", "load_goods_catalogue"),
    "inquire_rules": ("load_goods_catalogue", "run_rules_inquiry"),
    "request_registration": ("quote_order_fee",),
    "pay_fee": ("record_payment", "issue_order_number"),
}
"""The activities TradeOrder needs beyond the audit log and notifications, by update."""

OPENING = ("verify_start_token", "load_goods_catalogue", "claim_case_id")
"""What every case runs at its start, the baselines included."""

MIRRORED = {"record_transitions", "record_transition", "send_notification", "send_notifications"}
"""The lifecycle's own activities the "same activities" baseline repeats (audit, notifications)."""

SECTIONS = {"save_main_info": "main_info", "save_transport": "transport", "save_financials": "financials"}


def _arg(args: Sequence[RawValue]) -> dict[str, Any]:
    value = workflow.payload_converter().from_payload(args[0].payload, dict) if len(args) == 1 else None
    if not isinstance(value, dict):
        raise ApplicationError("the argument must be one JSON object", type="Rejected", non_retryable=True)
    return value


@workflow.defn(name="BenchBare")
class BareWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        applicant = start["applicant"]
        self.file = TradeFile(applicant["national_id"], applicant["full_name"])
        self.mirror: dict[str, Any] = start.get("mirror") or {"open": [], "updates": []}
        self.used_jtis: set[str] = set()
        self.opened = False
        self.updates = 0
        self.audit_seq = 0

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        info, now = workflow.info(), workflow.now()
        try:
            actor = await workflow.execute_activity(
                verify_start_token,
                StartToken(start.get("actor_token", ""), info.workflow_id, info.namespace, now, info.workflow_type, info.run_id),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=[UNAUTHENTICATED]),
                summary="verify the actor token",
            )
        except Exception as err:
            raise ApplicationError(f"start refused: {err}", type=UNAUTHENTICATED, non_retryable=True) from None
        if actor.role != "applicant" or actor.id != self.file.applicant_national_id:
            raise ApplicationError("only the applicant named may start", type=UNAUTHENTICATED, non_retryable=True)
        self.used_jtis.add(actor.jti)
        await self._catalogue()
        await run_activity(
            claim_case_id,
            CaseIdClaim(info.workflow_id, info.first_execution_run_id, info.workflow_type, workflow.now()),
            summary="claim the workflow id",
        )
        for step in self.mirror["open"]:
            await self._mirror("start", step)
        self.opened = True
        await workflow.wait_condition(lambda: self.file.order_number is not None and workflow.all_handlers_finished())
        return {"order_number": self.file.order_number}

    @workflow.update(dynamic=True)
    async def command(self, name: str, args: Sequence[RawValue]) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self.opened)
        cmd = _arg(args)
        actor = self._actor(name, cmd, tokens.claims_of(str(cmd.get("actor_token"))))
        self.used_jtis.add(actor.jti)
        ordinal = self.updates
        self.updates += 1
        fields = {k: v for k, v in cmd.items() if k not in ("actor", "actor_token")}
        result = await self._business(name, fields, actor)
        plan = self.mirror["updates"]
        for step in plan[ordinal] if ordinal < len(plan) else []:
            await self._mirror(name, step)
        return result

    @command.validator
    def _validate(self, name: str, args: Sequence[RawValue]) -> None:
        cmd = _arg(args)
        keys = tokens.installed()
        if keys is None:
            raise ApplicationError("this worker trusts no actor keys", type=UNAUTHENTICATED, non_retryable=True)
        info = workflow.info()
        try:
            proven = keys.verify(
                cmd.get("actor_token"), namespace=info.namespace, workflow_id=info.workflow_id, update=name, now=workflow.now()
            )
        except tokens.TokenRejected as err:
            raise ApplicationError(f"{name}: {err}", type=UNAUTHENTICATED, non_retryable=True) from None
        self._actor(name, cmd, proven)

    def _actor(self, name: str, cmd: dict[str, Any], proven: tokens.VerifiedActor) -> tokens.VerifiedActor:
        if name not in UPDATE_ROLES or proven.role not in UPDATE_ROLES[name]:
            raise ApplicationError(f"{name}: role {proven.role!r} may not do this", type="Rejected", non_retryable=True)
        if proven.jti in self.used_jtis:
            raise ApplicationError(f"{name}: actor_token was already used", type=UNAUTHENTICATED, non_retryable=True)
        return proven

    async def _business(self, name: str, fields: dict[str, Any], actor: tokens.VerifiedActor) -> dict[str, Any]:
        f, wid, now = self.file, workflow.info().workflow_id, workflow.now()
        if name in SECTIONS:
            getattr(f, SECTIONS[name]).update(fields)
        elif name == "add_goods":
            f.goods.append(fields)
        elif name == "attach_document":
            await run_activity(record_document, DocumentRecord(workflow_id=wid, **fields))
            f.documents.append(fields)
        elif name == "submit":
            f.file_number = await run_activity(assign_file_number, FileNumberRequest(wid, f.applicant_national_id, now))
            await self._catalogue()
        elif name == "inquire_rules":
            await self._catalogue()
            today = tehran_today(now).isoformat()
            outcome = await run_activity(run_rules_inquiry, InquiryRequest(wid, f.sections(), today), summary="rules inquiry")
            if outcome.reasons:
                raise ApplicationError("; ".join(outcome.reasons), type="Rejected", non_retryable=True)
            f.required_permits = list(outcome.required_permits)
        elif name == "request_permits":
            f.permits = {org: "pending" for org in f.required_permits}
            return {"permits": dict(f.permits)}
        elif name == "decide_permit":
            f.permits[actor.id] = "approved" if fields.get("approve") else "rejected"
        elif name == "request_registration":
            quote = await run_activity(
                quote_order_fee,
                FeeQuoteRequest(wid, str(proforma_total_eur(f)), now),
                summary="order fee at the EUR rate in force",
            )
            f.fee_rial = quote.fee_rial
            return {"fee_rial": f.fee_rial}
        elif name == "pay_fee":
            if f.fee_rial is None or fields.get("amount_rial") != f.fee_rial:
                raise ApplicationError("amount_rial must equal the fee", type="Rejected", non_retryable=True)
            payment = PaymentRecord(wid, "trade_order_fee", fields["payment_ref"], f.fee_rial, now, bank_id=actor.id)
            await run_activity(record_payment, payment)
            f.order_number = await run_activity(
                issue_order_number,
                OrderNumberRequest(wid, now, f.applicant_national_id, f.sections(), str(proforma_total_eur(f)), f.fee_rial),
            )
            f.payment_ref = fields["payment_ref"]
            return {"order_number": f.order_number}
        return {"updates": self.updates}

    async def _catalogue(self) -> None:
        await run_activity(
            load_goods_catalogue, CatalogueRequest(workflow.info().workflow_id), summary="reference data: goods catalogue"
        )

    async def _mirror(self, name: str, step: dict[str, Any]) -> None:
        """One audit or notification call of the lifecycle, with rows of the same shape."""
        info, now = workflow.info(), workflow.now()
        activity = step["activity"]
        if activity in ("send_notification", "send_notifications"):
            self.audit_seq += 1
            step_id = f"bench-{self.audit_seq}"
            note = Notification(info.workflow_id, step_id, "bench-org", "permit_request", "درخواست مجوز", now)
            if activity == "send_notification":
                await run_activity(send_notification, note, summary="permit_request → bench-org")
            else:  # the lifecycle's one request to each of the case's two organisations
                other = Notification(info.workflow_id, f"{step_id}-2", "bench-org-2", "permit_request", "درخواست مجوز", now)
                await run_activity(send_notifications, [note, other], summary="permit_request → 2 recipients")
            return
        rows = []
        for _ in range(max(1, step.get("rows", 1))):
            self.audit_seq += 1
            seq = self.audit_seq
            rows.append(AuditRecord(info.workflow_id, info.workflow_type, seq, name, "A", "B", now, "applicant", "x", "j"))
        fn: Any = record_transitions if activity == "record_transitions" else record_transition
        arg: Any = rows if activity == "record_transitions" else rows[0]
        summary = f"audit {rows[0].seq}..{rows[-1].seq}"
        if step.get("local"):
            await workflow.execute_local_activity(
                fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY, summary=summary
            )
        else:
            await run_activity(fn, arg, summary=summary)
