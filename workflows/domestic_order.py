"""The ``DomesticScheme`` and ``DomesticOrder`` workflows: the domestic integrated sales scheme (seed 000).

Deterministic code only: the states live in :mod:`lifecycles.domestic_order`, every I/O is an
activity. A stage's controls (its change windows, the withdrawal switch, the freeze) are data the
``DomesticScheme`` case's operator writes. Each change bumps the stage's controls version and the
stage tells every live order (a signal carrying nothing, a page of orders per activity); the order
reads the controls (and its turn within its year) from the registry and carries them, so its
validators refuse a change outside a window (Tehran time edges) or a withdrawal while switched off
before anything is recorded. The handler judges again against the registry, the authority, which
catches a change the stage has not told yet. The escrow deposit is blocked, released (within 72 working hours of
a withdrawal, seed 000) and blocked again on a restoration by the import purchase's escrow
activities; the SMS code is kept as ``lifecycles.withdrawal`` says (never in the workflow).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from persiantools.digits import en_to_fa

    from activities.domestic_order import (
        DomesticCodeRequest,
        DomesticDelivery,
        OrderChange,
        OrderLeaving,
        OrderOpening,
        OrderRestoring,
        OrderTelling,
        ProfileEdit,
        Recompute,
        SchemeQuery,
        SchemeRecord,
        SchemeSwitch,
        TellChunk,
        WindowRecord,
        domestic_scheme_controls,
        edit_domestic_profile,
        issue_domestic_withdrawal_code,
        leave_domestic_order,
        load_domestic_scheme,
        open_domestic_order,
        recompute_domestic_turns,
        record_change_window,
        record_domestic_delivery,
        record_domestic_scheme,
        record_order_change,
        restore_domestic_order,
        switch_domestic_scheme,
    )
    from activities.import_purchase import (
        CodeCheck,
        DepositRequest,
        Registration,
        WorkingDeadline,
        check_withdrawal_code,
        reblock_deposit,
        record_registration,
        release_deposit,
        working_hours_deadline,
    )
    from domain import policy
    from domain.commands import Actor, Command, parse_start
    from domain.display import iso, jalali_datetime, parse_instant, rials
    from lifecycles import domestic_order as rules
    from lifecycles import withdrawal
    from lifecycles.domestic_order import DomesticOrderMachine, DomesticSchemeMachine, OrderCase, SchemeCase

from workflows.common import (
    ACTIVITY_RETRY,
    ACTIVITY_TIMEOUT,
    DOMESTIC_CONTROLS,
    Case,
    command,
    done_within,
    invalid_input,
    may_start_as,
    rejection,
    run_activity,
    start_input,
)
from workflows.import_purchase import RELEASE_RETRY

# --- the stage ---


@workflow.defn(name="DomesticScheme")
class DomesticSchemeWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        try:
            begin = parse_start(rules.SchemeStart, start)
            self.s = SchemeCase(
                scheme_id=begin.scheme_id,
                deposit_rial=begin.deposit_rial,
                offerings=[o.model_dump() for o in begin.offerings],
                withdrawal_enabled=begin.withdrawal_enabled,
            )
        except Exception as err:  # reported by run(), which fails the workflow cleanly
            self._start_error = str(err)
            self.s = SchemeCase("", 0, [], True)
        self.machine = DomesticSchemeMachine(self.s)
        self.case = Case(self.machine, rules.SCHEME_UPDATE_ROLES, self._describe)
        self._recorded = False

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        if not self.case.resume(start):
            await self.case.open(start, self._start_error, lambda actor: may_start_as(actor, {"operator": None}))
            s = self.s
            async with self.case.working("record the scheme"):
                await run_activity(
                    record_domestic_scheme,
                    SchemeRecord(self._id, s.scheme_id, s.deposit_rial, s.offerings, s.withdrawal_enabled, workflow.now()),
                    summary="the stage to the registry",
                )
        self._recorded = True  # a continued run's stage was recorded by the first run
        self.case.refresh_details()
        self._telling = self.case.background("tell the orders", self._tell_orders)
        await self.case.run(lambda: None, done=self._over)
        return self.status()

    def _over(self) -> bool:
        """The stage's case ends once it is over and every order was told of its last change."""
        return self.machine.is_terminated and self.s.told_version >= self.s.controls_version

    @workflow.query
    def status(self) -> dict[str, Any]:
        if (refused := self.case.refusal()) is not None:
            return refused
        s = self.s
        out = self.case.status()
        out.update(
            scheme_id=s.scheme_id,
            recorded=self._recorded,
            deposit_rial=s.deposit_rial,
            offerings=[dict(o) for o in s.offerings],
            withdrawal_enabled=s.withdrawal_enabled,
            change_windows={k: dict(v) for k, v in s.windows.items()},
            year_turns=dict(s.year_turns),
            recomputed_at=s.recomputed_at,
            controls_version=s.controls_version,
            orders_told_version=s.told_version,
        )
        return out

    # --- telling the orders (``DOMESTIC_CONTROLS``) ---

    def _changed(self) -> int | None:
        """A change the orders must read again: the controls' next version (``None``: a stage of an
        earlier build, whose orders read the controls in their handlers only)."""
        if not workflow.patched(DOMESTIC_CONTROLS):
            return None
        self.s.controls_version += 1
        return self.s.controls_version

    async def _orders_told(self) -> None:
        """An operator's change returns once every live order was told of it: what the operator sees
        done, the orders know (they refuse in their validators by it from then on)."""
        await workflow.wait_condition(lambda: self.s.told_version >= self.s.controls_version)

    async def _tell_orders(self) -> None:
        """After every change, every live order of the stage is signalled to read its controls and
        turn again, a page per activity; a newer change starts the telling over from the first turn."""
        s = self.s
        while True:
            # Not while a command is writing its change: the orders must read it committed.
            await workflow.wait_condition(lambda: s.told_version < s.controls_version and not self.case.busy)
            telling = s.controls_version
            while s.controls_version == telling:
                done = await workflow.execute_activity_method(
                    OrderTelling.tell_domestic_orders,
                    TellChunk(s.scheme_id, s.told_after_id),
                    start_to_close_timeout=timedelta(seconds=policy.SCHEME_DRAW_TIMEOUT_SECONDS),
                    retry_policy=ACTIVITY_RETRY,
                    summary=f"tell the orders after turn {s.told_after_id}",
                )
                if done["last_turn"] is None:
                    s.told_version, s.told_after_id = telling, 0
                    self.case.note("orders_told", None, version=telling, orders=s.orders_told)
                    s.orders_told = 0
                    break
                s.told_after_id, s.orders_told = done["last_turn"], s.orders_told + done["told"]
            else:
                s.told_after_id, s.orders_told = 0, 0  # changed meanwhile: from the first turn again

    @command
    async def open_change_window(self, c: Any) -> None:
        async with self.case.working("open_change_window"):
            await run_activity(
                record_change_window,
                WindowRecord(self.s.scheme_id, c.window_id, c.opens, c.closes, c.restored_only, self._changed()),
                summary="the change window to the registry",
            )
        window = {"opens": iso(c.opens), "closes": iso(c.closes), "restored_only": c.restored_only}
        extended = c.window_id in self.s.windows
        self.s.windows[c.window_id] = window
        self.case.fire("open_change_window", c.actor, window_id=c.window_id, extended=extended, **window)
        await self._orders_told()

    @command
    async def close_change_window(self, c: Any) -> None:
        window = self.s.windows[c.window_id]
        now = workflow.now()
        opens, closes = parse_instant(window["opens"]), parse_instant(window["closes"])
        assert opens is not None and closes is not None
        closes = min(closes, now)
        opens = min(opens, closes)
        async with self.case.working("close_change_window"):
            await run_activity(
                record_change_window,
                WindowRecord(self.s.scheme_id, c.window_id, opens, closes, bool(window["restored_only"]), self._changed()),
                summary="the change window closed",
            )
        window.update(opens=iso(opens), closes=iso(closes))
        self.case.fire("close_change_window", c.actor, window_id=c.window_id, closes=window["closes"])
        await self._orders_told()

    @command
    async def switch_withdrawal(self, c: Any) -> None:
        async with self.case.working("switch_withdrawal"):
            await run_activity(
                switch_domestic_scheme,
                SchemeSwitch(self.s.scheme_id, workflow.now(), withdrawal_enabled=c.enabled, version=self._changed()),
                summary="the withdrawal switch",
            )
        self.s.withdrawal_enabled = c.enabled
        self.case.fire("switch_withdrawal", c.actor, enabled=c.enabled, reason=c.reason)
        await self._orders_told()

    @command
    async def close_registration(self, c: Any) -> None:
        async with self.case.working("close_registration"):
            await run_activity(switch_domestic_scheme, SchemeSwitch(self.s.scheme_id, workflow.now(), registration_open=False))
        self.case.fire("close_registration", c.actor)

    @command
    async def freeze(self, c: Any) -> None:
        """Close the stage for the review of turns: no change until it reopens."""
        async with self.case.working("freeze"):
            await run_activity(
                switch_domestic_scheme, SchemeSwitch(self.s.scheme_id, workflow.now(), frozen=True, version=self._changed())
            )
        self.case.fire("freeze", c.actor)
        await self._orders_told()

    @command
    async def recompute_turns(self, c: Any) -> None:
        """Every order's turn within its delivery year, in one set-based step (seed 000)."""
        async with self.case.working("recompute_turns"):
            counts = await workflow.execute_activity(
                recompute_domestic_turns,
                Recompute(self.s.scheme_id, self._changed()),
                start_to_close_timeout=policy.DOMESTIC_RECOMPUTE_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                summary="recompute the stage's turns",
            )
        self.s.year_turns, self.s.recomputed_at = dict(counts), iso(workflow.now())
        self.case.fire("recompute_turns", c.actor, year_turns=dict(counts))
        await self._orders_told()

    @command
    async def reopen(self, c: Any) -> None:
        async with self.case.working("reopen"):
            await run_activity(
                switch_domestic_scheme, SchemeSwitch(self.s.scheme_id, workflow.now(), frozen=False, version=self._changed())
            )
        self.case.fire("reopen", c.actor)
        await self._orders_told()

    @command
    async def finish(self, c: Any) -> None:
        async with self.case.working("finish"):
            await run_activity(
                switch_domestic_scheme,
                SchemeSwitch(self.s.scheme_id, workflow.now(), registration_open=False, finished=True, version=self._changed()),
            )
        self.case.fire("finish", c.actor)
        await self._orders_told()

    @command
    async def abort(self, c: Any) -> None:
        async with self.case.working("abort"):
            await run_activity(
                switch_domestic_scheme,
                SchemeSwitch(self.s.scheme_id, workflow.now(), registration_open=False, finished=True, version=self._changed()),
            )
        await self.case.abort(c)

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        c: Any = self.case.check(update, cmd, rules.SCHEME_COMMANDS[update])
        if update == "close_change_window" and c.window_id not in self.s.windows:
            raise rejection(f"close_change_window: no window {c.window_id} was opened in this scheme")
        if update == "switch_withdrawal" and c.enabled == self.s.withdrawal_enabled:
            raise rejection(f"switch_withdrawal: withdrawal is already switched {'on' if c.enabled else 'off'}")
        return c

    def _describe(self) -> list[str]:
        s = self.s
        lines = [
            f"**طرح:** {s.scheme_id}",
            f"**سپرده لازم:** {rials(s.deposit_rial)}",
            "**عرضه:** " + "، ".join(f"{o['model']} ({en_to_fa(str(o['delivery_year']))})" for o in s.offerings),
            f"**انصراف از طرح:** {'فعال' if s.withdrawal_enabled else 'غیرفعال'}",
        ]
        for window_id, w in s.windows.items():
            who = " (ویژه بازگرداندگان)" if w["restored_only"] else ""
            lines.append(
                f"**مهلت تغییر {window_id}{who}:** {jalali_datetime(parse_instant(w['opens']))} تا "
                f"{jalali_datetime(parse_instant(w['closes']))}"
            )
        return lines


