"""sectionhtml: each section's Markdown rendered once, at save

Pages show the stored HTML instead of rendering Markdown on every view; a section without a
stored render (saved before this revision) is rendered when shown, within the budget.

Revision ID: 0010
Revises: 0013
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sectionhtml",
        sa.Column("postmortem_id", sa.Integer(), nullable=False),
        sa.Column("section", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("refused", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(["postmortem_id"], ["postmortem.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("postmortem_id", "section"),
    )


def downgrade():
    op.drop_table("sectionhtml")
