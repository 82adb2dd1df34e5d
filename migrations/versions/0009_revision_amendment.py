"""revision.amendment: the note of a change to a published postmortem

A published postmortem is changed only by amendment, with a short note that its page shows
("Amended 3 Nov: corrected the detection time"); earlier revisions have none.

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("revision", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "amendment",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )


def downgrade():
    with op.batch_alter_table("revision", schema=None) as batch_op:
        batch_op.drop_column("amendment")
