"""closures: days operators declare shut, which working-hour deadlines skip (seed 000 «۷۲ ساعت کاری»)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "closures",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_closures")),
    )


def downgrade() -> None:
    op.drop_table("closures")
