"""The README's main command runs its demo to the end: a case of every lifecycle on a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from settings import PROJECT_ROOT
from tests.dev_server import WorkerProcess, dev_server  # noqa: F401 - dev_server is a fixture
from tests.postgres_server import create_database, drop_database


def test_the_demo_runs_a_case_of_every_lifecycle(dev_server: WorkflowEnvironment, database: str, tmp_path: Path) -> None:  # noqa: F811
    address = dev_server.client.service_client.config.target_host
    task_queue = "vehicle-lifecycles"  # the demo's own default: this server is the test's alone
    # A registry of its own, as on a fresh machine: the demo charges the current fuel period, which
    # the session's other tests must find uncharged.
    own = f"sqlite:///{tmp_path / 'demo.sqlite3'}" if database.startswith("sqlite") else create_database(database)
    env = dict(os.environ, TEMPORAL_ADDRESS=address, TEMPORAL_TASK_QUEUE=task_queue, DATABASE_URL=own, COLUMNS="400")
    setup = subprocess.run(
        [sys.executable, "worker.py", "--setup"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    worker = WorkerProcess(address, task_queue, own, tmp_path / "worker.log")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "demo"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        worker.stop()
        if not database.startswith("sqlite"):
            drop_database(own)
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
