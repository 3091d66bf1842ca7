"""What every lifecycle workflow shares: the case book around its state machine.

A workflow owns one :class:`Case`. The case
- opens only for a start whose actor token verifies (else it is ``Refused``, writing nothing),
- validates commands read-only (actor token, role, state via ``enabled_events()``, fields),
- fires machine events and keeps the contract's ``history``, the ``CaseState`` search
  attribute and the Persian details in the UI in step with the machine,
- writes every transition to the registry's audit log (in order, from the main loop),
- waits for the lifecycle's next deadline as a durable timer.

Validators only parse and call ``enabled_events()``; the machines' guards are pure properties of
the case data, so a validator never changes anything and never touches a Temporal API.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, TypeAdapter
    from statemachine import StateMachine

    from activities.registry import (
        AuditRecord,
        CaseIdClaim,
        Notification,
        claim_case_id,
        record_transition,
        record_transitions,
        send_notification,
        send_notifications,
    )
    from activities.repair import CaseRelease, release_case_holds
    from activities.trust import UNAUTHENTICATED, StartActor, StartToken, verify_start_token
    from domain import policy
    from domain.calendar import tehran_today
    from domain.commands import WORKFLOW_ID_MAX, Actor, Command, Rejected, parse
    from domain.display import iso, jalali_datetime, parse_instant
    from security import tokens

CASE_STATE = SearchAttributeKey.for_keyword("CaseState")
"""The state name of every case, for lists and filters in the UI (no personal data)."""

CASE_ALERT = SearchAttributeKey.for_keyword("CaseAlert")
"""Set while an activity of the case keeps failing: the activity names, for a UI filter such as
``CaseAlert IS NOT NULL`` (no personal data); unset when they succeed."""

SEARCH_ATTRIBUTES = {CASE_STATE.name: "Keyword", CASE_ALERT.name: "Keyword"}
"""Every custom search attribute the lifecycles use, as ``{name: type}`` for registration."""

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["Rejected"],
)
"""Infrastructure failures are retried without limit (a case waits, it does not fail)."""

ACTIVITY_RETRY_UNTIL_ALERT = RetryPolicy(
    initial_interval=ACTIVITY_RETRY.initial_interval,
    backoff_coefficient=ACTIVITY_RETRY.backoff_coefficient,
    maximum_interval=ACTIVITY_RETRY.maximum_interval,
    maximum_attempts=policy.ACTIVITY_ALERT_AFTER_ATTEMPTS,
    non_retryable_error_types=ACTIVITY_RETRY.non_retryable_error_types,
)
"""The first attempts of an activity, before its failure is shown to operators (``run_activity``)."""

ACTIVITY_TIMEOUT = timedelta(seconds=30)

# --- workflow code changes, as ``workflow.patched`` ids (see README "Changing a workflow") ---
AUDIT_BATCHES = "audit-batches"
"""The transitions not yet audited are written together by one activity (one per command at most),
not one activity per transition."""

AUDIT_RIDES = "audit-rides"
"""The transitions not yet audited ride with the case's next activity, which writes them in its own
transaction (``workflows.audit_rides``); the main loop writes only what waits too long (at
``policy.AUDIT_ROWS_WAITING_MAX`` rows, at the end, before continuing as new)."""

NOTIFY_BATCHES = "notify-batches"
"""One message to each of several recipients (a permit request to each organisation) is queued by
one activity, not one activity per recipient, and the command that sends them returns without
waiting for it (``Case.notify_each``)."""

AGES_FROM_DATES = "ages-from-dates"
"""VehicleNumbering counts the import ban from the production date to customs clearance and the
historic ages from the production date, in Jalali calendar years (seed 004), not by the
difference of calendar years at numbering time."""

TRADE_ORDER_FIDELITY = "trade-order-fidelity"
"""TradeOrder and TradeOrderAmendment follow seed 003 as issue 9 corrected them (amendments take
their permits and expert review before the fee; a lapsed fee window sends the file back to be
edited; goods and currency sources checked against reference data when given)."""

TRADE_ORDER_MORE = "trade-order-more"
"""TradeOrder and TradeOrderAmendment carry the goods catalogue (veterans'-car tariffs, goods ids
with an agency) from their start, so ``add_goods``, ``edit`` and a copy's sections are refused by
the validator (seed 003); a separate id from ``TRADE_ORDER_FIDELITY``, whose markers in recorded
histories sit later than this one's first check at the start."""

PLATE_FIDELITY = "plate-fidelity"
"""VehicleNumbering and PlateTransfer follow seed 004 as issue 9 corrected them (documents by the
vehicle's origin and history, typed proofs of residence, numbering centres)."""

