"""plates: vehicle origin, numbering centres and the rest of issue 9 for seed 004's numbering and transfer

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
