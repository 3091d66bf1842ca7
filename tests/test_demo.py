"""The README's main command runs its demo to the end: a case of every lifecycle on a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from settings import PROJECT_ROOT
from tests.dev_server import WorkerProcess, dev_server  # noqa: F401 - dev_server is a fixture


def test_the_demo_runs_a_case_of_every_lifecycle(dev_server: WorkflowEnvironment, database: str, tmp_path: Path) -> None:  # noqa: F811
    address = dev_server.client.service_client.config.target_host
    task_queue = "vehicle-lifecycles"  # the demo's own default: this server is the test's alone
    worker = WorkerProcess(address, task_queue, database, tmp_path / "worker.log")
    try:
        env = dict(os.environ, TEMPORAL_ADDRESS=address, TEMPORAL_TASK_QUEUE=task_queue, DATABASE_URL=database, COLUMNS="400")
        result = subprocess.run(
            [sys.executable, "-m", "demo"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        worker.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "TradeOrder Registered",
        "TradeOrder Registered after AwaitingAllocation",
        "TradeOrder AwaitingPermit",
        "TradeOrder ProformaRejected",
        "ImportScheme Ranked",
        "ImportPurchase Eligible again after declining the car",
        "ImportPurchase Delivered",
        "ImportPurchase Withdrawn",
        "ImportPurchase Ineligible",
        "DomesticOrder Delivered",
        "DomesticOrder Withdrawn by mistake, restored",
        "DomesticScheme Ordering after its review",
        "VehicleNumbering Numbered",
        "PlateTransfer Transferred",
        "PlateService",
        "FuelCharge",
        "FuelCard purchase of 70 L",
        "FuelCard duplicate",
    ):
        assert line in result.stdout, f"{line!r} missing from the demo's output:\n{result.stdout}"
