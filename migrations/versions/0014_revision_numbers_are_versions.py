"""revision.started_at, and the latest revision numbered as its postmortem's version

A revision's number is the version it holds, so the editor, the page, the API and History
show one number for one state. Autosaves of one session fold into one revision, which keeps
when the session began (`started_at`). Existing postmortems: the latest revision takes the
current version (never below its number: the version grows at least as fast).

Revision ID: 0014
Revises: 0010
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("revision", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    op.execute(
        """
        UPDATE revision SET number = (
            SELECT postmortem.version FROM postmortem WHERE postmortem.id = revision.postmortem_id
        )
        WHERE number = (
            SELECT MAX(r.number) FROM revision r WHERE r.postmortem_id = revision.postmortem_id
        )
        AND number < (
            SELECT postmortem.version FROM postmortem WHERE postmortem.id = revision.postmortem_id
        )
        """
    )


def downgrade():
    with op.batch_alter_table("revision", schema=None) as batch_op:
        batch_op.drop_column("started_at")
