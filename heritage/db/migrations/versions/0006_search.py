"""search outbox and state

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 19:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import heritage.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_pending",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_uuid", sa.String(length=36), nullable=False),
        sa.Column("queued_at", heritage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_pending")),
    )
    op.create_index(
        op.f("ix_search_pending_record_uuid"), "search_pending", ["record_uuid"], unique=False
    )
    op.create_table(
        "search_state",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", heritage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_search_state")),
    )
    op.create_table(
        "saved_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("query", sa.String(length=4000), nullable=False),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("new_matches", sa.Integer(), nullable=False),
        sa.Column("seen_at", heritage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", heritage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_saved_searches_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_searches")),
    )
    op.create_index(op.f("ix_saved_searches_user_id"), "saved_searches", ["user_id"], unique=False)
    # Records that exist before search did are indexed by the first sync.
    op.execute(
        "INSERT INTO search_pending (record_uuid, queued_at) SELECT uuid, updated_at FROM records"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_saved_searches_user_id"), table_name="saved_searches")
    op.drop_table("saved_searches")
    op.drop_table("search_state")
    op.drop_index(op.f("ix_search_pending_record_uuid"), table_name="search_pending")
    op.drop_table("search_pending")
