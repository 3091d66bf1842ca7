"""merge lifecycle branches

Revision ID: 0003
Revises: 0002_plates, 0002_trade_order
Create Date: 2026-11-22 00:22:45.172819
"""

from __future__ import annotations

revision = "0003"
down_revision = ("0002_plates", "0002_trade_order")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