# --- the order ---

CHANGEABLE = frozenset({"Ordered", "Cancelled"})
"""States in which an order holds its turn and may withdraw."""


@workflow.defn(name="DomesticOrder")
class DomesticOrderWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        self._choice: rules.Choice | None = None
        try:
            begin = parse_start(rules.Start, start)
            a, d = begin.applicant, begin.deposit
            self.o = OrderCase(
                scheme_id=begin.scheme_id,
                applicant_national_id=a.national_id,
                applicant_full_name=a.full_name,
                deposit_bank=d.bank,
                deposit_account=d.account,
                deposit_rial=d.amount_rial,
            )
            self._choice = begin.choice
        except Exception as err:  # reported by run(), which fails the workflow cleanly
            self._start_error = str(err)
            self.o = OrderCase("", "", "", "", "", 0)
        self.machine = DomesticOrderMachine(self.o)
        self.case = Case(self.machine, rules.UPDATE_ROLES, self._describe, self._why_disabled, extras=(dict, self._resumed))
        self._release_task: asyncio.Task[None] | None = None
        self._told = False
        """The stage said its controls or turns changed: read them again."""
        self._reading = False
        """A read of the controls is under way: until it ends the order's copy may be stale."""

    @workflow.signal(name=rules.CONTROLS_SIGNAL)
    def controls_changed(self) -> None:
        self._told = True

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        if not self.case.resume(start):
            await self.case.open(start, self._start_error, self._may_start)
            await self._register()
        else:
            self._told = True  # a change told just before the previous run handed over is read again
        self._rereading = self.case.background("read the stage's controls", self._reread_controls)
        await self.case.run(self._next_deadline, done=self.o.is_over)
        return self.status()

    async def _reread_controls(self) -> None:
        """Each time the stage tells the order, the controls and the year's turn read again (one
        read for any number of signals that arrive meanwhile)."""
        while True:
            await workflow.wait_condition(lambda: self._told)
            self._told, self._reading = False, True
            try:
                found = await self._controls()
            except (ActivityError, ApplicationError):
                continue  # the stage's row is gone; the handlers judge against the registry anyway
            finally:
                self._reading = False
            if found.get("year_turn") not in (None, self.o.year_turn):
                self.o.year_turn = found["year_turn"]
                self.case.note("year_turn", None, year_turn=self.o.year_turn, delivery_year=self.o.delivery_year)
            self.case.refresh_details()

    @workflow.query
    def status(self) -> dict[str, Any]:
        if (refused := self.case.refusal()) is not None:
            return refused
        o = self.o
        out = self.case.status()
        out.update(
            scheme_id=o.scheme_id,
            applicant={"national_id": o.applicant_national_id, "full_name": o.applicant_full_name},
            deposit={"bank": o.deposit_bank, "account": o.deposit_account, "amount_rial": o.deposit_rial},
            turn=o.turn,
            year_turn=o.year_turn,
            controls_version=o.controls["version"] if o.controls else None,
            priority={"model": o.model, "delivery_year": o.delivery_year, "chosen": o.chosen},
            ineligible_reasons=list(o.ineligible_reasons),
            changes=o.changes,
            restored=o.restored,
            withdrawal_code_expires_at=o.code_expires_at if o.code_step else None,
            withdrawal_code_attempts_left=o.code_attempts_left if o.code_step else 0,
            withdrawn_at=o.withdrawn_at,
            restore_until=o.restore_until if self.case.state == "Withdrawn" and not o.restore_closed else None,
            deposit_release_deadline=o.deposit_release_deadline,
            deposit_released_at=o.deposit_released_at,
            deposit_release_overdue=o.deposit_release_overdue,
            youth_population=o.youth_population,
            has_driving_license=o.has_driving_license,
            license_inquired_at=o.license_inquired_at,
            vin=o.vin,
            delivered_at=o.delivered_at,
        )
        return out

    # --- opening and registration ---

    async def _may_start(self, actor: Actor) -> str | None:
        why_not = may_start_as(actor, {"applicant": self.o.applicant_national_id})
        if why_not:
            return why_not
        scheme = await run_activity(
            load_domestic_scheme, SchemeQuery(self.o.scheme_id, workflow.now()), summary="the stage's offerings"
        )
        if scheme is None:
            raise invalid_input(f"DomesticOrder input: no domestic scheme {self.o.scheme_id}")
        if not scheme["registration_open"]:
            raise invalid_input(f"DomesticOrder input: registration in scheme {self.o.scheme_id} is closed")
        self.o.offerings = list(scheme["offerings"])
        if self._choice is not None:
            problem = rules.choice_problem(self.o.offerings, self._choice.model, self._choice.delivery_year)
            if problem:
                raise invalid_input(f"DomesticOrder input: choice: {problem}")
        return None

    async def _register(self) -> None:
        """Block the deposit, judge and open the order with its turn: Registered → Ordered / Ineligible."""
        o, choice = self.o, self._choice
        if choice is not None:
            o.model, o.delivery_year, o.chosen = choice.model, choice.delivery_year, True
        now = workflow.now()
        async with self.case.working("registration"):
            await run_activity(
                record_registration,
                Registration(
                    self._id,
                    o.scheme_id,
                    o.applicant_national_id,
                    o.applicant_full_name,
                    o.deposit_bank,
                    o.deposit_account,
                    o.deposit_rial,
                    now,
                ),
                summary="deposit to the escrow ledger",
            )
            opened = await run_activity(
                open_domestic_order,
                OrderOpening(
                    self._id,
                    o.scheme_id,
                    o.applicant_national_id,
                    o.deposit_bank,
                    o.deposit_rial,
                    o.model,
                    o.delivery_year,
                    now,
                ),
                summary="eligibility and the turn",
            )
        if opened["reasons"]:
            o.ineligible_reasons = list(opened["reasons"])
            self.case.fire("found_ineligible", None, reasons=list(opened["reasons"]))
            self._begin_release()
            return
        o.turn = opened["turn"]
        o.controls = opened.get("controls")  # earlier builds' activity results carry none
        # «برای وی اولویت سال 1403 در نظر گرفته می شود»: no choice, the default year's priority.
        self.case.fire(
            "found_eligible", None, turn=o.turn, model=o.model, delivery_year=o.delivery_year, default_priority=not o.chosen
        )

    # --- change: cancel the order, choose again (the turn kept) ---

    async def _controls(self) -> dict[str, Any]:
        """The stage's controls from the registry, kept for the validators when not older than
        those the order holds."""
        result: dict[str, Any] = await run_activity(
            domestic_scheme_controls,
            SchemeQuery(self.o.scheme_id, workflow.now(), restored=self.o.restored > 0, workflow_id=self._id),
            summary="the stage's windows and switches",
        )
        held = self.o.controls
        if "version" in result and (held is None or result["version"] >= held["version"]):
            self.o.controls = {k: result[k] for k in ("version", "withdrawal_enabled", "frozen", "finished", "windows")}
        return result

    async def _require_window(self, update: str) -> None:
        """The registry's controls decide (the validator judged by the order's copy; a change the
        stage has not told yet is caught here)."""
        controls = await self._controls()
        why = rules.controls_refusal(controls, update, workflow.now(), restored=self.o.restored > 0)
        if why:
            raise rejection(f"{update}: {why}")

    @command
    async def cancel_order(self, c: Any) -> None:
        """«لغو سفارش»: the order is cancelled, the turn kept; until a new choice the 1403 priority holds."""
        o = self.o
        async with self.case.working("cancel_order"):
            await self._require_window("cancel_order")
            default = policy.DOMESTIC_DEFAULT_PRIORITY_YEAR
            await run_activity(
                record_order_change,
                OrderChange(self._id, "cancelled", None, default, workflow.now()),
                summary="the cancelled order to the registry",
            )
        was = {"model": o.model, "delivery_year": o.delivery_year}
        o.model, o.delivery_year, o.chosen = None, policy.DOMESTIC_DEFAULT_PRIORITY_YEAR, False
        self.case.fire("cancel_order", c.actor, turn=o.turn, cancelled=was)

    @command
    async def choose(self, c: Any) -> None:
        """Choose again after a cancellation: a 1403 car, or one of the low-demand 1402 models."""
        o = self.o
        async with self.case.working("choose"):
            await self._require_window("choose")
            await run_activity(
                record_order_change,
                OrderChange(self._id, "ordered", c.model, c.delivery_year, workflow.now()),
                summary="the new choice to the registry",
            )
        o.model, o.delivery_year, o.chosen = c.model, c.delivery_year, True
        o.changes += 1
        self.case.fire("choose", c.actor, turn=o.turn, model=c.model, delivery_year=c.delivery_year)

    # --- withdrawal from the scheme (SMS code) ---

    async def _require_withdrawal_on(self, update: str) -> None:
        controls = await self._controls()
        why = rules.controls_refusal(controls, update, workflow.now(), restored=self.o.restored > 0)
        if why:
            raise rejection(f"{update}: {why}")

    @command
    async def request_withdrawal_code(self, c: Any) -> None:
        o = self.o
        now = workflow.now()
        async with self.case.working("request_withdrawal_code"):
            await self._require_withdrawal_on("request_withdrawal_code")
            step, expires = withdrawal.next_code(o, now)
            await run_activity(
                issue_domestic_withdrawal_code,
                DomesticCodeRequest(self._id, step, o.applicant_national_id, expires, now),
                summary="SMS code to the outbox",
            )
        withdrawal.code_issued(o, step, expires)
        self.case.fire("request_withdrawal_code", c.actor, expires_at=o.code_expires_at)

    @command
    async def withdraw(self, c: Any) -> None:
        """«انصراف از طرح»: out of the priority list, no obligation left, the deposit freed within
        72 working hours; no new order in this stage (the next stage's registration is open)."""
        o = self.o
        assert o.code_step is not None
        async with self.case.working("withdraw"):
            await self._require_withdrawal_on("withdraw")  # before the code: a refusal spends no attempt
            check = CodeCheck(self._id, o.code_step, c.code, last_attempt=withdrawal.is_last_attempt(o))
            right = await run_activity(check_withdrawal_code, check, summary="check the SMS code")
            if right:
                await run_activity(
                    leave_domestic_order, OrderLeaving(self._id, "withdrawn", workflow.now()), summary="leave the list"
                )
        if not right:
            message = withdrawal.wrong_code(o)
            self.case.refresh_details()
            raise ApplicationError(message, type="WrongCode", non_retryable=True)
        now = workflow.now()
        o.withdrew_from = self.case.state
        o.withdrawn_at = iso(now)
        o.restore_until = iso(now + policy.DOMESTIC_RESTORE_WINDOW)
        o.restore_closed = False
        self.case.fire("withdraw", c.actor, turn=o.turn)
        withdrawal.burn(o)  # after the transition: its guard is that a live code exists
        self._begin_release()

    @command
    async def restore(self, c: Any) -> None:
        """The operator restores a mistaken withdrawal: the same turn, the same order, the deposit
        blocked again if it was released («نوبت های حذف شده را به حالت اول بازگرداند»)."""
        o = self.o
        now = workflow.now()
        back_to = o.withdrew_from
        assert back_to is not None
        async with self.case.working("restore"):
            reasons = await run_activity(
                restore_domestic_order,
                OrderRestoring(self._id, o.applicant_national_id, "ordered" if back_to == "Ordered" else "cancelled", now),
                summary="the order back on the list",
            )
            if not reasons and o.deposit_released_at is not None:
                await run_activity(reblock_deposit, self._deposit_request(now), summary="block the deposit again")
        if reasons:
            raise rejection("restore: " + "; ".join(reasons))
        o.withdrawn_at = o.restore_until = None
        o.deposit_release_from = o.deposit_release_deadline = o.deposit_released_at = None
        o.deposit_release_overdue = False
        o.restored += 1
        self.case.fire("restore", c.actor, back_to=back_to, turn=o.turn, reason=c.reason)
        o.withdrew_from = None

    # --- the profile and the delivery ---

    @command
    async def edit_profile(self, c: Any) -> None:
        """The driving-licence inquiry and the youth-population flag («طرح جوانی جمعیت», seed 000)."""
        o = self.o
        now = workflow.now()
        async with self.case.working("edit_profile"):
            found = await run_activity(
                edit_domestic_profile,
                ProfileEdit(self._id, o.applicant_national_id, c.youth_population, now),
                summary="driving-licence inquiry and the profile",
            )
        o.has_driving_license, o.license_inquired_at = found["has_driving_license"], iso(now)
        o.youth_population = bool(found["youth_population"])
        self.case.fire("edit_profile", c.actor, has_driving_license=o.has_driving_license, youth_population=o.youth_population)

    @command
    async def deliver(self, c: Any) -> None:
        """The car handed over: the registry records it (vehicle, new-car purchase), the order
        leaves the scheme and the deposit is released (the buyer paid the maker; ours)."""
        o = self.o
        now = workflow.now()
        async with self.case.working("deliver"):
            await run_activity(
                record_domestic_delivery,
                DomesticDelivery(self._id, o.applicant_national_id, c.vin, c.model, now),
                summary="the delivered vehicle to the registry",
            )
        o.vin, o.delivered_at, o.model = c.vin, iso(now), c.model
        self.case.fire("deliver", c.actor, vin=c.vin, model=c.model, turn=o.turn)
        self._begin_release()

    @command
    async def abort(self, c: Any) -> None:
        """An operator ends the case, giving a reason (see ``Case.abort``)."""
        if self.o.turn is not None:
            async with self.case.working("abort"):
                await run_activity(leave_domestic_order, OrderLeaving(self._id, "aborted", workflow.now()))
        await self.case.abort(c)

    # --- the escrow deposit ---

    def _resumed(self, extras: dict[str, Any]) -> None:
        if self.o.deposit_releasing and self.o.deposit_released_at is None:
            self._release_task = asyncio.create_task(self._release_deposit())

    def _begin_release(self) -> None:
        o = self.o
        o.deposit_release_from, o.deposit_release_deadline = iso(workflow.now()), None
        o.deposit_releasing = True
        self._release_task = asyncio.create_task(self._release_deposit())

    async def _release_deposit(self) -> None:
        """Release through the escrow bank (retried), within 72 working hours (seed 000); past it,
        the case says so and operators get an alert while the release goes on."""
        o = self.o
        if o.deposit_release_deadline is None:
            left = parse_instant(o.deposit_release_from)
            assert left is not None
            o.deposit_release_deadline = await run_activity(
                working_hours_deadline,
                WorkingDeadline(self._id, left, policy.DOMESTIC_WITHDRAWAL_RELEASE_WORKING_HOURS),
                summary="the deposit's release deadline: 72 working hours",
            )
        deadline = parse_instant(o.deposit_release_deadline)
        assert deadline is not None

        async def overdue() -> None:
            o.deposit_release_overdue = True
            self.case.note("deposit_release_overdue", None, deadline=o.deposit_release_deadline)
            await self._alert("overdue", f"آزادسازی سپرده پرونده {self._id} از مهلت ۷۲ ساعت کاری گذشت.")

        async def refused(err: ActivityError) -> None:
            await self._alert(f"refused-{o.codes_sent}", f"آزادسازی سپرده رد شد: {err.cause or err}")

        released_at = await done_within(
            lambda: workflow.start_activity(
                release_deposit,
                self._deposit_request(workflow.now()),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RELEASE_RETRY,
                summary="release the escrow deposit",
            ),
            deadline,
            overdue=o.deposit_release_overdue,
            on_overdue=overdue,
            on_refused=refused,
            retry_after=RELEASE_RETRY.maximum_interval or timedelta(minutes=15),
        )
        o.deposit_released_at = released_at
        o.deposit_releasing = False
        self.case.note("deposit_released", None, released_at=released_at)

    async def _alert(self, what: str, text: str) -> None:
        await self.case.notify(step=f"deposit-release-{what}-{self.o.restored}", to="operator", kind="alert", text=text)

    def _deposit_request(self, at: datetime) -> DepositRequest:
        o = self.o
        return DepositRequest(self._id, o.applicant_national_id, o.deposit_bank, o.deposit_account, o.deposit_rial, at)

    # --- clocks ---

    def _next_deadline(self) -> tuple[datetime, Callable[[], None]] | None:
        o, state = self.o, self.case.state
        due: list[tuple[datetime, Callable[[], None]]] = []
        expires = parse_instant(o.code_expires_at)
        if state in CHANGEABLE and o.code_step and expires is not None:
            due.append((expires, self._code_expired))
        closes = parse_instant(o.restore_until)
        if state == "Withdrawn" and not o.restore_closed and closes is not None:
            due.append((closes, self._restore_window_closed))
        return min(due, key=lambda d: d[0]) if due else None

    def _code_expired(self) -> None:
        if not self.o.code_step or not withdrawal.expired(self.o, workflow.now()):
            return
        withdrawal.burn(self.o)
        self.case.fire("withdrawal_code_expired", None)

    def _restore_window_closed(self) -> None:
        self.o.restore_closed = True
        self.case.fire("restore_window_closed", None)

    # --- helpers ---

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        c: Command = self.case.check(update, cmd, rules.COMMANDS[update], subject=self._check_identity)
        o = self.o
        # The stage's controls as the order last read them (issue 11: a refusal leaves no history);
        # while a newer word is pending, the handler judges against the registry instead.
        if o.controls is not None and not (self._told or self._reading):
            why = rules.controls_refusal(o.controls, update, workflow.now(), restored=o.restored > 0)
            if why:
                raise rejection(f"{update}: {why}")
        if update == "choose":
            problem = rules.choice_problem(o.offerings, c.model, c.delivery_year)  # type: ignore[attr-defined]
            if problem:
                raise rejection(f"choose: {problem}")
        if update == "deliver":
            problem = rules.delivery_problem(o, c.model)  # type: ignore[attr-defined]
            if problem:
                raise rejection(f"deliver: {problem}")
        if update == "withdraw" and withdrawal.expired(o, workflow.now()):
            raise rejection("withdraw: the code expired; request a new one")
        return c

    def _check_identity(self, update: str, actor: Actor) -> None:
        if actor.role == "applicant" and actor.id != self.o.applicant_national_id:
            raise rejection(f"{update}: only the registered applicant may do this")

    def _why_disabled(self, update: str) -> str | None:
        o = self.o
        if update == "cancel_order":
            return (
                f"a change is open only for orders due in {policy.DOMESTIC_CHANGE_OPEN_FOR_YEAR} "
                f"(this order is due in {o.delivery_year}; seed 000)"
            )
        if update == "withdraw":
            return "request a withdrawal code first (the last one was used, expired or voided)"
        if update == "restore":
            if o.deposit_releasing:
                return "the deposit release is under way; try again when it ends"
            if o.restore_closed:
                return f"the restoration window of {policy.DOMESTIC_RESTORE_WINDOW.days} days has closed"
        return None

    def _describe(self) -> list[str]:
        o = self.o
        lines = [
            f"**متقاضی:** {o.applicant_full_name}",
            f"**طرح:** {o.scheme_id}",
            f"**سپرده مسدود:** {rials(o.deposit_rial)} — بانک {o.deposit_bank}",
        ]
        if o.turn is not None:
            lines.append(f"**نوبت:** {en_to_fa(str(o.turn))}")
        year = en_to_fa(str(o.delivery_year))
        if o.model:
            lines.append(f"**اولویت:** {o.model} — تحویل {year}")
        elif o.turn is not None:
            lines.append(f"**اولویت:** اولویت سال {year} (خودرو انتخاب نشده)")
        if o.ineligible_reasons:
            lines.append("**علت عدم احراز شرایط:** " + "؛ ".join(o.ineligible_reasons))
        if o.code_step:
            lines.append(f"**کد انصراف معتبر تا:** {jalali_datetime(parse_instant(o.code_expires_at))}")
        if self.case.state == "Withdrawn" and o.restore_until and not o.restore_closed:
            lines.append(f"**امکان بازگرداندن تا:** {jalali_datetime(parse_instant(o.restore_until))}")
        if o.youth_population:
            lines.append("**طرح جوانی جمعیت:** ثبت شده")
        if o.license_inquired_at:
            answer = {True: "دارد", False: "ندارد", None: "در سامانه ثبت نشده"}[o.has_driving_license]
            lines.append(f"**استعلام گواهینامه:** {answer} ({jalali_datetime(parse_instant(o.license_inquired_at))})")
        if o.vin:
            lines.append(f"**تحویل شد:** {o.model} — شماره شاسی {o.vin}")
        if o.deposit_released_at:
            lines.append(f"**سپرده آزاد شد:** {jalali_datetime(parse_instant(o.deposit_released_at))}")
        elif o.deposit_release_deadline:
            lines.append(f"**مهلت آزادسازی سپرده:** {jalali_datetime(parse_instant(o.deposit_release_deadline))}")
        return lines
