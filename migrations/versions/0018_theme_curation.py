"""theme curation: labels pinned, themes merged and split by admins; themes follow publishing

themecuration keeps each admin edit by the factors it concerned (postmortem id and factor
position), not by theme id, so a rebuild carries it to the new theme with the largest overlap.
theme.pinned marks a label an admin chose; theme.centroid holds the theme's centre (term
weights) so a newly published postmortem's factors join the nearest theme at once;
themerun.revision counts those changes since the rebuild (caches key on it) and
themerun.generic the terms the rebuild found in every kind of theme (discounted in labels).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("theme", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("centroid", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("themerun", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revision", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("generic", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    op.create_table(
        "themecuration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("factors", sa.JSON(), nullable=False),
        sa.Column("other", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("themecuration")
    with op.batch_alter_table("themerun", schema=None) as batch_op:
        batch_op.drop_column("generic")
        batch_op.drop_column("revision")
    with op.batch_alter_table("theme", schema=None) as batch_op:
        batch_op.drop_column("centroid")
        batch_op.drop_column("pinned")
