"""webhooks: the hooks told of events, the queue of deliveries to them and their attempts

A delivery is written in the transaction of the change it tells of and sent afterwards (a
background thread in each server, or `kb hooks deliver`), retried with backoff for a day.

Revision ID: 0021
Revises: 0022
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0021"
down_revision = "0022"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
Time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade():
    op.create_table(
        "hook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("format", String(length=16), nullable=False),
        sa.Column("secret", String(length=200), nullable=False),
        sa.Column("receives_restricted", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("description", String(length=200), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", Time(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "hookdelivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hook_id", sa.Integer(), nullable=False),
        sa.Column("uuid", String(length=36), nullable=False),
        sa.Column("event", String(length=40), nullable=False),
        sa.Column("postmortem_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", String(length=200), nullable=True),
        sa.Column("state", String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Time(), nullable=False),
        sa.Column("claimed_until", Time(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", String(length=1000), nullable=False),
        sa.Column("created_at", Time(), nullable=False),
        sa.Column("delivered_at", Time(), nullable=True),
        sa.ForeignKeyConstraint(["hook_id"], ["hook.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["postmortem_id"], ["postmortem.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hook_id", "dedupe_key"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("hookdelivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hookdelivery_hook_id"), ["hook_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_hookdelivery_postmortem_id"), ["postmortem_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_hookdelivery_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_hookdelivery_next_attempt_at"), ["next_attempt_at"], unique=False
        )
    op.create_table(
        "hookattempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", Time(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["hookdelivery.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hookattempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hookattempt_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("hookattempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hookattempt_delivery_id"))
    op.drop_table("hookattempt")
    with op.batch_alter_table("hookdelivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hookdelivery_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_hookdelivery_state"))
        batch_op.drop_index(batch_op.f("ix_hookdelivery_postmortem_id"))
        batch_op.drop_index(batch_op.f("ix_hookdelivery_hook_id"))
    op.drop_table("hookdelivery")
    op.drop_table("hook")
