"""trade order: which currency sources each tariff allows (seed 003 «تنها برای تعرفه های مشخصی»)

``veteran_car_tariffs.own_currency_allowed`` defaulted to true, so every tariff loaded without it
allowed own currency, others' currency and others' exports: the wrong default seed 003 rules out.
It becomes ``currency_sources``, a list of the sources a tariff allows. Existing rows get an empty
list (none): a true flag cannot be told from the old default, so the sources are open again only
when reference data names them (``refdata load``; the shipped set does). Our choice: refusing
until told is the seed's rule; a wrong "allowed" would let files through the inquiry.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SOURCES = ["own_currency", "others_currency", "others_exports"]


def upgrade() -> None:
    with op.batch_alter_table("veteran_car_tariffs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency_sources", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    with op.batch_alter_table("veteran_car_tariffs", schema=None) as batch_op:
        batch_op.alter_column("currency_sources", server_default=None)
        batch_op.drop_column("own_currency_allowed")


def downgrade() -> None:
    with op.batch_alter_table("veteran_car_tariffs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("own_currency_allowed", sa.Boolean(), nullable=False, server_default=sa.true()))
    tariffs = sa.table("veteran_car_tariffs", sa.column("code", sa.String), sa.column("currency_sources", sa.JSON))
    bind = op.get_bind()
    for code, sources in bind.execute(sa.select(tariffs.c.code, tariffs.c.currency_sources)).all():
        allowed = bool(sources) and set(sources) == set(SOURCES)
        bind.execute(
            sa.text("UPDATE veteran_car_tariffs SET own_currency_allowed = :a WHERE code = :c"), {"a": allowed, "c": code}
        )
    with op.batch_alter_table("veteran_car_tariffs", schema=None) as batch_op:
        batch_op.alter_column("own_currency_allowed", server_default=None)
        batch_op.drop_column("currency_sources")
