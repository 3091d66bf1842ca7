"""Every activity's failures, sorted into permanent and transient (a worker interceptor).

Permanent: the data itself is refused, so no retry can succeed; retrying would hold the case
busy forever, and its update call would never return. The failure becomes
``ApplicationError(type="Rejected", non_retryable=True)``: the update fails at once with a reason
and the case takes its next command. Permanent are a database ``DataError``, an
``IntegrityError`` the activity did not handle itself (after a few attempts: a concurrent attempt
of the same idempotent step may have written the row, and the next attempt finds it), a
statement whose values could not be bound, and a ``ValueError``, ``TypeError`` or arithmetic
error from our code.

Transient (a lost connection, a locked or unreachable database, a timeout, a retryable
``ApplicationError`` such as a missing rate): retried by the workflow's policy, and from
``policy.ACTIVITY_ALERT_AFTER_ATTEMPTS`` on, one alert to the operators in the outbox.

Messages of database errors name the activity and the error's class, never the error's text: it
may quote the values it refused (national ids, names), even with the engine's ``hide_parameters``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, NotSupportedError, SQLAlchemyError, StatementError
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.registry import Notification, send_notification
from domain import policy
from domain.commands import Rejected

REJECTED = "Rejected"
"""The failure type the lifecycles' retry policy never retries (``workflows.common.ACTIVITY_RETRY``)."""


def refused(message: str) -> ApplicationError:
    """An activity's refusal of a request that can never succeed: the update fails with ``message``."""
    return ApplicationError(message, type=REJECTED, non_retryable=True)


ALERT_KIND = "alert"
ALERT_TO = "operator"
"""The recipient of every operator alert in the outbox (as the deposit-release alerts)."""

ALERT_WRITE_TIMEOUT = 10.0
"""Seconds an alert write may take before the failing attempt is given up to its retry anyway."""

logger = logging.getLogger(__name__)


def permanent(err: BaseException, attempt: int) -> str | None:
    """Why ``err`` can never succeed on a retry (a message naming no value), or ``None``."""
    if isinstance(err, Rejected):
        return str(err)  # our own refusal, written for the caller
    if isinstance(err, IntegrityError):
        if attempt < policy.ACTIVITY_INTEGRITY_ATTEMPTS:
            return None
        return "the registry refused the data as conflicting with what it holds (IntegrityError)"
    if isinstance(err, (DataError, NotSupportedError)):
        return f"the registry refused the data ({type(err).__name__})"
    if isinstance(err, DBAPIError):
        return None  # OperationalError, InterfaceError, ...: the database, not the data
    if isinstance(err, StatementError):
        # Not from the database: the values could not even be bound (a wrong type, say).
        return f"the registry could not take the data ({type(err.orig).__name__ if err.orig else 'StatementError'})"
    if isinstance(err, (ValueError, TypeError, ArithmeticError)):
        return f"the data was refused ({type(err).__name__})"
    return None


def error_class(err: BaseException) -> str:
    """The error's class, with an ``ApplicationError``'s type: what an alert may say of it."""
    if isinstance(err, ApplicationError):
        return f"ApplicationError({err.type})" if err.type else "ApplicationError"
    return type(err).__name__


def write_alert(workflow_id: str, activity_type: str, activity_id: str, error: str, attempt: int, at: datetime) -> None:
    """One alert per failing activity (``(workflow_id, step)`` is unique), in its own transaction."""
    step = f"alert:{activity_type}:{activity_id}"[:100]
    text = (
        f"فعالیت {activity_type} پرونده {workflow_id} {attempt} بار ناموفق بوده است ({error})؛ "
        "دوباره تلاش می‌شود. زیرساخت (پایگاه داده، شبکه، داده‌های مرجع) را بررسی کنید."
    )
    try:
        send_notification(Notification(workflow_id=workflow_id, step=step, to=ALERT_TO, kind=ALERT_KIND, text=text, at=at))
    except IntegrityError:
        pass  # another attempt's alert won the race: one alert is what we want


def retried(err: ApplicationError) -> bool:
    """Whether the activity's retry policy runs this failure again (a refusal is no outage)."""
    retry = activity.info().retry_policy
    never = {REJECTED, *((retry.non_retryable_error_types or []) if retry else [])}
    return not err.non_retryable and err.type not in never


async def alert(err: BaseException) -> None:
    """Write the operator alert of a retrying activity from the bound on; never raise."""
    info = activity.info()
    if info.attempt < policy.ACTIVITY_ALERT_AFTER_ATTEMPTS:
        return
    try:
        await asyncio.wait_for(
            asyncio.to_thread(
                write_alert,
                info.workflow_id or "",
                info.activity_type,
                info.activity_id,
                error_class(err),
                info.attempt,
                info.current_attempt_scheduled_time,
            ),
            timeout=ALERT_WRITE_TIMEOUT,
        )
    except Exception as failure:  # noqa: BLE001 - the database may be what fails: the activity's own error stands
        logger.warning("no alert written for %s (%s): %s", info.activity_type, info.workflow_id, type(failure).__name__)


class _SortFailures(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except CancelledError:
            raise
        except ApplicationError as err:
            if retried(err):
                await alert(err)
            raise
        except Exception as err:
            info = activity.info()
            reason = permanent(err, info.attempt)
            if reason is not None:
                logger.warning("%s (%s) refused for good: %s", info.activity_type, info.workflow_id, error_class(err))
                raise ApplicationError(f"{info.activity_type}: {reason}", type=REJECTED, non_retryable=True) from None
            await alert(err)
            if isinstance(err, SQLAlchemyError):
                # Retried under the same type, with a message that cannot quote refused values.
                message = f"{info.activity_type}: the registry failed ({error_class(err)})"
                raise ApplicationError(message, type=error_class(err)) from None
            raise


class ActivityFailures(Interceptor):
    """The worker interceptor: permanent failures refused at once, transient ones alerted."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _SortFailures(next)