PLATE_SERVICES_MORE = "plate-services-more"
"""PlateService code paths changed for the services issue 9 added (change of use, the ماده ۳۰
fine, historic traffic permits and scrapping)."""

CALENDAR_MONTHS = "calendar-months"
"""ImportPurchase counts seed 001's months and year as Jalali calendar ones in Tehran (delivery one
month after stage 3, monthly delay periods, cancellation after three months, the one-year title
lock), not as 30 and 365 days, and releases the deposit within seed 000's 72 working hours (an
activity computes the deadline), not 72 clock hours."""

PLATE_REVIEW = "plate-review"
"""VehicleNumbering and PlateTransfer as the review of their seed-004 work corrected them: only the
officer files proofs of residence (held to seed 004's conditions strictly, kept with the document)
and states the origin of a vehicle the registry knows none of; the registry's origin wins over the
input's and a contradicting origin or importer is rejected; only the categories seed 004 restricts
to certain centres carry a centre list."""

PURCHASE_MONEY = "purchase-money"
"""ImportPurchase money as seed 001 says (issue 10 item 5): the deposit is stage 1 on account of
the price (stage 2 = base + pre-customs − stage 1), the importer is late only while at fault (not
while the car waits at customs for the buyer's stage 3), the buyer has a stage-3 deadline, and what
the buyer is owed, accrued delay penalties included however the case ends, is paid through the
escrow bank adapter within 72 working hours."""

SCHEME_ROUNDS = "scheme-rounds"
"""ImportPurchase takes part in its scheme's round (issue 10 items 1-3): a start outside the scheme's
registration window is refused, the case registers in the round and waits Registered until the
round's eligibility batch and lottery give it its verdict and rank (``scheme_verdict_ready``
signal), is re-checked by the round's rules before money moves (allocate, stage 2, deliver), leaves
the round when it ends, and may decline an allocation keeping its rank."""

IMPORT_OFFERINGS = "import-offerings"
"""ImportPurchase takes part in its round's offerings (issue 10 item 4): a ranked Eligible buyer
applies to an open offering, the offering's close allocates the best ranks among its applicants,
and a declined or unsigned seat passes to the next applicant by rank."""

DOMESTIC_CONTROLS = "domestic-controls"
"""DomesticScheme tells its orders every change of its controls (change windows, the withdrawal
switch, freeze, finish) with a version, so an order's validators judge a change or a withdrawal
from the controls it carries and a refusal leaves nothing in history (issue 11)."""

NUMBERING_FUEL_CARD = "numbering-fuel-card"
"""VehicleNumbering starts the vehicle's fuel card request (a ``FuelCard`` case) when a plate is
issued (issue 12 item 1: «کارت سوخت ... پس از شماره‌گذاری»)."""

RECONCILE_OFFERINGS = "reconcile-offerings"
"""The reconciliation also frees the offering applications and seats of closed purchase cases and
tells the offerings still passing seats on to fill their free seats."""

AUDIT_SWEEP = "audit-sweep"
"""The reconciliation also writes the audit rows that cases closed by hand (terminated, timed out)
left waiting (``activities.repair.CaseLookup.sweep_hand_closed_audit``)."""

CONTINUED = "continued"
"""The one key of a continued run's input: the state the previous run carried over."""

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def rejection(message: str) -> ApplicationError:
    return ApplicationError(message, type="Rejected", non_retryable=True)


def recipient_kind(to: str) -> str:
    """How an activity summary names a notification's recipient: a person only as "person"."""
    return "person" if to.isdigit() else to


def may_start_as(actor: Actor, subjects: dict[str, str | frozenset[str] | None]) -> str | None:
    """Why ``actor`` may not start a case, given who may: ``{role: the subject it must be}``
    (``None``: any subject of that role, e.g. any plate-centre officer); ``None`` when it may."""
    if actor.role not in subjects:
        return f"role {actor.role!r} may not start this case (only {', '.join(sorted(subjects))})"
    wanted = subjects[actor.role]
    if wanted is not None and actor.id not in (wanted if isinstance(wanted, frozenset) else {wanted}):
        return f"the token's subject is not the {actor.role} named in the input"
    return None


def unauthenticated(message: str) -> ApplicationError:
    """A command or start whose token proves nothing (missing, untrusted, expired, misdirected, reused)."""
    return ApplicationError(message, type=UNAUTHENTICATED, non_retryable=True)


INVALID_INPUT = "InvalidInput"


