"""The ``FuelCard`` workflow: one vehicle's fuel card request, from the request to the card in hand
(seed 002; the rules in :mod:`lifecycles.fuel_card`, the registry in :mod:`activities.fuel_cards`).

The start is judged by :func:`activities.fuel_cards.open_fuel_card_request` (the registry's facts
and the one-open-request-per-vehicle index, in one transaction). The card's number and PIN are
recorded by :func:`activities.fuel_cards.issue_requested_card` when the issuer reports the card
made; the PIN never passes through the workflow. Two durable timers, derived from the request's
instant: the follow-up notice to the applicant and the operator alert.

A case numbering starts (VehicleNumbering, behind ``NUMBERING_FUEL_CARD``, channel ``numbering``)
carries no actor token: it spends the grant the numbering's activity wrote in the registry for its
workflow id (clients never write the registry). Every other start verifies its token
(:meth:`Case.open`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.fuel_cards import (
        CardIssue,
        GrantUse,
        RequestCheck,
        RequestState,
        issue_requested_card,
        open_fuel_card_request,
        record_fuel_card_request,
        use_fuel_card_grant,
    )
    from activities.registry import PaymentRecord, record_payment
    from domain.commands import Actor, Command, parse_start
    from domain.display import iso, jalali_datetime, parse_instant, rials
    from lifecycles import fuel_card as rules
    from lifecycles.fuel_card import CardRequest, FuelCardMachine

from workflows.common import Case, command, may_start_as, rejection, run_activity, start_input

KIND_FA = {"new": "کارت سوخت خودروی صفر یا تعویض پلاکی", "duplicate": "کارت سوخت المثنی"}
CHANNEL_FA = {
    "post_office": "دفتر پست",
    "police10": "دفتر پلیس+۱۰",
    "ussd": "کد دستوری موبایل",
    "app": "اپلیکیشن دولت همراه",
    "numbering": "شماره‌گذاری خودرو",
}
FINAL = ("Delivered", "Collected", "Rejected", "Aborted")


@workflow.defn(name="FuelCard")
class FuelCardWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        self.start: rules.FuelCardStart | None = None
        try:
            self.start = parse_start(rules.FuelCardStart, start)
            self.file = rules.card_request(self.start)
        except Exception as err:  # reported by run(), which fails the workflow cleanly
            self._start_error = str(err)
            self.file = CardRequest("", "", "new", "post_office", "collect")
        self.machine = FuelCardMachine(self.file)
        self.case = Case(self.machine, rules.UPDATE_ROLES, self._describe)
        self._notices: set[asyncio.Task[None]] = set()

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        if self.case.resume(start):
            await self.case.run(self._next_deadline)
            await self._notices_sent()
            return self.status()
        if self.start is not None and self.start.channel == "numbering":
            await self._open_by_grant(start)
        else:
            await self.case.open(start, self._start_error, self._may_start)
        s, f = self.start, self.file
        assert s is not None
        now = workflow.now()
        f.requested_at = iso(now)
        f.follow_up_at = iso(rules.follow_up_at(s.kind, now))
        f.alert_at = iso(rules.alert_at(s.kind, now))
        decided = await run_activity(
            open_fuel_card_request,
            RequestCheck(
                workflow_id=workflow.info().workflow_id,
                vin=s.vin,
                plate=s.plate,
                kind=s.kind,
                channel=s.channel,
                delivery=s.delivery.method,
                applicant_national_id=s.applicant.national_id,
                legal_entity=s.legal_entity is not None,
                at=now,
                reason=s.reason,
                reasons=rules.channel_reasons(s),
            ),
            summary="registry: eligibility, one open request per vehicle",
        )
        f.use = decided["use"]
        f.eligibility_checked = True
        if decided["reasons"]:
            f.rejection_reasons = list(decided["reasons"])
            self.case.fire("eligibility_failed", None, reasons=f.rejection_reasons)
        else:
            self.case.fire("eligible", None, use=f.use, follow_up_at=f.follow_up_at, alert_at=f.alert_at)
        await self.case.run(self._next_deadline)
        await self._notices_sent()
        return self.status()

    async def _open_by_grant(self, start: Any) -> None:
        """A request numbering started (channel ``numbering``): no actor token; it spends the grant
        the numbering's activity wrote for this workflow id (see :meth:`Case.open_granted`)."""
        info = workflow.info()
        assert self.start is not None
        await self.case.open_granted(
            start, self._start_error, use_fuel_card_grant, GrantUse(info.workflow_id, info.run_id, self.start.vin)
        )

    async def _notices_sent(self) -> None:
        """A follow-up or alert still being written when the case ended is written first."""
        if self._notices:
            await asyncio.gather(*self._notices)

    async def _before_command(self) -> None:
        """Commands sent while the start's registry check runs wait for it, then are checked."""
        await workflow.wait_condition(lambda: self.file.eligibility_checked)

    # --- queries ---

    @workflow.query
    def status(self) -> dict[str, Any]:
        if (refused := self.case.refusal()) is not None:
            return refused
        f, s = self.file, self.start
        out = self.case.status()
        out.update(
            vin=f.vin,
            plate=f.plate,
            kind=f.kind,
            reason=f.reason,
            channel=f.channel,
            delivery=s.delivery.model_dump(mode="json", exclude_none=True) if s else None,
            use=f.use,
            requested_at=f.requested_at,
            follow_up_at=f.follow_up_at,
            alert_at=f.alert_at,
            followed_up=f.followed_up,
            alerted=f.alerted,
            postage_rial=f.postage_rial,
            postage_payment_ref=f.postage_payment_ref,
            card_number=f.card_number,
            old_card_number=f.old_card_number,
            zeroed_litres=f.zeroed_litres,
            tracking_number=f.tracking_number,
            delivered=f.delivered,
            rejection_reasons=list(f.rejection_reasons),
            eligibility_checked=f.eligibility_checked,
        )
        return out

    # --- commands ---

    @command
    async def pay_postage(self, c: Any) -> None:
        """A bank reports the postage paid («هزینه ارسال را پرداخت کنید», seed 002)."""
        async with self.case.working("pay_postage"):
            await run_activity(
                record_payment,
                PaymentRecord(
                    workflow.info().workflow_id,
                    "fuel_card_postage",
                    c.payment_ref,
                    c.amount_rial,
                    workflow.now(),
                    bank_id=c.actor.id,
                ),
                summary="registry: the postage's payment",
            )
        self.case.fire("pay_postage", c.actor, payment_ref=c.payment_ref, amount_rial=c.amount_rial)
        self.file.postage_payment_ref = c.payment_ref  # after the event: its guard reads it unpaid
        self.case.refresh_details()

    @command
    async def issued(self, c: Any) -> None:
        """The issuer reports the card made: it is recorded (a duplicate expires the old card and
        zeroes its balance first) and its PIN set, in the registry only."""
        f = self.file
        async with self.case.working("issued"):
            done = await run_activity(
                issue_requested_card,
                CardIssue(workflow.info().workflow_id, c.card_number, workflow.now()),
                summary="registry: the card, its PIN's hash",
            )
        f.card_number, f.old_card_number, f.zeroed_litres = done["card_number"], done["old_card_number"], done["zeroed_litres"]
        extra: dict[str, Any] = {"card_number": f.card_number}
        if f.old_card_number:
            extra |= {"old_card_number": f.old_card_number, "zeroed_litres": f.zeroed_litres}
        self.case.fire("issued", c.actor, **extra)

    @command
    async def dispatch(self, c: Any) -> None:
        async with self.case.working("dispatch"):
            await self._record("Dispatched", tracking_number=c.tracking_number)
        self.file.tracking_number = c.tracking_number
        self.case.fire("dispatch", c.actor, tracking_number=c.tracking_number)

    @command
    async def deliver(self, c: Any) -> None:
        async with self.case.working("deliver"):
            await self._record("Delivered", closed=True)
        self.file.delivered = {"by": "post", "at": iso(workflow.now())}
        self.case.fire("deliver", c.actor)

    @command
    async def undeliverable(self, c: Any) -> None:
        async with self.case.working("undeliverable"):
            await self._record("AwaitingCollection")
        self.case.fire("undeliverable", c.actor, notes=c.notes)

    @command
    async def collect(self, c: Any) -> None:
        async with self.case.working("collect"):
            await self._record("Collected", closed=True)
        self.file.delivered = {
            "by": "collection",
            "at": iso(workflow.now()),
            "collector_national_id": c.collector_national_id,
            "vehicle_documents": list(c.vehicle_documents),
        }
        self.case.fire("collect", c.actor, vehicle_documents=list(c.vehicle_documents))

    @command
    async def abort(self, c: Any) -> None:
        """An operator ends the request, giving a reason; its registry row is closed."""
        await self.case.abort(c)
        await self._record("Aborted", closed=True)

    # --- helpers ---

    async def _record(self, state: str, *, closed: bool = False, tracking_number: str | None = None) -> None:
        await run_activity(
            record_fuel_card_request,
            RequestState(workflow.info().workflow_id, state, workflow.now(), closed, tracking_number),
            summary=f"registry: request {state}",
        )

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        c: Command = self.case.check(update, cmd, rules.COMMANDS[update])
        f = self.file
        if update == "pay_postage" and c.amount_rial != f.postage_rial:  # type: ignore[attr-defined]
            raise rejection(f"pay_postage: amount_rial must equal postage_rial ({f.postage_rial}), got {c.amount_rial}")  # type: ignore[attr-defined]
        return c

    def _may_start(self, actor: Actor) -> str | None:
        assert self.start is not None
        s = self.start
        role = rules.CHANNEL_ROLES[s.channel]
        return may_start_as(actor, {role: s.applicant.national_id if role == "owner" else None})

    def _next_deadline(self) -> tuple[datetime, Any] | None:
        f = self.file
        if self.case.state not in rules.OPEN_STATES or not f.eligibility_checked:
            return None
        if not f.followed_up and f.follow_up_at:
            at = parse_instant(f.follow_up_at)
            assert at is not None
            return at, self._follow_up
        if not f.alerted and f.alert_at:
            at = parse_instant(f.alert_at)
            assert at is not None
            return at, self._alert
        return None

    def _follow_up(self) -> None:
        """The card has not arrived in the seed's time: the applicant is told how to follow it up."""
        f, s = self.file, self.start
        assert s is not None
        f.followed_up = True
        self.case.note("follow_up_due", None, state=self.case.state)
        text = (
            f"کارت سوخت خودروی شما (VIN {f.vin}) هنوز به دستتان نرسیده است. وضعیت آن را با ارسال V*{f.vin} به ۱۱۰۱۲۰۲۰۴۰، "
            "در epolice.ir یا در دفاتر پلیس+۱۰ پیگیری کنید."
        )
        self._spawn(self.case.notify("fuel-card-follow-up", s.applicant.national_id, "sms", text))

    def _alert(self) -> None:
        f = self.file
        f.alerted = True
        self.case.note("operator_alert", None, state=self.case.state)
        text = f"درخواست کارت سوخت {workflow.info().workflow_id} پس از مهلت هنوز تحویل نشده است (وضعیت {self.case.state})."
        self._spawn(self.case.notify("fuel-card-alert", "operator", "alert", text))

    def _spawn(self, notice: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(notice)
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    def _describe(self) -> list[str]:
        f, s = self.file, self.start
        if s is None:
            return []
        lines = [
            f"**درخواست:** {KIND_FA[f.kind]} — {CHANNEL_FA[f.channel]}",
            f"**شماره شاسی (VIN):** {f.vin} — **پلاک:** {f.plate}",
            "**تحویل:** " + ("ارسال پستی به نشانی متقاضی" if f.by_post else "تحویل در اداره پست"),
        ]
        if f.postage_rial is not None:
            lines.append(f"**هزینه ارسال:** {rials(f.postage_rial)}" + (" (پرداخت شد)" if f.postage_payment_ref else ""))
        if f.follow_up_at:
            lines.append(f"**پیگیری از:** {jalali_datetime(parse_instant(f.follow_up_at))}")
        if f.card_number:
            lines.append(f"**شماره کارت:** {f.card_number}")
        if f.tracking_number:
            lines.append(f"**شماره مرسوله:** {f.tracking_number}")
        if f.rejection_reasons:
            lines.append("**علت رد:** " + "؛ ".join(f.rejection_reasons))
        return lines
