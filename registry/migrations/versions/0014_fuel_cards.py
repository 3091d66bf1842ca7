"""fuel cards: dated quotas and prices, balances, charges (one per card and period), charge runs, purchases (seed 002)

The seed's quotas and prices are loaded as reference data effective from
``policy.FUEL_SEED_FIGURES_EFFECTIVE_FROM``, read from ``domain/policy.py`` (their one place); a
later change is a new dated row, never an edit of these. Balances start from the cards'
``balance_litres`` (litres → millilitres).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    quotas = op.create_table(
        "fuel_quotas",
        sa.Column("use", sa.String(48), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("litres_per_charge", sa.Integer(), nullable=False),
        sa.Column("charges_per_month", sa.Integer(), nullable=False),
        sa.Column("worn_out_class", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("use", "effective_from", name=op.f("pk_fuel_quotas")),
    )
    prices = op.create_table(
        "fuel_prices",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rial_per_litre", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "effective_from", name=op.f("pk_fuel_prices")),
    )
    op.create_table(
        "fuel_balances",
        sa.Column("card_number", sa.String(20), nullable=False),
        sa.Column("quota_ml", sa.BigInteger(), nullable=False),
        sa.Column("last_debit_ml", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quota_ml >= 0", name=op.f("ck_fuel_balances_not_negative")),
        sa.ForeignKeyConstraint(
            ["card_number"], ["fuel_cards.card_number"], name=op.f("fk_fuel_balances_card_number_fuel_cards")
        ),
        sa.PrimaryKeyConstraint("card_number", name=op.f("pk_fuel_balances")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Room on each page for the charge's new row version: balance updates stay HOT (no index
        # entry per update), as every balance is updated at least once a month.
        op.execute("ALTER TABLE fuel_balances SET (fillfactor = 80)")
    op.create_table(
        "fuel_charges",
        sa.Column("card_number", sa.String(20), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("credited_ml", sa.BigInteger(), nullable=False),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("batch", sa.String(16), nullable=False),
        sa.Column("charged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("card_number", "period", name=op.f("pk_fuel_charges")),
    )
    op.create_table(
        "fuel_period_quotas",
        sa.Column("run", sa.String(16), nullable=False),
        sa.Column("use", sa.String(48), nullable=False),
        sa.Column("quota_ml", sa.BigInteger(), nullable=False),
        sa.Column("cap_ml", sa.BigInteger(), nullable=False),
        sa.Column("heavy", sa.Boolean(), nullable=False),
        sa.Column("last_worn_out_model_year", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run", "use", name=op.f("pk_fuel_period_quotas")),
    )
    op.create_table(
        "fuel_charge_runs",
        sa.Column("run", sa.String(16), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("after_card", sa.String(20), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run", name=op.f("pk_fuel_charge_runs")),
    )
    op.create_table(
        "fuel_purchases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(32), nullable=False),
        sa.Column("station_txn_id", sa.String(64), nullable=False),
        sa.Column("card_number", sa.String(20), nullable=False),
        sa.Column("grade", sa.String(16), nullable=False),
        sa.Column("litres_ml", sa.BigInteger(), nullable=False),
        sa.Column("quota_ml", sa.BigInteger(), nullable=False),
        sa.Column("free_ml", sa.BigInteger(), nullable=False),
        sa.Column("quota_rial_per_litre", sa.BigInteger(), nullable=False),
        sa.Column("free_rial_per_litre", sa.BigInteger(), nullable=False),
        sa.Column("amount_rial", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fuel_purchases")),
        sa.UniqueConstraint("station_id", "station_txn_id", name="uq_fuel_purchases_station_txn"),
    )
    with op.batch_alter_table("fuel_purchases") as batch_op:
        batch_op.create_index(batch_op.f("ix_fuel_purchases_card_number"), ["card_number"], unique=False)

    from lifecycles import fuel_cards as rules

    since = rules.seed_figures_effective_from().astimezone(UTC)  # SQLite keeps no zone: write UTC, as the models do
    op.bulk_insert(
        quotas,
        [
            {
                "use": r.use,
                "effective_from": since,
                "litres_per_charge": r.litres_per_charge,
                "charges_per_month": r.charges_per_month,
                "worn_out_class": r.worn_out_class,
            }
            for r in rules.default_quota_rules()
        ],
    )
    op.bulk_insert(
        prices,
        [{"kind": kind, "effective_from": since, "rial_per_litre": rial} for kind, rial in rules.default_prices_rial().items()],
    )
    op.execute(
        "INSERT INTO fuel_balances (card_number, quota_ml, last_debit_ml) "
        "SELECT card_number, balance_litres * 1000, 0 FROM fuel_cards"
    )


def downgrade() -> None:
    with op.batch_alter_table("fuel_purchases") as batch_op:
        batch_op.drop_index(batch_op.f("ix_fuel_purchases_card_number"))
    op.drop_table("fuel_purchases")
    op.drop_table("fuel_charge_runs")
    op.drop_table("fuel_period_quotas")
    op.drop_table("fuel_charges")
    op.drop_table("fuel_balances")
    op.drop_table("fuel_prices")
    op.drop_table("fuel_quotas")