def invalid_input(message: str) -> ApplicationError:
    """A start whose input cannot make a case (the case is refused)."""
    return ApplicationError(message, type=INVALID_INPUT, non_retryable=True)


async def run_activity(fn: Callable[..., R], arg: Any, *, summary: str | None = None) -> R:
    """Run an activity with the lifecycles' timeout and retry policy.

    A failure that lasts (``policy.ACTIVITY_ALERT_AFTER_ATTEMPTS`` attempts) is shown to operators
    while the activity goes on retrying: the ``CaseAlert`` search attribute names the activity and
    the case's details say so (the worker's interceptor also writes an outbox alert). Refusals
    (``Rejected``) are never retried and fail at once.
    """
    try:
        return await workflow.execute_activity(
            fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY_UNTIL_ALERT, summary=summary
        )
    except ActivityError as err:
        if err.retry_state != RetryState.MAXIMUM_ATTEMPTS_REACHED:
            raise
    case: Case | None = getattr(workflow.instance(), "case", None)
    name = getattr(fn, "__temporal_activity_definition").name
    if case is not None:
        case.raise_alert(name)
    try:
        return await workflow.execute_activity(
            fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY, summary=summary
        )
    finally:
        if case is not None:
            case.clear_alert(name)


async def done_within(
    start: Callable[[], workflow.ActivityHandle[R]],
    deadline: datetime,
    *,
    overdue: bool,
    on_overdue: Callable[[], Awaitable[None]],
    on_refused: Callable[[ActivityError], Awaitable[None]],
    retry_after: timedelta,
) -> R:
    """Run an activity that must end by ``deadline`` (a deposit's release within 72 working hours)
    but goes on after it: past the deadline ``on_overdue`` runs once (``overdue``: it already did,
    in a previous run) and the activity keeps retrying; a refusal (the activity failing for good)
    is shown by ``on_refused`` and the activity is started again ``retry_after`` later."""
    while True:
        handle = start()
        if not overdue:
            try:
                await workflow.wait_condition(
                    handle.done,
                    timeout=max((deadline - workflow.now()).total_seconds(), 0.001),
                    timeout_summary="deposit release deadline",
                )
            except TimeoutError:
                overdue = True
                await on_overdue()
        try:
            return await handle
        except ActivityError as err:  # only a refusal ends the retries: a person must look
            await on_refused(err)
            await workflow.sleep(retry_after)


