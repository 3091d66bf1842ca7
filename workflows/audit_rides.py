"""The audit of a case's transitions rides with the case's own activities (issue 8 item 5).

A transition that only changed the case (a draft's section saved, a permit requested) used to cost
an activity of its own, run by the main loop to write its audit row. Now its row waits in the case
and rides, in the ``audit-rows`` activity header, with the case's next activity, whichever it is;
the worker writes it in that activity's own transaction (``activities.audit``). So every registry
effect commits after, or with, the audit of every transition before it. What no activity carries
is written by the main loop once ``policy.AUDIT_ROWS_WAITING_MAX`` rows wait, when the case ends
and before it continues as new (see ``Case.run``).

What a case records as written (``Case.carried``) follows its activities' outcomes, and decides
when the main loop writes rows itself: a replay must run this interceptor as the worker did
(``worker.build_replayer``). Cases whose run did not record ``AUDIT_RIDES`` carry nothing and write
every command's rows with an activity, as before.

Every worker that runs the lifecycles' activities must have the activity half: an activity of an
older build ignores the header, succeeds, and the rows it was given are dropped unwritten.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.worker import (
    ActivityInboundInterceptor,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

with workflow.unsafe.imports_passed_through():
    from activities.audit import AUDIT_HEADER, CarriedAuditWriter


class _Outbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        case = getattr(workflow.instance(), "case", None)
        riding = case.riding() if case is not None else []
        if case is None or not riding:
            return super().start_activity(input)
        input.headers = {**input.headers, AUDIT_HEADER: workflow.payload_converter().to_payload(riding)}
        handle = super().start_activity(input)

        def carried(done: workflow.ActivityHandle[Any]) -> None:
            # Written only for sure once the activity succeeded; otherwise they ride again.
            if not done.cancelled() and done.exception() is None:
                case.carried(riding)

        handle.add_done_callback(carried)
        return handle


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class AuditRides(Interceptor):
    """The worker interceptor: cases attach their unwritten audit rows to their activities, and
    activities write the rows they carry."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return CarriedAuditWriter(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor] | None:
        return _Inbound
