"""Rule lifecycle: cards of silent rules are logged marked silent (and tallied apart); recorded
evaluations (each call's facts, scrubbed, with CDS_RECORD_FACTS) and the fact-model versions they were
made under; and each day's rule versions in force, which a firing alarm names before and after a change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_HOURS_KEY = ["hour", "service_id", "rule_id", "pack_version"]


def upgrade() -> None:
    with op.batch_alter_table("issued_cards") as batch:
        batch.add_column(sa.Column("silent", sa.Boolean, nullable=False, server_default=sa.false()))
    op.drop_index("ix_issued_cards_issued_at_rule_patient", table_name="issued_cards")
    op.create_index("ix_issued_cards_issued_at_rule_silent_patient", "issued_cards",
                    ["issued_at", "rule_id", "silent", "patient_key"])   # patients counted apart when silent
    with op.batch_alter_table("card_hours", recreate="always") as batch:   # SQLite: a new key means a new table
        batch.add_column(sa.Column("silent", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.drop_constraint("pk_card_hours", type_="primary")
        batch.create_primary_key("pk_card_hours", [*_HOURS_KEY, "silent"])
    op.create_table(
        "recorded_evaluations",
        sa.Column("evaluation_id", sa.String(32), primary_key=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("patient_hash", sa.String(64)),
        sa.Column("patient_key", sa.BigInteger),
        sa.Column("fact_model", sa.String(16), nullable=False),
        sa.Column("rules_digest", sa.String(20)),
        sa.Column("profile", sa.String(50)),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("cards", sa.JSON, nullable=False),
    )
    op.create_index("ix_recorded_evaluations_recorded_at", "recorded_evaluations", ["recorded_at"])
    op.create_table(
        "fact_models",
        sa.Column("version", sa.String(16), primary_key=True),
        sa.Column("fields", sa.JSON, nullable=False),
    )
    op.create_table(
        "rules_in_force",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("pack_version", sa.String(100), nullable=False),
        sa.Column("rules_digest", sa.String(20), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("day", "rule_id", "pack_version", "rules_digest", name="pk_rules_in_force"),
    )


def downgrade() -> None:   # silent cards did not exist before: they go, with their tallies
    op.drop_table("rules_in_force")
    op.drop_table("fact_models")
    op.drop_index("ix_recorded_evaluations_recorded_at", table_name="recorded_evaluations")
    op.drop_table("recorded_evaluations")
    for name in ("card_hours", "issued_cards"):
        table = sa.table(name, sa.column("silent", sa.Boolean))
        op.execute(table.delete().where(table.c.silent == sa.true()))
    with op.batch_alter_table("card_hours", recreate="always") as batch:
        batch.drop_constraint("pk_card_hours", type_="primary")
        batch.drop_column("silent")
        batch.create_primary_key("pk_card_hours", _HOURS_KEY)
    op.drop_index("ix_issued_cards_issued_at_rule_silent_patient", table_name="issued_cards")
    op.create_index("ix_issued_cards_issued_at_rule_patient", "issued_cards", ["issued_at", "rule_id", "patient_key"])
    with op.batch_alter_table("issued_cards") as batch:
        batch.drop_column("silent")
