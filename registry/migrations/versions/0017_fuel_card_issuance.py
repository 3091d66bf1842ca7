"""fuel card issuance: a card's request as a case (one open request per vehicle), its PIN hash, numbering's start grants (seed 002)

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fuel_card_requests",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("vin", sa.String(17), nullable=False),
        sa.Column("plate", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("use", sa.String(48), nullable=True),
        sa.Column("card_number", sa.String(20), nullable=True),
        sa.Column("old_card_number", sa.String(20), nullable=True),
        sa.Column("tracking_number", sa.String(64), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_fuel_card_requests")),
    )
    op.create_index(op.f("ix_fuel_card_requests_vin"), "fuel_card_requests", ["vin"], unique=False)
    op.create_index(op.f("ix_fuel_card_requests_plate"), "fuel_card_requests", ["plate"], unique=False)
    # One application per vehicle at a time: the database decides two requests racing for one VIN.
    op.create_index(
        "uq_fuel_card_requests_vin_open",
        "fuel_card_requests",
        ["vin"],
        unique=True,
        sqlite_where=sa.text("open IS 1"),
        postgresql_where=sa.text("open IS true"),
    )
    op.create_table(
        "fuel_card_pins",
        sa.Column("card_number", sa.String(20), nullable=False),
        sa.Column("salt", sa.LargeBinary(16), nullable=False),
        sa.Column("pin_hash", sa.LargeBinary(64), nullable=False),
        sa.Column("set_by", sa.String(16), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_number"], ["fuel_cards.card_number"], name=op.f("fk_fuel_card_pins_card_number_fuel_cards")
        ),
        sa.PrimaryKeyConstraint("card_number", name=op.f("pk_fuel_card_pins")),
    )
    op.create_table(
        "fuel_card_grants",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("vin", sa.String(17), nullable=False),
        sa.Column("numbering_workflow_id", sa.String(200), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_run_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_fuel_card_grants")),
    )


def downgrade() -> None:
    op.drop_table("fuel_card_grants")
    op.drop_table("fuel_card_pins")
    op.drop_index("uq_fuel_card_requests_vin_open", table_name="fuel_card_requests")
    op.drop_index(op.f("ix_fuel_card_requests_plate"), table_name="fuel_card_requests")
    op.drop_index(op.f("ix_fuel_card_requests_vin"), table_name="fuel_card_requests")
    op.drop_table("fuel_card_requests")
