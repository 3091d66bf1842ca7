"""trade order: registered orders, for edits and renewals after registration

Revision ID: 0002_trade_order
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_trade_order"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_orders",
        sa.Column("order_number", sa.String(length=8), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("applicant_national_id", sa.String(length=10), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("total_eur", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("last_fee_rial", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("renewals", sa.Integer(), nullable=False),
        sa.Column("last_amendment_workflow_id", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("order_number", name=op.f("pk_registered_orders")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_registered_orders_workflow_id")),
    )
    with op.batch_alter_table("registered_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registered_orders_applicant_national_id"), ["applicant_national_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registered_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registered_orders_applicant_national_id"))
    op.drop_table("registered_orders")
