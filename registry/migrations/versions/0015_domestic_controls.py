"""domestic stage controls carry a version: orders keep the newest the stage told them (seed 000)

Each change of a stage's controls (a change window opened or closed, withdrawal switched, frozen,
reopened, finished) bumps ``domestic_schemes.controls_version``. The stage tells its orders the
new controls with that version, and an order that read them at its start keeps whichever is newer.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("domestic_schemes") as batch:
        batch.add_column(sa.Column("controls_version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("domestic_schemes") as batch:
        batch.drop_column("controls_version")
