"""import offerings: an importer's offering, its applications by rank and its seats (seed 001)

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_offerings",
        sa.Column("offering_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("scheme_id", sa.String(64), nullable=False),
        sa.Column("importer_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("delivery_due", sa.Date(), nullable=False),
        sa.Column("base_price_rial", sa.BigInteger(), nullable=False),
        sa.Column("pre_customs_costs_rial", sa.BigInteger(), nullable=False),
        sa.Column("estimated_final_costs_rial", sa.BigInteger(), nullable=False),
        sa.Column("opens", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reassign_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applicants", sa.Integer(), nullable=True),
        sa.Column("fill_rounds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["import_schemes.scheme_id"], name=op.f("fk_import_offerings_scheme_id_import_schemes")
        ),
        sa.PrimaryKeyConstraint("offering_id", name=op.f("pk_import_offerings")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_import_offerings_workflow_id")),
    )
    with op.batch_alter_table("import_offerings") as batch_op:
        batch_op.create_index(batch_op.f("ix_import_offerings_scheme_id"), ["scheme_id"], unique=False)
    op.create_table(
        "offering_applications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("offering_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["import_offerings.offering_id"],
            name=op.f("fk_offering_applications_offering_id_import_offerings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offering_applications")),
        sa.UniqueConstraint("offering_id", "workflow_id", name="uq_offering_applications_offering_case"),
    )
    op.create_index("ix_offering_applications_offering_rank", "offering_applications", ["offering_id", "rank"], unique=False)
    # One live application per case across all offerings (policy.OFFERING_ONE_APPLICATION_AT_A_TIME).
    op.create_index(
        "uq_offering_applications_live",
        "offering_applications",
        ["workflow_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('applied', 'won')"),
        postgresql_where=sa.text("status IN ('applied', 'won')"),
    )
    op.create_table(
        "offering_seats",
        sa.Column("offering_id", sa.String(64), nullable=False),
        sa.Column("seat", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sign_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("given_round", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offering_id"], ["import_offerings.offering_id"], name=op.f("fk_offering_seats_offering_id_import_offerings")
        ),
        sa.PrimaryKeyConstraint("offering_id", "seat", name=op.f("pk_offering_seats")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_offering_seats_workflow_id")),
    )


def downgrade() -> None:
    op.drop_table("offering_seats")
    op.drop_index("uq_offering_applications_live", table_name="offering_applications")
    op.drop_index("ix_offering_applications_offering_rank", table_name="offering_applications")
    op.drop_table("offering_applications")
    with op.batch_alter_table("import_offerings") as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_offerings_scheme_id"))
    op.drop_table("import_offerings")
