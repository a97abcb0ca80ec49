"""Copies of remote IIIF images into the store, with their provenance

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import heritage.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remote_image_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("record_uuid", sa.String(length=36), nullable=False),
        sa.Column("source_url", sa.String(length=2000), nullable=False),
        sa.Column("source_service", sa.String(length=2000), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "done",
                "failed",
                name="copystatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("path", sa.String(length=1000), nullable=True),
        sa.Column("fetched_url", sa.String(length=2000), nullable=True),
        sa.Column("fetched_at", heritage.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", heritage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", heritage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_remote_image_copies_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_remote_image_copies_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_image_copies")),
    )
    with op.batch_alter_table("remote_image_copies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_remote_image_copies_record_uuid"), ["record_uuid"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_remote_image_copies_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("remote_image_copies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remote_image_copies_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_remote_image_copies_record_uuid"))
    op.drop_table("remote_image_copies")
