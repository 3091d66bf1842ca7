"""A real dev server and worker processes, as operators run them (crash and demo tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from settings import PROJECT_ROOT, find_binary
from workflows.common import CASE_ALERT, CASE_STATE


@pytest.fixture(scope="module")
async def dev_server(database: str) -> AsyncIterator[WorkflowEnvironment]:
    """A dev server whose client encrypts like the worker processes; tokens follow its (wall) clock."""
    import tests.helpers
    from security.codec import data_converter

    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=[CASE_STATE, CASE_ALERT],
        dev_server_log_level="error",
        data_converter=data_converter(),
    ) as env:
        session_server, tests.helpers.SERVER = tests.helpers.SERVER, env
        try:
            yield env
        finally:
            tests.helpers.SERVER = session_server


class WorkerProcess:
    """``python worker.py`` as its own OS process, as operators run it."""

    def __init__(self, address: str, task_queue: str, database: str, log: Path) -> None:
        env = dict(os.environ, TEMPORAL_ADDRESS=address, TEMPORAL_TASK_QUEUE=task_queue, DATABASE_URL=database)
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "worker.py"], cwd=PROJECT_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()
