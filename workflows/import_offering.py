"""The ``ImportOffering`` workflow: an importer's offering to a scheme's ranked applicants (seed 001).

Deterministic code only: the states live in :class:`lifecycles.import_offering.ImportOfferingMachine`,
every I/O is an activity and the window's two instants (and the end of the reassignment month)
are durable timers (``Case.run``). Background tasks do the set-based work:
- once approved, every ranked eligible case of the scheme is told the offering's public terms
  (``lifecycles.import_offering.OFFERING_ANNOUNCED_SIGNAL``), a page of cases per activity (``CaseWakeup.signal_cases``);
- at the close one activity names the buyers (``close_offering``) and their cases are told
  (``OFFERING_SEAT_SIGNAL``: they read their seat in the registry and allocate themselves);
- when a buyer's case gives its seat up (``OFFERING_SEAT_FREED_SIGNAL``: declined, or not signed in
  time) one activity gives the free seats to the next applicants by rank, who are told in turn.
The progress of each is in the case, so a crash or a continued run goes on from the last page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.import_offering import (
        OfferingClose,
        OfferingDecision,
        OfferingProposal,
        SeatFill,
        close_offering,
        decide_offering,
        fill_offering_seats,
        offering_proposal_refusal,
        record_offering,
    )
    from activities.import_scheme import CasePage, CaseSignals, CaseWakeup
    from domain import policy
    from domain.commands import Actor, parse_start
    from domain.display import iso, jalali_date, jalali_datetime, parse_instant, rials
    from lifecycles import import_offering as rules
    from lifecycles.import_offering import (
        OFFERING_ANNOUNCED_SIGNAL,
        OFFERING_SEAT_FREED_SIGNAL,
        OFFERING_SEAT_SIGNAL,
        OFFERING_WITHDRAWN_SIGNAL,
        ImportOfferingMachine,
        OfferingCase,
    )

from workflows.common import ACTIVITY_RETRY, Case, command, may_start_as, rejection, run_activity, start_input


@workflow.defn(name="ImportOffering")
class ImportOfferingWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        self._begin: rules.Start | None = None
        try:
            begin = parse_start(rules.Start, start)
            self._begin = begin
            self.s = OfferingCase(
                offering_id=begin.offering_id,
                scheme_id=begin.scheme_id,
                importer_id=begin.importer_id,
                model=begin.model,
                specs=list(begin.specs),
                seats=begin.seats,
                delivery_due=begin.delivery_due.isoformat(),
                base_price_rial=begin.base_price_rial,
                pre_customs_costs_rial=begin.pre_customs_costs_rial,
                estimated_final_costs_rial=begin.estimated_final_costs_rial,
                opens=iso(begin.opens) or "",
                closes=iso(begin.closes) or "",
            )
        except Exception as err:  # reported by run(), which fails the workflow cleanly
            self._start_error = str(err)
            self.s = OfferingCase("", "", "", "")
        self.machine = ImportOfferingMachine(self.s)
        self.case = Case(self.machine, rules.UPDATE_ROLES, self._describe, self._why_disabled)
        self._tasks: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        if not self.case.resume(start):
            if self._begin is not None and self._start_error is None:
                self._start_error = self._begin.problem(workflow.now())
            await self.case.open(start, self._start_error, self._may_start)
            await run_activity(record_offering, self._proposal(), summary="record the proposal")
            self.case.note("proposed", None, offering_id=self.s.offering_id, seats=self.s.seats)
        self._tasks = [
            self.case.background("announce", self._announce),
            self.case.background("close", self._close),
            self.case.background("fill freed seats", self._fill_freed_seats),
        ]
        await self.case.run(self._next_deadline)
        return self.status()

    # --- queries ---

    @workflow.query
    def status(self) -> dict[str, Any]:
        if (refused := self.case.refusal()) is not None:
            return refused
        s = self.s
        out = self.case.status()
        out.update(
            **s.terms(),
            specs=list(s.specs),
            rejection_reason=s.rejection_reason,
            cases_told=s.cases_told,
            cases_gone=s.cases_gone,
            applicants=s.applicants,
            buyers=s.buyers,
            reassign_until=s.reassign_until,
            fills=s.fills,
            seats_given_again=s.seats_given_again,
        )
        return out

    # --- signals ---

    @workflow.signal(name=OFFERING_SEAT_FREED_SIGNAL)
    def seat_freed(self) -> None:
        """A buyer's case gave its seat up: fill the free seats (read from the registry)."""
        self.s.fill_wanted = True

    # --- the window and the reassignment month ---

    def _next_deadline(self) -> tuple[datetime, Callable[[], None]] | None:
        s, state = self.s, self.case.state
        if state == "Proposed":
            at, event = parse_instant(s.closes), "approval_lapsed"
        elif state == "Approved":
            at, event = parse_instant(s.opens), "window_opened"
        elif state == "Open":
            at, event = parse_instant(s.closes), "window_closed"
        elif state == "Allocating":
            at, event = parse_instant(s.reassign_until), "reassignment_ended"
        else:
            return None
        if at is None:
            return None
        return at, lambda: self._reached(event)

    def _reached(self, event: str) -> None:
        self.case.fire(event, None)
        if event in ("reassignment_ended", "approval_lapsed"):
            status = "finished" if event == "reassignment_ended" else "expired"
            self._tasks.append(self.case.background("record the end", lambda: self._record_end(status)))

    async def _record_end(self, status: str) -> None:
        async with self.case.working("the offering's end"):
            await run_activity(
                decide_offering, OfferingDecision(self.s.offering_id, status, workflow.now()), summary=f"offering {status}"
            )
        # A note wakes the case's loop, which may now end (it waits for history, not for ``busy``).
        self.case.note("end_recorded", None, status=status)

    # --- the announcement ---

    async def _announce(self) -> None:
        """Once approved: every ranked eligible case of the scheme is told the terms, a page per activity."""
        s = self.s
        await workflow.wait_condition(lambda: self.case.state not in ("Proposed",) or self.machine.is_terminated)
        if s.told_done or self.case.state in ("Rejected", "Aborted", "Expired"):
            return
        page = CasePage("ranked", s.scheme_id, s.told_after_id, limit=policy.OFFERING_FAN_OUT_CHUNK)
        while True:
            page.after = s.told_after_id
            done = await self._signal(CaseSignals(page, OFFERING_ANNOUNCED_SIGNAL), f"announce after #{page.after}")
            if done["last_id"] is None:
                break
            s.told_after_id = done["last_id"]
            s.cases_told += done["woken"]
            s.cases_gone += done["gone"]
        s.told_done = True
        self.case.note("announced", None, cases_told=s.cases_told, cases_gone=s.cases_gone)

    async def _signal(self, order: CaseSignals, summary: str) -> dict[str, Any]:
        result: dict[str, Any] = await workflow.execute_activity_method(
            CaseWakeup.signal_cases,
            order,
            start_to_close_timeout=timedelta(seconds=policy.SCHEME_DRAW_TIMEOUT_SECONDS),
            retry_policy=ACTIVITY_RETRY,
            summary=summary,
        )
        return result

    async def _tell_buyers(self, round: int) -> None:
        """The buyers of a round (0: the close's) are told to read their seats, a page per activity."""
        s = self.s
        if s.buyers_told_round >= round:
            return
        page = CasePage("buyers", s.offering_id, s.buyers_told_after, round=round, limit=policy.OFFERING_FAN_OUT_CHUNK)
        while True:
            page.after = s.buyers_told_after
            done = await self._signal(CaseSignals(page, OFFERING_SEAT_SIGNAL), f"tell the buyers of round {round}")
            if done["last_id"] is None:
                break
            s.buyers_told_after = done["last_id"]
        s.buyers_told_round, s.buyers_told_after = round, 0

    # --- the close ---

    async def _close(self) -> None:
        """At the window's close: the buyers named in one activity (Closing → Allocating), then told."""
        s = self.s
        await workflow.wait_condition(lambda: self.case.state in ("Closing", "Allocating") or self.machine.is_terminated)
        if self.case.state == "Closing":
            closes = parse_instant(s.closes)
            assert closes is not None
            now = workflow.now()
            until = rules.reassign_until(closes)
            async with self.case.working("close"):
                result = await workflow.execute_activity(
                    close_offering,
                    OfferingClose(s.offering_id, now, now + timedelta(days=policy.OFFERING_SIGN_DAYS), until),
                    start_to_close_timeout=timedelta(seconds=policy.OFFERING_CLOSE_TIMEOUT_SECONDS),
                    retry_policy=ACTIVITY_RETRY,
                    summary="name the buyers by rank",
                )
            s.applicants, s.buyers, s.reassign_until = result["applicants"], result["buyers"], iso(until)
            self.case.fire("buyers_named", None, applicants=s.applicants, buyers=s.buyers, reassign_until=s.reassign_until)
        if self.case.state != "Allocating":
            return
        async with self.case.working("tell the buyers"):
            await self._tell_buyers(0)

    async def _fill_freed_seats(self) -> None:
        """While Allocating: each time a buyer gave a seat up, the free seats go to the next ranks."""
        s = self.s
        while True:
            await workflow.wait_condition(
                lambda: (
                    (s.fill_wanted and self.case.state == "Allocating" and s.buyers_told_round >= s.fill_rounds)
                    or self.machine.is_terminated
                )
            )
            if self.machine.is_terminated:
                return
            await workflow.wait_condition(lambda: not self.case.busy)
            if self.case.state != "Allocating":
                continue
            s.fill_wanted = False
            s.fills += 1
            now = workflow.now()
            async with self.case.working("give freed seats again"):
                result = await run_activity(
                    fill_offering_seats,
                    SeatFill(s.offering_id, s.fill_rounds + 1, now, now + timedelta(days=policy.OFFERING_SIGN_DAYS)),
                    summary="freed seats to the next ranks",
                )
                if result["given"]:
                    s.fill_rounds = result["round"]
                    s.seats_given_again += result["given"]
                    await self._tell_buyers(s.fill_rounds)
            if result["given"]:
                self.case.note("seats_given_again", None, round=result["round"], given=result["given"])

    # --- operator commands ---

    @command
    async def approve(self, c: Any) -> None:
        """An operator approves the proposal (Proposed → Approved); the ranked cases are told."""
        async with self.case.working("approve"):
            await run_activity(
                decide_offering, OfferingDecision(self.s.offering_id, "approved", workflow.now()), summary="approve"
            )
        self.case.fire("approve", c.actor)

    @command
    async def reject(self, c: Any) -> None:
        """An operator rejects the proposal, giving a reason (Proposed → Rejected)."""
        async with self.case.working("reject"):
            await run_activity(
                decide_offering, OfferingDecision(self.s.offering_id, "rejected", workflow.now()), summary="reject"
            )
        self.s.rejection_reason = c.reason
        self.case.fire("reject", c.actor, reason=c.reason)

    @command
    async def abort(self, c: Any) -> None:
        """An operator ends the offering before its close; the applications are withdrawn."""
        async with self.case.working("abort"):
            withdrawn = await run_activity(
                decide_offering,
                OfferingDecision(self.s.offering_id, "aborted", workflow.now()),
                summary="withdraw the applications",
            )
            # Its applicants hold their one live application in it: told, they may apply elsewhere now.
            page = CasePage("applicants", self.s.offering_id, 0, limit=policy.OFFERING_FAN_OUT_CHUNK)
            while True:
                done = await self._signal(
                    CaseSignals(page, OFFERING_WITHDRAWN_SIGNAL), f"tell the applicants after #{page.after}"
                )
                if done["last_id"] is None:
                    break
                page.after = done["last_id"]
        self.s.applicants = 0
        self.case.note("applications_withdrawn", c.actor, withdrawn=withdrawn)
        await self.case.abort(c)

    # --- checks ---

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    def _proposal(self) -> OfferingProposal:
        s = self.s
        opens, closes = parse_instant(s.opens), parse_instant(s.closes)
        assert opens is not None and closes is not None
        return OfferingProposal(
            self._id,
            s.offering_id,
            s.scheme_id,
            s.importer_id,
            s.model,
            s.seats,
            s.delivery_due,
            s.base_price_rial,
            s.pre_customs_costs_rial,
            s.estimated_final_costs_rial,
            opens,
            closes,
            workflow.now(),
        )

    async def _may_start(self, actor: Actor) -> str | None:
        why = may_start_as(actor, {"importer": self.s.importer_id})
        if why:
            return why
        return await run_activity(offering_proposal_refusal, self._proposal(), summary="the scheme and the offering id")

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        c = self.case.check(update, cmd, rules.COMMANDS[update])
        closes = parse_instant(self.s.closes)
        if update == "approve" and closes is not None and workflow.now() >= closes:
            raise rejection(f"approve: the application window closed at {self.s.closes}; the importer proposes again")
        return c

    def _why_disabled(self, update: str) -> str | None:
        return None

    def _describe(self) -> list[str]:
        s = self.s
        lines = [
            f"**عرضه:** {s.offering_id} — طرح {s.scheme_id}",
            f"**واردکننده:** {s.importer_id}؛ **خودرو:** {s.model}؛ **تعداد:** {s.seats}",
            f"**قیمت پایه:** {rials(s.base_price_rial)}؛ **هزینه تا گمرک:** {rials(s.pre_customs_costs_rial)}",
        ]
        if s.delivery_due:
            lines.append(f"**موعد تحویل قراردادی:** {jalali_date(rules.delivery_day(s.delivery_due))}")
        opens, closes = parse_instant(s.opens), parse_instant(s.closes)
        if opens and closes:
            lines.append(f"**مهلت درخواست:** {jalali_datetime(opens)} تا {jalali_datetime(closes)}")
        if s.told_done:
            lines.append(f"**متقاضیان مطلع‌شده:** {s.cases_told}")
        if self.case.state in ("Allocating", "Finished"):
            lines.append(f"**درخواست‌ها:** {s.applicants}؛ **خریداران قطعی:** {s.buyers}")
        if s.seats_given_again:
            lines.append(f"**خودروهای واگذارشده به نوبت بعدی:** {s.seats_given_again}")
        if s.rejection_reason:
            lines.append(f"**علت رد:** {s.rejection_reason}")
        return lines
