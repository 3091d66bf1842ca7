"""The baseline for bench/lifecycle.py: a workflow with no domain logic at all.

It takes the same number of updates and runs the same number of activities as a TradeOrder
lifecycle, but each update only runs no-op activities: what remains of the lifecycle's cost
over this is the state machine, validation, history and the registry writes.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
def noop(step: int) -> int:
    return step


@workflow.defn(name="BenchBare")
class BareWorkflow:
    def __init__(self) -> None:
        self.updates = 0
        self.expected = 0

    @workflow.run
    async def run(self, expected_updates: int) -> int:
        self.expected = expected_updates
        await workflow.wait_condition(lambda: self.updates >= self.expected and workflow.all_handlers_finished())
        return self.updates

    @workflow.update
    async def step(self, activities: int) -> int:
        for i in range(activities):
            await workflow.execute_activity(noop, i, start_to_close_timeout=timedelta(seconds=30))
        self.updates += 1
        return self.updates

    @step.validator
    def _validate_step(self, activities: int) -> None:
        if activities < 0:
            raise ValueError("activities must be >= 0")
