"""The registry's schema management."""

from __future__ import annotations

import multiprocessing
import os

from sqlalchemy import create_engine, inspect

from registry.db import migrate
from registry.models import Base


def _migrate_in_a_process(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    migrate(url)


def test_processes_starting_together_migrate_a_fresh_database_once(empty_database: str) -> None:
    """The worker, the demo and the CLI all migrate at start; on a fresh machine they race (a file
    lock on SQLite, an advisory lock on PostgreSQL)."""
    url = empty_database
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_migrate_in_a_process, args=(url,)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    tables = set(inspect(create_engine(url)).get_table_names())
    assert set(Base.metadata.tables) <= tables
