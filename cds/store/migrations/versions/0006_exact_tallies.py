"""Exact analytics from the hourly tally: each card_hours row also keeps its cards' distinct patient keys,
the cards accepted and overridden, the override reasons and each answered card's first feedback delay
(cds.store.tally), so a report with a million cards reads a few thousand rows. Feedback stored before
its card was logged is given its card's details now, as the card log's writer does from here on; then
the tally is made again from the log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from cds.store import tally

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS = ("patients", "accepted", "overridden", "reasons", "delays")


def upgrade() -> None:
    with op.batch_alter_table("card_hours") as batch:
        batch.add_column(sa.Column("patients", sa.LargeBinary))
        batch.add_column(sa.Column("accepted", sa.BigInteger, nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("overridden", sa.BigInteger, nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("reasons", sa.JSON))
        batch.add_column(sa.Column("delays", sa.LargeBinary))
    op.drop_index("ix_issued_cards_issued_at_rule_silent_patient", table_name="issued_cards")
    op.create_index("ix_issued_cards_issued_at", "issued_cards", ["issued_at"])   # the tally counts patients now
    with op.batch_alter_table("feedback") as batch:   # feedback is read by card, with its card
        batch.drop_index("ix_feedback_card_issued_at")
    connection = op.get_bind()
    tally.claim_feedback(connection)
    tally.rebuild(connection)


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.create_index("ix_feedback_card_issued_at", ["card_issued_at"])
    op.drop_index("ix_issued_cards_issued_at", table_name="issued_cards")
    op.create_index("ix_issued_cards_issued_at_rule_silent_patient", "issued_cards",
                    ["issued_at", "rule_id", "silent", "patient_key"])
    with op.batch_alter_table("card_hours") as batch:
        for name in _COLUMNS:
            batch.drop_column(name)
