"""sync_run.heartbeat_at: a running run's last sign of life (passerelle/store/runs.py).

A store made by ``create_all`` after the column was added to the model (or given it by the stopgap
``add_missing_columns`` that came before this revision) has it already: it is kept as it is.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("sync_run")}
    if "heartbeat_at" not in columns:
        with op.batch_alter_table("sync_run") as batch_op:
            batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_run") as batch_op:
        batch_op.drop_column("heartbeat_at")
