"""pre-mortems: the planned change, its risks and decision; what an incident foresaw

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (SQLite has it): a batch would copy the table and lose the expression
    # index on lower(ref), which reflection cannot see.
    op.add_column(
        "postmortem", sa.Column("planned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
    )
    op.add_column("postmortem", sa.Column("change", sa.Text(), nullable=False, server_default=""))
    op.add_column("postmortem", sa.Column("rollback", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "postmortem",
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    )
    op.add_column(
        "postmortem",
        sa.Column("premortem", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    op.add_column("postmortem", sa.Column("risks", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column(
        "postmortem", sa.Column("foreseen", sa.JSON(), nullable=False, server_default="[]")
    )
    op.create_index("ix_postmortem_planned_at", "postmortem", ["planned_at"])
    op.create_index("ix_postmortem_premortem", "postmortem", ["premortem"])
    op.add_column("actionitem", sa.Column("risk", sa.Integer(), nullable=True))


def downgrade():
    # Batches reflect the postmortem table (actionitem's too, by its foreign key): the index on
    # lower(ref) cannot be reflected, so it goes first and is made again at the end.
    op.drop_index("ux_postmortem_ref_lower", table_name="postmortem")
    with op.batch_alter_table("actionitem") as batch:
        batch.drop_column("risk")
    op.drop_index("ix_postmortem_premortem", table_name="postmortem")
    op.drop_index("ix_postmortem_planned_at", table_name="postmortem")
    with op.batch_alter_table("postmortem") as batch:
        for column in ("foreseen", "risks", "premortem", "decision", "rollback", "change"):
            batch.drop_column(column)
        batch.drop_column("planned_at")
    op.create_index("ux_postmortem_ref_lower", "postmortem", [sa.text("lower(ref)")], unique=True)
