"""purchase money: the settlement of an import purchase on its escrow row (issue 10 item 5, seed 001)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FLOWS = (
    "deposit_to_holder_rial",
    "deposit_to_importer_rial",
    "cash_to_holder_rial",
    "cash_to_importer_rial",
    "penalty_unpaid_rial",
)


def upgrade() -> None:
    with op.batch_alter_table("escrow_deposits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settlement_key", sa.String(240), nullable=True))
        batch_op.add_column(sa.Column("refund_rial", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("delay_penalty_paid_rial", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("penalty_to_importer_rial", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
        # The settlement flow by flow, and the importer's claim it could not cover.
        for name in FLOWS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("escrow_deposits", schema=None) as batch_op:
        for name in reversed(FLOWS):
            batch_op.drop_column(name)
        batch_op.drop_column("settled_at")
        batch_op.drop_column("penalty_to_importer_rial")
        batch_op.drop_column("delay_penalty_paid_rial")
        batch_op.drop_column("refund_rial")
        batch_op.drop_column("settlement_key")
