"""Alembic environment: runs migrations against the URL ``registry.db.migrate`` hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from registry import (
    domestic_models,  # noqa: F401  (the domestic scheme's tables join Base.metadata)
    fuel_models,  # noqa: F401  (the fuel cards' tables join Base.metadata)
    scheme_models,  # noqa: F401  (the import scheme's tables join Base.metadata)
)
from registry.db import database_url
from registry.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or database_url()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config({"sqlalchemy.url": _url()}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        # render_as_batch: SQLite can only ALTER tables by copying them.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
