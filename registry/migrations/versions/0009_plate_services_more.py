"""plate services: reserved for the services issue 9 adds (change of use, the article-30 fine,
historic permits); empty until they land, kept so the chain (0008 → 0009 → 0010) stays as deployed

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
