"""Publishing tiers kept with each record, for rebuilding the search index

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty at first: search fills them as it indexes each record (a rebuild too).
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_tier", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("metadata_tier", sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column("tiers_rules", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("tiers_rules")
        batch_op.drop_column("metadata_tier")
        batch_op.drop_column("content_tier")
