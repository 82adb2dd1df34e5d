"""review e-mail: the outbox of review notifications and each user's opt-out

Named reviewers are mailed when review is asked of them and authors when it is decided; the
outbox row is written with the transition and sent after its commit, so a failed send is
retried. user.review_mail_opt_out is the setting that stops such mail.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "review_mail_opt_out", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    op.create_table(
        "reviewmail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("postmortem_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["postmortem_id"], ["postmortem.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reviewmail", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reviewmail_postmortem_id"), ["postmortem_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reviewmail_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reviewmail_status"), ["status"], unique=False)


def downgrade():
    with op.batch_alter_table("reviewmail", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reviewmail_status"))
        batch_op.drop_index(batch_op.f("ix_reviewmail_user_id"))
        batch_op.drop_index(batch_op.f("ix_reviewmail_postmortem_id"))
    op.drop_table("reviewmail")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("review_mail_opt_out")
