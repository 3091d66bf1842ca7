"""The ``ImportScheme`` workflow: one import scheme's round, from its window to the published ranks (seed 001).

Deterministic code only: the states live in :class:`lifecycles.import_scheme.ImportSchemeMachine`,
every I/O is an activity and the window's two instants are durable timers (``Case.run``). At the
close a background task runs the eligibility batch, a chunk of registrations per activity, each
judged with one statement (``activities.import_scheme.judge_registrations``); the progress is in
the case, so a crash or a continued run goes on from the last chunk. The operator then reveals
the seed committed at the start (``draw``): one activity ranks every eligible registration in one
transaction. Registrations themselves are the purchase cases' (``register_in_scheme``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.import_scheme import (
        BatchStart,
        CaseWakeup,
        DrawRequest,
        EligibilityChunk,
        SchemeOpening,
        WakeChunk,
        close_registration_book,
        commit_seed,
        draw_lottery,
        judge_registrations,
        scheme_opening_refusal,
    )
    from domain import policy
    from domain.commands import Actor, parse_start
    from domain.display import iso, jalali_datetime, parse_instant
    from lifecycles import import_scheme as rules
    from lifecycles import lottery
    from lifecycles.import_scheme import ImportSchemeMachine, SchemeCase

from workflows.common import ACTIVITY_RETRY, Case, command, may_start_as, rejection, run_activity, start_input


@workflow.defn(name="ImportScheme")
class ImportSchemeWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        try:
            begin = parse_start(rules.Start, start)
            self.s = SchemeCase(scheme_id=begin.scheme_id, seed_commitment=begin.seed_commitment)
        except Exception as err:  # reported by run(), which fails the workflow cleanly
            self._start_error = str(err)
            self.s = SchemeCase("", "")
        self.machine = ImportSchemeMachine(self.s)
        self.case = Case(self.machine, rules.UPDATE_ROLES, self._describe, self._why_disabled)
        self._batch: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Task[None] | None = None

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        if not self.case.resume(start):
            await self.case.open(start, self._start_error, self._may_start)
            window = await run_activity(commit_seed, self._opening(), summary="publish the seed commitment")
            s = self.s
            s.registration_opens, s.registration_closes = window["registration_opens"], window["registration_closes"]
            s.deposit_rial = window["deposit_rial"]
            self.case.note("seed_committed", None, seed_commitment=s.seed_commitment, registration_closes=s.registration_closes)
        self._batch = asyncio.create_task(self._eligibility_batch())
        self._wakeup = asyncio.create_task(self._wake_cases())
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
            scheme_id=s.scheme_id,
            seed_commitment=s.seed_commitment,
            registration_opens=s.registration_opens,
            registration_closes=s.registration_closes,
            deposit_rial=s.deposit_rial,
            registered=s.registered,
            eligible=s.eligible,
            ineligible=s.ineligible,
            checked_at=s.checked_at,
            seed=s.seed,
            list_digest=s.list_digest,
            drawn_at=s.drawn_at,
            cases_told=s.cases_told,
            cases_gone=s.cases_gone,
            rechecks=s.rechecks,
            lost_eligibility=s.lost_eligibility,
        )
        return out

    # --- the window ---

    def _next_deadline(self) -> tuple[datetime, Callable[[], None]] | None:
        """The window's opening, then its close (instants of the reference data; Tehran's days)."""
        state = self.case.state
        event = {"Scheduled": "registration_opened", "Open": "registration_closed"}.get(state)
        at = parse_instant(self.s.registration_opens if state == "Scheduled" else self.s.registration_closes)
        if event is None or at is None:
            return None
        return at, lambda: self.case.fire(event, None)

    # --- the eligibility batch ---

    async def _eligibility_batch(self) -> None:
        """At the close: every registration of the round judged, chunk by chunk (Checking → AwaitingDraw)."""
        await workflow.wait_condition(lambda: self.case.state == "Checking" or self.machine.is_terminated)
        if self.case.state != "Checking":
            return
        s = self.s
        closes = parse_instant(s.registration_closes)
        assert closes is not None
        async with self.case.working("eligibility"):
            s.registered = await run_activity(
                close_registration_book, BatchStart(s.scheme_id, closes), summary="close the registration book"
            )
            s.eligible, s.ineligible = await self._judge(closes, recheck=False)
        s.checked_at = iso(workflow.now())
        self.case.fire("eligibility_checked", None, registered=s.registered, eligible=s.eligible, ineligible=s.ineligible)

    async def _judge(self, at: datetime, *, recheck: bool) -> tuple[int, int]:
        """Chunks of the batch until none is left; the eligible and ineligible counts."""
        s = self.s
        after = s.checked_after_id if not recheck else 0
        eligible = ineligible = 0
        if not recheck:
            eligible, ineligible = s.eligible, s.ineligible  # a continued run carries what it judged
        while True:
            done = await run_activity(
                judge_registrations,
                EligibilityChunk(s.scheme_id, after, at, recheck=recheck),
                summary=f"{'re-check' if recheck else 'eligibility'} after #{after}",
            )
            if done["last_id"] is None:
                return eligible, ineligible
            after = done["last_id"]
            eligible, ineligible = eligible + done["eligible"], ineligible + done["ineligible"]
            if not recheck:
                s.checked_after_id, s.eligible, s.ineligible = after, eligible, ineligible

    # --- telling the purchase cases ---

    async def _wake_cases(self) -> None:
        """Once drawn: every judged registration's purchase case is signalled to read its verdict
        and rank (``SCHEME_VERDICT_SIGNAL``), a page per activity; commands wait meanwhile."""
        s = self.s
        await workflow.wait_condition(
            lambda: (s.drawn_at is not None and self.case.state == "Ranked") or self.machine.is_terminated
        )
        if s.cases_told_done or self.machine.is_terminated:
            return
        async with self.case.working("tell the cases"):
            while True:
                done = await workflow.execute_activity_method(
                    CaseWakeup.wake_scheme_cases,
                    WakeChunk(s.scheme_id, s.told_after_id),
                    start_to_close_timeout=timedelta(seconds=policy.SCHEME_DRAW_TIMEOUT_SECONDS),
                    retry_policy=ACTIVITY_RETRY,
                    summary=f"tell the cases after #{s.told_after_id}",
                )
                if done["last_id"] is None:
                    break
                s.told_after_id, s.cases_told, s.cases_gone = (
                    done["last_id"],
                    s.cases_told + done["woken"],
                    s.cases_gone + done["gone"],
                )
        s.cases_told_done = True
        self.case.note("cases_told", None, cases_told=s.cases_told, cases_gone=s.cases_gone)

    # --- operator commands ---

    @command
    async def draw(self, c: Any) -> None:
        """The operator reveals the seed: every eligible registration gets its rank (AwaitingDraw → Ranked)."""
        s = self.s
        async with self.case.working("draw"):
            result = await workflow.execute_activity(
                draw_lottery,
                DrawRequest(s.scheme_id, c.seed, workflow.now()),
                start_to_close_timeout=timedelta(seconds=policy.SCHEME_DRAW_TIMEOUT_SECONDS),
                retry_policy=ACTIVITY_RETRY,
                summary="draw the lottery and publish the ranks",
            )
        s.seed, s.list_digest, s.drawn_at = c.seed, result["list_digest"], result["drawn_at"]
        self.case.fire("draw", c.actor, eligible_count=result["eligible_count"], list_digest=s.list_digest, seed=c.seed)

    @command
    async def recheck(self, c: Any) -> None:
        """The rules again over the ranked applicants (the no-active-plate rule until delivery, the
        deposit still blocked); those failing become ineligible, their ranks stay unused."""
        s = self.s
        async with self.case.working("recheck"):
            still, lost = await self._judge(workflow.now(), recheck=True)
        s.rechecks += 1
        s.lost_eligibility += lost
        self.case.fire("recheck", c.actor, still_eligible=still, lost_eligibility=lost)

    @command
    async def finish(self, c: Any) -> None:
        self.case.fire("finish", c.actor)

    @command
    async def abort(self, c: Any) -> None:
        """An operator ends the scheme's case, giving a reason (see ``Case.abort``)."""
        await self.case.abort(c)

    # --- checks ---

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    def _opening(self) -> SchemeOpening:
        return SchemeOpening(self._id, self.s.scheme_id, self.s.seed_commitment, workflow.now())

    async def _may_start(self, actor: Actor) -> str | None:
        why = may_start_as(actor, {"operator": None})
        if why:
            return why
        return await run_activity(scheme_opening_refusal, self._opening(), summary="the scheme and its window")

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        c = self.case.check(update, cmd, rules.COMMANDS[update])
        if update == "draw" and lottery.commitment(c.seed) != self.s.seed_commitment:  # type: ignore[attr-defined]
            raise rejection("draw: the seed does not match the commitment published at opening")
        return c

    def _why_disabled(self, update: str) -> str | None:
        return None

    def _describe(self) -> list[str]:
        s = self.s
        lines = [f"**طرح:** {s.scheme_id}", f"**تعهد بذر قرعه (SHA-256):** `{s.seed_commitment}`"]
        opens, closes = parse_instant(s.registration_opens), parse_instant(s.registration_closes)
        if opens and closes:
            lines.append(f"**مهلت ثبت‌نام:** {jalali_datetime(opens)} تا {jalali_datetime(closes)}")
        if s.checked_at:
            lines.append(f"**ثبت‌نام‌ها:** {s.registered}؛ **حائز شرایط:** {s.eligible}؛ **فاقد شرایط:** {s.ineligible}")
        if s.drawn_at:
            lines.append(f"**قرعه:** {jalali_datetime(parse_instant(s.drawn_at))} — فهرست `{s.list_digest}`")
        if s.lost_eligibility:
            lines.append(f"**خارج‌شده در بررسی مجدد:** {s.lost_eligibility}")
        return lines
