"""The ``VehicleNumbering`` and ``PlateTransfer`` workflows (seed 004).

Deterministic code only: the states live in :mod:`lifecycles.plates`, every registry read or
write is an activity (:mod:`activities.plates`), and the case book is :class:`Case`.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.fuel_cards import FuelCardStarter, NumberingFuelCard
    from activities.plates import (
        CentreQuery,
        NumberingCheck,
        NumberingRequest,
        TransferRequest,
        VehicleCheck,
        check_numbering_facts,
        check_numbering_registry,
        check_vehicle,
        find_numbering_centres,
        number_vehicle,
        transfer_vehicle,
    )
    from activities.registry import PaymentRecord, record_payment
    from domain import policy
    from domain.calendar import tehran_today
    from domain.commands import Actor, Command, parse_start
    from domain.display import iso, jalali_datetime, parse_instant, rials
    from lifecycles import plates as rules
    from lifecycles.plates import PlateFile, PlateTransferMachine, VehicleNumberingMachine

from workflows.common import (
    ACTIVITY_RETRY,
    ACTIVITY_TIMEOUT,
    AGES_FROM_DATES,
    NUMBERING_FUEL_CARD,
    PLATE_FIDELITY,
    PLATE_REVIEW,
    Case,
    command,
    may_start_as,
    rejection,
    run_activity,
    start_input,
)
from workflows.plate_common import (
    PlateCaseWorkflow,
    check_document_kind,
    check_fee,
    check_review_document,
    checklist_line,
    end_if_vehicle_changed,
    settle_eligibility,
)


@workflow.defn(name="VehicleNumbering")
class VehicleNumberingWorkflow(PlateCaseWorkflow):
    """One vehicle's first plate: checklist of its category, inspection, fee, plate."""

    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        self.start: rules.NumberingStart | None = None
        try:
            self.start = parse_start(rules.NumberingStart, start)
            self.file = rules.numbering_file(self.start)
        except Exception as err:  # reported by run(), which fails the workflow cleanly
            self._start_error = str(err)
            self.file = PlateFile(vin="", checklist={}, fee_rial=0)
        self.machine = VehicleNumberingMachine(self.file)
        self.case = Case(self.machine, rules.NUMBERING_UPDATE_ROLES, self._describe, self._why_disabled)

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        if self.case.resume(start):
            await self.case.run(lambda: None)
            return self.status()
        self.file.fidelity = workflow.patched(PLATE_FIDELITY)
        self.file.review = workflow.patched(PLATE_REVIEW)
        await self.case.open(start, self._start_error, self._may_start)
        s = self.start
        assert s is not None
        if workflow.patched(AGES_FROM_DATES):
            reasons = rules.numbering_reasons(s, tehran_today(workflow.now()))
        else:  # a case started before: its replay keeps the rule it ran
            reasons = rules.numbering_reasons_by_year(s, workflow.now().year)
        check = NumberingCheck(workflow.info().workflow_id, s.vin, s.owner.national_id)
        if self.file.review:
            reasons += await self._reviewed_facts_and_centres(s, check, reasons)
        elif self.file.fidelity:
            reasons += await self._registry_facts_and_centres(s, check, reasons)
        else:  # a case started before PLATE_FIDELITY: its replay keeps the checks it ran
            reasons += await run_activity(check_numbering_registry, check, summary="registry: VIN not yet numbered")
        settle_eligibility(self.case, self.file, reasons)
        await self.case.run(lambda: None)
        return self.status()

    async def _registry_facts_and_centres(self, s: rules.NumberingStart, check: NumberingCheck, reasons: list[str]) -> list[str]:
        """The registry's facts (refusals, an earlier plate) and the centres that may number the
        case; a case that may go on drops the documents the facts waive (seed 004 auction 8)."""
        facts = await run_activity(check_numbering_facts, check, summary="registry: VIN not yet numbered, earlier plates")
        transit = s.category == "temporary_transit"
        centres = await run_activity(
            find_numbering_centres,
            CentreQuery(category=s.category, customs_office=s.clearing_customs if transit else None),
            summary="reference data: centres that may number this category",
        )
        more = facts.reasons + rules.centre_reasons(s, centres)
        f = self.file
        f.registry_facts = {"numbered_before": facts.numbered_before}
        if reasons or more:
            return more
        f.centres = centres
        tags = rules.numbering_tags(s, numbered_before=facts.numbered_before)
        dropped = rules.drop_waived(f.checklist, rules.NUMBERING_CHECKLISTS[s.category], tags)
        if dropped:
            self.case.note("checklist_adjusted", None, waived=dropped, numbered_before=facts.numbered_before)
        return []

    async def _reviewed_facts_and_centres(self, s: rules.NumberingStart, check: NumberingCheck, reasons: list[str]) -> list[str]:
        """``PLATE_REVIEW``: the registry's facts, whose origin wins over the input's (a contradicting
        origin or importer rejects the case), and the centres only of a category seed 004 numbers
        at certain centres; the checklist then follows the origin and the VIN's history."""
        facts = await run_activity(check_numbering_facts, check, summary="registry: VIN not yet numbered, earlier plates, origin")
        centres: list[str] | None = None
        if s.category in rules.CENTRE_RESTRICTED_CATEGORIES:
            transit = s.category == "temporary_transit"
            centres = await run_activity(
                find_numbering_centres,
                CentreQuery(category=s.category, customs_office=s.clearing_customs if transit else None),
                summary="reference data: centres that may number this category",
            )
        more = facts.reasons + rules.origin_reasons(s, facts.origin, facts.imported_purchase)
        if centres is not None:
            more += rules.centre_reasons(s, centres)
        f = self.file
        f.registry_facts = {
            "numbered_before": facts.numbered_before,
            "origin": facts.origin,
            "imported_purchase": facts.imported_purchase,
        }
        if reasons or more:
            return more
        f.centres = centres
        tags = rules.numbering_tags(s, numbered_before=facts.numbered_before, origin=facts.origin)
        added, waived = rules.readjust(f.checklist, rules.NUMBERING_CHECKLISTS[s.category], tags)
        if added or waived:
            self.case.note(
                "checklist_adjusted", None, waived=waived, added=added, numbered_before=facts.numbered_before, origin=facts.origin
            )
        return []

    @workflow.query
    def status(self) -> dict[str, Any]:
        if (refused := self.case.refusal()) is not None:
            return refused
        f, s = self.file, self.start
        out = self.case.status()
        out.update(
            vin=f.vin,
            category=s.category if s else None,
            importer=s.importer.model_dump(mode="json") if s and s.importer else None,
            clearing_customs=s.clearing_customs if s else None,
            vehicle=s.vehicle.model_dump(mode="json") if s else None,
            owner=s.owner.model_dump(mode="json") if s else None,
            checklist=dict(f.checklist),
            documents=list(f.documents),
            inspection=f.inspection,
            fee_rial=f.fee_rial,
            payment_ref=f.payment_ref,
            plate=f.plate,
            rejection_reasons=list(f.rejection_reasons),
            missing=rules.missing(f) if self.case.state == "Open" else [],
            eligibility_checked=f.eligibility_checked,
            registry_facts=f.registry_facts,
            centres=f.centres,
        )
        if (fuel_card_case := getattr(self, "fuel_card_case", None)) is not None:
            out["fuel_card_case"] = fuel_card_case  # NUMBERING_FUEL_CARD: the request it started
        return out

    @command
    async def inspect(self, c: Any) -> None:
        f = self.file
        f.inspection = {"passed": c.passed, "notes": c.notes, "officer": c.actor.id, "at": iso(workflow.now())}
        if not c.passed:
            f.rejection_reasons = [f"the officer's inspection failed: {c.notes}"]
        self.case.fire("inspect", c.actor, passed=c.passed, notes=c.notes)
        self._advance()

    @command
    async def pay_plate_fee(self, c: Any) -> None:
        f, s = self.file, self.start
        assert s is not None
        wf_id = workflow.info().workflow_id
        try:
            async with self.case.working("pay_plate_fee"):
                await run_activity(
                    record_payment,
                    PaymentRecord(wf_id, "plate_fee", c.payment_ref, c.amount_rial, workflow.now(), bank_id=c.actor.id),
                )
                plate = await run_activity(
                    number_vehicle,
                    NumberingRequest(
                        workflow_id=wf_id,
                        vin=s.vin,
                        category=s.category,
                        region_code=s.region_code or policy.PLATE_DEFAULT_REGION_CODE,
                        owner_national_id=s.owner.national_id,
                        owner_full_name=s.owner.full_name,
                        kind=s.vehicle.kind,
                        production_year=s.vehicle.production_year,
                        fuel=s.vehicle.fuel,
                        at=workflow.now(),
                        origin=self._origin(),
                    ),
                    summary="allocate the plate and record the vehicle",
                )
        except ActivityError as err:
            # The VIN was numbered meanwhile: the case ends (the payment stays on record for a refund).
            raise end_if_vehicle_changed(self.case, f, "pay_plate_fee", err, payment_ref=c.payment_ref) from None
        f.plate = plate
        f.payment_ref = c.payment_ref
        self.case.fire("pay_plate_fee", c.actor, payment_ref=c.payment_ref, plate=f.plate)
        if workflow.patched(NUMBERING_FUEL_CARD):
            await self._request_fuel_card(s, plate)

    async def _request_fuel_card(self, s: rules.NumberingStart, plate: str) -> None:
        """``NUMBERING_FUEL_CARD``: the numbered vehicle's fuel card is requested at once (seed 002: a
        new car's card needs no registration), as a ``FuelCard`` case of its own that outlives this
        one, id from the VIN (no personal data). It carries no actor token: an activity writes this
        case's grant in the registry and starts it; the request spends the grant (no client can write
        one). ``status.fuel_card_case`` names it."""
        self.fuel_card_case = await workflow.execute_activity_method(
            FuelCardStarter.start_numbering_fuel_card,
            NumberingFuelCard(
                numbering_workflow_id=workflow.info().workflow_id,
                request={
                    "vin": s.vin,
                    "plate": plate,
                    "kind": "new",
                    "channel": "numbering",
                    "applicant": {"national_id": s.owner.national_id, "full_name": s.owner.full_name},
                    "delivery": {"method": "collect"},
                },
                at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            summary="start the vehicle's fuel card request",
        )
        self.case.refresh_details()

    # --- helpers ---

    def _origin(self) -> str:
        """The origin the vehicle is recorded with: the registry's when it knows one (``PLATE_REVIEW``), else the input's."""
        assert self.start is not None
        known = (self.file.registry_facts or {}).get("origin") if self.file.review else None
        return known or self.start.origin

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        """Validate read-only: the case's checks, then identity, checklist and fee rules."""
        c: Command = self.case.check(update, cmd, rules.NUMBERING_COMMANDS[update], subject=self._check_subject)
        if update in ("submit_document", "inspect") and self.start is not None:
            # Known once the start's check ends: a command accepted before is judged again here then.
            refused = rules.centre_refusal(c.actor.role, c.actor.centre, self.file.centres, self.start.category)  # type: ignore[union-attr]
            if refused:
                raise rejection(f"{update}: {refused}")
        if update == "submit_document":
            check_document_kind(update, c.kind, list(self.file.checklist), len(self.file.documents))  # type: ignore[attr-defined]
            check_review_document(update, c, self.file.review)
        if update == "inspect" and self.file.inspection and self.file.inspection["passed"]:
            raise rejection("inspect: the vehicle was already inspected and passed")
        if update == "pay_plate_fee":
            check_fee(update, c.amount_rial, self.file.fee_rial)  # type: ignore[attr-defined]
        if update == "consent" and not self.file.awaits_consent:
            raise rejection("consent: the owner's consent is already given")
        return c

    def _check_subject(self, update: str, actor: Actor) -> None:
        if self.start is None:
            raise rejection(f"{update}: the case's input was invalid")
        if actor.role == "applicant" and actor.id != self.start.owner.national_id:
            raise rejection(f"{update}: an applicant must be the owner named in the case")

    def _may_start(self, actor: Actor) -> str | None:
        assert self.start is not None
        owner = self.start.owner.national_id
        return may_start_as(actor, {"officer": None, "owner": owner, "applicant": owner})

    def _advance(self) -> None:
        if self.case.state == "Open" and self.file.ready_for_fee:
            self.case.fire("checklist_complete", None, fee_rial=self.file.fee_rial)

    def _why_disabled(self, update: str) -> str | None:
        return None

    def _describe(self) -> list[str]:
        f, s = self.file, self.start
        if s is None:
            return []
        lines = [
            f"**مالک:** {s.owner.full_name}",
            f"**نوع شماره‌گذاری:** {rules.CATEGORY_LABELS[s.category]}",
            f"**شماره شاسی (VIN):** {f.vin}",
            checklist_line(f.checklist),
            f"**بازدید کارشناس:** {'—' if f.inspection is None else ('تأیید' if f.inspection['passed'] else 'رد')}",
            f"**وجه پلاک:** {rials(f.fee_rial)}",
        ]
        if f.plate:
            lines.append(f"**پلاک:** {f.plate}")
        if f.rejection_reasons:
            lines.append("**علت رد:** " + "؛ ".join(f.rejection_reasons))
        return lines


@workflow.defn(name="PlateTransfer")
class PlateTransferWorkflow(PlateCaseWorkflow):
    """A sale at the plate centre: documents, both parties present, fee, the buyer owns the car."""

    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        start = start_input(start)
        self._start_error: str | None = None
        self.start: rules.TransferStart | None = None
        try:
            self.start = parse_start(rules.TransferStart, start)
            self.file = rules.transfer_file(self.start)
        except Exception as err:
            self._start_error = str(err)
            self.file = PlateFile(vin="", checklist={}, fee_rial=0)
        self.machine = PlateTransferMachine(self.file)
        self.case = Case(
            self.machine,
            rules.TRANSFER_UPDATE_ROLES,
            self._describe,
            lambda update: None,
            extras=(lambda: {"title_transfer_locked_until": self.title_transfer_locked_until}, self._resumed),
        )
        self.title_transfer_locked_until: str | None = None

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        if self.case.resume(start):
            await self.case.run(lambda: None)
            return self.status()
        self.file.fidelity = workflow.patched(PLATE_FIDELITY)
        self.file.review = workflow.patched(PLATE_REVIEW)
        await self.case.open(start, self._start_error, self._may_start)
        s = self.start
        assert s is not None
        facts = await run_activity(
            check_vehicle,
            VehicleCheck(workflow.info().workflow_id, s.vin, s.seller.national_id, workflow.now(), "transfer"),
            summary="registry: owner, plate, title lock",
        )
        self.file.previous_plate = facts.plate
        self.title_transfer_locked_until = iso(facts.title_transfer_locked_until)
        if self.file.fidelity and not facts.reasons:
            # «اصل سند فروش کارخانه سازنده (تولید داخل)»: by the registry's origin of the car.
            self.file.registry_facts = {"origin": facts.origin}
            if self.file.review and facts.origin is None:
                # PLATE_REVIEW: the registry knows no origin (a vehicle recorded before it kept
                # them): the officer states it first, and the checklist then follows it.
                self.file.checklist = {rules.VEHICLE_ORIGIN: False, **self.file.checklist}
                self.case.note("checklist_adjusted", None, added=[rules.VEHICLE_ORIGIN], origin=None)
            else:
                dropped = rules.drop_waived(self.file.checklist, rules.TRANSFER_CHECKLIST, rules.transfer_tags(facts.origin))
                if dropped:
                    self.case.note("checklist_adjusted", None, waived=dropped, origin=facts.origin)
        settle_eligibility(self.case, self.file, facts.reasons)
        await self.case.run(lambda: None)
        return self.status()

    def _resumed(self, extras: dict[str, Any]) -> None:
        self.title_transfer_locked_until = extras["title_transfer_locked_until"]

    @workflow.query
    def status(self) -> dict[str, Any]:
        if (refused := self.case.refusal()) is not None:
            return refused
        f, s = self.file, self.start
        out = self.case.status()
        out.update(
            vin=f.vin,
            seller=s.seller.model_dump(mode="json") if s else None,
            buyer=s.buyer.model_dump(mode="json") if s else None,
            checklist=dict(f.checklist),
            documents=list(f.documents),
            presence=dict(f.presence),
            consent=f.consent,
            fee_rial=f.fee_rial,
            payment_ref=f.payment_ref,
            previous_plate=f.previous_plate,
            plate=f.plate,
            fuel_card_moved=f.fuel_card_moved,
            title_transfer_locked_until=self.title_transfer_locked_until,
            rejection_reasons=list(f.rejection_reasons),
            missing=rules.missing(f) if self.case.state == "Open" else [],
            eligibility_checked=f.eligibility_checked,
            registry_facts=f.registry_facts,
            stated_origin=f.stated_origin,
        )
        return out

    def _after_document(self, c: Any) -> None:
        """The officer stated the origin of a vehicle the registry knew none of: the checklist
        asks the factory sale document only of a domestic car («تولید داخل»)."""
        if c.kind != rules.VEHICLE_ORIGIN:
            return
        f = self.file
        f.stated_origin = c.origin
        added, dropped = rules.readjust(f.checklist, rules.TRANSFER_CHECKLIST, rules.transfer_tags(c.origin))
        if added or dropped:
            self.case.note("checklist_adjusted", None, added=added, waived=dropped, origin=c.origin)

    @command
    async def confirm_presence(self, c: Any) -> None:
        self.file.presence[c.party] = True
        self.case.fire("confirm_presence", c.actor, party=c.party)
        self._advance()

    @command
    async def consent(self, c: Any) -> None:
        """The seller, the registry's owner, agrees to the sale with their own token."""
        self.file.consent = {"by": c.actor.id, "jti": c.actor.jti, "at": iso(workflow.now())}
        self.case.fire("consent", c.actor)
        self._advance()

    @command
    async def pay_plate_fee(self, c: Any) -> None:
        f, s = self.file, self.start
        assert s is not None
        wf_id = workflow.info().workflow_id
        try:
            async with self.case.working("pay_plate_fee"):
                await run_activity(
                    record_payment,
                    PaymentRecord(wf_id, "plate_transfer_fee", c.payment_ref, c.amount_rial, workflow.now(), bank_id=c.actor.id),
                )
                result = await run_activity(
                    transfer_vehicle,
                    TransferRequest(
                        workflow_id=wf_id,
                        vin=s.vin,
                        seller_national_id=s.seller.national_id,
                        buyer_national_id=s.buyer.national_id,
                        buyer_full_name=s.buyer.full_name,
                        region_code=s.region_code,
                        at=workflow.now(),
                        origin=f.stated_origin,
                    ),
                    summary="the buyer becomes the owner",
                )
        except ActivityError as err:
            # The seller sold or scrapped the car meanwhile: the case ends (the payment stays on record for a refund).
            raise end_if_vehicle_changed(self.case, f, "pay_plate_fee", err, payment_ref=c.payment_ref) from None
        f.payment_ref = c.payment_ref
        f.plate, f.previous_plate, f.fuel_card_moved = result.plate, result.previous_plate, result.fuel_card_moved
        self.case.fire("pay_plate_fee", c.actor, payment_ref=c.payment_ref, plate=f.plate, previous_plate=f.previous_plate)

    @command
    async def cancel(self, c: Any) -> None:
        self.case.fire("cancel", c.actor)

    # --- helpers ---

    def _check(self, update: str, cmd: dict[str, Any]) -> Any:
        c: Command = self.case.check(update, cmd, rules.TRANSFER_COMMANDS[update], subject=self._check_parties)
        if update == "submit_document":
            check_document_kind(update, c.kind, list(self.file.checklist), len(self.file.documents))  # type: ignore[attr-defined]
            check_review_document(update, c, self.file.review)
            if c.kind == rules.VEHICLE_ORIGIN and self.file.stated_origin is not None:  # type: ignore[attr-defined]
                # The checklist was fitted to the first statement; a second could strip the factory
                # sale document from a domestic car.
                raise rejection(f"{update}: the officer stated the vehicle's origin already ({self.file.stated_origin})")
        if update == "confirm_presence" and self.file.presence.get(c.party):  # type: ignore[attr-defined]
            raise rejection(f"confirm_presence: the {c.party}'s presence is already confirmed")  # type: ignore[attr-defined]
        if update == "pay_plate_fee":
            check_fee(update, c.amount_rial, self.file.fee_rial)  # type: ignore[attr-defined]
        return c

    def _check_parties(self, update: str, actor: Actor) -> None:
        s = self.start
        if s is None:
            raise rejection(f"{update}: the case's input was invalid")
        party_ids = {"seller": s.seller.national_id, "buyer": s.buyer.national_id}
        if actor.role in party_ids and actor.id != party_ids[actor.role]:
            raise rejection(f"{update}: the {actor.role} of this transfer is another person")
        if actor.role == "applicant" and actor.id not in party_ids.values():
            raise rejection(f"{update}: an applicant must be the seller or the buyer of this transfer")

    def _may_start(self, actor: Actor) -> str | None:
        assert self.start is not None
        seller, buyer = self.start.seller.national_id, self.start.buyer.national_id
        return may_start_as(actor, {"officer": None, "seller": seller, "buyer": buyer, "applicant": frozenset({seller, buyer})})

    def _advance(self) -> None:
        if self.case.state == "Open" and self.file.ready_for_fee:
            self.case.fire("checklist_complete", None, fee_rial=self.file.fee_rial)

    def _describe(self) -> list[str]:
        f, s = self.file, self.start
        if s is None:
            return []
        here = {True: "حاضر", False: "—"}
        lines = [
            f"**خریدار:** {s.buyer.full_name}",
            f"**شماره شاسی (VIN):** {f.vin}",
            checklist_line(f.checklist),
            f"**حضور متعاملین:** فروشنده {here[f.presence['seller']]}، خریدار {here[f.presence['buyer']]}",
            f"**وجه پلاک:** {rials(f.fee_rial)}",
        ]
        if self.title_transfer_locked_until:
            lines.append(f"**قفل انتقال سند تا:** {jalali_datetime(parse_instant(self.title_transfer_locked_until))}")
        if f.previous_plate:
            lines.append(f"**پلاک فروشنده:** {f.previous_plate}")
        if f.plate:
            lines.append(f"**پلاک خریدار:** {f.plate}")
        if f.rejection_reasons:
            lines.append("**علت رد:** " + "؛ ".join(f.rejection_reasons))
        return lines
