"""Engine and sessions for the shared registry.

``DATABASE_URL`` picks the database (any SQLAlchemy URL; PostgreSQL via ``postgresql+psycopg://``);
without it, a SQLite file under ``.data/`` beside the project.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / ".data" / "registry.sqlite3"


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


@cache
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        # hide_parameters: a database error names no bound value (national ids, names) in logs
        # or in the failures that reach Temporal.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - driver hook
            # pysqlite's own BEGIN comes only before the first write, so a transaction's reads
            # ran outside it (check-then-act races). It emits none now: see ``_begin`` below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL lets the CLI read while the worker writes; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes of the process
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:  # pragma: no cover - driver hook
            # SQLAlchemy's pysqlite recipe: every transaction takes the write lock at its start,
            # so writers run one at a time with their reads inside (as row locks and unique
            # indexes make them on PostgreSQL); a busy writer waits up to busy_timeout.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def engine() -> Engine:
    return engine_for(database_url())


class Rider:
    """Rows that ride along with an activity's own transaction: written at its end, just before the
    commit, so they commit with the activity's effect (the audit of the case's transitions so far,
    ``activities.audit``). ``written`` once a transaction that carried them committed."""

    def __init__(self, write: Callable[[Session], None]) -> None:
        self.write = write
        self.written = False


RIDER: ContextVar[Rider | None] = ContextVar("registry_rider", default=None)
"""The rows the running activity carries (set by the worker's interceptor, seen in its threads)."""


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises.

    Inside an activity that carries rows (:data:`RIDER`), the first transaction to end writes them
    too, so they commit or roll back with the activity's own writes."""
    factory = sessionmaker(engine(), expire_on_commit=False)
    rider = RIDER.get()
    with factory.begin() as session:
        yield session
        if rider is not None and not rider.written:
            rider.write(session)
    if rider is not None:
        rider.written = True


MIGRATION_LOCK_KEY = 7_240_518
"""PostgreSQL advisory-lock key under which migrations run (any constant the project owns)."""


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "registry" / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def schema_behind(url: str | None = None) -> str | None:
    """Why the database's schema is not the code's (``None`` when it is): workers need it current
    and have no DDL rights, so they refuse to start rather than fail on the first write."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    url = url or database_url()
    wanted = set(ScriptDirectory.from_config(_alembic_config(url)).get_heads())
    with engine_for(url).connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current == wanted:
        return None
    return (
        f"the registry schema is at {sorted(current) or 'nothing'}, the code needs {sorted(wanted)}: "
        "run the deploy step `python worker.py --setup` first"
    )


def migrate(url: str | None = None) -> None:
    """Bring the schema to the newest Alembic revision (creates it on an empty database).

    The deploy step (``python worker.py --setup``), the demo and the tests call this; processes starting together take turns
    (a file lock beside a SQLite file, an advisory lock on PostgreSQL) instead of racing to
    create the same tables.
    """
    from alembic import command

    url = url or database_url()
    config = _alembic_config(url)
    with _migration_lock(url):
        command.upgrade(config, "heads")  # lifecycles may add migrations on parallel branches


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        import fcntl

        with open(f"{parsed.database}.migrate-lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        return
    if parsed.get_backend_name() == "postgresql":
        with engine_for(url).connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        return
    yield
