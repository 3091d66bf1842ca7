"""plates: plate allocations, service records, plate end and vehicle colour/scrapping columns

Revision ID: 0002_plates
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_plates"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plate_allocations",
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("plate", sa.String(length=32), nullable=False),
        sa.Column("vin", sa.String(length=17), nullable=False),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_plate_allocations")),
        sa.UniqueConstraint("plate", name=op.f("uq_plate_allocations_plate")),
    )
    with op.batch_alter_table("plate_allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plate_allocations_vin"), ["vin"], unique=False)

    op.create_table(
        "vehicle_services",
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("vin", sa.String(length=17), nullable=False),
        sa.Column("service", sa.String(length=48), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_vehicle_services")),
    )
    with op.batch_alter_table("vehicle_services", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vehicle_services_vin"), ["vin"], unique=False)

    with op.batch_alter_table("plates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("end_reason", sa.String(length=32), nullable=True))

    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("colour", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("scrapped_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_column("scrapped_at")
        batch_op.drop_column("colour")
    with op.batch_alter_table("plates", schema=None) as batch_op:
        batch_op.drop_column("end_reason")
        batch_op.drop_column("ended_at")
    with op.batch_alter_table("vehicle_services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicle_services_vin"))
    op.drop_table("vehicle_services")
    with op.batch_alter_table("plate_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plate_allocations_vin"))
    op.drop_table("plate_allocations")