def command_handler(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Let an update handler fail only with ``ApplicationError``.

    Any other exception would fail the workflow task and wedge the case; here it fails the
    update alone, with a message, and the case carries on in the state it was in.
    """

    @functools.wraps(fn)
    async def wrapper(self: Any, *args: Any) -> R:
        try:
            return await fn(self, *args)
        except (ApplicationError, workflow.NondeterminismError):
            # Nondeterminism and sandbox violations must fail the workflow task, so a fixed
            # worker can replay it; turning them into a failed update would hide them.
            raise
        except Rejected as err:
            raise rejection(str(err)) from None
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                raise ApplicationError(cause.message, type=cause.type or "ActivityFailed", non_retryable=True) from None
            raise ApplicationError(f"activity failed: {err}", type="ActivityFailed", non_retryable=True) from None
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - the point is to contain every other failure
            workflow.logger.exception("update handler failed")
            raise ApplicationError(
                f"internal error: {type(err).__name__}: {err}", type="InternalError", non_retryable=True
            ) from None

    return wrapper


def command(fn: Callable[[Any, Any], Awaitable[None]]) -> Any:
    """Declare one of a lifecycle's updates, always with its validator.

    The update takes the contract's one JSON object. Its validator runs the workflow's
    ``_check(name, cmd)`` (read-only: token, parse, role, state, identity, input); the handler
    waits until the case has opened, runs the same check again (the token's claims, no keys), spends
    the token's ``jti`` and calls ``fn(self, command)`` with the parsed command, whose ``actor`` is
    the verified one. The update returns :meth:`Case.outcome`: what the command changed, not the
    whole status (every result is kept in the case's history; the ``status`` query has the rest).
    A workflow whose cases must finish starting before any command applies defines
    ``async _before_command()``.
    Failures reach the client as ``ApplicationError`` only (see :func:`command_handler`).
    """
    name = fn.__name__

    async def handler(self: Any, cmd: dict[str, Any]) -> dict[str, Any]:
        await self.case.opened()
        prepare = getattr(self, "_before_command", None)
        if prepare is not None:
            await prepare()
        command = self._check(name, cmd)
        self.case.used_jtis.add(command.actor.jti)
        self.case.count_command()
        before = self.status()
        await fn(self, command)
        return self.case.outcome(before, self.status())

    handler.__name__, handler.__qualname__, handler.__doc__ = name, fn.__qualname__, fn.__doc__
    update = workflow.update(name=name)(command_handler(handler))

    def validate(self: Any, cmd: dict[str, Any]) -> None:
        # Only here is the token's signature and lifetime verified: validators do not run on
        # replay, so the handler's own check reads the claims without keys or clocks.
        self.case.validating = True
        try:
            self._check(name, cmd)
        finally:
            self.case.validating = False

    update.validator(validate)
    return update


def start_input(start: Any) -> Any:
    """The input a workflow's ``__init__`` parses: the original start, also in a continued run.

    Only the server continues a run (``continued_run_id``): a client sending a "continued" input
    to a new case gets it parsed as a start, which is refused."""
    if isinstance(start, dict) and CONTINUED in start and workflow.info().continued_run_id:
        return start[CONTINUED]["start"]
    return start


class Case:
    """Book-keeping around one lifecycle machine inside a workflow."""

    def __init__(
        self,
        machine: StateMachine,
        update_roles: dict[str, frozenset[str]],
        describe: Callable[[], list[str]],
        why_disabled: Callable[[str], str | None] = lambda update: None,
        extras: tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], None]] | None = None,
    ) -> None:
        self.machine = machine
        self.extras = extras
        """What the workflow holds beside the machine's model, to carry into a continued run:
        ``(read, restore)``. The model itself and the case book are carried without it."""
        self._start: Any = None
        self._commands_this_run = 0
        self.continuing = False
        """The run is about to continue as new: validators turn new commands away until it has."""
        self.alerts: list[str] = []
        """Activities of this case failing for longer than the alert bound, still retrying."""
        self.update_roles = update_roles
        self.describe = describe
        self.why_disabled = why_disabled
        """Names the unmet guard of an update that the state would allow (e.g. what is missing)."""
        self.history: list[dict[str, Any]] = []
        self.validating = False
        """True while an update validator runs: tokens are verified (keys, workflow time) only then."""
        self.used_jtis: set[str] = set()
        """Ids of the tokens this case accepted: each token acts once."""
        self.refused: str | None = None
        """Why the start was refused (bad token or input); the case then never opened."""
        self._opened = False
        self.busy: str | None = None
        """The update whose activities are under way; other commands wait until it ends."""
        self._unaudited: list[AuditRecord] = []
        self._rides = False
        """Unaudited rows ride with the case's activities (``AUDIT_RIDES``), decided as the main loop starts."""
        self._queueing: set[asyncio.Task[None]] = set()
        """Messages being queued in the outbox after their command returned: the run ends after them."""
        info = workflow.info()
        self._workflow_id = info.workflow_id
        self._workflow_type = info.workflow_type

    # --- reading ---

    @property
    def state(self) -> str:
        return str(self.machine.current_state_value)

    def label(self, state: str | None = None) -> str:
        return self.machine.states_map[state or self.state].name

    def allowed(self) -> list[str]:
        """Update names the machine accepts now (guards evaluated), in declaration order."""
        if self.busy:
            return []
        enabled = {event.id for event in self.machine.enabled_events()}
        return [name for name in self.update_roles if name in enabled]

    def refusal(self) -> dict[str, Any] | None:
        """The whole ``status`` of a case whose start was refused (never a lifecycle state)."""
        if self.refused is None:
            return None
        return {"state": "Refused", "state_fa": "رد درخواست شروع", "reason": self.refused, "allowed": [], "history": []}

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "state_fa": self.label(),
            "allowed": self.allowed(),
            "history": list(self.history),
        }

    def outcome(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        """An update's result: the state, what is allowed now, the transitions the command made and
        the ``status`` fields it changed. Small, so a case's history grows with its commands, not
        with their square (a full status per result would)."""
        recorded = len(before.get("history", []))
        result: dict[str, Any] = {"state": after["state"], "state_fa": after["state_fa"], "allowed": after["allowed"]}
        result["events"] = self.history[recorded:]
        for key, value in after.items():
            if key not in ("history", "state", "state_fa", "allowed") and before.get(key) != value:
                result[key] = value
        return result

    # --- validating (read-only) ---

    def check(
        self,
        update: str,
        payload: Any,
        model: type[M],
        before_state: Callable[[Any], None] | None = None,
        subject: Callable[[str, Actor], None] | None = None,
    ) -> M:
        """Parse and check a command without changing anything; raise ``ApplicationError`` if rejected.

        The returned command's ``actor`` is the token's verified ``{role, id: sub, jti}``.
        ``subject`` refuses an actor whose subject may not act on this case (right after the role,
        so a stranger learns nothing of the case); ``before_state`` may refuse the command with a
        plainer reason than "not allowed in state".
        """
        if not isinstance(payload, dict):
            raise rejection(f"{update}: the argument must be one JSON object")
        # Who first, then what: a caller who may not give the command learns nothing of its input rules.
        actor = self.authenticate(update, payload.get("actor_token"))
        roles = self.update_roles[update]
        if actor.role not in roles:
            raise rejection(f"{update}: role {actor.role!r} may not do this (only {', '.join(sorted(roles))})")
        if subject is not None:
            subject(update, actor)
        try:
            command = parse(model, payload)
        except Rejected as err:
            raise rejection(f"{update}: {err}") from None
        assert isinstance(command, Command)
        claimed = command.actor
        if claimed is not None and (claimed.role, claimed.id) != (actor.role, actor.id):
            raise unauthenticated(f"{update}: actor does not match the token (it must be the token's role and sub, or absent)")
        command = command.model_copy(update={"actor": actor})
        if self.validating and (refused := command.refusal(tehran_today(workflow.now()))) is not None:
            raise rejection(f"{update}: {refused}")
        if before_state is not None:
            before_state(command)
        if self.busy:
            raise rejection(f"{update}: the case is busy with {self.busy}; try again when it ends")
        if self.continuing and self.validating:
            # New commands wait for the new run, or the run could never fall idle to move on.
            raise rejection(f"{update}: the case is moving to a new run (continue-as-new); try again in a moment")
        if not any(event.id == update for event in self.machine.enabled_events()):
            reason = self.why_disabled(update) if update in {e.id for e in self.machine.allowed_events} else None
            if reason:
                raise rejection(f"{update}: {reason}")
            raise rejection(
                f"{update}: not allowed in state {self.state} ({self.label()}); allowed now: {', '.join(self.allowed()) or 'nothing'}"
            )
        return command

    def authenticate(self, update: str, token: Any) -> Actor:
        """The actor a command's token proves: verified in a validator, read back in a handler."""
        try:
            if self.validating:
                keys = tokens.installed()
                if keys is None:
                    raise tokens.TokenRejected("this worker trusts no actor keys")
                proven = keys.verify(
                    token, namespace=workflow.info().namespace, workflow_id=self._workflow_id, update=update, now=workflow.now()
                )
            else:
                proven = tokens.claims_of(token)
        except tokens.TokenRejected as err:
            raise unauthenticated(f"{update}: {err}") from None
        except Exception:  # noqa: BLE001 - whatever a forged token trips, it is refused, never a task failure
            raise unauthenticated(f"{update}: actor_token is not a valid token") from None
        if proven.jti in self.used_jtis:
            raise unauthenticated(f"{update}: actor_token was already used on this case (claim 'jti'); mint a new one")
        return Actor(role=proven.role, id=proven.id, jti=proven.jti, centre=proven.centre)  # type: ignore[arg-type]

    # --- opening ---

    async def open(
        self, start: Any, start_error: str | None, may_start: Callable[[Actor], str | None | Awaitable[str | None]]
    ) -> None:
        """Verify the start's token, then its input and who may start, then claim the workflow id.

        ``CaseState`` is set here, to the initial state (or ``Refused``), and from then on by every
        transition.

        Any failure refuses the case: ``status`` answers ``Refused`` with the reason, the workflow
        fails with ``Unauthenticated`` or ``InvalidInput``, and nothing was written to the registry
        (the id is claimed only after every check passed). ``may_start`` names why the verified
        actor may not start this case, or ``None``.
        """
        self._start = start
        workflow.upsert_search_attributes([CASE_STATE.value_set(self.state)])
        if len(self._workflow_id) > WORKFLOW_ID_MAX or not self._workflow_id.isprintable():
            # Every registry row is keyed by the id: one its columns cannot hold is refused up front.
            self._refuse(
                invalid_input(f"{self._workflow_type}: the workflow id must be at most {WORKFLOW_ID_MAX} printable characters")
            )
        token = start.get("actor_token") if isinstance(start, dict) else None
        if not isinstance(token, str) or not token:
            self._refuse(unauthenticated(f"{self._workflow_type}: start: actor_token is missing"))
        info = workflow.info()
        try:
            # A regular activity, not a local one: its outcome is an event of its own, so a query
            # replaying a refused case's history sees the refusal.
            proven: StartActor = await workflow.execute_activity(
                verify_start_token,
                StartToken(token, info.workflow_id, info.namespace, workflow.now(), info.workflow_type, info.run_id),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=[UNAUTHENTICATED]),
                summary="verify the actor token",
            )
        except ActivityError as err:
            self._refuse(
                unauthenticated(f"{self._workflow_type}: {getattr(err.cause, 'message', 'start: the token was not verified')}")
            )
        actor = Actor(role=proven.role, id=proven.id, jti=proven.jti)  # type: ignore[arg-type]
        if start_error is not None:
            self._refuse(invalid_input(f"{self._workflow_type} input: {start_error}"))
        try:
            why_not = may_start(actor)
            if inspect.isawaitable(why_not):
                why_not = await why_not
        except ApplicationError as err:
            self._refuse(err)
        if why_not:
            self._refuse(unauthenticated(f"{self._workflow_type}: start: {why_not}"))
        self.used_jtis.add(proven.jti)
        await self._claim_workflow_id()
        self._opened = True

    async def open_granted(self, start: Any, start_error: str | None, spend_grant: Callable[[Any], Any], grant: Any) -> None:
        """Open a case that another case started for the registry's reasons, not a person's: instead
        of an actor token it spends the one-time grant that case's activity wrote in the registry
        for this workflow id (no client writes the registry); without one it is refused
        ``Unauthenticated``. Then its input is checked and its id claimed, as :meth:`open` does."""
        self._start = start
        workflow.upsert_search_attributes([CASE_STATE.value_set(self.state)])
        try:
            await workflow.execute_activity(
                spend_grant,
                grant,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=[UNAUTHENTICATED]),
                summary="spend the starting case's grant",
            )
        except ActivityError as err:
            self._refuse(unauthenticated(f"{self._workflow_type}: {getattr(err.cause, 'message', 'start: no grant')}"))
        if start_error is not None:
            self._refuse(invalid_input(f"{self._workflow_type} input: {start_error}"))
        await self._claim_workflow_id()
        self._opened = True

    def resume(self, start: Any) -> bool:
        """Take over the state a previous run carried (see :meth:`_continue_as_new`); ``False``
        when this run is the case's first, which must :meth:`open`."""
        if start_input(start) is start:
            return False
        carried = start[CONTINUED]
        self._start = carried["start"]
        model = self.machine.model
        restored = _adapter(type(model)).validate_python(carried["model"])
        for field in dataclasses.fields(model):
            if field.name in carried["model"]:
                setattr(model, field.name, getattr(restored, field.name))
        self.history = list(carried["history"])
        self.used_jtis = set(carried["used_jtis"])
        if self.extras is not None:
            self.extras[1](carried.get("extras", {}))
        self.busy = None
        self._opened = True
        workflow.upsert_search_attributes([CASE_STATE.value_set(self.state)])
        return True

    def _refuse(self, error: ApplicationError) -> NoReturn:
        self.refused = error.message
        workflow.upsert_search_attributes([CASE_STATE.value_set("Refused")])
        raise error

    async def opened(self) -> None:
        """Wait until the start was verified (commands may arrive with the start itself)."""
        await workflow.wait_condition(lambda: self._opened or self.refused is not None)
        if self.refused is not None:
            raise rejection("the case's start was refused")

    # --- changing ---

    @contextlib.asynccontextmanager
    async def working(self, update: str) -> AsyncIterator[None]:
        """Hold the case for ``update`` while its activities run, so no command interleaves."""
        self.busy = update
        try:
            yield
        finally:
            self.busy = None

    async def abort(self, command: Any) -> None:
        """An operator ends the case (update ``abort``, reason required): what it holds in the
        registry is released first (registration, allocation, deposit with the refund notice;
        audited with who), then the case moves to ``Aborted`` with the reason in its history."""
        async with self.working("abort"):
            released = await run_activity(
                release_case_holds,
                CaseRelease(self._workflow_id, "operator_abort", workflow.now(), command.actor.role, command.actor.id),
                summary="release what the case holds",
            )
        self.fire("abort", command.actor, reason=command.reason, released=released["released"])

    def background(self, name: str, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run a case's background work (a fan-out, a batch, a loop waiting on signals). A refusal it
        meets (an activity failing for good) would end the task unseen; it is shown to operators
        instead (``CaseAlert`` names ``name``, the details say so) and the case goes on."""

        async def run() -> None:
            try:
                await work()
            except (ActivityError, ApplicationError) as err:
                workflow.logger.warning("%s stopped: %s", name, getattr(err, "message", err))
                self.raise_alert(name)

        return asyncio.create_task(run())

    def raise_alert(self, activity_name: str) -> None:
        self.alerts.append(activity_name)
        self._show_alerts()

    def clear_alert(self, activity_name: str) -> None:
        self.alerts.remove(activity_name)
        self._show_alerts()

    def _show_alerts(self) -> None:
        names = sorted(set(self.alerts))
        workflow.upsert_search_attributes([CASE_ALERT.value_set(",".join(names)) if names else CASE_ALERT.value_unset()])
        self.refresh_details()

    def count_command(self) -> None:
        self._commands_this_run += 1

    def fire(self, event: str, actor: Actor | None, **extra: Any) -> None:
        """Send ``event`` to the machine and record the transition everywhere it shows."""
        before = self.state
        self.machine.send(event)
        self._record(event, before, actor, extra)

    def note(self, event: str, actor: Actor | None, **extra: Any) -> None:
        """Record a step that is no machine event (e.g. money released after a final state)
        in the history, the audit log and the details, as a transition from the state to itself."""
        self._record(event, self.state, actor, extra)

    def _record(self, event: str, before: str, actor: Actor | None, extra: dict[str, Any]) -> None:
        after = self.state
        now = workflow.now()
        entry: dict[str, Any] = {
            "from": before,
            "to": after,
            "event": event,
            "at": iso(now),
            "actor": actor.model_dump() if actor else {"role": "system", "id": self._workflow_type},
        }
        entry.update(extra)
        self.history.append(entry)
        self._unaudited.append(AuditRecord.of_entry(self._workflow_id, self._workflow_type, len(self.history), entry, now))
        if after != before:
            workflow.upsert_search_attributes([CASE_STATE.value_set(after)])
        self.refresh_details()

    def refresh_details(self) -> None:
        """The Persian summary the Temporal UI shows beside the case."""
        lines = [f"**وضعیت:** {self.label()} (`{self.state}`)"]
        if self.alerts:
            failing = "، ".join(f"`{name}`" for name in sorted(set(self.alerts)))
            lines.append(f"⚠️ **هشدار:** این مرحله‌ها پیاپی ناموفق‌اند و دوباره تلاش می‌شوند: {failing}")
        lines += self.describe()
        if self.history:
            last = self.history[-1]
            lines.append(f"**آخرین تغییر:** {jalali_datetime(parse_instant(last['at']))} — `{last['event']}`")
        workflow.set_current_details("\n\n".join(lines))

    async def notify(self, step: str, to: str, kind: str, text: str, code: str | None = None) -> None:
        await run_activity(
            send_notification,
            Notification(workflow_id=self._workflow_id, step=step, to=to, kind=kind, text=text, at=workflow.now(), code=code),
            summary=f"{kind} → {recipient_kind(to)}",  # never the recipient: it may be a national id
        )

    async def notify_each(self, kind: str, text: str, recipients: dict[str, str]) -> None:
        """The same message to each recipient (``{step: to}``), queued together by one activity that
        runs after the command returns: the outbox is the command's consequence, not its answer. The
        run ends only once it is queued; a refusal is shown to operators (``background``)."""
        if not recipients:
            return
        if not workflow.patched(NOTIFY_BATCHES):
            for step, to in recipients.items():
                await self.notify(step, to, kind, text)
            return
        now = workflow.now()
        notes = [Notification(self._workflow_id, step, to, kind, text, now) for step, to in recipients.items()]

        async def queue() -> None:
            await run_activity(send_notifications, notes, summary=f"{kind} → {len(notes)} recipients")

        task = self.background("send_notifications", queue)
        self._queueing.add(task)
        task.add_done_callback(self._queueing.discard)

    def _settled(self) -> bool:
        """No command under way and no message still being queued: the run may end or move on."""
        return workflow.all_handlers_finished() and not self._queueing

    # --- the main loop ---

    async def run(
        self,
        next_deadline: Callable[[], tuple[datetime, Callable[[], None]] | None],
        done: Callable[[], bool] | None = None,
    ) -> None:
        """Drive the case until the machine ends: audit transitions, fire deadlines.

        ``next_deadline`` names the lifecycle's next durable timer and what to do when it
        passes; it is asked again after every transition, so a deadline moves with the state.
        ``done`` says when the case is over if that is not simply "the machine reached a final
        state" (e.g. a final state that still waits for money to be released); it is asked
        after every transition or note.
        """
        finished = done or (lambda: self.machine.is_terminated)
        self._rides = workflow.patched(AUDIT_RIDES)
        self.refresh_details()
        while True:
            if self._audit_due(finished):
                await self._write_audit()
            if finished() and not self.busy:
                break
            if self._run_is_long():
                await self._continue_as_new()
            asked = len(self.history)
            due = next_deadline()

            def woken(asked: int = asked) -> bool:
                # A transition (the deadline may have moved) or rows that must be written now.
                return len(self.history) != asked or self._audit_due(finished)

            if due is None:
                await workflow.wait_condition(woken)
                continue
            at, on_due = due
            remaining = (at - workflow.now()).total_seconds()
            if remaining > 0:
                try:
                    await workflow.wait_condition(woken, timeout=remaining, timeout_summary="deadline")
                    continue
                except TimeoutError:
                    pass
            if self.busy:
                # A command that arrived before the deadline is still being applied; its
                # transition wakes the loop, which then asks for the deadline again.
                await workflow.wait_condition(lambda: woken() or not self.busy)
                continue
            on_due()
        await self._write_audit()
        await workflow.wait_condition(self._settled)
        await self._write_audit()

    # --- continuing as new ---

    def _run_is_long(self) -> bool:
        """Near Temporal's limits on one run (events, bytes, updates): time to continue as new."""
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= policy.CONTINUE_AS_NEW_AFTER_EVENTS
            or self._commands_this_run >= policy.CONTINUE_AS_NEW_AFTER_UPDATES
        )

    async def _continue_as_new(self) -> NoReturn:
        """Carry the case into a new run of the same workflow id once no command is under way.

        The new run takes the machine's model, the history, the spent token ids and the
        workflow's extras, and goes on from the same state with the same deadlines (they are
        derived from the state). Commands arriving meanwhile finish here first; the server hands
        later ones to the new run.
        """
        self.continuing = True
        while True:
            await workflow.wait_condition(lambda: not self.busy and self._settled())
            if not self._unaudited:
                break  # idle and all written: nothing runs from here to continue_as_new
            # Commands accepted while an audit is written run meanwhile: wait for them, audit theirs.
            await self._write_audit()
        model = self.machine.model
        carried: dict[str, Any] = {
            "start": self._start,
            "model": _adapter(type(model)).dump_python(model, mode="json", exclude=_UNCARRIED),
            "history": self.history,
            "used_jtis": sorted(self.used_jtis),
        }
        if self.extras is not None:
            carried["extras"] = self.extras[0]()
        workflow.continue_as_new({CONTINUED: carried})

    async def _claim_workflow_id(self) -> None:
        info = workflow.info()
        try:
            await run_activity(
                claim_case_id,
                CaseIdClaim(info.workflow_id, info.first_execution_run_id, info.workflow_type, workflow.now()),
                summary="claim the workflow id",
            )
        except ActivityError as err:
            raise ApplicationError(getattr(err.cause, "message", str(err)), type="DuplicateCaseId", non_retryable=True) from None

    # --- the audit log ---

    def riding(self) -> list[AuditRecord]:
        """The rows the case's next activity carries (``workflows.audit_rides``)."""
        return list(self._unaudited) if self._rides else []

    def carried(self, rows: list[AuditRecord]) -> None:
        """``rows`` are written: an activity carrying them succeeded."""
        written = {row.seq for row in rows}
        self._unaudited = [row for row in self._unaudited if row.seq not in written]

    def _audit_due(self, finished: Callable[[], bool]) -> bool:
        """Whether the main loop writes the rows waiting now, rather than leave them to ride."""
        if not self._unaudited:
            return False
        if not self._rides:
            return True
        return len(self._unaudited) >= policy.AUDIT_ROWS_WAITING_MAX or (finished() and not self.busy)

    async def _write_audit(self) -> None:
        if not self._unaudited:
            return
        if workflow.patched(AUDIT_BATCHES):
            # Every transition not yet written, in one activity (a regular one: its events fix its
            # place in history, which a local activity's marker beside updates did not, on replay
            # after a worker crash). Its rows also ride in its header: ``carried`` drops them.
            batch = list(self._unaudited)
            await run_activity(record_transitions, batch, summary=f"audit {batch[0].seq}..{batch[-1].seq}")
            self.carried(batch)
            return
        while self._unaudited:  # cases started before AUDIT_BATCHES: one activity per row
            record = self._unaudited[0]
            await run_activity(record_transition, record, summary=f"audit {record.seq}: {record.event}")
            self._unaudited.pop(0)


_UNCARRIED = {"clock"}
"""Model fields that are wiring, not state (a purchase's clock is the workflow's)."""


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(model_type: type) -> TypeAdapter[Any]:
    """The pydantic adapter of a case model (dataclass), built once per type."""
    if model_type not in _ADAPTERS:
        _ADAPTERS[model_type] = TypeAdapter(model_type)
    return _ADAPTERS[model_type]
