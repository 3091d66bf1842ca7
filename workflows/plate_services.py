"""The ``PlateService`` workflow: every after-numbering service of seed 004 on one machine.

The service's row in :data:`lifecycles.plate_services.SERVICES` decides its checklist, whether
a permit comes first, whether a newspaper notice opens a durable wait (a Temporal timer in
:meth:`Case.run`), whether a ماده ۳۰ fine comes first, its fee, and the registry effect
:func:`activities.plates.complete_service` applies when it completes.

The services issue 9 added (change of use, the ماده ۳۰ fine, historic traffic permits) start
with :func:`activities.plate_services.check_service_vehicle`; so does a scrapping that names an
accident (behind ``PLATE_SERVICES_MORE``: a historic car's agreements join its checklist).
Cases of the earlier services run exactly as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.plate_services import ServiceVehicleCheck, check_service_vehicle
    from activities.plates import (
        CentreQuery,
        ServiceCompletion,
        VehicleCheck,
        check_vehicle,
        complete_service,
        find_numbering_centres,
    )
    from activities.registry import PaymentRecord, record_payment
    from domain.calendar import tehran_today
    from domain.commands import Actor, Command, parse_start
    from domain.display import iso, jalali_date, jalali_datetime, parse_instant, rials
    from lifecycles import plate_services as rules
    from lifecycles.plate_services import PlateServiceMachine, ServiceFile

from workflows.common import PLATE_REVIEW, PLATE_SERVICES_MORE, Case, command, may_start_as, rejection, run_activity, start_input
from workflows.plate_common import (
    PlateCaseWorkflow,
    check_document_kind,
    check_fee,
    check_review_document,
    checklist_line,
    end_if_vehicle_changed,
    settle_eligibility,
)


@workflow.defn(name="PlateService")
class PlateServiceWorkflow(PlateCaseWorkflow):
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        self.start: rules.ServiceStart | None = None
        try:
            self.start = parse_start(rules.ServiceStart, start)
            self.file = rules.service_file(self.start)
        except Exception as err:  # reported by run(), which fails the workflow cleanly
            self._start_error = str(err)
            self.file = ServiceFile("duplicate_vehicle_card", "", "", {}, [], None)
        self.machine = PlateServiceMachine(self.file)
        self.case = Case(self.machine, rules.UPDATE_ROLES, self._describe, self._why_disabled)

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        if self.case.resume(start):
            await self.case.run(self._next_deadline)
            return self.status()
        self.file.review = workflow.patched(PLATE_REVIEW)
        await self.case.open(start, self._start_error, self._may_start)
        s = self.start
        assert s is not None
        if s.service in rules.MORE_SERVICES or (s.accident is not None and workflow.patched(PLATE_SERVICES_MORE)):
            reasons = await self._check_more(s)
        else:
            facts = await run_activity(
                check_vehicle,
                VehicleCheck(workflow.info().workflow_id, s.vin, s.owner.national_id, workflow.now(), s.service),
                summary="registry: owner, plate",
            )
            self.file.vehicle_fuel = facts.fuel
            reasons = rules.start_reasons(s) + list(facts.reasons)
        settle_eligibility(self.case, self.file, reasons)
        await self.case.run(self._next_deadline)
        return self.status()

    @workflow.query
    def status(self) -> dict[str, Any]:
        if (refused := self.case.refusal()) is not None:
            return refused
        f = self.file
        out = self.case.status()
        out.update(
            service=f.service,
            service_fa=rules.SERVICES[f.service].label_fa,
            vin=f.vin,
            owner=self.start.owner.model_dump(mode="json") if self.start else None,
            change=f.change,
            checklist=dict(f.checklist),
            documents=list(f.documents),
            inspections=dict(f.inspections),
            new_part=f.new_part,
            notice_published_on=f.notice_published_on,
            notice_wait_ends=f.notice_wait_ends,
            fee_rial=f.fee_rial,
            payment_ref=f.payment_ref,
            result=f.result,
            rejection_reasons=list(f.rejection_reasons),
            missing=rules.stage_missing(f) if self.case.state in rules.STEP_STATES else [],
            eligibility_checked=f.eligibility_checked,
            consent=f.consent,
            finding=f.finding,
            fine_bounds_rial=list(rules.fine_bounds(f.finding["price_rial"])) if f.finding else None,
            fine=f.fine,
            fine_rial=f.fine["fine_rial"] if f.fine else None,
            fine_payment_ref=f.fine_payment_ref,
            trip=f.trip,
            accident=f.accident,
            use_change=f.use_change,
        )
        return out

    @command
    async def submit_document(self, c: Any) -> None:
        now = iso(workflow.now())
        published = c.published_on or tehran_today(workflow.now())

        def change(f: ServiceFile) -> dict[str, Any]:
            f.checklist[c.kind] = True
            doc: dict[str, Any] = {"kind": c.kind, "reference": c.reference, "by": c.actor.model_dump(), "at": now}
            extra: dict[str, Any] = {"kind": c.kind}
            if f.review:  # PLATE_REVIEW: the proof of residence as given stays with the document and in the history
                doc |= c.review_details()
                extra |= c.review_details()
            if c.kind == "newspaper_notice":
                f.notice_published_on = published.isoformat()
                f.notice_wait_ends = iso(rules.notice_wait_ends(published))
                doc["published_on"] = extra["published_on"] = f.notice_published_on
            if c.part is not None:
                f.new_part = c.part.model_dump(mode="json", exclude_none=True)
                doc["part"] = f.new_part
            f.documents.append(doc)
            return extra

        await self._apply("submit_document", c.actor, change)

    @command
    async def inspect(self, c: Any) -> None:
        now = iso(workflow.now())

        def change(f: ServiceFile) -> dict[str, Any]:
            stage = f.stage
            f.inspections[stage] = {"passed": c.passed, "notes": c.notes, "officer": c.actor.id, "at": now}
            extra: dict[str, Any] = {"passed": c.passed, "notes": c.notes}
            if c.truck is not None:  # change of use: what the officer measured
                f.inspections[stage]["truck"] = extra["truck"] = c.truck.model_dump(mode="json")
            if not c.passed:
                which = {"Permitted": "re-inspection", "TitleCorrection": "re-inspection (the title is not corrected)"}
                f.rejection_reasons = [f"the officer's {which.get(stage, 'inspection')} failed: {c.notes}"]
            return extra

        await self._apply("inspect", c.actor, change)

    @command
    async def consent(self, c: Any) -> None:
        """The registered owner agrees, with their own token, to a service that changes what they hold."""
        at = iso(workflow.now())

        def change(f: ServiceFile) -> dict[str, Any]:
            f.consent = {"by": c.actor.id, "jti": c.actor.jti, "at": at}
            return {}

        await self._apply("consent", c.actor, change)

    @command
    async def pay_fee(self, c: Any) -> None:
        f = self.file
        try:
            async with self.case.working("pay_fee"):
                await run_activity(
                    record_payment,
                    PaymentRecord(
                        workflow.info().workflow_id,
                        f"plate_service_{f.service}",
                        c.payment_ref,
                        c.amount_rial,
                        workflow.now(),
                        bank_id=c.actor.id,
                    ),
                )
                result = await self._complete(f)
        except ActivityError as err:
            # The payment stays on record (the bank took it); the history names it for a refund.
            raise end_if_vehicle_changed(self.case, f, "pay_fee", err, payment_ref=c.payment_ref) from None
        f.result = result
        f.payment_ref = c.payment_ref
        self.case.fire("pay_fee", c.actor, payment_ref=c.payment_ref, result=f.result)

    @command
    async def record_finding(self, c: Any) -> None:
        """ماده ۳۰: the officer records a main part or the colour changed without a permit, and the
        price of the part or paint (the fine's base)."""
        f = self.file
        f.change = {"part": c.part, **({"colour": c.colour} if c.colour else {})}
        f.finding = {**f.change, "price_rial": c.price_rial, "notes": c.notes, "officer": c.actor.id, "at": iso(workflow.now())}
        self.case.fire("record_finding", c.actor, part=c.part, price_rial=c.price_rial)

    @command
    async def set_fine(self, c: Any) -> None:
        """ماده ۳۰: the appeal unit («واحد رسیدگی به اعتراضات») sets the fine within its bounds."""
        self.file.fine = {"fine_rial": c.fine_rial, "notes": c.notes, "by": c.actor.id, "at": iso(workflow.now())}
        self.case.fire("set_fine", c.actor, fine_rial=c.fine_rial)

    @command
    async def pay_fine(self, c: Any) -> None:
        """ماده ۳۰: a bank reports the fine paid, to the rial; the title's correction comes next."""
        f = self.file
        async with self.case.working("pay_fine"):
            await run_activity(
                record_payment,
                PaymentRecord(
                    workflow.info().workflow_id,
                    "plate_service_article_30_fine",
                    c.payment_ref,
                    c.amount_rial,
                    workflow.now(),
                    bank_id=c.actor.id,
                ),
                summary="registry: the fine's payment",
            )
        f.fine_payment_ref = c.payment_ref
        self.case.fire("pay_fine", c.actor, payment_ref=c.payment_ref, amount_rial=c.amount_rial)

    @command
    async def cancel(self, c: Any) -> None:
        self.case.fire("cancel", c.actor)

    # --- helpers ---

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        c: Command = self.case.check(update, cmd, rules.COMMANDS[update], subject=self._check_subject)
        f = self.file
        if update == "submit_document":
            self._check_document(c)
        if update == "inspect":
            last = f.inspections.get(f.stage)
            if last and last["passed"]:
                raise rejection("inspect: this stage's inspection already passed")
            self._check_inspection(c)
        if update == "pay_fee":
            check_fee(update, c.amount_rial, f.fee_rial)  # type: ignore[attr-defined]
        if update == "consent" and not f.awaits_consent:
            raise rejection("consent: " + ("already given" if f.consent else f"{f.service} needs no owner's consent"))
        if update == "set_fine" and f.finding is not None:
            if (problem := rules.fine_problem(f.finding["price_rial"], c.fine_rial)) is not None:  # type: ignore[attr-defined]
                raise rejection(f"set_fine: {problem}")
        if update == "pay_fine" and f.fine is not None and c.amount_rial != f.fine["fine_rial"]:  # type: ignore[attr-defined]
            raise rejection(f"pay_fine: amount_rial must equal fine_rial ({f.fine['fine_rial']}), got {c.amount_rial}")  # type: ignore[attr-defined]
        if f.definition.capital_centres_only and c.actor is not None and c.actor.role == "officer":
            self._check_centre(update, c.actor)
        return c

    def _check_inspection(self, c: Any) -> None:
        """What a new service asks of an inspection (seed 004); nothing for the earlier services."""
        f = self.file
        if c.truck is not None and f.service != "change_of_use":
            raise rejection("inspect: truck is for a change of use only")
        if not c.passed:
            return
        if f.service == "change_of_use" and f.use_change is not None:
            if c.truck is None:
                raise rejection("inspect: a passing inspection of a change of use records what was measured (truck)")
            before = f.inspections["Open"].get("truck") if f.stage == "Permitted" else None
            problems = rules.truck_problems(f.use_change, before, c.truck)
            if problems:
                raise rejection("inspect: " + "; ".join(problems))
        if f.stage == "TitleCorrection" and (problem := rules.title_problem(f.change)) is not None:
            raise rejection(f"inspect: {problem}; the re-inspection can only fail, with notes")
        if f.service == "historic_traffic_permit" and f.trip is not None:
            starts, ends = date.fromisoformat(f.trip["starts_on"]), date.fromisoformat(f.trip["ends_on"])
            problems = rules.trip_date_problems(starts, ends, tehran_today(workflow.now()))
            if problems:
                raise rejection("inspect: the permit cannot be issued: " + "; ".join(problems))

    def _check_centre(self, update: str, actor: Actor) -> None:
        """A change of use only at a provincial capital's centre (seed 004 «کلیه فرایند تغییر نوع
        کاربری صرفا در مراکز شماره گذاری مرکز استان ها صورت می پذیرد»). Before the start has read
        the centres (``None``) the validator lets the command through: its handler waits for the
        start's checks and judges it again."""
        centres = self.file.capital_centres
        if centres is None or actor.centre in centres:
            return
        where = "names no centre" if actor.centre is None else f"names centre {actor.centre}, not a provincial capital's"
        raise rejection(
            f"{update}: a change of use is done only at the numbering centres of provincial capitals "
            f"(seed 004 «صرفا در مراکز شماره گذاری مرکز استان ها»); the officer's token {where}"
        )

    def _check_subject(self, update: str, actor: Actor) -> None:
        if self.start is None:
            raise rejection(f"{update}: the case's input was invalid")
        if actor.role in ("applicant", "owner") and actor.id != self.file.owner_national_id:
            raise rejection(f"{update}: an {actor.role} must be the vehicle's owner named in the case")

    def _may_start(self, actor: Actor) -> str | None:
        assert self.start is not None
        owner = self.start.owner.national_id
        return may_start_as(actor, {"officer": None, "owner": owner, "applicant": owner})

    def _check_document(self, c: Any) -> None:
        f = self.file
        check_document_kind("submit_document", c.kind, f.stage_documents(), len(f.documents))
        check_review_document("submit_document", c, f.review)
        if c.published_on is not None and c.published_on > tehran_today(workflow.now()):
            raise rejection("submit_document: published_on is in the future")
        if c.part is not None and f.change is not None:
            problems = rules.part_problems(f.change, c.part, f.vehicle_fuel)
            if problems:
                raise rejection("submit_document: " + "; ".join(problems))

    async def _apply(self, update: str, actor: Actor, change: Callable[[ServiceFile], dict[str, Any]]) -> None:
        """Record a document or an inspection, and leave the stage once it is complete.

        When the change completes the service, the registry's ``complete_service`` runs FIRST,
        on a copy of the file with the change applied, and the change is recorded on the case
        only once the registry accepted it: a refused completion leaves nothing half-done (see
        :func:`end_if_vehicle_changed` for the refusals that end the case).
        """
        preview = self._copy(self.file)
        change(preview)
        result: dict[str, Any] | None = None
        completes = self.case.state in rules.OPEN_STAGES and self._completes(preview)
        if completes:
            try:
                async with self.case.working(update):
                    result = await self._complete(preview)
            except ActivityError as err:
                raise end_if_vehicle_changed(self.case, self.file, update, err) from None
        f = self.file
        extra = change(f)
        self.case.fire(update, actor, **extra)
        if self.case.state not in rules.OPEN_STAGES or not f.stage_ready:
            return
        if completes:
            f.result = result
            self.case.fire("stage_complete", None, result=f.result)
        else:
            self.case.fire("stage_complete", None)

    @staticmethod
    def _copy(f: ServiceFile) -> ServiceFile:
        return dataclasses.replace(
            f,
            checklist=dict(f.checklist),
            inspections=dict(f.inspections),
            documents=list(f.documents),
            rejection_reasons=list(f.rejection_reasons),
        )

    @staticmethod
    def _completes(f: ServiceFile) -> bool:
        """Whether the stage is ready and leaving it completes the service (runs the effect)."""
        return f.stage_ready and not f.inspection_failed and not (f.needs_permit or f.needs_notice_wait or f.has_fee)

    async def _complete(self, f: ServiceFile) -> dict[str, Any]:
        s = self.start
        assert s is not None
        detail: dict[str, Any] = {}
        if f.change:
            detail["change"] = f.change
        if f.new_part:
            detail["new_part"] = f.new_part
        for name in ("finding", "fine", "trip", "use_change", "accident"):
            if (value := getattr(f, name)) is not None:
                detail[name] = value
        return await run_activity(
            complete_service,
            ServiceCompletion(workflow.info().workflow_id, f.service, f.vin, f.owner_national_id, workflow.now(), detail),
            summary=f"registry: {f.service}",
        )

    def _next_deadline(self) -> tuple[datetime, Any] | None:
        f = self.file
        if self.case.state == "NoticePeriod" and f.notice_wait_ends:
            ends = parse_instant(f.notice_wait_ends)
            assert ends is not None
            return ends, lambda: self.case.fire("notice_period_over", None, fee_rial=f.fee_rial)
        return None

    def _why_disabled(self, update: str) -> str | None:
        return None

    async def _check_more(self, s: rules.ServiceStart) -> list[str]:
        """The start's registry check of the services issue 9 added (and of a scrapping naming an
        accident): the vehicle's facts, a historic car's agreements, the change of use's centres."""
        f = self.file
        facts = await run_activity(
            check_service_vehicle,
            ServiceVehicleCheck(
                workflow.info().workflow_id, s.vin, s.owner.national_id, workflow.now(), s.service, s.accident is not None
            ),
            summary="registry: owner, plate, body",
        )
        f.vehicle_fuel, f.vehicle_kind, f.plate_category = facts.fuel, facts.kind, facts.plate_category
        if f.definition.capital_centres_only:
            f.capital_centres = await run_activity(
                find_numbering_centres,
                CentreQuery(provincial_capital=True),
                summary="reference data: provincial-capital centres",
            )
        if s.service == "scrapping" and facts.plate_category == "historic":
            rules.add_historic_accident_documents(f)
        today = tehran_today(workflow.now())
        return (
            rules.start_reasons(s, today)
            + list(facts.reasons)
            + rules.registry_reasons(f, facts.kind, facts.plate_category, facts.body)
        )

    def _describe_more(self) -> list[str]:
        """The Persian details of the services issue 9 added (Jalali dates, rials)."""
        f, lines = self.file, []
        if f.finding:
            lines.append(f"**تخلف ماده ۳۰:** {rules.PART_LABELS[f.finding['part']]} — قیمت {rials(f.finding['price_rial'])}")
        if f.fine:
            lines.append(f"**جریمه:** {rials(f.fine['fine_rial'])}" + (" (پرداخت شد)" if f.fine_payment_ref else ""))
        if f.trip:
            starts, ends = date.fromisoformat(f.trip["starts_on"]), date.fromisoformat(f.trip["ends_on"])
            lines.append(
                f"**مجوز تردد:** {rules.TRIP_EVENT_LABELS[f.trip['event']]} «{f.trip['event_name']}» "
                f"از {jalali_date(starts)} تا {jalali_date(ends)}؛ مسیر: {f.trip['route']}"
            )
        if f.use_change:
            labels = rules.TRUCK_BODY_LABELS
            lines.append(f"**تغییر کاربری:** {labels[f.use_change['from_body']]} ← {labels[f.use_change['to_body']]}")
        if f.accident:
            lines.append(f"**حادثه:** {jalali_date(date.fromisoformat(f.accident['occurred_on']))}")
        return lines

    def _describe(self) -> list[str]:
        f, s = self.file, self.start
        if s is None:
            return []
        lines = [
            f"**خدمت:** {rules.SERVICES[f.service].label_fa}",
            f"**مالک:** {s.owner.full_name}",
            f"**شماره شاسی (VIN):** {f.vin}",
            checklist_line(f.checklist),
        ]
        if f.fee_rial is not None:
            lines.append(f"**وجه:** {rials(f.fee_rial)}")
        if f.notice_wait_ends:
            lines.append(f"**صدور سند المثنی از:** {jalali_datetime(parse_instant(f.notice_wait_ends))}")
        lines += self._describe_more()
        if f.result and f.result.get("plate"):
            lines.append(f"**پلاک:** {f.result['plate']}")
        if f.rejection_reasons:
            lines.append("**علت رد:** " + "؛ ".join(f.rejection_reasons))
        return lines
