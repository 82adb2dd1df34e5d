"""refs as organisations write them: up to 64 characters, unique ignoring case

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLES = ("postmortem", "change", "auditevent")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "ref",
                existing_type=sqlmodel.sql.sqltypes.AutoString(length=32),
                type_=sqlmodel.sql.sqltypes.AutoString(length=64),
                existing_nullable=False,
            )
    op.create_index("ux_postmortem_ref_lower", "postmortem", [sa.text("lower(ref)")], unique=True)


def downgrade():
    op.drop_index("ux_postmortem_ref_lower", table_name="postmortem")
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "ref",
                existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
                type_=sqlmodel.sql.sqltypes.AutoString(length=32),
                existing_nullable=False,
            )
