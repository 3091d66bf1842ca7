"""plates: vehicle origin, numbering centres and the rest of issue 9 for seed 004's numbering and transfer

``vehicles.origin`` (``domestic`` / ``imported``) is recorded at numbering from now on. Existing
rows are settled where the registry itself says: a vehicle delivered by an imported-car purchase,
or one that ever carried an ``imported`` or ``temporary_transit`` plate, is ``imported``; every
other row stays ``NULL`` (unknown: a transfer then still asks the factory sale document, our
choice, see ``lifecycles.plates.transfer_tags``; cases started under ``PLATE_REVIEW`` first ask
the officer to state the origin, ``lifecycles.plates.VEHICLE_ORIGIN``).

``numbering_centres`` is reference data (``refdata load``, key ``numbering_centres``).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

IMPORTED_PLATE_CATEGORIES = ("imported", "temporary_transit")


def upgrade() -> None:
    op.create_table(
        "numbering_centres",
        sa.Column("centre_id", sa.String(64), nullable=False),
        sa.Column("name_fa", sa.String(200), nullable=False),
        sa.Column("province", sa.String(64), nullable=False),
        sa.Column("provincial_capital", sa.Boolean(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("customs_offices", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("centre_id", name=op.f("pk_numbering_centres")),
    )
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(16), nullable=True))

    vehicles = sa.table("vehicles", sa.column("vin"), sa.column("origin"), sa.column("delivered_at"))
    plates = sa.table("plates", sa.column("vin"), sa.column("category"))
    imported_plate = sa.select(plates.c.vin).where(plates.c.category.in_(IMPORTED_PLATE_CATEGORIES))
    op.get_bind().execute(
        sa.update(vehicles)
        .where(vehicles.c.origin.is_(None))
        .where(sa.or_(vehicles.c.delivered_at.is_not(None), vehicles.c.vin.in_(imported_plate)))
        .values(origin="imported")
    )


def downgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_column("origin")
    op.drop_table("numbering_centres")
