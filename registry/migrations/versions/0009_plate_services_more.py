"""plate services: a truck's registered body (change of use), parts replaced on the title, historic traffic permits

Issue 9 adds three after-numbering services (seed 004): the change of use of a truck within its
body group (``vehicles.body``), the ماده ۳۰ fine after which the title is corrected
(``vehicles.replaced_parts`` beside the existing ``vehicles.colour``), and the written traffic
permit of a historic car (``historic_traffic_permits``).

Existing rows are settled as unknown: no vehicle has a registered body or replaced part until a
service records one (the registry never held them, so nothing can be inferred).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("replaced_parts", sa.JSON(), nullable=True))
    op.create_table(
        "historic_traffic_permits",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("vin", sa.String(17), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("event_name", sa.String(200), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_historic_traffic_permits")),
    )
    op.create_index(op.f("ix_historic_traffic_permits_vin"), "historic_traffic_permits", ["vin"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_historic_traffic_permits_vin"), table_name="historic_traffic_permits")
    op.drop_table("historic_traffic_permits")
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_column("replaced_parts")
        batch_op.drop_column("body")
