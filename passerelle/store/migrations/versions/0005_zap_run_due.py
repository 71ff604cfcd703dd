"""zap_run: an index on (status, resume_at), for the resumer's minute-by-minute search of the delayed runs and
the auto-replays that are due (passerelle/zaps/resume.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
INDEX = "ix_zap_run_due"


def upgrade() -> None:
    existing = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("zap_run")}
    if INDEX not in existing:  # a store made by create_all from these models has it already
        op.create_index(INDEX, "zap_run", ["status", "resume_at"], unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="zap_run")
