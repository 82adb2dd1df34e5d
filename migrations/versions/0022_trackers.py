"""tracker, trackerissue: issue trackers action items follow, and their last readings

Revision ID: 0022
Revises: 0020
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tracker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("web_url", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("api_url", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("token_env", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("project", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("web_url"),
    )
    op.create_table(
        "trackerissue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("tracker_id", sa.Integer(), nullable=False),
        sa.Column("said", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("read_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("failed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tracker_id"], ["tracker.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.create_index("ix_trackerissue_tracker_id", "trackerissue", ["tracker_id"])


def downgrade():
    op.drop_index("ix_trackerissue_tracker_id", table_name="trackerissue")
    op.drop_table("trackerissue")
    op.drop_table("tracker")
