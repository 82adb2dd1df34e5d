"""postmortemterm without its term index

Similar incidents are scored from the postings held in memory (kb/insights/postings.py), so
nothing looks postmortemterm up by term any more; the covering index cost a rebuild about
four seconds of writes at 50,000 postmortems.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("postmortemterm", schema=None) as batch_op:
        batch_op.drop_index("ix_postmortemterm_term")


def downgrade():
    with op.batch_alter_table("postmortemterm", schema=None) as batch_op:
        batch_op.create_index(
            "ix_postmortemterm_term", ["term", "postmortem_id", "weight"], unique=False
        )
