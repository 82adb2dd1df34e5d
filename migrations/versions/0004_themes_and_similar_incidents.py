"""themes and similar incidents

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


FIGURES_COLUMNS = [
    "status",
    "started_at",
    "kind",
    "severity",
    "trigger",
    "visibility",
    "detected_at",
    "resolved_at",
    "published_at",
]


def upgrade():
    with op.batch_alter_table("postmortem", schema=None) as batch_op:
        batch_op.create_index("ix_postmortem_figures", FIGURES_COLUMNS, unique=False)
    op.create_table(
        "termweight",
        sa.Column("term", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("idf", sa.Float(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.PrimaryKeyConstraint("term"),
    )
    op.create_table(
        "theme",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("private_label", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("theme", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_theme_rank"), ["rank"], unique=False)

    op.create_table(
        "themerun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("built_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("postmortems", sa.Integer(), nullable=False),
        sa.Column("factors", sa.Integer(), nullable=False),
        sa.Column("themes", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("themerun", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_themerun_fingerprint"), ["fingerprint"], unique=False)

    op.create_table(
        "postmortemterm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("postmortem_id", sa.Integer(), nullable=False),
        sa.Column("term", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["postmortem_id"], ["postmortem.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("postmortemterm", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_postmortemterm_postmortem_id"), ["postmortem_id"], unique=False
        )
        batch_op.create_index(
            "ix_postmortemterm_term", ["term", "postmortem_id", "weight"], unique=False
        )

    op.create_table(
        "themefactor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("theme_id", sa.Integer(), nullable=False),
        sa.Column("factor_id", sa.Integer(), nullable=False),
        sa.Column("postmortem_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["factor_id"], ["factor.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["postmortem_id"], ["postmortem.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["theme_id"], ["theme.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("factor_id"),
    )
    with op.batch_alter_table("themefactor", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_themefactor_postmortem_id"), ["postmortem_id"], unique=False
        )
        batch_op.create_index("ix_themefactor_theme_score", ["theme_id", "score"], unique=False)


def downgrade():
    with op.batch_alter_table("postmortem", schema=None) as batch_op:
        batch_op.drop_index("ix_postmortem_figures")
    with op.batch_alter_table("themefactor", schema=None) as batch_op:
        batch_op.drop_index("ix_themefactor_theme_score")
        batch_op.drop_index(batch_op.f("ix_themefactor_postmortem_id"))

    op.drop_table("themefactor")
    with op.batch_alter_table("postmortemterm", schema=None) as batch_op:
        batch_op.drop_index("ix_postmortemterm_term")
        batch_op.drop_index(batch_op.f("ix_postmortemterm_postmortem_id"))

    op.drop_table("postmortemterm")
    with op.batch_alter_table("themerun", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_themerun_fingerprint"))

    op.drop_table("themerun")
    with op.batch_alter_table("theme", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_theme_rank"))

    op.drop_table("theme")
    op.drop_table("termweight")
