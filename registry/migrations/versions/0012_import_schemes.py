"""import schemes: the scheme's window and lottery record, every registration of a round, the published ranks (seed 001)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_schemes",
        sa.Column("scheme_id", sa.String(64), nullable=False),
        sa.Column("registration_opens", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registration_closes", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deposit_rial", sa.BigInteger(), nullable=False),
        sa.Column("seed_commitment", sa.String(64), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workflow_id", sa.String(200), nullable=True),
        sa.Column("seed", sa.String(64), nullable=True),
        sa.Column("list_digest", sa.String(64), nullable=True),
        sa.Column("eligible_count", sa.Integer(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("algorithm", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("scheme_id", name=op.f("pk_import_schemes")),
    )
    op.create_table(
        "scheme_applicants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scheme_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("national_id", sa.String(10), nullable=False),
        sa.Column("declared_driving_license", sa.Boolean(), nullable=False),
        sa.Column("is_legal_entity", sa.Boolean(), nullable=False),
        sa.Column("bank", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ineligible_mask", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["import_schemes.scheme_id"], name=op.f("fk_scheme_applicants_scheme_id_import_schemes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheme_applicants")),
        sa.UniqueConstraint("scheme_id", "national_id", name="uq_scheme_applicants_scheme_person"),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_scheme_applicants_workflow_id")),
        sa.UniqueConstraint("code", name=op.f("uq_scheme_applicants_code")),
    )
    with op.batch_alter_table("scheme_applicants") as batch_op:
        batch_op.create_index(batch_op.f("ix_scheme_applicants_national_id"), ["national_id"], unique=False)
        batch_op.create_index("ix_scheme_applicants_scheme_id_id", ["scheme_id", "id"], unique=False)
    op.create_table(
        "scheme_ranks",
        sa.Column("scheme_id", sa.String(64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["import_schemes.scheme_id"], name=op.f("fk_scheme_ranks_scheme_id_import_schemes")
        ),
        sa.PrimaryKeyConstraint("scheme_id", "rank", name=op.f("pk_scheme_ranks")),
        sa.UniqueConstraint("scheme_id", "code", name="uq_scheme_ranks_scheme_code"),
    )


def downgrade() -> None:
    op.drop_table("scheme_ranks")
    with op.batch_alter_table("scheme_applicants") as batch_op:
        batch_op.drop_index("ix_scheme_applicants_scheme_id_id")
        batch_op.drop_index(batch_op.f("ix_scheme_applicants_national_id"))
    op.drop_table("scheme_applicants")
    op.drop_table("import_schemes")
