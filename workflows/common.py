"""What every lifecycle workflow shares: the case book around its state machine.

A workflow owns one :class:`Case`. The case
- validates commands read-only (state via ``enabled_events()``, role, identity, fields),
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
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel
    from statemachine import StateMachine

    from activities.registry import AuditRecord, CaseIdClaim, Notification, claim_case_id, record_transition, send_notification
    from domain.commands import Actor, Command, Rejected, parse
    from domain.display import iso, jalali_datetime, parse_instant

CASE_STATE = SearchAttributeKey.for_keyword("CaseState")
"""The state name of every case, for lists and filters in the UI (no personal data)."""

SEARCH_ATTRIBUTES = {CASE_STATE.name: "Keyword"}
"""Every custom search attribute the lifecycles use, as ``{name: type}`` for registration."""

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["Rejected"],
)
"""Infrastructure failures are retried without limit (a case waits, it does not fail)."""

ACTIVITY_TIMEOUT = timedelta(seconds=30)

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def rejection(message: str) -> ApplicationError:
    return ApplicationError(message, type="Rejected", non_retryable=True)


async def run_activity(fn: Callable[..., R], arg: Any, *, summary: str | None = None) -> R:
    """Run an activity with the lifecycles' timeout and retry policy."""
    return await workflow.execute_activity(
        fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY, summary=summary
    )


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
            raise ApplicationError(f"internal error: {type(err).__name__}: {err}", type="InternalError", non_retryable=True) from None

    return wrapper


def command(fn: Callable[[Any, Any], Awaitable[R]]) -> Any:
    """Declare one of a lifecycle's updates, always with its validator.

    The update takes the contract's one JSON object. Its validator runs the workflow's
    ``_check(name, cmd)`` (read-only: parse, state, role, identity, input); the handler runs the
    same check again and calls ``fn(self, command)`` with the parsed command. A workflow whose
    cases must finish starting before any command applies defines ``async _before_command()``.
    Failures reach the client as ``ApplicationError`` only (see :func:`command_handler`).
    """
    name = fn.__name__

    async def handler(self: Any, cmd: dict[str, Any]) -> R:
        prepare = getattr(self, "_before_command", None)
        if prepare is not None:
            await prepare()
        return await fn(self, self._check(name, cmd))

    handler.__name__, handler.__qualname__, handler.__doc__ = name, fn.__qualname__, fn.__doc__
    update = workflow.update(name=name)(command_handler(handler))

    def validate(self: Any, cmd: dict[str, Any]) -> None:
        self._check(name, cmd)

    update.validator(validate)
    return update


class Case:
    """Book-keeping around one lifecycle machine inside a workflow."""

    def __init__(
        self,
        machine: StateMachine,
        update_roles: dict[str, frozenset[str]],
        describe: Callable[[], list[str]],
        why_disabled: Callable[[str], str | None] = lambda update: None,
    ) -> None:
        self.machine = machine
        self.update_roles = update_roles
        self.describe = describe
        self.why_disabled = why_disabled
        """Names the unmet guard of an update that the state would allow (e.g. what is missing)."""
        self.history: list[dict[str, Any]] = []
        self.busy: str | None = None
        """The update whose activities are under way; other commands wait until it ends."""
        self._unaudited: list[AuditRecord] = []
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

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "state_fa": self.label(),
            "allowed": self.allowed(),
            "history": list(self.history),
        }

    # --- validating (read-only) ---

    def check(self, update: str, payload: Any, model: type[M]) -> M:
        """Parse and check a command without changing anything; raise ``ApplicationError`` if rejected."""
        try:
            command = parse(model, payload)
        except Rejected as err:
            raise rejection(f"{update}: {err}") from None
        assert isinstance(command, Command)
        roles = self.update_roles[update]
        if command.actor.role not in roles:
            raise rejection(f"{update}: role {command.actor.role!r} may not do this (only {', '.join(sorted(roles))})")
        if self.busy:
            raise rejection(f"{update}: the case is busy with {self.busy}; try again when it ends")
        if not any(event.id == update for event in self.machine.enabled_events()):
            reason = self.why_disabled(update) if update in {e.id for e in self.machine.allowed_events} else None
            if reason:
                raise rejection(f"{update}: {reason}")
            raise rejection(f"{update}: not allowed in state {self.state} ({self.label()}); allowed now: {', '.join(self.allowed()) or 'nothing'}")
        return command

    # --- changing ---

    @contextlib.asynccontextmanager
    async def working(self, update: str) -> AsyncIterator[None]:
        """Hold the case for ``update`` while its activities run, so no command interleaves."""
        self.busy = update
        try:
            yield
        finally:
            self.busy = None

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
        self._unaudited.append(
            AuditRecord(
                workflow_id=self._workflow_id,
                workflow_type=self._workflow_type,
                seq=len(self.history),
                event=event,
                from_state=before,
                to_state=after,
                at=now,
                actor_role=actor.role if actor else "system",
                actor_id=actor.id if actor else None,
            )
        )
        if after != before:
            workflow.upsert_search_attributes([CASE_STATE.value_set(after)])
        self.refresh_details()

    def refresh_details(self) -> None:
        """The Persian summary the Temporal UI shows beside the case."""
        lines = [f"**وضعیت:** {self.label()} (`{self.state}`)"]
        lines += self.describe()
        if self.history:
            last = self.history[-1]
            lines.append(f"**آخرین تغییر:** {jalali_datetime(parse_instant(last['at']))} — `{last['event']}`")
        workflow.set_current_details("\n\n".join(lines))

    async def notify(self, step: str, to: str, kind: str, text: str, code: str | None = None) -> None:
        await run_activity(
            send_notification,
            Notification(workflow_id=self._workflow_id, step=step, to=to, kind=kind, text=text, at=workflow.now(), code=code),
            summary=f"{kind} → {to}",
        )

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
        workflow.upsert_search_attributes([CASE_STATE.value_set(self.state)])
        self.refresh_details()
        await self._claim_workflow_id()
        while True:
            await self._write_audit()
            if finished() and not self.busy:
                break
            due = next_deadline()
            if due is None:
                await workflow.wait_condition(lambda: bool(self._unaudited))
                continue
            at, on_due = due
            remaining = (at - workflow.now()).total_seconds()
            if remaining > 0:
                try:
                    await workflow.wait_condition(lambda: bool(self._unaudited), timeout=remaining, timeout_summary="deadline")
                    continue
                except asyncio.TimeoutError:
                    pass
            if self.busy:
                # A command that arrived before the deadline is still being applied; its
                # transition wakes the loop, which then asks for the deadline again.
                await workflow.wait_condition(lambda: bool(self._unaudited) or not self.busy)
                continue
            on_due()
        await self._write_audit()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._write_audit()

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

    async def _write_audit(self) -> None:
        while self._unaudited:
            record = self._unaudited[0]
            await run_activity(record_transition, record, summary=f"audit {record.seq}: {record.event}")
            self._unaudited.pop(0)
