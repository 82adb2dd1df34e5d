"""involvement indexes: who is involved in which unpublished postmortems, found by index

Every search and list of a reader who may not read every draft asks which unpublished
postmortems they author, created or review (kb.accounts.Scope). Without these indexes that
question read every unpublished postmortem's first revision and every author label: about
2 ms per search at 50,000 postmortems.

Revision ID: 0023
Revises: 0021
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_revision_author_id", "revision", ["author_id"])
    # An expression index: reflection cannot see it, so a later batch operation on `label`
    # (SQLite rebuilds the table) must create it again.
    op.create_index("ix_label_field_value_lower", "label", ["field", sa.text("lower(value)")])


def downgrade():
    op.drop_index("ix_label_field_value_lower", table_name="label")
    op.drop_index("ix_revision_author_id", table_name="revision")
