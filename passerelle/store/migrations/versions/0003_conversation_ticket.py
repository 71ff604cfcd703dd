"""conversation_ticket: the one Zendesk ticket made for each iAdvize conversation (archive or escalation).

Read by the iAdvize → Zendesk archival before it creates a ticket (passerelle/store/conversation_tickets.py,
docs/iadvize-zendesk.md "One ticket per conversation") and by the weekly escalation report. A store made by
``create_all`` after the model was added has the table already: it is kept as it is.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("conversation_ticket"):  # a store made by create_all has it already
        return
    op.create_table(
        "conversation_ticket",
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("agent_name", sa.String(), nullable=True),
        sa.Column("requester_found", sa.Boolean(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("site", "conversation_id"),
    )


def downgrade() -> None:
    op.drop_table("conversation_ticket")
