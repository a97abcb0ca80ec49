"""3D models: technical metadata, derivatives, paradata

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-23 19:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import heritage.db.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "threed_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("record_uuid", sa.String(length=36), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("master_sha256", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "ready",
                "rejected",
                "failed",
                name="modelstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("analysis", sa.JSON(), nullable=False),
        sa.Column("derivatives", sa.JSON(), nullable=False),
        sa.Column("paradata", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", heritage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", heritage.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_threed_models_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threed_models")),
        sa.UniqueConstraint("record_uuid", "path", name=op.f("uq_threed_models_record_uuid")),
    )
    with op.batch_alter_table("threed_models", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_threed_models_record_uuid"), ["record_uuid"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_threed_models_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("threed_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_threed_models_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_threed_models_record_uuid"))
    op.drop_table("threed_models")
