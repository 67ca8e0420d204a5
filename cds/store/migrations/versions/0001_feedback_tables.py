"""The card log and the feedback table, as the store created them before migrations.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issued_cards",
        sa.Column("card_uuid", sa.String(64), primary_key=True),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("pack_version", sa.String(100)),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("rule_id", sa.String(200)),
        sa.Column("pack_version", sa.String(100)),
        sa.Column("known_card", sa.String(5), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("card_uuid", "outcome", name="uq_feedback_card_outcome"),
    )


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("issued_cards")
