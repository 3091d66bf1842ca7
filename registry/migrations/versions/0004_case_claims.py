"""case claims (one case per workflow id, ever) and registered-order versions

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_claims",
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("first_run_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_type", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_case_claims")),
    )
    with op.batch_alter_table("registered_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("registered_orders", schema=None) as batch_op:
        batch_op.drop_column("version")
    op.drop_table("case_claims")
