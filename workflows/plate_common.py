"""What the plate workflows share beyond :class:`workflows.common.Case` (seed 004).

Every plate case starts with a registry check (an activity). Commands that arrive before it
ends pass the validator (the case is Open) and then wait in their handler; once the check is
done the handler validates again, so a case the check rejected refuses them with the reason.
"""

from __future__ import annotations

from typing import Any, Protocol

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.plates import VEHICLE_CHANGED
    from domain import policy
    from domain.calendar import tehran_today
    from domain.display import iso
    from lifecycles import plates as rules

from workflows.common import Case, command, rejection

CHECKLIST_MARK = {True: "✔", False: "✘"}


class PlateCaseWorkflow:
    """Base of the plate workflows: commands wait for the start's registry check, and a document
    simply ticks its checklist item (PlateService overrides ``submit_document``: its documents
    can complete the service)."""

    file: Any
    case: Case

    async def _before_command(self) -> None:
        """Commands sent while the start's registry check runs wait for it, then are checked."""
        await after_eligibility(self.file)

    @command
    async def submit_document(self, c: Any) -> None:
        # PLATE_REVIEW: the proof of residence as given, or the stated origin, stays with the
        # document and in the history (cases before it keep kind and reference only).
        details = c.review_details() if self.file.review else {}
        self.file.add_document(c.kind, c.reference, c.actor.model_dump(), iso(workflow.now()), **details)
        self.case.fire("submit_document", c.actor, kind=c.kind, **details)
        self._after_document(c)
        self._advance()  # type: ignore[attr-defined]

    def _after_document(self, c: Any) -> None:
        """What a document changes beyond its checklist item (the transfer's stated origin)."""

    @command
    async def abort(self, c: Any) -> None:
        """An operator ends the case, giving a reason (see ``Case.abort``)."""
        await self.case.abort(c)


class HasEligibility(Protocol):
    eligibility_checked: bool
    rejection_reasons: list[str]
    checklist: dict[str, bool]


async def after_eligibility(file: HasEligibility) -> None:
    """Let a handler go on only once the case's registry check is done."""
    await workflow.wait_condition(lambda: file.eligibility_checked)


def settle_eligibility(case: Case, file: HasEligibility, reasons: list[str]) -> None:
    """Record the registry check's outcome: ``Rejected`` with the reasons, or carry on Open."""
    if reasons and case.state == "Open":
        file.rejection_reasons = list(reasons)
        case.fire("eligibility_failed", None, reasons=list(reasons))
    file.eligibility_checked = True
    case.refresh_details()


def end_if_vehicle_changed(case: Case, file: HasEligibility, update: str, err: ActivityError, **extra: Any) -> Exception:
    """What a command does when the registry refuses its completing activity.

    Our choice: a refusal because the vehicle changed in the registry since the case's check
    (another owner, scrapped, numbered meanwhile) can never be cured inside this case, so the
    case ends: ``registry_refused`` moves it to ``Rejected`` with the registry's reason in
    ``rejection_reasons`` and in the history, and the command fails with that reason (its own
    change - document, inspection, payment - is not recorded on the case). Any other refusal
    (e.g. no free plate) leaves the case exactly as it was, so the command can be sent again.
    Returns the exception the handler raises; call it after ``case.working`` has ended.
    """
    cause = err.cause
    if not (isinstance(cause, ApplicationError) and cause.type == VEHICLE_CHANGED):
        return err
    reason = cause.message
    file.rejection_reasons = [reason]
    case.fire("registry_refused", None, reasons=[reason], refused=update, **extra)
    return rejection(f"{update}: the registry refused: {reason}; the case is rejected")


def check_document_kind(update: str, kind: str, allowed: list[str], held: int) -> None:
    """A document of a kind the checklist asks for now, while the case holds fewer than the bound."""
    if kind not in allowed:
        raise rejection(
            f"{update}: document kind {kind!r} is not on this case's checklist now; expected one of: {', '.join(allowed)}"
        )
    if held >= policy.MAX_DOCUMENTS:
        raise rejection(f"{update}: the case holds {held} documents already, the most one case takes")


def check_review_document(update: str, c: Any, review: bool) -> None:
    """``PLATE_REVIEW`` (``review``): only the officer files a proof of residence or the vehicle's
    origin, and a proof of residence meets seed 004's conditions strictly (holder, dates, fields).
    Judged in the validator and again in the handler (the case's flag is set once its run starts)."""
    if review and (refused := rules.review_refusal(c, tehran_today(workflow.now()))) is not None:
        raise rejection(f"{update}: {refused}")


def check_fee(update: str, amount: int, fee: int | None) -> None:
    if amount != fee:
        raise rejection(f"{update}: amount_rial must equal fee_rial ({fee}), got {amount}")


def checklist_line(checklist: dict[str, bool]) -> str:
    return "**مدارک:** " + "، ".join(f"{CHECKLIST_MARK[done]} {kind}" for kind, done in checklist.items())
