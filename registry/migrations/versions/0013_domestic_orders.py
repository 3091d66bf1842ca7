"""domestic orders: the integrated sales scheme's stages, change windows and orders (seed 000)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domestic_schemes",
        sa.Column("scheme_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("deposit_rial", sa.BigInteger(), nullable=False),
        sa.Column("offerings", sa.JSON(), nullable=False),
        sa.Column("registration_open", sa.Boolean(), nullable=False),
        sa.Column("withdrawal_enabled", sa.Boolean(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scheme_id", name=op.f("pk_domestic_schemes")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_domestic_schemes_workflow_id")),
    )
    op.create_table(
        "domestic_change_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scheme_id", sa.String(64), nullable=False),
        sa.Column("window_id", sa.String(64), nullable=False),
        sa.Column("opens", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_only", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["domestic_schemes.scheme_id"], name=op.f("fk_domestic_change_windows_scheme_id_domestic_schemes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domestic_change_windows")),
        sa.UniqueConstraint("scheme_id", "window_id", name="uq_domestic_change_windows_scheme_window"),
    )
    op.create_table(
        "domestic_orders",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("scheme_id", sa.String(64), nullable=False),
        sa.Column("national_id", sa.String(10), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("delivery_year", sa.Integer(), nullable=False),
        sa.Column("restored", sa.Boolean(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("youth_population", sa.Boolean(), nullable=False),
        sa.Column("has_driving_license", sa.Boolean(), nullable=True),
        sa.Column("license_inquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("vin", sa.String(17), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["domestic_schemes.scheme_id"], name=op.f("fk_domestic_orders_scheme_id_domestic_schemes")
        ),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_domestic_orders")),
        sa.UniqueConstraint("scheme_id", "national_id", name="uq_domestic_orders_scheme_person"),
        sa.UniqueConstraint("scheme_id", "turn", name="uq_domestic_orders_scheme_turn"),
    )
    with op.batch_alter_table("domestic_orders") as batch_op:
        batch_op.create_index(batch_op.f("ix_domestic_orders_national_id"), ["national_id"], unique=False)
        batch_op.create_index("ix_domestic_orders_scheme_status_year", ["scheme_id", "status", "delivery_year"], unique=False)
    op.create_table(
        "domestic_year_turns",
        sa.Column("scheme_id", sa.String(64), nullable=False),
        sa.Column("delivery_year", sa.Integer(), nullable=False),
        sa.Column("year_turn", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["domestic_schemes.scheme_id"], name=op.f("fk_domestic_year_turns_scheme_id_domestic_schemes")
        ),
        sa.PrimaryKeyConstraint("scheme_id", "delivery_year", "year_turn", name=op.f("pk_domestic_year_turns")),
    )


def downgrade() -> None:
    op.drop_table("domestic_year_turns")
    with op.batch_alter_table("domestic_orders") as batch_op:
        batch_op.drop_index("ix_domestic_orders_scheme_status_year")
        batch_op.drop_index(batch_op.f("ix_domestic_orders_national_id"))
    op.drop_table("domestic_orders")
    op.drop_table("domestic_change_windows")
    op.drop_table("domestic_schemes")
