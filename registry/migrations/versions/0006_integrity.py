"""integrity: one active plate per VIN, one open scheme registration per person (partial unique
indexes), so the database decides races between cases

Existing rows that break a rule are cleaned only where the registry itself says which row is
right: of two active plates on one VIN, the one the vehicle row names (held by its owner) stays
and the other is ended as ``superseded``. Anything else (two open registrations of one person,
duplicate plates the vehicle row does not settle, a VIN stored in a spelling other than its one
canonical form) refuses the upgrade, naming the cases' workflow ids, for a person to settle.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from domain.identifiers import is_canonical_vin

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SUPERSEDED = "superseded"
"""End reason of an active plate left over from a lost race (the vehicle row names another)."""

plates = sa.table(
    "plates",
    sa.column("plate"),
    sa.column("vin"),
    sa.column("owner_national_id"),
    sa.column("active", sa.Boolean),
    sa.column("workflow_id"),
    sa.column("ended_at", sa.DateTime(timezone=True)),
    sa.column("end_reason"),
)
vehicles = sa.table(
    "vehicles", sa.column("vin"), sa.column("owner_national_id"), sa.column("plate"), sa.column("source_workflow_id")
)
registrations = sa.table(
    "scheme_registrations", sa.column("workflow_id"), sa.column("national_id"), sa.column("open", sa.Boolean)
)


def upgrade() -> None:
    bind = op.get_bind()
    superseded, problems = _duplicate_plates(bind)
    problems += _two_open_registrations(bind) + _non_canonical_vins(bind)
    if problems:
        raise RuntimeError(
            "0006_integrity cannot add its unique indexes until these rows are settled: "
            + "; ".join(problems)
            + ". Settle them in the registry and run the deploy step again."
        )
    if superseded:
        bind.execute(
            sa.update(plates)
            .where(plates.c.plate.in_(superseded))
            .values(active=False, ended_at=datetime.now(UTC), end_reason=SUPERSEDED)
        )
    op.create_index(
        "uq_plates_vin_active",
        "plates",
        ["vin"],
        unique=True,
        sqlite_where=sa.text("active IS 1"),
        postgresql_where=sa.text("active IS true"),
    )
    op.create_index(
        "uq_scheme_registrations_national_id_open",
        "scheme_registrations",
        ["national_id"],
        unique=True,
        sqlite_where=sa.text("open IS 1"),
        postgresql_where=sa.text("open IS true"),
    )


def downgrade() -> None:
    op.drop_index("uq_scheme_registrations_national_id_open", table_name="scheme_registrations")
    op.drop_index("uq_plates_vin_active", table_name="plates")


def _duplicate_plates(bind: sa.Connection) -> tuple[list[str], list[str]]:
    """Plates to end (the vehicle row names another active plate of its VIN), and the VINs it
    does not settle (described by the workflow ids that issued their plates)."""
    active: dict[str, list[sa.Row]] = defaultdict(list)
    for row in bind.execute(sa.select(plates).where(plates.c.active.is_(True))):
        active[row.vin].append(row)
    superseded: list[str] = []
    problems: list[str] = []
    for vin, rows in active.items():
        if len(rows) < 2:
            continue
        vehicle = bind.execute(sa.select(vehicles).where(vehicles.c.vin == vin)).first()
        kept = [
            r
            for r in rows
            if vehicle is not None and r.plate == vehicle.plate and r.owner_national_id == vehicle.owner_national_id
        ]
        if len(kept) == 1:
            superseded += [r.plate for r in rows if r is not kept[0]]
        else:
            problems.append("one VIN has active plates from cases " + ", ".join(sorted(r.workflow_id for r in rows)))
    return superseded, problems


def _two_open_registrations(bind: sa.Connection) -> list[str]:
    """People with more than one open sale-scheme case: which one stays is a person's call."""
    cases: dict[str, list[str]] = defaultdict(list)
    for row in bind.execute(sa.select(registrations).where(registrations.c.open.is_(True))):
        cases[row.national_id].append(row.workflow_id)
    return [
        f"one person has open scheme registrations in cases {', '.join(sorted(ids))}" for ids in cases.values() if len(ids) > 1
    ]


def _non_canonical_vins(bind: sa.Connection) -> list[str]:
    """VINs stored in another spelling than their canonical one (e.g. with a trailing newline):
    each is a second vehicle of one car, free to get a second plate, until merged by hand."""
    problems = [
        f"a vehicle recorded by case {row.source_workflow_id} has a VIN in a non-canonical spelling"
        for row in bind.execute(sa.select(vehicles.c.vin, vehicles.c.source_workflow_id))
        if not is_canonical_vin(row.vin)
    ]
    problems += [
        f"an active plate issued by case {row.workflow_id} has a VIN in a non-canonical spelling"
        for row in bind.execute(sa.select(plates.c.vin, plates.c.workflow_id).where(plates.c.active.is_(True)))
        if not is_canonical_vin(row.vin)
    ]
    return problems
