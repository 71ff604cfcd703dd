"""zap_run, zap_step_run, zap_state: zap runs and their steps, and zaps switched on or off from the CLI.

Written by the zap runner (passerelle/zaps/runner.py, passerelle/zaps/runs.py, docs/zaps.md "Running zaps").
A store made by ``create_all`` after the models were added has the tables already: they are kept as they are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "zap_run" not in existing:
        op.create_table(
            "zap_run",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("zap_id", sa.String(), nullable=False),
            sa.Column("inbox_id", sa.Integer(), nullable=False),
            sa.Column("source", sa.String(), nullable=False),
            sa.Column("link", sa.String(), nullable=False),
            sa.Column("status", sa.String(), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("resume_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("retriable", sa.Boolean(), nullable=False),
            sa.Column("error", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("zap_id", "inbox_id", name="uq_zap_run_event"),
        )
        with op.batch_alter_table("zap_run", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_zap_run_inbox_id"), ["inbox_id"], unique=False)
            batch_op.create_index(batch_op.f("ix_zap_run_zap_id"), ["zap_id"], unique=False)
    if "zap_state" not in existing:
        op.create_table(
            "zap_state",
            sa.Column("zap_id", sa.String(), nullable=False),
            sa.Column("enabled", sa.Boolean(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("zap_id"),
        )
    if "zap_step_run" not in existing:
        op.create_table(
            "zap_step_run",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("run_id", sa.Integer(), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("step_id", sa.String(), nullable=False),
            sa.Column("path", sa.String(), nullable=False),
            sa.Column("type", sa.String(), nullable=False),
            sa.Column("status", sa.String(), nullable=False),
            sa.Column("input", sa.JSON(), nullable=True),
            sa.Column("output", sa.JSON(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("duration_ms", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("zap_step_run", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_zap_step_run_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("zap_step_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zap_step_run_run_id"))
    op.drop_table("zap_step_run")
    op.drop_table("zap_state")
    with op.batch_alter_table("zap_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zap_run_zap_id"))
        batch_op.drop_index(batch_op.f("ix_zap_run_inbox_id"))
    op.drop_table("zap_run")
