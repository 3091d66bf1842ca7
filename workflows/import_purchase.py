"""The ``ImportPurchase`` workflow: one imported-car purchase, registration to delivery (seed 001).

Deterministic code only: the states live in :class:`lifecycles.import_purchase.ImportPurchaseMachine`,
every I/O is an activity, and every clock is a durable timer:
- the delay penalty: one timer per started 30-day period past the delivery deadline (it puts the
  period in history and wakes the case). No command relies on those timers having fired: a timer
  and an update can land in the same activation, the update's validator and handler first, so
  lateness is computed from ``workflow.now()`` and the deadline (``rules.periods_late``,
  ``rules.may_cancel_for_delay``; ``status`` likewise),
- the SMS withdrawal code's expiry, and the operator's reinstatement window after a withdrawal,
  all in :meth:`Case.run`;
- the 72-hour release of the escrow deposit: a background task running the release (retried)
  against a timer that raises an alert if the bank has not confirmed in time.

Cases started with ``PURCHASE_MONEY`` (seed 001's money): the delay timers follow the stretches in
which the importer is at fault (``rules.delay_spans``: the car not at customs after the contractual
date; not delivered a calendar month after stage 3), a timer holds the buyer's stage-3 deadline
(``_stage3_expired``), and the background task settles the case through the escrow bank adapter
(``settle_purchase``: the refund, deposit included, and the delay penalties, under an idempotency
key) instead of only releasing the deposit.

The withdrawal code is drawn inside an activity, which queues it in the SMS outbox and returns
nothing: neither the code nor any digest of it is in the workflow's state or history (a 6-digit
code's hash is brute-forced in milliseconds). The workflow keeps the code's outbox step, expiry and
attempts left; ``withdraw`` checks the given code against the outbox row in an activity. A wrong
code is an accepted update that counts the attempt and then fails with ``WrongCode`` (a validator
cannot count); after ``WITHDRAWAL_CODE_MAX_ATTEMPTS`` wrong codes the code is burnt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from persiantools.digits import en_to_fa

    from activities.import_offering import (
        ApplicationQuery,
        ApplicationRecord,
        OfferingsQuery,
        SeatRelease,
        SeatRequest,
        announced_offerings,
        application_standing,
        apply_to_offering,
        give_up_seat,
        offering_seat,
        withdraw_offering_application,
    )
    from activities.import_purchase import (
        AllocationRecord,
        AllocationRelease,
        Closing,
        CodeCheck,
        CodeRequest,
        DeliveryRecord,
        DepositRequest,
        EligibilityRequest,
        PlateCheck,
        Registration,
        Reinstatement,
        SettlementRequest,
        WorkingDeadline,
        check_eligibility,
        check_withdrawal_code,
        close_registration,
        issue_withdrawal_code,
        reblock_deposit,
        recheck_active_plate,
        record_allocation,
        record_delivery,
        record_deposit_unblocked,
        record_registration,
        reinstate_registration,
        release_allocation,
        release_deposit,
        settle_purchase,
        working_hours_deadline,
    )
    from activities.import_scheme import (
        SCHEME_VERDICT_SIGNAL,
        ApplicantRecheck,
        SchemeEntry,
        SchemeExit,
        StandingRequest,
        recheck_in_scheme,
        register_in_scheme,
        rejoin_scheme,
        scheme_registration_refusal,
        scheme_standing,
        withdraw_from_scheme,
    )
    from activities.registry import PaymentRecord, record_payment
    from domain import policy
    from domain.calendar import tehran_today
    from domain.commands import Actor, Command, parse_start
    from domain.display import iso, jalali_date, jalali_datetime, rials
    from domain.money import payment_key
    from lifecycles import import_offering as offerings
    from lifecycles import import_purchase as rules
    from lifecycles import withdrawal
    from lifecycles.import_purchase import ImportPurchaseMachine, PurchaseCase, instant, later

from workflows.common import (
    ACTIVITY_TIMEOUT,
    CALENDAR_MONTHS,
    IMPORT_OFFERINGS,
    PURCHASE_MONEY,
    SCHEME_ROUNDS,
    Case,
    command,
    done_within,
    may_start_as,
    rejection,
    run_activity,
    start_input,
)

RELEASE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=15),
    non_retryable_error_types=["Rejected"],
)
"""A bank is an outside party: retried without limit, but no more often than every 15 minutes."""


def fa_days(span: timedelta) -> str:
    """A policy span in whole days, in Persian digits (e.g. 30 days)."""
    return f"{en_to_fa(str(span.days))} روز"


def fa_months(months: int) -> str:
    """A policy number of calendar months, in Persian digits (e.g. 3 months)."""
    return f"{en_to_fa(str(months))} ماه"


def fa_hours(span: timedelta) -> str:
    """A policy span in whole hours, in Persian digits (e.g. 72 hours)."""
    return f"{en_to_fa(str(span // timedelta(hours=1)))} ساعت"


WITHDRAWABLE = frozenset({"Eligible", "Allocated", "Signed", "Contracted", "AtCustoms", "AwaitingDelivery"})
"""States in which a withdrawal code may be requested and used."""


@workflow.defn(name="ImportPurchase")
class ImportPurchaseWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        try:
            begin = parse_start(rules.Start, start)
            a, d = begin.applicant, begin.deposit
            self.p = PurchaseCase(
                scheme_id=begin.scheme_id,
                applicant_national_id=a.national_id,
                applicant_full_name=a.full_name,
                has_driving_license=a.has_driving_license,
                is_legal_entity=a.is_legal_entity,
                deposit_bank=d.bank,
                deposit_account=d.account,
                deposit_rial=d.amount_rial,
            )
        except Exception as err:  # reported by run(), which fails the workflow cleanly
            self._start_error = str(err)
            self.p = PurchaseCase("", "", "", False, False, "", "", 0)
        self.p.clock = workflow.now
        self.machine = ImportPurchaseMachine(self.p)
        self.case = Case(self.machine, rules.UPDATE_ROLES, self._describe, self._why_disabled, extras=(dict, self._resumed))
        self._release_task: asyncio.Task[None] | None = None
        self._verdict_task: asyncio.Task[None] | None = None
        self._seat_task: asyncio.Task[None] | None = None

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        if not self.case.resume(start):
            self.p.calendar_months = workflow.patched(CALENDAR_MONTHS)
            self.p.purchase_money = workflow.patched(PURCHASE_MONEY)
            self.p.scheme_rounds = workflow.patched(SCHEME_ROUNDS)
            if self.p.scheme_rounds:
                self.p.import_offerings = workflow.patched(IMPORT_OFFERINGS)
            await self.case.open(start, self._start_error, self._may_start)
            await self._register()
        if self.p.scheme_rounds and self.case.state == "Registered":
            self._verdict_task = asyncio.create_task(self._await_verdict())
        if self.p.import_offerings:
            self._seat_task = self.case.background("offering seats", self._await_seats)
        await self.case.run(self._next_deadline, done=self.p.is_over)
        return self.status()

    # --- queries ---

    @workflow.query
    def status(self) -> dict[str, Any]:
        if (refused := self.case.refusal()) is not None:
            return refused
        p = self.p
        out = self.case.status()
        out.update(
            scheme_id=p.scheme_id,
            registration_code=p.registration_code,
            rank=p.rank,
            applicant={"national_id": p.applicant_national_id, "full_name": p.applicant_full_name},
            deposit={"bank": p.deposit_bank, "account": p.deposit_account, "amount_rial": p.deposit_rial},
            deposit_rial=p.deposit_rial,
            ineligible_reasons=list(p.ineligible_reasons),
            offerings=self._open_offerings(),
            applied_offering=p.applied_offering if p.has_open_application else None,
            seat=p.seat,
            sign_by=p.sign_by if p.seat is not None else None,
            offering_id=p.offering_id,
            importer_id=p.importer_id,
            model=p.model,
            base_price_rial=p.base_price_rial,
            pre_customs_costs_rial=p.pre_customs_costs_rial,
            contract_amount_rial=p.contract_amount_rial,
            delivery_due=p.delivery_due,
            estimated_final_costs_rial=p.estimated_final_costs_rial,
            final_costs_rial=p.final_costs_rial,
            paid_rial=p.paid_rial(),
            due_rial=p.due_rial(),
            stage3_due=p.stage3_due,
            payments={stage: dict(v) for stage, v in p.payments.items()},
            delivery_deadline=p.delivery_deadline,
            delay_periods=p.periods_late_now(),
            delay_penalty_rial=self._delay_penalty_now(),
            withdrawal_code_expires_at=p.code_expires_at if p.code_step else None,
            withdrawal_code_attempts_left=p.code_attempts_left if p.code_step else 0,
            withdrawal_penalty_rial=p.withdrawal_penalty_rial,
            cancellation_penalty_rial=p.cancellation_penalty_rial,
            refund_rial=p.refund_rial,
            refund_deadline=p.deposit_release_deadline if p.purchase_money else None,
            refunded_at=p.deposit_released_at if p.purchase_money else None,
            delay_penalty_paid_rial=p.delay_penalty_paid_rial,
            penalty_to_importer_rial=p.penalty_to_importer_rial,
            penalty_unpaid_rial=p.penalty_unpaid_rial,
            settlement=dict(p.settlement_flows) if p.settlement_flows is not None else None,
            deposit_disposition=p.deposit_disposition,
            withdrawn_at=p.withdrawn_at,
            reinstatement_until=p.reinstatement_until if self.case.state == "Withdrawn" else None,
            deposit_release_deadline=p.deposit_release_deadline,
            deposit_released_at=p.deposit_released_at,
            deposit_release_overdue=p.deposit_release_overdue,
            deposit_unblocked_at=p.deposit_unblocked_at,
            vin=p.vin,
            delivered_at=p.delivered_at,
            title_transfer_locked_until=p.title_transfer_locked_until,
        )
        return out

    # --- registration and eligibility ---

    async def _register(self) -> None:
        """Record the deposit and check eligibility: Registered → Eligible / Ineligible.

        ``SCHEME_ROUNDS``: record the deposit and register in the scheme's round; the case stays
        Registered until the round's verdict (:meth:`_await_verdict`)."""
        p = self.p
        now = workflow.now()
        if p.scheme_rounds:
            await self._register_in_round(now)
            return
        async with self.case.working("eligibility"):
            await run_activity(
                record_registration,
                Registration(
                    self._id,
                    p.scheme_id,
                    p.applicant_national_id,
                    p.applicant_full_name,
                    p.deposit_bank,
                    p.deposit_account,
                    p.deposit_rial,
                    now,
                ),
                summary="deposit to the escrow ledger",
            )
            reasons = await run_activity(
                check_eligibility,
                EligibilityRequest(
                    self._id,
                    p.scheme_id,
                    p.applicant_national_id,
                    p.has_driving_license,
                    p.is_legal_entity,
                    p.deposit_bank,
                    p.deposit_rial,
                    now,
                ),
                summary="eligibility",
            )
        if reasons:
            p.ineligible_reasons = list(reasons)
            self.case.fire("found_ineligible", None, reasons=list(reasons))
            self._begin_release()
        else:
            self.case.fire("found_eligible", None)

    async def _register_in_round(self, now: datetime) -> None:
        p = self.p
        refusal: str | None = None
        async with self.case.working("registration"):
            await run_activity(record_registration, self._registration(now), summary="deposit to the escrow ledger")
            try:
                entry = await run_activity(register_in_scheme, self._scheme_entry(now), summary="register in the scheme's round")
                p.registration_code = entry["code"]
            except ActivityError as err:
                # Refused although the start's check passed (the window closed meanwhile, another case
                # of the person registered at the same instant): the case ends here.
                if not isinstance(err.cause, ApplicationError) or err.cause.type != "Rejected":
                    raise
                refusal = err.cause.message
        if refusal is not None:
            p.ineligible_reasons = [refusal]
            self.case.fire("found_ineligible", None, reasons=[refusal])
            self._begin_release()

    # --- the round's verdict (SCHEME_ROUNDS) ---

    @workflow.signal(name=SCHEME_VERDICT_SIGNAL)
    def scheme_verdict_ready(self) -> None:
        """The scheme's case says the round is drawn. The signal carries nothing and proves nothing
        (anyone may send it): it only sets a flag; :meth:`_await_verdict` reads the registry."""
        self.p.verdict_signalled = True

    async def _await_verdict(self) -> None:
        """While Registered: each time the signal came, read the case's standing in its round and
        act on a drawn verdict (Registered → Eligible with its rank, or Ineligible with reasons).
        Reading a standing changes nothing, so a repeated or early signal does no harm."""
        p = self.p
        while self.case.state == "Registered":
            await workflow.wait_condition(lambda: p.verdict_signalled or self.case.state != "Registered")
            if self.case.state != "Registered":
                return
            await workflow.wait_condition(lambda: not self.case.busy)
            if self.case.state != "Registered":
                return
            p.verdict_signalled = False
            await self._take_verdict()

    async def _take_verdict(self) -> None:
        p = self.p
        now = workflow.now()
        rank: int | None = None
        reasons: list[str] = []
        async with self.case.working("the round's verdict"):
            standing = await run_activity(scheme_standing, StandingRequest(self._id), summary="standing in the round")
            if standing is None or not standing["drawn"] or standing["status"] not in ("eligible", "ineligible"):
                return  # not drawn yet (or not this case's round to act on): wait for the next signal
            if standing["status"] == "ineligible":
                reasons = list(standing["ineligible_reasons"]) or ["not eligible in the scheme's round"]
            else:
                rank = standing["rank"]
                # Opens the one open registration per person (a unique index) as before the rounds.
                reasons = list(await run_activity(check_eligibility, self._eligibility_request(now), summary="eligibility"))
                if reasons:
                    await run_activity(withdraw_from_scheme, SchemeExit(self._id, now), summary="leave the round")
        if reasons:
            p.ineligible_reasons = reasons
            self.case.fire("found_ineligible", None, reasons=reasons)
            self._begin_release()
        else:
            p.rank = rank
            self.case.fire("found_eligible", None, rank=rank)

    async def _recheck_in_round(self) -> list[str]:
        """The round's rules now, before money moves (seed 001: «تا زمان تحویل»); empty: still eligible.
        Call inside ``case.working``."""
        if not self.p.scheme_rounds:
            return []
        return list(
            await run_activity(recheck_in_scheme, ApplicantRecheck(self._id, workflow.now()), summary="eligibility again")
        )

    async def _leave_round(self) -> None:
        """The case leaves its scheme's round (judged and ranked no more). Call inside ``case.working``."""
        if self.p.scheme_rounds:
            await run_activity(withdraw_from_scheme, SchemeExit(self._id, workflow.now()), summary="leave the round")

    def _lose_eligibility(self, actor: Actor | None, reasons: list[str]) -> None:
        """Not eligible any more: the contract's penalty applies as for a withdrawal (seed 001)."""
        p = self.p
        p.ineligible_reasons = list(reasons)
        p.withdrawal_penalty_rial = rules.withdrawal_penalty_rial(p)
        if p.purchase_money:
            self._stop_delay()
            p.refund_rial = rules.settlement(p, "Ineligible").refund_rial
        else:
            p.refund_rial = rules.refund_after_withdrawal(p, p.withdrawal_penalty_rial)
        self.case.fire("eligibility_lost", actor, reasons=list(reasons), refund_rial=p.refund_rial)

    # --- offerings (IMPORT_OFFERINGS) ---

    @workflow.signal(name=offerings.OFFERING_ANNOUNCED_SIGNAL)
    def offering_announced(self, terms: Any = None) -> None:
        """An offering of the round was approved: the case reads the round's open offerings from the
        registry (:meth:`_await_seats`). Whatever the signal carries is ignored: anyone may send one."""
        if self.p.import_offerings:
            self.p.offerings_check = True

    def _open_offerings(self) -> list[dict[str, Any]]:
        """The offerings the case was told of whose window has not closed yet."""
        now = workflow.now()
        return [dict(o) for o in self.p.offerings if (instant(str(o["closes"])) or now) > now]

    @workflow.signal(name=offerings.OFFERING_WITHDRAWN_SIGNAL)
    def offering_withdrawn(self) -> None:
        """An offering the case applied to was aborted: it only sets a flag (:meth:`_await_seats`)."""
        self.p.application_check = True

    @workflow.signal(name=offerings.OFFERING_SEAT_SIGNAL)
    def offering_seat_ready(self) -> None:
        """An offering says the case may hold a seat; it only sets a flag (:meth:`_await_seats`)."""
        self.p.seat_signalled = True

    async def _await_seats(self) -> None:
        """Each time an offering said so, read the case's seat in the registry and take it (Eligible →
        Allocated); give back a seat whose signing deadline passed."""
        p = self.p
        while True:
            await workflow.wait_condition(
                lambda: (
                    p.seat_signalled
                    or p.application_check
                    or p.offerings_check
                    or p.seat_release is not None
                    or self.machine.is_terminated
                )
            )
            if self.machine.is_terminated:
                return
            await workflow.wait_condition(lambda: not self.case.busy)
            if p.seat_release is not None:
                await self._release_seat()
            elif p.seat_signalled:
                p.seat_signalled = False
                await self._take_seat()
            elif p.application_check:
                p.application_check = False
                await self._check_application_live()
            elif p.offerings_check:
                p.offerings_check = False
                p.offerings = await run_activity(
                    announced_offerings, OfferingsQuery(p.scheme_id, workflow.now()), summary="the round's open offerings"
                )
                self.case.refresh_details()

    async def _check_application_live(self) -> None:
        """The registry's word on the case's open application: once it is no longer live (its
        offering aborted), the case may apply elsewhere at once, not only after that window's close."""
        p = self.p
        offering_id = p.applied_offering
        if offering_id is None or not p.has_open_application:
            return
        standing = await run_activity(
            application_standing, ApplicationQuery(self._id, offering_id), summary="the application's standing"
        )
        if standing in ("applied", "won") or p.applied_offering != offering_id:
            return
        p.applied_offering = p.applied_closes = None
        p.offerings = [o for o in p.offerings if o["offering_id"] != offering_id]
        self.case.note("application_ended", None, offering_id=offering_id, status=standing)

    async def _take_seat(self) -> None:
        p = self.p
        now = workflow.now()
        back: str | None = None
        reasons: list[str] = []
        async with self.case.working("the offering's seat"):
            seat = await run_activity(offering_seat, SeatRequest(self._id), summary="the seat an offering gave")
            if seat is None or (p.seat == seat["seat"] and p.offering_id == seat["offering_id"]):
                return  # no seat (a forged or repeated signal), or this one taken already (signed or not)
            if self.case.state != "Eligible":
                # The case cannot take it now (it left, or holds another car): the seat goes on by rank.
                back = await run_activity(
                    give_up_seat, SeatRelease(self._id, seat["offering_id"], "declined", now), summary="give the seat back"
                )
            else:
                reasons = await self._recheck_in_round()
                if reasons:
                    await run_activity(close_registration, Closing(self._id, now, release_allocation=True))
                    back = await run_activity(
                        give_up_seat, SeatRelease(self._id, seat["offering_id"], "declined", now), summary="give the seat back"
                    )
                else:
                    await run_activity(
                        record_allocation,
                        AllocationRecord(self._id, seat["offering_id"], seat["importer_id"], seat["model"], now),
                        summary="the offering's car",
                    )
        if reasons:
            self._lose_eligibility(None, reasons)
            self._begin_release()
        elif self.case.state == "Eligible" and back is None:
            p.offering_id, p.importer_id, p.model = seat["offering_id"], seat["importer_id"], seat["model"]
            p.base_price_rial, p.pre_customs_costs_rial = seat["base_price_rial"], seat["pre_customs_costs_rial"]
            p.estimated_final_costs_rial = seat["estimated_final_costs_rial"]
            p.delivery_due = seat["delivery_due"]
            p.delivery_deadline = iso(rules.delivery_deadline(p.delivery_due, None, calendar_months=p.calendar_months))
            p.seat, p.sign_by, p.applied_offering, p.applied_closes = seat["seat"], seat["sign_by"], None, None
            self.case.fire(
                "allocate",
                None,
                offering_id=p.offering_id,
                importer_id=p.importer_id,
                base_price_rial=p.base_price_rial,
                delivery_due=p.delivery_due,
                seat=p.seat,
                rank=p.rank,
                sign_by=p.sign_by,
            )
        await self._tell_offering(back)

    async def _tell_offering(self, offering_workflow_id: str | None) -> None:
        """Tell an offering that a seat is free again (it fills its free seats from the registry)."""
        if offering_workflow_id is None:
            return
        try:
            await workflow.get_external_workflow_handle(offering_workflow_id).signal(offerings.OFFERING_SEAT_FREED_SIGNAL)
        except Exception:  # noqa: BLE001 - the offering ended meanwhile: the seat stays with the importer
            workflow.logger.info("the offering could not be told of a freed seat")

    def _signing_lapsed(self) -> None:
        """The buyer did not sign by ``sign_by`` (``policy.OFFERING_SIGN_DAYS``): the seat is lost as a
        decline would lose it (Allocated → Eligible, the rank kept); :meth:`_release_seat` frees it."""
        p = self.p
        due = instant(p.sign_by)
        if self.case.state != "Allocated" or p.seat is None or due is None or workflow.now() < due:
            return
        p.seat_release = {"offering_id": p.offering_id, "status": "lapsed"}
        lapsed = p.offering_id
        self._clear_allocation()
        self.case.fire("signing_lapsed", None, offering_id=lapsed, rank=p.rank)

    async def _release_seat(self) -> None:
        p = self.p
        assert p.seat_release is not None
        now = workflow.now()
        async with self.case.working("give the seat back"):
            await run_activity(release_allocation, AllocationRelease(self._id, now), summary="free the car")
            back = await run_activity(
                give_up_seat,
                SeatRelease(self._id, p.seat_release["offering_id"], p.seat_release["status"], now),
                summary="give the seat back",
            )
        p.seat_release = None
        await self._tell_offering(back)

    async def _seat_back_on_leaving(self) -> str | None:
        """A buyer leaving (withdrawal, abort) with an offering's seat not yet signed for gives it back,
        so it passes to the next rank; the offering's workflow id to tell. Call inside ``case.working``."""
        p = self.p
        if not p.import_offerings or p.seat is None or p.offering_id is None or self.case.state != "Allocated":
            return None
        return await run_activity(
            give_up_seat, SeatRelease(self._id, p.offering_id, "withdrawn", workflow.now()), summary="give the seat back"
        )

    def _clear_allocation(self) -> None:
        p = self.p
        p.offering_id = p.importer_id = p.model = None
        p.base_price_rial = p.pre_customs_costs_rial = p.estimated_final_costs_rial = None
        p.delivery_due = p.delivery_deadline = None
        p.seat = p.sign_by = None

    @command
    async def apply_offering(self, c: Any) -> None:
        """A ranked Eligible buyer applies to an open offering it was told of; the registry judges it
        again in the writing transaction (window at this case's clock, rank, one live application)."""
        p = self.p
        terms = next(o for o in p.offerings if o["offering_id"] == c.offering_id)
        async with self.case.working("apply_offering"):
            result = await run_activity(
                apply_to_offering, ApplicationRecord(self._id, c.offering_id, workflow.now()), summary="apply to the offering"
            )
        # The registry's window, not the told one: a forged announcement cannot hold the case's one
        # live application open past the offering's real close.
        p.applied_offering, p.applied_closes = c.offering_id, str(result.get("closes") or terms["closes"])
        self.case.fire("apply_offering", c.actor, offering_id=c.offering_id, rank=result["rank"])

    @command
    async def withdraw_application(self, c: Any) -> None:
        """The buyer takes the application back while the offering's window is open."""
        p = self.p
        assert p.applied_offering is not None
        async with self.case.working("withdraw_application"):
            await run_activity(
                withdraw_offering_application,
                ApplicationRecord(self._id, p.applied_offering, workflow.now()),
                summary="take the application back",
            )
        self.case.fire("withdraw_application", c.actor, offering_id=p.applied_offering)  # its guard: the application open
        p.applied_offering = p.applied_closes = None
        self.case.refresh_details()

    def _check_application(self, update: str, c: Any) -> None:
        """Refusals the case can know (validator, nothing in history): its rank, the offerings it was
        told of and their windows at its clock, its own live application."""
        p = self.p
        now = workflow.now()
        if update == "withdraw_application":
            return
        if p.rank is None:
            raise rejection("apply_offering: the case has no rank in its scheme's round")
        if p.seat_release is not None:
            raise rejection("apply_offering: a seat is being given back; try again in a moment")
        terms = next((o for o in p.offerings if o["offering_id"] == c.offering_id), None)
        if terms is None:
            raise rejection(f"apply_offering: no open offering {c.offering_id!r} was announced to this case's round")
        opens, closes = instant(str(terms["opens"])), instant(str(terms["closes"]))
        assert opens is not None and closes is not None
        why = offerings.window_refusal(opens, closes, now)
        if why:
            raise rejection(f"apply_offering: {why}")
        if p.has_open_application:
            same = p.applied_offering == c.offering_id
            raise rejection(
                f"apply_offering: already applied to {'this offering' if same else 'offering ' + repr(p.applied_offering)}"
                + ("" if same else " (one application at a time: withdraw it first)")
            )

    # --- allocation, contract, payments ---

    @command
    async def allocate(self, c: Any) -> None:
        p = self.p
        async with self.case.working("allocate"):
            reasons = await self._recheck_in_round()
            if reasons:
                await run_activity(close_registration, Closing(self._id, workflow.now(), release_allocation=True))
            else:
                await run_activity(
                    record_allocation, AllocationRecord(self._id, c.offering_id, c.importer_id, c.model, workflow.now())
                )
        if reasons:
            self._lose_eligibility(c.actor, reasons)
            self._begin_release()
            return
        p.offering_id, p.importer_id, p.model = c.offering_id, c.importer_id, c.model
        p.base_price_rial, p.pre_customs_costs_rial = c.base_price_rial, c.pre_customs_costs_rial
        p.estimated_final_costs_rial = c.estimated_final_costs_rial
        p.delivery_due = c.delivery_due.isoformat()
        p.delivery_deadline = iso(rules.delivery_deadline(p.delivery_due, None, calendar_months=p.calendar_months))
        self.case.fire(
            "allocate",
            c.actor,
            offering_id=c.offering_id,
            importer_id=c.importer_id,
            base_price_rial=c.base_price_rial,
            delivery_due=p.delivery_due,
        )

    @command
    async def decline_allocation(self, c: Any) -> None:
        """The buyer turns the allocated car down (``SCHEME_ROUNDS``): Allocated → Eligible, the rank
        kept and no penalty (seed 001 «نوبت آنها حفظ میشود»); the car is freed for the offering."""
        p = self.p
        back: str | None = None
        async with self.case.working("decline_allocation"):
            await run_activity(release_allocation, AllocationRelease(self._id, workflow.now()), summary="free the car")
            if p.import_offerings and p.seat is not None and p.offering_id is not None:
                # IMPORT_OFFERINGS: the seat goes to the offering's next applicant by rank.
                back = await run_activity(
                    give_up_seat, SeatRelease(self._id, p.offering_id, "declined", workflow.now()), summary="give the seat back"
                )
        declined = p.offering_id
        p.offering_id = p.importer_id = p.model = None
        p.base_price_rial = p.pre_customs_costs_rial = p.estimated_final_costs_rial = None
        p.delivery_due = p.delivery_deadline = None
        p.seat = p.sign_by = None
        self.case.fire("decline_allocation", c.actor, offering_id=declined, rank=p.rank)
        await self._tell_offering(back)

    @command
    async def sign_contract(self, c: Any) -> None:
        """The buyer concludes the final contract; the money of stage 2 is the bank's to report."""
        p = self.p
        now = workflow.now()
        p.contract_signed_at = iso(now)
        extra: dict[str, Any] = {"contract_amount_rial": p.contract_amount_rial}
        if p.purchase_money:
            extra["stage2_due_rial"] = p.stage2_due_rial()
        self.case.fire("sign_contract", c.actor, **extra)
        if p.purchase_money and p.stage2_due_rial() == 0:
            # The deposit on account covers the price up to customs: stage 2 is paid with nothing, on
            # account. No bank reported it, so it is no row of the banks' payments (their references'
            # table, unique per bank); the audit log keeps this transition and the case the mark.
            ref = f"{self._id}:stage-2-on-account"
            p.payments["2"] = {"payment_ref": ref, "amount_rial": 0, "at": iso(now), "on_account": True}
            self.case.fire("pay_stage", None, stage="2", amount_rial=0, payment_ref=ref, on_account=True)

    @command
    async def pay_stage(self, c: Any) -> None:
        """The bank reports stage 2 (Signed → Contracted) or stage 3 (AtCustoms → AwaitingDelivery).

        ``SCHEME_ROUNDS``: with stage 2 the buyer is checked against the round's rules again; a buyer
        no longer eligible leaves (Signed → Ineligible) and the payment is refunded in the settlement."""
        await self._record_stage(c)
        p = self.p
        if p.scheme_rounds and c.stage == "2":
            async with self.case.working("pay_stage"):
                reasons = await self._recheck_in_round()
                if reasons:
                    await run_activity(close_registration, Closing(self._id, workflow.now(), release_allocation=True))
            if reasons:
                self._lose_eligibility(c.actor, reasons)
                self._begin_release()
                return
        extra: dict[str, Any] = {"stage": c.stage, "payment_ref": c.payment_ref, "amount_rial": c.amount_rial}
        if c.stage == "3":
            now = workflow.now()
            p.final_paid_at = iso(now)
            p.delivery_deadline = extra["delivery_deadline"] = iso(rules.delivery_deadline_now(p, now))
        self.case.fire("pay_stage", c.actor, **extra)

    @command
    async def customs_arrival(self, c: Any) -> None:
        p = self.p
        now = workflow.now()
        if p.purchase_money:
            self._catch_up_delay()  # the months the car was late to customs, up to its arrival
        p.final_costs_rial = c.final_costs_rial
        p.customs_arrived_at = iso(now)
        extra: dict[str, Any] = {"final_costs_rial": c.final_costs_rial}
        if p.purchase_money:
            p.stage3_due = extra["stage3_due"] = iso(rules.stage3_due(now))
        self.case.fire("customs_arrival", c.actor, **extra)
        async with self.case.working("customs_arrival"):
            await self.case.notify(
                step="customs-invitation",
                to=p.applicant_national_id,
                kind="invitation",
                text=(
                    f"{p.applicant_full_name} گرامی، خودروی {p.model} شما به گمرک رسید. "
                    f"لطفاً مرحله سوم وجه ({rials(p.final_costs_rial)}) را پرداخت کنید؛ "
                    f"واردکننده پس از آن حداکثر {self._delivery_window_fa()} برای تحویل فرصت دارد." + self._stage3_due_fa()
                ),
            )

    @command
    async def abort(self, c: Any) -> None:
        """An operator ends the case, giving a reason (see ``Case.abort``); a ``PURCHASE_MONEY``
        case then pays the buyer back what was paid and any delay penalty accrued."""
        p = self.p
        settle = p.purchase_money and not p.deposit_releasing and p.deposit_released_at is None
        now = workflow.now()
        if settle:
            self._catch_up_delay()  # the months started by now; the delay stops only once the abort is done
        back: str | None = None
        if p.scheme_rounds:
            async with self.case.working("abort"):
                await self._leave_round()
                back = await self._seat_back_on_leaving()
        await self.case.abort(c)
        await self._tell_offering(back)
        if settle:
            self._stop_delay(now)  # up to the abort's instant
            # Case.abort released what the case held, the deposit among it: the settlement pays the
            # rest and leaves the deposit as it is (``keep``), so it is never released twice.
            p.deposit_released_by_holds = True
            self._begin_release()

    # --- delivery ---

    @command
    async def deliver(self, c: Any) -> None:
        p = self.p
        now = workflow.now()
        self._catch_up_delay()  # a period that started in this very activation counts
        locked_until = rules.title_lock_until(now, calendar_months=p.calendar_months)
        async with self.case.working("deliver"):
            reasons = await self._recheck_in_round()
            from_round = bool(reasons)  # the round's re-check marked the registration ineligible itself
            if not reasons:
                reasons = await run_activity(
                    recheck_active_plate, PlateCheck(self._id, p.applicant_national_id), summary="no active plate"
                )
            if not reasons:
                # Checked again where it is written (histories before that recorded no result: None).
                reasons = (
                    await run_activity(
                        record_delivery,
                        DeliveryRecord(self._id, p.applicant_national_id, c.vin, p.model or "", now, locked_until),
                        summary="the delivered vehicle to the registry",
                    )
                    or []
                )
            if reasons:
                await run_activity(close_registration, Closing(self._id, now, release_allocation=True))
            if not from_round:
                await self._leave_round()  # delivered, or a plate found by the delivery's own checks
        if reasons:
            # Not eligible any more: the contract's penalty applies as for a withdrawal (seed 001).
            self._lose_eligibility(c.actor, reasons)
        else:
            p.vin, p.delivered_at, p.title_transfer_locked_until = c.vin, iso(now), iso(locked_until)
            if p.purchase_money:
                p.refund_rial = rules.settlement(p, "Delivered").refund_rial
            self.case.fire("deliver", c.actor, vin=c.vin, delay_penalty_rial=p.delay_penalty_rial)
        self._begin_release(now)

    @command
    async def cancel_for_delay(self, c: Any) -> None:
        p = self.p
        self._catch_up_delay()  # a period that started in this very activation counts
        async with self.case.working("cancel_for_delay"):
            await run_activity(close_registration, Closing(self._id, workflow.now(), release_allocation=True))
            await self._leave_round()
        assert p.base_price_rial is not None
        p.cancellation_penalty_rial = rules.cancellation_penalty_rial(p.base_price_rial)
        if p.purchase_money:
            self._stop_delay()
            p.refund_rial = rules.settlement(p, "CancelledForDelay").refund_rial
        else:
            p.refund_rial = rules.refund_after_cancel(p, p.cancellation_penalty_rial)
        self.case.fire(
            "cancel_for_delay",
            c.actor,
            delay_penalty_rial=p.delay_penalty_rial,
            cancellation_penalty_rial=p.cancellation_penalty_rial,
            refund_rial=p.refund_rial,
        )
        self._begin_release()

    # --- withdrawal (seed 000) ---

    @command
    async def request_withdrawal_code(self, c: Any) -> None:
        p = self.p
        now = workflow.now()
        step, expires = withdrawal.next_code(p, now)
        async with self.case.working("request_withdrawal_code"):
            await run_activity(
                issue_withdrawal_code,
                CodeRequest(self._id, step, p.applicant_national_id, expires, now),
                summary="SMS code to the outbox",
            )
        withdrawal.code_issued(p, step, expires)
        self.case.fire("request_withdrawal_code", c.actor, expires_at=p.code_expires_at)

    @command
    async def withdraw(self, c: Any) -> None:
        p = self.p
        assert p.code_step is not None
        async with self.case.working("withdraw"):
            # The code is checked where it lives, the outbox row the SMS gateway read.
            check = CodeCheck(self._id, p.code_step, c.code, last_attempt=withdrawal.is_last_attempt(p))
            right = await run_activity(check_withdrawal_code, check, summary="check the SMS code")
            back: str | None = None
            if right:
                await run_activity(close_registration, Closing(self._id, workflow.now(), release_allocation=True))
                await self._leave_round()
                back = await self._seat_back_on_leaving()
        if not right:
            raise self._wrong_code()
        now = workflow.now()
        self._catch_up_delay()
        p.withdrew_from = self.case.state
        p.withdrawal_penalty_rial = rules.withdrawal_penalty_rial(p)
        if p.purchase_money:
            self._stop_delay()
            p.refund_rial = rules.settlement(p, "Withdrawn").refund_rial
        else:
            p.refund_rial = rules.refund_after_withdrawal(p, p.withdrawal_penalty_rial)
        p.withdrawn_at = iso(now)
        p.reinstatement_until = later(now, policy.REINSTATEMENT_WINDOW)
        p.reinstatement_closed = False
        self._close_reinstatement_beyond_deposit()
        self.case.fire("withdraw", c.actor, withdrawal_penalty_rial=p.withdrawal_penalty_rial, refund_rial=p.refund_rial)
        withdrawal.burn(p)  # after the transition: its guard is that a live code exists
        self._begin_release()
        await self._tell_offering(back)

    @command
    async def reinstate(self, c: Any) -> None:
        p = self.p
        now = workflow.now()
        async with self.case.working("reinstate"):
            back = Reinstatement(self._id, p.applicant_national_id, now)
            if p.scheme_rounds:
                back.keep_allocation = p.withdrew_from != "Eligible"  # e.g. a car declined before withdrawing
            reasons = await run_activity(reinstate_registration, back, summary="reopen the registration")
            if not reasons and p.deposit_released_at is not None:
                await run_activity(reblock_deposit, self._deposit_request(now), summary="block the deposit again")
            if not reasons and p.scheme_rounds:
                await run_activity(rejoin_scheme, SchemeExit(self._id, now), summary="back in the round, the rank kept")
        if reasons:
            raise rejection("reinstate: " + "; ".join(reasons))
        p.withdrawal_penalty_rial = p.refund_rial = 0
        p.withdrawn_at = p.reinstatement_until = None
        p.deposit_release_deadline = p.deposit_released_at = None
        p.deposit_release_overdue = False
        p.delay_stopped_at = p.settlement_key = p.deposit_disposition = None
        p.deposit_release_from = None
        p.reinstated += 1
        self.case.fire("reinstate", c.actor, back_to=p.withdrew_from)
        p.withdrew_from = None

    # --- the escrow deposit ---

    @command
    async def deposit_unblocked(self, c: Any) -> None:
        p = self.p
        now = workflow.now()
        self._catch_up_delay()
        async with self.case.working("deposit_unblocked"):
            await run_activity(record_deposit_unblocked, self._deposit_request(now))
            await run_activity(close_registration, Closing(self._id, now, release_allocation=True))
            await self._leave_round()
            back = await self._seat_back_on_leaving()  # an offering's seat not signed for passes on
        p.deposit_unblocked_at = iso(now)
        # Stages 2 and 3 go back less the contract penalty, as for a withdrawal.
        p.withdrawal_penalty_rial = rules.withdrawal_penalty_rial(p)
        if p.purchase_money:
            self._stop_delay()
            p.refund_rial = rules.settlement(p, "Voided").refund_rial
        else:
            p.refund_rial = rules.refund_after_withdrawal(p, p.withdrawal_penalty_rial)
        self.case.fire("deposit_unblocked", c.actor, withdrawal_penalty_rial=p.withdrawal_penalty_rial, refund_rial=p.refund_rial)
        await self._tell_offering(back)
        if p.purchase_money:
            self._begin_release(now)  # the refund of stages 2 and 3, and the delay penalties

    def _resumed(self, extras: dict[str, Any]) -> None:
        """A continued run picks up a deposit release the previous run had under way."""
        if self.p.deposit_releasing and self.p.deposit_released_at is None:
            self._release_task = asyncio.create_task(self._release_deposit())

    def _begin_release(self, left_at: datetime | None = None) -> None:
        """Start the deposit's release, due within 72 working hours of leaving for this state (seed
        000); the release task asks an activity for that deadline (cases of earlier builds: 72 hours)."""
        p = self.p
        left = left_at or workflow.now()
        if p.purchase_money:
            # What the buyer is owed as the case ends (the contract's refund_rial), paid by the bank.
            owed = rules.settlement(p, self.case.state)
            p.refund_rial, p.penalty_to_importer_rial, p.deposit_disposition = (
                owed.refund_rial,
                owed.penalty_to_importer_rial,
                owed.deposit,
            )
            p.penalty_unpaid_rial = owed.penalty_unpaid_rial
            p.settlement_flows = {
                "deposit_to_holder_rial": owed.deposit_to_holder_rial,
                "deposit_to_importer_rial": owed.deposit_to_importer_rial,
                "cash_to_holder_rial": owed.cash_to_holder_rial,
                "cash_to_importer_rial": owed.cash_to_importer_rial,
                "penalty_unpaid_rial": owed.penalty_unpaid_rial,
            }
            p.settlement_key = f"{self._id}:settle-{p.reinstated}"
        if p.calendar_months:
            p.deposit_release_from, p.deposit_release_deadline = iso(left), None
        else:
            p.deposit_release_deadline = later(left, policy.DEPOSIT_RELEASE_WINDOW)
        p.deposit_releasing = True
        self._release_task = asyncio.create_task(self._release_deposit())

    async def _release_deposit(self) -> None:
        p = self.p
        if p.stage3_defaulted and not p.stage3_left_scheme:
            # The buyer's stage-3 deadline passed (a timer, not a command): the case leaves the scheme
            # here, once (a continued run's release task finds it done), held like a command.
            await workflow.wait_condition(lambda: not self.case.busy)
            async with self.case.working("stage3_expired"):
                await run_activity(close_registration, Closing(self._id, workflow.now(), release_allocation=True))
                await self._leave_round()
            p.stage3_left_scheme = True
        if p.deposit_release_deadline is None:
            left = instant(p.deposit_release_from)
            assert left is not None
            p.deposit_release_deadline = await run_activity(
                working_hours_deadline,
                WorkingDeadline(self._id, left, policy.DEPOSIT_RELEASE_WORKING_HOURS),
                summary="the deposit's release deadline: 72 working hours",
            )
        deadline = instant(p.deposit_release_deadline)
        assert deadline is not None
        failures = 0

        def release() -> workflow.ActivityHandle[str]:
            if p.purchase_money:
                return workflow.start_activity(
                    settle_purchase,
                    self._settlement_request(workflow.now()),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=RELEASE_RETRY,
                    summary="settle with the buyer through the escrow bank",
                )
            return workflow.start_activity(
                release_deposit,
                self._deposit_request(workflow.now()),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RELEASE_RETRY,
                summary="release the escrow deposit",
            )

        async def refused(err: ActivityError) -> None:  # e.g. the bank knows no such hold
            nonlocal failures
            failures += 1
            await self._alert(f"release-refused-{failures}", f"آزادسازی سپرده رد شد: {err.cause or err}")

        released_at = await done_within(
            release,
            deadline,
            overdue=p.deposit_release_overdue,
            on_overdue=self._release_overdue,
            on_refused=refused,
            retry_after=RELEASE_RETRY.maximum_interval or timedelta(minutes=15),
        )
        p.deposit_released_at = released_at
        p.deposit_releasing = False
        if p.purchase_money:
            p.delay_penalty_paid_rial = p.delay_penalty_rial
            self.case.note(
                "settled",
                None,
                refunded_at=released_at,
                refund_rial=p.refund_rial,
                delay_penalty_paid_rial=p.delay_penalty_paid_rial,
                penalty_to_importer_rial=p.penalty_to_importer_rial,
                deposit=p.deposit_disposition,
                **dict(p.settlement_flows or {}),
            )
        else:
            self.case.note("deposit_released", None, released_at=released_at)

    async def _release_overdue(self) -> None:
        p = self.p
        p.deposit_release_overdue = True
        self.case.note("deposit_release_overdue", None, deadline=p.deposit_release_deadline)
        workflow.logger.warning("deposit release of %s is past its deadline %s", self._id, p.deposit_release_deadline)
        await self._alert(
            "overdue",
            f"آزادسازی سپرده مسدود پرونده {self._id} از مهلت {self._release_window_fa()} گذشت ({rials(p.deposit_rial)}، بانک {p.deposit_bank}).",
        )

    async def _alert(self, what: str, text: str) -> None:
        await self.case.notify(step=f"deposit-release-{what}-{self.p.reinstated}", to="operator", kind="alert", text=text)

    def _settlement_request(self, at: datetime) -> SettlementRequest:
        p = self.p
        assert p.settlement_key is not None and p.deposit_disposition is not None
        return SettlementRequest(
            self._deposit_request(at),
            p.settlement_key,
            p.refund_rial,
            p.delay_penalty_rial,
            p.penalty_to_importer_rial,
            p.deposit_disposition,
            dict(p.settlement_flows or {}),
        )

    def _deposit_request(self, at: datetime) -> DepositRequest:
        p = self.p
        return DepositRequest(self._id, p.applicant_national_id, p.deposit_bank, p.deposit_account, p.deposit_rial, at)

    def _registration(self, at: datetime) -> Registration:
        p = self.p
        return Registration(
            self._id,
            p.scheme_id,
            p.applicant_national_id,
            p.applicant_full_name,
            p.deposit_bank,
            p.deposit_account,
            p.deposit_rial,
            at,
        )

    def _eligibility_request(self, at: datetime) -> EligibilityRequest:
        p = self.p
        return EligibilityRequest(
            self._id,
            p.scheme_id,
            p.applicant_national_id,
            p.has_driving_license,
            p.is_legal_entity,
            p.deposit_bank,
            p.deposit_rial,
            at,
        )

    def _scheme_entry(self, at: datetime) -> SchemeEntry:
        p = self.p
        return SchemeEntry(
            self._id, p.scheme_id, p.applicant_national_id, p.has_driving_license, p.is_legal_entity, p.deposit_bank, at
        )

    # --- clocks ---

    def _next_deadline(self) -> tuple[datetime, Callable[[], None]] | None:
        """The earliest of: the next delay period, the code's expiry, the reinstatement window's end."""
        p, state = self.p, self.case.state
        due: list[tuple[datetime, Callable[[], None]]] = []
        deadline = instant(p.delivery_deadline)
        if p.purchase_money:
            if state in rules.DELIVERY_PENDING:
                now = workflow.now()
                at = rules.next_delay_month_at(rules.delay_spans(p, now), now, pending_start=rules.pending_delay_start(p))
                if at is not None:
                    due.append((at, self._delay_period_started))
            stage3 = instant(p.stage3_due)
            if state == "AtCustoms" and stage3 is not None and not p.stage3_defaulted:
                due.append((stage3, self._stage3_expired))
        elif state in rules.DELIVERY_PENDING and deadline is not None:
            due.append(
                (
                    rules.next_period_start(deadline, p.delay_periods, calendar_months=p.calendar_months),
                    self._delay_period_started,
                )
            )
        expires = instant(p.code_expires_at)
        if state in WITHDRAWABLE and p.code_step and expires is not None:
            due.append((expires, self._code_expired))
        closes = instant(p.reinstatement_until)
        if state == "Withdrawn" and not p.reinstatement_closed and closes is not None:
            due.append((closes, self._reinstatement_expired))
        sign_by = instant(p.sign_by)
        if p.import_offerings and state == "Allocated" and p.seat is not None and sign_by is not None:
            due.append((sign_by, self._signing_lapsed))
        return min(due, key=lambda d: d[0]) if due else None

    def _delay_period_started(self) -> None:
        self._catch_up_delay()

    def _catch_up_delay(self) -> None:
        """Record the delay periods started by now (from the clock) that the case has not yet.

        Called by the period timer and by every command leaving delivery, so a period that
        started in the command's own activation counts even though its timer has not run yet.
        """
        p = self.p
        periods = p.periods_late_now()
        if self.case.state not in rules.DELIVERY_PENDING or periods <= p.delay_periods:
            return
        assert p.base_price_rial is not None
        p.delay_periods = periods
        p.delay_penalty_rial = rules.delay_penalty_rial(p.base_price_rial, periods)
        self.case.fire("delay_period_started", None, delay_periods=p.delay_periods, delay_penalty_rial=p.delay_penalty_rial)

    def _stop_delay(self, at: datetime | None = None) -> None:
        """The case leaves delivery without the car: the delay counts up to now (or ``at``) and no further."""
        self._catch_up_delay()
        p = self.p
        p.delay_stopped_at = iso(at or workflow.now())
        if p.base_price_rial is not None:
            p.delay_periods = p.periods_late_now()
            p.delay_penalty_rial = rules.delay_penalty_rial(p.base_price_rial, p.delay_periods)

    def _close_reinstatement_beyond_deposit(self) -> None:
        """``PURCHASE_MONEY``: a withdrawal whose settlement moves money beyond the deposit (a penalty
        to the importer, payments or delay penalties back) cannot be reinstated (see
        ``PurchaseCase.may_reinstate``), so no window is offered and the case ends once settled."""
        p = self.p
        if p.purchase_money and rules.settlement(p, "Withdrawn").beyond_deposit:
            p.reinstatement_until, p.reinstatement_closed = None, True

    def _stage3_expired(self) -> None:
        """The buyer did not pay stage 3 by ``stage3_due`` (our policy): a withdrawal after the contract."""
        p = self.p
        now = workflow.now()
        due = instant(p.stage3_due)
        if self.case.state != "AtCustoms" or due is None or now < due:
            return
        self._stop_delay()
        p.stage3_defaulted = True
        p.withdrew_from = self.case.state
        p.withdrawal_penalty_rial = rules.withdrawal_penalty_rial(p)
        p.refund_rial = rules.settlement(p, "Withdrawn").refund_rial
        p.withdrawn_at = iso(now)
        p.reinstatement_until = later(now, policy.REINSTATEMENT_WINDOW)
        p.reinstatement_closed = False
        self._close_reinstatement_beyond_deposit()
        self.case.fire(
            "stage3_expired",
            None,
            stage3_due=p.stage3_due,
            withdrawal_penalty_rial=p.withdrawal_penalty_rial,
            refund_rial=p.refund_rial,
        )
        withdrawal.burn(p)
        self._begin_release(now)

    def _delay_penalty_now(self) -> int:
        p = self.p
        if p.base_price_rial is None:
            return p.delay_penalty_rial
        return rules.delay_penalty_rial(p.base_price_rial, p.periods_late_now())

    def _code_expired(self) -> None:
        if not self.p.code_step or not withdrawal.expired(self.p, workflow.now()):
            return  # burnt by wrong attempts (or replaced) while its timer ran
        withdrawal.burn(self.p)
        self.case.fire("withdrawal_code_expired", None)

    def _reinstatement_expired(self) -> None:
        self.p.reinstatement_closed = True
        self.case.fire("reinstatement_expired", None)

    # --- helpers ---

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    async def _may_start(self, actor: Actor) -> str | None:
        why = may_start_as(actor, {"applicant": self.p.applicant_national_id})
        if why is None and self.p.scheme_rounds:
            # Read-only, before the case claims its id: an unknown scheme, or a start outside its window, is refused.
            why = await run_activity(
                scheme_registration_refusal, self._scheme_entry(workflow.now()), summary="the scheme and its window"
            )
        return why

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        """Validate a command read-only: the case's checks, then this lifecycle's own rules."""
        c: Command = self.case.check(
            update, cmd, rules.COMMANDS[update], before_state=self._refuse_repeated_payment, subject=self._check_identity
        )
        p = self.p
        if update == "allocate":
            if p.scheme_rounds and p.rank is None:
                raise rejection("allocate: the case has no rank in its scheme's round")
            today = tehran_today(workflow.now())
            if c.delivery_due < today:  # type: ignore[attr-defined]
                raise rejection(f"allocate: delivery_due {c.delivery_due} is in the past")  # type: ignore[attr-defined]
        if update in ("apply_offering", "withdraw_application"):
            self._check_application(update, c)
        if update == "reinstate" and p.import_offerings and p.withdrew_from == "Allocated" and p.seat is not None:
            # The seat went back to its offering at the withdrawal (and may be another buyer's now).
            raise rejection("reinstate: the buyer's seat went back to the offering; the buyer applies to an offering again")
        if update == "sign_contract" and p.import_offerings and p.seat is not None:
            sign_by = instant(p.sign_by)
            if sign_by is not None and workflow.now() >= sign_by:
                raise rejection(f"sign_contract: the deadline to sign for the seat passed at {p.sign_by}")
        if update == "pay_stage":
            self._check_stage_payment(c)
        if update == "withdraw":
            expires = instant(p.code_expires_at)
            if expires is not None and workflow.now() >= expires:
                raise rejection("withdraw: the code expired; request a new one")
        if update == "abort" and p.purchase_money and p.deposit_releasing and p.deposit_released_at is None:
            # The settlement releases the deposit; the abort's release of the holds would release it twice.
            raise rejection("abort: the settlement with the buyer is under way at the escrow bank; abort once it is paid")
        return c

    def _check_identity(self, update: str, actor: Actor) -> None:
        p = self.p
        role, actor_id = actor.role, actor.id
        if role == "applicant" and actor_id != p.applicant_national_id:
            raise rejection(f"{update}: only the registered applicant may do this")
        if role == "importer" and actor_id != p.importer_id:
            raise rejection(f"{update}: only the allocated importer ({p.importer_id}) may do this")
        # Bank ids match as reference data does, whatever the case the applicant wrote them in.
        if role == "bank" and actor_id.casefold() != p.deposit_bank.casefold():
            raise rejection(f"{update}: only the escrow bank holding the deposit ({p.deposit_bank}) may report this")

    def _refuse_repeated_payment(self, c: Any) -> None:
        """A stage paid already is not allowed again; say so plainly rather than "not allowed in state"."""
        recorded = self.p.payments.get(c.stage) if hasattr(c, "stage") else None
        if recorded is not None and recorded.get("on_account"):
            raise rejection(
                f"pay_stage: stage {c.stage} is settled on account: the stage-1 deposit covers it and "
                f"nothing ({recorded['amount_rial']} rial) is due; nothing to do"
            )
        if recorded is not None:
            raise rejection(
                f"pay_stage: stage {c.stage} is already paid with payment_ref {recorded['payment_ref']} "
                f"({recorded['amount_rial']} rial); nothing to do"
            )

    def _check_stage_payment(self, c: Any) -> None:
        """The stage the state takes, the exact amount, a reference not used for the other stage."""
        p = self.p
        due_in = rules.PAYMENT_STAGES[c.stage]
        if self.case.state != due_in:
            raise rejection(f"pay_stage: stage {c.stage} is paid in state {due_in}, and the case is {self.case.state}")
        stage3_due = instant(p.stage3_due)
        if c.stage == "3" and stage3_due is not None and workflow.now() >= stage3_due:
            # The deadline decides, not which of the payment and the deadline's timer reaches the case first.
            raise rejection(f"pay_stage: the buyer's stage-3 deadline passed at {p.stage3_due}")
        expected = p.stage2_due_rial() if c.stage == "2" else p.final_costs_rial
        what = "final_costs_rial"
        if c.stage == "2":
            what = "the base price plus pre-customs costs"
            if p.purchase_money:
                what += " less the stage-1 deposit"
        if c.amount_rial != expected:
            raise rejection(f"pay_stage: stage {c.stage}'s amount_rial must equal {what} ({expected}), got {c.amount_rial}")
        used = {payment_key(v["payment_ref"]) for v in p.payments.values() if v.get("payment_ref") and not v.get("on_account")}
        if payment_key(c.payment_ref) in used:
            raise rejection(f"pay_stage: payment_ref {c.payment_ref} was already used for another stage")

    async def _record_stage(self, c: Any) -> None:
        stage = c.stage
        now = workflow.now()
        async with self.case.working("pay_stage"):
            await run_activity(
                record_payment,
                PaymentRecord(self._id, f"import_purchase_stage_{stage}", c.payment_ref, c.amount_rial, now, bank_id=c.actor.id),
                summary=f"stage {stage} payment",
            )
        self.p.payments[stage] = {"payment_ref": c.payment_ref, "amount_rial": c.amount_rial, "at": iso(now)}

    def _wrong_code(self) -> ApplicationError:
        """Count a wrong code (the update fails, the count stays); burn the code at the limit."""
        message = withdrawal.wrong_code(self.p)
        self.case.refresh_details()
        return ApplicationError(message, type="WrongCode", non_retryable=True)

    def _release_window_fa(self) -> str:
        if self.p.calendar_months:
            return f"{en_to_fa(str(policy.DEPOSIT_RELEASE_WORKING_HOURS))} ساعت کاری"
        return f"{fa_hours(policy.DEPOSIT_RELEASE_WINDOW)}ه"

    # Cases of earlier builds count 30-day months (``PurchaseCase.calendar_months``): their texts say so.
    def _delivery_window_fa(self) -> str:
        if self.p.calendar_months:
            return fa_months(policy.DELIVERY_MONTHS_AFTER_FINAL_PAYMENT)
        return fa_days(policy.DELIVERY_WINDOW_AFTER_FINAL_PAYMENT)

    def _stage3_due_fa(self) -> str:
        """The buyer's own deadline, in the invitation (``PURCHASE_MONEY`` cases)."""
        due = instant(self.p.stage3_due)
        if due is None:
            return ""
        return (
            f" مهلت پرداخت مرحله سوم تا {jalali_datetime(due)} است؛ پس از آن قرارداد به منزله انصراف شما "
            "فسخ و جریمه انصراف کسر می‌شود."
        )

    def _cancel_after_en(self) -> str:
        if self.p.calendar_months:
            return f"{policy.CANCEL_FOR_DELAY_AFTER_MONTHS} calendar months"
        return f"{policy.CANCEL_FOR_DELAY_AFTER.days} days"

    def _period_fa(self) -> str:
        if self.p.calendar_months:
            return f"دوره {fa_months(policy.DELAY_PENALTY_PERIOD_MONTHS)}ه"
        return f"دوره {fa_days(policy.DELAY_PENALTY_PERIOD)}ه"

    def _why_disabled(self, update: str) -> str | None:
        p = self.p
        if update == "withdraw":
            return "request a withdrawal code first (the last one was used, expired or voided)"
        if update == "withdraw_application":
            return "no application to an offering whose window is still open"
        if update == "cancel_for_delay":
            return (
                f"delivery is not more than {self._cancel_after_en()} late "
                f"(deadline {p.delivery_deadline}, {p.periods_late_now()} delay period(s) so far)"
            )
        if update == "reinstate":
            if p.settled_beyond_deposit:
                return "the settlement paid out more than the deposit (payments, penalties): the buyer must register again"
            if p.purchase_money and p.reinstatement_closed and p.reinstatement_until is None and p.withdrawn_at:
                return "the settlement pays out more than the deposit (payments, penalties): the buyer must register again"
            if p.deposit_releasing:
                return "the deposit release is under way; try again when it ends"
            if p.reinstatement_closed:
                return f"the reinstatement window of {policy.REINSTATEMENT_WINDOW.days} days has closed"
        return None

    def _describe(self) -> list[str]:
        p, state = self.p, self.case.state
        lines = [
            f"**متقاضی:** {p.applicant_full_name}",
            f"**طرح:** {p.scheme_id}",
            f"**سپرده مسدود (مرحله اول):** {rials(p.deposit_rial)} — بانک {p.deposit_bank}",
        ]
        if p.registration_code:
            lines.append(f"**کد ثبت‌نام در طرح:** `{p.registration_code}`")
        if p.rank is not None:
            lines.append(f"**نوبت (قرعه):** {en_to_fa(str(p.rank))}")
        if p.ineligible_reasons:
            lines.append("**علت عدم احراز شرایط:** " + "؛ ".join(p.ineligible_reasons))
        if p.has_open_application:
            lines.append(f"**درخواست عرضه:** {p.applied_offering}")
        if p.seat is not None and p.sign_by:
            lines.append(f"**مهلت امضای قرارداد:** {jalali_datetime(instant(p.sign_by))}")
        if p.model:
            lines.append(f"**خودرو:** {p.model} — واردکننده {p.importer_id} — عرضه {p.offering_id}")
            lines.append(f"**قیمت پایه:** {rials(p.base_price_rial)}؛ **مرحله دوم:** {rials(p.stage2_due_rial())}")
        if p.delivery_due:
            lines.append(f"**موعد تحویل قراردادی:** {jalali_date(date.fromisoformat(p.delivery_due))}")
        if p.final_costs_rial is not None:
            lines.append(f"**مرحله سوم:** {rials(p.final_costs_rial)}")
        if state == "AtCustoms" and p.stage3_due:
            lines.append(f"**مهلت پرداخت مرحله سوم:** {jalali_datetime(instant(p.stage3_due))}")
        if state in rules.DELIVERY_PENDING and p.delivery_deadline:
            lines.append(f"**مهلت تحویل:** {jalali_datetime(instant(p.delivery_deadline))}")
        penalty = self._delay_penalty_now()
        if penalty:
            periods = en_to_fa(str(p.periods_late_now()))
            lines.append(f"**جریمه تأخیر:** {rials(penalty)} ({periods} {self._period_fa()})")
        if p.code_step:
            lines.append(f"**کد انصراف معتبر تا:** {jalali_datetime(instant(p.code_expires_at))}")
        if p.withdrawal_penalty_rial:
            lines.append(f"**جریمه انصراف:** {rials(p.withdrawal_penalty_rial)}")
        if p.cancellation_penalty_rial:
            lines.append(f"**جریمه فسخ:** {rials(p.cancellation_penalty_rial)}")
        if p.penalty_unpaid_rial:
            lines.append(f"**طلب پرداخت‌نشده واردکننده (جریمه انصراف):** {rials(p.penalty_unpaid_rial)}")
        if p.refund_rial:
            lines.append(f"**مبلغ قابل استرداد:** {rials(p.refund_rial)}")
        if state == "Withdrawn" and p.reinstatement_until and not p.reinstatement_closed:
            lines.append(f"**امکان بازگرداندن تا:** {jalali_datetime(instant(p.reinstatement_until))}")
        if p.purchase_money and p.deposit_released_at:
            lines.append(f"**تسویه با خریدار:** {rials(p.refund_rial)} — {jalali_datetime(instant(p.deposit_released_at))}")
        elif p.deposit_released_at:
            lines.append(f"**سپرده آزاد شد:** {jalali_datetime(instant(p.deposit_released_at))}")
        elif p.deposit_release_deadline:
            lines.append(f"**مهلت آزادسازی سپرده:** {jalali_datetime(instant(p.deposit_release_deadline))}")
            if p.deposit_release_overdue:
                lines.append(f"**هشدار:** آزادسازی سپرده از مهلت {self._release_window_fa()} گذشته است")
        if p.vin:
            lines.append(
                f"**شماره شاسی:** {p.vin}؛ **انتقال سند ممنوع تا:** {jalali_datetime(instant(p.title_transfer_locked_until))}"
            )
        return lines
